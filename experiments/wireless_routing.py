"""Local routing on unit-disk graphs: baselines vs scorers trained forward-only on ONE seed graph, evaluated
on all connected pairs of an unseen grid of graphs (n x rho, graphs per cell). One record per (cell, seed);
the seed picks the seed graph and the optimizers' randomness, the test graphs are the same for every seed.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.registry import Experiment
from polystep.validate import check_choice, check_int, check_real, fail
from simulators.wireless import POLICY_NAMES, evaluate, unit_disk_graph
from simulators.wireless.graphs import MAX_NODES
from simulators.wireless.scorers import Scorer
from simulators.wireless.training import (
    OPTIMIZERS,
    SupervisedConfig,
    TrainConfig,
    train_forward,
    train_supervised,
)

#: Learned models: name -> (kind, features).
MODELS = {
    "linear": ("linear", ("dist_ratio", "stretch", "cos_angle", "is_self")),
    "mlp": ("mlp", ("dist_ratio", "stretch", "cos_angle", "is_self")),
    "tensile2": ("linear", ("dist_ratio", "stretch")),  # the paper's two features
    "distance": ("linear", ("dist_to_dest",)),  # distance only: should reproduce greedy
}
#: Supervised learners (regress shortest-path cost-to-go with Adam; not forward-only).
SUPERVISED = {
    "supervised": SupervisedConfig(),  # MLP over dist_ratio, stretch, cos_angle, hop
    "supervised2": SupervisedConfig(features=("dist_ratio", "stretch")),  # the paper's two features
}
TEST_SEED_BASE = 1_000_000  # test graphs never share a seed with a seed graph


@dataclass
class WirelessConfig:
    """Grid, baselines, learners ('model@optimizer' or 'supervised') and training budget of the experiment."""

    sizes: tuple[int, ...] = (27, 64, 125, 216)
    densities: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0)
    n: int = 0  # the cell of this point (set by points(); 0 = not expanded)
    rho: float = 0.0
    graphs_per_cell: int = 20
    epsilons: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.5)
    baselines: tuple[str, ...] = ("greedy", "compass", "mfr", "nfp", "gfg", "tensile", "shortest", "min_hop")
    learners: tuple[str, ...] = (
        "linear@polystep",
        "linear@openai_es",
        "linear@cmaes",
        "mlp@polystep",
        "tensile2@polystep",
        "distance@polystep",
        "supervised",
    )
    seed_n: int = 50
    seed_rho: float = 5.0
    budget: int = 2000  # loss evaluations per forward-only learner
    pairs_per_step: int = 256
    gfg_max_pairs: int = 2000  # gfg walks pair by pair: sample this many pairs per graph
    headline_epsilon: float = 0.1

    def __post_init__(self) -> None:
        _tuple(self.sizes, "sizes")
        for n in self.sizes:
            check_int(n, "sizes", 2, MAX_NODES)
        _tuple(self.densities, "densities")
        for rho in self.densities:
            check_real(rho, "densities", 0.0, lo_open=True)
        if self.n != 0:  # 0: a base config, not yet expanded into cells by points()
            check_int(self.n, "n", 2, MAX_NODES)
            check_real(self.rho, "rho", 0.0, lo_open=True)
        else:
            check_real(self.rho, "rho", 0.0)
        check_int(self.graphs_per_cell, "graphs_per_cell", 1)
        _tuple(self.epsilons, "epsilons")
        for e in self.epsilons:
            check_real(e, "epsilons", 0.0)
        _tuple(self.baselines, "baselines")
        for name in self.baselines:
            check_choice(name, "baselines", POLICY_NAMES)
        if "greedy" not in self.baselines:
            fail("baselines", f"must include 'greedy' (the reference of every gain), got {self.baselines!r}")
        _tuple(self.learners, "learners")
        for spec in self.learners:
            _learner_spec(spec)
        check_int(self.seed_n, "seed_n", 2, MAX_NODES)
        check_real(self.seed_rho, "seed_rho", 0.0, lo_open=True)
        check_int(self.budget, "budget", 1)
        check_int(self.pairs_per_step, "pairs_per_step", 1)
        check_int(self.gfg_max_pairs, "gfg_max_pairs", 1)
        check_real(self.headline_epsilon, "headline_epsilon", 0.0)
        if float(self.headline_epsilon) not in [float(e) for e in self.epsilons]:
            fail("headline_epsilon", f"must be one of epsilons {self.epsilons!r}, got {self.headline_epsilon!r}")


def _tuple(value, field: str) -> None:
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value:
        fail(field, f"must be a non-empty tuple, got {value!r}")


def _learner_spec(spec) -> None:
    """A learner is 'model@optimizer' (model in MODELS, optimizer in OPTIMIZERS) or a SUPERVISED name."""
    if not isinstance(spec, str):
        fail("learners", f"each must be a string such as 'linear@polystep', got {spec!r}")
    if spec in SUPERVISED:
        return
    model, _, optimizer = spec.partition("@")
    if model not in MODELS or (optimizer and optimizer not in OPTIMIZERS):
        fail(
            "learners",
            f"unknown {spec!r}; allowed: MODEL@OPTIMIZER with MODEL in {', '.join(MODELS)} and OPTIMIZER in "
            f"{', '.join(OPTIMIZERS)}, or {', '.join(SUPERVISED)}",
        )


def points(config: WirelessConfig) -> list[WirelessConfig]:
    """One point per (n, rho) cell of the grid; `sizes` and `densities` narrow to the cell's own values, so a
    point's record key does not change when the grid grows."""
    return [
        dataclasses.replace(config, n=int(n), rho=float(r), sizes=(int(n),), densities=(float(r),))
        for n in config.sizes
        for r in config.densities
    ]


