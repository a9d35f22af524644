"""Job streams: Poisson, bursty on/off and trace-file arrivals, with each job's instance parameters."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from simulators.core.textfile import read_utf8
from simulators.workloads.config import JobClass, WorkloadConfig, instance_family

TRACE_COLUMNS = (
    "arrival",
    "n",
    "class",
    "alpha",
    "k",
    "weighted",
    "hard_fraction",
    "deadline",
    "quality_target",
    "optimum",
)


class JobSpec(NamedTuple):
    """One arriving job: arrival time, instance parameters, relative deadline, quality target and hardness.

    `hardness` is a uniform(0, 1) quantile drawn per job: the service model maps it to how long this instance
    takes (the same instance is equally hard, relatively, for every solver).
    """

    id: int
    arrival: float
    n: int
    kind: str
    alpha: float
    k: int
    weighted: bool
    hard_fraction: float
    deadline: float
    target: float
    optimum: bool
    hardness: float

    @property
    def family(self) -> str:
        return instance_family(self.k, self.alpha, self.weighted, self.hard_fraction)


def generate_jobs(
    config: WorkloadConfig,
    rng_arrivals: np.random.Generator,
    rng_jobs: np.random.Generator,
    horizon: float | None = None,
) -> list[JobSpec]:
    """All jobs of a run in arrival order: arrival times from `rng_arrivals`, instances from `rng_jobs`."""
    if config.arrivals == "trace":
        jobs = read_trace(config.trace, config.mix)
        jobs = [j for j in jobs if horizon is None or j.arrival < horizon]
        if config.n_jobs is not None:
            jobs = jobs[: config.n_jobs]
        hardness = rng_jobs.random(len(jobs))
        return [j._replace(id=i, hardness=float(h)) for i, (j, h) in enumerate(zip(jobs, hardness))]
    if config.arrivals == "poisson":
        times = _poisson_times(config.rate, config.n_jobs, horizon, rng_arrivals)
    else:
        times = _onoff_times(config, horizon, rng_arrivals)
    count = len(times)
    shares = np.array([c.share for c in config.mix], float)
    which = rng_jobs.choice(len(config.mix), size=count, p=shares / shares.sum())
    unit = rng_jobs.random(count)
    hardness = rng_jobs.random(count)
    jobs = []
    for i in range(count):
        c = config.mix[which[i]]
        n = _log_uniform_int(c.n_min, c.n_max, unit[i])
        jobs.append(
            JobSpec(
                i,
                float(times[i]),
                n,
                c.name,
                c.alpha,
                c.k,
                c.weighted,
                c.hard_fraction,
                c.deadline,
                c.quality_target,
                c.optimum,
                float(hardness[i]),
            )
        )
    return jobs


def _log_uniform_int(low: int, high: int, u: float) -> int:
    if low == high:
        return low
    value = math.exp(math.log(low) + u * (math.log(high + 1) - math.log(low)))
    return int(min(high, max(low, math.floor(value))))


def _poisson_times(rate: float, n_jobs: int | None, horizon: float | None, rng: np.random.Generator) -> np.ndarray:
    if n_jobs is not None:
        times = np.cumsum(rng.exponential(1.0 / rate, size=n_jobs))
        return times[times < horizon] if horizon is not None else times
    chunks, now = [], 0.0
    while now < horizon:
        chunk = now + np.cumsum(rng.exponential(1.0 / rate, size=max(16, int(rate * horizon / 4) + 1)))
        chunks.append(chunk)
        now = float(chunk[-1])
    times = np.concatenate(chunks)
    return times[times < horizon]


def _onoff_times(config: WorkloadConfig, horizon: float | None, rng: np.random.Generator) -> np.ndarray:
    """Markov-modulated Poisson arrivals: ON periods at `rate`, OFF periods at `off_rate`, starting ON."""
    limit = config.n_jobs if config.n_jobs is not None else math.inf
    end = horizon if horizon is not None else math.inf
    out: list[float] = []
    now, on = 0.0, True
    while len(out) < limit and now < end:
        length = rng.exponential(config.on_mean if on else config.off_mean)
        rate = config.rate if on else config.off_rate
        stop = min(now + length, end)
        if rate > 0:
            t = now
            while True:
                t += rng.exponential(1.0 / rate)
                if t >= stop or len(out) >= limit:
                    break
                out.append(t)
        now, on = now + length, not on
    return np.asarray(out, float)


def read_trace(path: str | Path, mix: tuple[JobClass, ...]) -> list[JobSpec]:
    """Jobs of a CSV trace with a header row: `arrival,n` required, other TRACE_COLUMNS optional.

    Missing optional values come from the job class named in the `class` column (default: the first class of
    `mix`). Arrival times must be non-decreasing. Errors name the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"WorkloadConfig.trace: file {path} does not exist")
    classes = {c.name: c for c in mix}
    jobs: list[JobSpec] = []
    text = read_utf8(path, "trace")
    with io.StringIO(text, newline="") as handle:
        reader = csv.reader(handle)
        header = None
        last = 0.0
        for line, row in _rows(reader, path):
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            cells = [cell.strip() for cell in row]
            if header is None:
                header = cells
                unknown = [h for h in header if h not in TRACE_COLUMNS]
                if unknown:
                    raise ValueError(f"{path}:{line}: unknown column(s) {unknown}; allowed: {', '.join(TRACE_COLUMNS)}")
                missing = [h for h in ("arrival", "n") if h not in header]
                if missing:
                    raise ValueError(f"{path}:{line}: header lacks required column(s) {missing}")
                continue
            if len(cells) != len(header):
                raise ValueError(f"{path}:{line}: expected {len(header)} fields ({','.join(header)}), got {len(cells)}")
            values = dict(zip(header, cells))
            job = _trace_job(values, classes, mix[0], path, line, len(jobs))
            if job.arrival < last:
                raise ValueError(f"{path}:{line}: arrival {job.arrival} is earlier than the previous one ({last})")
            last = job.arrival
            jobs.append(job)
    if header is None:
        raise ValueError(f"{path}:1: empty trace: only comments or blank lines (a header `arrival,n,...` is required)")
    return jobs


