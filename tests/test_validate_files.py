"""validate covers everything the build reads (issue 17, item 3): the daily ECB rates are a
validated resource, and anything in the data folder that is not a regular file, or that nobody
described, is reported by validate and never opened by the build (which would hang on a FIFO and
read ``/dev/zero`` forever)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coalition_report.cli import main
from coalition_report.data import load_data, validate_data
from coalition_report.render import hash_directory
from conftest import FIXTURES, ROOT, make_special

CLI = [sys.executable, "-m", "coalition_report.cli"]


@pytest.fixture()
def pkg(tmp_path) -> Path:
    return Path(shutil.copytree(FIXTURES / "valid", tmp_path / "pkg"))


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory) -> Path:
    return Path(shutil.copytree(ROOT / "data", tmp_path_factory.mktemp("shipped") / "data"))


def rules(problems) -> list[tuple]:
    return sorted((p.file, p.line, p.column, p.rule) for p in problems)


@pytest.mark.parametrize("kind, says", [
    ("dev-zero-link", "a symbolic link to /dev/zero"),
    ("fifo", "a FIFO (named pipe)"),
    ("file-link", "a symbolic link to "),
    ("dir-link", "a symbolic link to "),
])
def test_specials_are_reported_and_never_opened(tmp_path, pkg, kind, says):
    make_special(pkg / "stray", kind, folder=tmp_path, file=pkg / "sources.csv")
    problems = validate_data(pkg)
    assert rules(problems) == [("stray", None, None, "not-regular-file")]
    assert says in problems[0].message
    # the build's data hash does not open it either (it would block or never end)
    assert len(hash_directory(pkg)) == 64
    # and neither validate nor build hangs: each ends with the problem, exit 1
    for cmd in (["validate"], ["build", "--out", str(tmp_path / "out"), "--format", "html"]):
        r = subprocess.run([*CLI, *cmd, "--data", str(pkg)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "stray: rule not-regular-file" in r.stderr


def test_a_linked_folder_changes_the_data_hash(tmp_path, pkg):
    outside = Path(shutil.copytree(pkg, tmp_path / "outside"))
    before = hash_directory(pkg)
    (pkg / "fx").symlink_to(outside, target_is_directory=True)
    assert hash_directory(pkg) != before


def test_undescribed_files_are_reported(pkg):
    (pkg / "notes.txt").write_text("remember to check France\n")
    (pkg / "kiel").mkdir()
    (pkg / "kiel" / "PROVENANCE.md").write_text("Processed tables: `bilateral_activities.csv`.\n")
    (pkg / "kiel" / "bilateral_activities.csv").write_text("giver\n")   # named in its PROVENANCE.md
    (pkg / "kiel" / "other.csv").write_text("x\n")                      # not named
    (pkg / "kiel" / "import-diff-r29.md").write_text("# report\n")       # Markdown: a document
    (pkg / ".hidden").write_text("skipped, like the data hash skips it\n")
    problems = validate_data(pkg)
    assert rules(problems) == [("kiel/other.csv", None, None, "undescribed-file"),
                               ("notes.txt", None, None, "undescribed-file")]
    assert "declare it as a resource" in problems[0].message


def test_shipped_package_describes_every_file():
    assert validate_data(ROOT / "data") == []


def test_ecb_daily_rates_are_a_validated_resource():
    ds = load_data(ROOT / "data")
    daily = ds.fx_daily
    with open(ROOT / "data" / "fx" / "ecb-daily.csv", encoding="utf-8") as fh:
        n = sum(1 for _ in fh) - 1
    assert len(daily) == n and set(daily["source_id"]) == {"ecb-eurofxref-hist"}
    assert "ecb-eurofxref-hist" in set(ds.sources["source_id"])


@pytest.mark.parametrize("edit, expected", [
    (lambda lines: [lines[0].replace("USD", "US Dollar", 1), *lines[1:]],
     [("fx/ecb-daily.csv", 1, "US Dollar", "unknown-column"), ("fx/ecb-daily.csv", 1, "USD", "missing-column")]),
    (lambda lines: [*lines[:-2], lines[-2].replace(",", "x,", 2).replace("x,", ",", 1), lines[-1]],
     "type"),
    (lambda lines: [*lines[:5], lines[4], *lines[5:]], "primary-key"),
    (lambda lines: [*lines[:3], lines[3].replace(lines[3].split(",")[2], "-0.8", 1), *lines[4:]], "range"),
])
def test_corrupted_daily_rates_fail_validate_not_the_notebook(shipped_copy, tmp_path, capsys, edit, expected):
    data = Path(shutil.copytree(shipped_copy, tmp_path / "data"))
    path = data / "fx" / "ecb-daily.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    path.write_text("\n".join(edit(lines)), encoding="utf-8")
    problems = validate_data(data)
    assert problems and all(p.file == "fx/ecb-daily.csv" for p in problems), problems
    if isinstance(expected, str):
        assert [p.rule for p in problems] == [expected]
        assert problems[0].line is not None and problems[0].column is not None
    else:
        assert rules(problems) == sorted(expected)
    capsys.readouterr()
    code = main(["validate", "--data", str(data)])  # in this process: nothing here is about the process
    err = capsys.readouterr().err
    assert code == 1 and "fx/ecb-daily.csv:" in err and "Traceback" not in err


def test_rate_1_1172x_names_its_line_and_column(shipped_copy, tmp_path):
    data = Path(shutil.copytree(shipped_copy, tmp_path / "data"))
    path = data / "fx" / "ecb-daily.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("2026-10-30,1.1172,"))
    lines[i] = lines[i].replace("1.1172,", "1.1172x,", 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [p] = validate_data(data)
    assert (p.file, p.line, p.column, p.value, p.rule) == ("fx/ecb-daily.csv", i + 1, "USD", "1.1172x", "type")
