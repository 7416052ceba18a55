"""Tests of ``import-kiel WORKBOOK.xlsx`` (``coalition_report.kiel_workbook``).

No copy of Kiel's workbook is available offline: :func:`write_workbook` builds small ones in the
official layout (``../shared/research/kiel-workbook-layout.md``): sheet
``Bilateral Assistance, MAIN DATA`` with its header on row 1, sheet ``Country Summary (€)`` with
a preamble, an empty column A (as in Release 28), its header on row 8 and EUR billions, aggregate
rows, extra columns and sheets. Broken workbooks are the good one with one defect each.
"""

from __future__ import annotations

import csv
import hashlib
import math
import shutil
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from unittest import mock

import pytest
from openpyxl import Workbook
from openpyxl.compat import safe_string as _safe_string

from coalition_report.cli import main
from coalition_report.data import validate_data
from coalition_report.errors import DataValidationError
from coalition_report.kiel import KielImportError, KielLayoutError, KielReleaseError
from coalition_report.kiel_workbook import ACTIVITIES_SHEET, SUMMARY_SHEET, import_workbook
from conftest import FIXTURES, ROOT

DATA = ROOT / "data"
TODAY = "2026-07-01"

ACT_HEADER = ["ID", "donor", "announcement_date", "aid_type_general", "aid_type_specific",
              "measure", "tot_sub_activity_value_EUR", "tot_sub_activity_value_EUR_redistr",
              "tot_activity_value_EUR", "item", "month", "month_exists_dummy"]
SUM_HEADER = [None, "Country", "EU member", "Geographic Europe", "Financial allocations",
              "Humanitarian allocations", "Military allocations", "Total bilateral allocations",
              "Financial commitments", "Humanitarian commitments", "Military commitments",
              "Total bilateral commitments", "GDP (2021)", "GDP (2021)"]
TYPES = ("Financial", "Humanitarian", "Military")



def outdir(tmp_path: Path) -> Path:
    """The data folder an import writes into: import-kiel writes only into a folder that exists."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return out

def act(donor, day, aid_type, measure, value, redistr=None, activity=None, **extra) -> dict:
    """A main-data row keyed by Kiel's column names (an ISO ``day`` becomes an Excel date)."""
    try:
        day = datetime.fromisoformat(day) if day else None
    except ValueError:
        pass  # kept as text: a cell that is not a date
    return {"donor": donor, "announcement_date": day,
            "aid_type_general": aid_type, "measure": measure, "tot_sub_activity_value_EUR": value,
            "tot_sub_activity_value_EUR_redistr": value if redistr is None else redistr,
            "tot_activity_value_EUR": value if activity is None else activity, **extra}


def summary_row(country, alloc=(0.0, 0.0, 0.0), commit=(0.0, 0.0, 0.0), eu=1) -> dict:
    """A Country Summary row in EUR billions; alloc/commit in the order of TYPES."""
    row = {"Country": country, "EU member": eu, "Geographic Europe": 1,
           "Total bilateral allocations": math.fsum(a for a in alloc if isinstance(a, float)),
           "Total bilateral commitments": math.fsum(c for c in commit if isinstance(c, float))}
    for t, a, c in zip(TYPES, alloc, commit):
        row[f"{t} allocations"], row[f"{t} commitments"] = a, c
    return row


