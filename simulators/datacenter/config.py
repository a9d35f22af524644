"""Config dataclasses of the datacenter simulator (fabric, workload, path selection, run) with validation.

Every `validate()` raises ValueError naming the offending field and its allowed range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polystep.validate import check_bool, check_choice, check_int, check_real, fail

POLICIES = ("ecmp", "subflows", "spray_rr", "spray_random", "min_split", "reps")
TRANSPORTS = ("ideal", "go_back_n", "selective_repeat")
PATTERNS = ("ring_allreduce", "hd_allreduce", "direct_allreduce", "all_to_all", "all_gather", "permutation",
            "single_flow")
PLACEMENTS = ("sequential", "random")


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{name} {message}")


def _int_at_least(value, name: str, low: int) -> None:
    check_int(value, name, low)


def _positive(value, name: str) -> None:
    check_real(value, name, 0.0, lo_open=True)


def _non_negative(value, name: str) -> None:
    check_real(value, name, 0.0)


@dataclass(frozen=True)
class FabricConfig:
    """A leaf-spine (2-tier Clos) fabric: `leaves` ToRs with `hosts_per_leaf` hosts each, `spines` spines.

    Every leaf links to every spine once. Oversubscription: fewer spines than hosts per leaf, or
    `uplink_gbps` below `link_gbps`. `failed_links` lists (leaf, spine) pairs whose link is down both ways
    from the start; `fail_at` lists (leaf, spine, time_s) links that go down both ways during the run.
    pfc: a lossless fabric with priority flow control; a switch pauses the port feeding one of its ingress
    links once the bytes it holds from that link reach `pfc_xoff_bytes` and resumes it below `pfc_xon_bytes`.
    """

    hosts_per_leaf: int = 4
    leaves: int = 4
    spines: int = 4
    link_gbps: float = 100.0
    uplink_gbps: float | None = None
    link_delay_s: float = 0.5e-6
    buffer_bytes: int = 512 * 1024
    shared_buffer: bool = False
    ecn_threshold_bytes: int | None = 96 * 1024
    mtu_bytes: int = 4096
    switch_ports: int | None = None
    failed_links: tuple[tuple[int, int], ...] = ()
    pfc: bool = False
    pfc_xoff_bytes: int = 192 * 1024
    pfc_xon_bytes: int = 160 * 1024
    fail_at: tuple[tuple[int, int, float], ...] = ()

    @property
    def hosts(self) -> int:
        """Number of hosts in the fabric."""
        return self.hosts_per_leaf * self.leaves

    @property
    def uplink_rate_gbps(self) -> float:
        """Rate of leaf-spine links (uplink_gbps, or link_gbps when unset)."""
        return self.link_gbps if self.uplink_gbps is None else self.uplink_gbps

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field."""
        _int_at_least(self.hosts_per_leaf, "FabricConfig.hosts_per_leaf", 1)
        _int_at_least(self.leaves, "FabricConfig.leaves", 1)
        _int_at_least(self.spines, "FabricConfig.spines", 1)
        _require(self.hosts >= 2, "FabricConfig.hosts_per_leaf",
                 f"x leaves must give at least 2 hosts, got {self.hosts}")
        _positive(self.link_gbps, "FabricConfig.link_gbps")
        if self.uplink_gbps is not None:
            _positive(self.uplink_gbps, "FabricConfig.uplink_gbps")
        _non_negative(self.link_delay_s, "FabricConfig.link_delay_s")
        _int_at_least(self.mtu_bytes, "FabricConfig.mtu_bytes", 64)
        _int_at_least(self.buffer_bytes, "FabricConfig.buffer_bytes", self.mtu_bytes)
        check_bool(self.shared_buffer, "FabricConfig.shared_buffer")
        if self.ecn_threshold_bytes is not None:
            _int_at_least(self.ecn_threshold_bytes, "FabricConfig.ecn_threshold_bytes", 0)
            _require(self.ecn_threshold_bytes <= self.buffer_bytes, "FabricConfig.ecn_threshold_bytes",
                     f"must be <= buffer_bytes ({self.buffer_bytes}), got {self.ecn_threshold_bytes}")
        if self.switch_ports is not None:
            _int_at_least(self.switch_ports, "FabricConfig.switch_ports", 1)
            leaf_ports = self.hosts_per_leaf + self.spines
            _require(leaf_ports <= self.switch_ports, "FabricConfig.switch_ports",
                     f"= {self.switch_ports} is fewer than a leaf needs "
                     f"(hosts_per_leaf + spines = {leaf_ports})")
            _require(self.leaves <= self.switch_ports, "FabricConfig.switch_ports",
                     f"= {self.switch_ports} is fewer than a spine needs (leaves = {self.leaves})")
        if not isinstance(self.failed_links, (tuple, list)):
            fail("FabricConfig.failed_links", f"must be a tuple of (leaf, spine) pairs, got {self.failed_links!r}")
        seen = set()
        for item in self.failed_links:
            ok = (isinstance(item, (tuple, list)) and len(item) == 2
                  and all(isinstance(x, int) and not isinstance(x, bool) for x in item))
            _require(ok, "FabricConfig.failed_links",
                     f"entries must be (leaf, spine) integer pairs, got {item!r}")
            leaf, spine = item
            _require(0 <= leaf < self.leaves and 0 <= spine < self.spines, "FabricConfig.failed_links",
                     f"entry {tuple(item)} out of range: leaf in [0, {self.leaves}), "
                     f"spine in [0, {self.spines})")
            _require(tuple(item) not in seen, "FabricConfig.failed_links", f"lists {tuple(item)} twice")
            seen.add(tuple(item))
        check_bool(self.pfc, "FabricConfig.pfc")
        check_int(self.pfc_xoff_bytes, "FabricConfig.pfc_xoff_bytes", self.mtu_bytes,
                  self.buffer_bytes if self.pfc else None)
        check_int(self.pfc_xon_bytes, "FabricConfig.pfc_xon_bytes", 0, self.pfc_xoff_bytes)
        if not isinstance(self.fail_at, (tuple, list)):
            fail("FabricConfig.fail_at", f"must be a tuple of (leaf, spine, time_s) triples, got {self.fail_at!r}")
        for item in self.fail_at:
            if not (isinstance(item, (tuple, list)) and len(item) == 3):
                fail("FabricConfig.fail_at", f"entries must be (leaf, spine, time_s) triples, got {item!r}")
            check_int(item[0], "FabricConfig.fail_at leaf", 0, self.leaves - 1)
            check_int(item[1], "FabricConfig.fail_at spine", 0, self.spines - 1)
            check_real(item[2], "FabricConfig.fail_at time_s", 0.0)
            _require((item[0], item[1]) not in seen, "FabricConfig.fail_at",
                     f"entry {tuple(item)} names a link already in failed_links")
        seen = seen | {(int(x[0]), int(x[1])) for x in self.fail_at}
        if self.leaves > 1 and seen:
            # Only leaves with a failed uplink can be cut off: a leaf with every uplink shares all spines.
            dead: dict[int, set] = {}
            for leaf, spine in seen:
                dead.setdefault(leaf, set()).add(spine)
            hurt = sorted(dead)
            for leaf in hurt:
                _require(len(dead[leaf]) < self.spines, "FabricConfig.failed_links",
                         f"disconnects leaf {leaf} (all its uplinks fail)")
            for i, a in enumerate(hurt):
                for b in hurt[i + 1:]:
                    _require(len(dead[a] | dead[b]) < self.spines, "FabricConfig.failed_links",
                             f"leaves {a} and {b} share no working spine")


