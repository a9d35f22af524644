"""Forward-only training of non-differentiable networks (SNN, int8, argmax attention, staircase, MoE, tree).

`python -m experiments run nondiff_nets --set task=snn --set optimizer=polystep`; `task` and `optimizer`
accept comma-separated lists (a sweep). Records val / test accuracy (test at the epoch chosen on validation),
the train-loss curve, evaluations, wall time and peak memory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from experiments.registry import Experiment
from problems.nets.data import DataFileError, load_dataset
from problems.nets.models import TASKS
from problems.nets.training import OPTIMIZERS, TrainConfig, train

PUBLISHED_DATA = {"argmax": "fashion_mnist", "moe": "mnist_fashion"}
TUNED_B_SCALE = {"snn": 0.3}  # tuned on MNIST validation (docs/nets.md); every other task: 0.5
TUNED_EPSILON = {"snn": 0.01}  # tuned on MNIST validation (docs/nets.md); every other task: 0.003
COLUMNS = [("polystep", "PolyStep"), ("adam_smooth", "Adam (smooth)"), ("adam_ste", "Adam (STE)"),
           ("cmaes", "CMA-ES"), ("openai_es", "OpenAI-ES"), ("spsa", "SPSA")]
MODELS = {
    "snn": "784-128-10 hard LIF, 15 steps, decay .95, threshold 1, reset 0, spike counts",
    "int8": "784-128-[int8 128-128, scale .01]-10",
    "argmax": "784-128, 8 keys, argmax slot gates a 128-128 map, -10",
    "staircase": "784-128-128-10, floor(5 sigmoid(x))/5",
    "moe": "784-128, argmax gate over 4 experts (128-128-128), -C",
    "tree": "oblique tree, depth 6 (63 hyperplanes, 64 leaves)",
    "mlp": "784-128-10 ReLU (sanity)",
}


@dataclass(frozen=True)
class Config:
    """One point (or, with comma lists in task / optimizer, a sweep); defaults = the full published protocol."""

    task: str = "snn,int8,argmax,staircase,moe,tree"
    optimizer: str = "polystep,adam_smooth,adam_ste,cmaes,openai_es,spsa"
    dataset: str = "auto"  # auto: the published dataset when its files are present, else mnist
    data_dir: str = ""  # empty: env POLYSTEP_DATA, else ~/.cache/polystep
    max_train: int = 0  # 0: the whole training split
    epochs: int = 30
    schedule_epochs: int = 0  # > epochs: run the first `epochs` of a `schedule_epochs`-long schedule (tuning)
    batch_size: int = 512
    subspace: str = "column"  # every block moves one unit's incoming weights (lowrank: rank-r W updates)
    rank: int = 16  # column: the span per unit (a multiple of particle_size); lowrank / dense: the rank
    basis: str = "activity"  # column: every step's span is drawn from the layer's inputs ("random": Gaussian)
    b_scale: float = -1.0  # low-rank B0 row norm (0: B starts at zero); < 0: the task's tuned value, TUNED_B_SCALE
    particle_size: int = 8
    polytope: str = "simplex"
    epsilon: float = 0.0  # 0: the task's tuned value, TUNED_EPSILON
    epsilon_final: float = 0.0  # 0: epsilon / 5
    radius: float = 0.2
    radius_final: float = 0.02
    absorb_every: int = 1  # fold the subspace offset into the weights every step ...
    fresh_basis: bool = True  # ... and (basis=random) draw a fresh Gaussian basis; basis=activity draws its own
    momentum: float = 0.0
    weight_momentum: float = 0.7  # heavy ball on the weights across absorbs (coordinate momentum resets there)
    adaptive_radius: bool = False
    structured: bool = True
    adam_lr: float = 1e-3


def points(config: Config) -> list[Config]:
    """One config per (task, optimizer) of the comma lists."""
    tasks = [t.strip() for t in config.task.split(",") if t.strip()]
    opts = [o.strip() for o in config.optimizer.split(",") if o.strip()]
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"task: unknown {t!r}; allowed: {', '.join(TASKS)}")
    for o in opts:
        if o not in OPTIMIZERS:
            raise ValueError(f"optimizer: unknown {o!r}; allowed: {', '.join(OPTIMIZERS)}")
    return [dataclasses.replace(config, task=t, optimizer=o) for t in tasks for o in opts]


@lru_cache(maxsize=4)
def _data(name: str, data_dir: str, seed: int, max_train: int):
    return load_dataset(name, data_dir or None, seed=seed, max_train=max_train or None)


def resolve_dataset(config: Config, seed: int):
    """The dataset of a run: `config.dataset`, or under 'auto' the published one when present, else MNIST."""
    name = config.dataset
    if name == "auto":
        name = PUBLISHED_DATA.get(config.task, "mnist")
        try:
            return _data(name, config.data_dir, seed, config.max_train)
        except DataFileError:
            if name == "mnist":
                raise
            name = "mnist"
    return _data(name, config.data_dir, seed, config.max_train)


def resolve_defaults(config: Config) -> Config:
    """The config with the 'task's tuned value' sentinels (b_scale < 0, epsilon / epsilon_final = 0) filled in."""
    if config.epsilon < 0 or config.epsilon_final < 0:
        raise ValueError("epsilon / epsilon_final: must be > 0 (0 = the task's tuned value)")
    if config.b_scale < 0:
        config = dataclasses.replace(config, b_scale=TUNED_B_SCALE.get(config.task, 0.5))
    if config.epsilon <= 0:
        config = dataclasses.replace(config, epsilon=TUNED_EPSILON.get(config.task, 0.003))
    if config.epsilon_final <= 0:
        config = dataclasses.replace(config, epsilon_final=config.epsilon / 5)
    return config


