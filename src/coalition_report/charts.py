"""Charts and tables of the brief: a Dataset in, a :class:`~coalition_report.display.Figure` or
:class:`~coalition_report.display.Table` out (chart + alt text + source note, all from data).

One Altair theme, ``coalition``, is registered and enabled on import: the Okabe–Ito palette
(safe for the common colour-vision deficiencies), DejaVu Sans (the font vl-convert measures with
and WeasyPrint draws with), sizes readable at A4 width.
"""

from __future__ import annotations

import json
from functools import lru_cache

import altair as alt
import pandas as pd

from . import analysis as an
from .config import ASSET_DIR
from .data import Dataset
from .display import CHART_FONT, Figure, Table

__all__ = [
    "THEME", "PALETTE", "ROLE_COLORS", "STANCE_COLORS", "GROUP_COLORS", "source_note", "fmt_money",
    "chart_membership_map", "chart_participation", "chart_attendance", "chart_top_donors",
    "chart_aid_groups", "chart_monthly_aid", "chart_gdp_share", "chart_positions",
    "chart_timeline", "table_members", "table_announcements", "table_quotes",
    "table_coverage", "table_fx", "table_meetings", "table_positions",
]

THEME = "coalition"
#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
ROLE_COLORS = {
    "lead_nation": "#003f6b", "ground_forces": "#0072B2", "air_maritime": "#56B4E9",
    "logistics_training": "#009E73", "political_support": "#F0E442", "observer": "#CC79A7",
    "declined_troops": "#E69F00", "outside_coalition": "#D55E00",
}
STANCE_COLORS = {"support": "#0072B2", "conditional": "#56B4E9", "neutral": "#BBBBBB", "oppose": "#D55E00"}
GROUP_COLORS = {"Europe": "#0072B2", "United States": "#D55E00", "Other": "#009E73",
                "Coalition members": "#0072B2", "EU institutions": "#56B4E9",
                "Other donors": "#999999"}
TYPE_COLORS = {"military": "#0072B2", "financial": "#E69F00", "humanitarian": "#009E73"}
WIDTH = 560  # px; A4 text width at 96 dpi is about 640 px


@alt.theme.register(THEME, enable=True)
def _theme() -> alt.theme.ThemeConfig:
    return {
        "config": {
            "font": CHART_FONT,
            "view": {"continuousWidth": WIDTH, "continuousHeight": 300, "stroke": None},
            "range": {"category": PALETTE},
            "title": {"fontSize": 14, "anchor": "start", "fontWeight": "bold", "subtitleFontSize": 11,
                      "subtitleColor": "#555555"},
            "axis": {"labelFontSize": 11, "titleFontSize": 11, "gridColor": "#e6e6e6",
                     "domainColor": "#888888", "tickColor": "#888888", "labelLimit": 220},
            "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "bottom",
                       "labelLimit": 260, "columns": 3},
            "header": {"labelFontSize": 11, "titleFontSize": 11},
            "bar": {"discreteBandSize": {"band": 0.8}},
        }
    }


# ---------------------------------------------------------------------------------------------
# text helpers

def source_note(ds: Dataset, source_ids, extra: str = "") -> str:
    """'Source: publisher, title (date); …' for the given source ids, from sources.csv."""
    s = ds.sources.set_index("source_id")
    parts = []
    for sid in dict.fromkeys(i for i in source_ids if i):
        if sid not in s.index:
            continue
        row = s.loc[sid]
        title = f", {row['title']}" if pd.notna(row["title"]) and row["title"] else ""
        if len(title) > 90:
            title = title[:89].rsplit(" ", 1)[0] + "…"
        date = f" ({row['published']})" if pd.notna(row["published"]) and row["published"] else ""
        parts.append(f"{row['publisher']}{title}{date} [{sid}]")
    text = "Source: " + "; ".join(parts) if parts else "Source: project data"
    return text + (f". {extra}" if extra else ".")


