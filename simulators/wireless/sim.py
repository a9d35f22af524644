"""SimPy traffic on a wireless graph: Poisson packets between random pairs, per-node FIFO queues, one
transmitter per node, serialization delay, optional link loss with retransmission, first-order radio energy
and batteries. Every hop's next node is chosen by the same local policy code as `routing.route`.

Conservation: every generated packet ends delivered, dropped with a reason, queued, or in service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import simpy

from polystep.validate import check_bool, check_int, check_real, fail
from simulators.wireless.graphs import MAX_NODES, arrays, unit_disk_graph
from simulators.wireless.policies import GFG, Header, decide, get_policy
from simulators.wireless.routing import default_ttl

__all__ = ["SimConfig", "SimResult", "simulate", "radio_tx_energy", "radio_rx_energy", "DROP_REASONS"]

E_ELEC = 50e-9  # J/bit, transmitter and receiver electronics
EPS_FS = 10e-12  # J/bit/m^2, free-space amplifier
EPS_MP = 0.0013e-12  # J/bit/m^4, multipath amplifier
D0 = math.sqrt(EPS_FS / EPS_MP)  # crossover distance (about 87.7 m)

DROP_REASONS = ("dead_end", "loop", "ttl", "queue_full", "link_loss", "node_dead", "next_hop_dead")
#: Most packets a run may expect to generate (rate x duration): bounds the run's length.
MAX_PACKETS = 1_000_000
#: Most retransmissions of one hop.
MAX_RETRIES = 100


def radio_tx_energy(bits: float, meters: float) -> float:
    """First-order radio model: joules to send `bits` over `meters` (free space below d0, else multipath)."""
    if meters < D0:
        return bits * (E_ELEC + EPS_FS * meters**2)
    return bits * (E_ELEC + EPS_MP * meters**4)


def radio_rx_energy(bits: float) -> float:
    """First-order radio model: energy (J) to receive `bits`."""
    return bits * E_ELEC


@dataclass
class SimConfig:
    """Traffic, radio and battery settings of one run (graph built from n, rho unless `graph` is set).

    Checked on construction (and again by `simulate`): a wrong type, NaN, inf (except `initial_energy_j`) or
    out-of-range value raises a ValueError naming the field; rate x duration is at most MAX_PACKETS.
    """

    n: int = 64
    rho: float = 3.0
    graph_seed: int | None = None  # None: use the run seed
    graph: Any = None  # a networkx graph with positions (overrides n, rho, graph_seed)
    policy: Any = "greedy"  # a policy name or a Scorer
    radius_m: float = 40.0  # metres per unit of the graph's radius R
    rate: float = 20.0  # packets per second, whole network (Poisson)
    duration: float = 30.0  # seconds of traffic generation; the run stops then
    packet_bits: int = 4000
    bitrate: float = 250_000.0  # bits per second per transmitter
    loss_prob: float = 0.0  # per-transmission loss probability
    max_retries: int = 3  # retransmissions after the first attempt
    queue_capacity: int = 64  # packets per node queue (waiting, not counting the one in service)
    initial_energy_j: float = math.inf  # battery per node; math.inf disables deaths
    ttl: int | None = None  # hop limit (None: the router's default)
    record_paths: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a ValueError naming the first field of a wrong type or out of range (also run by `simulate`,
        as the dataclass is mutable)."""
        check_int(self.n, "n", 2, MAX_NODES)
        check_real(self.rho, "rho", 0.0, lo_open=True)
        if self.graph_seed is not None:
            check_int(self.graph_seed, "graph_seed", 0)
        if self.graph is not None:
            if not isinstance(self.graph, nx.Graph):
                fail("graph", f"must be None or a networkx graph with node positions, got {type(self.graph).__name__}")
            if not 2 <= self.graph.number_of_nodes() <= MAX_NODES:
                fail("graph", f"must have 2 to {MAX_NODES:,} nodes, got {self.graph.number_of_nodes():,}")
        get_policy(self.policy)
        check_real(self.radius_m, "radius_m", 0.0, lo_open=True)
        check_real(self.rate, "rate", 0.0, lo_open=True)
        check_real(self.duration, "duration", 0.0, lo_open=True)
        if self.rate * self.duration > MAX_PACKETS:
            fail(
                "rate",
                f"must keep rate x duration (expected packets) <= {MAX_PACKETS:,}, got {self.rate:g} packets/s x "
                f"{self.duration:g} s",
            )
        check_int(self.packet_bits, "packet_bits", 1)
        check_real(self.bitrate, "bitrate", 0.0, lo_open=True)
        check_real(self.loss_prob, "loss_prob", 0.0, 1.0, hi_open=True)
        check_int(self.max_retries, "max_retries", 0, MAX_RETRIES)
        check_int(self.queue_capacity, "queue_capacity", 1)
        check_real(self.initial_energy_j, "initial_energy_j", 0.0, lo_open=True, allow_inf=True)
        if self.ttl is not None:
            check_int(self.ttl, "ttl", 1)
        check_bool(self.record_paths, "record_paths")


