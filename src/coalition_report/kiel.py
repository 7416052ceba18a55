"""Import a Kiel Ukraine Support Tracker release into the project's data package: reading.

Two readers feed **one** validating and writing path
(:func:`coalition_report.kiel_import.import_source`, also importable from here):

* the workbook Kiel publishes (:mod:`coalition_report.kiel_workbook`, ``import-kiel WORKBOOK.xlsx``),
  read by Kiel's own sheet and column names;
* processed tables in a folder (:func:`read_processed`, ``import-kiel --src DIR``): the extraction
  shipped in ``data/kiel/`` (see ``data/kiel/PROVENANCE.md``), with Norwegian column names.

Each reader only locates Kiel's sheets and columns and turns cells into text; everything else is
shared: row rules (donor ids, dates, aid types, measures, amounts, Kiel's totals adding up), the
release number (read from the input, :func:`resolve_release`), the two tables of the data package
(``data/datapackage.json``), the ``kiel-r<N>`` row of ``sources.csv``, validation of the whole
package before anything is replaced, and the per-donor difference report. This module holds the
readers' common ground (errors, :class:`RawSheet`/:class:`KielSource`, column location, release
numbers, the donor mapping, the processed-table reader, the row rules and :func:`check_totals`);
:mod:`~coalition_report.kiel_import` validates and writes, :mod:`~coalition_report.kiel_txn` makes
the write one transaction, :mod:`~coalition_report.kiel_report` holds the result and the report.

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
clean and the data package with the new tables validates; then the whole data folder is switched
at once (:mod:`coalition_report.kiel_txn`).

:func:`check_totals` compares the per-donor sums of the activity rows with Kiel's own totals.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path


from .errors import CoalitionReportError, Problem
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
DEFAULT_KIEL_SOURCE = {
    "publisher": "Kiel Institute for the World Economy",
    "url": "https://www.kielinstitut.de/",
    "kind": "dataset",
    # a research institute's own dataset, published by it: an outlet of record (CURATION.md, Source tiers)
    "tier": "record",
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
    #: The input's column name -> its spreadsheet column letter (workbook sheets only), so that
    #: a problem can name its cell (``E12``).
    letters: dict[str, str] = field(default_factory=dict)


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


def read_activity_rows(sheet: RawSheet, mapping: dict[str, str], release: int,
                       problems: list[Problem]) -> tuple[list[dict], list[tuple[int, str, float]]]:
    """The ``aid_activities.csv`` rows of a sub-activity sheet, and its accepted negative rows.

    Every row that breaks a rule adds a problem to ``problems`` and is left out (so one run
    names every bad row); the reader's own problems are added last.
    """
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


def read_total_rows(sheet: RawSheet, mapping: dict[str, str], release: int,
                    problems: list[Problem]) -> list[dict]:
    """The ``aid_totals.csv`` rows (long format, EUR) of a per-donor totals sheet (EUR billions);
    problems are collected in ``problems`` as in :func:`read_activity_rows`."""
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
# Names that moved to kiel_import (kept importable from here; loaded on first use, since
# kiel_import itself builds on this module)

_MOVED = {"KielImport": "kiel_report", "import_kiel": "kiel_import", "import_source": "kiel_import"}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
