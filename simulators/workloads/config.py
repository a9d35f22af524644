"""Configuration dataclasses of the solver-service model: workload, pool, service model and the whole run.

Every config validates itself on construction and raises a ValueError that names the offending field and the
allowed range.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from polystep.validate import check_bool, check_choice, check_int, check_real, check_str, fail

ARRIVALS = ("poisson", "onoff", "trace")
QUEUEING = ("per_worker", "shared", "per_solver")
SERVICE_MODELS = ("exponential", "profile")
DEADLINE_POLICIES = ("ignore", "drop", "truncate")


#: Bounds that keep every run finite in time and memory.
MAX_JOBS = 10_000_000  # jobs per run (given, or expected from rate x horizon)
MAX_WORKERS = 10_000  # workers in a pool, counting each copy of a `count`
MAX_ESCALATIONS = 1_000  # attempts after the first one, per job
MAX_ONOFF_PERIODS = 10_000_000  # ON / OFF periods the bursty arrival process may go through
MAX_PROFILE_SIZE = 100_000  # variables of a profiled instance


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        fail(name, message)


def _tuple_of(value: Any, name: str, kind: type, what: str) -> tuple:
    """`value` must be a non-empty tuple whose items are `kind` instances."""
    if not (isinstance(value, tuple) and len(value) >= 1 and all(isinstance(v, kind) for v in value)):
        fail(name, f"must be a non-empty tuple of {what}, got {value!r}")
    return value


@dataclass(frozen=True)
class JobClass:
    """One kind of job in the workload mix: its share, instance family and size range, deadline and target.

    Sizes are drawn log-uniformly in [n_min, n_max] variables; m = round(alpha n) clauses of k literals.
    `weighted` draws soft weights in 1..max_weight; `hard_fraction` marks that share of clauses hard (partial
    MAX-SAT). `deadline` is in seconds after arrival; `quality_target` is the satisfied fraction of the soft
    weight the job asks for (observable, so a solver stops once it gets there). `optimum=True` asks for a
    proven optimum instead: only a run that proves optimality meets it (an exact solver that finishes, or a
    local search that satisfies every clause); `quality_target` is then ignored.
    """

    name: str = "3sat"
    share: float = 1.0
    n_min: int = 50
    n_max: int = 500
    alpha: float = 4.27
    k: int = 3
    weighted: bool = False
    max_weight: int = 10
    hard_fraction: float = 0.0
    deadline: float = math.inf
    quality_target: float = 1.0
    optimum: bool = False

    def __post_init__(self):
        p = f"JobClass({self.name!r})" if isinstance(self.name, str) else "JobClass"
        check_str(self.name, f"{p}.name", nonempty=True)
        check_real(self.share, f"{p}.share", 0.0, lo_open=True)
        check_int(self.n_min, f"{p}.n_min", 1)
        check_int(self.n_max, f"{p}.n_max", self.n_min)
        check_real(self.alpha, f"{p}.alpha", 0.0, 1000.0, lo_open=True)
        check_int(self.k, f"{p}.k", 1, self.n_min)
        check_bool(self.weighted, f"{p}.weighted")
        check_int(self.max_weight, f"{p}.max_weight", 1)
        check_real(self.hard_fraction, f"{p}.hard_fraction", 0.0, 1.0, hi_open=True)
        check_real(self.deadline, f"{p}.deadline", 0.0, lo_open=True, allow_inf=True)
        check_real(self.quality_target, f"{p}.quality_target", 0.0, 1.0, lo_open=True)
        check_bool(self.optimum, f"{p}.optimum")

    @property
    def family(self) -> str:
        """Key of the solver profiles that describe this class: k, alpha, weighting and hard share."""
        return instance_family(self.k, self.alpha, self.weighted, self.hard_fraction)


def instance_family(k: int, alpha: float, weighted: bool, hard_fraction: float) -> str:
    """A short file-name-safe key such as `k3-a4.27`, `k3-a4.27-w` or `k3-a4.27-w-h0.1`."""
    key = f"k{k}-a{alpha:g}"
    if weighted:
        key += "-w"
    if hard_fraction > 0:
        key += f"-h{hard_fraction:g}"
    return key


@dataclass(frozen=True)
class WorkloadConfig:
    """The job stream: arrival process, number of jobs and the mix of job classes.

    arrivals: "poisson" (rate jobs/s), "onoff" (bursty: exponential ON periods of mean `on_mean` s at `rate`
    jobs/s alternating with OFF periods of mean `off_mean` s at `off_rate`), or "trace" (CSV file `trace`
    with columns `arrival,n` and optionally `class,alpha,k,weighted,hard_fraction,deadline,quality_target,
    optimum`).
    Generation stops after `n_jobs` arrivals (and at the run's horizon, if any).
    """

    arrivals: str = "poisson"
    rate: float = 1.0
    on_mean: float = 10.0
    off_mean: float = 10.0
    off_rate: float = 0.0
    trace: str | None = None
    n_jobs: int | None = 1000
    mix: tuple[JobClass, ...] = (JobClass(),)

    def __post_init__(self):
        check_choice(self.arrivals, "WorkloadConfig.arrivals", ARRIVALS)
        check_real(self.rate, "WorkloadConfig.rate", 0.0, lo_open=True)
        check_real(self.on_mean, "WorkloadConfig.on_mean", 0.0, lo_open=True)
        check_real(self.off_mean, "WorkloadConfig.off_mean", 0.0, lo_open=True)
        check_real(self.off_rate, "WorkloadConfig.off_rate", 0.0)
        if self.trace is not None:
            check_str(self.trace, "WorkloadConfig.trace", nonempty=True)
        _check(
            self.arrivals != "trace" or bool(self.trace),
            "WorkloadConfig.trace",
            "a CSV path is required when arrivals='trace'",
        )
        if self.n_jobs is not None:
            check_int(self.n_jobs, "WorkloadConfig.n_jobs", 1, MAX_JOBS)
        _tuple_of(self.mix, "WorkloadConfig.mix", JobClass, "JobClass")
        names = [c.name for c in self.mix]
        _check(len(set(names)) == len(names), "WorkloadConfig.mix", f"class names must be distinct, got {names}")
        if self.n_jobs is not None:
            check_arrival_work(self, None)

    @property
    def mean_rate(self) -> float:
        """Long-run arrival rate in jobs/s (trace: not known in advance, returns nan)."""
        if self.arrivals == "poisson":
            return float(self.rate)
        if self.arrivals == "onoff":
            return (self.rate * self.on_mean + self.off_rate * self.off_mean) / (self.on_mean + self.off_mean)
        return math.nan


def check_arrival_work(workload: WorkloadConfig, horizon: float | None) -> None:
    """Refuse streams whose generation would not end in reasonable time: more than MAX_JOBS expected jobs, or
    more than MAX_ONOFF_PERIODS bursty periods before `n_jobs` arrivals or the horizon."""
    if workload.arrivals == "trace":
        return
    if workload.n_jobs is None and horizon is not None and workload.mean_rate * horizon > MAX_JOBS:
        fail(
            "SimConfig.horizon",
            f"rate x horizon is {workload.mean_rate * horizon:.3g} expected jobs, above the limit of {MAX_JOBS:,}",
        )
    if workload.arrivals != "onoff":
        return
    cycle = workload.on_mean + workload.off_mean
    per_cycle = workload.rate * workload.on_mean + workload.off_rate * workload.off_mean
    periods = [2 * horizon / cycle] if horizon is not None else []
    if workload.n_jobs is not None:
        periods.append(2 * workload.n_jobs / per_cycle if per_cycle > 0 else math.inf)
    if min(periods) > MAX_ONOFF_PERIODS:
        fail(
            "WorkloadConfig.on_mean",
            f"ON periods of mean {workload.on_mean:g} s (OFF {workload.off_mean:g} s) at rate {workload.rate:g} "
            f"need about {min(periods):.3g} periods to generate the jobs, above the limit of {MAX_ONOFF_PERIODS:,}",
        )


@dataclass(frozen=True)
class WorkerConfig:
    """One solver worker: which solver it runs, its speed factor (1 = the machine profiles were measured on),
    its price per busy second, the most wall seconds it spends on one attempt (`time_limit`, setup included),
    how many identical copies (`count`), and a fixed `setup` time per attempt (loading the instance, transfers)
    spent before the solver starts."""

    name: str = "w0"
    solver: str = "probsat"
    speed: float = 1.0
    cost_per_second: float = 1.0
    time_limit: float = math.inf
    count: int = 1
    setup: float = 0.0

    def __post_init__(self):
        p = f"WorkerConfig({self.name!r})" if isinstance(self.name, str) else "WorkerConfig"
        check_str(self.name, f"{p}.name", nonempty=True)
        check_str(self.solver, f"{p}.solver", nonempty=True)
        check_real(self.speed, f"{p}.speed", 0.0, lo_open=True)
        check_real(self.cost_per_second, f"{p}.cost_per_second", 0.0)
        check_real(self.time_limit, f"{p}.time_limit", 0.0, lo_open=True, allow_inf=True)
        check_real(self.setup, f"{p}.setup", 0.0)
        _check(
            self.setup < self.time_limit,
            f"{p}.setup",
            f"must be a number >= 0 and below time_limit={self.time_limit}, got {self.setup!r}",
        )
        check_int(self.count, f"{p}.count", 1, MAX_WORKERS)


@dataclass(frozen=True)
class PoolConfig:
    """The solver pool and its queues: one queue per worker, one shared by all, or one per solver.

    `max_queue` caps the jobs waiting in each queue (None = unbounded); a job dispatched to a full queue is
    rejected with reason "queue_full". A worker with `count = c` stands for c identical workers.
    """

    workers: tuple[WorkerConfig, ...] = (WorkerConfig(),)
    queueing: str = "per_worker"
    max_queue: int | None = None

    def __post_init__(self):
        _tuple_of(self.workers, "PoolConfig.workers", WorkerConfig, "WorkerConfig")
        names = [w.name for w in self.workers]
        _check(len(set(names)) == len(names), "PoolConfig.workers", f"worker names must be distinct, got {names}")
        total = sum(w.count for w in self.workers)
        _check(total <= MAX_WORKERS, "PoolConfig.workers", f"at most {MAX_WORKERS:,} workers in all, got {total:,}")
        check_choice(self.queueing, "PoolConfig.queueing", QUEUEING)
        if self.max_queue is not None:
            check_int(self.max_queue, "PoolConfig.max_queue", 0)

    def expanded(self) -> tuple[WorkerConfig, ...]:
        """One WorkerConfig per worker (a `count` > 1 becomes names `name.0`, `name.1`, ...)."""
        out = []
        for w in self.workers:
            if w.count == 1:
                out.append(w)
            else:
                for i in range(w.count):
                    out.append(dataclasses.replace(w, name=f"{w.name}.{i}", count=1))
        return tuple(out)

    @property
    def solvers(self) -> tuple[str, ...]:
        """Distinct solvers of the pool, in order of first appearance."""
        return tuple(dict.fromkeys(w.solver for w in self.workers))


@dataclass(frozen=True)
class ServiceConfig:
    """How long a job takes and what quality it reaches on a worker.

    "exponential": service time `mean * (n / n_ref) ** size_exponent * E / speed` with E ~ Exp(1) drawn per
    job (the queueing-theory model; every finished job meets its target). "profile": time-to-quality
    profiles of the real solvers (see `profiles.py`), read from `profile_dir` (default ~/.cache/polystep/
    maxsat_profiles); missing ones are measured when `build_missing` is true with `profile_sizes`,
    `profile_instances` instances per size and `profile_time_limit` seconds per run.
    """

    model: str = "profile"
    mean: float = 1.0
    size_exponent: float = 0.0
    n_ref: float = 100.0
    profile_dir: str | None = None
    build_missing: bool = True
    profile_sizes: tuple[int, ...] = (20, 40, 80, 160)
    profile_instances: int = 3
    profile_time_limit: float = 1.0

    def __post_init__(self):
        check_choice(self.model, "ServiceConfig.model", SERVICE_MODELS)
        check_real(self.mean, "ServiceConfig.mean", 0.0, lo_open=True)
        check_real(self.size_exponent, "ServiceConfig.size_exponent", -10.0, 10.0)
        check_real(self.n_ref, "ServiceConfig.n_ref", 0.0, lo_open=True)
        if self.profile_dir is not None:
            check_str(self.profile_dir, "ServiceConfig.profile_dir", nonempty=True)
        check_bool(self.build_missing, "ServiceConfig.build_missing")
        sizes = self.profile_sizes
        _check(
            isinstance(sizes, tuple)
            and len(sizes) >= 1
            and all(isinstance(s, int) and not isinstance(s, bool) and 3 <= s <= MAX_PROFILE_SIZE for s in sizes)
            and list(sizes) == sorted(set(sizes)),
            "ServiceConfig.profile_sizes",
            f"must be a non-empty increasing tuple of ints in [3, {MAX_PROFILE_SIZE}], got {sizes!r}",
        )
        check_int(self.profile_instances, "ServiceConfig.profile_instances", 1, 1000)
        check_real(self.profile_time_limit, "ServiceConfig.profile_time_limit", 0.0, 3600.0, lo_open=True)


@dataclass(frozen=True)
class SimConfig:
    """One run of the service: workload, pool, service model, dispatch policy and run control.

    `policy` is a name from `dispatch.POLICIES` (options in `policy_options`) or a callable
    `policy(job, workers, rng) -> worker index | None` (see dispatch.py). A job that misses its quality target
    is offered to the policy again, at most `max_escalations` times. `deadline_policy`: "ignore" (serve late
    jobs anyway), "drop" (reject a job whose deadline passed before it starts, reason "expired"), "truncate"
    (drop, and also stop the solver at the deadline). `horizon` ends the run at that time (None: run until
    every job is done); jobs arriving before `warmup` seconds are left out of the summary metrics.
    """

    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    policy: str | Callable[..., Any] = "jsq"
    policy_options: dict = field(default_factory=dict)
    max_escalations: int = 2
    deadline_policy: str = "ignore"
    horizon: float | None = None
    warmup: float = 0.0

    def __post_init__(self):
        _check(isinstance(self.workload, WorkloadConfig), "SimConfig.workload", "must be a WorkloadConfig")
        _check(isinstance(self.pool, PoolConfig), "SimConfig.pool", "must be a PoolConfig")
        _check(isinstance(self.service, ServiceConfig), "SimConfig.service", "must be a ServiceConfig")
        from simulators.workloads.dispatch import POLICIES, make_policy

        if isinstance(self.policy, str):
            check_choice(self.policy, "SimConfig.policy", tuple(POLICIES))
        else:
            _check(
                callable(self.policy),
                "SimConfig.policy",
                f"must be a policy name ({', '.join(POLICIES)}) or a callable, got {self.policy!r}",
            )
        _check(isinstance(self.policy_options, dict), "SimConfig.policy_options", "must be a dict")
        if isinstance(self.policy, str):
            make_policy(self.policy, self.policy_options)  # refuses unknown or out-of-range options
        elif self.policy_options:
            fail("SimConfig.policy_options", "options apply to named policies only")
        check_int(self.max_escalations, "SimConfig.max_escalations", 0, MAX_ESCALATIONS)
        check_choice(self.deadline_policy, "SimConfig.deadline_policy", DEADLINE_POLICIES)
        if self.horizon is not None:
            check_real(self.horizon, "SimConfig.horizon", 0.0, lo_open=True)
        check_real(self.warmup, "SimConfig.warmup", 0.0)
        _check(
            self.horizon is None or self.warmup < self.horizon,
            "SimConfig.warmup",
            f"must be below horizon={self.horizon}, got {self.warmup!r}",
        )
        _check(
            self.workload.n_jobs is not None or self.horizon is not None or self.workload.arrivals == "trace",
            "WorkloadConfig.n_jobs",
            "None needs a SimConfig.horizon (or a trace) to end the arrivals",
        )
        check_arrival_work(self.workload, self.horizon)
