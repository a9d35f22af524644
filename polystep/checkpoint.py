"""Atomic checkpoints of a run's whole state (a pytree) plus JSON metadata, so a killed run resumes.

Built on orbax-checkpoint: each save is written to a temporary directory and renamed into place when complete,
and the previous checkpoint is removed only after that, so a kill at any moment leaves a loadable checkpoint.
Measured on a busy 2-core machine: about 0.1 s per save and 20-30 ms per load, for 2 k values as for 0.9 MB,
12-21x a bare numpy .npz + rename in the same run (plus 0.4 s once to import orbax). That fixed cost is
negligible for checkpoints taken every epoch or every few seconds; do not save more often than that.

    save_checkpoint(directory, state, meta)       # state: any pytree of arrays (typed PRNG keys included)
    load_checkpoint(directory, template)          # -> (state, meta), or None when there is no checkpoint
    clear_checkpoint(directory)                   # once the run's result is stored
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from polystep.validate import InputError

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "clear_checkpoint"]


class CheckpointError(InputError):
    """A checkpoint exists but cannot be read or does not fit the run; the message names it and the way out."""


def _ocp():
    import orbax.checkpoint as ocp

    return ocp


def _is_typed_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _to_storable(state: Any) -> Any:
    """Typed PRNG keys become their raw uint32 data (orbax stores plain arrays); Python scalars become arrays;
    zero-size arrays (an empty projection, say) become a one-element placeholder."""

    def convert(leaf):
        if _is_typed_key(leaf):
            return jax.random.key_data(leaf)
        if np.size(leaf) == 0:  # orbax refuses zero-size arrays; the template restores the empty leaf
            return np.zeros((1,), np.asarray(leaf).dtype)
        if isinstance(leaf, (bool, int, float, complex, np.generic)):
            return np.asarray(leaf)
        return leaf

    return jax.tree_util.tree_map(convert, state)


def _from_storable(restored: Any, template: Any) -> Any:
    """Undo `_to_storable`, leaf by leaf, following the template's leaf types."""

    def convert(stored, like):
        if np.size(like) == 0:
            return like
        if _is_typed_key(like):
            return jax.random.wrap_key_data(jax.numpy.asarray(stored), impl=jax.random.key_impl(like))
        if isinstance(like, (bool, int, float, complex)):
            return type(like)(np.asarray(stored).item())
        if isinstance(like, np.generic):
            return np.asarray(stored, dtype=like.dtype)[()]
        return stored

    return jax.tree_util.tree_map(convert, restored, template)


def _manager(directory: Path, read_only: bool = False):
    """One checkpoint kept; the temporary directories of saves killed midway are removed by the next save.
    A reading manager neither creates nor cleans anything (orbax's own read-only mode logs warnings instead)."""
    ocp = _ocp()
    options = ocp.CheckpointManagerOptions(
        max_to_keep=1, enable_async_checkpointing=False, create=not read_only, cleanup_tmp_directories=not read_only,
    )
    return ocp.CheckpointManager(Path(directory).absolute(), options=options)


def _corrupt(directory: Path, reason: str) -> CheckpointError:
    return CheckpointError(
        f"{directory}: the checkpoint cannot be used ({reason}); delete this directory to start the run over"
    )


def save_checkpoint(directory: Path, state: Any, meta: dict) -> None:
    """Store `state` (a pytree) and `meta` (a JSON-ready dict) in `directory`, replacing the previous checkpoint
    only once the new one is complete."""
    directory = Path(directory)
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta: must be a JSON-ready dict ({err})") from None
    ocp = _ocp()
    manager = _manager(directory)
    try:
        latest = manager.latest_step()
        step = 0 if latest is None else latest + 1
        manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_to_storable(state)), meta=ocp.args.JsonSave(meta)))
        manager.wait_until_finished()
    finally:
        manager.close()


def load_checkpoint(directory: Path, template: Any, fingerprint: str | None = None,
                    owner: str = "run", check_meta: Callable[[dict], None] | None = None) -> tuple[Any, dict] | None:
    """The latest (state, meta) in `directory`, shaped like `template`; None when there is none.

    Raises CheckpointError (a ValueError) naming the directory when the checkpoint is damaged or was written by
    a run whose state has another structure, shape or dtype, or, with `fingerprint`, when its meta's
    "fingerprint" differs (another `owner`: run, search, ...). `check_meta(meta)` runs before the state is read,
    so a caller that can name what differs (a setting) raises its own error before a structure mismatch would.
    """
    directory = Path(directory)
    if not directory.is_dir() or not any(p for p in directory.iterdir() if p.name.isdigit()):
        return None
    ocp = _ocp()
    storable = _to_storable(template)
    try:
        manager = _manager(directory, read_only=True)
    except Exception as err:  # orbax raises many kinds of error for a damaged directory
        raise _corrupt(directory, f"{type(err).__name__}: {err}") from err
    step = None
    try:
        step = manager.latest_step()
        if step is None:
            return None
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        _check_owner(meta, directory / str(step), fingerprint, owner, check_meta)  # before the state: names why
        state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(storable)))["state"]
    except CheckpointError:
        raise
    except Exception as err:
        where = directory if step is None else directory / str(step)
        raise _corrupt(where, f"{type(err).__name__}: {_first_line(err)}") from err
    finally:
        manager.close()
    mismatch = _mismatch(state, storable)
    if mismatch:
        raise _corrupt(directory / str(step), mismatch)
    return _from_storable(state, template), meta


def _check_owner(meta: Any, where: Path, fingerprint: str | None, owner: str,
                 check_meta: Callable[[dict], None] | None) -> None:
    """Refuse a checkpoint whose metadata is not a JSON object or belongs to another `owner` (its fingerprint, or
    the caller's `check_meta`), before its state is read."""
    if not isinstance(meta, dict):
        raise _corrupt(where, "its metadata is not a JSON object")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"{where.parent}: the checkpoint belongs to another {owner} ({meta.get('fingerprint')!r}; this {owner} "
            f"is {fingerprint!r}); delete this directory to start the {owner} over")
    if check_meta is not None:
        check_meta(meta)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else ""


def _mismatch(restored: Any, template: Any) -> str | None:
    """Why the restored state does not fit the template (None when it fits)."""
    leaves, treedef = jax.tree_util.tree_flatten(restored)
    like, like_def = jax.tree_util.tree_flatten(template)
    if treedef != like_def:
        return f"it holds another state structure than this run ({treedef} vs {like_def})"
    for got, want in zip(leaves, like):
        got_shape, want_shape = np.shape(got), np.shape(want)
        if got_shape != want_shape or np.asarray(got).dtype != np.asarray(want).dtype:
            return (f"a stored leaf is {np.asarray(got).dtype}{list(got_shape)} where this run expects "
                    f"{np.asarray(want).dtype}{list(want_shape)}")
    return None


def clear_checkpoint(directory: Path) -> None:
    """Delete the checkpoint directory (nothing happens when there is none)."""
    shutil.rmtree(Path(directory), ignore_errors=True)