def _many_sources(ids, limit: int = 6) -> list[str]:
    """Most frequent source ids first, capped; the full list is in the Sources section."""
    return list(pd.Series(list(ids)).dropna().value_counts().index[:limit])


def fmt_money(value: float, currency: str) -> str:
    """1.234e9 -> 'EUR 1.23bn'; 5.6e6 -> 'EUR 5.6m'."""
    if value is None or value != value:
        return "n/a"
    a = abs(value)
    if a >= 1e9:
        return f"{currency} {value / 1e9:,.1f}bn" if a >= 1e10 else f"{currency} {value / 1e9:,.2f}bn"
    if a >= 1e6:
        return f"{currency} {value / 1e6:,.1f}m"
    return f"{currency} {value:,.0f}"


def _fx_note(ds: Dataset, currency: str) -> str:
    if currency == "EUR":
        return ""
    rate, desc, _ = an.display_rate(ds, currency)
    return f"Converted from EUR at {desc}"


#: lon/lat box of the Europe map; countries with no point inside it are not embedded.
_MAP_BOX = (-25.0, 33.0, 45.0, 72.0)


@lru_cache(maxsize=1)
def _world() -> dict:
    """Natural Earth 1:110m countries cut down to the Europe map's box.

    Drawing the whole world and clipping it would embed ~1.5 MB of invisible paths in every
    export; keeping only the countries (and arcs) that touch the box keeps the map small.
    """
    topo = json.loads((ASSET_DIR / "world-atlas" / "countries-110m.json").read_text())
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    x0, y0, x1, y1 = _MAP_BOX
    inside = []
    for arc in topo["arcs"]:
        x = y = 0
        hit = False
        for dx, dy in arc:
            x, y = x + dx, y + dy
            lon, lat = x * sx + tx, y * sy + ty
            hit = hit or (x0 <= lon <= x1 and y0 <= lat <= y1)
        inside.append(hit)

    def arc_ids(node):
        if isinstance(node, int):
            yield node if node >= 0 else ~node
        else:
            for n in node:
                yield from arc_ids(n)

    geoms = [g for g in topo["objects"]["countries"]["geometries"]
             if any(inside[i] for i in arc_ids(g.get("arcs", [])))]
    used = sorted({i for g in geoms for i in arc_ids(g.get("arcs", []))})
    new_index = {old: new for new, old in enumerate(used)}

    def remap(node):
        if isinstance(node, int):
            return new_index[node] if node >= 0 else ~new_index[~node]
        return [remap(n) for n in node]

    for g in geoms:
        g["arcs"] = remap(g["arcs"])
    topo["arcs"] = [topo["arcs"][i] for i in used]
    topo["objects"] = {"countries": {"type": "GeometryCollection", "geometries": geoms}}
    return topo


# ---------------------------------------------------------------------------------------------
# membership

