"""Flow-level (fluid) model: max-min fair rates by progressive filling, recomputed at every event.

Subflows share links max-min fairly; a sprayed subflow puts an equal share of its rate on each of its
spines' links (weights). Rates are recomputed when a subflow starts or finishes. A transfer arrives when
its last subflow's last byte has crossed the path (fluid drain time + per-hop propagation and
store-and-forward of one MTU), which then releases the next collective steps. Vectorized with numpy over
subflows, with leaf-spine links handled through (leaf x spine-set) counts, so 1,024-host all-to-alls
(about a million subflows) take seconds.
"""

from __future__ import annotations

import heapq

import numba
import numpy as np

from simulators.datacenter.bounds import lower_bound
from simulators.datacenter.collectives import Plan, Progress, build_plan
from simulators.datacenter.config import SimConfig
from simulators.datacenter.paths import LOCAL, Subflows, assign, ideal_policy, link_loads
from simulators.datacenter.result import Result, load_metrics, subflow_stats
from simulators.datacenter.topology import Fabric

_TOL = 1e-9


@numba.njit(cache=True)
def _fill(idx, src, dst, local, key_a, key_b, row_ptr, row_spine, row_w, n_rows,
          by_src, ptr_src, by_dst, ptr_dst, by_ka, ptr_ka, by_kb, ptr_kb, touch_ptr, touch,
          cap_nu, cap_nd, cap_up, cap_dn):  # pragma: no cover - compiled
    n = cap_nu.size
    lv, sp = cap_up.shape
    alive = np.zeros(src.size, dtype=np.bool_)
    rate = np.zeros(src.size)
    c_nu = np.zeros(n)
    c_nd = np.zeros(n)
    c_up = np.zeros((lv, sp))
    c_dn = np.zeros((lv, sp))
    for f in idx:
        alive[f] = True
        c_nu[src[f]] += 1.0
        c_nd[dst[f]] += 1.0
        if not local[f]:
            k = key_a[f] % n_rows
            a = key_a[f] // n_rows
            b = key_b[f] // n_rows
            for q in range(row_ptr[k], row_ptr[k + 1]):
                c_up[a, row_spine[q]] += row_w[q]
                c_dn[b, row_spine[q]] += row_w[q]
    r_nu = cap_nu.copy()
    r_nd = cap_nd.copy()
    r_up = cap_up.copy()
    r_dn = cap_dn.copy()
    level = 0.0
    left = idx.size
    sat_nu = np.zeros(n, dtype=np.bool_)
    sat_nd = np.zeros(n, dtype=np.bool_)
    sat_up = np.zeros((lv, sp), dtype=np.bool_)
    sat_dn = np.zeros((lv, sp), dtype=np.bool_)
    while left > 0:
        step = np.inf
        for h in range(n):
            if c_nu[h] > 1e-9 and r_nu[h] / c_nu[h] < step:
                step = r_nu[h] / c_nu[h]
            if c_nd[h] > 1e-9 and r_nd[h] / c_nd[h] < step:
                step = r_nd[h] / c_nd[h]
        for a in range(lv):
            for j in range(sp):
                if c_up[a, j] > 1e-9 and r_up[a, j] / c_up[a, j] < step:
                    step = r_up[a, j] / c_up[a, j]
                if c_dn[a, j] > 1e-9 and r_dn[a, j] / c_dn[a, j] < step:
                    step = r_dn[a, j] / c_dn[a, j]
        if step == np.inf:
            raise RuntimeError("progressive filling: live subflows but no used link")
        if step < 0.0:
            step = 0.0
        level += step
        for h in range(n):
            if c_nu[h] > 1e-9:
                r_nu[h] -= step * c_nu[h]
                sat_nu[h] = r_nu[h] <= 1e-9 * cap_nu[h] + 1e-300
            if c_nd[h] > 1e-9:
                r_nd[h] -= step * c_nd[h]
                sat_nd[h] = r_nd[h] <= 1e-9 * cap_nd[h] + 1e-300
        for a in range(lv):
            for j in range(sp):
                if c_up[a, j] > 1e-9:
                    r_up[a, j] -= step * c_up[a, j]
                    sat_up[a, j] = r_up[a, j] <= 1e-9 * cap_up[a, j] + 1e-300
                if c_dn[a, j] > 1e-9:
                    r_dn[a, j] -= step * c_dn[a, j]
                    sat_dn[a, j] = r_dn[a, j] <= 1e-9 * cap_dn[a, j] + 1e-300
        frozen = 0
        for kind in range(4):
            for x in range(n if kind < 2 else lv * sp):
                if kind == 0:
                    if not sat_nu[x]:
                        continue
                    sat_nu[x] = False
                    lists = ((by_src, ptr_src[x], ptr_src[x + 1]),)
                elif kind == 1:
                    if not sat_nd[x]:
                        continue
                    sat_nd[x] = False
                    lists = ((by_dst, ptr_dst[x], ptr_dst[x + 1]),)
                else:
                    a, j = x // sp, x % sp
                    if kind == 2:
                        if not sat_up[a, j]:
                            continue
                        sat_up[a, j] = False
                    else:
                        if not sat_dn[a, j]:
                            continue
                        sat_dn[a, j] = False
                    lists = ((by_src, 0, 0),)  # placeholder, groups handled below
                if kind < 2:
                    arr, lo, hi = lists[0]
                    for q in range(lo, hi):
                        f = arr[q]
                        if alive[f]:
                            alive[f] = False
                            rate[f] = level
                            frozen += 1
                            _release(f, src, dst, local, key_a, key_b, n_rows, row_ptr, row_spine, row_w,
                                     c_nu, c_nd, c_up, c_dn)
                else:
                    for t in range(touch_ptr[j], touch_ptr[j + 1]):
                        g = a * n_rows + touch[t]
                        arr = by_ka if kind == 2 else by_kb
                        ptr = ptr_ka if kind == 2 else ptr_kb
                        for q in range(ptr[g], ptr[g + 1]):
                            f = arr[q]
                            if alive[f]:
                                alive[f] = False
                                rate[f] = level
                                frozen += 1
                                _release(f, src, dst, local, key_a, key_b, n_rows, row_ptr, row_spine, row_w,
                                         c_nu, c_nd, c_up, c_dn)
                    if kind == 2:
                        c_up[a, j] = 0.0
                    else:
                        c_dn[a, j] = 0.0
                if kind == 0:
                    c_nu[x] = 0.0
                elif kind == 1:
                    c_nd[x] = 0.0
        if frozen == 0:
            raise RuntimeError("progressive filling made no progress")
        left -= frozen
    return rate


