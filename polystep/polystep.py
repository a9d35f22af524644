"""PolyStep: forward-only optimization by optimal-transport steps over rotated polytope vertices.

Per step, every block (particle) i of `particle_size` coordinates gets a Haar-random rotation R_i; candidate
(i, v) moves only block i to the probe point X_i + r_probe * s * R_i T_v. Its loss C_iv is turned into weights
(row softmax(-C/eps), or a balanced log-domain Sinkhorn plan) and the block moves to the barycentre of the
step points X_i + r_step R_i T_v. See docs/api.md for every option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from polystep import geometry, schedules
from polystep.base import (
    Array,
    Blocks,
    PyTree,
    auto_chunk,
    map_batches,
    map_chunked,
    population_differs,
    raise_if,
)
from polystep.sinkhorn import sinkhorn_log, softmax_weights
from polystep.subspace import (
    ColumnSubspace,
    DenseSubspace,
    Layout,
    LowRankSubspace,
    SpaceState,
    Subspace,
    absorb,
    init_space,
    make_layout,
    to_params,
)
from polystep.validate import check_bool, check_choice, check_int, check_optional_int, check_real, fail

WEIGHTS = ("softmax", "sinkhorn")
SUBSPACES = (DenseSubspace, LowRankSubspace, ColumnSubspace)
# Finite losses are clipped to +-COST_BOUND before weighting, so the penalty of a failed candidate
# (worst + 10 * spread + 1) and the shifted costs stay finite in float32 whatever the losses are.
COST_BOUND = 1e30
F32_MAX = float(np.finfo(np.float32).max)
MAX_RADIUS = 1e30  # radii are capped here, so radius x adaptive scale x momentum stays finite


class PolyStepState(NamedTuple):
    """Everything PolyStep carries between steps (a pytree)."""

    coords: Array  # (dim,) search vector (parameters, or subspace coordinates)
    space: SpaceState  # base parameters and projections
    step: Array  # int32 step counter
    velocity: Array  # (dim,) momentum buffer
    displacement: Array  # (dim,) last OT displacement (EMA when amortized), biases the first axis
    radius_scale: Array  # (n_blocks,) adaptive radius multipliers (1 when off)
    dual_f: Array  # (n_blocks,) Sinkhorn row duals (warm start)
    dual_g: Array  # (V,) Sinkhorn column duals
    best_loss: Array  # lowest candidate loss seen
    best_params: PyTree  # parameters of that candidate
    last_loss: Array  # lowest candidate loss of the last evaluated step
    pending: Array  # (n_blocks, V, p) unit probe directions of the last `ask`
    basis_key: Array  # key for fresh subspace bases at absorb time (derived from the init key)
    weight_velocity: PyTree  # parameter change of the last absorb period (heavy ball across absorbs); () if off


@dataclass(frozen=True)
class PolyStep:
    """Forward-only optimizer over rotated polytope vertices with OT (softmax / Sinkhorn) weights.

    Radii given as floats are multiplied by epsilon(t); radii given as schedules (step -> value) are not.
    The default epsilon decays as 0.1 / (1 + t / 100) (`schedules.InverseTimeDecay`), and the default radii
    with it; pass `epsilon=0.1` for the former constant temperature.
    """

    particle_size: int = 2
    polytope: str = "orthoplex"
    epsilon: schedules.Schedule = schedules.InverseTimeDecay(0.1, 100.0)
    step_radius: schedules.Schedule = 1.0
    probe_radius: schedules.Schedule = 1.0
    probe_scale: float = 0.5
    weights: str = "softmax"
    sinkhorn_iterations: int = 50
    momentum: float = 0.0
    amortize_every: int = 1
    amortize_decay: float = 0.9
    bias_first_axis: bool = False
    adaptive_radius: bool = False
    radius_grow: float = 2.0
    radius_max_scale: float = 64.0
    flat_tolerance: float = 0.0
    subspace: Subspace = None
    absorb_every: int = 0
    fresh_basis: bool = False
    weight_momentum: float = 0.0
    weight_decay: schedules.Schedule = 0.0
    chunk_size: int | None = None

    def __post_init__(self):
        check_int(self.particle_size, "particle_size", lo=1, hi=geometry.MAX_PARTICLE_SIZE)
        check_choice(self.polytope, "polytope", geometry.POLYTOPES)
        check_choice(self.weights, "weights", WEIGHTS)
        schedules.check(self.epsilon, "epsilon", positive=True)
        schedules.check(self.step_radius, "step_radius", positive=False)
        schedules.check(self.probe_radius, "probe_radius", positive=False)
        check_real(self.probe_scale, "probe_scale", lo=0, lo_open=True)
        check_int(self.sinkhorn_iterations, "sinkhorn_iterations", lo=1)
        check_real(self.momentum, "momentum", lo=0, hi=1, hi_open=True)
        check_int(self.amortize_every, "amortize_every", lo=1)
        check_real(self.amortize_decay, "amortize_decay", lo=0, hi=1, hi_open=True)
        for name in ("bias_first_axis", "adaptive_radius", "fresh_basis"):
            check_bool(getattr(self, name), name)
        check_real(self.radius_grow, "radius_grow", lo=1)
        check_real(self.radius_max_scale, "radius_max_scale", lo=1)
        check_real(self.flat_tolerance, "flat_tolerance", lo=0)
        if self.subspace is not None and not isinstance(self.subspace, SUBSPACES):
            fail("subspace", f"must be None or one of {', '.join(c.__name__ for c in SUBSPACES)}, "
                 f"got {self.subspace!r}")
        check_int(self.absorb_every, "absorb_every", lo=0)
        check_real(self.weight_momentum, "weight_momentum", lo=0, hi=1, hi_open=True)
        if self.weight_momentum != 0 and (self.subspace is None or self.absorb_every < 1):
            fail("weight_momentum", "needs a subspace and absorb_every >= 1 (it acts at absorb time)")
        schedules.check(self.weight_decay, "weight_decay", positive=False)
        if not callable(self.weight_decay):
            check_real(self.weight_decay, "weight_decay", lo=0, hi=1, hi_open=True)
        if self._decays and self.subspace is not None and self.absorb_every < 1:
            fail("weight_decay", "with a subspace it acts at absorb time: needs absorb_every >= 1")
        check_optional_int(self.chunk_size, "chunk_size", lo=1)
        geometry.template(self.polytope, self.particle_size)  # validates the polytope size

    @property
    def _decays(self) -> bool:
        return callable(self.weight_decay) or self.weight_decay != 0

    def _decay_factor(self, step: Array, steps: int) -> Array:
        """(1 - weight_decay(step)) ** steps; a value outside [0, 1) or not finite decays nothing."""
        wd = schedules.evaluate(self.weight_decay, step)
        wd = jnp.where(jnp.isfinite(wd) & (wd >= 0) & (wd < 1), wd, 0.0)
        return (1.0 - wd) ** steps

    # ----------------------------------------------------------------------------------------- structure
    @property
    def vertices(self) -> np.ndarray:
        """The unit polytope template T (V, particle_size)."""
        return geometry.template(self.polytope, self.particle_size)

    def layout(self, state_or_params: PolyStepState | PyTree) -> Layout:
        """The static block layout of a state (or of a parameter pytree before `init`)."""
        params = state_or_params.space.base if isinstance(state_or_params, PolyStepState) else state_or_params
        return make_layout(self.subspace, params, self.particle_size)

    def candidates_per_step(self, state_or_params) -> int:
        return self.layout(state_or_params).n_blocks * self.vertices.shape[0]

    # ------------------------------------------------------------------------------------------ API
    def init(self, key: Array, params: PyTree) -> PolyStepState:
        """A fresh state at `params`; the subspace projections are drawn from `key`.

        Leaves must be floating point (float16 / bfloat16 / float32 / float64); the search runs in float32 and
        `params(state)`, `best_params` and the candidates the loss sees come back in each leaf's own dtype.
        """
        _check_float_leaves(params)
        space_key, basis_key = jax.random.split(key)
        space, coords = init_space(space_key, self.subspace, params, self.particle_size)
        layout = self.layout(params)
        n_vertices = self.vertices.shape[0]
        return PolyStepState(
            coords=coords,
            space=space,
            step=jnp.zeros((), jnp.int32),
            velocity=jnp.zeros_like(coords),
            displacement=jnp.zeros_like(coords),
            radius_scale=jnp.ones((layout.n_blocks,), jnp.float32),
            dual_f=jnp.zeros((layout.n_blocks,), jnp.float32),
            dual_g=jnp.zeros((n_vertices,), jnp.float32),
            best_loss=jnp.asarray(jnp.inf, jnp.float32),
            best_params=_cast_like(to_params(layout, space, coords), params),
            last_loss=jnp.asarray(jnp.inf, jnp.float32),
            pending=jnp.zeros((layout.n_blocks, n_vertices, self.particle_size), jnp.float32),
            basis_key=basis_key,
            weight_velocity=jax.tree_util.tree_map(jnp.zeros_like, space.base) if self.weight_momentum else (),
        )

    def params(self, state: PolyStepState) -> PyTree:
        """The current parameter estimate (each leaf in the dtype of the `params` given to `init`)."""
        return _cast_like(to_params(self.layout(state), state.space, state.coords), state.best_params)

    def step(self, key: Array, state: PolyStepState, loss_fn) -> PolyStepState:
        """One PolyStep step. `loss_fn(params) -> scalar`, or a BlockEvaluator scoring compact candidates.

        Traceable: jit it with `jax.jit(opt.step, static_argnums=2)`, or close over per-batch data inside a
        jitted function of your own.
        """
        if self.amortize_every == 1:
            return self._ot_step(key, state, loss_fn)
        is_ot = state.step % self.amortize_every == 0
        return jax.lax.cond(is_ot, lambda s: self._ot_step(key, s, loss_fn), self._amortized_step, state)

    def ask_blocks(self, key: Array, state: PolyStepState) -> tuple[Blocks, PolyStepState]:
        """The step's candidates as compact block moves (nothing materialized) and the state to `tell`."""
        directions = self._directions(key, state)
        state = state._replace(pending=directions)
        return self._probe_blocks(state, directions), state

    def ask(self, key: Array, state: PolyStepState) -> tuple[PyTree, PolyStepState]:
        """All candidates of a step as a stacked parameter pytree (leading axis N = n_blocks * V).

        Evaluate them as they are and pass them unchanged to `tell` (clip or round inside the loss, not here).
        """
        blocks, state = self.ask_blocks(key, state)
        return self._population(state, blocks), state

    def tell(self, state: PolyStepState, population: PyTree | Blocks, fitness: Array) -> PolyStepState:
        """Update from the losses `fitness` (N,) of the candidates returned by the last `ask` / `ask_blocks`.

        `population` must be what that call returned (the parameter pytree, or the Blocks): the update moves
        along PolyStep's own probe directions, so a population that differs (reordered, clipped, another step's)
        raises ValueError instead of being ignored. Under jit the check runs with the step and the error surfaces
        as JAX's runtime error with the same message. Checking a pytree rebuilds the population once; `Blocks`
        are compared directly.
        """
        fitness = jnp.asarray(fitness, jnp.float32).reshape(-1)
        expected = state.pending.shape[0] * state.pending.shape[1]
        if fitness.shape[0] != expected:
            raise ValueError(f"fitness: expected {expected} values (one per candidate), got {fitness.shape[0]}")
        blocks = self._probe_blocks(state, state.pending)
        reference = blocks if isinstance(population, Blocks) else self._population(state, blocks)
        raise_if(population_differs(reference, population), "population",
                 "differs from the candidates of the last ask / ask_blocks; PolyStep updates along its own probe "
                 "points, so pass that population unchanged (clip or round inside the loss instead)")
        return self._update(state, state.pending, fitness)

    def _population(self, state: PolyStepState, blocks: Blocks) -> PyTree:
        """The parameter pytrees of the candidates `blocks` (stacked on a leading axis)."""
        layout = self.layout(state)
        starts = jnp.asarray(layout.block_start)
        return jax.vmap(lambda i, d: _cast_like(
            to_params(layout, state.space, _move(state.coords, starts[i], d)), state.best_params))(
            blocks.index, blocks.delta
        )

    # ------------------------------------------------------------------------------------ internals
    def _schedule(self, state: PolyStepState):
        """(epsilon, step radius, probe radius) at this step.

        A schedule value that is NaN, infinite or out of range (epsilon <= 0, a radius < 0) cannot raise inside a
        traced step: both radii are set to 0 instead, so the step does not move (epsilon is then 1, unused).
        Radii above MAX_RADIUS are capped.
        """
        eps, eps_ok = schedules.guard(schedules.evaluate(self.epsilon, state.step), positive=True)
        eps = jnp.where(eps_ok, eps, 1.0)
        r_step, step_ok = schedules.guard(schedules.radius(self.step_radius, eps, state.step), positive=False)
        r_probe, probe_ok = schedules.guard(
            schedules.radius(self.probe_radius, eps, state.step) * self.probe_scale, positive=False)
        moves = eps_ok & step_ok & probe_ok
        r_step, r_probe = (jnp.where(moves, jnp.minimum(r, MAX_RADIUS), 0.0) for r in (r_step, r_probe))
        return eps, r_step, r_probe

    def _directions(self, key: Array, state: PolyStepState) -> Array:
        """Unit probe directions R_i T_v for every block, shape (n_blocks, V, p)."""
        n_blocks = state.radius_scale.shape[0]
        p = self.particle_size
        if self.bias_first_axis:
            last = state.displacement.reshape(n_blocks, p)
            rot = jax.vmap(geometry.aligned_rotation)(jax.random.split(key, n_blocks), last)
        elif p == 1:
            rot = jnp.ones((n_blocks, 1, 1), jnp.float32)
        elif p == 2:
            theta = jax.random.uniform(key, (n_blocks,), jnp.float32, 0.0, 2 * jnp.pi)
            c, s = jnp.cos(theta), jnp.sin(theta)
            rot = jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)
        else:
            rot = geometry.rotations(key, n_blocks, p)
        return jnp.einsum("bij,vj->bvi", rot, jnp.asarray(self.vertices))

    def _probe_blocks(self, state: PolyStepState, directions: Array) -> Blocks:
        _, _, r_probe = self._schedule(state)
        n_blocks, n_vertices, p = directions.shape
        deltas = directions * (r_probe * state.radius_scale)[:, None, None]
        index = jnp.repeat(jnp.arange(n_blocks, dtype=jnp.int32), n_vertices)
        return Blocks(index, deltas.reshape(n_blocks * n_vertices, p))

    def _evaluate(self, state: PolyStepState, blocks: Blocks, loss_fn) -> Array:
        layout = self.layout(state)
        n = blocks.index.shape[0]
        if hasattr(loss_fn, "block_losses"):
            chunk = self.chunk_size or n
            return map_batches(lambda b: loss_fn.block_losses(state.space, state.coords, b), blocks, chunk)
        n_params = sum(int(np.prod(s.shape)) for s in layout.leaves)
        chunk = self.chunk_size or auto_chunk(n, layout.dim + n_params)
        starts = jnp.asarray(layout.block_start)

        def one(block):
            moved = _move(state.coords, starts[block[0]], block[1])
            return loss_fn(_cast_like(to_params(layout, state.space, moved), state.best_params))

        return map_chunked(one, (blocks.index, blocks.delta), chunk)

    def _ot_step(self, key: Array, state: PolyStepState, loss_fn) -> PolyStepState:
        blocks, state = self.ask_blocks(key, state)
        costs = self._evaluate(state, blocks, loss_fn)
        return self._update(state, state.pending, costs)

    def _amortized_step(self, state: PolyStepState) -> PolyStepState:
        coords, velocity = self._apply(state, state.displacement)
        return self._finish(state._replace(coords=coords, velocity=velocity))

    def _apply(self, state: PolyStepState, displacement: Array) -> tuple[Array, Array]:
        velocity = self.momentum * state.velocity + displacement
        return state.coords + velocity, velocity

    def _update(self, state: PolyStepState, directions: Array, costs: Array) -> PolyStepState:
        n_blocks, n_vertices, p = directions.shape
        eps, r_step, _ = self._schedule(state)
        costs = jnp.asarray(costs).reshape(n_blocks, n_vertices)
        finite = jnp.isfinite(costs)
        # The losses as float32 (clipped to its range: the best-so-far record), and bounded for the weights.
        raw = jnp.clip(jnp.where(finite, costs, 0), -F32_MAX, F32_MAX).astype(jnp.float32)
        bounded = jnp.clip(raw, -COST_BOUND, COST_BOUND)
        lo = jnp.min(jnp.where(finite, bounded, jnp.inf))
        hi = jnp.max(jnp.where(finite, bounded, -jnp.inf))
        penalty = jnp.where(jnp.any(finite), hi + 10.0 * (hi - lo) + 1.0, 0.0)
        cost = jnp.where(finite, bounded, penalty)
        shifted = cost - cost.min(axis=1, keepdims=True)

        dual_f, dual_g = state.dual_f, state.dual_g
        if self.weights == "softmax":
            weights = softmax_weights(shifted, eps)
        else:
            result = sinkhorn_log(shifted, eps, f0=dual_f, g0=dual_g, iterations=self.sinkhorn_iterations)
            plan = result.plan / jnp.maximum(result.plan.sum(1, keepdims=True), 1e-30)
            # Log-domain Sinkhorn can still underflow for a tiny epsilon against huge cost spreads: that step
            # falls back to the softmax weights and the warm-start duals restart from zero.
            ok = jnp.all(jnp.isfinite(plan)) & jnp.all(jnp.isfinite(result.f)) & jnp.all(jnp.isfinite(result.g))
            weights = jnp.where(ok, plan, softmax_weights(shifted, eps))
            dual_f = jnp.where(ok, result.f, 0.0)
            dual_g = jnp.where(ok, result.g, 0.0)
        # Barycentric projection of the step points X_i + r_step * scale_i * R_i T_v.
        step_scale = r_step * state.radius_scale
        moves = jnp.einsum("bv,bvi->bi", weights, directions) * step_scale[:, None]
        displacement = moves.reshape(-1)
        coords, velocity = self._apply(state, displacement)

        radius_scale = state.radius_scale
        if self.adaptive_radius:
            flat = (shifted.max(axis=1) <= self.flat_tolerance)
            grown = jnp.minimum(radius_scale * self.radius_grow, self.radius_max_scale)
            radius_scale = jnp.where(flat, grown, 1.0 + 0.5 * (radius_scale - 1.0))
        if self.amortize_every > 1:
            displacement = self.amortize_decay * state.displacement + (1 - self.amortize_decay) * displacement

        # Best-so-far: the lowest-loss candidate of this step, reconstructed once.
        flat_index = jnp.argmin(jnp.where(finite, raw, jnp.inf).reshape(-1))  # ties: the first
        step_best = jnp.where(jnp.any(finite), raw.reshape(-1)[flat_index], jnp.inf)
        layout = self.layout(state)
        _, _, r_probe = self._schedule(state)
        block = flat_index // n_vertices
        delta = directions.reshape(-1, p)[flat_index] * r_probe * state.radius_scale[block]
        candidate = _move(state.coords, jnp.asarray(layout.block_start)[block], delta)
        improved = step_best < state.best_loss
        best_params = jax.lax.cond(
            improved, lambda: _cast_like(to_params(layout, state.space, candidate), state.best_params),
            lambda: state.best_params,
        )
        state = state._replace(
            coords=coords, velocity=velocity, displacement=displacement, radius_scale=radius_scale,
            dual_f=dual_f, dual_g=dual_g, best_loss=jnp.minimum(step_best, state.best_loss),
            best_params=best_params, last_loss=step_best,
        )
        return self._finish(state)

    def _finish(self, state: PolyStepState) -> PolyStepState:
        """Advance the step counter; absorb the subspace offset into the base every `absorb_every` steps."""
        if self._decays and self.subspace is None:
            state = state._replace(coords=state.coords * self._decay_factor(state.step, 1).astype(state.coords.dtype))
        state = state._replace(step=state.step + 1)
        if self.subspace is None or self.absorb_every == 0:
            return state
        layout = self.layout(state)

        def do_absorb(s: PolyStepState) -> PolyStepState:
            key = jax.random.fold_in(s.basis_key, s.step) if self.fresh_basis else None
            space, coords = absorb(layout, self.subspace, s.space, s.coords, key)
            velocity = s.weight_velocity
            if self.weight_momentum:
                # Heavy ball in parameter space: v <- change since the last absorb + beta v; the base moves on by
                # beta * v_old, so the momentum survives a fresh basis (coordinate momentum cannot).
                beta = self.weight_momentum
                change = jax.tree_util.tree_map(jnp.subtract, to_params(layout, s.space, s.coords),
                                                to_params(layout, s.space, jnp.zeros_like(s.coords)))
                space = space._replace(base=jax.tree_util.tree_map(lambda b, v: b + beta * v, space.base, velocity))
                velocity = jax.tree_util.tree_map(lambda c, v: c + beta * v, change, velocity)
            if self._decays:
                # Decoupled weight decay (as in AdamW), per step of the absorb period, at the period's first step.
                factor = self._decay_factor(s.step - self.absorb_every, self.absorb_every)
                space = space._replace(base=jax.tree_util.tree_map(lambda b: b * factor.astype(b.dtype), space.base))
            return s._replace(space=space, coords=coords, velocity=jnp.zeros_like(coords),
                              displacement=jnp.zeros_like(coords), weight_velocity=velocity)

        return jax.lax.cond(state.step % self.absorb_every == 0, do_absorb, lambda s: s, state)


def _check_float_leaves(params: PyTree) -> None:
    for leaf in jax.tree_util.tree_leaves(params):
        dtype = jnp.asarray(leaf).dtype if not hasattr(leaf, "dtype") else leaf.dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            fail("params", f"every leaf must be a floating-point array, found dtype {dtype} (PolyStep searches "
                 "real values: cast integer parameters to a float dtype and round inside the loss)")


def _cast_like(tree: PyTree, template: PyTree) -> PyTree:
    """`tree` with each leaf cast to the dtype of the matching leaf of `template` (a no-op for float32)."""
    return jax.tree_util.tree_map(lambda x, t: x.astype(jnp.asarray(t).dtype), tree, template)


def _move(coords: Array, start: Array, delta: Array) -> Array:
    """`coords` with the block starting at `start` moved by `delta`."""
    p = delta.shape[0]
    block = jax.lax.dynamic_slice_in_dim(coords, start, p)
    return jax.lax.dynamic_update_slice_in_dim(coords, block + delta, start, 0)
