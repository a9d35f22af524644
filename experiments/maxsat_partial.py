"""Weighted partial MaxSAT benchmark: structured instances (independent set, max clique, weighted max-cut,
set cover, planted partial k-SAT), exact optima from RC2 under a time cap, and per solver the feasible share,
optimal share, mean relative gap and time to best.

Runs stop at the search limit or when they reach the RC2 optimum (the optimum serves only as a stopping rule,
so time to best is time to optimum on solved instances).
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing as mp
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.registry import Experiment
from polystep.validate import check_choice, check_int, check_real, fail

SOLVER_CHOICES = ("wpms", "probsat", "polystep", "openai_es", "cmaes")
LABELS = {"wpms": "weighted LS (wpms)", "probsat": "probSAT", "polystep": "PolyStep", "openai_es": "OpenAI-ES",
          "cmaes": "CMA-ES"}


@dataclass(frozen=True)
class MaxSATPartialConfig:
    """A sweep over `families` x `instances` x `solvers`; `points` fills `family`, `instance`, `solver`."""

    families: tuple[str, ...] = ("independent_set", "max_clique", "max_cut", "set_cover", "planted_partial")
    instances: int = 8  # instances per family
    scale: float = 2.0  # size multiplier of problems.maxsat.structured.make
    solvers: tuple[str, ...] = ("wpms", "probsat", "polystep")
    time_limit: float | None = 10.0  # search seconds per run (None: only the evaluation budget)
    max_evaluations: int | None = None  # flips / candidate evaluations per run (same result on any machine)
    rc2_cap: float = 60.0  # seconds RC2 may take for an instance's optimum
    instance_offset: int = 1000  # instance seed = seed + offset + index (defaults were chosen on other seeds)
    family: str = ""
    instance: int = -1
    solver: str = ""

    def __post_init__(self):
        from problems.maxsat.structured import FAMILIES

        if not isinstance(self.families, (tuple, list)) or not self.families:
            fail("families", f"must be a non-empty tuple of {', '.join(FAMILIES)}, got {self.families!r}")
        for fam in self.families:
            check_choice(fam, "families", FAMILIES)
        check_int(self.instances, "instances", 1, 10_000)
        check_real(self.scale, "scale", 0.0, 100.0, lo_open=True)
        if not isinstance(self.solvers, (tuple, list)) or not self.solvers:
            fail("solvers", f"must be a non-empty tuple of {', '.join(SOLVER_CHOICES)}, got {self.solvers!r}")
        for s in self.solvers:
            check_choice(s, "solvers", SOLVER_CHOICES)
        if self.time_limit is not None:
            check_real(self.time_limit, "time_limit", 0.0, 86_400.0, lo_open=True)
        if self.max_evaluations is not None:
            check_int(self.max_evaluations, "max_evaluations", 1, 10**13)
        if self.time_limit is None and self.max_evaluations is None:
            fail("time_limit", "give a time limit or max_evaluations (both are None)")
        check_real(self.rc2_cap, "rc2_cap", 0.0, 86_400.0, lo_open=True)
        check_int(self.instance_offset, "instance_offset", 0, 2**31)
        if self.family:
            check_choice(self.family, "family", FAMILIES)
        check_int(self.instance, "instance", -1, 10**6)
        if self.solver:
            check_choice(self.solver, "solver", SOLVER_CHOICES)


# A point's `instances` (the sweep's count) is set to this constant: the point's own index is `instance`, and a
# constant keeps its record key unchanged when the sweep grows (run, table and plot never read the count).
POINT_INSTANCES = 1


def points(config: MaxSATPartialConfig) -> list[MaxSATPartialConfig]:
    """One config per (family, instance, solver); each list field narrows to the point's own value, so a point's
    record key does not change when the sweep's lists or instance count grow."""
    return [dataclasses.replace(config, family=f, instance=i, solver=s, families=(f,), solvers=(s,),
                                instances=POINT_INSTANCES)
            for f in config.families for i in range(config.instances) for s in config.solvers]


def _rc2_child(conn, formula) -> None:
    from problems.maxsat.exact import UnsatisfiableError, solve_exact

    try:
        t0 = time.perf_counter()
        _, cost = solve_exact(formula)
        conn.send((cost, time.perf_counter() - t0))
    except UnsatisfiableError:
        conn.send(("unsat", 0.0))


@functools.lru_cache(maxsize=256)
def optimum(family: str, seed: int, scale: float, cap: float) -> tuple[int | None, float]:
    """(RC2 optimum or None when it did not finish within `cap` seconds, its seconds) of an instance."""
    from problems.maxsat.structured import make

    formula = make(family, seed, scale)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_rc2_child, args=(child, formula), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    got = parent.recv() if parent.poll(cap + 30.0) else None  # +30 s: the child imports the package first
    proc.kill()
    proc.join()
    if got is None or got[0] == "unsat" or got[1] > cap:
        return None, time.perf_counter() - t0
    return int(got[0]), float(got[1])


