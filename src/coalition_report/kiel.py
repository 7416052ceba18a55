"""Import a Kiel Ukraine Support Tracker release into the project's data package.

Two readers feed **one** validating and writing path (:func:`import_source`):

* the workbook Kiel publishes (:mod:`coalition_report.kiel_workbook`, ``import-kiel WORKBOOK.xlsx``),
  read by Kiel's own sheet and column names;
* processed tables in a folder (:func:`read_processed`, ``import-kiel --src DIR``): the extraction
  shipped in ``data/kiel/`` (see ``data/kiel/PROVENANCE.md``), with Norwegian column names.

Each reader only locates Kiel's sheets and columns and turns cells into text; everything else is
shared: row rules (donor ids, dates, aid types, measures, amounts, Kiel's totals adding up), the
release number (read from the input, :func:`resolve_release`), the two tables of the data package
(``data/datapackage.json``), the ``kiel-r<N>`` row of ``sources.csv``, validation of the whole
package before anything is replaced, and the per-donor difference report.

``aid_activities.csv``
    One row per Kiel sub-activity, in source order.
``aid_totals.csv``
    Kiel's cumulative per-donor totals in long format, converted from EUR billions to EUR.

Every row carries its provenance: ``source_id`` (``kiel-r<N>``, whose ``sources.csv`` row names
the input file and its sha256) and ``kiel_sheet``/``kiel_row`` (the sheet, or processed CSV, and
the row it was read from).

A sheet or column that is not where Kiel's layout puts it is one :class:`KielLayoutError`. Bad
rows are all collected and raised together as one
:class:`~coalition_report.errors.DataValidationError`. Nothing is written unless the input is
clean and the data package with the new tables validates. Output is deterministic (fixed row
order, ``repr``-exact floats, ``\\n`` line ends), so re-running an import on the same input gives
byte-identical files, and each file is replaced atomically.

:func:`check_totals` compares the per-donor sums of the activity rows with Kiel's own totals.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from .config import DESCRIPTOR_NAME
from .errors import CoalitionReportError, DataValidationError, Problem
from .totals import check_totals  # re-exported: the check lives in a module the brief can import

__all__ = [
    "ACTIVITY_COLUMNS",
    "AID_TYPES",
    "KielImport",
    "KielImportError",
    "KielLayoutError",
    "KielReleaseError",
    "KielSource",
    "MEASURES",
    "ORGANISATION_IDS",
    "RawSheet",
    "REVIEWED_NEGATIVE_ROWS",
    "TOTAL_COLUMNS",
    "check_totals",
    "donor_mapping",
    "import_kiel",
    "import_source",
    "locate_columns",
    "read_processed",
    "release_numbers",
    "resolve_release",
]

#: Processed input files inside a Kiel source directory (``--src``).
ACTIVITIES_FILE = "bilateral_activities.csv"
SUMMARY_FILE = "country_summary.csv"
WDI_FILE = "wdi.json"
PROVENANCE_FILE = "PROVENANCE.md"

#: Output files inside the data package directory.
ACTIVITIES_OUT = "aid_activities.csv"
TOTALS_OUT = "aid_totals.csv"
SOURCES_OUT = "sources.csv"
#: The difference report, relative to the data package directory.
REPORT_OUT = "kiel/import-diff-r{release}.md"

#: Columns of ``aid_activities.csv`` in file order (``datapackage.json``).
ACTIVITY_COLUMNS = ("activity_id", "donor_id", "date", "undated", "aid_type", "measure",
                    "value_eur", "value_eur_redistributed", "activity_value_eur", "correction",
                    "source_id", "kiel_sheet", "kiel_row")
#: Columns of ``aid_totals.csv`` in file order (``datapackage.json``).
TOTAL_COLUMNS = ("donor_id", "aid_type", "measure", "value_eur", "source_id", "kiel_sheet",
                 "kiel_row")

#: Aid types and measures in schema (enum) order; also the row order of ``aid_totals.csv``.
AID_TYPES = ("military", "financial", "humanitarian")
MEASURES = ("allocation", "commitment")

#: What the shared path reads from a sub-activity row, and from a per-donor totals row. Each
#: reader maps these names to its own column names (``RawSheet.columns``).
ACTIVITY_FIELDS = ("donor", "date", "aid_type", "measure", "value_eur",
                   "value_eur_redistributed", "activity_value_eur")
SUMMARY_FIELDS = (("donor",) + tuple(f"{t}_{m}" for m in MEASURES for t in AID_TYPES)
                  + tuple(f"total_{m}" for m in MEASURES))

#: Column names of the processed tables (``data/kiel/``).
PROCESSED_ACTIVITY_COLUMNS = {
    "donor": "giver", "date": "dato", "aid_type": "kategori", "measure": "maal",
    "value_eur": "verdi_eur", "value_eur_redistributed": "verdi_eur_redistr",
    "activity_value_eur": "verdi_eur_activity"}
PROCESSED_SUMMARY_COLUMNS = {"donor": "land", **{f: f for f in SUMMARY_FIELDS[1:]}}

#: Kiel donors that are not states, and their actor ids (``data/CURATION.md``).
ORGANISATION_IDS = {
    "EU (Commission and Council)": "eu-institutions",
    "European Peace Facility": "epf",
    "European Investment Bank": "eib",
}
#: States that World Bank WDI does not list (so ``wdi.json`` has no ISO3 for them).
EXTRA_STATE_IDS = {"Taiwan": "TWN"}

#: Negative sub-activities that were checked against Kiel and are kept as published.
#:
#: Kiel records some downward revisions as negative sub-activities, and its per-donor totals
#: include them (Czechia and Sweden only agree with Kiel's totals when these rows are kept). Any
#: *other* negative value is reported as a problem, so a new release with new negative rows fails
#: until someone has looked at them and added them here. Key: ``(donor, date, aid type, measure,
#: value)`` as text, the way both readers hand cells over (ISO date, ``repr`` of the value).
REVIEWED_NEGATIVE_ROWS = frozenset({
    ("Czechia", "", "Military", "Allocation", "-61973576.04927391"),
    ("Sweden", "2025-11-13", "Military", "Allocation", "-51902216.22463279"),
})

#: Date range of ``aid_activities.date`` (``datapackage.json``).
DATE_MIN = date(2022, 1, 1)
DATE_MAX = date(2026, 12, 31)
#: Plausibility bounds: above these, a unit is wrong (EUR vs EUR billions), not the aid.
MAX_ACTIVITY_EUR = 1e12
MAX_SUMMARY_BN = 1000.0

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO3 = re.compile(r"[A-Z]{3}")
_RELEASE = re.compile(r"release[\s_\-]*(?:no\.?\s*)?(\d{1,3})(?!\d)", re.IGNORECASE)
_SUM_RTOL = 1e-9
_DEFAULT_KIEL_SOURCE = {
    "publisher": "Kiel Institute for the World Economy",
    "url": "https://www.kielinstitut.de/",
    "kind": "dataset",
    "licence": "Kiel Institute terms of use; cite the Kiel Institute whenever these numbers are shown",
}


# --------------------------------------------------------------------------------------------
# Errors


class KielImportError(CoalitionReportError):
    """The Kiel input cannot be imported at all (missing or unreadable file). One line."""


class KielLayoutError(KielImportError):
    """A sheet, column or header row is not where Kiel's layout puts it.

    Attributes
    ----------
    file : str
        The workbook or processed CSV.
    sheet : str or None
        The sheet (``None`` for a CSV).
    column : str or None
        The column(s) not found (``None`` when the whole sheet is missing).
    found : str
        What is there instead.
    expected : str
        What Kiel's layout has.
    """

    def __init__(self, file: str, sheet: str | None, column: str | None, found: str,
                 expected: str):
        self.file, self.sheet, self.column, self.found, self.expected = (
            file, sheet, column, found, expected)
        where = file if sheet is None else f"{file}: sheet {sheet!r}"
        what = f"column {column!r}" if column else ""
        text = ": ".join(p for p in (where, what, found) if p) + f"; expected {expected}"
        super().__init__(" ".join(text.split()))  # one line, whatever the cells held


class KielReleaseError(KielImportError):
    """The release number cannot be told from the input, or contradicts ``--release``."""


# --------------------------------------------------------------------------------------------
# What a reader hands over


@dataclass
class RawSheet:
    """One table of a Kiel release as text cells, located by a reader.

    Attributes
    ----------
    file : str
        Where problems point (``Problem.file``): the CSV path, or ``"<workbook>[<sheet>]"``.
    sheet : str
        Written to ``kiel_sheet``: the workbook sheet, or the processed CSV's file name.
    columns : dict of str to str
        Shared field name (:data:`ACTIVITY_FIELDS`, :data:`SUMMARY_FIELDS`) -> the input's column
        name, used in problem messages.
    rows : iterable of (int, dict)
        ``(row, cells)``: the 1-based row in the sheet (a CSV's physical line; header rows
        counted) and shared field name -> cell text (``""`` for an empty cell).
    skipped : list of str
        Rows the reader left out on purpose (not data), for the summary.
    problems : list of Problem
        Problems the reader found while producing ``rows`` (encoding, CSV syntax, ragged rows);
        complete once ``rows`` is exhausted.
    """

    file: str
    sheet: str
    columns: dict[str, str]
    rows: Iterable[tuple[int, dict[str, str]]]
    skipped: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class KielSource:
    """A Kiel release as read by one reader, ready for :func:`import_source`.

    Attributes
    ----------
    label : str
        The input as named in messages (workbook file name or source folder).
    description : str
        File name(s) and sha256, for the ``sources.csv`` title (after :attr:`kind`).
    activities, summary : RawSheet
        Sub-activities and per-donor totals (EUR billions).
    release_hints : list of (str, int)
        Release numbers the input names, with where (file name, a cell, a heading).
    wdi_dir : pathlib.Path or None
        Folder with ``wdi.json`` for the fallback donor mapping.
    note : str
        For the ``note`` field of a new or updated ``sources.csv`` row.
    kind : str
        ``"workbook"`` or ``"processed tables"``; an existing ``sources.csv`` row is only
        rewritten from a workbook (the processed tables carry less than the row already says).
    local_path : str
        For ``sources.csv``: a shipped copy, relative to the data package, or ``""``.
    """

    label: str
    description: str
    activities: RawSheet
    summary: RawSheet
    release_hints: list[tuple[str, int]]
    wdi_dir: Path | None = None
    note: str = ""
    kind: str = "workbook"
    local_path: str = ""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def locate_columns(header: list[str], wanted: dict[str, str], *, file: str, sheet: str | None,
                   header_row: int, other_rows: Iterable[tuple[int, list[str]]] = ()
                   ) -> dict[str, int]:
    """Find Kiel's columns by name in the header row.

    Parameters
    ----------
    header : list of str
        The header row's cells (already stripped).
    wanted : dict of str to str
        Shared field name -> the exact column name Kiel uses.
    file, sheet, header_row
        Where the header is, for the error.
    other_rows : iterable of (int, list of str)
        Nearby rows: when every wanted column is on one of them, the error says the header row
        moved there.

    Returns
    -------
    dict of str to int
        Shared field name -> 0-based column index (the first column of that name).

    Raises
    ------
    KielLayoutError
        Naming every column that is missing, what is there instead, and what was expected.
    """
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name, i)
    missing = [col for col in wanted.values() if col not in index]
    if not missing:
        return {key: index[col] for key, col in wanted.items()}
    column = ", ".join(missing)
    where = "header row" if sheet is not None else "header line"
    for row, cells in other_rows:
        if row != header_row and set(wanted.values()) <= set(cells):
            raise KielLayoutError(file, sheet, column, f"not in {where} {header_row}, "
                                  f"the header is on row {row} (the header row moved)",
                                  f"Kiel's header on row {header_row}")
    close = [c for col in missing for c in difflib.get_close_matches(col, index, n=1, cutoff=0.6)]
    found = f"not found in {where} {header_row}" + (
        " (closest there: " + ", ".join(repr(c) for c in close) + ")" if close else "")
    expected = "Kiel's columns " + ", ".join(repr(c) for c in wanted.values())
    raise KielLayoutError(file, sheet, column, found, f"{expected} in {where} {header_row}")


# --------------------------------------------------------------------------------------------
# Release number


def release_numbers(text: str) -> set[int]:
    """Release numbers named in ``text``: ``Release 28``, ``Release_28``, ``release-28``."""
    return {int(m) for m in _RELEASE.findall(text or "") if int(m) > 0}


def resolve_release(hints: list[tuple[str, int]], given: int | None, label: str) -> int:
    """The release number: the one the input names, checked against ``given``.

    Parameters
    ----------
    hints : list of (str, int)
        ``(where, number)`` for every release number found in the input.
    given : int or None
        ``--release``; needed only when the input names no release.
    label : str
        The input, for messages.

    Raises
    ------
    ValueError
        If ``given`` is not a positive integer.
    KielReleaseError
        If the input names no release and none is given, names several, or contradicts
        ``given``.
    """
    if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 1):
        raise ValueError(f"release must be a positive integer, got {given!r}")
    named = sorted({n for _, n in hints})
    if given is not None:
        for where, n in hints:
            if n != given:
                raise KielReleaseError(f"{label}: --release {given}, but {where} names release {n}")
        return given
    if len(named) == 1:
        return named[0]
    if not named:
        raise KielReleaseError(
            f"{label}: cannot tell which Kiel release this is: expected 'Release_<N>' in the file "
            f"name or 'Release <N>' in the input; name the file so or pass --release N")
    listed = "; ".join(f"{where}: {n}" for where, n in hints)
    raise KielReleaseError(f"{label}: the input names several releases ({listed}); "
                           f"pass --release N")


# --------------------------------------------------------------------------------------------
# Donor mapping


def donor_mapping(wdi_dir: Path | None, actors_csv: Path | None = None
                  ) -> tuple[dict[str, str], str, list[Problem]]:
    """Map Kiel donor names to actor ids.

    Parameters
    ----------
    wdi_dir : pathlib.Path or None
        Folder holding ``wdi.json`` for the fallback (the processed tables' folder).
    actors_csv : pathlib.Path, optional
        ``actors.csv`` of the data package. Used when it exists and has a ``kiel_name`` column:
        every row with a non-empty ``kiel_name`` maps that name to its ``actor_id``.

    Returns
    -------
    mapping : dict of str to str
        Kiel donor name -> actor id.
    source : str
        The ``actors.csv`` path used, or ``"fallback"``: ISO3 from ``wdi.json``
        (``land`` -> ``iso3``), ``Taiwan`` -> ``TWN`` and :data:`ORGANISATION_IDS`.
    problems : list of Problem
        Duplicate or malformed entries in the mapping source.
    """
    problems: list[Problem] = []
    if actors_csv is not None and actors_csv.is_file():
        with actors_csv.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames and "kiel_name" in reader.fieldnames \
                    and "actor_id" in reader.fieldnames:
                mapping: dict[str, str] = {}
                first: dict[str, int] = {}
                prev_end = 1
                for row in reader:
                    line, prev_end = prev_end + 1, reader.line_num
                    name = (row.get("kiel_name") or "").strip()
                    actor = (row.get("actor_id") or "").strip()
                    if not name:
                        continue
                    if not actor:
                        problems.append(Problem(str(actors_csv), line, "actor_id", actor,
                                                "donor-mapping", f"kiel_name {name!r} has no actor_id"))
                    elif name in mapping and mapping[name] != actor:
                        problems.append(Problem(
                            str(actors_csv), line, "kiel_name", name, "donor-mapping",
                            f"Kiel name already mapped to {mapping[name]!r} on line {first[name]}"))
                    else:
                        mapping.setdefault(name, actor)
                        first.setdefault(name, line)
                return mapping, str(actors_csv), problems

    mapping = {}
    wdi_path = None if wdi_dir is None else wdi_dir / WDI_FILE
    if wdi_path is not None and wdi_path.is_file():
        try:
            wdi = json.loads(wdi_path.read_text(encoding="utf-8"))
            countries = wdi["land"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(Problem(str(wdi_path), getattr(exc, "lineno", None), None, None,
                                    "wdi", f"cannot read donor ISO3 codes: {exc!r}"))
            countries = {}
        for name, info in countries.items():
            iso3 = info.get("iso3") if isinstance(info, dict) else None
            if not isinstance(iso3, str) or not _ISO3.fullmatch(iso3):
                problems.append(Problem(str(wdi_path), None, "iso3", str(iso3), "country-alpha3",
                                        f"donor {name!r} has no valid ISO 3166-1 alpha-3 code"))
                continue
            mapping[name] = iso3
    mapping.update(EXTRA_STATE_IDS)
    mapping.update(ORGANISATION_IDS)
    return mapping, "fallback", problems


# --------------------------------------------------------------------------------------------
# Reading the processed tables (--src DIR)


def _csv_sheet(path: Path, wanted: dict[str, str]) -> RawSheet:
    """A processed CSV as a :class:`RawSheet`; the header is checked before any row is read."""
    sheet = RawSheet(str(path), path.name, dict(wanted), ())
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        sheet.problems.append(Problem(str(path), data[:exc.start].count(b"\n") + 1, None, None,
                                      "encoding", "not valid UTF-8"))
        return sheet
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        sheet.problems.append(Problem(str(path), 1, None, None, "csv-syntax",
                                      f"CSV quoting/syntax error: {exc}"))
        return sheet
    if header is None:
        sheet.problems.append(Problem(str(path), None, None, None, "header", "file is empty"))
        return sheet
    index = locate_columns([c.strip() for c in header], wanted, file=str(path), sheet=None,
                           header_row=1)

    def rows():
        prev_end = reader.line_num
        try:
            for cells in reader:
                line, prev_end = prev_end + 1, reader.line_num
                if not cells:
                    sheet.problems.append(Problem(str(path), line, None, None, "blank-row",
                                                  "blank line inside the table"))
                elif len(cells) != len(header):
                    sheet.problems.append(Problem(str(path), line, None, None, "row-length",
                                                  f"{len(cells)} cells, header has {len(header)}"))
                else:
                    yield line, {key: cells[i] for key, i in index.items()}
        except csv.Error as exc:
            sheet.problems.append(Problem(str(path), reader.line_num, None, None, "csv-syntax",
                                          f"CSV quoting/syntax error: {exc}"))

    sheet.rows = rows()
    return sheet


def read_processed(src_dir: Path) -> KielSource:
    """Read the processed tables in ``src_dir`` (the layout of ``data/kiel/``).

    The release number comes from ``PROVENANCE.md`` in the folder (``Release 28``,
    ``..._Release_28.xlsx``).

    Raises
    ------
    KielImportError
        If a table is missing.
    KielLayoutError
        If a table lacks one of the columns the import needs.
    """
    src_dir = Path(src_dir)
    paths = (src_dir / ACTIVITIES_FILE, src_dir / SUMMARY_FILE)
    for p in paths:
        if not p.is_file():
            raise KielImportError(f"{p}: no such file; expected Kiel's processed tables "
                                  f"{ACTIVITIES_FILE} and {SUMMARY_FILE} in {src_dir}")
    acts = _csv_sheet(paths[0], PROCESSED_ACTIVITY_COLUMNS)
    summary = _csv_sheet(paths[1], PROCESSED_SUMMARY_COLUMNS)
    hints = []
    prov = src_dir / PROVENANCE_FILE
    if prov.is_file():
        hints = [(prov.name, n) for n in sorted(release_numbers(prov.read_text(encoding="utf-8")))]
    description = ", ".join(f"{p.name} (sha256 {sha256_file(p)})" for p in paths)
    return KielSource(
        label=str(src_dir), description=description, activities=acts, summary=summary,
        release_hints=hints, wdi_dir=src_dir, kind="processed tables",
        note=f"Processed tables {ACTIVITIES_FILE} and {SUMMARY_FILE} imported with "
             f"coalition-report import-kiel --src.")



# --------------------------------------------------------------------------------------------
# Row rules (shared by both readers)


def _number(raw: str, file: str, line: int, column: str, problems: list[Problem], *,
            required: bool, negative_ok: bool = False, maximum: float = math.inf,
            unit: str = "EUR") -> float | None:
    if raw == "":
        if required:
            problems.append(Problem(file, line, column, raw, "required", "value is required"))
        return None
    try:
        value = float(raw)
    except ValueError:
        problems.append(Problem(file, line, column, raw, "number", "not a number"))
        return None
    if not math.isfinite(value):
        problems.append(Problem(file, line, column, raw, "number", "not a finite number"))
        return None
    if value < 0 and not negative_ok:
        problems.append(Problem(file, line, column, raw, "minimum",
                                "negative value (only reviewed Kiel corrections may be negative)"))
        return None
    if abs(value) > maximum:
        problems.append(Problem(file, line, column, raw, "plausible",
                                f"implausibly large: expected at most {maximum:,.0f} ({unit}); "
                                f"is the unit right?"))
        return None
    return value


def _enum(raw: str, allowed: tuple[str, ...], file: str, line: int, column: str,
          problems: list[Problem]) -> str | None:
    value = raw.lower()
    if value in allowed:
        return value
    problems.append(Problem(file, line, column, raw, "enum",
                            "expected one of " + ", ".join(a.capitalize() for a in allowed)))
    return None


def _date(raw: str, file: str, line: int, column: str, problems: list[Problem]) -> str | None:
    if raw == "":
        return None
    try:
        if not _ISO_DATE.fullmatch(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        problems.append(Problem(file, line, column, raw, "date", "not a date (YYYY-MM-DD)"))
        return None
    if not DATE_MIN <= day <= DATE_MAX:
        problems.append(Problem(file, line, column, raw, "date-range",
                                f"outside {DATE_MIN.isoformat()}..{DATE_MAX.isoformat()}"))
        return None
    return raw


def _donor(mapping: dict[str, str], name: str, file: str, line: int, column: str,
           problems: list[Problem]) -> str | None:
    """The actor id of a Kiel donor name, or None with a ``donor-mapping`` problem recorded."""
    donor = mapping.get(name)
    if donor is None:
        problems.append(Problem(file, line, column, name, "donor-mapping",
                                "Kiel donor name has no actor id (add it as kiel_name in actors.csv)"))
    return donor


def _read_activities(sheet: RawSheet, mapping: dict[str, str], release: int,
                     problems: list[Problem]) -> tuple[list[dict], list[tuple[int, str, float]]]:
    file, col = sheet.file, sheet.columns
    source_id = f"kiel-r{release}"
    out: list[dict] = []
    negatives: list[tuple[int, str, float]] = []
    n = 0
    for line, raw in sheet.rows:
        n += 1
        row = {k: v.strip() for k, v in raw.items()}  # Kiel writes e.g. "Humanitarian "
        before = len(problems)
        donor = _donor(mapping, row["donor"], file, line, col["donor"], problems)
        day = _date(row["date"], file, line, col["date"], problems)
        aid_type = _enum(row["aid_type"], AID_TYPES, file, line, col["aid_type"], problems)
        measure = _enum(row["measure"], MEASURES, file, line, col["measure"], problems)
        reviewed = (row["donor"], row["date"], row["aid_type"], row["measure"],
                    row["value_eur"]) in REVIEWED_NEGATIVE_ROWS
        if measure == "commitment" and row["value_eur"] == "":
            # Kiel values commitments per activity (activity_value_eur): a commitment's
            # sub-activity value may be empty, and the R28 extraction reads it as 0.
            row["value_eur"] = "0.0"
        values = {name: _number(row[name], file, line, col[name], problems,
                                required=name == "value_eur", negative_ok=reviewed,
                                maximum=MAX_ACTIVITY_EUR)
                  for name in ("value_eur", "value_eur_redistributed", "activity_value_eur")}
        if len(problems) != before:
            continue
        if any(v is not None and v < 0 for v in values.values()):
            negatives.append((line, donor, values["value_eur"]))
        out.append({
            "activity_id": f"kiel-r{release}-{n:05d}",
            "donor_id": donor,
            "date": day,
            "undated": day is None,
            "aid_type": aid_type,
            "measure": measure,
            **values,
            # the schema accepts a negative value only on a row flagged as Kiel's correction
            "correction": reviewed,
            "source_id": source_id,
            "kiel_sheet": sheet.sheet,
            "kiel_row": line,
        })
    problems.extend(sheet.problems)
    return out, negatives


def _read_summary(sheet: RawSheet, mapping: dict[str, str], release: int,
                  problems: list[Problem]) -> list[dict]:
    file, col = sheet.file, sheet.columns
    source_id = f"kiel-r{release}"
    amounts = SUMMARY_FIELDS[1:]
    out: list[dict] = []
    seen: dict[str, int] = {}
    for line, raw in sheet.rows:
        row = {k: v.strip() for k, v in raw.items()}
        before = len(problems)
        donor = _donor(mapping, row["donor"], file, line, col["donor"], problems)
        if donor in seen:
            problems.append(Problem(file, line, col["donor"], row["donor"], "primary-key",
                                    f"donor {donor!r} already has totals on row {seen[donor]}"))
        elif donor is not None:
            seen[donor] = line
        for name in amounts:
            _number(row[name], file, line, col[name], problems, required=True,
                    maximum=MAX_SUMMARY_BN, unit="EUR billions")
        if len(problems) != before:
            continue
        for measure in MEASURES:
            parts = [float(row[f"{t}_{measure}"]) for t in AID_TYPES]
            total = float(row[f"total_{measure}"])
            if not math.isclose(total, math.fsum(parts), rel_tol=_SUM_RTOL, abs_tol=0.0):
                problems.append(Problem(
                    file, line, col[f"total_{measure}"], row[f"total_{measure}"], "total-sum",
                    f"total is not the sum of military, financial and humanitarian "
                    f"({math.fsum(parts)!r})"))
        if len(problems) != before:
            continue
        for aid_type in AID_TYPES:
            for measure in MEASURES:
                out.append({"donor_id": donor, "aid_type": aid_type, "measure": measure,
                            "value_eur": _billions_to_eur(row[f"{aid_type}_{measure}"]),
                            "source_id": source_id, "kiel_sheet": sheet.sheet, "kiel_row": line})
    problems.extend(sheet.problems)
    return out


def _billions_to_eur(raw: str) -> float:
    """Scale a decimal string in billions to EUR exactly, then round once to a float.

    ``float(raw) * 1e9`` would add binary noise to round numbers (``6e-05`` -> ``60000.00000000001``);
    shifting the decimal point first keeps the value Kiel printed.
    """
    try:
        return float(Decimal(raw).scaleb(9))
    except InvalidOperation:  # pragma: no cover - already validated by _number
        return float(raw) * 1e9


# --------------------------------------------------------------------------------------------
# Differences against the data being replaced


def _diff(old_acts: pd.DataFrame, old_tots: pd.DataFrame,
          new_acts: pd.DataFrame, new_tots: pd.DataFrame) -> pd.DataFrame:
    def per_donor(acts: pd.DataFrame, tots: pd.DataFrame, suffix: str) -> pd.DataFrame:
        a = acts.assign(value_eur=acts["value_eur"].astype(float))
        t = tots.assign(value_eur=tots["value_eur"].astype(float))
        frames = [
            a.groupby("donor_id").size().rename(f"rows_{suffix}"),
            a[a["measure"] == "allocation"].groupby("donor_id")["value_eur"]
             .agg(math.fsum).rename(f"activity_allocation_eur_{suffix}"),
        ]
        for m in MEASURES:
            frames.append(t[t["measure"] == m].groupby("donor_id")["value_eur"]
                          .agg(math.fsum).rename(f"total_{m}_eur_{suffix}"))
        return pd.concat(frames, axis=1)

    old = per_donor(old_acts, old_tots, "old")
    new = per_donor(new_acts, new_tots, "new")
    both = old.join(new, how="outer").sort_index()
    cols = ["rows", "activity_allocation_eur", "total_allocation_eur", "total_commitment_eur"]
    changed = pd.Series(False, index=both.index)
    for c in cols:
        o, n = both[f"{c}_old"], both[f"{c}_new"]
        changed |= ~((o == n) | (o.isna() & n.isna()))
    both["changed"] = changed
    for c in ("rows_old", "rows_new"):
        both[c] = both[c].astype("Int64")
    order = [f"{c}_{s}" for c in cols for s in ("old", "new")] + ["changed"]
    return both[order].rename_axis("donor_id").reset_index()


def _read_previous(out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame] | str:
    acts, tots = out_dir / ACTIVITIES_OUT, out_dir / TOTALS_OUT
    if not acts.is_file() or not tots.is_file():
        return "no previous aid_activities.csv/aid_totals.csv in " + str(out_dir)
    try:
        old_acts = pd.read_csv(acts, dtype=str, keep_default_na=False)
        old_tots = pd.read_csv(tots, dtype=str, keep_default_na=False)
        for df in (old_acts, old_tots):
            missing = [c for c in ("donor_id", "measure", "value_eur") if c not in df.columns]
            if missing:
                raise ValueError(f"missing columns {missing}")
            df["value_eur"] = pd.to_numeric(df["value_eur"].replace("", None), errors="raise")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        return f"previous files not comparable: {exc}"
    return old_acts, old_tots


def _eur_m(value: object) -> str:
    """EUR as EUR million with one decimal, ``–`` when missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value) / 1e6:,.1f}"