def write_workbook(path: Path, acts: list[dict], summary: list[dict], *,
                   preamble: tuple[str, ...] = ("Ukraine Support Tracker - Country Summary",),
                   summary_header_row: int = 8, rename: dict[str, str] | None = None,
                   drop_sheet: str | None = None, aggregates: bool = True) -> Path:
    """Write a workbook in Kiel's layout (``rename`` renames header cells, in either sheet)."""
    rename = rename or {}
    wb = Workbook()
    wb.active.title = "Read Me"
    wb["Read Me"]["A1"] = "Kiel Institute for the World Economy"
    main_ws = wb.create_sheet(ACTIVITIES_SHEET)
    main_ws.append([rename.get(c, c) for c in ACT_HEADER])
    for i, r in enumerate(acts, start=1):
        main_ws.append([i if c == "ID" else r.get(c) for c in ACT_HEADER])
    ws = wb.create_sheet(SUMMARY_SHEET)
    for i, text in enumerate(preamble, start=2):
        ws.cell(row=i, column=2, value=text)
    ws.cell(row=summary_header_row - 1, column=5, value="€ billion")
    for j, name in enumerate(SUM_HEADER, start=1):
        ws.cell(row=summary_header_row, column=j, value=rename.get(name, name))
    body = list(summary)
    if aggregates:
        total = {k: math.fsum(r[k] for r in summary) for k in summary[0] if k not in (
            "Country", "EU member", "Geographic Europe")} if summary else {}
        body += [{}, {"Country": "Total", **total}, {"Country": "EU", **total},
                 {"Country": "Cummulative total incl. EU", **total}]
    for i, r in enumerate(body, start=summary_header_row + 1):
        for j, name in enumerate(SUM_HEADER, start=1):
            if name and name in r:
                ws.cell(row=i, column=j, value=r[name])
    wb.create_sheet("Fig 1 Allocations")
    if drop_sheet:
        del wb[drop_sheet]
    # openpyxl writes numbers with 16 significant digits; Excel keeps a double's 17 (repr)
    with mock.patch("openpyxl.cell._writer.safe_string", _exact):
        wb.save(path)
    return path


def _exact(value):
    return repr(value) if isinstance(value, float) else _safe_string(value)


GOOD_ACTS = [
    act("United Kingdom", "2025-03-10", "Military", "Allocation", 1_000_000.0),
    act("France", None, "Humanitarian ", "Allocation", 500_000.0),      # trailing space: Kiel's
    {"item": "note row without a donor"},                                # not data
    act("France", "2025-03-01", "Financial", "Commitment", None, None, 2_000_000.0),
]
GOOD_SUMMARY = [
    summary_row("United Kingdom", alloc=(0.0, 0.0, 0.001), commit=(0.0, 0.0, 0.003), eu=0),
    summary_row("France", alloc=(0.0, 0.0005, 0.0), commit=(0.002, 0.0, 0.0)),
]
NAME = "3f2a-Ukraine_Support_Tracker_Release_29.xlsx"


def good(tmp_path: Path, name: str = NAME, **kw) -> Path:
    return write_workbook(tmp_path / name, kw.pop("acts", GOOD_ACTS),
                          kw.pop("summary", GOOD_SUMMARY), **kw)


@pytest.fixture()
def pkg(tmp_path) -> Path:
    """A copy of the small valid data package (actors GBR, FRA; Kiel release 28)."""
    return Path(shutil.copytree(FIXTURES / "valid", tmp_path / "pkg"))


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------------------------
# A good workbook