def run(config: MaxSATPartialConfig, seed: int, checkpoint_dir: Path | None = None) -> dict:
    """Build instance (family, seed + offset + instance), get its RC2 optimum, solve it with `config.solver`.

    With `checkpoint_dir` the search saves its state there between two compiled calls and resumes from it."""
    from problems.maxsat import solve
    from problems.maxsat.structured import make

    if not config.family or config.instance < 0 or not config.solver:
        raise ValueError("family, instance, solver: run a sweep point (see points())")
    inst_seed = seed + config.instance_offset + config.instance
    formula = make(config.family, inst_seed, config.scale)
    opt, rc2_s = optimum(config.family, inst_seed, config.scale, config.rc2_cap)
    res = solve(formula, config.solver, time_limit=config.time_limit, seed=seed,
                max_evaluations=config.max_evaluations, target=opt, checkpoint_dir=checkpoint_dir)
    best_t = res.trace[-1][0] if res.trace else None
    for t, _, cost in res.trace:  # first time the final cost was reached
        if cost <= res.cost:
            best_t = t
            break
    gap = None if opt is None or not res.feasible else (res.cost - opt) / max(opt, 1)
    return {
        "family": config.family, "instance": config.instance, "instance_seed": inst_seed,
        "solver": config.solver, "n_vars": formula.n_vars, "n_clauses": formula.n_clauses,
        "n_hard": int(formula.hard.sum()), "feasible": res.feasible, "status": res.status, "cost": res.cost,
        "hard_violations": res.hard_violations, "optimum": opt, "rc2_s": rc2_s,
        "optimal": None if opt is None else bool(res.feasible and res.cost == opt), "rel_gap": gap,
        "time_to_best_s": best_t, "evaluations": res.evaluations, "wall_s": res.wall_s,
        "machine_dependent": res.machine_dependent,
    }


def summary(records: list[dict]) -> dict[str, dict]:
    """Per solver: instances, feasible share, RC2-solved count, optimal share of those, mean gap, time to best."""
    by: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        by[rec["metrics"]["solver"]].append(rec["metrics"])
    out = {}
    for solver, ms in by.items():
        solved = [m for m in ms if m["optimum"] is not None]
        gaps = [m["rel_gap"] for m in solved if m["rel_gap"] is not None]
        times = [m["time_to_best_s"] for m in ms if m["feasible"] and m["time_to_best_s"] is not None]
        out[solver] = {
            "instances": len(ms),
            "feasible": sum(m["feasible"] for m in ms) / len(ms),
            "solved_by_rc2": len(solved),
            "optimal": (sum(bool(m["optimal"]) for m in solved) / len(solved)) if solved else None,
            "mean_gap": float(np.mean(gaps)) if gaps else None,
            "time_to_best_median": float(np.median(times)) if times else None,
            "time_to_best_max": float(np.max(times)) if times else None,
            "machine_dependent": any(m.get("machine_dependent") for m in ms),
        }
    return out


def table(records: list[dict]) -> str:
    """Markdown table per solver (and per family below it)."""
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    def gap(x):
        return "-" if x is None else f"{100 * x:.2f}%"

    def sec(x):
        return "-" if x is None else f"{x:.3g} s"

    lines = ["| solver | instances | feasible | optimal (of RC2-solved) | mean rel. gap | time to best: median / "
             "max |", "|---|---|---|---|---|---|"]
    for solver, s in sorted(summary(records).items(), key=lambda kv: SOLVER_CHOICES.index(kv[0])):
        mark = " †" if s["machine_dependent"] else ""
        lines.append(f"| {LABELS.get(solver, solver)}{mark} | {s['instances']} | {pct(s['feasible'])} | "
                     f"{pct(s['optimal'])} ({s['solved_by_rc2']}) | "
                     f"{gap(s['mean_gap'])} | "
                     f"{sec(s['time_to_best_median'])} / {sec(s['time_to_best_max'])} |")
    families = sorted({r["metrics"]["family"] for r in records})
    solvers = sorted({r["metrics"]["solver"] for r in records}, key=SOLVER_CHOICES.index)
    lines += ["", "Optimal / feasible instances per family:", "",
              "| family | " + " | ".join(LABELS.get(s, s) for s in solvers) + " |", "|---|" + "---|" * len(solvers)]
    for fam in families:
        cells = []
        for s in solvers:
            ms = [r["metrics"] for r in records if r["metrics"]["family"] == fam and r["metrics"]["solver"] == s]
            cells.append(f"{sum(bool(m['optimal']) for m in ms)} / {sum(m['feasible'] for m in ms)} of {len(ms)}")
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    if any(s["machine_dependent"] for s in summary(records).values()):
        lines += ["", "† some runs of this solver stopped at their wall-clock limit: their results depend on the "
                  "machine's speed (records carry `machine_dependent`)."]
    return "\n".join(lines)


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """Relative gap to the RC2 optimum against time to best, one marker per (solver, instance)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    top = 1.0
    for solver in sorted({r["metrics"]["solver"] for r in records}, key=SOLVER_CHOICES.index):
        ms = [r["metrics"] for r in records if r["metrics"]["solver"] == solver and r["metrics"]["rel_gap"] is not None
              and r["metrics"]["time_to_best_s"] is not None]
        if ms:
            top = max(top, max(100 * m["rel_gap"] for m in ms))
            ax.scatter([max(m["time_to_best_s"], 1e-4) for m in ms], [100 * m["rel_gap"] for m in ms], s=18,
                       alpha=0.7, label=LABELS.get(solver, solver))
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(-0.3, top * 2.0)
    ticks = [t for t in (0, 1, 10, 100, 1000) if t <= top * 2.0]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("time to best since the run started (s, log; JIT compilation included)")
    ax.set_ylabel("gap to RC2 optimum (%, symlog)")
    ax.set_title("Weighted partial MaxSAT: feasible runs on RC2-solved instances")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path = out_dir / "maxsat_partial_gap.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


EXPERIMENT = Experiment(
    name="maxsat_partial",
    description="Weighted partial MaxSAT on structured instances: feasible / optimal share against RC2",
    docs="docs/maxsat.md",
    config_cls=MaxSATPartialConfig,
    run=run,
    plot=plot,
    table=table,
    points=points,
    quick={"instances": 1, "scale": 1.0, "time_limit": 2.0, "solvers": ("wpms", "polystep")},
    seeds=(0,),
    quick_seeds=(0,),
    checkpoints=True,  # run() saves the search state between compiled calls and resumes from it
)
