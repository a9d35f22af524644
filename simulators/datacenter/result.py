"""The Result dataclass shared by the packet-level and the fluid model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Result:
    """Outcome of one run. Times in seconds, sizes in bytes; links are (from, to) node-name pairs.

    max_link_load: the largest (data bytes carried / link rate) over all directed links, i.e. the
    transmission time the most loaded link needs; max_fabric_load: the same over leaf-spine links only.
    ideal_cct_s: a provable lower bound on the CCT (critical path of isolated transfer times, or the busiest
    host link / leaf aggregate; see `bounds.py`); spray_fluid_cct_s: the fluid model under failure-aware
    ideal spraying on the same plan (a reference, not a bound: max-min sharing is not always fastest).
    Transport counters (packet level): retransmitted_bytes (data bytes sent again, any transport),
    gbn_discards (out-of-order arrivals a go-back-N receiver threw away), gbn_rewinds (times a go-back-N
    sender went back to the gap), reorder_window_drops (selective-repeat arrivals beyond the window), naks,
    timeouts (retransmission timers that fired) and max_timeout_rto_s (the longest timeout that fired: RTOs
    double on every timeout in a row, up to `SimConfig.max_rto_s`).
    PFC: pause frames sent, those sent while the pausing switch was itself paused (propagation), total
    port-seconds paused, packets held behind a pause (head-of-line blocking), pauses per link tier.
    """

    model: str
    cct_s: float
    ideal_cct_s: float
    completed: bool
    job_cct_s: list[float]
    flow_completion_s: np.ndarray
    link_bytes: dict[tuple[str, str], float]
    data_link_bytes: dict[tuple[str, str], float]
    max_link_load: float
    max_fabric_load: float
    queue_traces: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    max_queue_bytes: dict[tuple[str, str], float] = field(default_factory=dict)
    drops: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)
    ecn_marks: int = 0
    retransmissions: int = 0
    out_of_order: int = 0
    duplicates: int = 0
    data_packets: int = 0
    subflows_per_host: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    extra_subflows: int = 0
    packet_hops: int = 0
    sim_time_s: float = 0.0
    conservation: dict = field(default_factory=dict)
    spray_fluid_cct_s: float = float("nan")
    transport: str = "ideal"
    retransmitted_bytes: int = 0
    gbn_discards: int = 0
    gbn_rewinds: int = 0
    reorder_window_drops: int = 0
    naks: int = 0
    timeouts: int = 0
    max_timeout_rto_s: float = 0.0
    pfc_pauses: int = 0
    pfc_propagated_pauses: int = 0
    pfc_paused_s: float = 0.0
    pfc_hol_packets: int = 0
    pfc_pauses_by_tier: dict[str, int] = field(default_factory=dict)

    @property
    def cct_over_ideal(self) -> float:
        """Collective completion time over the provable lower bound (>= 1 for every run)."""
        return self.cct_s / self.ideal_cct_s if self.ideal_cct_s > 0 else float("nan")

    @property
    def cct_over_spray_fluid(self) -> float:
        """Collective completion time over the fluid ideal-spraying reference."""
        ref = self.spray_fluid_cct_s
        return self.cct_s / ref if ref > 0 else float("nan")

    @property
    def out_of_order_fraction(self) -> float:
        """Out-of-order data packet arrivals per data packet sent."""
        return self.out_of_order / self.data_packets if self.data_packets else 0.0


def load_metrics(fabric, loads: np.ndarray) -> tuple[float, float]:
    """(max over all links, max over leaf-spine links) of bytes / link rate in bytes per second."""
    rate = fabric.link_rate_bps / 8.0
    seconds = np.asarray(loads, dtype=float) / rate
    return float(seconds.max()), float(seconds[fabric.fabric_links].max())


def subflow_stats(fabric, subflows, n_transfers: int) -> tuple[np.ndarray, int]:
    """Subflows (transport connections) opened per source host, and extra subflows beyond one per transfer."""
    per_host = np.bincount(subflows.src, minlength=fabric.n_hosts)
    return per_host, int(per_host.sum()) - n_transfers
