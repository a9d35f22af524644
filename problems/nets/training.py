"""Forward-only training of the hard models (PolyStep, OpenAI-ES, CMA-ES, SPSA) and Adam baselines.

One optimizer step per minibatch; at every epoch end the hard model is scored on validation and test; the
reported test accuracy is the one at the epoch of best validation accuracy (never selected on test).
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import polystep
from polystep.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from polystep.geometry import POLYTOPES
from polystep.validate import check_bool, check_choice, check_int, check_real, fail
from problems.nets.basis import align_to_activity
from problems.nets.data import Dataset, minibatches
from problems.nets.defaults import POLYSTEP_DEFAULTS, PROTOCOL, tuned_defaults
from problems.nets.models import TASKS, accuracy, cross_entropy, make_model
from problems.nets.structured import StructuredLoss

OPTIMIZERS = ("polystep", "openai_es", "cmaes", "spsa", "adam_smooth", "adam_ste")
SUBSPACES = ("lowrank", "column", "dense", "none")
BASES = ("random", "activity")


# TrainConfig fields left at None take the task's tuned value (problems/nets/defaults.py).
TUNED_FIELDS = tuple(POLYSTEP_DEFAULTS)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run: the published protocol and, for PolyStep, the task's tuned
    settings (`problems.nets.defaults`); a field left at None takes the task's tuned value at construction."""

    task: str = "int8"
    optimizer: str = "polystep"
    epochs: int = PROTOCOL["epochs"]
    schedule_epochs: int = 0  # > epochs: run only the first `epochs` of a longer schedule (tuning); 0: = epochs
    batch_size: int = PROTOCOL["batch_size"]
    # PolyStep (None: the task's tuned value)
    subspace: str | None = None
    rank: int | None = None
    b_scale: float | None = None  # low-rank: norm of the random B0 rows (0: B starts at zero, A-moves dead)
    basis: str | None = None  # column subspace: "activity" draws each step's span from the layer inputs (basis.py)
    particle_size: int | None = None
    polytope: str | None = None
    epsilon: float | None = None
    epsilon_final: float | None = None
    radius: float | None = None
    radius_final: float | None = None
    absorb_every: int | None = None
    fresh_basis: bool | None = None
    momentum: float | None = None
    weight_momentum: float | None = None  # heavy ball on the weights across absorbs (survives fresh bases)
    adaptive_radius: bool | None = None  # grow a block's radius while its probes all see one loss (plateaus)
    weight_ema: float | None = None  # > 0: val / test accuracy of a moving average of the weights (Polyak averaging)
    weight_decay: float | None = None  # > 0: shrink every weight by this fraction per step (annealed like the radius)
    structured: bool = True
    chunk_floats: int = 1 << 21
    # evolution strategies / SPSA (published settings)
    es_population: int = 50
    es_sigma: float = 0.02
    es_lr: float = 0.01
    cma_population: int = 16
    cma_sigma: float = 0.5
    spsa_a: float = 0.1
    spsa_c: float = 0.1
    # Adam
    adam_lr: float = 1e-3
    model_options: dict = field(default_factory=dict)

    def __post_init__(self):
        check_choice(self.task, "task", TASKS)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        for name, value in resolve_tuned(self.task, {n: getattr(self, n) for n in TUNED_FIELDS}).items():
            object.__setattr__(self, name, value)
        validate_train_config(self)


def resolve_tuned(task: str, values: dict, quick: bool = False) -> dict:
    """`values` (PolyStep field -> value or None) with every None replaced by `task`'s tuned value (full or
    quick size); an explicit epsilon sets epsilon_final to epsilon / 5, a non-column subspace a random basis."""
    tuned = tuned_defaults(task, quick)
    values = {name: values.get(name) for name in TUNED_FIELDS}
    if values["basis"] is None and values["subspace"] not in (None, "column"):
        values["basis"] = "random"
    if values["epsilon_final"] is None and values["epsilon"] is not None:
        values["epsilon_final"] = check_real(values["epsilon"], "epsilon", 0, lo_open=True) / 5
    return {name: tuned[name] if value is None else value for name, value in values.items()}


