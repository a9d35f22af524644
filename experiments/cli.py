"""`python -m experiments list | run NAME | report NAME | tour`.

A rerun of `run` resumes: finished records are skipped and runs that checkpoint continue from their checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from experiments import registry
from experiments.overrides import parse_overrides
from experiments.records import RECORDS_FILE, SET_ASIDE_OPTION, atomic_write_text, load_records, record_key
from experiments.report import find_records_root, report
from experiments.runner import BACKENDS, DEFAULT_OUT, Point, SweepFailed, plan_sweep, run_experiment

_REPO_ROOT = Path(__file__).resolve().parents[1]  # where an experiment's `docs` page lives (a source checkout)

TOUR_OUT = DEFAULT_OUT / "tour"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _add_set_aside(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(SET_ASIDE_OPTION, dest="set_aside_damaged", action="store_true",
                        help="move damaged lines of records.jsonl to records.damaged.jsonl (kept) and go on")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered experiments")
    run = sub.add_parser("run", help="run an experiment (resumes: finished records are skipped)")
    run.add_argument("name")
    run.add_argument("--quick", action="store_true", help="CI size: minutes on 2 CPU cores")
    run.add_argument("--seeds", type=int, nargs="+", help="seeds to run (default: the experiment's)")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="FIELD=VALUE",
                     help="override a config field (repeatable)")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results root (default: results/)")
    run.add_argument("--data-dir", type=Path, help="dataset directory (sets POLYSTEP_DATA)")
    run.add_argument("--backend", choices=BACKENDS, default="inprocess",
                     help="where points run: in this process (default) or as Ray tasks")
    run.add_argument("--address", help="with --backend ray: address of a running Ray cluster (default: start a "
                                       "local Ray instance)")
    run.add_argument("--workers", type=_positive_int,
                     help="with --backend ray: points run at once (default: every CPU of the Ray instance)")
    _add_set_aside(run)
    run.add_argument("--dry-run", action="store_true",
                     help="build and check every sweep point's config, list the points, run nothing")
    rep = sub.add_parser("report", help="print a markdown table and write figures")
    rep.add_argument("name")
    rep.add_argument("--out", type=Path, help=f"results root (default: {DEFAULT_OUT}/, else the tour's {TOUR_OUT}/)")
    _add_set_aside(rep)
    tour = sub.add_parser("tour", help="run every experiment at quick size and write REPORT.md")
    tour.add_argument("--out", type=Path, default=TOUR_OUT)
    tour.add_argument("--report", type=Path, default=Path("REPORT.md"))
    tour.add_argument("--only", nargs="+", help="restrict the tour to these experiments")
    tour.add_argument("--dry-run", action="store_true",
                      help="build and check every experiment's quick sweep, run nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            for name, exp in registry.all_experiments().items():
                print(f"{name:24s} {exp.description}")
            return 0
        if args.command == "run":
            if args.data_dir:
                os.environ["POLYSTEP_DATA"] = str(args.data_dir)
            exp = registry.get(args.name)
            if args.backend != "ray" and (args.address or args.workers):
                raise ValueError("--address and --workers go with --backend ray")
            overrides = parse_overrides(exp.config_cls, args.assignments)
            if args.dry_run:
                return dry_run(exp, plan_sweep(exp, quick=args.quick, seeds=args.seeds, overrides=overrides), args.out)
            run_experiment(exp, quick=args.quick, seeds=args.seeds, overrides=overrides, out=args.out,
                           backend=args.backend, address=args.address, workers=args.workers,
                           set_aside_damaged=args.set_aside_damaged)
            table, figures = report(exp, args.out, set_aside_damaged=args.set_aside_damaged)
            print(table)
            for fig in figures:
                print(f"figure: {fig}")
            return 0
        if args.command == "report":
            exp = registry.get(args.name)
            out = args.out
            if out is None:
                out = find_records_root(exp.name, (DEFAULT_OUT, TOUR_OUT))
                print(f"reading records from {out / exp.name}", file=sys.stderr)
            table, figures = report(exp, out, set_aside_damaged=args.set_aside_damaged)
            print(table)
            for fig in figures:
                print(f"figure: {fig}")
            return 0
        if args.command == "tour":
            if args.dry_run:
                for name in args.only or registry.names():
                    exp = registry.get(name)
                    dry_run(exp, plan_sweep(exp, quick=True), args.out)
                return 0
            return tour(args.out, args.report, args.only)
    except SweepFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (KeyError, ValueError) as err:
        message = err.args[0] if err.args else str(err)
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 1


def dry_run(experiment: registry.Experiment, points: list[Point], out: Path) -> int:
    """List the points a run would compute (each config already built, so already checked)."""
    done = {record_key(r["config"], r["seed"]) for r in load_records(Path(out) / experiment.name / RECORDS_FILE)}
    todo = [p for p in points if p.key not in done]
    print(f"{experiment.name}: {len(points)} points, {len(points) - len(todo)} done, {len(todo)} to run")
    for point in todo:
        print(f"  {point.label} seed={point.seed}")
    return 0


def tour(out: Path, report_path: Path, only: list[str] | None = None) -> int:
    """Run every registered experiment at quick size and write a REPORT.md of tables and figures."""
    names = only or registry.names()
    sections = ["# polystep-workbench tour", "", "Every registered experiment at `--quick` size.", ""]
    for name in names:
        exp = registry.get(name)
        print(f"== {name}: {exp.description}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        run_experiment(exp, quick=True, out=out)
        table, figures = report(exp, out)
        sections += [f"## {name}", "", exp.description, "", table, ""]
        page = _REPO_ROOT / exp.docs if exp.docs else None
        if page is not None and page.is_file():
            rel = os.path.relpath(page, report_path.resolve().parent)
            sections += [f"Full-size runs, their committed results and the commands that reproduce them: "
                         f"[{exp.docs}]({rel}).", ""]
        for fig in figures:
            rel = os.path.relpath(fig, report_path.resolve().parent)
            sections.append(f"![{fig.stem}]({rel})")
        sections += ["", f"_{time.perf_counter() - t0:.0f} s_", ""]
    atomic_write_text(report_path, "\n".join(sections) + "\n")
    print(f"wrote {report_path}", file=sys.stderr)
    return 0
