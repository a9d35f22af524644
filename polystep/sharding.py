"""Candidate evaluation over every local device: a 1-D mesh on the candidate axis, `jax.shard_map`, no pmap.

With one device (or inside a context that already manages devices: a shard_map, a pmap, a mesh set by the
caller) every function here is the plain single-device path, so nothing changes there. The devices in use are
`jax.devices()` unless `use_devices` says otherwise; they are read when a function is traced, so choose them
before the first jitted step.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "candidates"  # name of the mesh axis the candidate (population) axis is split over

_chosen: tuple[jax.Device, ...] | None = None


def candidate_devices() -> tuple[jax.Device, ...]:
    """The devices candidate evaluation is spread over: those set by `use_devices`, else `jax.devices()`."""
    return _chosen if _chosen is not None else tuple(jax.devices())


@contextlib.contextmanager
def use_devices(devices: Sequence[jax.Device] | None) -> Iterator[None]:
    """Spread candidate evaluation over `devices` inside the block (None: all of `jax.devices()`).

    `use_devices(jax.devices()[:1])` turns sharding off. Takes effect for functions traced inside the block.
    """
    global _chosen
    if devices is not None:
        devices = tuple(devices)
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise ValueError(f"devices: must be a non-empty sequence of jax devices or None, got {devices!r}")
    previous, _chosen = _chosen, devices
    try:
        yield
    finally:
        _chosen = previous


@functools.lru_cache(maxsize=16)
def _mesh(devices: tuple[jax.Device, ...]) -> Mesh:
    return Mesh(np.array(devices, dtype=object), (AXIS,))


def candidate_mesh() -> Mesh | None:
    """The 1-D mesh over `candidate_devices()`, or None where sharding is off (one device, or a device
    context already set by the caller: inside shard_map / pmap, or under a mesh of the caller's own)."""
    devices = candidate_devices()
    if len(devices) < 2 or not jax.sharding.get_abstract_mesh().empty:
        return None
    return _mesh(devices)


def _pad_to(items: Any, n_total: int) -> Any:
    """Every leaf padded along axis 0 to `n_total` rows by repeating its first row."""

    def pad(x):
        extra = n_total - x.shape[0]
        return jnp.concatenate([x, jnp.repeat(x[:1], extra, axis=0)], axis=0) if extra else x

    return jax.tree_util.tree_map(pad, items)


def map_sharded(local: Callable[[Any], jax.Array], items: Any) -> jax.Array:
    """`local(items)` with the leading (candidate) axis of `items` split evenly over the candidate mesh.

    `local` maps a batch of candidates (a pytree whose leaves share the leading axis) to one output row per
    candidate. The candidate count is padded to a multiple of the device count (copies of the first candidate,
    whose outputs are dropped); device d runs `local` on candidates d, d + D, d + 2D, ... of the D devices' total.
    Without a mesh this is `local(items)`.
    """
    mesh = candidate_mesh()
    if mesh is None:
        return local(items)
    n = jax.tree_util.tree_leaves(items)[0].shape[0]
    n_devices = mesh.devices.size
    n_total = -(-n // n_devices) * n_devices
    spec = PartitionSpec(AXIS)
    # Replicated in and out: only the evaluation itself is split, so the optimizer's own arithmetic (sampling,
    # the update) runs exactly as on one device and the results match it.
    replicated = NamedSharding(mesh, PartitionSpec())
    items = jax.lax.with_sharding_constraint(_pad_to(items, n_total), replicated)
    # Round-robin: device d gets candidates d, d + D, d + 2D, ... so that candidates listed block by block (as
    # PolyStep lists them) reach every device for every block, which evaluators that group by block rely on.
    items = jax.tree_util.tree_map(lambda x: _interleave(x, n_devices), items)
    out = jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)(items)
    out = _deinterleave(jax.lax.with_sharding_constraint(out, replicated), n_devices)
    return out if n_total == n else out[:n]


def _interleave(x: jax.Array, parts: int) -> jax.Array:
    """Rows reordered so that contiguous part d holds rows d, d + parts, d + 2 parts, ..."""
    return jnp.swapaxes(x.reshape((-1, parts) + x.shape[1:]), 0, 1).reshape(x.shape)


def _deinterleave(x: jax.Array, parts: int) -> jax.Array:
    """The inverse of `_interleave`."""
    return jnp.swapaxes(x.reshape((parts, -1) + x.shape[1:]), 0, 1).reshape(x.shape)


def shard_population(population: Any) -> Any:
    """`population` (leaves with a leading candidate axis) laid out over the candidate mesh when the candidate
    count divides evenly, so a `vmap` evaluation of it runs on every device; unchanged otherwise."""
    mesh = candidate_mesh()
    leaves = jax.tree_util.tree_leaves(population)
    if mesh is None or not leaves or leaves[0].shape[0] % mesh.devices.size:
        return population
    layout = NamedSharding(mesh, PartitionSpec(AXIS))
    return jax.tree_util.tree_map(lambda x: jax.lax.with_sharding_constraint(x, layout), population)
