"""Benchmark of the wireless simulator: all-pairs routing on a unit-disk graph (216 nodes by default), the
vectorized router against a per-pair Python loop measured in the same run, the JAX walk used in training,
and packets per wall second in the SimPy traffic model.

    python -m experiments.bench_wireless [--n 216] [--rho 3] [--loop-pairs 3000] [--sim-seconds 60]

Each vectorized rate is also printed as a ratio against the loop of the same run (absolute rates depend on the
machine and its load; the ratios compare across machines).
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
import jax.numpy as jnp
import psutil

from polystep.validate import check_int
from simulators.wireless import all_pairs, arrays, get_policy, unit_disk_graph, walk_all
from simulators.wireless.graphs import MAX_NODES
from simulators.wireless.routing import walk
from simulators.wireless.scorers import linear_scorer
from simulators.wireless.sim import SimConfig, simulate
from simulators.wireless.training import to_jax
from simulators.wireless.vectorized import jax_walk


def main(argv: list[str] | None = None) -> None:
    """Print routed pairs per second (vectorized numpy, per-pair loop, JAX) and SimPy packets per second."""
    ap = argparse.ArgumentParser(
        prog="python -m experiments.bench_wireless",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--n", type=int, default=216, help="nodes of the graph (default: %(default)s)")
    ap.add_argument("--rho", type=float, default=3.0, help="density, nodes per radius^2 (default: %(default)s)")
    ap.add_argument(
        "--loop-pairs", type=int, default=3000, help="pairs routed by the per-pair loop baseline (default: %(default)s)"
    )
    ap.add_argument(
        "--sim-seconds", type=float, default=60.0, help="simulated seconds of SimPy traffic (default: %(default)s)"
    )
    args = ap.parse_args(argv)
    try:
        check_int(args.n, "--n", 2, MAX_NODES)
        unit_disk_graph(args.n, args.rho, seed=7)
        check_int(args.loop_pairs, "--loop-pairs", 1)
        SimConfig(n=100, rho=4.0, rate=200.0, duration=args.sim_seconds)
    except ValueError as err:
        message = str(err)
        for field, flag in (("duration:", "--sim-seconds:"), ("n:", "--n:"), ("rho:", "--rho:")):
            if message.startswith(field):
                message = flag + message[len(field) :]
        ap.error(message)

    graph = unit_disk_graph(args.n, args.rho, seed=7)
    ga = arrays(graph)
    o, d = all_pairs(ga)
    print(
        f"graph n={args.n} rho={args.rho:g}: {o.size} connected ordered pairs, "
        f"mean degree {2 * graph.number_of_edges() / args.n:.2f}"
    )
    learned = linear_scorer(("dist_ratio", "stretch", "cos_angle", "is_self"), [1.0, 0.25, -1.0, 10.0])
    for name, pol in (
        ("greedy", get_policy("greedy")),
        ("learned-linear", learned),
        ("gfg", get_policy("gfg")),
    ):
        pairs = o.size if name != "gfg" else min(o.size, args.loop_pairs)
        t = time.perf_counter()
        walks = walk_all(ga, pol, o[:pairs], d[:pairs])
        vec = pairs / (time.perf_counter() - t)
        m = min(args.loop_pairs, o.size)
        t = time.perf_counter()
        for a, b in zip(o[:m].tolist(), d[:m].tolist()):
            walk(ga, pol, a, b)
        loop = m / (time.perf_counter() - t)
        kind = "vectorized" if name != "gfg" else "walk_all (per-pair, stateful)"
        print(
            f"{name:15s} {kind}: {vec:12,.0f} pairs/s   per-pair loop: {loop:10,.0f} pairs/s   "
            f"ratio {vec / loop:6.1f}x   delivered {walks.delivered.mean():.3f}"
        )

    g = to_jax(ga)
    oj, dj = jnp.asarray(o, jnp.int32), jnp.asarray(d, jnp.int32)
    w = jnp.asarray([1.0, 0.25, -1.0, 10.0])
    names = ("dist_ratio", "stretch", "cos_angle", "is_self")

    @jax.jit
    def run(w):
        return jax_walk(
            g.pos,
            g.dist,
            g.nbr,
            g.radius,
            oj,
            dj,
            lambda f: sum(w[i] * f[k] for i, k in enumerate(names)),
            ga.n,
        )

    jax.block_until_ready(run(w))
    t = time.perf_counter()
    ok, _ = jax.block_until_ready(run(w))
    print(
        f"learned-linear  JAX jax_walk (jit, while_loop): {o.size / (time.perf_counter() - t):12,.0f} "
        f"pairs/s   delivered {float(ok.mean()):.3f}"
    )
    cells = 16 * 20
    est = sum(n * (n - 1) for n in (27, 64, 125, 216)) * 4 * 20
    print(
        f"full grid: {est:,} ordered pairs over {cells} graphs; at the vectorized greedy rate above this is "
        f"about {est / vec_rate(ga, o, d):.0f} s per policy"
    )

    for policy in ("greedy", "gfg"):
        cfg = SimConfig(n=100, rho=4.0, rate=200.0, duration=args.sim_seconds, policy=policy, loss_prob=0.1)
        t = time.perf_counter()
        res = simulate(cfg, seed=1)
        wall = time.perf_counter() - t
        print(
            f"SimPy {policy:6s} n=100 rate=200/s, {args.sim_seconds:g} s simulated, loss 10%: "
            f"{res.generated / wall:,.0f} packets per wall second "
            f"({res.transmissions / wall:,.0f} transmissions/s), "
            f"delivery {res.delivery_ratio:.3f}, conserved {res.conserved}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB (psutil now {psutil.Process().memory_info().rss / 2**20:.0f} MiB)")


def vec_rate(ga, o, d) -> float:
    """Vectorized greedy pairs per second on this graph (re-measured)."""
    t = time.perf_counter()
    walk_all(ga, get_policy("greedy"), o, d)
    return o.size / (time.perf_counter() - t)


if __name__ == "__main__":
    main()
