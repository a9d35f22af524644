"""polystep.checkpoint: round trip of mixed pytrees, atomic replacement under kill -9, clear errors when damaged."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polystep.checkpoint import CheckpointError, clear_checkpoint, load_checkpoint, save_checkpoint


def _state(offset: float = 0.0):
    return {
        "params": {"w": jnp.full((4, 3), 1.5 + offset, jnp.float32), "b": jnp.arange(3, dtype=jnp.bfloat16)},
        "codes": jnp.array([-3, 0, 7], jnp.int8),
        "mask": jnp.array([True, False]),
        "key": jax.random.key(42),
        "raw_key": jax.random.PRNGKey(3),
        "position": np.int64(17),
        "epoch": 2,
        "ema": np.array([0.25, float("nan")], np.float64),
    }


def _assert_same(a, b):
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert jax.dtypes.issubdtype(y.dtype, jax.dtypes.prng_key)
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_keeps_values_dtypes_keys_and_metadata(tmp_path):
    directory = tmp_path / "ckpt"
    assert load_checkpoint(directory, _state()) is None
    meta = {"curve": [0.5, 0.25, float("inf")], "epoch": 2, "note": "x"}
    save_checkpoint(directory, _state(), meta)
    state, loaded_meta = load_checkpoint(directory, _state(offset=9.0))
    _assert_same(state, _state())
    assert loaded_meta == meta
    # The restored key draws the same numbers as the original.
    assert jnp.array_equal(jax.random.normal(state["key"], (3,)), jax.random.normal(jax.random.key(42), (3,)))
    save_checkpoint(directory, _state(offset=1.0), {"epoch": 3})
    state, loaded_meta = load_checkpoint(directory, _state())
    _assert_same(state, _state(offset=1.0))
    assert loaded_meta == {"epoch": 3}
    assert len([p for p in directory.iterdir() if p.name.isdigit()]) == 1  # only the latest is kept
    clear_checkpoint(directory)
    assert not directory.exists() and load_checkpoint(directory, _state()) is None
    clear_checkpoint(directory)  # clearing nothing is fine


def test_meta_must_be_json(tmp_path):
    with pytest.raises(ValueError, match="meta"):
        save_checkpoint(tmp_path / "c", _state(), {"bad": object()})


_SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    from polystep.checkpoint import save_checkpoint
    for step in range(1000):
        state = {"big": np.full((400_000,), step, np.float64), "step": np.int64(step)}
        print(f"saving {step}", flush=True)
        save_checkpoint(sys.argv[1], state, {"step": step})
""")


def test_a_save_killed_midway_leaves_the_previous_checkpoint_loadable(tmp_path):
    """kill -9 a process that saves 3 MB checkpoints in a loop, at three moments; each time the directory holds
    one complete checkpoint whose state and metadata agree. At least one kill must land inside a save (its
    temporary directory is left behind), or the test has not tested atomicity."""
    directory = tmp_path / "ckpt"
    template = {"big": np.zeros((400_000,), np.float64), "step": np.int64(0)}
    killed_inside_a_save = False
    for delay in (0.0, 0.015, 0.03, 0.05):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(directory)], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "JAX_PLATFORMS": "cpu"})
        for line in proc.stdout:  # wait until at least two saves have started
            if line.startswith("saving 2"):
                break
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        killed_inside_a_save |= any(p.name.endswith(".orbax-checkpoint-tmp") for p in directory.iterdir())
        loaded = load_checkpoint(directory, template)
        assert loaded is not None
        state, meta = loaded
        assert int(state["step"]) == meta["step"] >= 1
        np.testing.assert_array_equal(state["big"], np.full((400_000,), meta["step"], np.float64))
    assert killed_inside_a_save


def test_a_corrupt_checkpoint_raises_naming_the_path_and_the_way_out(tmp_path):
    directory = tmp_path / "ckpt"
    save_checkpoint(directory, _state(), {"epoch": 1})
    step_dir = next(p for p in directory.iterdir() if p.name.isdigit())
    for path in sorted(p for p in step_dir.rglob("*") if p.is_file()):
        path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"(?s)ckpt.*delete") as info:
        load_checkpoint(directory, _state())
    assert isinstance(info.value, ValueError)
    assert str(directory) in str(info.value)


def test_a_checkpoint_of_another_state_shape_is_rejected(tmp_path):
    directory = tmp_path / "ckpt"
    save_checkpoint(directory, {"w": np.zeros(3, np.float32)}, {})
    with pytest.raises(CheckpointError, match=r"(?s)float32\[3\].*float32\[4\].*delete"):
        load_checkpoint(directory, {"w": np.zeros(4, np.float32)})
    with pytest.raises(CheckpointError, match="delete"):
        load_checkpoint(directory, {"w": np.zeros(3, np.float32), "extra": np.zeros(1)})


def test_optimizer_state_with_empty_leaves_round_trips(tmp_path):
    """A PolyStep state without a subspace holds zero-size arrays (orbax refuses them); they come back empty."""
    import polystep

    opt = polystep.PolyStep(particle_size=2, epsilon=0.1)
    state = opt.init(jax.random.PRNGKey(0), {"w": jnp.ones((3, 2)), "b": jnp.zeros((2,))})
    assert any(np.size(leaf) == 0 for leaf in jax.tree_util.tree_leaves(state))
    save_checkpoint(tmp_path / "ck", state, {"step": 1})
    restored, meta = load_checkpoint(tmp_path / "ck", state)
    assert meta == {"step": 1}
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(state)
    for got, want in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(state)):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
