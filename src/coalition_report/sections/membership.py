"""Section 1, coalition membership: who is in the coalition, in what role, at which meetings."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Mapping

import altair as alt
import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, source_note, top_sources
from ..config import ASSET_DIR
from ..data import Dataset
from ..display import Figure, Table
from ..fmt import date_column, fmt_date
from ..style import INK, WIDTH, chart_title, color_scale, palette, text_colour

__all__ = ["chart_membership_map", "table_members", "chart_participation", "chart_attendance",
           "table_meetings", "map_finding", "participation_finding", "attendance_finding"]

#: lon/lat box of the Europe map; countries with no point inside it are not embedded.
MAP_BOX = (-25.0, 33.0, 45.0, 72.0)

# States drawn inside the Europe map's frame; others are named in the alt text and table.
EUROPE_VIEW = {"ALB", "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU",
               "GRC", "HUN", "ISL", "IRL", "ITA", "LVA", "LTU", "LUX", "MLT", "MNE", "NLD", "MKD",
               "NOR", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE", "CHE", "TUR", "GBR", "UKR",
               "RUS", "MDA", "BLR", "SRB", "BIH", "XKX"}


@lru_cache(maxsize=1)
def _world() -> str:
    """Natural Earth 1:110m countries cut down to the map's box, as JSON text.

    Drawing the whole world and clipping it would embed ~1.5 MB of invisible paths in every
    export; keeping only the countries (and arcs) that touch the box keeps the map small.
    """
    topo = json.loads((ASSET_DIR / "world-atlas" / "countries-110m.json").read_text())
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    x0, y0, x1, y1 = MAP_BOX
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
    return json.dumps(topo)


def map_finding(ds: Dataset) -> str:
    """``'34 states are in the coalition; 15 of them offer forces'``."""
    h = an.headline_figures(ds)
    if not h["members"]:
        return f"No state had joined the coalition by {fmt_date(an.cutoff(ds))}"
    return (f"{h['members']} states are in the coalition; {h['force_offering']} of them offer forces"
            + (f", {h['declined']} rule out troops" if h["declined"] else ""))


def chart_membership_map(ds: Dataset, *, colors: Mapping[str, str] | None = None,
                         title: str | None = None) -> Figure:
    """Europe and its neighbourhood: members coloured by their newest reported role, other states
    the data names in grey (the same membership rule as the tables and the summary); Ukraine and
    Russia in their own colours; members outside the map's frame listed under it.

    ``colors`` maps role ids (``lead_nation``, ``ground_forces`` …), ``not_member``, ``ukraine``
    and ``russia`` to colours; default ``palette("roles")`` plus ``palette("map")``. ``title``:
    default, the finding (:func:`map_finding`). The values table lists every state shown.
    """
    colors = {**palette("roles"), **palette("map"), **(colors or {})}
    status = an.map_status(ds)
    status = status[status["iso_numeric"].notna()].copy()
    belligerents = pd.DataFrame({"actor_id": ["UKR", "RUS"], "category": ["ukraine", "russia"],
                                 "label": ["Ukraine (the state supported)", "Russia"],
                                 "name": ["Ukraine", "Russia"], "iso_numeric": [804, 643]})
    shown = pd.concat([status[~status["actor_id"].isin(["UKR", "RUS"])], belligerents], ignore_index=True)
    shown["id"] = shown["iso_numeric"].astype(int).map(lambda n: f"{n:03d}")
    shown["as_reported"] = shown["as_reported"].fillna("–")
    stale, _ = an.stale_labels(ds)
    status = status.assign(label=status["label"]
                           + status["actor_id"].map(lambda a: f" ({stale[a]})" if a in stale else ""))
    shown["reported"] = shown["actor_id"].map(lambda a: stale.get(a, ""))
    lookup = shown[["id", "name", "category", "label", "as_reported", "reported"]].to_dict("records")
    order = [*an.ROLE_ORDER[:an.ROLE_ORDER.index("political_support") + 1], "no_stated_role",
             *an.ROLE_ORDER[an.ROLE_ORDER.index("political_support") + 1:], "not_member", "ukraine", "russia"]
    present = [c for c in order if c in set(shown["category"])]
    labels = {**an.ROLE_LABELS, "no_stated_role": an.NO_ROLE_LABEL, "not_member": an.NOT_MEMBER_LABEL,
              "ukraine": "Ukraine (the state supported)", "russia": "Russia"}
    world = alt.InlineData(values=json.loads(_world()), format=alt.DataFormat(type="topojson", feature="countries"))
    base = alt.Chart(world).mark_geoshape(fill=INK["land"], stroke="white", strokeWidth=0.5)
    colored = alt.Chart(world).mark_geoshape(stroke="white", strokeWidth=0.5).transform_lookup(
        lookup="id", from_=alt.LookupData(alt.InlineData(values=lookup), "id",
                                         ["name", "category", "label", "as_reported", "reported"])
    ).transform_filter("datum.category != null").encode(
        color=alt.Color("label:N", title="Members by role, other states the data names, and the belligerents",
                        scale=color_scale(colors, labels=labels, order=present),
                        legend=alt.Legend(columns=3, orient="bottom", labelLimit=0, titleLimit=0)),
        tooltip=[alt.Tooltip("name:N", title="State"), alt.Tooltip("label:N", title="Status"),
                 alt.Tooltip("as_reported:N", title="As reported"), alt.Tooltip("reported:N", title="Age")],
    )
    # direct labels for the two belligerents, at a point inside each
    marks = pd.DataFrame({"lon": [31.5, 38.0], "lat": [49.0, 55.5], "text": ["UKRAINE", "RUSSIA"],
                          "colour": [text_colour(colors["ukraine"]), text_colour(colors["russia"])]})
    names = alt.Chart(marks).mark_text(fontSize=10, fontWeight="bold").encode(
        longitude="lon:Q", latitude="lat:Q", text="text:N", color=alt.Color("colour:N", scale=None))
    proj = alt.Projection(type="conicConformal", center=[15, 52], rotate=[-15, 0], parallels=[40, 65],
                          scale=540, translate=[WIDTH / 2, 175])
    members = status[~status["category"].isin(["not_member"])]
    outside = members[~members["actor_id"].isin(EUROPE_VIEW)].sort_values("name")
    sub = [f"{len(an.coalition_members(ds))} members by newest reported role, as of {fmt_date(an.cutoff(ds))}"]
    if len(outside):
        sub.append("Members outside the map: " + "; ".join(
            f"{r.name} ({labels[r.category].lower()})" for r in outside.itertuples()))
    chart = (base + colored + names).project(**proj.to_dict()).properties(
        width=WIDTH, height=330, title=chart_title(title or map_finding(ds), subtitle=sub))
    counts = status["category"].value_counts()
    alt_text = (f"Map of Europe colouring {len(members)} coalition members by their newest reported role, "
                f"{int(counts.get('not_member', 0))} other states named in the data in grey, Ukraine and Russia. "
                + "; ".join(f"{labels[c].lower()}: {counts.get(c, 0)}" for c in present if c in counts)
                + ". Members outside the map: " + (", ".join(outside["name"]) or "none") + ".")
    st = status.assign(_rank=status["category"].map({c: i for i, c in enumerate(order)})).sort_values(["_rank", "name"])
    values = Table(pd.DataFrame({"State": st["name"], "Status": st["label"],
                                 "On the map": st["actor_id"].isin(EUROPE_VIEW).map({True: "yes", False: "no, listed"}),
                                 "Source": st["source_id"].fillna("–")}),
                   caption=f"Values: every state on the map ({len(st)})", source_note=None)
    return Figure(chart, alt_text=alt_text, title=None, values=values,
                  source_note=source_note(ds, top_sources(status["source_id"].dropna()),
                                          "Roles as reported in each state's newest statement; "
                                          "full list with conditions in the annex. Map: "
                                          "Natural Earth 1:110m via world-atlas (ISC licence)"))


def table_members(ds: Dataset, *, sort_by: tuple[str, ...] = ("role", "name"),
                  caption: str = "Coalition members by role") -> Table:
    """Coalition members with what they offer and on what conditions.

    ``sort_by``: columns of :func:`analysis.coalition_members` (``role`` sorts in the order
    of :data:`analysis.ROLE_ORDER`, ``name`` alphabetically, ``date`` newest last).
    """
    m = an.coalition_members(ds)
    keys = {"role": m["role"].map({r: i for i, r in enumerate(an.ROLE_ORDER)})}
    m = m.assign(**{f"_k{i}": keys.get(c, m[c]) for i, c in enumerate(sort_by)})
    m = m.sort_values([f"_k{i}" for i in range(len(sort_by))], kind="stable")
    stale, _ = an.stale_labels(ds)
    age = m["actor_id"].map(stale)
    out = pd.DataFrame({
        "State": m["name"], "Role": m["role_label"],
        "What it offers (as reported)": m["as_reported"].fillna("") + confidence_flag(m["confidence"].fillna("")),
        "Conditions": m["conditions"].fillna("–"),
        "Reported": age.astype(object).where(age.notna(), date_column(m["date"])), "Source": m["source_id"].fillna("–"),
    })
    return Table(out, caption=f"{caption} ({len(out)} states)",
                 source_note=source_note(ds, top_sources(m["source_id"]),
                                         "Source ids resolve in the Sources section; \"last reported\" marks a "
                                         "role reported more than six months before the brief's date"))


def _meeting_label(p: pd.DataFrame) -> pd.Series:
    level = p["level"].str.replace("_", " ")
    return p["date"].dt.strftime("%-d %b %Y") + ", " + p["place"].str.split(",").str[0] + " (" + level + ")"


def participation_finding(ds: Dataset) -> str:
    """``'35 states took part in the largest meeting, Paris on 6 January 2026'``."""
    p = an.participation_by_meeting(ds)
    if p.empty or not p["named_states"].max():
        return f"No coalition meeting with named participants by {fmt_date(an.cutoff(ds))}"
    top = p.loc[p["named_states"].idxmax()]
    level = str(top["level"]).replace("_", " ")
    where = f"({level}, {top['place'].split(',')[0]}, {fmt_date(top['date'])})"
    if len(p) == 1:
        return f"{top['named_states']} states took part in the coalition's first meeting {where}"
    return f"Up to {top['named_states']} states took part in one meeting {where}; {len(p)} meetings in all"


def chart_participation(ds: Dataset, *, title: str | None = None) -> Figure:
    """Who took part in each coalition meeting: the states a source names as present, one row per
    meeting, the count printed beside each bar; the values table names them.

    ``title``: default, the finding (:func:`participation_finding`).
    """
    p = an.participation_by_meeting(ds)
    am = an.attendance_matrix(ds)
    present = am[am["status"].isin(["attended", "observer"]) & (am["actor_type"] == "state")]
    who = present.groupby("meeting_id")["name"].agg(lambda s: ", ".join(sorted(set(s))))
    srcs = am.groupby("meeting_id")["source_id"].agg(lambda s: ", ".join(sorted(set(s.dropna()))))
    p = p.assign(label=_meeting_label(p))
    y = alt.Y("label:N", sort=p["label"].tolist(), title=None, axis=alt.Axis(labelLimit=0))
    top = int(p["named_states"].max()) if len(p) else 0
    bars = alt.Chart(p).mark_bar(color=palette("attendance")["attended"]).encode(
        y=y, x=alt.X("named_states:Q", title="States named as present",
                     scale=alt.Scale(domainMax=max(top * 1.12, 1)),
                     axis=alt.Axis(tickCount=5, format="d", labelOverlap="greedy")),
        tooltip=[alt.Tooltip("label:N", title="Meeting"), alt.Tooltip("named_states:Q", title="States named"),
                 alt.Tooltip("participation_as_reported:N", title="As reported")])
    counts = alt.Chart(p).mark_text(align="left", dx=3, fontSize=10, color=INK["text"]).encode(
        y=y, x="named_states:Q", text="named_states:Q")
    chart = (bars + counts).properties(width=WIDTH - 340, height=alt.Step(13), title=chart_title(
        title or participation_finding(ds),
        subtitle="States a source names as present at each meeting, oldest first; sources often report a larger "
                 "total without naming everyone (see the meetings table)"))
    alt_text = (f"Bar chart of {len(p)} coalition meetings from {p['date'].min():%d %B %Y} to "
                f"{p['date'].max():%d %B %Y}: the number of states named present at each; the most was {top}."
                if len(p) else "No meetings in the period.")
    values = Table(pd.DataFrame({"Meeting": p["label"], "States named": p["named_states"],
                                 "Who (named as present)": [who.get(m, "–") for m in p["meeting_id"]],
                                 "Reported": p["participation_as_reported"].fillna("–"),
                                 "Source": [srcs.get(m, "–") for m in p["meeting_id"]]}),
                   caption="Values: who took part in each meeting", source_note=None)
    return Figure(chart, alt_text=alt_text, values=values,
                  source_note=source_note(ds, top_sources(am["source_id"]),
                                          "A state counts when a source names it as present (attended or "
                                          "observer); one not named is not recorded as absent"))


def attendance_finding(ds: Dataset, level: str | None = "leaders") -> str:
    """``'4 states were named at all 12 leaders' meetings'``."""
    am = an.attendance_matrix(ds)
    meetings = ds.meetings if not level else ds.meetings[ds.meetings["level"] == level]
    n = len(meetings)
    what = f"{level.replace('_', ' ')}' meetings" if level else "meetings"
    if not n:
        return f"No {what} by {fmt_date(an.cutoff(ds))}"
    am = am[am["meeting_id"].isin(meetings["meeting_id"]) & am["status"].isin(["attended", "observer"])
            & (am["actor_type"] == "state") & (am["actor_id"] != an.BENEFICIARY)]
    per = am.groupby("name")["meeting_id"].nunique().sort_values(ascending=False)
    if per.empty:
        return f"No state is named at the {n} {what}"
    every = sorted(per[per == n].index)
    all_n = {1: f"the one {what[:-1]}", 2: f"both {what}"}.get(n, f"all {n} {what}")
    if len(every) == 1:
        return f"{_the(every[0])} was named at {all_n}"
    if 1 < len(every) <= 4:
        return f"{len(every)} states were named at {all_n}: {', '.join(_the(x) for x in every)}"
    if len(every):
        return f"{len(every)} states were named at {all_n}"
    return f"{_the(per.index[0])} was named at {per.iloc[0]} of the {n} {what}, more than any other state"


