"""Train learned scorers forward-only (PolyStep, OpenAI-ES, CMA-ES at one evaluation budget) on a seed graph,
and the supervised variant that regresses shortest-path cost-to-go values with optax.

The forward-only objective is piecewise constant in the parameters: minus the mean accuracy over a few
epsilons, minus a small delivery bonus, plus a small capped path-stretch penalty, over origin-destination
pairs sampled per step and shared by every candidate of the step (common random numbers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import optax

from polystep.validate import check_choice, check_int, check_real, fail
from simulators.wireless.features import candidate_features, check_features, stack
from simulators.wireless.graphs import GraphArrays, arrays
from simulators.wireless.scorers import Scorer, apply_scorer, init_params
from simulators.wireless.vectorized import all_pairs, jax_walk

__all__ = [
    "TrainConfig",
    "TrainResult",
    "JaxGraph",
    "to_jax",
    "union_graphs",
    "objective",
    "make_optimizer",
    "train_forward",
    "SupervisedConfig",
    "train_supervised",
    "OPTIMIZERS",
]

OPTIMIZERS = ("polystep", "openai_es", "cmaes")


class JaxGraph(NamedTuple):
    """The arrays a JAX walk needs: positions, Euclidean distances, padded neighbours, shortest paths."""

    pos: jax.Array
    dist: jax.Array
    nbr: jax.Array
    sp: jax.Array
    radius: float


def to_jax(ga: GraphArrays) -> JaxGraph:
    """Float32 JAX copies of a graph's arrays (unreachable shortest paths become a large finite value)."""
    sp = np.where(np.isfinite(ga.sp), ga.sp, 1e9)
    return JaxGraph(
        jnp.asarray(ga.pos, jnp.float32),
        jnp.asarray(ga.dist, jnp.float32),
        jnp.asarray(ga.nbr, jnp.int32),
        jnp.asarray(sp, jnp.float32),
        float(ga.radius),
    )


def union_graphs(graphs: Sequence[nx.Graph]) -> nx.Graph:
    """Disjoint union of positioned graphs, laid side by side far apart, so one walk can train on all."""
    if not graphs:
        raise ValueError("graphs: need at least one graph")
    parts, offset = [], 0.0
    for g in graphs:
        radius = float(g.graph.get("radius", 1.0))
        xs = [p[0] for _, p in g.nodes(data="pos")]
        h = nx.convert_node_labels_to_integers(g)
        for v in h.nodes:
            x, y = h.nodes[v]["pos"]
            h.nodes[v]["pos"] = (x - min(xs) + offset, y)
        offset += max(xs) - min(xs) + 10.0 * radius
        parts.append(h)
    union = nx.disjoint_union_all(parts)
    union.graph["radius"] = float(graphs[0].graph.get("radius", 1.0))
    return union


