"""The evosax 0.3 adapter: an evosax-style loop, written as evosax users write it, drives every optimizer of
this package; PolyStep's `tell` refuses a population other than the one its `ask` returned."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from evosax.algorithms import Open_ES
from jax.flatten_util import ravel_pytree

import polystep
from polystep import compat, objectives

X0 = {"w": jnp.full((6,), 2.0), "b": jnp.array([-1.5, 2.5])}
GENERATIONS = 100


def evosax_loop(es, problem, mean, key, num_generations):
    """The usual evosax 0.3 loop (init, then ask / evaluate / tell in a scan), unchanged for any strategy."""
    params = es.default_params
    key, subkey = jax.random.split(key)
    state = es.init(subkey, mean, params)

    def step(carry, key):
        state, params = carry
        key_ask, key_tell = jax.random.split(key)
        population, state = es.ask(key_ask, state, params)
        fitness = jax.vmap(problem)(population)
        state, metrics = es.tell(key_tell, population, fitness, state, params)
        return (state, params), metrics

    (state, params), metrics = jax.lax.scan(step, (state, params), jax.random.split(key, num_generations))
    return state, metrics


def problem_of(name):
    fn = objectives.get(name)
    return lambda p: fn(ravel_pytree(p)[0])


def optimizer(name, problem):
    """One setting per optimizer (SPSA's gain depends on the curvature, so it has one per problem)."""
    return {
        "polystep": polystep.PolyStep(),
        "openai_es": polystep.OpenAIES(population_size=16, sigma=0.1, learning_rate=0.05, weight_decay=0.0),
        "cmaes": polystep.CMAES(sigma=1.0),
        "spsa": polystep.SPSA(a=0.1 if problem == "sphere" else 0.02, c=0.1, num_directions=4),
    }[name]


# Sphere: below 1% of the starting loss (32.5); Rastrigin (72.5 at the start, many local minima): below 70%.
@pytest.mark.parametrize("problem, fraction", [("sphere", 0.01), ("rastrigin", 0.7)])
@pytest.mark.parametrize("name", ["polystep", "openai_es", "cmaes", "spsa"])
def test_evosax_loop_optimizes(name, problem, fraction):
    loss = problem_of(problem)
    es = compat.evosax(optimizer(name, problem), solution=X0)
    state, metrics = jax.jit(lambda k: evosax_loop(es, loss, X0, k, GENERATIONS))(jax.random.key(0))
    start = float(loss(X0))
    assert float(state.best_fitness) < fraction * start
    assert int(state.generation_counter) == GENERATIONS
    # The state's best is a real candidate: its loss is the recorded best fitness.
    best = es.best_params(state)
    assert float(loss(best)) == pytest.approx(float(state.best_fitness), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(state.best_solution, ravel_pytree(best)[0])
    np.testing.assert_allclose(state.mean, ravel_pytree(es.get_mean(state))[0])
    # evosax's metrics, one row per generation; the running best never increases.
    assert metrics["best_fitness"].shape == (GENERATIONS,)
    assert metrics["best_solution"].shape == (GENERATIONS, 8)
    assert np.all(np.diff(np.asarray(metrics["best_fitness"])) <= 0)


def test_same_loop_matches_evosax_open_es():
    """The loop is evosax's own: evosax's Open_ES runs in it, and our OpenAI-ES with the same settings (Adam,
    sigma, population, centred ranks, no weight decay) follows the same trajectory (the same noise draws)."""
    loss = problem_of("sphere")
    theirs = Open_ES(population_size=16, solution=X0, optimizer=optax.adam(0.05),
                     std_schedule=optax.constant_schedule(0.1))
    ours = compat.evosax(optimizer("openai_es", "sphere"), solution=X0)
    reference, _ = jax.jit(lambda k: evosax_loop(theirs, loss, X0, k, 50))(jax.random.key(1))
    state, _ = jax.jit(lambda k: evosax_loop(ours, loss, X0, k, 50))(jax.random.key(1))
    assert float(state.best_fitness) == pytest.approx(float(reference.best_fitness), rel=1e-3)
    np.testing.assert_allclose(state.mean, reference.mean, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["polystep", "openai_es", "cmaes", "spsa"])
def test_population_size_and_dims(name):
    es = compat.evosax(optimizer(name, "sphere"), solution=X0)
    state = es.init(jax.random.key(0), X0, es.default_params)
    population, _ = es.ask(jax.random.key(1), state, es.default_params)
    assert jax.tree_util.tree_leaves(population)[0].shape[0] == es.population_size
    assert es.num_dims == 8
    assert int(state.generation_counter) == 0


def test_adapter_rejects_bad_arguments():
    es = compat.evosax(polystep.CMAES())
    with pytest.raises(ValueError, match="^solution:"):
        _ = es.population_size
    with pytest.raises(ValueError, match="^params:"):
        es.init(jax.random.key(0), X0, {"std_init": 0.1})
    with pytest.raises(ValueError, match="^optimizer:"):
        compat.evosax(object())


def _asked(opt):
    state = opt.init(jax.random.key(0), X0)
    population, state = opt.ask(jax.random.key(1), state)
    return state, population, jax.vmap(problem_of("sphere"))(population)


def test_polystep_tell_uses_the_asked_population():
    opt = polystep.PolyStep()
    state, population, fitness = _asked(opt)
    told = opt.tell(state, population, fitness)
    # The same update as from the compact blocks of the same ask, and the same as `step` with that key.
    blocks, state_b = opt.ask_blocks(jax.random.key(1), opt.init(jax.random.key(0), X0))
    from_blocks = opt.tell(state_b, blocks, fitness)
    np.testing.assert_array_equal(told.coords, from_blocks.coords)
    # A float64 round trip through numpy is the same population.
    as_numpy = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), population)
    np.testing.assert_array_equal(opt.tell(state, as_numpy, fitness).coords, told.coords)


@pytest.mark.parametrize("change", ["clipped", "reordered", "other step"])
def test_polystep_tell_rejects_another_population(change):
    opt = polystep.PolyStep()
    state, population, fitness = _asked(opt)
    if change == "clipped":
        other = jax.tree_util.tree_map(lambda x: jnp.clip(x, -2.0, 2.0), population)
    elif change == "reordered":
        other = jax.tree_util.tree_map(lambda x: x[::-1], population)
    else:
        other, _ = opt.ask(jax.random.key(2), state)
    with pytest.raises(ValueError, match="^population: differs from the candidates of the last ask"):
        opt.tell(state, other, fitness)
    blocks, state_b = opt.ask_blocks(jax.random.key(1), opt.init(jax.random.key(0), X0))
    with pytest.raises(ValueError, match="^population:"):
        opt.tell(state_b, blocks._replace(delta=blocks.delta * 1.5), fitness)
    with pytest.raises(ValueError, match="^population: expected a pytree"):
        opt.tell(state, {"w": population["w"]}, fitness)


def test_polystep_tell_rejects_another_population_under_jit():
    """Inside jit the check runs with the computation; the error carries the same message."""
    opt = polystep.PolyStep()
    state, population, fitness = _asked(opt)
    tell = jax.jit(opt.tell)
    jax.block_until_ready(tell(state, population, fitness))
    clipped = jax.tree_util.tree_map(lambda x: jnp.clip(x, -2.0, 2.0), population)
    with pytest.raises(Exception, match=re.escape("population: differs from the candidates of the last ask")):
        jax.block_until_ready(tell(state, clipped, fitness))
