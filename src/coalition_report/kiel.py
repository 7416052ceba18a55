"""Import the Kiel Ukraine Support Tracker tables into the project's data package.

The raw extraction lives in ``data/kiel/`` (see ``data/kiel/PROVENANCE.md``) and is read-only input.
:func:`import_kiel` turns it into two tables of the data package (``data/datapackage.json``):

``aid_activities.csv``
    One row per Kiel sub-activity (``bilateral_activities.csv``), in source order.
``aid_totals.csv``
    Kiel's cumulative per-donor totals (``country_summary.csv``) in long format, converted from EUR
    billions to EUR.

Every raw row is validated while it is read; all problems are collected and raised together as one
:class:`~coalition_report.errors.DataValidationError`, and nothing is written unless the whole input
is clean. Output is deterministic (fixed row order, ``repr``-exact floats, ``\\n`` line ends), so
re-running an import on the same input gives byte-identical files, and each file is replaced
atomically.

:func:`check_totals` compares the per-donor sums of the activity rows with Kiel's own totals.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataValidationError, Problem

__all__ = [
    "ACTIVITY_COLUMNS",
    "AID_TYPES",
    "KielImport",
    "MEASURES",
    "ORGANISATION_IDS",
    "REVIEWED_NEGATIVE_ROWS",
    "TOTAL_COLUMNS",
    "check_totals",
    "donor_mapping",
    "import_kiel",
]

#: Raw input files inside the Kiel source directory.
ACTIVITIES_FILE = "bilateral_activities.csv"
SUMMARY_FILE = "country_summary.csv"
WDI_FILE = "wdi.json"

#: Output files inside the data package directory.
ACTIVITIES_OUT = "aid_activities.csv"
TOTALS_OUT = "aid_totals.csv"

#: Columns of ``aid_activities.csv`` in file order (``datapackage.json``).
ACTIVITY_COLUMNS = ("activity_id", "donor_id", "date", "undated", "aid_type", "measure",
                    "value_eur", "value_eur_redistributed", "activity_value_eur", "correction",
                    "source_id")
#: Columns of ``aid_totals.csv`` in file order (``datapackage.json``).
TOTAL_COLUMNS = ("donor_id", "aid_type", "measure", "value_eur", "source_id")

#: Aid types and measures in schema (enum) order; also the row order of ``aid_totals.csv``.
AID_TYPES = ("military", "financial", "humanitarian")
MEASURES = ("allocation", "commitment")

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
#: include them (Czechia and Sweden only agree with ``country_summary.csv`` when these rows are
#: kept). Any *other* negative value is reported as a problem, so a new release with new negative
#: rows fails until someone has looked at them and added them here. Key:
#: ``(giver, dato, kategori, maal, verdi_eur)`` exactly as the raw file writes them.
REVIEWED_NEGATIVE_ROWS = frozenset({
    ("Czechia", "", "Military", "Allocation", "-61973576.04927391"),
    ("Sweden", "2025-11-13", "Military", "Allocation", "-51902216.22463279"),
})

#: Date range of ``aid_activities.date`` (``datapackage.json``).
DATE_MIN = date(2022, 1, 1)
DATE_MAX = date(2026, 12, 31)

_ACTIVITY_REQUIRED = ("giver", "dato", "kategori", "maal", "verdi_eur", "verdi_eur_redistr",
                      "verdi_eur_activity")
_VALUE_COLUMNS = (("verdi_eur", "value_eur", True),
                  ("verdi_eur_redistr", "value_eur_redistributed", False),
                  ("verdi_eur_activity", "activity_value_eur", False))
_SUMMARY_MEASURE_COLUMNS = tuple(f"{t}_{m}" for m in MEASURES for t in AID_TYPES)
_SUMMARY_REQUIRED = ("land",) + _SUMMARY_MEASURE_COLUMNS + tuple(f"total_{m}" for m in MEASURES)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO3 = re.compile(r"[A-Z]{3}")
_SUM_RTOL = 1e-9


@dataclass
class KielImport:
    """Result of :func:`import_kiel`.

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
        Donor ids with activity rows but no row in ``country_summary.csv`` (no totals are
        invented for them).
    diff : pandas.DataFrame or None
        Per-donor comparison with the files that were in ``out_dir`` before the import (columns
        ``donor_id``, ``rows_old``, ``rows_new``, ``activity_allocation_eur_old``/``_new``,
        ``total_allocation_eur_old``/``_new``, ``total_commitment_eur_old``/``_new``,
        ``changed``); ``None`` when there were no previous files.
    diff_note : str
        Why ``diff`` is ``None``, or empty.
    mapping_source : str
        Where donor ids came from: the ``actors.csv`` path, or ``"fallback"`` (``wdi.json`` ISO3
        plus the built-in organisation ids).
    negative_rows : tuple of tuple
        ``(line, donor_id, value_eur)`` of every accepted negative sub-activity
        (see :data:`REVIEWED_NEGATIVE_ROWS`).
    source_id : str
        ``kiel-r{release}``.
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
            Row counts, mapping source, donors without totals, disagreeing donors, accepted
            negative rows and the changed donors of :attr:`diff`.
        """
        out = [
            f"{self.source_id}: {self.n_activities} activity rows ({self.n_undated} undated), "
            f"{self.n_totals} total rows, {self.n_donors} donors; ids from {self.mapping_source}; "
            f"{self.seconds:.2f} s",
        ]
        out += [f"wrote {p}" for p in self.paths]
        if self.donors_without_totals:
            out.append("no Kiel totals for: " + ", ".join(self.donors_without_totals))
        bad = self.disagreeing
        if bad.empty:
            out.append("activity allocation sums agree with Kiel's totals for every donor")
        for r in bad.itertuples():
            out.append(f"DIFFERS {r.donor_id}: activities EUR {r.summed_eur:,.0f} vs Kiel total "
                       f"EUR {r.kiel_eur:,.0f} (diff {r.diff_eur:+,.0f})")
        for line, donor, value in self.negative_rows:
            out.append(f"negative sub-activity kept (reviewed): line {line} {donor} EUR {value:,.0f}")
        if self.diff is None:
            out.append(f"diff: {self.diff_note}")
        else:
            changed = self.diff[self.diff["changed"]]
            out.append(f"diff against previous files: {len(changed)} donor(s) changed")
            for r in changed.itertuples():
                out.append(
                    f"  {r.donor_id}: rows {_fmt_opt(r.rows_old)} -> {_fmt_opt(r.rows_new)}; "
                    f"allocation total {_fmt_opt(r.total_allocation_eur_old)} -> "
                    f"{_fmt_opt(r.total_allocation_eur_new)}; commitment total "
                    f"{_fmt_opt(r.total_commitment_eur_old)} -> "
                    f"{_fmt_opt(r.total_commitment_eur_new)}; activity allocation "
                    f"{_fmt_opt(r.activity_allocation_eur_old)} -> "
                    f"{_fmt_opt(r.activity_allocation_eur_new)}")
        return "\n".join(out)


def _fmt_opt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value)


# --------------------------------------------------------------------------------------------
# Donor mapping


def donor_mapping(src_dir: Path, actors_csv: Path | None = None
                  ) -> tuple[dict[str, str], str, list[Problem]]:
    """Map Kiel donor names to actor ids.

    Parameters
    ----------
    src_dir : pathlib.Path
        Kiel source directory (holds ``wdi.json`` for the fallback).
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
    wdi_path = src_dir / WDI_FILE
    if wdi_path.is_file():
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
# Reading


