"""Force generation: what each state says it would contribute to the multinational force, and
what published analysis says such a force would need.

Pledges come from ``force_pledges.csv`` (one row per stated element: component, number and unit
where the source gives them, conditions); estimates of need from ``force_estimates.csv`` (author,
scenario, low and high troop numbers). Both are cut by the as-of rule like every dated table, so
an early brief shows only what had been stated and published by then.
"""

from __future__ import annotations

from typing import Sequence

import altair as alt
import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, source_note, top_sources
from ..data import Dataset
from ..display import Figure, Table
from ..fmt import date_column, fmt_date, fmt_int
from ..style import WIDTH, palette

__all__ = ["chart_force_pledges", "chart_force_estimates", "table_force_pledges", "table_force_estimates",
           "COMPONENTS"]

#: Pledge components in the order the chart shows them, with their labels.
COMPONENTS = {"ground": "Ground", "air": "Air", "maritime": "Maritime", "training": "Training",
              "headquarters": "HQ", "logistics": "Logistics", "monitoring": "Monitoring",
              "other": "Unspecified"}
_QUALIFIER = {"about": "about ", "up_to": "up to ", "at_least": "at least ", "more_than": "more than ", "exact": ""}


def _frame(ds: Dataset, name: str) -> pd.DataFrame:
    """The table ``name`` as of the brief's date; empty when the data package has none."""
    df = ds.tables.get(name)
    return df.copy() if df is not None else pd.DataFrame()


def _names(ds: Dataset) -> pd.Series:
    return ds.actors.set_index("actor_id")["name"]


def _size(r) -> str:
    """The stated size of one pledge row: ``'up to 100 trainers and support personnel'``."""
    unit = r["unit"] if isinstance(r.get("unit"), str) else ""
    if pd.notna(r.get("number")):
        q = _QUALIFIER.get(r.get("qualifier"), "") if isinstance(r.get("qualifier"), str) else ""
        return f"{q}{fmt_int(r['number'])} {unit}".strip()
    return unit or "not stated"


def pledges(ds: Dataset) -> pd.DataFrame:
    """Pledge rows with the state's name and the stated size as text, oldest first."""
    p = _frame(ds, "force_pledges")
    if p.empty:
        return pd.DataFrame(columns=["date", "actor_id", "state", "component", "size", "conditions",
                                     "as_reported", "source_id", "confidence"])
    p["state"] = p["actor_id"].map(_names(ds)).fillna(p["actor_id"])
    p["size"] = [_size(r) for r in p.to_dict("records")]
    return p.sort_values(["date", "state", "component"]).reset_index(drop=True)


def _estimate_range(ds: Dataset) -> tuple[int, int] | None:
    e = _frame(ds, "force_estimates")
    if e.empty:
        return None
    return int(e["troops_low"].min()), int(e["troops_high"].max())


def _message_chart(text: str, title: str) -> alt.Chart:
    return alt.Chart(pd.DataFrame({"text": [text]})).mark_text(fontSize=13).encode(
        text="text:N").properties(width=WIDTH, height=60, title=title)


