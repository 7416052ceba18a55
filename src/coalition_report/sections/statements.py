"""Dated statements as a reader meets them: who said what, when, with a sentence of context.

Each statement is its summary (the sentence that sets the quote in context), then the exact
quote when the summary does not already carry it, its speaker, topic, coded stance and source.
Newest first. Used by the brief's annex and by the country profile.
"""

from __future__ import annotations

import html

import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, source_note
from ..data import Dataset
from ..display import Markdown, escape_markdown, source_note_html
from ..fmt import fmt_date

__all__ = ["statements"]

_STANCE_WORDS = {"support": "supports", "conditional": "supports on conditions", "neutral": "neutral",
                 "oppose": "opposes"}


def statements(ds: Dataset, actor_id: str | None = None, *, limit: int | None = None,
               topic: str | None = None) -> Markdown:
    """Dated statements, newest first, each with its context, speaker, stance and source.

    ``actor_id``: one actor's statements only; ``topic``: one topic (``coalition_force``,
    ``ceasefire``, ``security_guarantees``); ``limit``: the newest n.
    """
    p = ds.positions
    if actor_id:
        p = p[p["actor_id"] == actor_id]
    if topic:
        p = p[p["topic"] == topic]
    p = p.sort_values(["date", "position_id"], ascending=[False, True])
    total = len(p)
    if limit:
        p = p.head(limit)
    if p.empty:
        text = "No dated statement is recorded" + (" for this state" if actor_id else "") + \
            f" by {fmt_date(an.cutoff(ds))}."
        return Markdown(text, f"<p>{html.escape(text)}</p>")
    names = ds.actors.set_index("actor_id")["name"]
    flags = confidence_flag(p["confidence"])
    items, md = [], []
    for r, flag in zip(p.to_dict("records"), flags):
        who = str(names.get(r["actor_id"], r["actor_id"]))
        speaker = r.get("speaker") if isinstance(r.get("speaker"), str) and r.get("speaker") else ""
        topic_label = an.TOPIC_LABELS.get(r["topic"], str(r["topic"]).replace("_", " "))
        summary = str(r["summary"]).strip()
        quote = r.get("quote") if isinstance(r.get("quote"), str) else ""
        extra = f" “{quote}”" if quote and quote.lower() not in summary.lower() else ""
        head = f"{fmt_date(r['date'])}, {who}" + (f" ({speaker})" if speaker else "")
        tail = f"{topic_label}: {_STANCE_WORDS.get(r['stance'], r['stance'])}{flag}. [{r['source_id']}]"
        items.append(f'<li><strong>{html.escape(head)}.</strong> {html.escape(summary)}{html.escape(extra)} '
                     f'<span class="stance">{html.escape(tail)}</span></li>')
        md.append(f"- **{escape_markdown(head)}.** {escape_markdown(summary + extra)} {escape_markdown(tail)}")
    more = f"<p>The newest {len(p)} of {total} statements are shown.</p>" if len(p) < total else ""
    note = source_note(ds, list(dict.fromkeys(p["source_id"])))
    markup = (f'<ul class="statements">{"".join(items)}</ul>{more}'
              f'<p class="source-note">{source_note_html(note)}</p>')
    return Markdown("\n".join(md) + "\n\n" + note, markup)
