"""SPSA (Spall 1992/1998): simultaneous-perturbation gradient estimates with the standard gain sequences.

Step k (from 0): a_k = a / (k + 1 + A)^alpha, c_k = c / (k + 1)^gamma, Rademacher directions Delta_j, and
theta <- theta - a_k * mean_j [(f(theta + c_k Delta_j) - f(theta - c_k Delta_j)) / (2 c_k)] Delta_j.
A pair with a non-finite loss contributes nothing (its losses are sanitized, then masked out); a move that
would overflow (finite losses near the float limits) is skipped, so theta stays finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from polystep import fitness as fit
from polystep.base import LossFn, auto_chunk, map_chunked
from polystep.flat import check_float_pytree, ravel, ravel_batch, strong, unravel_batch, unraveler
from polystep.validate import check_int, check_optional_int, check_real

PyTree = Any
Array = jax.Array


class SPSAState(NamedTuple):
    """SPSA state: flat point theta, best-so-far, step count k."""

    theta: Array
    best_loss: Array
    best_params: PyTree
    step: Array


@dataclass(frozen=True)
class SPSA:
    """Simultaneous perturbation stochastic approximation over a pytree of float parameters.

    `A` None -> 10% of `expected_steps` when that is given, else 0 (Spall's guideline).
    """

    a: float = 0.1
    c: float = 0.1
    alpha: float = 0.602
    gamma: float = 0.101
    A: float | None = None
    num_directions: int = 1
    expected_steps: int | None = None
    chunk_size: int | None = None

    def __post_init__(self) -> None:
        check_real(self.a, "a", lo=0, lo_open=True)
        check_real(self.c, "c", lo=0, lo_open=True)
        check_real(self.alpha, "alpha", lo=0, hi=1, lo_open=True)
        check_real(self.gamma, "gamma", lo=0, hi=0.5, lo_open=True)
        if self.A is not None:
            check_real(self.A, "A", lo=0)
        check_int(self.num_directions, "num_directions", lo=1)
        check_optional_int(self.expected_steps, "expected_steps", lo=1)
        check_optional_int(self.chunk_size, "chunk_size", lo=1)

    @property
    def stability(self) -> float:
        """The stability constant A actually used."""
        if self.A is not None:
            return float(self.A)
        return 0.1 * self.expected_steps if self.expected_steps else 0.0

    def gains(self, step: Array) -> tuple[Array, Array]:
        """(a_k, c_k) at step k (counted from 0)."""
        k = jnp.asarray(step, jnp.float32)
        return self.a / (k + 1 + self.stability) ** self.alpha, self.c / (k + 1) ** self.gamma

    def init(self, key: Array, params: PyTree) -> SPSAState:
        """Initial state at `params` (the key is unused; kept for the shared interface)."""
        del key
        check_float_pytree(params)
        params = strong(params)
        theta = ravel(params)
        return SPSAState(theta, jnp.asarray(jnp.inf, theta.dtype), params, jnp.asarray(0, jnp.int32))

    def params(self, state: SPSAState) -> PyTree:
        """The current point theta as a parameter pytree."""
        return unraveler(state.best_params)(state.theta)

    def _sample(self, key: Array, state: SPSAState) -> tuple[Array, Array]:
        """(candidates (2q, d): theta + c_k Delta_j then theta - c_k Delta_j, directions Delta (q, d))."""
        _, c_k = self.gains(state.step)
        delta = jax.random.rademacher(key, (self.num_directions, state.theta.size), state.theta.dtype)
        shift = c_k.astype(state.theta.dtype) * delta
        return jnp.concatenate([state.theta + shift, state.theta - shift]), delta

    def ask(self, key: Array, state: SPSAState) -> tuple[PyTree, SPSAState]:
        """The 2 * num_directions candidate points (plus-perturbations first), and the state."""
        candidates, _ = self._sample(key, state)
        return unravel_batch(unraveler(state.best_params), candidates), state

    def tell(self, state: SPSAState, population: PyTree, fitness: Array) -> SPSAState:
        """Update from the losses of a population returned by `ask`."""
        candidates = ravel_batch(population).astype(state.theta.dtype)
        delta = jnp.sign(candidates[: self.num_directions] - state.theta)
        return self._update(state, candidates, delta, jnp.asarray(fitness))

    def step(self, key: Array, state: SPSAState, loss_fn: LossFn) -> SPSAState:
        """One iteration: 2 * num_directions evaluations (vmapped, chunked) and a gain-scaled move."""
        candidates, delta = self._sample(key, state)
        unravel = unraveler(state.best_params)
        chunk = self.chunk_size or auto_chunk(candidates.shape[0], state.theta.size)
        losses = map_chunked(lambda flat: loss_fn(unravel(flat)), candidates, chunk)
        return self._update(state, candidates, delta, losses)

    def _update(self, state: SPSAState, candidates: Array, delta: Array, losses: Array) -> SPSAState:
        q, dtype = self.num_directions, state.theta.dtype
        a_k, c_k = (g.astype(dtype) for g in self.gains(state.step))
        losses = fit.as_losses(losses, dtype)
        ok = jnp.isfinite(losses[:q]) & jnp.isfinite(losses[q:])
        clean = fit.sanitize(losses)
        diff = jnp.where(ok, clean[:q] - clean[q:], 0.0)
        grad = (diff / (2 * c_k)) @ delta / jnp.maximum(jnp.sum(ok), 1).astype(dtype)
        # A move that overflows (finite but huge loss differences) is skipped: theta stays where it was.
        theta = fit.keep_if_finite(state.theta - a_k * grad, state.theta)
        best_loss, best_flat = fit.update_best(state.best_loss, ravel(state.best_params), candidates, losses)
        return SPSAState(
            theta=theta,
            best_loss=best_loss,
            best_params=unraveler(state.best_params)(best_flat),
            step=state.step + 1,
        )
