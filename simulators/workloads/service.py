"""Service models: how long a job occupies a worker and which quality it reaches there."""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

from simulators.workloads.arrivals import JobSpec
from simulators.workloads.config import ServiceConfig, SimConfig, WorkerConfig


class Attempt(NamedTuple):
    """Outcome of one attempt: busy wall seconds, quality reached (satisfied soft-weight fraction), whether it
    meets the job's target, and quality relative to the best-known optimum of the instance."""

    duration: float
    quality: float
    reached: bool
    optimality: float


class ServiceModel(Protocol):
    """Maps (job, worker, wall-time budget) to an Attempt; deterministic given the job's hardness."""

    def attempt(self, job: JobSpec, worker: WorkerConfig, budget: float) -> Attempt: ...


class ExponentialService:
    """Queueing-theory service: time `mean * (n / n_ref) ** size_exponent * E / speed`, E ~ Exp(1) per job.

    E is the job's hardness quantile mapped through the exponential inverse CDF, so a job is equally long on
    every try. A finished job reaches quality 1 (meets any target); one cut off by the budget reaches 0.
    """

    def __init__(self, mean: float = 1.0, size_exponent: float = 0.0, n_ref: float = 100.0) -> None:
        self.mean = mean
        self.size_exponent = size_exponent
        self.n_ref = n_ref

    def work(self, job: JobSpec) -> float:
        """Seconds of service the job needs at speed 1 (a ValueError if that overflows to inf)."""
        try:
            seconds = self.mean * (job.n / self.n_ref) ** self.size_exponent * -math.log1p(-job.hardness)
        except OverflowError:
            seconds = math.inf
        if not math.isfinite(seconds):
            raise ValueError(
                f"ServiceConfig.mean: mean x (n / n_ref) ** size_exponent overflows for n={job.n} "
                f"(mean={self.mean:g}, n_ref={self.n_ref:g}, size_exponent={self.size_exponent:g})"
            )
        return seconds

    def attempt(self, job: JobSpec, worker: WorkerConfig, budget: float) -> Attempt:
        duration = self.work(job) / worker.speed
        if duration <= budget:
            return Attempt(duration, 1.0, True, 1.0)
        return Attempt(budget, 0.0, False, 0.0)


class ProfileService:
    """Service from measured time-to-quality profiles (see profiles.py), one per (solver, instance family).

    A solver runs until the job's quality target is reached, it stops by itself (an exact solver proved the
    optimum, a local search satisfied every clause), the budget runs out, or its profile ends (the
    measurement's time limit, where it gives up). Solver time is wall time times the worker's speed.
    """

    def __init__(self, profiles: dict) -> None:
        self.profiles = profiles

    def attempt(self, job: JobSpec, worker: WorkerConfig, budget: float) -> Attempt:
        profile = self.profiles[(worker.solver, job.family)]
        used, quality, reached, best = profile.attempt(
            job.n, job.hardness, job.target, budget * worker.speed, prove=job.optimum
        )
        optimality = min(1.0, quality / best) if best > 0 else 1.0
        return Attempt(used / worker.speed, quality, reached, optimality)


def make_service(config: SimConfig) -> ServiceModel:
    """The service model a run's config asks for (profile models load or build their profiles here)."""
    service: ServiceConfig = config.service
    if service.model == "exponential":
        return ExponentialService(service.mean, service.size_exponent, service.n_ref)
    from simulators.workloads.profiles import load_profiles  # imported here: `python -m ...profiles` runs cleanly

    return ProfileService(load_profiles(config))