def chart_force_pledges(ds: Dataset, *, components: Sequence[str] | None = None, color: str | None = None,
                        title: str | None = None) -> Figure:
    """Which states have said what they would contribute to the force, by component.

    One mark per state and component stated by the as-of date, labelled with the size where the
    source gives one. ``components`` restricts and orders the columns (keys of
    :data:`COMPONENTS`); ``color`` is the mark colour (default the brief's "support" blue);
    ``title`` replaces the computed title, which states the count of states and the range of
    published estimates of need.
    """
    p = pledges(ds)
    order = [c for c in (components or COMPONENTS) if c in COMPONENTS]
    p = p[p["component"].isin(order)]
    rng = _estimate_range(ds)
    n = p["actor_id"].nunique()
    need = (f"; published estimates of need run from {fmt_int(rng[0])} to {fmt_int(rng[1])} troops"
            if rng else "")
    heading = title or (f"{n} state{'s had' if n != 1 else ' had'} stated what {'they' if n != 1 else 'it'} would "
                        f"contribute to the force{need}")
    if p.empty:
        msg = f"No state had stated a contribution to the force by {fmt_date(an.cutoff(ds))}"
        return Figure(_message_chart(msg, heading), alt_text=msg + ".",
                      source_note=source_note(ds, [], "Force pledges as recorded in this brief's data"))
    # one cell per state and component: the newest statement's size, every date in the tooltip
    cells = (p.groupby(["state", "component"], as_index=False)
             .agg(size=("size", lambda s: "; ".join(dict.fromkeys(x for x in s if x != "not stated"))),
                  dates=("date", lambda s: ", ".join(sorted({d.strftime("%Y-%m-%d") for d in s}))),
                  what=("as_reported", lambda s: " | ".join(dict.fromkeys(s)))))
    cells["component_label"] = cells["component"].map(COMPONENTS)
    by_state = cells.groupby("state")["component"].nunique().sort_values(ascending=False)
    state_order = sorted(by_state.index, key=lambda s: (-by_state[s], s))
    labels = [COMPONENTS[c] for c in order]
    base = alt.Chart(cells).encode(
        y=alt.Y("state:N", sort=state_order, title=None, axis=alt.Axis(labelLimit=200)),
        x=alt.X("component_label:N", sort=labels, scale=alt.Scale(domain=labels), title=None,
                axis=alt.Axis(orient="top", labelAngle=-35, labelLimit=90)),
        tooltip=[alt.Tooltip("state:N", title="State"), alt.Tooltip("component_label:N", title="Component"),
                 alt.Tooltip("size:N", title="Stated size"), alt.Tooltip("dates:N", title="Stated on"),
                 alt.Tooltip("what:N", title="As reported")])
    fill = color or palette("stances")["support"]
    # a filled square where the source states a size, an open one where it does not
    dots = base.mark_square(size=150, color=fill, filled=True).transform_filter(alt.datum.size != "")
    open_ = base.mark_square(size=150, color=fill, filled=False, strokeWidth=2).transform_filter(alt.datum.size == "")
    chart = (dots + open_).properties(
        width=WIDTH - 260, height=alt.Step(18), title=alt.Title(
            heading.replace("; ", ";\n").split("\n") if len(heading) > 70 else heading, subtitle=["A square: the state has said it would contribute this component; filled where the",
                               "source states a size (sizes in the values table)"]))
    counts = {COMPONENTS[c]: int(cells.loc[cells["component"] == c, "state"].nunique()) for c in order}
    parts = ", ".join(f"{k.lower()} {v}" for k, v in counts.items() if v)
    sizes = "; ".join(f"{r.state} {r.size}" for r in cells.itertuples() if r.size)
    alt_text = (f"Matrix of {n} state{'s' if n != 1 else ''} by the components stated as contributions. States "
                f"per component: {parts}. " + (f"Sizes stated: {sizes}." if sizes else "No size stated."))
    values = pd.DataFrame({"State": cells["state"], "Component": cells["component_label"],
                           "Stated size": cells["size"].replace("", "not stated"), "Stated on": cells["dates"]})
    values = values.sort_values(["State", "Component"]).reset_index(drop=True)
    table = Table(values, caption="Values: stated contributions by state and component", source_note=None)
    ids = top_sources(p["source_id"], 8)
    return Figure(chart, alt_text=alt_text, values=table, source_note=source_note(
        ds, ids, f"{p['source_id'].nunique()} sources in all; the full list is in Sources. Only what a source "
                 "states is shown: most states give no troop numbers"))


