"""Optimizer throughput: candidate evaluations/s and per-step time of PolyStep, OpenAI-ES, CMA-ES and SPSA
next to evosax's Open_ES on the same objective, at several dimensions and device counts, with compile time and
peak memory.

    python -m experiments.bench_optimizers [--dims 10 1000 100000] [--steps 10] [--quick] [--objective NAME]
                                           [--devices 1 2]

Each (optimizer, dimension) runs `steps` steps inside one jitted `lax.scan`; compile time (ahead-of-time
`lower().compile()`) is reported separately and excluded from the timing, as is one untimed warm-up run;
the best of `repeats` timed runs is kept. By default every configuration runs
in a fresh subprocess so its peak RSS (resource.getrusage) is its own; `--in-process` skips that.
At 100,000 dimensions the parameters are one (250, 400) matrix: PolyStep searches a LowRankSubspace (rank 1,
650 coordinates), OpenAI-ES and diagonal CMA-ES the full space. Figures go to stdout as a markdown table.

`--devices 1 2` runs every configuration with candidate evaluation sharded over 1 and over 2 devices (on CPU,
forced host devices: XLA_FLAGS=--xla_force_host_platform_device_count) and adds a table of evaluations/s side by
side with their ratio. Forced host devices share the machine's cores, so on CPU the ratio shows the overhead of
sharding more than a speed-up; several accelerators show the speed-up. evosax's Open_ES is not sharded (it runs
on the first device whatever the count).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass

OPTIMIZERS = ("polystep", "openai_es", "cmaes", "spsa", "evosax_open_es")
ES_POPULATION = 50


@dataclass(frozen=True)
class Spec:
    """One benchmark configuration."""

    optimizer: str
    dim: int
    steps: int
    objective: str
    seed: int = 0
    repeats: int = 2
    devices: int = 1


def _param_shape(dim: int) -> tuple[int, ...]:
    """A matrix for large dimensions (so a per-layer subspace applies), a vector otherwise."""
    if dim >= 10_000:
        rows = int(math.sqrt(dim))
        while dim % rows:
            rows -= 1
        return (rows, dim // rows) if rows > 1 else (dim,)
    return (dim,)


def _build(spec: Spec):
    """(optimizer or None, description, step function (key, state) -> state, init state, evals per step)."""
    import jax
    import jax.numpy as jnp

    from polystep import objectives

    fn = objectives.get(spec.objective)
    low, high = objectives.domain(spec.objective)
    shape = _param_shape(spec.dim)
    x0 = jax.random.uniform(jax.random.key(spec.seed), shape, jnp.float32, 0.5 * low, 0.5 * high)

    def loss(params):
        return fn(jnp.reshape(params, (-1,)))

    key = jax.random.key(spec.seed + 1)
    if spec.optimizer == "evosax_open_es":
        import optax
        from evosax.algorithms import Open_ES

        es = Open_ES(population_size=ES_POPULATION, solution=x0, optimizer=optax.adam(0.01),
                     std_schedule=optax.constant_schedule(0.02))
        es_params = es.default_params
        state = es.init(key, x0, es_params)

        def step(k, s):
            k_ask, k_tell = jax.random.split(k)
            pop, s = es.ask(k_ask, s, es_params)
            s, _ = es.tell(k_tell, pop, jax.vmap(loss)(pop), s, es_params)
            return s

        return "Open_ES (evosax), adam", step, state, ES_POPULATION, lambda s: s.best_fitness

    if spec.optimizer == "polystep":
        from polystep import LowRankSubspace, PolyStep

        if len(shape) > 1:
            opt = PolyStep(particle_size=2, subspace=LowRankSubspace(rank=1))
            label = f"PolyStep p=2, LowRankSubspace(rank=1) of {shape}"
        else:
            opt = PolyStep(particle_size=2)
            label = "PolyStep p=2, full space"
        evals = opt.candidates_per_step(x0)
        label += f", {opt.layout(x0).dim} coords"
    elif spec.optimizer == "openai_es":
        from polystep.openai_es import OpenAIES

        opt = OpenAIES(population_size=ES_POPULATION)
        evals, label = ES_POPULATION, "OpenAIES, adam"
    elif spec.optimizer == "cmaes":
        from polystep.cmaes import CMAES

        opt = CMAES()
        d = int(math.prod(shape))
        evals = opt.lam(d)
        label = f"CMAES {'diagonal' if opt.is_diagonal(d) else 'full'}"
    elif spec.optimizer == "spsa":
        from polystep.spsa import SPSA

        opt = SPSA(a=0.01, c=0.05)
        evals, label = 2 * opt.num_directions, "SPSA"
    else:
        raise ValueError(f"optimizer: unknown {spec.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    state = opt.init(key, x0)
    return label, (lambda k, s: opt.step(k, s, loss)), state, evals, lambda s: s.best_loss


def measure(spec: Spec) -> dict:
    """Compile and run one configuration on `spec.devices` devices; returns timings, throughput, final best loss
    and peak RSS."""
    import jax

    from polystep import sharding

    if len(jax.devices()) < spec.devices:
        return {**asdict(spec), "error": f"{spec.devices} devices asked, {len(jax.devices())} available"}
    with sharding.use_devices(jax.devices()[: spec.devices]):
        return _measure(spec)


def _measure(spec: Spec) -> dict:
    import jax

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        label, step, state, evals, best = _build(spec)
    except RuntimeError as exc:
        return {**asdict(spec), "error": str(exc)}

    def run(s, keys):
        s, _ = jax.lax.scan(lambda c, k: (step(k, c), None), s, keys)
        return s, best(s)

    keys = jax.random.split(jax.random.key(spec.seed + 2), spec.steps)
    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(state, keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(state, keys))  # warm-up run: first-execution allocations, not timed
    warmup_s = time.perf_counter() - t0
    times = []
    for _ in range(spec.repeats):
        t0 = time.perf_counter()
        out_state, best_loss = jax.block_until_ready(compiled(state, keys))
        times.append(time.perf_counter() - t0)
    run_s = min(times)  # least-disturbed repeat (the machine may be shared)
    return {
        **asdict(spec),
        "label": label,
        "evals_per_step": int(evals),
        "compile_s": compile_s,
        "warmup_s": warmup_s,
        "step_ms": 1e3 * run_s / spec.steps,
        "evals_per_s": evals * spec.steps / run_s,
        "best_loss": float(best_loss),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_import_mb": rss_start,
    }


def _forced_host_devices(count: int) -> str:
    """XLA_FLAGS of this process with the forced host device count set to `count`."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    return " ".join(flags + [f"--xla_force_host_platform_device_count={count}"])


