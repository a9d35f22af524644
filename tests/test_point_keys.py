"""A sweep point's record key depends on its own values and the shared settings only: extending a sweep's lists
keeps the keys of the points it already had, so a rerun skips them."""

from __future__ import annotations

import io

import pytest

from experiments import registry
from experiments.records import RECORDS_FILE, parse_records
from experiments.runner import plan_sweep, run_experiment

# (experiment, overrides of a small sweep, the same sweep with one more value in one list field)
SWEEPS = [
    ("quickstart", {"objectives": ("ackley",)}, {"objectives": ("ackley", "rastrigin")}),
    ("quickstart", {"dims": (2,)}, {"dims": (2, 5)}),
    ("quickstart", {"optimizers": ("polystep", "cmaes")}, {"optimizers": ("polystep", "openai_es", "cmaes")}),
    ("maxsat_partial", {"families": ("max_cut",)}, {"families": ("max_cut", "set_cover")}),
    ("maxsat_partial", {"solvers": ("wpms",)}, {"solvers": ("wpms", "probsat")}),
    ("maxsat_partial", {"instances": 2}, {"instances": 3}),
    ("maxsat_scaling", {"n_values": (100, 1_000)}, {"n_values": (100, 1_000, 200_000)}),
    ("maxsat_scaling", {"solvers": ("probsat",)}, {"solvers": ("probsat", "polystep")}),
    ("maxsat_service", {"rates": (10.0, 40.0)}, {"rates": (10.0, 40.0, 160.0)}),
    ("maxsat_service", {"policies": ("jsq",)}, {"policies": ("jsq", "cascade")}),
    ("wireless_routing", {"sizes": (27,)}, {"sizes": (27, 64)}),
    ("wireless_routing", {"densities": (2.0,)}, {"densities": (2.0, 5.0)}),
]


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
@pytest.mark.parametrize(("name", "small", "extended"), SWEEPS, ids=[f"{s[0]}-{next(iter(s[1]))}" for s in SWEEPS])
def test_extending_a_sweep_keeps_the_keys_of_its_points(name, small, extended, quick):
    experiment = registry.get(name)
    before = [p.key for p in plan_sweep(experiment, quick=quick, overrides=small)]
    after = [p.key for p in plan_sweep(experiment, quick=quick, overrides=extended)]
    assert len(set(before)) == len(before) and len(set(after)) == len(after)  # distinct points, distinct keys
    assert len(after) > len(before)
    assert set(before) <= set(after)


def test_extending_the_quickstart_sweep_skips_the_finished_point(tmp_path):
    experiment = registry.get("quickstart")
    shared = {"dims": (2,), "optimizers": ("polystep",)}
    first_log, second_log = io.StringIO(), io.StringIO()
    first = run_experiment(experiment, quick=True, overrides={**shared, "objectives": ("ackley",)}, out=tmp_path,
                           log=first_log)
    second = run_experiment(experiment, quick=True, overrides={**shared, "objectives": ("ackley", "rastrigin")},
                            out=tmp_path, log=second_log)
    assert len(first) == 1 and len(second) == 2
    assert second_log.getvalue().count("done already, skipped") == 1
    assert second[0] == first[0]  # the same record, not a recomputed one (its wall time would differ)
    parsed = parse_records(tmp_path / "quickstart" / RECORDS_FILE)
    assert parsed.duplicates == 0 and not parsed.damaged
    assert sorted(r["config"]["objective"] for r in parsed.records) == ["ackley", "rastrigin"]
    lines = (tmp_path / "quickstart" / RECORDS_FILE).read_text().splitlines()
    assert len(lines) == 2
    assert "| ackley | 2 | polystep | 1 |" in experiment.table(second)  # one seed, not a duplicate counted twice


def test_point_labels_show_each_points_own_values_once():
    labels = [p.label for p in plan_sweep(registry.get("quickstart"), quick=True, seeds=[0])]
    assert len(set(labels)) == len(labels)
    assert all("[" not in label and "objectives=" not in label for label in labels)
    assert labels[0].startswith("objective=")
    one = plan_sweep(registry.get("quickstart"), quick=True, seeds=[0],
                     overrides={"objectives": ("rastrigin",), "dims": (2,), "optimizers": ("polystep",)})
    assert one[0].label == "objective=rastrigin dim=2"  # optimizer polystep is the default
