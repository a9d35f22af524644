"""RL policy search with float / int8 / binary MLP policies: PolyStep vs OpenAI-ES vs CMA-ES vs PPO / REINFORCE.

`env`, `policy` and `optimizer` take one value, a comma-separated list, or 'all'; `points` expands the sweep.
Forward-only methods get the same budget of candidate evaluations (each = `rollouts` episodes); gradient
methods get `gradient_env_steps` environment steps. Every method keeps its best estimate on `val_episodes`
validation episodes; `final_return` is that estimate's mean return on `test_episodes` held-out episodes
(the same test reset keys for every method and seed).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from experiments.registry import Experiment
from polystep.validate import check_int, check_str

ENVS = ("cartpole", "acrobot")
POLICIES = ("float", "int8", "binary")
FORWARD = ("polystep", "openai_es", "cmaes")
GRADIENT = ("reinforce", "ppo")
OPTIMIZERS = FORWARD + GRADIENT
TEST_STREAM = 0x7E57  # held-out evaluation reset keys: one fixed stream, shared by all methods and seeds
VAL_STREAM = 0x0A1

# Published final returns (mean of 3 seeds, full budget) for the table's "paper" column; '-' where none.
PUBLISHED = {
    ("cartpole", "float", "polystep"): 500, ("cartpole", "int8", "polystep"): 500,
    ("cartpole", "binary", "polystep"): 500, ("cartpole", "float", "openai_es"): 153,
    ("cartpole", "int8", "openai_es"): 500, ("cartpole", "binary", "openai_es"): 236,
    ("cartpole", "float", "ppo"): 500, ("cartpole", "int8", "ppo"): 40, ("cartpole", "binary", "ppo"): 14,
    ("acrobot", "float", "polystep"): -79.6, ("acrobot", "int8", "polystep"): -83.8,
    ("acrobot", "binary", "polystep"): -76.4, ("acrobot", "float", "openai_es"): -89.7,
    ("acrobot", "float", "ppo"): -83.6, ("acrobot", "int8", "ppo"): -500, ("acrobot", "binary", "ppo"): -500,
}
# Search settings: None means the env's tuned value (`problems.rl.tuned_config`), so the library, the experiment,
# its quick preset and the notebook use the same settings; a value given here overrides it.
SEARCH_FIELDS = (
    "rollouts", "eval_every", "init_samples", "cost_scale", "particle_size", "epsilon", "step_radius",
    "probe_radius", "momentum", "adaptive_radius", "radius_max_scale", "epsilon_decay", "shaping",
    "select_episodes", "line_search", "es_population", "es_sigma", "es_lr", "es_weight_decay", "cma_population",
    "cma_sigma",
)


@dataclass(frozen=True)
class RLSearchConfig:
    """One point (or, with lists / 'all', a sweep) of the RL policy-search comparison. Defaults = full size.

    Budgets: `evaluations` (forward-only methods, candidate evaluations of `rollouts` episodes each) and
    `gradient_env_steps` (PPO, REINFORCE). The search settings (`rollouts` ... `cma_sigma`, see
    `problems.rl.SearchConfig`) default to None: the env's tuned value from `problems.rl.tuned_config`.
    """

    env: str = "all"
    policy: str = "all"
    optimizer: str = "all"
    evaluations: int = 20_000
    gradient_env_steps: int = 500_000
    val_episodes: int = 16
    test_episodes: int = 100
    hidden: int = 16
    rollouts: int | None = None
    eval_every: int | None = None
    init_samples: int | None = None
    cost_scale: float | None = None
    particle_size: int | None = None
    epsilon: float | None = None
    step_radius: float | None = None
    probe_radius: float | None = None
    momentum: float | None = None
    adaptive_radius: bool | None = None
    radius_max_scale: float | None = None
    epsilon_decay: float | None = None
    shaping: str | None = None
    select_episodes: int | None = None
    line_search: int | None = None
    es_population: int | None = None
    es_sigma: float | None = None
    es_lr: float | None = None
    es_weight_decay: float | None = None
    cma_population: int | None = None
    cma_sigma: float | None = None

    def __post_init__(self):
        for name in ("env", "policy", "optimizer"):
            check_str(getattr(self, name), name, nonempty=True)
        check_int(self.evaluations, "evaluations", lo=1)
        check_int(self.gradient_env_steps, "gradient_env_steps", lo=1)
        for name in ("val_episodes", "test_episodes", "hidden"):
            check_int(getattr(self, name), name, lo=1)
        overrides = {name: getattr(self, name) for name in SEARCH_FIELDS if getattr(self, name) is not None}
        if overrides:
            from problems.rl import SearchConfig

            SearchConfig(**overrides)  # checks every given search setting, naming the field


def _values(field: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    items = list(allowed) if text.strip() == "all" else [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise ValueError(f"{field}: unknown {', '.join(bad) or repr(text)}; allowed: {', '.join(allowed)}, all")
    return items


def points(config: RLSearchConfig) -> list[RLSearchConfig]:
    """One config per (env, policy, optimizer) named by the lists / 'all' of `config`."""
    return [
        dataclasses.replace(config, env=e, policy=p, optimizer=o)
        for e in _values("env", config.env, ENVS)
        for p in _values("policy", config.policy, POLICIES)
        for o in _values("optimizer", config.optimizer, OPTIMIZERS)
    ]


def search_config(config: RLSearchConfig):
    """The `problems.rl.SearchConfig` of one point: the env's tuned settings, overridden where `config` says."""
    from problems.rl import tuned_config

    _check_point(config)
    overrides = {name: getattr(config, name) for name in SEARCH_FIELDS if getattr(config, name) is not None}
    optimizer = config.optimizer if config.optimizer in FORWARD else "polystep"
    return tuned_config(config.env, optimizer=optimizer, evaluations=config.evaluations, **overrides)


