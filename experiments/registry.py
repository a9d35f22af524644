"""Experiment descriptions and their discovery: every module in `experiments/` that defines `EXPERIMENT`."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Modules of this package that are infrastructure, not experiments.
_INFRASTRUCTURE = {"__main__", "cli", "registry", "records", "runner", "report", "overrides", "progress",
                   "backends"}


@dataclass(frozen=True)
class Experiment:
    """One experiment: a config dataclass, a per-(config, seed) run, and how to plot and tabulate records.

    `points(config)` expands a base config into the configs of a sweep (default: just the config);
    `quick` holds the field overrides of `--quick` (sizes that run in CI on 2 CPU cores); `presets` maps the
    values of a config field named `preset` to the field values that preset sets.
    `docs` names the page (relative to the repository root) with the full-size results and how to reproduce them;
    the tour links it under the quick table. With `checkpoints=True`, `run` is called as
    `run(config, seed, checkpoint_dir=...)`: a directory (next to the records) where the run saves its state to
    resume after a kill; the runner deletes it once the record is written.
    """

    name: str
    description: str
    config_cls: type
    run: Callable[[Any, int], dict]
    plot: Callable[[list[dict], Path], list[Path]] | None = None
    table: Callable[[list[dict]], str] | None = None
    points: Callable[[Any], Sequence[Any]] | None = None
    quick: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    quick_seeds: tuple[int, ...] = (0,)
    checkpoints: bool = False
    presets: dict[str, dict] = field(default_factory=dict)
    docs: str = ""

    def make_config(self, quick: bool = False, overrides: dict | None = None) -> Any:
        """Default config with the quick overrides, then the chosen preset's values, then the user's overrides
        applied (a field the user sets wins over the preset, even when set to its plain default)."""
        values = dict(self.quick) if quick else {}
        overrides = dict(overrides or {})
        preset = overrides.get("preset")
        if isinstance(preset, str) and preset in self.presets:
            values.update(self.presets[preset])
            overrides["preset"] = ""  # applied: the config carries the resolved values
        values.update(overrides)
        return dataclasses.replace(self.config_cls(), **values)

    def expand(self, config: Any) -> list[Any]:
        return list(self.points(config)) if self.points else [config]


def _discover() -> dict[str, Experiment]:
    import experiments

    found: dict[str, Experiment] = {}
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name in _INFRASTRUCTURE or info.name.startswith(("bench_", "_")):
            continue
        module = importlib.import_module(f"experiments.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            if exp.name in found:
                raise RuntimeError(f"two experiments are named {exp.name!r}")
            found[exp.name] = exp
    return dict(sorted(found.items()))


_CACHE: dict[str, Experiment] | None = None


def all_experiments() -> dict[str, Experiment]:
    global _CACHE
    if _CACHE is None:
        _CACHE = _discover()
    return _CACHE


def names() -> list[str]:
    return list(all_experiments())


def get(name: str) -> Experiment:
    table = all_experiments()
    if name not in table:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(table) or '(none)'}")
    return table[name]