@numba.njit(cache=True)
def _release(f, src, dst, local, key_a, key_b, n_rows, row_ptr, row_spine, row_w,
             c_nu, c_nd, c_up, c_dn):  # pragma: no cover - compiled
    c_nu[src[f]] -= 1.0
    c_nd[dst[f]] -= 1.0
    if not local[f]:
        k = key_a[f] % n_rows
        a = key_a[f] // n_rows
        b = key_b[f] // n_rows
        for q in range(row_ptr[k], row_ptr[k + 1]):
            c_up[a, row_spine[q]] -= row_w[q]
            c_dn[b, row_spine[q]] -= row_w[q]
_ARRIVE, _RANK = 0, 1


class FluidNetwork:
    """Vectorized description of subflows on a fabric: endpoints, leaves, spine-weight rows, capacities."""

    def __init__(self, fabric: Fabric, sub: Subflows):
        self.fabric = fabric
        n, lv, sp = fabric.n_hosts, fabric.n_leaves, fabric.n_spines
        self.src, self.dst, self.tid = sub.src, sub.dst, sub.tid
        self.size = sub.nbytes.astype(float)
        self.local = np.ascontiguousarray(sub.mode == LOCAL)
        hpl = fabric.hosts_per_leaf
        self.leaf_a = self.src // hpl
        self.leaf_b = self.dst // hpl
        self.k = sub.set_id
        weights = np.zeros((len(sub.sets), sp))
        for row, spines in enumerate(sub.sets):
            for j in spines:
                weights[row, j] += 1.0 / len(spines)
        self.weights = weights
        self.touches = (weights > 0).astype(float)
        self.n_rows = weights.shape[0]
        rate = fabric.link_rate_bps / 8.0 * fabric.link_up
        self.cap_nu = rate[:n].copy()
        self.cap_nd = rate[n:2 * n].copy()
        self.cap_up = rate[2 * n:2 * n + lv * sp].reshape(lv, sp).copy()
        self.cap_dn = rate[2 * n + lv * sp:].reshape(lv, sp).copy()
        self.key_a = self.leaf_a * self.n_rows + self.k
        self.key_b = self.leaf_b * self.n_rows + self.k
        self.by_src, self.ptr_src = self._csr(self.src, n)
        self.by_dst, self.ptr_dst = self._csr(self.dst, n)
        fab = np.flatnonzero(~self.local)
        by_ka, self.ptr_ka = self._csr(self.key_a[fab], lv * self.n_rows)
        by_kb, self.ptr_kb = self._csr(self.key_b[fab], lv * self.n_rows)
        self.by_ka, self.by_kb = fab[by_ka], fab[by_kb]
        touching = [np.flatnonzero(weights[:, j] > 0) for j in range(sp)]
        self.rows_touching = np.concatenate(touching).astype(np.int64) if touching else np.zeros(0, np.int64)
        self.rows_touching_ptr = np.concatenate([[0], np.cumsum([t.size for t in touching])]).astype(np.int64)
        nz = [np.flatnonzero(weights[r] > 0) for r in range(self.n_rows)]
        self.row_spine = np.concatenate(nz).astype(np.int64) if nz else np.zeros(0, np.int64)
        self.row_w = np.concatenate([weights[r, z] for r, z in enumerate(nz)]) if nz else np.zeros(0)
        self.row_ptr = np.concatenate([[0], np.cumsum([z.size for z in nz])]).astype(np.int64)

    def _csr(self, keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(keys, kind="stable")
        return order, np.searchsorted(keys[order], np.arange(n_keys + 1))

    def rates(self, idx: np.ndarray) -> np.ndarray:
        """Max-min fair rates (bytes/s) of the subflows `idx` by progressive filling (numba kernel).

        All unfrozen subflows share the current water level; each round raises it until some link fills,
        freezes the subflows crossing filled links (found through per-link index lists) and removes their
        share from the link counts, so a round costs O(links + newly frozen subflows).
        """
        rate = _fill(
            np.ascontiguousarray(idx, dtype=np.int64), self.src, self.dst, self.local, self.key_a, self.key_b,
            self.row_ptr, self.row_spine, self.row_w, self.n_rows,
            self.by_src, self.ptr_src, self.by_dst, self.ptr_dst, self.by_ka, self.ptr_ka, self.by_kb,
            self.ptr_kb, self.rows_touching_ptr, self.rows_touching,
            self.cap_nu, self.cap_nd, self.cap_up, self.cap_dn,
        )
        return rate[idx]

    def latency(self, config: SimConfig) -> np.ndarray:
        """Per subflow: propagation over every hop plus store-and-forward of its largest packet.

        A pipelined transfer of C bytes in packets of at most P bytes over hops of rates b_1..b_h, whose
        bottleneck stage is j (a sprayed subflow's spine stages run its n spines in parallel at n b), finishes
        C / rate + sum_i min(C, P) / b_i - min(C, P) / b_j + h d after it starts: every hop but the bottleneck
        adds one largest packet (min(C, P) bytes, so a transfer below one MTU is not charged a full MTU). The
        fluid rate supplies the C / rate term.
        """
        cfg = config.fabric
        largest = np.minimum(self.size, float(cfg.mtu_bytes))
        host = cfg.link_gbps * 1e9 / 8.0
        up = cfg.uplink_rate_gbps * 1e9 / 8.0
        n_spines = np.maximum(self.weights[self.k].astype(bool).sum(axis=1), 1)
        spine_is_bottleneck = n_spines * up < host
        bottleneck_hop = np.where(spine_is_bottleneck, up, host)
        local = 2 * cfg.link_delay_s + largest / host
        remote = 4 * cfg.link_delay_s + largest * (2 / host + 2 / up - 1 / bottleneck_hop)
        return np.where(self.local, local, remote)


def run_fluid(config: SimConfig, fabric: Fabric, plan: Plan, sub: Subflows,
              incremental: bool = True) -> tuple[Progress, np.ndarray]:
    """Event-driven fluid run; returns the progress tracker and per-subflow finish times (inf if never).

    Rates are refilled when subflows start, and when subflows finish unless every finished one had a
    strictly higher rate than every subflow still running (`incremental`): a subflow above a level crosses
    no link that saturates at that level, so removing it leaves the max-min rates of the others unchanged
    (exact, not an approximation). Equal-sized subflows started together therefore need one refill per
    collective step instead of one per completion (an ECMP all-to-all on 1,024 hosts: one instead of
    thousands); `incremental=False` refills at every completion (the reference the tests compare with).
    """
    net = FluidNetwork(fabric, sub)
    lat = net.latency(config)
    m = len(sub)
    order = np.argsort(net.tid, kind="stable")
    starts = np.searchsorted(net.tid[order], np.arange(plan.n_transfers + 1))
    left = np.diff(starts).astype(np.int64)
    arrive_at = np.zeros(plan.n_transfers)
    remaining = net.size.copy()
    finish = np.full(m, np.inf)
    active = np.zeros(m, dtype=bool)
    progress = Progress(plan)
    heap: list = []
    counter = 0
    for rank, t0 in enumerate(plan.start_s):
        heapq.heappush(heap, (float(t0), counter, _RANK, rank))
        counter += 1
    t = 0.0
    idx = np.zeros(0, dtype=np.int64)
    rates = np.zeros(0)
    dirty = False

    def launch(tids: np.ndarray) -> None:
        nonlocal dirty
        if tids.size:
            lo, hi = starts[tids], starts[tids + 1]
            cnt = hi - lo
            pos = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(cnt.sum())
            active[order[pos]] = True
            dirty = True

    # between refills every running subflow keeps its rate, so its finish time (eta) is known: the epoch's
    # subflows sorted by eta are consumed from `ptr` on, and remaining bytes are only materialized at a refill
    srt = np.zeros(0, dtype=np.int64)
    sorted_eta = np.zeros(0)
    suffix_max = np.zeros(0)
    ptr = 0
    while True:
        if dirty:
            if ptr < srt.size:
                run_ = srt[ptr:]
                live, r = idx[run_], rates[run_]
                with np.errstate(invalid="ignore"):
                    remaining[live] = np.where(r > 0, np.maximum((sorted_eta[ptr:] - t) * r, 0.0), remaining[live])
            idx = np.flatnonzero(active)
            rates = net.rates(idx) if idx.size else np.zeros(0)
            with np.errstate(divide="ignore", invalid="ignore"):
                eta = np.where(rates > 0, t + remaining[idx] / rates, np.inf)
            srt = np.argsort(eta, kind="stable")
            sorted_eta = eta[srt]
            suffix_max = np.maximum.accumulate(rates[srt][::-1])[::-1] if srt.size else np.zeros(0)
            ptr = 0
            dirty = False
        t_c = float(sorted_eta[ptr]) if ptr < srt.size else np.inf
        t_ev = heap[0][0] if heap else np.inf
        t_next = min(t_c, t_ev)
        if not np.isfinite(t_next):
            break
        dt = max(t_next - t, 0.0)
        if ptr < srt.size:
            k = max(int(np.searchsorted(sorted_eta, t + dt * (1 + 1e-9) + 1e-18, side="right")), ptr)
            if k > ptr:
                sel = srt[ptr:k]
                done = idx[sel]
                remaining[done] = 0.0
                active[done] = False
                finish[done] = t_next
                if not (incremental and k < srt.size and rates[sel].min() > suffix_max[k]):
                    dirty = True
                ptr = k
                tids = net.tid[done]
                np.maximum.at(arrive_at, tids, t_next + lat[done])
                np.subtract.at(left, tids, 1)
                ready = tids[left[tids] == 0]
                if ready.size:
                    ready = np.sort(ready)
                    ready = ready[np.concatenate([[True], ready[1:] != ready[:-1]])]
                    times = arrive_at[ready]
                    by_time = np.argsort(times, kind="stable")
                    cuts = np.flatnonzero(np.diff(times[by_time])) + 1
                    for group in np.split(ready[by_time], cuts):
                        heapq.heappush(heap, (float(arrive_at[group[0]]), counter, _ARRIVE, group))
                        counter += 1
        t = t_next
        while heap and heap[0][0] <= t:
            when, _, kind, payload = heapq.heappop(heap)
            if kind == _RANK:
                launch(progress.start_rank(payload, when))
            else:
                launch(progress.on_received(payload, when))
    return progress, finish


def fluid_cct(config: SimConfig, fabric: Fabric, plan: Plan, subflows: Subflows) -> float:
    """Collective completion time of a fluid run (inf when some transfer never completes)."""
    progress, _ = run_fluid(config, fabric, plan, subflows)
    return max(progress.job_cct())


def fluid(config: SimConfig, seed: int = 0) -> Result:
    """Flow-level simulation of `config` (seed: placement, permutation, hash choices) -> Result.

    The fluid model shares links max-min fairly: it has no transport (`transport`, PFC and ECN do not apply)
    and takes failed links only from the start (`failed_links`).
    """
    config.validate()
    if config.fabric.fail_at:
        raise ValueError("FabricConfig.fail_at: links failing during a run are simulated at the packet level "
                         "only; the fluid model takes failures from the start (failed_links)")
    fabric = Fabric(config.fabric)
    plan = build_plan(config.workload, fabric.n_hosts, seed)
    subflows = assign(fabric, plan, config.path, seed)
    progress, _ = run_fluid(config, fabric, plan, subflows)
    job_cct = progress.job_cct()
    cct = max(job_cct)
    ideal_path = ideal_policy(config.path)
    if ideal_path == config.path:
        spray = cct
    else:
        spray = fluid_cct(config, fabric, plan, assign(fabric, plan, ideal_path, seed))
    bound = lower_bound(config, fabric, plan, subflows)
    return _fluid_result(config, fabric, plan, subflows, progress, cct, bound, spray)


def _fluid_result(config, fabric, plan, subflows, progress, cct, ideal, spray) -> Result:
    loads = link_loads(fabric, subflows)
    max_load, max_fabric = load_metrics(fabric, loads)
    fct = progress.received_s - progress.launched_s
    per_host, extra = subflow_stats(fabric, subflows, plan.n_transfers)
    names = fabric.link_names
    link_bytes = {names[i]: float(v) for i, v in enumerate(loads)}
    return Result(
        model="fluid", cct_s=cct, ideal_cct_s=ideal, completed=progress.finished(),
        job_cct_s=progress.job_cct(), flow_completion_s=fct, link_bytes=link_bytes,
        data_link_bytes=dict(link_bytes), max_link_load=max_load, max_fabric_load=max_fabric,
        subflows_per_host=per_host, extra_subflows=extra, sim_time_s=cct if np.isfinite(cct) else 0.0,
        spray_fluid_cct_s=spray,
    )
