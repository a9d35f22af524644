"""Run an experiment's sweep over configs and seeds, skipping records already written.

Every sweep point's config is built (and so validated) before the first point runs. Each point is claimed before
it is computed, so concurrent runs on one results folder never compute the same point, and its record is written
atomically the moment it finishes, so a killed run loses at most the points in progress. Backends decide only
where `run(config, seed)` executes: in this process (the default) or as Ray tasks (`experiments.backends`).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.records import Claim, RecordStore, config_dict, record_key, versions
from experiments.registry import Experiment
from polystep.checkpoint import clear_checkpoint
from polystep.validate import InputError

DEFAULT_OUT = Path("results")
BACKENDS = ("inprocess", "ray")


class SweepFailed(RuntimeError):
    """Some points of a sweep raised; the others finished and their records are written."""


@dataclass(frozen=True)
class Point:
    """One (config, seed) of a sweep."""

    index: int
    config: Any
    config_dict: dict
    seed: int
    label: str

    @property
    def key(self) -> str:
        return record_key(self.config_dict, self.seed)


def plan_sweep(experiment: Experiment, quick: bool = False, seeds: Sequence[int] | None = None,
               overrides: dict | None = None) -> list[Point]:
    """Every (config, seed) point of a sweep; builds every config first, so a bad value fails before any run."""
    base = experiment.make_config(quick=quick, overrides=overrides)
    seeds = tuple(seeds) if seeds else (experiment.quick_seeds if quick else experiment.seeds)
    configs = experiment.expand(base)
    points = []
    for cfg, label in zip(configs, _labels(base, configs)):
        cdict = config_dict(cfg)
        for seed in seeds:
            points.append(Point(len(points) + 1, cfg, cdict, seed, label))
    return points


def checkpoint_path(out: Path, experiment: str, config: dict, seed: int) -> Path:
    """Where the run of one (config, seed) point keeps its checkpoint: beside the experiment's records."""
    return Path(out).absolute() / experiment / "checkpoints" / record_key(config, seed)