@dataclass(frozen=True)
class WorkloadConfig:
    """Collective jobs: `jobs` concurrent jobs of `ranks` ranks each running `pattern` on `message_bytes`.

    message_bytes is the per-rank buffer (an all-to-all sends message_bytes / ranks to every peer; a
    permutation sends message_bytes to one peer). Ranks map to hosts sequentially or at random; every
    rank's first step starts after a uniform random jitter in [0, jitter_s].
    """

    pattern: str = "all_to_all"
    message_bytes: int = 1 << 20
    ranks: int | None = None
    jobs: int = 1
    placement: str = "sequential"
    jitter_s: float = 0.0

    def ranks_per_job(self, hosts: int) -> int:
        """Ranks of each job (`ranks`, or all hosts divided among the jobs)."""
        return self.ranks if self.ranks is not None else hosts // self.jobs

    def validate(self, hosts: int) -> None:
        """Raise ValueError naming the first invalid field (`hosts`: hosts of the fabric)."""
        _require(self.pattern in PATTERNS, "WorkloadConfig.pattern",
                 f"must be one of {PATTERNS}, got {self.pattern!r}")
        _require(self.placement in PLACEMENTS, "WorkloadConfig.placement",
                 f"must be one of {PLACEMENTS}, got {self.placement!r}")
        _int_at_least(self.jobs, "WorkloadConfig.jobs", 1)
        if self.ranks is not None:
            _int_at_least(self.ranks, "WorkloadConfig.ranks", 2)
        ranks = self.ranks_per_job(hosts)
        _require(ranks >= 2, "WorkloadConfig.ranks", f"must give at least 2 ranks per job, got {ranks}")
        _require(ranks * self.jobs <= hosts, "WorkloadConfig.ranks",
                 f"x jobs = {ranks * self.jobs} exceeds the fabric's {hosts} hosts")
        if self.pattern == "hd_allreduce":
            _require(ranks & (ranks - 1) == 0, "WorkloadConfig.ranks",
                     f"must be a power of two for hd_allreduce, got {ranks}")
        _int_at_least(self.message_bytes, "WorkloadConfig.message_bytes", 1)
        _require(self.message_bytes >= ranks, "WorkloadConfig.message_bytes",
                 f"must be >= ranks ({ranks}) so every chunk holds a byte, got {self.message_bytes}")
        _non_negative(self.jitter_s, "WorkloadConfig.jitter_s")


