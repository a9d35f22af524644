"""Step-indexed schedules: a float is a constant; any `step -> value` callable (optax schedules) is used as is.

A schedule is checked twice. At construction, `check` evaluates it at the steps in CHECK_STEPS and raises a
ValueError naming the field when a value is not a finite number in range. Inside a jitted step, `guard`
replaces any later value that is NaN, infinite or out of range by `fallback` (PolyStep then does not move
at that step), since a traced step cannot raise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from polystep.validate import check_real, fail

Schedule = float | Callable[[jnp.ndarray], jnp.ndarray]

# Steps at which a schedule is evaluated when an optimizer is constructed.
CHECK_STEPS = (0, 1, 10)


@dataclass(frozen=True)
class InverseTimeDecay:
    """`initial / (1 + step / timescale)`: a slow (harmonic) decay that never stops moving (its sum diverges).

    PolyStep's default epsilon is `InverseTimeDecay(0.1, 100.0)`; with float radii (multiplied by epsilon) the
    step and probe radii shrink with it, so a run started next to a minimum settles instead of jittering.
    """

    initial: float = 0.1
    timescale: float = 100.0

    def __post_init__(self) -> None:
        check_real(self.initial, "initial", lo=0, lo_open=True)
        check_real(self.timescale, "timescale", lo=0, lo_open=True)

    def __call__(self, step) -> jnp.ndarray:
        return self.initial / (1.0 + jnp.asarray(step, jnp.float32) / self.timescale)


def evaluate(schedule: Schedule, step) -> jnp.ndarray:
    """The schedule's value at `step` (a traced int is fine)."""
    if callable(schedule):
        return jnp.asarray(schedule(step), jnp.float32)
    return jnp.asarray(schedule, jnp.float32)


def radius(schedule: Schedule, epsilon: jnp.ndarray, step) -> jnp.ndarray:
    """A radius at `step`: a float radius is multiplied by epsilon(t); a scheduled radius is used as is."""
    if callable(schedule):
        return evaluate(schedule, step)
    return jnp.asarray(schedule, jnp.float32) * epsilon


def check(schedule, field: str, positive: bool) -> None:
    """A finite number > 0 (`positive`) or >= 0, or a callable whose values at CHECK_STEPS are; else ValueError.

    A positive schedule must be > 0 at step 0 and finite and >= 0 at the later checked steps (a fast decay may
    underflow to 0; the step then stands still).
    """
    allowed = "> 0" if positive else ">= 0"
    if not callable(schedule):
        check_real(schedule, field, lo=0, lo_open=positive)
        return
    for step in CHECK_STEPS:
        try:
            with jax.ensure_compile_time_eval():
                value = jnp.asarray(schedule(jnp.asarray(step, jnp.int32)))
                ok_shape = value.size == 1 and jnp.issubdtype(value.dtype, jnp.number)
                number = float(value.reshape(())) if ok_shape else None
        except Exception as error:  # a user callable can fail in any way; report it against the field
            fail(field, f"the schedule failed at step {step}: {type(error).__name__}: {error}")
        if number is None:
            fail(field, f"the schedule must return one real number, got {value!r} at step {step}")
        # Strictly positive at step 0; later a decay may underflow to 0 (such a step stands still, see `guard`).
        strict = positive and step == 0
        if not (math.isfinite(number) and (number > 0 if strict else number >= 0)):
            fail(field, f"the schedule must return finite values {allowed}, got {number} at step {step}")


def guard(value: jnp.ndarray, positive: bool) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(value if it is finite and > 0 / >= 0 else 0, whether it was)."""
    ok = jnp.isfinite(value) & ((value > 0) if positive else (value >= 0))
    return jnp.where(ok, value, 0.0), ok
