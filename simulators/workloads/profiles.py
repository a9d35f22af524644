"""Time-to-quality profiles of MAX-SAT solvers, measured with problems.maxsat and cached on disk as JSON.

A profile holds, per measured instance size n, a few runs of one solver on sampled instances of one family
(k, alpha, weighting, hard share). Each run is a trace of (seconds, quality), quality being the satisfied
fraction of the soft weight (0 while a hard clause is violated), plus the run's end (when the solver stopped
by itself: an exact solver that proved optimality, a local search that satisfied everything; None if it ran
to the time limit) and the best-known quality of its instance (the exact optimum when an exact solver
finished, else the best any measured solver reached). Runs at a size are ordered from easy to hard; a job's
hardness in [0, 1) picks one, and queries interpolate between the two neighbouring sizes in log-log (log
time against log n), extrapolating with the nearest segment's slope (clipped to [0, MAX_SLOPE]) outside them.

Rebuild the cache (each file stores the command that made it):
    python -m simulators.workloads.profiles            # probsat and rc2 on random 3-SAT, alpha 4.27
    python -m simulators.workloads.profiles --list     # what is cached, and how each file was made
    python -m simulators.workloads.profiles --solvers probsat rc2 polystep --sizes 20 40 80 160 320 --instances 5
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from polystep.validate import check_choice
from simulators.workloads.config import JobClass, ServiceConfig, SimConfig, instance_family

FORMAT = 1
MIN_TIME = 1e-6  # seconds; floor before taking logs
MAX_SLOPE = 3.0  # bound on the log-log slope used to extrapolate beyond the measured sizes
EPS = 1e-12  # tolerance of quality comparisons


def default_dir() -> Path:
    """~/.cache/polystep/maxsat_profiles (or $POLYSTEP_CACHE/maxsat_profiles)."""
    root = os.environ.get("POLYSTEP_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "polystep")
    return Path(root) / "maxsat_profiles"


def profile_path(directory: str | Path, solver: str, family: str, sizes, instances: int, time_limit: float) -> Path:
    """File of the (solver, family) profile measured at these sizes, instances per size and time limit."""
    spec = f"n{'-'.join(str(int(n)) for n in sizes)}_r{int(instances)}_t{float(time_limit):g}"
    return Path(directory) / f"{solver}__{family}__{spec}.json"


class Run(NamedTuple):
    """One measured run as a step function: quality `quality[k]` (strictly increasing) reached at `times[k]`;
    `end` when the solver stopped by itself (inf: ran to the limit); `best` the instance's best-known quality.
    `padded` is `times` with inf appended (the answer for a quality never reached).
    """

    times: np.ndarray
    quality: np.ndarray
    end: float
    best: float
    padded: np.ndarray

    def time_to(self, q: float) -> float:
        """First time the run reaches quality q (inf if never)."""
        return float(self.padded[bisect.bisect_left(self.quality, q - EPS)])

    def times_to(self, q: np.ndarray) -> np.ndarray:
        """`time_to` over an array of qualities."""
        return self.padded[np.searchsorted(self.quality, q - EPS, side="left")]


def _make_run(times, quality, end, best) -> Run:
    order = np.argsort(times, kind="stable")
    times, quality = np.asarray(times, float)[order], np.asarray(quality, float)[order]
    keep = np.ones(len(quality), bool)
    keep[1:] = quality[1:] > np.maximum.accumulate(quality)[:-1] + EPS  # improvements only
    times = np.maximum(times[keep], MIN_TIME)
    return Run(times, quality[keep], end, best, np.append(times, math.inf))


def _proof_time(run: Run) -> float:
    """When the run proves optimality: it stops by itself at the best-known quality (inf if it never does)."""
    return run.end if run.quality[-1] >= run.best - EPS else math.inf


def _log_lerp(a: float, b: float, w: float, span: float) -> float:
    """Log-log interpolation of times a (at the lower size) and b (upper size) at weight w; inf if either is.

    Between the sizes (0 <= w <= 1) the line through both points; outside them its slope is clipped to
    [0, MAX_SLOPE] (larger instances never get faster, nor explode faster than n^MAX_SLOPE).
    """
    if w == 0.0:
        return a
    if math.isinf(a) or math.isinf(b):
        return math.inf
    la, lb = math.log(a), math.log(b)
    if w > 1.0 or w < 0.0:
        lb = la + min(max(lb - la, 0.0), MAX_SLOPE * span)
    return math.exp(la + w * (lb - la))


def _log_lerp_array(a: np.ndarray, b: np.ndarray, w: float, span: float) -> np.ndarray:
    """`_log_lerp` elementwise."""
    if w == 0.0:
        return a
    finite = np.isfinite(a) & np.isfinite(b)
    la = np.log(np.where(finite, a, 1.0))
    lb = np.log(np.where(finite, b, 1.0))
    if w > 1.0 or w < 0.0:
        lb = la + np.minimum(np.maximum(lb - la, 0.0), MAX_SLOPE * span)
    return np.where(finite, np.exp(la + w * (lb - la)), math.inf)


@dataclass(frozen=True)
class Profile:
    """Time-to-quality of one solver on one instance family at measured sizes (see the module docstring).

    `runs[i]` holds the runs measured at size `sizes[i]`, ordered from easy to hard.
    """

    solver: str
    family: str
    sizes: np.ndarray
    runs: tuple[tuple[Run, ...], ...]
    time_limit: float
    command: str = ""

    def __post_init__(self):
        object.__setattr__(self, "_logs", [math.log(float(n)) for n in self.sizes])

    @classmethod
    def from_runs(cls, solver: str, family: str, runs: list[dict], time_limit: float, command: str = "") -> Profile:
        """Build from runs `{"n", "times", "quality"}` with optional `"end"` (None = ran to the limit) and
        `"best"` (default: the run's own best quality)."""
        if not runs:
            raise ValueError(f"profile {solver}/{family}: no runs")
        if not (isinstance(time_limit, (int, float)) and 0 < time_limit < math.inf):
            raise ValueError(f"profile {solver}/{family}: time_limit must be a positive number, got {time_limit!r}")
        by_size: dict[int, list[Run]] = {}
        for raw in runs:
            times, quality = np.asarray(raw["times"], float), np.asarray(raw["quality"], float)
            if times.ndim != 1 or times.shape != quality.shape or times.size == 0 or not np.all(times >= 0):
                raise ValueError(f"profile {solver}/{family}: run at n={raw.get('n')} has a malformed trace")
            if not np.all((quality >= 0) & (quality <= 1)):
                raise ValueError(f"profile {solver}/{family}: run at n={raw.get('n')} has qualities outside [0, 1]")
            end = math.inf if raw.get("end") is None else float(raw["end"])
            best = float(raw.get("best", quality.max()))
            by_size.setdefault(int(raw["n"]), []).append(_make_run(times, quality, end, best))
        sizes = np.array(sorted(by_size), float)
        # hardness order: lower final quality is harder; at equal final quality, slower is harder
        ordered = tuple(tuple(sorted(by_size[int(n)], key=lambda r: (-r.quality[-1], r.times[-1]))) for n in sizes)
        return cls(solver, family, sizes, ordered, float(time_limit), command)

    def _pair(self, n: float, hardness: float) -> tuple[Run, Run, float, float]:
        """The runs picked by `hardness` at the two sizes around n, the weight of the upper one (outside
        [0, 1] when extrapolating) and the log span between them."""

        def pick(i):
            runs = self.runs[i]
            return runs[min(len(runs) - 1, int(hardness * len(runs)))]

        if len(self.sizes) == 1:
            run = pick(0)
            return run, run, 0.0, 1.0
        logs = self._logs
        i = min(max(bisect.bisect_left(logs, math.log(n)) - 1, 0), len(logs) - 2)
        lo, hi = logs[i], logs[i + 1]
        return pick(i), pick(i + 1), (math.log(n) - lo) / (hi - lo), hi - lo

    def time_to(self, n: float, quality: float, hardness: float = 0.5) -> float:
        """Solver seconds (speed 1) to reach `quality` on a size-n instance; inf if the profile never does."""
        a, b, w, span = self._pair(n, hardness)
        return _log_lerp(a.time_to(quality), b.time_to(quality), w, span)

    def quality_at(self, n: float, seconds: float, hardness: float = 0.5) -> float:
        """Best quality reached within `seconds` of solver time (0 if nothing yet)."""
        a, b, w, span = self._pair(n, hardness)
        return self._quality_at(a, b, w, span, seconds)

    @staticmethod
    def _quality_at(a: Run, b: Run, w: float, span: float, seconds: float) -> float:
        # the interpolated time-to-quality is a step function whose steps sit at the runs' quality values
        candidates = a.quality if a is b else np.concatenate([a.quality, b.quality])
        ok = _log_lerp_array(a.times_to(candidates), b.times_to(candidates), w, span) <= seconds * (1 + 1e-9)
        return float(candidates[ok].max()) if ok.any() else 0.0

    def end_time(self, n: float, hardness: float = 0.5) -> float:
        """When the solver stops by itself on such an instance (inf: it runs until its time limit)."""
        a, b, w, span = self._pair(n, hardness)
        return _log_lerp(a.end, b.end, w, span)

    def best_known(self, n: float, hardness: float = 0.5) -> float:
        """Best-known quality (satisfied weight fraction) of such an instance, linear in log n."""
        a, b, w, _ = self._pair(n, hardness)
        return min(1.0, max(0.0, a.best + min(max(w, 0.0), 1.0) * (b.best - a.best)))

    def attempt(
        self, n: float, hardness: float, target: float, limit: float, prove: bool = False
    ) -> tuple[float, float, bool, float]:
        """Run until `target` quality (with `prove`: until optimality is proven), the solver's own end, or
        `limit` solver seconds (capped at the profile's time limit): (solver seconds used, quality reached,
        target reached, best-known quality). A run proves optimality when it stops by itself at its
        instance's best-known quality."""
        a, b, w, span = self._pair(n, hardness)
        if prove:
            needed = _log_lerp(_proof_time(a), _proof_time(b), w, span)
        else:
            needed = _log_lerp(a.time_to(target), b.time_to(target), w, span)
        end = _log_lerp(a.end, b.end, w, span)
        stop = min(needed, end, limit, self.time_limit)
        quality = self._quality_at(a, b, w, span, stop)
        best = min(1.0, max(0.0, a.best + min(max(w, 0.0), 1.0) * (b.best - a.best)))
        return stop, quality, needed <= stop, best


def load_profile(path: str | Path) -> Profile:
    """Read one profile JSON file (errors name the file)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        runs = [
            {
                "n": r["n"],
                "times": [p[0] for p in r["trace"]],
                "quality": [p[1] for p in r["trace"]],
                "end": r.get("end"),
                **({"best": r["best"]} if "best" in r else {}),
            }
            for r in data["runs"]
        ]
        return Profile.from_runs(data["solver"], data["family"], runs, data["time_limit"], data.get("command", ""))
    except (OSError, KeyError, TypeError, IndexError, json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not a valid solver profile ({err})") from None


def build_command(solvers, sizes, instances, time_limit, cls: JobClass, directory: Path | None) -> str:
    """The shell command that measures these profiles."""
    parts = [
        "python -m simulators.workloads.profiles",
        "--solvers",
        *solvers,
        "--sizes",
        *map(str, sizes),
        "--instances",
        str(instances),
        "--time-limit",
        f"{time_limit:g}",
        "--k",
        str(cls.k),
        "--alpha",
        f"{cls.alpha:g}",
    ]
    if cls.weighted:
        parts += ["--weighted", "--max-weight", str(cls.max_weight)]
    if cls.hard_fraction > 0:
        parts += ["--hard-fraction", f"{cls.hard_fraction:g}"]
    if directory is not None:
        parts += ["--dir", str(directory)]
    return " ".join(parts)


def make_instance(n: int, cls: JobClass, seed: int):
    """A random instance of the job class's family (weights and hard clauses drawn from `seed`)."""
    from problems.maxsat import Formula, random_ksat

    base = random_ksat(n, cls.alpha, k=cls.k, seed=seed)
    rng = np.random.default_rng([seed, 1])
    m = base.n_clauses
    weights = rng.integers(1, cls.max_weight + 1, size=m) if cls.weighted else np.ones(m, np.int64)
    hard = np.zeros(m, bool)
    if cls.hard_fraction > 0:
        # hard clauses must stay satisfiable: keep those a planted assignment satisfies
        planted = rng.random(n) < 0.5
        lits = base.clauses
        value = np.where(lits > 0, planted[np.abs(lits) - 1], ~planted[np.abs(lits) - 1]) & (lits != 0)
        satisfied = value.any(axis=1)
        candidates = np.nonzero(satisfied)[0]
        chosen = rng.choice(candidates, size=min(len(candidates), int(round(cls.hard_fraction * m))), replace=False)
        hard[chosen] = True
    return Formula(base.n_vars, base.clauses, weights, hard)


EXACT_SOLVERS = ("rc2",)  # run to optimality, ignoring time limits: measured in a subprocess with a timeout
WARMUP_STEPS = 10  # steps of the warm-up run that compiles a solver's kernels before it is timed


def measure(
    solvers: tuple[str, ...],
    cls: JobClass,
    sizes: tuple[int, ...],
    instances: int,
    time_limit: float,
    seed: int = 0,
    log=sys.stderr,
) -> dict[str, dict]:
    """Run every solver on `instances` sampled instances per size; one profile dict (JSON-ready) per solver.

    Times exclude JIT compilation (a short warm-up run on the same instance precedes each timed run): a
    service's workers are long-lived. Exact solvers run in a subprocess killed at the time limit; once every
    instance of a size timed out, larger sizes are recorded as timed out without running. Quality is the
    satisfied soft-weight fraction; each run also stores its instance's best-known quality (the exact optimum
    when an exact solver finished, otherwise the best any solver reached) and when the solver stopped itself.
    """
    from problems.maxsat import SOLVERS, solve

    unknown = [s for s in solvers if s not in SOLVERS]
    if unknown:
        raise ValueError(f"solvers: unknown {unknown}; problems.maxsat offers {', '.join(SOLVERS)}")
    family = instance_family(cls.k, cls.alpha, cls.weighted, cls.hard_fraction)
    runs: dict[str, list[dict]] = {s: [] for s in solvers}
    exact = _ExactRunner()
    gave_up: set[str] = set()
    try:
        for n in sizes:
            timed_out = {s: 0 for s in solvers}
            for i in range(instances):
                inst_seed = int(np.random.SeedSequence([seed, n, i]).generate_state(1)[0])
                formula = make_instance(n, cls, inst_seed)
                traces = {}
                for solver in solvers:
                    skipped = solver in gave_up
                    if skipped:
                        trace, finished = [(time_limit, math.inf)], False
                    elif solver in EXACT_SOLVERS:
                        trace = exact.run(formula, solver, time_limit)
                        finished = trace is not None
                        trace = trace or [(time_limit, math.inf)]
                    else:
                        config = _solver_config(solver)
                        solve(
                            formula,
                            solver=solver,
                            time_limit=time_limit,
                            seed=i,
                            config=config,
                            max_steps=WARMUP_STEPS,
                        )
                        trace, finished = (
                            _trace_pairs(solve(formula, solver=solver, time_limit=time_limit, seed=i, config=config)),
                            True,
                        )
                    timed_out[solver] += not finished
                    traces[solver] = (trace, finished)
                    print(
                        f"[profiles] {solver} {family} n={n} #{i}: "
                        + (
                            f"cost {_final_cost(trace):g} at {trace[-1][0]:.3f}s"
                            if finished
                            else "skipped (timed out on every smaller instance)"
                            if skipped
                            else "timed out"
                        ),
                        file=log,
                        flush=True,
                    )
                best = min(_final_cost(tr) for tr, _ in traces.values())
                total = int(formula.soft_total)
                proved = any(finished and s in EXACT_SOLVERS for s, (_, finished) in traces.items())
                for solver, (trace, finished) in traces.items():
                    quality = _improvements([[t, _quality(c, total)] for t, c in trace])
                    stopped = finished and (solver in EXACT_SOLVERS or _final_cost(trace) <= 0)
                    runs[solver].append(
                        {
                            "n": n,
                            "m": formula.n_clauses,
                            "instance_seed": inst_seed,
                            "soft_total": total,
                            "best_cost": best,
                            "best": _quality(best, total),
                            "best_is_optimum": proved,
                            "end": trace[-1][0] if stopped else None,
                            "raw": [[t, c if math.isfinite(c) else None] for t, c in trace],
                            "trace": quality,
                        }
                    )
            gave_up |= {s for s, count in timed_out.items() if count == instances and s in EXACT_SOLVERS}
    finally:
        exact.close()
    host = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "node": platform.node(),
        "cpus": os.cpu_count(),
    }
    out = {}
    for solver in solvers:
        out[solver] = {
            "format": FORMAT,
            "solver": solver,
            "family": family,
            "k": cls.k,
            "alpha": cls.alpha,
            "weighted": cls.weighted,
            "max_weight": cls.max_weight,
            "hard_fraction": cls.hard_fraction,
            "sizes": list(sizes),
            "instances": instances,
            "time_limit": time_limit,
            "seed": seed,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "host": host,
            "runs": runs[solver],
        }
    return out


