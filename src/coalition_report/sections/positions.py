"""Section 3, diplomatic positions: stances on the force, a ceasefire and guarantees; timeline."""

from __future__ import annotations

from typing import Mapping

import altair as alt
import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, source_note, top_sources
from ..data import Dataset
from ..display import Figure, Table
from ..fmt import date_column, fmt_date, quoted
from ..style import INK, WIDTH, chart_title, color_scale, palette, text_colour, time_axis

__all__ = ["chart_positions", "table_quotes", "table_positions", "chart_timeline", "table_events",
           "TIMELINE_LANES", "positions_finding", "timeline_finding"]

#: Event kinds -> timeline lane, in the lanes' top-to-bottom order.
TIMELINE_LANES = {"meeting": "Coalition meeting", "summit": "Coalition meeting",
                  "truce_proposal": "Truce proposal", "truce_response": "Truce response", "talks": "Talks",
                  "aid_pause": "Aid pause / resumption", "aid_resumption": "Aid pause / resumption",
                  "aid_package": "Aid / financing", "eu_decision": "Aid / financing",
                  "statement": "Other", "other": "Other"}


def positions_finding(ds: Dataset, topic: str = "coalition_force") -> str:
    """``'14 of 22 actors tracked support a reassurance force; 2 oppose it'``."""
    c = an.stance_counts(ds, topic)
    n = sum(len(v) for v in c.values())
    what = {"coalition_force": "a reassurance force", "ceasefire": "a ceasefire",
            "security_guarantees": "security guarantees"}.get(topic, topic)
    if not n:
        return f"No stance on {what} recorded by {fmt_date(an.cutoff(ds))}"
    text = f"{len(c['support'])} of {n} actors tracked support {what}"
    if c["conditional"]:
        text += f", {len(c['conditional'])} with conditions"
    if c["oppose"]:
        text += f"; {len(c['oppose'])} oppose" + (f" ({', '.join(c['oppose'])})" if len(c["oppose"]) <= 2 else "")
    return text


#: Column headings of the stance matrix: short enough that three fit side by side.
MATRIX_TOPICS = {"coalition_force": "Reassurance force", "ceasefire": "Ceasefire / truce",
                 "security_guarantees": "Security guarantees"}

#: The word each stance prints in its cell (the stance never rests on colour alone).
STANCE_WORDS = {"support": "Support", "conditional": "Conditional", "neutral": "Neutral", "oppose": "Oppose"}


def chart_positions(ds: Dataset, actors: list[str] | None = None, *, colors: Mapping[str, str] | None = None,
                    title: str | None = None) -> Figure:
    """Actor × topic matrix of the newest stance (``actors``: ids to show, default all).

    Each cell prints its stance as a word, in black or white as the fill needs; the date is in
    the tooltip and in the values table. Rows run from the most supportive actor to the most
    opposed; ``colors`` maps stances (``support``, ``conditional``, ``neutral``, ``oppose``);
    default ``palette("stances")``. ``title``: default, the finding (:func:`positions_finding`).
    """
    colors = colors or palette("stances")
    p = an.positions_matrix(ds, actors)
    p = p.assign(stance_label=p["stance"].map(STANCE_WORDS).fillna(p["stance"].str.capitalize()),
                 when=p["date"].dt.strftime("%-d %b %Y"),
                 column=p["topic"].map(MATRIX_TOPICS).fillna(p["topic_label"]),
                 ink=p["stance"].map(lambda st: text_colour(colors.get(st, INK["land"]))))
    order = (p.assign(score=p["stance"].map({s: i for i, s in enumerate(an.STANCE_ORDER)}))
             .groupby("actor")["score"].mean().sort_values(kind="stable").index.tolist())
    base = alt.Chart(p).encode(
        x=alt.X("column:N", title=None, sort=list(MATRIX_TOPICS.values()),
                axis=alt.Axis(orient="top", labelAngle=0, labelLimit=0, labelFontSize=10)),
        y=alt.Y("actor:N", sort=order, title=None, axis=alt.Axis(labelLimit=0)))
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("stance_label:N", title="Stance", scale=color_scale(
            colors, labels=STANCE_WORDS, order=[s for s in an.STANCE_ORDER if s in colors]),
            legend=alt.Legend(symbolType="square")),
        tooltip=[alt.Tooltip("actor:N", title="Actor"), alt.Tooltip("topic_label:N", title="Topic"),
                 alt.Tooltip("stance_label:N", title="Stance"), alt.Tooltip("when:N", title="Date"),
                 alt.Tooltip("summary:N", title="Summary")])
    text = base.mark_text(fontSize=10).encode(text="stance_label:N", color=alt.Color("ink:N", scale=None))
    chart = (cells + text).properties(width=WIDTH - 150, height=alt.Step(20), title=chart_title(
        title or positions_finding(ds), subtitle="Newest dated stance per actor and topic; dates and sources "
                                                 "in the values table"))
    opp = p[p["stance"] == "oppose"]["actor"].unique().tolist()
    alt_text = (f"Matrix of {p['actor'].nunique()} actors by {p['topic'].nunique()} topics, each cell naming the "
                f"stance. Opposed on at least one topic: {', '.join(opp) or 'none'}.")
    v = p.assign(_o=p["actor"].map({a: i for i, a in enumerate(order)})).sort_values(["_o", "topic"])
    _, stale = an.stale_labels(ds)
    age = pd.Series([stale.get((a, t), "") for a, t in zip(v["actor_id"], v["topic"])], index=v.index)
    values = Table(pd.DataFrame({"Actor": v["actor"], "Topic": v["topic_label"],
                                 "Stance": v["stance_label"] + age.map(lambda s: f" ({s})" if s else ""),
                                 "Date": date_column(v["date"]),
                                 "Source": v["source_id"] + confidence_flag(v["confidence"])}),
                   caption="Values: the newest stance per actor and topic", source_note=None)
    return Figure(chart, alt_text=alt_text, values=values, source_note=source_note(
        ds, top_sources(p["source_id"]), "Every stance with its quote and source is listed in the annex"))


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


