"""Load the data package into typed pandas tables, validated, optionally as of a date.

Typical use::

    from coalition_report import load_data
    ds = load_data()                       # data/ of this checkout, everything
    ds = load_data(as_of="2025-06-30")     # what was known on 30 June 2025
    ds.table("positions")                  # a pandas DataFrame

``as_of`` is a knowledge cut-off (the README and the brief's Methods state the same rule; one
function, :func:`cut_to`, applies it to every table):

* A record is kept when what it states happened on or before ``as_of`` **and** its source was
  known (published) on or before ``as_of``. A source's date is its ``published`` day, else its
  ``known_from`` (the curator's bound for partial or missing publication dates), else the end of
  its partial ``published`` period, else its ``accessed`` day. Attendance follows its meeting.
* An undated record (a claim the source gives no date for) takes the date of its source.
* Sources are listed, counted and cited only when known on or before ``as_of``; an actor's GDP
  is blanked when its source was not yet published.
* Kiel aid data is a later release reconstructed: before the release's own date only activity
  rows dated on or before ``as_of`` are kept (undated rows cannot be placed, so they are left
  out) and Kiel's per-donor totals drop out; from the release's date on, the whole release is
  used (undated rows count in totals, never in time series).
* Exchange rates: only ECB reference rates published on or before ``as_of``: a period running
  past ``as_of`` is replaced by the mean of the daily rates up to ``as_of`` (``data/fx/``);
  periods starting later drop out.
* ``undated="exclude"`` also drops every undated record (time series use this).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import config
from .errors import DataValidationError, Problem
from .files import user_cache_dir
from .validate import parse_package

__all__ = ["Dataset", "load_data", "validate_data", "parse_date", "cut_to", "source_dates", "check_as_of",
           "check_state", "per_dataset"]

Undated = Literal["include", "exclude"]

#: The column that places each dated table in time.
DATE_COLUMNS = {
    "meetings": "date", "contributions": "date", "positions": "date", "events": "date",
    "claims": "date", "aid_announcements": "date", "aid_activities": "date",
    # evidence tables (force generation, opinion, context)
    "force_pledges": "date", "force_estimates": "date", "polls": "date", "statements": "date",
    "approvals": "date", "financing": "date",
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


def per_dataset(fn):
    """Decorator: ``fn(ds, ...)`` computed once per dataset and arguments (kept on the dataset, so
    a dataset cut to another date starts afresh). The sections ask for the members, the roles, the
    donors' totals and the sources a report cites dozens of times per report. Each caller gets its
    own copy (``.copy()``) to change."""
    @functools.wraps(fn)
    def once(ds: "Dataset", *args, **kwargs):
        memo = ds.__dict__.setdefault("_analysis_memo", {})
        key = (fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items())))
        if key not in memo:
            memo[key] = fn(ds, *args, **kwargs)
        return memo[key].copy()
    return once


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

    Notes
    -----
    Which amounts are in euros (convert them to the brief's currency with
    ``brief.to_currency(frame, column=...)``, at the rate the brief uses for its own sums):

    * ``aid_activities``: ``value_eur``, ``value_eur_redistributed``, ``activity_value_eur``
      (Kiel's EUR values);
    * ``aid_totals``: ``value_eur`` (Kiel's per-donor totals).

    Not in euros: ``aid_announcements.amount`` and ``financing.amount`` are in the currency named
    in their ``currency`` column (as announced); ``actors.gdp_usd`` is in US dollars;
    ``fx_rates.per_eur`` and ``fx_daily`` are the rates themselves (units per 1 EUR).
    """

    tables: dict[str, pd.DataFrame]
    data_dir: Path
    descriptor: dict[str, Any]
    as_of: date | None = None
    undated: Undated = "include"
    kiel_cutoff: date | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    #: Day the Kiel release in the data became known (its source's date); None if unknown.
    kiel_known: date | None = None
    #: True when ``as_of`` is before ``kiel_known``: aid is reconstructed from dated rows.
    kiel_reconstructed: bool = False

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

    @property
    def knowledge_date(self) -> date | None:
        """The default as-of date: the newest day on which a record happened or a source a record
        rests on became known (exchange-rate tables do not count), never later than today: a
        source dated only "2026" is not known before its year ends."""
        cited: set[str] = set()
        for name, df in self.tables.items():
            if name in ("sources", "fx_rates", "fx_daily"):
                continue
            for col in ("source_id", "gdp_source_id", "membership_source_id", "nato_source_id"):
                if col in df:
                    cited |= set(df[col].dropna().unique())
        known = source_dates(self.sources)
        days = [d for d in known[known.index.isin(cited)].dropna().dt.date]
        dates = [d for d in (self.newest_date, *days) if d and d <= date.today()]
        return max(dates) if dates else None

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
    full = _read_validated(root)
    if full is None:
        parsed = parse_package(root)
        if parsed.problems:
            raise DataValidationError(parsed.problems)
        fields = {r["name"]: r["schema"]["fields"] for r in parsed.descriptor["resources"]}
        tables = {name: _frame(t, fields[name]) for name, t in parsed.tables.items()}
        acts = tables.get("aid_activities")
        kiel_cutoff = acts["date"].max().date() if acts is not None and acts["date"].notna().any() else None
        full = Dataset(tables, root, parsed.descriptor, None, "include", kiel_cutoff)
        _write_validated(root, full)
    return cut_to(full, as_of, undated=undated)


