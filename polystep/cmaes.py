"""CMA-ES (Hansen's tutorial, arXiv:1604.00772): full covariance, or separable/diagonal (Ros & Hansen 2008).

Full mode: weighted recombination with active (negative) weights, cumulation paths p_sigma and p_c, rank-one
plus rank-mu covariance update, cumulative step-size adaptation, and an eigendecomposition (jnp.linalg.eigh)
refreshed every `eigen_interval` generations (Hansen's lazy-update rule by default).
Diagonal mode: the same with a diagonal C, positive weights only and learning rates c_1, c_mu scaled by
(d + 2) / 3 (sep-CMA); it costs O(lambda d) per generation and is the default above 1,000 dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from polystep import fitness as fit
from polystep.base import LossFn, auto_chunk, map_chunked
from polystep.flat import check_float_pytree, ravel, ravel_batch, strong, unravel_batch, unraveler
from polystep.validate import check_bool, check_optional_int, check_real

PyTree = Any
Array = jax.Array

DIAGONAL_ABOVE = 1000  # auto mode: diagonal covariance strictly above this many dimensions
# Largest ratio between the covariance's largest and smallest eigenvalue (keeps whitening finite).
MAX_CONDITION = 1e14


class CMAESState(NamedTuple):
    """CMA-ES state. Full mode: `cov`, `basis` (B) are (d, d); diagonal mode: `cov` is (d,), `basis` (0,)."""

    mean: Array
    sigma: Array
    p_sigma: Array
    p_c: Array
    cov: Array
    basis: Array
    scales: Array  # D: square roots of the eigenvalues of C (full) or sqrt(diag C) (diagonal)
    best_loss: Array
    best_params: PyTree
    step: Array
    last_eigen: Array


class Coefficients(NamedTuple):
    """Strategy constants for a dimension and population size (Hansen's defaults)."""

    weights: np.ndarray  # (lambda,), positive ones sum to 1; negative ones (active CMA) or zeros
    mu: int
    mu_eff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c_1: float
    c_mu: float
    chi_n: float
    eigen_interval: int


def coefficients(d: int, lam: int, diagonal: bool) -> Coefficients:
    """Hansen's default weights and learning rates; sep-CMA rates (x (d + 2) / 3) when `diagonal`."""
    mu = lam // 2
    raw = math.log((lam + 1) / 2) - np.log(np.arange(1, lam + 1))
    pos, neg = raw[:mu], raw[mu:]
    mu_eff = float(pos.sum() ** 2 / (pos**2).sum())
    c_c = (4 + mu_eff / d) / (d + 4 + 2 * mu_eff / d)
    c_sigma = (mu_eff + 2) / (d + mu_eff + 5)
    c_1 = 2 / ((d + 1.3) ** 2 + mu_eff)
    c_mu = min(1 - c_1, 2 * (mu_eff - 2 + 1 / mu_eff) / ((d + 2) ** 2 + mu_eff))
    if diagonal:
        c_1 = min(1.0, c_1 * (d + 2) / 3)
        c_mu = min(1 - c_1, c_mu * (d + 2) / 3)
    d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (d + 1)) - 1) + c_sigma
    weights = np.zeros(lam)
    weights[:mu] = pos / pos.sum()
    if not diagonal and neg.size and c_mu > 0 and (neg < 0).any():
        neg_part = np.minimum(neg, 0.0)
        mu_eff_neg = float(neg_part.sum() ** 2 / (neg_part**2).sum())
        alpha = min(1 + c_1 / c_mu, 1 + 2 * mu_eff_neg / (mu_eff + 2), (1 - c_1 - c_mu) / (d * c_mu))
        weights[mu:] = alpha * neg_part / np.abs(neg_part).sum()
    chi_n = math.sqrt(d) * (1 - 1 / (4 * d) + 1 / (21 * d * d))
    eigen_interval = max(1, int(1 / (10 * d * (c_1 + c_mu)))) if c_1 + c_mu > 0 else 1
    return Coefficients(weights, mu, mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_n, eigen_interval)


