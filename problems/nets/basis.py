"""Activity-aligned column subspaces: draw each layer's span P from the layer's own inputs on the minibatch.

A unit's weight gradient on a minibatch, `inp^T delta`, lies in the span of the layer's input rows, and a
column move orthogonal to every input row leaves the minibatch loss unchanged. So instead of a Gaussian P
(which sees ~rank/d_in of a column's gradient), P = orthonormal(inp^T R) with Gaussian R (rows x rank):
random directions drawn with the inputs' second moment, a randomized range finder of the layer input.
Only forward activations are used; no gradient is computed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from polystep.subspace import Layout, SpaceState, to_params, with_projections
from problems.nets.structured import leaf_names


def activity_projections(model, layout: Layout, space: SpaceState, coords: jax.Array, x: jax.Array,
                         key: jax.Array) -> tuple:
    """One projection per leaf: activity-aligned P (d_in, rank) for column leaves, the current one otherwise."""
    names = leaf_names(layout)
    site_of = {site.weight: site.name for site in model.sites}
    cache = model.cache(to_params(layout, space, coords), x)
    keys = jax.random.split(key, len(layout.leaves))
    proj = []
    for index, (spec, old) in enumerate(zip(layout.leaves, space.proj)):
        if spec.kind != "column":
            proj.append(old)
            continue
        inp = cache[f"inp/{site_of[names[index]]}"].reshape(-1, spec.d_in)
        mix = jax.random.normal(keys[index], (inp.shape[0], spec.rank), inp.dtype)
        # a little isotropic noise keeps P full rank when the inputs span fewer than `rank` directions
        noise = 1e-3 * jnp.linalg.norm(inp) / jnp.sqrt(inp.shape[1]) * jax.random.normal(
            jax.random.fold_in(keys[index], 1), (spec.d_in, spec.rank), inp.dtype)
        proj.append(jnp.linalg.qr(inp.T @ mix + noise)[0].astype(old.dtype))
    return tuple(proj)


def align_to_activity(model, layout: Layout, space: SpaceState, coords: jax.Array, x: jax.Array,
                      key: jax.Array) -> tuple[SpaceState, jax.Array]:
    """The space with activity-aligned projections for minibatch `x`, same parameters, coordinates at zero."""
    return with_projections(layout, space, coords, activity_projections(model, layout, space, coords, x, key))
