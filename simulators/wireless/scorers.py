"""Learned scorers: linear and small-MLP functions of local features; the lowest-scoring neighbour wins.

Parameters are plain pytrees (dicts of arrays) so forward-only optimizers can search them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from simulators.wireless.features import check_features, stack

__all__ = ["Scorer", "init_params", "apply_scorer", "linear_scorer", "mlp_scorer"]

KINDS = ("linear", "mlp")


def init_params(key: jax.Array, kind: str, n_features: int, hidden: int = 8, scale: float = 0.5) -> dict:
    """Random initial parameters of a `kind` scorer ('linear' or 'mlp') over `n_features` inputs."""
    if kind not in KINDS:
        raise ValueError(f"kind: unknown scorer kind {kind!r}; allowed: {', '.join(KINDS)}")
    if n_features < 1:
        raise ValueError(f"n_features: must be >= 1, got {n_features}")
    if kind == "linear":
        return {"w": scale * jax.random.normal(key, (n_features,))}
    if hidden < 1:
        raise ValueError(f"hidden: must be >= 1, got {hidden}")
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "W1": scale * jax.random.normal(k1, (n_features, hidden)),
        "b1": scale * jax.random.normal(k2, (hidden,)),
        "w2": scale * jax.random.normal(k3, (hidden,)),
    }


def apply_scorer(xp: Any, kind: str, params: dict, x):
    """Scores (..., K) of stacked features x (..., K, F) under `params` (lower is better)."""
    if kind == "linear":
        return x @ params["w"]
    hidden = xp.tanh(x @ params["W1"] + params["b1"])
    return hidden @ params["w2"]


@dataclass(frozen=True)
class Scorer:
    """A learned local policy: at v forward to argmin_u score(features(u)); u = v (stay) is a dead end."""

    kind: str
    features: tuple[str, ...]
    params: dict = field(hash=False, compare=False)
    name: str = "learned"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: unknown scorer kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        object.__setattr__(self, "features", check_features(self.features))
        if not isinstance(self.params, dict):
            raise ValueError(f"params: must be a dict of arrays, got {type(self.params).__name__}")

    def score(self, xp: Any, feats: dict):
        """Scores of the candidates described by `feats` (a dict from features.candidate_features)."""
        params = self.params if xp is jnp else jax.tree_util.tree_map(np.asarray, self.params)
        return apply_scorer(xp, self.kind, params, stack(xp, feats, self.features))

    def with_params(self, params: dict, name: str | None = None) -> Scorer:
        """The same scorer with other parameters."""
        return Scorer(self.kind, self.features, params, name or self.name)

    def to_dict(self) -> dict:
        """JSON-able description (kind, features, params as lists)."""
        return {
            "kind": self.kind,
            "features": list(self.features),
            "name": self.name,
            "params": {k: np.asarray(v).tolist() for k, v in self.params.items()},
        }


def linear_scorer(features: tuple[str, ...], weights, name: str = "linear") -> Scorer:
    """A linear scorer with the given weights (one per feature)."""
    w = jnp.asarray(weights, dtype=jnp.float32).reshape(-1)
    if w.shape[0] != len(features):
        raise ValueError(f"weights: need {len(features)} values (one per feature), got {w.shape[0]}")
    return Scorer("linear", tuple(features), {"w": w}, name)


def mlp_scorer(features: tuple[str, ...], key: jax.Array, hidden: int = 8, name: str = "mlp") -> Scorer:
    """A tanh MLP scorer (one hidden layer) with random initial parameters."""
    return Scorer("mlp", tuple(features), init_params(key, "mlp", len(features), hidden), name)
