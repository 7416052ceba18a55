"""What changed since the last brief (or profile): this build's snapshot against the previous one.

The notebook passes ``compare_to``: the previous build's snapshot (or its manifest), which the
build finds in the output folder by default. :func:`changes` computes this report's snapshot
(:func:`coalition_report.snapshot.make_snapshot`), compares it with the previous one and lists,
each item with its source ids (linked to the report's Sources): the headline figures that moved;
states that joined, left or changed role; new meetings and who was named at them; aid (per donor,
measure and type, with the change in the donor's figure and the new Kiel activity rows behind it;
new or corrected announcements); stances that moved and new statements; new events; new, corrected
and no longer cited sources. With nothing to compare with, or nothing changed, it says so.

The returned object also carries the new snapshot (in a private mimetype the exports drop): the
build writes it beside the manifest for the next build to compare with.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from .. import analysis as an
from ..cite import kiel_source, source_note, used_sources
from ..data import Dataset
from ..display import Markdown
from ..fmt import fmt_date, fmt_money
from ..textsafe import escape_markdown as _md  # data as literal markdown text
from ..snapshot import (HEADLINE_LABELS, MIME_SNAPSHOT, PARTS, describe, diff_snapshots, has_changes,
                        load_snapshot, make_snapshot)

__all__ = ["changes", "Changes"]

_PART_LABELS = {"headline": "Headline figures", "members": "Membership and roles", "meetings": "Meetings",
                "aid": "Aid", "positions": "Positions", "events": "Events", "sources": "Sources"}
_STATUS = {"attended": "attended", "observer": "observer", "absent": "absent", None: "not named"}


class Changes:
    """The "what changed" section: text for the exports plus the snapshot for the next build.

    Attributes
    ----------
    snapshot : dict
        This report's snapshot (what the build writes beside the manifest).
    previous : dict or None
        The snapshot compared with.
    diff : dict or None
        :func:`coalition_report.snapshot.diff_snapshots` of the two.
    markdown : Markdown
        What the reader sees.
    """

    def __init__(self, markdown: Markdown, snapshot: dict, previous: dict | None, diff: dict | None):
        self.markdown, self.snapshot, self.previous, self.diff = markdown, snapshot, previous, diff

    @property
    def text(self) -> str:
        return self.markdown.text

    @property
    def html(self) -> str:
        return self.markdown.html

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = self.markdown._repr_mimebundle_()
        bundle[MIME_SNAPSHOT] = self.snapshot
        return bundle


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _signed_money(delta: float, currency: str) -> str:
    return ("+" if delta > 0 else "−") + fmt_money(abs(delta), currency)


def _day(value: Any) -> str:
    return fmt_date(value) if value else "undated"


def changes(ds: Dataset, compare_to: str | None = "", currency: str = "EUR", *, country: str | None = None,
            limit: int = 30) -> Changes:
    """What changed since the previous build of this report.

    Parameters
    ----------
    ds : Dataset
        This report's dataset (as returned by ``brief.setup``/``brief.setup_profile``).
    compare_to : str
        The previous build's snapshot or manifest (path); ``""`` = nothing to compare with.
    currency : str
        Display currency (amounts are compared in euros and shown at this report's rate).
    country : str, optional
        ISO3 code in a country profile: only that state's records are compared.
    limit : int
        Items shown per part at most; the rest are counted ("… and 12 more").
    """
    snap = make_snapshot(ds, currency, country=country)
    previous = load_snapshot(compare_to or None)
    if previous is not None and str(previous.get("as_of") or "") > str(snap.get("as_of") or ""):
        previous = None  # an edition as of a later date is not an earlier edition: never compared with
    word = "profile" if country else "brief"
    diff = diff_snapshots(previous, snap) if previous is not None else None
    refs = used_sources(ds, country)  # what the report's Sources list holds
    r = _Renderer(ds, currency, refs, limit)
    if previous is None:
        r.para(f"There is no earlier edition of this {word} to compare with.")
    elif not diff["comparable"]:
        r.para(f"The earlier edition offered for comparison is of {describe(previous)}, not of {describe(snap)}: "
               "nothing was compared.")
    else:
        r.para(f"Compared with the previous {word}, as of {_day(previous.get('as_of'))}.", *_notes(diff, word))
        if not has_changes(diff):
            r.para(f"Nothing changed since the previous {word}: the same "
                   + ("role, meetings, aid figures, positions, events and sources." if country else
                      "members and roles, meetings, aid figures, positions, events and sources."))
        else:
            for part in PARTS:
                items = diff[part]
                if items:
                    r.part(_PART_LABELS[part], [r.item(part, it, diff) for it in items])
    return Changes(r.markdown(), snap, previous, diff)


def _notes(diff: Mapping[str, Any], word: str) -> list[str]:
    notes = diff["notes"]
    out = []
    if "as_of" in notes:
        old, new = notes["as_of"]
        if (old or "") < (new or ""):
            out.append(f"That {word} was as of {_day(old)}, this one is as of {_day(new)}: the list includes what "
                       "became known in between.")
        else:
            out.append(f"That {word} was as of {_day(old)}, this one is as of an earlier date, {_day(new)}: records "
                       "known only later show as removed.")
    if "currency" in notes:
        old, new = notes["currency"]
        out.append(f"That {word} showed amounts in {old}; amounts here are in {new} at this {word}'s rate.")
    if "aid_basis" in notes:
        old, _ = notes["aid_basis"]
        was = "sums of Kiel activity rows dated by then" if old else "Kiel's donor totals"
        now = "Kiel's donor totals" if old else "sums of Kiel activity rows dated by the as-of date"
        out.append(f"Its aid figures were {was}, this {word}'s are {now}: the aid changes partly reflect that.")
    return out


class _Renderer:
    """Builds the section's HTML (escaped data, source ids linked to Sources) and markdown."""

    def __init__(self, ds: Dataset, currency: str, refs: set[str], limit: int):
        self.ds, self.currency, self.refs, self.limit = ds, currency, refs, limit
        self.html: list[str] = []
        self.md: list[str] = []
        self.cited: list[str] = []

    # -- output -------------------------------------------------------------------------------
    def para(self, *sentences: str) -> None:
        text = " ".join(sentences)
        self.html.append(f"<p>{_esc(text)}</p>")
        self.md.append(_md(text))

    def part(self, label: str, items: list[tuple[str, list[str]]]) -> None:
        shown = items[: self.limit]
        lis, mds = [], []
        for text, ids in shown:
            link, plain = self._cite(ids)
            lis.append(f"<li>{_esc(text)}{link}</li>")
            mds.append(f"- {_md(text)}{_md(plain)}")
        if len(items) > len(shown):
            more = f"… and {len(items) - len(shown)} more."
            lis.append(f"<li>{_esc(more)}</li>")
            mds.append(f"- {more}")
        self.html.append(f'<p class="changes-part"><strong>{_esc(label)}</strong></p><ul>{"".join(lis)}</ul>')
        self.md.append(f"**{_md(label)}**\n\n" + "\n".join(mds))

    def _cite(self, ids: list[str]) -> tuple[str, str]:
        if not ids:
            return "", ""
        listed = [i for i in ids if i in self.refs]
        # Cite what the report's Sources list; only when none is listed any more (a removed
        # record), name the previous build's ids, marked as such.
        gone = [] if listed else list(ids)
        links = [f'<a href="#src-{_esc(i)}">{_esc(i)}</a>' for i in listed]
        links += [f"{_esc(i)} (no longer cited)" for i in gone]
        self.cited += [i for i in listed if i not in self.cited]
        plain = ", ".join(listed + [f"{i} (no longer cited)" for i in gone])
        return f" [{', '.join(links)}]", f" [{plain}]"

    def markdown(self) -> Markdown:
        text, markup = "\n\n".join(self.md), "".join(self.html)
        if self.cited:
            note = source_note(self.ds, self.cited)
            text += "\n\n" + _md(note)
            markup += f'<p class="source-note">{_esc(note)}</p>'
        return Markdown(text, f'<div class="changes">{markup}</div>')

    # -- items --------------------------------------------------------------------------------
    def money(self, eur: float | None) -> str:
        if eur is None:
            return "n/a"
        return fmt_money(float(an.to_currency(eur, self.ds, self.currency)), self.currency)

    def delta(self, old: float | None, new: float | None) -> str:
        if old is None or new is None:
            return ""
        d = float(an.to_currency(new - old, self.ds, self.currency))
        return f" ({_signed_money(d, self.currency)})"

    def item(self, part: str, it: Mapping[str, Any], diff: Mapping[str, Any]) -> tuple[str, list[str]]:
        return getattr(self, f"_{part}")(it, diff)

    def _headline(self, it, diff) -> tuple[str, list[str]]:
        label, kind = HEADLINE_LABELS[it["key"]]
        old, new = it["old"], it["new"]
        if kind == "money":
            text = f"{label}: {self.money(old)} → {self.money(new)}{self.delta(old, new)}"
            kiel = kiel_source(self.ds)
            ids = _part_ids(diff, "aid", "figure") or ([kiel] if kiel else [])
        elif kind == "count":
            d = "" if old is None or new is None else f" ({new - old:+d})"
            text = f"{label}: {'n/a' if old is None else old} → {'n/a' if new is None else new}{d}"
            ids = _part_ids(diff, _HEADLINE_PART.get(it["key"], "members"))
        else:
            text = f"{label}: {_text(old)} → {_text(new)}"
            ids = _part_ids(diff, _HEADLINE_PART.get(it["key"], "members"))
        return text + ".", ids

    def _members(self, it, diff) -> tuple[str, list[str]]:
        when = f", reported {_day(it.get('date'))}" if it.get("date") else ""
        if it["change"] == "joined":
            text = f"Joined: {it['name']} ({it['role']}{when})."
        elif it["change"] == "left":
            now = f"now {it['role']}" if it.get("role") else "no longer named at a leaders' meeting"
            text = f"Left: {it['name']} (was {it['old_role']}; {now}{when})."
        else:
            was = it["old_role"] or "no role reported"
            who = it["name"] + ("" if it.get("member") else " (not a member)")
            text = f"Changed role: {who}: {was} → {it['role']}{when}"
            text += f"; as reported: “{it['as_reported']}”." if it.get("as_reported") else "."
        return text, it["sources"]

    def _meetings(self, it, diff) -> tuple[str, list[str]]:
        where = f"{_day(it.get('date'))}, {it.get('place')} ({str(it.get('level') or '').replace('_', ' ')})"
        names = self.ds.actors.set_index("actor_id")["name"]
        if it["change"] == "new":
            present = it.get("present") or []
            if (diff.get("old") or {}).get("scope"):  # a profile: the state was named there
                text = (f"New meeting: {where}; named present." if present else
                        f"New meeting: {where}; not named present.")
            else:
                text = f"New meeting: {where}; {len(present)} states and organisations named present."
        elif it["change"] == "attendance":
            parts = [f"{names.get(a, a)} {_STATUS.get(o, o)} → {_STATUS.get(n, n)}" for a, (o, n) in it["statuses"].items()]
            parts += [f"{names.get(a, a)} no longer named" for a in it.get("dropped", [])]
            text = f"Attendance at the meeting of {where}: " + "; ".join(parts) + "."
        elif it["change"] == "corrected":
            text = f"Meeting record corrected: {where}."
        else:
            text = f"Meeting no longer in the data: {where}."
        return text, it["sources"]

    def _aid(self, it, diff) -> tuple[str, list[str]]:
        c = it["change"]
        if c == "figure":
            what = f"{it['name']}, {it['aid_type']} {it['measure']}s"
            old, new = it["old"], it["new"]
            if old == new:
                text = f"{what}: unchanged at {self.money(new)} in Kiel's donor totals"
            elif old is None:
                text = f"{what}: {self.money(new)} (new in the data)"
            else:
                text = f"{what}: {self.money(old)} → {self.money(new)}{self.delta(old, new)}"
            if it.get("rows_added"):
                n = it["rows_added"]
                rows = f"{abs(n)} activity row{'s' if abs(n) != 1 else ''}"
                text += (f"; {rows} added ({_signed_money(float(an.to_currency(it['rows_eur'], self.ds, self.currency)), self.currency)})"
                         if n > 0 else f"; {rows} fewer")
            elif it.get("rows_eur"):
                text += (f"; activity rows revised "
                         f"({_signed_money(float(an.to_currency(it['rows_eur'], self.ds, self.currency)), self.currency)})")
            if it.get("donor_new") is not None and it.get("donor_old") != it.get("donor_new"):
                text += f"; {it['name']}'s total {it['measure']}s now {self.money(it['donor_new'])}"
            return text + ".", it["sources"]
        amount = (f"{it['currency']} {fmt_money(it['amount'], '').strip()}" if it.get("amount") is not None
                  else "amount not stated")
        what = f"{it['name']}, {_day(it.get('date'))}, {it.get('aid_type')}: {amount}"
        desc = f" ({it['description']})" if it.get("description") else ""
        kind = c.removeprefix("announcement_")
        text = {"new": f"New announcement: {what}{desc}.",
                "corrected": f"Announcement corrected: {what}{desc}.",
                "removed": f"Announcement no longer in the data: {what}.",
                "new_source": f"Another source for the announcement {it.get('same_as')}: {what}.",
                "corrected_source": f"Restated announcement corrected: {what}.",
                "removed_source": f"A source of the announcement {it.get('same_as')} no longer in the data.",
                }[kind]
        return text, it["sources"]

    def _positions(self, it, diff) -> tuple[str, list[str]]:
        c = it["change"]
        who = f"{it.get('actor')} on {str(it.get('topic_label') or it.get('topic', '')).lower()}"
        if c == "moved":
            text = f"{who}: {it['old_stance']} → {it['stance']} ({_day(it.get('date'))})."
        elif c == "new_stance":
            text = f"{who}: {it['stance']} ({_day(it.get('date'))}), its first stance in the data."
        elif c == "no_stance":
            text = f"{who}: no stance recorded any more (was {it['old_stance']})."
        elif c == "statement_new":
            text = f"New statement: {who}, {it['stance']} ({_day(it.get('date'))}); newest stance unchanged."
        elif c == "statement_corrected":
            text = f"Statement corrected: {who}, {it['stance']} ({_day(it.get('date'))})."
        else:
            text = f"Statement no longer in the data: {who}, {it['stance']} ({_day(it.get('date'))})."
        return text, it["sources"]

    def _events(self, it, diff) -> tuple[str, list[str]]:
        lead = {"new": "New event", "corrected": "Event corrected", "removed": "Event no longer in the data"}
        return f"{lead[it['change']]}: {_day(it.get('date'))}, {it.get('title')}.", it["sources"]

    def _sources(self, it, diff) -> tuple[str, list[str]]:
        lead = {"new": "New source", "corrected": "Source entry corrected", "removed": "No longer cited"}
        title = f", {it['title']}" if it.get("title") else ""
        pub = f" ({it['published']})" if it.get("published") else ""
        return f"{lead[it['change']]}: {it.get('publisher')}{title}{pub}.", it["sources"]


def _text(v: Any) -> str:
    return "n/a" if v is None else str(v)


#: Which part's items support a headline figure.
_HEADLINE_PART = {"members": "members", "force_offering": "members", "declined": "members", "member": "members",
                  "role": "members", "meetings": "meetings", "leaders_meetings": "meetings",
                  "last_meeting": "meetings", "meetings_present": "meetings", "donor_rank": "aid"}


def _part_ids(diff: Mapping[str, Any], part: str, change: str | None = None) -> list[str]:
    """The source ids of a part's items (those of kind ``change``), at most six."""
    out: list[str] = []
    for it in diff.get(part) or []:
        if change is not None and it.get("change") != change:
            continue
        for i in it.get("sources") or []:
            if i not in out:
                out.append(i)
    return out[:6]
