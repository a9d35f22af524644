"""The `python -m problems.maxsat solve` command, run as a subprocess: MSE 2022 output and exit codes."""

from __future__ import annotations

import gzip
import lzma
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from problems.maxsat import evaluate_full, parse_bytes, solve_exact, to_bytes
from problems.maxsat.structured import make

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, stdin: bytes | None = None):
    proc = subprocess.run([sys.executable, "-m", "problems.maxsat", "solve", *args], cwd=ROOT, input=stdin,
                          capture_output=True, timeout=300)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def parse_output(out: str):
    lines = out.splitlines()
    assert all(line[:2] in ("c ", "o ", "s ", "v ") or line == "v " for line in lines), out
    s_lines = [line[2:] for line in lines if line.startswith("s ")]
    assert len(s_lines) == 1, out
    costs = [int(line[2:]) for line in lines if line.startswith("o ")]
    v = [line[2:] for line in lines if line.startswith("v ")]
    return s_lines[0], costs, v


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    f = make("set_cover", seed=11, scale=0.6)
    _, opt = solve_exact(f)
    folder = tmp_path_factory.mktemp("cli")
    data = to_bytes(f, "mse22")
    paths = {"plain": folder / "sc.wcnf"}
    paths["plain"].write_bytes(data)
    for suffix, compress in ((".gz", gzip.compress), (".xz", lzma.compress)):
        paths[suffix] = folder / f"sc.wcnf{suffix}"
        paths[suffix].write_bytes(compress(data))
    return f, opt, data, paths


def test_solve_file_and_every_compression_and_stdin(instance):
    f, opt, data, paths = instance
    results = []
    for path in paths.values():
        results.append(run_cli(str(path), "--flips", "20000", "--seed", "3"))
    results.append(run_cli("-", "--flips", "20000", "--seed", "3", stdin=data))
    for code, out, err in results:
        status, costs, v = parse_output(out)
        assert status == "SATISFIABLE" and code == 10, (out, err)
        assert costs == sorted(costs, reverse=True) and costs[-1] == opt
        assert len(v) == 1 and len(v[0]) == f.n_vars and set(v[0]) <= {"0", "1"}
        check = evaluate_full(f, np.array([c == "1" for c in v[0]]))
        assert check.hard_violations[0] == 0 and check.unsat_weight[0] == costs[-1]
    v_lines = {parse_output(r[1])[2][0] for r in results}
    assert len(v_lines) == 1  # the same seed and flip budget give the same answer whatever the input route


def test_optimum_unsat_and_unknown_exit_codes(tmp_path):
    zero = tmp_path / "zero.cnf"
    zero.write_bytes(b"p cnf 3 2\n1 2 0\n-1 3 0\n")
    code, out, _ = run_cli(str(zero), "--time-limit", "5")
    assert code == 30 and parse_output(out)[0] == "OPTIMUM FOUND"
    unsat = tmp_path / "unsat.wcnf"
    unsat.write_bytes(b"h 1 0\nh -1 0\n2 2 0\n")
    code, out, _ = run_cli(str(unsat), "--solver", "rc2")
    assert code == 20 and parse_output(out)[0] == "UNSATISFIABLE" and "\nv " not in out
    code, out, _ = run_cli(str(unsat), "--flips", "300")
    assert code == 0 and parse_output(out)[0] == "UNKNOWN" and "\nv " not in out
    empty_hard = tmp_path / "eh.wcnf"
    empty_hard.write_bytes(b"h 0\n1 1 0\n")
    code, out, _ = run_cli(str(empty_hard), "--flips", "10")
    assert code == 20 and parse_output(out)[0] == "UNSATISFIABLE"


def test_input_errors_exit_1_naming_the_file(tmp_path):
    code, out, err = run_cli(str(tmp_path / "missing.wcnf"))
    assert code == 1 and "missing.wcnf" in err
    bad = tmp_path / "bad.cnf"
    bad.write_bytes(b"p cnf 1_0 1\n1 0\n")
    code, _, err = run_cli(str(bad))
    assert code == 1 and "bad.cnf:1:" in err and "Traceback" not in err
    code, _, err = run_cli(str(bad), "--flips", "0")
    assert code == 1 and "--flips" in err


def test_rc2_and_polystep_routes(instance):
    f, opt, data, paths = instance
    code, out, _ = run_cli(str(paths["plain"]), "--solver", "rc2")
    status, costs, v = parse_output(out)
    assert code == 30 and status == "OPTIMUM FOUND" and costs == [opt]
    code, out, _ = run_cli(str(paths["plain"]), "--solver", "polystep", "--flips", "5000")
    status, costs, v = parse_output(out)
    assert code == 10 and status == "SATISFIABLE" and costs and costs[-1] >= opt
    assert parse_bytes(data) == f
