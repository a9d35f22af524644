"""Forward-only search and gradient baselines on tiny budgets: they improve, are deterministic, reject bad input."""

import dataclasses

import jax
import numpy as np
import pytest

from experiments import rl_policy_search as exp
from problems.rl import (
    PPOConfig,
    ReinforceConfig,
    SearchConfig,
    evaluate,
    make,
    policy_for,
    search,
    train_ppo,
    train_reinforce,
)

ENV = make("cartpole", max_steps=100)  # short episodes keep the tests fast
VAL = jax.random.split(jax.random.key(9), 4)


def test_polystep_improves_cartpole_and_is_deterministic():
    pol = policy_for(ENV, "binary")
    cfg = SearchConfig(optimizer="polystep", evaluations=6 * 228, rollouts=2, eval_every=3, init_samples=0)
    a = search(ENV, pol, cfg, jax.random.key(0), VAL)
    b = search(ENV, pol, cfg, jax.random.key(0), VAL)
    assert a.curve_return == b.curve_return and a.env_steps == b.env_steps
    assert a.evaluations == 6 * 228 and a.population == 228 and a.generations == 6
    assert max(a.curve_return) > a.curve_return[0]
    assert max(a.curve_return) >= 4 * a.curve_return[0]  # from ~9 (falls at once) to several times that
    np.testing.assert_allclose(float(evaluate(ENV, pol, a.params, VAL).ret.mean()), max(a.curve_return))


@pytest.mark.parametrize("name,pop", [("openai_es", 50), ("cmaes", 16)])
def test_baseline_searches_spend_the_same_budget(name, pop):
    pol = policy_for(ENV, "int8")
    cfg = SearchConfig(optimizer=name, evaluations=8 + 4 * pop + 3, rollouts=2, eval_every=2, init_samples=8)
    res = search(ENV, pol, cfg, jax.random.key(1), VAL)
    assert res.population == pop and res.generations == 4
    assert res.evaluations == 8 + 4 * pop <= cfg.evaluations
    assert res.curve_evaluations == [8, 8 + 2 * pop, 8 + 4 * pop]


def test_ppo_and_reinforce_learn_on_a_short_cartpole():
    pol = policy_for(ENV, "float")
    ppo = train_ppo(ENV, pol, PPOConfig(env_steps=4 * 8 * 64, num_envs=8, num_steps=64, lr=3e-3), jax.random.key(0),
                    VAL, eval_every=2)
    assert ppo.env_steps == 4 * 8 * 64 and len(ppo.curve_return) == 3
    assert max(ppo.curve_return) > ppo.curve_return[0]
    again = train_ppo(ENV, pol, PPOConfig(env_steps=4 * 8 * 64, num_envs=8, num_steps=64, lr=3e-3),
                      jax.random.key(0), VAL, eval_every=2)
    assert again.curve_return == ppo.curve_return
    rf = train_reinforce(ENV, policy_for(ENV, "binary"), ReinforceConfig(env_steps=3000, num_envs=8),
                         jax.random.key(0), VAL, eval_every=4)
    assert rf.env_steps >= 3000 and len(rf.curve_return) >= 2


def test_bad_configs_raise_value_errors_naming_the_field():
    with pytest.raises(ValueError, match="optimizer"):
        SearchConfig(optimizer="adam")
    with pytest.raises(ValueError, match="rollouts"):
        SearchConfig(rollouts=0)
    with pytest.raises(ValueError, match="init_samples"):
        SearchConfig(init_samples=-1)
    with pytest.raises(ValueError, match="evaluations"):
        search(ENV, policy_for(ENV, "float"), SearchConfig(evaluations=100, init_samples=8), jax.random.key(0), VAL)
    with pytest.raises(ValueError, match="minibatches"):
        PPOConfig(num_envs=3, num_steps=5, minibatches=4)
    with pytest.raises(ValueError, match="lr"):
        ReinforceConfig(lr=0.0)
    base = exp.RLSearchConfig()
    with pytest.raises(ValueError, match="policy"):
        exp.points(dataclasses.replace(base, policy="float,int4"))
    with pytest.raises(ValueError, match="env"):
        exp.points(dataclasses.replace(base, env="pong"))
    with pytest.raises(ValueError, match="optimizer"):
        exp.run(dataclasses.replace(base, env="cartpole", policy="float"), 0)  # 'all' is a sweep, not a point


def test_sweep_points_expand_lists_and_all():
    pts = exp.points(exp.RLSearchConfig(env="cartpole", policy="all", optimizer="polystep,ppo"))
    assert [(p.policy, p.optimizer) for p in pts] == [
        ("float", "polystep"), ("float", "ppo"), ("int8", "polystep"), ("int8", "ppo"),
        ("binary", "polystep"), ("binary", "ppo"),
    ]
    assert len(exp.points(exp.RLSearchConfig())) == 2 * 3 * 5


def test_rank_and_zscore_shaping_order_costs_like_negative_returns():
    from problems.rl.search import centred_ranks, shaped_costs

    f = jax.numpy.array([3.0, -1.0, 3.0, 10.0, 0.0])
    r = np.asarray(centred_ranks(f))
    np.testing.assert_allclose(r, [0.125, -0.5, 0.125, 0.5, -0.25])  # ties share their average rank
    np.testing.assert_allclose(np.asarray(centred_ranks(jax.numpy.full((4,), 500.0))), 0.0)  # all tie: flat
    for kind in ("rank", "zscore", "none"):
        c = np.asarray(shaped_costs(f, kind, 100.0))
        assert np.argmin(c) == 3 and np.argmax(c) == 1
    np.testing.assert_allclose(np.asarray(shaped_costs(f, "none", 100.0)), -np.asarray(f) / 100.0)
    z = np.asarray(shaped_costs(f, "zscore", 100.0))
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=1e-4)


