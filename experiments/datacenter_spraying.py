"""Packet spraying vs singlepath with minimal flow splitting for collectives on leaf-spine fabrics.

Sweeps fabric size (square leaf-spine: sqrt(hosts) leaves, hosts per leaf and spines) x collective pattern x
message size x transport (ideal receiver, go-back-N, selective repeat; with or without PFC) x one failed
leaf-spine link or none x path-selection policy. Packet level up to `packet_max_hosts`, fluid level above;
records the collective completion time, its ratio to the provable lower bound, the maximum link load relative
to ideal spraying, drops, ECN marks, retransmitted bytes, reordering, PFC pauses, plus the queue trace of the
busiest port. `preset="paper"` is the setting of the spraying paper: 256 hosts on 16 leaves x 16 spines,
400 Gb/s, 0.5 us per link, ring / halving-doubling / direct all-reduce and all-to-all, min_split against
spray_rr, spray_random and REPS (fields left at their defaults take the preset's values).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.registry import Experiment
from polystep.validate import check_bool, check_choice, check_int, check_real, fail
from simulators.datacenter import (
    PATTERNS,
    POLICIES,
    TRANSPORTS,
    FabricConfig,
    PathConfig,
    SimConfig,
    WorkloadConfig,
    fluid,
    simulate,
)
from simulators.datacenter.collectives import build_plan
from simulators.datacenter.paths import assign, ideal_policy, link_loads
from simulators.datacenter.result import load_metrics
from simulators.datacenter.topology import Fabric


@dataclass
class DatacenterSprayingConfig:
    """Sweep axes (hosts, patterns, policies, message sizes, transports, PFC, failures) and shared settings.

    message_sizes: per-rank buffers to sweep (empty: message_bytes only). failures: 0 (none) or 1 (the link
    leaf 0 - spine 0 down from the start, senders failure-aware). preset: "" or "paper". packet_max_bytes:
    message sizes above it run at the fluid level only, once (no transports or PFC there); 0: no limit.
    """

    hosts: tuple[int, ...] = (16, 64, 256)
    patterns: tuple[str, ...] = ("ring_allreduce", "hd_allreduce", "direct_allreduce", "all_to_all", "all_gather",
                                 "permutation")
    policies: tuple[str, ...] = ("ecmp", "subflows", "spray_rr", "spray_random", "min_split")
    message_bytes: int = 4 << 20
    message_sizes: tuple[int, ...] = ()
    transports: tuple[str, ...] = ("ideal",)
    pfc: tuple[bool, ...] = (False,)
    failures: tuple[int, ...] = (0,)
    preset: str = ""
    link_gbps: float = 100.0
    link_delay_s: float = 0.5e-6
    buffer_bytes: int = 512 * 1024
    ecn_threshold_bytes: int = 96 * 1024
    subflows: int = 4
    placement: str = "sequential"
    jitter_s: float = 0.0
    packet_max_hosts: int = 64
    trace_points: int = 200
    pfc_xoff_bytes: int = 192 * 1024
    pfc_xon_bytes: int = 160 * 1024
    reorder_window_pkts: int = 64
    fluid_metrics: bool = True
    packet_max_bytes: int = 0

    def __post_init__(self):
        check_choice(self.preset, "DatacenterSprayingConfig.preset", PRESETS)
        for name in ("hosts", "message_sizes", "failures"):
            for v in _as_tuple(getattr(self, name), name):
                check_int(v, f"DatacenterSprayingConfig.{name}", 0 if name == "failures" else 2,
                          1 if name == "failures" else None)
        for v in _as_tuple(self.patterns, "patterns"):
            check_choice(v, "DatacenterSprayingConfig.patterns", PATTERNS)
        for v in _as_tuple(self.policies, "policies"):
            check_choice(v, "DatacenterSprayingConfig.policies", POLICIES)
        for v in _as_tuple(self.transports, "transports"):
            check_choice(v, "DatacenterSprayingConfig.transports", TRANSPORTS)
        for v in _as_tuple(self.pfc, "pfc"):
            check_bool(v, "DatacenterSprayingConfig.pfc")
        check_int(self.message_bytes, "DatacenterSprayingConfig.message_bytes", 2)
        check_real(self.link_gbps, "DatacenterSprayingConfig.link_gbps", 0.0, lo_open=True)
        check_real(self.link_delay_s, "DatacenterSprayingConfig.link_delay_s", 0.0)
        check_int(self.packet_max_hosts, "DatacenterSprayingConfig.packet_max_hosts", 0)
        check_int(self.packet_max_bytes, "DatacenterSprayingConfig.packet_max_bytes", 0)
        check_bool(self.fluid_metrics, "DatacenterSprayingConfig.fluid_metrics")


PRESETS = ("", "paper")
# The spraying paper's evaluation setting (fields left at their defaults take these values).
PAPER = {
    "hosts": (256,),
    "patterns": ("ring_allreduce", "hd_allreduce", "direct_allreduce", "all_to_all"),
    "policies": ("min_split", "spray_rr", "spray_random", "reps"),
    "message_sizes": (1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20),
    "transports": ("ideal", "selective_repeat", "go_back_n"),
    "pfc": (False, True),
    "failures": (0, 1),
    "link_gbps": 400.0,
    "link_delay_s": 0.5e-6,
    "buffer_bytes": 1 << 20,
    "ecn_threshold_bytes": 256 * 1024,
    "pfc_xoff_bytes": 512 * 1024,
    "pfc_xon_bytes": 448 * 1024,
    "packet_max_hosts": 256,
    "fluid_metrics": False,
    "packet_max_bytes": 16 << 20,  # 64 and 256 MiB at the fluid level (a 16 MiB packet point: 3-12 CPU minutes)
}


def _as_tuple(value, name: str) -> tuple:
    if not isinstance(value, (tuple, list)):
        fail(f"DatacenterSprayingConfig.{name}", f"must be a tuple, got {value!r}")
    return tuple(value)


def apply_preset(config: DatacenterSprayingConfig) -> DatacenterSprayingConfig:
    """The config with the preset's values for every field still at its default."""
    if config.preset != "paper":
        return config
    default = DatacenterSprayingConfig()
    return dataclasses.replace(config, preset="", **{k: v for k, v in PAPER.items()
                                                     if getattr(config, k) == getattr(default, k)})


