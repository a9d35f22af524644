"""Fitness processing shared by the evolution strategies: sanitizing, rank shaping, best-so-far tracking.

Every function here stays finite for any input, including NaN, +-inf and finite losses near the float limits
(+-3e38 in float32): finite losses are clipped to +-LOSS_BOUND_FRACTION of the dtype's largest value before any
arithmetic, so a penalty "worse than every finite loss" and the sums of a generation cannot overflow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from polystep.base import sanitize_costs

Array = jax.Array

# Finite losses are clipped to +-(largest float) / 8: the penalty worst + 1 + |worst| and sums divided by their
# count then stay below the largest float.
LOSS_BOUND_FRACTION = 0.125


def loss_dtype(dtype) -> jnp.dtype:
    """The dtype the optimizers keep losses and search vectors in: at least float32 (float64 stays float64)."""
    return jnp.promote_types(dtype, jnp.float32)


def as_losses(fitness: Array, dtype=jnp.float32) -> Array:
    """Losses as a flat `dtype` vector; finite values beyond `dtype`'s range become its largest value, not inf."""
    fitness = jnp.asarray(fitness).reshape(-1)
    if not jnp.issubdtype(fitness.dtype, jnp.floating):
        return fitness.astype(dtype)
    big = jnp.finfo(dtype).max
    if jnp.finfo(fitness.dtype).max > big:
        fitness = jnp.where(jnp.isfinite(fitness), jnp.clip(fitness, -big, big), fitness)
    return fitness.astype(dtype)


def bounded(fitness: Array) -> Array:
    """Finite losses clipped to +-LOSS_BOUND_FRACTION * the dtype's largest value (non-finite ones unchanged)."""
    fitness = jnp.asarray(fitness)
    bound = LOSS_BOUND_FRACTION * float(jnp.finfo(fitness.dtype).max)
    return jnp.where(jnp.isfinite(fitness), jnp.clip(fitness, -bound, bound), fitness)


def worse_than_all_penalty(fitness: Array) -> Array:
    """A penalty strictly worse than every finite loss of `bounded(fitness)` (1 when none is finite)."""
    fitness = bounded(fitness)
    finite = jnp.isfinite(fitness)
    worst = jnp.max(jnp.where(finite, fitness, -jnp.inf))
    worst = jnp.where(jnp.isfinite(worst), worst, 0.0)
    return worst + 1.0 + jnp.abs(worst)


def sanitize(fitness: Array) -> Array:
    """Bounded losses with NaN / +-inf replaced by a penalty worse than every finite loss (ranks put them last).

    A loss of -inf counts as a failed evaluation, like NaN, not as the best possible value.
    """
    fitness = as_losses(fitness, loss_dtype(jnp.asarray(fitness).dtype))
    return sanitize_costs(bounded(fitness), worse_than_all_penalty(fitness))


def ranking_key(fitness: Array) -> Array:
    """Losses for ordering: finite values as they are, every non-finite value last (as +inf, tied)."""
    fitness = jnp.asarray(fitness)
    return jnp.where(jnp.isfinite(fitness), fitness, jnp.inf)


def finite_mean(fitness: Array) -> Array:
    """Mean of the finite losses (computed without overflow); +inf when none is finite."""
    fitness = as_losses(fitness, loss_dtype(jnp.asarray(fitness).dtype))
    finite = jnp.isfinite(fitness)
    count = jnp.sum(finite)
    parts = jnp.where(finite, fitness, 0.0) / jnp.maximum(count, 1).astype(fitness.dtype)
    return jnp.where(count > 0, jnp.sum(parts), jnp.inf)


def centered_ranks(fitness: Array) -> Array:
    """Centred ranks in [-0.5, 0.5]: the lowest loss gets -0.5; ties share their average rank."""
    n = fitness.shape[-1]
    ranks = jax.scipy.stats.rankdata(fitness, axis=-1) - 1.0
    return ranks / (n - 1) - 0.5


def standardized(fitness: Array) -> Array:
    """Z-scored losses (zero mean, unit variance; all zeros when the losses are all equal).

    The losses are first divided by their largest magnitude (z-scores do not change), so huge finite losses
    cannot overflow the squares.
    """
    scale = jnp.max(jnp.abs(fitness), axis=-1, keepdims=True)
    fitness = fitness / jnp.where(scale > 0, scale, 1.0)
    centred = fitness - jnp.mean(fitness, axis=-1, keepdims=True)
    std = jnp.std(fitness, axis=-1, keepdims=True)
    return jnp.where(std > 0, centred / jnp.where(std > 0, std, 1.0), 0.0)


def update_best(best_loss: Array, best_flat: Array, candidates: Array, fitness: Array) -> tuple[Array, Array]:
    """Best-so-far (loss, flat point) after a generation; non-finite losses are never taken as best."""
    clean = jnp.where(jnp.isfinite(fitness), fitness, jnp.inf).astype(best_loss.dtype)
    i = jnp.argmin(clean)
    better = clean[i] < best_loss
    return jnp.where(better, clean[i], best_loss), jnp.where(better, candidates[i], best_flat).astype(best_flat.dtype)


def keep_if_finite(new: tuple, old: tuple) -> tuple:
    """`new` when every array in it is finite, else `old` (a step that would overflow is skipped whole)."""
    leaves = jax.tree_util.tree_leaves(new)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves if jnp.issubdtype(x.dtype, jnp.inexact)]))
    return jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), new, old)
