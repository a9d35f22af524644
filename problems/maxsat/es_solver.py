"""Evolution-strategy baselines (polystep.OpenAIES, polystep.CMAES) on the same sign relaxation of MAX-SAT."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp

import polystep
from polystep.validate import check_int, check_real
from problems.maxsat.formula import Formula
from problems.maxsat.polystep_solver import steps_for
from problems.maxsat.relaxation import build_evaluator
from problems.maxsat.timed import no_variables, run_timed

MAX_CMAES_VARS = 100_000


@dataclass(frozen=True)
class ESConfig:
    """Baseline settings as published: OpenAI-ES pop 50 antithetic, sigma 0.02, lr 0.01, weight decay 0.01;
    CMA-ES pop 16, sigma0 0.5, diagonal above 1000 dimensions. x0 ~ U(-init_scale, init_scale)."""

    population_size: int | None = None  # None: 50 (OpenAI-ES) / 16 (CMA-ES)
    sigma: float | None = None  # None: 0.02 (OpenAI-ES) / 0.5 (CMA-ES)
    learning_rate: float = 0.01
    sigma_decay: float = 1.0
    init_scale: float = 0.05
    steps_per_call: int = 10
    hard_weight: float | None = None  # initial weight of a hard clause (None: soft total + 1)
    hard_growth: float = 2.0  # penalty schedule: falsified hard clauses weigh this much more after each call

    def __post_init__(self):
        if self.population_size is not None:
            check_int(self.population_size, "population_size", 2, 1_000_000)
        if self.sigma is not None:
            check_real(self.sigma, "sigma", 0.0, lo_open=True)
        check_real(self.learning_rate, "learning_rate", 0.0, lo_open=True)
        check_real(self.sigma_decay, "sigma_decay", 0.0, 1.0, lo_open=True)
        check_real(self.init_scale, "init_scale", 0.0, lo_open=True)
        check_int(self.steps_per_call, "steps_per_call", 1, 1_000_000)
        if self.hard_weight is not None:
            check_real(self.hard_weight, "hard_weight", 0.0, lo_open=True)
        check_real(self.hard_growth, "hard_growth", 1.0, 1e6)

    def optimizer(self, kind: str):
        """The configured polystep.OpenAIES ("openai_es") or polystep.CMAES ("cmaes")."""
        if kind == "openai_es":
            return polystep.OpenAIES(population_size=self.population_size or 50, sigma=self.sigma or 0.02,
                                     learning_rate=self.learning_rate, sigma_decay=self.sigma_decay,
                                     weight_decay=0.01)
        if kind == "cmaes":
            return polystep.CMAES(population_size=self.population_size or 16, sigma=self.sigma or 0.5)
        raise ValueError(f"solver: unknown ES {kind!r}; allowed: openai_es, cmaes")


def run_es(formula: Formula, kind: str, config: ESConfig = ESConfig(), time_limit: float = 10.0, seed: int = 0,
           max_steps: int | None = None, target: float = 0.0, max_evaluations: int | None = None, checkpoint=None):
    """Run OpenAI-ES or CMA-ES on the relaxation; returns (assignment, best feasible soft cost, trace,
    evaluations, steps). Hard clauses follow the penalty schedule `config.hard_growth`."""
    if kind == "cmaes" and formula.n_vars > MAX_CMAES_VARS:
        raise ValueError(f"n_vars: CMA-ES is limited to {MAX_CMAES_VARS} variables here, got {formula.n_vars}")
    t0 = time.perf_counter()
    ev = build_evaluator(formula, 1, config.hard_weight)
    opt = config.optimizer(kind)
    if formula.n_vars == 0:
        return no_variables(ev, t0)
    key = jax.random.PRNGKey(seed)
    k_init, k_x, key = jax.random.split(key, 3)
    x0 = jax.random.uniform(k_x, (formula.n_vars,), jnp.float32, -config.init_scale, config.init_scale)
    state = opt.init(k_init, x0)
    per_step = opt.population_size or 16
    return run_timed(opt, ev, x0, state, key, t0=t0, evaluations_per_step=per_step,
                     steps_per_call=config.steps_per_call, time_limit=time_limit,
                     max_steps=steps_for(max_steps, max_evaluations, per_step), target=target,
                     hard_growth=config.hard_growth, checkpoint=checkpoint)
