"""Forward-only optimizers in JAX: PolyStep (OT polytope steps) and evolution strategies, one interface."""

from polystep import compat, objectives, sharding
from polystep.base import BlockEvaluator, Blocks, Optimizer, map_batches, map_chunked
from polystep.cmaes import CMAES
from polystep.geometry import haar_rotation, template
from polystep.loop import minimize
from polystep.openai_es import OpenAIES
from polystep.polystep import PolyStep, PolyStepState
from polystep.schedules import InverseTimeDecay
from polystep.sinkhorn import sinkhorn_log, softmax_weights
from polystep.spsa import SPSA
from polystep.subspace import ColumnSubspace, DenseSubspace, Layout, LeafSpec, LowRankSubspace, SpaceState, to_params

__all__ = [
    "CMAES", "SPSA", "BlockEvaluator", "Blocks", "ColumnSubspace", "DenseSubspace", "InverseTimeDecay", "Layout",
    "LeafSpec",
    "LowRankSubspace", "OpenAIES", "Optimizer", "PolyStep", "PolyStepState", "SpaceState", "haar_rotation",
    "compat", "map_batches", "map_chunked", "minimize", "objectives", "sharding", "sinkhorn_log", "softmax_weights",
    "template", "to_params",
]
