"""JSON-lines result records, one per (config, seed), written atomically so a killed sweep resumes.

The store survives damage and concurrency: a damaged line stops with an error naming file and line (or is moved
to a side file on request), duplicated records count once, temporary files of killed writers are removed on the
next run, and concurrent runs claim a point (an fcntl lock that dies with its process) before computing it.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

RECORDS_FILE = "records.jsonl"
DAMAGED_FILE = "records.damaged.jsonl"
SET_ASIDE_OPTION = "--set-aside-damaged"


def config_dict(config: Any) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def record_key(config: dict, seed: int) -> str:
    """The identity of a (config, seed) point: records with equal keys are one record."""
    blob = json.dumps({"config": config, "seed": seed}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Versions of the interpreter, key libraries and the git commit, stored in every record."""
    out = {"python": platform.python_version()}
    for name in ("jax", "numpy", "optax", "simpy", "networkx"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except ImportError:
            pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        if commit:
            out["git"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _file_mode() -> int:
    """The mode `open()` would give a new file: 0666 less the process umask."""
    try:  # Linux: read the umask without changing it (changing it races with other threads)
        with open("/proc/self/status") as status:
            mask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: readers never see a partial file.
    The file gets the mode of a normally created file (0644 under the usual umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _damage(raw: bytes) -> tuple[dict | None, str | None]:
    """Parse one line: (record, None) when it is a record, (None, why not) when it is damaged."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text (byte {err.start + 1})"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"not a JSON record ({err.msg}, column {err.colno})"
    if not isinstance(value, dict):
        return None, f"a JSON {type(value).__name__}, not a record object"
    missing = [k for k in ("config", "seed", "metrics") if k not in value]
    if missing:
        return None, f"a record without {', '.join(missing)}"
    if not isinstance(value["config"], dict) or not isinstance(value["metrics"], dict):
        return None, "a record whose config or metrics is not an object"
    if isinstance(value["seed"], bool) or not isinstance(value["seed"], int):
        return None, "a record whose seed is not an integer"
    return value, None


@dataclasses.dataclass
class ParsedRecords:
    """The records of a file, each (config, seed) once in file order, and its damaged lines."""

    records: list[dict]
    damaged: list[tuple[int, bytes, str]]  # (line number, the line as read, what is wrong with it)
    duplicates: int


def parse_records(path: Path) -> ParsedRecords:
    """Read a records file without judging it: damaged lines and duplicates are returned, not raised."""
    path = Path(path)
    if not path.exists():
        return ParsedRecords([], [], 0)
    records, damaged, seen, duplicates = [], [], set(), 0
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        record, problem = _damage(raw)
        if problem:
            damaged.append((number, raw, problem))
            continue
        key = record_key(record["config"], record["seed"])
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        records.append(record)
    return ParsedRecords(records, damaged, duplicates)


class DamagedRecordsError(ValueError):
    """A records file holds lines that are not records; the message names file, line and the ways out."""


def damaged_error(path: Path, damaged: list[tuple[int, bytes, str]]) -> DamagedRecordsError:
    number, _, problem = damaged[0]
    more = f" (and {len(damaged) - 1} more damaged lines)" if len(damaged) > 1 else ""
    return DamagedRecordsError(
        f"{path}:{number}: {problem}{more}. Repair or delete the line, or rerun with {SET_ASIDE_OPTION} to move "
        f"damaged lines to {Path(path).with_name(DAMAGED_FILE)} (kept there, never deleted) and continue"
    )


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """The exclusive lock that serializes every writer of one records file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_locked(path: Path, set_aside_damaged: bool) -> list[dict]:
    """Parse `path` (caller holds its lock); damaged lines raise, or move to the side file when asked."""
    parsed = parse_records(path)
    if parsed.damaged:
        if not set_aside_damaged:
            raise damaged_error(path, parsed.damaged)
        side = path.with_name(DAMAGED_FILE)
        fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        with os.fdopen(fd, "ab") as handle:
            handle.write(b"".join(raw + b"\n" for _, raw, _ in parsed.damaged))
            handle.flush()
            os.fsync(handle.fileno())
        _write_records(path, parsed.records)
        lines = ", ".join(str(number) for number, _, _ in parsed.damaged)
        print(f"{path}: moved {len(parsed.damaged)} damaged line(s) ({lines}) to {side}", file=sys.stderr)
    return parsed.records


def _write_records(path: Path, records: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, default=_json_default) + "\n" for r in records))


def load_records(path: Path, set_aside_damaged: bool = False) -> list[dict]:
    """The records of a records.jsonl file, each (config, seed) once. A damaged line raises ValueError naming file
    and line and the ways out; with `set_aside_damaged` such lines move to records.damaged.jsonl instead."""
    path = Path(path)
    parsed = parse_records(path)
    if not parsed.damaged:
        return parsed.records
    if not set_aside_damaged:
        raise damaged_error(path, parsed.damaged)
    with _file_lock(path):
        return _read_locked(path, set_aside_damaged=True)


class Claim:
    """A held claim on one (config, seed) point: an exclusive fcntl lock, released by the OS if the holder dies."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    def release(self, done: bool) -> None:
        """Give the point up; a done point's lock file is removed (a later claimant sees its record first)."""
        if self._fd is None:
            return
        if done:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self._fd)
        self._fd = None


