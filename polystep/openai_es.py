"""OpenAI-ES (Salimans et al. 2017): antithetic Gaussian probes, centred-rank shaping, optax on the estimate.

Minimizes a loss. The gradient estimate is g = 1 / (N sigma) * sum_i u_i eps_i, where u_i are the shaped
losses of the candidates mean + sigma eps_i, plus `weight_decay * mean`; any optax transformation turns g into
the update (default: Adam with `learning_rate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from polystep import fitness as fit
from polystep.base import LossFn, auto_chunk, map_chunked
from polystep.flat import check_float_pytree, ravel, ravel_batch, strong, unravel_batch, unraveler
from polystep.validate import check_bool, check_int, check_optional_int, check_real, fail

PyTree = Any
Array = jax.Array


class OpenAIESState(NamedTuple):
    """OpenAI-ES state: flat mean, optax state, sigma, best-so-far, step count, mean finite loss of the last step."""

    mean: Array
    opt_state: Any
    sigma: Array
    best_loss: Array
    best_params: PyTree
    step: Array
    mean_loss: Array


@dataclass(frozen=True)
class OpenAIES:
    """OpenAI evolution strategy over any pytree of float parameters (init / step / params / ask / tell).

    `optimizer` (an optax GradientTransformation) overrides the default `optax.adam(learning_rate)`.
    `sigma` decays geometrically by `sigma_decay` per step down to `sigma_min`.
    """

    population_size: int = 50
    sigma: float = 0.02
    learning_rate: float = 0.01
    optimizer: optax.GradientTransformation | None = None
    antithetic: bool = True
    rank_shaping: bool = True
    weight_decay: float = 0.01
    chunk_size: int | None = None
    sigma_decay: float = 1.0
    sigma_min: float = 0.0

    def __post_init__(self) -> None:
        check_int(self.population_size, "population_size", lo=2)
        check_bool(self.antithetic, "antithetic")
        check_bool(self.rank_shaping, "rank_shaping")
        if self.antithetic and self.population_size % 2:
            fail("population_size", f"must be even with antithetic sampling, got {self.population_size}")
        check_real(self.sigma, "sigma", lo=0, lo_open=True)
        check_real(self.learning_rate, "learning_rate", lo=0, lo_open=True)
        check_real(self.weight_decay, "weight_decay", lo=0)
        check_real(self.sigma_decay, "sigma_decay", lo=0, hi=1, lo_open=True)
        check_real(self.sigma_min, "sigma_min", lo=0)
        check_optional_int(self.chunk_size, "chunk_size", lo=1)
        if self.optimizer is not None and not isinstance(self.optimizer, optax.GradientTransformation):
            fail("optimizer", f"must be an optax.GradientTransformation or None, got {self.optimizer!r}")

    @property
    def transform(self) -> optax.GradientTransformation:
        """The optax transformation applied to the estimated gradient."""
        return self.optimizer if self.optimizer is not None else optax.adam(self.learning_rate)

    def init(self, key: Array, params: PyTree) -> OpenAIESState:
        """Initial state centred on `params` (the key is unused; kept for the shared interface)."""
        del key
        check_float_pytree(params)
        params = strong(params)
        mean = ravel(params)
        return OpenAIESState(
            mean=mean,
            opt_state=self.transform.init(mean),
            sigma=jnp.asarray(self.sigma, mean.dtype),
            best_loss=jnp.asarray(jnp.inf, mean.dtype),
            best_params=params,
            step=jnp.asarray(0, jnp.int32),
            mean_loss=jnp.asarray(jnp.inf, mean.dtype),
        )

    def params(self, state: OpenAIESState) -> PyTree:
        """The current mean as a parameter pytree."""
        return unraveler(state.best_params)(state.mean)

    def _noise(self, key: Array, state: OpenAIESState) -> Array:
        shape = (self.population_size // 2 if self.antithetic else self.population_size, state.mean.size)
        eps = jax.random.normal(key, shape, state.mean.dtype)
        return jnp.concatenate([eps, -eps]) if self.antithetic else eps

    def _update(self, state: OpenAIESState, candidates: Array, eps: Array, losses: Array) -> OpenAIESState:
        dtype = state.mean.dtype
        losses = fit.as_losses(losses, dtype)
        if self.rank_shaping:
            shaped = fit.centered_ranks(fit.ranking_key(losses))
        else:
            shaped = fit.standardized(fit.sanitize(losses))
        grad = shaped.astype(dtype) @ eps / (self.population_size * state.sigma) + self.weight_decay * state.mean
        updates, opt_state = self.transform.update(grad, state.opt_state, state.mean)
        mean = optax.apply_updates(state.mean, updates).astype(dtype)
        # A step whose estimate or update overflows (e.g. a tiny sigma, a plain-SGD optimizer) is skipped.
        mean, opt_state = fit.keep_if_finite((mean, opt_state), (state.mean, state.opt_state))
        best_loss, best_flat = fit.update_best(state.best_loss, ravel(state.best_params), candidates, losses)
        sigma = jnp.maximum(state.sigma * self.sigma_decay, self.sigma_min)
        return OpenAIESState(
            mean=mean,
            opt_state=opt_state,
            sigma=sigma.astype(state.sigma.dtype),
            best_loss=best_loss,
            best_params=unraveler(state.best_params)(best_flat),
            step=state.step + 1,
            mean_loss=fit.finite_mean(losses),
        )

    def ask(self, key: Array, state: OpenAIESState) -> tuple[PyTree, OpenAIESState]:
        """The population (pytree with a leading axis of `population_size`) to evaluate, and the state."""
        candidates = state.mean + state.sigma * self._noise(key, state)
        return unravel_batch(unraveler(state.best_params), candidates), state

    def tell(self, state: OpenAIESState, population: PyTree, fitness: Array) -> OpenAIESState:
        """Update from the losses (lower is better) of a population returned by `ask`."""
        candidates = ravel_batch(population).astype(state.mean.dtype)
        eps = (candidates - state.mean) / state.sigma
        return self._update(state, candidates, eps, jnp.asarray(fitness))

    def step(self, key: Array, state: OpenAIESState, loss_fn: LossFn) -> OpenAIESState:
        """One generation: sample, evaluate `loss_fn` vmapped in chunks of `chunk_size`, update."""
        eps = self._noise(key, state)
        candidates = state.mean + state.sigma * eps
        unravel = unraveler(state.best_params)
        chunk = self.chunk_size or auto_chunk(self.population_size, state.mean.size)
        losses = map_chunked(lambda flat: loss_fn(unravel(flat)), candidates, chunk)
        return self._update(state, candidates, eps, losses)
