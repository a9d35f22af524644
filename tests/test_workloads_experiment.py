"""The maxsat_service experiment plugs into the runner: points, run, table and plots (exponential service)."""

from __future__ import annotations

import dataclasses

from experiments.maxsat_service import EXPERIMENT, MaxSatServiceConfig, points
from experiments.runner import run_experiment


def test_points_cover_rates_times_policies():
    config = MaxSatServiceConfig(rates=(1.0, 2.0), policies=("jsq", "cascade", "random"))
    expanded = points(config)
    assert len(expanded) == 6
    assert {(c.rate, c.policy) for c in expanded} == {(r, p) for r in (1.0, 2.0) for p in config.policies}


def test_sweep_records_table_and_figures(tmp_path):
    overrides = {
        "service": "exponential",
        "n_jobs": 300,
        "rates": (20.0, 450.0),
        "polystep_workers": 0,
        "policies": ("jsq", "size_aware", "cascade"),
    }
    records = run_experiment(EXPERIMENT, quick=True, overrides=overrides, out=tmp_path, log=open("/dev/null", "w"))
    assert len(records) == 6
    for r in records:
        m = r["metrics"]
        assert m["completed"] == 300 and m["rejected"] == 0
        assert 0 < m["latency_p50"] <= m["latency_p95"] <= m["latency_p99"]
        assert m["target_met"] == 1.0  # exponential service always meets its target
    by_rate = {r["config"]["rate"]: r["metrics"]["latency_p95"] for r in records if r["config"]["policy"] == "jsq"}
    assert by_rate[450.0] > by_rate[20.0]  # 5 workers of mean 0.01 s: load 0.04 vs 0.9
    text = EXPERIMENT.table(records)
    assert text.count("\n") == 1 + 6 and "| jsq | 20 |" in text
    figures = EXPERIMENT.plot(records, tmp_path)
    assert [f.name for f in figures] == [
        "latency_vs_rate.png",
        "quality_cost_frontier.png",
        "deadline_miss_vs_rate.png",
    ]
    assert all(f.stat().st_size > 1000 for f in figures)
    # a rerun skips the finished points
    again = run_experiment(EXPERIMENT, quick=True, overrides=overrides, out=tmp_path, log=open("/dev/null", "w"))
    assert [r["metrics"] for r in again] == [r["metrics"] for r in records]
    assert dataclasses.is_dataclass(EXPERIMENT.config_cls)


def test_shares_must_name_every_size_class():
    import pytest

    from experiments.cli import main

    with pytest.raises(ValueError, match=r"^shares: needs 3 values, one per size class \(small, medium, large\)"):
        MaxSatServiceConfig(shares=(0.5, 0.5))  # used to drop the large class silently
    assert main(["run", "maxsat_service", "--quick", "--set", "shares=0.5 0.5", "--out", "/nonexistent"]) == 2


def test_bad_set_values_fail_before_running(tmp_path, capsys):
    import math

    import pytest

    from experiments.cli import main

    bad = {
        "rates": ((),),
        "rate": (math.inf, math.nan, -1.0),
        "policies": (("jsq", "fastest"),),
        "policy": ("fastest",),
        "n_jobs": (-5, 0, 10**12),
        "small": ((60, 20), (20,), (1, 5)),
        "targets": ((1.0, 1.5, 0.9), (1.0, 0.99)),
        "deadlines": ((0.1, 0.0, 1.0),),
        "small_optimum": ("yes",),
        "ls_workers": (-1, 1.5),
        "polystep_speed": (0.0, math.inf),
        "time_limit": (0.0, math.nan),
        "cpu_setup": (1.0, -0.1),
        "gpu_setup": (math.inf,),
        "size_threshold": (-1,),
        "max_escalations": (-1, 10**9),
        "profile_sizes": ((40, 20), ()),
        "profile_instances": (0,),
        "profile_time_limit": (0.0, math.inf),
        "profile_dir": (3,),
        "service": ("gamma",),
    }
    for field, values in bad.items():
        for value in values:
            with pytest.raises(ValueError) as err:
                MaxSatServiceConfig(**{field: value})
            message = str(err.value)
            assert message.startswith(field) or message.startswith(("WorkloadConfig", "SimConfig", "ServiceConfig")), (
                field,
                value,
                message,
            )
    assert MaxSatServiceConfig(ls_workers=0, exact_workers=0, polystep_workers=1).polystep_workers == 1
    with pytest.raises(ValueError, match="^ls_workers: the pool needs at least one worker"):
        MaxSatServiceConfig(ls_workers=0, exact_workers=0, polystep_workers=0)
    assert main(["run", "maxsat_service", "--quick", "--set", "n_jobs=-5", "--out", str(tmp_path)]) == 2
    assert "n_jobs: must be an integer in [1, 10000000]" in capsys.readouterr().err
    assert not (tmp_path / "maxsat_service").exists()  # nothing ran, no record written


def test_frontier_pairs_cost_and_quality_by_rate_and_keeps_only_undominated_points():
    from experiments.maxsat_service import frontier_series, pareto_frontier

    def rec(policy, rate, cost, met):
        return {"config": {"policy": policy, "rate": rate}, "metrics": {"cost_per_job": cost, "target_met": met}}

    # jsq has no cost at rate 2 (nothing completed): its quality at rate 3 must not shift onto rate 2's cost
    records = [rec("jsq", 1.0, 0.1, 0.9), rec("jsq", 2.0, None, 0.5), rec("jsq", 3.0, 0.3, 0.7)]
    assert frontier_series(records)["jsq"] == [(1.0, 0.1, 0.9), (3.0, 0.3, 0.7)]
    points = [(0.1, 0.5), (0.2, 0.9), (0.3, 0.8), (0.05, 0.2), (0.2, 0.95)]
    assert pareto_frontier(points) == [(0.05, 0.2), (0.1, 0.5), (0.2, 0.95)]