def test_small_workbook(tmp_path, pkg):
    before = (pkg / "sources.csv").read_bytes()
    result = import_workbook(good(tmp_path), pkg, today=TODAY)
    assert result.source_id == "kiel-r29" and result.validated
    acts = read(pkg / "aid_activities.csv")
    assert [(r["activity_id"], r["donor_id"], r["date"], r["aid_type"], r["measure"], r["value_eur"],
             r["activity_value_eur"], r["source_id"], r["kiel_sheet"], r["kiel_row"]) for r in acts] == [
        ("kiel-r29-00001", "GBR", "2025-03-10", "military", "allocation", "1000000.0", "1000000.0",
         "kiel-r29", ACTIVITIES_SHEET, "2"),
        ("kiel-r29-00002", "FRA", "", "humanitarian", "allocation", "500000.0", "500000.0",
         "kiel-r29", ACTIVITIES_SHEET, "3"),
        # the blank sub-activity value of a commitment reads as 0; row 4 had no donor
        ("kiel-r29-00003", "FRA", "2025-03-01", "financial", "commitment", "0.0", "2000000.0",
         "kiel-r29", ACTIVITIES_SHEET, "5"),
    ]
    assert acts[2]["value_eur_redistributed"] == ""
    totals = {(r["donor_id"], r["aid_type"], r["measure"]): (float(r["value_eur"]), r["kiel_row"])
              for r in read(pkg / "aid_totals.csv")}
    assert len(totals) == 12 and {r["kiel_sheet"] for r in read(pkg / "aid_totals.csv")} == {SUMMARY_SHEET}
    assert totals["GBR", "military", "allocation"] == (1_000_000.0, "9")
    assert totals["GBR", "military", "commitment"] == (3_000_000.0, "9")
    assert totals["FRA", "financial", "commitment"] == (2_000_000.0, "10")
    assert validate_data(pkg) == []

    # sources.csv: the new release's row after kiel-r28, every other line as it was
    lines = (pkg / "sources.csv").read_text(encoding="utf-8").splitlines(True)
    old = before.decode("utf-8").splitlines(True)
    k28 = next(i for i, line in enumerate(old) if line.startswith("kiel-r28,"))
    assert lines[:k28 + 1] + lines[k28 + 2:] == old
    row = read(pkg / "sources.csv")[k28]
    sha = hashlib.sha256((tmp_path / NAME).read_bytes()).hexdigest()
    assert row["source_id"] == "kiel-r29"
    assert row["title"] == f"Ukraine Support Tracker, Release 29 (Trebesch et al.); workbook {NAME}, sha256 {sha}"
    assert (row["publisher"], row["accessed"], row["kind"], row["published"]) == (
        "Kiel Institute for the World Economy", TODAY, "dataset", "")
    assert ACTIVITIES_SHEET in row["note"] and SUMMARY_SHEET in row["note"]

    # what the reader left out, and the difference report against release 28
    assert any("1 row(s)" in s and "(row 4)" in s for s in result.skipped)
    assert any("'Total' (row 12)" in s and "'EU' (row 13)" in s and "Cummulative" in s
               for s in result.skipped)
    report = (pkg / "kiel" / "import-diff-r29.md").read_text(encoding="utf-8")
    assert report == result.report
    assert report.startswith("# Kiel Ukraine Support Tracker: import of Release 29 (`kiel-r29`)")
    assert f"sha256 {sha}" in report and "Replaces: `kiel-r28`" in report
    assert "2 of 2 donors changed" in report
    assert "| GBR | United Kingdom | 1 | 1.0 | – → 3.0 | 1.0 |" in report
    assert "| FRA | France | 1 → 2 (+1) | 0.5 | – → 2.0 | 0.5 |" in report
    summary = result.summary()
    assert "sources.csv: row kiel-r29 added" in summary and "data package validated" in summary


def test_reimport_same_workbook_changes_nothing(tmp_path, pkg):
    wb = good(tmp_path)
    import_workbook(wb, pkg, today=TODAY)
    first = snapshot(pkg)
    again = import_workbook(wb, pkg, today="2030-01-01")
    report = "kiel/import-diff-r29.md"
    assert {k: v for k, v in snapshot(pkg).items() if k != report} == {
        k: v for k, v in first.items() if k != report}
    assert again.sources_action == "row kiel-r29 unchanged (same workbook)"
    assert "0 of 2 donors changed" in again.report


def test_new_file_for_the_same_release_updates_its_row(tmp_path, pkg):
    import_workbook(good(tmp_path), pkg, today=TODAY)
    fixed = good(tmp_path, name="Ukraine_Support_Tracker_Release_29_corrected.xlsx",
                 acts=GOOD_ACTS[:2] + GOOD_ACTS[3:])
    result = import_workbook(fixed, pkg, today="2026-07-02", url="https://example.org/r29.xlsx")
    assert result.sources_action.startswith("row kiel-r29 updated")
    rows = [r for r in read(pkg / "sources.csv") if r["source_id"] == "kiel-r29"]
    assert len(rows) == 1
    assert "Release_29_corrected.xlsx" in rows[0]["title"]
    assert (rows[0]["accessed"], rows[0]["url"]) == ("2026-07-02", "https://example.org/r29.xlsx")
    # the activity rows are renumbered from the rows that are data
    assert [r["kiel_row"] for r in read(pkg / "aid_activities.csv")] == ["2", "3", "4"]


def test_bare_folder_gets_tables_and_report_only(tmp_path):
    out = outdir(tmp_path)
    result = import_workbook(good(tmp_path), out, actors_csv=FIXTURES / "valid" / "actors.csv")
    assert not result.validated
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "aid_activities.csv", "aid_totals.csv", "kiel/import-diff-r29.md"]


# --------------------------------------------------------------------------------------------
# The release number


