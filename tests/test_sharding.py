"""Candidate evaluation sharded over several devices gives the single-device results.

Two subprocesses run the same optimizer steps on CPU, one with one device and one with two forced host devices
(XLA_FLAGS=--xla_force_host_platform_device_count=2); the final parameters agree to float tolerance and the best
losses match. The two-device run also reports what shows the candidates really were split: the batch each
device evaluated, and the device count of the compiled step.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = 20
RUNS = ["polystep", "polystep_blocks", "openai_es_chunked", "cmaes_odd", "cmaes_full", "spsa"]


def _child_env(devices: int) -> dict:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={devices}"])
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def runs() -> dict[int, dict]:
    """{device count: worker report}, both workers started at once."""
    procs = {n: subprocess.Popen([sys.executable, __file__], cwd=ROOT, env=_child_env(n), text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in (1, 2)}
    reports = {}
    for n, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{n}-device worker failed:\n{err[-3000:]}"
        reports[n] = json.loads(out.strip().splitlines()[-1])
    return reports


def test_worker_device_counts(runs):
    assert runs[1]["devices"] == 1
    assert runs[2]["devices"] == 2


@pytest.mark.parametrize("name", RUNS)
def test_two_devices_match_one(runs, name):
    one, two = runs[1]["results"][name], runs[2]["results"][name]
    assert one["best_loss"] < one["start_loss"]  # the runs optimize, so the comparison is not vacuous
    np.testing.assert_allclose(two["params"], one["params"], rtol=1e-4, atol=1e-5)
    assert two["best_loss"] == pytest.approx(one["best_loss"], rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("name", RUNS)
def test_compiled_steps_use_both_devices(runs, name):
    assert runs[1]["results"][name]["partitions"] == 1
    assert runs[2]["results"][name]["partitions"] == 2


def test_each_device_evaluates_half_the_candidates(runs):
    # PolyStep's block evaluator is called with each device's share: 8 blocks x 4 vertices = 32 -> 16 each.
    assert runs[1]["block_batch_sizes"] == [32]
    assert runs[2]["block_batch_sizes"] == [16]
    # An odd candidate count is padded to a multiple of the device count: 7 -> 4 per device.
    assert runs[1]["map_batch_sizes"] == [7]
    assert runs[2]["map_batch_sizes"] == [4]
    assert runs[2]["map_output"] == runs[1]["map_output"]


def test_shard_population_splits_an_even_population(runs):
    assert runs[1]["population_devices"] == [1, 1]
    assert runs[2]["population_devices"] == [2, 1]  # 8 rows over 2 devices; 7 rows stay where they are
    assert runs[2]["population_shard_rows"] == [4]


# ----------------------------------------------------------------------------------------- the worker
def _worker() -> dict:
    """Run every optimizer for STEPS steps on a shifted quadratic over a two-leaf pytree; report the results."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    import polystep
    from polystep.polystep import _move

    def quadratic(flat):
        target = jnp.linspace(-1.0, 1.0, flat.size)
        return jnp.sum((flat - target) ** 2 * (1.0 + jnp.arange(flat.size)))

    def loss(params):
        return quadratic(ravel_pytree(params)[0])

    block_batch_sizes = []

    class QuadraticBlocks:
        """The same loss, scoring compact PolyStep candidates (records the batch each call gets)."""

        def __call__(self, params):
            return loss(params)

        def block_losses(self, space_state, coords, blocks):
            block_batch_sizes.append(int(blocks.index.shape[0]))
            starts = jnp.arange(0, 16, 2)  # full space, particle_size 2: block b starts at 2 b

            return jax.vmap(lambda i, d: quadratic(_move(coords, starts[i], d)))(blocks.index, blocks.delta)

    params = {"w": jnp.zeros((2, 3)), "b": jnp.full((3,), 0.5)}
    blocks_params = {"w": jnp.zeros((16,))}
    runs = {
        "polystep": (polystep.PolyStep(particle_size=3), loss, params),  # 3 blocks x 6 vertices = 18 candidates
        "polystep_blocks": (polystep.PolyStep(particle_size=2, momentum=0.5), QuadraticBlocks(), blocks_params),
        "openai_es_chunked": (polystep.OpenAIES(population_size=10, sigma=0.1, learning_rate=0.05, chunk_size=3),
                              loss, params),
        "cmaes_odd": (polystep.CMAES(population_size=7, sigma=0.5, diagonal=True), loss, params),
        # Full covariance: eigh of a near-identity C magnifies float rounding (the steps compile differently
        # around the sharded evaluation), so the trajectories part after a few generations; compared early.
        "cmaes_full": (polystep.CMAES(population_size=8, sigma=0.5), loss, params, 4),
        "spsa": (polystep.SPSA(a=0.02, c=0.05, num_directions=3), loss, params),
    }
    results = {}
    for name, (opt, fn, start, *steps) in runs.items():

        def run(start, keys, opt=opt, fn=fn):
            """init, then the steps in one scan: one compiled program per optimizer."""
            state = opt.init(jax.random.key(0), start)
            state, _ = jax.lax.scan(lambda s, k: (opt.step(k, s, fn), None), state, keys)
            return ravel_pytree(opt.params(state))[0], state.best_loss, loss(start)

        keys = jax.random.split(jax.random.key(1), steps[0] if steps else STEPS)
        lowered = jax.jit(run).lower(start, keys)
        found = re.search(r"mhlo.num_partitions = (\d+)", lowered.as_text())
        flat, best_loss, start_loss = lowered.compile()(start, keys)
        results[name] = {
            "params": np.asarray(flat).tolist(),
            "best_loss": float(best_loss),
            "start_loss": float(start_loss),
            "partitions": int(found.group(1)) if found else 1,
        }

    map_batch_sizes = []

    def batched(x):
        map_batch_sizes.append(int(x.shape[0]))
        return jnp.sum(x**2, axis=1)

    items = jnp.arange(21.0).reshape(7, 3)
    out = polystep.map_batches(batched, items, chunk_size=100)
    even = polystep.sharding.shard_population({"x": jnp.ones((8, 3))})["x"]
    odd = polystep.sharding.shard_population({"x": jnp.ones((7, 3))})["x"]
    return {
        "population_devices": [len(even.sharding.device_set), len(odd.sharding.device_set)],
        "population_shard_rows": sorted({s.data.shape[0] for s in even.addressable_shards}),
        "devices": len(jax.devices()),
        "results": results,
        "block_batch_sizes": sorted(set(block_batch_sizes)),
        "map_batch_sizes": map_batch_sizes,
        "map_output": np.asarray(out).tolist(),
    }


if __name__ == "__main__":
    print(json.dumps(_worker()))