@dataclass
class TrainConfig:
    """A forward-only training run: scorer shape, objective, optimizer and its evaluation budget.

    Checked on construction: a wrong type, NaN, inf or out-of-range value raises a ValueError naming the field.
    """

    kind: str = "linear"  # linear | mlp
    features: tuple = ("dist_ratio", "stretch", "cos_angle", "is_self")
    hidden: int = 8
    optimizer: str = "polystep"  # polystep | openai_es | cmaes
    budget: int = 2000  # loss evaluations (candidates) in total
    pairs_per_step: int = 256  # OD pairs sampled per step, shared by the step's candidates
    epsilons: tuple = (0.05, 0.1, 0.2)  # accuracy terms of the objective
    delivery_weight: float = 0.1
    stretch_weight: float = 0.05
    stretch_cap: float = 3.0
    init_scale: float = 0.5
    select_every: int = 10  # steps between checkpoints scored on all seed-graph pairs
    # optimizer settings
    polystep_epsilon: float = 0.005  # softmax temperature on loss differences
    polystep_radius: float = 1.0  # step radius (probe radius = probe_scale * this), cosine-decayed
    es_population: int = 16
    es_sigma: float = 0.5
    es_learning_rate: float = 0.1
    cmaes_sigma: float = 0.5

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a ValueError naming the first field of a wrong type or out of range (also run by the trainer)."""
        check_choice(self.kind, "kind", ("linear", "mlp"))
        check_features(self.features)
        check_int(self.hidden, "hidden", 1, 4096)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_int(self.budget, "budget", 1)
        check_int(self.pairs_per_step, "pairs_per_step", 1)
        _check_epsilons(self.epsilons)
        for name in ("delivery_weight", "stretch_weight", "init_scale"):
            check_real(getattr(self, name), name, 0.0)
        check_real(self.stretch_cap, "stretch_cap", 1.0)
        check_int(self.select_every, "select_every", 1)
        for name in ("polystep_epsilon", "polystep_radius", "es_sigma", "es_learning_rate", "cmaes_sigma"):
            check_real(getattr(self, name), name, 0.0, lo_open=True)
        check_int(self.es_population, "es_population", 2)
        if self.es_population % 2:
            fail("es_population", f"must be an even integer >= 2 (antithetic pairs), got {self.es_population}")


def _check_epsilons(epsilons: Any) -> None:
    if isinstance(epsilons, str) or not isinstance(epsilons, (tuple, list)) or not epsilons:
        fail("epsilons", f"must be a non-empty tuple of finite numbers >= 0, got {epsilons!r}")
    for e in epsilons:
        check_real(e, "epsilons", 0.0)


@dataclass
class TrainResult:
    """The trained scorer, the loss history (evaluations, loss on all seed pairs) and what it cost."""

    scorer: Scorer
    history: list = field(default_factory=list)
    evaluations: int = 0
    selection_evaluations: int = 0
    best_loss: float = float("inf")
    wall: float = 0.0


def objective(params: Any, cfg: TrainConfig, g: JaxGraph, origins, dests, max_steps: int) -> jax.Array:
    """Forward-only loss of scorer `params` on pairs (origins, dests) of graph `g` (lower is better)."""
    names = tuple(cfg.features)

    def score_fn(feats):
        return apply_scorer(jnp, cfg.kind, params, stack(jnp, feats, names))

    ok, length = jax_walk(g.pos, g.dist, g.nbr, g.radius, origins, dests, score_fn, max_steps)
    sp = g.sp[origins, dests]
    acc = jnp.mean(jnp.stack([jnp.mean(ok & (length <= (1 + e) * sp * (1 + 1e-6))) for e in cfg.epsilons]))
    stretch = jnp.where(ok, jnp.minimum(length / sp, cfg.stretch_cap), cfg.stretch_cap)
    return -acc - cfg.delivery_weight * jnp.mean(ok) + cfg.stretch_weight * jnp.mean(stretch - 1.0)


def make_optimizer(cfg: TrainConfig, params: Any):
    """The optimizer named by `cfg.optimizer` (PolyStep / OpenAIES / CMAES from polystep) for `params`.

    PolyStep's radius follows a cosine decay (to 10%) over the steps the budget allows.
    """
    import polystep

    n_params = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params))
    if cfg.optimizer == "polystep":
        per_step = polystep.PolyStep(particle_size=2 if n_params > 1 else 1).candidates_per_step(params)
        radius = optax.cosine_decay_schedule(cfg.polystep_radius, max(1, cfg.budget // per_step), alpha=0.1)
        return polystep.PolyStep(
            particle_size=2 if n_params > 1 else 1,
            epsilon=cfg.polystep_epsilon,
            step_radius=radius,
            probe_radius=radius,
            adaptive_radius=True,
        )
    if cfg.optimizer == "openai_es":
        return polystep.OpenAIES(
            population_size=cfg.es_population,
            sigma=cfg.es_sigma,
            learning_rate=cfg.es_learning_rate,
            weight_decay=0.0,
        )
    return polystep.CMAES(sigma=cfg.cmaes_sigma)


def train_forward(
    graphs: nx.Graph | Sequence[nx.Graph], cfg: TrainConfig, seed: int, init: dict | None = None
) -> TrainResult:
    """Train a scorer forward-only on one seed graph (or a batch, walked as a disjoint union).

    Every step samples `pairs_per_step` connected OD pairs, evaluates all candidates on them (ask / tell),
    and every `select_every` steps scores the current estimate on all seed pairs; the best checkpoint wins.
    """
    cfg.validate()
    t0 = time.perf_counter()
    graph = graphs if isinstance(graphs, nx.Graph) else union_graphs(list(graphs))
    ga = arrays(graph)
    g = to_jax(ga)
    o_all, d_all = all_pairs(ga)
    if o_all.size == 0:
        raise ValueError("graphs: the seed graph has no connected pair to train on")
    max_steps = int(min(ga.n, 4 * np.sqrt(ga.n) + 8))
    key = jax.random.PRNGKey(seed)
    key, k_init, k_opt = jax.random.split(key, 3)
    params = (
        init
        if init is not None
        else init_params(k_init, cfg.kind, len(cfg.features), cfg.hidden, cfg.init_scale)
    )
    opt = make_optimizer(cfg, params)
    state = opt.init(k_opt, params)
    o_all_j, d_all_j = jnp.asarray(o_all, jnp.int32), jnp.asarray(d_all, jnp.int32)
    n_batch = min(cfg.pairs_per_step, o_all.size)

    @jax.jit
    def full_loss(p):
        return objective(p, cfg, g, o_all_j, d_all_j, max_steps)

    @jax.jit
    def one_step(key, state):
        k_pairs, k_ask = jax.random.split(key)
        pick = jax.random.choice(k_pairs, o_all_j.shape[0], (n_batch,), replace=False)
        o, d = o_all_j[pick], d_all_j[pick]
        population, state = opt.ask(k_ask, state)
        fitness = jax.vmap(lambda p: objective(p, cfg, g, o, d, max_steps))(population)
        return opt.tell(state, population, fitness), fitness.shape[0]

    best_params, best_loss = params, float(full_loss(params))
    history = [{"evaluations": 0, "loss": best_loss}]
    evaluations, selections, step = 0, 1, 0
    while evaluations < cfg.budget:
        key, sub = jax.random.split(key)
        state, pop = one_step(sub, state)
        evaluations += int(pop)
        step += 1
        if step % cfg.select_every == 0 or evaluations >= cfg.budget:
            # the current estimate and the best candidate seen on a sampled batch, both scored on all pairs
            scored = [(float(full_loss(p)), p) for p in (opt.params(state), state.best_params)]
            selections += len(scored)
            history.append({"evaluations": evaluations, "loss": scored[0][0]})
            for loss, p in scored:
                if loss < best_loss:
                    best_loss, best_params = loss, p
    scorer = Scorer(
        cfg.kind,
        tuple(cfg.features),
        jax.tree_util.tree_map(jnp.asarray, best_params),
        f"{cfg.kind}-{cfg.optimizer}",
    )
    return TrainResult(scorer, history, evaluations, selections, best_loss, time.perf_counter() - t0)


@dataclass
class SupervisedConfig:
    """Supervised variant: regress the normalized cost-to-go (d(v, u) + d_sp(u, D)) / d(O, D) with Adam."""

    kind: str = "mlp"
    features: tuple = ("dist_ratio", "stretch", "cos_angle", "hop")
    hidden: int = 16
    pairs: int = 64  # OD pairs sampled from the seed graph; states are the nodes on their shortest paths
    steps: int = 2000
    learning_rate: float = 0.01

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a ValueError naming the first field of a wrong type or out of range (also run by the trainer)."""
        check_choice(self.kind, "kind", ("linear", "mlp"))
        check_features(self.features)
        check_int(self.hidden, "hidden", 1, 4096)
        check_int(self.pairs, "pairs", 1)
        check_int(self.steps, "steps", 1)
        check_real(self.learning_rate, "learning_rate", 0.0, lo_open=True)


