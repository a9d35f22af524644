"""The ideal bound is a lower bound on every run; a single flow's completion time has a closed form."""

import dataclasses
import random

import pytest
from test_datacenter_packet import _random_config

from simulators.datacenter import FabricConfig, PathConfig, SimConfig, WorkloadConfig, fluid, simulate


def test_sub_mtu_transfer_is_not_charged_a_full_mtu():
    cfg = SimConfig(fabric=FabricConfig(hosts_per_leaf=1, leaves=2, spines=1),
                    workload=WorkloadConfig(pattern="permutation", message_bytes=1000))
    res = simulate(cfg)
    assert res.cct_over_ideal >= 1.0 and res.cct_over_ideal == pytest.approx(1.0)
    assert res.cct_s == pytest.approx(fluid(cfg).cct_s, rel=1e-12)


@pytest.mark.parametrize("hosts_per_leaf,leaves", [(2, 1), (1, 2)])
@pytest.mark.parametrize("nbytes", [1000, 4096, 5000, 60_000])
@pytest.mark.parametrize("gbps", [25.0, 100.0])
def test_single_flow_matches_closed_form(hosts_per_leaf, leaves, nbytes, gbps):
    mtu, delay = 4096, 0.5e-6
    cfg = SimConfig(fabric=FabricConfig(hosts_per_leaf=hosts_per_leaf, leaves=leaves, spines=2, link_gbps=gbps,
                                        link_delay_s=delay, mtu_bytes=mtu),
                    workload=WorkloadConfig(pattern="single_flow", message_bytes=nbytes),
                    path=PathConfig(policy="ecmp"))
    rate = gbps * 1e9 / 8
    hops = 2 if leaves == 1 else 4
    closed = nbytes / rate + (hops - 1) * min(nbytes, mtu) / rate + hops * delay
    packet, flow = simulate(cfg), fluid(cfg)
    assert packet.cct_s == pytest.approx(closed, rel=1e-9)
    assert flow.cct_s == pytest.approx(closed, rel=1e-9)
    assert packet.cct_over_ideal >= 1.0 - 1e-12


@pytest.mark.parametrize("chunk", range(3))
def test_cct_over_ideal_at_least_one_on_random_configs(chunk):
    for case in range(chunk * 8, chunk * 8 + 8):
        cfg = dataclasses.replace(_random_config(random.Random(5000 + case)), max_time_s=0.05,
                                  log_transmissions=False)
        for res in (simulate(cfg, case), fluid(cfg, case)):
            if res.completed:
                assert res.cct_over_ideal >= 1.0 - 1e-9, (case, res.model, res.cct_over_ideal)