_TRAINED: dict = {}


def _learner_config(config: WirelessConfig, spec: str) -> TrainConfig:
    model, _, optimizer = spec.partition("@")
    if model not in MODELS:
        allowed = ", ".join([*MODELS, *SUPERVISED])
        raise ValueError(f"learners: unknown model {model!r} in {spec!r}; allowed: {allowed}")
    kind, features = MODELS[model]
    return TrainConfig(
        kind=kind,
        features=features,
        optimizer=optimizer or "polystep",
        budget=config.budget,
        pairs_per_step=config.pairs_per_step,
    )


def seed_graph(config: WirelessConfig, seed: int):
    """The one training graph of a seed (n = seed_n, rho = seed_rho)."""
    return unit_disk_graph(config.seed_n, config.seed_rho, seed=seed)


def train_all(config: WirelessConfig, seed: int) -> dict:
    """Train every learner on the seed graph of `seed` (cached in-process across the grid's cells)."""
    key = (config.seed_n, config.seed_rho, config.budget, config.pairs_per_step, tuple(config.learners), seed)
    if key in _TRAINED:
        return _TRAINED[key]
    graph = seed_graph(config, seed)
    out = {}
    for spec in config.learners:
        print(f"[wireless_routing] training {spec} on seed graph {seed}", file=sys.stderr, flush=True)
        if spec in SUPERVISED:
            res = train_supervised(graph, SUPERVISED[spec], seed)
            out[spec] = {
                "scorer": res.scorer,
                "seed_loss": None,
                "evaluations": 0,
                "wall": res.wall,
                "forward": False,
            }
        else:
            res = train_forward(graph, _learner_config(config, spec), seed)
            out[spec] = {
                "scorer": res.scorer,
                "seed_loss": res.best_loss,
                "evaluations": res.evaluations,
                "wall": res.wall,
                "forward": True,
                "history": res.history,
            }
    _TRAINED[key] = out
    return out


def best_forward(trained: dict) -> str | None:
    """The forward-only learner of lowest loss on all seed-graph pairs (selection never sees the grid)."""
    cands = [(v["seed_loss"], k) for k, v in trained.items() if v["forward"]]
    return min(cands)[1] if cands else None


