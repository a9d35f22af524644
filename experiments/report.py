"""Markdown tables and figures from result records; the tour's REPORT.md."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from experiments.records import RECORDS_FILE, load_records
from experiments.registry import Experiment


def generic_table(records: list[dict], metrics: list[str] | None = None) -> str:
    """Mean ± std over seeds of each numeric metric, one row per distinct config."""
    if not records:
        return "(no records)"
    groups: dict[str, list[dict]] = defaultdict(list)
    configs: dict[str, dict] = {}
    for rec in records:
        key = repr(sorted(rec["config"].items()))
        groups[key].append(rec)
        configs[key] = rec["config"]
    varying = sorted({k for c in configs.values() for k in c if len({repr(x.get(k)) for x in configs.values()}) > 1})
    if metrics is None:
        metrics = []
        for rec in records:
            for k, v in rec["metrics"].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in metrics:
                    metrics.append(k)
    header = varying + ["seeds"] + metrics
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, recs in groups.items():
        row = [str(configs[key].get(k)) for k in varying] + [str(len(recs))]
        for m in metrics:
            values = [r["metrics"][m] for r in recs if isinstance(r["metrics"].get(m), (int, float))]
            row.append(format_mean_std(values))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def format_mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4g}"
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{mean:.4g} ± {std:.2g}"


def find_records_root(name: str, roots: Sequence[Path]) -> Path:
    """The first results root that holds records of experiment `name` (the first root when none does)."""
    for root in roots:
        path = Path(root) / name / RECORDS_FILE
        if path.exists() and path.stat().st_size > 0:
            return Path(root)
    return Path(roots[0])


def report(experiment: Experiment, out: Path, set_aside_damaged: bool = False) -> tuple[str, list[Path]]:
    """The markdown table and the figure files of one experiment's records under `out` (each (config, seed)
    counted once; a damaged line raises ValueError naming file and line unless `set_aside_damaged`)."""
    path = Path(out) / experiment.name / RECORDS_FILE
    records = load_records(path, set_aside_damaged=set_aside_damaged)
    if not records:
        return f"No records for {experiment.name} under {path}; run `python -m experiments run {experiment.name}`.", []
    table = experiment.table(records) if experiment.table else generic_table(records)
    figures: list[Path] = []
    if experiment.plot:
        fig_dir = path.parent / "figures"
        fig_dir.mkdir(parents=True, exist_ok=True)
        import matplotlib

        matplotlib.use("Agg")
        figures = [Path(p) for p in experiment.plot(records, fig_dir)]
    return table, figures
