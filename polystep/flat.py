"""Ravel / unravel a pytree of float arrays into one flat search vector (for the evolution strategies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

PyTree = Any
Array = jax.Array


def check_float_pytree(params: PyTree, field: str = "params") -> None:
    """Raise ValueError naming `field` unless `params` is a pytree of floating-point arrays with >= 1 entry."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError(f"{field}: the parameter pytree has no array leaves")
    for leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"{field}: every leaf must be a floating-point array, found dtype {dtype} "
                             "(cast integer parameters to a float dtype and round inside the loss)")
    if sum(int(np.size(leaf)) for leaf in leaves) == 0:
        raise ValueError(f"{field}: the parameter pytree has no entries (every leaf is empty)")


def strong(params: PyTree) -> PyTree:
    """The pytree as concrete-dtype JAX arrays (no weak types), so a jitted step compiles only once."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype=jnp.result_type(x)), params)


def flatten(params: PyTree) -> tuple[Array, Callable[[Array], PyTree]]:
    """(flat vector, unravel) of a pytree of float arrays; unravel(flat) rebuilds the pytree (dtypes kept)."""
    return ravel_pytree(params)


def unraveler(template: PyTree) -> Callable[[Array], PyTree]:
    """The unravel function of pytrees shaped like `template`: any float flat vector in, `template`'s dtypes out.

    The optimizers search in float32 or wider; each leaf comes back in its own dtype (float16 stays float16).
    Under jit the ravel of the template itself is dead code.
    """
    flat, unravel = ravel_pytree(template)
    dtypes = [jnp.result_type(x) for x in jax.tree_util.tree_leaves(template)]
    treedef = jax.tree_util.tree_structure(template)

    def rebuild(vector: Array) -> PyTree:
        leaves = jax.tree_util.tree_leaves(unravel(jnp.asarray(vector).astype(flat.dtype)))
        return jax.tree_util.tree_unflatten(treedef, [x.astype(d) for x, d in zip(leaves, dtypes)])

    return rebuild


def search_dtype(dtype) -> jnp.dtype:
    """The dtype of a search vector: at least float32 (float16 / bfloat16 leaves are searched in float32)."""
    return jnp.promote_types(dtype, jnp.float32)


def ravel(params: PyTree) -> Array:
    """The flat search vector of one pytree, in `search_dtype` of its leaves."""
    flat = ravel_pytree(params)[0]
    return flat.astype(search_dtype(flat.dtype))


def ravel_batch(population: PyTree) -> Array:
    """Flatten a population pytree whose leaves share a leading axis N into an (N, d) search matrix."""
    return jax.vmap(ravel)(population)


def unravel_batch(unravel: Callable[[Array], PyTree], flat: Array) -> PyTree:
    """Rebuild a population pytree (leading axis N) from an (N, d) matrix."""
    return jax.vmap(unravel)(flat)
