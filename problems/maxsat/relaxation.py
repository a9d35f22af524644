"""Continuous relaxation of MAX-SAT (x in R^n, assignment = x > 0) and its delta BlockEvaluator for PolyStep.

Candidate (block b, move d) flips the block's variables whose sign changes. Its loss is the current
weighted unsat count plus the exact change, computed from per-step tables instead of re-evaluating the
formula: for every variable its single-flip gain (break - make) over the clauses in which it is the only
variable of its block, and for every block a (2^p,) correction table over the few clauses holding two or more
literals of that block. A step costs O(literal occurrences) once plus O(p) per candidate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from polystep.base import Blocks
from problems.maxsat.formula import Formula, csr_by_key

MAX_PARTICLE = 8


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ClauseDeltaEvaluator:
    """BlockEvaluator over `coords` (dim,) = variables 1..n then padding; a pytree (pass it through jit)."""

    literals: jax.Array  # (m, k) int32
    cost: jax.Array  # (m,) float32 weight of each clause (hard ones: hard_weight)
    occ_var: jax.Array  # (L,) int32 variable of each simple occurrence, sorted
    occ_clause: jax.Array  # (L,) int32
    occ_positive: jax.Array  # (L,) bool literal sign
    cx_block: jax.Array  # (Q,) int32 block of each (block, complex clause) pair
    cx_clause: jax.Array  # (Q,) int32
    cx_bit: jax.Array  # (Q, k) int32 position of each literal inside the block, -1 if outside
    l1: jax.Array  # () float32 weight of the confidence penalty l1 * sum |x| (0: pure unsat count)
    hard: jax.Array  # (m,) bool hard clauses
    soft_weight: jax.Array  # (m,) float32 the objective weight of each soft clause (0 for hard ones)
    n_vars: int = field(default=0, metadata={"static": True})
    dim: int = field(default=0, metadata={"static": True})
    particle_size: int = field(default=1, metadata={"static": True})

    def assignment(self, coords: jax.Array) -> jax.Array:
        """(n,) bool assignment of the search vector."""
        return coords[: self.n_vars] > 0

    def _state(self, coords):
        assign = coords > 0  # literals index variables < n_vars <= dim; padding slots are masked below
        var = jnp.maximum(jnp.abs(self.literals) - 1, 0)
        val = assign[var]
        lit_true = jnp.where(self.literals > 0, val, ~val) & (self.literals != 0)
        num_true = jnp.sum(lit_true, axis=1, dtype=jnp.int32)
        return assign, lit_true, num_true

    def unsat(self, coords: jax.Array) -> jax.Array:
        """Weighted unsatisfied clauses of the assignment coords > 0 (hard clauses weigh hard_weight)."""
        _, _, num_true = self._state(coords)
        return jnp.sum(jnp.where(num_true == 0, self.cost, 0.0))

    def objective(self, coords: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(falsified hard clauses, unsatisfied soft weight) of the assignment coords > 0, whatever `cost`."""
        _, _, num_true = self._state(coords)
        unsat = num_true == 0
        return jnp.sum(unsat & self.hard, dtype=jnp.int32), jnp.sum(jnp.where(unsat, self.soft_weight, 0.0))

    def with_hard_penalty(self, coords: jax.Array, growth: float, cap: float) -> ClauseDeltaEvaluator:
        """A copy whose falsified hard clauses (at coords > 0) weigh `growth` times more, at most `cap`."""
        _, _, num_true = self._state(coords)
        grow = (num_true == 0) & self.hard
        cost = jnp.where(grow, jnp.minimum(self.cost * growth, cap), self.cost)
        return dataclasses.replace(self, cost=cost)

    def __call__(self, params) -> jax.Array:
        """The relaxed loss of a parameter vector: unsat(sign x) + l1 * sum |x|."""
        x = jnp.ravel(jax.tree_util.tree_leaves(params)[0])
        return self.unsat(x) + self.l1 * jnp.sum(jnp.abs(x))

    def tables(self, coords: jax.Array):
        """(current loss, per-coordinate single-flip gain (dim,), per-block correction (n_blocks, 2^p))."""
        assign, lit_true, num_true = self._state(coords)
        loss = jnp.sum(jnp.where(num_true == 0, self.cost, 0.0)) + self.l1 * jnp.sum(jnp.abs(coords))
        nt = num_true[self.occ_clause]
        w = self.cost[self.occ_clause]
        is_true = self.occ_positive == assign[self.occ_var]
        contrib = jnp.where(nt == 0, -w, jnp.where((nt == 1) & is_true, w, 0.0))
        gain = jax.ops.segment_sum(contrib, self.occ_var, num_segments=self.dim, indices_are_sorted=True)
        p = self.particle_size
        n_blocks = self.dim // p
        patterns = jnp.arange(2**p, dtype=jnp.int32)
        bit = self.cx_bit  # (Q, k)
        shift = jnp.maximum(bit, 0)[:, None, :]
        flipped = (bit[:, None, :] >= 0) & (((patterns[None, :, None] >> shift) & 1) == 1)  # (Q, 2^p, k)
        # padding slots (literal 0) are never true and never flipped, so the XOR keeps them false.
        before = lit_true[self.cx_clause]  # (Q, k)
        after_unsat = ~jnp.any(before[:, None, :] ^ flipped, axis=2)
        before_unsat = (num_true[self.cx_clause] == 0)[:, None]
        change = after_unsat.astype(jnp.float32) - before_unsat.astype(jnp.float32)
        exact = change * self.cost[self.cx_clause][:, None]
        corr = jnp.zeros((n_blocks, 2**p), jnp.float32).at[self.cx_block].add(exact)
        return loss, gain, corr

    def block_losses(self, space_state, coords: jax.Array, blocks: Blocks) -> jax.Array:
        """Loss of each candidate (block index[i] moved by delta[i]) by delta evaluation."""
        loss, gain, corr = self.tables(coords)
        p = self.particle_size
        pos = blocks.index[:, None] * p + jnp.arange(p)[None, :]
        old = coords[pos]
        flip = (old > 0) != (old + blocks.delta > 0)
        pattern = jnp.sum(flip.astype(jnp.int32) << jnp.arange(p)[None, :], axis=1)
        delta = jnp.sum(jnp.where(flip, gain[pos], 0.0), axis=1) + corr[blocks.index, pattern]
        delta = delta + self.l1 * jnp.sum(jnp.abs(old + blocks.delta) - jnp.abs(old), axis=1)
        return loss + delta


