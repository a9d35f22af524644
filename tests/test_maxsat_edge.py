"""Edge cases: formulas without variables or clauses, weights near 2^63, malformed headers and files."""

from __future__ import annotations

import bz2
import gzip

import numpy as np
import pytest

from problems.maxsat import SOLVERS, Formula, evaluate_full, parse_bytes, read, solve

FAST = {"max_steps": 5, "time_limit": 5.0}


def test_evaluate_without_variables_counts_empty_clauses():
    f = Formula.from_lists(0, [[], []], weights=[3, 4])
    ev = evaluate_full(f, np.zeros((2, 0), bool))
    assert ev.unsat_weight.tolist() == [7, 7] and ev.satisfied_weight.tolist() == [0, 0]
    assert ev.hard_violations.tolist() == [0, 0] and ev.unsat_clauses.tolist() == [2, 2]


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_on_empty_clauses(solver):
    soft = Formula.from_lists(0, [[], []], weights=[3, 4])
    res = solve(soft, solver, **FAST)
    assert (res.cost, res.feasible, res.status, res.sat_fraction) == (7, True, "OPTIMUM FOUND", 0.0)
    hard = Formula.from_lists(0, [[], []], weights=[3, 1], hard=[False, True])
    res = solve(hard, solver, **FAST)
    assert (res.cost, res.hard_violations, res.feasible, res.status) == (3, 1, False, "UNSATISFIABLE")


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_vars", [0, 4])
def test_every_solver_on_empty_formula(solver, n_vars):
    res = solve(Formula.from_lists(n_vars, []), solver, **FAST)
    assert res.cost == 0 and res.status == "OPTIMUM FOUND" and res.assignment.shape == (n_vars,)
    assert res.sat_fraction == 1.0


def test_soft_weight_sum_must_stay_below_2_63():
    with pytest.raises(ValueError, match=r"weights: the soft weights sum to 9223372036854775808"):
        Formula.from_lists(2, [[1], [2]], weights=[2**62, 2**62])
    with pytest.raises(ValueError, match=r"w\.wcnf:3: the soft weights sum to 2\^63 or more"):
        parse_bytes(b"c x\n4611686018427387904 1 0\n4611686018427387904 2 0\n", name="w.wcnf")
    ok = Formula.from_lists(2, [[1], [2]], weights=[2**62, 2**62 - 1])  # 2^63 - 1: allowed
    assert ok.soft_total == 2**63 - 1


def test_weights_near_2_62_give_exact_costs_and_fraction():
    f = Formula.from_lists(1, [[1], [-1]], weights=[2**62, 2**62 - 1])
    ev = evaluate_full(f, np.array([[True], [False]]))
    assert ev.unsat_weight.tolist() == [2**62 - 1, 2**62]
    for solver in ("probsat", "wpms", "rc2"):
        res = solve(f, solver, time_limit=2.0, max_steps=100)
        assert res.cost == 2**62 - 1 and 0.0 <= res.sat_fraction <= 1.0
        assert res.sat_fraction == pytest.approx(2**62 / (2**63 - 1))


@pytest.mark.parametrize("header, what", [
    (b"p cnf 9223372036854775808 1\n", "variable count"),
    (b"p cnf 3 9223372036854775808\n", "does not fit in 64 bits"),
    (b"p wcnf 3 1 99999999999999999999999\n", "does not fit in 64 bits"),
    (b"p cnf 1_0 1\n", "non-integer count '1_0'"),
    (b"p cnf +3 1\n", "non-integer count"),
    (b"pxyz cnf 3 1\n", "malformed p-line"),
    (b"p cnf 3 1 2\n", "malformed p-line"),
])
def test_bad_p_lines_name_file_and_line(header, what):
    with pytest.raises(ValueError, match=rf"h\.cnf:2: .*{what}"):
        parse_bytes(b"c first\n" + header + b"1 0\n", name="h.cnf")


@pytest.mark.parametrize("eol", [b"\r", b"\r\n", b"\n"])
def test_line_endings(eol):
    text = eol.join([b"c comment", b"p wcnf 3 2 9", b"9 1 -2 0", b"c mid", b"4 3 0", b""])
    f = parse_bytes(text, name="e.wcnf")
    assert f.to_lists() == [[1, -2], [3]] and f.hard.tolist() == [True, False]
    with pytest.raises(ValueError, match=r"e\.wcnf:3: .*beyond"):
        parse_bytes(eol.join([b"c comment", b"p cnf 2 1", b"1 7 0", b""]), name="e.wcnf")


def test_compressed_files_that_are_not_name_the_file(tmp_path):
    fake = tmp_path / "plain.cnf.gz"
    fake.write_bytes(b"p cnf 2 1\n1 0\n")
    with pytest.raises(ValueError, match=r"plain\.cnf\.gz: cannot decompress"):
        read(fake)
    cut = tmp_path / "cut.wcnf.gz"
    cut.write_bytes(gzip.compress(b"p cnf 2 1\n1 2 0\n" * 200)[:40])
    with pytest.raises(ValueError, match=r"cut\.wcnf\.gz: cannot decompress"):
        read(cut)
    bad = tmp_path / "bad.cnf.bz2"
    bad.write_bytes(bz2.compress(b"p cnf 2 1\n1 0\n")[:-8])
    with pytest.raises(ValueError, match=r"bad\.cnf\.bz2: cannot"):
        read(bad)
    xz = tmp_path / "bad.cnf.xz"
    xz.write_bytes(b"not xz at all")
    with pytest.raises(ValueError, match=r"bad\.cnf\.xz: cannot decompress"):
        read(xz)