def _check_point(config: RLSearchConfig) -> None:
    for field, allowed in (("env", ENVS), ("policy", POLICIES), ("optimizer", OPTIMIZERS)):
        value = getattr(config, field)
        if value not in allowed:
            raise ValueError(f"{field}: run() needs one of {', '.join(allowed)}, got {value!r} (use points())")


def eval_keys(stream: int, seed: int, n: int):
    """`n` reset keys of a named stream (validation: per seed; test: seed 0 for everyone)."""
    return jax.random.split(jax.random.fold_in(jax.random.key(stream), seed), n)


def train_policy(config: RLSearchConfig, seed: int, log=None, checkpoint_dir: Path | None = None,
                 checkpoint_seconds: float | None = None):
    """Train one (env, policy, optimizer) point; returns (env, policy, params, metrics without the test score).

    With `checkpoint_dir`, the training saves its state there (every `checkpoint_seconds`, default
    `problems.rl.checkpointing.CHECKPOINT_SECONDS`) and resumes from it when started again.
    """
    from problems.rl import PPOConfig, ReinforceConfig, make, policy_for, search, train_ppo, train_reinforce
    from problems.rl.checkpointing import CHECKPOINT_SECONDS

    cfg = search_config(config)
    env = make(config.env)
    policy = policy_for(env, config.policy, config.hidden)
    key = jax.random.key(seed)
    val = eval_keys(VAL_STREAM, seed, config.val_episodes)
    every = CHECKPOINT_SECONDS if checkpoint_seconds is None else checkpoint_seconds
    resume = {"checkpoint_dir": checkpoint_dir, "checkpoint_seconds": every}
    if config.optimizer in FORWARD:
        res = search(env, policy, cfg, key, val, log=log, **resume)
        metrics = {
            "evaluations": res.evaluations, "episodes": res.episodes, "env_steps": res.env_steps,
            "generations": res.generations, "population": res.population,
            "curve_evaluations": res.curve_evaluations, "curve_return": res.curve_return,
            "curve_env_steps": res.curve_env_steps,
            "resolved_config": dataclasses.asdict(cfg),
        }
    else:
        if config.optimizer == "ppo":
            grad_cfg = PPOConfig(env_steps=config.gradient_env_steps)
            res = train_ppo(env, policy, grad_cfg, key, val, cfg.eval_every, **resume)
        else:
            grad_cfg = ReinforceConfig(env_steps=config.gradient_env_steps)
            res = train_reinforce(env, policy, grad_cfg, key, val, cfg.eval_every, **resume)
        metrics = {
            "evaluations": res.episodes, "episodes": res.episodes, "env_steps": res.env_steps,
            "curve_env_steps": res.curve_env_steps, "curve_return": res.curve_return,
            "resolved_config": dict(dataclasses.asdict(grad_cfg), eval_every=cfg.eval_every),
        }
    metrics["train_wall_s"] = res.wall_s
    metrics["n_params"] = policy.n_params
    return env, policy, res.params, metrics