def chart_membership_map(ds: Dataset) -> Figure:
    """Europe and its neighbourhood, states coloured by their current role in the coalition."""
    roles = an.current_roles(ds)
    roles = roles[roles["iso_numeric"].notna()].copy()
    roles["id"] = roles["iso_numeric"].astype(int).map(lambda n: f"{n:03d}")
    lookup = roles[["id", "name", "role", "role_label", "as_reported"]].to_dict("records")
    present = [r for r in an.ROLE_ORDER if r in set(roles["role"])]
    world = alt.InlineData(values=_world(), format=alt.DataFormat(type="topojson", feature="countries"))
    base = alt.Chart(world).mark_geoshape(fill="#f0f0f0", stroke="white", strokeWidth=0.5)
    colored = alt.Chart(world).mark_geoshape(stroke="white", strokeWidth=0.5).transform_lookup(
        lookup="id", from_=alt.LookupData(alt.InlineData(values=lookup), "id",
                                         ["name", "role", "role_label", "as_reported"])
    ).transform_filter("datum.role != null").encode(
        color=alt.Color("role_label:N", title="Role",
                        scale=alt.Scale(domain=[an.ROLE_LABELS[r] for r in present],
                                        range=[ROLE_COLORS[r] for r in present]),
                        legend=alt.Legend(columns=2, orient="bottom")),
        tooltip=[alt.Tooltip("name:N", title="State"), alt.Tooltip("role_label:N", title="Role"),
                 alt.Tooltip("as_reported:N", title="As reported")],
    )
    proj = alt.Projection(type="conicConformal", center=[15, 52], rotate=[-15, 0], parallels=[40, 65],
                          scale=600, translate=[WIDTH / 2, 230])
    chart = (base + colored).project(**proj.to_dict()).properties(
        width=WIDTH, height=440,
        title=alt.Title("Who offers what: roles in the coalition",
                        subtitle=f"Newest reported role per state, as of {an._cutoff(ds)}"))
    outside = roles[~roles["actor_id"].isin(_EUROPE_VIEW)]
    counts = roles["role_label"].value_counts()
    alt_text = (f"Map of Europe colouring {len(roles)} states by their newest reported role. "
                + "; ".join(f"{an.ROLE_LABELS[r].lower()}: {counts.get(an.ROLE_LABELS[r], 0)}" for r in present)
                + ". Outside the map: " + (", ".join(outside["name"]) or "none") + ".")
    return Figure(chart, alt_text=alt_text, title=None,
                  source_note=source_note(ds, _many_sources(roles["source_id"]),
                                          "Roles as reported in each state's newest statement; "
                                          "full list with conditions in the table below. Map: "
                                          "Natural Earth 1:110m via world-atlas (ISC licence)"))


# States drawn inside the Europe map's frame; others are named in the alt text and table.
_EUROPE_VIEW = {"ALB", "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU",
                "GRC", "HUN", "ISL", "IRL", "ITA", "LVA", "LTU", "LUX", "MLT", "MNE", "NLD", "MKD",
                "NOR", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE", "CHE", "TUR", "GBR", "UKR",
                "RUS", "MDA", "BLR", "SRB", "BIH", "XKX"}


def chart_participation(ds: Dataset) -> Figure:
    """Meetings over time: states named as present vs the participant counts sources report."""
    p = an.participation_by_meeting(ds)
    p = p.assign(label=p["date"].dt.strftime("%-d %b %Y") + " " + p["place"].str.split(",").str[0],
                 level_label=p["level"].str.replace("_", " ").str.capitalize())
    base = alt.Chart(p).encode(x=alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)))
    reported = base.mark_tick(color="#555555", thickness=2, size=12).encode(
        y="reported_max:Q", tooltip=["label:N", alt.Tooltip("participation_as_reported:N", title="Reported")])
    named = base.mark_circle(size=90, opacity=0.9).encode(
        y=alt.Y("named_states:Q", title="States"),
        color=alt.Color("level_label:N", title="Meeting level"),
        tooltip=["label:N", alt.Tooltip("named_states:Q", title="States named in sources"),
                 alt.Tooltip("participation_as_reported:N", title="Reported")])
    chart = (reported + named).properties(
        width=WIDTH, height=260,
        title=alt.Title("Participation in coalition meetings",
                        subtitle="Dots: states the sources name as present; grey dashes: highest participant count a source reports"))
    top = p.loc[p["named_states"].idxmax()] if len(p) else None
    alt_text = (f"Dot chart of {len(p)} coalition meetings from {p['date'].min():%d %B %Y} to "
                f"{p['date'].max():%d %B %Y}. The most states named present was {top['named_states']} "
                f"at {top['label']}." if top is not None else "No meetings in the period.")
    return Figure(chart, alt_text=alt_text,
                  source_note=source_note(ds, _many_sources(p["source_id"]),
                                          "Named states count attendance rows; reported counts from claims.csv, "
                                          "which keeps disagreeing counts side by side"))