def fabric_for(hosts: int, config: DatacenterSprayingConfig) -> FabricConfig:
    """Square leaf-spine fabric for `hosts` hosts (sqrt(hosts) leaves, hosts per leaf and spines)."""
    side = math.isqrt(hosts)
    if side * side != hosts or side < 2:
        raise ValueError(f"DatacenterSprayingConfig.hosts: {hosts} is not a square >= 4 (e.g. 16, 64, 256)")
    return FabricConfig(hosts_per_leaf=side, leaves=side, spines=side, link_gbps=config.link_gbps,
                        link_delay_s=config.link_delay_s, buffer_bytes=config.buffer_bytes,
                        ecn_threshold_bytes=config.ecn_threshold_bytes, pfc=config.pfc[0],
                        pfc_xoff_bytes=config.pfc_xoff_bytes, pfc_xon_bytes=config.pfc_xon_bytes,
                        failed_links=((0, 0),) if config.failures[0] else ())


def sim_config(config: DatacenterSprayingConfig, hosts: int, pattern: str, policy: str) -> SimConfig:
    """The simulator config of one sweep point (its message size, transport, PFC and failure settings)."""
    return SimConfig(
        fabric=fabric_for(hosts, config),
        workload=WorkloadConfig(pattern=pattern, message_bytes=config.message_bytes,
                                placement=config.placement, jitter_s=config.jitter_s),
        path=PathConfig(policy=policy, subflows=config.subflows),
        transport=config.transports[0], reorder_window_pkts=config.reorder_window_pkts,
        spray_reference=config.fluid_metrics,
    )


def points(config: DatacenterSprayingConfig) -> list[DatacenterSprayingConfig]:
    """One config per (message size, hosts, transport, pfc, failures, pattern, policy), in that order.

    Sizes above packet_max_bytes run at the fluid level, which has no transport or PFC: one point per
    (size, hosts, failures, pattern, policy), recorded as the ideal receiver without PFC.
    """
    config = apply_preset(config)
    sizes = config.message_sizes or (config.message_bytes,)
    out = []
    for m in sorted(sizes):
        fluid_only = 0 < config.packet_max_bytes < m
        transports, pfcs = (("ideal",), (False,)) if fluid_only else (config.transports, config.pfc)
        out += [dataclasses.replace(config, hosts=(h,), patterns=(p,), policies=(q,), message_bytes=m,
                                    message_sizes=(), transports=(t,), pfc=(f,), failures=(x,),
                                    **({"packet_max_hosts": 0} if fluid_only else {}))
                for h in config.hosts for t in transports for f in pfcs
                for x in config.failures for p in config.patterns for q in config.policies]
    return out


