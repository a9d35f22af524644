"""The Ray backend on a local instance with 2 workers: a sweep, a failing point, a driver killed mid-sweep; and on
a cluster started with `ray start --head`, joined through --address."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from experiments.records import load_records  # noqa: E402

# A driver script: a toy experiment defined in __main__ (so Ray ships it by value) run through the CLI.
_DRIVER = '''
import os
import sys
import time
from dataclasses import dataclass

from experiments import cli, registry
from experiments.registry import Experiment


@dataclass(frozen=True)
class SleepConfig:
    size: int = 0
    sizes: tuple[int, ...] = (1, 2, 3)
    pause: float = 0.0


def sleepy(config, seed):
    with open(os.environ["CALLS_FILE"], "a") as calls:
        calls.write(f"{config.size} {seed} {os.getpid()}\\n")
    time.sleep(config.pause)
    if config.size == 13:
        raise ArithmeticError(f"unlucky size {config.size}")
    return {"value": config.size * 10 + seed, "pid": os.getpid()}


registry._CACHE = {"sleepy": Experiment(
    name="sleepy", description="", config_cls=SleepConfig, run=sleepy,
    points=lambda c: [SleepConfig(size=s, sizes=c.sizes, pause=c.pause) for s in c.sizes])}
sys.exit(cli.main(sys.argv[1:]))
'''


def _driver(tmp_path, *args, **popen):
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "CALLS_FILE": str(tmp_path / "calls.txt"),
           "RAY_USAGE_STATS_ENABLED": "0"}
    command = [sys.executable, str(script), "run", "sleepy", "--backend", "ray", "--workers", "2",
               "--out", str(tmp_path / "results"), *args]
    return command, env


def _calls(tmp_path) -> list[tuple[int, int]]:
    path = tmp_path / "calls.txt"
    lines = path.read_text().split("\n") if path.exists() else []
    return [(int(line.split()[0]), int(line.split()[1])) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def killed_then_rerun(tmp_path_factory):
    """One sweep (2 workers, one failing config) whose driver is killed with SIGKILL after two records, then rerun
    to the end. One scenario for all checks, as each Ray start costs seconds."""
    tmp_path = tmp_path_factory.mktemp("ray")
    # 1.5 s per point: long enough that the second worker is up before the first has taken every point, on a
    # loaded 2-core machine too
    command, env = _driver(tmp_path, "--set", "sizes=1,13,2,3,4,5", "--set", "pause=1.5", "--seeds", "0")
    records_path = tmp_path / "results" / "sleepy" / "records.jsonl"
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        for line in driver.stderr:
            if "2/6 done" in line:
                break
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.stderr.close()
        try:  # the local Ray instance the killed driver started (same session): remove what is left of it
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    finished_before = {(r["config"]["size"], r["seed"]) for r in load_records(records_path)}
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in records_path.read_text().splitlines() if line.strip()]
    return finished_before, rerun, lines, _calls(tmp_path)


def test_a_driver_killed_mid_sweep_loses_only_unfinished_points(killed_then_rerun):
    finished_before, rerun, lines, calls = killed_then_rerun
    assert len(finished_before) >= 2
    # Every good point has exactly one record: nothing lost, nothing duplicated.
    assert sorted((r["config"]["size"], r["seed"]) for r in lines) == [(s, 0) for s in (1, 2, 3, 4, 5)]
    assert all(r["metrics"]["value"] == r["config"]["size"] * 10 for r in lines)
    for point in finished_before:
        assert calls.count(point) == 1  # finished points were not computed again
    assert rerun.stderr.count("done already, skipped") == len(finished_before)


def test_points_run_on_two_workers_and_a_failing_point_does_not_stop_the_others(killed_then_rerun):
    finished_before, rerun, lines, calls = killed_then_rerun
    assert rerun.returncode == 1, rerun.stderr
    rerun_pids = {r["metrics"]["pid"] for r in lines if (r["config"]["size"], r["seed"]) not in finished_before}
    assert len(rerun_pids) == 2  # two worker processes shared the rerun's points
    # The failure names its config and carries the task's traceback; the others finished.
    assert "'size': 13" in rerun.stderr and "ArithmeticError: unlucky size 13" in rerun.stderr
    assert "Traceback" in rerun.stderr and "1 of 6 points failed" in rerun.stderr
    assert "5/6 done, 0 running, 1 failed" in rerun.stderr


def test_an_unreachable_cluster_address_is_a_clear_error(monkeypatch):
    import ray

    from experiments import backends

    def refuse(**kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.9:6379")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(ValueError, match=r"address: cannot join the Ray cluster at 10.0.0.9:6379 \(Failed to connect"):
        backends.start_ray("10.0.0.9:6379", None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_sweep_joins_a_running_cluster_through_its_address(tmp_path):
    """A cluster started with `ray start --head` (its own process group, stopped at the end): a 2-point sweep
    through --address, then a rerun that skips both points (about 15 s on 2 busy cores)."""
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip(f"no `ray` command beside {sys.executable}")
    port = _free_port()
    command, env = _driver(tmp_path, "--set", "sizes=1,2", "--seeds", "0", "--address", f"127.0.0.1:{port}")
    head_log = tmp_path / "head.log"
    # The cluster's workers get the environment of `ray start` (the driver forwards only its POLYSTEP_* and JAX
    # settings), so the toy experiment's CALLS_FILE is given to the head. Ray 2.60 turns token authentication on
    # when a token exists (any local `ray.init()` writes one); the driver then joins with it.
    with open(head_log, "w") as log:
        head = subprocess.Popen([str(ray_cli), "start", "--head", "--block",
                                 "--num-cpus", "2", "--port", str(port), "--include-dashboard=false",
                                 "--disable-usage-stats"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.time() + 120
        while "Ray runtime started" not in head_log.read_text():
            assert head.poll() is None and time.time() < deadline, f"no Ray head:\n{head_log.read_text()}"
            time.sleep(0.5)
        first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
    finally:
        head.terminate()  # `ray start --block` stops the processes it started on SIGTERM (about 5 s)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever is left of its process group
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    records = load_records(tmp_path / "results" / "sleepy" / "records.jsonl")
    assert sorted((r["config"]["size"], r["metrics"]["value"]) for r in records) == [(1, 10), (2, 20)]
    assert sorted(_calls(tmp_path)) == [(1, 0), (2, 0)]  # each point ran once, on the cluster
    assert "2/2 done" in first.stderr and second.stderr.count("done already, skipped") == 2