def _solver_config(solver: str):
    """Solver settings for profiling: probSAT checks the clock (and records its trace) every 2000 flips."""
    if solver == "probsat":
        from problems.maxsat import ProbSATConfig

        return ProbSATConfig(chunk_flips=2_000)
    return None


def _exact_worker(conn) -> None:
    """Subprocess loop: receive a formula, send back [(seconds, optimal cost)] of problems.maxsat's RC2."""
    from problems.maxsat import Formula, solve_exact

    solve_exact(Formula.from_lists(3, [[1, 2], [-1, 3], [-2, -3]]))  # load the SAT backend before timing
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            return
        formula, _solver = message
        t0 = time.perf_counter()
        _, cost = solve_exact(formula)
        conn.send([(time.perf_counter() - t0, float(cost))])


class _ExactRunner:
    """A spawned subprocess running exact solvers, killed (and restarted) when one exceeds its time."""

    def __init__(self) -> None:
        self.proc = None
        self.conn = None

    def run(self, formula, solver: str, time_limit: float) -> list[tuple[float, float]] | None:
        """The solver's trace, or None if it did not finish within `time_limit` seconds (plus 0.5 s slack)."""
        import multiprocessing

        if self.proc is None:
            ctx = multiprocessing.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_exact_worker, args=(child,), daemon=True)
            self.proc.start()
            if not self.conn.poll(300) or self.conn.recv() != "ready":
                self.close()
                raise RuntimeError("the exact-solver subprocess did not start")
        self.conn.send((formula, solver))
        if self.conn.poll(time_limit + 0.5):
            trace = self.conn.recv()
            return trace if trace[-1][0] <= time_limit else None
        self.proc.kill()
        self.proc.join()
        self.proc = self.conn = None
        return None

    def close(self) -> None:
        """Stop the subprocess."""
        if self.proc is not None:
            try:
                self.conn.send(None)
                self.proc.join(5)
            except (OSError, BrokenPipeError):
                pass
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
            self.proc = self.conn = None


