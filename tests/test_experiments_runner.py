"""The experiment runner: records, resume after a kill, overrides, CLI errors, reports."""

import dataclasses
import io
import json
import os
from dataclasses import dataclass

import pytest

from experiments import cli, registry
from experiments.overrides import parse_overrides
from experiments.records import RecordStore, atomic_write_text, load_records
from experiments.registry import Experiment
from experiments.runner import SweepFailed, run_experiment
from problems.nets.data import DataFileError

CALLS = []


@dataclass(frozen=True)
class ToyConfig:
    size: int = 3
    scale: float = 1.0
    sizes: tuple[int, ...] = (1, 2)
    mode: str = "a"
    flag: bool = False


def toy_run(config, seed):
    CALLS.append((config.size, seed))
    if config.size < 0:
        raise RuntimeError("killed")
    return {"value": config.size * config.scale + seed}


TOY = Experiment(name="toy", description="toy", config_cls=ToyConfig, run=toy_run,
                 points=lambda c: [ToyConfig(size=s, scale=c.scale, sizes=c.sizes) for s in c.sizes],
                 quick={"scale": 0.5}, seeds=(0, 1))


def test_records_are_written_and_rerun_skips_them(tmp_path):
    CALLS.clear()
    records = run_experiment(TOY, out=tmp_path)
    assert len(records) == 4 and len(CALLS) == 4
    on_disk = load_records(tmp_path / "toy" / "records.jsonl")
    assert {tuple(sorted(r)) for r in on_disk} == {
        ("config", "experiment", "metrics", "seed", "versions", "wall_s")}
    run_experiment(TOY, out=tmp_path)
    assert len(CALLS) == 4  # nothing recomputed
    run_experiment(TOY, out=tmp_path, seeds=[0, 1, 2])
    assert len(CALLS) == 6  # only the new seed


def test_a_killed_sweep_resumes_without_losing_finished_records(tmp_path):
    CALLS.clear()
    broken = Experiment(name="toy", description="", config_cls=ToyConfig, run=toy_run,
                        points=lambda c: [ToyConfig(size=1), ToyConfig(size=-1), ToyConfig(size=2)])
    with pytest.raises(RuntimeError):
        run_experiment(broken, out=tmp_path, seeds=[0])
    assert len(load_records(tmp_path / "toy" / "records.jsonl")) == 1
    fixed = Experiment(name="toy", description="", config_cls=ToyConfig, run=toy_run,
                       points=lambda c: [ToyConfig(size=1), ToyConfig(size=2)])
    CALLS.clear()
    run_experiment(fixed, out=tmp_path, seeds=[0])
    assert CALLS == [(2, 0)]


def test_quick_overrides_and_user_overrides_compose():
    config = TOY.make_config(quick=True, overrides={"size": 9})
    assert (config.scale, config.size) == (0.5, 9)


def test_parse_overrides_types_and_errors():
    parsed = parse_overrides(ToyConfig, ["size=4", "scale=0.25", "sizes=1,5,7", "mode=b", "flag=true"])
    assert parsed == {"size": 4, "scale": 0.25, "sizes": (1, 5, 7), "mode": "b", "flag": True}
    with pytest.raises(ValueError, match="has no field 'colour'"):
        parse_overrides(ToyConfig, ["colour=red"])
    with pytest.raises(ValueError, match="size=abc: expected int"):
        parse_overrides(ToyConfig, ["size=abc"])
    with pytest.raises(ValueError, match="field=value"):
        parse_overrides(ToyConfig, ["size"])


def test_malformed_record_file_names_file_and_line(tmp_path):
    path = tmp_path / "records.jsonl"
    atomic_write_text(path, json.dumps({"config": {"a": 1}, "seed": 0, "metrics": {}}) + "\n{broken\n")
    with pytest.raises(ValueError, match=r"records.jsonl:2"):
        load_records(path)
    assert RecordStore(tmp_path, "none").records == []