def _the(name: str) -> str:
    return f"the {name}" if name.startswith("United ") else name


def chart_attendance(ds: Dataset, *, level: str | None = "leaders", colors: Mapping[str, str] | None = None,
                     title: str | None = None) -> Figure:
    """State × meeting grid: who is reported at which meeting (``level=None``: every meeting).

    ``colors`` maps ``attended``/``observer``/``absent`` to colours; rows are sorted by the
    number of meetings a state was named at. ``title``: default, the finding
    (:func:`attendance_finding`). The values table gives each state's count and meetings.
    """
    colors = colors or palette("attendance")
    am = an.attendance_matrix(ds)
    am = am[am["actor_type"] == "state"]
    if level:
        am = am[am["meeting_level"] == level]
    am = am.assign(meeting=am["date"].dt.strftime("%-d %b %y") + " " + am["place"].str.split(",").str[0]
                   .str.split(" ").str[0],
                   status_label=am["status"].str.capitalize())
    meetings = am.drop_duplicates("meeting_id").sort_values("date")["meeting"].tolist()
    named = am[am["status"].isin(["attended", "observer"])]
    order = (named.groupby("name")["meeting_id"].nunique().reindex(am["name"].unique(), fill_value=0)
             .reset_index().sort_values(["meeting_id", "name"], ascending=[False, True])["name"].tolist())
    chart = alt.Chart(am).mark_square(size=70).encode(
        x=alt.X("meeting:O", title=None, sort=meetings,
                axis=alt.Axis(labelAngle=-60, labelLimit=0, labelAlign="right")),
        y=alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelLimit=0)),
        color=alt.Color("status_label:N", title="Status",
                        scale=color_scale(colors, labels={k: k.capitalize() for k in colors},
                                          order=[k for k in colors if k in set(am["status"])] or list(colors))),
        tooltip=["name:N", "meeting:N", "status_label:N"],
    ).properties(width=max(14 * len(meetings), 120), height=alt.Step(9),
                 title=chart_title(title or attendance_finding(ds, level),
                                   subtitle="Only states named by a source are shown; an empty cell means not "
                                            "named, not absent", width=WIDTH - 120))
    n_meet = am["meeting_id"].nunique()
    alt_text = (f"Grid of {am['name'].nunique()} states by {n_meet} meetings. "
                f"Most often named: {', '.join(order[:5])}.")
    per = named.groupby("name").agg(n=("meeting_id", "nunique"),
                                    where=("meeting", lambda s: ", ".join(sorted(set(s), key=meetings.index))))
    absent = am[am["status"] == "absent"].groupby("name")["meeting"].agg(lambda s: ", ".join(s))
    per = per.reindex(order)
    values = Table(pd.DataFrame({"State": per.index, f"Named at (of {n_meet})": per["n"].fillna(0).astype(int).values,
                                 "Meetings": per["where"].fillna("–").values,
                                 "Reported absent": [absent.get(n, "–") for n in per.index]}),
                   caption="Values: meetings at which each state was named", source_note=None)
    return Figure(chart, alt_text=alt_text, values=values, source_note=source_note(ds, top_sources(am["source_id"])))


def table_meetings(ds: Dataset, *, caption: str = "Coalition meetings") -> Table:
    """Coalition meetings, oldest first, with participation as reported and outcome."""
    m = ds.meetings.sort_values("date")
    out = pd.DataFrame({"Date": date_column(m["date"]), "Place": m["place"],
                        "Level": m["level"].str.replace("_", " "),
                        "Participation (as reported)": m["participation_as_reported"].fillna("–"),
                        "Outcome": m["outcome"].fillna("–"),
                        "Source": m["source_id"] + confidence_flag(m["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(m["source_id"])))
