"""A silent output neuron of the hard SNN: its moves do not change the loss, so plain PolyStep leaves it silent;
with `adaptive_radius` its block's radius grows until a probe makes it spike (docs/nets.md, "SNN tuning")."""

import jax
import jax.numpy as jnp
import optax

import polystep
from problems.nets.models import loss_fn, make_model


def _silent_output_after(adaptive_radius: bool, steps: int = 40) -> int:
    model = make_model("snn", 12, 3, hidden=16)
    teacher = model.init(jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (96, 12))
    y = jnp.argmax(model.decisions(teacher, x)["output_counts"] + 0.01 * x[:, :3], -1)  # every class present
    params = dict(teacher, w1=teacher["w1"].at[:, 2].set(-0.1))  # output neuron 2 never spikes
    assert int(model.decisions(params, x)["output_counts"][:, 2].max()) == 0 and int((y == 2).sum()) > 0
    radius = optax.constant_schedule(0.2)
    opt = polystep.PolyStep(particle_size=4, polytope="simplex", subspace=polystep.ColumnSubspace(4),
                            absorb_every=1, epsilon=0.01, step_radius=radius, probe_radius=radius,
                            adaptive_radius=adaptive_radius)
    state = opt.init(jax.random.PRNGKey(2), params)
    step = jax.jit(lambda k, s: opt.step(k, s, lambda p: loss_fn(model, p, x, y)))
    for t in range(steps):
        state = step(jax.random.fold_in(jax.random.PRNGKey(3), t), state)
    return int(model.decisions(opt.params(state), x)["output_counts"][:, 2].max())


def test_adaptive_radius_brings_a_silent_output_neuron_back():
    assert _silent_output_after(adaptive_radius=False) == 0
    assert _silent_output_after(adaptive_radius=True) > 0
