"""Per-epoch checkpoints of nets training: a run killed with SIGKILL after its first checkpoint resumes to the
uninterrupted run's record; committed records replay their first epoch."""

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments import nondiff_nets
from experiments.records import load_records
from problems.nets.data import load_dataset
from problems.nets.training import TrainConfig, _check_resumable, _run_fields, train

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "results" / "nondiff_nets" / "records.jsonl"
SMALL = dict(task="int8", optimizer="polystep", epochs=3, batch_size=32, rank=8,
             model_options={"hidden": (16, 16)})
WALL = {"wall_s", "step_s", "peak_memory_mb"}

CHILD = """
import sys, time
from pathlib import Path
from problems.nets.data import load_dataset
from problems.nets.training import TrainConfig, train

class StopAfterFirstEpoch:
    # the log line of epoch 1 is printed after its checkpoint is saved: signal the parent, then wait to be killed
    def write(self, text):
        if "epoch 1/" in text:
            Path(sys.argv[2]).write_text("saved")
            time.sleep(600)
    def flush(self):
        pass

config = TrainConfig(**{CONFIG})
train(config, load_dataset("digits", max_train=256), 0, log=StopAfterFirstEpoch(), checkpoint_dir=Path(sys.argv[1]))
"""


def _without_wall(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k not in WALL}
    out["curve"] = {k: v for k, v in metrics["curve"].items() if k != "wall_s"}
    return out