def _busiest_trace(result, n_points: int) -> dict:
    """Queue trace of the fabric port with the highest queue peak, downsampled to about n_points."""
    fabric_ports = {k: v for k, v in result.max_queue_bytes.items() if not k[0].startswith("h")}
    if not fabric_ports or not result.queue_traces:
        return {}
    name = max(fabric_ports, key=fabric_ports.get)
    t, q = result.queue_traces.get(name, (np.zeros(0), np.zeros(0)))
    step = max(1, t.size // n_points)
    return {"queue_link": f"{name[0]}->{name[1]}", "queue_t_us": (t[::step] * 1e6).round(4).tolist(),
            "queue_kb": (q[::step] / 1024).round(3).tolist(), "queue_peak_kb": fabric_ports[name] / 1024}


def run(config: DatacenterSprayingConfig, seed: int) -> dict:
    """Simulate one (hosts, pattern, policy) point; packet level when small enough, fluid always."""
    if len(config.hosts) != 1 or len(config.patterns) != 1 or len(config.policies) != 1:
        raise ValueError("DatacenterSprayingConfig: run() takes one point; use points() to expand the sweep")
    hosts, pattern, policy = config.hosts[0], config.patterns[0], config.policies[0]
    cfg = sim_config(config, hosts, pattern, policy)
    common = {"message_bytes": config.message_bytes, "transport": config.transports[0], "pfc": config.pfc[0],
              "failures": config.failures[0]}
    if not config.fluid_metrics and hosts <= config.packet_max_hosts:
        return {**common, **_packet_only(cfg, seed, hosts, pattern, policy, config.trace_points)}
    flow = fluid(cfg, seed)
    spray = fluid(sim_config(config, hosts, pattern, "spray_rr"), seed)
    metrics = {
        "max_link_load_over_spray": flow.max_link_load / spray.max_link_load,
        "max_fabric_load_over_spray": flow.max_fabric_load / spray.max_fabric_load,
        "hosts": hosts, "pattern": pattern, "policy": policy,
        "fluid_cct_s": flow.cct_s, "fluid_cct_over_ideal": flow.cct_over_ideal,
        "extra_subflows": flow.extra_subflows,
        "subflows_per_host_max": int(flow.subflows_per_host.max()),
    }
    if hosts <= config.packet_max_hosts:
        res = simulate(cfg, seed)
        metrics = {"cct_s": res.cct_s, "cct_over_ideal": res.cct_over_ideal, **metrics}
        metrics.update({
            "model": "packet",
            "completed": res.completed, "drops": res.drops, "ecn_marks": res.ecn_marks,
            "retransmissions": res.retransmissions, "out_of_order": res.out_of_order,
            "retransmitted_bytes": res.retransmitted_bytes, "gbn_discards": res.gbn_discards,
            "reorder_window_drops": res.reorder_window_drops, "timeouts": res.timeouts,
            "max_timeout_rto_s": res.max_timeout_rto_s, "pfc_pauses": res.pfc_pauses,
            "pfc_paused_s": res.pfc_paused_s, "cct_over_spray_fluid": res.cct_over_spray_fluid,
            "out_of_order_frac": res.out_of_order_fraction, "packet_hops": res.packet_hops,
            "packet_vs_fluid": res.cct_s / flow.cct_s,
        })
        metrics.update(_busiest_trace(res, config.trace_points))
    else:
        metrics = {"cct_s": flow.cct_s, "cct_over_ideal": flow.cct_over_ideal, **metrics}
        metrics.update({"model": "fluid", "completed": flow.completed})
    return {k: (float(v) if isinstance(v, (np.floating,)) else v) for k, v in {**common, **metrics}.items()}


@functools.lru_cache(maxsize=64)
def _spray_load(cfg: SimConfig, seed: int) -> tuple[float, float]:
    fab = Fabric(cfg.fabric)
    plan = build_plan(cfg.workload, fab.n_hosts, seed)
    return load_metrics(fab, link_loads(fab, assign(fab, plan, ideal_policy(cfg.path), seed)))


def _packet_only(cfg: SimConfig, seed: int, hosts: int, pattern: str, policy: str, n_trace: int) -> dict:
    """Packet-level metrics without fluid runs (link loads from the path assignment)."""
    res = simulate(cfg, seed)
    spray_load, spray_fabric = _spray_load(dataclasses.replace(cfg, path=PathConfig(), transport="ideal"), seed)
    metrics = {
        "model": "packet", "hosts": hosts, "pattern": pattern, "policy": policy,
        "cct_s": res.cct_s, "cct_over_ideal": res.cct_over_ideal, "lower_bound_s": res.ideal_cct_s,
        "completed": res.completed, "drops": res.drops, "ecn_marks": res.ecn_marks,
        "retransmissions": res.retransmissions, "retransmitted_bytes": res.retransmitted_bytes,
        "gbn_discards": res.gbn_discards, "reorder_window_drops": res.reorder_window_drops,
        "timeouts": res.timeouts, "max_timeout_rto_s": res.max_timeout_rto_s,
        "out_of_order": res.out_of_order, "out_of_order_frac": res.out_of_order_fraction,
        "pfc_pauses": res.pfc_pauses, "pfc_paused_s": res.pfc_paused_s, "pfc_hol_packets": res.pfc_hol_packets,
        "pfc_propagated_pauses": res.pfc_propagated_pauses, "packet_hops": res.packet_hops,
        "max_link_load_over_spray": res.max_link_load / spray_load,
        "max_fabric_load_over_spray": res.max_fabric_load / spray_fabric,
        "extra_subflows": res.extra_subflows, "subflows_per_host_max": int(res.subflows_per_host.max()),
    }
    metrics.update(_busiest_trace(res, n_trace))
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in metrics.items()}