def validate_train_config(c: TrainConfig) -> None:
    """ValueError naming the field for any value out of its range (every field, every type)."""
    check_int(c.epochs, "epochs", 1)
    check_int(c.schedule_epochs, "schedule_epochs", 0)
    check_int(c.batch_size, "batch_size", 1)
    check_choice(c.subspace, "subspace", SUBSPACES)
    check_int(c.rank, "rank", 1)
    check_real(c.b_scale, "b_scale", 0)
    check_choice(c.basis, "basis", BASES)
    check_int(c.particle_size, "particle_size", 1)
    check_choice(c.polytope, "polytope", POLYTOPES)
    check_real(c.epsilon, "epsilon", 0, lo_open=True)
    check_real(c.epsilon_final, "epsilon_final", 0, c.epsilon, lo_open=True)
    check_real(c.radius, "radius", 0, lo_open=True)
    check_real(c.radius_final, "radius_final", 0, c.radius, lo_open=True)
    check_int(c.absorb_every, "absorb_every", 0)
    check_bool(c.fresh_basis, "fresh_basis")
    check_real(c.momentum, "momentum", 0, 1, hi_open=True)
    check_real(c.weight_momentum, "weight_momentum", 0, 1, hi_open=True)
    check_bool(c.adaptive_radius, "adaptive_radius")
    check_real(c.weight_ema, "weight_ema", 0, 1, hi_open=True)
    check_real(c.weight_decay, "weight_decay", 0, 1, hi_open=True)
    check_bool(c.structured, "structured")
    check_int(c.chunk_floats, "chunk_floats", 1)
    check_int(c.es_population, "es_population", 2)
    check_real(c.es_sigma, "es_sigma", 0, lo_open=True)
    check_real(c.es_lr, "es_lr", 0, lo_open=True)
    check_int(c.cma_population, "cma_population", 2)
    check_real(c.cma_sigma, "cma_sigma", 0, lo_open=True)
    check_real(c.spsa_a, "spsa_a", 0, lo_open=True)
    check_real(c.spsa_c, "spsa_c", 0, lo_open=True)
    check_real(c.adam_lr, "adam_lr", 0, lo_open=True)
    if not isinstance(c.model_options, dict):
        fail("model_options", f"must be a dict of model keyword arguments, got {c.model_options!r}")
    if c.basis == "activity" and (c.subspace != "column" or c.absorb_every != 1):
        fail("basis", "'activity' needs subspace=column and absorb_every=1 (a new span every step)")
    if c.weight_momentum and (c.subspace == "none" or c.absorb_every < 1):
        fail("weight_momentum", "needs a subspace and absorb_every >= 1 (it acts at absorb time); set it to 0")


def make_subspace(config: TrainConfig):
    """The polystep subspace object named by `config.subspace`."""
    if config.subspace == "lowrank":
        return polystep.LowRankSubspace(rank=config.rank, b_scale=config.b_scale)
    if config.subspace == "dense":
        return polystep.DenseSubspace(rank=config.rank)
    if config.subspace == "column":
        return polystep.ColumnSubspace(rank=config.rank)
    return None


def make_polystep(config: TrainConfig, total_steps: int) -> polystep.PolyStep:
    """PolyStep with cosine-decayed temperature epsilon and step / probe radius (scheduled, so not x eps)."""
    steps = max(total_steps, 1)
    eps = optax.cosine_decay_schedule(config.epsilon, steps, alpha=config.epsilon_final / config.epsilon)
    radius = optax.cosine_decay_schedule(config.radius, steps, alpha=config.radius_final / config.radius)
    # Decoupled weight decay anneals with the radius, as AdamW's decay scales with its learning rate.
    decay = (optax.cosine_decay_schedule(config.weight_decay, steps, alpha=config.radius_final / config.radius)
             if config.weight_decay else 0.0)
    return polystep.PolyStep(
        particle_size=config.particle_size, polytope=config.polytope, epsilon=eps,
        step_radius=radius, probe_radius=radius, subspace=make_subspace(config),
        absorb_every=config.absorb_every, momentum=config.momentum,
        fresh_basis=config.fresh_basis and config.basis == "random",  # an activity basis is drawn per batch
        weight_momentum=config.weight_momentum,
        adaptive_radius=config.adaptive_radius, weight_decay=decay,
    )