def test_epsilon_decay_and_radius_cap_reach_the_optimizer():
    opt = SearchConfig(epsilon=0.2, epsilon_decay=0.25, radius_max_scale=4.0, momentum=0.5).make_optimizer(40)
    assert callable(opt.epsilon) and opt.radius_max_scale == 4.0 and opt.momentum == 0.5
    np.testing.assert_allclose([float(opt.epsilon(0)), float(opt.epsilon(40))], [0.2, 0.05], rtol=1e-5)
    assert SearchConfig().make_optimizer().epsilon == 0.1  # no decay: a constant
    with pytest.raises(ValueError, match="shaping"):
        SearchConfig(shaping="softmax")
    with pytest.raises(ValueError, match="epsilon_decay"):
        SearchConfig(epsilon_decay=0.0)
    with pytest.raises(ValueError, match="radius_max_scale"):
        SearchConfig(radius_max_scale=0.5)


def test_rank_shaped_polystep_search_improves_and_is_deterministic():
    pol = policy_for(ENV, "float")
    cfg = SearchConfig(optimizer="polystep", evaluations=4 * 228, rollouts=2, eval_every=2, init_samples=0,
                       shaping="rank", momentum=0.5, epsilon_decay=0.5)
    a = search(ENV, pol, cfg, jax.random.key(3), VAL)
    b = search(ENV, pol, cfg, jax.random.key(3), VAL)
    assert a.curve_return == b.curve_return and a.generations == 4
    assert max(a.curve_return) > a.curve_return[0]


def test_experiment_fills_env_defaults_only_where_unset():
    acro = exp.search_config(exp.RLSearchConfig(env="acrobot", policy="float", optimizer="polystep"))
    assert (acro.rollouts, acro.step_radius, acro.probe_radius, acro.momentum) == (16, 0.3, 2.0, 0.8)
    assert acro.select_episodes == 64
    cart = exp.search_config(exp.RLSearchConfig(env="cartpole", policy="float", optimizer="polystep", rollouts=4))
    assert (cart.rollouts, cart.step_radius, cart.momentum) == (4, 1.0, 0.5)
    with pytest.raises(ValueError, match="env"):
        exp.search_config(exp.RLSearchConfig())


def test_selection_episodes_are_counted_in_the_budget():
    pol = policy_for(ENV, "float")
    budget = 8 + 3 * 50 + 3 * 2  # init, three generations, three checkpoints of ceil(3 / 2) = 2 evaluations
    cfg = SearchConfig(optimizer="openai_es", evaluations=budget + 10, rollouts=2, eval_every=2, init_samples=8,
                       select_episodes=3)
    res = search(ENV, pol, cfg, jax.random.key(1), VAL)
    assert res.generations == 3 and res.evaluations == budget <= cfg.evaluations
    assert res.curve_evaluations == [8, 8 + 100 + 4, 8 + 150 + 6]
    assert res.episodes == (8 + 150) * 2 + 3 * 3
    with pytest.raises(ValueError, match="select_episodes"):
        SearchConfig(select_episodes=-1)


def test_line_search_keeps_the_best_step_length_and_counts_its_evaluations():
    from problems.rl.search import line_search_step, step_lengths

    pol = policy_for(ENV, "int8")
    np.testing.assert_allclose(np.asarray(step_lengths(3)), [1.0, 0.25, 0.0625, 0.0])
    cfg = SearchConfig(optimizer="polystep", evaluations=6 * (228 + 3), rollouts=2, eval_every=3, init_samples=0,
                       line_search=2)
    a = search(ENV, pol, cfg, jax.random.key(0), VAL)
    b = search(ENV, pol, cfg, jax.random.key(0), VAL)
    assert a.curve_return == b.curve_return and a.generations == 6 and a.population == 228
    assert a.evaluations == 6 * 231 and a.episodes == 6 * 231 * 2 and a.curve_evaluations == [0, 3 * 231, 6 * 231]
    # A wild step (every weight +3) is cut back to the length that scores best on the check episodes.
    opt = cfg.make_optimizer()
    old = opt.init(jax.random.key(1), pol.init(jax.random.key(2)))
    new = old._replace(coords=old.coords + 3.0, velocity=old.velocity + 3.0)
    keys = jax.random.split(jax.random.key(3), 4)
    state, _ = line_search_step(ENV, pol, opt, old, new, 2, keys)
    fraction = float((state.coords - old.coords)[0]) / 3.0
    assert min(abs(fraction - f) for f in (1.0, 0.25, 0.0)) < 1e-6
    np.testing.assert_allclose(np.asarray(state.velocity), fraction * 3.0, atol=1e-6)
    score = lambda s: float(evaluate(ENV, pol, opt.params(s), keys).ret.mean())  # noqa: E731
    assert score(state) == max(score(old), score(new), score(old._replace(coords=old.coords + 0.75)))
    with pytest.raises(ValueError, match="line_search"):
        SearchConfig(line_search=-1)
