"""Fluid model: max-min fairness of progressive filling, and agreement with the packet level (16 hosts)."""

import numpy as np
import pytest

from simulators.datacenter import (
    PATTERNS,
    FabricConfig,
    PathConfig,
    SimConfig,
    WorkloadConfig,
    fluid,
    simulate,
)
from simulators.datacenter.collectives import build_plan
from simulators.datacenter.fluid import FluidNetwork, run_fluid
from simulators.datacenter.paths import assign
from simulators.datacenter.topology import Fabric


@pytest.mark.parametrize("policy", ["ecmp", "spray_rr", "subflows"])
def test_progressive_filling_is_max_min_fair(policy):
    fcfg = FabricConfig(hosts_per_leaf=3, leaves=3, spines=2, uplink_gbps=40.0, failed_links=((2, 1),))
    fabric = Fabric(fcfg)
    plan = build_plan(WorkloadConfig(pattern="all_to_all", message_bytes=90_000), fabric.n_hosts, 0)
    sub = assign(fabric, plan, PathConfig(policy=policy, subflows=2), 0)
    net = FluidNetwork(fabric, sub)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(sub), size=len(sub) * 2 // 3, replace=False))
    rate = net.rates(idx)
    # per-link consumption matrix built independently from the subflows' paths
    use = np.zeros((fabric.n_links, idx.size))
    for col, i in enumerate(idx):
        src, dst, spines = int(sub.src[i]), int(sub.dst[i]), sub.spines(int(i))
        for sp in spines or (None,):
            for link in fabric.path_links(src, dst, sp):
                use[link, col] += 1.0 / max(len(spines), 1) if link >= 2 * fabric.n_hosts else 0.0
        use[fabric.nic_up(src), col] = use[fabric.nic_down(dst), col] = 1.0
    cap = fabric.link_rate_bps / 8 * fabric.link_up
    load = use @ rate
    assert np.all(load <= cap * (1 + 1e-9))  # feasible
    assert np.all(rate > 0)
    saturated = load >= cap * (1 - 1e-9)
    for col in range(idx.size):  # every flow has a saturated link on which it has the largest rate
        links = np.flatnonzero((use[:, col] > 0) & saturated)
        assert any(rate[col] >= rate[use[link] > 0].max() * (1 - 1e-9) for link in links), col


@pytest.mark.parametrize("pattern", PATTERNS)
def test_fluid_matches_packet_level_within_10_percent(pattern):
    cfg = SimConfig(fabric=FabricConfig(hosts_per_leaf=4, leaves=4, spines=4),
                    workload=WorkloadConfig(pattern=pattern, message_bytes=1 << 20),
                    path=PathConfig(policy="spray_rr"))
    packet, flow = simulate(cfg, 0), fluid(cfg, 0)
    assert packet.completed and flow.completed
    assert abs(packet.cct_s / flow.cct_s - 1) < 0.10, (packet.cct_s, flow.cct_s)
    assert flow.spray_fluid_cct_s == pytest.approx(flow.cct_s)
    assert packet.cct_over_ideal >= 1.0 and flow.cct_over_ideal >= 1.0


def test_fluid_ecmp_slower_than_spraying_and_failure_unaware_never_finishes():
    work = WorkloadConfig(pattern="permutation", message_bytes=1 << 20)
    ecmp = fluid(SimConfig(workload=work, path=PathConfig(policy="ecmp")), 0)
    split = fluid(SimConfig(workload=work, path=PathConfig(policy="min_split")), 0)
    assert split.cct_s == pytest.approx(split.spray_fluid_cct_s)
    assert ecmp.cct_s > split.cct_s and ecmp.max_fabric_load > split.max_fabric_load
    broken = FabricConfig(failed_links=((0, 0),))
    stuck = fluid(SimConfig(fabric=broken, workload=WorkloadConfig(pattern="all_to_all"),
                            path=PathConfig(policy="spray_rr", failure_aware=False)), 0)
    assert not stuck.completed and stuck.cct_s == np.inf


@pytest.mark.parametrize("policy", ["ecmp", "subflows", "spray_random", "min_split"])
@pytest.mark.parametrize("pattern", ["all_to_all", "hd_allreduce", "permutation", "direct_allreduce"])
def test_incremental_refill_equals_refilling_at_every_completion(policy, pattern):
    fcfg = FabricConfig(hosts_per_leaf=4, leaves=4, spines=3, uplink_gbps=40.0, failed_links=((1, 2),))
    fabric = Fabric(fcfg)
    for jitter, message in ((0.0, 1 << 20), (3e-6, 300_001)):
        cfg = SimConfig(fabric=fcfg, workload=WorkloadConfig(pattern=pattern, message_bytes=message, jitter_s=jitter),
                        path=PathConfig(policy=policy, subflows=3))
        plan = build_plan(cfg.workload, fabric.n_hosts, 1)
        sub = assign(fabric, plan, cfg.path, 1)
        full, finish_full = run_fluid(cfg, fabric, plan, sub, incremental=False)
        fast, finish_fast = run_fluid(cfg, fabric, plan, sub)
        np.testing.assert_allclose(finish_fast, finish_full, rtol=1e-12)
        assert fast.job_cct() == pytest.approx(full.job_cct(), rel=1e-12)
