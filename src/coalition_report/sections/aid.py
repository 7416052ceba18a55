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
from ..fmt import date_column, fmt_date, fmt_money, fmt_pct
from ..style import INK, WIDTH, chart_title, color_scale, palette, time_axis

__all__ = ["chart_top_donors", "chart_aid_groups", "chart_monthly_aid", "chart_gdp_share",
           "table_announcements", "fx_note", "SORT_KEYS", "top_donors_finding", "aid_groups_finding",
           "monthly_finding", "gdp_share_finding"]

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


def _name(name: str) -> str:
    """A donor's name as a sentence's subject (``the United States``)."""
    return f"the {name}" if name.startswith(("United ", "Netherlands")) else name


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _money_axis(values, **kwargs) -> alt.Axis:
    """An x axis in billions whose labels never run into each other: about five ticks, whole
    numbers, never more than the A4 width can space out."""
    top = float(pd.Series(values).max() or 0)
    return alt.Axis(tickCount=5 if top >= 10 else 4, format=",.0f" if top >= 5 else ",.1f",
                    labelOverlap="greedy", labelFlush=True, **kwargs)


def top_donors_finding(ds: Dataset, currency: str = "EUR") -> str:
    """``'The United States allocated most: EUR 115bn since 2022, 42% of all aid Kiel tracks'``."""
    d = an.aid_by_donor(ds, currency)
    if d.empty:
        return f"No aid allocations recorded by {fmt_date(an.cutoff(ds))}"
    top, total = d.iloc[0], d["allocation_total"].sum()
    return (f"{_cap(_name(top['name']))} allocated most: {fmt_money(top['allocation_total'], currency)}, "
            f"{fmt_pct(top['allocation_total'], total)} of all allocations since 2022")


