"""Weighted partial MAX-SAT local search with dynamic clause weighting (the SATLike / NuWLS family), in numba.

Re-derived from the published descriptions, not from their code:
- search weights: every clause carries a dynamic weight; hard clauses start at one unit and grow by `hard_inc`
  units each time they are falsified at a local optimum, soft clauses start at their (normalized) weight and
  grow by it while no hard clause is falsified, bounded by `soft_bound` times it; with probability
  `smooth_prob` the raised weights of satisfied clauses are lowered one step instead;
- moves: while some variable improves the weighted score, flip the best of `bms_samples` sampled improving
  variables (ties: the least recently flipped); otherwise update the weights and flip the best variable of a
  random falsified clause (a hard one while any is falsified);
- the best FEASIBLE assignment (no hard clause falsified) is tracked by its exact soft cost (int64);
- start: unit propagation over the hard clauses first, then over unit soft clauses, then free variables in a
  random order with random values (a decimation), or a uniformly random assignment.

A run is a function of the formula, the config and the seed: a flip budget gives the same result on any
machine; a time limit only decides when to stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np

from polystep.validate import check_choice, check_int, check_real
from problems.maxsat.formula import Formula
from problems.maxsat.local_search import BUDGET_CHUNK_FLIPS, _rand, literal_index, simplify

INITS = ("decimation", "random")
_UNIT = 64  # weight resolution: a hard clause starts at one unit, an average soft clause at one unit too
_IMPROVEMENTS = 4096  # improvement records kept per compiled call (the last slot keeps the latest)
# counters in `cnt`: improving variables, falsified hard, falsified soft, raised clauses
_GOOD, _HARD, _SOFT, _RAISED = 0, 1, 2, 3
# scalars: soft cost, best feasible soft cost, trail length, trail overflow, flips, improvements this call
_COST, _BEST, _TRAIL, _OVER, _FLIPS, _NIMP = 0, 1, 2, 3, 4, 5
_NO_BEST = np.iinfo(np.int64).max


@dataclass(frozen=True)
class WPMSConfig:
    """Settings of the weighted partial local search (weights in units of an average soft clause)."""

    hard_inc: int = 1  # units added to a falsified hard clause's weight at each weight update
    soft_bound: int = 100  # a soft clause's dynamic weight stays <= soft_bound x its normalized weight
    smooth_prob: float = 0.01  # probability that a weight update lowers raised weights instead
    bms_samples: int = 15  # improving variables sampled per greedy move (best-from-multiple-selections)
    init: str = "decimation"  # "decimation" (unit propagation, hard clauses first) or "random"
    chunk_flips: int | None = None  # flips per compiled call (None: BUDGET_CHUNK_FLIPS, or ~0.1 s with a clock)

    def __post_init__(self):
        check_int(self.hard_inc, "hard_inc", 1, 1_000_000)
        check_int(self.soft_bound, "soft_bound", 1, 1_000_000)
        check_real(self.smooth_prob, "smooth_prob", 0.0, 1.0)
        check_int(self.bms_samples, "bms_samples", 1, 10_000)
        check_choice(self.init, "init", INITS)
        if self.chunk_flips is not None:
            check_int(self.chunk_flips, "chunk_flips", 1, 10**12)


# ------------------------------------------------------------------------------------------ compiled parts
@numba.njit(cache=True)
def _list_add(items, pos, cnt, which, x):
    pos[x] = cnt[which]
    items[cnt[which]] = x
    cnt[which] += 1


@numba.njit(cache=True)
def _list_remove(items, pos, cnt, which, x):
    p = pos[x]
    last = items[cnt[which] - 1]
    items[p] = last
    pos[last] = p
    pos[x] = -1
    cnt[which] -= 1


@numba.njit(cache=True)
def _add_score(u, delta, score, good, goodpos, cnt):
    s = score[u] + delta
    score[u] = s
    if s > 0:
        if goodpos[u] < 0:
            _list_add(good, goodpos, cnt, _GOOD, u)
    elif goodpos[u] >= 0:
        _list_remove(good, goodpos, cnt, _GOOD, u)


@numba.njit(cache=True)
def _init_state(clauses, lengths, active, is_hard, orgw, dw, assign, packed, score, good, goodpos, hun, hpos,
                sun, spos, cnt, sc):
    """Clause counts (true literals | XOR of true variables << 32), scores, falsified lists, soft cost."""
    m = clauses.shape[0]
    score[:] = 0
    goodpos[:] = -1
    hpos[:] = -1
    spos[:] = -1
    cnt[_GOOD] = 0
    cnt[_HARD] = 0
    cnt[_SOFT] = 0
    cost = np.int64(0)
    for c in range(m):
        num_true = 0
        crit = 0
        if active[c]:
            for q in range(lengths[c]):
                lit = clauses[c, q]
                v = abs(lit) - 1
                if (lit > 0) == (assign[v] == 1):
                    num_true += 1
                    crit ^= v
            if num_true == 0:
                if is_hard[c]:
                    _list_add(hun, hpos, cnt, _HARD, c)
                else:
                    _list_add(sun, spos, cnt, _SOFT, c)
                    cost += orgw[c]
                for q in range(lengths[c]):
                    score[abs(clauses[c, q]) - 1] += dw[c]
            elif num_true == 1:
                score[crit] -= dw[c]
        packed[c] = (np.int64(crit) << 32) | num_true
    for v in range(score.shape[0]):
        if score[v] > 0:
            _list_add(good, goodpos, cnt, _GOOD, v)
    sc[_COST] = cost


@numba.njit(cache=True)
def _flip(v, clauses, lengths, is_hard, orgw, dw, ptr, occ, assign, packed, score, good, goodpos, hun, hpos,
          sun, spos, cnt, sc):
    """Flip variable v and update counts, scores, falsified lists and the soft cost incrementally."""
    low = np.int64(0xFFFFFFFF)
    old = score[v]
    vshift = np.int64(v) << 32
    new = 1 - assign[v]
    assign[v] = new
    lt = 2 * v + (0 if new == 1 else 1)  # literal that became true
    lf = 2 * v + (1 if new == 1 else 0)  # literal that became false
    for t in range(ptr[lf], ptr[lf + 1]):
        c = occ[t]
        x = packed[c]
        nt = x & low
        nx = (x - 1) ^ vshift
        packed[c] = nx
        w = dw[c]
        if nt == 1:  # falsified now: every other variable of c would make it
            if is_hard[c]:
                _list_add(hun, hpos, cnt, _HARD, c)
            else:
                _list_add(sun, spos, cnt, _SOFT, c)
                sc[_COST] += orgw[c]
            for q in range(lengths[c]):
                u = abs(clauses[c, q]) - 1
                if u != v:
                    _add_score(u, w, score, good, goodpos, cnt)
        elif nt == 2:  # the remaining true variable becomes critical
            _add_score(nx >> 32, -w, score, good, goodpos, cnt)
    for t in range(ptr[lt], ptr[lt + 1]):
        c = occ[t]
        x = packed[c]
        nt = x & low
        w = dw[c]
        if nt == 0:  # satisfied now: the others no longer make it
            if is_hard[c]:
                _list_remove(hun, hpos, cnt, _HARD, c)
            else:
                _list_remove(sun, spos, cnt, _SOFT, c)
                sc[_COST] -= orgw[c]
            for q in range(lengths[c]):
                u = abs(clauses[c, q]) - 1
                if u != v:
                    _add_score(u, -w, score, good, goodpos, cnt)
        elif nt == 1:  # the old critical variable no longer breaks it
            _add_score(x >> 32, w, score, good, goodpos, cnt)
        packed[c] = (x + 1) ^ vshift
    score[v] = 0
    _add_score(v, -old, score, good, goodpos, cnt)


@numba.njit(cache=True)
def _raise(c, delta, clauses, lengths, dw, packed, score, good, goodpos, cnt):
    """Change the dynamic weight of clause c by delta and the scores it feeds."""
    low = np.int64(0xFFFFFFFF)
    dw[c] += delta
    x = packed[c]
    nt = x & low
    if nt == 0:
        for q in range(lengths[c]):
            _add_score(abs(clauses[c, q]) - 1, delta, score, good, goodpos, cnt)
    elif nt == 1:
        _add_score(x >> 32, -delta, score, good, goodpos, cnt)


@numba.njit(cache=True)
def _update_weights(clauses, lengths, is_hard, dw, base, packed, score, good, goodpos, hun, sun, raised, rpos,
                    cnt, hard_step, soft_bound, smooth_prob, rng):
    low = np.int64(0xFFFFFFFF)
    if _rand(rng) < smooth_prob:  # smooth: lower raised weights of satisfied clauses one step
        i = 0
        while i < cnt[_RAISED]:
            c = raised[i]
            if packed[c] & low > 0:
                step = hard_step if is_hard[c] else base[c]
                _raise(c, -step, clauses, lengths, dw, packed, score, good, goodpos, cnt)
                floor = hard_step if is_hard[c] else base[c]
                if dw[c] <= floor:
                    _list_remove(raised, rpos, cnt, _RAISED, c)
                    continue
            i += 1
        return
    if cnt[_HARD] > 0:
        for i in range(cnt[_HARD]):
            c = hun[i]
            _raise(c, hard_step, clauses, lengths, dw, packed, score, good, goodpos, cnt)
            if rpos[c] < 0:
                _list_add(raised, rpos, cnt, _RAISED, c)
    else:  # soft weights grow only while every hard clause holds (hard clauses first)
        for i in range(cnt[_SOFT]):
            c = sun[i]
            if dw[c] + base[c] <= soft_bound * base[c]:
                _raise(c, base[c], clauses, lengths, dw, packed, score, good, goodpos, cnt)
                if rpos[c] < 0:
                    _list_add(raised, rpos, cnt, _RAISED, c)


@numba.njit(cache=True)
def _search(clauses, lengths, is_hard, orgw, dw, base, ptr, occ, assign, packed, score, good, goodpos, hun, hpos,
            sun, spos, raised, rpos, cnt, sc, stamp, best_assign, trail, imp_flips, imp_cost, rng, hard_step,
            soft_bound, smooth_prob, bms, max_flips, target):
    """Up to `max_flips` flips; stops early once the best feasible soft cost is <= target."""
    done = 0
    cap = trail.shape[0]
    while done < max_flips and sc[_BEST] > target:
        if cnt[_GOOD] > 0:
            ng = cnt[_GOOD]
            if ng <= bms:
                v = good[0]
                for i in range(1, ng):
                    u = good[i]
                    if score[u] > score[v] or (score[u] == score[v] and stamp[u] < stamp[v]):
                        v = u
            else:
                v = good[int(_rand(rng) * ng)]
                for _ in range(bms - 1):
                    u = good[int(_rand(rng) * ng)]
                    if score[u] > score[v] or (score[u] == score[v] and stamp[u] < stamp[v]):
                        v = u
        else:
            _update_weights(clauses, lengths, is_hard, dw, base, packed, score, good, goodpos, hun, sun, raised,
                            rpos, cnt, hard_step, soft_bound, smooth_prob, rng)
            if cnt[_HARD] > 0:
                c = hun[int(_rand(rng) * cnt[_HARD])]
            elif cnt[_SOFT] > 0:
                c = sun[int(_rand(rng) * cnt[_SOFT])]
            else:
                break
            v = abs(clauses[c, 0]) - 1
            for q in range(1, lengths[c]):
                u = abs(clauses[c, q]) - 1
                if score[u] > score[v] or (score[u] == score[v] and stamp[u] < stamp[v]):
                    v = u
        _flip(v, clauses, lengths, is_hard, orgw, dw, ptr, occ, assign, packed, score, good, goodpos, hun, hpos,
              sun, spos, cnt, sc)
        done += 1
        sc[_FLIPS] += 1
        stamp[v] = sc[_FLIPS]
        if sc[_OVER] == 0:
            if sc[_TRAIL] < cap:
                trail[sc[_TRAIL]] = v
                sc[_TRAIL] += 1
            else:
                sc[_OVER] = 1
        if cnt[_HARD] == 0 and sc[_COST] < sc[_BEST]:
            sc[_BEST] = sc[_COST]
            if sc[_OVER] == 1:
                best_assign[:] = assign
            else:
                for t in range(sc[_TRAIL]):
                    best_assign[trail[t]] ^= 1
            sc[_TRAIL] = 0
            sc[_OVER] = 0
            slot = min(sc[_NIMP], imp_flips.shape[0] - 1)
            imp_flips[slot] = sc[_FLIPS]
            imp_cost[slot] = sc[_COST]
            sc[_NIMP] += 1
    return done


@numba.njit(cache=True)
def _decimate(clauses, lengths, active, is_hard, ptr, occ, n, rng, assign):
    """Unit propagation over hard unit clauses first, then soft unit clauses, then free variables in a random
    order with random values; a falsified clause is skipped (the local search repairs it)."""
    m = clauses.shape[0]
    value = np.full(n, -1, np.int8)
    free = lengths.copy()
    sat = ~active
    hq = np.empty(m, np.int32)
    sq = np.empty(m, np.int32)
    nh_head = 0
    nh = 0
    ns = 0
    for c in range(m):
        if active[c] and lengths[c] == 1:
            if is_hard[c]:
                hq[nh] = c
                nh += 1
            else:
                sq[ns] = c
                ns += 1
    order = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = int(_rand(rng) * (i + 1))
        order[i], order[j] = order[j], order[i]
    next_free = 0
    while True:
        v = -1
        val = 0
        if nh_head < nh:
            c = hq[nh_head]
            nh_head += 1
        elif ns > 0:
            k = int(_rand(rng) * ns)
            c = sq[k]
            ns -= 1
            sq[k] = sq[ns]
        else:
            c = -1
            while next_free < n and value[order[next_free]] >= 0:
                next_free += 1
            if next_free == n:
                break
            v = order[next_free]
            val = 1 if _rand(rng) < 0.5 else 0
        if c >= 0:
            if sat[c]:
                continue
            for q in range(lengths[c]):
                lit = clauses[c, q]
                if value[abs(lit) - 1] < 0:
                    v = abs(lit) - 1
                    val = 1 if lit > 0 else 0
                    break
            if v < 0:
                continue
        value[v] = val
        lt = 2 * v + (0 if val == 1 else 1)
        lf = 2 * v + (1 if val == 1 else 0)
        for t in range(ptr[lt], ptr[lt + 1]):
            sat[occ[t]] = True
        for t in range(ptr[lf], ptr[lf + 1]):
            d = occ[t]
            free[d] -= 1
            if not sat[d] and free[d] == 1:
                if is_hard[d]:
                    hq[nh] = d
                    nh += 1
                else:
                    sq[ns] = d
                    ns += 1
    for v in range(n):
        assign[v] = value[v]


# --------------------------------------------------------------------------------------------- the walker
@dataclass
class WeightedLocalSearch:
    """A weighted partial MAX-SAT walker over one formula; `run` advances it under a flip / time budget."""

    formula: Formula
    config: WPMSConfig = field(default_factory=WPMSConfig)
    seed: int = 0

    def __post_init__(self):
        f = self.formula
        n, m = f.n_vars, f.n_clauses
        self._clauses, self._lengths, taut = simplify(f)
        active = ~taut & (self._lengths > 0)
        self._active = active
        self._is_hard = np.ascontiguousarray(f.hard)
        self._orgw = np.ascontiguousarray(f.weights, np.int64)
        empty = self._lengths == 0
        self.empty_hard = bool((empty & f.hard).any())  # an empty hard clause: no assignment is feasible
        self._empty_cost = int(self._orgw[empty & ~f.hard].sum())
        soft = ~f.hard & active
        mean = float(self._orgw[soft].mean()) if soft.any() else 1.0
        self._base = np.where(f.hard, _UNIT, np.maximum(1, np.rint(_UNIT * (self._orgw / mean)))).astype(np.int64)
        self._dw = self._base.copy()
        self._ptr, self._occ = literal_index(self._clauses, n, ~active)
        rng = np.random.default_rng(self.seed)
        self._rng = np.array([rng.integers(1, 2**63 - 1)], np.uint64)
        self.assign = np.zeros(n, np.uint8)
        if self.config.init == "decimation":
            _decimate(self._clauses, self._lengths, active, self._is_hard, self._ptr, self._occ, n, self._rng,
                      self.assign)
        else:
            self.assign[:] = rng.random(n) < 0.5
        self._packed = np.zeros(m, np.int64)
        self._score = np.zeros(n, np.int64)
        self._good, self._goodpos = np.zeros(n, np.int32), np.zeros(n, np.int32)
        self._hun, self._hpos = np.zeros(m, np.int32), np.zeros(m, np.int32)
        self._sun, self._spos = np.zeros(m, np.int32), np.zeros(m, np.int32)
        self._raised, self._rpos = np.zeros(m, np.int32), np.full(m, -1, np.int32)
        self._cnt = np.zeros(4, np.int64)
        self._sc = np.zeros(6, np.int64)
        _init_state(self._clauses, self._lengths, active, self._is_hard, self._orgw, self._dw, self.assign,
                    self._packed, self._score, self._good, self._goodpos, self._hun, self._hpos, self._sun,
                    self._spos, self._cnt, self._sc)
        self._stamp = np.zeros(n, np.int64)
        self._trail = np.zeros(max(1024, n), np.int32)
        self._imp_flips = np.zeros(_IMPROVEMENTS, np.int64)
        self._imp_cost = np.zeros(_IMPROVEMENTS, np.int64)
        self.best_assign = self.assign.copy()
        self._sc[_BEST] = _NO_BEST
        if self._cnt[_HARD] == 0:
            self._sc[_BEST] = self._sc[_COST]
        self.trace: list[tuple[float, int, int]] = []  # (seconds, flips, best feasible cost) at improvements
        self.elapsed = 0.0
        if self.feasible:
            self.trace.append((0.0, 0, self.best_cost))

    @property
    def flips(self) -> int:
        """Flips made so far."""
        return int(self._sc[_FLIPS])

    @property
    def feasible(self) -> bool:
        """True once an assignment satisfying every hard clause has been found."""
        return not self.empty_hard and int(self._sc[_BEST]) != _NO_BEST

    @property
    def best_cost(self) -> int | None:
        """Soft cost (unsatisfied soft weight) of the best feasible assignment; None before one is found."""
        return int(self._sc[_BEST]) + self._empty_cost if self.feasible else None

    @property
    def hard_violations(self) -> int:
        """Falsified hard clauses of the current assignment (empty hard clauses included)."""
        return int(self._cnt[_HARD]) + int((self._lengths == 0)[self._is_hard].sum())

    def run(self, time_limit: float = float("inf"), max_flips: int | None = None, target: int = 0,
            on_improve=None, on_chunk: Callable[[], None] | None = None) -> WeightedLocalSearch:
        """Flip until `time_limit` seconds, `max_flips` more flips, or a feasible cost <= `target`.

        Flips go in compiled calls of `config.chunk_flips` (None: `BUDGET_CHUNK_FLIPS` without a time limit,
        about 0.1 s worth with one). `on_improve(seconds, flips, cost)` is called after each call that improved
        the best feasible cost (the solve command prints its `o` lines from it); `on_chunk()` runs between two
        calls (a checkpoint's chance to save).
        """
        if time_limit == float("inf") and max_flips is None:
            raise ValueError("time_limit, max_flips: give a finite budget (an optimum may be above `target`)")
        t0, e0 = time.perf_counter(), self.elapsed
        start = self.flips
        target_active = target - self._empty_cost
        clocked = time_limit != float("inf")
        chunk = self.config.chunk_flips or (20_000 if clocked else BUDGET_CHUNK_FLIPS)
        while self.flips - start < (max_flips if max_flips is not None else np.iinfo(np.int64).max):
            left = chunk if max_flips is None else min(chunk, start + max_flips - self.flips)
            t_call = time.perf_counter()
            before = self.best_cost
            self._sc[_NIMP] = 0
            done = _search(self._clauses, self._lengths, self._is_hard, self._orgw, self._dw, self._base,
                           self._ptr, self._occ, self.assign, self._packed, self._score, self._good,
                           self._goodpos, self._hun, self._hpos, self._sun, self._spos, self._raised, self._rpos,
                           self._cnt, self._sc, self._stamp, self.best_assign, self._trail, self._imp_flips,
                           self._imp_cost, self._rng, _UNIT * self.config.hard_inc, self.config.soft_bound,
                           self.config.smooth_prob, self.config.bms_samples, left, target_active)
            now = time.perf_counter() - t0
            self.elapsed = e0 + now
            if self.feasible and self.best_cost != before:
                k = min(int(self._sc[_NIMP]), _IMPROVEMENTS)
                span = max(now - (t_call - t0), 0.0)
                f0 = self.flips - done
                for i in range(k):  # times inside the call interpolated by flip count
                    frac = (self._imp_flips[i] - f0) / max(done, 1)
                    self.trace.append((e0 + (t_call - t0) + frac * span, int(self._imp_flips[i]),
                                       int(self._imp_cost[i]) + self._empty_cost))
                if on_improve is not None:
                    on_improve(self.elapsed, self.flips, self.best_cost)
            if done < left or now >= time_limit or self.empty_hard or (
                    max_flips is not None and self.flips - start >= max_flips):
                break
            if self.config.chunk_flips is None and clocked:  # aim at ~0.1 s per call, never past the deadline
                rate = done / max(time.perf_counter() - t_call, 1e-6)
                chunk = int(max(1_000, min(rate * 0.1, rate * (time_limit - now) + 1, 20_000_000)))
            if on_chunk is not None:
                on_chunk()
        self.elapsed = e0 + time.perf_counter() - t0
        return self

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every array the search changes (assignment, dynamic weights, scores, lists, counters, best, RNG)."""
        return {name: getattr(self, attr) for name, attr in _WPMS_STATE.items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Overwrite the search's arrays with saved ones (from `state_arrays` of a walker of the same run)."""
        for name, attr in _WPMS_STATE.items():
            getattr(self, attr)[...] = arrays[name]

    def result_assignment(self) -> np.ndarray:
        """The best feasible assignment (bool (n,)), or the current one when none is feasible."""
        return (self.best_assign if self.feasible else self.assign).astype(bool)


_WPMS_STATE = {name.strip("_"): name for name in (
    "assign", "best_assign", "_dw", "_rng", "_packed", "_score", "_good", "_goodpos", "_hun", "_hpos", "_sun",
    "_spos", "_raised", "_rpos", "_cnt", "_sc", "_stamp", "_trail")}


def warm_up() -> None:
    """Compile (or load from the cache) every numba function of the search on a tiny formula."""
    tiny = Formula.from_lists(2, [[1, 2], [-1], [-2, 1]], weights=[1, 2, 1], hard=[True, False, False])
    WeightedLocalSearch(tiny, WPMSConfig(chunk_flips=10)).run(max_flips=10)
