"""The interface every forward-only optimizer shares, and chunked (bounded-memory) candidate evaluation
sharded over the local devices."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from polystep.sharding import map_sharded
from polystep.validate import fail

PyTree = Any
Array = jax.Array
LossFn = Callable[[PyTree], Array]


class Blocks(NamedTuple):
    """A compact description of candidates: candidate n moves block `index[n]` of the coordinates by `delta[n]`.

    Coordinates are the optimizer's flat search vector (full parameters, or subspace coordinates); block b
    covers coordinates `layout.block_start[b] : layout.block_start[b] + particle_size` of it.
    """

    index: Array  # (N,) int32
    delta: Array  # (N, particle_size)


@runtime_checkable
class BlockEvaluator(Protocol):
    """A loss that can score compact candidates cheaply (cached prefix activations, delta evaluation...).

    `block_losses(space_state, coords, blocks)` returns the (N,) losses of the candidates `coords` moved by
    `blocks`; `__call__(params)` is the plain loss of one parameter pytree.
    """

    def __call__(self, params: PyTree) -> Array: ...

    def block_losses(self, space_state: Any, coords: Array, blocks: Blocks) -> Array: ...


class Optimizer(Protocol):
    """init / step / params, plus evosax-style ask / tell for callers who evaluate candidates themselves."""

    def init(self, key: Array, params: PyTree) -> Any: ...

    def step(self, key: Array, state: Any, loss_fn: LossFn) -> Any: ...

    def params(self, state: Any) -> PyTree: ...

    def ask(self, key: Array, state: Any) -> tuple[PyTree, Any]: ...

    def tell(self, state: Any, population: PyTree, fitness: Array) -> Any: ...


def auto_chunk(n_candidates: int, dim: int, budget_floats: int = 1 << 25) -> int:
    """Largest chunk whose materialized candidates fit in `budget_floats` floats (at least 1)."""
    return int(max(1, min(n_candidates, budget_floats // max(dim, 1))))


def map_chunked(fn: Callable[[Any], Array], items: Any, chunk_size: int) -> Array:
    """`vmap(fn)` over the leading axis of `items`, `chunk_size` at a time (memory bounded by one chunk per
    device), the candidate axis split over every local device."""
    return map_batches(jax.vmap(fn), items, chunk_size)


def sanitize_costs(costs: Array, penalty: float) -> Array:
    """Replace NaN / inf costs by `penalty` so a bad candidate never poisons the optimizer state."""
    return jnp.where(jnp.isfinite(costs), costs, penalty)


def require(condition: bool, field: str, message: str) -> None:
    """Raise ValueError naming the hyperparameter `field` when `condition` is false."""
    if not condition:
        raise ValueError(f"{field}: {message}")


def map_batches(fn: Callable[[Any], Array], items: Any, chunk_size: int) -> Array:
    """`fn` applied to successive chunks of `items` (fn itself is batched), results concatenated.

    On several devices the candidate axis is split over all of them (`polystep.sharding`) and each device
    evaluates its share `chunk_size` at a time; on one device this is the plain chunked loop.
    """
    return map_sharded(lambda local: map_local_batches(fn, local, chunk_size), items)


def map_local_batches(fn: Callable[[Any], Array], items: Any, chunk_size: int) -> Array:
    """`fn` over `items` on one device, `chunk_size` rows at a time (padding the last chunk)."""
    n = jax.tree_util.tree_leaves(items)[0].shape[0]
    chunk = int(max(1, min(chunk_size, n)))
    if chunk >= n:
        return fn(items)
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n

    def pad_and_split(x):
        x = jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)], axis=0) if pad else x
        return x.reshape((n_chunks, chunk) + x.shape[1:])

    out = jax.lax.map(fn, jax.tree_util.tree_map(pad_and_split, items))
    return out.reshape((n_chunks * chunk,) + out.shape[2:])[:n]


def population_differs(expected: PyTree, given: PyTree, field: str = "population") -> Array:
    """Whether `given` differs from `expected` beyond float rounding (a scalar bool array).

    A different tree structure or leaf shape raises ValueError naming `field` at once; values are compared
    leaf by leaf in the expected leaf's dtype, within 16 ulps of the leaf's largest magnitude.
    """
    expected_leaves, expected_def = jax.tree_util.tree_flatten(expected)
    given_leaves, given_def = jax.tree_util.tree_flatten(given)
    if expected_def != given_def:
        fail(field, f"expected a pytree structured like {expected_def}, got {given_def}")
    flags = []
    for e, g in zip(expected_leaves, given_leaves):
        g = jnp.asarray(g)
        if g.shape != e.shape:
            fail(field, f"expected leaves of shape {e.shape} (candidates first), got {g.shape}")
        g = g.astype(e.dtype)
        if jnp.issubdtype(e.dtype, jnp.floating):
            scale = jnp.maximum(jnp.max(jnp.abs(e)), 1.0).astype(jnp.float32)
            tolerance = 16 * float(jnp.finfo(e.dtype).eps) * scale
            diff = jnp.abs(g.astype(jnp.float32) - e.astype(jnp.float32))
            flags.append(jnp.any(~(diff <= tolerance)))  # NaN counts as a difference
        else:
            flags.append(jnp.any(g != e))
    return jnp.any(jnp.stack(flags)) if flags else jnp.asarray(False)


def raise_if(flag: Array | bool, field: str, message: str) -> None:
    """Raise ValueError(`field: message`) when `flag` holds.

    Eagerly the error is raised here. Under jit (a traced flag) the check runs with the computation and the
    error surfaces when its result is used, as JAX's runtime error carrying the same `field: message` text.
    """
    if isinstance(flag, jax.core.Tracer):
        # The host callback sits in the taken branch only, so a run that passes the check never waits on the host.
        # (Under vmap both branches run; the callback then raises only if some flag holds.)
        report = functools.partial(_raise_when, field=field, message=message)
        jax.lax.cond(jnp.any(flag), lambda f: jax.debug.callback(report, f), lambda f: None, flag)
    elif bool(np.any(np.asarray(flag))):
        fail(field, message)


def _raise_when(flag: np.ndarray, field: str, message: str) -> None:
    if np.any(flag):
        fail(field, message)
