"""The opening of the brief: key figures, executive summary and what the data covers.

Every number in these sentences is computed here from the analysis tables; analysts write the
narrative around them in markdown, without typing numbers.
"""

from __future__ import annotations

import pandas as pd

from .. import analysis as an
from ..cite import kiel_source, source_label
from ..data import Dataset
from ..display import KeyFigures, Markdown, bullets, strong
from ..fmt import fmt_date, fmt_money, fmt_pct
from .article import ARTICLE_SOURCE

__all__ = ["key_figures", "summary_bullets", "data_coverage_text", "dateline"]


def _n(n: int, one: str, many: str) -> str:
    """``3 offer`` / ``1 offers``: a count with its verb agreeing."""
    return f"{n} {one if n == 1 else many}"


def newest_event(ds: Dataset):
    """The newest dated event the brief covers: meetings, positions, events and announcements."""
    days = [ds.table(n)["date"].dropna().max() for n in ("meetings", "positions", "events", "aid_announcements")
            if n in ds.tables and len(ds.table(n)) and ds.table(n)["date"].notna().any()]
    return max(days).date() if days else None


def dateline(ds: Dataset) -> Markdown:
    """What the brief covers, for the cover and running header: "Events to 4 March 2026".

    The knowledge cut-off (the as-of date: only sources published by then are used) follows
    when it differs from the newest event.
    """
    newest, cut = newest_event(ds), an.cutoff(ds)
    first = f"Events to {fmt_date(newest)}" if newest else f"As of {fmt_date(cut)}"
    second = f"Knowledge cut-off {fmt_date(cut)}" if newest and newest != cut else ""
    text = first + (f" · {second}" if second else "")
    import html as _h
    markup = (f'<p class="report-dateline">{_h.escape(first)}</p>'
              + (f'<p class="report-cutoff">{_h.escape(second)}</p>' if second else ""))
    return Markdown(text, markup)


def key_figures(ds: Dataset, currency: str = "EUR") -> KeyFigures:
    """The title block's headline figures, each with where it comes from."""
    h = an.headline_figures(ds, currency)
    kiel = f"Kiel tracker [{kiel_source(ds)}]" if kiel_source(ds) else "Kiel tracker"
    return KeyFigures([
        (str(h["members"]), "states in the coalition", "named at its meetings, not left"),
        (str(h["force_offering"]), "of them offer forces (lead, ground, air or sea)", "their roles as reported"),
        (fmt_money(h["alloc_coalition"], currency), "allocated by coalition members since 2022", kiel),
        (fmt_money(h["alloc_us"], currency), "allocated by the United States", kiel),
        (fmt_money(h["alloc_eu"], currency), "allocated by EU institutions", kiel),
        (fmt_date(h["last_meeting_date"]) if h["last_meeting_date"] else "–",
         f"latest meeting ({h['last_meeting_place'] or '–'})", "meeting readouts"),
    ])


