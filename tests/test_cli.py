"""The CLI as a user runs it: exit codes and messages, never a traceback.

A real subprocess where the process itself is under test (help, usage errors, a missing folder,
a valid package, an interrupted run); the many message cases (each broken fixture, each refused
parameter) call ``cli.main`` in this process: the same code from argv to exit code, without an
interpreter start and pandas import per case (~0.6 s of CPU each, ~30 cases)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT
from test_validate import EXPECTED


def run(*args):
    return subprocess.run([sys.executable, "-m", "coalition_report.cli", *args],
                          capture_output=True, text=True, cwd=ROOT)


def run_main(capsys, *args) -> subprocess.CompletedProcess:
    """``coalition-report ARGS`` through ``cli.main`` in this process, answered like :func:`run`."""
    from coalition_report import cli

    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["coalition-report", *args], code, out, err)


def test_help():
    r = run("--help")
    assert r.returncode == 0 and "validate" in r.stdout and "examples:" in r.stdout


def test_validate_valid_fixture_prints_summary():
    r = run("validate", "--data", str(FIXTURES / "valid"))
    assert r.returncode == 0, r.stderr
    assert "0 problems" in r.stdout and "aid_activities" in r.stdout and "newest date: 2025-03-27" in r.stdout


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_validate_broken_fixture_exits_1_one_line_per_problem(capsys, case):
    r = run_main(capsys, "validate", "--data", str(FIXTURES / case))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == f"{len(EXPECTED[case])} problem(s) found"
    for (file, line, column, rule), text in zip(sorted(EXPECTED[case], key=str), sorted(lines[:-1])):
        assert text.startswith(file if line is None else f"{file}:{line}")
        assert f"rule {rule}" in text
        if column:
            assert f"column '{column}'" in text


def test_validate_missing_dir_is_clean_error(tmp_path):
    r = run("validate", "--data", str(tmp_path / "nope"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "datapackage.json" in r.stderr


def test_unknown_command_is_usage_error():
    r = run("frobnicate")
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["-p", "top_nn=3"], "parameter top_nn='3': notebook 'coalition_brief'; unknown parameter (not declared in "
                         "the notebook's parameters cell); rule: known parameters; allowed: as_of, compare_to, "
                         "currency, data_dir, top_n"),
    (["-p", "top_n=99"], "parameter top_n=99: notebook 'coalition_brief'; 99 is out of range; "
                         "rule: integer from 5 to 40"),
    (["-p", "currency=CHF"], "rule: one of EUR, USD, GBP"),
    (["-p", "nonsense"], "expected NAME=VALUE"),
    # an unclosed list: the parser sees the end of the file (line 2) where "]" belongs
    (["--params", "BAD_YAML"], "line 2, column 1: not valid YAML (expected ',' or ']'"),
    (["--params", "LIST_YAML"], "must be a YAML mapping NAME: VALUE"),
    (["--params", "GOOD_YAML", "-p", "top_n=41"], "parameter top_n=41"),  # -p wins over the file
])
def test_build_parameters_are_one_line_before_anything_runs(capsys, tmp_path, args, needle):
    """-p NAME=VALUE and --params FILE.yaml are checked against the notebook's parameters cell:
    one line naming the parameter and the rule, exit 2, no output folder made."""
    files = {"BAD_YAML": "top_n: [1\n", "LIST_YAML": "- top_n\n", "GOOD_YAML": "top_n: 12\ncurrency: GBP\n"}
    for i, a in enumerate(args):
        if a in files:
            (tmp_path / f"{a}.yaml").write_text(files[a])
            args[i] = str(tmp_path / f"{a}.yaml")
    r = run_main(capsys, "build", *args, "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("error: ") and needle in line, line
    assert not (tmp_path / "out").exists()


#: A stop signal's exception landing inside a constructor, as one did inside asyncio's event
#: loop (CI): the half-built object fails in its finaliser, and a coroutine it held was never
#: awaited. Run as the CLI's own process, so the finalisers run when they do for a user.
_HALF_BUILT = r"""
import signal, sys
from coalition_report import cli
from coalition_report.errors import BuildInterrupted

class HalfBuilt:
    def __init__(self, job):
        self.job = job
        raise BuildInterrupted(signal.SIGINT, "demo: interrupted by SIGINT during execute")
        self.handlers = {}  # never reached, like the loop's _signal_handlers
    def __del__(self):
        list(self.handlers)  # AttributeError, as asyncio's BaseEventLoop.__del__ raised

async def start_kernel():
    pass

def handler(args):
    HalfBuilt(start_kernel())

cli._validate = handler
sys.exit(cli.main(["validate"]))
"""


def test_an_interrupted_build_leaves_one_line_not_the_debris_of_what_it_cut_short():
    r = subprocess.run([sys.executable, "-c", _HALF_BUILT], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 130, r.stderr
    assert r.stderr.splitlines() == ["error: demo: interrupted by SIGINT during execute"], r.stderr