class RecordStore:
    """The records of one experiment under `root/NAME/records.jsonl`.

    Opening the store removes temporary files that killed writers left behind and checks the file for damage
    (an error naming file and line, or with `set_aside_damaged` the damaged lines move to a side file).
    """

    def __init__(self, root: Path, experiment: str, set_aside_damaged: bool = False):
        self.experiment = experiment
        self.path = Path(root) / experiment / RECORDS_FILE
        self.set_aside_damaged = set_aside_damaged
        with _file_lock(self.path):
            self.removed_temporaries = self._remove_orphan_temporaries()
            self._set(_read_locked(self.path, set_aside_damaged))

    def _set(self, records: list[dict]) -> None:
        self.records = records
        self._done = {record_key(r["config"], r["seed"]) for r in records}

    def _remove_orphan_temporaries(self) -> list[Path]:
        """Temporary files of this records file: every writer holds the file lock while its temporary file exists,
        so under the lock any that remain belong to writers that were killed."""
        removed = []
        for tmp in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:
                pass
        return removed

    def has(self, config: dict, seed: int) -> bool:
        return record_key(config, seed) in self._done

    def refresh(self) -> None:
        """Reread the file, taking in what other runs wrote."""
        with _file_lock(self.path):
            self._set(_read_locked(self.path, self.set_aside_damaged))

    def claim(self, config: dict, seed: int) -> Claim | None:
        """Claim a point before computing it; None when a live process holds it. A claim granted for a point whose
        record another run wrote meanwhile is released at once (None too)."""
        directory = self.path.parent / "claims"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{record_key(config, seed)}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        claim = Claim(path, fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.refresh()
        if self.has(config, seed):
            claim.release(done=True)
            return None
        return claim

    def add(self, config: dict, seed: int, metrics: dict, wall_s: float) -> dict:
        """Append one record. Concurrent runs writing to the same file are serialized by a lock and each
        merges what the others wrote, so no record is lost and none is written twice."""
        record = {
            "experiment": self.experiment,
            "config": config,
            "seed": seed,
            "metrics": metrics,
            "wall_s": round(wall_s, 4),
            "versions": versions(),
        }
        record = json.loads(json.dumps(record, default=_json_default))
        new_key = record_key(config, seed)
        with _file_lock(self.path):
            on_disk = _read_locked(self.path, self.set_aside_damaged)
            if all(record_key(r["config"], r["seed"]) != new_key for r in on_disk):
                on_disk = on_disk + [record]
                _write_records(self.path, on_disk)
        self._set(on_disk)
        return record

    @property
    def figure_dir(self) -> Path:
        return self.path.parent / "figures"


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:
        pass
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
