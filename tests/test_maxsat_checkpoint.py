"""Checkpointed MAX-SAT searches: a search stopped after a checkpoint (crash or kill -9) resumes to the
uninterrupted run's result; a damaged checkpoint or another search's checkpoint is refused with the way out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from checkpoint_crash import Crash, crash_after

import problems.maxsat.local_search as local_search
import problems.maxsat.resume as resume
import problems.maxsat.weighted_ls as weighted_ls
from experiments import maxsat_scaling
from experiments.runner import run_experiment
from polystep.checkpoint import CheckpointError
from problems.maxsat import ESConfig, PolyStepMaxSATConfig, ProbSATConfig, WPMSConfig, random_ksat, solve
from problems.maxsat.structured import make

ROOT = Path(__file__).resolve().parents[1]
RANDOM = random_ksat(2000, 4.27, seed=5)  # not solved within these budgets: every run spends its whole budget
WEIGHTED = make("max_cut", 1001, 1.0)
# solver: (formula, config with a small chunk, evaluation budget) - several chunks, so several checkpoints
CASES = {
    "probsat": (RANDOM, ProbSATConfig(chunk_flips=5_000), 40_000),
    "wpms": (WEIGHTED, WPMSConfig(chunk_flips=5_000), 40_000),
    "polystep": (RANDOM, PolyStepMaxSATConfig(steps_per_call=1), 20_000),
    "openai_es": (WEIGHTED, ESConfig(steps_per_call=5), 3_000),
    "cmaes": (RANDOM, ESConfig(steps_per_call=5), 1_000),
}


def record_resumes(monkeypatch) -> list[dict]:
    """The metadata of every checkpoint a search resumes from, from now on."""
    real, seen = resume.SearchCheckpoint.restore, []

    def restore(self, template):
        found = real(self, template)
        if found is not None:
            seen.append(found[1])
        return found

    monkeypatch.setattr(resume.SearchCheckpoint, "restore", restore)
    return seen


def outcome(result) -> tuple:
    """Everything of a SolveResult but its wall times (trace rows without their seconds)."""
    return (result.assignment.tobytes(), result.cost, result.hard_violations, result.evaluations, result.status,
            result.machine_dependent, [row[1:] for row in result.trace])


# probSAT and wpms (numba, compiled once) and PolyStep run in the default suite; the ES (another 5-8 s each on
# 2 loaded cores, same resume code as PolyStep) are slow.
@pytest.mark.parametrize("solver", [s if s in ("probsat", "wpms", "polystep") else pytest.param(
    s, marks=pytest.mark.slow) for s in CASES])
def test_a_search_that_crashed_after_a_checkpoint_resumes_to_the_same_result(solver, tmp_path, monkeypatch):
    formula, config, budget = CASES[solver]
    run = dict(time_limit=None, seed=1, config=config, max_evaluations=budget)
    whole = solve(formula, solver, **run)
    crash_after(monkeypatch, resume, saves=2)
    with pytest.raises(Crash):
        solve(formula, solver, **run, checkpoint_dir=tmp_path, checkpoint_seconds=0)
    monkeypatch.undo()
    resumes = record_resumes(monkeypatch)
    resumed = solve(formula, solver, **run, checkpoint_dir=tmp_path, checkpoint_seconds=0)
    assert len(resumes) == 1 and resumes[0].get("flips", resumes[0].get("steps")) > 0  # resumed midway
    assert outcome(resumed) == outcome(whole)
    assert not whole.machine_dependent and whole.evaluations >= budget


def test_checkpoints_do_not_change_an_uninterrupted_search(tmp_path):
    formula, config, budget = CASES["probsat"]
    plain = solve(formula, "probsat", time_limit=None, seed=2, config=config, max_evaluations=budget)
    saved = solve(formula, "probsat", time_limit=None, seed=2, config=config, max_evaluations=budget,
                  checkpoint_dir=tmp_path, checkpoint_seconds=0)
    assert outcome(saved) == outcome(plain)
    assert len(plain.trace) == 1 + budget // 5_000  # a row per compiled call of the fixed chunk


def test_a_time_limited_search_resumes_with_the_seconds_it_has_left(tmp_path, monkeypatch):
    formula, config, _ = CASES["wpms"]
    run = dict(time_limit=0.3, seed=1, config=config, checkpoint_dir=tmp_path, checkpoint_seconds=0.1)
    crash_after(monkeypatch, resume, saves=1)
    with pytest.raises(Crash):
        solve(formula, "wpms", **run)
    monkeypatch.undo()
    resumes = record_resumes(monkeypatch)
    resumed = solve(formula, "wpms", **run)
    spent = resumes[0]["elapsed_s"]
    assert 0 < spent < 0.3 and resumed.evaluations > resumes[0]["flips"]
    times = [row[0] for row in resumed.trace]
    assert times == sorted(times) and resumed.machine_dependent


def test_a_damaged_checkpoint_names_its_directory_and_the_way_out(tmp_path, monkeypatch):
    formula, config, budget = CASES["wpms"]
    run = dict(time_limit=None, seed=1, config=config, max_evaluations=budget, checkpoint_seconds=0)
    crash_after(monkeypatch, resume, saves=1)
    with pytest.raises(Crash):
        solve(formula, "wpms", **run, checkpoint_dir=tmp_path / "ckpt")
    monkeypatch.undo()
    step_dir = next(p for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit())
    for path in sorted(p for p in step_dir.rglob("*") if p.is_file()):
        path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"(?s)ckpt.*cannot be used.*delete this directory") as info:
        solve(formula, "wpms", **run, checkpoint_dir=tmp_path / "ckpt")
    assert isinstance(info.value, ValueError) and str(tmp_path / "ckpt") in str(info.value)


def test_a_checkpoint_of_another_search_is_refused(tmp_path, monkeypatch):
    formula, config, budget = CASES["probsat"]
    crash_after(monkeypatch, resume, saves=1)
    with pytest.raises(Crash):
        solve(formula, "probsat", time_limit=None, seed=1, config=config, max_evaluations=budget,
              checkpoint_dir=tmp_path, checkpoint_seconds=0)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="belongs to another search.*delete this directory"):
        solve(formula, "probsat", time_limit=None, seed=2, config=config, max_evaluations=budget,
              checkpoint_dir=tmp_path, checkpoint_seconds=0)


# The runner's sweep: probSAT and wpms points of the scaling experiment, 40K flips each in 5K-flip chunks.
OVERRIDES = {"n_values": (3000,), "solvers": ("probsat", "wpms"), "time_limit": None, "max_evaluations": 40_000}
CHUNK = 5_000
KILLED_SWEEP = f"""
import sys, time
from pathlib import Path
import problems.maxsat.local_search as local_search
import problems.maxsat.resume as resume
import problems.maxsat.weighted_ls as weighted_ls
from experiments import maxsat_scaling
from experiments.runner import run_experiment

