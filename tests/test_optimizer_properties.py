"""Property-based checks (hypothesis) over every optimizer constructor and subspace config.

1. Any value of a wrong type, NaN, inf where it makes no sense, or out of range raises a ValueError whose
   message starts with the field's name; values inside the documented ranges construct.
2. No optimizer state turns non-finite, whatever the losses: drawn from {+-3e38, NaN, +-inf, ordinary values},
   mixed within a step. Every inexact array of the state stays finite, except the loss records best_loss /
   last_loss / mean_loss, which are +inf while no finite loss has been seen (best_loss) or in a step where
   none was finite (last_loss, mean_loss).

One jitted run per optimizer config, reused by every example (no recompiles); small `max_examples`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polystep
from polystep import CMAES, SPSA, ColumnSubspace, DenseSubspace, LowRankSubspace, OpenAIES, PolyStep

# derandomize: the same examples on every run (no flaky CI); database=None: nothing written into the checkout.
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
                    database=None)


# ------------------------------------------------------------------------------------------ field specs
@dataclass(frozen=True)
class Field:
    """What a field accepts: kind int / real / bool / choice / schedule / subspace / optimizer, a range, None."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False
    choices: tuple = ()


POS = Field("real", lo=0, lo_open=True)
NONNEG = Field("real", lo=0)
UNIT = Field("real", lo=0, hi=1, hi_open=True)
OPT_POS_INT = Field("int", lo=1, optional=True)

SPECS: dict[type, dict[str, Field]] = {
    PolyStep: {
        "particle_size": Field("int", lo=1, hi=1024),
        "polytope": Field("choice", choices=("orthoplex", "simplex", "cube")),
        "epsilon": Field("schedule", lo=0, lo_open=True),
        "step_radius": Field("schedule", lo=0),
        "probe_radius": Field("schedule", lo=0),
        "probe_scale": POS,
        "weights": Field("choice", choices=("softmax", "sinkhorn")),
        "sinkhorn_iterations": Field("int", lo=1),
        "momentum": UNIT,
        "amortize_every": Field("int", lo=1),
        "amortize_decay": UNIT,
        "bias_first_axis": Field("bool"),
        "adaptive_radius": Field("bool"),
        "radius_grow": Field("real", lo=1),
        "radius_max_scale": Field("real", lo=1),
        "flat_tolerance": NONNEG,
        "subspace": Field("subspace", optional=True),
        "absorb_every": Field("int", lo=0),
        "fresh_basis": Field("bool"),
        "chunk_size": OPT_POS_INT,
    },
    OpenAIES: {
        "population_size": Field("int", lo=2),
        "sigma": POS,
        "learning_rate": POS,
        "optimizer": Field("optimizer", optional=True),
        "antithetic": Field("bool"),
        "rank_shaping": Field("bool"),
        "weight_decay": NONNEG,
        "chunk_size": OPT_POS_INT,
        "sigma_decay": Field("real", lo=0, hi=1, lo_open=True),
        "sigma_min": NONNEG,
    },
    CMAES: {
        "population_size": Field("int", lo=2, optional=True),
        "sigma": POS,
        "diagonal": Field("bool", optional=True),
        "chunk_size": OPT_POS_INT,
        "eigen_interval": OPT_POS_INT,
    },
    SPSA: {
        "a": POS,
        "c": POS,
        "alpha": Field("real", lo=0, hi=1, lo_open=True),
        "gamma": Field("real", lo=0, hi=0.5, lo_open=True),
        "A": Field("real", lo=0, optional=True),
        "num_directions": Field("int", lo=1),
        "expected_steps": OPT_POS_INT,
        "chunk_size": OPT_POS_INT,
    },
    DenseSubspace: {"rank": Field("int", lo=1), "orthonormal": Field("bool"), "scale": POS},
    LowRankSubspace: {"rank": Field("int", lo=1), "init_scale": POS, "b_scale": NONNEG},
    ColumnSubspace: {"rank": Field("int", lo=1)},
    polystep.schedules.InverseTimeDecay: {"initial": POS, "timescale": POS},
}
CASES = [(cls, name) for cls, fields in SPECS.items() for name in fields]
CASE_IDS = [f"{cls.__name__}.{name}" for cls, name in CASES]

