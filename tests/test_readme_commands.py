"""Every `python -m ...` command README names works as written: its arguments parse, its configs build.

Commands of `python -m experiments` run in process: `list` and `report` for real, `run` and `tour` with `--dry-run`
(every sweep point's config is built and checked, nothing is computed). Other modules run in one subprocess whose
argparse stops right after parsing the README's arguments (so a missing required option fails here), and once more
with `--help`.
"""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import cli

ROOT = Path(__file__).resolve().parent.parent
SETUP_MODULES = {"pytest", "venv", "pip"}  # installation and the test suite itself


def readme_commands() -> list[list[str]]:
    """The `python -m MODULE ARGS` commands in README's code blocks and inline code, as argument lists."""
    text = (ROOT / "README.md").read_text()
    spans = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    inline = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    spans += re.findall(r"`([^`\n]+)`", inline)
    commands = []
    for span in spans:
        for line in span.splitlines():
            for part in re.split(r"&&|;|\|", line):
                words = shlex.split(part.split("#")[0])
                if len(words) >= 3 and words[0] in ("python", "python3") and words[1] == "-m":
                    if words[2] not in SETUP_MODULES and words[2:] not in commands:
                        commands.append(words[2:])
    return commands


COMMANDS = readme_commands()


def test_readme_names_commands():
    modules = {c[0] for c in COMMANDS}
    assert "experiments" in modules and len(COMMANDS) >= 5


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] == "experiments"], ids=" ".join)
def test_experiments_command_as_written(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = command[1:]
    if args and args[0] in ("run", "tour"):
        args = [*args, "--dry-run"]
    assert cli.main(args) == 0, capsys.readouterr().err
    assert "error" not in capsys.readouterr().err


_PARSE_ONLY = """
import argparse, contextlib, io, json, runpy, sys

class Parsed(Exception):
    pass

original = argparse.ArgumentParser.parse_args

def parse_and_stop(self, args=None, namespace=None):
    original(self, args, namespace)
    raise Parsed()

argparse.ArgumentParser.parse_args = parse_and_stop
results = []
for argv in json.loads(sys.argv[1]):
    sys.argv = list(argv)
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
        outcome = "ran to the end without parsing arguments"
    except Parsed:
        outcome = "ok"
    except SystemExit as stop:
        outcome = "ok" if stop.code in (0, None) else f"exit {stop.code}: {err.getvalue().strip()[-500:]}"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    results.append([argv, outcome, out.getvalue()[:2000]])
print(json.dumps(results))
"""


def test_other_module_commands_parse_as_written_and_have_help():
    others = [c for c in COMMANDS if c[0] != "experiments"]
    if not others:
        pytest.skip("README names no other module")
    argvs = others + [[c[0], "--help"] for c in others]
    done = subprocess.run([sys.executable, "-c", _PARSE_ONLY, json.dumps(argvs)], capture_output=True, text=True,
                          cwd=ROOT, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    failures = [f"python -m {' '.join(argv)}: {outcome}" for argv, outcome, _ in results if outcome != "ok"]
    assert not failures, "\n".join(failures)
    for argv, _, out in results:
        if argv[-1] == "--help":
            assert "usage:" in out, f"python -m {' '.join(argv)} printed no usage"
