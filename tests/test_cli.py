"""The CLI as a user runs it: a real subprocess, exit codes and messages, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT
from test_validate import EXPECTED


def run(*args):
    return subprocess.run([sys.executable, "-m", "coalition_report.cli", *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_help():
    r = run("--help")
    assert r.returncode == 0 and "validate" in r.stdout and "examples:" in r.stdout


def test_validate_valid_fixture_prints_summary():
    r = run("validate", "--data", str(FIXTURES / "valid"))
    assert r.returncode == 0, r.stderr
    assert "0 problems" in r.stdout and "aid_activities" in r.stdout and "newest date: 2025-03-27" in r.stdout


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_validate_broken_fixture_exits_1_one_line_per_problem(case):
    r = run("validate", "--data", str(FIXTURES / case))
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