def _run_all(specs: list[Spec], isolate: bool) -> list[dict]:
    rows = []
    ctx = mp.get_context("spawn")
    for spec in specs:
        print(f"[bench] {spec.optimizer} d={spec.dim} devices={spec.devices} ...", file=sys.stderr, flush=True)
        if isolate:
            saved = os.environ.get("XLA_FLAGS")
            os.environ["XLA_FLAGS"] = _forced_host_devices(spec.devices)  # read by the spawned child's XLA
            try:
                with ctx.Pool(1) as pool:
                    rows.append(pool.apply(measure, (spec,)))
            finally:
                if saved is None:
                    os.environ.pop("XLA_FLAGS", None)
                else:
                    os.environ["XLA_FLAGS"] = saved
        else:
            rows.append(measure(spec))
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table; the ratio column divides evaluations/s by evosax Open_ES's at the same dimension."""
    reference = {(r["dim"], r.get("devices", 1)): r["evals_per_s"] for r in rows
                 if r["optimizer"] == "evosax_open_es" and "error" not in r}
    lines = [
        "| optimizer | dim | devices | config | evals/step | compile s | step ms | evals/s | evals/s ratio vs evosax "
        "| best loss | peak RSS MB |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['optimizer']} | {r['dim']} | {r.get('devices', 1)} | SKIPPED: {r['error']} "
                         "| | | | | | | |")
            continue
        ref = reference.get((r["dim"], r.get("devices", 1)))
        ratio = f"{r['evals_per_s'] / ref:.2f}" if ref else "n/a"
        lines.append(
            f"| {r['optimizer']} | {r['dim']:,} | {r.get('devices', 1)} | {r['label']} | {r['evals_per_step']:,} "
            f"| {r['compile_s']:.2f} "
            f"| {r['step_ms']:.3f} | {r['evals_per_s']:,.0f} | {ratio} | {r['best_loss']:.4g} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def device_table(rows: list[dict]) -> str:
    """Markdown table of evaluations/s per device count, side by side, with each count's ratio to the first."""
    counts = sorted({r.get("devices", 1) for r in rows})
    rate = {(r["optimizer"], r["dim"], r.get("devices", 1)): r.get("evals_per_s") for r in rows}
    keys = list(dict.fromkeys((r["optimizer"], r["dim"]) for r in rows))
    head = " | ".join(f"evals/s, {n} device{'s' if n > 1 else ''}" for n in counts)
    ratios = " | ".join(f"ratio {n}/{counts[0]}" for n in counts[1:])
    lines = [f"| optimizer | dim | {head} | {ratios} |", "|---|---:|" + "---:|" * (2 * len(counts) - 1)]
    for optimizer, dim in keys:
        values = [rate.get((optimizer, dim, n)) for n in counts]
        cells = " | ".join(f"{v:,.0f}" if v else "n/a" for v in values)
        base = values[0]
        quotients = " | ".join(f"{v / base:.2f}" if v and base else "n/a" for v in values[1:])
        lines.append(f"| {optimizer} | {dim:,} | {cells} | {quotients} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    """Parse flags, run every (optimizer, dimension) configuration, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 1000, 100_000])
    parser.add_argument("--steps", type=int, default=None, help="timed steps per configuration (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 timed steps, 1 repeat (smoke run)")
    parser.add_argument("--objective", default="rastrigin")
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=OPTIMIZERS)
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs, the best kept (default 2, quick 1)")
    parser.add_argument("--in-process", action="store_true",
                        help="no subprocess per configuration (peak RSS is then shared; --devices must then be "
                             "available in this process)")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2],
                        help="device counts to shard candidate evaluation over, side by side (default 1 2; on CPU "
                             "these are forced host devices)")
    args = parser.parse_args(argv)
    steps = args.steps or (3 if args.quick else 10)
    if steps < 1:
        parser.error("--steps must be >= 1")
    if any(d < 2 for d in args.dims):
        parser.error("--dims must all be >= 2")
    if any(n < 1 for n in args.devices):
        parser.error("--devices must all be >= 1")
    repeats = args.repeats or (1 if args.quick else 2)
    specs = [Spec(o, d, steps, args.objective, repeats=repeats, devices=n)
             for d in args.dims for o in args.optimizers for n in args.devices]
    rows = _run_all(specs, isolate=not args.in_process)
    import jax

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"objective={args.objective} steps={steps} repeats={repeats} backend={jax.default_backend()} "
          f"devices={jax.device_count()} cpus={os.cpu_count()} load_avg={load} isolated={not args.in_process}")
    print(table(rows))
    if len(args.devices) > 1:
        print()
        print(device_table(rows))
    return rows


if __name__ == "__main__":
    main()