local_search.BUDGET_CHUNK_FLIPS = weighted_ls.BUDGET_CHUNK_FLIPS = {CHUNK}
resume.CHECKPOINT_SECONDS = 0.0
real = resume.save_checkpoint
def save_then_wait(directory, state, meta):
    real(directory, state, meta)
    Path(sys.argv[2]).write_text("saved")
    time.sleep(600)  # killed here, with one checkpoint on disk
resume.save_checkpoint = save_then_wait
run_experiment(maxsat_scaling.EXPERIMENT, seeds=(0,), overrides={OVERRIDES!r}, out=Path(sys.argv[1]))
"""


def _without_wall(record: dict) -> dict:
    metrics = {k: v for k, v in record["metrics"].items() if k != "wall_s"}
    metrics["trace"] = [row[1:] for row in metrics["trace"]]
    return {"config": record["config"], "seed": record["seed"], "metrics": metrics}


def test_a_sweep_killed_after_its_first_checkpoint_resumes_to_the_same_records(tmp_path, monkeypatch):
    out, marker = tmp_path / "killed", tmp_path / "saved"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SWEEP, str(out), str(marker)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    try:
        deadline = time.time() + 240
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no checkpoint"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    checkpoints = out / "maxsat_scaling" / "checkpoints"
    assert len(list(checkpoints.iterdir())) == 1  # the probSAT point's, after its first chunk

    monkeypatch.setattr(local_search, "BUDGET_CHUNK_FLIPS", CHUNK)
    monkeypatch.setattr(weighted_ls, "BUDGET_CHUNK_FLIPS", CHUNK)
    monkeypatch.setattr(resume, "CHECKPOINT_SECONDS", 0.0)
    resumes = record_resumes(monkeypatch)
    log = open(os.devnull, "w")
    resumed = run_experiment(maxsat_scaling.EXPERIMENT, seeds=(0,), overrides=OVERRIDES, out=out, log=log)
    assert [meta["flips"] for meta in resumes] == [1 + CHUNK]  # one warm-up flip, then the first chunk
    assert not any(checkpoints.iterdir())  # removed once the records are written
    whole = run_experiment(maxsat_scaling.EXPERIMENT, seeds=(0,), overrides=OVERRIDES, out=tmp_path / "whole", log=log)
    log.close()
    assert len(resumed) == 2 and all(r["metrics"]["evaluations"] == 40_000 for r in resumed)
    key = lambda r: r["metrics"]["solver"]  # noqa: E731
    assert [_without_wall(r) for r in sorted(resumed, key=key)] == [_without_wall(r) for r in sorted(whole, key=key)]
