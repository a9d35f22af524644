"""A MAX-SAT solver service: sweep arrival rate x dispatch policy over a pool of local-search (probSAT),
exact (RC2) and PolyStep workers whose service times come from profiles measured with problems.maxsat.

One record per (rate, policy, seed). The load axis is the arrival rate in jobs/s: how much a pool sustains
depends on the policy (a job's service time depends on where it goes), so there is no policy-free capacity.
Each record also carries `nominal_capacity`, the jobs/s of the pool if every worker served the whole mix.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from experiments.registry import Experiment
from polystep.validate import check_bool, check_choice, check_int, check_real, check_str, fail
from simulators.workloads import (
    JobClass,
    PoolConfig,
    ServiceConfig,
    SimConfig,
    WorkerConfig,
    WorkloadConfig,
    estimate_capacity,
    simulate,
)
from simulators.workloads.config import MAX_ESCALATIONS, MAX_JOBS, MAX_WORKERS

POLICIES = ("random", "round_robin", "jsq", "power_of_two", "size_aware", "cascade")
CLASSES = ("small", "medium", "large")  # the job mix's size classes, in the order of shares / targets / deadlines


@dataclass
class MaxSatServiceConfig:
    """Sweep (arrival rates x policies), job mix, pool and profile measurement of the experiment."""

    rates: tuple[float, ...] = (10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0)
    policies: tuple[str, ...] = POLICIES
    rate: float = 40.0  # the point's arrival rate in jobs/s (set by points())
    policy: str = "jsq"  # the point's policy (set by points())
    n_jobs: int = 20_000
    # job mix: small / medium / large random 3-SAT at alpha 4.27 (sizes in variables, deadlines in seconds);
    # small jobs ask for a proven optimum (`small_optimum`), the others for a satisfied-clause fraction
    small: tuple[int, int] = (20, 60)
    medium: tuple[int, int] = (60, 160)
    large: tuple[int, int] = (160, 320)
    shares: tuple[float, float, float] = (0.3, 0.5, 0.2)
    small_optimum: bool = True
    targets: tuple[float, float, float] = (1.0, 0.99, 0.99)
    deadlines: tuple[float, float, float] = (0.1, 0.2, 1.0)
    # pool
    ls_workers: int = 4  # probSAT on CPU, speed 1
    exact_workers: int = 1  # RC2 on CPU, speed 1
    polystep_workers: int = 1  # PolyStep on a GPU: speed and price are assumptions, not measurements
    polystep_speed: float = 20.0
    polystep_cost: float = 8.0  # per busy second; CPU workers cost 1
    time_limit: float = 0.5  # wall seconds per attempt
    cpu_setup: float = 0.001  # assumed per-attempt overhead (hand-off, parsing) of a CPU worker, seconds
    gpu_setup: float = 0.005  # assumed per-attempt overhead of the GPU worker (transfers, launch), seconds
    size_threshold: int = 60  # size_aware: n <= threshold goes to RC2
    max_escalations: int = 2
    # profiles (measured once, cached on disk)
    profile_sizes: tuple[int, ...] = (20, 40, 80, 160, 320)
    profile_instances: int = 5
    profile_time_limit: float = 1.0
    profile_dir: str = ""  # "" = ~/.cache/polystep/maxsat_profiles
    service: str = "profile"  # or "exponential" (queueing-theory service, no solver runs)

    def __post_init__(self) -> None:
        _values(self.rates, "rates")
        for rate in self.rates:
            check_real(rate, "rates", 0.0, lo_open=True)
        _values(self.policies, "policies")
        for policy in self.policies:
            check_choice(policy, "policies", POLICIES)
        check_real(self.rate, "rate", 0.0, lo_open=True)
        check_choice(self.policy, "policy", POLICIES)
        check_int(self.n_jobs, "n_jobs", 1, MAX_JOBS)
        for name in CLASSES:
            sizes = getattr(self, name)
            _values(sizes, name, 2)
            lo, hi = (check_int(v, name, 3) for v in sizes)
            if lo > hi:
                fail(name, f"must be (smallest, largest) variables with smallest <= largest, got {sizes!r}")
        _values(self.shares, "shares", 3)
        for share in self.shares:
            check_real(share, "shares", 0.0)
        if not sum(self.shares) > 0:
            fail("shares", f"at least one share must be > 0, got {self.shares!r}")
        _values(self.targets, "targets", 3)
        for target in self.targets:
            check_real(target, "targets", 0.0, 1.0, lo_open=True)
        _values(self.deadlines, "deadlines", 3)
        for deadline in self.deadlines:
            check_real(deadline, "deadlines", 0.0, lo_open=True, allow_inf=True)
        check_bool(self.small_optimum, "small_optimum")
        for name in ("ls_workers", "exact_workers", "polystep_workers"):
            check_int(getattr(self, name), name, 0, MAX_WORKERS)
        if not self.ls_workers + self.exact_workers + self.polystep_workers:
            fail("ls_workers", "the pool needs at least one worker (ls_workers + exact_workers + polystep_workers)")
        check_real(self.polystep_speed, "polystep_speed", 0.0, lo_open=True)
        check_real(self.polystep_cost, "polystep_cost", 0.0)
        check_real(self.time_limit, "time_limit", 0.0, lo_open=True, allow_inf=True)
        for name in ("cpu_setup", "gpu_setup"):
            check_real(getattr(self, name), name, 0.0)
            if getattr(self, name) >= self.time_limit:
                fail(name, f"must be below time_limit={self.time_limit:g} s, got {getattr(self, name)!r}")
        check_int(self.size_threshold, "size_threshold", 0)
        check_int(self.max_escalations, "max_escalations", 0, MAX_ESCALATIONS)
        _values(self.profile_sizes, "profile_sizes")  # its range: ServiceConfig.profile_sizes, via sim_config below
        check_str(self.profile_dir, "profile_dir")
        check_choice(self.service, "service", ("profile", "exponential"))
        sim_config(self, self.rate)  # the simulator's own checks: pool, profiles, limits


def _values(value, field: str, count: int | None = None) -> None:
    """`value` must be a non-empty tuple (or list), of exactly `count` items when given."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value:
        fail(field, f"must be a non-empty tuple, got {value!r}")
    if count is not None and len(value) != count:
        what = f"one per size class ({', '.join(CLASSES)})" if count == 3 else "(smallest, largest)"
        fail(field, f"needs {count} values, {what}; got {len(value)}: {tuple(value)!r}")


