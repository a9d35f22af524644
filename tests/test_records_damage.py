"""Records that survive damage and concurrency: damaged lines, duplicates, orphan temporary files, file mode,
and concurrent runs that claim each point before computing it."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from experiments import cli, registry
from experiments.records import DAMAGED_FILE, RecordStore, load_records
from experiments.registry import Experiment
from experiments.report import generic_table
from experiments.runner import run_experiment


@dataclass(frozen=True)
class PointConfig:
    size: int = 1
    sizes: tuple[int, ...] = (1, 2)


def _value(config, seed):
    return {"value": config.size * 10 + seed}


TINY = Experiment(name="tiny", description="tiny", config_cls=PointConfig, run=_value,
                  points=lambda c: [PointConfig(size=s, sizes=c.sizes) for s in c.sizes], seeds=(0,))


def _line(size: int, seed: int = 0) -> bytes:
    record = {"experiment": "tiny", "config": {"size": size, "sizes": [1, 2]}, "seed": seed,
              "metrics": {"value": size * 10 + seed}, "wall_s": 0.0, "versions": {}}
    return json.dumps(record).encode() + b"\n"


DAMAGES = {
    "empty object": (b"{}\n", "a record without config, seed, metrics"),
    "a list": (b"[1, 2]\n", "a JSON list, not a record object"),
    "a stray byte": (_line(7)[:20] + b"\xff" + _line(7)[20:], "not UTF-8 text"),
    "seed not an int": (_line(9).replace(b'"seed": 0', b'"seed": "0"'), "a record whose seed is not an integer"),
    "truncated": (_line(8)[:-15], "not a JSON record"),  # last: a cut line has no newline
}


@pytest.fixture
def tiny_registered(monkeypatch):
    monkeypatch.setattr(registry, "_CACHE", {"tiny": TINY})


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_line_gives_an_error_naming_file_line_and_the_way_out(tmp_path, damage, tiny_registered, capsys):
    bad, why = DAMAGES[damage]
    path = tmp_path / "tiny" / "records.jsonl"
    path.parent.mkdir()
    path.write_bytes(_line(1) + bad + _line(2))
    for attempt in (lambda: load_records(path), lambda: RecordStore(tmp_path, "tiny")):
        with pytest.raises(ValueError) as info:
            attempt()
        message = str(info.value)
        assert message.startswith(f"{path}:2: {why}")
        assert "--set-aside-damaged" in message and DAMAGED_FILE in message
    for command in (["run", "tiny"], ["report", "tiny"]):
        assert cli.main([*command, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"error: {path}:2: {why}" in err and "Traceback" not in err
    assert path.read_bytes() == _line(1) + bad + _line(2)  # nothing was changed without being asked


def test_set_aside_moves_damaged_lines_to_a_kept_side_file_and_the_run_goes_on(tmp_path, tiny_registered, capsys):
    path = tmp_path / "tiny" / "records.jsonl"
    path.parent.mkdir()
    damaged = [DAMAGES[name][0] for name in DAMAGES]
    path.write_bytes(_line(1) + b"".join(damaged))
    assert cli.main(["run", "tiny", "--out", str(tmp_path), "--set-aside-damaged"]) == 0
    captured = capsys.readouterr()
    assert "moved 5 damaged line(s) (2, 3, 4, 5, 6)" in captured.err
    side = path.with_name(DAMAGED_FILE)
    assert side.read_bytes() == b"".join(d if d.endswith(b"\n") else d + b"\n" for d in damaged)
    assert sorted(r["config"]["size"] for r in load_records(path)) == [1, 2]  # size 1 kept, size 2 computed
    # A second damage later: the side file grows, nothing in it is lost.
    with open(path, "ab") as handle:
        handle.write(b"[3]\n")
    assert cli.main(["report", "tiny", "--out", str(tmp_path), "--set-aside-damaged"]) == 0
    assert side.read_bytes().endswith(b"[3]\n") and side.read_bytes().startswith(damaged[0])
    assert len(load_records(path)) == 2


def test_duplicated_lines_count_once_in_the_store_and_the_report(tmp_path, tiny_registered, capsys):
    path = tmp_path / "tiny" / "records.jsonl"
    path.parent.mkdir()
    path.write_bytes(_line(1) + _line(1) + _line(2) + _line(1))
    assert len(load_records(path)) == 2
    assert "| 1 | 1 | 10 |" in generic_table(load_records(path))  # size 1: one seed, not three
    store = RecordStore(tmp_path, "tiny")
    assert store.has({"size": 1, "sizes": [1, 2]}, 0)
    store.add({"size": 1, "sizes": [1, 2]}, 0, {"value": 10}, 0.0)  # adding it again writes no second copy
    assert cli.main(["report", "tiny", "--out", str(tmp_path)]) == 0
    assert "| 1 | 1 | 10 |" in capsys.readouterr().out


def test_orphan_temporary_files_are_removed_on_the_next_run_but_not_while_a_writer_holds_the_lock(tmp_path):
    directory = tmp_path / "tiny"
    directory.mkdir()
    orphan = directory / ".records.jsonl.abc123.tmp"
    orphan.write_bytes(b"x" * 1000)
    unrelated = directory / "notes.tmp"
    unrelated.write_text("mine")
    lock = open(directory / "records.jsonl.lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # a writer at work: its temporary file must stay
    opened = threading.Thread(target=lambda: RecordStore(tmp_path, "tiny"))
    opened.start()
    time.sleep(0.3)
    assert orphan.exists()
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    opened.join(timeout=10)
    assert not orphan.exists() and unrelated.exists()
    # The runner says what it removed.
    orphan.write_bytes(b"x")
    log = _Log()
    run_experiment(TINY, out=tmp_path, log=log)
    assert "removed .records.jsonl.abc123.tmp" in log.text and not orphan.exists()


class _Log:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_records_file_mode_follows_the_umask_like_a_normal_file(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        RecordStore(tmp_path, "tiny").add({"size": 1}, 0, {"value": 1}, 0.0)
    finally:
        os.umask(old)
    assert (tmp_path / "tiny" / "records.jsonl").stat().st_mode & 0o777 == mode


def test_a_claimed_point_is_not_claimed_twice_and_a_dead_claimant_is_taken_over(tmp_path):
    first, second = RecordStore(tmp_path, "tiny"), RecordStore(tmp_path, "tiny")
    point = ({"size": 1}, 0)
    claim = first.claim(*point)
    assert claim is not None and second.claim(*point) is None
    claim.release(done=False)
    again = second.claim(*point)
    assert again is not None
    again.release(done=False)
    # A process that claims the point and dies by SIGKILL: its claim dies with it.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from experiments.records import RecordStore; "
         "c = RecordStore(sys.argv[1], 'tiny').claim({'size': 1}, 0); print(c is not None, flush=True); "
         "time.sleep(60)", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "True"
    assert first.claim(*point) is None
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    taken = first.claim(*point)
    assert taken is not None
    first.add(*point, {"value": 1}, 0.0)
    taken.release(done=True)
    assert second.claim(*point) is None  # done: nobody claims it again


_CONCURRENT = '''
import os, sys, time
from dataclasses import dataclass
from pathlib import Path
from experiments.registry import Experiment
from experiments.runner import run_experiment

@dataclass(frozen=True)
class C:
    size: int = 0

def slow(config, seed):
    with open(os.environ["CALLS_FILE"], "a") as calls:
        calls.write(f"{config.size} {os.getpid()}\\n")
    time.sleep(0.25)
    return {"value": config.size}

EXP = Experiment(name="conc", description="", config_cls=C, run=slow, points=lambda c: [C(s) for s in range(8)])
print("ready", flush=True)
while not Path(sys.argv[2]).exists():  # both runs start their sweeps together
    time.sleep(0.01)
run_experiment(EXP, out=Path(sys.argv[1]))
'''


def test_two_concurrent_runs_on_one_folder_compute_each_point_once(tmp_path):
    script = tmp_path / "conc.py"
    script.write_text(_CONCURRENT)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "CALLS_FILE": str(tmp_path / "calls.txt")}
    go = tmp_path / "go"
    runs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "out"), str(go)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for run in runs:
        assert run.stdout.readline().strip() == "ready"
    go.touch()
    logs = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], logs
    calls = [line.split() for line in (tmp_path / "calls.txt").read_text().splitlines()]
    assert sorted(int(size) for size, _ in calls) == list(range(8))  # every point computed exactly once
    assert len({pid for _, pid in calls}) == 2  # and both runs computed some of them
    records = load_records(tmp_path / "out" / "conc" / "records.jsonl")
    assert sorted(r["config"]["size"] for r in records) == list(range(8))
    assert any("being computed by another run" in log for log in logs)
