"""The `Formula` dataclass: a (weighted, partial) MAX-SAT instance as padded int32 literal arrays."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np

# The MSE rules require the soft weights to sum below 2^63 (they must fit a signed 64-bit integer).
WEIGHT_SUM_LIMIT = 2**63


@numba.njit(cache=True)
def _counting_sort(keys, n_keys):
    ptr = np.zeros(n_keys + 1, np.int64)
    for i in range(keys.shape[0]):
        ptr[keys[i] + 1] += 1
    for j in range(n_keys):
        ptr[j + 1] += ptr[j]
    fill = ptr[:-1].copy()
    order = np.empty(keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        order[fill[keys[i]]] = i
        fill[keys[i]] += 1
    return ptr, order


def csr_by_key(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable counting sort: `ptr` (n_keys+1,) and `order` with keys[order[ptr[j]:ptr[j+1]]] == j, in O(L)."""
    return _counting_sort(np.ascontiguousarray(keys, np.int64), int(n_keys))


def soft_weight_sum(weights: np.ndarray) -> int:
    """Exact sum of non-negative int64 weights as a Python int (no wrap-around at 2^63)."""
    if weights.size == 0:
        return 0
    if int(weights.max()) < WEIGHT_SUM_LIMIT // max(weights.size, 1):
        return int(weights.sum())
    return int(weights.astype(object).sum())


@dataclass(frozen=True, eq=False)
class Formula:
    """A CNF / WCNF formula. Clause j is the nonzero entries of `clauses[j]` (DIMACS literals, 0 = padding).

    `weights[j]` is the soft weight of clause j (int64 >= 1); `hard[j]` marks hard clauses, whose weight is
    stored as 0. A plain CNF read as MAX-SAT has every clause soft with weight 1.
    """

    n_vars: int
    clauses: np.ndarray  # (m, kmax) int32, literals left-aligned, 0 padded
    weights: np.ndarray  # (m,) int64
    hard: np.ndarray  # (m,) bool

    def __post_init__(self):
        clauses = np.ascontiguousarray(self.clauses, dtype=np.int32)
        if clauses.ndim != 2:
            raise ValueError(f"clauses: expected a (m, kmax) array, got shape {clauses.shape}")
        m = clauses.shape[0]
        weights = np.ascontiguousarray(self.weights, dtype=np.int64).reshape(-1)
        hard = np.ascontiguousarray(self.hard, dtype=bool).reshape(-1)
        if weights.shape[0] != m or hard.shape[0] != m:
            raise ValueError(f"weights/hard: expected {m} entries (one per clause), got "
                             f"{weights.shape[0]} / {hard.shape[0]}")
        if int(self.n_vars) < 0:
            raise ValueError(f"n_vars: must be >= 0, got {self.n_vars}")
        if m and clauses.size and int(np.abs(clauses).max()) > int(self.n_vars):
            raise ValueError(f"clauses: literal {int(np.abs(clauses).max())} beyond n_vars={self.n_vars}")
        if np.any(weights[~hard] < 1):
            raise ValueError("weights: soft clause weights must be >= 1")
        weights = np.where(hard, 0, weights)
        total = soft_weight_sum(weights)
        if total >= WEIGHT_SUM_LIMIT:
            raise ValueError(f"weights: the soft weights sum to {total}, beyond the MAX-SAT limit 2^63 - 1")
        object.__setattr__(self, "n_vars", int(self.n_vars))
        object.__setattr__(self, "clauses", clauses)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "hard", hard)

    @classmethod
    def from_lists(cls, n_vars: int, clauses: list[list[int]], weights=None, hard=None) -> Formula:
        """Build from Python lists of DIMACS literals (weights default to 1, all soft)."""
        m = len(clauses)
        kmax = max((len(c) for c in clauses), default=0)
        arr = np.zeros((m, max(kmax, 1)), np.int32)
        for j, clause in enumerate(clauses):
            if any(int(lit) == 0 for lit in clause):
                raise ValueError(f"clauses[{j}]: literal 0 is not allowed")
            arr[j, : len(clause)] = clause
        w = np.ones(m, np.int64) if weights is None else np.asarray(weights, np.int64)
        h = np.zeros(m, bool) if hard is None else np.asarray(hard, bool)
        return cls(n_vars, arr, w, h)

    # ------------------------------------------------------------------------------------------ views
    @property
    def n_clauses(self) -> int:
        """Number of clauses m."""
        return int(self.clauses.shape[0])

    @property
    def kmax(self) -> int:
        """Width of the padded clause array (longest clause)."""
        return int(self.clauses.shape[1])

    @cached_property
    def lengths(self) -> np.ndarray:
        """(m,) number of literals of each clause."""
        return np.count_nonzero(self.clauses, axis=1).astype(np.int32)

    @property
    def is_weighted(self) -> bool:
        """True when some soft weight differs from 1 or some clause is hard."""
        return bool(self.hard.any() or np.any(self.weights[~self.hard] != 1))

    @property
    def soft_total(self) -> int:
        """Sum of the soft weights."""
        return int(self.weights.sum())

    def to_lists(self) -> list[list[int]]:
        """Clauses as Python lists of literals."""
        return [row[row != 0].tolist() for row in self.clauses]

    @cached_property
    def occurrences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Variable -> clause index (CSR): `indptr` (n+1,), `clause` ids and literal `slot` in the clause.

        Occurrences of variable v (1-based) are entries `indptr[v-1]:indptr[v]`.
        """
        rows, cols = np.nonzero(self.clauses)
        var = np.abs(self.clauses[rows, cols]).astype(np.int64) - 1
        indptr, order = csr_by_key(var, self.n_vars)
        return indptr, rows[order].astype(np.int32), cols[order].astype(np.int32)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Formula):
            return NotImplemented
        if self.n_vars != other.n_vars or self.n_clauses != other.n_clauses:
            return False
        k = max(self.kmax, other.kmax)
        pad = lambda a: np.pad(a, ((0, 0), (0, k - a.shape[1])))
        return (bool(np.array_equal(pad(self.clauses), pad(other.clauses)))
                and bool(np.array_equal(self.weights, other.weights))
                and bool(np.array_equal(self.hard, other.hard)))

    __hash__ = None

    def __repr__(self) -> str:
        return (f"Formula(n_vars={self.n_vars}, n_clauses={self.n_clauses}, kmax={self.kmax}, "
                f"hard={int(self.hard.sum())}, weighted={self.is_weighted})")
