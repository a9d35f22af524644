"""Output ports: a FIFO queue drained at the link rate, then the propagation delay, then the far end.

`Port` is event-driven: at enqueue it computes the packet's departure time from the port's busy-until time
and schedules ONE SimPy timeout (with a callback, no process) for the arrival at the far end. `ProcessPort`
is the naive reference with the same behaviour: one SimPy process per packet per hop holding a Resource.
Both keep a drop-tail buffer (bytes of packets not yet fully serialized), optional ECN marking on enqueue
when the backlog exceeds a threshold, an optional shared per-switch buffer, and per-port statistics.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from heapq import heappush

import simpy
from simpy.events import NORMAL

from simulators.core.monitor import Monitor
from simulators.core.packet import Packet


class Delivery:
    """A minimal schedulable SimPy event carrying one packet to one callback (lighter than a Timeout).

    `env.schedule(Delivery(pkt, callback), NORMAL, delay)` runs `callback(event)` at now + delay; the
    environment only reads `callbacks`, `_ok` and `_value`.
    """

    __slots__ = ("callbacks", "_value", "_ok")

    def __init__(self, value, callback):
        self.callbacks = [callback]
        self._value = value
        self._ok = True


class SharedBuffer:
    """A buffer pool shared by the output ports of one switch (drop when the pool would overflow)."""

    def __init__(self, capacity_bytes: float):
        self.capacity_bytes = capacity_bytes
        self.ports: list = []

    def occupancy(self, now: float) -> float:
        """Bytes held by all member ports at `now`."""
        return sum(p.backlog_at(now) for p in self.ports)

    def admit(self, now: float, size: int) -> bool:
        """Whether a packet of `size` bytes fits in the pool now."""
        return self.occupancy(now) + size <= self.capacity_bytes


class _BasePort:
    """Admission (link state, drop-tail, shared pool, ECN) and statistics common to both port kinds."""

    def __init__(
        self,
        env: simpy.Environment,
        name,
        rate_bps: float,
        delay_s: float,
        buffer_bytes: float = math.inf,
        ecn_bytes: float | None = None,
        monitor: Monitor | None = None,
        sink: Callable[[Packet], None] | None = None,
        shared: SharedBuffer | None = None,
        up: bool = True,
        trace_interval_s: float | None = None,
        log_transmissions: bool = False,
        event_sink: Callable | None = None,
    ):
        if rate_bps <= 0:
            raise ValueError(f"port {name}: rate_bps must be > 0, got {rate_bps}")
        if delay_s < 0:
            raise ValueError(f"port {name}: delay_s must be >= 0, got {delay_s}")
        self.env = env
        self.name = name
        self.rate_bps = float(rate_bps)
        self.sec_per_byte = 8.0 / float(rate_bps)
        self.delay = float(delay_s)
        self.buffer_bytes = buffer_bytes
        self.ecn_bytes = ecn_bytes
        self.monitor = monitor
        self.sink = sink
        # event_sink(event) replaces `_arrive` + sink: the caller then counts packets leaving the link
        # itself (see `Port`), saving a call and two counters per packet per hop
        self.event_sink = event_sink
        self.shared = shared
        if shared is not None:
            shared.ports.append(self)
        self.up = up
        self.backlog = 0
        self.max_backlog = 0
        self.bytes_tx = 0
        self.packets_tx = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.kind_bytes: dict[str, int] = {}
        self._busy_s = 0.0
        self.ecn_marks = 0
        self.drops = 0
        self.trace_interval = trace_interval_s
        self.trace_t: list[float] = []
        self.trace_bytes: list[int] = []
        self._last_sample = -math.inf
        self.tx_log: list[tuple[float, float, int]] | None = [] if log_transmissions else None

    @property
    def in_transit(self) -> int:
        """Packets accepted by this port that have not yet reached the far end."""
        return self.packets_tx - self.packets_out

    @property
    def busy_s(self) -> float:
        """Seconds spent transmitting."""
        return self._busy_s

    def _admit(self, pkt: Packet, now: float) -> bool:
        """Drop (counted, with a reason) or accept-and-mark a packet arriving at the queue."""
        reason = None
        if not self.up:
            reason = "link_down"
        elif self.backlog + pkt.size > self.buffer_bytes:
            reason = "buffer_full"
        elif self.shared is not None and not self.shared.admit(now, pkt.size):
            reason = "shared_buffer_full"
        if reason is not None:
            self.drops += 1
            if self.monitor is not None:
                self.monitor.drop(pkt.kind, pkt.size, reason)
            return False
        if self.ecn_bytes is not None and self.backlog >= self.ecn_bytes:
            pkt.ecn = True
            self.ecn_marks += 1
        return True

    def _account(self, pkt: Packet, now: float) -> None:
        """Add an accepted packet to the backlog, counters and the (rate-limited) queue trace."""
        size = pkt.size
        self.backlog += size
        if self.backlog > self.max_backlog:
            self.max_backlog = self.backlog
        self.bytes_tx += size
        self.packets_tx += 1
        self.kind_bytes[pkt.kind] = self.kind_bytes.get(pkt.kind, 0) + size
        if self.trace_interval is not None and now - self._last_sample >= self.trace_interval:
            self._last_sample = now
            self.trace_t.append(now)
            self.trace_bytes.append(self.backlog)

    def fail(self) -> None:
        """Take the link down: new packets are refused and packets still on it are lost (`link_down`)."""
        self.up = False

    def _lost(self, pkt: Packet) -> None:
        self.drops += 1
        if self.monitor is not None:
            self.monitor.drop(pkt.kind, pkt.size, "link_down")

    def _transmitted(self, start: float, end: float, size: int) -> None:
        self._busy_s += end - start
        if self.tx_log is not None:
            self.tx_log.append((start, end, size))


class Port(_BasePort):
    """Event-driven FIFO output port: one scheduled timeout (with a callback) per packet per hop.

    With `event_sink`, the scheduled event goes straight to `event_sink(event)` (the packet is
    `event._value`) and `packets_out` / `bytes_out` are not kept: the owner counts what is still on the link
    from the pending events (`settle_transit`) and takes failed links' packets off them (`Delivery` events
    whose callback it swaps).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.busy_until = 0.0
        self._finish: deque[float] = deque()
        self._sizes: deque[int] = deque()
        self._deliver = self.event_sink if self.event_sink is not None else self._arrive

    @property
    def busy_s(self) -> float:
        """Seconds spent transmitting (every accepted packet takes size / rate)."""
        return self.bytes_tx * self.sec_per_byte

    def settle_transit(self, packets: int, nbytes: int) -> None:
        """With an event sink: set the out-counters from what the owner found still on the link."""
        self.packets_out = self.packets_tx - packets
        self.bytes_out = self.bytes_tx - nbytes

    def backlog_at(self, now: float) -> int:
        """Bytes of packets not yet fully serialized at `now` (drops finished ones)."""
        fin = self._finish
        while fin and fin[0] <= now:
            fin.popleft()
            self.backlog -= self._sizes.popleft()
        return self.backlog

    def send(self, pkt: Packet) -> bool:
        """Enqueue `pkt`; returns False if it was dropped (same rules as `_admit`, inlined for speed)."""
        env = self.env
        now = env._now
        fin = self._finish
        if fin and fin[0] <= now:
            sizes = self._sizes
            backlog = self.backlog
            while fin and fin[0] <= now:
                fin.popleft()
                backlog -= sizes.popleft()
            self.backlog = backlog
        size = pkt.size
        if not self.up or self.backlog + size > self.buffer_bytes or self.shared is not None:
            if not self._admit(pkt, now):
                return False
        elif self.ecn_bytes is not None and self.backlog >= self.ecn_bytes:
            pkt.ecn = True
            self.ecn_marks += 1
        busy = self.busy_until
        start = busy if busy > now else now
        end = start + size * self.sec_per_byte
        self.busy_until = end
        fin.append(end)
        self._sizes.append(size)
        backlog = self.backlog + size
        self.backlog = backlog
        if backlog > self.max_backlog:
            self.max_backlog = backlog
        self.bytes_tx += size
        self.packets_tx += 1
        kb = self.kind_bytes
        kb[pkt.kind] = kb.get(pkt.kind, 0) + size
        if self.trace_interval is not None and now - self._last_sample >= self.trace_interval:
            self._last_sample = now
            self.trace_t.append(now)
            self.trace_bytes.append(backlog)
        if self.tx_log is not None:
            self.tx_log.append((start, end, size))
        # env.schedule(event, NORMAL, end + delay - now), inlined (same time arithmetic, one call less)
        heappush(env._queue, (now + (end + self.delay - now), NORMAL, next(env._eid), Delivery(pkt, self._deliver)))
        return True

    def _arrive(self, event) -> None:
        pkt = event._value
        self.packets_out += 1
        self.bytes_out += pkt.size
        if self.up:
            self.sink(pkt)
        else:
            self._lost(pkt)


