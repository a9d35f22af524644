"""Route-quality metrics against the oracles, and `evaluate` over graphs and all origin-destination pairs.

Accuracy at epsilon (the paper's measure): the share of connected ordered pairs (O, D) whose routed path is
delivered with a path stretch L / d(O, D) within (1 + epsilon) of the shortest path's stretch
d_sp(O, D) / d(O, D), i.e. L <= (1 + epsilon) d_sp(O, D). Undelivered pairs count as inaccurate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from polystep.validate import check_int, check_real
from simulators.wireless.graphs import GraphArrays, arrays
from simulators.wireless.policies import get_policy
from simulators.wireless.routing import REASONS
from simulators.wireless.vectorized import REASON_CODE, Walks, all_pairs, walk_all

__all__ = ["EPSILONS", "accuracy", "summarize", "evaluate", "combine"]

#: Default epsilons for accuracy.
EPSILONS = (0.0, 0.05, 0.1, 0.2, 0.5)
_TOL = 1e-9


def accuracy(delivered: np.ndarray, length: np.ndarray, shortest: np.ndarray, epsilon: float) -> float:
    """Share of pairs delivered with length <= (1 + epsilon) * shortest (a relative 1e-9 tolerance)."""
    if delivered.size == 0:
        return float("nan")
    ok = delivered & (length <= (1.0 + epsilon) * shortest * (1 + _TOL))
    return float(ok.mean())


def _check_eps(epsilons: Sequence[float]) -> tuple[float, ...]:
    if isinstance(epsilons, str) or not isinstance(epsilons, (list, tuple)):
        raise ValueError(f"epsilons: must be a sequence of finite numbers >= 0, got {epsilons!r}")
    return tuple(check_real(e, "epsilons", 0.0) for e in epsilons)


def summarize(ga: GraphArrays, walks: Walks, epsilons: Sequence[float] = EPSILONS) -> dict:
    """Metrics of walks on one graph: delivery, accuracy@eps, path-length and hop stretch, failure reasons."""
    eps = _check_eps(epsilons)
    o, d = walks.origins, walks.dests
    sp, hops_min, straight = ga.sp[o, d], ga.hops[o, d], ga.dist[o, d]
    ok = walks.delivered
    out: dict[str, Any] = {"pairs": int(o.size), "delivery": float(ok.mean()) if o.size else float("nan")}
    for e in eps:
        out[f"accuracy@{e:g}"] = accuracy(ok, walks.length, sp, e)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["path_stretch"] = float(np.mean(walks.length[ok] / sp[ok])) if ok.any() else float("nan")
        out["hop_stretch"] = float(np.mean(walks.hops[ok] / hops_min[ok])) if ok.any() else float("nan")
        out["stretch_vs_line"] = float(np.mean(walks.length[ok] / straight[ok])) if ok.any() else float("nan")
    out["mean_hops"] = float(walks.hops[ok].mean()) if ok.any() else float("nan")
    for name in REASONS:
        out[f"fail_{name}"] = int((walks.status == REASON_CODE[name]).sum())
    return out


def combine(parts: Sequence[dict]) -> dict:
    """Pool per-graph summaries, weighting by pairs; `graphs` and per-graph spread of accuracy are kept."""
    total = sum(p["pairs"] for p in parts)
    out: dict[str, Any] = {"graphs": len(parts), "pairs": int(total)}
    for key in parts[0]:
        if key == "pairs":
            continue
        if key.startswith("fail_"):
            out[key] = int(sum(p[key] for p in parts))
            continue
        vals = np.array([p[key] for p in parts], dtype=float)
        w = np.array([p["pairs"] for p in parts], dtype=float)
        good = np.isfinite(vals) & (w > 0)
        out[key] = float((vals[good] * w[good]).sum() / w[good].sum()) if good.any() else float("nan")
        if key.startswith("accuracy@") or key == "delivery":
            out[f"{key}_graph_std"] = float(np.std(vals[good])) if good.any() else float("nan")
    return out


def evaluate(
    graphs: nx.Graph | Sequence[nx.Graph],
    policy: Any,
    epsilons: Sequence[float] = EPSILONS,
    max_pairs: int | None = None,
    seed: int = 0,
) -> dict:
    """Route all connected ordered pairs of every graph with `policy`; pooled metrics (see module doc).

    `max_pairs` samples at most that many pairs per graph (seeded), for slow per-pair policies like gfg.
    """
    if isinstance(graphs, nx.Graph):
        graphs = [graphs]
    if isinstance(graphs, str) or not isinstance(graphs, (list, tuple)) or not graphs:
        raise ValueError(f"graphs: need a networkx graph or a non-empty list of them, got {graphs!r:.80}")
    if max_pairs is not None:
        check_int(max_pairs, "max_pairs", 1)
    check_int(seed, "seed", 0)
    pol = get_policy(policy)
    rng = np.random.default_rng(seed)
    parts = []
    for graph in graphs:
        ga = arrays(graph)
        o, d = all_pairs(ga)
        if max_pairs is not None and o.size > max_pairs:
            pick = np.sort(rng.choice(o.size, max_pairs, replace=False))
            o, d = o[pick], d[pick]
        parts.append(summarize(ga, walk_all(ga, pol, o, d), epsilons))
    return combine(parts)