def _change(old: object, new: object, fmt) -> str:
    o, n = fmt(old), fmt(new)
    if o == n:
        return n
    try:
        delta = float(new) - float(old)
        if math.isnan(delta):
            raise TypeError
    except (TypeError, ValueError):
        return f"{o} → {n}"
    return f"{o} → {n} ({'+' if delta >= 0 else '−'}{fmt(abs(delta))})"


def _count(value: object) -> str:
    return "–" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) \
        else f"{int(value):,}"


def _md(text: object) -> str:
    """A table cell: pipes and line breaks would break the Markdown table."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _report(result: "KielImport", source: KielSource, names: dict[str, str],
            previous: tuple[pd.DataFrame, pd.DataFrame] | None, written: list[str]) -> str:
    """The per-donor difference report (Markdown): the pull-request body of a Kiel import."""
    n = result.release
    out = [f"# Kiel Ukraine Support Tracker: import of Release {n} (`kiel-r{n}`)", ""]
    out.append(f"- Input: {source.kind} {_md(source.description)}")
    out.append(f"- Read: `{_md(source.activities.sheet)}` ({result.n_activities:,} sub-activities, "
               f"{result.n_undated:,} undated, {result.n_donors} donors) and "
               f"`{_md(source.summary.sheet)}` ({result.totals['donor_id'].nunique()} donors with "
               f"totals)")
    for note in source.activities.skipped + source.summary.skipped:
        out.append(f"- Left out (not data): {_md(note)}")
    if previous is None:
        out.append(f"- Replaces: nothing ({_md(result.diff_note)})")
    else:
        old_acts, old_tots = previous
        ids = sorted(set(old_acts.get("source_id", pd.Series(dtype=str))) - {""})
        old_release = ", ".join(f"`{i}`" for i in ids) or "unknown release"
        out.append(f"- Replaces: {old_release} ({len(old_acts):,} sub-activities, "
                   f"{old_tots['donor_id'].nunique()} donors with totals)")
        older = [int(m) for i in ids for m in re.findall(r"^kiel-r(\d+)$", i)]
        if older and max(older) > n:
            out.append(f"- **Warning:** Release {n} is older than the data it replaces.")
    out.append("- Written: " + ", ".join(f"`{w}`" for w in written))
    out.append(f"- Sources: {result.sources_action}")
    out += ["", "## Changes per donor", ""]
    if result.diff is None:
        out.append("No previous data to compare with.")
    else:
        changed = result.diff[result.diff["changed"]]
        out.append(f"{len(changed)} of {len(result.diff)} donors changed. Amounts in EUR million; "
                   f"Kiel's totals are from `{_md(source.summary.sheet)}`, the sums from "
                   f"`{_md(source.activities.sheet)}`.")
        if len(changed):
            out += ["", "| Donor | Kiel name | Sub-activities | Allocations (Kiel total) | "
                        "Commitments (Kiel total) | Allocations (sum of sub-activities) |",
                    "| --- | --- | ---: | ---: | ---: | ---: |"]
            for r in changed.itertuples():
                out.append(
                    f"| {_md(r.donor_id)} | {_md(names.get(r.donor_id, ''))} | "
                    f"{_change(r.rows_old, r.rows_new, _count)} | "
                    f"{_change(r.total_allocation_eur_old, r.total_allocation_eur_new, _eur_m)} | "
                    f"{_change(r.total_commitment_eur_old, r.total_commitment_eur_new, _eur_m)} | "
                    f"{_change(r.activity_allocation_eur_old, r.activity_allocation_eur_new, _eur_m)} |")
        for label, mask in (("New donors", changed["rows_old"].isna() & changed["total_allocation_eur_old"].isna()),
                            ("Donors no longer in the data", changed["rows_new"].isna() & changed["total_allocation_eur_new"].isna())):
            if mask.any():
                out += ["", f"{label}: " + ", ".join(changed.loc[mask, "donor_id"]) + "."]
    out += ["", "## Where Kiel's own tables disagree", ""]
    bad = result.disagreeing
    if bad.empty:
        out.append("The sub-activities add up to Kiel's allocation total for every donor.")
    else:
        out += ["| Donor | Kiel name | Sum of sub-activities | Kiel total | Difference |",
                "| --- | --- | ---: | ---: | ---: |"]
        for r in bad.itertuples():
            out.append(f"| {_md(r.donor_id)} | {_md(names.get(r.donor_id, ''))} | "
                       f"{_eur_m(r.summed_eur)} | {_eur_m(r.kiel_eur)} | "
                       f"{'+' if r.diff_eur >= 0 else '−'}{_eur_m(abs(r.diff_eur))} |")
    if result.donors_without_totals:
        out += ["", "No Kiel totals (sub-activities only): "
                + ", ".join(result.donors_without_totals) + "."]
    if result.negative_rows:
        out += ["", "Negative sub-activities kept (reviewed Kiel corrections): " + "; ".join(
            f"row {line} {donor} EUR {_eur_m(value)}m" for line, donor, value in result.negative_rows)
            + "."]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Writing


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        value = float(value)  # numpy scalars repr as "np.float64(...)"
        if math.isnan(value):
            return ""
        return repr(value + 0.0)  # + 0.0 turns -0.0 into 0.0
    return str(value)


def _csv_line(cells: Iterable[object]) -> str:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(
        [_cell(c) for c in cells])
    return buf.getvalue()


def _csv_bytes(columns: tuple[str, ...], rows: list[dict]) -> bytes:
    return "".join([_csv_line(columns)] + [_csv_line(row[c] for c in columns) for row in rows]
                   ).encode("utf-8")


def _write_atomic(files: list[tuple[Path, bytes]]) -> None:
    """Write every file to a temporary sibling first, then move them all into place."""
    temps: list[tuple[str, Path]] = []
    try:
        for target, data in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            temps.append((tmp, target))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
            os.chmod(tmp, mode)
        for tmp, target in temps:
            os.replace(tmp, target)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _release_of(source_id: str) -> int:
    m = re.fullmatch(r"kiel-r(\d+)", source_id)
    return int(m.group(1)) if m else -1


def _sources_update(path: Path, release: int, source: KielSource, url: str | None,
                    today: str) -> tuple[bytes | None, str]:
    """``sources.csv`` with the release's row added or updated, every other line byte for byte.

    Returns the new file (``None`` when it stays as it is) and what was done. A new row takes
    publisher, URL, kind and licence from the newest other ``kiel-r<N>`` row; an existing row is
    rewritten only from a workbook whose file name or sha256 differs from the row's title.
    """
    sid = f"kiel-r{release}"
    if not path.is_file():
        return None, f"no {path.name}: row {sid} not written"
    text = path.read_text(encoding="utf-8")
    lines = io.StringIO(text, newline="").readlines()  # the lines csv.reader counts
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None) or []
    if "source_id" not in header:
        return None, f"{path.name} has no source_id column: row {sid} not written"
    spans: list[tuple[int, int, dict[str, str]]] = []
    prev = reader.line_num
    for cells in reader:
        spans.append((prev, reader.line_num, dict(zip(header, cells))))
        prev = reader.line_num
    kiel = [s for s in spans if _release_of(s[2].get("source_id", "")) > 0]
    existing = next((s for s in kiel if s[2]["source_id"] == sid), None)
    title = (f"Ukraine Support Tracker, Release {release} (Trebesch et al.); {source.kind} "
             f"{source.description}")
    if existing is not None:
        row = dict(existing[2])
        if source.kind != "workbook":
            return None, f"row {sid} kept as it is (it describes these processed tables)"
        if row.get("title") == title and url in (None, row.get("url")):
            return None, f"row {sid} unchanged (same workbook)"
        action = f"row {sid} updated (workbook file name or sha256 changed)"
    else:
        newest = max(kiel, key=lambda s: _release_of(s[2]["source_id"]))[2] if kiel else {}
        row = {h: "" for h in header}
        row.update({k: newest.get(k) or v for k, v in _DEFAULT_KIEL_SOURCE.items()})
        row["source_id"] = sid
        action = f"row {sid} added"
    row.update(title=title, accessed=today, note=source.note, local_path=source.local_path)
    if url:
        row["url"] = url
    new_line = _csv_line(row.get(h, "") for h in header)
    if existing is not None:
        lines[existing[0]:existing[1]] = [new_line]
    else:
        at = max(s[1] for s in kiel) if kiel else len(lines)
        if at and not lines[at - 1].endswith(("\n", "\r")):
            lines[at - 1] += "\n"
        lines.insert(at, new_line)
    return "".join(lines).encode("utf-8"), action


def _validate_package(out_dir: Path, files: dict[str, bytes]) -> None:
    """Validate the data package as it will be once ``files`` replace their namesakes.

    A staged copy (the new files, the other files copied, folders linked) goes through the same
    checks as ``coalition-report validate``; nothing in ``out_dir`` is touched.
    """
    from .validate import parse_package

    with tempfile.TemporaryDirectory(prefix="import-kiel-") as tmp:
        stage = Path(tmp)
        for entry in out_dir.iterdir():
            if entry.name in files:
                continue
            if entry.is_dir():
                (stage / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
            else:
                shutil.copy2(entry, stage / entry.name)
        for name, data in files.items():
            (stage / name).write_bytes(data)
        problems = parse_package(stage).problems
    if problems:
        raise DataValidationError(problems)


# --------------------------------------------------------------------------------------------
# The result


@dataclass
class KielImport:
    """Result of :func:`import_source` (:func:`import_kiel`, ``import_workbook``).

    Attributes
    ----------
    activities : pandas.DataFrame
        The rows written to ``aid_activities.csv`` (columns :data:`ACTIVITY_COLUMNS`; ``date`` is
        an ISO string or ``None``, values are floats or ``NaN`` where the raw cell was empty).
    totals : pandas.DataFrame
        The rows written to ``aid_totals.csv`` (columns :data:`TOTAL_COLUMNS`).
    checks : pandas.DataFrame
        Per-donor comparison of activity allocation sums with Kiel's totals, see
        :func:`check_totals`.
    donors_without_totals : tuple of str
        Donor ids with activity rows but no Kiel totals (no totals are invented for them).
    diff : pandas.DataFrame or None
        Per-donor comparison with the files that were in the output folder before the import
        (columns ``donor_id``, ``rows_old``, ``rows_new``, ``activity_allocation_eur_old``/``_new``,
        ``total_allocation_eur_old``/``_new``, ``total_commitment_eur_old``/``_new``,
        ``changed``); ``None`` when there were no previous files.
    diff_note : str
        Why ``diff`` is ``None``, or empty.
    mapping_source : str
        Where donor ids came from: the ``actors.csv`` path, or ``"fallback"`` (``wdi.json`` ISO3
        plus the built-in organisation ids).
    negative_rows : tuple of tuple
        ``(row, donor_id, value_eur)`` of every accepted negative sub-activity
        (see :data:`REVIEWED_NEGATIVE_ROWS`).
    source_id : str
        ``kiel-r{release}``.
    release : int
        The Kiel release number, as read from the input.
    label : str
        The input (workbook or folder).
    sources_action : str
        What happened to the release's ``sources.csv`` row.
    validated : bool
        Whether the whole data package was validated with the new tables before writing.
    skipped : tuple of str
        Rows the reader left out as not data (aggregate rows, rows without a donor).
    report : str
        The difference report (Markdown).
    report_path : pathlib.Path or None
        Where the report was written (``kiel/import-diff-r<N>.md`` in the output folder).
    paths : tuple of pathlib.Path
        The files written.
    seconds : float
        Wall-clock time of the import.
    """

    activities: pd.DataFrame
    totals: pd.DataFrame
    checks: pd.DataFrame
    donors_without_totals: tuple[str, ...]
    diff: pd.DataFrame | None
    diff_note: str
    mapping_source: str
    negative_rows: tuple[tuple[int, str, float], ...]
    source_id: str
    release: int = 0
    label: str = ""
    sources_action: str = ""
    validated: bool = False
    skipped: tuple[str, ...] = ()
    report: str = ""
    report_path: Path | None = None
    paths: tuple[Path, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    @property
    def n_activities(self) -> int:
        """Number of rows in ``aid_activities.csv``."""
        return len(self.activities)

    @property
    def n_totals(self) -> int:
        """Number of rows in ``aid_totals.csv``."""
        return len(self.totals)

    @property
    def n_undated(self) -> int:
        """Number of activity rows without a date."""
        return int(self.activities["undated"].sum())

    @property
    def n_donors(self) -> int:
        """Number of distinct donors in the activity rows."""
        return int(self.activities["donor_id"].nunique())

    @property
    def disagreeing(self) -> pd.DataFrame:
        """Rows of :attr:`checks` where activity sums and Kiel's total differ."""
        return self.checks[self.checks["status"] == "differs"]

    def summary(self) -> str:
        """Plain-text summary for the command line.

        Returns
        -------
        str
            Row counts, mapping source, validation, ``sources.csv``, rows left out, donors
            without totals, disagreeing donors, accepted negative rows, the changed donors of
            :attr:`diff` and where the report is.
        """
        out = [
            f"{self.source_id} from {self.label}: {self.n_activities} activity rows "
            f"({self.n_undated} undated), {self.n_totals} total rows, {self.n_donors} donors; "
            f"ids from {self.mapping_source}; {self.seconds:.2f} s",
        ]
        out.append("data package validated with the new tables" if self.validated else
                   "not a data package: tables written without package validation")
        out.append(f"sources.csv: {self.sources_action}")
        out += [f"wrote {p}" for p in self.paths]
        out += [f"left out (not data): {s}" for s in self.skipped]
        if self.donors_without_totals:
            out.append("no Kiel totals for: " + ", ".join(self.donors_without_totals))
        bad = self.disagreeing
        if bad.empty:
            out.append("activity allocation sums agree with Kiel's totals for every donor")
        for r in bad.itertuples():
            out.append(f"DIFFERS {r.donor_id}: activities EUR {r.summed_eur:,.0f} vs Kiel total "
                       f"EUR {r.kiel_eur:,.0f} (diff {r.diff_eur:+,.0f})")
        for line, donor, value in self.negative_rows:
            out.append(f"negative sub-activity kept (reviewed): row {line} {donor} EUR {value:,.0f}")
        if self.diff is None:
            out.append(f"diff: {self.diff_note}")
        else:
            changed = self.diff[self.diff["changed"]]
            out.append(f"diff against previous files: {len(changed)} donor(s) changed")
            for r in changed.itertuples():
                out.append(
                    f"  {r.donor_id}: rows {_count(r.rows_old)} -> {_count(r.rows_new)}; "
                    f"allocation total {_eur_m(r.total_allocation_eur_old)} -> "
                    f"{_eur_m(r.total_allocation_eur_new)}; commitment total "
                    f"{_eur_m(r.total_commitment_eur_old)} -> "
                    f"{_eur_m(r.total_commitment_eur_new)}; activity allocation "
                    f"{_eur_m(r.activity_allocation_eur_old)} -> "
                    f"{_eur_m(r.activity_allocation_eur_new)} (EUR million)")
        if self.report_path is not None:
            out.append(f"difference report: {self.report_path}")
        return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Entry points