def run(config: Config, seed: int) -> dict:
    """Train one (task, optimizer) point with `seed`; metrics plus per-epoch curves."""
    if "," in config.task or "," in config.optimizer:
        raise ValueError("task / optimizer: run() takes one point; use points() to expand comma lists")
    data = resolve_dataset(config, seed)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = resolve_defaults(config)
    tc = TrainConfig(**{k: v for k, v in dataclasses.asdict(config).items() if k in fields})
    metrics = train(tc, data, seed)
    metrics["dataset"] = data.name
    for name in ("b_scale", "epsilon", "epsilon_final"):  # the values used (the config may hold sentinels)
        metrics[name] = getattr(config, name)
    metrics["n_train"] = int(len(data.x_train))
    return metrics


def table(records: list[dict]) -> str:
    """REFERENCE.md layout: test accuracy % (mean ± std over seeds, test at the best-validation epoch)."""
    from experiments.report import format_mean_std

    cells: dict = {}
    walls: dict = {}
    data: dict = {}
    for rec in records:
        task, opt = rec["config"]["task"], rec["config"]["optimizer"]
        cells.setdefault((task, opt), []).append(100 * rec["metrics"]["test_accuracy"])
        if opt == "polystep":
            walls.setdefault(task, []).append(rec["metrics"]["wall_s"])
        data.setdefault(task, set()).add(
            f"{rec['metrics'].get('dataset', '?')}, {rec['config']['epochs']} ep, n={rec['metrics'].get('n_train')}")
    header = ["Task (data)", "model"] + [c for _, c in COLUMNS] + ["PolyStep wall s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task in [t for t in TASKS if t in data]:
        row = [f"{task} ({'; '.join(sorted(data[task]))})", MODELS.get(task, "")]
        for opt, _ in COLUMNS:
            vals = cells.get((task, opt), [])
            row.append(f"{format_mean_std(vals)} (n={len(vals)})" if vals else "-")
        row.append(format_mean_std(walls.get(task, [])))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("\nTest accuracy % at the epoch of best validation accuracy; n = number of seeds.")
    return "\n".join(lines)


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """Learning curves per task: train loss and validation accuracy per epoch, one line per optimizer/seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for task in sorted({r["config"]["task"] for r in records}):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        for rec in [r for r in records if r["config"]["task"] == task]:
            curve = rec["metrics"]["curve"]
            label = f"{rec['config']['optimizer']} s{rec['seed']}"
            ax1.plot(curve["epoch"], curve["train_loss"], marker="o", label=label)
            ax2.plot(curve["epoch"], curve["val_accuracy"], marker="o", label=label)
        ax1.set(xlabel="epoch", ylabel="train loss (hard model)", title=f"{task}: train loss", yscale="log")
        ax2.set(xlabel="epoch", ylabel="validation accuracy", title=f"{task}: validation accuracy")
        ax2.legend(fontsize=7)
        fig.tight_layout()
        path = Path(out_dir) / f"nondiff_nets_{task}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        out.append(path)
    return out


EXPERIMENT = Experiment(
    name="nondiff_nets",
    description="Forward-only training of hard-threshold / quantized / hard-routed nets vs ES and Adam",
    config_cls=Config,
    run=run,
    plot=plot,
    table=table,
    points=points,
    quick={"task": "int8,staircase", "optimizer": "polystep,adam_ste", "dataset": "digits", "epochs": 4,
           "batch_size": 64, "rank": 1, "polytope": "orthoplex", "epsilon": 0.01, "epsilon_final": 0.002,
           "radius": 0.5, "radius_final": 0.05, "absorb_every": 0, "fresh_basis": False, "weight_momentum": 0.0,
           "subspace": "lowrank", "basis": "random"},
    seeds=(0, 1, 2),
    quick_seeds=(0,),
)
