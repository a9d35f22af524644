"""The quick preset (tuned defaults scaled down to the 8x8 digits) learns every task: the thresholds stated in
docs/nets.md ("Quick size"), seed 0. Chance is 10%."""

import pytest

from experiments import nondiff_nets

# test accuracy of the hard model at the best-validation epoch (measured, seed 0: see docs/nets.md)
QUICK_THRESHOLDS = {"int8": 0.90, "staircase": 0.88, "mlp": 0.90, "argmax": 0.85, "moe": 0.85, "snn": 0.85,
                    "tree": 0.50}
FAST = {"int8"}  # about 15 s; the others take 15-60 s each on 2 cores


@pytest.mark.parametrize("task", [t if t in FAST else pytest.param(t, marks=pytest.mark.slow)
                                  for t in QUICK_THRESHOLDS])
def test_quick_polystep_learns(task):
    config = nondiff_nets.EXPERIMENT.make_config(quick=True, overrides={"task": task, "optimizer": "polystep"})
    metrics = nondiff_nets.run(config, 0)
    assert metrics["dataset"] == "digits" and metrics["n_features"] == 64
    assert metrics["test_accuracy"] >= QUICK_THRESHOLDS[task], metrics["curve"]["val_accuracy"]
    if task == "moe":  # where the hard gate routes validation images at the end, shares of the rows
        load = metrics["expert_load_val"]
        assert len(load) == 4 and abs(sum(load) - 1.0) < 1e-5 and min(load) >= 0.0