@dataclass(frozen=True)
class PathConfig:
    """Path selection: `policy` in POLICIES; `subflows` is k for the `subflows` policy.

    failure_aware: policies choose only among spines whose links on the path are up; otherwise they choose
    among all spines and packets sent onto a failed link are dropped (reason `link_down`). A link failing
    during the run (`FabricConfig.fail_at`) is seen by failure-aware senders `detection_delay_s` later.
    `reps`: recycled entropy packet spraying (a sender reuses the spines of ACKs that came back unmarked and
    explores a random spine otherwise).
    """

    policy: str = "ecmp"
    subflows: int = 4
    failure_aware: bool = True
    detection_delay_s: float = 100e-6

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field."""
        _require(self.policy in POLICIES, "PathConfig.policy",
                 f"must be one of {POLICIES}, got {self.policy!r}")
        _int_at_least(self.subflows, "PathConfig.subflows", 1)
        check_bool(self.failure_aware, "PathConfig.failure_aware")
        check_real(self.detection_delay_s, "PathConfig.detection_delay_s", 0.0)


@dataclass(frozen=True)
class SimConfig:
    """One simulation: fabric, workload, path selection, and the DCTCP-style transport's parameters.

    transport: how the receiver handles reordering and the sender recovers losses. `ideal` accepts any
    order (per-packet selective ACKs, losses resent after a timeout); `go_back_n` accepts only the next
    expected packet, discards later ones and NAKs the gap once, and the sender resends everything from the
    gap (as RoCE NICs without selective repeat); `selective_repeat` buffers up to `reorder_window_pkts`
    packets past the next expected one, drops arrivals beyond it and NAKs them, and the sender resends
    exactly the NAKed packets. spray_reference: also run the fluid ideal-spraying reference
    (`Result.spray_fluid_cct_s`; costs a fluid run).
    """

    fabric: FabricConfig = field(default_factory=FabricConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    path: PathConfig = field(default_factory=PathConfig)
    init_cwnd_pkts: float = 16.0
    dctcp_g: float = 1.0 / 16.0
    min_rto_s: float = 200e-6
    max_rto_s: float = 10e-3
    ack_bytes: int = 64
    max_time_s: float = 1.0
    trace_interval_s: float | None = 0.5e-6
    log_transmissions: bool = False
    transport: str = "ideal"
    reorder_window_pkts: int = 64
    spray_reference: bool = True

    def validate(self) -> None:
        """Validate every part; raise ValueError naming the first invalid field."""
        for name, kind in (("fabric", FabricConfig), ("workload", WorkloadConfig), ("path", PathConfig)):
            _require(isinstance(getattr(self, name), kind), f"SimConfig.{name}", f"must be a {kind.__name__}")
        self.fabric.validate()
        self.workload.validate(self.fabric.hosts)
        self.path.validate()
        _positive(self.init_cwnd_pkts, "SimConfig.init_cwnd_pkts")
        check_real(self.dctcp_g, "SimConfig.dctcp_g", 0.0, 1.0, lo_open=True)
        _positive(self.min_rto_s, "SimConfig.min_rto_s")
        check_real(self.max_rto_s, "SimConfig.max_rto_s", self.min_rto_s)
        _int_at_least(self.ack_bytes, "SimConfig.ack_bytes", 1)
        _positive(self.max_time_s, "SimConfig.max_time_s")
        if self.trace_interval_s is not None:
            _positive(self.trace_interval_s, "SimConfig.trace_interval_s")
        check_bool(self.log_transmissions, "SimConfig.log_transmissions")
        check_choice(self.transport, "SimConfig.transport", TRANSPORTS)
        check_int(self.reorder_window_pkts, "SimConfig.reorder_window_pkts", 1)
        check_bool(self.spray_reference, "SimConfig.spray_reference")
