"""Non-differentiable networks (hard LIF, int8, argmax attention, staircase, hard MoE, oblique tree) and data.

Public API: `load_dataset` (MNIST / Fashion-MNIST IDX, embedded digits), `make_model` (each model's
`init` / `apply(params, x, mode)` with mode hard | smooth | ste), `StructuredLoss` (fast PolyStep candidate
evaluation from cached activations), `TrainConfig` / `train` (forward-only and Adam training loops),
`tuned_defaults` (each task's tuned PolyStep settings, the one place they live).
"""

from problems.nets.data import DATASETS, DataFileError, Dataset, load_dataset, minibatches
from problems.nets.defaults import tuned_defaults
from problems.nets.models import (
    MODES,
    TASKS,
    ArgmaxAttention,
    ChainMLP,
    HardMoE,
    ObliqueTree,
    SpikingMLP,
    accuracy,
    cross_entropy,
    loss_fn,
    make_model,
)
from problems.nets.structured import StructuredLoss, naive_losses
from problems.nets.training import OPTIMIZERS, SUBSPACES, TrainConfig, train

__all__ = [
    "DATASETS", "MODES", "OPTIMIZERS", "SUBSPACES", "TASKS", "ArgmaxAttention", "ChainMLP", "DataFileError",
    "Dataset", "HardMoE", "ObliqueTree", "SpikingMLP", "StructuredLoss", "TrainConfig", "accuracy",
    "cross_entropy", "load_dataset", "loss_fn", "make_model", "minibatches", "naive_losses", "train",
    "tuned_defaults",
]
