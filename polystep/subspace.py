"""Coordinate spaces for PolyStep: the full parameter vector, or `params = base + Proj(z)` per leaf.

The search vector `coords` is the concatenation of one segment per pytree leaf, each padded to a multiple of
the particle size, so a block (particle) never straddles two leaves and a problem can tell from the layout
which leaf a candidate moves. Leaf kinds:
- ``full``: the leaf's values themselves (no subspace);
- ``direct``: ``base + z`` (biases and small leaves inside a subspace);
- ``dense``: ``base + Q z`` with a Gaussian ``Q`` (size x k), orthonormal columns when tall,
  ``k = rank * (d_in + d_out)`` (d_in = product of all but the last axis, d_out = last axis);
- ``column``: ``base + P Z`` with ``P`` (d_in x rank) orthonormal and coordinates ``Z^T`` (d_out x rank,
  row-major): output unit j's incoming weights move inside span(P), and a block that lies inside one row of
  ``Z^T`` (particle size dividing the rank) changes one output unit only;
- ``lowrank``: ``base + A B`` with ``A = A0 + dA`` (d_in x r) and ``B = B0 + dB`` (r x d_out); coordinates hold
  ``dA`` transposed (r x d_in, row-major) then ``dB`` (r x d_out, row-major), so a block inside one row of either
  changes the weight matrix by a rank-one term. ``A0`` is random; ``B0`` is random too when ``b_scale > 0``
  (the stored base is then ``W - A0 B0``, so the weights start unchanged and moves of *both* factors change
  them from the first step), else zero (moves of ``A`` are dead until ``B`` has moved).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from polystep.base import PyTree, require
from polystep.validate import check_bool, check_int, check_real


@dataclass(frozen=True)
class DenseSubspace:
    """Per-layer Gaussian projections (as published): ``rank * (d_in + d_out)`` coordinates per matrix."""

    rank: int = 1
    orthonormal: bool = True
    scale: float = 1.0

    def __post_init__(self):
        check_int(self.rank, "rank", lo=1)
        check_bool(self.orthonormal, "orthonormal")
        check_real(self.scale, "scale", lo=0, lo_open=True)


@dataclass(frozen=True)
class LowRankSubspace:
    """Bilinear per-layer subspace ``W = base + A B``: single-block moves are rank-one weight changes.

    `b_scale` > 0 draws ``B0`` at random too (base stores ``W - A0 B0``), so no coordinate is dead at start;
    0 starts ``B`` at zero. ``A0`` has unit-norm-ish columns (``init_scale``), ``B0`` rows of norm ~``b_scale``.
    """

    rank: int = 4
    init_scale: float = 1.0
    b_scale: float = 1.0

    def __post_init__(self):
        check_int(self.rank, "rank", lo=1)
        check_real(self.init_scale, "init_scale", lo=0, lo_open=True)
        check_real(self.b_scale, "b_scale", lo=0)


@dataclass(frozen=True)
class ColumnSubspace:
    """Per-output-unit subspace ``W = base + P Z``: each unit's incoming weights move in a shared `rank`-dim span.

    With a particle size dividing `rank`, every block moves a single output unit, which lets a structured
    evaluator update one column of a layer's output instead of the whole layer (see problems/nets).
    """

    rank: int = 16

    def __post_init__(self):
        check_int(self.rank, "rank", lo=1)


Subspace = DenseSubspace | LowRankSubspace | ColumnSubspace | None


class LeafSpec(NamedTuple):
    """Where one parameter leaf lives in the coordinate vector, and how coordinates map to it."""

    kind: str  # full | direct | dense | lowrank
    shape: tuple[int, ...]
    offset: int  # first coordinate of this leaf's segment
    coords: int  # live coordinates (the rest of the padded segment is unused)
    padded: int  # segment length, a multiple of the particle size
    rank: int  # lowrank / dense rank (0 otherwise)
    d_in: int
    d_out: int


@dataclass(frozen=True, eq=False)
class Layout:
    """Static map from blocks (particles of `particle_size` coordinates) to parameter leaves."""

    leaves: tuple[LeafSpec, ...]
    treedef: Any
    particle_size: int
    dim: int
    block_leaf: np.ndarray  # (n_blocks,) leaf index of each block
    block_start: np.ndarray  # (n_blocks,) first coordinate of each block

    @property
    def n_blocks(self) -> int:
        return int(self.block_start.shape[0])


class SpaceState(NamedTuple):
    """The arrays of a coordinate space: base parameters and one projection array per leaf."""

    base: PyTree
    proj: tuple  # per leaf: dense (size, k); column P (d_in, rank); lowrank [A0^T | B0] (r, d_in + d_out); else (0,)


def _leaf_kind(subspace: Subspace, shape: tuple[int, ...]) -> tuple[str, int, int, int, int]:
    size = int(np.prod(shape)) if shape else 1
    if subspace is None:
        return "full", size, 0, 0, 0
    if len(shape) < 2:
        return "direct", size, 0, 0, 0
    d_out = shape[-1]
    d_in = size // d_out
    if isinstance(subspace, ColumnSubspace):
        if subspace.rank >= d_in:  # the span would hold every column: no compression
            return "direct", size, 0, 0, 0
        return "column", subspace.rank * d_out, subspace.rank, d_in, d_out
    k = subspace.rank * (d_in + d_out)
    if k >= size:  # a projection would not compress this leaf
        return "direct", size, 0, 0, 0
    kind = "dense" if isinstance(subspace, DenseSubspace) else "lowrank"
    return kind, k, subspace.rank, d_in, d_out


@lru_cache(maxsize=64)
def _layout_cached(subspace: Subspace, treedef, shapes: tuple, particle_size: int) -> Layout:
    leaves, offset, block_leaf, block_start = [], 0, [], []
    for index, shape in enumerate(shapes):
        kind, coords, rank, d_in, d_out = _leaf_kind(subspace, shape)
        padded = particle_size * math.ceil(coords / particle_size)
        leaves.append(LeafSpec(kind, shape, offset, coords, padded, rank, d_in, d_out))
        starts = np.arange(offset, offset + padded, particle_size)
        block_start.append(starts)
        block_leaf.append(np.full(starts.shape, index))
        offset += padded
    return Layout(
        tuple(leaves), treedef, particle_size, offset,
        np.concatenate(block_leaf).astype(np.int32), np.concatenate(block_start).astype(np.int32),
    )


def make_layout(subspace: Subspace, params: PyTree, particle_size: int) -> Layout:
    """The (cached, static) layout of `params` under `subspace` with blocks of `particle_size` coordinates."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    require(len(leaves) > 0, "params", "the parameter pytree has no leaves")
    shapes = tuple(tuple(int(d) for d in np.shape(x)) for x in leaves)
    require(any(math.prod(shape) > 0 for shape in shapes), "params",
            "the parameter pytree has no entries (every leaf is empty)")
    return _layout_cached(subspace, treedef, shapes, particle_size)