def timeline_finding(ds: Dataset, since: str | None = an.SHOWN_SINCE) -> str:
    """``'The coalition met 19 times between March 2025 and February 2026; 4 truce proposals'``."""
    t = an.timeline(ds)
    if since:
        t = t[t["date"] >= pd.Timestamp(since)]
    meet = t[t["kind"] == "meeting"]
    if t.empty:
        return f"No dated events by {fmt_date(an.cutoff(ds))}"
    truce = int((t["kind"] == "truce_proposal").sum())
    span = (f"between {meet['date'].min():%B %Y} and {meet['date'].max():%B %Y}"
            if meet["date"].min().to_period("M") != meet["date"].max().to_period("M") else f"in {meet['date'].min():%B %Y}"
            ) if len(meet) else ""
    text = (f"The coalition met {len(meet)} time{'s' if len(meet) != 1 else ''} {span}" if len(meet)
            else "No coalition meeting yet")
    return text + (f"; {truce} truce proposal{'s' if truce != 1 else ''} in the same period" if truce else "")


def chart_timeline(ds: Dataset, *, since: str | None = an.SHOWN_SINCE, lanes: Mapping[str, str] | None = None,
                   title: str | None = None) -> Figure:
    """Dated meetings, truce proposals and responses, aid pauses and EU decisions since ``since``.

    One row per event, labelled with its date and title; the mark's shape and the label's prefix
    give its kind (``lanes`` maps event kinds to kind names). ``title``: default, the finding
    (:func:`timeline_finding`).
    """
    lanes = dict(lanes or TIMELINE_LANES)
    t = an.timeline(ds)
    if since:
        t = t[t["date"] >= pd.Timestamp(since)]
    t = t.assign(lane=t["kind"].map(lanes).fillna("Other"))
    order = [lane for lane in dict.fromkeys([*lanes.values(), "Other"]) if lane in set(t["lane"])]
    t = t.sort_values(["date", "title"]).reset_index(drop=True)
    # the date is the mark's position (and in the tooltip and the table); the label is what happened
    t["label"] = t["title"].str.replace("Coalition meeting: ", "Meeting: ")
    t["label"] = t["label"].where(~t["label"].duplicated(keep=False),
                                  t["label"] + " (" + t["date"].dt.strftime("%-d %b") + ")")
    chart = alt.Chart(t).mark_point(filled=True, size=60, color=INK["mark"]).encode(
        x=alt.X("date:T", title=None, axis=time_axis(t["date"], orient="top")),
        y=alt.Y("label:N", sort=t["label"].tolist(), title=None, axis=alt.Axis(labelLimit=0, labelFontSize=9)),
        shape=alt.Shape("lane:N", sort=order, title="Kind", legend=alt.Legend(orient="bottom", columns=1)),
        tooltip=[alt.Tooltip("date:T", format="%d %b %Y"), "lane:N", "title:N"],
    ).properties(width=150, height=alt.Step(12), title=chart_title(
        title or timeline_finding(ds, since),
        subtitle="Each row is one dated event, labelled; details and sources in the annex"))
    alt_text = (f"Timeline of {len(t)} dated events from {t['date'].min():%B %Y} to {t['date'].max():%B %Y}: "
                + "; ".join(f"{lane.lower()}: {(t['lane'] == lane).sum()}" for lane in order) + "."
                if len(t) else "No dated events.")
    return Figure(chart, alt_text=alt_text, source_note=source_note(
        ds, top_sources(t["source_id"]), "Full list with sources in the annex"))


def table_events(ds: Dataset, *, since: str | None = an.SHOWN_SINCE,
                 caption: str = "Timeline of key events") -> Table:
    """Dated events since ``since`` with their source, oldest first."""
    e = ds.events.sort_values(["date", "event_id"])
    if since:
        e = e[e["date"] >= pd.Timestamp(since)]
    out = pd.DataFrame({"Date": date_column(e["date"]), "Kind": e["kind"].str.replace("_", " "),
                        "Event": e["title"], "Details": e["description"].fillna(""),
                        "Source": e["source_id"] + confidence_flag(e["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(e["source_id"])))
