"""Go-back-N, selective repeat, PFC, REPS and failures during a run: conservation, no overlap, and behaviour."""

import dataclasses
import random

import numpy as np
import pytest
from test_datacenter_packet import _random_config

from simulators.datacenter import FabricConfig, PathConfig, SimConfig, WorkloadConfig, simulate
from simulators.datacenter.packet import PacketSim

A2A = WorkloadConfig(pattern="all_to_all", message_bytes=1 << 20)


def _mechanism_config(case: int) -> SimConfig:
    rng = random.Random(7000 + case)
    cfg = _random_config(rng)
    fabric = cfg.fabric
    pfc = rng.random() < 0.5
    fail_at = ()
    if fabric.spines > 1 and not fabric.failed_links and rng.random() < 0.5:
        fail_at = ((rng.randrange(fabric.leaves), rng.randrange(fabric.spines), rng.choice([2e-6, 2e-5])),)
    xoff = min(fabric.buffer_bytes, rng.choice([2, 4, 8]) * fabric.mtu_bytes)
    fabric = dataclasses.replace(fabric, pfc=pfc, pfc_xoff_bytes=xoff, pfc_xon_bytes=xoff // 2, fail_at=fail_at)
    path = dataclasses.replace(cfg.path, policy=rng.choice(["ecmp", "spray_rr", "spray_random", "reps", "min_split"]),
                               detection_delay_s=rng.choice([5e-6, 50e-6]))
    transport = ("ideal", "go_back_n", "selective_repeat")[case % 3]
    return dataclasses.replace(cfg, fabric=fabric, path=path, transport=transport,
                               reorder_window_pkts=rng.choice([2, 8, 64]), max_time_s=rng.choice([3e-5, 3e-3]))


def test_conservation_and_no_overlap_for_every_mechanism():
    seen = {"gbn_discards": 0, "reorder_window_drops": 0, "pfc_pauses": 0, "link_down": 0}
    for case in range(18):
        cfg = _mechanism_config(case)
        sim = PacketSim(cfg, seed=case)
        res = sim.run()
        for key in ("gbn_discards", "reorder_window_drops", "pfc_pauses"):
            seen[key] += getattr(res, key) > 0
        seen["link_down"] += res.drop_reasons.get("link_down", 0) > 0
        c = res.conservation
        assert c["injected"] == c["delivered"] + c["dropped"] + c["in_network"], case
        assert c["injected_bytes"] == c["delivered_bytes"] + c["dropped_bytes"] + c["in_network_bytes"], case
        assert sum(res.drop_reasons.values()) == res.drops
        # every data packet the network delivered was accepted once, a duplicate, or discarded by the receiver
        accepted = sum(f.n_rcv for f in sim.flows)
        delivered = sim.monitor.delivered["data"]
        assert delivered == accepted + res.duplicates + res.gbn_discards + res.reorder_window_drops, case
        assert c["unique_bytes_delivered"] <= c["workload_bytes"]
        if res.completed:
            assert c["unique_bytes_delivered"] == c["workload_bytes"]
            assert res.cct_over_ideal >= 1.0 - 1e-9
        if cfg.fabric.pfc and not cfg.fabric.fail_at and not cfg.fabric.failed_links:
            assert res.drops == 0, case  # lossless
        if cfg.fabric.pfc:
            for port in sim.ports:
                if port.pfc:  # held bytes: xoff plus what is on the wire while the pause travels
                    headroom = 2 * port.delay * port.rate_bps / 8 + 2 * cfg.fabric.mtu_bytes
                    assert port.max_ingress <= cfg.fabric.pfc_xoff_bytes + headroom + 1e-6
        for port in sim.ports:
            log = np.array(port.tx_log, dtype=float).reshape(-1, 3)
            if len(log) > 1:
                start, end, size = log[:, 0], log[:, 1], log[:, 2]
                np.testing.assert_allclose(end - start, size * 8 / port.rate_bps, rtol=1e-9)
                order = np.argsort(start, kind="stable")
                assert np.all(start[order][1:] >= end[order][:-1] - 1e-15)
    assert all(seen.values()), seen  # the random configs exercise every mechanism


def _big_buffers(**kw) -> FabricConfig:
    return FabricConfig(hosts_per_leaf=4, leaves=4, spines=4, buffer_bytes=8 << 20, ecn_threshold_bytes=96 * 1024,
                        **kw)


@pytest.mark.parametrize("policy", ["ecmp", "min_split"])
@pytest.mark.parametrize("pattern", ["permutation", "all_to_all"])
def test_go_back_n_on_one_path_retransmits_nothing(policy, pattern):
    cfg = SimConfig(fabric=_big_buffers(), workload=WorkloadConfig(pattern=pattern, message_bytes=1 << 20),
                    path=PathConfig(policy=policy), transport="go_back_n")
    res = simulate(cfg)
    ideal = simulate(dataclasses.replace(cfg, transport="ideal"))
    assert res.completed and res.drops == 0
    assert res.retransmitted_bytes == 0 and res.gbn_discards == 0 and res.out_of_order == 0
    assert res.cct_s == pytest.approx(ideal.cct_s, rel=1e-12)


@pytest.mark.parametrize("policy", ["spray_rr", "spray_random", "reps"])
def test_go_back_n_pays_for_spraying(policy):
    cfg = SimConfig(fabric=_big_buffers(), workload=A2A, path=PathConfig(policy=policy), transport="go_back_n")
    gbn = simulate(cfg)
    ideal = simulate(dataclasses.replace(cfg, transport="ideal"))
    assert gbn.completed and gbn.drops == 0
    assert gbn.gbn_discards > 0 and gbn.retransmitted_bytes > 0 and gbn.gbn_rewinds > 0
    assert gbn.cct_s > 1.2 * ideal.cct_s


def test_selective_repeat_window_drops_only_when_small():
    base = SimConfig(fabric=_big_buffers(), workload=A2A, path=PathConfig(policy="spray_random"),
                     transport="selective_repeat")
    wide = simulate(dataclasses.replace(base, reorder_window_pkts=100_000))
    ideal = simulate(dataclasses.replace(base, transport="ideal"))
    assert wide.reorder_window_drops == 0 and wide.cct_s == pytest.approx(ideal.cct_s, rel=1e-12)
    narrow = simulate(dataclasses.replace(base, reorder_window_pkts=2))
    assert narrow.completed and narrow.reorder_window_drops > 0 and narrow.naks >= narrow.reorder_window_drops
    assert narrow.retransmitted_bytes > 0 and narrow.cct_s > ideal.cct_s


def test_pfc_pauses_instead_of_dropping():
    incast = WorkloadConfig(pattern="all_to_all", message_bytes=1 << 20)
    small = dict(hosts_per_leaf=4, leaves=2, spines=1, buffer_bytes=64 * 1024, ecn_threshold_bytes=None)
    lossy = simulate(SimConfig(fabric=FabricConfig(**small), workload=incast, path=PathConfig(policy="ecmp")))
    pfc = simulate(SimConfig(fabric=FabricConfig(**small, pfc=True, pfc_xoff_bytes=32 * 1024,
                                                 pfc_xon_bytes=16 * 1024),
                             workload=incast, path=PathConfig(policy="ecmp")))
    assert lossy.drops > 0 and lossy.timeouts > 0  # the ideal receiver recovers losses by timeout only
    assert 200e-6 <= lossy.max_timeout_rto_s <= 10e-3  # between SimConfig's min_rto_s and max_rto_s
    assert pfc.completed and pfc.drops == 0 and pfc.retransmitted_bytes == 0
    assert pfc.timeouts == 0 and pfc.max_timeout_rto_s == 0.0
    assert pfc.pfc_pauses > 0 and pfc.pfc_paused_s > 0 and pfc.pfc_hol_packets > 0
    assert pfc.pfc_propagated_pauses > 0 and len(pfc.pfc_pauses_by_tier) >= 2  # spread back towards the hosts
    assert sum(pfc.pfc_pauses_by_tier.values()) == pfc.pfc_pauses


def test_reps_loses_less_than_random_spraying_on_a_hidden_failure():
    fabric = FabricConfig(hosts_per_leaf=4, leaves=4, spines=4, failed_links=((0, 1),))
    out = {}
    for policy in ("spray_random", "reps"):
        cfg = SimConfig(fabric=fabric, workload=A2A, path=PathConfig(policy=policy, failure_aware=False),
                        min_rto_s=20e-6)
        out[policy] = simulate(cfg)
        assert out[policy].completed
    assert 0 < out["reps"].drop_reasons["link_down"] < 0.8 * out["spray_random"].drop_reasons["link_down"]


@pytest.mark.parametrize("aware", [True, False])
def test_link_failure_during_the_run(aware):
    t_fail, delay = 20e-6, 10e-6
    fabric = FabricConfig(hosts_per_leaf=4, leaves=4, spines=4, fail_at=((0, 1, t_fail),))
    cfg = SimConfig(fabric=fabric, workload=A2A, min_rto_s=20e-6, log_transmissions=True,
                    path=PathConfig(policy="spray_rr", failure_aware=aware, detection_delay_s=delay))
    sim = PacketSim(cfg, 0)
    res = sim.run()
    before = simulate(dataclasses.replace(cfg, fabric=dataclasses.replace(fabric, fail_at=())))
    assert res.completed and res.drop_reasons.get("link_down", 0) > 0
    assert res.cct_s > before.cct_s
    for idx in (sim.fabric.uplink(0, 1), sim.fabric.downlink(1, 0)):
        log = np.array(sim.ports[idx].tx_log).reshape(-1, 3)
        assert log.size and log[:, 0].min() < t_fail  # the link carried traffic before it failed
        if aware:  # nothing enqueued on it once the senders noticed (plus one RTT of packets already sent)
            assert np.all(log[:, 0] < t_fail + delay + 20e-6)
    if not aware:
        assert res.retransmissions >= res.drop_reasons["link_down"] > 0


def test_one_timeout_recovers_a_lost_burst():
    """After an RTO every unacknowledged packet counts as lost (as TCP's loss state): a burst dropped at a full
    port costs one timeout, not one per packet with the RTO doubling each time up to max_rto_s."""
    fabric = FabricConfig(hosts_per_leaf=4, leaves=2, spines=1, buffer_bytes=32 * 1024, ecn_threshold_bytes=None)
    cfg = SimConfig(fabric=fabric, workload=A2A, path=PathConfig(policy="ecmp"))
    res = simulate(cfg)
    assert res.completed and res.drops > 100
    assert 0 < 4 * res.timeouts < res.drops
    assert res.max_timeout_rto_s <= 8 * cfg.min_rto_s < cfg.max_rto_s
    assert res.cct_s < 20 * res.ideal_cct_s  # before: 120x, two timeouts at max_rto_s
