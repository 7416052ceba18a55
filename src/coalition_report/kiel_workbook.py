"""Read the workbook Kiel publishes (``Ukraine_Support_Tracker_Release_<N>.xlsx``).

The workbook is read by Kiel's own sheet and column names (what is known of its layout:
``../shared/research/kiel-workbook-layout.md`` and the README section "After a new Kiel release"):

``Bilateral Assistance, MAIN DATA``
    One row per sub-activity, header on row 1. Columns used: ``donor``, ``announcement_date``
    (an Excel date; empty when undated), ``aid_type_general``, ``measure``,
    ``tot_sub_activity_value_EUR`` (EUR), ``tot_sub_activity_value_EUR_redistr`` and
    ``tot_activity_value_EUR``. Rows without a donor are not data.
``Country Summary (€)``
    A preamble, the header on row 8, values in EUR billions. Columns used: ``Country``,
    ``{Financial,Humanitarian,Military} {allocations,commitments}``,
    ``Total bilateral {allocations,commitments}``. Aggregate rows (``Total``, ``EU``, names
    containing ``total``/``cumulative``/``cummulative``) and rows without a country are not data.

Columns are found by name wherever they are in the header row (Release 28 added an empty
column A to the summary sheet); other columns are ignored. Cells become the text the shared path
of :mod:`coalition_report.kiel` expects: whitespace stripped, dates ISO, numbers ``repr`` of the
float. Everything after that (row rules, release, ``sources.csv``, validation, writing, the
difference report) is :func:`coalition_report.kiel.import_source`.

The names of the redistributed and whole-activity value columns are not in the layout notes; they
are those of the public parser the shipped R28 extraction came from
(``marhip97/ukrainastotte``, ``src/ingest/parse_kiel.py``), checked there against the R28 file.
"""

from __future__ import annotations

import difflib
import zipfile
from datetime import date, datetime
from pathlib import Path

from .kiel import (ACTIVITY_FIELDS, SUMMARY_FIELDS, KielImportError, KielLayoutError, KielSource,
                   RawSheet, locate_columns, release_numbers, sha256_file)
from .kiel_import import KielImport, import_source

__all__ = ["ACTIVITIES_SHEET", "SUMMARY_SHEET", "WORKBOOK_ACTIVITY_COLUMNS",
           "WORKBOOK_SUMMARY_COLUMNS", "import_workbook", "read_workbook"]

ACTIVITIES_SHEET = "Bilateral Assistance, MAIN DATA"
ACTIVITIES_HEADER_ROW = 1
SUMMARY_SHEET = "Country Summary (€)"
SUMMARY_HEADER_ROW = 8

#: Shared field name -> Kiel's column in the main-data sheet.
WORKBOOK_ACTIVITY_COLUMNS = dict(zip(ACTIVITY_FIELDS, (
    "donor", "announcement_date", "aid_type_general", "measure", "tot_sub_activity_value_EUR",
    "tot_sub_activity_value_EUR_redistr", "tot_activity_value_EUR")))
#: Shared field name -> Kiel's column in the summary sheet (EUR billions).
WORKBOOK_SUMMARY_COLUMNS = {
    "donor": "Country",
    **{f"{t}_{m}": f"{t.capitalize()} {m}s" for t, m in
       (f.split("_") for f in SUMMARY_FIELDS[1:] if not f.startswith("total_"))},
    "total_allocation": "Total bilateral allocations",
    "total_commitment": "Total bilateral commitments",
}

#: Rows searched for a header that moved (and for a release number in the summary's preamble).
_SCAN_ROWS = 30