def _trace_pairs(out) -> list[tuple[float, float]]:
    """(seconds, best cost so far) pairs of a solve() result's time-to-quality trace."""
    trace = [(float(p[0]), float(p[-1])) for p in out.trace]
    return trace or [(float(out.wall_s), float(out.cost))]


def _improvements(trace: list[list[float]]) -> list[list[float]]:
    """The points of a (seconds, quality) trace where quality improves, plus the last point."""
    out = []
    for point in trace:
        if not out or point[1] > out[-1][1]:
            out.append(point)
    if trace and out[-1] is not trace[-1]:
        out.append(trace[-1])
    return out


def _final_cost(trace) -> float:
    return min(c for _, c in trace)


def _quality(cost: float, total: float) -> float:
    """Satisfied fraction of the soft weight (0 if nothing was found or a hard clause is violated)."""
    if not math.isfinite(cost) or cost > total:  # a hard violation is priced above all soft weight
        return 0.0
    return 1.0 if total <= 0 else (total - cost) / total


def ensure_profiles(
    solvers,
    cls: JobClass,
    sizes,
    instances,
    time_limit,
    directory: str | Path | None = None,
    build_missing: bool = True,
    log=sys.stderr,
) -> dict[tuple[str, str], Profile]:
    """Profiles of `solvers` on the class's family from the cache, measuring (and caching) missing ones."""
    directory = Path(directory) if directory else default_dir()
    family = cls.family
    paths = {s: profile_path(directory, s, family, sizes, instances, time_limit) for s in solvers}
    missing = [s for s in solvers if not paths[s].is_file()]
    if missing:
        command = build_command(
            tuple(solvers),
            sizes,
            instances,
            time_limit,
            cls,
            None if directory == default_dir() else directory,
        )
        if not build_missing:
            raise ValueError(
                f"ServiceConfig.profile_dir: no profile for {', '.join(missing)} on {family} in "
                f"{directory}; build it with: {command}"
            )
        # measure every requested solver together: qualities share one best-known cost per instance
        for solver, data in measure(tuple(solvers), cls, tuple(sizes), instances, time_limit, log=log).items():
            data["command"] = command
            write_profile(paths[solver], data)
    return {(s, family): load_profile(paths[s]) for s in solvers}


