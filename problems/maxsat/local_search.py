"""probSAT-family focused local search in numba: break-only probabilities (eps + break)^-cb.

Incremental state: true-literal count and XOR of true variables per clause (packed in one int64), break
counts per variable, an array of unsatisfied clauses, a literal -> clause occurrence index (CSR). Clause
weights are supported (breaks become weighted sums; hard clauses weigh `hard_weight`). The best assignment
is kept through a trail of flips since it was last synchronized: O(1) amortized per flip.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np

from polystep.validate import check_int, check_real
from problems.maxsat.formula import Formula, csr_by_key

# probSAT's polynomial break-only defaults by clause length (Balint & Schoening 2012).
DEFAULT_CB = {3: 2.06, 4: 3.0, 5: 3.7, 6: 5.1}
_TABLE = 4096
# flips per compiled call when a run has a flip budget and no time limit: fixed, so the trace rows and the
# checkpoints (taken between calls) fall on the same flips on every machine and after a resume
BUDGET_CHUNK_FLIPS = 1_000_000


@dataclass(frozen=True)
class ProbSATConfig:
    """cb / eps of the probability (eps + break)^-cb; None picks probSAT's default for the clause length."""

    cb: float | None = None
    eps: float | None = None
    chunk_flips: int | None = None  # flips per compiled call (None: BUDGET_CHUNK_FLIPS, or ~0.25 s with a clock)
    hard_weight: int | None = None  # weight of a hard clause (default: soft total + 1)

    def __post_init__(self):
        if self.cb is not None:
            check_real(self.cb, "cb", 0.0, lo_open=True)
        if self.eps is not None:
            check_real(self.eps, "eps", 0.0, lo_open=True)
        if self.chunk_flips is not None:
            check_int(self.chunk_flips, "chunk_flips", 1, 10**12)
        if self.hard_weight is not None:
            check_int(self.hard_weight, "hard_weight", 1, 2**62)

    def resolved(self, kmax: int) -> tuple[float, float]:
        """(cb, eps) for clauses of length `kmax`; ValueError when not positive."""
        cb = self.cb if self.cb is not None else DEFAULT_CB.get(kmax, 5.4 if kmax > 6 else 2.06)
        eps = self.eps if self.eps is not None else (0.9 if kmax <= 3 else 1.0)
        if cb <= 0 or eps <= 0:
            raise ValueError(f"cb, eps: must be > 0, got {cb}, {eps}")
        return float(cb), float(eps)