@pytest.mark.parametrize("name, preamble, given, expected", [
    (NAME, (), None, 29),
    ("kiel.xlsx", ("Ukraine Support Tracker", "Release 30 (data until 31 May 2026)"), None, 30),
    ("Ukraine_Support_Tracker_Release_29.xlsx", ("Release 29",), None, 29),
    ("kiel.xlsx", (), 31, 31),
    (NAME, (), 29, 29),
    ("kiel.xlsx", (), None, "cannot tell which Kiel release this is"),
    (NAME, ("Release 28",), None, "several releases (the file name: 29; the preamble of "
                                  "'Country Summary (€)': 28)"),
    (NAME, (), 30, "--release 30, but the file name names release 29"),
])
def test_release_from_the_workbook(tmp_path, pkg, name, preamble, given, expected):
    wb = good(tmp_path, name=name, preamble=preamble)
    if isinstance(expected, int):
        assert import_workbook(wb, pkg, release=given, today=TODAY).source_id == f"kiel-r{expected}"
    else:
        before = snapshot(pkg)
        with pytest.raises(KielReleaseError) as info:
            import_workbook(wb, pkg, release=given, today=TODAY)
        assert expected in str(info.value) and "\n" not in str(info.value)
        assert snapshot(pkg) == before


# --------------------------------------------------------------------------------------------
# Broken workbooks: one clear error or every bad row, and the data untouched


@pytest.mark.parametrize("kw, sheet, column, found, expected", [
    (dict(rename={"aid_type_general": "aid_type"}), ACTIVITIES_SHEET, "aid_type_general",
     "not found in header row 1 (closest there: 'aid_type')", "'aid_type_general'"),
    (dict(rename={"Total bilateral allocations": "Total allocations"}), SUMMARY_SHEET,
     "Total bilateral allocations", "not found in header row 8", "'Total bilateral allocations'"),
    (dict(rename={"donor": "Donor", "measure": "Measure"}), ACTIVITIES_SHEET, "donor, measure",
     "not found in header row 1", "'measure'"),
    (dict(drop_sheet=SUMMARY_SHEET), SUMMARY_SHEET, None, "not found",
     "expected Kiel's sheet 'Country Summary (€)' with the per-donor totals"),
    (dict(drop_sheet=ACTIVITIES_SHEET), ACTIVITIES_SHEET, None, "not found",
     "with the sub-activities"),
    (dict(summary_header_row=9), SUMMARY_SHEET, "Country, Military allocations",
     "the header is on row 9 (the header row moved)", "expected Kiel's header on row 8"),
])
def test_layout_errors(tmp_path, pkg, capsys, kw, sheet, column, found, expected):
    wb = good(tmp_path, **kw)
    before = snapshot(pkg)
    with pytest.raises(KielLayoutError) as info:
        import_workbook(wb, pkg, today=TODAY)
    err = info.value
    assert (err.file, err.sheet) == (NAME, sheet)
    assert err.column == column or (column and err.column.startswith(column))
    message = str(err)
    assert "\n" not in message and f"sheet {sheet!r}" in message and found in message
    assert expected in message and "expected" in message
    assert snapshot(pkg) == before
    # the command line: exit 1, one line, no traceback, data untouched
    assert main(["import-kiel", str(wb), "--data", str(pkg)]) == 1
    out, errtext = capsys.readouterr()
    assert errtext.splitlines() == [f"error: {message}"] and out == ""
    assert snapshot(pkg) == before


def bad(row: int, column: str, value: str | None, rule: str, sheet: str = ACTIVITIES_SHEET):
    return (f"{NAME}[{sheet}]", row, column, value, rule)


