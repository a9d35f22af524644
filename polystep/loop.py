"""A jitted optimization loop (lax.scan) for any optimizer of the shared interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from polystep.base import Array, PyTree
from polystep.validate import check_bool, check_int, fail


def minimize(
    optimizer: Any,
    loss_fn: Callable[[PyTree], Array],
    params: PyTree,
    key: Array,
    steps: int,
    record_params: bool = False,
) -> tuple:
    """Run `steps` steps of `optimizer` on a fixed `loss_fn` in one compiled scan.

    Returns `(state, losses)`: the final state and the loss of the current estimate after each step (steps,);
    with `record_params=True`, `(state, losses, params_history)` where each leaf gains a leading steps axis.
    """
    if not callable(loss_fn):
        fail("loss_fn", f"must be a callable params -> scalar loss, got {loss_fn!r}")
    steps = check_int(steps, "steps", lo=1)
    check_bool(record_params, "record_params")
    init_key, run_key = jax.random.split(key)
    state = optimizer.init(init_key, params)

    def body(state, step_key):
        state = optimizer.step(step_key, state, loss_fn)
        current = optimizer.params(state)
        return state, (loss_fn(current), current if record_params else None)

    state, (losses, history) = jax.jit(lambda s, k: jax.lax.scan(body, s, k))(
        state, jax.random.split(run_key, steps)
    )
    return (state, losses, history) if record_params else (state, losses)