def summary_bullets(ds: Dataset, currency: str = "EUR", *, ceasefire_stances: int = 4) -> Markdown:
    """Executive summary bullets; each number comes from the analysis functions.

    ``ceasefire_stances``: how many of the newest ceasefire stances to name.
    """
    h = an.headline_figures(ds, currency)
    by_role = an.membership_by_role(ds).set_index("role")["states"]
    lines: list = []
    first = ds.meetings["date"].min()
    lines.append([
        strong(f"{h['members']} states"), f" are in the coalition as of {fmt_date(h['as_of'])}: each was named "
        "present at one or more of its ", strong(f"{h['leaders_meetings']} leaders' meetings"),
        f" ({h['meetings']} coalition meetings of all levels since {fmt_date(first)}) and has not left it. "
        f"{_n(h['force_offering'], 'offers', 'offer')} forces ({_n(int(by_role.get('lead_nation', 0)), 'lead nation', 'lead nations')}, "
        f"{int(by_role.get('ground_forces', 0))} ground forces, {int(by_role.get('air_maritime', 0))} air or "
        f"maritime); {_n(int(by_role.get('logistics_training', 0)), 'offers', 'offer')} logistics or training "
        f"only and {_n(h['declined'], 'has', 'have')} ruled out troops."])
    if h["alloc_total"]:
        lines.append([
            "Coalition members have allocated ", strong(fmt_money(h["alloc_coalition"], currency)),
            f" to Ukraine since January 2022, {fmt_pct(h['alloc_coalition'], h['alloc_total'])} of all government "
            f"aid Kiel tracks; EU institutions {fmt_money(h['alloc_eu'], currency)}, the United States "
            f"{fmt_money(h['alloc_us'], currency)}."
            + (" These are sums of Kiel's activity rows dated by the as-of date: the Kiel release in the data "
               "was published later (see Methods)." if ds.kiel_reconstructed else "")])
    m = an.aid_monthly(ds, currency)
    m = m[m["month"].notna()]
    if len(m):
        end = m["month"].max()
        last = m[m["month"] > end - pd.DateOffset(months=12)].groupby("group")["value"].sum()
        tot = last.sum()
        lines.append(
            f"In the twelve months to {end:%B %Y}, Europe allocated {fmt_money(last.get('Europe', 0), currency)} "
            f"({fmt_pct(last.get('Europe', 0), tot)}), the United States "
            f"{fmt_money(last.get('United States', 0), currency)} "
            f"({fmt_pct(last.get('United States', 0), tot)}) and others {fmt_money(last.get('Other', 0), currency)}.")
    g = an.aid_share_of_gdp(ds)
    if len(g) >= 3:
        lines.append("Relative to GDP the largest donors are " + ", ".join(
            f"{r.name} ({r.share_of_gdp_pct:.2f}%)" for r in g.head(3).itertuples()) + ".")
    p = an.positions_matrix(ds)
    force = an.stance_counts(ds, "coalition_force")
    tracked = sum(len(v) for v in force.values())
    if tracked:
        parts = [f"{s} {len(force[s])} ({', '.join(force[s])})" for s in an.STANCE_ORDER if force[s]]
        lines.append(f"On the reassurance force, the newest stances of the {tracked} actors tracked are: "
                     + "; ".join(parts) + ".")
    cf = p[p["topic"] == "ceasefire"]
    if len(cf):
        lines.append("Newest ceasefire stances: " + "; ".join(
            f"{r.actor} {r.stance} ({fmt_date(r.date)})"
            for r in cf.sort_values("date", ascending=False).head(ceasefire_stances).itertuples()) + ".")
    return bullets(lines)


def data_coverage_text(ds: Dataset) -> Markdown:
    """One line per source family: what period it covers."""
    acts = ds.aid_activities
    lines = []
    if len(acts):
        d = acts["date"].dropna()
        kiel = kiel_source(ds)
        label = source_label(ds, kiel) if kiel in set(ds.sources["source_id"]) else kiel
        if ds.kiel_reconstructed:
            lines.append(f"{label} (published after this brief's date; known from {fmt_date(ds.kiel_known)}): "
                         f"{len(acts):,} aid sub-activities announced {fmt_date(d.min())} to {fmt_date(d.max())} "
                         f"are used, {acts['donor_id'].nunique()} donors; rows dated later or undated are left out.")
        else:
            lines.append(f"{label}: {len(acts):,} aid sub-activities announced {fmt_date(d.min())} to "
                         f"{fmt_date(d.max())} ({int(acts['date'].isna().sum())} undated), "
                         f"{acts['donor_id'].nunique()} donors.")
    for name, label in (("meetings", "coalition meetings"), ("positions", "dated positions"),
                        ("events", "timeline events"), ("claims", "reported facts and figures")):
        df = ds.table(name)
        d = df["date"].dropna()
        if len(d):
            lines.append(f"{len(df)} {label}, {fmt_date(d.min())} to {fmt_date(d.max())}"
                         + (f" ({int(df['date'].isna().sum())} undated)" if df["date"].isna().any() else "") + ".")
    n_art = int((ds.claims["source_id"] == ARTICLE_SOURCE).sum())
    if n_art:
        lines.append(f"The founding article: {n_art} facts recorded one by one.")
    cited, later = an.cited_source_ids(ds), an.later_series_ids(ds)
    lines.append(f"{len(cited)} sources are cited: {len(cited - later)} published by {fmt_date(an.cutoff(ds))}"
                 + (f" and {len(later)} series compiled later, of which only the values dated by then are used"
                    if later else "") + ".")
    return bullets(lines)