@dataclass
class SimResult:
    """Counts, delays, energy and lifetime of one run; `paths`: (origin, dest, path, reason) if recorded."""

    generated: int
    delivered: int
    dropped: dict
    queued_at_end: int
    in_service_at_end: int
    delivery_ratio: float
    mean_delay: float
    mean_queueing_delay: float
    mean_transmission_delay: float
    mean_hops: float
    throughput_bps: float
    energy_total_j: float
    energy_per_delivered_j: float
    first_death: float | None
    half_death: float | None
    last_death: float | None
    alive_at_end: int
    transmissions: int
    paths: list = field(default_factory=list)

    @property
    def conserved(self) -> bool:
        """Every generated packet is delivered, dropped, queued or in service."""
        total = self.delivered + sum(self.dropped.values()) + self.queued_at_end + self.in_service_at_end
        return total == self.generated

    def summary(self) -> dict:
        """JSON-able scalars (no paths)."""
        out = {k: v for k, v in self.__dict__.items() if k != "paths"}
        out["dropped"] = dict(self.dropped)
        return out


class _Packet:
    __slots__ = (
        "pid",
        "origin",
        "dest",
        "created",
        "header",
        "path",
        "seen",
        "queued_since",
        "queueing",
        "transmitting",
    )

    def __init__(self, pid: int, origin: int, dest: int, created: float) -> None:
        self.pid, self.origin, self.dest, self.created = pid, origin, dest, created
        self.header = Header(origin, dest)
        self.path, self.seen = [origin], set()
        self.queued_since, self.queueing, self.transmitting = created, 0.0, 0.0


