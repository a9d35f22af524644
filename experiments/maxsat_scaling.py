"""MAX-SAT scaling: random 3-SAT at alpha 4.27 from 100 to 1M variables, PolyStep vs ES vs probSAT.

Each (n, solver, seed) generates the instance from the seed, solves it under a wall-clock limit and records
the satisfied fraction, unsatisfied clauses, wall time, evaluations and a time-to-quality trace.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.registry import Experiment
from polystep.validate import check_choice, check_int, check_real, fail

LABELS = {"polystep": "PolyStep", "cmaes": "CMA-ES", "openai_es": "OpenAI-ES", "probsat": "probSAT (numba)",
          "wpms": "weighted LS (numba)", "rc2": "RC2 (exact)"}
ES_SOLVERS = ("openai_es", "cmaes")


@dataclass(frozen=True)
class MaxSATScalingConfig:
    """A sweep over `n_values` x `solvers`; `points` fills `n` and `solver` for each run."""

    n_values: tuple[int, ...] = (100, 1_000, 10_000, 100_000, 1_000_000)
    solvers: tuple[str, ...] = ("polystep", "cmaes", "openai_es", "probsat")
    alpha: float = 4.27
    k: int = 3
    time_limit: float | None = 120.0  # search seconds per run (None: only max_evaluations)
    es_max_vars: int = 100_000  # the ES baselines run up to this many variables
    trace_points: int = 60
    instance_offset: int = 1000  # instance seed = seed + offset (hyperparameters were tuned on seeds 0 and 1)
    probsat_cb: float = 3.5  # probSAT break exponent, selected on a validation instance (n=100K, seed 1)
    max_evaluations: int | None = None  # flips / candidate evaluations: a budget gives machine-independent records
    n: int = 0
    solver: str = ""

    def __post_init__(self):
        if not isinstance(self.n_values, (tuple, list)) or not self.n_values:
            fail("n_values", f"must be a non-empty tuple of integers >= 3, got {self.n_values!r}")
        for n in self.n_values:
            check_int(n, "n_values", 3, 100_000_000)
        if not isinstance(self.solvers, (tuple, list)) or not self.solvers:
            fail("solvers", f"must be a non-empty tuple of {', '.join(LABELS)}, got {self.solvers!r}")
        for s in self.solvers:
            check_choice(s, "solvers", tuple(LABELS))
        check_real(self.alpha, "alpha", 0.0, 100.0, lo_open=True)
        check_int(self.k, "k", 1, 64)
        if self.time_limit is not None:
            check_real(self.time_limit, "time_limit", 0.0, 86_400.0, lo_open=True)
        if self.max_evaluations is not None:
            check_int(self.max_evaluations, "max_evaluations", 1, 10**13)
        if self.time_limit is None and self.max_evaluations is None:
            fail("time_limit", "give a time limit or max_evaluations (both are None)")
        check_int(self.es_max_vars, "es_max_vars", 0, 100_000_000)
        check_int(self.trace_points, "trace_points", 2, 100_000)
        check_int(self.instance_offset, "instance_offset", 0, 2**31)
        check_real(self.probsat_cb, "probsat_cb", 0.0, 100.0, lo_open=True)
        check_int(self.n, "n", 0, 100_000_000)
        if self.solver:
            check_choice(self.solver, "solver", tuple(LABELS))


def points(config: MaxSATScalingConfig) -> list[MaxSATScalingConfig]:
    """One config per (n, solver); ES baselines above `es_max_vars` are left out. Each list field narrows to the
    point's own value, so a point's record key does not change when the sweep's lists grow."""
    out = []
    for n in config.n_values:
        for solver in config.solvers:
            if solver in ES_SOLVERS and n > config.es_max_vars:
                continue
            out.append(dataclasses.replace(config, n=int(n), solver=solver, n_values=(int(n),), solvers=(solver,)))
    return out


def run(config: MaxSATScalingConfig, seed: int, checkpoint_dir: Path | None = None) -> dict:
    """Generate random k-SAT (n, alpha) from `seed + instance_offset` and solve it with `config.solver`.

    With `checkpoint_dir` the search saves its state there between two compiled calls and resumes from it."""
    from problems.maxsat import ProbSATConfig, random_ksat, solve

    if config.n <= 0 or not config.solver:
        raise ValueError("n, solver: run a sweep point (see points()), got n=0 / solver=''")
    formula = random_ksat(config.n, config.alpha, k=config.k, seed=seed + config.instance_offset)
    solver_config = ProbSATConfig(cb=config.probsat_cb) if config.solver == "probsat" else None
    result = solve(formula, config.solver, time_limit=config.time_limit, seed=seed, config=solver_config,
                   max_evaluations=config.max_evaluations, checkpoint_dir=checkpoint_dir)
    trace = result.trace
    if len(trace) > config.trace_points:
        keep = np.unique(np.linspace(0, len(trace) - 1, config.trace_points).astype(int))
        trace = [trace[i] for i in keep]
    return {
        "solver": config.solver,
        "n": config.n,
        "n_clauses": formula.n_clauses,
        "sat_fraction": result.sat_fraction,
        "sat_percent": 100.0 * result.sat_fraction,
        "unsat_clauses": result.unsat_clauses,
        "wall_s": result.wall_s,
        "evaluations": result.evaluations,
        "machine_dependent": result.machine_dependent,  # stopped by the clock: depends on the machine's speed
        "trace": [[float(t), float(e), float(b)] for t, e, b in trace],
    }