# --------------------------------------------------------------------------------------------
# Validated once per data hash: the build validates, its kernels (and the next build) read
# the typed tables it kept, keyed on the data's content and the package code that checked it.
# --------------------------------------------------------------------------------------------
#: Validated datasets kept in the user's cache, the least recently used removed first: 128, at
#: most 1 GiB in all (the one just stored is always kept, however large). The shipped data's is
#: ~0.9 MB. Generous in number: a test run validates hundreds of small packages while builds
#: beside it wait for their kernels to read theirs.
VALIDATED_KEEP = 128
VALIDATED_MAX_BYTES = 1 << 30


def _validated_path(root: Path) -> Path | None:
    from .hashing import code_hash, digest, hash_directory

    try:
        key = digest({"data": hash_directory(root), "code": code_hash(), "pandas": pd.__version__})
    except OSError:
        return None
    return user_cache_dir() / f"validated-{key}.pickle"


def _read_validated(root: Path) -> "Dataset | None":
    """The dataset validated earlier from exactly these files by exactly this code, or None.

    Only a file this user owns and nobody else can write is read (a pickle runs code when
    loaded: it must be as trusted as the installed package)."""
    import pickle

    from .files import read_private, used_private

    path = _validated_path(root)
    raw = read_private(path) if path is not None else None
    if raw is None:
        return None
    try:
        ds = pickle.loads(raw)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None  # not there yet, or from another version: validate
    if not isinstance(ds, Dataset):
        return None
    used_private(path)
    ds.data_dir = root  # the same content may sit in another folder
    return ds


def _write_validated(root: Path, ds: "Dataset") -> None:
    import pickle

    from .files import keep_private

    path = _validated_path(root)
    if path is None:
        return
    try:
        blob = pickle.dumps(ds, protocol=pickle.HIGHEST_PROTOCOL)
    except pickle.PicklingError:
        return  # validated again next time
    keep_private(path, blob, keep=VALIDATED_KEEP, max_bytes=VALIDATED_MAX_BYTES)


#: Tables whose rows are dated facts: (date column, the column naming their source).
_DATED = {"meetings": "date", "contributions": "date", "positions": "date", "events": "date",
          "claims": "date", "aid_announcements": "date", "outlook": "date",
          "force_pledges": "date", "force_estimates": "date", "polls": "date", "statements": "date",
          "approvals": "date", "financing": "date"}


def _period_end(text: str) -> pd.Timestamp | None:
    """Last day of a partial ISO date: ``"2025-03"`` -> 2025-03-31, ``"2025"`` -> 2025-12-31."""
    try:
        if len(text) == 7:
            return pd.Timestamp(text + "-01") + pd.offsets.MonthEnd(0)
        if len(text) == 4:
            return pd.Timestamp(f"{text}-12-31")
    except ValueError:
        return None
    return None