def _projection(key: jax.Array, spec: LeafSpec, subspace: Subspace) -> jax.Array:
    size = int(np.prod(spec.shape))
    if spec.kind == "dense":
        gauss = jax.random.normal(key, (size, spec.coords), jnp.float32)
        if subspace.orthonormal:
            gauss = jnp.linalg.qr(gauss)[0]
        else:
            gauss = gauss / jnp.sqrt(size)
        return gauss * subspace.scale
    if spec.kind == "column":
        return jnp.linalg.qr(jax.random.normal(key, (spec.d_in, spec.rank), jnp.float32))[0]
    if spec.kind == "lowrank":
        key_a, key_b = jax.random.split(key)
        a_t = jax.random.normal(key_a, (spec.rank, spec.d_in), jnp.float32) * (
            subspace.init_scale / math.sqrt(spec.d_in))
        b = jax.random.normal(key_b, (spec.rank, spec.d_out), jnp.float32) * (subspace.b_scale / math.sqrt(spec.d_out))
        return jnp.concatenate([a_t, b], axis=1)
    return jnp.zeros((0,), jnp.float32)


def lowrank_factors(spec: LeafSpec, proj: jax.Array, segment: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(A^T, B)`` of a low-rank leaf: the drawn factors plus the coordinate segment's ``dA^T`` and ``dB``."""
    r, d_in = spec.rank, spec.d_in
    return proj[:, :d_in] + segment[: r * d_in].reshape(r, d_in), proj[:, d_in:] + segment[r * d_in:].reshape(r, -1)


def _compensate(spec: LeafSpec, weights: jax.Array, proj: jax.Array) -> jax.Array:
    """The base that makes ``base + A0 B0`` equal `weights` (identity for non-low-rank leaves)."""
    if spec.kind != "lowrank":
        return weights
    return weights - (proj[:, : spec.d_in].T @ proj[:, spec.d_in:]).reshape(spec.shape)


def init_space(key: jax.Array, subspace: Subspace, params: PyTree, particle_size: int) -> tuple[SpaceState, jax.Array]:
    """Space arrays and the starting coordinates: the parameters themselves (full) or zeros (subspace)."""
    layout = make_layout(subspace, params, particle_size)
    leaves = jax.tree_util.tree_leaves(params)
    keys = jax.random.split(key, len(leaves))
    proj = tuple(_projection(k, spec, subspace) for k, spec in zip(keys, layout.leaves))
    base = jax.tree_util.tree_unflatten(layout.treedef, [
        _compensate(spec, jnp.asarray(x, jnp.float32), p) for x, spec, p in zip(leaves, layout.leaves, proj)
    ])
    coords = jnp.zeros((layout.dim,), jnp.float32)
    if subspace is None:
        segments = [
            jnp.pad(jnp.ravel(jnp.asarray(x, jnp.float32)), (0, spec.padded - spec.coords))
            for x, spec in zip(leaves, layout.leaves)
        ]
        coords = jnp.concatenate(segments)
    return SpaceState(base, proj), coords


def leaf_value(spec: LeafSpec, base_leaf: jax.Array, proj: jax.Array, segment: jax.Array) -> jax.Array:
    """One parameter leaf from its coordinate segment (length `spec.coords`)."""
    if spec.kind == "full":
        return segment.reshape(spec.shape)
    if spec.kind == "direct":
        return base_leaf + segment.reshape(spec.shape)
    if spec.kind == "dense":
        return base_leaf + (proj @ segment).reshape(spec.shape)
    if spec.kind == "column":
        return base_leaf + (proj @ segment.reshape(spec.d_out, spec.rank).T).reshape(spec.shape)
    a_t, b = lowrank_factors(spec, proj, segment)
    return base_leaf + (a_t.T @ b).reshape(spec.shape)


def to_params(layout: Layout, space: SpaceState, coords: jax.Array) -> PyTree:
    """Parameters at `coords`."""
    base_leaves = jax.tree_util.tree_leaves(space.base)
    out = [
        leaf_value(spec, b, p, jax.lax.dynamic_slice_in_dim(coords, spec.offset, spec.coords))
        for spec, b, p in zip(layout.leaves, base_leaves, space.proj)
    ]
    return jax.tree_util.tree_unflatten(layout.treedef, out)


def absorb(
    layout: Layout, subspace: Subspace, space: SpaceState, coords: jax.Array, key: jax.Array | None = None
) -> tuple[SpaceState, jax.Array]:
    """Fold `Proj(coords)` into the space and restart at z = 0, keeping the parameters.

    With `key`, every projection is redrawn (a fresh basis). Without, low-rank factors keep their moves
    (``A0 <- A0 + dA``, ``B0 <- B0 + dB``, base unchanged) and other leaves fold the offset into the base.
    """
    if subspace is None:
        return space, coords
    weights = jax.tree_util.tree_leaves(to_params(layout, space, coords))
    base_leaves = jax.tree_util.tree_leaves(space.base)
    if key is not None:
        keys = jax.random.split(key, len(layout.leaves))
        proj = tuple(_projection(k, spec, subspace) for k, spec in zip(keys, layout.leaves))
        base = [_compensate(spec, w, p) for spec, w, p in zip(layout.leaves, weights, proj)]
    else:
        proj, base = [], []
        for spec, w, b, p in zip(layout.leaves, weights, base_leaves, space.proj):
            if spec.kind == "lowrank":
                segment = jax.lax.dynamic_slice_in_dim(coords, spec.offset, spec.coords)
                proj.append(jnp.concatenate(lowrank_factors(spec, p, segment), axis=1))
                base.append(b)
            else:
                proj.append(p)
                base.append(w)
        proj = tuple(proj)
    return SpaceState(jax.tree_util.tree_unflatten(layout.treedef, base), proj), jnp.zeros_like(coords)


def with_projections(layout: Layout, space: SpaceState, coords: jax.Array, proj: tuple) -> tuple[SpaceState, jax.Array]:
    """Install projections of your own choosing (e.g. drawn from data), keeping the parameters unchanged.

    The current offset is folded into the base and the search restarts at z = 0. Low-rank leaves are not
    supported (their base depends on the factors); every projection must keep its leaf's shape.
    """
    require(len(proj) == len(layout.leaves), "proj", f"expected {len(layout.leaves)} projections (one per leaf), "
            f"got {len(proj)}")
    for spec, old, new in zip(layout.leaves, space.proj, proj):
        require(spec.kind not in ("lowrank", "full"), "proj",
                f"with_projections works on direct / dense / column leaves, not low-rank or full ones; got {spec.kind}")
        require(tuple(old.shape) == tuple(new.shape), "proj",
                f"a {spec.kind} leaf of shape {spec.shape} needs a projection of shape {tuple(old.shape)}, "
                f"got {tuple(new.shape)}")
    weights = to_params(layout, space, coords)
    return SpaceState(weights, tuple(proj)), jnp.zeros_like(coords)