class _Model:
    def __init__(self, config: SimConfig, graph: nx.Graph, seed: int) -> None:
        self.cfg = config
        self.ga = arrays(graph)
        self.policy = get_policy(config.policy)
        self.ttl = default_ttl(self.ga, self.policy) if config.ttl is None else config.ttl
        self.rng = np.random.default_rng(seed)
        self.env = simpy.Environment()
        n = self.ga.n
        self.queues = [simpy.Store(self.env) for _ in range(n)]
        self.energy = np.full(n, float(config.initial_energy_j))
        self.alive = np.ones(n, dtype=bool)
        self.death_times: list[float] = []
        self.in_service = 0
        self.generated = self.delivered = self.transmissions = 0
        self.dropped = {r: 0 for r in DROP_REASONS}
        self.delays: list[float] = []
        self.queueing: list[float] = []
        self.transmitting: list[float] = []
        self.hops: list[int] = []
        self.energy_used = 0.0
        self.paths: list = []
        self.tx_time = config.packet_bits / config.bitrate
        self.mean_gap = min(1.0 / config.rate, 1e300) if config.rate > 1e-300 else 1e300  # no overflow
        for v in range(n):
            self.env.process(self._node(v))
        self.env.process(self._source())

    def _drop(self, pkt: _Packet, reason: str) -> None:
        self.dropped[reason] += 1
        if self.cfg.record_paths:
            self.paths.append((pkt.origin, pkt.dest, list(pkt.path), reason))

    def _spend(self, v: int, joules: float) -> None:
        self.energy_used += joules
        if not math.isfinite(self.energy[v]):
            return
        self.energy[v] -= joules
        if self.alive[v] and self.energy[v] <= 0:
            self.alive[v] = False
            self.death_times.append(self.env.now)

    def _enqueue(self, v: int, pkt: _Packet) -> None:
        if not self.alive[v]:
            self._drop(pkt, "node_dead")
        elif len(self.queues[v].items) >= self.cfg.queue_capacity:
            self._drop(pkt, "queue_full")
        else:
            pkt.queued_since = self.env.now
            self.queues[v].put(pkt)

    def _source(self):
        n, pid = self.ga.n, 0
        while True:
            yield self.env.timeout(self.rng.exponential(self.mean_gap))
            o = int(self.rng.integers(n))
            d = int(self.rng.integers(n - 1))
            d += d >= o
            pkt = _Packet(pid, o, d, self.env.now)
            pid += 1
            self.generated += 1
            self._enqueue(o, pkt)

    def _next_hop(self, v: int, pkt: _Packet) -> tuple[int | None, str | None]:
        if len(pkt.path) - 1 >= self.ttl:
            return None, "ttl"
        key = pkt.header.key(v)
        if key in pkt.seen:
            return None, "loop"
        pkt.seen.add(key)
        nxt = decide(self.ga, self.policy, pkt.header, v)
        if nxt is None:
            return None, "dead_end"
        if not isinstance(self.policy, GFG) and pkt.header.key(nxt) in pkt.seen:
            return None, "loop"
        return nxt, None

    def _node(self, v: int):
        cfg, bits = self.cfg, self.cfg.packet_bits
        while True:
            pkt = yield self.queues[v].get()
            pkt.queueing += self.env.now - pkt.queued_since
            if not self.alive[v]:
                self._drop(pkt, "node_dead")
                continue
            nxt, reason = self._next_hop(v, pkt)
            if nxt is None:
                self._drop(pkt, reason)
                continue
            if not self.alive[nxt]:
                self._drop(pkt, "next_hop_dead")
                continue
            self.in_service += 1
            meters = self.ga.dist[v, nxt] * cfg.radius_m
            sent = False
            for _ in range(cfg.max_retries + 1):
                self._spend(v, radio_tx_energy(bits, meters))
                self.transmissions += 1
                yield self.env.timeout(self.tx_time)
                pkt.transmitting += self.tx_time
                if not self.alive[v]:
                    break
                if cfg.loss_prob == 0 or self.rng.random() >= cfg.loss_prob:
                    sent = True
                    break
            self.in_service -= 1
            if not sent:
                self._drop(pkt, "link_loss" if self.alive[v] else "node_dead")
                continue
            if not self.alive[nxt]:
                self._drop(pkt, "next_hop_dead")
                continue
            self._spend(nxt, radio_rx_energy(bits))
            pkt.path.append(nxt)
            if nxt == pkt.dest:
                self._deliver(pkt)
            else:
                self._enqueue(nxt, pkt)

    def _deliver(self, pkt: _Packet) -> None:
        self.delivered += 1
        self.delays.append(self.env.now - pkt.created)
        self.queueing.append(pkt.queueing)
        self.transmitting.append(pkt.transmitting)
        self.hops.append(len(pkt.path) - 1)
        if self.cfg.record_paths:
            self.paths.append((pkt.origin, pkt.dest, list(pkt.path), None))

    def result(self) -> SimResult:
        n = self.ga.n
        deaths = sorted(self.death_times)
        mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
        queued = sum(len(q.items) for q in self.queues)
        return SimResult(
            generated=self.generated,
            delivered=self.delivered,
            dropped=dict(self.dropped),
            queued_at_end=queued,
            in_service_at_end=self.in_service,
            delivery_ratio=self.delivered / self.generated if self.generated else float("nan"),
            mean_delay=mean(self.delays),
            mean_queueing_delay=mean(self.queueing),
            mean_transmission_delay=mean(self.transmitting),
            mean_hops=mean(self.hops),
            throughput_bps=self.delivered * self.cfg.packet_bits / self.cfg.duration,
            energy_total_j=float(self.energy_used),
            energy_per_delivered_j=float(self.energy_used) / self.delivered
            if self.delivered
            else float("nan"),
            first_death=deaths[0] if deaths else None,
            half_death=deaths[(n + 1) // 2 - 1] if len(deaths) >= (n + 1) // 2 else None,
            last_death=deaths[-1] if len(deaths) == n else None,
            alive_at_end=int(self.alive.sum()),
            transmissions=self.transmissions,
            paths=[
                (self.ga.nodes[o], self.ga.nodes[d], [self.ga.nodes[i] for i in p], r)
                for o, d, p, r in self.paths
            ],
        )


def simulate(config: SimConfig, seed: int) -> SimResult:
    """Run the traffic model for `config.duration` seconds; same config and seed, same result."""
    if not isinstance(config, SimConfig):
        fail("config", f"expected a wireless SimConfig, got {type(config).__name__}")
    config.validate()
    check_int(seed, "seed", 0)
    if config.graph is not None:
        graph = config.graph
    else:
        graph = unit_disk_graph(
            config.n, config.rho, config.graph_seed if config.graph_seed is not None else seed
        )
    model = _Model(config, graph, seed)
    model.env.run(until=config.duration)
    return model.result()
