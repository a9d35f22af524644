"""Tuned defaults live in problems.nets.defaults; TrainConfig and the experiment resolve them alike; bad values
are named."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import nondiff_nets
from problems.nets import defaults
from problems.nets.models import TASKS
from problems.nets.training import TUNED_FIELDS, TrainConfig


@pytest.mark.parametrize("task", TASKS)
def test_library_and_experiment_resolve_the_same_tuned_defaults(task):
    library = TrainConfig(task=task)
    experiment = nondiff_nets.train_config(nondiff_nets.Config(task=task, optimizer="polystep"))
    assert library == experiment
    tuned = defaults.tuned_defaults(task)
    assert {name: getattr(library, name) for name in TUNED_FIELDS} == {name: tuned[name] for name in TUNED_FIELDS}
    assert (library.subspace, library.basis, library.polytope, library.absorb_every) == (
        "column", "activity", "simplex", 1)
    assert library.rank == {"int8": 64, "snn": 64, "staircase": 64}.get(task, 16)
    assert (library.epochs, library.batch_size) == (30, 512)


def test_task_departures_and_explicit_overrides():
    snn = TrainConfig(task="snn")
    assert (snn.epsilon, snn.epsilon_final, snn.b_scale, snn.weight_momentum) == pytest.approx((0.01, 0.002, 0.3, 0.0))
    int8 = TrainConfig(task="int8")
    assert (int8.epsilon, int8.epsilon_final, int8.weight_momentum) == pytest.approx((0.003, 0.0006, 0.7))
    assert (int8.weight_decay, TrainConfig(task="staircase").weight_decay) == (1e-3, 0.0)  # int8 at full size only
    assert defaults.tuned_defaults("int8", quick=True)["weight_decay"] == 0.0  # it hurts on the digits
    mine = TrainConfig(task="snn", epsilon=0.02)
    assert (mine.epsilon, mine.epsilon_final) == pytest.approx((0.02, 0.004))
    low = TrainConfig(task="int8", subspace="lowrank", rank=1)
    assert low.basis == "random"  # an explicit non-column subspace keeps a random basis


def test_quick_preset_is_the_tuned_method_scaled_down():
    for task in TASKS:
        quick = nondiff_nets.train_config(nondiff_nets.EXPERIMENT.make_config(
            quick=True, overrides={"task": task, "optimizer": "polystep"}))
        full = TrainConfig(task=task)
        expected = {**defaults.QUICK, **defaults.QUICK_TASK.get(task, {})}
        assert (quick.epochs, quick.batch_size) == (expected.get("epochs"), expected.get("batch_size"))
        same = [n for n in TUNED_FIELDS if n not in expected]
        assert {n: getattr(quick, n) for n in same} == {n: getattr(full, n) for n in same}
    quick = nondiff_nets.EXPERIMENT.quick
    assert set(quick) == {"preset", "task", "optimizer", "dataset"}  # sizes come from problems.nets.defaults
    assert set(quick["task"].split(",")) == set(TASKS)


def test_experiment_overrides_win():
    cfg = nondiff_nets.Config(task="int8", optimizer="polystep", weight_momentum=0.0, epochs=2, rank=8)
    tc = nondiff_nets.train_config(cfg)
    assert (tc.weight_momentum, tc.epochs, tc.rank, tc.radius) == (0.0, 2, 8, 0.2)


@pytest.mark.parametrize("cls, field, value, message", [
    (TrainConfig, "epochs", 0, "epochs: must be an integer >= 1"),
    (TrainConfig, "epsilon", float("nan"), "epsilon: must be a finite number > 0"),
    (TrainConfig, "rank", "16", "rank: must be an integer"),
    (TrainConfig, "task", "vgg", "task: unknown 'vgg'"),
    (TrainConfig, "fresh_basis", "no", "fresh_basis: must be True or False"),
    (TrainConfig, "adaptive_radius", "yes", "adaptive_radius: must be True or False"),
    (nondiff_nets.Config, "adaptive_radius", 1.5, "adaptive_radius: must be True or False"),
    (TrainConfig, "weight_momentum", 1.0, "weight_momentum: must be a finite number in [0, 1)"),
    (TrainConfig, "weight_ema", 1.0, "weight_ema: must be a finite number in [0, 1)"),
    (TrainConfig, "weight_decay", -0.1, "weight_decay: must be a finite number in [0, 1)"),
    (TrainConfig, "weight_decay", "0.1", "weight_decay: must be a finite number in [0, 1)"),
    (nondiff_nets.Config, "weight_ema", "0.9", "weight_ema: must be a finite number in [0, 1)"),
    (TrainConfig, "radius_final", 0.5, "radius_final: must be a finite number in (0, 0.2]"),
    (TrainConfig, "polytope", "cross", "polytope: unknown 'cross'"),
    (nondiff_nets.Config, "preset", "huge", "preset: unknown 'huge'"),
    (nondiff_nets.Config, "epochs", -1, "epochs: must be an integer >= 1"),
    (nondiff_nets.Config, "dataset", "cifar", "dataset: unknown 'cifar'"),
    (nondiff_nets.Config, "max_train", 1.5, "max_train: must be an integer >= 0"),
    (nondiff_nets.Config, "snn_output_init", "uniform", "snn_output_init: unknown 'uniform'"),
])
def test_bad_values_name_the_field(cls, field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[").replace(")", r"\)")):
        cls(**{field: value})


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["column", "lowrank", "activity", "random", "simplex", "x", ""]))
_FIELDS = ["epochs", "batch_size", "rank", "particle_size", "absorb_every", "epsilon", "epsilon_final", "radius",
           "radius_final", "b_scale", "momentum", "weight_momentum", "fresh_basis", "subspace", "basis", "polytope",
           "adaptive_radius", "weight_ema", "weight_decay"]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=4), st.sampled_from(TASKS))
def test_any_config_is_valid_or_names_a_field(values, task):
    """Every combination either builds a fully resolved config or raises a ValueError that names a field."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} | {f.name for f in dataclasses.fields(
        nondiff_nets.Config)}
    for build in (lambda: TrainConfig(task=task, **{k: v for k, v in values.items() if v is not None}),
                  lambda: nondiff_nets.train_config(nondiff_nets.Config(task=task, optimizer="polystep", **values))):
        try:
            tc = build()
        except ValueError as err:
            assert str(err).split(":")[0] in names, str(err)
            continue
        assert all(getattr(tc, n) is not None for n in TUNED_FIELDS)