def points(config: MaxSatServiceConfig) -> list[MaxSatServiceConfig]:
    """One point per (rate, policy); each list field narrows to the point's own value, so a point's record key
    does not change when the sweep's lists grow."""
    return [
        dataclasses.replace(config, rate=float(rate), policy=policy, rates=(float(rate),), policies=(policy,))
        for rate in config.rates
        for policy in config.policies
    ]


def sim_config(config: MaxSatServiceConfig, rate: float = 1.0) -> SimConfig:
    """The simulator config of one point at arrival rate `rate` (jobs/s)."""
    classes = []
    for name, (lo, hi), share, target, deadline in zip(
        CLASSES,
        (config.small, config.medium, config.large),
        config.shares,
        config.targets,
        config.deadlines,
    ):
        if share > 0:
            classes.append(
                JobClass(
                    name=name,
                    share=share,
                    n_min=lo,
                    n_max=hi,
                    alpha=4.27,
                    k=3,
                    quality_target=target,
                    deadline=deadline,
                    optimum=name == "small" and config.small_optimum,
                )
            )
    tl = config.time_limit
    workers = []
    if config.ls_workers:
        workers.append(WorkerConfig("cpu-probsat", "probsat", 1.0, 1.0, tl, config.ls_workers, config.cpu_setup))
    if config.exact_workers:
        workers.append(WorkerConfig("cpu-rc2", "rc2", 1.0, 1.0, tl, config.exact_workers, config.cpu_setup))
    if config.polystep_workers:
        workers.append(
            WorkerConfig(
                "gpu-polystep",
                "polystep",
                config.polystep_speed,
                config.polystep_cost,
                tl,
                config.polystep_workers,
                config.gpu_setup,
            )
        )
    service = ServiceConfig(
        model=config.service,
        mean=0.01,
        profile_dir=config.profile_dir or None,
        profile_sizes=tuple(config.profile_sizes),
        profile_instances=config.profile_instances,
        profile_time_limit=config.profile_time_limit,
    )
    options: dict = {}
    if config.policy == "size_aware":
        options = {"threshold": config.size_threshold, "small": ("rc2",)}
    elif config.policy == "cascade":  # local search first, the exact solver for what it cannot settle
        order = ("probsat", "rc2")
        options = {"tiers": tuple(s for s in order if any(w.solver == s for w in workers))}
    return SimConfig(
        workload=WorkloadConfig(rate=rate, n_jobs=config.n_jobs, mix=tuple(classes)),
        pool=PoolConfig(workers=tuple(workers), queueing="per_worker"),
        service=service,
        policy=config.policy,
        policy_options=options,
        max_escalations=config.max_escalations,
    )


