"""Section 2, aid flows: who gives how much, of what kind, when, and relative to GDP.

All aid figures come from the Kiel release in ``aid_activities.csv`` (its source id is read
from the data, see :func:`coalition_report.cite.kiel_source`); announcements from
``aid_announcements.csv`` are shown beside Kiel's numbers, never added to them.
"""

from __future__ import annotations

from typing import Mapping

import altair as alt
import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, kiel_source, source_note
from ..data import Dataset
from ..display import Figure, Table
from ..fmt import date_column, fmt_date, fmt_money
from ..style import WIDTH, color_scale, palette, time_axis

__all__ = ["chart_top_donors", "chart_aid_groups", "chart_monthly_aid", "chart_gdp_share",
           "table_announcements", "fx_note", "SORT_KEYS"]

#: ``sort_by`` values of :func:`chart_top_donors`: column and direction.
SORT_KEYS = {"allocations": ("allocation_total", False), "commitments": ("commitment_total", False),
             "name": ("name", True)}
_TYPE_LABELS = {t: t.capitalize() for t in an.AID_TYPES}


def fx_note(ds: Dataset, currency: str) -> str:
    """How EUR figures were converted to ``currency`` (empty for EUR)."""
    if currency == "EUR":
        return ""
    rate, desc, _ = an.display_rate(ds, currency)
    return f"Converted from EUR at {desc}"


def _type_scale(colors: Mapping[str, str]) -> alt.Scale:
    return color_scale(colors, labels=_TYPE_LABELS)


def chart_top_donors(ds: Dataset, currency: str = "EUR", *, top_n: int = 15, sort_by: str = "allocations",
                     colors: Mapping[str, str] | None = None, title: str | None = None) -> Figure:
    """The ``top_n`` largest donors by total allocation: allocations and commitments by aid type.

    ``sort_by`` orders the bars (``"allocations"``, ``"commitments"`` or ``"name"``); which
    donors are shown is always the top ``top_n`` by allocations. ``colors`` maps aid types
    (``military``, ``financial``, ``humanitarian``) to colours; default ``palette("aid_types")``.
    """
    if sort_by not in SORT_KEYS:
        raise ValueError(f"sort_by={sort_by!r}: use one of {', '.join(SORT_KEYS)}")
    colors = colors or palette("aid_types")
    d = an.aid_by_donor(ds, currency).head(top_n)
    col, ascending = SORT_KEYS[sort_by]
    d = d.sort_values([col, "name"], ascending=[ascending, True], na_position="last")
    long = []
    for r in d.itertuples(index=False):
        for measure in ("allocation", "commitment"):
            for t in an.AID_TYPES:
                v = getattr(r, f"{measure}_{t}")
                if v == v:  # commitments are NaN before Kiel's cut-off
                    long.append({"donor": r.name, "measure": measure.capitalize() + "s",
                                 "type": _TYPE_LABELS[t], "value": v / 1e9, "rank": r.rank})
    long = pd.DataFrame(long)
    chart = alt.Chart(long).mark_bar().encode(
        y=alt.Y("donor:N", sort=d["name"].tolist(), title=None, axis=alt.Axis(labelLimit=260)),
        yOffset=alt.YOffset("measure:N", sort=["Allocations", "Commitments"]),
        x=alt.X("sum(value):Q", title=f"{currency} billion", axis=alt.Axis(tickCount=8)),
        color=alt.Color("type:N", title="Aid type", scale=_type_scale(colors)),
        opacity=alt.Opacity("measure:N", title="Upper bar / lower bar", sort=["Allocations", "Commitments"],
                            scale=alt.Scale(domain=["Allocations", "Commitments"], range=[1.0, 0.45])),
        tooltip=["donor:N", "measure:N", "type:N", alt.Tooltip("value:Q", format=",.2f", title=f"{currency} bn")],
    ).properties(width=WIDTH - 200, height=alt.Step(17), title=alt.Title(
        title or f"Top {len(d)} donors to Ukraine",
        subtitle="Upper bar: allocations (delivered or earmarked); lower, lighter bar: commitments (pledges)"))
    ranked = d.sort_values("rank")
    alt_text = (f"Bar chart of the {len(d)} largest donors by total allocation. Largest: {ranked.iloc[0]['name']} "
                f"with {fmt_money(ranked.iloc[0]['allocation_total'], currency)} allocated; second: "
                f"{ranked.iloc[1]['name']} with {fmt_money(ranked.iloc[1]['allocation_total'], currency)}."
                if len(d) > 1 else "Bar chart of donors.")
    basis = ("Kiel's per-donor totals" if len(d) and d["basis"].iloc[0] == "kiel_totals"
             else "sums of Kiel activity rows up to the as-of date (commitments not available)")
    values = {"Donor": d["name"]}
    for measure, label in (("allocation", "Allocated"), ("commitment", "Committed")):
        for t in [*an.AID_TYPES, "total"]:
            values[f"{label}: {t}"] = d[f"{measure}_{t}"] / 1e9
    table = Table(pd.DataFrame(values).dropna(axis=1, how="all"), caption=f"Values, {currency} billion",
                  source_note=None, formats={c: ",.2f" for c in values if c != "Donor"})
    return Figure(chart, alt_text=alt_text, values=table, source_note=source_note(
        ds, [kiel_source(ds)], f"{basis}. {fx_note(ds, currency)}".strip()))


