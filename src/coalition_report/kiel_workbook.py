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

The workbook is read defensively, since it comes from outside: before openpyxl parses anything
the file must be a zip (an encrypted, password-protected workbook or an ``.xls`` is an OLE2 file
and is refused, naming the fix), its parts may hold at most :data:`MAX_XML_BYTES` of XML, and no
part may carry a DTD (``<!DOCTYPE``/``<!ENTITY``: entity expansion is refused, as ``defusedxml``
does). The two sheets are then streamed row by row from their XML, so memory grows with the rows
actually present, never with the declared dimension (a stray cell at ``XFD1048576`` costs one
cell). A chartsheet where a sheet is expected, a formula in a data column with no cached value
(a workbook saved by a program that does not compute), merged cells that cover a data column
below the header (the value would sit in the first row only: the other rows would lose it; they
are refused, never filled down by guess), a cell openpyxl cannot read (``12abc`` stored as a
number, a shared string that does not exist) and damaged or truncated XML are each one
problem naming the sheet, the cell and the rule. ``nan``, ``inf`` and text in numeric columns
are refused by the shared row rules. Names of files and sheets are shown with control characters
escaped.

The names of the redistributed and whole-activity value columns are not in the layout notes; they
are those of the public parser the shipped R28 extraction came from
(``marhip97/ukrainastotte``, ``src/ingest/parse_kiel.py``), checked there against the R28 file.
"""

from __future__ import annotations

import difflib
import re
import warnings
import zipfile
import zlib
from datetime import date, datetime
from pathlib import Path
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter, range_boundaries
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import FORMULA_TAG, VALUE_TAG, WorkSheetParser

from .kiel import (ACTIVITY_FIELDS, SUMMARY_FIELDS, KielImportError, KielLayoutError, KielSource,
                   RawSheet, locate_columns, release_numbers, sha256_file)
from .errors import Problem
from .kiel_import import KielImport, import_source
from .kiel_txn import printable

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


#: What a workbook's parts may unpack to (Kiel's Release 28 is a file of about 10 MB); more is
#: refused before anything is parsed (a zip bomb, or not Kiel's workbook).
MAX_XML_BYTES = 512 << 20
#: Rows and columns of an Excel sheet: a declared dimension beyond them is not Excel's.
EXCEL_MAX_ROW, EXCEL_MAX_COL = 1_048_576, 16_384
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DTD = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)
_DTD16 = re.compile(rb"<\x00!\x00(?:\s\x00)*(?:[dD]\x00[oO]\x00[cC]\x00|[eE]\x00[nN]\x00[tT]\x00)")


def _check_container(path: Path, label: str) -> None:
    """Refuse what is not a plain .xlsx before openpyxl sees it (see the module docstring)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_OLE2):
        raise KielImportError(
            f"{label}: a password-protected (encrypted) workbook or an old .xls file, not an .xlsx "
            f"workbook: open it in Excel and save it without a password as .xlsx")
    if not head.startswith(b"PK"):
        raise KielImportError(f"{label}: not a readable .xlsx workbook (not a zip file; starts with "
                              f"{printable(repr(head))}); expected Kiel's workbook")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise KielImportError(f"{label}: not a readable .xlsx workbook (damaged zip: "
                              f"{printable(exc)})") from None
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > MAX_XML_BYTES:
            raise KielImportError(
                f"{label}: its parts unpack to {total:,} bytes, more than the {MAX_XML_BYTES:,} an "
                f".xlsx workbook of Kiel's may hold (a zip bomb, or not Kiel's workbook)")
        for info in infos:
            if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
                continue
            try:
                with zf.open(info) as part:
                    tail = b""
                    while chunk := part.read(1 << 20):
                        window = tail + chunk
                        if _DTD.search(window) or _DTD16.search(window):
                            raise KielImportError(
                                f"{label}: part {printable(info.filename)} declares a DTD "
                                f"(<!DOCTYPE or <!ENTITY>); Excel never writes one and entities "
                                f"are not expanded: refused (rule xml-dtd)")
                        tail = chunk[-32:]
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
                raise KielImportError(f"{label}: part {printable(info.filename)} is damaged or "
                                      f"truncated ({printable(exc)}); download the workbook again"
                                      ) from None


