"""The SimPy model of the solver service: arrivals, dispatch, queues, workers, escalation; `simulate`."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import simpy

from polystep.validate import check_int
from simulators.workloads.arrivals import JobSpec, generate_jobs
from simulators.workloads.config import MAX_JOBS, SimConfig, WorkerConfig
from simulators.workloads.dispatch import JobView, WorkerView, make_policy
from simulators.workloads.result import AttemptRecord, JobRecord, Result, summarize
from simulators.workloads.service import ServiceModel, make_service


class _Job:
    """Mutable state of a job while it is in the system."""

    __slots__ = (
        "spec",
        "deadline",
        "attempt",
        "tried",
        "quality",
        "optimality",
        "reached",
        "status",
        "reason",
        "start",
        "finish",
        "wait",
        "busy",
        "enqueued",
        "worker",
    )

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.deadline = spec.arrival + spec.deadline
        self.attempt = 0
        self.tried: tuple[int, ...] = ()
        self.quality = math.nan
        self.optimality = math.nan
        self.reached = False
        self.status = "queued"
        self.reason = ""
        self.start = math.nan
        self.finish = math.nan
        self.wait = 0.0
        self.busy = 0.0
        self.enqueued = spec.arrival
        self.worker = -1

    def view(self) -> JobView:
        s = self.spec
        quality = 0.0 if math.isnan(self.quality) else self.quality
        return JobView(
            s.id,
            s.n,
            s.kind,
            s.family,
            s.arrival,
            self.deadline,
            s.target,
            s.optimum,
            self.attempt,
            self.tried,
            quality,
        )

    def record(self) -> JobRecord:
        s = self.spec
        done = self.status == "completed"
        return JobRecord(
            id=s.id,
            kind=s.kind,
            n=s.n,
            arrival=s.arrival,
            deadline=self.deadline,
            target=s.target,
            status=self.status,
            reason=self.reason,
            start=self.start,
            finish=self.finish if done else math.nan,
            worker=self.worker,
            workers=self.tried,
            quality=self.quality if self.tried else math.nan,
            optimality=self.optimality if self.tried else math.nan,
            target_met=done and self.reached,
            deadline_met=done and self.finish <= self.deadline,
            escalations=max(0, len(self.tried) - 1),
            wait=self.wait if self.tried else math.nan,
            service=self.busy if self.tried else math.nan,
        )


def queue_assignment(workers: tuple[WorkerConfig, ...], queueing: str) -> list[int]:
    """Index of the queue each worker serves: its own, one shared queue, or one per solver."""
    if queueing == "shared":
        return [0] * len(workers)
    if queueing == "per_solver":
        solvers = list(dict.fromkeys(w.solver for w in workers))
        return [solvers.index(w.solver) for w in workers]
    return list(range(len(workers)))


def simulate(config: SimConfig, seed: int, service: ServiceModel | None = None) -> Result:
    """Run the service model once; same config and seed, same Result.

    Randomness comes from independent streams spawned from `seed` (arrivals, job draws, policy), so runs that
    differ only in the policy or the pool see the same jobs. `service` overrides the config's service model.
    """
    if not isinstance(config, SimConfig):
        raise ValueError(f"config: expected a SimConfig, got {type(config).__name__}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: must be an int >= 0, got {seed!r}")
    streams = np.random.SeedSequence(int(seed)).spawn(3)
    rng_arrivals, rng_jobs, rng_policy = (np.random.default_rng(s) for s in streams)
    specs = generate_jobs(config.workload, rng_arrivals, rng_jobs, config.horizon)
    model = service if service is not None else make_service(config)
    policy = make_policy(config.policy, config.policy_options)

    workers = config.pool.expanded()
    queue_of = queue_assignment(workers, config.pool.queueing)
    n_queues = max(queue_of) + 1
    servers = [queue_of.count(q) for q in range(n_queues)]
    env = simpy.Environment()
    stores = [simpy.Store(env) for _ in range(n_queues)]
    busy = [False] * len(workers)
    queue_busy = [0] * n_queues
    current: list[tuple | None] = [None] * len(workers)
    attempts: list[AttemptRecord] = []
    jobs: list[_Job] = []
    max_queue = config.pool.max_queue
    drop_late = config.deadline_policy in ("drop", "truncate")

    def views() -> tuple[WorkerView, ...]:
        return tuple(
            WorkerView(
                i,
                w.name,
                w.solver,
                w.speed,
                w.cost_per_second,
                w.time_limit,
                busy[i],
                queue_of[i],
                len(stores[queue_of[i]].items),
                servers[queue_of[i]],
                queue_busy[queue_of[i]],
            )
            for i, w in enumerate(workers)
        )

    def finish(job: _Job, status: str, reason: str = "") -> None:
        job.status, job.reason = status, reason
        if status == "completed":
            job.finish = env.now

    def route(job: _Job) -> None:
        choice = policy(job.view(), views(), rng_policy)
        if choice is None:
            if job.attempt == 0:
                finish(job, "rejected", "policy")
            else:
                finish(job, "completed")
            return
        if isinstance(choice, bool) or not isinstance(choice, (int, np.integer)) or not 0 <= choice < len(workers):
            raise ValueError(
                f"SimConfig.policy: returned {choice!r}; expected a worker index in [0, {len(workers) - 1}] or None"
            )
        queue = queue_of[int(choice)]
        if max_queue is not None and len(stores[queue].items) >= max_queue:
            if job.attempt == 0:
                finish(job, "rejected", "queue_full")
            else:
                finish(job, "completed")
            return
        job.status = "queued"
        job.enqueued = env.now
        stores[queue].put(job)

    def arrivals():
        for spec in specs:
            if spec.arrival > env.now:
                yield env.timeout(spec.arrival - env.now)
            job = _Job(spec)
            jobs.append(job)
            route(job)

    def serve(i: int, worker: WorkerConfig):
        queue = queue_of[i]
        while True:
            job = yield stores[queue].get()
            now = env.now
            if drop_late and now >= job.deadline:
                job.wait += now - job.enqueued
                if job.attempt == 0:
                    finish(job, "rejected", "expired")
                else:
                    finish(job, "completed")
                continue
            budget = worker.time_limit
            if config.deadline_policy == "truncate":
                budget = min(budget, job.deadline - now)
            outcome = model.attempt(job.spec, worker, max(budget - worker.setup, 0.0))
            if worker.setup:
                outcome = outcome._replace(duration=outcome.duration + worker.setup)
            job.status = "in_service"
            job.wait += now - job.enqueued
            if job.attempt == 0:
                job.start = now
            job.tried = job.tried + (i,)
            job.worker = i
            busy[i] = True
            queue_busy[queue] += 1
            current[i] = (job, now, outcome)
            yield env.timeout(outcome.duration)
            busy[i] = False
            queue_busy[queue] -= 1
            current[i] = None
            attempts.append(
                AttemptRecord(
                    job.spec.id,
                    i,
                    job.enqueued,
                    now,
                    env.now,
                    outcome.quality,
                    outcome.reached,
                    outcome.optimality,
                )
            )
            job.busy += outcome.duration
            if math.isnan(job.quality) or outcome.quality > job.quality:
                job.quality, job.optimality = outcome.quality, outcome.optimality
            job.reached = job.reached or outcome.reached
            if job.reached or job.attempt >= config.max_escalations:
                finish(job, "completed")
            else:
                job.attempt += 1
                route(job)

    env.process(arrivals())
    for i, worker in enumerate(workers):
        env.process(serve(i, worker))
    if config.horizon is not None:
        env.run(until=config.horizon)
    else:
        env.run()
    end_time = float(env.now)
    for i, entry in enumerate(current):
        if entry is not None:
            job, start, outcome = entry
            attempts.append(
                AttemptRecord(
                    job.spec.id,
                    i,
                    job.enqueued,
                    start,
                    start + outcome.duration,
                    outcome.quality,
                    outcome.reached,
                    outcome.optimality,
                )
            )
    records = tuple(job.record() for job in jobs)
    info = [(i, w.name, w.solver, w.cost_per_second) for i, w in enumerate(workers)]
    attempts.sort(key=lambda a: (a.start, a.worker))
    summary, stats = summarize(records, tuple(attempts), info, config.warmup, end_time)
    return Result(int(seed), end_time, records, tuple(attempts), stats, summary, config)


def estimate_capacity(
    config: SimConfig, seed: int = 0, samples: int = 2000, service: ServiceModel | None = None
) -> float:
    """Jobs/s the pool serves when every worker is always busy: sum over workers of 1 / mean attempt time.

    Mean attempt times are estimated on `samples` jobs of the workload mix (first attempts, no deadlines);
    a load of rho means an arrival rate of rho times this capacity.
    """
    check_int(seed, "seed", 0)
    check_int(samples, "samples", 1, MAX_JOBS)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(3)[1])

    workload = dataclasses.replace(config.workload, arrivals="poisson", n_jobs=samples)
    specs = generate_jobs(workload, np.random.default_rng(int(seed)), rng)
    model = service if service is not None else make_service(config)
    total = 0.0
    for worker in config.pool.expanded():
        budget = worker.time_limit - worker.setup
        mean = worker.setup + float(np.mean([model.attempt(s, worker, budget).duration for s in specs]))
        total += 1.0 / mean if mean > 0 else math.inf
    return total