def chart_aid_groups(ds: Dataset, currency: str = "EUR", *, colors: Mapping[str, str] | None = None,
                     title: str = "Who carries the load") -> Figure:
    """Allocations of coalition members, EU institutions, the United States and other donors.

    ``colors`` maps aid types to colours; default ``palette("aid_types")``.
    """
    colors = colors or palette("aid_types")
    g = an.aid_by_group(ds, currency)
    long = g.melt(id_vars=["category", "donors"], value_vars=[f"allocation_{t}" for t in an.AID_TYPES])
    long["type"] = long["variable"].str.replace("allocation_", "").map(_TYPE_LABELS)
    long["value"] = long["value"] / 1e9
    chart = alt.Chart(long).mark_bar().encode(
        y=alt.Y("category:N", sort=g["category"].tolist(), title=None),
        x=alt.X("sum(value):Q", title=f"Allocations, {currency} billion"),
        color=alt.Color("type:N", title="Aid type", scale=_type_scale(colors)),
        tooltip=["category:N", "type:N", alt.Tooltip("value:Q", format=",.1f", title=f"{currency} bn")],
    ).properties(width=WIDTH - 150, height=alt.Step(34), title=alt.Title(
        title, subtitle="Total allocations since January 2022 by donor group and aid type"))
    parts = "; ".join(f"{r.category} {fmt_money(r.allocation_total, currency)} "
                      f"({r.donors} donor{'s' if r.donors != 1 else ''})"
                      for r in g.itertuples())
    vals = pd.DataFrame({"Donor group": g["category"], "Donors": g["donors"],
                         **{t.capitalize(): g[f"allocation_{t}"] / 1e9 for t in [*an.AID_TYPES, "total"]}})
    table = Table(vals, caption=f"Values: allocations, {currency} billion", source_note=None,
                  formats={t.capitalize(): ",.2f" for t in [*an.AID_TYPES, "total"]})
    return Figure(chart, alt_text=f"Stacked bar chart of allocations by donor group: {parts}.", values=table,
                  source_note=source_note(ds, [kiel_source(ds)], "Coalition membership from this brief's "
                                          "attendance and role data. " + fx_note(ds, currency)))


