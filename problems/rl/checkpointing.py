"""Resumable training loops: save a loop's whole state at a time interval, restore it after a kill.

The RL loops (forward-only search, PPO, REINFORCE) run in rounds of `eval_every` generations or updates. After a
round, when at least `every_s` seconds have passed since the last save, the loop's state (optimizer state, PRNG
state, best parameters as a pytree; counters and curves as JSON metadata) goes to `directory` through
`polystep.checkpoint` (atomic). A resumed loop continues from the saved round and ends with the same record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from polystep.checkpoint import load_checkpoint, save_checkpoint

CHECKPOINT_SECONDS = 10.0  # default interval between saves (a save takes about 40 ms on 2 CPU cores)


class LoopCheckpoint:
    """Saves and restores one loop's state in `directory` (None: does nothing), tagged with a `fingerprint`.

    The fingerprint (a JSON-ready description of the run: settings and seed) must match on restore, so a
    checkpoint of another run is refused with a CheckpointError instead of being continued.
    """

    def __init__(self, directory: Path | None, fingerprint: Any, every_s: float = CHECKPOINT_SECONDS):
        self.directory = None if directory is None else Path(directory)
        self.fingerprint = fingerprint
        self.every_s = float(every_s)
        self.last = time.perf_counter()
        self.saves = 0

    def restore(self, template: Any) -> tuple[Any, dict] | None:
        """(state, meta) of the saved round, or None when there is no checkpoint (or no directory)."""
        if self.directory is None:
            return None
        return load_checkpoint(self.directory, template, self.fingerprint)

    def maybe_save(self, state: Any, meta: dict, final: bool = False) -> bool:
        """Save when the interval has passed (never after the last round: the record follows at once)."""
        if self.directory is None or final or time.perf_counter() - self.last < self.every_s:
            return False
        save_checkpoint(self.directory, state, dict(meta, fingerprint=self.fingerprint))
        self.last = time.perf_counter()
        self.saves += 1
        return True


def run_fingerprint(kind: str, *settings: Any, keys: tuple = ()) -> str:
    """A text that identifies one training run in its checkpoint: its kind, settings (reprs) and PRNG keys."""
    data = [np.asarray(jax.random.key_data(k)).ravel().tolist() for k in keys]
    return " ".join([kind, *map(repr, settings), repr(data)])