def _grouped(records: list[dict]) -> dict[tuple[str, int], list[dict]]:
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for rec in records:
        m = rec["metrics"]
        groups[(m["solver"], m["n"])].append(m)
    return groups


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """Satisfied % against n, and the best-so-far satisfied % against wall time (one panel per solver)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = _grouped(records)
    solvers = sorted({s for s, _ in groups}, key=lambda s: list(LABELS).index(s) if s in LABELS else 99)
    paths = []

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for solver in solvers:
        ns = sorted(n for s, n in groups if s == solver)
        vals = [[m["sat_percent"] for m in groups[(solver, n)]] for n in ns]
        ax.errorbar(ns, [np.mean(v) for v in vals], yerr=[np.std(v) for v in vals], marker="o", capsize=3,
                    label=LABELS.get(solver, solver))
    ax.axhline(87.5, color="grey", ls=":", lw=1, label="random assignment (87.5%)")
    ax.set_xscale("log")
    ax.set_xlabel("variables n (alpha = 4.27)")
    ax.set_ylabel("clauses satisfied (%)")
    ax.set_title("Random 3-SAT: satisfaction vs size")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path = out_dir / "maxsat_sat_vs_n.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths.append(path)

    from matplotlib.ticker import LogLocator, NullFormatter

    fig, axes = plt.subplots(1, len(solvers), figsize=(4 * len(solvers), 3.6), squeeze=False, sharey=True)
    for ax, solver in zip(axes[0], solvers):
        for n in sorted(n for s, n in groups if s == solver):
            m = groups[(solver, n)][0]
            tr = np.asarray(m["trace"], float)
            if tr.size:
                ax.plot(np.maximum(tr[:, 0], 1e-2), 100 * (1 - tr[:, 2] / m["n_clauses"]), label=f"n={n:,}",
                        drawstyle="steps-post")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=8))
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap within one decade
        ax.tick_params(axis="x", labelbottom=True)
        ax.set_title(LABELS.get(solver, solver))
        ax.set_xlabel("wall seconds (log)")
        ax.set_ylim(86, 100.2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("best clauses satisfied (%)")
    fig.tight_layout()
    path = out_dir / "maxsat_sat_vs_time.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths.append(path)
    return paths


def table(records: list[dict]) -> str:
    """Markdown table in the layout of REFERENCE.md: % satisfied per n and solver (mean over seeds, wall s)."""
    groups = _grouped(records)
    solvers = [s for s in LABELS if any(k[0] == s for k in groups)]
    ns = sorted({n for _, n in groups})
    head = "| n vars | " + " | ".join(LABELS[s] for s in solvers) + " |"
    lines = [head, "|---|" + "---|" * len(solvers)]
    for n in ns:
        cells = []
        for s in solvers:
            ms = groups.get((s, n))
            if not ms:
                cells.append("-")
                continue
            sat = np.mean([m["sat_percent"] for m in ms])
            wall = np.mean([m["wall_s"] for m in ms])
            mark = " †" if any(m.get("machine_dependent") for m in ms) else ""
            cells.append(f"{sat:.2f} ({wall:.0f} s){mark}")
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    seeds = max((len(v) for v in groups.values()), default=0)
    lines.append("")
    lines.append(f"% of clauses satisfied, mean over up to {seeds} seed(s); wall seconds per run in brackets "
                 "(setup and JIT compilation included). † marks cells with runs stopped by the wall clock, whose "
                 "results depend on the machine's speed (records carry `machine_dependent`).")
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="maxsat_scaling",
    description="Random 3-SAT (alpha 4.27), n = 100 .. 1M: PolyStep vs OpenAI-ES / CMA-ES vs probSAT",
    docs="docs/maxsat.md",
    config_cls=MaxSATScalingConfig,
    run=run,
    plot=plot,
    table=table,
    points=points,
    quick={"n_values": (100, 1_000, 10_000), "time_limit": 2.0},
    seeds=(0, 1, 2),
    quick_seeds=(0,),
    checkpoints=True,  # run() saves the search state between compiled calls and resumes from it
)
