"""evosax 0.3 signatures for the optimizers of this package, so evosax-style loops and harnesses drive them.

    es = polystep.compat.evosax(polystep.CMAES(), solution=x0)
    params = es.default_params
    state = es.init(key, x0, params)
    population, state = es.ask(key_ask, state, params)
    state, metrics = es.tell(key_tell, population, fitness, state, params)   # fitness is minimized

The wrapped optimizer keeps its own hyperparameters (`params` carries none) and its own state (`state.inner`);
`state.best_fitness`, `state.best_solution` and `state.mean` (flat vectors, as in evosax) are kept in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from polystep.validate import fail

PyTree = Any
Array = jax.Array


class EvosaxParams(NamedTuple):
    """The adapter's strategy parameters: none (set hyperparameters on the wrapped optimizer instead)."""


class EvosaxState(NamedTuple):
    """evosax-style state around the wrapped optimizer's own state `inner`."""

    inner: Any
    mean: Array  # (d,) flat current estimate
    best_solution: Array  # (d,) flat best candidate so far
    best_fitness: Array  # its loss
    generation_counter: Array  # int32 number of `tell`s so far


@dataclass(frozen=True)
class EvosaxAdapter:
    """An optimizer of this package (PolyStep, OpenAIES, CMAES, SPSA) behind evosax 0.3's init / ask / tell.

    `solution` (a parameter pytree shaped like the ones searched) is only needed for `population_size` and
    `num_dims` before `init`, as evosax strategies take it at construction.
    """

    optimizer: Any
    solution: PyTree | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for method in ("init", "ask", "tell", "params"):
            if not callable(getattr(self.optimizer, method, None)):
                fail("optimizer", f"must provide init / ask / tell / params (an optimizer of this package), "
                     f"got {type(self.optimizer).__name__} without {method}()")

    @property
    def default_params(self) -> EvosaxParams:
        """The (empty) strategy parameters to pass to init / ask / tell."""
        return EvosaxParams()

    def _shapes(self) -> tuple[int, int]:
        if self.solution is None:
            fail("solution", "give a parameter pytree (evosax(optimizer, solution=...)) to know the population "
                 "size and dimension before init")
        key = jax.random.key(0)
        population = jax.eval_shape(lambda: self.optimizer.ask(key, self.optimizer.init(key, self.solution))[0])
        n = jax.tree_util.tree_leaves(population)[0].shape[0]
        return int(n), int(ravel_pytree(self.solution)[0].size)

    @property
    def population_size(self) -> int:
        """Candidates per generation for parameters shaped like `solution`."""
        return self._shapes()[0]

    @property
    def num_dims(self) -> int:
        """Number of scalar parameters in `solution`."""
        return self._shapes()[1]

    def init(self, key: Array, mean: PyTree, params: EvosaxParams | None = None) -> EvosaxState:
        """A state centred on the parameter pytree `mean` (evosax: `es.init(key, mean, params)`)."""
        _check_params(params)
        inner = self.optimizer.init(key, mean)
        flat = ravel_pytree(self.optimizer.params(inner))[0]
        return EvosaxState(inner, flat, ravel_pytree(inner.best_params)[0], inner.best_loss,
                           jnp.zeros((), jnp.int32))

    def ask(self, key: Array, state: EvosaxState, params: EvosaxParams | None = None) -> tuple[PyTree, EvosaxState]:
        """The generation's candidates (a pytree whose leaves have a leading population axis) and the state."""
        _check_params(params)
        population, inner = self.optimizer.ask(key, state.inner)
        return population, state._replace(inner=inner)

    def tell(self, key: Array, population: PyTree, fitness: Array, state: EvosaxState,
             params: EvosaxParams | None = None) -> tuple[EvosaxState, dict[str, Array]]:
        """Update from the losses `fitness` (minimized) of `population`; returns the state and evosax's metrics.

        `key` is accepted for the evosax signature; the optimizers' updates draw no randomness.
        """
        del key
        _check_params(params)
        fitness = jnp.asarray(fitness)
        inner = self.optimizer.tell(state.inner, population, fitness)
        mean = ravel_pytree(self.optimizer.params(inner))[0]
        best_solution = ravel_pytree(inner.best_params)[0]
        flat_population = jax.vmap(lambda p: ravel_pytree(p)[0])(population)
        index = jnp.argmin(jnp.where(jnp.isnan(fitness), jnp.inf, fitness))
        state = EvosaxState(inner, mean, best_solution, inner.best_loss, state.generation_counter + 1)
        metrics = {
            "generation_counter": state.generation_counter,
            "best_fitness_in_generation": fitness[index],
            "best_solution_in_generation": flat_population[index],
            "best_fitness": state.best_fitness,
            "best_solution": best_solution,
            "best_solution_norm": jnp.linalg.norm(best_solution),
            "mean": mean,
            "mean_norm": jnp.linalg.norm(mean),
        }
        return state, metrics

    def get_mean(self, state: EvosaxState) -> PyTree:
        """The current estimate as a parameter pytree (evosax's `get_mean`)."""
        return self.optimizer.params(state.inner)

    def best_params(self, state: EvosaxState) -> PyTree:
        """The best candidate so far as a parameter pytree."""
        return state.inner.best_params


def evosax(optimizer: Any, solution: PyTree | None = None) -> EvosaxAdapter:
    """Wrap `optimizer` (PolyStep, OpenAIES, CMAES, SPSA) with evosax 0.3's init / ask / tell signatures."""
    return EvosaxAdapter(optimizer, solution)


def _check_params(params: Any) -> None:
    if params is not None and not isinstance(params, EvosaxParams):
        fail("params", f"must be the adapter's default_params (EvosaxParams) or None, got {type(params).__name__}; "
             "hyperparameters are set on the wrapped optimizer")
