"""Local features of a forwarding decision: what node v sees of each candidate u (its neighbours and itself).

Every function takes an array module `xp` (numpy or jax.numpy) so the per-hop router, the vectorized
all-pairs evaluator and the JAX training loss compute identical features.
"""

from __future__ import annotations

from typing import Any

#: Feature names, in the order learned scorers stack them.
FEATURES = (
    "dist_ratio",  # d(u, D) / d(O, D)
    "dist_to_dest",  # d(u, D) / R
    "stretch",  # node stretch of the candidate: (d(O, u) + d(u, D)) / d(O, D)
    "stretch_here",  # node stretch of the current node v
    "cos_angle",  # cos of the angle between u - v and D - v (0 for u = v)
    "hop",  # d(v, u) / R
    "progress",  # projection of u - v on the direction v -> D, / R
    "is_self",  # 1 for the "stay" candidate u = v
)


def check_features(names: tuple[str, ...]) -> tuple[str, ...]:
    """Validate a tuple of feature names against FEATURES."""
    if isinstance(names, str) or not isinstance(names, (tuple, list)):
        raise ValueError(f"features: must be a tuple of feature names, got {names!r}; allowed: {', '.join(FEATURES)}")
    names = tuple(names)
    if not names:
        raise ValueError("features: need at least one feature name")
    for name in names:
        if not isinstance(name, str) or name not in FEATURES:
            raise ValueError(f"features: unknown feature {name!r}; allowed: {', '.join(FEATURES)}")
    return names


class LazyFeatures(dict):
    """A dict of candidate features computed on first access (a policy pays only for what it reads)."""

    def __init__(self, makers: dict) -> None:
        super().__init__()
        self._makers = makers

    def __missing__(self, name: str):
        if name not in self._makers:
            raise KeyError(f"unknown feature {name!r}; allowed: {', '.join(FEATURES)}")
        value = self._makers[name]()
        self[name] = value
        return value


def candidate_features(xp: Any, pos, dist, radius: float, origin, dest, here, cand) -> dict:
    """Features of candidates `cand` (..., K) of packets (origin, dest) at `here` (...,): a dict of arrays.

    `pos` (n, 2) and `dist` (n, n) describe the graph; padded candidates (-1) get arbitrary finite values and
    must be masked by the caller. Values are computed lazily on first access.
    """
    c = xp.where(cand < 0, 0, cand)
    o, d, v = origin[..., None], dest[..., None], here[..., None]
    cache: dict = {}

    def get(name, fn):
        if name not in cache:
            cache[name] = fn()
        return cache[name]

    d_od = lambda: get("d_od", lambda: dist[o, d])  # noqa: E731
    d_ud = lambda: get("d_ud", lambda: dist[c, d])  # noqa: E731
    d_vd = lambda: get("d_vd", lambda: dist[v, d])  # noqa: E731
    hop = lambda: get("hop", lambda: dist[v, c])  # noqa: E731

    def dot():
        # (u - v) . (D - v) by the law of cosines, from distances only (no coordinate gathers)
        return get("dot", lambda: 0.5 * (hop() ** 2 + d_vd() ** 2 - d_ud() ** 2))

    def cos():
        h, vd = hop(), d_vd()
        safe_vd = xp.where(vd > 0, vd, 1.0)
        safe_hop = xp.where(h > 0, h, 1.0)
        return xp.where(h > 0, dot() / (safe_hop * safe_vd), 0.0)

    def progress():
        vd = d_vd()
        return dot() / xp.where(vd > 0, vd, 1.0) / radius

    return LazyFeatures(
        {
            "dist_ratio": lambda: d_ud() / d_od(),
            "dist_to_dest": lambda: d_ud() / radius,
            "stretch": lambda: (dist[o, c] + d_ud()) / d_od(),
            "stretch_here": lambda: (dist[o, v] + d_vd()) / d_od() + 0.0 * d_ud(),
            "cos_angle": cos,
            "hop": lambda: hop() / radius,
            "progress": progress,
            "is_self": lambda: (c == v) * 1.0,
        }
    )


def stack(xp: Any, feats: dict, names: tuple[str, ...]):
    """Stack the named features into one (..., K, F) array."""
    return xp.stack([feats[name] for name in names], axis=-1)