def chart_top_donors(ds: Dataset, currency: str = "EUR", *, top_n: int = 15, sort_by: str = "allocations",
                     colors: Mapping[str, str] | None = None, title: str | None = None) -> Figure:
    """The ``top_n`` largest donors by total allocation: allocations and commitments by aid type.

    ``sort_by`` orders the bars (``"allocations"``, ``"commitments"`` or ``"name"``); which
    donors are shown is always the top ``top_n`` by allocations. ``colors`` maps aid types
    (``military``, ``financial``, ``humanitarian``) to colours; default ``palette("aid_types")``.
    ``title``: default, the finding (:func:`top_donors_finding`).
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
    long = pd.DataFrame(long, columns=["donor", "measure", "type", "value", "rank"])
    biggest = max([d["allocation_total"].max(), d["commitment_total"].max()], key=lambda v: v if v == v else 0)
    has_commitments = bool((long["measure"] == "Commitments").any())
    y = alt.Y("donor:N", sort=d["name"].tolist(), title=None, axis=alt.Axis(labelLimit=0))
    y_off = alt.YOffset("measure:N", sort=["Allocations", "Commitments"])
    bars = alt.Chart(long).mark_bar().encode(
        y=y, yOffset=y_off,
        x=alt.X("sum(value):Q", title=f"{currency} billion", axis=_money_axis([(biggest or 0) / 1e9]),
                scale=alt.Scale(domainMax=float((biggest or 0) / 1e9 * 1.14) or 1)),
        color=alt.Color("type:N", title="Aid type", scale=_type_scale(colors)),
        opacity=alt.Opacity("measure:N", title="Upper bar / lower bar", sort=["Allocations", "Commitments"],
                            scale=alt.Scale(domain=["Allocations", "Commitments"], range=[1.0, 0.45]),
                            legend=alt.Legend() if has_commitments else None),
        tooltip=["donor:N", "measure:N", "type:N", alt.Tooltip("value:Q", format=",.2f", title=f"{currency} bn")],
    )
    # direct label: each donor's total allocation at the end of its upper bar
    totals = pd.DataFrame({"donor": d["name"], "measure": "Allocations", "value": d["allocation_total"] / 1e9})
    totals["label"] = totals["value"].map(lambda v: f"{v:,.1f}")
    labels = alt.Chart(totals).mark_text(align="left", dx=3, fontSize=9, color=INK["text"]).encode(
        y=y, yOffset=y_off, x="value:Q", text="label:N")
    chart = (bars + labels).properties(width=WIDTH - 220, height=alt.Step(17), title=chart_title(
        title or top_donors_finding(ds, currency),
        subtitle=[f"Top {len(d)} donors to Ukraine, {currency} billion. "
                  + ("Upper bar: allocations (delivered or earmarked), total printed; lower, lighter bar: "
                     "commitments (pledges)" if has_commitments else
                     "Allocations (delivered or earmarked), total printed; commitments are not known before "
                     "Kiel's per-donor totals")]))
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
        ds, [kiel_source(ds)], f"{basis}. EU institutions: the Commission and Council, the EIB and the European "
                               f"Peace Facility (see Definitions). {fx_note(ds, currency)}".strip()))


def aid_groups_finding(ds: Dataset, currency: str = "EUR") -> str:
    """``'Coalition members allocated 55% of all aid since 2022; the United States 28%'``."""
    g = an.aid_by_group(ds, currency).set_index("category")["allocation_total"]
    total = g.sum()
    if not total:
        return f"No aid allocations recorded by {fmt_date(an.cutoff(ds))}"
    us = g.get("United States", 0.0)
    return (f"Coalition members allocated {fmt_pct(g.get('Coalition members', 0.0), total)} of all aid since "
            f"2022, EU institutions {fmt_pct(g.get('EU institutions', 0.0), total)}, the United States "
            f"{fmt_pct(us, total)}")


def chart_aid_groups(ds: Dataset, currency: str = "EUR", *, colors: Mapping[str, str] | None = None,
                     title: str | None = None) -> Figure:
    """Allocations of coalition members, EU institutions, the United States and other donors.

    ``colors`` maps aid types to colours; default ``palette("aid_types")``. ``title``: default,
    the finding (:func:`aid_groups_finding`). Members without any Kiel row are named.
    """
    colors = colors or palette("aid_types")
    g = an.aid_by_group(ds, currency)
    long = g.melt(id_vars=["category", "donors"], value_vars=[f"allocation_{t}" for t in an.AID_TYPES])
    long["type"] = long["variable"].str.replace("allocation_", "").map(_TYPE_LABELS)
    long["value"] = long["value"] / 1e9
    g = g.assign(total_bn=g["allocation_total"] / 1e9,
                 label=[fmt_money(v, currency) for v in g["allocation_total"]])
    y = alt.Y("category:N", sort=g["category"].tolist(), title=None, axis=alt.Axis(labelLimit=0))
    bars = alt.Chart(long).mark_bar().encode(
        y=y, x=alt.X("sum(value):Q", title=f"Allocations, {currency} billion",
                     axis=_money_axis([g["total_bn"].max() if len(g) else 0]),
                     scale=alt.Scale(domainMax=float(g["total_bn"].max() * 1.25) if len(g) else 1)),
        color=alt.Color("type:N", title="Aid type", scale=_type_scale(colors)),
        tooltip=["category:N", "type:N", alt.Tooltip("value:Q", format=",.1f", title=f"{currency} bn")],
    )
    labels = alt.Chart(g).mark_text(align="left", dx=4, fontSize=11, color=INK["text"]).encode(
        y=y, x="total_bn:Q", text="label:N")
    missing = an.members_without_aid_rows(ds)
    n_members = len(an.coalition_members(ds))
    donors = int(g.set_index("category")["donors"].get("Coalition members", 0))
    sub = [f"Allocations since January 2022 by donor group and aid type; the {n_members} coalition members "
           f"count as {donors} donors"
           + (f": {' and '.join(missing['name'])} have no rows in Kiel's data" if len(missing) else "")]
    chart = (bars + labels).properties(width=WIDTH - 190, height=alt.Step(34), title=chart_title(
        title or aid_groups_finding(ds, currency), subtitle=sub))
    parts = "; ".join(f"{r.category} {fmt_money(r.allocation_total, currency)} "
                      f"({r.donors} donor{'s' if r.donors != 1 else ''})"
                      for r in g.itertuples())
    vals = pd.DataFrame({"Donor group": g["category"], "Donors": g["donors"],
                         **{t.capitalize(): g[f"allocation_{t}"] / 1e9 for t in [*an.AID_TYPES, "total"]}})
    table = Table(vals, caption=f"Values: allocations, {currency} billion", source_note=None,
                  formats={t.capitalize(): ",.2f" for t in [*an.AID_TYPES, "total"]})
    note = ("Coalition membership from this brief's attendance and role data"
            + (f"; members without rows in Kiel's data, so not donors here: {', '.join(missing['name'])}"
               if len(missing) else "") + ". " + fx_note(ds, currency))
    return Figure(chart, alt_text=f"Stacked bar chart of allocations by donor group: {parts}.", values=table,
                  source_note=source_note(ds, [kiel_source(ds)], note.strip()))


def monthly_finding(ds: Dataset, currency: str = "EUR") -> str:
    """``'Europe gave 93% of new aid in the twelve months to February 2026'``."""
    w = an.last_twelve_months(ds, currency)
    if not w["total"]:
        return f"No dated allocations by {fmt_date(an.cutoff(ds))}"
    group, value = max(w["by_group"].items(), key=lambda kv: kv[1])
    subject = {"Europe": "Europe", "United States": "The United States", "Other": "Donors outside Europe and the US"}
    return (f"{subject.get(group, group)} gave {fmt_pct(value, w['total'])} of new aid in the twelve months to "
            f"{_window_end(ds, w)}")


def _window_end(ds: Dataset, w: dict) -> str:
    """``'February 2026'``, or the day the data ends when that month is incomplete."""
    partial = an.partial_periods(ds, [w["end"]])
    return fmt_date(partial["end"]) if partial["month"] is not None else f"{w['end']:%B %Y}"


def chart_monthly_aid(ds: Dataset, currency: str = "EUR", *, colors: Mapping[str, str] | None = None,
                      title: str | None = None) -> Figure:
    """Monthly allocations by donor group (Europe, United States, Other), dated rows only.

    ``colors`` maps the groups to colours; default ``palette("donor_groups")``. ``title``:
    default, the finding (:func:`monthly_finding`). A month the data covers only in part is drawn
    lighter and labelled incomplete; the values table gives every month.
    """
    colors = colors or palette("donor_groups")
    m = an.aid_monthly(ds, currency)
    undated = m[m["month"].isna()]
    m = m[m["month"].notna()].copy()
    m["value"] = m["value"] / 1e9
    partial = an.partial_periods(ds, m["month"])
    m["complete"] = "Complete month"
    if partial["month"] is not None:
        m.loc[m["month"] == partial["month"], "complete"] = "Incomplete month"
    x = alt.X("yearmonth(month):T", title=None, axis=time_axis(m["month"]))
    bars = alt.Chart(m).mark_bar(width={"band": 0.9}).encode(
        x=x, y=alt.Y("sum(value):Q", title=f"{currency} billion per month", axis=alt.Axis(tickCount=5)),
        color=alt.Color("group:N", title="Donor group", scale=color_scale(colors)),
        opacity=alt.Opacity("complete:N", legend=None, scale=alt.Scale(
            domain=["Complete month", "Incomplete month"], range=[1.0, 0.4])),
        tooltip=[alt.Tooltip("yearmonth(month):T", title="Month"), "group:N", "complete:N",
                 alt.Tooltip("sum(value):Q", format=",.2f", title=f"{currency} bn")],
    )
    layers = [bars]
    if partial["month"] is not None:
        tot = m[m["month"] == partial["month"]]["value"].sum()
        layers.append(alt.Chart(pd.DataFrame({"month": [partial["month"]], "value": [tot],
                                              "text": ["incomplete"]})).mark_text(
            angle=270, align="left", dx=4, fontSize=10, color=INK["subtle"]).encode(
            x=x, y="value:Q", text="text:N"))
    w = an.last_twelve_months(ds, currency)
    sub = "By announcement month; Europe includes EU institutions"
    if w["end"] is not None:
        sub += (f". Twelve months to {_window_end(ds, w)}: "
                + ", ".join(f"{g} {fmt_money(w['by_group'].get(g, 0.0), currency)}" for g in colors))
    if partial["month"] is not None:
        sub += f". {partial['month']:%B %Y} is incomplete: the data ends on {fmt_date(partial['end'])}"
    elif partial["quarter"] is not None:
        q = partial["quarter"]
        sub += f". The quarter {q.year} Q{q.quarter} is incomplete: the data ends on {fmt_date(partial['end'])}"
    chart = alt.layer(*layers).properties(width=WIDTH - 50, height=260, title=chart_title(
        title or monthly_finding(ds, currency), subtitle=sub))
    by_group = m.groupby("group")["value"].sum()
    alt_text = ("Stacked monthly bar chart of allocations from "
                f"{m['month'].min():%B %Y} to {m['month'].max():%B %Y}. Totals: "
                + ", ".join(f"{g} {currency} {v:,.1f}bn" for g, v in by_group.items())
                + ". Last 12 months: " + ", ".join(f"{g} {fmt_money(v, currency)}" for g, v in w["by_group"].items())
                + "." if len(m) else "No dated allocations.")
    extra = (f"{fmt_money(undated['value'].sum(), currency)} of allocations have no single date in Kiel's "
             "data and are not shown. " if len(undated) else "")
    wide = m.pivot_table(index="month", columns="group", values="value", aggfunc="sum", fill_value=0.0)
    wide = wide[[c for c in colors if c in wide.columns]]
    wide["Total"] = wide.sum(axis=1)
    wide = wide.reset_index()
    q_partial = partial["quarter"]
    note = []
    for mo in wide["month"]:
        bits = []
        if partial["month"] is not None and mo == partial["month"]:
            bits.append("incomplete month")
        if q_partial is not None and mo.to_period("Q").start_time == q_partial:
            bits.append("incomplete quarter")
        note.append(", ".join(bits))
    wide.insert(1, "Quarter", [f"{mo.year} Q{mo.quarter}" for mo in wide["month"]])
    wide["Note"] = note
    wide["month"] = wide["month"].dt.strftime("%Y-%m")
    if not any(note):
        wide = wide.drop(columns="Note")
    table = Table(wide.rename(columns={"month": "Month"}),
                  caption=f"Values: allocations per month, {currency} billion", source_note=None,
                  formats={c: ",.2f" for c in [*colors, "Total"]})
    return Figure(chart, alt_text=alt_text, values=table,
                  source_note=source_note(ds, [kiel_source(ds)], extra + fx_note(ds, currency)))


def gdp_share_finding(ds: Dataset) -> str:
    """``'Denmark gave most relative to its economy: 2.81% of GDP since 2022; France 0.26%'``."""
    s = an.aid_share_of_gdp(ds)
    if s.empty:
        return f"No GDP figures published by {fmt_date(an.cutoff(ds))}"
    top = s.iloc[0]
    median = s["share_of_gdp_pct"].median()
    return (f"{_cap(_name(top['name']))} gave most relative to its economy: {top['share_of_gdp_pct']:.2f}% of GDP "
            f"since 2022, against a median of {median:.2f}% across {len(s)} donor states")


def chart_gdp_share(ds: Dataset, *, top_n: int | None = None, colors: Mapping[str, str] | None = None,
                    title: str | None = None) -> Figure:
    """Total allocations as a share of the donor's GDP, highest first.

    ``top_n``: how many states the chart shows (default all); the values table always lists every
    donor state with a GDP figure and names the members without one. ``colors`` maps ``Coalition
    member`` / ``Not a member`` to colours; default ``palette("membership")``. ``title``:
    default, the finding (:func:`gdp_share_finding`).
    """
    colors = colors or palette("membership")
    every = an.aid_share_of_gdp(ds)
    s = every.head(top_n) if top_n else every
    if s.empty:
        gdp_ids = ds.actors["gdp_source_id"].dropna().unique().tolist() if "gdp_source_id" in ds.actors else []
        msg = f"No GDP figures published by {fmt_date(an.cutoff(ds))} are in the data"
        chart = alt.Chart(pd.DataFrame({"text": ["Aid as a share of GDP can be shown once a GDP source is published"]})
                          ).mark_text(fontSize=12, color=INK["subtle"]).encode(text="text:N").properties(
            width=WIDTH, height=40, title=chart_title(title or gdp_share_finding(ds)))
        return Figure(chart, alt_text=msg + ": aid as a share of GDP cannot be shown yet.",
                      source_note=source_note(ds, gdp_ids, "The GDP source in the data was published later"))
    s = s.assign(member=s["coalition_member"].map({True: "Coalition member", False: "Not a member"}),
                 label=s["share_of_gdp_pct"].map(lambda v: f"{v:.2f}%"))
    y = alt.Y("name:N", sort=s["name"].tolist(), title=None, axis=alt.Axis(labelLimit=0))
    top = float(s["share_of_gdp_pct"].max())
    bars = alt.Chart(s).mark_bar().encode(
        y=y, x=alt.X("share_of_gdp_pct:Q", title="Allocations since 2022, % of GDP",
                     scale=alt.Scale(domainMax=top * 1.18),
                     axis=alt.Axis(tickCount=5, format=".1f" if top >= 1 else ".2f", labelOverlap="greedy")),
        color=alt.Color("member:N", title=None, scale=color_scale(colors)),
        tooltip=["name:N", alt.Tooltip("share_of_gdp_pct:Q", format=".2f", title="% of GDP")],
    )
    labels = alt.Chart(s).mark_text(align="left", dx=3, fontSize=9, color=INK["text"]).encode(
        y=y, x="share_of_gdp_pct:Q", text="label:N")
    missing = an.members_without_aid_rows(ds)
    no_gdp = an.coalition_members(ds)
    no_gdp = no_gdp[~no_gdp["actor_id"].isin(every["donor_id"]) & ~no_gdp["actor_id"].isin(missing["actor_id"])]
    sub = [f"{'All ' + str(len(s)) if len(s) == len(every) else 'Top ' + str(len(s)) + ' of ' + str(len(every))} "
           "donor states with a GDP figure, by allocations as a share of GDP"]
    chart = (bars + labels).properties(width=WIDTH - 170, height=alt.Step(13), title=chart_title(
        title or gdp_share_finding(ds), subtitle=sub))
    years = sorted(set(s["gdp_year"].dropna().astype(int)))
    rate = an.FxTable(ds.fx_rates).rate("USD", pd.Timestamp(years[0], 7, 1)) if years else None
    alt_text = (f"Bar chart: {s.iloc[0]['name']} has allocated the most relative to GDP "
                f"({s.iloc[0]['share_of_gdp_pct']:.2f}%), then {s.iloc[1]['name']} "
                f"({s.iloc[1]['share_of_gdp_pct']:.2f}%)." if len(s) > 1 else "Bar chart of aid as share of GDP.")
    e = every
    table = Table(pd.DataFrame({"Rank": range(1, len(e) + 1), "State": e["name"],
                                "Member": e["coalition_member"].map({True: "yes", False: "no"}),
                                "% of GDP": e["share_of_gdp_pct"],
                                "Allocated, USD bn": e["allocation_usd"] / 1e9, "GDP, USD bn": e["gdp_usd"] / 1e9,
                                "GDP year": e["gdp_year"].astype("Int64")}),
                  caption=f"Values: every donor state with a GDP figure ({len(e)})", source_note=None,
                  formats={"% of GDP": ",.2f", "Allocated, USD bn": ",.2f", "GDP, USD bn": ",.0f",
                           "GDP year": lambda v: str(v)})
    gdp_ids = ds.actors.loc[ds.actors["actor_id"].isin(s["donor_id"]), "gdp_source_id"].dropna().unique().tolist()
    src = [kiel_source(ds), *gdp_ids] + ([rate.source_id] if rate is not None else [])
    gaps = []
    if len(missing):
        gaps.append(f"Members with no rows in Kiel's data: {', '.join(missing['name'])}")
    if len(no_gdp):
        gaps.append(f"Members with Kiel rows but no GDP figure in the data: {', '.join(no_gdp['name'])}")
    text = (f"GDP in current USD for {', '.join(map(str, years))}; allocations since 2022 converted to USD at "
            f"{rate.per_eur:g} USD per EUR ({str(rate.rate_type).split(':', 1)[0]}). Kiel publishes its own share of GDP per year; "
            "this ranking divides all allocations since 2022 by one year's GDP, so it differs from Kiel's "
            "yearly shares" if rate is not None else "")
    return Figure(chart, alt_text=alt_text, values=table, source_note=source_note(
        ds, src, ". ".join([t for t in [text, *gaps] if t])))


def table_announcements(ds: Dataset, currency: str = "EUR", *, since: str | None = an.SHOWN_SINCE,
                        caption: str = "Notable aid announcements (announcements are not added to Kiel's totals)"
                        ) -> Table:
    """Notable announcements since ``since`` with the original amount and the converted value."""
    a = an.announcements(ds, currency)
    if since and len(a):
        a = a[a["date"] >= pd.Timestamp(since)]
    if a.empty:
        return Table(pd.DataFrame({"Note": [f"No aid announcements recorded by {fmt_date(an.cutoff(ds))}"]}),
                     caption=caption, source_note="Source: the project's data package.")
    q = {"about": "about ", "more_than": "more than ", "at_least": "at least ", "up_to": "up to "}
    orig = [("" if pd.isna(r.amount) else q.get(r.qualifier, "") + fmt_money(r.amount, r.currency))
            or "not stated" for r in a.itertuples()]
    conv = ["–" if c is None or c != c else fmt_money(c, currency) for c in a["converted"]]
    out = pd.DataFrame({"Date": date_column(a["date"]), "Donor": a["donor"], "What": a["description"],
                        "Amount as reported": orig, f"In {currency} (this brief's rate)": conv,
                        "Source": a["source_id"] + confidence_flag(a["confidence"])
                        + a["also_reported_by"].map(lambda x: f"; also {x.replace(';', ', ')}" if x else "")})
    rate_ids = sorted({s for ids in a["rate_source_ids"] for s in ids.split(";") if s})
    return Table(out, caption=caption,
                 source_note=source_note(ds, rate_ids, "Amounts in the currency the source reports; converted at "
                                         "the recorded rate for the announcement date (see the exchange rates in "
                                         "Methods), so a conversion the source itself quotes in the description "
                                         "can differ slightly"))
