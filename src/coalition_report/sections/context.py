"""Context of the force: the US backstop, Russia's position, national approvals, financing and
the EU's role beside the coalition's.

Dated statements come from ``statements.csv`` (subjects ``us_backstop`` and ``russia_position``)
together with the United States' and Russia's rows in ``positions.csv``; approvals from
``approvals.csv``; financing from ``financing.csv``; the EU's decisions from ``events.csv`` (kind
``eu_decision``) and the EU institutions' rows in ``financing.csv``. All are cut by the as-of rule.
"""

from __future__ import annotations

import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, source_note, top_sources
from ..data import Dataset
from ..display import Markdown, Table, bullets, source_note_html, strong
from ..fmt import date_column, fmt_date, fmt_money, quoted

__all__ = ["table_us_backstop", "table_russia_position", "table_approvals", "table_financing", "table_eu_role",
           "context_summary", "EU_ACTORS"]

#: Actor ids of the EU's institutions and instruments (CURATION.md).
EU_ACTORS = ("eu-institutions", "eu-commission", "european-council", "eu-high-rep", "epf", "eib")
_STATUS = {"required": "approval required", "reform_proposed": "reform of the rule proposed",
           "consensus_stated": "government–parliament consensus stated", "limits_stated": "legal limits stated",
           "granted": "granted", "refused": "refused"}
_QUAL = {"about": "about ", "up_to": "up to ", "at_least": "at least ", "more_than": "more than "}


def _frame(ds: Dataset, name: str) -> pd.DataFrame:
    df = ds.tables.get(name)
    return df.copy() if df is not None else pd.DataFrame()


def _names(ds: Dataset) -> pd.Series:
    return ds.actors.set_index("actor_id")["name"]


def _empty(ds: Dataset, what: str, caption: str) -> Table:
    return Table(pd.DataFrame({"Note": [f"No {what} recorded by {fmt_date(an.cutoff(ds))}"]}), caption=caption,
                 source_note=source_note(ds, []))


def statements(ds: Dataset, actor_id: str, subject: str) -> pd.DataFrame:
    """One frame of dated statements by ``actor_id``: its ``statements.csv`` rows on ``subject``
    and its ``positions.csv`` rows (with their topic and stance), oldest first."""
    cols = ["date", "speaker", "what", "quote", "source_id", "confidence"]
    parts = []
    s = _frame(ds, "statements")
    if len(s):
        s = s[(s["actor_id"] == actor_id) & (s["subject"] == subject)]
        parts.append(s.assign(what=s["summary"])[cols])
    p = _frame(ds, "positions")
    if len(p):
        p = p[p["actor_id"] == actor_id]
        topic = p["topic"].str.replace("_", " ").str.replace("coalition force", "the force")
        parts.append(p.assign(what=p["summary"] + " (" + topic + ": " + p["stance"] + ")")[cols])
    parts = [x for x in parts if len(x)]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True).sort_values(["date", "speaker"], na_position="last").reset_index(drop=True)


