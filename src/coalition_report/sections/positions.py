"""Section 3, diplomatic positions: stances on the force, a ceasefire and guarantees; timeline."""

from __future__ import annotations

from typing import Mapping

import altair as alt
import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, source_note, top_sources
from ..data import Dataset
from ..display import Figure, Table
from ..fmt import date_column, quoted
from ..style import WIDTH, color_scale, palette, time_axis

__all__ = ["chart_positions", "table_quotes", "table_positions", "chart_timeline", "table_events",
           "TIMELINE_LANES"]

#: Event kinds -> timeline lane, in the lanes' top-to-bottom order.
TIMELINE_LANES = {"meeting": "Coalition meeting", "summit": "Coalition meeting",
                  "truce_proposal": "Truce proposal", "truce_response": "Truce response", "talks": "Talks",
                  "aid_pause": "Aid pause / resumption", "aid_resumption": "Aid pause / resumption",
                  "aid_package": "Aid / financing", "eu_decision": "Aid / financing",
                  "statement": "Other", "other": "Other"}


def chart_positions(ds: Dataset, actors: list[str] | None = None, *, colors: Mapping[str, str] | None = None,
                    title: str = "Where the main actors stand") -> Figure:
    """Actor × topic matrix of the newest stance (``actors``: ids to show, default all).

    Rows run from the most supportive actor to the most opposed; ``colors`` maps stances
    (``support``, ``conditional``, ``neutral``, ``oppose``); default ``palette("stances")``.
    """
    colors = colors or palette("stances")
    p = an.positions_matrix(ds, actors)
    p = p.assign(stance_label=p["stance"].str.capitalize(), when=p["date"].dt.strftime("%-d %b %Y"))
    order = (p.assign(score=p["stance"].map({s: i for i, s in enumerate(an.STANCE_ORDER)}))
             .groupby("actor")["score"].mean().sort_values().index.tolist())
    base = alt.Chart(p).encode(
        x=alt.X("topic_label:N", title=None, sort=list(an.TOPIC_LABELS.values()),
                axis=alt.Axis(orient="top", labelAngle=0, labelLimit=200)),
        y=alt.Y("actor:N", sort=order, title=None))
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("stance_label:N", title="Stance", scale=color_scale(
            colors, labels={s: s.capitalize() for s in colors}, order=[s for s in an.STANCE_ORDER if s in colors])),
        tooltip=["actor:N", "topic_label:N", "stance_label:N", "when:N", "summary:N"])
    text = base.mark_text(fontSize=9, color="black").encode(text="when:N")
    chart = (cells + text).properties(width=WIDTH - 170, height=alt.Step(20), title=alt.Title(
        title, subtitle="Newest dated stance per topic; the date is in each cell"))
    opp = p[p["stance"] == "oppose"]["actor"].unique().tolist()
    alt_text = (f"Matrix of {p['actor'].nunique()} actors by {p['topic'].nunique()} topics coloured by stance. "
                f"Opposed on at least one topic: {', '.join(opp) or 'none'}.")
    return Figure(chart, alt_text=alt_text, source_note=source_note(
        ds, top_sources(p["source_id"]), "Every stance with its quote, context and source is listed in the annex"))


def table_quotes(ds: Dataset, actor_id: str | None = None, *, limit: int | None = None,
                 caption: str = "Dated quotes") -> Table:
    """Dated exact quotes with speaker and source (``limit``: the first n)."""
    q = an.quotes(ds, actor_id)
    if limit:
        q = q.head(limit)
    out = pd.DataFrame({"Date": date_column(q["date"]), "Actor": q["actor"],
                        "Speaker": q["speaker"].fillna("–"), "Topic": q["topic"].map(an.TOPIC_LABELS),
                        "Quote": "“" + q["quote"] + "”", "Source": q["source_id"] + confidence_flag(q["confidence"])})
    return Table(out, caption=caption, source_note=source_note(
        ds, top_sources(q["source_id"]), "Quotes as printed by the source; translations are the source's"))


def table_positions(ds: Dataset, actor_id: str | None = None, *, caption: str = "Positions") -> Table:
    """Every dated position (or one actor's), newest first."""
    p = ds.positions if actor_id is None else ds.positions[ds.positions["actor_id"] == actor_id]
    p = p.sort_values("date", ascending=False)
    names = ds.actors.set_index("actor_id")["name"]
    out = pd.DataFrame({"Date": date_column(p["date"]), "Actor": p["actor_id"].map(names),
                        "Topic": p["topic"].map(an.TOPIC_LABELS), "Stance": p["stance"].str.capitalize(),
                        "Summary": p["summary"], "Quote": p["quote"].map(quoted),
                        "Speaker": p["speaker"].fillna("–"),
                        "Source": p["source_id"] + confidence_flag(p["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(p["source_id"])))


def chart_timeline(ds: Dataset, *, since: str | None = "2025-02-01", lanes: Mapping[str, str] | None = None,
                   title: str = "Timeline") -> Figure:
    """Dated meetings, truce proposals and responses, aid pauses and EU decisions since ``since``.

    ``lanes`` maps event kinds to lane names; lanes appear in the order of first mention.
    """
    lanes = dict(lanes or TIMELINE_LANES)
    t = an.timeline(ds)
    if since:
        t = t[t["date"] >= pd.Timestamp(since)]
    t = t.assign(lane=t["kind"].map(lanes).fillna("Other"))
    order = [lane for lane in dict.fromkeys([*lanes.values(), "Other"]) if lane in set(t["lane"])]
    chart = alt.Chart(t).mark_point(filled=True, size=80, opacity=0.85).encode(
        x=alt.X("date:T", title=None, axis=time_axis(t["date"])),
        y=alt.Y("lane:N", sort=order, title=None),
        color=alt.Color("lane:N", sort=order, legend=None),
        shape=alt.Shape("lane:N", sort=order, legend=None),
        tooltip=[alt.Tooltip("date:T", format="%d %b %Y"), "title:N"],
    ).properties(width=WIDTH - 150, height=alt.Step(30), title=alt.Title(
        title, subtitle="Each mark is one dated event; details in the annex"))
    alt_text = (f"Timeline of {len(t)} dated events from {t['date'].min():%B %Y} to {t['date'].max():%B %Y}: "
                + "; ".join(f"{lane.lower()}: {(t['lane'] == lane).sum()}" for lane in order) + ".")
    return Figure(chart, alt_text=alt_text, source_note=source_note(
        ds, top_sources(t["source_id"]), "Full list with sources in the annex"))


def table_events(ds: Dataset, *, since: str | None = "2025-02-01",
                 caption: str = "Timeline of key events") -> Table:
    """Dated events since ``since`` with their source, oldest first."""
    e = ds.events.sort_values(["date", "event_id"])
    if since:
        e = e[e["date"] >= pd.Timestamp(since)]
    out = pd.DataFrame({"Date": date_column(e["date"]), "Kind": e["kind"].str.replace("_", " "),
                        "Event": e["title"], "Details": e["description"].fillna(""),
                        "Source": e["source_id"] + confidence_flag(e["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(e["source_id"])))