def run(config: RLSearchConfig, seed: int, checkpoint_dir: Path | None = None,
        checkpoint_seconds: float | None = None) -> dict:
    """Train (resuming from `checkpoint_dir` when it holds a checkpoint), then score the selected policy on the
    held-out test episodes."""
    import time

    from problems.rl import evaluate

    t0 = time.perf_counter()
    env, policy, params, metrics = train_policy(config, seed, log=sys.stderr, checkpoint_dir=checkpoint_dir,
                                                checkpoint_seconds=checkpoint_seconds)
    test = evaluate(env, policy, params, eval_keys(TEST_STREAM, 0, config.test_episodes))
    returns = np.asarray(test.ret)
    out = {
        "final_return": float(returns.mean()), "final_return_std": float(returns.std()),
        "final_return_min": float(returns.min()), "val_return": float(max(metrics["curve_return"])),
    }
    out.update(metrics)
    out["wall_s"] = time.perf_counter() - t0
    return out


_GRADIENT_ONLY = {"gradient_env_steps"}
_FORWARD_ONLY = {f.name for f in dataclasses.fields(RLSearchConfig)} - {
    "env", "policy", "optimizer", "gradient_env_steps", "val_episodes", "test_episodes", "eval_every", "hidden"}


def _variants(records: list[dict]) -> dict[int, str]:
    """Per record, the settings that differ among records of the same (env, policy, optimizer).

    Missing fields (older records) count as their defaults; fields the method does not use are ignored.
    """
    defaults = dataclasses.asdict(RLSearchConfig())
    same: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        c = rec["config"]
        same[(c["env"], c["policy"], c["optimizer"])].append(rec)
    out = {}
    for (_, _, optimizer), recs in same.items():
        unused = _GRADIENT_ONLY if optimizer in FORWARD else _FORWARD_ONLY
        value = lambda r, k: r["config"].get(k, defaults.get(k))  # noqa: E731
        varying = [k for k in defaults if k not in unused and len({repr(value(r, k)) for r in recs}) > 1]
        for r in recs:
            out[id(r)] = " ".join(f"{k}={value(r, k)}" for k in varying)
    return out


FULL = RLSearchConfig()  # full-size budgets, the scale of the published figures
ST_NOTE = "published PPO trains this policy without a straight-through gradient; ours is straight-through"


def budget_text(config: dict) -> tuple[str, bool]:
    """(the point's training budget in words, whether it is below the full size)."""
    if config["optimizer"] in FORWARD:
        n = config.get("evaluations", FULL.evaluations)
        return f"{n:,} evaluations", n < FULL.evaluations
    n = config.get("gradient_env_steps", FULL.gradient_env_steps)
    return f"{n:,} env steps", n < FULL.gradient_env_steps


def paper_note(key: tuple, recs: list[dict]) -> str:
    """Words that belong next to the published figure of one table row: what can and cannot be compared."""
    env, policy, optimizer = key[:3]
    published = PUBLISHED.get(key[:3])
    notes = []
    if optimizer == "ppo" and policy != "float" and published is not None:
        notes.append(ST_NOTE)
    budget, small = budget_text(recs[0]["config"])
    if small:
        mean = sum(r["metrics"]["final_return"] for r in recs) / len(recs)
        if published is None:
            notes.append(f"quick budget ({budget})")
        elif mean >= published - 0.05 * abs(published):
            notes.append(f"at or above the published figure already at a quick budget ({budget})")
        else:
            notes.append(f"quick budget ({budget}): below the published full-budget figure, which this run does "
                         "not reproduce (docs/rl.md: what the quick size shows)")
    if published is None:
        notes.append("no published figure")
    return "; ".join(notes) or "-"


