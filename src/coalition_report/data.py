"""Load the data package into typed pandas tables, validated, optionally as of a date.

Typical use::

    from coalition_report import load_data
    ds = load_data()                       # data/ of this checkout, everything
    ds = load_data(as_of="2025-06-30")     # what was known on 30 June 2025
    ds.table("positions")                  # a pandas DataFrame

``as_of`` semantics (documented in the README):

* A dated record is kept when its date is on or before ``as_of``. Attendance follows the date of
  its meeting. Actors, sources and FX rates are reference tables and are never dropped.
* Undated records (Kiel sub-activities without a single date; claims the source gives no date for)
  cannot be placed in time. ``undated="include"`` (default) keeps them in cumulative totals and
  shows them as a separate "undated" bucket in time series; ``undated="exclude"`` drops them.
* Kiel's per-donor totals (``aid_totals``) are a snapshot at the end of the release's coverage.
  They are kept only when ``as_of`` is on or after that date; for an earlier ``as_of`` they drop
  out and allocations are summed from the dated activity rows instead (commitments then are not
  available, because the activity table carries no commitment values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import config
from .errors import DataValidationError, Problem
from .validate import parse_package

__all__ = ["Dataset", "load_data", "validate_data", "parse_date"]

Undated = Literal["include", "exclude"]

#: The column that places each dated table in time.
DATE_COLUMNS = {
    "meetings": "date", "contributions": "date", "positions": "date", "events": "date",
    "claims": "date", "aid_announcements": "date", "aid_activities": "date",
}
_PANDAS_TYPES = {"integer": "Int64", "number": "float64", "boolean": "boolean", "string": "string"}


def parse_date(value: str | date | None, *, name: str = "as_of") -> date | None:
    """Accept an ISO date string, a date, or None/"" (meaning: no cut-off)."""
    if value is None or value == "":
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        from .errors import ParameterError
        raise ParameterError(name, value, "expected an ISO date YYYY-MM-DD") from None


def validate_data(data_dir: str | Path | None = None) -> list[Problem]:
    """Return every problem in the data package (empty list when it is valid)."""
    return parse_package(Path(data_dir or config.DATA_DIR)).problems


@dataclass
class Dataset:
    """The validated data package as typed DataFrames.

    Attributes
    ----------
    tables : dict of str to DataFrame
        One frame per resource of ``datapackage.json``; date columns hold ``datetime.date``-free
        pandas timestamps (``datetime64``), booleans are nullable, integers ``Int64``.
    as_of : date or None
        The cut-off applied (None: everything).
    undated : {"include", "exclude"}
        How undated records were treated.
    data_dir : Path
    descriptor : dict
        The parsed ``datapackage.json``.
    """

    tables: dict[str, pd.DataFrame]
    data_dir: Path
    descriptor: dict[str, Any]
    as_of: date | None = None
    undated: Undated = "include"
    kiel_cutoff: date | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        """Return the table ``name`` (a copy-safe view: do not mutate in place)."""
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"no table {name!r}; tables: {', '.join(self.tables)}") from None

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    @property
    def newest_date(self) -> date | None:
        """Newest date of any dated record (after the as_of cut-off)."""
        return _newest(self.tables)

    def coverage(self) -> pd.DataFrame:
        """Rows and date range per table: what the brief's title block reports."""
        out = []
        for name, df in self.tables.items():
            col = DATE_COLUMNS.get(name)
            dates = df[col].dropna() if col else pd.Series([], dtype="datetime64[ns]")
            out.append({
                "table": name, "rows": len(df),
                "first_date": dates.min().date() if len(dates) else None,
                "last_date": dates.max().date() if len(dates) else None,
                "undated_rows": int(df[col].isna().sum()) if col else 0,
                "sources": int(df["source_id"].nunique()) if "source_id" in df else 0,
            })
        return pd.DataFrame(out)

    def source(self, source_id: str) -> dict[str, Any]:
        """The sources row for ``source_id`` as a dict."""
        s = self.tables["sources"]
        hit = s[s["source_id"] == source_id]
        if hit.empty:
            raise KeyError(f"unknown source_id {source_id!r}")
        return hit.iloc[0].to_dict()


def _newest(tables: dict[str, pd.DataFrame]) -> date | None:
    best = None
    for name, col in DATE_COLUMNS.items():
        df = tables.get(name)
        if df is not None and len(df) and df[col].notna().any():
            d = df[col].max().date()
            best = d if best is None or d > best else best
    return best