def chart_monthly_aid(ds: Dataset, currency: str = "EUR", *, colors: Mapping[str, str] | None = None,
                      title: str = "Monthly allocations by donor group") -> Figure:
    """Monthly allocations by donor group (Europe, United States, Other), dated rows only.

    ``colors`` maps the groups to colours; default ``palette("donor_groups")``.
    """
    colors = colors or palette("donor_groups")
    m = an.aid_monthly(ds, currency)
    undated = m[m["month"].isna()]
    m = m[m["month"].notna()].copy()
    m["value"] = m["value"] / 1e9
    chart = alt.Chart(m).mark_bar(width={"band": 0.9}).encode(
        x=alt.X("yearmonth(month):T", title=None, axis=time_axis(m["month"])),
        y=alt.Y("sum(value):Q", title=f"{currency} billion per month"),
        color=alt.Color("group:N", title="Donor group", scale=color_scale(colors)),
        tooltip=[alt.Tooltip("yearmonth(month):T", title="Month"), "group:N",
                 alt.Tooltip("sum(value):Q", format=",.2f", title=f"{currency} bn")],
    ).properties(width=WIDTH, height=260, title=alt.Title(
        title, subtitle="By announcement month; Europe includes EU institutions"))
    by_group = m.groupby("group")["value"].sum()
    last12 = m[m["month"] > m["month"].max() - pd.DateOffset(months=12)].groupby("group")["value"].sum()
    alt_text = ("Stacked monthly bar chart of allocations from "
                f"{m['month'].min():%B %Y} to {m['month'].max():%B %Y}. Totals: "
                + ", ".join(f"{g} {currency} {v:,.1f}bn" for g, v in by_group.items())
                + ". Last 12 months: " + ", ".join(f"{g} {currency} {v:,.1f}bn" for g, v in last12.items()) + ".")
    extra = (f"{fmt_money(undated['value'].sum(), currency)} of allocations have no single date in Kiel's "
             "data and are not shown. " if len(undated) else "")
    q = m.assign(quarter=m["month"].dt.to_period("Q").astype(str).str.replace("Q", " Q"))
    wide = q.pivot_table(index="quarter", columns="group", values="value", aggfunc="sum", fill_value=0.0)
    wide = wide[[c for c in colors if c in wide.columns]]
    wide["Total"] = wide.sum(axis=1)
    table = Table(wide.reset_index().rename(columns={"quarter": "Quarter"}),
                  caption=f"Values: allocations per quarter, {currency} billion", source_note=None,
                  formats={c: ",.2f" for c in wide.columns})
    return Figure(chart, alt_text=alt_text, values=table,
                  source_note=source_note(ds, [kiel_source(ds)], extra + fx_note(ds, currency)))


