"""Test helper shared by the checkpoint tests: a crash right after the n-th checkpoint save."""

import pytest


class Crash(Exception):
    """Stands for a process dying right after a checkpoint was written."""


def crash_after(monkeypatch: pytest.MonkeyPatch, module, saves: int) -> None:
    """Make the `saves`-th `module.save_checkpoint` call be followed by a crash."""
    real, count = module.save_checkpoint, [0]

    def save_then_crash(directory, state, meta):
        real(directory, state, meta)
        count[0] += 1
        if count[0] == saves:
            raise Crash

    monkeypatch.setattr(module, "save_checkpoint", save_then_crash)