def _frame(table, descriptor_fields) -> pd.DataFrame:
    cols = [f["name"] for f in descriptor_fields]
    df = pd.DataFrame(table.rows, columns=cols)
    for f in descriptor_fields:
        name, ftype = f["name"], f.get("type", "string")
        if ftype == "date":
            df[name] = pd.to_datetime(df[name], errors="raise")
        elif ftype in _PANDAS_TYPES:
            df[name] = df[name].astype(_PANDAS_TYPES[ftype])
    df.insert(len(df.columns), "_line", pd.array(table.lines, dtype="Int64"))
    return df


def load_data(data_dir: str | Path | None = None, *, as_of: str | date | None = None,
              undated: Undated = "include") -> Dataset:
    """Load and validate the whole data package; optionally restrict it to ``as_of``.

    Parameters
    ----------
    data_dir : path, optional
        Directory holding ``datapackage.json``; default ``data/`` of this project
        (``COALITION_DATA`` overrides it).
    as_of : ISO date string or date, optional
        Drop records dated after this day (see the module docstring for the rules).
    undated : {"include", "exclude"}
        Keep or drop records that have no date.

    Raises
    ------
    DataValidationError
        With every problem found (file, line, column, value, rule) if the package is invalid.
    """
    if undated not in ("include", "exclude"):
        from .errors import ParameterError
        raise ParameterError("undated", undated, "allowed: include, exclude")
    root = Path(data_dir or config.DATA_DIR)
    parsed = parse_package(root)
    if parsed.problems:
        raise DataValidationError(parsed.problems)
    fields = {r["name"]: r["schema"]["fields"] for r in parsed.descriptor["resources"]}
    tables = {name: _frame(t, fields[name]) for name, t in parsed.tables.items()}
    cutoff = parse_date(as_of)
    acts = tables.get("aid_activities")
    kiel_cutoff = acts["date"].max().date() if acts is not None and acts["date"].notna().any() else None
    ds = Dataset(tables, root, parsed.descriptor, cutoff, undated, kiel_cutoff)
    _apply_as_of(ds)
    return ds


def _apply_as_of(ds: Dataset) -> None:
    tables = ds.tables
    for name, col in DATE_COLUMNS.items():
        df = tables.get(name)
        if df is None:
            continue
        keep = pd.Series(True, index=df.index)
        if ds.as_of is not None:
            keep &= df[col].isna() | (df[col] <= pd.Timestamp(ds.as_of))
        if ds.undated == "exclude":
            keep &= df[col].notna()
        ds.dropped[name] = int((~keep).sum())
        tables[name] = df[keep].reset_index(drop=True)
    if "attendance" in tables and "meetings" in tables:
        att = tables["attendance"]
        keep = att["meeting_id"].isin(tables["meetings"]["meeting_id"])
        ds.dropped["attendance"] = int((~keep).sum())
        tables["attendance"] = att[keep].reset_index(drop=True)
    if "aid_totals" in tables and ds.as_of is not None and ds.kiel_cutoff is not None \
            and ds.as_of < ds.kiel_cutoff:
        ds.dropped["aid_totals"] = len(tables["aid_totals"])
        tables["aid_totals"] = tables["aid_totals"].iloc[0:0]


def check_as_of(ds: "Dataset", as_of: str | date | None) -> date | None:
    """The rule an as-of date must meet against the data (CLI, build and notebooks use it).

    Returns the parsed date (``None`` for "newest"); raises :class:`ParameterError` when it is
    before the first coalition meeting, since nothing could have been written then.
    """
    from .errors import ParameterError

    cutoff = parse_date(as_of)
    if cutoff is not None and len(ds.meetings):
        first = ds.meetings["date"].min().date()
        if cutoff < first:
            raise ParameterError("as_of", str(as_of), f"before the first coalition meeting ({first})")
    return cutoff


def check_state(ds: "Dataset", code: str) -> str:
    """``code`` must be a state in ``actors.csv`` (ISO 3166-1 alpha-3); returns its name."""
    from .errors import ParameterError

    states = ds.actors[ds.actors["actor_type"] == "state"].set_index("actor_id")["name"]
    if code not in states.index:
        raise ParameterError("country", code, "not a state in actors.csv (ISO 3166-1 alpha-3, e.g. GBR); known: "
                             + ", ".join(sorted(states.index)))
    return str(states[code])
