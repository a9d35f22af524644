"""Packet-level SimPy model: output-queued switches, drop-tail + ECN, DCTCP-style windowed transport.

Every directed link is a `simulators.core.Port` (FIFO, serialization at the link rate, propagation delay,
drop-tail buffer; switch egress ports mark ECN above a threshold). A packet carries its source route; a
port's single scheduled timeout delivers it to the next port (no process per packet). Each subflow is a
DCTCP-style sender (window in packets, per-packet selective ACKs echoing ECN, alpha-weighted window cuts,
slow start / additive increase, RFC 6298 RTO with backoff) and a receiver whose ordering rule is the
config's `transport`: `ideal` accepts any order (losses resent after a timeout), `go_back_n` discards
out-of-order arrivals and NAKs the gap (the sender resends everything from it), `selective_repeat` keeps a
bounded reorder window and NAKs arrivals beyond it (the sender resends just those). With `FabricConfig.pfc`
the ports pause and resume (lossless fabric); `FabricConfig.fail_at` takes links down during the run.
"""

from __future__ import annotations

import math
import random
from collections import deque

import numpy as np
import simpy
from simpy.events import Timeout

from simulators.core import Delivery, Monitor, Packet, PausablePort, Port, PriorityPort, SharedBuffer
from simulators.datacenter.bounds import lower_bound
from simulators.datacenter.collectives import Plan, Progress, build_plan
from simulators.datacenter.config import SimConfig
from simulators.datacenter.fluid import fluid_cct
from simulators.datacenter.paths import (
    FIXED,
    LOCAL,
    REPS,
    SPRAY_RANDOM,
    SPRAY_RR,
    Subflows,
    assign,
    ideal_policy,
    link_loads,
)
from simulators.datacenter.result import Result, load_metrics, subflow_stats
from simulators.datacenter.topology import Fabric


class _Flow:
    """Sender and receiver state of one subflow."""

    __slots__ = (
        "sid", "tid", "src", "dst", "npkts", "last_size", "mode", "spines", "nsp", "rr", "cwnd", "ssthresh",
        "alpha", "acked", "n_acked", "inflight", "next_new", "retx", "win_acks", "win_marked", "win_size",
        "srtt", "rttvar", "rto", "timer", "done", "rcv", "n_rcv", "next_exp", "started", "snd_una", "high",
        "nak_sent", "rewind_at", "ent", "a", "b", "route", "ack_route",
    )