def chart_gdp_share(ds: Dataset, *, top_n: int = 25, colors: Mapping[str, str] | None = None,
                    title: str = "Effort relative to economic size") -> Figure:
    """Total allocations as a share of the donor's GDP, highest first.

    ``colors`` maps ``Coalition member`` / ``Not a member`` to colours; default
    ``palette("membership")``.
    """
    colors = colors or palette("membership")
    s = an.aid_share_of_gdp(ds).head(top_n)
    if s.empty:
        gdp_ids = ds.actors["gdp_source_id"].dropna().unique().tolist() if "gdp_source_id" in ds.actors else []
        msg = f"No GDP figures published by {fmt_date(an.cutoff(ds))} are in the data"
        chart = alt.Chart(pd.DataFrame({"text": [msg]})).mark_text(fontSize=13).encode(
            text="text:N").properties(width=WIDTH, height=60, title=title)
        return Figure(chart, alt_text=msg + ": aid as a share of GDP cannot be shown yet.",
                      source_note=source_note(ds, gdp_ids, "The GDP source in the data was published later"))
    s = s.assign(member=s["coalition_member"].map({True: "Coalition member", False: "Not a member"}))
    chart = alt.Chart(s).mark_bar().encode(
        y=alt.Y("name:N", sort=s["name"].tolist(), title=None),
        x=alt.X("share_of_gdp_pct:Q", title="Allocations since 2022, % of GDP",
                axis=alt.Axis(tickCount=6, format=".1f")),
        color=alt.Color("member:N", title=None, scale=color_scale(colors)),
        tooltip=["name:N", alt.Tooltip("share_of_gdp_pct:Q", format=".2f", title="% of GDP")],
    ).properties(width=WIDTH - 150, height=alt.Step(14), title=alt.Title(
        title, subtitle=f"Top {len(s)} donor states by allocations as a share of GDP"))
    years = sorted(set(s["gdp_year"].dropna().astype(int)))
    rate = an.FxTable(ds.fx_rates).rate("USD", pd.Timestamp(years[0], 7, 1)) if years else None
    alt_text = (f"Bar chart: {s.iloc[0]['name']} has allocated the most relative to GDP "
                f"({s.iloc[0]['share_of_gdp_pct']:.2f}%), then {s.iloc[1]['name']} "
                f"({s.iloc[1]['share_of_gdp_pct']:.2f}%)." if len(s) > 1 else "Bar chart of aid as share of GDP.")
    table = Table(pd.DataFrame({"State": s["name"], "% of GDP": s["share_of_gdp_pct"],
                                "Allocated, USD bn": s["allocation_usd"] / 1e9, "GDP, USD bn": s["gdp_usd"] / 1e9,
                                "GDP year": s["gdp_year"].astype("Int64")}),
                  caption="Values", source_note=None,
                  formats={"% of GDP": ",.2f", "Allocated, USD bn": ",.2f", "GDP, USD bn": ",.0f",
                           "GDP year": lambda v: str(v)})
    gdp_ids = ds.actors.loc[ds.actors["actor_id"].isin(s["donor_id"]), "gdp_source_id"].dropna().unique().tolist()
    src = [kiel_source(ds), *gdp_ids] + ([rate.source_id] if rate is not None else [])
    return Figure(chart, alt_text=alt_text, values=table, source_note=source_note(
        ds, src, f"GDP in current USD for {', '.join(map(str, years))}; allocations since 2022 converted to USD at "
                 f"{rate.per_eur:g} USD per EUR ({str(rate.rate_type).split(':', 1)[0]}). Kiel publishes its own share of GDP per year; "
                 "this ranking divides all allocations since 2022 by one year's GDP, so it differs from Kiel's "
                 "yearly shares" if rate is not None else ""))


def table_announcements(ds: Dataset, currency: str = "EUR", *, since: str | None = "2025-02-01",
                        caption: str = "Notable aid announcements (announcements are not added to Kiel's totals)"
                        ) -> Table:
    """Notable announcements since ``since`` with the original amount and the converted value."""
    a = an.announcements(ds, currency)
    if since and len(a):
        a = a[a["date"] >= pd.Timestamp(since)]
    if a.empty:
        return Table(pd.DataFrame({"Note": [f"No aid announcements recorded by {fmt_date(an.cutoff(ds))}"]}),
                     caption=caption, source_note="Source: the project's data package (aid_announcements.csv).")
    q = {"about": "about ", "more_than": "more than ", "at_least": "at least ", "up_to": "up to "}
    orig = [("" if pd.isna(r.amount) else q.get(r.qualifier, "") + fmt_money(r.amount, r.currency))
            or "not stated" for r in a.itertuples()]
    conv = ["–" if c is None or c != c else fmt_money(c, currency) for c in a["converted"]]
    out = pd.DataFrame({"Date": date_column(a["date"]), "Donor": a["donor"], "What": a["description"],
                        "Amount as reported": orig, f"In {currency}": conv,
                        "Source": a["source_id"] + confidence_flag(a["confidence"])
                        + a["also_reported_by"].map(lambda x: f"; also {x.replace(';', ', ')}" if x else "")})
    rate_ids = sorted({s for ids in a["rate_source_ids"] for s in ids.split(";") if s})
    return Table(out, caption=caption,
                 source_note=source_note(ds, rate_ids, "Amounts in the currency the source reports; converted at "
                                         "the recorded rate for the announcement date (see FX rates in Methods)"))
