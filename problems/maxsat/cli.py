"""The `solve` command: read a CNF / WCNF file (or stdin), search, print MaxSAT Evaluation 2022 output.

Output: `c` comment lines, an `o COST` line at every improvement of the best feasible cost, one `s` line
(OPTIMUM FOUND / SATISFIABLE / UNSATISFIABLE / UNKNOWN) and, when a feasible assignment is known, the `v`
line as a string of 0/1 characters, one per variable in order. Exit codes: 30 optimum found, 10 satisfiable,
20 unsatisfiable, 0 unknown; 1 for unreadable input or bad arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

EXIT = {"OPTIMUM FOUND": 30, "SATISFIABLE": 10, "UNSATISFIABLE": 20, "UNKNOWN": 0}
CLI_SOLVERS = ("auto", "wpms", "probsat", "polystep", "openai_es", "cmaes", "rc2")


def parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m problems.maxsat`."""
    ap = argparse.ArgumentParser(prog="python -m problems.maxsat", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("solve", help="solve a (weighted partial) MaxSAT instance",
                        description="Solve FILE (DIMACS CNF, legacy WCNF or MSE 2022 WCNF; .gz/.bz2/.xz by "
                                    "extension; '-' reads stdin) and print MSE 2022 output.")
    sp.add_argument("file", help="instance path, or '-' for standard input")
    budget = sp.add_mutually_exclusive_group()
    budget.add_argument("--time-limit", type=float, default=None, metavar="S",
                        help="search seconds (default 10 when no --flips is given)")
    budget.add_argument("--flips", type=int, default=None, metavar="N",
                        help="evaluation budget: flips (local search) or candidate evaluations (PolyStep, ES); "
                             "the result is then the same for the same seed on any machine")
    sp.add_argument("--solver", choices=CLI_SOLVERS, default="auto",
                    help="auto (default): wpms for weighted or partial instances, probsat for plain CNF")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return ap


def _read(path: str):
    from problems.maxsat.dimacs import parse_bytes, read

    if path == "-":
        return parse_bytes(sys.stdin.buffer.read(), name="<stdin>")
    return read(path)


def _pick(solver: str, formula) -> str:
    if solver != "auto":
        return solver
    return "wpms" if formula.is_weighted else "probsat"


def main(argv=None) -> int:
    """Run the command; returns the exit code."""
    args = parser().parse_args(argv)
    out = sys.stdout
    t0 = time.perf_counter()
    if args.flips is not None and args.flips < 1:
        print(f"error: --flips: must be >= 1, got {args.flips}", file=sys.stderr)
        return 1
    if args.time_limit is not None and not (args.time_limit > 0 and math.isfinite(args.time_limit)):
        print(f"error: --time-limit: must be a finite number of seconds > 0, got {args.time_limit}", file=sys.stderr)
        return 1
    try:
        formula = _read(args.file)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    solver = _pick(args.solver, formula)
    time_limit = None if args.flips is not None else (args.time_limit or 10.0)
    print(f"c polystep-workbench MaxSAT: {formula.n_vars} variables, {formula.n_clauses} clauses "
          f"({int(formula.hard.sum())} hard), read in {time.perf_counter() - t0:.2f} s", file=out)
    print(f"c solver {solver}, seed {args.seed}, "
          + (f"budget {args.flips} evaluations" if time_limit is None else f"time limit {time_limit:g} s"), file=out)
    out.flush()
    if solver == "wpms":
        result = _solve_wpms(formula, time_limit, args.flips, args.seed, out)
    else:
        from problems.maxsat.solve import solve

        res = solve(formula, solver, time_limit=time_limit, seed=args.seed, max_evaluations=args.flips)
        if res.feasible:
            print(f"o {res.cost}", file=out)
        result = (res.status, res.assignment if res.feasible else None, res.cost, res.evaluations)
    status, assignment, cost, evaluations = result
    print(f"c {evaluations} evaluations, {time.perf_counter() - t0:.2f} s in total", file=out)
    print(f"s {status}", file=out)
    if assignment is not None and status != "UNSATISFIABLE":
        print("v " + np.where(assignment, 49, 48).astype(np.uint8).tobytes().decode("ascii"), file=out)
    out.flush()
    return EXIT[status]


def _solve_wpms(formula, time_limit, flips, seed, out):
    """The weighted local search with an `o` line printed at each improvement, as it happens."""
    from problems.maxsat.evaluate import evaluate_full
    from problems.maxsat.weighted_ls import WeightedLocalSearch, WPMSConfig, warm_up

    warm_up()  # compile (or load) the numba search first, so the time limit counts search time
    walker = WeightedLocalSearch(formula, WPMSConfig(chunk_flips=None if flips is None else 50_000), seed=seed)
    if walker.empty_hard:
        return "UNSATISFIABLE", None, None, 0
    if walker.feasible:
        print(f"o {walker.best_cost}", file=out)
        out.flush()

    def improved(_seconds, _flips, cost):
        print(f"o {cost}", file=out)
        out.flush()

    walker.run(time_limit=math.inf if time_limit is None else time_limit, max_flips=flips, on_improve=improved)
    if not walker.feasible:
        return "UNKNOWN", None, None, walker.flips
    assignment = walker.result_assignment()
    check = evaluate_full(formula, assignment)
    assert int(check.hard_violations[0]) == 0 and int(check.unsat_weight[0]) == walker.best_cost
    floor = int(formula.weights[(formula.lengths == 0) & ~formula.hard].sum())
    status = "OPTIMUM FOUND" if walker.best_cost <= floor else "SATISFIABLE"
    return status, assignment, walker.best_cost, walker.flips