def source_dates(sources: pd.DataFrame) -> pd.Series:
    """The day each source became known (index: source_id; NaT when nothing dates it).

    ``published`` when it is a whole day; else ``known_from``; else the end of the partial
    ``published`` period, or ``accessed`` when that is earlier; else ``accessed``.
    """
    out = {}
    for r in sources.to_dict("records"):
        pub = str(r.get("published") or "").strip() if pd.notna(r.get("published")) else ""
        known = r.get("known_from")
        accessed = r.get("accessed")
        accessed = pd.Timestamp(accessed) if isinstance(accessed, str) and len(accessed) == 10 else (
            pd.Timestamp(accessed) if isinstance(accessed, (pd.Timestamp, date)) else None)
        day = None
        if len(pub) == 10:
            day = pd.Timestamp(pub)
        elif known is not None and pd.notna(known) and str(known).strip():
            day = pd.Timestamp(known)
        elif pub:
            day = _period_end(pub)
            if accessed is not None and (day is None or accessed < day):
                day = accessed
        elif accessed is not None:
            day = accessed
        out[r["source_id"]] = day if day is not None else pd.NaT
    return pd.Series(out, dtype="datetime64[ns]")


def cut_to(full: Dataset, as_of: str | date | None, *, undated: Undated = "include") -> Dataset:
    """The dataset as it could have been known on ``as_of`` (see the module docstring).

    ``full`` is left untouched; ``as_of=None`` keeps everything (``undated`` still applies).
    """
    cutoff = parse_date(as_of)
    tables = dict(full.tables)
    ds = Dataset(tables, full.data_dir, full.descriptor, cutoff, undated, full.kiel_cutoff)
    known = source_dates(tables["sources"]) if "sources" in tables else pd.Series(dtype="datetime64[ns]")
    kiel_ids = set(tables["aid_activities"]["source_id"].unique()) if "aid_activities" in tables else set()
    kiel_days = known.reindex(sorted(kiel_ids)).dropna()
    ds.kiel_known = kiel_days.min().date() if len(kiel_days) else None
    if cutoff is None:
        for name, col in _DATED.items():
            if name in tables and undated == "exclude":
                df = tables[name]
                tables[name] = df[df[col].notna()].reset_index(drop=True)
        if undated == "exclude" and "aid_activities" in tables:
            a = tables["aid_activities"]
            tables["aid_activities"] = a[a["date"].notna()].reset_index(drop=True)
        return ds
    day = pd.Timestamp(cutoff)
    ok_sources = set(known.index[known.notna() & (known <= day)])

    def cited(df: pd.DataFrame) -> pd.Series:
        keep = df["source_id"].isin(ok_sources)
        if "other_source_ids" in df:  # a row resting on several sources: one known is enough
            more = [any(i.strip() in ok_sources for i in str(v).split(";") if i.strip())
                    for v in df["other_source_ids"].fillna("")]
            keep = keep | pd.Series(more, index=df.index, dtype=bool)
        return keep

    for name, col in _DATED.items():
        df = tables.get(name)
        if df is None:
            continue
        when = df[col].fillna(df["source_id"].map(known))  # undated: the date of its source
        keep = (when <= day) & cited(df)
        if undated == "exclude":
            keep &= df[col].notna()
        ds.dropped[name] = int((~keep).sum())
        tables[name] = df[keep].reset_index(drop=True)
    if "attendance" in tables and "meetings" in tables:
        att = tables["attendance"]
        keep = att["meeting_id"].isin(tables["meetings"]["meeting_id"]) & cited(att)
        ds.dropped["attendance"] = int((~keep).sum())
        tables["attendance"] = att[keep].reset_index(drop=True)
    ds.kiel_reconstructed = ds.kiel_known is None or cutoff < ds.kiel_known
    if "aid_activities" in tables:
        a = tables["aid_activities"]
        keep = a["date"] <= day  # NaT compares False: undated rows need the whole release
        if not ds.kiel_reconstructed and undated == "include":
            keep |= a["date"].isna()
        ds.dropped["aid_activities"] = int((~keep).sum())
        tables["aid_activities"] = a[keep].reset_index(drop=True)
    if "aid_totals" in tables and ds.kiel_reconstructed:
        ds.dropped["aid_totals"] = len(tables["aid_totals"])
        tables["aid_totals"] = tables["aid_totals"].iloc[0:0]
    if "fx_daily" in tables:  # rates published by the as-of day only
        tables["fx_daily"] = tables["fx_daily"][tables["fx_daily"]["date"] <= day].reset_index(drop=True)
    if "fx_rates" in tables:
        tables["fx_rates"] = _rates_as_of(tables["fx_rates"], day, full.tables.get("fx_daily"))
    if "actors" in tables and "gdp_source_id" in tables["actors"]:
        act = tables["actors"].copy()
        unknown = act["gdp_source_id"].notna() & ~act["gdp_source_id"].isin(ok_sources)
        for col in ("gdp_usd", "gdp_year"):
            if col in act:
                act.loc[unknown, col] = pd.NA
        tables["actors"] = act
    if "sources" in tables:
        # Series sources (the Kiel release, the ECB rates) stay citable: their values are cut by
        # their own dates above, and the brief says when the release itself was published.
        series = kiel_ids | (set(full.tables["fx_rates"]["source_id"]) if "fx_rates" in full.tables else set())
        s = tables["sources"]
        keep = s["source_id"].isin(ok_sources | series)
        ds.dropped["sources"] = int((~keep).sum())
        tables["sources"] = s[keep].reset_index(drop=True)
    return ds