def chart_attendance(ds: Dataset, level: str | None = "leaders") -> Figure:
    """State × meeting grid: who is reported at which meeting."""
    am = an.attendance_matrix(ds)
    am = am[am["actor_type"] == "state"]
    if level:
        am = am[am["meeting_level"] == level]
    am = am.assign(meeting=am["date"].dt.strftime("%Y-%m-%d") + " " + am["place"].str.split(",").str[0],
                   status_label=am["status"].str.capitalize())
    order = am.groupby("name")["meeting_id"].count().sort_values(ascending=False).index.tolist()
    chart = alt.Chart(am).mark_square(size=70).encode(
        x=alt.X("meeting:O", title=None, axis=alt.Axis(labelAngle=-40, labelLimit=140)),
        y=alt.Y("name:N", sort=order, title=None),
        color=alt.Color("status_label:N", title="Status",
                        scale=alt.Scale(domain=["Attended", "Observer", "Absent"],
                                        range=["#0072B2", "#CC79A7", "#D55E00"])),
        tooltip=["name:N", "meeting:N", "status_label:N"],
    ).properties(width=WIDTH - 160, height=alt.Step(11),
                 title=alt.Title("Who was reported at which leaders' meeting",
                                 subtitle="Only states named by a source are shown; an empty cell means not named, not absent"))
    n_meet = am["meeting_id"].nunique()
    alt_text = (f"Grid of {am['name'].nunique()} states by {n_meet} leaders' meetings. "
                f"Most often named: {', '.join(order[:5])}.")
    return Figure(chart, alt_text=alt_text, source_note=source_note(ds, _many_sources(am["source_id"])))


# ---------------------------------------------------------------------------------------------
# aid