@dataclass(frozen=True)
class CMAES:
    """Covariance matrix adaptation evolution strategy over a pytree of float parameters.

    population_size None -> 4 + floor(3 ln d); diagonal None -> diagonal (sep-CMA) above 1,000 dimensions.
    `eigen_interval` None -> Hansen's lazy rule max(1, 1 / (10 d (c_1 + c_mu))) generations.
    """

    population_size: int | None = None
    sigma: float = 0.5
    diagonal: bool | None = None
    chunk_size: int | None = None
    eigen_interval: int | None = None

    def __post_init__(self) -> None:
        check_optional_int(self.population_size, "population_size", lo=2)
        check_real(self.sigma, "sigma", lo=0, lo_open=True)
        if self.diagonal is not None:
            check_bool(self.diagonal, "diagonal")
        check_optional_int(self.chunk_size, "chunk_size", lo=1)
        check_optional_int(self.eigen_interval, "eigen_interval", lo=1)

    # -- static configuration derived from the dimension -------------------------------------------------
    def lam(self, d: int) -> int:
        """The population size used in dimension d."""
        return self.population_size or 4 + int(3 * math.log(d))

    def is_diagonal(self, d: int) -> bool:
        """Whether dimension d runs the separable (diagonal) variant."""
        return self.diagonal if self.diagonal is not None else d > DIAGONAL_ABOVE

    def _coefficients(self, d: int) -> Coefficients:
        return coefficients(d, self.lam(d), self.is_diagonal(d))

    # -- interface ---------------------------------------------------------------------------------------
    def init(self, key: Array, params: PyTree) -> CMAESState:
        """Initial state centred on `params` with C = I (the key is unused; kept for the shared interface)."""
        del key
        check_float_pytree(params)
        params = strong(params)
        mean = ravel(params)
        d, dtype = mean.size, mean.dtype
        diag = self.is_diagonal(d)
        return CMAESState(
            mean=mean,
            sigma=jnp.asarray(self.sigma, dtype),
            p_sigma=jnp.zeros(d, dtype),
            p_c=jnp.zeros(d, dtype),
            cov=jnp.ones(d, dtype) if diag else jnp.eye(d, dtype=dtype),
            basis=jnp.zeros((0,), dtype) if diag else jnp.eye(d, dtype=dtype),
            scales=jnp.ones(d, dtype),
            best_loss=jnp.asarray(jnp.inf, dtype),
            best_params=params,
            step=jnp.asarray(0, jnp.int32),
            last_eigen=jnp.asarray(0, jnp.int32),
        )

    def params(self, state: CMAESState) -> PyTree:
        """The current mean as a parameter pytree."""
        return unraveler(state.best_params)(state.mean)

    def _sample(self, key: Array, state: CMAESState) -> tuple[Array, Array]:
        """(candidates, y) with y ~ N(0, C) and candidates = mean + sigma y."""
        d = state.mean.size
        z = jax.random.normal(key, (self.lam(d), d), state.mean.dtype)
        y = z * state.scales if state.basis.size == 0 else (z * state.scales) @ state.basis.T
        return state.mean + state.sigma * y, y

    def ask(self, key: Array, state: CMAESState) -> tuple[PyTree, CMAESState]:
        """The population (pytree with a leading axis of lambda) to evaluate, and the state."""
        candidates, _ = self._sample(key, state)
        return unravel_batch(unraveler(state.best_params), candidates), state

    def tell(self, state: CMAESState, population: PyTree, fitness: Array) -> CMAESState:
        """Update from the losses (lower is better) of a population returned by `ask`."""
        candidates = ravel_batch(population).astype(state.mean.dtype)
        return self._update(state, candidates, (candidates - state.mean) / state.sigma, jnp.asarray(fitness))

    def step(self, key: Array, state: CMAESState, loss_fn: LossFn) -> CMAESState:
        """One generation: sample, evaluate `loss_fn` vmapped in chunks of `chunk_size`, update."""
        candidates, y = self._sample(key, state)
        unravel = unraveler(state.best_params)
        chunk = self.chunk_size or auto_chunk(candidates.shape[0], state.mean.size)
        losses = map_chunked(lambda flat: loss_fn(unravel(flat)), candidates, chunk)
        return self._update(state, candidates, y, losses)

    # -- the update --------------------------------------------------------------------------------------
    def _whiten(self, state: CMAESState, v: Array) -> Array:
        """C^{-1/2} v for vectors on the last axis."""
        if state.basis.size == 0:
            return v / state.scales
        return ((v @ state.basis) / state.scales) @ state.basis.T

    def _update(self, state: CMAESState, candidates: Array, y: Array, losses: Array) -> CMAESState:
        d = state.mean.size
        k = self._coefficients(d)
        dtype = state.mean.dtype
        diag = state.basis.size == 0
        losses = fit.as_losses(losses, dtype)
        order = jnp.argsort(fit.ranking_key(losses), stable=True)
        y_sorted = y[order]
        weights = jnp.asarray(k.weights, dtype)
        y_w = weights[: k.mu] @ y_sorted[: k.mu]
        mean = state.mean + state.sigma * y_w

        gen = state.step + 1
        p_sigma = (1 - k.c_sigma) * state.p_sigma + math.sqrt(k.c_sigma * (2 - k.c_sigma) * k.mu_eff) * (
            self._whiten(state, y_w))
        norm_ps = jnp.linalg.norm(p_sigma)
        sigma = state.sigma * jnp.exp((k.c_sigma / k.d_sigma) * (norm_ps / k.chi_n - 1))
        threshold = (1.4 + 2 / (d + 1)) * k.chi_n
        unbiased = norm_ps / jnp.sqrt(1 - (1 - k.c_sigma) ** (2 * gen.astype(dtype)))
        h_sigma = (unbiased < threshold).astype(dtype)
        p_c = (1 - k.c_c) * state.p_c + h_sigma * math.sqrt(k.c_c * (2 - k.c_c) * k.mu_eff) * y_w
        delta_h = (1 - h_sigma) * k.c_c * (2 - k.c_c)

        # Active CMA: negative weights are rescaled by d / ||C^{-1/2} y||^2 (Hansen's tutorial, eq. 46).
        if diag:
            w_o = weights
        else:
            white_sq = jnp.sum(self._whiten(state, y_sorted) ** 2, axis=-1)
            w_o = jnp.where(weights >= 0, weights, weights * d / jnp.maximum(white_sq, 1e-12))
        decay = 1 + k.c_1 * delta_h - k.c_1 - k.c_mu * float(k.weights.sum())
        if diag:
            cov = decay * state.cov + k.c_1 * p_c**2 + k.c_mu * (w_o @ y_sorted**2)
            cov = jnp.maximum(cov, jnp.max(cov) / MAX_CONDITION)
            basis, scales, last_eigen = state.basis, jnp.sqrt(cov), gen
        else:
            cov = decay * state.cov + k.c_1 * jnp.outer(p_c, p_c) + k.c_mu * (y_sorted.T * w_o) @ y_sorted
            cov = (cov + cov.T) / 2
            interval = self.eigen_interval or k.eigen_interval
            refresh = gen - state.last_eigen >= interval

            def decompose(c):
                eigvals, vecs = jnp.linalg.eigh(c)
                return vecs, jnp.sqrt(jnp.maximum(eigvals, jnp.max(eigvals) / MAX_CONDITION))

            basis, scales = jax.lax.cond(refresh, decompose, lambda c: (state.basis, state.scales), cov)
            last_eigen = jnp.where(refresh, gen, state.last_eigen)

        best_loss, best_flat = fit.update_best(state.best_loss, ravel(state.best_params), candidates, losses)
        updated = CMAESState(
            mean=mean,
            sigma=sigma.astype(dtype),
            p_sigma=p_sigma,
            p_c=p_c,
            cov=cov,
            basis=basis,
            scales=scales,
            best_loss=best_loss,
            best_params=unraveler(state.best_params)(best_flat),
            step=gen,
            last_eigen=last_eigen.astype(jnp.int32),
        )
        # A collapsed distribution (all candidates tie at float precision) can overflow the step size; keep
        # the last finite distribution then, so the state is never poisoned.
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in (mean, sigma, p_sigma, p_c, cov, scales)]))
        distribution = ("mean", "sigma", "p_sigma", "p_c", "cov", "basis", "scales")
        return updated._replace(**{
            name: jnp.where(finite, getattr(updated, name), getattr(state, name)) for name in distribution
        })
