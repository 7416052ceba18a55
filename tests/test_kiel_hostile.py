"""Hostile Kiel workbooks (issue 17, item 2): each defect is one clear problem naming the sheet,
the cell and the rule, exit 1 from the CLI, no traceback, and the data package untouched.

The workbooks are the good one of ``test_kiel_workbook`` with one defect each, made with openpyxl
or, for what openpyxl will not write (a number cell holding ``12abc``, a DTD, damaged XML), by
editing the saved file's XML inside its zip.
"""

from __future__ import annotations

import re
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.chart import BarChart, Reference

from coalition_report.cli import main
from coalition_report.errors import DataValidationError
from coalition_report.kiel import KielImportError, KielLayoutError
from coalition_report.kiel_workbook import ACTIVITIES_SHEET, SUMMARY_SHEET, import_workbook
from test_kiel_workbook import GOOD_ACTS, NAME, TODAY, act, good, pkg, snapshot  # noqa: F401

MAIN = f"{NAME}[{ACTIVITIES_SHEET}]"


def edit(path: Path, fn, *, wb_edit=None) -> Path:
    """Save the workbook at ``path`` after ``wb_edit(workbook)`` (openpyxl), or rewrite its main
    sheet's XML with ``fn(xml_text)``."""
    if wb_edit is not None:
        wb = load_workbook(path)
        wb_edit(wb)
        wb.save(path)
    if fn is not None:
        part = sheet_part(path, ACTIVITIES_SHEET)
        rewrite_part(path, part, fn)
    return path


def sheet_part(path: Path, title: str) -> str:
    """The zip member holding sheet ``title`` (via workbook.xml and its relationships)."""
    with zipfile.ZipFile(path) as zf:
        wb_xml = zf.read("xl/workbook.xml").decode()
        rels = zf.read("xl/_rels/workbook.xml.rels").decode()
    esc = title.replace("&", "&amp;")
    rid = re.search(rf'<sheet [^>]*name="{re.escape(esc)}"[^>]*r:id="(rId\d+)"', wb_xml)
    rid = rid or re.search(rf'<sheet [^>]*r:id="(rId\d+)"[^>]*name="{re.escape(esc)}"', wb_xml)
    target = re.search(rf'<Relationship [^>]*Id="{rid.group(1)}"[^>]*Target="([^"]+)"', rels) or \
        re.search(rf'<Relationship [^>]*Target="([^"]+)"[^>]*Id="{rid.group(1)}"', rels)
    t = target.group(1)
    return t.lstrip("/") if t.startswith("/") else "xl/" + t


def rewrite_part(path: Path, part: str, fn) -> None:
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i.filename)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in items:
            if info.filename == part:
                data = fn(data.decode("utf-8")).encode("utf-8")
            zf.writestr(info, data)


