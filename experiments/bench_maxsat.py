"""MAX-SAT benchmark: parse time, evaluator throughput, probSAT flips/s, PolyStep and probSAT at 100K / 1M.

Prints each figure with wall and CPU seconds (the CPU may be shared with other work).
    python -m experiments.bench_maxsat                  # full: 100K and 1M, PolyStep 600 s, probSAT 300 s
    python -m experiments.bench_maxsat --quick          # 10K / 100K, 30 s each (a smoke run)
    python -m experiments.bench_maxsat --only polystep-mid --polystep-time 120
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

STAGES = ("parse", "evaluate", "flips", "probsat-large", "polystep-mid", "polystep-large")


def peak_gb() -> float:
    """Peak resident memory of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def time_to(trace, target_unsat: float):
    """First trace time at which the best cost is <= `target_unsat` (None if never)."""
    for t, _, best in trace:
        if best <= target_unsat:
            return t
    return None


def fmt_t(t) -> str:
    """Seconds, or 'not reached'."""
    return "not reached" if t is None else f"{t:.1f} s"


def main(argv=None) -> None:
    """Parse the flags, run the selected stages, print one line per figure."""
    from problems.maxsat import ProbSAT, ProbSATConfig, evaluate_full, random_ksat, read, solve, write
    from problems.maxsat.polystep_solver import PolyStepMaxSATConfig

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-mid", type=int, default=100_000)
    ap.add_argument("--n-large", type=int, default=1_000_000)
    ap.add_argument("--alpha", type=float, default=4.27)
    ap.add_argument("--seed", type=int, default=1000, help="instance seed (tuning used seeds 0 and 1)")
    ap.add_argument("--polystep-time", type=float, default=600.0)
    ap.add_argument("--ls-time", type=float, default=300.0)
    ap.add_argument("--probsat-cb", type=float, default=3.5)
    ap.add_argument("--l1", type=float, default=PolyStepMaxSATConfig().l1, help="PolyStep confidence penalty")
    ap.add_argument("--only", nargs="*", choices=STAGES, default=list(STAGES))
    ap.add_argument("--quick", action="store_true", help="n 10K / 100K and 30 s limits")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_mid, args.n_large, args.polystep_time, args.ls_time = 10_000, 100_000, 30.0, 30.0
    print(f"# bench_maxsat  alpha={args.alpha} instance seed={args.seed}  cores={os.cpu_count()}  "
          f"load average at start={os.getloadavg()[0]:.1f}")
    mid_target, large_target = 98.0, 92.6

    with Clock() as c:
        large = random_ksat(args.n_large, args.alpha, seed=args.seed)
    print(f"generate n={args.n_large:,} m={large.n_clauses:,}: {c.wall:.2f} s wall, {c.cpu:.2f} s CPU")

    if "parse" in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "large.cnf"
            with Clock() as c:
                write(large, path, format="cnf")
            print(f"write DIMACS CNF ({path.stat().st_size / 1e6:.0f} MB): {c.wall:.2f} s wall, {c.cpu:.2f} s CPU")
            read(path)  # numba passes are cached on disk; a first call may load them
            with Clock() as c:
                back = read(path)
            print(f"PARSE n={args.n_large:,} / m={large.n_clauses:,}: {c.wall:.2f} s wall, {c.cpu:.2f} s CPU "
                  f"(round trip equal: {back == large})")
            del back

    if "evaluate" in args.only:
        rng = np.random.default_rng(0)
        batch = rng.random((8, args.n_large)) < 0.5
        evaluate_full(large, batch[:1])
        with Clock() as c:
            ev = evaluate_full(large, batch)
        rate = 8 * large.n_clauses / c.wall
        print(f"EVALUATE 8 assignments x {large.n_clauses:,} clauses: {c.wall:.2f} s wall ({rate / 1e6:.1f} M "
              f"clause checks/s), random assignments satisfy {100 * ev.satisfied_weight.mean() / large.n_clauses:.2f}%")
        del batch

    probsat_cfg = ProbSATConfig(cb=args.probsat_cb)
    if "flips" in args.only:
        mid = random_ksat(args.n_mid, args.alpha, seed=args.seed)
        walker = ProbSAT(mid, probsat_cfg, seed=0)
        walker.run(max_flips=10_000, time_limit=float("inf"))
        flips0 = walker.flips
        with Clock() as c:
            walker.run(max_flips=5_000_000, time_limit=float("inf"))
        done = walker.flips - flips0
        print(f"FLIPS/s probSAT n={args.n_mid:,}: {done / c.wall / 1e6:.2f} M per wall s, "
              f"{done / max(c.cpu, 1e-9) / 1e6:.2f} M per CPU s ({done:,} flips, "
              f"{100 * (1 - walker.best_cost / mid.n_clauses):.3f}% satisfied)")

    if "probsat-large" in args.only:
        with Clock() as c:
            res = solve(large, "probsat", time_limit=args.ls_time, seed=0, config=probsat_cfg)
        t99 = time_to(res.trace, large.n_clauses * (1 - 0.995))
        print(f"PROBSAT n={args.n_large:,} within {args.ls_time:.0f} s: {100 * res.sat_fraction:.3f}% satisfied "
              f"({res.unsat_clauses:,} unsat), {res.evaluations:,} flips, {c.wall:.1f} s wall / {c.cpu:.1f} s CPU, "
              f"99.5% reached at {fmt_t(t99)}; peak RSS so far {peak_gb():.2f} GB")

    ps_cfg = PolyStepMaxSATConfig(l1=args.l1)
    for stage, n, limit, target in (("polystep-mid", args.n_mid, args.polystep_time, mid_target),
                                    ("polystep-large", args.n_large, args.polystep_time, large_target)):
        if stage not in args.only:
            continue
        f = large if n == args.n_large else random_ksat(n, args.alpha, seed=args.seed)
        with Clock() as c:
            res = solve(f, "polystep", time_limit=limit, seed=0, config=ps_cfg)
        tt = time_to(res.trace, f.n_clauses * (1 - target / 100))
        print(f"POLYSTEP n={n:,} within {limit:.0f} s: {100 * res.sat_fraction:.3f}% satisfied "
              f"({res.unsat_clauses:,} unsat), {res.evaluations:,} candidate evaluations, {c.wall:.1f} s wall / "
              f"{c.cpu:.1f} s CPU, {target}% reached at {fmt_t(tt)}; peak RSS so far {peak_gb():.2f} GB")

    print(f"PEAK RSS {peak_gb():.2f} GB; load average at end={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
