"""Collective workloads as step-by-step transfer plans with real dependencies, and their progress tracker.

A plan lists transfers (job, step, src rank -> dst rank, bytes) as numpy arrays. Rank r of a job starts
step k once it has received every transfer of step k-1 addressed to it (step 0 starts after the rank's
start jitter). Patterns: ring / halving-doubling / direct all-reduce, all-to-all, ring all-gather,
permutation (a random derangement), single flow (rank 0 sends its buffer to rank 1; the others idle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.datacenter.config import WorkloadConfig


@dataclass(frozen=True)
class Transfer:
    """One point-to-point transfer of a collective step (a row of a Plan, for reading)."""

    tid: int
    job: int
    step: int
    src_rank: int
    dst_rank: int
    src: int
    dst: int
    nbytes: int


def _chunk(total: int, parts: int) -> int:
    return max(1, total // parts)


def _ring(n: int, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = np.arange(n)
    return r, (r + 1) % n, np.full(n, c)


def _all_pairs(n: int, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.repeat(np.arange(n), n - 1)
    off = np.tile(np.arange(1, n), n)
    return src, (src + off) % n, np.full(n * (n - 1), c)


def pattern_steps(pattern: str, ranks: int, message: int, rng: np.random.Generator) -> list[tuple]:
    """Per step, arrays (src_rank, dst_rank, bytes) of `pattern` on `ranks` ranks (per-rank buffer)."""
    n = ranks
    if pattern == "ring_allreduce":
        return [_ring(n, _chunk(message, n)) for _ in range(2 * (n - 1))]
    if pattern == "all_gather":
        return [_ring(n, _chunk(message, n)) for _ in range(n - 1)]
    if pattern == "hd_allreduce":
        logn = n.bit_length() - 1
        r = np.arange(n)
        halving = [(r, r ^ (n >> (i + 1)), np.full(n, _chunk(message, 2 ** (i + 1)))) for i in range(logn)]
        return halving + halving[::-1]  # reduce-scatter by recursive halving, all-gather by doubling
    if pattern == "direct_allreduce":
        return [_all_pairs(n, _chunk(message, n)), _all_pairs(n, _chunk(message, n))]
    if pattern == "all_to_all":
        return [_all_pairs(n, _chunk(message, n))]
    if pattern == "single_flow":
        return [(np.array([0]), np.array([1]), np.array([message]))]
    if pattern == "permutation":
        perm = rng.permutation(n)
        while np.any(perm == np.arange(n)):  # a derangement: nobody sends to itself
            perm = rng.permutation(n)
        return [(np.arange(n), perm, np.full(n, message))]
    raise ValueError(f"WorkloadConfig.pattern: unknown pattern {pattern!r}")


@dataclass
class Plan:
    """All transfers of all jobs as arrays, rank-to-host maps, start times, and step dependency tables.

    Ranks are numbered globally (`rank_base[job] + rank`); a (rank, step) pair has key
    `key_base[rank] + step`. `send_order[send_ptr[key]:send_ptr[key + 1]]` are the transfers a rank sends
    in a step; `expected[key]` is how many it must receive before its next step.
    """

    job: np.ndarray
    step: np.ndarray
    src_rank: np.ndarray
    dst_rank: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    nbytes: np.ndarray
    rank_hosts: list[list[int]]
    rank_base: np.ndarray
    rank_job: np.ndarray
    rank_steps: np.ndarray
    key_base: np.ndarray
    start_s: np.ndarray
    send_order: np.ndarray
    send_ptr: np.ndarray
    expected: np.ndarray
    recv_key: np.ndarray
    recv_rank: np.ndarray

    @property
    def n_transfers(self) -> int:
        """Number of transfers."""
        return int(self.nbytes.size)

    @property
    def n_ranks(self) -> int:
        """Number of ranks over all jobs."""
        return int(self.rank_job.size)

    def transfer(self, tid: int) -> Transfer:
        """Transfer `tid` as a small record."""
        j = int(self.job[tid])
        return Transfer(tid, j, int(self.step[tid]), int(self.src_rank[tid]), int(self.dst_rank[tid]),
                        int(self.src[tid]), int(self.dst[tid]), int(self.nbytes[tid]))


def build_plan(workload: WorkloadConfig, hosts: int, seed: int) -> Plan:
    """Place jobs' ranks on hosts and list every transfer with its step (deterministic in `seed`)."""
    workload.validate(hosts)
    rng = np.random.default_rng([seed, 5])
    ranks = workload.ranks_per_job(hosts)
    order = np.arange(hosts) if workload.placement == "sequential" else rng.permutation(hosts)
    rank_hosts = [[int(h) for h in order[j * ranks:(j + 1) * ranks]] for j in range(workload.jobs)]
    cols: dict[str, list] = {k: [] for k in ("job", "step", "src_rank", "dst_rank", "nbytes")}
    n_steps = []
    starts = []
    for job in range(workload.jobs):
        steps = pattern_steps(workload.pattern, ranks, workload.message_bytes, rng)
        n_steps.append(len(steps))
        for k, (sr, dr, nb) in enumerate(steps):
            cols["job"].append(np.full(sr.size, job))
            cols["step"].append(np.full(sr.size, k))
            cols["src_rank"].append(sr)
            cols["dst_rank"].append(dr)
            cols["nbytes"].append(nb)
        jit = rng.uniform(0.0, workload.jitter_s, size=ranks) if workload.jitter_s > 0 else np.zeros(ranks)
        starts.append(jit)
    arr = {k: np.concatenate(v).astype(np.int64) for k, v in cols.items()}
    hosts_of = np.array(rank_hosts, dtype=np.int64)
    rank_base = np.arange(workload.jobs, dtype=np.int64) * ranks
    rank_job = np.repeat(np.arange(workload.jobs), ranks)
    rank_steps = np.repeat(np.array(n_steps, dtype=np.int64), ranks)
    key_base = np.concatenate([[0], np.cumsum(rank_steps + 1)])[:-1]
    n_keys = int((rank_steps + 1).sum())
    send_rank = rank_base[arr["job"]] + arr["src_rank"]
    recv_rank = rank_base[arr["job"]] + arr["dst_rank"]
    send_key = key_base[send_rank] + arr["step"]
    recv_key = key_base[recv_rank] + arr["step"]
    send_order = np.argsort(send_key, kind="stable")
    send_ptr = np.searchsorted(send_key[send_order], np.arange(n_keys + 1))
    return Plan(
        job=arr["job"], step=arr["step"], src_rank=arr["src_rank"], dst_rank=arr["dst_rank"],
        src=hosts_of[arr["job"], arr["src_rank"]], dst=hosts_of[arr["job"], arr["dst_rank"]],
        nbytes=arr["nbytes"], rank_hosts=rank_hosts, rank_base=rank_base, rank_job=rank_job,
        rank_steps=rank_steps, key_base=key_base, start_s=np.concatenate(starts),
        send_order=send_order, send_ptr=send_ptr, expected=np.bincount(recv_key, minlength=n_keys),
        recv_key=recv_key, recv_rank=recv_rank,
    )


