"""Batched clause evaluation in JAX, chunked over clauses and assignments so 1M variables fit in memory."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from problems.maxsat.formula import Formula


@dataclass(frozen=True)
class Evaluation:
    """Per-assignment totals (int64 numpy arrays of shape (B,))."""

    satisfied_weight: np.ndarray  # weight of satisfied soft clauses
    unsat_weight: np.ndarray  # weight of unsatisfied soft clauses (the MAX-SAT cost)
    hard_violations: np.ndarray  # number of unsatisfied hard clauses
    unsat_clauses: np.ndarray  # number of unsatisfied clauses, hard and soft


def clause_satisfied(literals: jax.Array, assignment: jax.Array) -> jax.Array:
    """(C,) bool: which clauses (C, k) of DIMACS literals (0 = padding) the (n,) bool assignment satisfies."""
    if assignment.shape[0] == 0:  # no variables: every literal is padding, no clause can be satisfied
        return jnp.zeros(literals.shape[:-1], bool)
    var = jnp.maximum(jnp.abs(literals) - 1, 0)
    value = assignment[var]
    true_lit = jnp.where(literals > 0, value, ~value) & (literals != 0)
    return jnp.any(true_lit, axis=-1)


@partial(jax.jit, static_argnames=("reduce_weights",))
def _chunk(assignments, literals, weights, hard, valid, reduce_weights: bool):
    sat = jax.vmap(clause_satisfied, in_axes=(None, 0))(literals, assignments)  # (B, C)
    unsat = (~sat) & valid
    soft_unsat = unsat & ~hard
    out = {
        "hard": jnp.sum(unsat & hard, axis=1, dtype=jnp.int32),
        "unsat": jnp.sum(unsat, axis=1, dtype=jnp.int32),
    }
    if reduce_weights:
        out["soft_w"] = jnp.sum(jnp.where(soft_unsat, weights, 0), axis=1, dtype=jnp.int32)
    else:
        out["mask"] = soft_unsat
    return out


def as_assignments(formula: Formula, assignments) -> np.ndarray:
    """(B, n) bool from (n,) or (B, n) bool / {0,1} / ±1 / real arrays (positive or True means true)."""
    a = np.asarray(assignments)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != formula.n_vars:
        raise ValueError(f"assignments: expected shape (B, {formula.n_vars}) or ({formula.n_vars},), got {a.shape}")
    return a if a.dtype == bool else a > 0


def evaluate_full(formula: Formula, assignments, clause_chunk: int | None = None,
                  batch_chunk: int = 64) -> Evaluation:
    """Soft weight satisfied / unsatisfied, hard violations and unsatisfied clauses of each assignment.

    Clauses are processed `clause_chunk` at a time (default: about 2^24 literal checks per chunk) and
    assignments `batch_chunk` at a time, so memory stays bounded at any size.
    """
    a = as_assignments(formula, assignments)
    b_total, m, k = a.shape[0], formula.n_clauses, formula.kmax
    soft_total = formula.soft_total
    weights = formula.weights
    small = int(weights.max(initial=0)) * max(m, 1) < 2**31 - 1
    unsat_w = np.zeros(b_total, np.int64)
    hard_v = np.zeros(b_total, np.int64)
    unsat_c = np.zeros(b_total, np.int64)
    for b0 in range(0, b_total, batch_chunk):
        block = jnp.asarray(a[b0 : b0 + batch_chunk])
        bsz = block.shape[0]
        chunk = clause_chunk or int(2 ** np.floor(np.log2(max(1, (1 << 24) // (bsz * k)))))
        chunk = max(1, min(chunk, max(m, 1)))
        for c0 in range(0, m, chunk):
            lit = formula.clauses[c0 : c0 + chunk]
            n_real = lit.shape[0]
            pad = chunk - n_real
            w = weights[c0 : c0 + chunk]
            h = formula.hard[c0 : c0 + chunk]
            if pad:
                lit = np.pad(lit, ((0, pad), (0, 0)))
                w, h = np.pad(w, (0, pad)), np.pad(h, (0, pad))
            valid = np.arange(chunk) < n_real
            out = _chunk(block, jnp.asarray(lit), jnp.asarray(w.astype(np.int32) if small else w * 0, jnp.int32),
                         jnp.asarray(h), jnp.asarray(valid), reduce_weights=small)
            hard_v[b0 : b0 + bsz] += np.asarray(out["hard"], np.int64)
            unsat_c[b0 : b0 + bsz] += np.asarray(out["unsat"], np.int64)
            if small:
                unsat_w[b0 : b0 + bsz] += np.asarray(out["soft_w"], np.int64)
            else:
                unsat_w[b0 : b0 + bsz] += np.asarray(out["mask"]).astype(np.int64) @ w.astype(np.int64)
    return Evaluation(soft_total - unsat_w, unsat_w, hard_v, unsat_c)


def evaluate(formula: Formula, assignments) -> np.ndarray:
    """Satisfied soft weight of each assignment, (B,) int64 (for plain MAX-SAT: satisfied clause count)."""
    return evaluate_full(formula, assignments).satisfied_weight


def unsat_loss(formula: Formula, hard_weight: float | None = None):
    """A jit-able loss x -> weighted unsatisfied clauses of the assignment sign(x) > 0 (hard ones count
    `hard_weight`, default soft total + 1), for the optimizers' continuous relaxation."""
    literals = jnp.asarray(formula.clauses)
    hw = float(formula.soft_total + 1) if hard_weight is None else float(hard_weight)
    cost = jnp.asarray(np.where(formula.hard, hw, formula.weights).astype(np.float32))

    def loss(x: jax.Array) -> jax.Array:
        sat = clause_satisfied(literals, x > 0)
        return jnp.sum(jnp.where(sat, 0.0, cost))

    return loss
