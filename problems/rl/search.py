"""Forward-only policy search (PolyStep, OpenAI-ES, CMA-ES) at equal budgets of candidate evaluations.

A candidate evaluation is R argmax-policy episodes; all candidates of a generation start from the same R
reset keys (common random numbers), fresh keys each generation. Every `eval_every` generations the current
estimate is scored on fixed validation episodes (pooled with `select_episodes` fresh episodes, counted in
the budget); the best-scoring estimate is returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import polystep
from polystep.geometry import POLYTOPES
from polystep.validate import check_bool, check_choice, check_int, check_real, fail
from problems.rl.checkpointing import CHECKPOINT_SECONDS, LoopCheckpoint, run_fingerprint
from problems.rl.envs import make
from problems.rl.rollout import evaluate, population_fitness

Array = jax.Array

OPTIMIZERS = ("polystep", "openai_es", "cmaes")
SHAPINGS = ("none", "rank", "zscore")


@dataclass(frozen=True)
class SearchConfig:
    """Budget and optimizer settings of one forward-only policy search.

    `evaluations` is the budget in candidate evaluations (each = `rollouts` episodes); the fitness is the
    mean return, the optimizers minimize `-return / cost_scale`. The search starts from the best of
    `init_samples` random policies (scored like candidates, counted in the budget; 0: one random draw).
    `select_episodes`: fresh episodes per checkpoint pooled with the validation episodes to pick the returned
    estimate (counted in the budget as ceil(select_episodes / rollouts) candidate evaluations; 0: validation only).
    PolyStep: `particle_size`, `polytope`, `epsilon`, `step_radius`, `probe_radius` (float radii are
    multiplied by epsilon), `momentum`, `adaptive_radius` (grow a block's radius while all its probes
    tie, e.g. on a fall-at-once plateau), `radius_max_scale` (cap of that growth), `epsilon_decay` (epsilon,
    and with it the float radii, decays exponentially to `epsilon * epsilon_decay` over the budget; 1: constant),
    `shaping` ('none': costs -return / cost_scale; 'rank': centred average ranks of the generation's returns in
    [-0.5, 0.5], ties equal; 'zscore': returns standardized over the generation), so that epsilon, the softmax
    temperature, is measured against the spread of the candidates' returns; `line_search` (0: off; k > 0: each
    generation the search point after PolyStep's step cut to 1, 1/4, ..., 4^-(k-1) of its length and the point
    before the step are scored on R fresh common episodes and the best is kept, ties to the longest step;
    k + 1 candidate evaluations per generation, counted in the budget). OpenAI-ES: `es_population`,
    `es_sigma`, `es_lr`, `es_weight_decay`. CMA-ES: `cma_population`, `cma_sigma`.
    """

    optimizer: str = "polystep"
    evaluations: int = 20_000
    rollouts: int = 8
    eval_every: int = 5
    init_samples: int = 64
    cost_scale: float = 100.0
    particle_size: int = 2
    polytope: str = "orthoplex"
    epsilon: float = 0.1
    step_radius: float = 1.0
    probe_radius: float = 1.0
    momentum: float = 0.0
    adaptive_radius: bool = True
    radius_max_scale: float = 64.0
    epsilon_decay: float = 1.0
    shaping: str = "none"
    select_episodes: int = 0
    line_search: int = 0
    es_population: int = 50
    es_sigma: float = 0.02
    es_lr: float = 0.01
    es_weight_decay: float = 0.01
    cma_population: int = 16
    cma_sigma: float = 0.5

    def __post_init__(self):
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        for name in ("evaluations", "rollouts", "eval_every", "particle_size"):
            check_int(getattr(self, name), name, lo=1)
        for name in ("init_samples", "select_episodes", "line_search"):
            check_int(getattr(self, name), name, lo=0)
        check_int(self.es_population, "es_population", lo=2)
        check_int(self.cma_population, "cma_population", lo=2)
        check_choice(self.polytope, "polytope", POLYTOPES)
        check_choice(self.shaping, "shaping", SHAPINGS)
        check_bool(self.adaptive_radius, "adaptive_radius")
        for name in ("cost_scale", "epsilon", "step_radius", "probe_radius", "es_sigma", "es_lr", "cma_sigma"):
            check_real(getattr(self, name), name, lo=0, lo_open=True)
        check_real(self.momentum, "momentum", lo=0, hi=1, hi_open=True)
        check_real(self.radius_max_scale, "radius_max_scale", lo=1)
        check_real(self.epsilon_decay, "epsilon_decay", lo=0, hi=1, lo_open=True)
        check_real(self.es_weight_decay, "es_weight_decay", lo=0)

    def make_optimizer(self, generations: int = 1):
        """The polystep optimizer this config names (`generations`: the length of the epsilon decay)."""
        if self.optimizer == "polystep":
            epsilon = self.epsilon
            if self.epsilon_decay < 1:
                epsilon = optax.exponential_decay(self.epsilon, max(int(generations), 1), self.epsilon_decay)
            return polystep.PolyStep(
                particle_size=self.particle_size, polytope=self.polytope, epsilon=epsilon,
                step_radius=self.step_radius, probe_radius=self.probe_radius, momentum=self.momentum,
                adaptive_radius=self.adaptive_radius, radius_max_scale=self.radius_max_scale,
            )
        if self.optimizer == "openai_es":
            return polystep.OpenAIES(
                population_size=self.es_population, sigma=self.es_sigma, learning_rate=self.es_lr,
                weight_decay=self.es_weight_decay,
            )
        return polystep.CMAES(population_size=self.cma_population, sigma=self.cma_sigma)


# Tuned settings of the forward-only search per environment (the fields not named keep SearchConfig's defaults).
# Chosen on a selection stream of episodes, never on the test stream; docs/rl.md ("Tuning") lists what was tried.
ENV_DEFAULTS = {
    "cartpole": {"rollouts": 8, "init_samples": 64, "momentum": 0.5, "line_search": 4},
    "acrobot": {"rollouts": 16, "init_samples": 64, "step_radius": 0.3, "probe_radius": 2.0, "momentum": 0.8,
                "select_episodes": 64},
}


def tuned_config(env, **overrides) -> SearchConfig:
    """The tuned SearchConfig for `env` (an environment, its short name or Gymnasium id), with `overrides` applied."""
    name = type(make(env) if isinstance(env, str) else env).__name__.lower()
    if name not in ENV_DEFAULTS:
        fail("env", f"no tuned search settings for {name!r}; tuned: {', '.join(ENV_DEFAULTS)}")
    return SearchConfig(**{**ENV_DEFAULTS[name], **overrides})


class SearchResult(NamedTuple):
    """Selected params, the validation curve against evaluations, and the totals spent."""

    params: dict
    curve_evaluations: list
    curve_return: list
    curve_env_steps: list
    evaluations: int
    episodes: int
    env_steps: int
    generations: int
    population: int
    wall_s: float


def population_size(opt, params) -> int:
    """Candidates per generation of `opt` on `params`."""
    if isinstance(opt, polystep.PolyStep):
        return opt.candidates_per_step(params)
    if isinstance(opt, polystep.CMAES):
        return opt.lam(sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params)))
    return opt.population_size


def centred_ranks(x: Array) -> Array:
    """Average ranks of `x` (N,) scaled to [-0.5, 0.5]; tied values get the same rank."""
    n = x.shape[0]
    less = (x[None, :] < x[:, None]).sum(axis=1)
    equal = (x[None, :] == x[:, None]).sum(axis=1)
    rank = less + 0.5 * (equal - 1)
    return rank / max(n - 1, 1) - 0.5


def shaped_costs(fitness: Array, shaping: str, cost_scale: float) -> Array:
    """Losses handed to the optimizer for returns `fitness` (N,): see `SearchConfig.shaping`."""
    if shaping == "rank":
        return -centred_ranks(fitness)
    if shaping == "zscore":
        return -(fitness - fitness.mean()) / (fitness.std() + 1e-6)
    return -fitness / cost_scale


LINE_SEARCH_SHRINK = 4.0  # step lengths tried by the line search: 1, 1/4, 1/16, ... of PolyStep's step


def step_lengths(levels: int) -> Array:
    """Fractions of a step the line search scores: 1, 1/4, ..., 4^-(levels-1), then 0 (stay where it was)."""
    return jnp.concatenate([LINE_SEARCH_SHRINK ** -jnp.arange(levels, dtype=jnp.float32), jnp.zeros((1,))])


def line_search_step(env, policy, opt, old, new, levels: int, keys: Array):
    """PolyStep's state `new` with its step from `old` cut to the length that scores best on the episodes `keys`.

    The search point after `levels` step lengths (see `step_lengths`) and before the step are scored on the same
    episodes (common random numbers); the best is kept, ties going to the longest step. The momentum buffer is
    cut by the same fraction (it is the move actually made), so a step cut to 0 also clears the momentum.
    Returns (state, env steps).
    """
    fractions = step_lengths(levels)
    move = new.coords - old.coords

    def at(fraction):
        return opt.params(new._replace(coords=old.coords + fraction * move))

    fitness, steps = population_fitness(env, policy, jax.vmap(at)(fractions), keys)
    fraction = fractions[jnp.argmax(fitness)]  # ties: the first, i.e. the longest step
    return new._replace(coords=old.coords + fraction * move, velocity=fraction * new.velocity), steps


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6))
def _generations(env, policy, opt, rollouts: int, cost_scale: float, shaping: str, line_search: int, state,
                 keys: Array):
    """Run one generation per key in `keys` (ask, CRN fitness, tell, optional line search); state, env steps."""

    def one(state, key):
        k_ask, k_env = jax.random.split(key)
        population, new = opt.ask(k_ask, state)
        fitness, steps = population_fitness(env, policy, population, jax.random.split(k_env, rollouts))
        new = opt.tell(new, population, shaped_costs(fitness, shaping, cost_scale))
        if line_search:
            check_keys = jax.random.split(jax.random.fold_in(key, 1), rollouts)
            new, check_steps = line_search_step(env, policy, opt, state, new, line_search, check_keys)
            steps = steps + check_steps
        return new, (steps, fitness.max())

    state, (steps, best) = jax.lax.scan(one, state, keys)
    return state, steps.sum(), best


def initial_params(env, policy, key: Array, crn_key: Array, samples: int, rollouts: int):
    """The best of `samples` random policies on `rollouts` common episodes (or one draw when samples = 0).

    Returns (params, evaluations spent, env steps spent).
    """
    if samples == 0:
        return policy.init(key), 0, 0
    candidates = jax.vmap(policy.init)(jax.random.split(key, samples))
    fitness, steps = population_fitness(env, policy, candidates, jax.random.split(crn_key, rollouts))
    best = int(jnp.argmax(fitness))
    return jax.tree_util.tree_map(lambda x: x[best], candidates), samples, int(steps)


def _budget(cfg: SearchConfig, start_evals: int, per_gen: int) -> tuple[int, int]:
    """(generations, candidate evaluations per checkpoint) that fit the budget, selection episodes included."""
    per_check = -(-cfg.select_episodes // cfg.rollouts)
    generations = (cfg.evaluations - start_evals) // per_gen
    while generations > 0 and (start_evals + generations * per_gen
                               + per_check * (1 + -(-generations // cfg.eval_every))) > cfg.evaluations:
        generations -= 1
    return generations, per_check


def search(env, policy, cfg: SearchConfig, key: Array, val_keys: Array, log=None, checkpoint_dir: Path | None = None,
           checkpoint_seconds: float = CHECKPOINT_SECONDS) -> SearchResult:
    """Forward-only search of `policy` on `env` within `cfg.evaluations` candidate evaluations.

    With `checkpoint_dir`, the whole search state is saved there every `checkpoint_seconds` (at the end of a
    round of `eval_every` generations), and a search started again with the same arguments resumes from it and
    returns the same result (wall time aside).
    """
    t0 = time.perf_counter()
    k_init, k_opt, k_start, key = jax.random.split(key, 4)
    k_sel = jax.random.fold_in(k_start, 1)
    params0, start_evals, env_steps = initial_params(env, policy, k_init, k_start, cfg.init_samples, cfg.rollouts)
    pop = population_size(cfg.make_optimizer(), params0)
    line_search = cfg.line_search if cfg.optimizer == "polystep" else 0
    per_gen = pop + (line_search + 1 if line_search else 0)  # candidate evaluations per generation
    generations, per_check = _budget(cfg, start_evals, per_gen)
    if generations < 1:
        raise ValueError(
            f"evaluations: budget {cfg.evaluations} is below init_samples + one generation "
            f"({start_evals} + {per_gen} candidates)"
        )
    opt = cfg.make_optimizer(generations)
    state = opt.init(k_opt, params0)
    gen_keys = jax.random.split(key, generations)
    n_val = int(val_keys.shape[0])
    checks = [0, 0]  # checkpoints scored, env steps spent on selection episodes

    def score(p):
        """(validation mean, selection score): validation and `select_episodes` fresh episodes pooled."""
        val = float(evaluate(env, policy, p, val_keys).ret.mean())
        if cfg.select_episodes == 0:
            return val, val
        fresh = evaluate(env, policy, p, jax.random.split(jax.random.fold_in(k_sel, checks[0]), cfg.select_episodes))
        checks[0] += 1
        checks[1] += int(fresh.length.sum())
        pooled = (val * n_val + float(fresh.ret.sum())) / (n_val + cfg.select_episodes)
        return val, pooled

    saver = LoopCheckpoint(checkpoint_dir, run_fingerprint("search", env, policy, cfg, keys=(key, val_keys)),
                           checkpoint_seconds)
    restored = saver.restore({"state": state, "best": params0})
    if restored is None:
        val0, sel0 = score(opt.params(state))
        curve_x, curve_y, curve_steps = [start_evals], [val0], [env_steps]
        best = (sel0, opt.params(state))
        done, spent_s = 0, 0.0
    else:
        tree, meta = restored
        state, best = tree["state"], (meta["best_score"], tree["best"])
        curve_x, curve_y, curve_steps = meta["curve_x"], meta["curve_y"], meta["curve_steps"]
        done, env_steps, checks, spent_s = meta["done"], meta["env_steps"], meta["checks"], meta["wall_s"]
        t0 = time.perf_counter()
    while done < generations:
        n = min(cfg.eval_every, generations - done)
        state, steps, _ = _generations(env, policy, opt, cfg.rollouts, cfg.cost_scale, cfg.shaping, line_search,
                                        state, gen_keys[done:done + n])
        done += n
        env_steps += int(steps)
        params = opt.params(state)
        val, sel = score(params)
        curve_x.append(start_evals + done * per_gen + checks[0] * per_check)
        curve_y.append(val)
        curve_steps.append(env_steps + checks[1])
        if sel >= best[0]:
            best = (sel, params)
        if log is not None:
            print(f"  {cfg.optimizer} gen {done}/{generations} val {val:.1f}", file=log, flush=True)
        saver.maybe_save({"state": state, "best": best[1]}, {
            "done": done, "env_steps": env_steps, "checks": checks, "best_score": best[0], "curve_x": curve_x,
            "curve_y": curve_y, "curve_steps": curve_steps, "wall_s": spent_s + time.perf_counter() - t0,
        }, final=done >= generations)
    evaluations = start_evals + generations * per_gen + checks[0] * per_check
    episodes = (start_evals + generations * per_gen) * cfg.rollouts + checks[0] * cfg.select_episodes
    return SearchResult(best[1], curve_x, curve_y, curve_steps, evaluations, episodes, env_steps + checks[1],
                        generations, pop, spent_s + time.perf_counter() - t0)