def chart_top_donors(ds: Dataset, currency: str = "EUR", top_n: int = 15) -> Figure:
    """Top donors by total allocation: allocations and commitments side by side, by aid type."""
    d = an.aid_by_donor(ds, currency).head(top_n)
    long = []
    for r in d.itertuples(index=False):
        for measure in ("allocation", "commitment"):
            for t in an.AID_TYPES:
                v = getattr(r, f"{measure}_{t}")
                if v == v:  # commitments are NaN before Kiel's cut-off
                    long.append({"donor": r.name, "measure": measure.capitalize() + "s",
                                 "type": t.capitalize(), "value": v / 1e9, "rank": r.rank})
    long = pd.DataFrame(long)
    order = d["name"].tolist()
    chart = alt.Chart(long).mark_bar().encode(
        y=alt.Y("donor:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        yOffset=alt.YOffset("measure:N", sort=["Allocations", "Commitments"]),
        x=alt.X("sum(value):Q", title=f"{currency} billion", axis=alt.Axis(tickCount=8)),
        color=alt.Color("type:N", title="Aid type", scale=alt.Scale(
            domain=["Military", "Financial", "Humanitarian"], range=list(TYPE_COLORS.values()))),
        opacity=alt.Opacity("measure:N", title="Upper bar / lower bar", sort=["Allocations", "Commitments"],
                            scale=alt.Scale(domain=["Allocations", "Commitments"], range=[1.0, 0.45])),
        tooltip=["donor:N", "measure:N", "type:N", alt.Tooltip("value:Q", format=",.2f", title=f"{currency} bn")],
    ).properties(width=WIDTH - 200, height=alt.Step(17), title=alt.Title(
        f"Top {len(d)} donors to Ukraine",
        subtitle="Upper bar: allocations (delivered or earmarked); lower, lighter bar: commitments (pledges)"))
    first = d.iloc[0]
    alt_text = (f"Bar chart of the {len(d)} largest donors by total allocation. Largest: {first['name']} with "
                f"{fmt_money(first['allocation_total'], currency)} allocated; second: {d.iloc[1]['name']} with "
                f"{fmt_money(d.iloc[1]['allocation_total'], currency)}." if len(d) > 1 else "Bar chart of donors.")
    basis = ("Kiel's per-donor totals" if d["basis"].iloc[0] == "kiel_totals"
             else "sums of Kiel activity rows up to the as-of date (commitments not available)")
    return Figure(chart, alt_text=alt_text, source_note=source_note(
        ds, ["kiel-r28"], f"{basis}. {_fx_note(ds, currency)}".strip()))


def chart_aid_groups(ds: Dataset, currency: str = "EUR") -> Figure:
    """Allocations of coalition members vs EU institutions vs the United States vs others."""
    g = an.aid_by_group(ds, currency)
    long = g.melt(id_vars=["category", "donors"], value_vars=[f"allocation_{t}" for t in an.AID_TYPES])
    long["type"] = long["variable"].str.replace("allocation_", "").str.capitalize()
    long["value"] = long["value"] / 1e9
    order = g["category"].tolist()
    chart = alt.Chart(long).mark_bar().encode(
        y=alt.Y("category:N", sort=order, title=None),
        x=alt.X("sum(value):Q", title=f"Allocations, {currency} billion"),
        color=alt.Color("type:N", title="Aid type", scale=alt.Scale(
            domain=["Military", "Financial", "Humanitarian"], range=list(TYPE_COLORS.values()))),
        tooltip=["category:N", "type:N", alt.Tooltip("value:Q", format=",.1f", title=f"{currency} bn")],
    ).properties(width=WIDTH - 150, height=alt.Step(34), title=alt.Title(
        "Who carries the load", subtitle="Total allocations since January 2022 by donor group and aid type"))
    parts = "; ".join(f"{r.category} {fmt_money(r.allocation_total, currency)} "
                      f"({r.donors} donor{'s' if r.donors != 1 else ''})"
                      for r in g.itertuples())
    return Figure(chart, alt_text=f"Stacked bar chart of allocations by donor group: {parts}.",
                  source_note=source_note(ds, ["kiel-r28"], "Coalition membership from this brief's "
                                          "attendance and role data. " + _fx_note(ds, currency)))


def chart_monthly_aid(ds: Dataset, currency: str = "EUR") -> Figure:
    """Monthly allocations by donor group (Europe, United States, Other), dated rows only."""
    m = an.aid_monthly(ds, currency)
    undated = m[m["month"].isna()]
    m = m[m["month"].notna()].copy()
    m["value"] = m["value"] / 1e9
    chart = alt.Chart(m).mark_bar(width={"band": 0.9}).encode(
        x=alt.X("yearmonth(month):T", title=None, axis=alt.Axis(format="%Y", tickCount="year", labelAngle=0)),
        y=alt.Y("sum(value):Q", title=f"{currency} billion per month"),
        color=alt.Color("group:N", title="Donor group", scale=alt.Scale(
            domain=["Europe", "United States", "Other"],
            range=[GROUP_COLORS[k] for k in ("Europe", "United States", "Other")])),
        tooltip=[alt.Tooltip("yearmonth(month):T", title="Month"), "group:N",
                 alt.Tooltip("sum(value):Q", format=",.2f", title=f"{currency} bn")],
    ).properties(width=WIDTH, height=260, title=alt.Title(
        "Monthly allocations by donor group", subtitle="By announcement month; Europe includes EU institutions"))
    by_group = m.groupby("group")["value"].sum()
    last12 = m[m["month"] > m["month"].max() - pd.DateOffset(months=12)].groupby("group")["value"].sum()
    alt_text = ("Stacked monthly bar chart of allocations from "
                f"{m['month'].min():%B %Y} to {m['month'].max():%B %Y}. Totals: "
                + ", ".join(f"{g} {currency} {v:,.1f}bn" for g, v in by_group.items())
                + ". Last 12 months: " + ", ".join(f"{g} {currency} {v:,.1f}bn" for g, v in last12.items()) + ".")
    extra = (f"{fmt_money(undated['value'].sum(), currency)} of allocations have no single date in Kiel's "
             "data and are not shown. " if len(undated) else "")
    return Figure(chart, alt_text=alt_text, source_note=source_note(ds, ["kiel-r28"], extra + _fx_note(ds, currency)))


def chart_gdp_share(ds: Dataset, top_n: int = 25) -> Figure:
    """Total allocations as a share of the donor's GDP, highest first."""
    s = an.aid_share_of_gdp(ds).head(top_n)
    s = s.assign(member=s["coalition_member"].map({True: "Coalition member", False: "Not a member"}))
    chart = alt.Chart(s).mark_bar().encode(
        y=alt.Y("name:N", sort=s["name"].tolist(), title=None),
        x=alt.X("share_of_gdp_pct:Q", title="Allocations since 2022, % of GDP",
                axis=alt.Axis(tickCount=6, format=".1f")),
        color=alt.Color("member:N", title=None, scale=alt.Scale(
            domain=["Coalition member", "Not a member"], range=["#0072B2", "#999999"])),
        tooltip=["name:N", alt.Tooltip("share_of_gdp_pct:Q", format=".2f", title="% of GDP")],
    ).properties(width=WIDTH - 150, height=alt.Step(14), title=alt.Title(
        "Effort relative to economic size", subtitle=f"Top {len(s)} donor states by allocations as a share of GDP"))
    years = sorted(set(s["gdp_year"].dropna().astype(int)))
    rate = an.FxTable(ds.fx_rates).rate("USD", pd.Timestamp(years[0], 7, 1)) if years else None
    alt_text = (f"Bar chart: {s.iloc[0]['name']} has allocated the most relative to GDP "
                f"({s.iloc[0]['share_of_gdp_pct']:.2f}%), then {s.iloc[1]['name']} "
                f"({s.iloc[1]['share_of_gdp_pct']:.2f}%)." if len(s) > 1 else "Bar chart of aid as share of GDP.")
    src = ["kiel-r28", "wdi-2024"] + ([rate.source_id] if rate is not None else [])
    return Figure(chart, alt_text=alt_text, source_note=source_note(
        ds, src, f"GDP in current USD for {', '.join(map(str, years))}; allocations converted to USD at "
                 f"{rate.per_eur:g} USD per EUR ({rate.rate_type})" if rate is not None else ""))


# ---------------------------------------------------------------------------------------------
# positions and events

def chart_positions(ds: Dataset, actors: list[str] | None = None) -> Figure:
    """Actor × topic matrix of the newest stance."""
    p = an.positions_matrix(ds, actors)
    p = p.assign(stance_label=p["stance"].str.capitalize(),
                 when=p["date"].dt.strftime("%-d %b %Y"))
    order = (p.assign(score=p["stance"].map({s: i for i, s in enumerate(an.STANCE_ORDER)}))
             .groupby("actor")["score"].mean().sort_values().index.tolist())
    base = alt.Chart(p).encode(
        x=alt.X("topic_label:N", title=None, sort=list(an.TOPIC_LABELS.values()),
                axis=alt.Axis(orient="top", labelAngle=0, labelLimit=200)),
        y=alt.Y("actor:N", sort=order, title=None))
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("stance_label:N", title="Stance", scale=alt.Scale(
            domain=[s.capitalize() for s in an.STANCE_ORDER], range=list(STANCE_COLORS.values()))),
        tooltip=["actor:N", "topic_label:N", "stance_label:N", "when:N", "summary:N"])
    text = base.mark_text(fontSize=9, color="black").encode(text="when:N")
    chart = (cells + text).properties(width=WIDTH - 170, height=alt.Step(20), title=alt.Title(
        "Where the main actors stand", subtitle="Newest dated stance per topic; the date is in each cell"))
    opp = p[p["stance"] == "oppose"]["actor"].unique().tolist()
    alt_text = (f"Matrix of {p['actor'].nunique()} actors by {p['topic'].nunique()} topics coloured by stance. "
                f"Opposed on at least one topic: {', '.join(opp) or 'none'}.")
    return Figure(chart, alt_text=alt_text, source_note=source_note(ds, _many_sources(p["source_id"]),
                                                                     "Every stance with its quote and source is listed below"))