_CAPACITY: dict[str, float] = {}


def pool_capacity(config: MaxSatServiceConfig) -> float:
    """Jobs/s of the pool on the mix (independent of policy and rate; computed once per pool and mix)."""
    base = sim_config(dataclasses.replace(config, rate=1.0, policy="jsq", rates=(1.0,), policies=("jsq",)))
    key = repr(base)
    if key not in _CAPACITY:
        _CAPACITY[key] = estimate_capacity(base, seed=0)
    return _CAPACITY[key]


def run(config: MaxSatServiceConfig, seed: int) -> dict:
    """Simulate one (rate, policy) point; metrics of the jobs and the pool."""
    result = simulate(sim_config(config, config.rate), seed)
    s = result.summary
    out = {
        "latency_p50": s.latency_p50,
        "latency_p95": s.latency_p95,
        "latency_p99": s.latency_p99,
        "latency_mean": s.latency_mean,
        "target_met": s.target_met_fraction,
        "quality_mean": s.quality_mean,
        "optimality_mean": s.optimality_mean,
        "deadline_miss": s.deadline_miss_fraction,
        "cost_per_job": s.cost_per_job,
        "throughput": s.throughput,
        "utilization": s.utilization_mean,
        "escalations_per_job": s.escalations / max(s.completed, 1),
        "rejected": s.rejected,
        "nominal_capacity": pool_capacity(config),
        "completed": s.completed,
    }
    for w in result.workers:
        out[f"util[{w.name}]"] = w.utilization
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def _series(records: list[dict], metric: str) -> dict[str, list[tuple[float, float]]]:
    """Per policy: (rate, mean metric over seeds) sorted by rate."""
    groups: dict[tuple[str, float], list[float]] = defaultdict(list)
    for r in records:
        value = r["metrics"].get(metric)
        if value is not None:
            groups[(r["config"]["policy"], r["config"]["rate"])].append(value)
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (policy, load), values in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        out[policy].append((load, sum(values) / len(values)))
    return out


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """Latency percentiles against arrival rate per policy; the quality / cost frontier; deadline misses."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    paths = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharex=True)
    for ax, metric in zip(axes, ("latency_p50", "latency_p95", "latency_p99")):
        for policy, pts in _series(records, metric).items():
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=policy)
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("arrival rate (jobs/s)")
        ax.set_ylabel(f"{metric.split('_')[1]} latency (s)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=9, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("MAX-SAT service: latency against arrival rate")
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # the legend sits below the panels, never on the curves
    paths.append(out_dir / "latency_vs_rate.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    paths.append(plot_frontier(records, out_dir / "quality_cost_frontier.png"))

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for policy, pts in _series(records, "deadline_miss").items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=policy)
    ax.set_xscale("log")
    ax.set_xlabel("arrival rate (jobs/s)")
    ax.set_ylabel("deadline miss fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside the axes
    ax.set_title("deadline misses against arrival rate")
    fig.tight_layout()
    paths.append(out_dir / "deadline_miss_vs_rate.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)
    return paths


def pareto_frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (cost, quality) points no other point beats with lower-or-equal cost and higher quality, by cost."""
    frontier, best = [], -math.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            frontier.append((x, y))
            best = y
    return frontier


def frontier_series(records: list[dict]) -> dict[str, list[tuple[float, float, float]]]:
    """Per policy: (rate, cost per job, target-met share) at the rates where both are known, by rate."""
    cost, met = dict(_series(records, "cost_per_job")), dict(_series(records, "target_met"))
    out = {}
    for policy, pts in cost.items():
        met_at = dict(met.get(policy, []))
        out[policy] = [(rate, c, met_at[rate]) for rate, c in pts if rate in met_at]
    return out


