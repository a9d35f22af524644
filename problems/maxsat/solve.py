"""One entry point: `solve(formula, solver=..., time_limit=..., seed=...) -> SolveResult`."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from problems.maxsat.evaluate import evaluate_full
from problems.maxsat.formula import Formula

SOLVERS = ("probsat", "wpms", "polystep", "openai_es", "cmaes", "rc2")
LOCAL_SEARCH = ("probsat", "wpms")
STATUSES = ("OPTIMUM FOUND", "SATISFIABLE", "UNSATISFIABLE", "UNKNOWN")


@dataclass(frozen=True)
class SolveResult:
    """An assignment and its quality; `trace` rows are (seconds, evaluations, best cost so far).

    `feasible`: every hard clause holds. `status` is the MaxSAT Evaluation answer: "OPTIMUM FOUND" (RC2,
    or a feasible cost equal to the weight of the empty soft clauses, a lower bound), "SATISFIABLE"
    (feasible), "UNSATISFIABLE" (proved: RC2, or an empty hard clause), "UNKNOWN" (no feasible assignment
    found). `machine_dependent`: the run was stopped by its wall-clock limit, so its result depends on the
    machine's speed; runs ended by an evaluation budget, by reaching the target or by RC2 give the same
    result for the same seed on any machine.
    """

    solver: str
    assignment: np.ndarray  # (n,) bool
    cost: int  # unsatisfied soft weight (for plain MAX-SAT: unsatisfied clauses)
    hard_violations: int
    unsat_clauses: int
    sat_fraction: float  # satisfied soft weight / total soft weight
    evaluations: int  # flips (probsat, wpms), candidates scored (polystep, ES), 0 (rc2)
    wall_s: float
    trace: list = field(default_factory=list)
    feasible: bool = True
    status: str = "UNKNOWN"
    machine_dependent: bool = False


def _check_budget(time_limit, max_steps, max_evaluations) -> float:
    if time_limit is None:
        time_limit = math.inf
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or math.isnan(time_limit) \
            or not time_limit > 0:
        raise ValueError(f"time_limit: must be > 0 seconds (or None with an evaluation budget), got {time_limit}")
    for name, value in (("max_steps", max_steps), ("max_evaluations", max_evaluations)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name}: must be an integer >= 1 or None, got {value!r}")
    return float(time_limit)


def _default_config(solver: str):
    """The solver's default config dataclass (None for RC2)."""
    if solver == "probsat":
        from problems.maxsat.local_search import ProbSATConfig

        return ProbSATConfig()
    if solver == "wpms":
        from problems.maxsat.weighted_ls import WPMSConfig

        return WPMSConfig()
    if solver == "polystep":
        from problems.maxsat.polystep_solver import PolyStepMaxSATConfig

        return PolyStepMaxSATConfig()
    if solver in ("openai_es", "cmaes"):
        from problems.maxsat.es_solver import ESConfig

        return ESConfig()
    return None


