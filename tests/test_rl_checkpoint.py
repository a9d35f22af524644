"""RL training loops checkpoint their whole state and resume to the same result after a crash or a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from checkpoint_crash import Crash, crash_after

import problems.rl.checkpointing as ckpt
from experiments import rl_policy_search as exp
from polystep.checkpoint import CheckpointError
from problems.rl import PPOConfig, ReinforceConfig, SearchConfig, make, policy_for, search, train_ppo, train_reinforce

ROOT = Path(__file__).resolve().parents[1]
ENV = make("cartpole", max_steps=100)
VAL = jax.random.split(jax.random.key(9), 4)


def same_result(a, b) -> bool:
    """Equal results (curves, counters, parameters bitwise), wall time aside."""
    leaves = lambda r: jax.tree_util.tree_leaves(r.params)  # noqa: E731
    fields = [f for f in a._fields if f not in ("params", "wall_s")]
    return (all(getattr(a, f) == getattr(b, f) for f in fields)
            and all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b))))


LOOPS = {
    "polystep": lambda key, **kw: search(ENV, policy_for(ENV, "binary"), SearchConfig(
        evaluations=8 + 6 * (228 + 3) + 6 * 2, rollouts=2, eval_every=1, init_samples=8, momentum=0.5,
        select_episodes=3, line_search=2),
        key, VAL, **kw),
    "openai_es": lambda key, **kw: search(ENV, policy_for(ENV, "int8"), SearchConfig(
        optimizer="openai_es", evaluations=8 + 6 * 50, rollouts=2, eval_every=2, init_samples=8), key, VAL, **kw),
    "cmaes": lambda key, **kw: search(ENV, policy_for(ENV, "float"), SearchConfig(
        optimizer="cmaes", evaluations=8 + 6 * 16, rollouts=2, eval_every=2, init_samples=8), key, VAL, **kw),
    "ppo": lambda key, **kw: train_ppo(ENV, policy_for(ENV, "float"), PPOConfig(
        env_steps=6 * 8 * 32, num_envs=8, num_steps=32), key, VAL, eval_every=2, **kw),
    "reinforce": lambda key, **kw: train_reinforce(ENV, policy_for(ENV, "binary"), ReinforceConfig(
        env_steps=1500, num_envs=4), key, VAL, eval_every=2, **kw),
}


# REINFORCE (the cheapest) runs in the default suite; the other loops (13-25 s each on 2 loaded cores) are slow.
@pytest.mark.parametrize("name", [n if n == "reinforce" else pytest.param(n, marks=pytest.mark.slow) for n in LOOPS])
def test_a_loop_that_crashed_after_a_checkpoint_resumes_to_the_same_result(name, tmp_path, monkeypatch):
    loop = LOOPS[name]
    whole = loop(jax.random.key(0))
    crash_after(monkeypatch, ckpt, saves=1)
    with pytest.raises(Crash):
        loop(jax.random.key(0), checkpoint_dir=tmp_path, checkpoint_seconds=0)
    monkeypatch.undo()
    real, rounds_done = ckpt.LoopCheckpoint.restore, []

    def restore(self, template):
        state, meta = real(self, template)
        rounds_done.append(len(meta["curve_y"]) - 1)
        return state, meta

    monkeypatch.setattr(ckpt.LoopCheckpoint, "restore", restore)
    resumed = loop(jax.random.key(0), checkpoint_dir=tmp_path, checkpoint_seconds=0)
    assert rounds_done == [1] and len(whole.curve_return) > 3  # resumed after the first of several rounds
    assert same_result(whole, resumed)


def test_a_checkpoint_of_another_run_is_refused_with_the_way_out(tmp_path, monkeypatch):
    crash_after(monkeypatch, ckpt, saves=1)
    with pytest.raises(Crash):
        LOOPS["cmaes"](jax.random.key(0), checkpoint_dir=tmp_path, checkpoint_seconds=0)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="another run.*delete this directory"):
        LOOPS["cmaes"](jax.random.key(1), checkpoint_dir=tmp_path, checkpoint_seconds=0)


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import problems.rl.checkpointing as ckpt
    from experiments import rl_policy_search as exp

    real = ckpt.save_checkpoint
    def save_then_wait(directory, state, meta):
        real(directory, state, meta)
        Path(sys.argv[2]).write_text("saved")
        time.sleep(600)  # killed here, with one checkpoint on disk
    ckpt.save_checkpoint = save_then_wait
    exp.run(exp.{config!r}, 0, checkpoint_dir=Path(sys.argv[1]), checkpoint_seconds=0)
""")
SMALL = exp.RLSearchConfig(env="cartpole", policy="binary", optimizer="polystep", evaluations=64 + 4 * 228,
                           rollouts=2, eval_every=1, val_episodes=4, test_episodes=8)


def test_an_experiment_run_killed_after_its_first_checkpoint_resumes_to_the_same_record(tmp_path, capsys):
    checkpoint_dir, marker = tmp_path / "checkpoint", tmp_path / "saved"
    script = KILLED_RUN.replace("exp.{config!r}", "exp." + repr(SMALL))
    proc = subprocess.Popen([sys.executable, "-c", script, str(checkpoint_dir), str(marker)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no checkpoint"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()

    capsys.readouterr()
    resumed = exp.run(SMALL, 0, checkpoint_dir=checkpoint_dir, checkpoint_seconds=3600)
    rounds_after_resume = capsys.readouterr().err.count(" gen ")
    whole = exp.run(SMALL, 0)
    rounds_whole = capsys.readouterr().err.count(" gen ")
    assert rounds_after_resume == rounds_whole - 1  # it went on from the first round, not from the start
    timing = {"wall_s", "train_wall_s"}
    assert {k: v for k, v in resumed.items() if k not in timing} == {k: v for k, v in whole.items() if k not in timing}