def _text(value: object) -> str:
    """A cell as the shared path reads it."""
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: True is an int
        return str(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return repr(float(value))
    return str(value).strip()


def _is_aggregate(name: str) -> bool:
    low = name.lower()
    return low in ("total", "eu") or any(w in low for w in ("total", "cumulative", "cummulative"))


def _sheet(wb, name: str, header_row: int, wanted: dict[str, str], label: str,
           kind: str) -> tuple[RawSheet, list[tuple[int, dict[str, str], bool]], list[list[str]]]:
    """Locate ``wanted`` in sheet ``name``.

    Returns the sheet (rows not yet set), its data rows as ``(row, cells, blank)`` (``blank``:
    the whole row is empty) and every row as text.
    """
    if name not in wb.sheetnames:
        close = difflib.get_close_matches(name, wb.sheetnames, n=1, cutoff=0.5)
        found = "not found" + (f" (closest: {close[0]!r})" if close else
                               f" ({len(wb.sheetnames)} other sheets)")
        raise KielLayoutError(label, name, None, found, f"Kiel's sheet {name!r} with the {kind}")
    rows = [[_text(c) for c in r] for r in wb[name].iter_rows(min_row=1, values_only=True)]
    header = rows[header_row - 1] if len(rows) >= header_row else []
    index = locate_columns(header, wanted, file=label, sheet=name, header_row=header_row,
                           other_rows=enumerate(rows[:_SCAN_ROWS], start=1))
    width = max(index.values()) + 1
    data = []
    for n, row in enumerate(rows[header_row:], start=header_row + 1):
        padded = row + [""] * (width - len(row))
        data.append((n, {key: padded[i] for key, i in index.items()}, not any(row)))
    return RawSheet(f"{label}[{name}]", name, dict(wanted), []), data, rows


def read_workbook(path: Path) -> KielSource:
    """Read Kiel's workbook into a :class:`~coalition_report.kiel.KielSource`.

    The release number is taken from the file name (``..._Release_28.xlsx``), the workbook's
    title/subject properties and the summary sheet's preamble (rows above its header); the
    shared path checks that they agree.

    Raises
    ------
    KielImportError
        If the file is missing or is not an ``.xlsx`` workbook.
    KielLayoutError
        If a sheet or a column is missing or the header is not on its row.
    """
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise KielImportError(f"{path}: no such file; expected Kiel's workbook (.xlsx)")
    try:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        raise KielImportError("reading Kiel's workbook needs openpyxl: pip install openpyxl") from None
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise KielImportError(f"{label}: not a readable .xlsx workbook "
                              f"({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    try:
        acts, act_rows, _ = _sheet(wb, ACTIVITIES_SHEET, ACTIVITIES_HEADER_ROW,
                                   WORKBOOK_ACTIVITY_COLUMNS, label, "sub-activities")
        summary, sum_rows, sum_text = _sheet(wb, SUMMARY_SHEET, SUMMARY_HEADER_ROW,
                                             WORKBOOK_SUMMARY_COLUMNS, label, "per-donor totals")
        props = wb.properties
        modified = props.modified.date().isoformat() if props.modified else ""
        prop_text = " ".join(t for t in (props.title, props.subject) if t)
    finally:
        wb.close()

    no_donor = [n for n, r, blank in act_rows if not r["donor"] and not blank]
    acts.rows = [(n, r) for n, r, _ in act_rows if r["donor"]]
    if no_donor:
        acts.skipped.append(f"{len(no_donor)} row(s) of {ACTIVITIES_SHEET!r} without a donor "
                            f"(row{'s' if len(no_donor) > 1 else ''} {_ranges(no_donor)})")
    aggregates = [(n, r["donor"]) for n, r, _ in sum_rows if _is_aggregate(r["donor"])]
    summary.rows = [(n, r) for n, r, _ in sum_rows if r["donor"] and not _is_aggregate(r["donor"])]
    if aggregates:
        summary.skipped.append(f"aggregate row(s) of {SUMMARY_SHEET!r}: " + ", ".join(
            f"{name!r} (row {n})" for n, name in aggregates))

    hints = [("the file name", n) for n in sorted(release_numbers(path.stem))]
    hints += [("the workbook properties", n) for n in sorted(release_numbers(prop_text))]
    hints += [(f"the preamble of {SUMMARY_SHEET!r}", n)
              for n in sorted(release_numbers(" ".join(c for r in sum_text[:SUMMARY_HEADER_ROW - 1]
                                                       for c in r)))]
    sha = sha256_file(path)
    note = (f"Imported with coalition-report import-kiel from sheets {ACTIVITIES_SHEET!r} (header "
            f"row {ACTIVITIES_HEADER_ROW}) and {SUMMARY_SHEET!r} (header row {SUMMARY_HEADER_ROW}, "
            f"EUR billions). accessed = import date"
            + (f"; workbook last modified {modified} (file properties)." if modified else "."))
    return KielSource(label=label, description=f"{label}, sha256 {sha}", activities=acts,
                      summary=summary, release_hints=hints, note=note, kind="workbook")


def _ranges(numbers: list[int]) -> str:
    """``[2, 3, 4, 9]`` -> ``"2-4, 9"`` (at most ten ranges)."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    text = [f"{a}-{b}" if a != b else str(a) for a, b in spans[:10]]
    return ", ".join(text) + (", ..." if len(spans) > 10 else "")


def import_workbook(path: Path, out_dir: Path, *, release: int | None = None,
                    actors_csv: Path | None = None, url: str | None = None,
                    today: str | None = None, report: Path | None = None) -> KielImport:
    """Import Kiel's workbook into the data package (``import-kiel WORKBOOK.xlsx``).

    Reads it with :func:`read_workbook`; the parameters, result and errors are those of
    :func:`coalition_report.kiel_import.import_source`.
    """
    return import_source(read_workbook(path), out_dir, release=release, actors_csv=actors_csv,
                         url=url, today=today, report=report)
