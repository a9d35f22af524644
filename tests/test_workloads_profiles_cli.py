"""`python -m simulators.workloads.profiles`: the bare command rebuilds the default set, --list shows the cache."""

from __future__ import annotations

import subprocess
import sys

from simulators.workloads import ServiceConfig
from simulators.workloads import profiles as P


def test_bare_command_measures_the_default_solver_set_at_the_service_defaults(tmp_path, monkeypatch):
    calls = []

    def fake_measure(solvers, cls, sizes, instances, time_limit, seed=0, log=None):
        calls.append((solvers, cls.family, sizes, instances, time_limit))
        return {s: {"family": cls.family, "solver": s} for s in solvers}

    monkeypatch.setattr(P, "measure", fake_measure)
    monkeypatch.setenv("POLYSTEP_CACHE", str(tmp_path))
    assert P.main([]) == 0
    defaults = ServiceConfig()
    assert calls == [
        (P.DEFAULT_SOLVERS, "k3-a4.27", defaults.profile_sizes, defaults.profile_instances, defaults.profile_time_limit)
    ]
    written = sorted(p.name for p in (tmp_path / "maxsat_profiles").glob("*.json"))
    assert written == sorted(
        P.profile_path(".", s, "k3-a4.27", defaults.profile_sizes, defaults.profile_instances, 1.0).name
        for s in P.DEFAULT_SOLVERS
    )


def test_list_shows_cached_files_and_their_rebuild_command(tmp_path, capsys):
    assert P.main(["--list", "--dir", str(tmp_path)]) == 0
    assert "no solver profiles in" in capsys.readouterr().out
    data = {
        "solver": "probsat",
        "family": "k3-a4.27",
        "sizes": [20, 40],
        "instances": 2,
        "time_limit": 0.3,
        "created": "2026-01-01T00:00:00",
        "command": "python -m simulators.workloads.profiles --solvers probsat",
    }
    P.write_profile(tmp_path / "probsat__k3-a4.27__x.json", data)
    (tmp_path / "broken.json").write_text("{")
    assert P.main(["--list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "probsat on k3-a4.27, sizes [20, 40]" in out and "rebuild: python -m simulators.workloads.profiles" in out
    assert "broken.json: unreadable" in out


def test_bad_arguments_name_the_flag(capsys):
    assert P.main(["--sizes", "40", "20"]) == 2
    assert "--sizes: must be" in capsys.readouterr().err
    assert P.main(["--solvers", "teleport"]) == 2
    assert "--solvers: unknown 'teleport'" in capsys.readouterr().err


def test_help_runs_as_a_module_and_names_the_default():
    out = subprocess.run(
        [sys.executable, "-m", "simulators.workloads.profiles", "--help"], capture_output=True, text=True, check=True
    )
    assert "default: probsat rc2" in " ".join(out.stdout.split())
    assert "--list" in out.stdout and "RuntimeWarning" not in out.stderr