WRONG_TYPES = st.sampled_from(["1", "false", "true", "", b"1", [1], (1,), {"a": 1}, object(), 1 + 1j, {1}])


def _outside(spec: Field) -> st.SearchStrategy:
    """Numbers of the field's kind just outside, or far outside, its range."""
    options = []
    if spec.lo is not None:
        below = [spec.lo - 1, spec.lo - 1e6] + ([spec.lo] if spec.lo_open else [])
        if spec.kind != "int":
            below.append(math.nextafter(spec.lo, -math.inf))
        options += below
    if spec.hi is not None:
        above = [spec.hi + 1, spec.hi + 1e6] + ([spec.hi] if spec.hi_open else [])
        if spec.kind != "int":
            above.append(math.nextafter(spec.hi, math.inf))
        options += above
    if not options:
        return st.nothing()
    cast = int if spec.kind == "int" else float
    return st.sampled_from([cast(v) for v in options])


def bad_values(spec: Field) -> st.SearchStrategy:
    """Values the field must refuse with a ValueError naming it."""
    none = st.nothing() if spec.optional else st.just(None)
    if spec.kind == "bool":
        return st.one_of(WRONG_TYPES, none, st.sampled_from([0, 1, 0.0, 1.0, "False", "no", math.nan]))
    if spec.kind == "choice":
        return st.one_of(WRONG_TYPES, none, st.text(max_size=8).filter(lambda s: s not in spec.choices),
                         st.sampled_from([1, 0.5, math.nan]))
    if spec.kind == "subspace":
        return st.one_of(WRONG_TYPES, st.sampled_from([1, 0.5, "lowrank", LowRankSubspace]))
    if spec.kind == "optimizer":
        return st.one_of(WRONG_TYPES, st.sampled_from(["adam", 0.1, optax.adam, True]))
    nonfinite = st.sampled_from([math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf")])
    wrong = st.one_of(WRONG_TYPES, none, st.just(True), st.just(False), nonfinite, _outside(spec))
    if spec.kind == "int":
        return st.one_of(wrong, st.sampled_from([1.5, 2.0, np.float64(3.0)]))
    if spec.kind == "schedule":
        returns = st.sampled_from([-1.0, math.nan, math.inf, "x", None, (1.0, 2.0)]
                                  + ([0.0] if spec.lo_open else []))
        scheduled = returns.map(lambda v: (lambda step: v))
        return st.one_of(wrong, scheduled, st.just(_raising_schedule))
    return wrong


def _raising_schedule(step):
    raise RuntimeError("boom")


def good_values(spec: Field) -> st.SearchStrategy:
    """Values inside the documented range (kept small where a value sets a size)."""
    if spec.kind == "bool":
        return st.booleans() | (st.none() if spec.optional else st.nothing())
    if spec.kind == "choice":
        return st.sampled_from(spec.choices)
    if spec.kind == "subspace":
        return st.sampled_from([None, DenseSubspace(2), LowRankSubspace(1), ColumnSubspace(3)])
    if spec.kind == "optimizer":
        return st.sampled_from([None, optax.sgd(0.1), optax.adam(0.01)])
    none = st.none() if spec.optional else st.nothing()
    if spec.kind == "int":
        lo = int(spec.lo) if spec.lo is not None else -5
        hi = int(spec.hi) if spec.hi is not None else lo + 8
        return st.integers(lo, min(hi, lo + 8)) | none
    lo = spec.lo if spec.lo is not None else -1e6
    hi = spec.hi if spec.hi is not None else 1e6
    numbers = st.floats(lo, hi, exclude_min=spec.lo_open, exclude_max=spec.hi_open, allow_nan=False,
                        allow_infinity=False)
    if spec.kind == "schedule":
        return numbers | numbers.map(lambda v: (lambda step: v + 0.0 * step)) | none
    return numbers | none


def _construct(cls, name, value):
    kwargs = {name: value}
    if cls is OpenAIES and name == "population_size" and isinstance(value, int) and value % 2:
        kwargs["antithetic"] = False
    if cls is OpenAIES and name == "antithetic" and value is False:
        kwargs["population_size"] = 50
    if cls is PolyStep and name == "particle_size":
        kwargs["polytope"] = "orthoplex"
    if cls is PolyStep and name == "polytope" and value == "cube":
        kwargs["particle_size"] = 2
    return cls(**kwargs)


@pytest.mark.parametrize("cls,name", CASES, ids=CASE_IDS)
@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_bad_values_raise_value_error_naming_the_field(cls, name, data):
    value = data.draw(bad_values(SPECS[cls][name]), label=name)
    with pytest.raises(ValueError, match=f"^{name}: "):
        _construct(cls, name, value)


@pytest.mark.parametrize("cls,name", CASES, ids=CASE_IDS)
@settings(max_examples=6, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_values_in_range_construct(cls, name, data):
    spec = SPECS[cls][name]
    if cls is PolyStep and name == "particle_size":
        value = data.draw(st.integers(1, 64), label=name)
    else:
        value = data.draw(good_values(spec), label=name)
    if spec.kind == "schedule" or value is not None or spec.optional:
        _construct(cls, name, value)


def test_the_examples_of_the_robustness_audit():
    """The values named in the robustness audit: inf radii and rates, a -1 schedule, a string for a bool."""
    for cls, kwargs in [(PolyStep, {"epsilon": math.inf}), (PolyStep, {"step_radius": math.inf}),
                        (PolyStep, {"probe_radius": math.inf}), (PolyStep, {"epsilon": lambda t: -1.0}),
                        (OpenAIES, {"learning_rate": math.inf}), (OpenAIES, {"weight_decay": math.inf}),
                        (OpenAIES, {"antithetic": "false"}), (SPSA, {"a": math.inf}),
                        (CMAES, {"diagonal": 1}), (PolyStep, {"sinkhorn_iterations": "5"})]:
        (name,) = kwargs
        with pytest.raises(ValueError, match=f"^{name}: "):
            cls(**kwargs)


def test_minimize_checks_its_arguments():
    loss = lambda x: jnp.sum(x ** 2)  # noqa: E731
    for steps in (0, -1, 2.5, "3", None, True):
        with pytest.raises(ValueError, match="^steps: "):
            polystep.minimize(SPSA(), loss, jnp.ones(2), jax.random.PRNGKey(0), steps)
    with pytest.raises(ValueError, match="^record_params: "):
        polystep.minimize(SPSA(), loss, jnp.ones(2), jax.random.PRNGKey(0), 2, record_params="yes")
    with pytest.raises(ValueError, match="^loss_fn: "):
        polystep.minimize(SPSA(), "sphere", jnp.ones(2), jax.random.PRNGKey(0), 2)


# ------------------------------------------------------------------------------------------ finite state
EXTREMES = [3e38, -3e38, math.nan, math.inf, -math.inf, 1e38, -1e38]
LOSS_VALUES = st.one_of(st.sampled_from(EXTREMES), st.floats(-1e6, 1e6, allow_nan=False, width=32))
N_VALUES = 16  # a loss returns one of these, chosen by a hash of the candidate
STEPS = 3
PARAMS = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.array([0.5, -0.5, 2.0])}

OPTIMIZERS = {
    "polystep_p1": PolyStep(particle_size=1),
    "polystep_default": PolyStep(),
    "polystep_sinkhorn": PolyStep(weights="sinkhorn", epsilon=1e-3, momentum=0.5, adaptive_radius=True),
    "polystep_amortized": PolyStep(amortize_every=2, bias_first_axis=True, polytope="simplex", particle_size=3),
    "polystep_lowrank": PolyStep(subspace=LowRankSubspace(1), absorb_every=2, fresh_basis=True, weight_momentum=0.5),
    "polystep_dense": PolyStep(subspace=DenseSubspace(1), absorb_every=2, polytope="cube"),
    "polystep_column": PolyStep(subspace=ColumnSubspace(2), absorb_every=1),
    "openai_es": OpenAIES(population_size=8, sigma=0.1),
    "openai_es_zscore_sgd": OpenAIES(population_size=7, antithetic=False, rank_shaping=False,
                                     optimizer=optax.sgd(1.0)),
    "cmaes": CMAES(population_size=6),
    "cmaes_diagonal": CMAES(population_size=6, diagonal=True),
    "spsa": SPSA(a=1.0, num_directions=2),
}
LOSS_RECORDS = ("best_loss", "last_loss", "mean_loss")


def _hash_loss(values):
    """A loss returning values[h(params)], h a deterministic hash of the candidate (finite or not)."""
    def loss(params):
        flat = jnp.concatenate([jnp.ravel(x).astype(jnp.float32) for x in jax.tree_util.tree_leaves(params)])
        weights = jnp.arange(1, flat.size + 1, dtype=jnp.float32)
        h = jnp.nan_to_num(jnp.sum(jnp.sin(flat * 12.9898 * weights)) * 43758.5453, nan=0.0, posinf=0.0, neginf=0.0)
        return values[jnp.abs(jnp.floor(h)).astype(jnp.int32) % N_VALUES]
    return loss


_RUNS = {}


def _run(name):
    """One jitted function per optimizer: STEPS steps from PARAMS with a table of loss values per step."""
    if name not in _RUNS:
        opt = OPTIMIZERS[name]

        def run(key, table):
            state = opt.init(key, PARAMS)
            keys = jax.random.split(key, STEPS)

            def body(state, xs):
                step_key, values = xs
                return opt.step(step_key, state, _hash_loss(values)), None

            state, _ = jax.lax.scan(body, state, (keys, table))
            return state, opt.params(state)

        _RUNS[name] = jax.jit(run)
    return _RUNS[name]


def _non_finite_fields(state, params) -> list[str]:
    bad = []
    for path, leaf in jax.tree_util.tree_leaves_with_path((state, params)):
        leaf = np.asarray(leaf)
        if not np.issubdtype(leaf.dtype, np.inexact):
            continue
        label = jax.tree_util.keystr(path)
        if any(f".{record}" in label or f"'{record}'" in label for record in LOSS_RECORDS):
            if np.any(np.isnan(leaf)) or np.any(leaf == -np.inf):
                bad.append(label)
        elif not np.all(np.isfinite(leaf)):
            bad.append(label)
    return bad


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@SETTINGS
@given(table=st.lists(st.lists(LOSS_VALUES, min_size=N_VALUES, max_size=N_VALUES), min_size=STEPS,
                      max_size=STEPS), seed=st.integers(0, 2**16))
def test_state_stays_finite_for_any_losses(name, table, seed):
    state, params = _run(name)(jax.random.PRNGKey(seed), jnp.asarray(table, jnp.float32))
    assert not _non_finite_fields(state, params), (name, _non_finite_fields(state, params))


def test_the_issue_repro_stays_finite():
    """Huge finite losses next to NaN: the penalty used to overflow and a NaN reached the parameters."""
    loss = lambda p: jnp.where(p[1] != 2.0, jnp.nan, jnp.where(p[0] > 2.0, 1e38, 0.0))  # noqa: E731
    opt = PolyStep(particle_size=1)
    state = opt.step(jax.random.PRNGKey(1), opt.init(jax.random.PRNGKey(0), jnp.array([2.0, 2.0])), loss)
    x = np.asarray(opt.params(state))
    assert np.all(np.isfinite(x)), x
    assert x[1] == 2.0 and x[0] < 2.0  # every move of x[1] failed; x[0] moved away from the 1e38 side