def refused(tmp_path, pkg, wb: Path, capsys, error=DataValidationError) -> tuple[Exception, str]:
    """Import ``wb`` into ``pkg``: it must raise ``error`` and leave ``pkg`` as it was; the CLI
    must exit 1 with problem lines only (no traceback, no control character)."""
    before = snapshot(pkg)
    with pytest.raises(error) as info:
        import_workbook(wb, pkg, today=TODAY)
    assert snapshot(pkg) == before
    assert not list(pkg.parent.glob(f".{pkg.name}.import-kiel*"))
    capsys.readouterr()
    assert main(["import-kiel", str(wb), "--data", str(pkg)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", err)
    assert snapshot(pkg) == before
    return info.value, err


def one_problem(exc: DataValidationError, rule: str):
    hits = [p for p in exc.problems if p.rule == rule]
    assert len(hits) == 1, exc.problems
    return hits[0]


# --------------------------------------------------------------------------------------------
# Cells


def test_formula_without_cached_value_is_refused(tmp_path, pkg, capsys):
    # openpyxl writes a formula without computing it: the file has <f> and no <v>, like a
    # workbook saved by a program that does not calculate
    wb = edit(good(tmp_path), None, wb_edit=lambda b: b[ACTIVITIES_SHEET].__setitem__("G2", "=1000000*1"))
    exc, err = refused(tmp_path, pkg, wb, capsys)
    p = one_problem(exc, "formula-not-computed")
    assert (p.file, p.line, p.column, p.value) == (MAIN, 2, "tot_sub_activity_value_EUR", "=1000000*1")
    assert "cell G2" in p.message
    assert "rule formula-not-computed" in err and "cell G2" in err


def test_donor_merged_over_rows_is_refused_not_dropped(tmp_path, pkg, capsys):
    acts = [act("United Kingdom", "2025-03-10", "Military", "Allocation", 1_000_000.0),
            act("France", "2025-03-11", "Humanitarian", "Allocation", 200_000.0),
            act(None, "2025-03-12", "Humanitarian", "Allocation", 200_000.0),
            act(None, "2025-03-13", "Humanitarian", "Allocation", 100_000.0)]
    wb = edit(good(tmp_path, acts=acts), None,
              wb_edit=lambda b: b[ACTIVITIES_SHEET].merge_cells("B3:B5"))
    exc, err = refused(tmp_path, pkg, wb, capsys)
    p = one_problem(exc, "merged-cells")
    assert (p.file, p.line, p.column, p.value) == (MAIN, 3, "donor", "B3:B5")
    assert "fill every row" in p.message


def test_merged_cells_outside_the_data_columns_are_fine(tmp_path, pkg):
    # the summary sheet's preamble (above the header) and an unused column may be merged
    def merge(b):
        b[SUMMARY_SHEET].merge_cells("B2:D3")
        b[ACTIVITIES_SHEET].merge_cells("J2:J4")  # column 'item' is not read
    result = import_workbook(edit(good(tmp_path), None, wb_edit=merge), pkg, today=TODAY)
    assert result.n_activities == 3


@pytest.mark.parametrize("value, rule, why", [
    (float("nan"), "number", "not a finite number"),
    (float("inf"), "number", "not a finite number"),
    ("12abc", "number", "not a number"),
    ("#DIV/0!", "number", "not a number"),
])
def test_bad_numbers_are_refused(tmp_path, pkg, capsys, value, rule, why):
    acts = [act("United Kingdom", "2025-03-10", "Military", "Allocation", value, 1.0, 1.0), *GOOD_ACTS[1:]]
    exc, err = refused(tmp_path, pkg, good(tmp_path, acts=acts), capsys)
    p = one_problem(exc, rule)
    assert (p.file, p.line, p.column) == (MAIN, 2, "tot_sub_activity_value_EUR")
    assert p.message.startswith("cell G2: ") and why in p.message


def test_number_cell_holding_text_in_the_xml_is_refused(tmp_path, pkg, capsys):
    """``<c t="n"><v>12abc</v></c>``: openpyxl itself raises on it; the reader reports the cell."""
    wb = edit(good(tmp_path), lambda x: x.replace("<v>1000000.0</v>", "<v>12abc</v>", 1))
    assert "12abc" in zipfile.ZipFile(wb).read(sheet_part(wb, ACTIVITIES_SHEET)).decode()
    exc, _ = refused(tmp_path, pkg, wb, capsys)
    p = one_problem(exc, "cell")
    assert (p.file, p.line, p.value) == (MAIN, 2, "12abc") and "cell G2" in p.message


def test_control_characters_never_reach_the_terminal(tmp_path, pkg, capsys):
    # C1 controls and bidi overrides are legal in XML (ESC is not: a file name carries it)
    acts = [act("\u202eRuritania\x9b2J", "2025-03-10", "Military", "Allocation", 1.0), *GOOD_ACTS[1:]]
    src = good(tmp_path, acts=acts)
    hostile = src.with_name("Ukraine_Support_Tracker_Release_29\x1b]0;pwned\x07.xlsx")
    src.rename(hostile)
    exc, err = refused(tmp_path, pkg, hostile, capsys)
    assert "\\x1b" in err and "\\u202eRuritania\\x9b2J" in err
    assert one_problem(exc, "donor-mapping").file.startswith("Ukraine_Support_Tracker_Release_29\\x1b]0;pwned\\x07")


# --------------------------------------------------------------------------------------------
# The file and its XML


@pytest.mark.parametrize("head, says", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "password-protected"),
    (b"date,donor\n2025-01-01,France\n", "not a readable .xlsx workbook"),
])
def test_encrypted_or_not_a_workbook(tmp_path, pkg, capsys, head, says):
    wb = tmp_path / NAME
    wb.write_bytes(head)
    exc, err = refused(tmp_path, pkg, wb, capsys, KielImportError)
    assert says in str(exc) and "\n" not in str(exc)
    assert err.count("\n") == 1