def solve(formula: Formula, solver: str = "probsat", time_limit: float | None = 10.0, seed: int = 0,
          config=None, max_steps: int | None = None, max_evaluations: int | None = None,
          target: int | None = None, checkpoint_dir: Path | None = None,
          checkpoint_seconds: float | None = None) -> SolveResult:
    """Solve MAX-SAT with `solver` in `SOLVERS` for about `time_limit` seconds (rc2 runs to optimality).

    Budgets: `max_evaluations` caps flips (probsat, wpms) or candidate evaluations (polystep, ES, rounded up
    to whole steps); `max_steps` caps flips or optimizer steps. With a budget and `time_limit=None` a run is
    deterministic: the same seed gives the same result on any machine. The time limit counts search time:
    index building and the first (JIT-compiling) call come on top and are included in `wall_s` and the trace.

    `config` is the solver's config dataclass (ProbSATConfig, WPMSConfig, PolyStepMaxSATConfig, ESConfig) or
    None for defaults. `target`: stop once a feasible cost <= target is found (default 0). "wpms" is the
    weighted partial local search (dynamic clause weights, best feasible assignment); "probsat" is the fastest
    on unweighted random instances.

    `checkpoint_dir`: the search saves its whole state there between two compiled calls (at most every
    `checkpoint_seconds`, default `problems.maxsat.resume.CHECKPOINT_SECONDS`) and, started again with the same
    arguments, resumes from it; under an evaluation budget the result equals an uninterrupted run's (wall times
    aside). The caller deletes the directory once it has the result. RC2 does not checkpoint.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver: unknown {solver!r}; allowed: {', '.join(SOLVERS)}")
    time_limit = _check_budget(time_limit, max_steps, max_evaluations)
    budget = min(x for x in (max_steps, max_evaluations, None) if x is not None) if (
        max_steps is not None or max_evaluations is not None) else None
    if solver != "rc2" and math.isinf(time_limit) and max_steps is None and max_evaluations is None:
        raise ValueError("time_limit, max_evaluations: give a time limit or an evaluation budget")
    goal = 0 if target is None else int(target)
    t0 = time.perf_counter()
    proved = None  # "OPTIMUM FOUND" / "UNSATISFIABLE" when the solver proves it
    budget_spent = False
    config = config or _default_config(solver)

    checkpoint = None
    if checkpoint_dir is not None and solver != "rc2":
        from problems.maxsat.resume import SearchCheckpoint, run_fingerprint

        checkpoint = SearchCheckpoint(checkpoint_dir, run_fingerprint(
            solver, formula, config, seed, time_limit=time_limit, max_steps=max_steps,
            max_evaluations=max_evaluations, target=goal), checkpoint_seconds)
    if solver in LOCAL_SEARCH:
        from problems.maxsat.resume import restore_walker, walker_saver

        if solver == "probsat":
            from problems.maxsat.local_search import ProbSAT

            walker = ProbSAT(formula, config, seed=seed)
            walker.run(max_flips=1, time_limit=math.inf)  # compiles (or loads) the numba walk
            walker.trace, walker.elapsed = [], 0.0  # the trace's clock starts after compilation
        else:
            from problems.maxsat.weighted_ls import WeightedLocalSearch, warm_up

            warm_up()  # compiles (or loads) the numba search on a tiny formula, so the trace excludes it
            walker = WeightedLocalSearch(formula, config, seed=seed)
        restore_walker(checkpoint, walker)
        walker.run(time_limit=max(time_limit - walker.elapsed, 1e-9),
                   max_flips=None if budget is None else max(0, budget - walker.flips), target=goal,
                   on_chunk=walker_saver(checkpoint, walker))
        assignment = walker.best_assign.astype(bool) if solver == "probsat" else walker.result_assignment()
        evaluations, trace = walker.flips, walker.trace
        budget_spent = budget is not None and evaluations >= budget
    elif solver in ("polystep", "openai_es", "cmaes"):
        if solver == "polystep":
            from problems.maxsat.polystep_solver import run_polystep

            assignment, _, trace, evaluations, steps = run_polystep(
                formula, config, time_limit, seed, max_steps=max_steps, max_evaluations=max_evaluations,
                target=goal, checkpoint=checkpoint)
        else:
            from problems.maxsat.es_solver import run_es

            assignment, _, trace, evaluations, steps = run_es(
                formula, solver, config, time_limit, seed, max_steps=max_steps, max_evaluations=max_evaluations,
                target=goal, checkpoint=checkpoint)
        budget_spent = (max_steps is not None and steps >= max_steps) or (
            max_evaluations is not None and evaluations >= max_evaluations) or formula.n_vars == 0
    else:
        from problems.maxsat.exact import UnsatisfiableError, solve_exact

        try:
            assignment, cost = solve_exact(formula)
            proved = "OPTIMUM FOUND"
        except UnsatisfiableError:
            assignment, cost, proved = np.zeros(formula.n_vars, bool), None, "UNSATISFIABLE"
        evaluations, trace = 0, [(time.perf_counter() - t0, 0, cost)] if cost is not None else []
    wall = time.perf_counter() - t0
    check = evaluate_full(formula, assignment)
    soft = formula.soft_total
    cost = int(check.unsat_weight[0])
    feasible = int(check.hard_violations[0]) == 0
    empty_hard = bool((formula.hard & (formula.lengths == 0)).any())
    if proved is not None:
        status = proved
    elif empty_hard:
        status = "UNSATISFIABLE"
    elif feasible:  # empty soft clauses are falsified by every assignment: their weight is a lower bound
        floor = int(formula.weights[(formula.lengths == 0) & ~formula.hard].sum())
        status = "OPTIMUM FOUND" if cost <= floor else "SATISFIABLE"
    else:
        status = "UNKNOWN"
    reached = feasible and target is not None and cost <= goal
    machine_dependent = solver != "rc2" and status not in ("OPTIMUM FOUND", "UNSATISFIABLE") and not (
        budget_spent or reached)
    return SolveResult(
        solver=solver,
        assignment=np.asarray(assignment, bool),
        cost=cost,
        hard_violations=int(check.hard_violations[0]),
        unsat_clauses=int(check.unsat_clauses[0]),
        sat_fraction=float(check.satisfied_weight[0]) / float(soft) if soft else 1.0,
        evaluations=int(evaluations),
        wall_s=wall,
        trace=[tuple(float(x) for x in row) for row in trace],
        feasible=feasible,
        status=status,
        machine_dependent=machine_dependent,
    )