@pytest.mark.parametrize("acts, summary, problems", [
    ([act("United Kingdom", "2025-03-10", "Military", "Allocation", "n/a", 1.0, 1.0)], None,
     {bad(2, "tot_sub_activity_value_EUR", "n/a", "number")}),
    ([act("United Kingdom", "2025-03-10", "Military", "Allocation", -5.0, 0.0, 0.0)], None,
     {bad(2, "tot_sub_activity_value_EUR", "-5.0", "minimum")}),
    ([act("Atlantis", "2025-03-10", "Military", "Allocation", 5.0)], None,
     {bad(2, "donor", "Atlantis", "donor-mapping")}),
    ([act("United Kingdom", "2025-03-10", "Military", "Allocation", None)], None,
     {bad(2, "tot_sub_activity_value_EUR", "", "required")}),
    ([act("United Kingdom", "2025-03-10", "Military", "Allocation", 5e15, 1.0, 1.0)], None,
     {bad(2, "tot_sub_activity_value_EUR", "5000000000000000.0", "plausible")}),
    ([act("United Kingdom", "10 March 2025", "Economic", "Pledge", 5.0)], None,
     {bad(2, "announcement_date", "10 March 2025", "date"), bad(2, "aid_type_general", "Economic", "enum"),
      bad(2, "measure", "Pledge", "enum")}),
    (None, [summary_row("United Kingdom", alloc=(0.0, "x", 0.001)),
            summary_row("Narnia"), summary_row("France", alloc=(0.0, -0.5, 0.0)),
            summary_row("France"),
            summary_row("Germany", alloc=(2000.0, 0.0, 0.0))],
     {bad(9, "Humanitarian allocations", "x", "number", SUMMARY_SHEET),
      bad(10, "Country", "Narnia", "donor-mapping", SUMMARY_SHEET),
      bad(11, "Humanitarian allocations", "-0.5", "minimum", SUMMARY_SHEET),
      bad(11, "Total bilateral allocations", "-0.5", "minimum", SUMMARY_SHEET),
      bad(12, "Country", "France", "primary-key", SUMMARY_SHEET),
      bad(13, "Country", "Germany", "donor-mapping", SUMMARY_SHEET),
      bad(13, "Financial allocations", "2000.0", "plausible", SUMMARY_SHEET),
      bad(13, "Total bilateral allocations", "2000.0", "plausible", SUMMARY_SHEET)}),
    (None, [GOOD_SUMMARY[0] | {"Total bilateral commitments": 0.004}, GOOD_SUMMARY[1]],
     {bad(9, "Total bilateral commitments", "0.004", "total-sum", SUMMARY_SHEET)}),
])
def test_bad_rows(tmp_path, pkg, capsys, acts, summary, problems):
    wb = good(tmp_path, acts=acts or GOOD_ACTS, summary=summary or GOOD_SUMMARY,
              aggregates=summary is None)
    before = snapshot(pkg)
    with pytest.raises(DataValidationError) as info:
        import_workbook(wb, pkg, today=TODAY)
    assert {(p.file, p.line, p.column, p.value, p.rule) for p in info.value.problems} == problems
    assert snapshot(pkg) == before
    assert main(["import-kiel", str(wb), "--data", str(pkg)]) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert snapshot(pkg) == before


def test_invalid_package_is_not_replaced(tmp_path, pkg):
    """The importer validates the whole package with the new tables before writing anything."""
    meetings = (pkg / "meetings.csv").read_text(encoding="utf-8")
    (pkg / "meetings.csv").write_text(meetings.replace("2025-03-27,,Paris", "2025-02-30,,Paris"),
                                      encoding="utf-8")
    before = snapshot(pkg)
    with pytest.raises(DataValidationError) as info:
        import_workbook(good(tmp_path), pkg, today=TODAY)
    assert {(p.file, p.rule) for p in info.value.problems} == {("meetings.csv", "type")}
    assert snapshot(pkg) == before