def chart_timeline(ds: Dataset, since: str | None = "2025-02-01") -> Figure:
    """Dated timeline of meetings, truce proposals and responses, aid pauses and EU decisions."""
    t = an.timeline(ds)
    if since:
        t = t[t["date"] >= pd.Timestamp(since)]
    kinds = {"meeting": "Coalition meeting", "truce_proposal": "Truce proposal", "truce_response": "Truce response",
             "aid_pause": "Aid pause / resumption", "aid_resumption": "Aid pause / resumption",
             "aid_package": "Aid / financing", "eu_decision": "Aid / financing", "talks": "Talks",
             "statement": "Other", "summit": "Coalition meeting", "other": "Other"}
    t = t.assign(lane=t["kind"].map(kinds).fillna("Other"))
    lanes = ["Coalition meeting", "Truce proposal", "Truce response", "Talks", "Aid pause / resumption",
             "Aid / financing", "Other"]
    lanes = [l for l in lanes if l in set(t["lane"])]
    chart = alt.Chart(t).mark_point(filled=True, size=80, opacity=0.85).encode(
        x=alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)),
        y=alt.Y("lane:N", sort=lanes, title=None),
        color=alt.Color("lane:N", sort=lanes, legend=None),
        shape=alt.Shape("lane:N", sort=lanes, legend=None),
        tooltip=[alt.Tooltip("date:T", format="%d %b %Y"), "title:N"],
    ).properties(width=WIDTH - 150, height=alt.Step(30), title=alt.Title(
        "Timeline", subtitle="Each mark is one dated event; details in the table below"))
    alt_text = (f"Timeline of {len(t)} dated events from {t['date'].min():%B %Y} to {t['date'].max():%B %Y}: "
                + "; ".join(f"{l.lower()}: {(t['lane'] == l).sum()}" for l in lanes) + ".")
    return Figure(chart, alt_text=alt_text, source_note=source_note(ds, _many_sources(t["source_id"]),
                                                                     "Full list with sources in the table below"))