class PacketSim:
    """One packet-level run; `port_cls` selects the port implementation (fast Port or naive ProcessPort)."""

    def __init__(self, config: SimConfig, seed: int, port_cls=Port, nic_port_cls=PriorityPort):
        config.validate()
        self.config = config
        self.seed = seed
        self.fabric = Fabric(config.fabric)
        self.plan: Plan = build_plan(config.workload, self.fabric.n_hosts, seed)
        self.sub: Subflows = assign(self.fabric, self.plan, config.path, seed)
        self.env = simpy.Environment()
        self.monitor = Monitor()
        self.rng = random.Random(seed * 1_000_003 + 11)
        self.ports = self._build_ports(port_cls, nic_port_cls)
        self._routes: dict = {}
        self.progress = Progress(self.plan)
        tid_sorted = self.sub.tid
        self.sub_start = np.searchsorted(tid_sorted, np.arange(self.plan.n_transfers + 1))
        self.left = np.diff(self.sub_start).astype(np.int64)
        self.flows: list[_Flow] = []
        self.retransmissions = 0
        self.timeouts = 0
        self.max_timeout_rto = 0.0
        self.out_of_order = 0
        self.duplicates = 0
        self.unique_bytes = 0
        # injection / delivery counts, kept as plain ints in the hot path and handed to the monitor at the end
        self.n_inj_data = self.b_inj_data = self.n_dlv_data = self.b_dlv_data = 0
        self.n_inj_ack = self.n_dlv_ack = 0
        mtu_bits = config.fabric.mtu_bytes * 8
        self.mtu = config.fabric.mtu_bytes
        self.ack_bytes = config.ack_bytes
        self.g = config.dctcp_g
        self.min_rto, self.max_rto = config.min_rto_s, config.max_rto_s
        self.init_cwnd = config.init_cwnd_pkts
        del mtu_bits
        self.transport = config.transport
        self.window = config.reorder_window_pkts
        self.retx_bytes = 0
        self.gbn_discards = 0
        self.gbn_rewinds = 0
        self.reorder_drops = 0
        self.naks = 0
        self.dead: set[tuple[int, int]] = set()  # (leaf, spine) failures that senders know about
        self.failed_at: dict[tuple[int, int], float] = {}
        self._on_ack = self._on_ack_ideal
        if config.transport == "go_back_n":
            self._on_data, self._on_ack, self._pump = self._on_data_gbn, self._on_ack_gbn, self._pump_gbn
        elif config.transport == "selective_repeat":
            self._on_data, self._on_ack = self._on_data_sr, self._on_ack_sr

    # --- network ----------------------------------------------------------------------------------------
    def _build_ports(self, port_cls, nic_port_cls) -> list:
        cfg = self.config.fabric
        fab = self.fabric
        ports: list = [None] * fab.n_links
        shared: dict[str, SharedBuffer] = {}
        if cfg.pfc:
            port_cls = nic_port_cls = PausablePort
        for u, v, data in fab.graph.edges(data=True):
            switch = not u.startswith("h")
            pool = None
            buffer = math.inf
            if switch and cfg.pfc:
                buffer = math.inf  # lossless: pauses bound what each ingress holds
            elif switch:
                buffer = cfg.buffer_bytes
                if cfg.shared_buffer:
                    n_ports = fab.graph.out_degree(u)
                    pool = shared.setdefault(u, SharedBuffer(cfg.buffer_bytes * n_ports))
                    buffer = cfg.buffer_bytes * n_ports
            extra = {} if switch and not cfg.pfc else {"priority_kinds": frozenset({"ack"})}
            if switch and isinstance(port_cls, type) and issubclass(port_cls, Port):
                extra["event_sink"] = self._forward_event
            ports[data["index"]] = (port_cls if switch else nic_port_cls)(
                self.env, (u, v), data["rate_bps"], data["delay_s"], buffer_bytes=buffer,
                ecn_bytes=cfg.ecn_threshold_bytes if switch else None, monitor=self.monitor,
                sink=self._forward, shared=pool, up=data["up"],
                trace_interval_s=self.config.trace_interval_s if switch else None,
                log_transmissions=self.config.log_transmissions, **extra,
            )
        if cfg.pfc:
            self._wire_pfc(ports)
        return ports

    def _wire_pfc(self, ports: list) -> None:
        """Every port whose far end is a switch is paused by that switch's ingress accounting for it."""
        cfg = self.config.fabric
        egress_of: dict[str, list] = {}
        for port in ports:
            egress_of.setdefault(port.name[0], []).append(port)
        for port in ports:
            far = port.name[1]
            if not far.startswith("h"):
                port.enable_pfc(cfg.pfc_xoff_bytes, cfg.pfc_xon_bytes, egress_of.get(far, []))

    def _route(self, src: int, dst: int, sp: int) -> tuple:
        key = (src, dst, sp)
        route = self._routes.get(key)
        if route is None:
            links = self.fabric.path_links(src, dst, None if sp < 0 else sp)
            route = self._routes[key] = tuple(self.ports[i] for i in links)
        return route

    def _forward_event(self, event) -> None:
        """`_forward` for the switch ports' scheduled events (one call less per hop)."""
        pkt = event._value
        hop = pkt.hop + 1
        route = pkt.route
        if hop < len(route):
            pkt.hop = hop
            route[hop].send(pkt)
        elif pkt.kind == "data":
            self._on_data(pkt)
        else:
            self._on_ack(pkt)

    def _lost_event(self, event) -> None:
        """A packet was on a link when it failed."""
        pkt = event._value
        pkt.route[pkt.hop]._lost(pkt)

    def _pending(self):
        """(event, packet, port) of every packet still on an event-sink port's link."""
        sink = self._forward_event
        for item in self.env._queue:
            ev = item[3]
            if type(ev) is Delivery and ev.callbacks and ev.callbacks[0] == sink:
                pkt = ev._value
                yield ev, pkt, pkt.route[pkt.hop]

    def _forward(self, pkt: Packet) -> None:
        hop = pkt.hop + 1
        route = pkt.route
        if hop < len(route):
            pkt.hop = hop
            route[hop].send(pkt)
        elif pkt.kind == "data":
            self._on_data(pkt)
        else:
            self._on_ack(pkt)

    # --- collective progress ----------------------------------------------------------------------------
    def _start_rank(self, event) -> None:
        self._launch(self.progress.start_rank(event._value, self.env.now))

    def _launch(self, tids) -> None:
        for tid in tids:
            for i in range(self.sub_start[tid], self.sub_start[tid + 1]):
                self._open(i)

    def _open(self, i: int) -> None:
        sub = self.sub
        f = _Flow()
        f.sid, f.tid = i, int(sub.tid[i])
        f.src, f.dst = int(sub.src[i]), int(sub.dst[i])
        nbytes = int(sub.nbytes[i])
        f.npkts = max(1, -(-nbytes // self.mtu))
        f.last_size = nbytes - (f.npkts - 1) * self.mtu
        f.mode = int(sub.mode[i])
        spines = sub.sets[sub.set_id[i]]
        off = int(sub.offset[i])
        f.spines = spines[off:] + spines[:off] if spines else (-1,)
        f.a, f.b = f.src // self.fabric.hosts_per_leaf, f.dst // self.fabric.hosts_per_leaf
        if self.dead and f.mode != LOCAL and self.config.path.failure_aware:
            f.spines = self._alive(f, f.spines)
        f.nsp = len(f.spines)
        self._fix_routes(f)
        f.rr = 0
        f.cwnd = float(self.init_cwnd)
        f.ssthresh = math.inf
        f.alpha = 0.0
        f.acked = bytearray(f.npkts)
        f.n_acked = 0
        f.inflight = {}
        f.next_new = 0
        f.retx = deque()
        f.win_acks = f.win_marked = 0
        f.win_size = f.cwnd
        f.srtt = None
        f.rttvar = 0.0
        f.rto = self.min_rto
        f.timer = False
        f.done = False
        f.rcv = bytearray(f.npkts)
        f.n_rcv = 0
        f.next_exp = 0
        f.started = self.env.now
        f.snd_una = f.high = 0
        f.nak_sent = False
        f.rewind_at = -1.0
        f.ent = deque() if f.mode == REPS else None
        self.flows.append(f)
        self._pump(f)

    def _fix_routes(self, f: _Flow) -> None:
        """Cache the data and ACK routes of a flow with one fixed path (None for sprayed flows)."""
        if f.mode == FIXED or f.mode == LOCAL:
            sp = f.spines[0]
            f.route, f.ack_route = self._route(f.src, f.dst, sp), self._route(f.dst, f.src, sp)
        else:
            f.route = f.ack_route = None

    def _flow_received(self, f: _Flow) -> None:
        tid = f.tid
        self.left[tid] -= 1
        if self.left[tid] == 0:
            self._launch(self.progress.on_received(tid, self.env.now))
            if self.progress.finished():
                self._halt()

    # --- transport: sender ------------------------------------------------------------------------------
    def _pump(self, f: _Flow) -> None:
        now = self.env._now
        inflight = f.inflight
        while len(inflight) < f.cwnd:
            if f.retx:
                seq = f.retx.popleft()
                if f.acked[seq]:
                    continue
                retx = True
                self.retransmissions += 1
            elif f.next_new < f.npkts:
                seq = f.next_new
                f.next_new += 1
                retx = False
            else:
                break
            route = f.route
            if route is not None:  # one fixed path (ecmp, subflows, min_split, same leaf)
                sp = f.spines[0]
            else:
                mode = f.mode
                if mode == SPRAY_RR:
                    sp = f.spines[f.rr % f.nsp]
                    f.rr += 1
                elif mode == SPRAY_RANDOM or not f.ent:
                    sp = f.spines[int(self.rng.random() * f.nsp)]
                else:
                    sp = f.ent.popleft()
                route = self._routes.get((f.src, f.dst, sp)) or self._route(f.src, f.dst, sp)
            size = self.mtu if seq < f.npkts - 1 else f.last_size
            if retx:
                self.retx_bytes += size
            pkt = Packet("data", f.src, f.dst, size, f, seq, route, now, (sp, retx))
            inflight[seq] = now
            self.n_inj_data += 1
            self.b_inj_data += size
            route[0].send(pkt)
        if inflight and not f.timer:
            self._arm(f, now)

    def _arm(self, f: _Flow, now: float) -> None:
        f.timer = True
        oldest = next(iter(f.inflight.values()))
        event = Timeout(self.env, max(oldest + f.rto - now, 1e-12), f)
        event.callbacks.append(self._on_timer)

    def _on_timer(self, event) -> None:
        f = event._value
        f.timer = False
        if f.done or not f.inflight:
            return
        now = self.env._now
        deadline = now - f.rto * (1 - 1e-9)
        if next(iter(f.inflight.values())) <= deadline:
            if self.transport == "go_back_n":
                f.inflight.clear()
                f.next_new = f.snd_una
                f.rewind_at = now
                self.gbn_rewinds += 1
            else:  # as TCP's loss state after an RTO: every unacknowledged packet is deemed lost, so one
                # timeout recovers a whole lost burst instead of one packet per ever-doubling timeout
                f.retx.extend(f.inflight)
                f.inflight.clear()
            self.timeouts += 1
            self.max_timeout_rto = max(self.max_timeout_rto, f.rto)
            f.ssthresh = max(f.cwnd / 2.0, 2.0)
            f.cwnd = 1.0
            f.win_acks = f.win_marked = 0
            f.win_size = 1.0
            f.rto = min(2.0 * f.rto, self.max_rto)
            self._pump(f)
        if f.inflight and not f.timer:
            self._arm(f, now)

    def _on_ack_ideal(self, pkt: Packet) -> None:
        self.n_dlv_ack += 1
        f = pkt.flow
        seq = pkt.seq
        if f.done or f.acked[seq]:
            return
        f.acked[seq] = 1
        f.n_acked += 1
        f.inflight.pop(seq, None)
        ece, retx, sp = pkt.meta
        if not ece and f.ent is not None:
            f.ent.append(sp)  # REPS: an unmarked ACK returns its path entropy for reuse
        now = self.env._now
        if not retx:  # Karn: sample only packets sent once
            rtt = now - pkt.sent_at
            if f.srtt is None:
                f.srtt, f.rttvar = rtt, rtt / 2.0
            else:
                f.rttvar = 0.75 * f.rttvar + 0.25 * abs(f.srtt - rtt)
                f.srtt = 0.875 * f.srtt + 0.125 * rtt
            f.rto = min(max(self.min_rto, f.srtt + 4.0 * f.rttvar), self.max_rto)
        f.win_acks += 1
        if ece:
            f.win_marked += 1
        if f.win_acks >= f.win_size:  # one window of ACKs observed: DCTCP alpha update, one cut at most
            frac = f.win_marked / f.win_acks
            f.alpha = (1.0 - self.g) * f.alpha + self.g * frac
            if f.win_marked:
                f.cwnd = max(1.0, f.cwnd * (1.0 - f.alpha / 2.0))
                f.ssthresh = f.cwnd
            f.win_acks = f.win_marked = 0
            f.win_size = f.cwnd
        if not ece:
            f.cwnd += 1.0 if f.cwnd < f.ssthresh else 1.0 / f.cwnd
        if f.n_acked == f.npkts:
            f.done = True
            return
        self._pump(f)

    # --- transport: receiver ----------------------------------------------------------------------------
    def _on_data(self, pkt: Packet) -> None:
        self.n_dlv_data += 1
        self.b_dlv_data += pkt.size
        f = pkt.flow
        seq = pkt.seq
        if f.rcv[seq]:
            self.duplicates += 1
        else:
            f.rcv[seq] = 1
            f.n_rcv += 1
            self.unique_bytes += pkt.size
            if seq != f.next_exp:
                self.out_of_order += 1
            else:
                nxt = seq + 1
                rcv = f.rcv
                while nxt < f.npkts and rcv[nxt]:
                    nxt += 1
                f.next_exp = nxt
            if f.n_rcv == f.npkts:
                self._flow_received(f)
        sp, retx = pkt.meta
        route = f.ack_route or self._routes.get((f.dst, f.src, sp)) or self._route(f.dst, f.src, sp)
        ack = Packet("ack", f.dst, f.src, self.ack_bytes, f, seq, route, pkt.sent_at, (pkt.ecn, retx, sp))
        self.n_inj_ack += 1
        route[0].send(ack)

    def _control(self, f: _Flow, data: Packet, cum: int, nak: bool) -> None:
        """Send an ACK (or NAK) for `data` carrying the cumulative ACK `cum`, echoing its ECN mark."""
        sp, retx = data.meta
        route = self._routes.get((f.dst, f.src, sp)) or self._route(f.dst, f.src, sp)
        ack = Packet("ack", f.dst, f.src, self.ack_bytes, f, data.seq, route, data.sent_at,
                     (data.ecn, retx, sp, cum, nak))
        self.n_inj_ack += 1
        if nak:
            self.naks += 1
        route[0].send(ack)

    def _accept(self, f: _Flow, pkt: Packet) -> None:
        f.rcv[pkt.seq] = 1
        f.n_rcv += 1
        self.unique_bytes += pkt.size
        if f.n_rcv == f.npkts:
            self._flow_received(f)

    # --- transport: go-back-N -----------------------------------------------------------------------------
    def _on_data_gbn(self, pkt: Packet) -> None:
        """Accept only the next expected packet; discard later ones and NAK the gap once."""
        self.n_dlv_data += 1
        self.b_dlv_data += pkt.size
        f = pkt.flow
        seq = pkt.seq
        if seq == f.next_exp:
            f.next_exp += 1
            f.nak_sent = False
            self._accept(f, pkt)
            self._control(f, pkt, f.next_exp, False)
        elif seq > f.next_exp:
            self.out_of_order += 1
            self.gbn_discards += 1
            if not f.nak_sent:
                f.nak_sent = True
                self._control(f, pkt, f.next_exp, True)
        else:
            self.duplicates += 1
            self._control(f, pkt, f.next_exp, False)

    def _pump_gbn(self, f: _Flow) -> None:
        """Send in sequence from next_new while fewer than cwnd packets are unacknowledged."""
        now = self.env._now
        inflight = f.inflight
        while f.next_new - f.snd_una < f.cwnd and f.next_new < f.npkts:
            seq = f.next_new
            f.next_new += 1
            size = self.mtu if seq < f.npkts - 1 else f.last_size
            retx = seq < f.high
            if retx:
                self.retransmissions += 1
                self.retx_bytes += size
            else:
                f.high = seq + 1
            sp = self._pick_spine(f)
            route = self._routes.get((f.src, f.dst, sp)) or self._route(f.src, f.dst, sp)
            pkt = Packet("data", f.src, f.dst, size, f, seq, route, now, (sp, retx))
            inflight[seq] = now
            self.n_inj_data += 1
            self.b_inj_data += size
            route[0].send(pkt)
        if inflight and not f.timer:
            self._arm(f, now)

    def _pick_spine(self, f: _Flow) -> int:
        mode = f.mode
        if mode == FIXED or mode == LOCAL:
            return f.spines[0]
        if mode == SPRAY_RR:
            f.rr += 1
            return f.spines[(f.rr - 1) % f.nsp]
        if mode == REPS and f.ent:
            return f.ent.popleft()
        return f.spines[int(self.rng.random() * f.nsp)]

    def _on_ack_gbn(self, pkt: Packet) -> None:
        """Cumulative ACK; a NAK for a packet sent after the last rewind resends everything from the gap."""
        self.n_dlv_ack += 1
        f = pkt.flow
        if f.done:
            return
        ece, retx, sp, cum, nak = pkt.meta
        if not ece and f.ent is not None:
            f.ent.append(sp)
        now = self.env._now
        if cum > f.snd_una:
            newly = cum - f.snd_una
            for seq in range(f.snd_una, cum):
                f.inflight.pop(seq, None)
            f.snd_una = cum
            if not retx and not nak:
                self._rtt_sample(f, now - pkt.sent_at)
            self._dctcp(f, newly, ece)
            if cum == f.npkts:
                f.done = True
                return
        if nak and pkt.sent_at >= f.rewind_at and f.next_new > cum:
            f.inflight.clear()
            f.next_new = cum
            f.rewind_at = now
            self.gbn_rewinds += 1
        self._pump(f)

    def _rtt_sample(self, f: _Flow, rtt: float) -> None:
        if f.srtt is None:
            f.srtt, f.rttvar = rtt, rtt / 2.0
        else:
            f.rttvar = 0.75 * f.rttvar + 0.25 * abs(f.srtt - rtt)
            f.srtt = 0.875 * f.srtt + 0.125 * rtt
        f.rto = min(max(self.min_rto, f.srtt + 4.0 * f.rttvar), self.max_rto)

    def _dctcp(self, f: _Flow, newly: int, ece: bool) -> None:
        """DCTCP window update for `newly` acknowledged packets whose ACK echoed `ece`."""
        f.win_acks += newly
        if ece:
            f.win_marked += newly
        if f.win_acks >= f.win_size:
            frac = f.win_marked / f.win_acks
            f.alpha = (1.0 - self.g) * f.alpha + self.g * frac
            if f.win_marked:
                f.cwnd = max(1.0, f.cwnd * (1.0 - f.alpha / 2.0))
                f.ssthresh = f.cwnd
            f.win_acks = f.win_marked = 0
            f.win_size = f.cwnd
        if not ece:
            for _ in range(newly):
                f.cwnd += 1.0 if f.cwnd < f.ssthresh else 1.0 / f.cwnd

    # --- transport: selective repeat with a bounded reorder window ------------------------------------------
    def _on_data_sr(self, pkt: Packet) -> None:
        """Buffer arrivals within the reorder window, drop (and NAK) those beyond it."""
        self.n_dlv_data += 1
        self.b_dlv_data += pkt.size
        f = pkt.flow
        seq = pkt.seq
        if f.rcv[seq]:
            self.duplicates += 1
        elif seq >= f.next_exp + self.window:
            self.reorder_drops += 1
            self._control(f, pkt, f.next_exp, True)
            return
        else:
            if seq != f.next_exp:
                self.out_of_order += 1
            else:
                nxt = seq + 1
                rcv = f.rcv
                while nxt < f.npkts and rcv[nxt]:
                    nxt += 1
                f.next_exp = nxt
            self._accept(f, pkt)
        self._control(f, pkt, f.next_exp, False)

    def _on_ack_sr(self, pkt: Packet) -> None:
        """Selective ACK as the ideal receiver's; a NAK puts its packet back in the retransmission queue."""
        f = pkt.flow
        ece, retx, sp, cum, nak = pkt.meta
        if nak:
            self.n_dlv_ack += 1
            if not f.done and not f.acked[pkt.seq] and f.inflight.pop(pkt.seq, None) is not None:
                f.retx.append(pkt.seq)
                self._pump(f)
            return
        pkt.meta = (ece, retx, sp)
        self._on_ack_ideal(pkt)

    # --- failures ---------------------------------------------------------------------------------------
    def _alive(self, f: _Flow, spines: tuple) -> tuple:
        """`spines` without those whose links to f's leaves are known down; a fixed path moves to a live one."""
        dead = self.dead
        a, b = f.a, f.b
        keep = tuple(sp for sp in spines if (a, sp) not in dead and (b, sp) not in dead)
        if keep:
            return keep
        usable = [sp for sp in self.fabric.usable_spines(a, b) if (a, sp) not in dead and (b, sp) not in dead]
        return (usable[f.sid % len(usable)],) if usable else spines

    def _fail(self, event) -> None:
        lf, sp = event._value
        now = self.env._now
        self.failed_at[(lf, sp)] = now
        failed = [self.ports[i] for i in (self.fabric.uplink(lf, sp), self.fabric.downlink(sp, lf))]
        for port in failed:
            port.fail()
        for ev, _, port in list(self._pending()):
            if port in failed:
                ev.callbacks[0] = self._lost_event
        if self.config.path.failure_aware:
            Timeout(self.env, self.config.path.detection_delay_s, (lf, sp)).callbacks.append(self._detect)

    def _detect(self, event) -> None:
        self.dead.add(event._value)
        for f in self.flows:
            if not f.done and f.mode != LOCAL:
                spines = self._alive(f, f.spines)
                if spines != f.spines:
                    f.spines, f.nsp = spines, len(spines)
                    self._fix_routes(f)
                if f.ent:
                    f.ent = deque(sp for sp in f.ent if sp in spines)

    # --- run --------------------------------------------------------------------------------------------
    def run(self) -> Result:
        """Simulate until every collective finished (or max_time_s) and collect the Result."""
        self.prepare()
        self.env.run(until=self._stop)
        return self.collect()

    def prepare(self) -> None:
        """Schedule the ranks' starts and the time limit (then `env.run(until=self._stop)`)."""
        for rank, t0 in enumerate(self.plan.start_s):
            Timeout(self.env, float(t0), rank).callbacks.append(self._start_rank)
        for lf, sp, t in self.config.fabric.fail_at:
            Timeout(self.env, float(t), (int(lf), int(sp))).callbacks.append(self._fail)
        self._stop = self.env.event()
        Timeout(self.env, self.config.max_time_s).callbacks.append(self._halt)

    def collect(self) -> Result:
        """The Result of a finished (or stopped) run, with the lower bound and the ideal-spraying fluid reference."""
        return self._result()

    def _halt(self, _event=None) -> None:
        """Stop the run (collective finished, or max_time_s reached); packets still inside stay counted."""
        if not self._stop.triggered:
            self._stop.succeed()

    def _sync_monitor(self) -> None:
        mon = self.monitor
        mon.injected["data"], mon.injected_bytes["data"] = self.n_inj_data, self.b_inj_data
        mon.delivered["data"], mon.delivered_bytes["data"] = self.n_dlv_data, self.b_dlv_data
        mon.injected["ack"], mon.injected_bytes["ack"] = self.n_inj_ack, self.n_inj_ack * self.ack_bytes
        mon.delivered["ack"], mon.delivered_bytes["ack"] = self.n_dlv_ack, self.n_dlv_ack * self.ack_bytes

    def _result(self) -> Result:
        self._sync_monitor()
        fab, mon, cfg = self.fabric, self.monitor, self.config
        job_cct = self.progress.job_cct()
        cct = max(job_cct)
        spray = float("nan")
        if cfg.spray_reference:
            spray = fluid_cct(cfg, fab, self.plan, assign(fab, self.plan, ideal_policy(cfg.path), self.seed))
        ideal = lower_bound(cfg, fab, self.plan, self.sub)
        names = fab.link_names
        link_bytes = {names[i]: float(p.bytes_tx) for i, p in enumerate(self.ports)}
        data = np.array([p.kind_bytes.get("data", 0) for p in self.ports], dtype=float)
        max_load, max_fabric = load_metrics(fab, data)
        traces = {p.name: (np.array(p.trace_t), np.array(p.trace_bytes)) for p in self.ports if p.trace_t}
        per_host, extra = subflow_stats(fab, self.sub, self.plan.n_transfers)
        pending: dict = {}
        for _, pkt, port in self._pending():
            n, b = pending.get(id(port), (0, 0))
            pending[id(port)] = (n + 1, b + pkt.size)
        for port in self.ports:
            if getattr(port, "event_sink", None) is not None:
                port.settle_transit(*pending.get(id(port), (0, 0)))
        in_network = sum(p.in_transit for p in self.ports)
        conservation = {
            "injected": sum(mon.injected.values()),
            "delivered": sum(mon.delivered.values()),
            "dropped": sum(mon.dropped.values()),
            "in_network": in_network,
            "injected_bytes": sum(mon.injected_bytes.values()),
            "delivered_bytes": sum(mon.delivered_bytes.values()),
            "dropped_bytes": sum(mon.dropped_bytes.values()),
            "in_network_bytes": sum(p.bytes_tx - p.bytes_out for p in self.ports),
            "data_bytes_sent": mon.injected_bytes["data"],
            "data_bytes_delivered": mon.delivered_bytes["data"],
            "data_bytes_dropped": mon.dropped_bytes["data"],
            "data_bytes_in_flight": mon.in_flight_bytes("data"),
            "unique_bytes_delivered": self.unique_bytes,
            "workload_bytes": int(self.plan.nbytes.sum()),
            "offered_link_bytes": link_loads(fab, self.sub).tolist(),
        }
        return Result(
            model="packet", cct_s=cct, ideal_cct_s=ideal, completed=self.progress.finished(),
            job_cct_s=job_cct, flow_completion_s=self.progress.received_s - self.progress.launched_s,
            link_bytes=link_bytes, data_link_bytes={names[i]: float(v) for i, v in enumerate(data)},
            max_link_load=max_load, max_fabric_load=max_fabric, queue_traces=traces,
            max_queue_bytes={p.name: float(p.max_backlog) for p in self.ports},
            drops=sum(mon.dropped.values()), drop_reasons=dict(mon.drop_reasons),
            ecn_marks=sum(p.ecn_marks for p in self.ports), retransmissions=self.retransmissions,
            out_of_order=self.out_of_order, duplicates=self.duplicates,
            data_packets=mon.injected["data"], subflows_per_host=per_host, extra_subflows=extra,
            packet_hops=sum(p.packets_tx for p in self.ports), sim_time_s=float(self.env.now),
            conservation=conservation, spray_fluid_cct_s=spray, transport=cfg.transport,
            retransmitted_bytes=self.retx_bytes, gbn_discards=self.gbn_discards, gbn_rewinds=self.gbn_rewinds,
            reorder_window_drops=self.reorder_drops, naks=self.naks, timeouts=self.timeouts,
            max_timeout_rto_s=self.max_timeout_rto, **self._pfc_stats(),
        )

    def _pfc_stats(self) -> dict:
        ports = [p for p in self.ports if getattr(p, "pfc", False)]
        now = float(self.env.now)
        tiers: dict[str, int] = {}
        for p in ports:
            if p.pauses:
                kind = {"h": "host", "l": "leaf", "s": "spine"}
                tier = f"{kind[p.name[0][0]]}->{kind[p.name[1][0]]}"
                tiers[tier] = tiers.get(tier, 0) + p.pauses
        return {"pfc_pauses": sum(p.pauses for p in ports),
                "pfc_propagated_pauses": sum(p.propagated_pauses for p in ports),
                "pfc_paused_s": sum(p.paused_time(now) for p in ports),
                "pfc_hol_packets": sum(p.hol_packets for p in ports), "pfc_pauses_by_tier": tiers}


def simulate(config: SimConfig, seed: int = 0) -> Result:
    """Packet-level simulation of `config` with randomness from `seed` -> Result (nothing printed)."""
    return PacketSim(config, seed).run()
