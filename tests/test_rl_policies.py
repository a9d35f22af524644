"""Policies (tanh / int8 / binary, straight-through), rollouts, common random numbers and determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from problems.rl import Policy, evaluate, make, policy_for, population_fitness, trajectory
from problems.rl.policies import int8_activation, sign_activation


def test_int8_activation_is_on_the_int8_grid_and_close_to_tanh():
    z = jnp.linspace(-4, 4, 1001)
    q = int8_activation(z)
    codes = np.asarray(q) * 127
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-4)
    assert np.abs(codes).max() <= 127
    assert float(jnp.abs(q - jnp.tanh(z)).max()) <= 0.5 / 127 + 1e-6
    assert len(np.unique(np.round(codes))) > 200  # a staircase, not a constant


def test_sign_activation_values():
    z = jnp.array([-2.0, -1e-6, 0.0, 1e-6, 3.0])
    np.testing.assert_array_equal(np.asarray(sign_activation(z)), [-1, -1, 1, 1, 1])


@pytest.mark.parametrize("kind", ["int8", "binary"])
def test_straight_through_keeps_forward_values_and_passes_gradients(kind):
    pol = Policy(obs_size=4, n_actions=2, kind=kind)
    params = pol.init(jax.random.key(0))
    obs = jax.random.normal(jax.random.key(1), (32, 4))
    np.testing.assert_allclose(
        np.asarray(pol.logits(params, obs)), np.asarray(pol.logits(params, obs, straight_through=True)), atol=1e-6
    )
    loss = lambda p, st: pol.logits(p, obs, straight_through=st)[:, 0].sum()  # noqa: E731
    hard = jax.grad(loss)(params, False)["w1"]
    soft = jax.grad(loss)(params, True)["w1"]
    assert float(jnp.abs(hard).max()) == 0.0  # the hard model has no useful gradient for the first layer
    assert float(jnp.abs(soft).max()) > 0.0


def test_policy_shapes_and_bad_config():
    env = make("acrobot")
    pol = policy_for(env, "float")
    params = pol.init(jax.random.key(0))
    assert pol.n_params == sum(x.size for x in jax.tree_util.tree_leaves(params)) == 6 * 16 + 16 + 16 * 3 + 3
    actions = pol.act(params, jnp.zeros((5, 6)))
    assert actions.shape == (5,) and actions.dtype == jnp.int32
    with pytest.raises(ValueError, match="kind"):
        Policy(obs_size=4, n_actions=2, kind="int4")
    with pytest.raises(ValueError, match="hidden"):
        Policy(obs_size=4, n_actions=2, hidden=0)


def test_rollout_returns_match_a_manual_loop_and_are_deterministic():
    env = make("cartpole")
    pol = policy_for(env, "binary")
    params = pol.init(jax.random.key(3))
    keys = jax.random.split(jax.random.key(4), 3)
    eps = evaluate(env, pol, params, keys)
    again = evaluate(env, pol, params, keys)
    np.testing.assert_array_equal(np.asarray(eps.ret), np.asarray(again.ret))
    for i, key in enumerate(keys):
        state, obs = env.reset(key)
        total, steps = 0.0, 0
        while True:
            state, obs, r, term, trunc = env.step(state, pol.act(params, obs))
            total += float(r)
            steps += 1
            if term or trunc:
                break
        assert float(eps.ret[i]) == total and int(eps.length[i]) == steps
    physics, actions, alive = trajectory(env, pol, params, keys[0])
    assert physics.shape == (env.max_steps + 1, 4) and int(alive.sum()) == int(eps.length[0]) + 1


def test_population_fitness_uses_common_random_numbers():
    env = make("cartpole")
    pol = policy_for(env, "float")
    p = pol.init(jax.random.key(0))
    q = pol.init(jax.random.key(1))
    pop = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b, a]), p, q)
    keys = jax.random.split(jax.random.key(5), 4)
    fitness, steps = population_fitness(env, pol, pop, keys)
    assert float(fitness[0]) == float(fitness[2])  # same candidate, same reset keys -> same fitness
    np.testing.assert_allclose(float(fitness[1]), float(evaluate(env, pol, q, keys).ret.mean()))
    assert int(steps) == int(evaluate(env, pol, p, keys).length.sum() * 2 + evaluate(env, pol, q, keys).length.sum())
