"""The time-limited search loop shared by the forward-only MAX-SAT solvers (PolyStep and the ES baselines)."""

from __future__ import annotations

import dataclasses
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from problems.maxsat.relaxation import ClauseDeltaEvaluator

HARD_WEIGHT_CAP = 1e30  # float32 clause weights stay finite under the hard-penalty schedule


@partial(jax.jit, static_argnums=(0, 4))
def advance(opt, key, state, ev: ClauseDeltaEvaluator, steps: int):
    """`steps` optimizer steps in one compiled call; returns the state, its estimate and the estimate's
    (falsified hard clauses, unsatisfied soft weight), and the same for the optimizer's best candidate."""
    state = jax.lax.fori_loop(0, steps, lambda i, s: opt.step(jax.random.fold_in(key, i), s, ev), state)
    x = opt.params(state)
    best_x = getattr(state, "best_params", x)
    return state, x, ev.objective(x), best_x, ev.objective(best_x)


def no_variables(ev: ClauseDeltaEvaluator, t0: float):
    """The result of a formula without variables: its one (empty) assignment, in run_timed's layout."""
    hard, soft = ev.objective(np.zeros(max(ev.dim, 1), np.float32))
    best = float(soft) if int(hard) == 0 else float("inf")
    return np.zeros(0, bool), best, [(time.perf_counter() - t0, 0, best)] if int(hard) == 0 else [], 0, 0


def run_timed(opt, ev: ClauseDeltaEvaluator, x0: jax.Array, state, key: jax.Array, *, t0: float,
              evaluations_per_step: int, steps_per_call: int, time_limit: float, max_steps: int | None,
              target: float, hard_growth: float = 1.0, checkpoint=None):
    """Step `opt` until `time_limit` seconds after the first (compiling) call, `max_steps`, or `target`.

    The best assignment is chosen feasibility first: fewer falsified hard clauses, then less unsatisfied
    soft weight, among the optimizer's estimate and its best candidate after every call. `hard_growth` > 1
    is the penalty schedule: after each call the weight of every hard clause the estimate falsifies is
    multiplied by it (up to HARD_WEIGHT_CAP). Returns (assignment, best soft cost or inf when no feasible
    assignment was seen, trace, evaluations, steps); trace rows are (seconds since `t0`, candidate
    evaluations, best feasible soft cost so far), written once a feasible assignment is known.

    `checkpoint` (a `problems.maxsat.resume.SearchCheckpoint`): the loop resumes from its saved state and saves
    between two calls (optimizer state, clause weights, best assignment; steps, best cost, trace, seconds).
    """
    n_vars = x0.shape[0]
    best_x = np.asarray(x0)
    hard, soft = ev.objective(x0)
    best = (int(hard), float(soft))
    trace = [(time.perf_counter() - t0, 0, best[1])] if best[0] == 0 else []
    steps = 0
    spent = 0.0  # search seconds of the run this one resumes
    if checkpoint is not None:
        found = checkpoint.restore({"optimizer": state, "clause_cost": ev.cost, "best_x": best_x})
        if found is not None:
            saved, meta = found
            state, best_x = saved["optimizer"], np.asarray(saved["best_x"])
            ev = dataclasses.replace(ev, cost=jnp.asarray(saved["clause_cost"]))
            best, trace = (int(meta["best"][0]), float(meta["best"][1])), [tuple(row) for row in meta["trace"]]
            steps, spent = int(meta["steps"]), float(meta["search_s"])
            t0 -= float(meta["elapsed_s"]) - (time.perf_counter() - t0)  # the trace's clock goes on
    t_opt = None  # the clock of `time_limit` starts after the first (compiling) call
    while True:
        chunk = steps_per_call if max_steps is None else min(steps_per_call, max_steps - steps)
        if chunk <= 0:
            break
        state, x, (h, s), bx, (bh, bs) = advance(opt, jax.random.fold_in(key, steps), state, ev, chunk)
        steps += chunk
        improved = False
        for point, value in ((x, (int(h), float(s))), (bx, (int(bh), float(bs)))):
            if value < best:
                best, best_x, improved = value, np.asarray(point)[:n_vars], True
        if hard_growth > 1.0 and int(h) > 0:
            ev = ev.with_hard_penalty(x, hard_growth, HARD_WEIGHT_CAP)
        now = time.perf_counter()
        if best[0] == 0 and (improved or trace):
            trace.append((now - t0, steps * evaluations_per_step, best[1]))
        t_opt = now if t_opt is None else t_opt
        if spent + now - t_opt >= time_limit or (best[0] == 0 and best[1] <= target):
            break
        if checkpoint is not None and (max_steps is None or steps < max_steps) and checkpoint.due():
            checkpoint.save({"optimizer": state, "clause_cost": ev.cost, "best_x": best_x},
                            {"steps": steps, "best": list(best), "trace": [list(row) for row in trace],
                             "search_s": spent + now - t_opt, "elapsed_s": now - t0})
    return best_x > 0, (best[1] if best[0] == 0 else float("inf")), trace, steps * evaluations_per_step, steps
