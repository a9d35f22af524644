"""PolyStep on the MAX-SAT relaxation: x in R^n, assignment x > 0, candidates scored by delta evaluation."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp

import polystep
from polystep.geometry import POLYTOPES
from polystep.polystep import WEIGHTS
from polystep.validate import check_bool, check_choice, check_int, check_real
from problems.maxsat.formula import Formula
from problems.maxsat.relaxation import MAX_PARTICLE, build_evaluator
from problems.maxsat.timed import no_variables, run_timed


@dataclass(frozen=True)
class PolyStepMaxSATConfig:
    """PolyStep hyperparameters for MAX-SAT. Float radii are multiplied by epsilon (PolyStep's convention)."""

    particle_size: int = 2
    polytope: str = "orthoplex"
    epsilon: float = 0.5
    step_radius: float = 2.0
    probe_radius: float = 2.0
    weights: str = "softmax"
    momentum: float = 0.0
    adaptive_radius: bool = True
    radius_grow: float = 2.0
    radius_max_scale: float = 64.0
    init_scale: float = 1.0  # x0 ~ U(-init_scale, init_scale): a uniformly random starting assignment
    steps_per_call: int = 10  # steps fused in one compiled call between clock checks
    hard_weight: float | None = None  # initial weight of a hard clause (None: soft total + 1)
    hard_growth: float = 2.0  # penalty schedule: falsified hard clauses weigh this much more after each call
    l1: float = 0.3  # confidence penalty l1 * sum |x| (see relaxation.build_evaluator)

    def __post_init__(self):
        check_int(self.particle_size, "particle_size", 1, MAX_PARTICLE)
        check_choice(self.polytope, "polytope", POLYTOPES)
        check_real(self.epsilon, "epsilon", 0.0, lo_open=True)
        check_real(self.step_radius, "step_radius", 0.0, lo_open=True)
        check_real(self.probe_radius, "probe_radius", 0.0, lo_open=True)
        check_choice(self.weights, "weights", WEIGHTS)
        check_real(self.momentum, "momentum", 0.0, 1.0, hi_open=True)
        check_bool(self.adaptive_radius, "adaptive_radius")
        check_real(self.radius_grow, "radius_grow", 1.0)
        check_real(self.radius_max_scale, "radius_max_scale", 1.0)
        check_real(self.init_scale, "init_scale", 0.0, lo_open=True)
        check_int(self.steps_per_call, "steps_per_call", 1, 1_000_000)
        if self.hard_weight is not None:
            check_real(self.hard_weight, "hard_weight", 0.0, lo_open=True)
        check_real(self.hard_growth, "hard_growth", 1.0, 1e6)
        check_real(self.l1, "l1", 0.0)

    def optimizer(self) -> polystep.PolyStep:
        """The configured polystep.PolyStep."""
        return polystep.PolyStep(particle_size=self.particle_size, polytope=self.polytope, epsilon=self.epsilon,
                                 step_radius=self.step_radius, probe_radius=self.probe_radius,
                                 weights=self.weights, momentum=self.momentum,
                                 adaptive_radius=self.adaptive_radius, radius_grow=self.radius_grow,
                                 radius_max_scale=self.radius_max_scale)


def steps_for(max_steps: int | None, max_evaluations: int | None, per_step: int) -> int | None:
    """The step cap implied by a step and / or an evaluation budget (evaluations rounded up to whole steps)."""
    caps = [x for x in (max_steps, None if max_evaluations is None else math.ceil(max_evaluations / per_step))
            if x is not None]
    return min(caps) if caps else None


def run_polystep(formula: Formula, config: PolyStepMaxSATConfig = PolyStepMaxSATConfig(), time_limit: float = 10.0,
                 seed: int = 0, max_steps: int | None = None, target: float = 0.0,
                 max_evaluations: int | None = None, checkpoint=None):
    """Run PolyStep for `time_limit` seconds after the first (compiling) call, `max_steps` steps or
    `max_evaluations` candidate evaluations.

    Returns (best assignment, best feasible soft cost, trace, evaluations, steps); trace rows are (seconds
    since the start, candidate evaluations, best feasible soft cost so far). Hard clauses follow the
    penalty schedule `config.hard_growth` and the best assignment is chosen feasibility first.
    """
    t0 = time.perf_counter()
    ev = build_evaluator(formula, config.particle_size, config.hard_weight, config.l1)
    if formula.n_vars == 0:
        return no_variables(ev, t0)
    opt = config.optimizer()
    key = jax.random.PRNGKey(seed)
    k_init, k_x, key = jax.random.split(key, 3)
    x0 = jax.random.uniform(k_x, (formula.n_vars,), jnp.float32, -config.init_scale, config.init_scale)
    state = opt.init(k_init, x0)
    per_step = opt.candidates_per_step(state)
    return run_timed(opt, ev, x0, state, key, t0=t0, evaluations_per_step=per_step,
                     steps_per_call=config.steps_per_call, time_limit=time_limit,
                     max_steps=steps_for(max_steps, max_evaluations, per_step), target=target,
                     hard_growth=config.hard_growth, checkpoint=checkpoint)
