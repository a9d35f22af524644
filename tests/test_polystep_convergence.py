"""PolyStep reaches the global basin of 10-D Ackley and Rastrigin from distant random starts (stated budget)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import polystep
from experiments.quickstart import QuickstartConfig, make_optimizer, start_point
from polystep import objectives

# Budget: 600 steps of 10 blocks x 2 vertices = 12,000 evaluations (docs/api.md, "Tuning").
STEPS = 600
SEEDS = (0, 1, 2)


@pytest.mark.parametrize("name", ["ackley", "rastrigin"])
def test_polystep_reaches_global_basin_10d(name):
    """Each seed starts at its own random point at the quickstart distance (particle_size=1 steps are
    deterministic, so the start is what the seed changes)."""
    config = QuickstartConfig(objective=name, dim=10)
    starts = np.stack([start_point(config, seed) for seed in SEEDS])
    assert len({tuple(np.round(x, 6)) for x in starts}) == len(SEEDS)  # the seeds really differ
    np.testing.assert_allclose(np.linalg.norm(starts, axis=1), config.distance, rtol=1e-6)
    opt = make_optimizer("polystep", 10, STEPS)
    loss = objectives.get(name)

    def run(x0, key):
        state, losses = polystep.minimize(opt, loss, x0, key, STEPS)
        return opt.params(state), losses[-1]

    finals, last = jax.vmap(run)(jnp.asarray(starts, jnp.float32), jnp.stack([jax.random.PRNGKey(s) for s in SEEDS]))
    finals = np.asarray(finals)
    assert np.all(np.max(np.abs(finals), axis=1) < 0.5), (name, finals)  # inside the global minimum's basin
    assert np.all(np.asarray(last) < 1e-2), (name, last)


def test_quickstart_seeds_give_different_trajectories():
    """The quickstart's seeds draw different starts, so even the deterministic PolyStep setting differs."""
    from experiments.quickstart import run

    config = QuickstartConfig(objective="rastrigin", dim=2, optimizer="polystep", evaluations=400)
    records = [run(config, seed) for seed in (0, 1)]
    paths = [np.asarray(r["trajectory"]) for r in records]
    assert not np.allclose(paths[0][0], paths[1][0])  # different starts ...
    assert records[0]["start_distance"] == pytest.approx(records[1]["start_distance"], rel=1e-5)  # same distance
    assert not np.allclose(paths[0][: len(paths[1])], paths[1][: len(paths[0])])  # ... different trajectories


@pytest.mark.parametrize("override,field", [
    ({"dims": (0,)}, "dims"), ({"evaluations": -5}, "evaluations"), ({"basin_tolerance": float("nan")},
                                                                     "basin_tolerance"),
    ({"dim": 0}, "dim"), ({"objectives": ()}, "objectives"), ({"optimizers": ("adam",)}, "optimizers"),
    ({"start_distance": float("inf")}, "start_distance"), ({"objective": "sphere"}, "objective"),
])
def test_quickstart_config_is_checked_before_running(override, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        QuickstartConfig(**override)


def test_quickstart_command_line_overrides_are_checked_before_running():
    """`--set dims=0`, `--set evaluations=-5`, `--set basin_tolerance=nan` fail as the config is built."""
    from experiments.overrides import parse_overrides
    from experiments.quickstart import EXPERIMENT

    for assignment, field in (("dims=0", "dims"), ("evaluations=-5", "evaluations"),
                              ("basin_tolerance=nan", "basin_tolerance")):
        with pytest.raises(ValueError, match=f"^{field}: "):
            EXPERIMENT.make_config(quick=True, overrides=parse_overrides(QuickstartConfig, [assignment]))