class Progress:
    """Tracks which step each rank is in; tells a simulator which transfers to launch after each arrival."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.cur = np.full(plan.n_ranks, -1, dtype=np.int64)
        self.got = np.zeros(plan.expected.size, dtype=np.int64)
        self.done_s = np.full(plan.n_ranks, np.inf)
        self.launched_s = np.full(plan.n_transfers, np.nan)
        self.received_s = np.full(plan.n_transfers, np.inf)
        self.n_done = 0

    def start_rank(self, rank: int, now: float) -> np.ndarray:
        """Begin step 0 of global rank `rank`; returns the transfer ids to launch now."""
        return self._enter(rank, 0, now)

    def _enter(self, rank: int, k: int, now: float) -> np.ndarray:
        plan = self.plan
        out = []
        while True:
            if k >= plan.rank_steps[rank]:
                if not np.isfinite(self.done_s[rank]):
                    self.n_done += 1
                self.done_s[rank] = now
                self.cur[rank] = k
                break
            self.cur[rank] = k
            key = plan.key_base[rank] + k
            tids = plan.send_order[plan.send_ptr[key]:plan.send_ptr[key + 1]]
            self.launched_s[tids] = now
            out.append(tids)
            if self.got[key] < plan.expected[key]:
                break
            k += 1
        return np.concatenate(out) if len(out) > 1 else (out[0] if out else np.zeros(0, dtype=np.int64))

    def on_received(self, tids, now: float) -> np.ndarray:
        """Transfers `tids` (an id or an array) fully arrived at `now`; returns transfers to launch now."""
        plan = self.plan
        tids = np.atleast_1d(np.asarray(tids, dtype=np.int64))
        self.received_s[tids] = now
        np.add.at(self.got, plan.recv_key[tids], 1)
        out = []
        ranks = plan.recv_rank[tids]
        if ranks.size > 1:
            ranks = np.sort(ranks)
            ranks = ranks[np.concatenate([[True], ranks[1:] != ranks[:-1]])]
        for rank in ranks:
            k = self.cur[rank]
            if 0 <= k < plan.rank_steps[rank]:
                key = plan.key_base[rank] + k
                if self.got[key] >= plan.expected[key]:
                    out.append(self._enter(int(rank), int(k) + 1, now))
        if not out:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(out)

    def finished(self) -> bool:
        """Whether every rank of every job finished all its steps."""
        return self.n_done == self.done_s.size

    def job_cct(self) -> list[float]:
        """Completion time of every job (inf for unfinished ones), measured from time 0."""
        return [float(np.max(self.done_s[self.plan.rank_job == j])) for j in range(len(self.plan.rank_hosts))]
