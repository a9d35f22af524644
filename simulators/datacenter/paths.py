"""Path selection: which spine(s) each transfer's bytes take, as transport-level subflows.

Policies: `ecmp` (one hashed spine per flow), `subflows` (k equal subflows, each hashed), `spray_rr` /
`spray_random` (one subflow whose packets go round-robin / at random over the spines), `reps` (one subflow
whose sender recycles the spines of unmarked ACKs; at the fluid level an even spread like spraying), and `min_split`
(per sender, step, destination leaf and flow size: n - n mod s whole flows round-robin over the s spines
and each of the r = n mod s leftover flows split into s / gcd(r, s) equal pieces spread evenly).
Everything is vectorized over transfers (numpy), so million-flow all-to-alls are assigned in a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from simulators.datacenter.collectives import Plan
from simulators.datacenter.config import PathConfig
from simulators.datacenter.topology import Fabric

LOCAL, FIXED, SPRAY_RR, SPRAY_RANDOM, REPS = 0, 1, 2, 3, 4
MODE_NAMES = {LOCAL: "local", FIXED: "fixed", SPRAY_RR: "spray_rr", SPRAY_RANDOM: "spray_random", REPS: "reps"}


@dataclass
class Subflows:
    """Transport connections as arrays: transfer id, endpoints, bytes, mode, spine set (index into `sets`).

    `sets[set_id]` is the tuple of spines a subflow uses (one for fixed paths, several for spraying, none for
    hosts on one leaf); `offset` is where a round-robin sprayer starts in its set.
    """

    tid: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    nbytes: np.ndarray
    mode: np.ndarray
    set_id: np.ndarray
    offset: np.ndarray
    sets: list[tuple[int, ...]]

    def __len__(self) -> int:
        return int(self.tid.size)

    def spines(self, i: int) -> tuple[int, ...]:
        """Spines of subflow i."""
        return self.sets[self.set_id[i]]


def split_bytes(total: int, parts: int) -> list[int]:
    """`total` bytes in `parts` pieces differing by at most one byte (larger pieces first)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def min_split_extra(n: int, s: int) -> int:
    """Extra subflows the minimal splitting rule creates for n equal flows over s uplinks."""
    r = n % s
    return 0 if r == 0 else r * (s // math.gcd(r, s) - 1)


class _Candidates:
    """Per (src leaf, dst leaf): the spine set a policy may use, as set ids and a padded array."""

    def __init__(self, fabric: Fabric, failure_aware: bool):
        s, lv = fabric.n_spines, fabric.n_leaves
        self.sets: list[tuple[int, ...]] = [(j,) for j in range(s)] + [()]
        self.local_id = s
        index = {t: i for i, t in enumerate(self.sets)}
        self.set_id = np.zeros((lv, lv), dtype=np.int64)
        self.count = np.zeros((lv, lv), dtype=np.int64)
        self.spine = np.zeros((lv, lv, s), dtype=np.int64)
        for a in range(lv):
            for b in range(lv):
                cand = () if a == b else (fabric.usable_spines(a, b) if failure_aware else tuple(range(s)))
                if cand not in index:
                    index[cand] = len(self.sets)
                    self.sets.append(cand)
                self.set_id[a, b] = index[cand]
                self.count[a, b] = len(cand)
                self.spine[a, b, :len(cand)] = cand


def assign(fabric: Fabric, plan: Plan, path: PathConfig, seed: int) -> Subflows:
    """Subflows of every transfer of `plan` under `path.policy` (hash choices deterministic in `seed`)."""
    path.validate()
    rng = np.random.default_rng([seed, 17])
    cand = _Candidates(fabric, path.failure_aware)
    hpl = fabric.hosts_per_leaf
    tid = np.arange(plan.n_transfers)
    la, lb = plan.src // hpl, plan.dst // hpl
    inter = la != lb
    pieces = np.ones(tid.size, dtype=np.int64)
    if path.policy == "subflows":
        pieces = np.where(inter, np.minimum(path.subflows, plan.nbytes), 1)
    elif path.policy == "min_split":
        pieces = _min_split_pieces(plan, la, lb, inter, cand.count)
    # expand transfers into subflows: piece j of transfer t
    t = np.repeat(tid, pieces)
    j = np.arange(t.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    p = pieces[t]
    base, extra = np.divmod(plan.nbytes[t], p)
    nbytes = base + (j < extra)
    a, b = la[t], lb[t]
    is_inter = inter[t]
    mode = np.where(is_inter, FIXED, LOCAL).astype(np.int8)
    set_id = np.full(t.size, cand.local_id, dtype=np.int64)
    offset = np.zeros(t.size, dtype=np.int64)
    count = cand.count[a, b]
    u = rng.random(t.size)
    if path.policy in ("ecmp", "subflows"):
        choice = np.minimum((u * count).astype(np.int64), np.maximum(count - 1, 0))
        set_id = np.where(is_inter, cand.spine[a, b, choice], set_id)
    elif path.policy in ("spray_rr", "spray_random", "reps"):
        mode[is_inter] = {"spray_rr": SPRAY_RR, "spray_random": SPRAY_RANDOM, "reps": REPS}[path.policy]
        set_id = np.where(is_inter, cand.set_id[a, b], set_id)
        offset = np.where(is_inter, np.minimum((u * count).astype(np.int64), np.maximum(count - 1, 0)), 0)
    elif path.policy == "min_split":
        # slots start at the sender's index so that senders of one leaf begin on different spines
        slot = _min_split_slots(plan, la, lb, inter, cand.count, t, j, p) + plan.src[t]
        spine = cand.spine[a, b, np.where(is_inter, slot % np.maximum(count, 1), 0)]
        set_id = np.where(is_inter, spine, set_id)
    return Subflows(t, plan.src[t], plan.dst[t], nbytes.astype(np.int64), mode, set_id, offset, cand.sets)


def _groups(plan: Plan, lb: np.ndarray, inter: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group inter-leaf transfers by (job, step, src, dst leaf, bytes): order, group id, rank in group."""
    order = np.lexsort((np.arange(inter.size), plan.nbytes, lb, plan.src, plan.step, plan.job))
    order = order[inter[order]]
    keys = np.stack([plan.job, plan.step, plan.src, lb, plan.nbytes])[:, order]
    new = np.ones(order.size, dtype=bool)
    if order.size > 1:
        new[1:] = np.any(keys[:, 1:] != keys[:, :-1], axis=0)
    gid = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    rank = np.arange(order.size) - first[gid]
    return order, gid, rank


def _min_split_pieces(plan, la, lb, inter, count) -> np.ndarray:
    order, gid, rank = _groups(plan, lb, inter)
    pieces = np.ones(inter.size, dtype=np.int64)
    if order.size == 0:
        return pieces
    n = np.bincount(gid)[gid]
    s = count[la[order], lb[order]]
    r = n % s
    whole = n - r
    split = s // np.gcd(r, s)
    pieces[order] = np.where(rank < whole, 1, np.minimum(split, plan.nbytes[order]))
    return pieces


def _min_split_slots(plan, la, lb, inter, count, t, j, p) -> np.ndarray:
    """Uplink slot of every subflow: whole flows round-robin, leftover pieces spread evenly after them."""
    order, gid, rank = _groups(plan, lb, inter)
    rank_of = np.zeros(inter.size, dtype=np.int64)
    rank_of[order] = rank
    n_of = np.zeros(inter.size, dtype=np.int64)
    if order.size:
        n_of[order] = np.bincount(gid)[gid]
    s = np.maximum(count[la, lb], 1)
    r = n_of % s
    whole = n_of - r
    split = s // np.gcd(r, s)
    rk = rank_of[t]
    leftover_slot = whole[t] + (rk - whole[t]) * split[t] + j
    return np.where(rk < whole[t], rk, leftover_slot)


def link_loads(fabric: Fabric, sub: Subflows, exact: bool = False) -> np.ndarray:
    """Data bytes offered to every directed link (by link index); sprayed bytes count 1/|spines| per spine.

    exact=True returns an object array of Fractions (no rounding), for exact comparisons on small cases.
    """
    hpl = fabric.hosts_per_leaf
    if exact:
        loads = np.array([Fraction(0)] * fabric.n_links, dtype=object)
        for i in range(len(sub)):
            size = Fraction(int(sub.nbytes[i]))
            src, dst = int(sub.src[i]), int(sub.dst[i])
            loads[fabric.nic_up(src)] += size
            loads[fabric.nic_down(dst)] += size
            spines = sub.spines(i)
            for sp in spines:
                loads[fabric.uplink(src // hpl, sp)] += size / len(spines)
                loads[fabric.downlink(sp, dst // hpl)] += size / len(spines)
        return loads
    loads = np.zeros(fabric.n_links)
    size = sub.nbytes.astype(float)
    np.add.at(loads, sub.src, size)
    np.add.at(loads, fabric.n_hosts + sub.dst, size)
    for sid in np.unique(sub.set_id):
        spines = sub.sets[sid]
        if not spines:
            continue
        m = sub.set_id == sid
        a, b, share = sub.src[m] // hpl, sub.dst[m] // hpl, size[m] / len(spines)
        for sp in spines:
            np.add.at(loads, 2 * fabric.n_hosts + a * fabric.n_spines + sp, share)
            np.add.at(loads, 2 * fabric.n_hosts + (fabric.n_leaves + b) * fabric.n_spines + sp, share)
    return loads


def ideal_policy(path: PathConfig) -> PathConfig:
    """The ideal-spraying reference for `path` (failure-aware packet spraying)."""
    return PathConfig(policy="spray_rr", subflows=path.subflows, failure_aware=True)