def chart_force_estimates(ds: Dataset, *, color: str | None = None, title: str | None = None) -> Figure:
    """Published estimates of the troops a reassurance force would need: one bar per scenario
    from its low to its high figure (a point where the estimate is one number)."""
    e = _frame(ds, "force_estimates")
    heading = title
    if e.empty:
        msg = f"No published estimate of the force's size is recorded by {fmt_date(an.cutoff(ds))}"
        return Figure(_message_chart(msg, heading or "Estimates of the force needed"), alt_text=msg + ".",
                      source_note=source_note(ds, [], "Force estimates as recorded in this brief's data"))
    e = e.sort_values(["date", "troops_low", "estimate_id"]).reset_index(drop=True)
    e["label"] = [f"{r.organisation}: {r.scenario} ({r.date:%b %Y})" for r in e.itertuples()]
    e["range"] = [fmt_int(r.troops_low) if r.troops_low == r.troops_high else
                  f"{fmt_int(r.troops_low)}–{fmt_int(r.troops_high)}" for r in e.itertuples()]
    lo, hi = int(e["troops_low"].min()), int(e["troops_high"].max())
    heading = heading or f"Published estimates of the troops a force would need run from {fmt_int(lo)} to {fmt_int(hi)}"
    mark_color = color or palette("categorical")["blue"]
    base = alt.Chart(e).encode(y=alt.Y("label:N", sort=e["label"].tolist(), title=None, axis=alt.Axis(labelLimit=360)),
                               tooltip=[alt.Tooltip("author:N", title="Author"), alt.Tooltip("scenario:N"),
                                        alt.Tooltip("range:N", title="Troops"),
                                        alt.Tooltip("description:N", title="Detail")])
    bars = base.mark_rule(strokeWidth=6, color=mark_color).encode(
        x=alt.X("troops_low:Q", title="Troops", scale=alt.Scale(domainMin=0), axis=alt.Axis(format=",d")),
        x2="troops_high:Q")
    ends = base.mark_point(filled=True, size=70, color=mark_color).encode(x="troops_low:Q")
    highs = base.mark_point(filled=True, size=70, color=mark_color).encode(x="troops_high:Q")
    text = base.mark_text(align="left", dx=8, fontSize=9).encode(x="troops_high:Q", text="range:N")
    chart = (bars + ends + highs + text).properties(width=WIDTH - 300, height=alt.Step(24), title=alt.Title(
        heading, subtitle="Each line runs from the low to the high figure of one published scenario"))
    alt_text = "Ranges of published estimates: " + "; ".join(f"{r.label}: {r.range} troops" for r in e.itertuples()) + "."
    values = Table(pd.DataFrame({"Published": date_column(e["date"]), "Author": e["author"],
                                 "Organisation": e["organisation"], "Scenario": e["scenario"],
                                 "Troops (low)": e["troops_low"], "Troops (high)": e["troops_high"]}),
                   caption="Values: troop numbers per scenario", source_note=None,
                   formats={"Troops (low)": ",d", "Troops (high)": ",d"})
    return Figure(chart, alt_text=alt_text, values=values,
                  source_note=source_note(ds, top_sources(e["source_id"]), "Estimates as published; a date given "
                                          "only to the month is shown as that month"))


def table_force_pledges(ds: Dataset, country: str | None = None, *,
                        caption: str = "What each state has said it would contribute") -> Table:
    """Every pledge stated by the as-of date: date, state, component, stated size, conditions, source
    (``country``: one state's, for a country profile)."""
    p = pledges(ds)
    if country:
        p = p[p["actor_id"] == country]
    if p.empty:
        return Table(pd.DataFrame({"Note": [f"No contribution to the force had been stated by "
                                            f"{fmt_date(an.cutoff(ds))}"]}),
                     caption=caption, source_note=source_note(ds, []))
    out = pd.DataFrame({"Date": date_column(p["date"]), "State": p["state"],
                        "Component": p["component"].map(COMPONENTS), "Stated size": p["size"],
                        "Conditions": p["conditions"].fillna("–"), "As reported": p["as_reported"],
                        "Source": p["source_id"] + confidence_flag(p["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(p["source_id"], 8)))


def table_force_estimates(ds: Dataset, *, caption: str = "Published estimates of the force needed") -> Table:
    """Every published estimate by the as-of date: author, scenario, troop numbers, source."""
    e = _frame(ds, "force_estimates")
    if e.empty:
        return Table(pd.DataFrame({"Note": [f"No published estimate recorded by {fmt_date(an.cutoff(ds))}"]}),
                     caption=caption, source_note=source_note(ds, []))
    e = e.sort_values(["date", "troops_low"])
    out = pd.DataFrame({"Published": date_column(e["date"]), "Author": e["author"],
                        "Organisation": e["organisation"], "Scenario": e["scenario"],
                        "Troops": [fmt_int(r.troops_low) if r.troops_low == r.troops_high else
                                   f"{fmt_int(r.troops_low)}–{fmt_int(r.troops_high)}" for r in e.itertuples()],
                        "Detail": e["description"].fillna(""),
                        "Source": e["source_id"] + confidence_flag(e["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(e["source_id"])))