def build_evaluator(formula: Formula, particle_size: int, hard_weight: float | None = None,
                    l1: float = 0.0) -> ClauseDeltaEvaluator:
    """The delta evaluator of `formula` for blocks of `particle_size` consecutive variables.

    `l1` > 0 adds l1 * sum |x| to the loss: among candidates of equal unsat count it prefers the one closer
    to the sign boundary, so confidence decays and plateau moves stay reachable.
    """
    if not l1 >= 0:
        raise ValueError(f"l1: must be >= 0, got {l1}")
    p = int(particle_size)
    if not 1 <= p <= MAX_PARTICLE:
        raise ValueError(f"particle_size: must be in [1, {MAX_PARTICLE}] for the MAX-SAT delta evaluator, got {p}")
    n, m = formula.n_vars, formula.n_clauses
    dim = -(-max(n, 1) // p) * p
    lits = formula.clauses
    k = lits.shape[1]
    var = np.abs(lits).astype(np.int64) - 1  # -1 on padding
    valid = lits != 0
    block = np.where(valid, var // p, -1 - np.arange(k)[None, :])  # padding gets distinct negative ids
    # a literal is "complex" when another literal of the same clause lies in the same block
    same = np.zeros_like(valid)
    for a in range(k):
        for b in range(k):
            if a != b:
                same[:, a] |= valid[:, a] & (block[:, a] == block[:, b])
    rows, cols = np.nonzero(valid & ~same)  # row-major: rows ascending, so the counting sort keeps them sorted
    _, order = csr_by_key(var[rows, cols], n)
    rows, cols = rows[order], cols[order]
    # (block, clause) pairs of complex clauses, one per distinct block
    crow, ccol = np.nonzero(same)
    pairs = np.unique(np.stack([block[crow, ccol], crow], 1), axis=0) if crow.size else np.zeros((0, 2), np.int64)
    cx_block, cx_clause = pairs[:, 0], pairs[:, 1]
    cblock = block[cx_clause]  # (Q, k)
    cx_bit = np.where(cblock == cx_block[:, None], var[cx_clause] - cx_block[:, None] * p, -1)
    hw = float(formula.soft_total + 1) if hard_weight is None else float(hard_weight)
    cost = np.where(formula.hard, hw, formula.weights).astype(np.float32)
    if m and int(formula.lengths.min()) == 0:
        pass  # empty clauses: num_true stays 0, counted in the loss, no occurrence, never flipped
    return ClauseDeltaEvaluator(
        literals=jnp.asarray(lits),
        cost=jnp.asarray(cost),
        occ_var=jnp.asarray(var[rows, cols].astype(np.int32)),
        occ_clause=jnp.asarray(rows.astype(np.int32)),
        occ_positive=jnp.asarray(lits[rows, cols] > 0),
        cx_block=jnp.asarray(cx_block.astype(np.int32)),
        cx_clause=jnp.asarray(cx_clause.astype(np.int32)),
        cx_bit=jnp.asarray(cx_bit.astype(np.int32).reshape(-1, k)),
        l1=jnp.asarray(l1, jnp.float32),
        hard=jnp.asarray(formula.hard),
        soft_weight=jnp.asarray(np.where(formula.hard, 0, formula.weights).astype(np.float32)),
        n_vars=n,
        dim=dim,
        particle_size=p,
    )