def test_graphs(n: int, rho: float, count: int) -> list:
    """The fixed test graphs of a cell (seeds independent of the training seed)."""
    return [
        unit_disk_graph(n, rho, seed=TEST_SEED_BASE + 1000 * n + int(10 * rho) * 50 + i) for i in range(count)
    ]


_BASELINES: dict = {}


def _baselines(config: WirelessConfig, graphs: list) -> dict:
    """Baseline metrics of a cell; they do not depend on the training seed, so they are computed once."""
    key = (config.n, config.rho, config.graphs_per_cell, tuple(config.epsilons), tuple(config.baselines),
           config.gfg_max_pairs)
    if key not in _BASELINES:
        out = {}
        for name in config.baselines:
            max_pairs = config.gfg_max_pairs if name == "gfg" else None
            out[name] = evaluate(graphs, name, config.epsilons, max_pairs=max_pairs, seed=0)
        _BASELINES[key] = out
    return _BASELINES[key]


def run(config: WirelessConfig, seed: int) -> dict:
    """Evaluate baselines and learners on one cell; learners are trained once per seed (cached)."""
    if config.n < 2:
        raise ValueError("n: run() needs a cell; use points() (the CLI does) or set n and rho")
    trained = train_all(config, seed)
    graphs = test_graphs(config.n, config.rho, config.graphs_per_cell)
    policies = dict(_baselines(config, graphs))
    for spec, info in trained.items():
        policies[spec] = evaluate(graphs, info["scorer"], config.epsilons)
    best = best_forward(trained)
    head = f"accuracy@{config.headline_epsilon:g}"
    out = {
        "best_forward": best,
        "connected_pair_fraction": float(np.mean([_reach(g) for g in graphs])),
    }
    if best is not None:
        out[f"gain_{head}"] = (
            policies[best][head] - policies["greedy"][head] if "greedy" in policies else None
        )
        for e in config.epsilons:
            key = f"accuracy@{e:g}"
            if "greedy" in policies:
                out[f"gain_{key}"] = policies[best][key] - policies["greedy"][key]
    out["policies"] = policies
    out["learners"] = {
        k: {
            "seed_loss": v["seed_loss"],
            "evaluations": v["evaluations"],
            "train_wall_s": v["wall"],
            "scorer": v["scorer"].to_dict(),
        }
        for k, v in trained.items()
    }
    return out


def _reach(graph) -> float:
    from simulators.wireless import connectivity

    return connectivity(graph).reachable_pair_fraction


# ------------------------------------------------------------------------------------------ reporting
def _cells(records: list[dict]) -> list[tuple[int, float]]:
    return sorted({(r["config"]["n"], r["config"]["rho"]) for r in records})


def _metric(records, cell, policy, key):
    vals = [
        r["metrics"]["policies"][policy][key]
        for r in records
        if (r["config"]["n"], r["config"]["rho"]) == cell and policy in r["metrics"]["policies"]
    ]
    return np.array([v for v in vals if v is not None and math.isfinite(v)], float)