@pytest.mark.slow  # default suite: the interrupted-run test below and the runner's SIGKILL test
def test_killed_run_resumes_to_the_uninterrupted_record(tmp_path):
    data = load_dataset("digits", max_train=256)
    config = TrainConfig(**SMALL)
    whole = train(config, data, 0, log=io.StringIO())
    ckpt, marker = tmp_path / "ckpt", tmp_path / "saved"
    child = subprocess.Popen([sys.executable, "-c", CHILD.replace("{CONFIG}", repr(SMALL)), str(ckpt), str(marker)],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.time() + 240
        while not marker.exists() and child.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the child never finished its first epoch"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    log = io.StringIO()
    resumed = train(config, data, 0, log=log, checkpoint_dir=ckpt)
    assert "resumed after epoch 1" in log.getvalue()
    assert log.getvalue().count("epoch ") == 1 + 2  # the resume line and epochs 2 and 3 only
    assert _without_wall(resumed) == _without_wall(whole)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    data = load_dataset("digits", max_train=128)
    config = TrainConfig(**{**SMALL, "epochs": 1})
    train(config, data, 0, log=io.StringIO(), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="belongs to another run .seed: checkpoint 0, this run 1"):
        train(config, data, 1, log=io.StringIO(), checkpoint_dir=tmp_path)
    changed = dataclasses.replace(config, epsilon=config.epsilon / 2)  # e.g. a tuned default changed since
    with pytest.raises(ValueError, match=f"epsilon: checkpoint {config.epsilon!r}, this run {config.epsilon / 2!r}"):
        train(changed, data, 0, log=io.StringIO(), checkpoint_dir=tmp_path)


class _InterruptAfterFirstEpoch(io.StringIO):
    """A log that raises once epoch 1's line is printed (its checkpoint is saved by then): an interrupted run."""

    def write(self, text):
        if "epoch 1/" in text:
            raise KeyboardInterrupt
        return super().write(text)


def test_weight_average_leaves_the_iterate_alone_and_resumes_exactly(tmp_path):
    """weight_ema: the iterate trains exactly as without it (raw accuracies = the plain run's), the reported ones
    are the moving average's, and an interrupted run resumes (average included) to the uninterrupted record."""
    data = load_dataset("digits", max_train=256)
    config = TrainConfig(**{**SMALL, "epochs": 2, "weight_ema": 0.0})
    averaged_config = dataclasses.replace(config, weight_ema=0.9)
    plain = train(config, data, 0, log=io.StringIO())
    whole = train(averaged_config, data, 0, log=io.StringIO())
    curve = whole["curve"]
    assert curve["raw_val_accuracy"] == plain["curve"]["val_accuracy"]
    assert curve["raw_test_accuracy"] == plain["curve"]["test_accuracy"]
    assert curve["train_loss"] == plain["curve"]["train_loss"]
    assert curve["val_accuracy"] != curve["raw_val_accuracy"]  # 0.9 averages over about ten steps
    with pytest.raises(KeyboardInterrupt):
        train(averaged_config, data, 0, log=_InterruptAfterFirstEpoch(), checkpoint_dir=tmp_path)
    log = io.StringIO()
    resumed = train(averaged_config, data, 0, log=log, checkpoint_dir=tmp_path)
    assert "resumed after epoch 1" in log.getvalue()
    assert _without_wall(resumed) == _without_wall(whole)
    with pytest.raises(ValueError, match="belongs to another run .weight_ema: checkpoint 0.9, this run 0.0"):
        train(config, data, 0, log=io.StringIO(), checkpoint_dir=tmp_path)  # another state structure: named first
    tiny = train(dataclasses.replace(config, weight_ema=1e-9), data, 0, log=io.StringIO())
    assert tiny["curve"]["val_accuracy"] == tiny["curve"]["raw_val_accuracy"]  # no averaging: the last iterate


@pytest.mark.parametrize("name", ["weight_ema", "weight_decay"])
def test_a_checkpoint_from_before_a_field_existed_resumes_only_runs_that_match_it(tmp_path, name):
    config = TrainConfig(**{**SMALL, name: 0.0})
    fields = _run_fields(config, 0)
    del fields[name]  # what a checkpoint written before the field existed names
    meta = {"config": "(older repr)", "seed": 0, "fields": fields}
    _check_resumable(meta, config, 0, tmp_path)  # 0: what every run did then
    with pytest.raises(ValueError, match=f"{name}: checkpoint 0.0, this run 0.5"):
        _check_resumable(meta, dataclasses.replace(config, **{name: 0.5}), 0, tmp_path)


def _newest_of_these_versions(records: list[dict]) -> dict | None:
    """The newest record made with this machine's library versions and candidate scoring, if any."""
    same = [r for r in records
            if r["metrics"]["library_versions"] == nondiff_nets.library_versions(r["config"]["task"])]
    return same[-1] if same else None


def test_committed_quick_record_replays_its_first_epoch():
    """The committed quick int8 record: its first epoch reruns to the same step losses and accuracies."""
    records = [r for r in load_records(RECORDS) if r["config"]["task"] == "int8"
               and r["config"]["optimizer"] == "polystep" and r["config"].get("preset") == "quick"]
    assert records, f"no quick int8 PolyStep record in {RECORDS}"
    assert all(r["metrics"]["resolved_config"]["subspace"] == "column" for r in records)  # full configs stored
    record = _newest_of_these_versions(records)
    if record is None:
        pytest.skip(f"no record made with {json.dumps(nondiff_nets.library_versions('int8'))}; bitwise replay needs "
                    "the same versions")
    replay = nondiff_nets.replay_first_epoch(record)
    assert nondiff_nets.replay_differences(record, replay) == []
    assert len(record["metrics"]["step_losses"]) == len(replay["step_losses"])  # records keep the first epoch's


@pytest.mark.slow
@pytest.mark.parametrize("task", ["snn", "int8"])
def test_committed_mnist_record_replays_its_first_epoch(task):
    """An MNIST record (first epoch of the 30-epoch schedule, about 1-2 min on 2 cores): same first epoch."""
    data_dir = ROOT.parent / "shared" / "data"
    records = [r for r in load_records(RECORDS) if r["config"]["task"] == task
               and r["metrics"].get("dataset") == "mnist" and r["config"]["optimizer"] == "polystep"]
    assert records, f"no MNIST {task} record in {RECORDS}"
    record = _newest_of_these_versions(records)
    if record is None:
        pytest.skip("bitwise replay needs a record made with these library versions and this scoring")
    replay = nondiff_nets.replay_first_epoch(record, str(data_dir))
    assert nondiff_nets.replay_differences(record, replay) == []