def plot_frontier(records: list[dict], path: Path) -> Path:
    """Share of jobs meeting their target against cost per job: one line per policy through its arrival rates
    (marker size grows with the rate), and the dashed Pareto frontier of all points (cheaper and better)."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D

    points = frontier_series(records)
    rates = sorted({r for pts in points.values() for r, _, _ in pts})
    log_rates = np.log(rates) if rates else np.zeros(1)
    span = max(float(log_rates.max() - log_rates.min()), 1e-12)

    def size(rate: float) -> float:
        return 20 + 160 * (math.log(rate) - float(log_rates.min())) / span

    fig, ax = plt.subplots(figsize=(8.5, 5))
    markers = "osD^vP*X"
    handles = []
    for i, (policy, pts) in enumerate(sorted(points.items())):
        if not pts:
            continue
        line = ax.plot([c for _, c, _ in pts], [m for _, _, m in pts], lw=1, alpha=0.7)[0]
        ax.scatter(
            [c for _, c, _ in pts],
            [m for _, _, m in pts],
            s=[size(r) for r, _, _ in pts],
            marker=markers[i % len(markers)],
            color=line.get_color(),
            edgecolor="k",
            linewidth=0.4,
            alpha=0.85,
            zorder=3,
        )
        handles.append(
            Line2D([], [], color=line.get_color(), marker=markers[i % len(markers)], markeredgecolor="k", label=policy)
        )
    frontier = pareto_frontier([(c, m) for pts in points.values() for _, c, m in pts])
    if len(frontier) >= 2:
        ax.step([p[0] for p in frontier], [p[1] for p in frontier], where="post", ls="--", c="k", lw=1.2, zorder=2)
    if frontier:  # rings mark the undominated points (a frontier of one point has no line to draw)
        ax.scatter(
            [p[0] for p in frontier], [p[1] for p in frontier], s=420, facecolor="none", edgecolor="k", lw=1.2, zorder=4
        )
        label = "Pareto frontier" if len(frontier) >= 2 else "Pareto frontier (one point)"
        handles.append(
            Line2D([], [], color="k", ls="--" if len(frontier) >= 2 else "", marker="o", markerfacecolor="none",
                   markersize=12, label=label)
        )
    if rates:
        for rate in (rates[0], rates[len(rates) // 2], rates[-1]) if len(rates) > 2 else rates:
            handles.append(
                Line2D(
                    [], [], ls="", marker="o", color="0.6", markersize=math.sqrt(size(rate)), label=f"{rate:g} jobs/s"
                )
            )
    ax.set_xscale("log")
    xs = [c for pts in points.values() for _, c, _ in pts if c > 0]
    ys = [m for pts in points.values() for _, _, m in pts]
    if xs:  # at least a factor of 3 around the data, so the log axis always has labelled ticks
        mid, half = math.sqrt(min(xs) * max(xs)), max(math.sqrt(max(xs) / min(xs)) * 1.3, math.sqrt(3.0))
        ax.set_xlim(mid / half, mid * half)
    if ys:
        ax.set_ylim(max(-0.02, min(ys) - 0.05), min(1.02, max(ys) + 0.05) if max(ys) < 0.97 else 1.02)
    ax.set_xlabel("cost per completed job (worker-seconds x price)")
    ax.set_ylabel("share of jobs meeting their quality target")
    ax.set_title("quality against cost per policy (marker size: arrival rate)")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def table(records: list[dict]) -> str:
    """Mean over seeds per (policy, rate)."""
    metrics = (
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "target_met",
        "deadline_miss",
        "cost_per_job",
        "utilization",
        "escalations_per_job",
    )
    groups: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["config"]["policy"], r["config"]["rate"])].append(r["metrics"])
    lines = ["| policy | rate (jobs/s) | seeds | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 3)]
    for (policy, load), ms in sorted(groups.items()):
        cells = []
        for m in metrics:
            values = [x[m] for x in ms if x.get(m) is not None]
            cells.append(f"{sum(values) / len(values):.4g}" if values else "-")
        lines.append(f"| {policy} | {load:g} | {len(ms)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="maxsat_service",
    description="MAX-SAT solver service: dispatch policies x arrival rate on a pool with measured solver profiles",
    docs="docs/workloads.md",
    config_cls=MaxSatServiceConfig,
    run=run,
    plot=plot,
    table=table,
    points=points,
    quick={
        "rates": (10.0, 40.0, 160.0, 640.0, 2560.0),
        "n_jobs": 2000,
        "polystep_workers": 0,
        "profile_instances": 2,
        "profile_time_limit": 0.3,
    },
    seeds=(0, 1, 2),
    quick_seeds=(0,),
)