def _supervised_samples(ga: GraphArrays, cfg: SupervisedConfig, rng: np.random.Generator):
    o_all, d_all = all_pairs(ga)
    pick = rng.choice(o_all.size, min(cfg.pairs, o_all.size), replace=False)
    origins, dests, heres = [], [], []
    for o, d in zip(o_all[pick], d_all[pick]):
        v = int(o)
        while v != d:  # follow the shortest path
            origins.append(o), dests.append(d), heres.append(v)
            v = min(ga.nbr_list[v], key=lambda u, d=d, v=v: ga.dist[v, u] + ga.sp[u, d])
    o, d, h = (np.asarray(x, np.int64) for x in (origins, dests, heres))
    cand = ga.nbr[h]
    feats = candidate_features(np, ga.pos, ga.dist, ga.radius, o, d, h, cand)
    c = np.where(cand < 0, 0, cand)
    target = (ga.dist[h[:, None], c] + ga.sp[c, d[:, None]]) / ga.dist[o, d][:, None]
    return stack(np, feats, tuple(cfg.features)), target, cand >= 0


def train_supervised(graph: nx.Graph, cfg: SupervisedConfig, seed: int) -> TrainResult:
    """Fit a scorer to shortest-path cost-to-go on samples of one seed graph (gradient-based, optax Adam).

    The result never chooses to stay (its `is_self` candidate is excluded), as in the paper's setting.
    """
    cfg.validate()
    t0 = time.perf_counter()
    ga = arrays(graph)
    x, y, mask = _supervised_samples(ga, cfg, np.random.default_rng(seed))
    x, y, mask = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), jnp.asarray(mask, jnp.float32)
    params = init_params(jax.random.PRNGKey(seed), cfg.kind, len(cfg.features), cfg.hidden, 0.5)
    if cfg.kind == "mlp":
        params["b2"] = jnp.zeros(())
    tx = optax.adam(cfg.learning_rate)

    def loss(p):
        pred = apply_scorer(jnp, cfg.kind, p, x) + p.get("b2", 0.0)
        return jnp.sum(mask * (pred - y) ** 2) / jnp.sum(mask)

    @jax.jit
    def update(p, s):
        value, grad = jax.value_and_grad(loss)(p)
        upd, s = tx.update(grad, s, p)
        return optax.apply_updates(p, upd), s, value

    opt_state = tx.init(params)
    history = []
    for i in range(cfg.steps):
        params, opt_state, value = update(params, opt_state)
        if i % max(1, cfg.steps // 20) == 0 or i == cfg.steps - 1:
            history.append({"step": i, "mse": float(value)})
    params.pop("b2", None)  # a constant shift changes no decision
    features = tuple(cfg.features) + ("is_self",)
    if cfg.kind == "linear":
        params = {"w": jnp.concatenate([params["w"], jnp.asarray([1e6], jnp.float32)])}
    else:
        params = {
            "W1": jnp.concatenate([params["W1"], jnp.zeros((1, cfg.hidden))]),
            "b1": params["b1"],
            "w2": params["w2"],
        }
        params = _mlp_never_stay(params)
    return TrainResult(
        Scorer(cfg.kind, features, params, f"supervised-{cfg.kind}"),
        history,
        0,
        0,
        float(history[-1]["mse"]),
        time.perf_counter() - t0,
    )


def _mlp_never_stay(params: dict) -> dict:
    """Add one hidden unit driven only by `is_self` that pushes the stay candidate's score very high."""
    hidden = params["b1"].shape[0]
    w1 = jnp.concatenate([params["W1"], jnp.zeros((params["W1"].shape[0], 1)).at[-1, 0].set(50.0)], axis=1)
    del hidden
    return {
        "W1": w1,
        "b1": jnp.concatenate([params["b1"], jnp.zeros(1)]),
        "w2": jnp.concatenate([params["w2"], jnp.asarray([1e6], jnp.float32)]),
    }