def _rows(reader, path: Path):
    """(line number, row) of a csv reader; a malformed row raises a ValueError naming the file and line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise ValueError(f"{path}:{reader.line_num}: not a valid CSV row ({err})") from None
        yield reader.line_num, row


def _trace_job(values: dict, classes: dict, default: JobClass, path: Path, line: int, index: int) -> JobSpec:
    def number(name, cast, low, high, fallback):
        text = values.get(name, "")
        if text == "":
            return fallback
        try:
            value = cast(text)
        except ValueError:
            raise ValueError(f"{path}:{line}: column {name}: {text!r} is not a valid {cast.__name__}") from None
        if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"{path}:{line}: column {name}: {value} outside [{low}, {high}]")
        return value

    name = values.get("class", "") or default.name
    if name not in classes:
        raise ValueError(f"{path}:{line}: column class: unknown class {name!r}; known: {', '.join(classes)}")
    c = classes[name]
    arrival = number("arrival", float, 0.0, math.inf, None)
    if arrival is None or not math.isfinite(arrival):
        raise ValueError(f"{path}:{line}: column arrival: a finite time >= 0 is required")
    n = number("n", int, 1, 10**9, None)
    if n is None:
        raise ValueError(f"{path}:{line}: column n: a number of variables is required")
    k = number("k", int, 1, n, c.k)

    def boolean(name, fallback):
        text = values.get(name, "").lower()
        if text == "":
            return fallback
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no"):
            return False
        raise ValueError(f"{path}:{line}: column {name}: {text!r} is not a boolean (true/false/1/0)")

    weighted = boolean("weighted", c.weighted)
    optimum = boolean("optimum", c.optimum)
    deadline = number("deadline", float, 0.0, math.inf, c.deadline)
    if deadline <= 0:
        raise ValueError(f"{path}:{line}: column deadline: must be > 0, got {deadline}")
    target = number("quality_target", float, 0.0, 1.0, c.quality_target)
    if target <= 0:
        raise ValueError(f"{path}:{line}: column quality_target: must be in (0, 1], got {target}")
    return JobSpec(
        index,
        arrival,
        n,
        name,
        number("alpha", float, 1e-9, 1e6, c.alpha),
        k,
        weighted,
        number("hard_fraction", float, 0.0, 0.999999, c.hard_fraction),
        deadline,
        target,
        optimum,
        0.0,
    )
