"""The front end: bottom line, key judgements, what they mean for capitals, scenarios.

Analyst writing kept as dated, sourced records in ``data/judgements.csv``. A brief shows the
newest set written on or before its as-of date (a set is the records sharing a
``written_as_of`` day), or says plainly that none had been written by then. Every number in
the text is a placeholder filled from the brief's own data (:mod:`.facts`), so judgements,
charts and tables agree; the facts' own sources (e.g. the Kiel release) join the record's.

Confidence is stated in the words of one published scale, the UK Professional Head of
Intelligence Assessment (PHIA) probability yardstick (:data:`PHIA`), printed in Methods.
"""

from __future__ import annotations

import html

import pandas as pd

from .. import analysis as an
from ..cite import source_note
from ..data import Dataset, source_dates
from ..display import Markdown, bullets, escape_markdown, source_note_html, strong
from ..fmt import fmt_date
from .facts import resolve

__all__ = ["front_end", "judgement_set", "confidence_scale", "PHIA", "KINDS"]

#: The PHIA probability yardstick: term -> probability range, in the yardstick's order.
PHIA: dict[str, str] = {
    "remote chance": "0–5%", "highly unlikely": "10–20%", "unlikely": "25–35%",
    "realistic possibility": "40–50%", "likely": "55–75%", "highly likely": "80–90%",
    "almost certain": "95–100%",
}
#: Kinds of record, in the order the front end shows them.
KINDS = ("bottom_line", "judgement", "implication", "scenario", "indicator")


def _ids(row: dict) -> list[str]:
    more = row.get("other_source_ids")
    extra = [i.strip() for i in str(more).split(";") if i.strip()] if isinstance(more, str) else []
    return [row["source_id"], *extra]


def judgement_set(ds: Dataset) -> pd.DataFrame:
    """The newest set of records written on or before the brief's date (empty when none).

    A record counts only if every source it names was published by its own ``written_as_of``
    day and by the brief's date: analyst writing uses nothing published later.
    """
    out = an.shown_judgements(ds)
    if out.empty:
        return out
    out["_kind"] = out["kind"].map({k: i for i, k in enumerate(KINDS)})
    return out.sort_values(["_kind", "key", "order", "judgement_id"], na_position="first").drop(columns="_kind")


def _filled(ds: Dataset, r: dict, col: str, currency: str) -> tuple[str, list[str]]:
    text = r.get(col)
    if not isinstance(text, str) or not text.strip():
        return "", []
    return resolve(text, ds, currency, record=f"judgements.csv {r['judgement_id']} ({col})")


def _cites(ids: list[str], known: set[str]) -> str:
    shown = [i for i in dict.fromkeys(ids) if i in known]
    return f" [{', '.join(shown)}]" if shown else ""


