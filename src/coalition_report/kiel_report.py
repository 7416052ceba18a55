"""The result of a Kiel import and its per-donor difference report (split from ``kiel.py``).

:class:`KielImport` is what :func:`coalition_report.kiel_import.import_source` returns; the report
(Markdown) compares the new aid tables with the ones they replace and is written into the data
package as ``kiel/import-diff-r<N>.md`` (and, with ``--report``, to a file of the user's choice).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .kiel import ACTIVITIES_OUT, MEASURES, TOTALS_OUT, KielSource
from .kiel_txn import printable

__all__ = ["KielImport", "diff_per_donor", "format_report", "read_previous"]


# --------------------------------------------------------------------------------------------
# Differences against the data being replaced


def diff_per_donor(old_acts: pd.DataFrame, old_tots: pd.DataFrame,
                   new_acts: pd.DataFrame, new_tots: pd.DataFrame) -> pd.DataFrame:
    """Per donor, old and new rows and totals and whether anything changed (see :class:`KielImport`)."""
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


def read_previous(out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame] | str:
    """The aid tables an import replaces, or why they cannot be compared."""
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


def format_report(result: "KielImport", source: KielSource, names: dict[str, str],
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
    extra_report : pathlib.Path or None
        ``--report``: the other file the report was written to, or ``None``.
    recovered : str
        What was done to an earlier import into the folder that had been cut short, or empty.
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
    extra_report: Path | None = None
    recovered: str = ""
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
        out = [f"earlier import: {self.recovered}"] if self.recovered else []
        out += [
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
        if self.extra_report is not None:
            out.append(f"difference report also written to {self.extra_report}")
        return "\n".join(printable(line) for line in out)  # names and cells come from the input
