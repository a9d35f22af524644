"""The Ray backend: every (config, seed) point of a sweep runs as a Ray task; records come back to the driver.

With no address a local Ray instance starts with `workers` CPUs; with an address the driver joins that cluster
(every node needs this package installed, e.g. `pip install -e ".[ray]"`). The driver claims a point before
submitting it and keeps at most one point per worker in flight, so a killed driver loses only those points, and
writes each record through the same atomic store as the in-process backend. Points that checkpoint write their
checkpoint on the node that runs them, under the driver's `--out` path: on a cluster of several machines, an `--out`
on a shared file system lets a rerun resume them (otherwise an interrupted point starts over). Tasks get the
environment of the cluster's `ray start` plus the driver's POLYSTEP_*, JAX_PLATFORMS and XLA_FLAGS.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from experiments.records import Claim, RecordStore
from experiments.registry import Experiment
from experiments.runner import Point, Progress, claim_point, execute_point, record_point


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError('backend: Ray is not installed; install it with `pip install -e ".[ray]"`') from None
    return ray


def _forwarded_env() -> dict[str, str]:
    """Environment settings the points need on every node (dataset location, JAX platform)."""
    return {k: v for k, v in os.environ.items() if k.startswith("POLYSTEP_") or k in ("JAX_PLATFORMS", "XLA_FLAGS")}


def _token_auth_like_ray_start() -> None:
    """Send the cluster token when one exists and RAY_AUTH_MODE is unset, as `ray start` does.

    Recent Ray (2.60 measured) `ray start --head` turns token authentication on when a token exists (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, which any local `ray.init()` writes), but a driver joining with
    `ray.init(address=...)` sends it only under RAY_AUTH_MODE=token. An explicit RAY_AUTH_MODE is left alone.
    """
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    try:
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    except TypeError:  # another Ray version's signature of this private helper
        maybe_enable_token_auth_if_token_available()


def start_ray(address: str | None, workers: int | None) -> bool:
    """Connect to `address`, or start a local instance with `workers` CPUs; True when this call started Ray."""
    ray = _ray()
    if ray.is_initialized():
        return False
    options = dict(runtime_env={"env_vars": _forwarded_env()}, log_to_driver=True, configure_logging=False)
    if address:
        _token_auth_like_ray_start()
        try:
            ray.init(address=address, **options)
        except Exception as err:  # ConnectionError, AuthenticationError, ...: say so without a deep traceback
            lines = str(err).strip().splitlines() or [type(err).__name__]
            raise ValueError(
                f"address: cannot join the Ray cluster at {address} ({lines[-1][:300]}); check that it runs, that "
                "this machine can reach it, and, if the cluster uses token authentication, that this machine has its "
                "token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) and RAY_AUTH_MODE is unset or 'token'"
            ) from None
    else:
        # address="local": always a new instance, even when a cluster started on this machine is recorded in /tmp/ray
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, **options)
    return True


def run_on_ray(
    experiment: Experiment,
    points: list[Point],
    store: RecordStore,
    progress: Progress,
    checkpoint_dir: Callable[[Point], Path | None],
    address: str | None = None,
    workers: int | None = None,
) -> None:
    """Run the points not yet done as Ray tasks (one CPU each); failures are reported and the rest go on."""
    ray = _ray()
    started = start_ray(address, workers)
    try:
        capacity = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        task = ray.remote(num_cpus=1, max_retries=0)(execute_point)
        run_ref = ray.put(experiment.run)
        waiting = list(points)
        in_flight: dict = {}  # ObjectRef -> (point, claim, checkpoint directory)
        try:
            while waiting or in_flight:
                while waiting and len(in_flight) < capacity:
                    point = waiting.pop(0)
                    claim = claim_point(store, point, progress)
                    if claim is None:
                        continue
                    directory = checkpoint_dir(point)
                    ref = task.remote(run_ref, point.config, point.seed, directory)
                    in_flight[ref] = (point, claim, directory)
                    progress.start(point)
                if not in_flight:
                    continue
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    point, claim, directory = in_flight.pop(ref)
                    record_point(store, point, _outcome(ray, ref), claim, directory, progress)
        finally:
            claims: list[Claim] = [claim for _, claim, _ in in_flight.values()]
            for claim in claims:
                claim.release(done=False)
    finally:
        if started:
            ray.shutdown()


def _outcome(ray, ref) -> dict:
    """The task's result; a task that could not run at all (worker crash, unpicklable config) is a failure too."""
    try:
        return ray.get(ref)
    except Exception as err:  # RayTaskError, WorkerCrashedError, ...
        return {"ok": False, "error": f"{type(err).__name__}: {err}"}
