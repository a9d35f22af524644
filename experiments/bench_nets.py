"""Candidate evaluations per second of PolyStep on the non-differentiable nets at published sizes.

For each task (784 inputs, batch 512) and subspace it times, in the same run, the structured evaluation
(problems.nets.structured: cached prefixes, rank-k updates) on one whole PolyStep step and the naive one
(full parameter reconstruction + full forward per candidate, as the published implementation) on a sample
of the same candidates, and prints both rates, their ratio, the time per optimizer step and peak memory.

    python -m experiments.bench_nets [--tasks snn,int8] [--subspaces column:16,lowrank:1,dense:1] [--naive-sample 64]
    python -m experiments.bench_nets --quick     # seconds: 64 inputs, batch 64, column:16, 4 naive candidates

`--tuned` times instead whole training steps of each task's tuned PolyStep (its defaults, activity-aligned spans)
on real minibatches after a few warm-up steps, with row-sparse scoring and with every row rescored, alternating in
one process (the ratio is what to compare on a shared machine):

    python -m experiments.bench_nets --tuned --tasks snn,int8,staircase --dataset mnist --data-dir DIR
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import polystep
from problems.nets.data import load_dataset
from problems.nets.models import cross_entropy, make_model
from problems.nets.structured import StructuredLoss, naive_losses
from problems.nets.training import evaluations_per_step, forward_only_step, peak_memory_mb

N_CLASSES = {"moe": 20}


def _subspace(spec: str):
    kind, _, rank = spec.partition(":")
    rank = int(rank or 1)
    if kind == "lowrank":
        return polystep.LowRankSubspace(rank=rank)
    if kind == "dense":
        return polystep.DenseSubspace(rank=rank)
    if kind == "column":
        return polystep.ColumnSubspace(rank=rank)
    raise ValueError(f"--subspaces: unknown {kind!r}; allowed: lowrank:R, dense:R, column:R")


def _timed(fn, *args, repeat: int = 2) -> float:
    jax.block_until_ready(fn(*args))  # compile + warm up
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def bench(task: str, sub: str, batch: int, particle_size: int, polytope: str, naive_sample: int, repeat: int,
          chunk_floats: int = 1 << 21, n_in: int = 784):
    """One (task, subspace) measurement: dict of rates, step time and candidate counts."""
    n_classes = N_CLASSES.get(task, 10)
    model = make_model(task, n_in, n_classes)
    key = jax.random.PRNGKey(0)
    params = model.init(key)
    x = jax.random.uniform(jax.random.PRNGKey(1), (batch, n_in))
    y = jax.random.randint(jax.random.PRNGKey(2), (batch,), 0, n_classes)
    opt = polystep.PolyStep(particle_size=particle_size, polytope=polytope, epsilon=0.01, step_radius=0.5,
                            probe_radius=0.5, subspace=_subspace(sub))
    state = opt.init(key, params)
    state = state._replace(coords=0.01 * jax.random.normal(jax.random.PRNGKey(3), state.coords.shape))
    blocks, _ = opt.ask_blocks(jax.random.PRNGKey(4), state)
    layout = opt.layout(state)
    n = int(blocks.index.shape[0])

    structured = jax.jit(lambda s, c, b: StructuredLoss(model, layout, x, y, chunk_floats).block_losses(s, c, b))
    t_struct = _timed(structured, state.space, state.coords, blocks, repeat=repeat)
    step = jax.jit(lambda k, s: opt.step(k, s, StructuredLoss(model, layout, x, y, chunk_floats)))
    t_step = _timed(step, jax.random.PRNGKey(5), state, repeat=1)

    pick = np.random.default_rng(0).choice(n, size=min(naive_sample, n), replace=False)
    sample = polystep.Blocks(blocks.index[pick], blocks.delta[pick])
    naive = jax.jit(lambda s, c, b: naive_losses(model, layout, s, c, b, x, y, chunk=16))
    t_naive = _timed(naive, state.space, state.coords, sample, repeat=1)
    full_loss = jax.jit(lambda p: cross_entropy(model.apply(p, x, "hard"), y))
    t_fwd = _timed(full_loss, params, repeat=3)
    return {
        "task": task, "subspace": sub, "candidates": n, "dim": layout.dim,
        "structured_per_s": n / t_struct, "naive_per_s": len(pick) / t_naive,
        "forward_only_per_s": 1.0 / t_fwd, "step_s": t_step,
    }


def bench_tuned(task: str, dataset: str, data_dir: str | None, warm: int, repeat: int) -> dict:
    """Seconds per training step of `task`'s tuned PolyStep (quick size on the digits) after `warm` steps on real
    minibatches, with row-sparse scoring and with every row rescored (best of `repeat` alternating rounds)."""
    from experiments.nondiff_nets import EXPERIMENT, train_config

    data = load_dataset(dataset, data_dir=data_dir)
    config = train_config(EXPERIMENT.make_config(quick=dataset == "digits", overrides={
        "task": task, "optimizer": "polystep", "dataset": dataset}))
    model = make_model(task, data.n_features, data.n_classes)
    batch = min(config.batch_size, len(data.x_train))
    total = len(data.x_train) // batch * config.epochs
    opt, sparse_step = forward_only_step(config, model, total)
    _, dense_step = forward_only_step(config, model, total, row_sparse=False)
    state = opt.init(jax.random.PRNGKey(1), model.init(jax.random.PRNGKey(0)))
    x, y = jax.numpy.asarray(data.x_train), jax.numpy.asarray(data.y_train)
    key = jax.random.PRNGKey(2)
    for s in range(warm):
        key, k = jax.random.split(key)
        i = s * batch % (len(x) - batch + 1)
        state = sparse_step(k, state, x[i:i + batch], y[i:i + batch])
    xb, yb = x[:batch], y[:batch]
    times = {"sparse": np.inf, "dense": np.inf}
    for fn in (sparse_step, dense_step):
        jax.block_until_ready(fn(key, state, xb, yb))  # compile
    for _ in range(repeat):
        for name, fn in (("sparse", sparse_step), ("dense", dense_step)):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(key, state, xb, yb))
            times[name] = min(times[name], time.perf_counter() - t0)
    return {"task": task, "rank": config.rank, "candidates": evaluations_per_step(config, opt, state),
            "sparse_s": times["sparse"], "dense_s": times["dense"], "steps": total}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="snn,int8,argmax,staircase,moe,tree")
    parser.add_argument("--subspaces", default="column:16,lowrank:1,dense:1")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--particle-size", type=int, default=8)
    parser.add_argument("--polytope", default="simplex")
    parser.add_argument("--naive-sample", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--chunk-floats", type=int, default=1 << 21)
    parser.add_argument("--inputs", type=int, default=784, help="input features (784: MNIST; 64: digits)")
    parser.add_argument("--tuned", action="store_true",
                        help="time training steps of the tuned defaults on real data, row-sparse (MoE: expert moves on "
                             "their expert's rows) against all rows")
    parser.add_argument("--dataset", default="digits", help="with --tuned: digits (bundled) or mnist (--data-dir)")
    parser.add_argument("--data-dir", default=None, help="with --tuned: the dataset's directory")
    parser.add_argument("--warm", type=int, default=10, help="with --tuned: training steps before timing")
    parser.add_argument("--quick", action="store_true",
                        help="seconds, for CI: 64 inputs, batch 64, column:16, 4 naive candidates, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.inputs, args.batch, args.naive_sample, args.repeat = 64, 64, 4, 1
        if args.subspaces == parser.get_default("subspaces"):
            args.subspaces = "column:16"
    for name in ("batch", "particle_size", "naive_sample", "repeat", "chunk_floats", "inputs", "warm"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be >= 1, got {getattr(args, name)}")
    if args.tuned:
        tasks = args.tasks if args.tasks != parser.get_default("tasks") else "snn,int8,staircase"
        print(f"devices: {jax.devices()}  {args.dataset}, tuned defaults, {args.warm} warm-up steps")
        print("| task | rank | candidates/step | step s (row-sparse) | step s (all rows) | ratio | "
              "training min (protocol steps x row-sparse step) |")
        print("|---|---|---|---|---|---|---|")
        for task in tasks.split(","):
            r = bench_tuned(task, args.dataset, args.data_dir, args.warm, args.repeat)
            print(f"| {task} | {r['rank']} | {r['candidates']} | {r['sparse_s']:.3f} | {r['dense_s']:.3f} | "
                  f"{r['dense_s'] / r['sparse_s']:.2f}x | {r['steps'] * r['sparse_s'] / 60:.0f} ({r['steps']} steps) |",
                  flush=True)
        return
    print(f"devices: {jax.devices()}  inputs {args.inputs}  batch {args.batch}  particle_size {args.particle_size}"
          f"  {args.polytope}")
    print("| task | subspace | coords | candidates/step | structured cand/s | naive cand/s | ratio | "
          "1 forward/s | step s | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for task in args.tasks.split(","):
        for sub in args.subspaces.split(","):
            r = bench(task, sub, args.batch, args.particle_size, args.polytope, args.naive_sample, args.repeat,
                      args.chunk_floats, args.inputs)
            print(f"| {task} | {sub} | {r['dim']} | {r['candidates']} | {r['structured_per_s']:.0f} | "
                  f"{r['naive_per_s']:.1f} | {r['structured_per_s'] / r['naive_per_s']:.1f}x | "
                  f"{r['forward_only_per_s']:.0f} | {r['step_s']:.2f} | {peak_memory_mb():.0f} |", flush=True)


if __name__ == "__main__":
    main()
