"""SimPy traffic model: conservation, agreement with static routing, energy model, lifetime, determinism."""

import math

import pytest

from simulators.wireless import route, unit_disk_graph
from simulators.wireless.sim import D0, SimConfig, radio_rx_energy, radio_tx_energy, simulate


def test_radio_energy_model():
    assert math.isclose(D0, math.sqrt(10 / 0.0013))
    assert math.isclose(radio_tx_energy(1000, 10.0), 1000 * (50e-9 + 10e-12 * 100))
    assert math.isclose(radio_tx_energy(1000, 100.0), 1000 * (50e-9 + 0.0013e-12 * 100**4))
    assert math.isclose(radio_rx_energy(1000), 50e-6)


@pytest.mark.parametrize("policy", ["greedy", "gfg", "compass"])
def test_static_routing_and_simulation_agree_on_paths(policy):
    cfg = SimConfig(n=64, rho=3.0, policy=policy, rate=30.0, duration=10.0, record_paths=True)
    res = simulate(cfg, seed=3)
    graph = unit_disk_graph(64, 3.0, seed=3)
    assert res.generated > 100
    finished = [p for p in res.paths]
    assert len(finished) == res.delivered + sum(res.dropped.values())
    for origin, dest, path, reason in finished:
        static = route(graph, policy, origin, dest)
        assert static.reason == reason
        if reason is None:
            assert static.path == path


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"loss_prob": 0.3, "max_retries": 1},
        {"rate": 2000.0, "queue_capacity": 2, "bitrate": 50_000.0},
        {"initial_energy_j": 0.01, "rate": 300.0},
    ],
)
def test_packets_are_conserved(overrides):
    cfg = SimConfig(n=50, rho=3.0, duration=5.0, policy="gfg", **overrides)
    res = simulate(cfg, seed=1)
    assert res.conserved
    assert res.generated == res.delivered + sum(res.dropped.values()) + res.queued_at_end + res.in_service_at_end
    if overrides.get("loss_prob"):
        assert res.dropped["link_loss"] > 0
    if overrides.get("queue_capacity"):
        assert res.dropped["queue_full"] > 0 and res.mean_queueing_delay > 0
    if overrides.get("initial_energy_j"):
        assert res.first_death is not None and res.alive_at_end < 50
        assert res.dropped["node_dead"] + res.dropped["next_hop_dead"] > 0
        if res.half_death is not None:
            assert res.first_death <= res.half_death


def test_delay_energy_and_determinism():
    cfg = SimConfig(n=40, rho=4.0, duration=5.0, rate=10.0)
    a, b = simulate(cfg, seed=7), simulate(cfg, seed=7)
    assert a.summary() == b.summary()
    assert simulate(cfg, seed=8).summary() != a.summary()
    tx = cfg.packet_bits / cfg.bitrate
    assert math.isclose(a.mean_transmission_delay, a.mean_hops * tx, rel_tol=1e-9)
    assert a.mean_delay >= a.mean_transmission_delay
    assert a.energy_per_delivered_j > a.mean_hops * radio_rx_energy(cfg.packet_bits)
    assert a.first_death is None and a.alive_at_end == 40


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match=r"loss_prob: must be a finite number in \[0.0, 1.0\)"):
        simulate(SimConfig(loss_prob=1.5), seed=0)
    with pytest.raises(ValueError, match="rate: must be a finite number > 0"):
        simulate(SimConfig(rate=0.0), seed=0)
    with pytest.raises(ValueError, match="policy: unknown policy"):
        simulate(SimConfig(policy="teleport"), seed=0)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"n": 16, "rate": math.inf}, "rate"),  # used to run forever
        ({"duration": math.inf}, "duration"),  # used to run forever
        ({"rate": math.nan}, "rate"),
        ({"rate": 1e9, "duration": 10.0}, "rate"),  # 1e10 expected packets: above MAX_PACKETS
        ({"graph": "abc"}, "graph"),  # used to raise AttributeError
        ({"record_paths": "false"}, "record_paths"),  # used to be read as True
        ({"n": 2.5}, "n"),
        ({"n": True}, "n"),
        ({"n": 20_000}, "n"),
        ({"max_retries": 10**9}, "max_retries"),
        ({"ttl": 0}, "ttl"),
        ({"packet_bits": "4000"}, "packet_bits"),
        ({"initial_energy_j": math.nan}, "initial_energy_j"),
        ({"graph_seed": -1}, "graph_seed"),
    ],
)
def test_bad_values_are_refused_on_construction(overrides, field):
    with pytest.raises(ValueError, match=rf"^{field}: must"):
        SimConfig(**overrides)


def test_fields_changed_after_construction_are_checked_by_simulate():
    cfg = SimConfig(n=16)
    cfg.rate = math.inf
    with pytest.raises(ValueError, match="^rate: must"):
        simulate(cfg, seed=0)
    with pytest.raises(ValueError, match="^seed: must"):
        simulate(SimConfig(n=16), seed="zero")


def test_a_tiny_rate_ends_without_overflow():
    res = simulate(SimConfig(n=16, rate=5e-324, duration=10.0), seed=0)
    assert res.generated == 0 and res.conserved
