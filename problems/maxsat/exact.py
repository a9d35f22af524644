"""Exact MAX-SAT optimum through python-sat's RC2 (core-guided), for small instances and as a test oracle."""

from __future__ import annotations

import numpy as np
from pysat.examples.rc2 import RC2
from pysat.formula import WCNF

from problems.maxsat.formula import Formula


class UnsatisfiableError(ValueError):
    """The hard clauses of a formula have no common model (proved by the exact solver)."""


def to_wcnf(formula: Formula) -> WCNF:
    """The formula as a python-sat WCNF (hard clauses hard, soft ones with their weights)."""
    wcnf = WCNF()
    for clause, w, h in zip(formula.to_lists(), formula.weights.tolist(), formula.hard.tolist()):
        if h:
            wcnf.append(clause)
        else:
            wcnf.append(clause, weight=int(w))
    return wcnf


def solve_exact(formula: Formula) -> tuple[np.ndarray, int]:
    """Optimal assignment (bool (n,)) and its cost (unsatisfied soft weight). ValueError if hard clauses
    are unsatisfiable (UnsatisfiableError, a ValueError)."""
    if formula.n_clauses and int(formula.lengths.min()) == 0 and formula.hard[formula.lengths == 0].any():
        raise UnsatisfiableError("hard clauses: an empty hard clause makes the formula unsatisfiable")
    empty_soft = int(formula.weights[(formula.lengths == 0) & ~formula.hard].sum())
    keep = formula.lengths > 0
    sub = Formula(formula.n_vars, formula.clauses[keep], formula.weights[keep], formula.hard[keep])
    with RC2(to_wcnf(sub)) as rc2:
        model = rc2.compute()
        if model is None:
            raise UnsatisfiableError("hard clauses: unsatisfiable")
        cost = int(rc2.cost)
    assign = np.zeros(formula.n_vars, bool)
    for lit in model:
        if abs(lit) <= formula.n_vars:
            assign[abs(lit) - 1] = lit > 0
    return assign, cost + empty_soft