def write_profile(path: Path, data: dict) -> None:
    """Write a profile JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def load_profiles(config: SimConfig) -> dict[tuple[str, str], Profile]:
    """Every (solver, family) profile a run needs: the pool's solvers on the mix's instance families."""
    service = config.service
    profiles: dict[tuple[str, str], Profile] = {}
    classes = {c.family: c for c in config.workload.mix}
    for cls in classes.values():
        profiles.update(
            ensure_profiles(
                config.pool.solvers,
                cls,
                service.profile_sizes,
                service.profile_instances,
                service.profile_time_limit,
                service.profile_dir,
                service.build_missing,
            )
        )
    return profiles


#: Solvers the bare command profiles: the CPU local search and the exact solver of problems.maxsat.
DEFAULT_SOLVERS = ("probsat", "rc2")


def list_profiles(directory: Path, out=None) -> int:
    """Print the cached profile files of `directory` (solver, family, sizes, when) and how to rebuild each."""
    out = out or sys.stdout
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        print(f"no solver profiles in {directory}; build the default set with: "
              "python -m simulators.workloads.profiles", file=out)
        return 0
    print(f"{len(files)} solver profile(s) in {directory}:", file=out)
    for path in files:
        try:
            data = json.loads(path.read_text())
            print(
                f"  {path.name}: {data['solver']} on {data['family']}, sizes {data['sizes']}, "
                f"{data['instances']} instance(s) per size, {data['time_limit']:g} s limit, made {data['created']}",
                file=out,
            )
            print(f"    rebuild: {data.get('command') or '(no command stored)'}", file=out)
        except (OSError, KeyError, TypeError, ValueError) as err:
            print(f"  {path.name}: unreadable ({err}); delete it and rebuild", file=out)
    return 0


#: Config fields as the command line calls them (for error messages).
_FLAGS = {
    "ServiceConfig.profile_sizes": "--sizes",
    "ServiceConfig.profile_instances": "--instances",
    "ServiceConfig.profile_time_limit": "--time-limit",
    "JobClass('profile').alpha": "--alpha",
    "JobClass('profile').k": "--k",
    "JobClass('profile').max_weight": "--max-weight",
    "JobClass('profile').hard_fraction": "--hard-fraction",
    "JobClass('profile').n_min": "--sizes",
    "JobClass('profile').n_max": "--sizes",
}


def main(argv: list[str] | None = None) -> int:
    """Command line: measure profiles and write them to the cache directory (or list what is cached)."""
    defaults = ServiceConfig()
    parser = argparse.ArgumentParser(
        prog="python -m simulators.workloads.profiles",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--solvers",
        nargs="+",
        default=list(DEFAULT_SOLVERS),
        help=f"solvers of problems.maxsat to profile (default: {' '.join(DEFAULT_SOLVERS)})",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=list(defaults.profile_sizes),
        help="instance sizes in variables, increasing (default: %(default)s)",
    )
    parser.add_argument(
        "--instances", type=int, default=defaults.profile_instances, help="instances per size (default: %(default)s)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=defaults.profile_time_limit,
        help="seconds per solver run (default: %(default)s)",
    )
    parser.add_argument("--k", type=int, default=3, help="literals per clause (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=4.27, help="clauses per variable (default: %(default)s)")
    parser.add_argument("--weighted", action="store_true", help="draw soft weights in 1..--max-weight")
    parser.add_argument("--max-weight", type=int, default=10, help="largest soft weight (default: %(default)s)")
    parser.add_argument(
        "--hard-fraction", type=float, default=0.0, help="share of clauses made hard (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled instances (default: %(default)s)")
    parser.add_argument("--dir", type=Path, default=None, help=f"cache directory (default {default_dir()})")
    parser.add_argument(
        "--list", action="store_true", help="list the cached profiles and how to rebuild them; measure nothing"
    )
    args = parser.parse_args(argv)
    directory = args.dir or default_dir()
    if args.list:
        return list_profiles(directory)
    try:
        ServiceConfig(
            profile_sizes=tuple(args.sizes),
            profile_instances=args.instances,
            profile_time_limit=args.time_limit,
        )
        cls = JobClass(
            name="profile",
            n_min=min(args.sizes),
            n_max=max(args.sizes),
            alpha=args.alpha,
            k=args.k,
            weighted=args.weighted,
            max_weight=args.max_weight,
            hard_fraction=args.hard_fraction,
        )
        from problems.maxsat import SOLVERS

        for solver in args.solvers:
            check_choice(solver, "--solvers", SOLVERS)
    except ValueError as err:
        message = str(err)
        for field, flag in _FLAGS.items():
            message = message.replace(field, flag)
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(
        f"measuring {', '.join(args.solvers)} on {cls.family} at sizes {args.sizes}, {args.instances} instance(s) "
        f"per size, {args.time_limit:g} s per run; writing to {directory}",
        file=sys.stderr,
        flush=True,
    )
    command = build_command(tuple(args.solvers), args.sizes, args.instances, args.time_limit, cls, args.dir)
    for solver, data in measure(
        tuple(args.solvers), cls, tuple(args.sizes), args.instances, args.time_limit, seed=args.seed
    ).items():
        data["command"] = command
        path = profile_path(directory, solver, data["family"], args.sizes, args.instances, args.time_limit)
        write_profile(path, data)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
