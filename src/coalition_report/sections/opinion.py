"""Public opinion: polls by state on sending troops to Ukraine (and on aid, where recorded).

Polls come from ``polls.csv``: pollster, who commissioned it, fieldwork dates, sample, the
question in short and the shares for, against and don't know as the source prints them. A row is
shown from the day its results were published (the as-of rule); shares a source does not give
stay empty and the table says so.
"""

from __future__ import annotations

from typing import Mapping

import altair as alt
import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, source_note, top_sources
from ..data import Dataset
from ..display import Figure, Table
from ..fmt import fmt_date
from ..style import WIDTH, color_scale, palette

__all__ = ["chart_polls", "table_polls", "poll_rows"]

_ANSWERS = {"support_pct": "Support", "oppose_pct": "Oppose", "dont_know_pct": "Don't know"}


def _colors(colors: Mapping[str, str] | None) -> dict[str, str]:
    """Support / Oppose / Don't know in the brief's stance colours unless given."""
    if colors:
        return dict(colors)
    s = palette("stances")
    return {"Support": s["support"], "Oppose": s["oppose"], "Don't know": s["neutral"]}


def _when(r) -> str:
    """Fieldwork as ``'13–14 Feb 2025'`` where known, else ``'published <date>'``."""
    a, b = r.get("fieldwork_start"), r.get("fieldwork_end")
    if pd.notna(a) and pd.notna(b):
        if a == b:
            return f"{a:%-d %b %Y}"
        same_month = (a.year, a.month) == (b.year, b.month)
        return f"{a:%-d}–{b:%-d %b %Y}" if same_month else f"{a:%-d %b} – {b:%-d %b %Y}"
    return f"published {r['date']:%-d %b %Y}"


def poll_rows(ds: Dataset, topic: str | None = "troops") -> pd.DataFrame:
    """Polls known by the as-of date (on ``topic``; ``None``: all), with country name and a label."""
    p = ds.tables.get("polls")
    if p is None or p.empty:
        return pd.DataFrame(columns=["poll_id", "country", "label", "when", "pollster", "date", "question",
                                     *_ANSWERS, "source_id", "confidence", "note", "sample_size", "commissioned_by"])
    p = p.copy()
    if topic:
        p = p[p["topic"] == topic]
    p["country"] = p["actor_id"].map(ds.actors.set_index("actor_id")["name"]).fillna(p["actor_id"])
    p["when"] = [_when(r) for r in p.to_dict("records")]
    p["label"] = p["country"] + " · " + p["pollster"] + " · " + p["when"]
    return p.sort_values(["date", "country", "poll_id"]).reset_index(drop=True)


