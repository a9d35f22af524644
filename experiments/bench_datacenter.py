"""Benchmark of the datacenter simulator: packet-level throughput vs a naive SimPy model, fluid scale.

Prints packet-hops simulated per wall second and simulated time per wall second for a 64-host all-to-all
with the event-driven ports (one scheduled timeout per packet per hop) and, in the same run, with the naive
model (one SimPy process per packet per hop, Resource-held transmitter), their ratio, and the wall time of
the fluid model on a 1,024-host all-to-all. `--paper` instead times one packet-level run in the spraying
paper's setting (256 hosts on 16 leaves x 16 spines, 400 Gb/s, 0.5 us per link, 16 MB per rank). Usage:
    python -m experiments.bench_datacenter [--message-bytes N] [--policy P] [--transport T] [--pfc]
                                           [--fluid-hosts 1024] [--paper] [--pattern all_to_all] [--no-naive]
"""

from __future__ import annotations

import argparse
import resource
import time

from simulators.core import ProcessPort
from simulators.datacenter import FabricConfig, PathConfig, SimConfig, WorkloadConfig, fluid
from simulators.datacenter.packet import PacketSim


def _square(hosts: int, **fields) -> FabricConfig:
    side = int(round(hosts ** 0.5))
    return FabricConfig(hosts_per_leaf=side, leaves=side, spines=side, **fields)


def packet_run(config: SimConfig, naive: bool) -> dict:
    """Wall time (of the event loop only), packet-hops and simulated time of one packet-level run."""
    sim = PacketSim(config, 0, port_cls=ProcessPort, nic_port_cls=ProcessPort) if naive else PacketSim(config, 0)
    sim.prepare()
    t0 = time.perf_counter()
    sim.env.run(until=sim._stop)
    wall = time.perf_counter() - t0
    res = sim.collect()
    return {"wall_s": wall, "hops": res.packet_hops, "sim_s": res.sim_time_s, "cct_s": res.cct_s,
            "hops_per_s": res.packet_hops / wall, "sim_per_wall": res.sim_time_s / wall}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--message-bytes", type=int, default=2 << 20)
    ap.add_argument("--policy", default="ecmp")
    ap.add_argument("--fluid-hosts", type=int, default=1024)
    ap.add_argument("--fluid-policies", default="spray_rr,min_split,ecmp")
    ap.add_argument("--fluid-message-bytes", type=int, default=64 << 20)
    ap.add_argument("--transport", default="ideal")
    ap.add_argument("--pfc", action="store_true")
    ap.add_argument("--pattern", default="all_to_all")
    ap.add_argument("--paper", action="store_true", help="256 hosts, 400 Gb/s, 16 MB per rank, packet level only")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive-port comparison")
    args = ap.parse_args(argv)

    if args.paper:
        fabric = _square(256, link_gbps=400.0, link_delay_s=0.5e-6, buffer_bytes=1 << 20,
                         ecn_threshold_bytes=256 * 1024, pfc=args.pfc, pfc_xoff_bytes=512 * 1024,
                         pfc_xon_bytes=448 * 1024)
        cfg = SimConfig(fabric=fabric, workload=WorkloadConfig(pattern=args.pattern, message_bytes=16 << 20),
                        path=PathConfig(policy=args.policy), transport=args.transport, trace_interval_s=None,
                        spray_reference=False)
        t0 = time.perf_counter()
        r = packet_run(cfg, naive=False)
        print(f"paper setting: 256 hosts, 400 Gb/s, {args.pattern}, 16 MB per rank, {args.policy}, {args.transport}"
              f"{' + PFC' if args.pfc else ''}: event loop {r['wall_s']:.1f} s (total {time.perf_counter() - t0:.1f} s)"
              f"  packet-hops {r['hops']}  {r['hops_per_s']:.0f} hops/s  CCT {r['cct_s'] * 1e6:.1f} us")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        return

    cfg = SimConfig(fabric=_square(args.hosts, pfc=args.pfc),
                    workload=WorkloadConfig(pattern=args.pattern, message_bytes=args.message_bytes),
                    path=PathConfig(policy=args.policy), trace_interval_s=None, transport=args.transport)
    print(f"packet level: {args.hosts}-host {args.pattern}, {args.message_bytes} B per rank, policy {args.policy}, "
          f"transport {args.transport}{' + PFC' if args.pfc else ''}")
    runs = [("event-driven ports", packet_run(cfg, naive=False))]
    if not args.no_naive:
        runs.append(("naive process/hop", packet_run(cfg, naive=True)))
    for name, r in runs:
        print(f"  {name:20s} wall {r['wall_s']:7.2f} s  packet-hops {r['hops']:9d}  "
              f"{r['hops_per_s']:10.0f} hops/s  sim {r['sim_s'] * 1e6:9.2f} us  "
              f"{r['sim_per_wall'] * 1e6:8.2f} us simulated per wall s  CCT {r['cct_s'] * 1e6:.2f} us")
    if len(runs) == 2:
        fast, naive = runs[0][1], runs[1][1]
        print(f"  speed-up (hops/s): {fast['hops_per_s'] / naive['hops_per_s']:.2f}x   "
              f"(sim time per wall s: {fast['sim_per_wall'] / naive['sim_per_wall']:.2f}x)")

    warm = SimConfig(workload=WorkloadConfig(message_bytes=1 << 16))
    t0 = time.perf_counter()
    fluid(warm, 0)  # compiles (or loads the cached) numba kernel
    print(f"fluid level: kernel warm-up {time.perf_counter() - t0:.2f} s")
    for policy in [p for p in args.fluid_policies.split(",") if p]:
        fcfg = SimConfig(fabric=_square(args.fluid_hosts),
                         workload=WorkloadConfig(pattern="all_to_all", message_bytes=args.fluid_message_bytes),
                         path=PathConfig(policy=policy))
        t0 = time.perf_counter()
        res = fluid(fcfg, 0)
        wall = time.perf_counter() - t0
        n = fcfg.fabric.hosts
        print(f"  {n}-host all-to-all ({n * (n - 1)} transfers), {policy:9s}: wall {wall:6.2f} s "
              f"(incl. the ideal-spraying reference run)  CCT {res.cct_s * 1e3:.3f} ms  "
              f"CCT/ideal {res.cct_over_ideal:.3f}  extra subflows {res.extra_subflows}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