def test_not_a_workbook(tmp_path, pkg, capsys):
    fake = tmp_path / "Ukraine_Support_Tracker_Release_29.xlsx"
    fake.write_text("<html>Access denied</html>")
    with pytest.raises(KielImportError, match="not a readable .xlsx workbook"):
        import_workbook(fake, pkg)
    assert main(["import-kiel", str(tmp_path / "missing.xlsx"), "--data", str(pkg)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path / 'missing.xlsx'}: no such file; expected Kiel's workbook (.xlsx)"]


@pytest.mark.parametrize("argv", [["import-kiel"], ["import-kiel", "x.xlsx", "--src", "data/kiel"],
                                  ["import-kiel", "x.xlsx", "--release", "0"]])
def test_cli_usage(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_cli_writes_report_copy(tmp_path, pkg, capsys):
    body = tmp_path / "pr" / "body.md"
    assert main(["import-kiel", str(good(tmp_path)), "--data", str(pkg), "--report", str(body),
                 "--url", "https://example.org/kiel.xlsx"]) == 0
    out = capsys.readouterr().out
    assert body.read_text(encoding="utf-8") == (pkg / "kiel" / "import-diff-r29.md").read_text(
        encoding="utf-8")
    assert "kiel-r29 from " + NAME in out and f"difference report also written to {body}" in out
    assert [r["url"] for r in read(pkg / "sources.csv") if r["source_id"] == "kiel-r29"] == [
        "https://example.org/kiel.xlsx"]


# --------------------------------------------------------------------------------------------
# Round trip: the shipped data written as Kiel's workbook imports back to the same numbers


def shipped_as_workbook(path: Path) -> Path:
    """Kiel's workbook rebuilt from the shipped extraction (``data/kiel/``)."""
    acts = []
    for i, r in enumerate(read(DATA / "kiel" / "bilateral_activities.csv")):
        kind = r["kategori"] + (" " if r["kategori"] == "Humanitarian" and i % 7 == 0 else "")
        acts.append(act(r["giver"], r["dato"] or None, kind, r["maal"], float(r["verdi_eur"]),
                        float(r["verdi_eur_redistr"]), float(r["verdi_eur_activity"]),
                        month=int(r["maaned_nr"])))
    summary = []
    for r in read(DATA / "kiel" / "country_summary.csv"):
        row = {"Country": r["land"], "EU member": int(r["er_eu_medlem"] == "True"),
               "Geographic Europe": int(r["er_geografisk_europa"] == "True"),
               "Total bilateral allocations": float(r["total_allocation"]),
               "Total bilateral commitments": float(r["total_commitment"])}
        for t in TYPES:
            for m in ("allocation", "commitment"):
                row[f"{t} {m}s"] = float(r[f"{t.lower()}_{m}"])
        summary.append(row)
    return write_workbook(path, acts, summary, preamble=("Ukraine Support Tracker",
                                                         "Release 28: data until 28 February 2026"))


def per_donor(rows: list[dict[str, str]], keys=("donor_id", "aid_type", "measure")) -> dict:
    sums = defaultdict(list)
    for r in rows:
        sums[tuple(r[k] for k in keys)].append(float(r["value_eur"]))
    return {k: math.fsum(v) for k, v in sums.items()}


def test_round_trip_with_the_shipped_data(tmp_path):
    pkg = Path(shutil.copytree(DATA, tmp_path / "data"))
    wb = shipped_as_workbook(tmp_path / "Ukraine_Support_Tracker_Release_28.xlsx")
    result = import_workbook(wb, pkg, today=TODAY)
    assert result.source_id == "kiel-r28"
    new_acts, old_acts = read(pkg / "aid_activities.csv"), read(DATA / "aid_activities.csv")
    new_tots, old_tots = read(pkg / "aid_totals.csv"), read(DATA / "aid_totals.csv")
    # the same per-donor totals, to the last digit, and the same rows but for where they were read
    assert per_donor(new_tots) == per_donor(old_tots)
    assert per_donor(new_acts) == per_donor(old_acts)
    assert per_donor(new_acts, ("donor_id",)) == per_donor(old_acts, ("donor_id",))
    strip = ("kiel_sheet", "kiel_row")
    assert [{k: v for k, v in r.items() if k not in strip} for r in new_acts] == [
        {k: v for k, v in r.items() if k not in strip} for r in old_acts]
    assert [{k: v for k, v in r.items() if k not in strip} for r in new_tots] == [
        {k: v for k, v in r.items() if k not in strip} for r in old_tots]
    assert {r["kiel_sheet"] for r in new_acts} == {ACTIVITIES_SHEET}
    assert [int(r["kiel_row"]) for r in new_acts] == list(range(2, len(old_acts) + 2))
    assert result.diff is not None and not result.diff["changed"].any()
    assert f"0 of {len(result.diff)} donors changed" in result.report
    assert [line for line, _, _ in result.negative_rows] == [
        n for n, r in enumerate(read(DATA / "kiel" / "bilateral_activities.csv"), start=2)
        if float(r["verdi_eur"]) < 0]
    # the release's source row now names the workbook; every other source is as shipped
    assert result.sources_action.startswith("row kiel-r28 updated")
    new_src = {r["source_id"]: r for r in read(pkg / "sources.csv")}
    old_src = {r["source_id"]: r for r in read(DATA / "sources.csv")}
    assert list(new_src) == list(old_src)
    assert {k: v for k, v in new_src.items() if k != "kiel-r28"} == {
        k: v for k, v in old_src.items() if k != "kiel-r28"}
    assert "workbook Ukraine_Support_Tracker_Release_28.xlsx, sha256 " in new_src["kiel-r28"]["title"]
    assert validate_data(pkg) == []
