"""MAX-SAT: DIMACS CNF / WCNF formats, random and planted generators, batched JAX evaluation, solvers."""

from problems.maxsat.dimacs import parse_bytes, read, to_bytes, write
from problems.maxsat.es_solver import ESConfig, run_es
from problems.maxsat.evaluate import Evaluation, clause_satisfied, evaluate, evaluate_full, unsat_loss
from problems.maxsat.exact import UnsatisfiableError, solve_exact
from problems.maxsat.formula import Formula
from problems.maxsat.generators import planted_ksat, random_ksat
from problems.maxsat.local_search import ProbSAT, ProbSATConfig
from problems.maxsat.polystep_solver import PolyStepMaxSATConfig, run_polystep
from problems.maxsat.relaxation import ClauseDeltaEvaluator, build_evaluator
from problems.maxsat.solve import SOLVERS, STATUSES, SolveResult, solve
from problems.maxsat.weighted_ls import WeightedLocalSearch, WPMSConfig

__all__ = [
    "SOLVERS", "STATUSES", "ClauseDeltaEvaluator", "ESConfig", "Evaluation", "Formula", "PolyStepMaxSATConfig",
    "ProbSAT", "ProbSATConfig", "SolveResult", "UnsatisfiableError", "WPMSConfig", "WeightedLocalSearch",
    "build_evaluator", "clause_satisfied", "evaluate", "evaluate_full", "parse_bytes", "planted_ksat", "random_ksat",
    "read", "run_es", "run_polystep", "solve", "solve_exact", "to_bytes", "unsat_loss", "write",
]