class _CellParser(WorkSheetParser):
    """openpyxl's sheet parser (cached values), which also says which cells hold a formula
    without a cached value and which cells it could not read, instead of raising."""

    def parse_cell(self, element):
        coordinate = element.get("r")
        try:
            cell = super().parse_cell(element)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            if coordinate:
                row, column = coordinate_to_tuple(coordinate)
                self.col_counter = column
            else:
                self.col_counter += 1
                row, column = self.row_counter, self.col_counter
            raw = element.findtext(VALUE_TAG, "") or ""
            kind = element.get("t", "n")
            if kind == "n":
                try:  # "nan", "inf": a float after all, refused by the row rules as not finite
                    return {"row": row, "column": column, "value": float(raw)}
                except ValueError:
                    pass
            why = (f"shared string #{raw} does not exist" if kind == "s" else
                   f"stored as a number but is not one" if kind == "n" else
                   f"cannot be read as type {kind!r} ({type(exc).__name__})")
            return {"row": row, "column": column, "value": raw, "bad": why}
        formula = element.find(FORMULA_TAG)
        if formula is not None and cell["value"] is None:
            cell["uncomputed"] = "=" + (formula.text or "")
        return cell


def _cell_name(column: int, row: int) -> str:
    return f"{get_column_letter(column)}{row}" if 1 <= column <= EXCEL_MAX_COL else f"R{row}C{column}"