COMPARATORS = ("spray_rr", "spray_random", "reps")


def _key(m: dict) -> tuple:
    """(hosts, pattern, message bytes, transport, pfc, failures) of a record's metrics."""
    return (m["hosts"], m["pattern"], m.get("message_bytes", 0), m.get("transport", "ideal"),
            bool(m.get("pfc", False)), int(m.get("failures", 0)))


def _mean_by(records: list[dict], metric: str, full: bool = False) -> dict:
    """Mean over seeds of `metric` per (hosts, pattern, policy), or per (_key, policy) when `full`."""
    acc: dict = defaultdict(list)
    for rec in records:
        m = rec["metrics"]
        value = m.get(metric)
        if not full and _key(m)[3:] != ("ideal", False, 0):
            continue  # the per-pattern overview plots cover the ideal transport without PFC or failures
        if isinstance(value, (int, float)) and math.isfinite(value):
            acc[(_key(m), m["policy"]) if full else (m["hosts"], m["pattern"], m["policy"])].append(value)
    return {k: float(np.mean(v)) for k, v in acc.items()}


def min_split_ratios(records: list[dict]) -> dict:
    """Per _key: {comparator: mean CCT of min_split / mean CCT of comparator} where both finished."""
    cct = _mean_by(records, "cct_s", full=True)
    out: dict = defaultdict(dict)
    for (key, policy), value in cct.items():
        if policy in COMPARATORS and (key, "min_split") in cct and value > 0:
            out[key][policy] = cct[(key, "min_split")] / value
    return dict(out)


def _fluid_keys(records: list[dict]) -> set:
    """The _key of every setting whose records ran at the fluid level (no transport, no PFC there)."""
    return {_key(r["metrics"]) for r in records if r["metrics"].get("model") == "fluid"}


def _setting_cells(key: tuple, fluid_keys: set) -> str:
    """The 'transport | PFC' cells of a table row: 'fluid | -' for a fluid-level setting."""
    return "fluid | -" if key in fluid_keys else f"{key[3]} | {'yes' if key[4] else 'no'}"


def _variant(key: tuple) -> str:
    return f"{key[3].replace('selective_repeat', 'SR').replace('go_back_n', 'GBN')}{'+PFC' if key[4] else ''}"


