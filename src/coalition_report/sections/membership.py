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
from ..style import WIDTH, color_scale, palette, time_axis

__all__ = ["chart_membership_map", "table_members", "chart_participation", "chart_attendance",
           "table_meetings"]

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


def chart_membership_map(ds: Dataset, *, colors: Mapping[str, str] | None = None,
                         title: str = "Who offers what: roles in the coalition") -> Figure:
    """Europe and its neighbourhood: members coloured by their newest reported role, other states
    the data names in grey (the same membership rule as the tables and the summary).

    ``colors`` maps role ids (``lead_nation``, ``ground_forces`` …) and ``not_member`` to
    colours; default ``palette("roles")`` plus ``palette("map")``.
    """
    colors = {**palette("roles"), **palette("map"), **(colors or {})}
    status = an.map_status(ds)
    status = status[status["iso_numeric"].notna()].copy()
    status["id"] = status["iso_numeric"].astype(int).map(lambda n: f"{n:03d}")
    status["as_reported"] = status["as_reported"].fillna("–")
    lookup = status[["id", "name", "category", "label", "as_reported"]].to_dict("records")
    order = [*an.ROLE_ORDER[:an.ROLE_ORDER.index("political_support") + 1], "no_stated_role",
             *an.ROLE_ORDER[an.ROLE_ORDER.index("political_support") + 1:], "not_member"]
    present = [c for c in order if c in set(status["category"])]
    labels = {**an.ROLE_LABELS, "no_stated_role": an.NO_ROLE_LABEL, "not_member": an.NOT_MEMBER_LABEL}
    world = alt.InlineData(values=json.loads(_world()), format=alt.DataFormat(type="topojson", feature="countries"))
    base = alt.Chart(world).mark_geoshape(fill="#f0f0f0", stroke="white", strokeWidth=0.5)
    colored = alt.Chart(world).mark_geoshape(stroke="white", strokeWidth=0.5).transform_lookup(
        lookup="id", from_=alt.LookupData(alt.InlineData(values=lookup), "id",
                                         ["name", "category", "label", "as_reported"])
    ).transform_filter("datum.category != null").encode(
        color=alt.Color("label:N", title="Members by role, and other states the data names",
                        scale=color_scale(colors, labels=labels, order=present),
                        legend=alt.Legend(columns=2, orient="bottom", labelLimit=300, titleLimit=500)),
        tooltip=[alt.Tooltip("name:N", title="State"), alt.Tooltip("label:N", title="Status"),
                 alt.Tooltip("as_reported:N", title="As reported")],
    )
    proj = alt.Projection(type="conicConformal", center=[15, 52], rotate=[-15, 0], parallels=[40, 65],
                          scale=600, translate=[WIDTH / 2, 230])
    members = status[status["category"] != "not_member"]
    chart = (base + colored).project(**proj.to_dict()).properties(
        width=WIDTH, height=440,
        title=alt.Title(title, subtitle=f"{len(an.coalition_members(ds))} members by newest reported role, "
                                        f"as of {fmt_date(an.cutoff(ds))}"))
    outside = status[~status["actor_id"].isin(EUROPE_VIEW)]
    counts = status["category"].value_counts()
    alt_text = (f"Map of Europe colouring {len(members)} coalition members by their newest reported role and "
                f"{int(counts.get('not_member', 0))} other states named in the data in grey. "
                + "; ".join(f"{labels[c].lower()}: {counts.get(c, 0)}" for c in present)
                + ". Outside the map: " + (", ".join(outside["name"]) or "none") + ".")
    return Figure(chart, alt_text=alt_text, title=None,
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
    out = pd.DataFrame({
        "State": m["name"], "Role": m["role_label"],
        "What it offers (as reported)": m["as_reported"].fillna("") + confidence_flag(m["confidence"].fillna("")),
        "Conditions": m["conditions"].fillna("–"),
        "Reported": date_column(m["date"]), "Source": m["source_id"].fillna("–"),
    })
    return Table(out, caption=f"{caption} ({len(out)} states)",
                 source_note=source_note(ds, top_sources(m["source_id"]),
                                         "Source ids resolve in the Sources section"))


def chart_participation(ds: Dataset, *, title: str = "Participation in coalition meetings") -> Figure:
    """Meetings over time: states named as present vs the participant counts sources report."""
    p = an.participation_by_meeting(ds)
    p = p.assign(label=p["date"].dt.strftime("%-d %b %Y") + " " + p["place"].str.split(",").str[0],
                 level_label=p["level"].str.replace("_", " ").str.capitalize())
    base = alt.Chart(p).encode(x=alt.X("date:T", title=None, axis=time_axis(p["date"])))
    reported = base.mark_tick(color="#555555", thickness=2, size=12).encode(
        y="reported_max:Q", tooltip=["label:N", alt.Tooltip("participation_as_reported:N", title="Reported")])
    named = base.mark_circle(size=90, opacity=0.9).encode(
        y=alt.Y("named_states:Q", title="States"),
        color=alt.Color("level_label:N", title="Meeting level"),
        tooltip=["label:N", alt.Tooltip("named_states:Q", title="States named in sources"),
                 alt.Tooltip("participation_as_reported:N", title="Reported")])
    chart = (reported + named).properties(
        width=WIDTH, height=260,
        title=alt.Title(title, subtitle="Dots: states the sources name as present; grey dashes: highest "
                                        "participant count a source reports"))
    top = p.loc[p["named_states"].idxmax()] if len(p) else None
    alt_text = (f"Dot chart of {len(p)} coalition meetings from {p['date'].min():%d %B %Y} to "
                f"{p['date'].max():%d %B %Y}. The most states named present was {top['named_states']} "
                f"at {top['label']}." if top is not None else "No meetings in the period.")
    return Figure(chart, alt_text=alt_text,
                  source_note=source_note(ds, top_sources(p["source_id"]),
                                          "Dots count the states the sources name as present; dashes give the "
                                          "highest count a source reports, and counts that disagree are kept"))


def chart_attendance(ds: Dataset, *, level: str | None = "leaders", colors: Mapping[str, str] | None = None,
                     title: str = "Who was reported at which leaders' meeting") -> Figure:
    """State × meeting grid: who is reported at which meeting (``level=None``: every meeting).

    ``colors`` maps ``attended``/``observer``/``absent`` to colours; rows are sorted by the
    number of meetings a state was named at.
    """
    colors = colors or palette("attendance")
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
                        scale=color_scale(colors, labels={k: k.capitalize() for k in colors})),
        tooltip=["name:N", "meeting:N", "status_label:N"],
    ).properties(width=WIDTH - 160, height=alt.Step(11),
                 title=alt.Title(title, subtitle="Only states named by a source are shown; an empty cell "
                                                 "means not named, not absent"))
    n_meet = am["meeting_id"].nunique()
    alt_text = (f"Grid of {am['name'].nunique()} states by {n_meet} meetings. "
                f"Most often named: {', '.join(order[:5])}.")
    return Figure(chart, alt_text=alt_text, source_note=source_note(ds, top_sources(am["source_id"])))


def table_meetings(ds: Dataset, *, caption: str = "Coalition meetings") -> Table:
    """Coalition meetings, oldest first, with participation as reported and outcome."""
    m = ds.meetings.sort_values("date")
    out = pd.DataFrame({"Date": date_column(m["date"]), "Place": m["place"],
                        "Level": m["level"].str.replace("_", " "),
                        "Participation (as reported)": m["participation_as_reported"].fillna("–"),
                        "Outcome": m["outcome"].fillna("–"),
                        "Source": m["source_id"] + confidence_flag(m["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(m["source_id"])))