def import_source(source: KielSource, out_dir: Path, *, release: int | None = None,
                  actors_csv: Path | None = None, url: str | None = None,
                  today: str | None = None) -> KielImport:
    """Validate a Kiel release read by either reader and write it into the data package.

    Parameters
    ----------
    source : KielSource
        From :func:`read_processed` or ``kiel_workbook.read_workbook``.
    out_dir : pathlib.Path
        Data package directory. ``aid_activities.csv``, ``aid_totals.csv`` and (in a data
        package, i.e. with ``datapackage.json``) ``sources.csv`` are replaced atomically, and the
        report is written to ``kiel/import-diff-r<N>.md``; existing aid tables are read first and
        compared with the new ones.
    release : int, optional
        Kiel release number; only needed when the input does not name it, and checked against
        the input otherwise (:func:`resolve_release`). Sets ``source_id`` (``kiel-r{release}``)
        and the activity ids (``kiel-r{release}-{n:05d}``, ``n`` = 1-based data row).
    actors_csv : pathlib.Path, optional
        Donor mapping with a ``kiel_name`` column; default ``out_dir / "actors.csv"``. When it
        does not exist or has no ``kiel_name`` column, ids come from ``wdi.json`` ISO3 codes,
        ``Taiwan`` -> ``TWN`` and :data:`ORGANISATION_IDS`.
    url : str, optional
        Where the input was downloaded; recorded in the ``sources.csv`` row.
    today : str, optional
        ``accessed`` date for the ``sources.csv`` row (default: today, UTC).

    Returns
    -------
    KielImport

    Raises
    ------
    DataValidationError
        If any row breaks a rule: unmapped donor (rule ``donor-mapping``), unparsable, negative
        or implausibly large number (``number``/``minimum``/``plausible``), bad or out-of-range
        date (``date``/``date-range``), unknown aid type or measure (``enum``), a Kiel total that
        is not the sum of its three aid types (``total-sum``), duplicate donor totals, malformed
        CSV; or if the data package with the new tables does not validate. Every problem is
        collected first; nothing is written.
    KielReleaseError
        If the release number cannot be told or contradicts ``release``.
    ValueError
        If ``release`` is not a positive integer.
    """
    t0 = time.perf_counter()
    release = resolve_release(source.release_hints, release, source.label)
    out_dir = Path(out_dir)
    actors_csv = out_dir / "actors.csv" if actors_csv is None else Path(actors_csv)
    mapping, mapping_source, problems = donor_mapping(source.wdi_dir, actors_csv)
    activity_rows, negatives = _read_activities(source.activities, mapping, release, problems)
    total_rows = _read_summary(source.summary, mapping, release, problems)
    if problems:
        raise DataValidationError(problems)

    activities = pd.DataFrame.from_records(activity_rows, columns=list(ACTIVITY_COLUMNS))
    totals = _sort_totals(pd.DataFrame.from_records(total_rows, columns=list(TOTAL_COLUMNS)))
    checks = check_totals(activities, totals)
    without = tuple(sorted(set(activities["donor_id"]) - set(totals["donor_id"])))
    previous = _read_previous(out_dir)
    if isinstance(previous, str):
        diff, diff_note, previous = None, previous, None
    else:
        diff, diff_note = _diff(*previous, activities, totals), ""

    files = {ACTIVITIES_OUT: _csv_bytes(ACTIVITY_COLUMNS, activity_rows),
             TOTALS_OUT: _csv_bytes(TOTAL_COLUMNS, totals.to_dict("records"))}
    validated = (out_dir / DESCRIPTOR_NAME).is_file()
    if validated:
        today = today or datetime.now(timezone.utc).date().isoformat()
        sources, sources_action = _sources_update(out_dir / SOURCES_OUT, release, source, url,
                                                  today)
        if sources is not None:
            files[SOURCES_OUT] = sources
        _validate_package(out_dir, files)
    else:
        sources_action = f"not written (no {DESCRIPTOR_NAME} in {out_dir})"

    report_name = REPORT_OUT.format(release=release)
    result = KielImport(
        activities=activities, totals=totals, checks=checks, donors_without_totals=without,
        diff=diff, diff_note=diff_note, mapping_source=mapping_source,
        negative_rows=tuple(negatives), source_id=f"kiel-r{release}", release=release,
        label=source.label, sources_action=sources_action, validated=validated,
        skipped=tuple(source.activities.skipped + source.summary.skipped))
    names: dict[str, str] = {}
    for name, actor in mapping.items():
        names.setdefault(actor, name)
    result.report = _report(result, source, names, previous, [*files, report_name])
    files[report_name] = result.report.encode("utf-8")
    targets = [(out_dir / name, data) for name, data in files.items()]
    _write_atomic(targets)
    result.paths = tuple(p for p, _ in targets)
    result.report_path = out_dir / report_name
    result.seconds = time.perf_counter() - t0
    return result


