"""Computed facts that analyst writing cites by name, never by typing the number.

Analyst records (the front end's judgements) hold placeholders such as ``{members}`` or
``{aid_12m_share:Europe}``; :func:`resolve` replaces each with the value computed from the
brief's own data at its as-of date, so the text and the charts always agree. A placeholder is
``{name}`` or ``{name:argument}``; the names are the keys of :data:`FACTS` (run
``python -m coalition_report.sections.facts`` to list them with what they mean).

An unknown name, a bad argument, a value the data cannot give at that date, or a stray brace
raises :class:`PlaceholderError` naming the record, so a build never prints a placeholder.

>>> resolve("{members} states", ds, record="j-1")   # doctest: +SKIP
('34 states', set())
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from .. import analysis as an
from ..cite import kiel_source
from ..data import Dataset
from ..fmt import fmt_date, fmt_money, fmt_pct

__all__ = ["FACTS", "Fact", "PlaceholderError", "resolve", "placeholders"]

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)(?::([^{}]+))?\}")


class PlaceholderError(ValueError):
    """A placeholder in analyst text that cannot be filled (names the record and the placeholder)."""

    def __init__(self, record: str, placeholder: str, rule: str):
        self.record, self.placeholder, self.rule = record, placeholder, rule
        super().__init__(f"{record}: placeholder {placeholder!r}: {rule}")


class _Unavailable(Exception):
    """The fact exists but the data cannot give it (with why)."""


@dataclass(frozen=True)
class Fact:
    """One computed fact: what it means, how it is computed, which sources it comes from."""

    meaning: str
    value: Callable[[Dataset, str, str | None], str]
    sources: Callable[[Dataset, str | None], list[str]] = lambda ds, arg: []
    takes_argument: bool = False


def _kiel(ds: Dataset, arg: str | None = None) -> list[str]:
    k = kiel_source(ds)
    return [k] if k else []


def _headline(name: str) -> Callable[[Dataset, str, str | None], str]:
    return lambda ds, cur, arg: str(an.headline_figures(ds, cur)[name])


def _money(name: str) -> Callable[[Dataset, str, str | None], str]:
    return lambda ds, cur, arg: fmt_money(an.headline_figures(ds, cur)[name], cur)


def _role_count(ds: Dataset, cur: str, arg: str | None) -> str:
    roles = an.membership_by_role(ds).set_index("role")["states"]
    if arg not in an.ROLE_ORDER:
        raise _Unavailable(f"unknown role {arg!r}; roles: {', '.join(an.ROLE_ORDER)}")
    return str(int(roles.get(arg, 0)))


_GROUPS = ("Europe", "United States", "Other")


def _twelve_months(ds: Dataset, cur: str) -> tuple[pd.Series, pd.Timestamp]:
    m = an.aid_monthly(ds, cur)
    m = m[m["month"].notna()]
    if m.empty:
        raise _Unavailable("no dated aid rows at this date")
    end = m["month"].max()
    return m[m["month"] > end - pd.DateOffset(months=12)].groupby("group")["value"].sum(), end


def _group_arg(arg: str | None) -> str:
    if arg not in _GROUPS:
        raise _Unavailable(f"donor group {arg!r} unknown; groups: {', '.join(_GROUPS)}")
    return arg


def _aid_12m_share(ds: Dataset, cur: str, arg: str | None) -> str:
    last, _ = _twelve_months(ds, cur)
    return fmt_pct(float(last.get(_group_arg(arg), 0.0)), float(last.sum()))


def _aid_12m(ds: Dataset, cur: str, arg: str | None) -> str:
    last, _ = _twelve_months(ds, cur)
    return fmt_money(float(last.get(_group_arg(arg), 0.0)), cur)


def _aid_12m_end(ds: Dataset, cur: str, arg: str | None) -> str:
    return f"{_twelve_months(ds, cur)[1]:%B %Y}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _gdp_table(ds: Dataset) -> pd.DataFrame:
    g = an.aid_share_of_gdp(ds).reset_index(drop=True)
    if g.empty:
        raise _Unavailable("no aid-to-GDP ranking at this date (Kiel's donor totals or GDP not yet published)")
    return g


def _gdp_rank(ds: Dataset, cur: str, arg: str | None) -> str:
    g = _gdp_table(ds)
    hit = g.index[g["donor_id"] == arg]
    if not len(hit):
        raise _Unavailable(f"{arg!r} is not among the donors ranked by aid as a share of GDP")
    return _ordinal(int(hit[0]) + 1)


def _gdp_sources(ds: Dataset, arg: str | None) -> list[str]:
    ids = _kiel(ds)
    if "gdp_source_id" in ds.actors:
        ids += list(ds.actors["gdp_source_id"].dropna().unique()[:1])
    return ids


def _claim_row(ds: Dataset, arg: str | None) -> pd.Series:
    c = ds.claims[ds.claims["claim_id"] == arg]
    if c.empty:
        raise _Unavailable(f"no reported figure {arg!r} known at this date")
    row = c.iloc[0]
    if pd.isna(row["value"]):
        raise _Unavailable(f"the reported fact {arg!r} has no figure")
    return row


def _claim(ds: Dataset, cur: str, arg: str | None) -> str:
    v = float(_claim_row(ds, arg)["value"])
    return f"{v:,.0f}" if v == int(v) else f"{v:,}"


def _claim_sources(ds: Dataset, arg: str | None) -> list[str]:
    try:
        return [str(_claim_row(ds, arg)["source_id"])]
    except _Unavailable:
        return []


def _last_meeting(ds: Dataset, cur: str, arg: str | None) -> str:
    d = an.headline_figures(ds, cur)["last_meeting_date"]
    if d is None:
        raise _Unavailable("no meeting at this date")
    return fmt_date(d)


def _table(ds: Dataset, name: str, what: str) -> pd.DataFrame:
    df = ds.tables.get(name)
    if df is None or df.empty:
        raise _Unavailable(f"no {what} known at this date")
    return df


def _pledging_states(ds: Dataset, cur: str, arg: str | None) -> str:
    return str(_table(ds, "force_pledges", "force pledges")["actor_id"].nunique())


def _estimate(bound: str) -> Callable[[Dataset, str, str | None], str]:
    def value(ds: Dataset, cur: str, arg: str | None) -> str:
        e = _table(ds, "force_estimates", "published estimates of the force needed")
        v = e["troops_low"].min() if bound == "low" else e["troops_high"].max()
        return f"{int(v):,}"
    return value


def _estimate_sources(ds: Dataset, arg: str | None) -> list[str]:
    e = ds.tables.get("force_estimates")
    if e is None or e.empty:
        return []
    ends = e[(e["troops_low"] == e["troops_low"].min()) | (e["troops_high"] == e["troops_high"].max())]
    return list(dict.fromkeys(ends["source_id"].dropna()))


def _poll_row(ds: Dataset, arg: str | None, col: str) -> pd.Series:
    """Poll ``arg`` (its id), or for a country code the newest poll on sending troops there that
    gives the share in ``col``."""
    p = _table(ds, "polls", "polls")
    if arg and len(arg) == 3 and arg.isupper():
        p = p[(p["actor_id"] == arg) & (p["topic"] == "troops") & p[col].notna()].sort_values(["date", "poll_id"])
        if p.empty:
            raise _Unavailable(f"no poll on sending troops in {arg} gives that share at this date")
        return p.iloc[-1]
    p = p[p["poll_id"] == arg]
    if p.empty:
        raise _Unavailable(f"no poll {arg!r} known at this date")
    if pd.isna(p.iloc[0][col]):
        raise _Unavailable(f"poll {arg!r} gives no such share")
    return p.iloc[0]


def _poll_share(col: str) -> Callable[[Dataset, str, str | None], str]:
    return lambda ds, cur, arg: f"{float(_poll_row(ds, arg, col)[col]):g}%"


def _poll_sources(col: str) -> Callable[[Dataset, str | None], list[str]]:
    def sources(ds: Dataset, arg: str | None) -> list[str]:
        try:
            return [str(_poll_row(ds, arg, col)["source_id"])]
        except _Unavailable:
            return []
    return sources


#: Every fact analyst text may cite: ``{name}`` or ``{name:argument}``.
FACTS: dict[str, Fact] = {
    "members": Fact("states in the coalition (named at a meeting and not left)", _headline("members")),
    "force_offering": Fact("members offering forces (lead nation, ground, air or sea)", _headline("force_offering")),
    "declined": Fact("members that have ruled out sending troops", _headline("declined")),
    "meetings": Fact("coalition meetings of all levels", _headline("meetings")),
    "leaders_meetings": Fact("leaders' meetings", _headline("leaders_meetings")),
    "last_meeting": Fact("date of the latest meeting", _last_meeting),
    "role_count": Fact("members whose latest role is ARG (e.g. logistics_training)", _role_count,
                       takes_argument=True),
    "alloc_coalition": Fact("aid allocated by coalition members since 2022", _money("alloc_coalition"), _kiel),
    "alloc_us": Fact("aid allocated by the United States since 2022", _money("alloc_us"), _kiel),
    "alloc_eu": Fact("aid allocated by EU institutions since 2022", _money("alloc_eu"), _kiel),
    "alloc_total": Fact("aid allocated by all donors since 2022", _money("alloc_total"), _kiel),
    "aid_12m_share": Fact("share of new aid in the last twelve months given by donor group ARG "
                          "(Europe, United States, Other)", _aid_12m_share, _kiel, True),
    "aid_12m": Fact("new aid in the last twelve months from donor group ARG", _aid_12m, _kiel, True),
    "aid_12m_end": Fact("the month the last twelve months end with", _aid_12m_end, _kiel),
    "gdp_rank": Fact("rank of donor ARG (ISO code) by aid as a share of GDP, as an ordinal", _gdp_rank,
                     _gdp_sources, True),
    "gdp_ranked": Fact("number of donors ranked by aid as a share of GDP",
                       lambda ds, cur, arg: str(len(_gdp_table(ds))), _gdp_sources),
    "claim": Fact("the figure of reported fact ARG (its claim id)", _claim, _claim_sources, True),
    # a count over the pledges table, like {members}: each pledge's source is in the annex table
    "pledging_states": Fact("states that have said what they would contribute to the force", _pledging_states),
    "force_estimate_low": Fact("the smallest published estimate of the troops a force would need",
                               _estimate("low"), _estimate_sources),
    "force_estimate_high": Fact("the largest published estimate of the troops a force would need",
                                _estimate("high"), _estimate_sources),
    "force_estimates": Fact("number of published estimates of the force needed",
                            lambda ds, cur, arg: str(len(_table(ds, "force_estimates", "published estimates"))),
                            _estimate_sources),
    "poll_support": Fact("share for, in poll ARG (its id) or in the newest poll on sending troops in country ARG "
                         "(ISO code)", _poll_share("support_pct"), _poll_sources("support_pct"), True),
    "poll_oppose": Fact("share against, in poll ARG (its id) or in the newest poll on sending troops in country "
                        "ARG (ISO code)", _poll_share("oppose_pct"), _poll_sources("oppose_pct"), True),
}


def placeholders(text: str) -> list[tuple[str, str | None]]:
    """The ``(name, argument)`` of every placeholder in ``text``."""
    return [(m.group(1), m.group(2)) for m in _PLACEHOLDER.finditer(text or "")]


def resolve(text: str, ds: Dataset, currency: str = "EUR", *, record: str = "(text)") -> tuple[str, list[str]]:
    """``text`` with every placeholder filled from ``ds``; also the source ids of the facts used.

    Raises
    ------
    PlaceholderError
        Unknown name, missing or unexpected argument, no value at this date, or a brace that
        is not part of a placeholder; the message names ``record``.
    """
    used: list[str] = []

    def fill(m: re.Match) -> str:
        name, arg = m.group(1), m.group(2)
        fact = FACTS.get(name)
        if fact is None:
            raise PlaceholderError(record, m.group(0), f"unknown fact; known: {', '.join(sorted(FACTS))}")
        if fact.takes_argument != (arg is not None):
            raise PlaceholderError(record, m.group(0), "needs an argument {name:ARG}" if fact.takes_argument
                                   else "takes no argument")
        try:
            value = fact.value(ds, currency, arg)
            used.extend(fact.sources(ds, arg))
        except _Unavailable as exc:
            raise PlaceholderError(record, m.group(0), str(exc)) from None
        return value

    out = _PLACEHOLDER.sub(fill, text or "")
    stray = re.search(r"[{}]", out)
    if stray:
        raise PlaceholderError(record, out[max(0, stray.start() - 20):stray.end() + 20],
                               "a brace that is not a placeholder {name} or {name:argument}")
    return out, list(dict.fromkeys(used))


if __name__ == "__main__":  # pragma: no cover - a listing for analysts
    for key, f in FACTS.items():
        print(f"{{{key}{':ARG' if f.takes_argument else ''}}}  {f.meaning}")
