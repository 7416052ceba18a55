"""Section 5, outlook: the analysts' dated judgement, the newest entry written by the as-of date.

Entries live in ``data/outlook.csv`` (one row per point: the date it is written as of, its order,
a short question, the text, the sources of the facts it rests on). The brief shows the newest set
written on or before its date, or says plainly that none had been written by then.
"""

from __future__ import annotations

from .. import analysis as an
from ..cite import source_note
from ..data import Dataset
from ..display import Markdown, bullets, source_note_html, strong
from ..fmt import fmt_date

__all__ = ["outlook"]


def _ids(row) -> list[str]:
    more = row.get("other_source_ids")
    extra = [i.strip() for i in str(more).split(";") if i.strip()] if isinstance(more, str) else []
    return [row["source_id"], *extra]


def outlook(ds: Dataset) -> Markdown:
    """The newest outlook written on or before the as-of date, each point with its sources."""
    o = ds.tables.get("outlook")
    if o is None or o.empty:
        return bullets([f"No analyst outlook had been written by {fmt_date(an.cutoff(ds))}."])
    newest = o["date"].max()
    entry = o[o["date"] == newest].sort_values(["order", "outlook_id"])
    known = set(ds.sources["source_id"])
    lines: list = [[f"Written as of {fmt_date(newest)}; judgement, not data."]]
    for r in entry.to_dict("records"):
        ids = [i for i in _ids(r) if i in known]
        lines.append([strong(str(r["question"])), " " + str(r["text"]) + (f" [{', '.join(ids)}]" if ids else "")])
    every = [i for r in entry.to_dict("records") for i in _ids(r) if i in known]
    md = bullets(lines)
    note = source_note(ds, list(dict.fromkeys(every)))
    return Markdown(md.text + "\n\n" + note, md.html + f'<p class="source-note">{source_note_html(note)}</p>')
