"""Run an experiment's sweep over configs and seeds, skipping records already written."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from experiments.records import RecordStore, config_dict, record_key
from experiments.registry import Experiment
from polystep.checkpoint import clear_checkpoint

DEFAULT_OUT = Path("results")


def run_experiment(
    experiment: Experiment,
    quick: bool = False,
    seeds: Sequence[int] | None = None,
    overrides: dict | None = None,
    out: Path = DEFAULT_OUT,
    log=sys.stderr,
) -> list[dict]:
    """Run every (point, seed) of `experiment` not yet in its record file; return all its records.

    Each finished pair is written at once (atomically), so a killed run loses at most the pair in progress.
    """
    base = experiment.make_config(quick=quick, overrides=overrides)
    seeds = tuple(seeds) if seeds else (experiment.quick_seeds if quick else experiment.seeds)
    store = RecordStore(out, experiment.name)
    jobs = [(cfg, seed) for cfg in experiment.expand(base) for seed in seeds]
    total = len(jobs)
    started = time.perf_counter()
    for index, (cfg, seed) in enumerate(jobs, start=1):
        cdict = config_dict(cfg)
        label = _label(base, cfg)
        if store.has(cdict, seed):
            print(f"[{experiment.name} {index}/{total}] {label} seed={seed}: done already, skipped", file=log)
            continue
        checkpoint_dir = checkpoint_path(out, experiment.name, cdict, seed) if experiment.checkpoints else None
        t0 = time.perf_counter()
        if checkpoint_dir is None:
            metrics = experiment.run(cfg, seed)
        else:
            metrics = experiment.run(cfg, seed, checkpoint_dir=checkpoint_dir)
        wall = time.perf_counter() - t0
        store.add(cdict, seed, metrics, wall)
        if checkpoint_dir is not None:
            clear_checkpoint(checkpoint_dir)
        elapsed = time.perf_counter() - started
        print(
            f"[{experiment.name} {index}/{total}] {label} seed={seed}: {_summary(metrics)} "
            f"({wall:.1f}s, {elapsed:.0f}s elapsed)",
            file=log,
            flush=True,
        )
    return store.records


def checkpoint_path(out: Path, experiment: str, config: dict, seed: int) -> Path:
    """Where the run of one (config, seed) point keeps its checkpoint: beside the experiment's records."""
    return Path(out) / experiment / "checkpoints" / record_key(config, seed)


def _label(base, cfg) -> str:
    """The fields in which a sweep point differs from the base config."""
    a, b = config_dict(base), config_dict(cfg)
    diff = [f"{k}={b[k]}" for k in b if a.get(k) != b[k]]
    return " ".join(diff) or "config"


def _summary(metrics: dict, limit: int = 4) -> str:
    parts = []
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{key}={value:.4g}")
        if len(parts) >= limit:
            break
    return " ".join(parts)
