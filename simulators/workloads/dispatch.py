"""Dispatch policies: which worker gets a job, and whether a job that missed its quality target escalates.

A policy is any callable `policy(job, workers, rng) -> int | None`:

- `job` is a `JobView` (size, class, target, deadline, `attempt` = 0 on arrival, k >= 1 after k attempts that
  missed the target, `tried` = workers used so far, `quality` = best quality reached so far);
- `workers` is a tuple of `WorkerView`, one per worker, in pool order (`index` is the position);
- `rng` is the run's numpy Generator for policy randomness (use it, never a global RNG, so runs repeat).

On arrival (attempt 0) return a worker index, or None to reject the job (reason "policy"). After a missed
target (attempt >= 1) return a worker index to escalate to, or None to accept the result. A policy class may
define `reset()`, which the simulator calls at the start of every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from polystep.validate import check_bool, check_int, check_real, fail


class JobView(NamedTuple):
    """What a policy sees of a job."""

    id: int
    n: int
    kind: str
    family: str
    arrival: float
    deadline: float  # absolute time (inf = none)
    target: float
    optimum: bool  # asks for a proven optimum (target ignored)
    attempt: int
    tried: tuple[int, ...]
    quality: float


class WorkerView(NamedTuple):
    """What a policy sees of a worker and its queue at dispatch time."""

    index: int
    name: str
    solver: str
    speed: float
    cost_per_second: float
    time_limit: float
    busy: bool
    queue: int  # index of the queue this worker serves
    queue_length: int  # jobs waiting in that queue
    queue_servers: int  # workers serving that queue
    queue_busy: int  # of which busy

    @property
    def load(self) -> float:
        """Jobs waiting or in service per server of this worker's queue."""
        return (self.queue_length + self.queue_busy) / self.queue_servers


Policy = Callable[[JobView, Sequence[WorkerView], np.random.Generator], "int | None"]


def _least_loaded(candidates: Sequence[WorkerView], rng: np.random.Generator) -> int:
    """Index of a least-loaded candidate (idle first, then fewest jobs per server), ties broken at random."""
    best = min(w.load for w in candidates)
    ties = [w for w in candidates if w.load == best]
    idle = [w for w in ties if not w.busy]
    pool = idle or ties
    return pool[int(rng.integers(len(pool)))].index if len(pool) > 1 else pool[0].index


def random_policy(job: JobView, workers: Sequence[WorkerView], rng: np.random.Generator) -> int | None:
    """Uniformly random worker; never escalates."""
    if job.attempt:
        return None
    return int(rng.integers(len(workers)))


class RoundRobin:
    """Workers in turn; never escalates."""

    def __init__(self) -> None:
        self.next = 0

    def reset(self) -> None:
        """Start again from the first worker."""
        self.next = 0

    def __call__(self, job: JobView, workers: Sequence[WorkerView], rng: np.random.Generator) -> int | None:
        if job.attempt:
            return None
        index = self.next % len(workers)
        self.next += 1
        return index


def jsq(job: JobView, workers: Sequence[WorkerView], rng: np.random.Generator) -> int | None:
    """Join the shortest queue (fewest waiting + in-service jobs per server); never escalates."""
    if job.attempt:
        return None
    return _least_loaded(workers, rng)


class PowerOfChoices:
    """Sample `d` distinct workers at random and join the least loaded of them; never escalates."""

    def __init__(self, d: int = 2) -> None:
        self.d = check_int(d, "SimConfig.policy_options.d", 1)

    def __call__(self, job: JobView, workers: Sequence[WorkerView], rng: np.random.Generator) -> int | None:
        if job.attempt:
            return None
        picks = rng.choice(len(workers), size=min(self.d, len(workers)), replace=False)
        return _least_loaded([workers[int(i)] for i in picks], rng)


class SizeAware:
    """Small jobs (n <= threshold) to the `small` solvers (exact), the rest to the others (local search).

    Within a group the least-loaded worker wins. A group with no workers falls back to the whole pool.
    With `escalate=True` a job that missed its target goes to the least-loaded worker it has not tried yet.
    """

    def __init__(self, threshold: int = 60, small: Sequence[str] = ("rc2",), escalate: bool = False) -> None:
        self.threshold = check_real(threshold, "SimConfig.policy_options.threshold", 0.0, allow_inf=True)
        self.small = _names(small, "SimConfig.policy_options.small")
        self.escalate = check_bool(escalate, "SimConfig.policy_options.escalate")

    def __call__(self, job: JobView, workers: Sequence[WorkerView], rng: np.random.Generator) -> int | None:
        if job.attempt:
            if not self.escalate:
                return None
            fresh = [w for w in workers if w.index not in job.tried]
            return _least_loaded(fresh, rng) if fresh else None
        is_small = job.n <= self.threshold
        group = [w for w in workers if (w.solver in self.small) == is_small]
        return _least_loaded(group or workers, rng)


class Cascade:
    """Start every job on the first solver tier, escalate a missed target to the next tier.

    `tiers` lists solver names from fast/cheap to slow/strong (default: the pool's solvers in order of first
    appearance). Attempt a goes to tier a (tiers without workers are skipped); within a tier the least-loaded
    worker wins. After the last tier the result is accepted.
    """

    def __init__(self, tiers: Sequence[str] | None = None) -> None:
        self.tiers = None if tiers is None else _names(tiers, "SimConfig.policy_options.tiers")

    def __call__(self, job: JobView, workers: Sequence[WorkerView], rng: np.random.Generator) -> int | None:
        tiers = self.tiers or tuple(dict.fromkeys(w.solver for w in workers))
        groups = [[w for w in workers if w.solver == t] for t in tiers]
        groups = [g for g in groups if g]
        if not groups:
            return _least_loaded(workers, rng) if job.attempt == 0 else None
        if job.attempt >= len(groups):
            return None
        return _least_loaded(groups[job.attempt], rng)


def _names(value, field: str) -> tuple[str, ...]:
    """A tuple or list of solver names (strings)."""
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
        fail(field, f"must be a sequence of solver names, got {value!r}")
    return tuple(value)


POLICIES: dict[str, Callable[..., Policy]] = {
    "random": lambda: random_policy,
    "round_robin": RoundRobin,
    "jsq": lambda: jsq,
    "power_of_two": PowerOfChoices,
    "size_aware": SizeAware,
    "cascade": Cascade,
}


def make_policy(policy: str | Policy, options: dict | None = None) -> Policy:
    """A fresh policy from a name in POLICIES (keyword `options`) or a user callable (reset if it can)."""
    if options is not None and not isinstance(options, dict):
        fail("SimConfig.policy_options", f"must be a dict, got {options!r}")
    options = dict(options or {})
    if callable(policy):
        if options:
            raise ValueError("SimConfig.policy_options: options apply to named policies only")
        if hasattr(policy, "reset"):
            policy.reset()
        return policy
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ValueError(f"SimConfig.policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
    try:
        return POLICIES[policy](**options)
    except TypeError as err:
        raise ValueError(f"SimConfig.policy_options: {policy} does not take {sorted(options)} ({err})") from None


def deadline_left(job: JobView, now: float) -> float:
    """Seconds until the job's deadline (inf when it has none); a helper for user policies."""
    return math.inf if math.isinf(job.deadline) else job.deadline - now
