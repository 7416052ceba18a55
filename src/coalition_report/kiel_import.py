"""Validate a Kiel release and write it into the data package as one transaction.

The shared path of both readers (:mod:`coalition_report.kiel` for the processed tables,
:mod:`coalition_report.kiel_workbook` for Kiel's workbook): :func:`import_source` applies the
row rules, builds ``aid_activities.csv``, ``aid_totals.csv``, the release's ``sources.csv`` row and
the difference report, then hands them to :class:`~coalition_report.kiel_txn.ImportTransaction`,
which stages a complete new package beside the data folder, validates it as
``coalition-report validate`` would, and switches it in at once: the data folder is the old
package or the new one, never a mix, whatever fails or whenever the process is killed.

Output is deterministic (fixed row order, ``repr``-exact floats, ``\\n`` line ends), so re-running
an import on the same input gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import math
import re
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .config import DESCRIPTOR_NAME
from .errors import DataValidationError, Problem
from .kiel import (ACTIVITIES_OUT, ACTIVITY_COLUMNS, AID_TYPES, DEFAULT_KIEL_SOURCE, MEASURES,
                   PROVENANCE_FILE, REPORT_OUT, SOURCES_OUT, TOTAL_COLUMNS, TOTALS_OUT, KielSource,
                   RawSheet, check_totals, donor_mapping, read_activity_rows, read_processed,
                   read_total_rows, resolve_release)
from .kiel_report import KielImport, diff_per_donor, format_report, read_previous
from .kiel_txn import ImportTransaction

__all__ = ["KielImport", "import_kiel", "import_source"]


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
        row.update({k: newest.get(k) or v for k, v in DEFAULT_KIEL_SOURCE.items()})
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


# --------------------------------------------------------------------------------------------
# Entry points


def import_source(source: KielSource, out_dir: Path, *, release: int | None = None,
                  actors_csv: Path | None = None, url: str | None = None,
                  today: str | None = None, report: Path | None = None) -> KielImport:
    """Validate a Kiel release read by either reader and write it into the data package.

    Parameters
    ----------
    source : KielSource
        From :func:`~coalition_report.kiel.read_processed` or ``kiel_workbook.read_workbook``.
    out_dir : pathlib.Path
        Data package directory; it must exist. ``aid_activities.csv``, ``aid_totals.csv``, (in a
        data package, i.e. with ``datapackage.json``) ``sources.csv`` and the report
        ``kiel/import-diff-r<N>.md`` are written into a staged copy of it, which is validated
        and then switched in as a whole (:class:`~coalition_report.kiel_txn.ImportTransaction`);
        existing aid tables are read first and compared with the new ones.
    release : int, optional
        Kiel release number; only needed when the input does not name it, and checked against
        the input otherwise (:func:`~coalition_report.kiel.resolve_release`). Sets ``source_id``
        (``kiel-r{release}``) and the activity ids (``kiel-r{release}-{n:05d}``, ``n`` = 1-based
        data row).
    actors_csv : pathlib.Path, optional
        Donor mapping with a ``kiel_name`` column; default ``out_dir / "actors.csv"``. When it
        does not exist or has no ``kiel_name`` column, ids come from ``wdi.json`` ISO3 codes,
        ``Taiwan`` -> ``TWN`` and :data:`~coalition_report.kiel.ORGANISATION_IDS`.
    url : str, optional
        Where the input was downloaded; recorded in the ``sources.csv`` row.
    today : str, optional
        ``accessed`` date for the ``sources.csv`` row (default: today, UTC).
    report : pathlib.Path, optional
        Also write the difference report here (``--report``). Checked before anything is read
        or replaced: it may not be inside the data folder, nor a folder, device or FIFO, and its
        folder must be writable; it is written in the same transaction as the data.

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
    TransactionError
        If the data folder does not exist, another import into it is running, ``report`` names
        a file of the package or cannot be written, or the data folder holds a symlink, FIFO or
        device; nothing is written.
    ValueError
        If ``release`` is not a positive integer.
    """
    t0 = time.perf_counter()
    release = resolve_release(source.release_hints, release, source.label)
    out_dir = Path(out_dir)
    with ImportTransaction(out_dir) as txn:
        extra = txn.check_output(report) if report is not None else None
        result = _prepare(source, out_dir, release, actors_csv, url, today)
        files, result = result
        outputs = {extra: result.report.encode("utf-8")} if extra is not None else {}
        validate = _validate_package if result.validated else (lambda staged: None)
        txn.commit(files, validate, outputs)
        result.recovered = txn.recovered or ""
    result.paths = tuple(out_dir / name for name in files)
    result.report_path = out_dir / REPORT_OUT.format(release=release)
    result.extra_report = report
    result.seconds = time.perf_counter() - t0
    return result


def _prepare(source: KielSource, out_dir: Path, release: int, actors_csv: Path | None,
             url: str | None, today: str | None) -> tuple[dict[str, bytes], KielImport]:
    """The new files (name in the package -> bytes) and the result, nothing written yet."""
    actors_csv = out_dir / "actors.csv" if actors_csv is None else Path(actors_csv)
    mapping, mapping_source, problems = donor_mapping(source.wdi_dir, actors_csv)
    activity_rows, negatives = read_activity_rows(source.activities, mapping, release, problems)
    total_rows = read_total_rows(source.summary, mapping, release, problems)
    if problems:
        raise DataValidationError([_at_cell(p, (source.activities, source.summary))
                                   for p in problems])

    activities = pd.DataFrame.from_records(activity_rows, columns=list(ACTIVITY_COLUMNS))
    totals = _sort_totals(pd.DataFrame.from_records(total_rows, columns=list(TOTAL_COLUMNS)))
    checks = check_totals(activities, totals)
    without = tuple(sorted(set(activities["donor_id"]) - set(totals["donor_id"])))
    previous = read_previous(out_dir)
    if isinstance(previous, str):
        diff, diff_note, previous = None, previous, None
    else:
        diff, diff_note = diff_per_donor(*previous, activities, totals), ""

    files = {ACTIVITIES_OUT: _csv_bytes(ACTIVITY_COLUMNS, activity_rows),
             TOTALS_OUT: _csv_bytes(TOTAL_COLUMNS, totals.to_dict("records"))}
    validated = (out_dir / DESCRIPTOR_NAME).is_file()
    if validated:
        today = today or datetime.now(timezone.utc).date().isoformat()
        sources, sources_action = _sources_update(out_dir / SOURCES_OUT, release, source, url,
                                                  today)
        if sources is not None:
            files[SOURCES_OUT] = sources
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
    result.report = format_report(result, source, names, previous, [*files, report_name])
    files[report_name] = result.report.encode("utf-8")
    return files, result


def _at_cell(problem: Problem, sheets: tuple[RawSheet, ...]) -> Problem:
    """A workbook problem names its cell (``cell E12: ...``) besides row and column."""
    for sheet in sheets:
        letter = sheet.letters.get(problem.column or "")
        if problem.file == sheet.file and problem.line and letter \
                and not problem.message.startswith("cell "):
            return replace(problem, message=f"cell {letter}{problem.line}: {problem.message}")
    return problem


def _validate_package(staged: Path) -> None:
    """The staged package goes through the same checks as ``coalition-report validate``."""
    from .validate import parse_package

    problems = parse_package(staged).problems
    if problems:
        raise DataValidationError(problems)


def import_kiel(src_dir: Path, out_dir: Path, *, release: int | None = None,
                actors_csv: Path | None = None, url: str | None = None,
                today: str | None = None, report: Path | None = None) -> KielImport:
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
                         today=today, report=report)


def _sort_totals(totals: pd.DataFrame) -> pd.DataFrame:
    """Order by donor_id, then aid type and measure in schema order."""
    if totals.empty:
        return totals
    key = totals.assign(
        _t=totals["aid_type"].map(AID_TYPES.index), _m=totals["measure"].map(MEASURES.index))
    key = key.sort_values(["donor_id", "_t", "_m"], kind="mergesort")
    return key.drop(columns=["_t", "_m"]).reset_index(drop=True)