def _rates_as_of(rates: pd.DataFrame, day: pd.Timestamp, daily: pd.DataFrame | None) -> pd.DataFrame:
    """Rates published by ``day``: later periods dropped, a running period re-averaged to ``day``
    from the daily rates (resource ``fx_daily``, validated with the package; None: not declared)."""
    rates = rates[rates["period_start"] <= day].copy()
    running = rates["period_end"] > day
    if not running.any():
        return rates.reset_index(drop=True)
    for i in rates.index[running]:
        r = rates.loc[i]
        if daily is None or r["currency"] not in daily:
            rates = rates.drop(index=i)  # cannot tell what was published by then: no rate
            continue
        span = daily[(daily["date"] >= r["period_start"]) & (daily["date"] <= day)][["date", r["currency"]]].dropna()
        if span.empty:
            rates = rates.drop(index=i)
            continue
        digits = 5 if r["currency"] == "GBP" else 4
        mean = float(pd.Series(span[r["currency"]]).mean())
        from decimal import ROUND_HALF_UP, Decimal
        rates.loc[i, "per_eur"] = float(Decimal(repr(mean)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP))
        rates.loc[i, "period_end"] = day
        rates.loc[i, "rate_type"] = (f"mean of {len(span)} ECB euro reference rates published "
                                     f"{span['date'].min():%Y-%m-%d} to {span['date'].max():%Y-%m-%d} "
                                     "(the part of the recorded period up to the as-of date)")
    return rates.reset_index(drop=True)


def check_as_of(ds: "Dataset", as_of: str | date | None) -> date | None:
    """The rule an as-of date must meet against the data (CLI, build and notebooks use it).

    Returns the parsed date (``None`` for "newest"); raises :class:`ParameterError` when it is
    before the first coalition meeting, since nothing could have been written then, or after
    today or after the newest day anything in the data became known (``knowledge_date``): a
    brief dated then would claim knowledge nobody had, and "as of 9999-12-31" is a typo.
    """
    from .errors import ParameterError

    cutoff = parse_date(as_of)
    if cutoff is not None and len(ds.meetings):
        first = ds.meetings["date"].min().date()
        if cutoff < first:
            raise ParameterError("as_of", str(as_of), f"before the first coalition meeting ({first})")
    if cutoff is not None and cutoff > date.today():
        raise ParameterError("as_of", str(as_of), f"in the future (today is {date.today()})")
    newest = ds.knowledge_date
    if cutoff is not None and newest is not None and cutoff > newest:
        raise ParameterError("as_of", str(as_of), f"after the newest date in the data ({newest}); "
                             "leave it empty for the newest brief")
    return cutoff


def check_state(ds: "Dataset", code: str) -> str:
    """``code`` must be a state in ``actors.csv`` (ISO 3166-1 alpha-3); returns its name."""
    from .errors import ParameterError

    states = ds.actors[ds.actors["actor_type"] == "state"].set_index("actor_id")["name"]
    if code not in states.index:
        raise ParameterError("country", code, "not a state in actors.csv (ISO 3166-1 alpha-3, e.g. GBR); known: "
                             + ", ".join(sorted(states.index)))
    return str(states[code])
