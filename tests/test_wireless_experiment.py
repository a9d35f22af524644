"""The wireless_routing experiment: sweep points, record shape, table and figures on a tiny config."""

import dataclasses
import json

import pytest

from experiments import wireless_routing as wr


def test_tiny_run_table_and_plot(tmp_path):
    cfg = dataclasses.replace(
        wr.WirelessConfig(), sizes=(27,), densities=(3.0,), graphs_per_cell=2, budget=16, pairs_per_step=64,
        learners=("linear@polystep", "distance@cmaes"), baselines=("greedy", "gfg", "shortest"), gfg_max_pairs=50,
    )
    points = wr.points(cfg)
    assert [(p.n, p.rho) for p in points] == [(27, 3.0)]
    metrics = wr.run(points[0], 0)
    json.dumps(metrics)  # JSON-able
    assert set(metrics["policies"]) == {"greedy", "gfg", "shortest", "linear@polystep", "distance@cmaes"}
    assert metrics["best_forward"] in ("linear@polystep", "distance@cmaes")
    assert metrics["policies"]["shortest"]["accuracy@0.1"] == 1.0
    best = metrics["policies"][metrics["best_forward"]]["accuracy@0.1"]
    assert metrics["gain_accuracy@0.1"] == pytest.approx(best - metrics["policies"]["greedy"]["accuracy@0.1"])
    records = [{"config": dataclasses.asdict(points[0]), "seed": 0, "metrics": metrics}]
    assert "| 27 | 3 |" in wr.table(records)
    paths = wr.plot(records, tmp_path)
    assert len(paths) == 4 and all(p.exists() and p.stat().st_size > 0 for p in paths)


def test_unknown_learner_is_rejected():
    with pytest.raises(ValueError, match="learners: unknown model 'cnn'"):
        wr._learner_config(wr.WirelessConfig(), "cnn@polystep")
    with pytest.raises(ValueError, match="n: run"):
        wr.run(wr.WirelessConfig(), 0)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"budget": -5}, "budget"),
        ({"sizes": (1,)}, "sizes"),
        ({"sizes": ()}, "sizes"),
        ({"densities": (float("nan"),)}, "densities"),
        ({"graphs_per_cell": 0}, "graphs_per_cell"),
        ({"learners": ("cnn@adam",)}, "learners"),
        ({"learners": ("linear@adam",)}, "learners"),
        ({"baselines": ("teleport",)}, "baselines"),
        ({"baselines": ("gfg",)}, "baselines"),  # greedy is the reference of every gain
        ({"headline_epsilon": 0.3}, "headline_epsilon"),
        ({"epsilons": (-1.0,)}, "epsilons"),
        ({"seed_rho": float("inf")}, "seed_rho"),
        ({"n": 1}, "n"),
        ({"pairs_per_step": 2.5}, "pairs_per_step"),
    ],
)
def test_bad_config_values_are_refused_when_the_config_is_built(overrides, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        dataclasses.replace(wr.WirelessConfig(), **overrides)


def test_bad_set_fails_before_running(tmp_path, capsys):
    from experiments.cli import main

    assert main(["run", "wireless_routing", "--quick", "--set", "budget=-5", "--out", str(tmp_path)]) == 2
    assert "budget: must be an integer >= 1, got -5" in capsys.readouterr().err
    assert not (tmp_path / "wireless_routing").exists()


def test_bench_help_is_complete(capsys):
    from experiments import bench_wireless

    with pytest.raises(SystemExit) as done:
        bench_wireless.main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "per-pair Python loop measured in the same run" in text and "--sim-seconds" in text
    assert text.rstrip().endswith("(default: 60.0)")  # the description is whole, not cut mid-sentence
    with pytest.raises(SystemExit) as done:
        bench_wireless.main(["--n", "1"])
    assert done.value.code == 2 and "--n: must be an integer in [2, 5000], got 1" in capsys.readouterr().err