def forward_only_step(config: TrainConfig, model, total_steps: int, row_sparse: bool = True):
    """(optimizer, jitted step(key, state, x, y)) for a forward-only optimizer (`row_sparse`: see StructuredLoss)."""
    if config.optimizer == "polystep":
        opt = make_polystep(config, total_steps)
        def step(key, state, x, y):
            layout = opt.layout(state)
            if config.basis == "activity":
                basis_key, key = jax.random.split(key)
                space, coords = align_to_activity(model, layout, state.space, state.coords, x, basis_key)
                state = state._replace(space=space, coords=coords)
            if config.structured:
                loss = StructuredLoss(model, layout, x, y, config.chunk_floats, row_sparse)
            else:
                loss = lambda p: cross_entropy(model.apply(p, x, "hard"), y)
            return opt.step(key, state, loss)

        return opt, jax.jit(step)
    if config.optimizer == "openai_es":
        opt = polystep.OpenAIES(population_size=config.es_population, sigma=config.es_sigma,
                                learning_rate=config.es_lr)
    elif config.optimizer == "cmaes":
        opt = polystep.CMAES(population_size=config.cma_population, sigma=config.cma_sigma)
    else:
        opt = polystep.SPSA(a=config.spsa_a, c=config.spsa_c, expected_steps=total_steps)

    def step(key, state, x, y):
        return opt.step(key, state, lambda p: cross_entropy(model.apply(p, x, "hard"), y))

    return opt, jax.jit(step)


class _Compiled(NamedTuple):
    opt: object
    step: Callable
    hard_loss: Callable
    score: Callable
    smooth_score: Callable


_COMPILED: dict = {}


def _compiled(config: TrainConfig, model, total_steps: int) -> _Compiled:
    """Jitted step / loss / accuracy functions, reused by runs that differ only in seed or data values."""
    key = (repr(config), repr(model), total_steps)
    if key not in _COMPILED:
        if config.optimizer.startswith("adam"):
            mode = "smooth" if config.optimizer == "adam_smooth" else "ste"
            opt = optax.adam(config.adam_lr)

            @jax.jit
            def step(key, state, x, y):
                p, s = state
                grads = jax.grad(lambda q: cross_entropy(model.apply(q, x, mode), y))(p)
                updates, s = opt.update(grads, s, p)
                return (optax.apply_updates(p, updates), s)
        else:
            opt, step = forward_only_step(config, model, total_steps)
        if len(_COMPILED) >= 8:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = _Compiled(
            opt, step,
            jax.jit(lambda p, x, y: cross_entropy(model.apply(p, x, "hard"), y)),
            jax.jit(lambda p, x, y: accuracy(model.apply(p, x, "hard"), y)),
            jax.jit(lambda p, x, y: accuracy(model.apply(p, x, "smooth"), y)),
        )
    return _COMPILED[key]


def evaluations_per_step(config: TrainConfig, opt, state) -> int:
    """Loss evaluations (forward passes of one candidate on a minibatch) one step costs."""
    if config.optimizer == "polystep":
        return int(opt.candidates_per_step(state))
    if config.optimizer == "openai_es":
        return config.es_population
    if config.optimizer == "cmaes":
        return int(opt.population_size or 4 + int(3 * np.log(state.mean.shape[0])))
    if config.optimizer == "spsa":
        return 2 * opt.num_directions
    return 1


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_fields(config: TrainConfig, seed: int) -> dict[str, str]:
    """The fields that identify a run, as text: what a checkpoint records to name a mismatch later."""
    fields = {f.name: repr(getattr(config, f.name)) for f in dataclasses.fields(config)}
    return {**fields, "seed": repr(seed)}


# Fields added after checkpoints were first written, with the value that reproduces what runs did before them:
# a checkpoint that does not name such a field resumes a run that has that value.
_FIELDS_BEFORE_THEY_EXISTED = {"weight_ema": repr(0.0), "weight_decay": repr(0.0)}


