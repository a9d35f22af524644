"""RL configs reject bad values with a ValueError naming the field; a property test over every numeric field."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.rl_policy_search import RLSearchConfig, search_config
from problems.rl import ENV_DEFAULTS, CartPole, PPOConfig, ReinforceConfig, SearchConfig, make, tuned_config
from problems.rl.policies import Policy


def INT(lo=None, hi=None):
    return ("int", lo, hi)


def REAL(lo=None, hi=None, lo_open=False, hi_open=False):
    return ("real", lo, hi, lo_open, hi_open)


BOOL = ("bool",)
POS = REAL(0.0, lo_open=True)

#: (config class, field, what the field allows): every numeric / bool field of the RL configs.
SPECS = {
    SearchConfig: {
        "evaluations": INT(1), "rollouts": INT(1), "eval_every": INT(1), "init_samples": INT(0),
        "particle_size": INT(1), "select_episodes": INT(0), "es_population": INT(2), "cma_population": INT(2),
        "cost_scale": POS, "epsilon": POS, "step_radius": POS, "probe_radius": POS, "es_sigma": POS, "es_lr": POS,
        "cma_sigma": POS, "momentum": REAL(0.0, 1.0, hi_open=True), "radius_max_scale": REAL(1.0),
        "epsilon_decay": REAL(0.0, 1.0, lo_open=True), "es_weight_decay": REAL(0.0), "adaptive_radius": BOOL,
        "line_search": INT(0),
    },
    PPOConfig: {
        "num_envs": INT(1), "epochs": INT(1), "critic_hidden": INT(1), "lr": POS, "clip": POS,
        "max_grad_norm": POS, "gamma": REAL(0.0, 1.0), "gae_lambda": REAL(0.0, 1.0), "ent_coef": REAL(0.0),
        "vf_coef": REAL(0.0), "anneal_lr": BOOL,
    },
    ReinforceConfig: {
        "env_steps": INT(1), "num_envs": INT(1), "lr": POS, "max_grad_norm": POS, "gamma": REAL(0.0, 1.0),
        "ent_coef": REAL(0.0),
    },
    RLSearchConfig: {
        "evaluations": INT(1), "gradient_env_steps": INT(1), "val_episodes": INT(1), "test_episodes": INT(1),
        "hidden": INT(1), "rollouts": INT(1), "epsilon": POS, "momentum": REAL(0.0, 1.0, hi_open=True),
        "adaptive_radius": BOOL, "line_search": INT(0),
    },
    CartPole: {"max_steps": INT(1), "tau": POS, "masspole": POS, "gravity": POS},
    Policy: {"obs_size": INT(1), "n_actions": INT(1), "hidden": INT(1)},
}
BASE = {Policy: {"obs_size": 4, "n_actions": 2}}
CASES = [(cls, name, spec) for cls, fields in SPECS.items() for name, spec in fields.items()]


def bad_values(spec) -> list:
    """Values the field must refuse: wrong types, NaN, inf, and numbers just outside its range."""
    wrong_type = ["1", None, [1], {"a": 1}]
    if spec[0] == "bool":
        return wrong_type + [1, 0, "false", 1.0]
    if spec[0] == "int":
        _, lo, hi = spec
        out = wrong_type + [True, 1.5, math.nan, math.inf]
        return out + ([lo - 1] if lo is not None else []) + ([hi + 1] if hi is not None else [])
    _, lo, hi, lo_open, hi_open = spec
    out = wrong_type + [True, math.nan, math.inf, -math.inf]
    if lo is not None:
        out += [lo] if lo_open else [lo - 1e-6, lo - 1.0]
    if hi is not None:
        out += [hi] if hi_open else [hi + 1e-6]
    return out


@pytest.mark.parametrize("cls,name,spec", CASES, ids=[f"{c.__name__}.{n}" for c, n, _ in CASES])
def test_each_bad_value_raises_a_value_error_naming_the_field(cls, name, spec):
    for value in [v for v in bad_values(spec) if not allowed(cls, name, spec, v)]:
        with pytest.raises(ValueError, match=name):
            cls(**{**BASE.get(cls, {}), name: value})


def allowed(cls, name: str, spec, value) -> bool:
    """Whether `value` lies in the field's allowed set (an experiment's search setting may also be None)."""
    if value is None:
        return cls is RLSearchConfig and name not in ("evaluations", "gradient_env_steps", "val_episodes",
                                                      "test_episodes", "hidden")
    if spec[0] == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if spec[0] == "int" and not isinstance(value, int):
        return False
    if not math.isfinite(value):
        return False
    lo, hi = spec[1], spec[2]
    lo_open, hi_open = (spec[3], spec[4]) if spec[0] == "real" else (False, False)
    if lo is not None and (value <= lo if lo_open else value < lo):
        return False
    return hi is None or (value < hi if hi_open else value <= hi)


CONSTRAINED = {(PPOConfig, "num_envs")}  # also bounded by env_steps / num_steps: checked by its own test


@settings(max_examples=150, deadline=None)
@given(case=st.sampled_from(CASES), value=st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-2.0, 2.0), st.integers(-10**6, 10**6),
    st.integers(-2, 2), st.booleans(), st.text(max_size=3), st.none(), st.lists(st.integers(), max_size=2)))
def test_a_value_is_accepted_exactly_when_it_is_allowed(case, value):
    cls, name, spec = case
    try:
        cfg = cls(**{**BASE.get(cls, {}), name: value})
    except ValueError as err:
        assert name in str(err)
        assert not allowed(cls, name, spec, value) or (cls, name) in CONSTRAINED
        return
    assert allowed(cls, name, spec, value), f"{cls.__name__}.{name} accepted {value!r}"
    assert getattr(cfg, name) == value


def test_cross_field_and_name_checks():
    with pytest.raises(ValueError, match="minibatches"):
        PPOConfig(num_envs=3, num_steps=5, minibatches=4)
    with pytest.raises(ValueError, match="env_steps"):
        PPOConfig(env_steps=10)
    with pytest.raises(ValueError, match="env"):
        make(3)
    with pytest.raises(ValueError, match="env"):
        tuned_config("mountaincar")
    with pytest.raises(ValueError, match="optimizer"):
        SearchConfig(optimizer=["polystep"])
    with pytest.raises(ValueError, match="shaping"):
        SearchConfig(shaping=None)
    with pytest.raises(ValueError, match="polytope"):
        SearchConfig(polytope="sphere")


def test_tuned_settings_live_in_the_problem_package_and_reach_the_experiment():
    for env, tuned in ENV_DEFAULTS.items():
        cfg = search_config(RLSearchConfig(env=env, policy="float", optimizer="polystep"))
        assert cfg == tuned_config(env, evaluations=RLSearchConfig().evaluations)
        assert all(getattr(cfg, k) == v for k, v in tuned.items())
    # a value given in the experiment's config overrides the tuned one
    cfg = search_config(RLSearchConfig(env="acrobot", policy="int8", optimizer="cmaes", momentum=0.1, rollouts=3))
    assert (cfg.momentum, cfg.rollouts, cfg.optimizer, cfg.select_episodes) == (0.1, 3, "cmaes", 64)