def _statement_table(ds: Dataset, actor_id: str, subject: str, caption: str, what: str) -> Table:
    st = statements(ds, actor_id, subject)
    if st.empty:
        return _empty(ds, what, caption)
    out = pd.DataFrame({"Date": date_column(st["date"]), "Speaker": st["speaker"].fillna("–"),
                        "Statement": st["what"], "Quote": st["quote"].map(quoted),
                        "Source": st["source_id"] + confidence_flag(st["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(st["source_id"], 8),
                                                               "Stances in brackets follow the brief's coding rules"))


def table_us_backstop(ds: Dataset, *, caption: str = "The US backstop: dated statements") -> Table:
    """What the United States has said about backing a European force and about guarantees."""
    return _statement_table(ds, "USA", "us_backstop", caption, "US statement on a backstop")


def table_russia_position(ds: Dataset, *, caption: str = "Russia's position: dated statements by speaker") -> Table:
    """Russia's statements on the force, guarantees and a ceasefire, by speaker (Russian official
    and state sources are used only for Russia's own position)."""
    return _statement_table(ds, "RUS", "russia_position", caption, "Russian statement")


def table_approvals(ds: Dataset, country: str | None = None, *,
                    caption: str = "Mandate and national approvals a deployment needs") -> Table:
    """Per state: which body must approve what, the status, the date it was stated, the source
    (``country``: one state's, for a country profile)."""
    a = _frame(ds, "approvals")
    if country and len(a):
        a = a[a["actor_id"] == country]
    if a.empty:
        return _empty(ds, "national approval requirement", caption)
    a["state"] = a["actor_id"].map(_names(ds)).fillna(a["actor_id"])
    a = a.sort_values(["state", "date"])
    out = pd.DataFrame({"State": a["state"], "Date": date_column(a["date"]), "Body": a["body"],
                        "Needed for": a["requirement"], "Status": a["status"].map(_STATUS).fillna(a["status"]),
                        "As reported": a["as_reported"],
                        "Source": a["source_id"] + confidence_flag(a["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(a["source_id"], 8)))


def _amount(r) -> str:
    if pd.isna(r["amount"]):
        return "–"
    q = _QUAL.get(r["qualifier"], "") if isinstance(r["qualifier"], str) else ""
    return q + fmt_money(r["amount"], r["currency"])


def table_financing(ds: Dataset, *, caption: str = "Financing: loans, Russian assets, needs") -> Table:
    """Loans, the reparations-loan question, immobilised assets and estimates of needs, oldest first,
    each amount in the currency the source reports (never converted or added up)."""
    f = _frame(ds, "financing")
    if f.empty:
        return _empty(ds, "financing decision", caption)
    f["who"] = f["actor_id"].map(_names(ds)).fillna(f["actor_id"])
    f = f.sort_values(["date", "financing_id"])
    out = pd.DataFrame({"Date": date_column(f["date"]), "Who": f["who"],
                        "Instrument": f["instrument"].str.replace("_", " "), "Status": f["status"],
                        "Amount as reported": [_amount(r) for r in f.to_dict("records")],
                        "What": f["description"], "Source": f["source_id"] + confidence_flag(f["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(f["source_id"], 8),
                                                               "Amounts are as reported and are not added up"))


def table_eu_role(ds: Dataset, *, caption: str = "The EU's role beside the coalition's") -> Table:
    """The EU's dated decisions (events of kind ``eu_decision``) and the EU institutions' financing rows."""
    names = _names(ds)
    parts = []
    e = _frame(ds, "events")
    if len(e):
        e = e[e["kind"] == "eu_decision"]
        parts.append(pd.DataFrame({"date": e["date"], "who": e["actor_id"].map(names).fillna("EU"),
                                   "what": e["title"] + e["description"].map(lambda d: f": {d}" if isinstance(d, str) and d else ""),
                                   "source_id": e["source_id"], "confidence": e["confidence"]}))
    f = _frame(ds, "financing")
    if len(f):
        f = f[f["actor_id"].isin(EU_ACTORS)]
        parts.append(pd.DataFrame({"date": f["date"], "who": f["actor_id"].map(names).fillna(f["actor_id"]),
                                   "what": f["description"] + " (" + f["status"] + ")",
                                   "source_id": f["source_id"], "confidence": f["confidence"]}))
    parts = [x for x in parts if len(x)]
    if not parts:
        return _empty(ds, "EU decision", caption)
    rows = pd.concat(parts, ignore_index=True).sort_values(["date", "who"]).reset_index(drop=True)
    out = pd.DataFrame({"Date": date_column(rows["date"]), "Who": rows["who"], "What": rows["what"],
                        "Source": rows["source_id"] + confidence_flag(rows["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, top_sources(rows["source_id"], 8)))


def context_summary(ds: Dataset) -> Markdown:
    """Four computed sentences: approvals, the US backstop, Russia's position and financing."""
    cut = fmt_date(an.cutoff(ds))
    lines: list = []
    a = _frame(ds, "approvals")
    if len(a):
        req = a[a["status"] == "required"]
        states = sorted(set(req["actor_id"].map(_names(ds)).fillna(req["actor_id"])))
        lines.append([strong(f"{len(states)} state{'s' if len(states) != 1 else ''}"),
                      " had said by " + cut + " that a deployment needs a national vote or mandate"
                      + (f" ({', '.join(states)})" if states else "") + "."])
    us = statements(ds, "USA", "us_backstop")
    if len(us):
        last = us.iloc[-1]
        lines.append([strong("United States: "), f"{len(us)} dated statements; the latest ({fmt_date(last['date'])}): "
                      + str(last["what"])])
    ru = statements(ds, "RUS", "russia_position")
    if len(ru):
        speakers = sorted(set(ru["speaker"].dropna()))
        lines.append([strong("Russia: "), f"{len(ru)} dated statements"
                      + (f" by {len(speakers)} speakers" if speakers else "")
                      + f"; the latest ({fmt_date(ru.iloc[-1]['date'])}): " + str(ru.iloc[-1]["what"])])
    f = _frame(ds, "financing")
    if len(f):
        last = f.sort_values("date").iloc[-1]
        lines.append([strong("Financing: "), f"{len(f)} dated decisions, proposals or estimates; the latest "
                      f"({fmt_date(last['date'])}): {last['description']}."])
    if not lines:
        lines = [f"No statements on the backstop, approvals or financing are recorded by {cut}."]
    md = bullets(lines)
    ids = [*a.get("source_id", []), *us["source_id"], *ru["source_id"], *f.get("source_id", [])]
    note = source_note(ds, top_sources(ids, 8))
    return Markdown(md.text + "\n\n" + note, md.html + f'<p class="source-note">{source_note_html(note)}</p>')
