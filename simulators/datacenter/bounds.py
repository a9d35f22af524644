"""A provable lower bound on a collective's completion time for given subflows, valid for every transport.

Two bounds, the larger one counts:
- critical path: every transfer takes at least its isolated store-and-forward time on an empty fabric with
  all working spines in parallel; a rank enters step k only after every step k-1 transfer addressed to it
  arrived, so the chain of steps adds up these times;
- load: each host link and each leaf's aggregate of working uplinks (downlinks) must carry all the bytes
  that cross it, which takes at least bytes / rate whatever the order.
The fluid model (max-min fair sharing) is not a lower bound in general: when steps of a pipelined collective
overlap, a FIFO packet network can finish the earlier step first and beat processor sharing.
"""

from __future__ import annotations

import numpy as np

from simulators.datacenter.collectives import Plan
from simulators.datacenter.config import SimConfig
from simulators.datacenter.paths import Subflows
from simulators.datacenter.topology import Fabric


def smallest_packet(plan: Plan, sub: Subflows, mtu: int) -> np.ndarray:
    """Per transfer: the smallest packet among its subflows (each subflow's last packet)."""
    size = sub.nbytes.astype(float)
    last = size - (np.ceil(size / mtu) - 1.0) * mtu
    out = np.full(plan.n_transfers, np.inf)
    np.minimum.at(out, sub.tid, last)
    return out


def isolated_time(config: SimConfig, fabric: Fabric, plan: Plan, sub: Subflows) -> np.ndarray:
    """Per transfer: the least time its last byte needs to reach the receiver on an otherwise empty fabric.

    For hop stages j with aggregate rates R_j (parallel working spines add up) and single-link rates b_j, some
    packet is stored and forwarded through the stages before j before stage j starts, stage j moves all C
    bytes at R_j, and some packet crosses the stages after j after it; packets sprayed over parallel spines
    can overtake each other, so both are charged the smallest packet (the last one, C - (ceil(C/P) - 1) P
    bytes; a transfer split into subflows, the smallest last packet of them). The maximum over j, plus the
    propagation delay of every hop.
    """
    cfg = config.fabric
    c = plan.nbytes.astype(float)
    last = smallest_packet(plan, sub, cfg.mtu_bytes)
    host = cfg.link_gbps * 1e9 / 8.0
    up = cfg.uplink_rate_gbps * 1e9 / 8.0
    hpl = fabric.hosts_per_leaf
    la, lb = plan.src // hpl, plan.dst // hpl
    usable = np.array([[len(fabric.usable_spines(a, b)) for b in range(fabric.n_leaves)]
                       for a in range(fabric.n_leaves)], dtype=float)
    n_sp = np.maximum(usable[la, lb], 1.0)
    local = la == lb
    # local path: host -> leaf -> host
    t_local = c / host + last / host + 2 * cfg.link_delay_s
    # remote path: host -> leaf -> spine -> leaf -> host
    link = [host, up, up, host]
    stages = [np.full_like(c, host), n_sp * up, n_sp * up, np.full_like(c, host)]
    t_remote = np.zeros_like(c)
    for j in range(4):
        t = c / stages[j]
        t = t + sum(last / link[i] for i in range(4) if i != j)
        t_remote = np.maximum(t_remote, t)
    t_remote += 4 * cfg.link_delay_s
    return np.where(local, t_local, t_remote)


def critical_path_bound(config: SimConfig, fabric: Fabric, plan: Plan, sub: Subflows) -> float:
    """Completion time if every transfer took its isolated time and ranks waited only on their inputs."""
    iso = isolated_time(config, fabric, plan, sub)
    send_rank = plan.rank_base[plan.job] + plan.src_rank
    ready = plan.start_s.astype(float).copy()
    for k in range(int(plan.rank_steps.max()) if plan.rank_steps.size else 0):
        m = plan.step == k
        arrive = ready[send_rank[m]] + iso[m]
        nxt = ready.copy()
        np.maximum.at(nxt, plan.recv_rank[m], arrive)
        ready = nxt
    return float(ready.max())


def load_bound(config: SimConfig, fabric: Fabric, plan: Plan) -> float:
    """Largest bytes / rate over host links and over each leaf's working uplinks and downlinks."""
    cfg = config.fabric
    host = cfg.link_gbps * 1e9 / 8.0
    up = cfg.uplink_rate_gbps * 1e9 / 8.0
    nbytes = plan.nbytes.astype(float)
    sent = np.bincount(plan.src, weights=nbytes, minlength=fabric.n_hosts)
    got = np.bincount(plan.dst, weights=nbytes, minlength=fabric.n_hosts)
    hpl = fabric.hosts_per_leaf
    la, lb = plan.src // hpl, plan.dst // hpl
    inter = la != lb
    out = np.bincount(la[inter], weights=nbytes[inter], minlength=fabric.n_leaves)
    into = np.bincount(lb[inter], weights=nbytes[inter], minlength=fabric.n_leaves)
    alive = fabric.link_up
    n_up = np.array([sum(alive[fabric.uplink(a, s)] for s in range(fabric.n_spines))
                     for a in range(fabric.n_leaves)], dtype=float)
    n_dn = np.array([sum(alive[fabric.downlink(s, a)] for s in range(fabric.n_spines))
                     for a in range(fabric.n_leaves)], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        leaf_out = np.where(out > 0, out / (np.maximum(n_up, 1e-300) * up), 0.0)
        leaf_in = np.where(into > 0, into / (np.maximum(n_dn, 1e-300) * up), 0.0)
    return float(max(sent.max() / host, got.max() / host, leaf_out.max(initial=0.0), leaf_in.max(initial=0.0)))


def lower_bound(config: SimConfig, fabric: Fabric, plan: Plan, sub: Subflows) -> float:
    """max(critical-path bound, load bound): no transport finishes the collective on these subflows sooner."""
    return max(critical_path_bound(config, fabric, plan, sub), load_bound(config, fabric, plan))