def table(records: list[dict]) -> str:
    """Per cell: greedy, compass, gfg and the best forward-only learner at the headline epsilon, per seed."""
    if not records:
        return "(no records)"
    eps = records[0]["config"]["headline_epsilon"]
    head = f"accuracy@{eps:g}"
    lines = [
        f"Accuracy at epsilon={eps:g} on all connected pairs (mean over seeds; test graphs fixed).",
        "",
        "| n | rho | greedy | compass | gfg | best forward-only (per seed) | gain vs greedy per seed | "
        "delivery greedy / best |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cell in _cells(records):
        recs = sorted(
            [r for r in records if (r["config"]["n"], r["config"]["rho"]) == cell], key=lambda r: r["seed"]
        )
        g = _metric(records, cell, "greedy", head)
        c = _metric(records, cell, "compass", head)
        f = _metric(records, cell, "gfg", head)
        bests = [r["metrics"]["best_forward"] for r in recs]
        gains = [r["metrics"].get(f"gain_{head}") for r in recs]
        best_acc = [r["metrics"]["policies"][b][head] for r, b in zip(recs, bests)]
        deliv = [r["metrics"]["policies"][b]["delivery"] for r, b in zip(recs, bests)]
        gd = _metric(records, cell, "greedy", "delivery")
        lines.append(
            f"| {cell[0]} | {cell[1]:g} | {_fmt(g)} | {_fmt(c)} | {_fmt(f)} | "
            + ", ".join(f"s{r['seed']}:{b}={a:.3f}" for r, b, a in zip(recs, bests, best_acc))
            + " | "
            + ", ".join(f"s{r['seed']}:{100 * x:+.1f}pt" for r, x in zip(recs, gains) if x is not None)
            + f" | {_fmt(gd)} / {_fmt(np.array(deliv))} |"
        )
    learners = sorted({k for r in records for k in r["metrics"]["learners"]})
    lines += [
        "",
        "Mean accuracy over all cells and seeds, per policy:",
        "",
        "| policy | " + " | ".join(f"acc@{e:g}" for e in records[0]["config"]["epsilons"]) + " | delivery |",
        "|---|" + "---|" * (len(records[0]["config"]["epsilons"]) + 1),
    ]
    for pol in list(records[0]["config"]["baselines"]) + learners:
        vals = []
        for e in records[0]["config"]["epsilons"]:
            xs = [
                r["metrics"]["policies"][pol][f"accuracy@{e:g}"]
                for r in records
                if pol in r["metrics"]["policies"]
            ]
            vals.append(f"{np.mean(xs):.3f}" if xs else "-")
        ds = [r["metrics"]["policies"][pol]["delivery"] for r in records if pol in r["metrics"]["policies"]]
        lines.append(f"| {pol} | " + " | ".join(vals) + f" | {np.mean(ds):.3f} |")
    return "\n".join(lines)


def _fmt(x: np.ndarray) -> str:
    if x.size == 0:
        return "-"
    return f"{x.mean():.3f}" if x.size == 1 else f"{x.mean():.3f}±{x.std(ddof=1):.3f}"


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """Accuracy and delivery per cell and policy, the gain heat map, and example routes on one graph."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    paths: list[Path] = []
    if not records:
        return paths
    cfg = records[0]["config"]
    head = f"accuracy@{cfg['headline_epsilon']:g}"
    cells = _cells(records)
    policies = [p for p in list(cfg["baselines"]) if p not in ("shortest",)] + ["best forward-only"]
    for key, fname in ((head, "wireless_accuracy.png"), ("delivery", "wireless_delivery.png")):
        fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(cells)), 4.5))
        width = 0.8 / len(policies)
        for j, pol in enumerate(policies):
            means = []
            for cell in cells:
                recs = [r for r in records if (r["config"]["n"], r["config"]["rho"]) == cell]
                if pol == "best forward-only":
                    xs = [r["metrics"]["policies"][r["metrics"]["best_forward"]][key] for r in recs]
                else:
                    xs = [r["metrics"]["policies"][pol][key] for r in recs]
                means.append(np.mean(xs))
            ax.bar(np.arange(len(cells)) + j * width, means, width, label=pol)
        ax.set_xticks(np.arange(len(cells)) + 0.4 - width / 2)
        ax.set_xticklabels([f"n={n}\nrho={r:g}" for n, r in cells], fontsize=8)
        ax.set_ylabel(key)
        ax.set_ylim(0, 1.02)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # outside the bars
        ax.set_title(f"{key} per cell and policy (all connected pairs)")
        fig.tight_layout()
        path = out_dir / fname
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    # gain heat map
    sizes = sorted({c[0] for c in cells})
    dens = sorted({c[1] for c in cells})
    grid = np.full((len(sizes), len(dens)), np.nan)
    for n, r in cells:
        gains = [
            x["metrics"][f"gain_{head}"] for x in records if (x["config"]["n"], x["config"]["rho"]) == (n, r)
        ]
        grid[sizes.index(n), dens.index(r)] = 100 * np.mean(gains)
    limit = max(1.0, float(np.nanmax(np.abs(grid))))
    fig, ax = plt.subplots(figsize=(1.6 * len(dens) + 3.2, 1.0 * len(sizes) + 2.4), layout="constrained")
    im = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for i in range(len(sizes)):
        for j in range(len(dens)):
            dark = abs(grid[i, j]) > 0.6 * limit  # white text on the dark ends of the colour map
            ax.text(j, i, f"{grid[i, j]:+.1f}", ha="center", va="center", fontsize=10, color="w" if dark else "k")
    ax.set_xticks(range(len(dens)), [f"{d:g}" for d in dens])
    ax.set_yticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_xlabel("density rho (nodes per R^2)")
    ax.set_ylabel("nodes n")
    ax.set_title(f"best forward-only minus greedy\n{head}, points (blue: learner better)", fontsize=10)
    fig.colorbar(im, ax=ax, label="accuracy points")
    path = out_dir / "wireless_gain.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    paths.append(path)
    paths.append(plot_routes(records[0], out_dir / "wireless_routes.png"))
    return paths


def plot_routes(record: dict, path: Path) -> Path:
    """Example routes (greedy, best forward-only, gfg, shortest) for one pair where greedy fails."""
    import matplotlib.pyplot as plt

    from simulators.wireless import all_pairs, arrays, route, walk_all
    from simulators.wireless.policies import get_policy

    n = max(record["config"]["n"], 64)
    graph = test_graphs(n, 3.0, 1)[0]
    best = record["metrics"]["best_forward"]
    sd = record["metrics"]["learners"][best]["scorer"]
    scorer = Scorer(
        sd["kind"], tuple(sd["features"]), {k: np.asarray(v) for k, v in sd["params"].items()}, best
    )
    ga = arrays(graph)
    o, d = all_pairs(ga)
    greedy = walk_all(ga, get_policy("greedy"), o, d)
    learned = walk_all(ga, scorer, o, d)
    pick = np.nonzero(~greedy.delivered & learned.delivered)[0]
    pick = pick if pick.size else np.nonzero(~greedy.delivered)[0]
    i = int(pick[np.argmax(ga.dist[o[pick], d[pick]])]) if pick.size else 0
    src, dst = int(o[i]), int(d[i])
    fig, ax = plt.subplots(figsize=(6, 6))
    pos = ga.pos
    for a, b in graph.edges:
        ax.plot(*zip(pos[a], pos[b]), color="0.85", lw=0.6, zorder=1)
    ax.scatter(pos[:, 0], pos[:, 1], s=8, color="0.4", zorder=2)
    styles = [
        ("shortest", "k", "-"),
        ("greedy", "tab:red", "--"),
        (scorer, "tab:blue", "-"),
        ("gfg", "tab:green", ":"),
    ]
    for pol, color, ls in styles:
        r = route(graph, pol, src, dst)
        label = pol if isinstance(pol, str) else best
        xy = pos[r.path]
        ax.plot(
            xy[:, 0],
            xy[:, 1],
            color=color,
            ls=ls,
            lw=2,
            zorder=3,
            label=f"{label}: {'delivered' if r.delivered else r.reason}, L={r.length:.2f}",
        )
    ax.scatter(*pos[src], s=80, marker="o", color="tab:orange", zorder=4, label="origin")
    ax.scatter(*pos[dst], s=120, marker="*", color="tab:purple", zorder=4, label="destination")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2)  # below the map, never on it
    ax.set_title(f"example routes, n={n}, rho=3")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


EXPERIMENT = Experiment(
    name="wireless_routing",
    description="Local routing on unit-disk graphs: baselines vs scorers trained forward-only on one graph",
    docs="docs/wireless.md",
    config_cls=WirelessConfig,
    run=run,
    plot=plot,
    table=table,
    points=points,
    quick={
        "sizes": (27, 64),
        "densities": (2.0, 5.0),
        "graphs_per_cell": 5,
        "budget": 400,
        "learners": ("linear@polystep", "linear@openai_es", "linear@cmaes"),
        "gfg_max_pairs": 500,
    },
    seeds=(0, 1, 2),
    quick_seeds=(0,),
)
