"""Resumable MAX-SAT searches: a search given a checkpoint directory saves its whole state between two chunks.

A chunk is one compiled call: `chunk_flips` flips for probSAT and wpms (`BUDGET_CHUNK_FLIPS` under a flip budget
without a time limit), `steps_per_call` optimizer steps for PolyStep and the ES. Under a budget the chunk sizes
never depend on the clock, and a checkpoint is taken only between two chunks (once `CHECKPOINT_SECONDS` have
passed since the last one), so a resumed run makes exactly the moves of an uninterrupted one and ends with the
same result. Checkpoints go through `polystep.checkpoint` (atomic writes; a damaged one raises CheckpointError).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from polystep.checkpoint import load_checkpoint, save_checkpoint
from problems.maxsat.formula import Formula

# Default interval between saves. Measured on 2 busy cores (random 3-SAT, alpha 4.27): a save takes 0.1-0.3 s at
# n = 100K and 0.2-0.3 s (probSAT, 78 MB of state) / 0.4-0.5 s (wpms, 200 MB) at n = 1M.
CHECKPOINT_SECONDS = 30.0


def formula_digest(formula: Formula) -> str:
    """A short hash of a formula's content (variables, clauses, weights, hard flags)."""
    digest = hashlib.sha1(str(formula.n_vars).encode())
    for array in (formula.clauses, formula.weights, formula.hard):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def run_fingerprint(solver: str, formula: Formula, config: Any, seed: int, **budget: Any) -> str:
    """A text that identifies one search in its checkpoint: solver, formula, config, seed and budget."""
    limits = " ".join(f"{name}={value!r}" for name, value in sorted(budget.items()))
    return f"{solver} formula={formula_digest(formula)} seed={seed} {config!r} {limits}"


class SearchCheckpoint:
    """Saves and restores one search's state in `directory`, tagged with the search's `fingerprint`.

    A checkpoint whose fingerprint differs (another formula, solver, config, seed or budget) is refused with a
    CheckpointError instead of being continued.
    """

    def __init__(self, directory: Path, fingerprint: str, every_s: float | None = None):
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.every_s = CHECKPOINT_SECONDS if every_s is None else float(every_s)
        if not self.every_s >= 0:
            raise ValueError(f"checkpoint_seconds: must be >= 0, got {every_s!r}")
        self.last = time.perf_counter()
        self.saves = 0
        self.resumed_meta: dict | None = None  # the metadata of the checkpoint this search resumed from

    def restore(self, template: Any) -> tuple[Any, dict] | None:
        """(state, meta) of the saved chunk boundary, or None when there is no checkpoint."""
        found = load_checkpoint(self.directory, template, self.fingerprint, owner="search")
        if found is None:
            return None
        state, meta = found
        self.resumed_meta = meta
        return state, meta

    def due(self) -> bool:
        """True when the interval has passed since the last save (or since the search started)."""
        return time.perf_counter() - self.last >= self.every_s

    def save(self, state: Any, meta: dict) -> None:
        """Save `state` (a pytree) and `meta` (JSON-ready), tagged with the fingerprint; atomic."""
        save_checkpoint(self.directory, state, dict(meta, fingerprint=self.fingerprint))
        self.last = time.perf_counter()
        self.saves += 1


def restore_walker(checkpoint: SearchCheckpoint | None, walker) -> bool:
    """Load a saved local-search state (arrays, trace, search seconds) into `walker`; False when there is none."""
    if checkpoint is None:
        return False
    found = checkpoint.restore(walker.state_arrays())
    if found is None:
        return False
    arrays, meta = found
    walker.load_state_arrays(arrays)
    walker.trace = [tuple(row) for row in meta["trace"]]
    walker.elapsed = float(meta["elapsed_s"])
    return True


def walker_saver(checkpoint: SearchCheckpoint | None, walker) -> Callable[[], None] | None:
    """The `on_chunk` callback that saves `walker` (ProbSAT or WeightedLocalSearch) at its interval."""
    if checkpoint is None:
        return None

    def on_chunk() -> None:
        if checkpoint.due():
            meta = {"flips": walker.flips, "elapsed_s": walker.elapsed, "trace": [list(row) for row in walker.trace]}
            checkpoint.save(walker.state_arrays(), meta)

    return on_chunk