def table(records: list[dict]) -> str:
    """Final test return (mean ± std over seeds) per env, policy, optimizer (and setting), next to the published
    figure and a note on what the comparison can and cannot show; budgets and wall time."""
    from experiments.report import format_mean_std

    variants = _variants(records)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        c = rec["config"]
        groups[(c["env"], c["policy"], c["optimizer"], variants[id(rec)])].append(rec)
    order = {name: i for i, name in enumerate(ENVS + POLICIES + OPTIMIZERS)}
    lines = [
        "`final_return`: mean return of the selected policy on held-out test episodes, mean ± std over seeds. "
        "`published`: the published final return (mean of 3 seeds, at the full budget of the publication), "
        "not a run of this table; `note` says where this run's budget or method differs from it.",
        "",
        "| env | policy | optimizer | setting | seeds | final_return | published (3 seeds, full budget) | note "
        "| val_return | evaluations | env_steps | wall_s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: tuple(order.get(x, 99) for x in k[:3]) + (k[3],)):
        recs = groups[key]
        m = lambda name, recs=recs: [r["metrics"][name] for r in recs]  # noqa: E731
        paper = PUBLISHED.get(key[:3], "-")
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {key[3] or '-'} | {len(recs)} | {format_mean_std(m('final_return'))} "
            f"| {paper} | {paper_note(key, recs)} | {format_mean_std(m('val_return'))} "
            f"| {format_mean_std(m('evaluations'))} | {format_mean_std(m('env_steps'))} "
            f"| {format_mean_std(m('wall_s'))} |"
        )
    return "\n".join(lines)


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """Validation return against candidate evaluations (forward-only) and against env steps (all methods)."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    envs = [e for e in ENVS if any(r["config"]["env"] == e for r in records)]
    pols = [p for p in POLICIES if any(r["config"]["policy"] == p for r in records)]
    colors = {name: f"C{i}" for i, name in enumerate(OPTIMIZERS)}
    paths = []
    for xkey, fname, methods in (
        ("curve_evaluations", "rl_return_vs_evaluations.png", FORWARD),
        ("curve_env_steps", "rl_return_vs_env_steps.png", OPTIMIZERS),
    ):
        fig, axes = plt.subplots(len(envs), len(pols), figsize=(4.2 * len(pols), 3.3 * len(envs)), squeeze=False)
        for (i, env), (j, pol) in ((a, b) for a in enumerate(envs) for b in enumerate(pols)):
            ax = axes[i][j]
            seen = set()
            for rec in records:
                c = rec["config"]
                if (c["env"], c["policy"]) != (env, pol) or c["optimizer"] not in methods:
                    continue
                xs, ys = rec["metrics"].get(xkey), rec["metrics"].get("curve_return")
                if not xs:
                    continue
                label = None if c["optimizer"] in seen else c["optimizer"]
                seen.add(c["optimizer"])
                ax.plot(xs, ys, color=colors[c["optimizer"]], alpha=0.75, lw=1, label=label)
            ax.set_title(f"{env} / {pol}")
            ax.set_xlabel("candidate evaluations" if xkey == "curve_evaluations" else "environment steps")
            if xkey == "curve_env_steps":
                ax.set_xscale("symlog", linthresh=1e4)
            ax.set_ylabel("validation return")
            ax.grid(alpha=0.3)
        # One legend for the figure, below the panels, so it never covers a curve.
        handles = {}
        for ax in axes.ravel():
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        fig.tight_layout(rect=(0, 0.1 if handles else 0, 1, 1))
        if handles:
            fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=9,
                       frameon=False)
        path = out_dir / fname
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def cartpole_frames(physics, alive, n_frames: int = 8, ax_row=None):
    """Draw `n_frames` evenly spaced CartPole states (cart, pole, track) into a row of matplotlib axes."""
    import matplotlib.pyplot as plt

    physics, alive = np.asarray(physics), np.asarray(alive)
    last = int(alive.sum()) - 1
    idx = np.linspace(0, max(last, 0), n_frames).round().astype(int)
    if ax_row is None:
        fig, ax_row = plt.subplots(1, n_frames, figsize=(3.0 * n_frames, 1.3))
    else:
        fig = ax_row[0].figure
    pole = 1.0  # full pole length (2 * half-length 0.5)
    for ax, t in zip(ax_row, idx):
        x, _, theta, _ = physics[t]
        ax.plot([-2.4, 2.4], [0, 0], color="k", lw=1)
        ax.add_patch(plt.Rectangle((x - 0.25, -0.075), 0.5, 0.15, color="0.2"))
        ax.plot([x, x + pole * math.sin(theta)], [0.0, pole * math.cos(theta)], color="tab:orange", lw=3)
        ax.set_xlim(-2.6, 2.6)
        ax.set_ylim(-0.3, 1.2)
        ax.set_aspect("equal")
        ax.set_title(f"t = {t}", fontsize=8)
        ax.axis("off")
    return fig


EXPERIMENT = Experiment(
    name="rl_policy_search",
    description="CartPole / Acrobot policies (float, int8, binary): PolyStep vs OpenAI-ES, CMA-ES, PPO, REINFORCE",
    docs="docs/rl.md",
    config_cls=RLSearchConfig,
    run=run,
    plot=plot,
    table=table,
    points=points,
    # Quick: CartPole only, every policy, smaller budgets; the search settings stay the tuned ones.
    quick={"env": "cartpole", "policy": "all", "optimizer": "polystep,cmaes,ppo", "evaluations": 8000,
           "gradient_env_steps": 100_000},
    seeds=(0, 1, 2),
    quick_seeds=(0,),
    checkpoints=True,
)