def _sheet(wb, name: str, header_row: int, wanted: dict[str, str], label: str,
           kind: str) -> tuple[RawSheet, list[tuple[int, dict[str, str], bool]], list[list[str]]]:
    """Locate ``wanted`` in sheet ``name`` and read its rows, streaming.

    Returns the sheet (rows not yet set; cell problems in ``problems``), its data rows as
    ``(row, cells, blank)`` (``blank``: the whole row is empty) and the first rows as text (for
    the header search and the release number in a preamble).
    """
    shown = printable(name)
    if name not in wb.sheetnames:
        close = difflib.get_close_matches(name, wb.sheetnames, n=1, cutoff=0.5)
        found = "not found" + (f" (closest: {printable(repr(close[0]))})" if close else
                               f" ({len(wb.sheetnames)} other sheets)")
        raise KielLayoutError(label, shown, None, found, f"Kiel's sheet {shown!r} with the {kind}")
    ws = wb[name]
    if not isinstance(ws, ReadOnlyWorksheet):
        raise KielLayoutError(label, shown, None, f"is a {type(ws).__name__.lower()} (a chart, "
                              f"no cells)", f"Kiel's worksheet {shown!r} with the {kind}")
    if (ws.max_row or 0) > EXCEL_MAX_ROW or (ws.max_column or 0) > EXCEL_MAX_COL:
        raise KielLayoutError(label, shown, None, f"declares {ws.max_row} rows and "
                              f"{ws.max_column} columns", f"at most Excel's {EXCEL_MAX_ROW:,} "
                              f"rows and {EXCEL_MAX_COL:,} columns")
    file = f"{label}[{shown}]"
    sheet = RawSheet(file, name, dict(wanted), [])
    head: list[list[str]] = []   # the first rows in full: header search, preamble
    kept: list[tuple[int, dict[int, dict], bool]] = []  # (row, used cells, any cell non-empty)
    index: dict[str, int] | None = None
    used: dict[int, str] = {}
    last = 0
    parser = None
    try:
        with ws._get_source() as src:  # openpyxl's streaming parser, without its row padding
            parser = _CellParser(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                                 date_formats=wb._date_formats,
                                 timedelta_formats=wb._timedelta_formats)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. a date out of range: reported as a cell
                for n, cells in parser.parse():
                    last = n
                    if n <= _SCAN_ROWS:
                        width = max((c["column"] for c in cells), default=0)
                        text = [""] * min(width, EXCEL_MAX_COL)
                        for c in cells:
                            if 1 <= c["column"] <= len(text):
                                text[c["column"] - 1] = _text(c["value"])
                        head.extend([[]] * (n - len(head) - 1))
                        head.append(text)
                    if index is None and n > _SCAN_ROWS:  # the header search sees every scanned row
                        header = head[header_row - 1] if len(head) >= header_row else []
                        index = locate_columns(header, wanted, file=label, sheet=shown,
                                               header_row=header_row,
                                               other_rows=enumerate(head[:_SCAN_ROWS], start=1))
                        used = {i + 1: wanted[key] for key, i in index.items()}
                    if n > header_row:  # only the cells of used columns are kept
                        keep = cells if index is None else [c for c in cells if c["column"] in used]
                        kept.append((n, {c["column"]: c for c in keep},
                                     any(_text(c["value"]) for c in cells)))
    except KielLayoutError:
        raise
    except (ParseError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise KielImportError(
            f"{label}: sheet {shown!r}: cannot be read after row {last} (rule xml: "
            f"{type(exc).__name__}: {printable(exc)}); the sheet's XML is damaged or truncated: "
            f"download the workbook again or save it again from Excel") from None
    if index is None:
        header = head[header_row - 1] if len(head) >= header_row else []
        index = locate_columns(header, wanted, file=label, sheet=shown, header_row=header_row,
                               other_rows=enumerate(head[:_SCAN_ROWS], start=1))
        used = {i + 1: wanted[key] for key, i in index.items()}
    sheet.letters = {col: get_column_letter(i) for i, col in used.items()}
    data = []
    for n, cells, nonblank in kept:
        for col, c in cells.items():
            if col not in used:
                continue
            where = f"cell {_cell_name(col, n)}"
            if "bad" in c:
                sheet.problems.append(Problem(file, n, used[col], printable(c["value"]), "cell",
                                              f"{where}: {c['bad']}"))
            elif "uncomputed" in c:
                sheet.problems.append(Problem(
                    file, n, used[col], printable(c["uncomputed"]), "formula-not-computed",
                    f"{where} holds a formula with no computed value (the workbook was saved by "
                    f"a program that does not calculate): open it in Excel or LibreOffice, "
                    f"recalculate and save"))
        row = {key: _text(cells[i + 1]["value"]) if i + 1 in cells else ""
               for key, i in index.items()}
        data.append((n, row, not nonblank))
    merged = getattr(parser, "merged_cells", None)
    for cell_range in getattr(merged, "mergeCell", None) or ():
        try:
            c1, r1, c2, r2 = range_boundaries(cell_range.ref)
        except (TypeError, ValueError):
            continue
        cols = [used[c] for c in sorted(used) if c1 <= c <= c2]
        if cols and r2 > header_row and (r1 != r2 or c1 != c2):
            top = max(r1, header_row + 1)
            sheet.problems.append(Problem(
                file, top, cols[0], cell_range.ref, "merged-cells",
                f"cells {cell_range.ref} are merged over data column(s) {', '.join(cols)}: a "
                f"merged cell keeps its value in its first cell only, so the other rows would lose "
                f"it; unmerge and fill every row (the import does not fill down by guess)"))
    return sheet, data, head


def read_workbook(path: Path) -> KielSource:
    """Read Kiel's workbook into a :class:`~coalition_report.kiel.KielSource`.

    The release number is taken from the file name (``..._Release_28.xlsx``), the workbook's
    title/subject properties and the summary sheet's preamble (rows above its header); the
    shared path checks that they agree.

    Raises
    ------
    KielImportError
        If the file is missing, is not a plain ``.xlsx`` workbook (encrypted, ``.xls``, not a
        zip, damaged, too large when unpacked, a DTD in any part), or a sheet's XML is damaged.
    KielLayoutError
        If a sheet or a column is missing, a sheet is a chartsheet or declares more than
        Excel's dimensions, or the header is not on its row.
    """
    path = Path(path)
    label = printable(path.name)
    if not path.is_file():
        raise KielImportError(f"{printable(path)}: no such file; expected Kiel's workbook (.xlsx)")
    _check_container(path, label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ParseError, ValueError,
            TypeError, IndexError, AttributeError, zlib.error, EOFError) as exc:
        raise KielImportError(f"{label}: not a readable .xlsx workbook "
                              f"({type(exc).__name__}: {printable(exc)})") from None
    try:
        acts, act_rows, _ = _sheet(wb, ACTIVITIES_SHEET, ACTIVITIES_HEADER_ROW,
                                   WORKBOOK_ACTIVITY_COLUMNS, label, "sub-activities")
        summary, sum_rows, sum_text = _sheet(wb, SUMMARY_SHEET, SUMMARY_HEADER_ROW,
                                             WORKBOOK_SUMMARY_COLUMNS, label, "per-donor totals")
        props = wb.properties
        modified = props.modified.date().isoformat() if isinstance(props.modified, datetime) else ""
        prop_text = " ".join(t for t in (props.title, props.subject) if isinstance(t, str))
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
            f"{printable(repr(name))} (row {n})" for n, name in aggregates))

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