def test_cli_reports_unknown_experiment_and_bad_field(capsys):
    assert cli.main(["run", "no_such_experiment"]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    assert cli.main(["run", "quickstart", "--set", "nonsense=1"]) == 2
    assert "has no field 'nonsense'" in capsys.readouterr().err


def test_cli_list_names_every_registered_experiment(capsys):
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    for name in registry.names():
        assert name in listed
    assert "quickstart" in listed


def test_quickstart_runs_and_reports(tmp_path, capsys):
    code = cli.main(["run", "quickstart", "--quick", "--out", str(tmp_path), "--set", "dims=2",
                     "--set", "objectives=ackley", "--set", "optimizers=polystep", "--set", "evaluations=2000"])
    assert code == 0
    out = capsys.readouterr().out
    assert "| ackley | 2 | polystep |" in out
    assert (tmp_path / "quickstart" / "figures" / "trajectories_2d.png").exists()


def test_tour_writes_a_report_with_every_experiment(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_CACHE", {"toy": TOY})
    report_path = tmp_path / "REPORT.md"
    assert cli.main(["tour", "--out", str(tmp_path / "results"), "--report", str(report_path)]) == 0
    text = report_path.read_text()
    assert "## toy" in text and "| size |" in text
    assert len(load_records(tmp_path / "results" / "toy" / "records.jsonl")) == 2  # quick seeds x 2 points


def test_tour_links_each_experiments_full_size_page(tmp_path, monkeypatch):
    documented = dataclasses.replace(TOY, docs="docs/nets.md")
    missing = dataclasses.replace(TOY, name="toy2", docs="docs/no_such_page.md")
    monkeypatch.setattr(registry, "_CACHE", {"toy": documented, "toy2": missing})
    report_path = tmp_path / "REPORT.md"
    assert cli.main(["tour", "--out", str(tmp_path / "results"), "--report", str(report_path)]) == 0
    text = report_path.read_text()
    link = os.path.relpath(cli._REPO_ROOT / "docs" / "nets.md", tmp_path)
    assert f"[docs/nets.md]({link})" in text
    assert "no_such_page" not in text  # a page that is not there (an installed package) is not linked


def test_every_experiment_names_an_existing_docs_page():
    for name, exp in registry.all_experiments().items():
        assert exp.docs and (cli._REPO_ROOT / exp.docs).is_file(), name


def test_two_stores_on_one_file_lose_no_record(tmp_path):
    # Two runs writing to the same --out: each merges what the other wrote.
    first, second = RecordStore(tmp_path, "toy"), RecordStore(tmp_path, "toy")
    first.add({"size": 1}, 0, {"value": 1.0}, 0.1)
    second.add({"size": 2}, 0, {"value": 2.0}, 0.1)
    first.add({"size": 3}, 0, {"value": 3.0}, 0.1)
    on_disk = load_records(tmp_path / "toy" / "records.jsonl")
    assert sorted(r["config"]["size"] for r in on_disk) == [1, 2, 3]


_CHECKPOINTING_SCRIPT = '''
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp

from experiments.registry import Experiment
from experiments.runner import SweepFailed, run_experiment
from problems.nets.data import DataFileError
from polystep.checkpoint import load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class WalkConfig:
    steps: int = 6


def walk(config, seed, checkpoint_dir=None):
    """A random walk that checkpoints its whole state (position, key, step, curve) after every step."""
    state = {"x": jnp.zeros(3, jnp.float32), "key": jax.random.key(seed), "step": jnp.int32(0)}
    curve = []
    loaded = load_checkpoint(checkpoint_dir, state)
    if loaded is not None:
        state, meta = loaded
        curve = meta["curve"]
        print(f"resumed at step {int(state['step'])}", file=sys.stderr, flush=True)
    while int(state["step"]) < config.steps:
        key, sub = jax.random.split(state["key"])
        x = state["x"] + jax.random.normal(sub, (3,))
        state = {"x": x, "key": key, "step": state["step"] + 1}
        curve.append(float(jnp.sum(x ** 2)))
        save_checkpoint(checkpoint_dir, state, {"curve": curve})
        print(f"checkpoint {int(state['step'])}", flush=True)
        time.sleep(float(sys.argv[2]))  # gives the test time to kill the run; not part of the config
    return {"x": [float(v) for v in state["x"]], "curve": curve}


WALK = Experiment(name="walk", description="", config_cls=WalkConfig, run=walk, checkpoints=True)
run_experiment(WALK, out=Path(sys.argv[1]), seeds=[3])
'''


def test_a_checkpointing_run_killed_after_its_first_checkpoint_resumes_to_the_same_record(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "walk.py"
    script.write_text(_CHECKPOINTING_SCRIPT)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    killed_out, clean_out = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([sys.executable, str(script), str(killed_out), "0.3"], stdout=subprocess.PIPE,
                            text=True, env=env)
    for line in proc.stdout:
        if line.startswith("checkpoint 1"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert load_records(killed_out / "walk" / "records.jsonl") == []
    assert any((killed_out / "walk" / "checkpoints").iterdir())
    resumed = subprocess.run([sys.executable, str(script), str(killed_out), "0"], capture_output=True, text=True,
                             env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at step" in resumed.stderr
    clean = subprocess.run([sys.executable, str(script), str(clean_out), "0"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert clean.returncode == 0, clean.stderr
    assert "resumed" not in clean.stderr
    (record,) = load_records(killed_out / "walk" / "records.jsonl")
    (reference,) = load_records(clean_out / "walk" / "records.jsonl")
    assert record["metrics"] == reference["metrics"] and len(record["metrics"]["curve"]) == 6
    assert not any((killed_out / "walk" / "checkpoints").iterdir())  # cleared once the record was written


@dataclass(frozen=True)
class CheckedConfig:
    size: int = 1
    sizes: tuple[int, ...] = (1, 2)

    def __post_init__(self):
        if self.size < 0:
            raise ValueError(f"size: must be >= 0, got {self.size}")


def test_a_bad_sweep_point_fails_before_any_point_runs(tmp_path, monkeypatch, capsys):
    calls = []
    checked = Experiment(name="checked", description="", config_cls=CheckedConfig,
                         run=lambda c, s: calls.append(c.size) or {"value": c.size},
                         points=lambda c: [CheckedConfig(size=s, sizes=c.sizes) for s in c.sizes])
    monkeypatch.setattr(registry, "_CACHE", {"checked": checked})
    assert cli.main(["run", "checked", "--out", str(tmp_path), "--set", "sizes=1,2,-5"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: size: must be >= 0, got -5"
    assert calls == [] and not (tmp_path / "checked" / "records.jsonl").exists()
    assert cli.main(["run", "checked", "--out", str(tmp_path), "--set", "size=-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: size: must be >= 0, got -1"
    assert cli.main(["run", "checked", "--out", str(tmp_path), "--dry-run"]) == 0
    assert "2 points, 0 done, 2 to run" in capsys.readouterr().out and calls == []


def _reads_a_missing_file(config, seed):
    if config.size == 2:
        raise DataFileError("/data/mnist/train-images-idx3-ubyte.gz: missing; download it into /data/mnist")
    if config.size == 3:
        open("/no/such/instance.wcnf")  # noqa: SIM115 - the OSError is the point
    return {"value": config.size}


@pytest.mark.parametrize("size, message", [
    (2, "/data/mnist/train-images-idx3-ubyte.gz: missing; download it into /data/mnist"),
    (3, "[Errno 2] No such file or directory: '/no/such/instance.wcnf'")])
def test_a_bad_input_file_fails_its_point_with_the_message_and_no_traceback(tmp_path, monkeypatch, capsys, size,
                                                                              message):
    reading = Experiment(name="reading", description="", config_cls=ToyConfig, run=_reads_a_missing_file)
    log = io.StringIO()
    with pytest.raises(SweepFailed, match="reading: config seed=0 failed: ") as failed:
        run_experiment(reading, overrides={"size": size}, seeds=(0,), out=tmp_path, log=log)
    assert str(failed.value) == f"reading: config seed=0 failed: {message}"
    assert "Traceback" not in log.getvalue() and "config:" not in log.getvalue()
    assert log.getvalue().endswith(f"] config seed=0: FAILED: {message}\n")
    monkeypatch.setattr(registry, "_CACHE", {"reading": reading})  # the CLI prints the one line
    assert cli.main(["run", "reading", "--out", str(tmp_path), "--set", f"size={size}", "--seeds", "0"]) == 1
    assert capsys.readouterr().err.strip() == f"error: reading: config seed=0 failed: {message}"


def test_report_after_tour_reads_the_tour_records_and_says_where(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "_CACHE", {"toy": TOY})
    monkeypatch.chdir(tmp_path)
    assert cli.main(["tour"]) == 0
    capsys.readouterr()
    assert cli.main(["report", "toy"]) == 0
    captured = capsys.readouterr()
    assert "reading records from results/tour/toy" in captured.err
    assert "| size |" in captured.out
    # Records of a run of its own (results/toy) come first.
    assert cli.main(["run", "toy", "--seeds", "5"]) == 0
    capsys.readouterr()
    assert cli.main(["report", "toy"]) == 0
    assert "reading records from results/toy" in capsys.readouterr().err


def test_backend_options_are_checked(tmp_path, capsys):
    assert cli.main(["run", "quickstart", "--workers", "2", "--out", str(tmp_path)]) == 2
    assert "go with --backend ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "quickstart", "--backend", "ray", "--workers", "0"])
    assert "expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="backend: must be one of inprocess, ray"):
        run_experiment(TOY, out=tmp_path, backend="dask")