# ---------------------------------------------------------------------------------------------
# tables

def _date_str(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d").fillna("undated")


def _flag(conf: pd.Series) -> pd.Series:
    return conf.map({"low": " (low confidence)"}).fillna("")


def table_members(ds: Dataset) -> Table:
    """Coalition members by role with what they offer and on what conditions."""
    m = an.coalition_members(ds)
    out = pd.DataFrame({
        "State": m["name"], "Role": m["role_label"],
        "What it offers (as reported)": m["as_reported"].fillna("") + _flag(m["confidence"].fillna("")),
        "Conditions": m["conditions"].fillna("–"),
        "Reported": _date_str(m["date"]), "Source": m["source_id"].fillna("–"),
    })
    return Table(out, caption=f"Coalition members by role ({len(out)} states)",
                 source_note=source_note(ds, _many_sources(m["source_id"]),
                                         "Source ids resolve in the Sources section"))


def table_announcements(ds: Dataset, currency: str = "EUR", since: str | None = "2025-02-01") -> Table:
    """Notable announcements with the original amount and the converted value."""
    a = an.announcements(ds, currency)
    if since and len(a):
        a = a[a["date"] >= pd.Timestamp(since)]
    q = {"about": "about ", "more_than": "more than ", "at_least": "at least ", "up_to": "up to "}
    orig = [("" if pd.isna(r.amount) else q.get(r.qualifier, "") + fmt_money(r.amount, r.currency))
            or "not stated" for r in a.itertuples()]
    conv = ["–" if c is None or c != c else fmt_money(c, currency) for c in a["converted"]]
    out = pd.DataFrame({"Date": _date_str(a["date"]), "Donor": a["donor"], "What": a["description"],
                        "Amount as reported": orig, f"In {currency}": conv,
                        "Source": a["source_id"] + _flag(a["confidence"])
                        + a["also_reported_by"].map(lambda x: f"; also {x.replace(';', ', ')}" if x else "")})
    rate_ids = sorted({s for ids in a["rate_source_ids"] for s in ids.split(";") if s})
    return Table(out, caption="Notable aid announcements (announcements are not added to Kiel's totals)",
                 source_note=source_note(ds, rate_ids, "Amounts in the currency the source reports; converted at the "
                                         "recorded rate for the announcement date (see FX rates in Methods)"))


def table_quotes(ds: Dataset, actor_id: str | None = None, limit: int | None = None) -> Table:
    """Dated exact quotes with speaker and source."""
    q = an.quotes(ds, actor_id)
    if limit:
        q = q.head(limit)
    out = pd.DataFrame({"Date": _date_str(q["date"]), "Actor": q["actor"],
                        "Speaker": q["speaker"].fillna("–"), "Topic": q["topic"].map(an.TOPIC_LABELS),
                        "Quote": "“" + q["quote"] + "”", "Source": q["source_id"] + _flag(q["confidence"])})
    return Table(out, caption="Dated quotes", source_note=source_note(
        ds, _many_sources(q["source_id"]), "Quotes as printed by the source; translations are the source's"))


def table_positions(ds: Dataset, actor_id: str | None = None) -> Table:
    """Every dated position (or one actor's), newest first."""
    p = ds.positions if actor_id is None else ds.positions[ds.positions["actor_id"] == actor_id]
    p = p.sort_values("date", ascending=False)
    names = ds.actors.set_index("actor_id")["name"]
    out = pd.DataFrame({"Date": _date_str(p["date"]), "Actor": p["actor_id"].map(names),
                        "Topic": p["topic"].map(an.TOPIC_LABELS), "Stance": p["stance"].str.capitalize(),
                        "Summary": p["summary"],
                        "Quote": p["quote"].map(lambda q: f"“{q}”" if isinstance(q, str) and q else "–"),
                        "Speaker": p["speaker"].fillna("–"),
                        "Source": p["source_id"] + _flag(p["confidence"])})
    return Table(out, caption="Positions", source_note=source_note(ds, _many_sources(p["source_id"])))


def table_meetings(ds: Dataset) -> Table:
    """Coalition meetings with participation as reported and outcome."""
    m = ds.meetings.sort_values("date")
    out = pd.DataFrame({"Date": _date_str(m["date"]), "Place": m["place"],
                        "Level": m["level"].str.replace("_", " "), "Participation (as reported)": m["participation_as_reported"].fillna("–"),
                        "Outcome": m["outcome"].fillna("–"), "Source": m["source_id"] + _flag(m["confidence"])})
    return Table(out, caption="Coalition meetings", source_note=source_note(ds, _many_sources(m["source_id"])))


def _used_sources(ds: Dataset, actor_id: str | None = None) -> set[str]:
    """Source ids cited by any row (or by the rows about ``actor_id``)."""
    used: set[str] = set()
    for name, df in ds.tables.items():
        if name == "sources":
            continue
        if actor_id:
            key = next((k for k in ("actor_id", "donor_id") if k in df), None)
            if key is None:
                continue
            df = df[df[key] == actor_id]
        for col in ("source_id", "gdp_source_id", "membership_source_id", "nato_source_id"):
            if col in df:
                used |= set(df[col].dropna())
    return used


def table_coverage(ds: Dataset) -> Table:
    """Rows and date coverage per data table."""
    c = ds.coverage()
    out = pd.DataFrame({"Table": c["table"], "Rows": c["rows"],
                        "First date": c["first_date"].astype(str).replace("None", "–"),
                        "Last date": c["last_date"].astype(str).replace("None", "–"),
                        "Undated rows": c["undated_rows"], "Distinct sources": c["sources"]})
    return Table(out, caption="Data coverage after the as-of cut-off",
                 source_note="Source: the project's data package (datapackage.json).")


def table_fx(ds: Dataset) -> Table:
    """The reference rates recorded for conversions."""
    f = ds.fx_rates.sort_values(["currency", "period_start"])
    out = pd.DataFrame({"Currency": f["currency"], "Per EUR": f["per_eur"].map(lambda v: f"{v:g}"),
                        "From": _date_str(f["period_start"]), "To": _date_str(f["period_end"]),
                        "Type": f["rate_type"], "Source": f["source_id"]})
    return Table(out, caption="Exchange rates used", source_note=source_note(ds, f["source_id"].unique()))
