"""Quickstart: PolyStep, OpenAI-ES and CMA-ES on 2-D and 10-D Ackley and Rastrigin from a distant start.

Each seed draws its own start: a uniformly random direction at a fixed distance from the global minimum
(`start_point`), so the seeds of every optimizer, PolyStep with one-coordinate blocks included (whose steps
use no randomness), run different trajectories.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import polystep
from experiments.registry import Experiment
from polystep import objectives
from polystep.validate import check_choice, check_int, check_real, fail

# Distance of the start from the global minimum, per sqrt(dimension): the distance of the diagonal point
# (20, ..., 20) on Ackley and (4, ..., 4) on Rastrigin.
STARTS = {"ackley": 20.0, "rastrigin": 4.0}
OPTIMIZERS = ("polystep", "openai_es", "cmaes")
MAX_DIM = 1000


@dataclass(frozen=True)
class QuickstartConfig:
    """One objective x dimension x optimizer point, and the sweep it belongs to."""

    objective: str = "ackley"
    dim: int = 10
    optimizer: str = "polystep"
    evaluations: int = 12_000
    objectives: tuple[str, ...] = ("ackley", "rastrigin")
    dims: tuple[int, ...] = (2, 10)
    optimizers: tuple[str, ...] = OPTIMIZERS
    basin_tolerance: float = 0.5
    start_distance: float | None = None  # None: STARTS[objective] * sqrt(dim)

    def __post_init__(self) -> None:
        check_choice(self.objective, "objective", tuple(STARTS))
        check_int(self.dim, "dim", lo=1, hi=MAX_DIM)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_int(self.evaluations, "evaluations", lo=1)
        for name, allowed in (("objectives", tuple(STARTS)), ("optimizers", OPTIMIZERS), ("dims", None)):
            values = getattr(self, name)
            if not isinstance(values, (tuple, list)) or not values:
                fail(name, f"must list at least one value, got {values!r}")
            for value in values:
                if allowed is None:
                    check_int(value, name, lo=1, hi=MAX_DIM)
                else:
                    check_choice(value, name, allowed)
        check_real(self.basin_tolerance, "basin_tolerance", lo=0, lo_open=True)
        if self.start_distance is not None:
            check_real(self.start_distance, "start_distance", lo=0)

    @property
    def distance(self) -> float:
        """The distance of every seed's start from the global minimum."""
        if self.start_distance is not None:
            return float(self.start_distance)
        return STARTS[self.objective] * math.sqrt(self.dim)


def start_point(config: QuickstartConfig, seed: int) -> np.ndarray:
    """The seed's start: the global minimum plus `config.distance` along a uniformly random direction."""
    x_star, _ = objectives.global_minimum(config.objective, config.dim)
    direction = np.asarray(jax.random.normal(_start_key(seed), (config.dim,), jnp.float32), np.float64)
    return x_star + config.distance * direction / np.linalg.norm(direction)