def _ratio_plot(records: list[dict], out: Path) -> Path | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker below)

    fluid_keys = _fluid_keys(records)
    ratios = {k: v for k, v in min_split_ratios(records).items() if k not in fluid_keys}
    if not ratios:
        return None
    patterns = [p for p in PATTERNS if any(k[1] == p for k in ratios)]
    fails = sorted({k[5] for k in ratios})
    variants = sorted({(k[3], k[4]) for k in ratios}, key=lambda v: (TRANSPORTS.index(v[0]), v[1]))
    comps = [c for c in COMPARATORS if any(c in r for r in ratios.values())]
    fig, axes = plt.subplots(len(patterns), len(fails), figsize=(5.5 * len(fails), 2.8 * len(patterns)),
                             squeeze=False, sharey=True)
    width = 0.8 / max(len(comps), 1)
    lowest = min(0.5, 0.8 * min(v for r in ratios.values() for v in r.values()))
    colors = {"spray_rr": "tab:blue", "spray_random": "tab:orange", "reps": "tab:green"}
    for row, pattern in enumerate(patterns):
        for col, failed in enumerate(fails):
            ax = axes[row, col]
            x = np.arange(len(variants))
            for i, comp in enumerate(comps):
                vals = [[r[comp] for k, r in ratios.items() if k[1] == pattern and k[5] == failed
                         and (k[3], k[4]) == v and comp in r] for v in variants]
                med = [np.median(v) if v else np.nan for v in vals]
                lo = [m - min(v) if v else 0 for m, v in zip(med, vals)]
                hi = [max(v) - m if v else 0 for m, v in zip(med, vals)]
                ax.bar(x + (i - (len(comps) - 1) / 2) * width, med, width, yerr=[lo, hi], capsize=2,
                       color=colors[comp], label=f"vs {comp}")
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_ylim(lowest, 1.6)
            ax.set_yticks([t for t in (0.01, 0.03, 0.1, 0.3, 0.5, 0.7, 1.0, 1.5) if t >= lowest])
            ax.set_xticks(x, [_variant(("", "", 0, t, f)) for t, f in variants], fontsize=8)
            ax.set_title(f"{pattern}, {'one failed link' if failed else 'no failure'}", fontsize=9)
            if col == 0:
                ax.set_ylabel("CCT min_split / CCT other")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(comps), fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("min_split relative to spraying, packet level (bar: median over message sizes, whiskers: range; "
                 "log scale); "
                 "< 1: min_split faster", fontsize=9)
    height = 2.8 * len(patterns)
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1 - 0.35 / height))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _bars(records: list[dict], metric: str, ylabel: str, out: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = _mean_by(records, metric)
    sizes = sorted({k[0] for k in means})
    patterns = [p for p in PATTERNS if any(k[1] == p for k in means)]
    policies = [q for q in POLICIES if any(k[2] == q for k in means)]
    fig, axes = plt.subplots(len(sizes), 1, figsize=(11, 3.4 * len(sizes)), squeeze=False)
    width = 0.8 / max(len(policies), 1)
    for ax, size in zip(axes[:, 0], sizes):
        x = np.arange(len(patterns))
        for i, pol in enumerate(policies):
            ys = [means.get((size, p, pol), np.nan) for p in patterns]
            ax.bar(x + (i - (len(policies) - 1) / 2) * width, ys, width, label=pol)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xticks(x, [p.replace("_", "\n") for p in patterns])
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title} ({size} hosts)")
    axes[0, 0].legend(ncol=len(policies), fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _queue_plot(records: list[dict], out: Path) -> Path | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traced = [r for r in records if r["metrics"].get("queue_t_us")]
    plain = [r for r in traced if _key(r["metrics"])[3:] == ("ideal", False, 0)]
    traced = plain or traced  # the ideal receiver without PFC or failures when there is one
    if not traced:
        return None
    size = min(r["metrics"]["hosts"] for r in traced)
    pats = [p for p in ("all_to_all", *PATTERNS) if any(r["metrics"]["pattern"] == p for r in traced)]
    pattern = pats[0]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for i, pol in enumerate(POLICIES):
        recs = [r for r in traced if r["metrics"]["hosts"] == size and r["metrics"]["pattern"] == pattern
                and r["metrics"]["policy"] == pol]
        if recs:
            m = min(recs, key=lambda r: r["seed"])["metrics"]
            ax.step(m["queue_t_us"], m["queue_kb"], where="post", label=f"{pol} ({m['queue_link']})",
                    ls=("-", "--", "-.", ":")[i % 4])  # identical traces stay visible
    ax.set_xlabel("time (us)")
    ax.set_ylabel("queue (KiB)")
    ax.set_title(f"busiest fabric queue, {pattern}, {size} hosts (seed with lowest id)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot(records: list[dict], out_dir: Path) -> list[Path]:
    """CCT over ideal and max link load over spraying per pattern/policy; reordering; a queue trace."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        _bars(records, "cct_over_ideal", "CCT / lower bound", out_dir / "cct_over_ideal.png",
              "collective completion time over its lower bound (ideal receiver, no PFC, no failure)"),
        _bars(records, "max_link_load_over_spray", "max link load / spray", out_dir / "max_link_load.png",
              "maximum link load relative to ideal spraying (ideal receiver, no PFC, no failure)"),
    ]
    if any("out_of_order_frac" in r["metrics"] for r in records):
        paths.append(_bars(records, "out_of_order_frac", "out-of-order / packets",
                           out_dir / "reordering.png", "out-of-order arrivals per data packet"))
    q = _queue_plot(records, out_dir / "queue_trace.png")
    if q is not None:
        paths.append(q)
    r = _ratio_plot(records, out_dir / "min_split_ratio.png")
    if r is not None:
        paths.append(r)
    return paths


def table(records: list[dict]) -> str:
    """Markdown: min_split's CCT relative to the spraying policies per setting, then per-policy means."""
    out = []
    ratios = min_split_ratios(records)
    fluid_keys = _fluid_keys(records)
    if ratios:
        comps = [c for c in COMPARATORS if any(c in r for r in ratios.values())]
        out += ["CCT of min_split / CCT of the other policy (mean over seeds; < 1: min_split faster)", "",
                "| hosts | pattern | MB/rank | transport | PFC | failed links | " + " | ".join(comps) + " |",
                "|" + "---|" * (6 + len(comps))]
        order = sorted(ratios, key=lambda k: (k[0], PATTERNS.index(k[1]), k[2], TRANSPORTS.index(k[3]), k[4], k[5]))
        for k in order:
            cells = [f"{ratios[k][c]:.3f}" if c in ratios[k] else "-" for c in comps]
            out.append(f"| {k[0]} | {k[1]} | {k[2] / 2**20:g} | {_setting_cells(k, fluid_keys)} | {k[5]} | "
                       + " | ".join(cells) + " |")
        out.append("")
        if fluid_keys & set(ratios):
            out += ["Rows with transport 'fluid' ran at the flow level: flows share links max-min fairly and every "
                    "spraying policy is ideal spraying, so packet collisions, queues and reordering are not modelled.",
                    ""]
    cols = [("cct_s", "CCT (us)", 1e6), ("cct_over_ideal", "CCT/bound", 1), ("max_link_load_over_spray",
            "load/spray", 1), ("drops", "drops", 1), ("retransmitted_bytes", "retx MB", 2**-20),
            ("out_of_order_frac", "OOO frac", 1), ("pfc_pauses", "pauses", 1), ("pfc_paused_s", "paused us", 1e6)]
    means = {c: _mean_by(records, c, full=True) for c, _, _ in cols}
    keys = sorted(set().union(*[set(m) for m in means.values()]),
                  key=lambda k: (k[0][0], PATTERNS.index(k[0][1]), k[0][2], TRANSPORTS.index(k[0][3]), k[0][4],
                                 k[0][5], POLICIES.index(k[1])))
    out += ["| hosts | pattern | MB/rank | transport | PFC | failed | policy | " + " | ".join(h for _, h, _ in cols)
            + " |", "|" + "---|" * (7 + len(cols))]
    for k in keys:
        cells = [f"{means[c][k] * s:.4g}" if k in means[c] else "-" for c, _, s in cols]
        (h, p, mb, t, f, x), q = k
        out.append(f"| {h} | {p} | {mb / 2**20:g} | {_setting_cells(k[0], fluid_keys)} | {x} | {q} | "
                   + " | ".join(cells) + " |")
    return "\n".join(out)


EXPERIMENT = Experiment(
    name="datacenter_spraying",
    description="Packet spraying vs singlepath + minimal flow splitting for collectives, leaf-spine fabrics",
    docs="docs/datacenter.md",
    config_cls=DatacenterSprayingConfig,
    run=run,
    plot=plot,
    table=table,
    points=points,
    quick={"hosts": (16,), "message_bytes": 1 << 20},
    seeds=(0, 1, 2),
    quick_seeds=(0,),
    presets={"paper": PAPER},
)
