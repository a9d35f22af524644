"""Weighted partial MaxSAT: the dynamic-weight local search against RC2, PolyStep / ES feasibility, budgets,
the structured benchmark's small version, and config validation (hypothesis)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import maxsat_partial as mp
from experiments import maxsat_scaling as ms
from problems.maxsat import (
    ESConfig,
    Formula,
    PolyStepMaxSATConfig,
    ProbSATConfig,
    WPMSConfig,
    evaluate_full,
    random_ksat,
    solve,
    solve_exact,
)
from problems.maxsat.structured import FAMILIES, make
from problems.maxsat.weighted_ls import WeightedLocalSearch


def weighted_partial(n: int, seed: int, hard_share: float = 0.3) -> Formula:
    f0 = random_ksat(n, 5.0, seed=seed)
    rng = np.random.default_rng(seed)
    return Formula(n, f0.clauses, rng.integers(1, 20, f0.n_clauses), rng.random(f0.n_clauses) < hard_share)


@pytest.mark.parametrize("family", FAMILIES)
def test_wpms_reaches_rc2_optimum_on_each_family(family):
    f = make(family, seed=7, scale=0.6)
    _, optimum = solve_exact(f)
    res = solve(f, "wpms", time_limit=None, max_evaluations=200_000, target=optimum)
    assert res.feasible and res.hard_violations == 0
    assert res.cost == optimum
    assert not res.machine_dependent


def test_wpms_random_weighted_partial_and_best_is_feasible():
    f = weighted_partial(40, seed=5)
    _, optimum = solve_exact(f)
    w = WeightedLocalSearch(f, seed=1).run(max_flips=100_000, target=optimum)
    assert w.feasible and w.best_cost == optimum
    check = evaluate_full(f, w.result_assignment())
    assert check.hard_violations[0] == 0 and check.unsat_weight[0] == w.best_cost
    assert [row[2] for row in w.trace] == sorted((row[2] for row in w.trace), reverse=True)


def test_wpms_flip_budget_is_deterministic_and_seeded():
    f = make("planted_partial", seed=3, scale=1.5)
    runs = [solve(f, "wpms", time_limit=None, max_evaluations=3_000, seed=s) for s in (0, 0, 1)]
    assert runs[0].evaluations == runs[1].evaluations == 3_000
    assert np.array_equal(runs[0].assignment, runs[1].assignment) and runs[0].cost == runs[1].cost
    assert [r[1:] for r in runs[0].trace] == [r[1:] for r in runs[1].trace]
    a = WeightedLocalSearch(f, seed=0).run(max_flips=3_000)
    b = WeightedLocalSearch(f, seed=0)
    for _ in range(3):  # chunking does not change the walk
        b.run(max_flips=1_000)
    assert np.array_equal(a.assign, b.assign) and a.best_cost == b.best_cost
    assert not runs[0].machine_dependent and runs[0].status in ("SATISFIABLE", "OPTIMUM FOUND")


def test_wpms_random_init_and_unit_propagation_respects_hard_units():
    f = Formula.from_lists(3, [[1], [-1, 2], [-2, 3], [-3]], weights=[1, 1, 1, 5], hard=[True, True, True, False])
    w = WeightedLocalSearch(f, WPMSConfig(init="decimation"), seed=0)
    assert w.assign.tolist() == [1, 1, 1] and w.feasible and w.best_cost == 5  # propagated from the hard unit
    r = WeightedLocalSearch(f, WPMSConfig(init="random"), seed=0).run(max_flips=100)
    assert r.feasible and r.best_cost == 5


def test_infeasible_hard_part_reports_unknown():
    f = Formula.from_lists(2, [[1], [-1], [2]], weights=[1, 1, 3], hard=[True, True, False])
    res = solve(f, "wpms", time_limit=None, max_evaluations=500)
    assert not res.feasible and res.status == "UNKNOWN"
    assert solve(f, "rc2").status == "UNSATISFIABLE"


@pytest.mark.parametrize("solver", ["polystep", "openai_es"])
def test_relaxation_solvers_respect_hard_clauses(solver):
    f = make("independent_set", seed=2, scale=0.5)
    res = solve(f, solver, time_limit=None, max_evaluations=20_000)
    assert res.feasible and res.hard_violations == 0
    assert res.evaluations >= 20_000 and not res.machine_dependent
    again = solve(f, solver, time_limit=None, max_evaluations=20_000)
    assert again.cost == res.cost and np.array_equal(again.assignment, res.assignment)


def test_time_limited_runs_are_flagged_machine_dependent():
    f = random_ksat(300, 4.27, seed=0)
    assert solve(f, "probsat", time_limit=0.05).machine_dependent
    assert not solve(f, "probsat", time_limit=None, max_evaluations=2_000).machine_dependent
    with pytest.raises(ValueError, match="time_limit"):
        solve(f, "probsat", time_limit=None)
    with pytest.raises(ValueError, match="max_evaluations"):
        solve(f, "probsat", max_evaluations=0)


def test_partial_benchmark_small(tmp_path):
    cfg = mp.MaxSATPartialConfig(families=("set_cover", "max_clique"), instances=1, scale=0.6,
                                 solvers=("wpms",), time_limit=None, max_evaluations=50_000, rc2_cap=30.0)
    records = [{"metrics": mp.run(p, 0), "config": dataclasses.asdict(p)} for p in mp.points(cfg)]
    for rec in records:
        m = rec["metrics"]
        assert m["feasible"] and m["optimum"] is not None and m["optimal"] and m["rel_gap"] == 0.0
        assert m["machine_dependent"] is False
    s = mp.summary(records)["wpms"]
    assert s["feasible"] == 1.0 and s["optimal"] == 1.0 and s["solved_by_rc2"] == 2
    table = mp.table(records)
    assert "| weighted LS (wpms) | 2 | 100.0% | 100.0% (2) |" in table
    paths = mp.plot(records, tmp_path)
    assert paths[0].stat().st_size > 1000


# ------------------------------------------------------------------------------------ config validation
BAD = st.one_of(st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.just("1"), st.just(None),
                st.just(True), st.just(-5), st.just(10**20), st.just([1]))
FIELDS = [
    (WPMSConfig, "hard_inc"), (WPMSConfig, "soft_bound"), (WPMSConfig, "smooth_prob"), (WPMSConfig, "bms_samples"),
    (WPMSConfig, "init"), (PolyStepMaxSATConfig, "epsilon"), (PolyStepMaxSATConfig, "particle_size"),
    (PolyStepMaxSATConfig, "hard_growth"), (PolyStepMaxSATConfig, "l1"), (ESConfig, "learning_rate"),
    (ESConfig, "hard_growth"), (ProbSATConfig, "eps"), (ms.MaxSATScalingConfig, "n_values"),
    (ms.MaxSATScalingConfig, "alpha"), (ms.MaxSATScalingConfig, "time_limit"), (ms.MaxSATScalingConfig, "k"),
    (mp.MaxSATPartialConfig, "instances"), (mp.MaxSATPartialConfig, "scale"), (mp.MaxSATPartialConfig, "solvers"),
    (mp.MaxSATPartialConfig, "rc2_cap"),
]
ACCEPTED = [("eps", None), ("eps", 10**20), ("epsilon", 10**20), ("l1", 10**20), ("learning_rate", 10**20)]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_configs_reject_bad_values_naming_the_field(data):
    cls, name = data.draw(st.sampled_from(FIELDS))
    value = data.draw(BAD)
    # None means "default" there; those fields have no upper bound
    if any(name == n and type(value) is type(v) and value == v for n, v in ACCEPTED):
        cls(**{name: value})
        return
    with pytest.raises(ValueError) as info:
        cls(**{name: value})
    assert str(info.value).startswith(f"{name}:"), str(info.value)


def test_scaling_config_names_the_field():
    with pytest.raises(ValueError, match=r"^n_values: .*>= 3"):
        ms.MaxSATScalingConfig(n_values=0)
    with pytest.raises(ValueError, match=r"^n_values: "):
        ms.MaxSATScalingConfig(n_values=(100, 0))
    with pytest.raises(ValueError, match=r"^solvers: unknown 'walksat'"):
        ms.MaxSATScalingConfig(solvers=("walksat",))