def import_kiel(src_dir: Path, out_dir: Path, *, release: int | None = None,
                actors_csv: Path | None = None, url: str | None = None,
                today: str | None = None) -> KielImport:
    """Import Kiel's processed tables in ``src_dir`` (``import-kiel --src DIR``).

    ``src_dir`` holds ``bilateral_activities.csv``, ``country_summary.csv`` (EUR billions),
    ``wdi.json`` (fallback donor mapping) and ``PROVENANCE.md`` (which names the release), in the
    layout of ``data/kiel/``. Everything else is :func:`import_source`.

    Raises
    ------
    KielImportError
        If a table is missing; :class:`KielLayoutError` if a column is.
    """
    source = read_processed(src_dir)
    prov = Path(src_dir).resolve() / PROVENANCE_FILE
    if prov.is_file() and prov.is_relative_to(Path(out_dir).resolve()):
        source.local_path = prov.relative_to(Path(out_dir).resolve()).as_posix()
    return import_source(source, out_dir, release=release, actors_csv=actors_csv, url=url,
                         today=today)


def _sort_totals(totals: pd.DataFrame) -> pd.DataFrame:
    """Order by donor_id, then aid type and measure in schema order."""
    if totals.empty:
        return totals
    key = totals.assign(
        _t=totals["aid_type"].map(AID_TYPES.index), _m=totals["measure"].map(MEASURES.index))
    key = key.sort_values(["donor_id", "_t", "_m"], kind="mergesort")
    return key.drop(columns=["_t", "_m"]).reset_index(drop=True)