def search_weights(formula: Formula, hard_weight: int) -> np.ndarray:
    """int64 clause weights for the walk (hard clauses weigh `hard_weight`), scaled down proportionally when
    their sum could pass 2^62, so incremental sums never wrap (the reported cost is recomputed exactly)."""
    w = np.where(formula.hard, 0, formula.weights).astype(np.int64)
    total = int(formula.soft_total) + int(hard_weight) * int(formula.hard.sum())
    if total < 2**62:
        return np.where(formula.hard, int(hard_weight), w).astype(np.int64)
    big = 2**61  # exact integer scaling (Python ints), so close weights stay distinct
    scaled = np.array([max(1, int(x) * big // total) for x in w.tolist()], np.int64)
    hw = max(1, int(hard_weight) * big // total)
    return np.where(formula.hard, hw, scaled).astype(np.int64)


def simplify(formula: Formula) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clauses without repeated literals, tautologies marked: (clauses (m, k), lengths, tautology mask)."""
    c = formula.clauses
    if c.shape[1] == 1:
        return np.ascontiguousarray(c), formula.lengths.copy(), np.zeros(c.shape[0], bool)
    s = np.sort(c, axis=1)
    dup = np.zeros_like(s, dtype=bool)
    dup[:, 1:] = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] != 0)
    if dup.any():
        s = np.where(dup, 0, s)
        order = np.argsort(s == 0, axis=1, kind="stable")
        c = np.take_along_axis(s, order, axis=1)
    a = np.sort(np.abs(c), axis=1)
    same_var = np.zeros(c.shape[0], bool)
    if c.shape[1] > 1:
        same_var = np.any((a[:, 1:] == a[:, :-1]) & (a[:, 1:] != 0), axis=1)  # after dedup: x and -x
    lengths = np.count_nonzero(c, axis=1).astype(np.int32)
    return np.ascontiguousarray(c, np.int32), lengths, same_var


def literal_index(formula_clauses: np.ndarray, n: int, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR literal -> clauses. Literal id 2(v-1) is v true, 2(v-1)+1 is v false. Clauses in `skip` omitted."""
    rows, cols = np.nonzero(formula_clauses)
    keep = ~skip[rows]
    rows, cols = rows[keep], cols[keep]
    lit = formula_clauses[rows, cols].astype(np.int64)
    lid = 2 * (np.abs(lit) - 1) + (lit < 0)
    ptr, order = csr_by_key(lid, 2 * n)
    return ptr, rows[order].astype(np.int32)


@numba.njit(cache=True)
def _rand(state):
    """xorshift64*: a uint64 in state[0] advanced in place; returns a float in [0, 1)."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return ((x * np.uint64(2685821657736338717)) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def _init_state(clauses, lengths, active, cw, assign, packed, breaks, unsat, unsat_pos):
    """packed[c] = (XOR of the true variables) << 32 | number of true literals: one load per clause visit."""
    m = clauses.shape[0]
    n_unsat = 0
    cost = 0
    breaks[:] = 0
    for c in range(m):
        num_true = 0
        crit = 0
        unsat_pos[c] = -1
        if active[c]:
            for q in range(lengths[c]):
                lit = clauses[c, q]
                v = abs(lit) - 1
                if (lit > 0) == (assign[v] == 1):
                    num_true += 1
                    crit ^= v
            if num_true == 0:
                unsat_pos[c] = n_unsat
                unsat[n_unsat] = c
                n_unsat += 1
                cost += cw[c]
            elif num_true == 1:
                breaks[crit] += cw[c]
        packed[c] = (np.int64(crit) << 32) | num_true
    return n_unsat, cost


@numba.njit(cache=True)
def _walk(clauses, lengths, cw, unit, ptr, occ, table, cb, eps, assign, packed, breaks, unsat, unsat_pos,
          best_assign, trail, scalars, rng, max_flips, target):
    """Run up to `max_flips` probSAT flips. scalars = [n_unsat, cost, best_cost, trail_len, overflow, flips].

    `unit` (all clause weights 1) skips the weight loads.
    """
    n_unsat = scalars[0]
    cost = scalars[1]
    best_cost = scalars[2]
    trail_len = scalars[3]
    overflow = scalars[4]
    cap = trail.shape[0]
    low = np.int64(0xFFFFFFFF)
    probs = np.empty(clauses.shape[1], np.float64)
    done = 0
    while done < max_flips and n_unsat > 0 and best_cost > target:
        c = unsat[int(_rand(rng) * n_unsat)]
        k = lengths[c]
        total = 0.0
        for q in range(k):
            b = breaks[abs(clauses[c, q]) - 1]
            p = table[b] if b < table.shape[0] else (eps + b) ** (-cb)
            probs[q] = p
            total += p
        r = _rand(rng) * total
        pick = k - 1
        for q in range(k):
            r -= probs[q]
            if r <= 0.0:
                pick = q
                break
        v = abs(clauses[c, pick]) - 1
        vshift = np.int64(v) << 32
        new = 1 - assign[v]
        assign[v] = new
        lt = 2 * v + (0 if new == 1 else 1)  # literal that became true
        lf = 2 * v + (1 if new == 1 else 0)  # literal that became false
        for t in range(ptr[lf], ptr[lf + 1]):
            d = occ[t]
            w = 1 if unit else cw[d]
            x = (packed[d] - 1) ^ vshift
            packed[d] = x
            nt = x & low
            if nt == 0:
                unsat_pos[d] = n_unsat
                unsat[n_unsat] = d
                n_unsat += 1
                breaks[v] -= w
                cost += w
            elif nt == 1:
                breaks[x >> 32] += w
        for t in range(ptr[lt], ptr[lt + 1]):
            d = occ[t]
            w = 1 if unit else cw[d]
            x = packed[d]
            nt = x & low
            if nt == 0:
                pos = unsat_pos[d]
                last = unsat[n_unsat - 1]
                unsat[pos] = last
                unsat_pos[last] = pos
                unsat_pos[d] = -1
                n_unsat -= 1
                breaks[v] += w
                cost -= w
            elif nt == 1:
                breaks[x >> 32] -= w
            packed[d] = (x + 1) ^ vshift
        done += 1
        if overflow == 0:
            if trail_len < cap:
                trail[trail_len] = v
                trail_len += 1
            else:
                overflow = 1
        if cost < best_cost:
            best_cost = cost
            if overflow == 1:
                best_assign[:] = assign
            else:
                for t in range(trail_len):
                    best_assign[trail[t]] ^= 1
            trail_len = 0
            overflow = 0
    scalars[0] = n_unsat
    scalars[1] = cost
    scalars[2] = best_cost
    scalars[3] = trail_len
    scalars[4] = overflow
    scalars[5] += done
    return done


@dataclass
class ProbSAT:
    """A probSAT walker over one formula; `run` advances it under a time / flip budget (resumable)."""

    formula: Formula
    config: ProbSATConfig = field(default_factory=ProbSATConfig)
    seed: int = 0

    def __post_init__(self):
        f = self.formula
        self._clauses, self._lengths, taut = simplify(f)
        hw = self.config.hard_weight if self.config.hard_weight is not None else f.soft_total + 1
        self._cw = search_weights(f, hw)
        active = ~taut & (self._lengths > 0)
        self._empty_cost = int(self._cw[self._lengths == 0].sum())  # empty clauses: always unsatisfied
        self._active = active
        self._ptr, self._occ = literal_index(self._clauses, f.n_vars, ~active)
        self.cb, self.eps = self.config.resolved(max(int(self._lengths.max(initial=3)), 1))
        self._table = (self.eps + np.arange(_TABLE, dtype=np.float64)) ** (-self.cb)
        rng = np.random.default_rng(self.seed)
        self.assign = (rng.random(f.n_vars) < 0.5).astype(np.uint8)
        self._rng = np.array([rng.integers(1, 2**63 - 1)], np.uint64)
        m = f.n_clauses
        self._packed = np.zeros(m, np.int64)
        self._unit = not f.is_weighted
        small = int(self._cw.max(initial=0)) * max(m, 1) < 2**31 - 1
        self._breaks = np.zeros(f.n_vars, np.int32 if small else np.int64)
        self._unsat = np.zeros(m, np.int32)
        self._unsat_pos = np.zeros(m, np.int32)
        n_unsat, cost = _init_state(self._clauses, self._lengths, active, self._cw, self.assign, self._packed,
                                    self._breaks, self._unsat, self._unsat_pos)
        self.best_assign = self.assign.copy()
        self._trail = np.zeros(max(1024, f.n_vars), np.int32)
        self._scalars = np.array([n_unsat, cost, cost, 0, 0, 0], np.int64)
        self.trace: list[tuple[float, int, int]] = []
        self.elapsed = 0.0

    @property
    def flips(self) -> int:
        """Flips made so far."""
        return int(self._scalars[5])

    @property
    def best_cost(self) -> int:
        """Weighted cost of the best assignment (unsatisfied soft weight + hard_weight per hard violation)."""
        return int(self._scalars[2]) + self._empty_cost

    def run(self, time_limit: float = float("inf"), max_flips: int | None = None, target: int = 0,
            on_chunk: Callable[[], None] | None = None) -> ProbSAT:
        """Flip until `time_limit` seconds, `max_flips` more flips, or best cost <= `target`.

        Flips go in compiled calls of `config.chunk_flips` (None: `BUDGET_CHUNK_FLIPS` without a time limit,
        about 0.25 s worth with one); `on_chunk()` runs between two calls (a checkpoint's chance to save).
        """
        if time_limit == float("inf") and max_flips is None:
            raise ValueError("time_limit, max_flips: give a finite budget (an optimum may be above `target`)")
        t0, e0 = time.perf_counter(), self.elapsed
        start_flips = self.flips
        if not self.trace:
            self.trace.append((0.0, 0, self.best_cost))
        target_active = target - self._empty_cost
        clocked = time_limit != float("inf")
        chunk = self.config.chunk_flips or (100_000 if clocked else BUDGET_CHUNK_FLIPS)
        while True:
            left = chunk if max_flips is None else min(chunk, start_flips + max_flips - self.flips)
            if left <= 0:
                break
            t_call = time.perf_counter()
            done = _walk(self._clauses, self._lengths, self._cw, self._unit, self._ptr, self._occ, self._table,
                         self.cb, self.eps, self.assign, self._packed, self._breaks, self._unsat,
                         self._unsat_pos, self.best_assign, self._trail, self._scalars, self._rng, left,
                         target_active)
            now = time.perf_counter() - t0
            self.elapsed = e0 + now
            self.trace.append((self.elapsed, self.flips, self.best_cost))
            if done < left or now >= time_limit or (max_flips is not None and self.flips - start_flips >= max_flips):
                break
            if self.config.chunk_flips is None and clocked:  # aim at ~0.25 s per call, never past the deadline
                rate = done / max(time.perf_counter() - t_call, 1e-6)
                chunk = int(max(10_000, min(rate * 0.25, rate * (time_limit - now) + 1, 50_000_000)))
            if on_chunk is not None:
                on_chunk()
        self.elapsed = e0 + time.perf_counter() - t0
        return self

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every array the walk changes (assignment, clause counts, breaks, falsified list, best, trail, RNG)."""
        return {name: getattr(self, attr) for name, attr in _PROBSAT_STATE.items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Overwrite the walk's arrays with saved ones (from `state_arrays` of a walker of the same run)."""
        for name, attr in _PROBSAT_STATE.items():
            getattr(self, attr)[...] = arrays[name]


_PROBSAT_STATE = {"assign": "assign", "best_assign": "best_assign", "packed": "_packed", "breaks": "_breaks",
                  "unsat": "_unsat", "unsat_pos": "_unsat_pos", "trail": "_trail", "scalars": "_scalars",
                  "rng": "_rng"}
