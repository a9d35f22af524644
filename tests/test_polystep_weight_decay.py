"""PolyStep's decoupled weight decay: the parameters shrink by (1 - weight_decay) per step, with or without a
subspace, and a bad value is a ValueError naming the field."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import polystep
from polystep import ColumnSubspace, PolyStep

PARAMS = {"w": jnp.arange(1.0, 13.0).reshape(3, 4), "b": jnp.full((4,), -2.0)}


def flat(_params):
    """A loss that no probe can change: the step itself stands still, so only the decay moves the parameters."""
    return jnp.asarray(0.0)


def run(opt, steps):
    state = opt.init(jax.random.PRNGKey(0), PARAMS)
    step = jax.jit(opt.step, static_argnums=2)
    for key in jax.random.split(jax.random.PRNGKey(1), steps):
        state = step(key, state, flat)
    return opt.params(state)


@pytest.mark.parametrize("opt", [
    PolyStep(particle_size=2, weight_decay=0.1),
    PolyStep(particle_size=2, weight_decay=0.1, subspace=ColumnSubspace(rank=2), absorb_every=1),
    PolyStep(particle_size=2, weight_decay=0.1, subspace=ColumnSubspace(rank=2), absorb_every=3),
])
def test_parameters_shrink_by_the_decay_per_step(opt):
    out = run(opt, 6)
    for name in PARAMS:
        np.testing.assert_allclose(out[name], PARAMS[name] * 0.9 ** 6, rtol=1e-5)


def test_a_scheduled_decay_follows_its_schedule():
    schedule = optax.linear_schedule(0.2, 0.0, 4)  # 0.2, 0.15, 0.1, 0.05
    out = run(PolyStep(particle_size=2, weight_decay=schedule), 4)
    np.testing.assert_allclose(out["w"], PARAMS["w"] * 0.8 * 0.85 * 0.9 * 0.95, rtol=1e-5)


def test_no_decay_leaves_a_flat_loss_where_it_is():
    out = run(PolyStep(particle_size=2), 3)
    np.testing.assert_allclose(out["w"], PARAMS["w"])


def test_decay_still_lets_the_search_minimize():
    opt = PolyStep(particle_size=2, epsilon=0.1, step_radius=1.0, probe_radius=1.0, weight_decay=1e-3)
    state = opt.init(jax.random.PRNGKey(0), jnp.full((4,), 3.0))
    step = jax.jit(opt.step, static_argnums=2)

    def loss(p):  # one function object: a new lambda per step would recompile every step
        return jnp.sum((p - 1.0) ** 2)

    for key in jax.random.split(jax.random.PRNGKey(1), 200):
        state = step(key, state, loss)
    assert float(jnp.sum((opt.params(state) - 1.0) ** 2)) < 0.05


@pytest.mark.parametrize("value, message", [
    (1.0, "weight_decay: must be a finite number in [0, 1)"),
    (-0.1, "weight_decay"),
    ("0.1", "weight_decay"),
    (float("nan"), "weight_decay"),
])
def test_bad_weight_decay_is_named(value, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        PolyStep(weight_decay=value)


def test_decay_in_a_subspace_needs_absorbing():
    with pytest.raises(ValueError, match="weight_decay: .*absorb_every >= 1"):
        PolyStep(weight_decay=0.1, subspace=ColumnSubspace(rank=2), absorb_every=0)


def test_decay_is_part_of_the_public_api():
    assert "weight_decay" in {f for f in PolyStep.__dataclass_fields__}
    assert polystep.PolyStep is PolyStep