def _rows(path: Path, required: tuple[str, ...], problems: list[Problem]):
    """Yield ``(line, row)`` for each data row; ``line`` is the first physical line of the row."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), data[:exc.start].count(b"\n") + 1, None, None,
                                "encoding", "not valid UTF-8"))
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            problems.append(Problem(str(path), None, None, None, "header", "file is empty"))
            return
        missing = [c for c in required if c not in header]
        for c in missing:
            problems.append(Problem(str(path), 1, c, None, "header", "required column is missing"))
        if missing:
            return
        prev_end = reader.line_num
        for cells in reader:
            line, prev_end = prev_end + 1, reader.line_num
            if not cells:
                problems.append(Problem(str(path), line, None, None, "blank-row",
                                        "blank line inside the table"))
                continue
            if len(cells) != len(header):
                problems.append(Problem(str(path), line, None, None, "row-length",
                                        f"{len(cells)} cells, header has {len(header)}"))
                continue
            yield line, dict(zip(header, cells))
    except csv.Error as exc:
        problems.append(Problem(str(path), reader.line_num, None, None, "csv-syntax",
                                f"CSV quoting/syntax error: {exc}"))


def _number(raw: str, file: str, line: int, column: str, problems: list[Problem],
            *, required: bool, negative_ok: bool = False) -> float | None:
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
        problems.append(Problem(file, line, column, raw, "date", "not an ISO date (YYYY-MM-DD)"))
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
                                "Kiel donor name has no actor id"))
    return donor


def _read_activities(path: Path, mapping: dict[str, str], release: int,
                     problems: list[Problem]) -> tuple[list[dict], list[tuple[int, str, float]]]:
    file = str(path)
    source_id = f"kiel-r{release}"
    out: list[dict] = []
    negatives: list[tuple[int, str, float]] = []
    n = 0
    for line, row in _rows(path, _ACTIVITY_REQUIRED, problems):
        n += 1
        before = len(problems)
        giver = row["giver"]
        donor = _donor(mapping, giver, file, line, "giver", problems)
        day = _date(row["dato"], file, line, "dato", problems)
        aid_type = _enum(row["kategori"], AID_TYPES, file, line, "kategori", problems)
        measure = _enum(row["maal"], MEASURES, file, line, "maal", problems)
        reviewed = (giver, row["dato"], row["kategori"], row["maal"], row["verdi_eur"]) \
            in REVIEWED_NEGATIVE_ROWS
        values = {out_col: _number(row[raw_col], file, line, raw_col, problems,
                                   required=required, negative_ok=reviewed)
                  for raw_col, out_col, required in _VALUE_COLUMNS}
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
        })
    return out, negatives


def _read_summary(path: Path, mapping: dict[str, str], release: int,
                  problems: list[Problem]) -> list[dict]:
    file = str(path)
    source_id = f"kiel-r{release}"
    out: list[dict] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path, _SUMMARY_REQUIRED, problems):
        before = len(problems)
        land = row["land"]
        donor = _donor(mapping, land, file, line, "land", problems)
        if donor in seen:
            problems.append(Problem(file, line, "land", land, "primary-key",
                                    f"donor {donor!r} already has totals on line {seen[donor]}"))
        elif donor is not None:
            seen[donor] = line
        raw_bn = {c: row[c] for c in _SUMMARY_MEASURE_COLUMNS}
        for c in _SUMMARY_MEASURE_COLUMNS + tuple(f"total_{m}" for m in MEASURES):
            _number(row[c], file, line, c, problems, required=True)
        if len(problems) != before:
            continue
        for measure in MEASURES:
            parts = [float(row[f"{t}_{measure}"]) for t in AID_TYPES]
            total = float(row[f"total_{measure}"])
            if not math.isclose(total, math.fsum(parts), rel_tol=_SUM_RTOL, abs_tol=0.0):
                problems.append(Problem(
                    file, line, f"total_{measure}", row[f"total_{measure}"], "total-sum",
                    f"total is not the sum of military, financial and humanitarian "
                    f"({math.fsum(parts)!r})"))
        if len(problems) != before:
            continue
        for aid_type in AID_TYPES:
            for measure in MEASURES:
                out.append({"donor_id": donor, "aid_type": aid_type, "measure": measure,
                            "value_eur": _billions_to_eur(raw_bn[f"{aid_type}_{measure}"]),
                            "source_id": source_id})
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
# Checks


def check_totals(activities: pd.DataFrame, totals: pd.DataFrame, *,
                 by_type: bool = False) -> pd.DataFrame:
    """Compare per-donor allocation sums of the activity rows with Kiel's totals.

    Parameters
    ----------
    activities : pandas.DataFrame
        ``aid_activities`` rows (needs ``donor_id``, ``measure``, ``value_eur``; ``aid_type``
        when ``by_type``).
    totals : pandas.DataFrame
        ``aid_totals`` rows (same columns).
    by_type : bool, default False
        Compare per donor and aid type instead of per donor.

    Returns
    -------
    pandas.DataFrame
        One row per donor (and aid type) present in either table, sorted by ``donor_id``, with
        columns ``donor_id``, [``aid_type``,] ``summed_eur`` (exact sum of ``value_eur`` over
        allocation rows, 0.0 for donors without activity rows), ``kiel_eur`` (Kiel's allocation
        total, ``NaN`` if Kiel has none), ``diff_eur`` (``summed_eur - kiel_eur``), ``agrees``
        (nullable boolean: relative difference at most 1e-6 or absolute at most EUR 1; ``<NA>``
        when there is no Kiel total) and ``status`` (``"agrees"``, ``"differs"`` or
        ``"no-total"``).
    """
    keys = ["donor_id", "aid_type"] if by_type else ["donor_id"]

    def allocation_sums(df: pd.DataFrame) -> dict[tuple, float]:
        sums: dict[tuple, list[float]] = defaultdict(list)
        sel = df[df["measure"] == "allocation"]
        for key, value in zip(sel[keys].itertuples(index=False, name=None),
                              sel["value_eur"].astype(float)):
            if not math.isnan(value):
                sums[key].append(value)
        return {k: math.fsum(v) for k, v in sums.items()}

    summed = allocation_sums(activities)
    kiel = allocation_sums(totals)
    donors = set(activities["donor_id"]) | set(totals["donor_id"])
    if by_type:
        all_keys = sorted((d, t) for d in donors for t in AID_TYPES)
    else:
        all_keys = sorted((d,) for d in donors)
    has_totals = set(totals["donor_id"])
    records = []
    for key in all_keys:
        s = summed.get(key, 0.0)
        if key[0] in has_totals:
            k = kiel.get(key, 0.0)
            diff = s - k
            ok = abs(diff) <= 1.0 or abs(diff) <= 1e-6 * max(abs(s), abs(k))
            status = "agrees" if ok else "differs"
        else:
            k, diff, ok, status = math.nan, math.nan, pd.NA, "no-total"
        records.append((*key, s, k, diff, ok, status))
    out = pd.DataFrame.from_records(
        records, columns=[*keys, "summed_eur", "kiel_eur", "diff_eur", "agrees", "status"])
    out["agrees"] = out["agrees"].astype("boolean")
    return out


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
        for df, need in ((old_acts, ("donor_id", "measure", "value_eur")),
                         (old_tots, ("donor_id", "measure", "value_eur"))):
            missing = [c for c in need if c not in df.columns]
            if missing:
                raise ValueError(f"missing columns {missing}")
        for df in (old_acts, old_tots):
            df["value_eur"] = pd.to_numeric(df["value_eur"].replace("", None), errors="raise")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        return f"previous files not comparable: {exc}"
    return old_acts, old_tots


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


def _csv_bytes(columns: tuple[str, ...], rows: list[dict]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])
    return buf.getvalue().encode("utf-8")


def _write_atomic(files: list[tuple[Path, bytes]]) -> None:
    """Write every file to a temporary sibling first, then move them all into place."""
    temps: list[tuple[str, Path]] = []
    try:
        for target, data in files:
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


# --------------------------------------------------------------------------------------------
# Entry point


def import_kiel(src_dir: Path, out_dir: Path, *, release: int = 28,
                actors_csv: Path | None = None) -> KielImport:
    """Convert the Kiel tables in ``src_dir`` into ``aid_activities.csv`` and ``aid_totals.csv``.

    Parameters
    ----------
    src_dir : pathlib.Path
        Directory with Kiel's ``bilateral_activities.csv``, ``country_summary.csv`` and (for the
        fallback donor mapping) ``wdi.json``.
    out_dir : pathlib.Path
        Data package directory; both files are (re)written there atomically. Existing files are
        read first and compared with the new ones (:attr:`KielImport.diff`).
    release : int, default 28
        Kiel release number; sets ``source_id`` (``kiel-r{release}``) and the activity ids
        (``kiel-r{release}-{n:05d}``, ``n`` = 1-based data row in ``bilateral_activities.csv``).
    actors_csv : pathlib.Path, optional
        Donor mapping with a ``kiel_name`` column; default ``out_dir / "actors.csv"``. When it
        does not exist or has no ``kiel_name`` column, ids come from ``wdi.json`` ISO3 codes,
        ``Taiwan`` -> ``TWN`` and :data:`ORGANISATION_IDS`.

    Returns
    -------
    KielImport
        The two tables, per-donor checks (:func:`check_totals`), donors without Kiel totals and
        the diff against the previous files.

    Raises
    ------
    DataValidationError
        If any raw row breaks a rule: unmapped donor (rule ``donor-mapping``, column ``giver`` or
        ``land``), unparsable or negative number (``number``/``minimum``), bad or out-of-range date
        (``date``/``date-range``), unknown category or measure (``enum``), a Kiel total that is
        not the sum of its three aid types (``total-sum``), duplicate donor totals, missing
        columns or malformed CSV. Every problem is collected first; nothing is written.
    ValueError
        If ``release`` is not a positive integer.
    FileNotFoundError
        If a raw input file is missing.
    """
    t0 = time.perf_counter()
    if isinstance(release, bool) or not isinstance(release, int) or release < 1:
        raise ValueError(f"release must be a positive integer, got {release!r}")
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    actors_csv = out_dir / "actors.csv" if actors_csv is None else Path(actors_csv)
    acts_path, sum_path = src_dir / ACTIVITIES_FILE, src_dir / SUMMARY_FILE
    for p in (acts_path, sum_path):
        if not p.is_file():
            raise FileNotFoundError(p)

    mapping, mapping_source, problems = donor_mapping(src_dir, actors_csv)
    activity_rows, negatives = _read_activities(acts_path, mapping, release, problems)
    total_rows = _read_summary(sum_path, mapping, release, problems)
    if problems:
        raise DataValidationError(problems)

    activities = pd.DataFrame.from_records(activity_rows, columns=list(ACTIVITY_COLUMNS))
    totals = pd.DataFrame.from_records(total_rows, columns=list(TOTAL_COLUMNS))
    totals = _sort_totals(totals)
    checks = check_totals(activities, totals)
    with_totals = set(totals["donor_id"])
    without = tuple(sorted(set(activities["donor_id"]) - with_totals))

    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _read_previous(out_dir)
    if isinstance(previous, str):
        diff, diff_note = None, previous
    else:
        diff, diff_note = _diff(*previous, activities, totals), ""

    targets = [(out_dir / ACTIVITIES_OUT, _csv_bytes(ACTIVITY_COLUMNS, activity_rows)),
               (out_dir / TOTALS_OUT, _csv_bytes(TOTAL_COLUMNS, totals.to_dict("records")))]
    _write_atomic(targets)
    return KielImport(
        activities=activities, totals=totals, checks=checks, donors_without_totals=without,
        diff=diff, diff_note=diff_note, mapping_source=mapping_source,
        negative_rows=tuple(negatives), source_id=f"kiel-r{release}",
        paths=tuple(p for p, _ in targets), seconds=time.perf_counter() - t0)


def _sort_totals(totals: pd.DataFrame) -> pd.DataFrame:
    """Order by donor_id, then aid type and measure in schema order."""
    if totals.empty:
        return totals
    key = totals.assign(
        _t=totals["aid_type"].map(AID_TYPES.index), _m=totals["measure"].map(MEASURES.index))
    key = key.sort_values(["donor_id", "_t", "_m"], kind="mergesort")
    return key.drop(columns=["_t", "_m"]).reset_index(drop=True)