class ProcessPort(_BasePort):
    """Naive reference port: one SimPy process per packet per hop, a Resource for the transmitter.

    With `priority_kinds`, packets of those kinds are served first (non-preemptive), like PriorityPort.
    """

    def __init__(self, *args, priority_kinds: frozenset[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.priority_kinds = frozenset(priority_kinds)
        self._tx = simpy.PriorityResource(self.env, capacity=1)

    def backlog_at(self, now: float) -> int:
        """Bytes of packets not yet fully serialized."""
        return self.backlog

    def send(self, pkt: Packet) -> bool:
        """Enqueue `pkt` (starts its hop process); returns False if it was dropped."""
        now = self.env.now
        if not self._admit(pkt, now):
            return False
        self._account(pkt, now)
        self.env.process(self._hop(pkt))
        return True

    def _hop(self, pkt: Packet):
        env = self.env
        ser = pkt.size * self.sec_per_byte
        with self._tx.request(priority=0 if pkt.kind in self.priority_kinds else 1) as req:
            yield req
            start = env.now
            yield env.timeout(ser)
        self.backlog -= pkt.size
        self._transmitted(start, start + ser, pkt.size)
        yield env.timeout(self.delay)
        self.packets_out += 1
        self.bytes_out += pkt.size
        if self.up:
            self.sink(pkt)
        else:
            self._lost(pkt)


class PriorityPort(_BasePort):
    """Output port with two FIFO classes and strict non-preemptive priority for `priority_kinds` (e.g. ACKs).

    Event-driven: one timeout per transmission end (callback picks the next packet) and one per arrival.
    """

    def __init__(self, *args, priority_kinds: frozenset[str] = frozenset({"ack"}), **kwargs):
        super().__init__(*args, **kwargs)
        self.priority_kinds = frozenset(priority_kinds)
        self._high: deque[Packet] = deque()
        self._low: deque[Packet] = deque()
        self._busy = False

    def backlog_at(self, now: float) -> int:
        """Bytes of packets waiting or in transmission."""
        return self.backlog

    def send(self, pkt: Packet) -> bool:
        """Enqueue `pkt`; returns False if it was dropped."""
        now = self.env._now
        if not self._admit(pkt, now):
            return False
        self._account(pkt, now)
        (self._high if pkt.kind in self.priority_kinds else self._low).append(pkt)
        if not self._busy:
            self._next(now)
        return True

    def _next(self, now: float) -> None:
        queue = self._high if self._high else self._low
        if not queue:
            self._busy = False
            return
        pkt = queue.popleft()
        self._busy = True
        ser = pkt.size * self.sec_per_byte
        self._transmitted(now, now + ser, pkt.size)
        self.env.schedule(Delivery(pkt, self._done), NORMAL, ser)

    def _done(self, event) -> None:
        pkt = event._value
        self.backlog -= pkt.size
        self.env.schedule(Delivery(pkt, self._arrive), NORMAL, self.delay)
        self._next(self.env._now)

    def _arrive(self, event) -> None:
        pkt = event._value
        self.packets_out += 1
        self.bytes_out += pkt.size
        if self.up:
            self.sink(pkt)
        else:
            self._lost(pkt)



class PausablePort(PriorityPort):
    """PriorityPort that priority flow control can pause (lossless fabrics).

    `enable_pfc(xoff, xon, far_egress)` makes the far end a PFC switch: it counts the bytes this port
    delivered that it still holds (until they finish leaving one of its egress ports, which call
    `release`), pauses this port (one propagation delay later) when they reach `xoff` and resumes it below
    `xon`. A paused port finishes the packet on the wire and then sends nothing. Counted: pause frames,
    pauses emitted while one of the switch's own egress ports was paused (propagation), packets held
    behind a pause (head-of-line blocking), and the time paused.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pfc = False
        self.paused = False
        self.ingress = 0
        self.xoff_sent = False
        self.pauses = 0
        self.propagated_pauses = 0
        self.hol_packets = 0
        self.paused_s = 0.0
        self._paused_since = 0.0
        self.max_ingress = 0

    def enable_pfc(self, xoff: float, xon: float, far_egress: list) -> None:
        """Let the switch at the far end pause this port at `xoff` held bytes and resume it at `xon`."""
        self.pfc = True
        self.xoff, self.xon = xoff, xon
        self.far_egress = far_egress

    def send(self, pkt: Packet) -> bool:
        """Enqueue `pkt` (counted as head-of-line blocked while paused); returns False if it was dropped."""
        now = self.env._now
        if not self._admit(pkt, now):
            self._release_upstream(pkt)
            return False
        self._account(pkt, now)
        (self._high if pkt.kind in self.priority_kinds else self._low).append(pkt)
        if self.paused:
            self.hol_packets += 1
        elif not self._busy:
            self._next(now)
        return True

    def _next(self, now: float) -> None:
        if self.paused:
            self._busy = False
            return
        super()._next(now)

    def _done(self, event) -> None:
        self._release_upstream(event._value)
        super()._done(event)

    def _release_upstream(self, pkt: Packet) -> None:
        if pkt.hop > 0:
            upstream = pkt.route[pkt.hop - 1]
            if getattr(upstream, "pfc", False):
                upstream.release(pkt.size)

    def _arrive(self, event) -> None:
        pkt = event._value
        if self.pfc and self.up:
            self.ingress += pkt.size
            if self.ingress > self.max_ingress:
                self.max_ingress = self.ingress
            if not self.xoff_sent and self.ingress >= self.xoff:
                self.xoff_sent = True
                self.pauses += 1
                if any(p.paused for p in self.far_egress):
                    self.propagated_pauses += 1
                self.env.schedule(Delivery(None, self._pause), NORMAL, self.delay)
        super()._arrive(event)

    def release(self, size: int) -> None:
        """The far-end switch sent on (or dropped) `size` bytes that came in over this link."""
        self.ingress -= size
        if self.xoff_sent and self.ingress <= self.xon:
            self.xoff_sent = False
            self.env.schedule(Delivery(None, self._resume), NORMAL, self.delay)

    def _pause(self, _event) -> None:
        if not self.paused:
            self.paused = True
            self._paused_since = self.env._now
            self.hol_packets += len(self._high) + len(self._low)

    def _resume(self, _event) -> None:
        if self.paused:
            self.paused = False
            self.paused_s += self.env._now - self._paused_since
            if not self._busy:
                self._next(self.env._now)

    def paused_time(self, now: float) -> float:
        """Seconds spent paused up to `now` (an ongoing pause counts up to now)."""
        return self.paused_s + (now - self._paused_since if self.paused else 0.0)
