"""Structured weighted partial MaxSAT instances from a seed: graph problems (networkx), set cover, and random
weighted partial k-SAT with a planted (satisfiable) hard part. Every family has a feasible assignment."""

from __future__ import annotations

import networkx as nx
import numpy as np

from problems.maxsat.formula import Formula
from problems.maxsat.generators import planted_ksat

FAMILIES = ("independent_set", "max_clique", "max_cut", "set_cover", "planted_partial")


def _graph(n: int, p: float, seed: int) -> nx.Graph:
    return nx.gnp_random_graph(n, p, seed=seed)


def independent_set(n: int = 60, p: float = 0.1, max_weight: int = 20, seed: int = 0) -> Formula:
    """Maximum-weight independent set of G(n, p): hard (-u | -v) per edge, soft (v) with weight w_v."""
    rng = np.random.default_rng(seed)
    g = _graph(n, p, seed)
    hard = [[-(u + 1), -(v + 1)] for u, v in g.edges()]
    soft = [[v + 1] for v in range(n)]
    weights = [1] * len(hard) + rng.integers(1, max_weight + 1, n).tolist()
    return Formula.from_lists(n, hard + soft, weights, [True] * len(hard) + [False] * n)


def max_clique(n: int = 40, p: float = 0.5, seed: int = 0) -> Formula:
    """Maximum clique of G(n, p): hard (-u | -v) per NON-edge, soft (v) of weight 1 per vertex."""
    g = nx.complement(_graph(n, p, seed))
    hard = [[-(u + 1), -(v + 1)] for u, v in g.edges()]
    soft = [[v + 1] for v in range(n)]
    return Formula.from_lists(n, hard + soft, None, [True] * len(hard) + [False] * n)


def max_cut(n: int = 30, p: float = 0.3, max_weight: int = 10, seed: int = 0) -> Formula:
    """Weighted max-cut of G(n, p): per edge the soft clauses (u | v) and (-u | -v) with the edge's weight;
    a cut edge satisfies both, an uncut one exactly one. No hard clauses."""
    rng = np.random.default_rng(seed)
    g = _graph(n, p, seed)
    clauses, weights = [], []
    for u, v in g.edges():
        w = int(rng.integers(1, max_weight + 1))
        clauses += [[u + 1, v + 1], [-(u + 1), -(v + 1)]]
        weights += [w, w]
    return Formula.from_lists(n, clauses, weights)


def set_cover(n_elements: int = 50, n_sets: int = 30, density: float = 0.12, max_cost: int = 20,
              seed: int = 0) -> Formula:
    """Weighted set cover: variable s = set s is chosen; hard: every element is covered by a chosen set
    containing it; soft (-s) with the set's cost. Each element lies in at least one set."""
    rng = np.random.default_rng(seed)
    member = rng.random((n_elements, n_sets)) < density
    empty = ~member.any(axis=1)
    member[np.nonzero(empty)[0], rng.integers(0, n_sets, int(empty.sum()))] = True
    hard = [(np.nonzero(row)[0] + 1).tolist() for row in member]
    soft = [[-(s + 1)] for s in range(n_sets)]
    weights = [1] * n_elements + rng.integers(1, max_cost + 1, n_sets).tolist()
    return Formula.from_lists(n_sets, hard + soft, weights, [True] * n_elements + [False] * n_sets)


def planted_partial(n: int = 40, hard_alpha: float = 3.0, soft_alpha: float = 2.5, k: int = 3, max_weight: int = 10,
                    seed: int = 0) -> Formula:
    """Random weighted partial k-SAT: hard clauses planted-satisfiable (hard_alpha n of them), soft random
    k-clauses (soft_alpha n) with weights in [1, max_weight]."""
    rng = np.random.default_rng(seed)
    hard_part, _ = planted_ksat(n, hard_alpha, k, seed=seed)
    m_soft = int(round(soft_alpha * n))
    var = np.argsort(rng.random((m_soft, n)), axis=1)[:, :k] + 1
    sign = np.where(rng.random((m_soft, k)) < 0.5, -1, 1)
    clauses = hard_part.to_lists() + (var * sign).tolist()
    weights = [1] * hard_part.n_clauses + rng.integers(1, max_weight + 1, m_soft).tolist()
    return Formula.from_lists(n, clauses, weights, [True] * hard_part.n_clauses + [False] * m_soft)


def make(family: str, seed: int, scale: float = 1.0) -> Formula:
    """An instance of `family` (one of FAMILIES) from `seed`; `scale` multiplies its size."""
    if family not in FAMILIES:
        raise ValueError(f"family: unknown {family!r}; allowed: {', '.join(FAMILIES)}")
    if not scale > 0:
        raise ValueError(f"scale: must be > 0, got {scale}")
    s = lambda x: max(4, int(round(x * scale)))  # noqa: E731
    if family == "independent_set":
        return independent_set(s(60), seed=seed)
    if family == "max_clique":
        return max_clique(s(40), seed=seed)
    if family == "max_cut":
        return max_cut(s(12), seed=seed)
    if family == "set_cover":
        return set_cover(s(50), s(30), seed=seed)
    return planted_partial(s(40), seed=seed)