def test_a_zip_that_is_not_a_workbook(tmp_path, pkg, capsys):
    wb = tmp_path / NAME
    with zipfile.ZipFile(wb, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
    exc, _ = refused(tmp_path, pkg, wb, capsys, KielImportError)
    assert "not a readable .xlsx workbook" in str(exc)


def test_dtd_is_refused_before_parsing(tmp_path, pkg, capsys):
    bomb = ('<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>')
    wb = edit(good(tmp_path), lambda x: bomb + (x.split("?>", 1)[1] if x.startswith("<?xml") else x))
    exc, err = refused(tmp_path, pkg, wb, capsys, KielImportError)
    assert "declares a DTD" in str(exc) and "xml-dtd" in str(exc)
    assert sheet_part(wb, ACTIVITIES_SHEET) in str(exc)


@pytest.mark.parametrize("damage", [
    lambda x: x[: len(x) // 2],                                     # truncated
    lambda x: x.replace("</row>", "</rowx>", 2),                   # malformed
    lambda x: x.replace('<row r="3"', '<row r="three"', 1),        # not Excel's
])
def test_damaged_sheet_xml(tmp_path, pkg, capsys, damage):
    exc, err = refused(tmp_path, pkg, edit(good(tmp_path), damage), capsys, KielImportError)
    message = str(exc)
    assert f"sheet {ACTIVITIES_SHEET!r}" in message and "rule xml" in message and "\n" not in message


def test_truncated_zip(tmp_path, pkg, capsys):
    wb = good(tmp_path)
    data = wb.read_bytes()
    wb.write_bytes(data[: len(data) * 2 // 3])
    exc, _ = refused(tmp_path, pkg, wb, capsys, KielImportError)
    assert NAME in str(exc)


@pytest.mark.parametrize("also_worksheet", [False, True])
def test_chartsheet_named_like_the_main_sheet(tmp_path, pkg, capsys, also_worksheet):
    def chart(b):
        ws = b[ACTIVITIES_SHEET]
        if also_worksheet:
            ws.title = "MAIN DATA (old)"
        else:
            del b[ACTIVITIES_SHEET]
        cs = b.create_chartsheet(ACTIVITIES_SHEET, 0)
        chart = BarChart()
        chart.add_data(Reference(b[SUMMARY_SHEET], min_col=5, min_row=8, max_row=10), titles_from_data=True)
        cs.add_chart(chart)
    exc, err = refused(tmp_path, pkg, edit(good(tmp_path), None, wb_edit=chart), capsys, KielLayoutError)
    assert exc.sheet == ACTIVITIES_SHEET and "chartsheet" in str(exc)


def test_huge_declared_dimension_costs_only_the_rows_present(tmp_path, pkg):
    """One cell at XFD1048576 (the 233 KB workbook that took 8.2 GB): streamed, it is one row."""
    wb = edit(good(tmp_path), None, wb_edit=lambda b: b[ACTIVITIES_SHEET].__setitem__("XFD1048576", "x"))
    assert "XFD1048576" in zipfile.ZipFile(wb).read(sheet_part(wb, ACTIVITIES_SHEET)).decode()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = import_workbook(wb, pkg, today=TODAY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 30
    assert peak < 100e6, f"{peak / 1e6:.0f} MB"
    assert result.n_activities == 3
    assert any("(rows 4, 1048576)" in s for s in result.skipped)


def test_dimension_beyond_excel_is_refused(tmp_path, pkg, capsys):
    wb = edit(good(tmp_path), lambda x: re.sub(r'<dimension ref="[^"]+"', '<dimension ref="A1:XFE2000000"', x))
    exc, _ = refused(tmp_path, pkg, wb, capsys, KielLayoutError)
    assert "Excel's 1,048,576 rows" in str(exc)


def test_parts_that_unpack_too_large_are_refused_before_parsing(tmp_path, pkg, capsys, monkeypatch):
    from coalition_report import kiel_workbook

    wb = good(tmp_path)
    with zipfile.ZipFile(wb) as zf:
        total = sum(i.file_size for i in zf.infolist())
    monkeypatch.setattr(kiel_workbook, "MAX_XML_BYTES", total - 1)
    monkeypatch.setattr(kiel_workbook, "load_workbook", None)  # never reached
    exc, _ = refused(tmp_path, pkg, wb, capsys, KielImportError)
    assert f"unpack to {total:,} bytes" in str(exc) and "zip bomb" in str(exc)


def test_successful_import_of_a_file_named_with_escapes_prints_them_escaped(tmp_path, pkg, capsys):
    wb = good(tmp_path)
    hostile = wb.with_name("Ukraine_Support_Tracker_Release_29\x1b[2J\x9b.xlsx")
    wb.rename(hostile)
    report = tmp_path / "body\x1b[31m.md"
    assert main(["import-kiel", str(hostile), "--data", str(pkg), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "Release_29\\x1b[2J\\x9b.xlsx" in out and "body\\x1b[31m.md" in out
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)
    assert report.is_file()