def _check_resumable(meta: dict, config: TrainConfig, seed: int, directory: Path) -> None:
    """A checkpoint written by another config or seed is refused, naming the directory and the differing fields."""
    saved, now = meta.get("fields"), _run_fields(config, seed)
    if saved is None:  # written before checkpoints named their fields
        if meta.get("config") == repr(config) and meta.get("seed") == seed:
            return
        saved = {}
    else:
        saved = {**{k: v for k, v in _FIELDS_BEFORE_THEY_EXISTED.items() if k in now}, **saved}
        if saved == now:
            return
    differ = [f"{name}: checkpoint {saved.get(name, '(not recorded)')}, this run {value}"
              for name, value in now.items() if name in saved and saved[name] != value]
    detail = "; ".join(differ) if differ else "config or seed differ"
    raise CheckpointError(f"{directory}: the checkpoint belongs to another run ({detail}); "
                          "delete this directory to start the run over")


def train(config: TrainConfig, data: Dataset, seed: int, log=sys.stderr, checkpoint_dir: Path | None = None) -> dict:
    """Train `config.task` on `data` with `config.optimizer`; returns metrics and per-epoch curves.

    The seed fixes initial weights, subspace projections (drawn per seed), minibatch order and all noise.
    With `checkpoint_dir`, the whole state (optimizer state, curves, epoch) is saved at every epoch end and a
    run finds and resumes it: the resumed run's metrics equal the uninterrupted run's (wall times aside).
    """
    model = make_model(config.task, data.n_features, data.n_classes, **config.model_options)
    key = jax.random.PRNGKey(seed)
    init_key, opt_key, run_key = jax.random.split(key, 3)
    params = model.init(init_key)
    n_train = len(data.x_train)
    batch = min(config.batch_size, n_train)
    steps_per_epoch = n_train // batch
    total_steps = steps_per_epoch * config.epochs
    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)

    fns = _compiled(config, model, steps_per_epoch * max(config.schedule_epochs, config.epochs))
    if config.optimizer.startswith("adam"):
        mode = "smooth" if config.optimizer == "adam_smooth" else "ste"
        state = (params, fns.opt.init(params))
        get_params = lambda st: st[0]
        per_step = 1
        projection_checksum = 0.0
    else:
        mode = None
        opt = fns.opt
        state = opt.init(opt_key, params)
        get_params = opt.params
        per_step = evaluations_per_step(config, opt, state)
        proj = jax.tree_util.tree_leaves(getattr(getattr(state, "space", None), "proj", ()))
        projection_checksum = float(sum(jnp.abs(p).sum() for p in proj)) if proj else 0.0
    step_fn, hard_loss, score, smooth_score = fns.step, fns.hard_loss, fns.score, fns.smooth_score
    # PolyStep with weight_ema: accuracies (and the epoch choice) are those of a debiased moving average of the
    # weights; the iterate's own are kept as raw_val_accuracy / raw_test_accuracy.
    averaging = config.optimizer == "polystep" and config.weight_ema > 0
    average = optax.ema(config.weight_ema, debias=True)
    fold_in = jax.jit(lambda p, s: average.update(p, s)[1])
    ema_state = average.init(get_params(state)) if averaging else None

    def evaluated_params(st, ema):
        """The weights that val / test accuracy score: the iterate, or with averaging its debiased average."""
        if not averaging:
            return get_params(st)
        return jax.tree_util.tree_map(lambda m: m / (1 - config.weight_ema ** ema.count), ema.ema)

    def acc(p, x, y, fn=score):
        parts = [float(fn(p, jnp.asarray(x[i:i + 2000]), jnp.asarray(y[i:i + 2000]))) * len(x[i:i + 2000])
                 for i in range(0, len(x), 2000)]
        return sum(parts) / len(x)

    curve = {"epoch": [], "train_loss": [], "val_accuracy": [], "test_accuracy": [], "wall_s": []}
    step_losses = []
    if mode == "smooth":
        curve["smooth_test_accuracy"] = []
    if averaging:
        curve["raw_val_accuracy"], curve["raw_test_accuracy"] = [], []
    started = time.perf_counter()
    step_time = 0.0
    first_epoch = 0
    if checkpoint_dir is not None:
        saved = load_checkpoint(Path(checkpoint_dir), (state, ema_state) if averaging else state,
                                check_meta=lambda meta: _check_resumable(meta, config, seed, Path(checkpoint_dir)))
        if saved is not None:
            state, meta = saved
            if averaging:
                state, ema_state = state
            first_epoch, curve, step_losses = meta["epoch"], meta["curve"], meta["step_losses"]
            step_time = meta["step_time"]
            started -= curve["wall_s"][-1]
            print(f"  [{config.task}/{config.optimizer} seed {seed}] resumed after epoch {first_epoch} from "
                  f"{checkpoint_dir}", file=log, flush=True)
    for epoch in range(first_epoch, config.epochs):
        order = minibatches(n_train, batch, seed * 1000 + epoch)
        losses = []
        for b, idx in enumerate(order):
            x, y = x_train[idx], y_train[idx]
            t0 = time.perf_counter()
            state = step_fn(jax.random.fold_in(run_key, epoch * steps_per_epoch + b), state, x, y)
            jax.block_until_ready(state)
            if epoch or b:  # first step includes compilation
                step_time += time.perf_counter() - t0
            losses.append(float(hard_loss(get_params(state), x, y)))
            if averaging:
                ema_state = fold_in(get_params(state), ema_state)
        step_losses.extend(losses)
        p = evaluated_params(state, ema_state)
        if averaging:
            curve["raw_val_accuracy"].append(acc(get_params(state), data.x_val, data.y_val))
            curve["raw_test_accuracy"].append(acc(get_params(state), data.x_test, data.y_test))
        curve["epoch"].append(epoch + 1)
        curve["train_loss"].append(float(np.mean(losses)))
        curve["val_accuracy"].append(acc(p, data.x_val, data.y_val))
        curve["test_accuracy"].append(acc(p, data.x_test, data.y_test))
        curve["wall_s"].append(time.perf_counter() - started)
        if mode == "smooth":
            curve["smooth_test_accuracy"].append(acc(p, data.x_test, data.y_test, smooth_score))
        if checkpoint_dir is not None:
            save_checkpoint(Path(checkpoint_dir), (state, ema_state) if averaging else state, {
                "epoch": epoch + 1, "curve": curve, "step_losses": step_losses, "step_time": step_time,
                "config": repr(config), "seed": seed, "fields": _run_fields(config, seed)})
        print(f"  [{config.task}/{config.optimizer} seed {seed}] epoch {epoch + 1}/{config.epochs} "
              f"loss {curve['train_loss'][-1]:.4f} val {curve['val_accuracy'][-1]:.4f} "
              f"({curve['wall_s'][-1]:.1f}s)", file=log, flush=True)
    best = int(np.argmax(curve["val_accuracy"]))  # earliest epoch of best validation accuracy
    n_steps = total_steps
    metrics = {
        "val_accuracy": curve["val_accuracy"][best],
        "test_accuracy": curve["test_accuracy"][best],
        "selected_epoch": best + 1,
        "max_test_accuracy_published_style": max(curve["test_accuracy"]),
        "final_train_loss": curve["train_loss"][-1],
        "evaluations": int(per_step * n_steps),
        "steps": n_steps,
        "wall_s": time.perf_counter() - started,
        "step_s": step_time / max(n_steps - 1, 1),
        "peak_memory_mb": peak_memory_mb(),
        "curve": curve,
        "step_losses": step_losses,
        "projection_checksum": projection_checksum,
    }
    if mode == "smooth":
        metrics["smooth_test_accuracy"] = curve["smooth_test_accuracy"][best]
    if hasattr(model, "expert_load"):  # where the hard gate routes the validation images after the last epoch
        load = model.expert_load(evaluated_params(state, ema_state), jnp.asarray(data.x_val))
        metrics["expert_load_val"] = [round(float(v), 6) for v in load]
    return metrics