def chart_polls(ds: Dataset, topic: str = "troops", *, colors: Mapping[str, str] | None = None,
                title: str | None = None) -> Figure:
    """Support, opposition and don't know per poll and country, as the sources print them.

    ``colors`` maps ``Support``, ``Oppose`` and ``Don't know`` to colours (default: the brief's
    stance colours); ``title`` replaces the computed one, which counts the polls in which support
    outweighed opposition.
    """
    p = poll_rows(ds, topic)
    shown = p[p[list(_ANSWERS)].notna().any(axis=1)] if len(p) else p
    both = shown.dropna(subset=["support_pct", "oppose_pct"]) if len(shown) else shown
    more = int((both["support_pct"] > both["oppose_pct"]).sum()) if len(both) else 0
    what = {"troops": "sending troops", "aid": "increasing aid"}.get(topic, topic)
    heading = title or (f"Support for {what} outweighed opposition in {more} of {len(both)} polls that give both "
                        f"shares" if len(both) else f"Polls on {what}")
    if shown.empty:
        msg = f"No poll on {what} had been published by {fmt_date(an.cutoff(ds))}"
        return Figure(alt.Chart(pd.DataFrame({"text": [msg]})).mark_text(fontSize=13).encode(text="text:N")
                      .properties(width=WIDTH, height=60, title=heading), alt_text=msg + ".",
                      source_note=source_note(ds, [], "Polls as recorded in this brief's data"))
    long = shown.melt(id_vars=["label", "poll_id"], value_vars=list(_ANSWERS), var_name="answer", value_name="pct")
    long = long.dropna(subset=["pct"])
    long["answer"] = long["answer"].map(_ANSWERS)
    order = shown["label"].tolist()
    cmap = _colors(colors)
    bars = alt.Chart(long).mark_bar().encode(
        y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=330)),
        x=alt.X("pct:Q", title="Share of respondents, %", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("answer:N", title=None, scale=color_scale(cmap), sort=list(cmap)),
        order=alt.Order("order:Q"),
        tooltip=["label:N", "answer:N", alt.Tooltip("pct:Q", format=".0f", title="%")],
    ).transform_calculate(order=f"indexof({list(cmap)!r}, datum.answer)")
    labels = alt.Chart(long).mark_text(color="white", fontSize=9, dx=-3, align="right").encode(
        y=alt.Y("label:N", sort=order), x=alt.X("end:Q"), text=alt.Text("pct:Q", format=".0f"),
        detail="answer:N").transform_calculate(order=f"indexof({list(cmap)!r}, datum.answer)").transform_window(
        end="sum(pct)", groupby=["label"], sort=[alt.SortField("order")]).transform_filter(alt.datum.pct >= 6)
    chart = (bars + labels).properties(width=WIDTH - 330, height=alt.Step(20), title=alt.Title(
        heading, subtitle="Each bar is one poll in one country, labelled with its fieldwork dates; shares as published"))
    alt_text = f"Polls on {what}: " + "; ".join(
        f"{r.label}: " + ", ".join(f"{lab.lower()} {getattr(r, col):.0f}%" for col, lab in _ANSWERS.items()
                                   if pd.notna(getattr(r, col))) for r in shown.itertuples()) + "."
    values = pd.DataFrame({"Country": shown["country"], "Pollster": shown["pollster"], "Fieldwork": shown["when"],
                           "Support %": shown["support_pct"], "Oppose %": shown["oppose_pct"],
                           "Don't know %": shown["dont_know_pct"]})
    table = Table(values, caption="Values: shares of respondents, %", source_note=None,
                  formats={c: (lambda v: "–" if pd.isna(v) else f"{v:.0f}") for c in
                           ("Support %", "Oppose %", "Don't know %")})
    missing = len(p) - len(shown)
    verb = "are" if missing != 1 else "is"
    extra = (f"{missing} poll{'s' if missing != 1 else ''} with no published shares {verb} listed in the "
             "table only. " if missing else "")
    return Figure(chart, alt_text=alt_text, values=table, source_note=source_note(
        ds, top_sources(shown["source_id"], 8), extra + "A share the source does not give is left out, not estimated"))


def table_polls(ds: Dataset, topic: str | None = None, *, country: str | None = None,
                caption: str = "Polls on sending troops to Ukraine and on aid") -> Table:
    """Every poll published by the as-of date: country, pollster, sponsor, fieldwork, sample,
    question and shares (``topic`` restricts to ``"troops"`` or ``"aid"``; ``country`` to one
    state's polls, for a country profile)."""
    p = poll_rows(ds, topic)
    if country and len(p):
        p = p[p["actor_id"] == country]
    if p.empty:
        return Table(pd.DataFrame({"Note": [f"No poll recorded by {fmt_date(an.cutoff(ds))}"]}), caption=caption,
                     source_note=source_note(ds, []))

    def pct(v):
        return "–" if pd.isna(v) else f"{v:.0f}%"

    # one column per thing a reader compares (who, what was asked, the shares): twelve columns did
    # not fit the A4 text width and pushed the sources off the page
    def poll(r) -> str:
        who = f"{r['country']}: {r['pollster']}"
        if isinstance(r["commissioned_by"], str) and r["commissioned_by"]:
            who += f" for {r['commissioned_by']}"
        n = "" if pd.isna(r["sample_size"]) else f", n = {int(r['sample_size']):,}"
        field = "" if r["when"].startswith("published") else f"; fieldwork {r['when']}"
        return f"{who}{field}{n}; published {fmt_date(r['date'])}"

    def shares(r) -> str:
        return f"{pct(r['support_pct'])} / {pct(r['oppose_pct'])} / {pct(r['dont_know_pct'])}"

    recs = p.to_dict("records")
    out = pd.DataFrame({"Poll": [poll(r) for r in recs],
                        "Question": [q + (f" ({n})" if isinstance(n, str) and n else "")
                                     for q, n in zip(p["question"], p["note"])],
                        "For / against / don't know": [shares(r) for r in recs],
                        "Source": p["source_id"] + confidence_flag(p["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(p["source_id"], 8)))