# Errors whose message says what is wrong with the user's input and where: reported without a traceback.
INPUT_ERRORS = (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def execute_point(run, config: Any, seed: int, checkpoint_dir: Path | None) -> dict:
    """Run one point and return {"ok", "metrics", "wall_s"} or {"ok": False, "error": traceback text}; a bad
    input (`INPUT_ERRORS`) gives its message alone and {"input_error": True}."""
    t0 = time.perf_counter()
    try:
        metrics = run(config, seed) if checkpoint_dir is None else run(config, seed, checkpoint_dir=checkpoint_dir)
    except INPUT_ERRORS as err:
        return {"ok": False, "error": str(err), "input_error": True}
    except Exception:
        return {"ok": False, "error": traceback.format_exc()}
    return {"ok": True, "metrics": metrics, "wall_s": time.perf_counter() - t0}


class Progress:
    """Progress lines: points done / running / failed out of the sweep, one line per event."""

    def __init__(self, name: str, total: int, log=sys.stderr):
        self.name, self.total, self.log = name, total, log
        self.done = self.running = self.failed = self.skipped = 0
        self.left_to_others: list[Point] = []
        self.failures: list[tuple[Point, str]] = []
        self.started = time.perf_counter()

    def _print(self, text: str) -> None:
        counts = f"{self.done + self.skipped}/{self.total} done, {self.running} running, {self.failed} failed"
        print(f"[{self.name} {counts}] {text}", file=self.log, flush=True)

    def skip(self, point: Point, why: str) -> None:
        if why == "done already":
            self.skipped += 1
        else:
            self.left_to_others.append(point)
        self._print(f"{point.label} seed={point.seed}: {why}, skipped")

    def start(self, point: Point) -> None:
        self.running += 1

    def finish(self, point: Point, metrics: dict, wall: float) -> None:
        self.running -= 1
        self.done += 1
        elapsed = time.perf_counter() - self.started
        self._print(f"{point.label} seed={point.seed}: {_summary(metrics)} ({wall:.1f}s, {elapsed:.0f}s elapsed)")

    def fail(self, point: Point, error: str, input_error: bool = False) -> None:
        self.running -= 1
        self.failed += 1
        self.failures.append((point, error))
        if input_error:
            self._print(f"{point.label} seed={point.seed}: FAILED: {error.rstrip()}")
        else:
            self._print(f"{point.label} seed={point.seed}: FAILED\nconfig: {point.config_dict}\n{error.rstrip()}")


def claim_point(store: RecordStore, point: Point, progress: Progress) -> Claim | None:
    """Claim a point not yet done; None (and a progress line) when it is done or another live run holds it."""
    if store.has(point.config_dict, point.seed):
        progress.skip(point, "done already")
        return None
    claim = store.claim(point.config_dict, point.seed)
    if claim is None:
        if store.has(point.config_dict, point.seed):
            progress.skip(point, "done already")
        else:
            progress.skip(point, "being computed by another run")
    return claim


def record_point(store: RecordStore, point: Point, outcome: dict, claim: Claim, checkpoint_dir: Path | None,
                 progress: Progress) -> None:
    """Write a finished point's record, then delete its checkpoint and release its claim."""
    if not outcome["ok"]:
        claim.release(done=False)
        progress.fail(point, outcome["error"], outcome.get("input_error", False))
        return
    store.add(point.config_dict, point.seed, outcome["metrics"], outcome["wall_s"])
    if checkpoint_dir is not None:
        clear_checkpoint(checkpoint_dir)
    claim.release(done=True)
    progress.finish(point, outcome["metrics"], outcome["wall_s"])


def run_experiment(
    experiment: Experiment,
    quick: bool = False,
    seeds: Sequence[int] | None = None,
    overrides: dict | None = None,
    out: Path = DEFAULT_OUT,
    log=sys.stderr,
    backend: str = "inprocess",
    address: str | None = None,
    workers: int | None = None,
    set_aside_damaged: bool = False,
) -> list[dict]:
    """Run every (point, seed) of `experiment` not yet in its record file; return all its records.

    In process, a point that raises stops the sweep (its traceback propagates). With `backend="ray"` the other
    points go on and `SweepFailed` is raised at the end, naming each failed point.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers: must be an integer >= 1, got {workers!r}")
    points = plan_sweep(experiment, quick=quick, seeds=seeds, overrides=overrides)
    versions()  # records name the commit this process loaded, even if the checkout moves during a long sweep
    store = RecordStore(out, experiment.name, set_aside_damaged=set_aside_damaged)
    for tmp in store.removed_temporaries:
        print(f"[{experiment.name}] removed {tmp.name}, left by a killed writer", file=log)
    progress = Progress(experiment.name, len(points), log)

    def checkpoint_dir(point: Point) -> Path | None:
        return checkpoint_path(out, experiment.name, point.config_dict, point.seed) if experiment.checkpoints else None

    if backend == "ray":
        from experiments.backends import run_on_ray

        run_on_ray(experiment, points, store, progress, checkpoint_dir, address=address, workers=workers)
    else:
        for point in points:
            claim = claim_point(store, point, progress)
            if claim is None:
                continue
            progress.start(point)
            directory = checkpoint_dir(point)
            try:
                outcome = execute_point(experiment.run, point.config, point.seed, directory)
            except BaseException:
                claim.release(done=False)
                raise
            if not outcome["ok"]:
                claim.release(done=False)
                progress.fail(point, outcome["error"], outcome.get("input_error", False))
                why = f": {outcome['error'].rstrip()}" if outcome.get("input_error") else "; traceback above"
                raise SweepFailed(f"{experiment.name}: {point.label} seed={point.seed} failed{why}")
            record_point(store, point, outcome, claim, directory, progress)
    if progress.left_to_others:
        print(f"[{experiment.name}] {len(progress.left_to_others)} point(s) were being computed by another run; "
              "their records appear when it finishes", file=log)
    store.refresh()
    if progress.failures:
        lines = [f"  {p.label} seed={p.seed}: {err.strip().splitlines()[-1]}" for p, err in progress.failures]
        raise SweepFailed(f"{experiment.name}: {len(progress.failures)} of {len(points)} points failed "
                          "(above); the others' records are written:\n" + "\n".join(lines))
    return store.records


def _labels(base, configs: Sequence) -> list[str]:
    """Each point's label: the fields that vary across the sweep (against the base config for a one-point sweep),
    one-element lists shown bare and left out where a single-value field already shows the same value."""
    dicts = [config_dict(c) for c in configs]
    reference = dicts if len(dicts) > 1 else [config_dict(base), *dicts]
    varying = [k for k in dicts[0] if any(d.get(k) != reference[0].get(k) for d in reference[1:])] if dicts else []
    labels = []
    for d in dicts:
        scalars = [d[k] for k in varying if not isinstance(d[k], list)]
        parts = []
        for k in varying:
            value = d[k]
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
                if value in scalars:
                    continue
            parts.append(f"{k}={value}")
        labels.append(" ".join(parts) or "config")
    return labels


def _summary(metrics: dict, limit: int = 4) -> str:
    parts = []
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{key}={value:.4g}")
        if len(parts) >= limit:
            break
    return " ".join(parts)
