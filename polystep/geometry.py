"""Polytope templates and Haar-random rotations: the vertex geometry of a PolyStep step."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

POLYTOPES = ("orthoplex", "simplex", "cube")


MAX_PARTICLE_SIZE = 1024  # a block's rotation is (p, p) and its template (V, p): larger blocks are impractical


def template(name: str, dim: int) -> np.ndarray:
    """Vertices (V, dim) of a centred unit-radius polytope: orthoplex (2d), simplex (d+1) or cube (2^d).

    The array is cached and read-only (copy it to modify it).
    """
    if name not in POLYTOPES:
        raise ValueError(f"polytope: unknown {name!r}; allowed: {', '.join(POLYTOPES)}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= MAX_PARTICLE_SIZE:
        raise ValueError(f"particle_size: must be an integer in [1, {MAX_PARTICLE_SIZE}], got {dim!r}")
    return _template(name, int(dim))


@functools.lru_cache(maxsize=64)
def _template(name: str, dim: int) -> np.ndarray:
    verts = _vertices(name, dim)
    verts.setflags(write=False)
    return verts


def _vertices(name: str, dim: int) -> np.ndarray:
    if name == "orthoplex":
        eye = np.eye(dim)
        return np.concatenate([eye, -eye]).astype(np.float32)
    if name == "cube":
        if dim > 16:
            raise ValueError(f"particle_size: the cube has 2^d vertices; d={dim} is too large (allowed <= 16)")
        corners = np.array(list(itertools.product((-1.0, 1.0), repeat=dim)))
        return (corners / np.sqrt(dim)).astype(np.float32)
    # Regular simplex: centred standard basis of R^(d+1), projected onto an orthonormal basis of its hyperplane.
    eye = np.eye(dim + 1) - 1.0 / (dim + 1)
    basis = np.linalg.svd(eye)[2][:dim]  # rows span the sum-zero hyperplane
    verts = eye @ basis.T
    verts /= np.linalg.norm(verts, axis=1, keepdims=True)
    return verts.astype(np.float32)


def haar_rotation(key: jax.Array, dim: int, dtype=jnp.float32) -> jax.Array:
    """One rotation drawn from the Haar measure on SO(dim) (QR of a Gaussian, signs fixed, det forced +1)."""
    gauss = jax.random.normal(key, (dim, dim), dtype)
    q, r = jnp.linalg.qr(gauss)
    q = q * jnp.sign(jnp.diagonal(r))[None, :]
    # Flipping one column maps the det = -1 half of O(d) onto SO(d) without changing the measure.
    flip = jnp.where(jnp.linalg.det(q) < 0, -1.0, 1.0).astype(dtype)
    return q.at[:, 0].multiply(flip)


def aligned_rotation(key: jax.Array, direction: jax.Array) -> jax.Array:
    """A random rotation whose first axis points along `direction` (uniform rotation when it is zero)."""
    dim = direction.shape[0]
    gauss = jax.random.normal(key, (dim, dim), direction.dtype)
    norm = jnp.linalg.norm(direction)
    first = jnp.where(norm > 0, direction / jnp.where(norm > 0, norm, 1.0), gauss[:, 0])
    q, r = jnp.linalg.qr(gauss.at[:, 0].set(first))
    q = q * jnp.sign(jnp.diagonal(r))[None, :]
    if dim > 1:
        flip = jnp.where(jnp.linalg.det(q) < 0, -1.0, 1.0).astype(q.dtype)
        q = q.at[:, -1].multiply(flip)
    return q


def rotations(key: jax.Array, count: int, dim: int, dtype=jnp.float32) -> jax.Array:
    """`count` independent Haar rotations, shape (count, dim, dim)."""
    return jax.vmap(lambda k: haar_rotation(k, dim, dtype))(jax.random.split(key, count))