def front_end(ds: Dataset, currency: str = "EUR") -> Markdown:
    """Bottom line, key judgements, implications and scenarios written by the as-of date.

    Each judgement is one claim with its confidence word, the evidence behind it and its
    sources; each scenario has its likelihood and the indicators that would show it unfolding.
    """
    s = judgement_set(ds)
    day = an.cutoff(ds)
    if s.empty:
        return bullets([f"No key judgements had been written by {fmt_date(day)}; the sections below "
                        "set out the evidence as it stood on that day."])
    known = set(ds.sources["source_id"])
    written = pd.to_datetime(s["written_as_of"]).max()
    md: list[str] = []
    h: list[str] = []
    every: list[str] = []

    def add(markup: str, text: str) -> None:
        h.append(markup)
        md.append(text)

    e = html.escape
    add(f'<p class="fe-dateline">Written as of {e(fmt_date(written))}. Judgements, not data: each states '
        'its likelihood in the words of the PHIA yardstick (see Methods); figures are computed from the '
        'data of this brief.</p>',
        f"*Written as of {fmt_date(written)}.*")
    rows = s.to_dict("records")
    filled = {}
    for r in rows:
        text, t_ids = _filled(ds, r, "text", currency)
        ev, e_ids = _filled(ds, r, "evidence", currency)
        ids = _ids(r) + t_ids + e_ids
        every += ids
        filled[r["judgement_id"]] = (text, ev, ids)
    by_kind = {k: [r for r in rows if r["kind"] == k] for k in KINDS}

    for r in by_kind["bottom_line"][:1]:
        text, _, ids = filled[r["judgement_id"]]
        add(f'<div class="bottom-line"><p class="fe-label">Bottom line</p><p>{e(text)}'
            f'<span class="cites">{e(_cites(ids, known))}</span></p></div>',
            f"**Bottom line.** {escape_markdown(text)}{escape_markdown(_cites(ids, known))}")

    if by_kind["judgement"]:
        add('<p class="fe-head">Key judgements</p><ol class="judgements">', "\n**Key judgements**\n")
        for r in by_kind["judgement"]:
            text, ev, ids = filled[r["judgement_id"]]
            head = r.get("heading") if isinstance(r.get("heading"), str) else ""
            conf = r.get("confidence") if isinstance(r.get("confidence"), str) else ""
            lead = f"<strong>{e(head)}.</strong> " if head else ""
            rng = PHIA.get(conf, "")
            badge = f' <span class="confidence">({e(conf)}{": " + rng if rng else ""})</span>' if conf else ""
            cites = e(_cites(ids, known))
            evid = f'<p class="evidence">{e(ev)}<span class="cites">{cites}</span></p>' if ev else ""
            add(f'<li><p class="claim">{lead}{e(text)}{badge}</p>{evid}</li>',
                f"1. **{escape_markdown(head)}.** {escape_markdown(text)} ({conf})  \n   "
                f"{escape_markdown(ev)}{escape_markdown(_cites(ids, known))}")
        add("</ol>", "")

    if by_kind["implication"]:
        add('<p class="fe-head">What it means</p><ul class="implications">', "\n**What it means**\n")
        for r in sorted(by_kind["implication"], key=lambda r: r["order"]):
            text, _, ids = filled[r["judgement_id"]]
            who = r.get("heading") if isinstance(r.get("heading"), str) else r.get("key", "")
            add(f'<li><strong>{e(str(who))}.</strong> {e(text)}<span class="cites">{e(_cites(ids, known))}</span></li>',
                f"- **{escape_markdown(str(who))}.** {escape_markdown(text)}{escape_markdown(_cites(ids, known))}")
        add("</ul>", "")

    if by_kind["scenario"]:
        add('<p class="fe-head">Scenarios and what to watch</p><div class="scenarios">',
            "\n**Scenarios and what to watch**\n")
        for r in sorted(by_kind["scenario"], key=lambda r: r["order"]):
            text, _, ids = filled[r["judgement_id"]]
            conf = r.get("confidence") if isinstance(r.get("confidence"), str) else ""
            signs = [filled[i["judgement_id"]] for i in sorted(by_kind["indicator"], key=lambda i: i["order"])
                     if i.get("key") == r.get("key")]
            li = "".join(f"<li>{e(t)}</li>" for t, _, _ in signs)
            name = str(r.get("heading") or r.get("key"))
            badge = f' <span class="confidence">({e(conf)})</span>' if conf else ""
            cites = e(_cites(ids + [x for _, _, i in signs for x in i], known))
            watch = f'<p class="watch">Watch for:</p><ul class="indicators">{li}</ul>' if li else ""
            add(f'<div class="scenario"><p><strong>{e(name)}</strong>{badge}: {e(text)}'
                f'<span class="cites">{cites}</span></p>{watch}</div>',
                f"- **{escape_markdown(name)}** ({conf}): {escape_markdown(text)}"
                + "".join(f"\n  - {escape_markdown(t)}" for t, _, _ in signs))
        add("</div>", "")

    note = source_note(ds, list(dict.fromkeys(i for i in every if i in known)))
    markup = '<div class="front-end">' + "".join(h) + f'<p class="source-note">{source_note_html(note)}</p></div>'
    return Markdown("\n".join(md) + "\n\n" + note, markup)


def confidence_scale(ds: Dataset | None = None) -> Markdown:
    """The probability yardstick the judgements use, with its ranges (for Methods)."""
    lines = [[strong(term), f": {rng}"] for term, rng in PHIA.items()]
    md = bullets(lines)
    lead = ("Judgements and scenarios state their likelihood in the words of the UK Professional Head of "
            "Intelligence Assessment (PHIA) probability yardstick. We say \u201cwe judge\u201d for a judgement; "
            "facts are stated as facts.")
    return Markdown(lead + "\n\n" + md.text, f"<p>{html.escape(lead)}</p>" + md.html)


def _check_sources(ds: Dataset) -> list[str]:
    """Records naming a source published after the day they are written as of (for tests)."""
    j = ds.tables.get("judgements")
    if j is None:
        return []
    known = source_dates(ds.sources)
    bad = []
    for r in j.to_dict("records"):
        for sid in _ids(r):
            d = known.get(sid)
            if d is None or pd.isna(d) or d > pd.Timestamp(r["written_as_of"]):
                bad.append(f"{r['judgement_id']}: {sid}")
    return bad