def _start_key(seed: int) -> jax.Array:
    """The key of the start's direction (a stream of its own, apart from the optimizer's)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 1)


def make_optimizer(name: str, dim: int, steps: int):
    """The optimizers with the settings documented in docs/api.md (annealed PolyStep radii)."""
    if name == "polystep":
        radius = optax.exponential_decay(16.0, steps, 1e-3 / 16.0)
        return polystep.PolyStep(
            particle_size=1,
            epsilon=optax.exponential_decay(1.0, steps, 1e-3),
            probe_radius=radius,
            step_radius=lambda t: 0.5 * radius(t),
        )
    if name == "openai_es":
        return polystep.OpenAIES(population_size=50, sigma=1.0, sigma_decay=0.99, sigma_min=0.01,
                                 optimizer=optax.adam(0.3), weight_decay=0.0)
    if name == "cmaes":
        return polystep.CMAES(sigma=2.0)
    raise ValueError(f"optimizer: unknown {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def evaluations_per_step(opt, params) -> int:
    population, _ = opt.ask(jax.random.PRNGKey(0), opt.init(jax.random.PRNGKey(0), params))
    return int(jax.tree_util.tree_leaves(population)[0].shape[0])


def run(config: QuickstartConfig, seed: int) -> dict:
    """One optimizer on one objective from the seed's random start, for `config.evaluations` evaluations."""
    loss_fn = objectives.get(config.objective)
    x0 = jnp.asarray(start_point(config, seed), jnp.float32)
    per_step = evaluations_per_step(make_optimizer(config.optimizer, config.dim, 1), x0)
    steps = max(1, config.evaluations // per_step)
    opt = make_optimizer(config.optimizer, config.dim, steps)
    state, losses, path = polystep.minimize(opt, loss_fn, x0, jax.random.PRNGKey(seed), steps, record_params=True)
    losses = np.asarray(losses)
    best = np.minimum.accumulate(losses)
    keep = np.unique(np.linspace(0, steps - 1, min(steps, 100)).astype(int))
    x_star, f_star = objectives.global_minimum(config.objective, config.dim)
    final = np.asarray(opt.params(state))
    metrics = {
        "final_loss": float(losses[-1]),
        "best_loss": float(best[-1]),
        "global_basin": bool(np.max(np.abs(final - x_star)) < config.basin_tolerance),
        "start_loss": float(loss_fn(x0)),
        "start_distance": float(np.linalg.norm(np.asarray(x0, np.float64) - x_star)),
        "evaluations": int(steps * per_step),
        "steps": int(steps),
        "curve_evaluations": ((keep + 1) * per_step).tolist(),
        "curve_best_loss": best[keep].tolist(),
    }
    if config.dim == 2:
        metrics["trajectory"] = np.concatenate([np.asarray(x0)[None], np.asarray(path)])[
            np.unique(np.linspace(0, steps, min(steps + 1, 200)).astype(int))
        ].tolist()
    return metrics


def points(config: QuickstartConfig) -> list[QuickstartConfig]:
    """One config per (objective, dim, optimizer); each list field narrows to the point's own value, so a point's
    record key does not change when the sweep's lists grow."""
    return [
        replace(config, objective=o, dim=d, optimizer=name, objectives=(o,), dims=(d,), optimizers=(name,))
        for o, d, name in itertools.product(config.objectives, config.dims, config.optimizers)
    ]


def table(records: list[dict]) -> str:
    """Final loss (mean +- std over seeds) and global-basin hits per objective, dimension and optimizer."""
    from experiments.report import format_mean_std

    rows = [
        "| objective | dim | optimizer | seeds | start distance | evaluations | start loss | final loss "
        "| global basin |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        c = r["config"]
        groups.setdefault((c["objective"], c["dim"], c["optimizer"]), []).append(r)
    for (obj, dim, name), recs in sorted(groups.items()):
        hits = sum(r["metrics"]["global_basin"] for r in recs)
        distance = recs[0]["metrics"].get("start_distance")
        starts = [r["metrics"]["start_loss"] for r in recs if "start_loss" in r["metrics"]]
        start = format_mean_std(starts) if starts else "-"
        rows.append(
            f"| {obj} | {dim} | {name} | {len(recs)} | {'-' if distance is None else f'{distance:.3g}'} | "
            f"{recs[0]['metrics']['evaluations']} | {start} | "
            f"{format_mean_std([r['metrics']['final_loss'] for r in recs])} | {hits}/{len(recs)} |"
        )
    rows += ["", "Each seed starts at its own random point at the stated distance from the global minimum (the "
             "direction is drawn from the seed), and the optimizer's own randomness comes from the same seed. "
             "PolyStep here uses one-coordinate blocks, whose steps involve no randomness: its seeds differ "
             "through their starts only. Global basin: every coordinate within basin_tolerance of the minimizer."]
    return "\n".join(rows)


# Best losses at or below this value are drawn on the linear part of a symlog axis (so 0 is drawn at 0).
LINEAR_BELOW = 1e-6


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """Best loss against evaluations per case, and the 2-D trajectories over the objective's contours."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    paths = []
    cases = sorted({(r["config"]["objective"], r["config"]["dim"]) for r in records})
    names = [n for n in OPTIMIZERS if any(r["config"]["optimizer"] == n for r in records)]
    handles = [Line2D([], [], color=f"C{OPTIMIZERS.index(n)}", label=n) for n in names]
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.6), squeeze=False, layout="constrained")
    for ax, (obj, dim) in zip(axes[0], cases):
        for r in records:
            c = r["config"]
            if (c["objective"], c["dim"]) != (obj, dim):
                continue
            ax.plot(r["metrics"]["curve_evaluations"], r["metrics"]["curve_best_loss"],
                    color=f"C{OPTIMIZERS.index(c['optimizer'])}", alpha=0.7, lw=1.2)
        ax.set_yscale("symlog", linthresh=LINEAR_BELOW, linscale=0.5)
        ax.set_ylim(bottom=0)
        ax.set(xlabel="evaluations", ylabel="best loss so far", title=f"{obj} {dim}-D")
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
               title=f"one line per seed; y axis linear below {LINEAR_BELOW:g} (a loss of 0 is drawn at 0)",
               title_fontsize=7)
    paths.append(out_dir / "best_loss_vs_evaluations.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    two_d = [r for r in records if r["config"]["dim"] == 2 and "trajectory" in r["metrics"]]
    objs = sorted({r["config"]["objective"] for r in two_d})
    if objs:
        light = ListedColormap(plt.get_cmap("Greys")(np.linspace(0.0, 0.55, 256)))  # low loss white, high grey
        fig, axes = plt.subplots(1, len(objs), figsize=(4.4 * len(objs), 5.2), squeeze=False, layout="constrained")
        for ax, obj in zip(axes[0], objs):
            runs = [r for r in two_d if r["config"]["objective"] == obj]
            reach = max(np.abs(np.asarray(r["metrics"]["trajectory"])).max() for r in runs)
            lim = 1.1 * max(reach, STARTS[obj])
            grid = np.linspace(-lim, lim, 160)
            xx, yy = np.meshgrid(grid, grid)
            zz = np.asarray(objectives.get(obj)(jnp.stack([xx, yy], -1)))
            ax.contourf(xx, yy, zz, levels=12, cmap=light)  # flat bands keep the PNG small
            for r in runs:
                t = np.asarray(r["metrics"]["trajectory"])
                color = f"C{OPTIMIZERS.index(r['config']['optimizer'])}"
                ax.plot(t[:, 0], t[:, 1], "-", color=color, lw=1.2)
                ax.plot(t[-1, 0], t[-1, 1], "o", color=color, ms=6, mec="k", mew=0.8, zorder=4)
                ax.plot(t[0, 0], t[0, 1], "^", color="w", mec="k", ms=9, zorder=5)
            ax.set(title=f"{obj} 2-D (shading: loss, lighter is lower)", xlim=(-lim, lim), ylim=(-lim, lim),
                   aspect="equal", xlabel="x1", ylabel="x2")
        markers = [Line2D([], [], ls="", marker="^", color="w", mec="k", ms=8, label="start (one per seed)"),
                   Line2D([], [], ls="", marker="o", color="grey", mec="k", label="end")]
        fig.legend(handles=handles + markers, loc="outside lower center", ncol=3, fontsize=8)
        paths.append(out_dir / "trajectories_2d.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)
    return paths


EXPERIMENT = Experiment(
    name="quickstart",
    description="PolyStep vs OpenAI-ES vs CMA-ES on 2-D/10-D Ackley and Rastrigin from distant random starts",
    docs="docs/api.md",
    config_cls=QuickstartConfig,
    run=run,
    plot=plot,
    table=table,
    points=points,
    quick={"evaluations": 12_000},
    seeds=(0, 1, 2, 3, 4),
    quick_seeds=(0,),
)
