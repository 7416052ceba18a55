"""The opening of the brief: key figures, executive summary and what the data covers.

Every number in these sentences is computed here from the analysis tables; analysts write the
narrative around them in markdown, without typing numbers.
"""

from __future__ import annotations

import pandas as pd

from .. import analysis as an
from ..cite import kiel_source, source_label
from ..data import Dataset
from ..display import KeyFigures, Markdown, bullets
from ..fmt import fmt_date, fmt_money, fmt_pct
from .article import ARTICLE_SOURCE

__all__ = ["key_figures", "summary_bullets", "data_coverage_text"]


def key_figures(ds: Dataset, currency: str = "EUR") -> KeyFigures:
    """The title block's headline figures, each with where it comes from."""
    h = an.headline_figures(ds, currency)
    kiel = f"source: {kiel_source(ds) or 'Kiel'}"
    return KeyFigures([
        (str(h["members"]), "states in the coalition", "attendance + roles"),
        (str(h["force_offering"]), "of them offer forces (lead, ground, air or sea)", "roles as reported"),
        (fmt_money(h["alloc_coalition"], currency), "allocated by coalition members since 2022", kiel),
        (fmt_money(h["alloc_us"], currency), "allocated by the United States", kiel),
        (fmt_money(h["alloc_eu"], currency), "allocated by EU institutions", kiel),
        (fmt_date(h["last_meeting_date"]) if h["last_meeting_date"] else "–",
         f"latest meeting ({h['last_meeting_place'] or '–'})", "meetings"),
    ])


def summary_bullets(ds: Dataset, currency: str = "EUR", *, ceasefire_stances: int = 4) -> Markdown:
    """Executive summary bullets; each number comes from the analysis functions.

    ``ceasefire_stances``: how many of the newest ceasefire stances to name.
    """
    h = an.headline_figures(ds, currency)
    by_role = an.membership_by_role(ds).set_index("role")["states"]
    lines = []
    first = ds.meetings["date"].min()
    lines.append(
        f"**{h['members']} states** are in the coalition as of {fmt_date(h['as_of'])}: they attended "
        f"at least one of its **{h['meetings']} meetings** since {fmt_date(first)} "
        f"and have not left it. {h['force_offering']} offer forces "
        f"({int(by_role.get('lead_nation', 0))} lead nations, {int(by_role.get('ground_forces', 0))} ground forces, "
        f"{int(by_role.get('air_maritime', 0))} air or maritime); {int(by_role.get('logistics_training', 0))} offer "
        f"logistics or training only and {h['declined']} have ruled out troops.")
    if h["alloc_total"]:
        lines.append(
            f"Coalition members have allocated **{fmt_money(h['alloc_coalition'], currency)}** to Ukraine since "
            f"January 2022, {fmt_pct(h['alloc_coalition'], h['alloc_total'])} of all government aid Kiel tracks; "
            f"EU institutions {fmt_money(h['alloc_eu'], currency)}, the United States "
            f"{fmt_money(h['alloc_us'], currency)}.")
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
    force = p[p["topic"] == "coalition_force"]
    if len(force):
        opp = force[force["stance"] == "oppose"]["actor"].tolist()
        sup = force[force["stance"].isin(["support", "conditional"])]
        lines.append(
            f"On the reassurance force, {len(sup)} of {len(force)} actors tracked support it outright or with "
            f"conditions; opposed: {', '.join(opp) or 'none'}.")
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
        lines.append(f"{source_label(ds, kiel_source(ds))}: {len(acts):,} aid sub-activities announced "
                     f"{fmt_date(d.min())} to {fmt_date(d.max())} "
                     f"({int(acts['date'].isna().sum())} undated), {acts['donor_id'].nunique()} donors.")
    for name, label in (("meetings", "coalition meetings"), ("positions", "dated positions"),
                        ("events", "timeline events"), ("claims", "reported facts and figures")):
        df = ds.table(name)
        d = df["date"].dropna()
        if len(d):
            lines.append(f"{len(df)} {label}, {fmt_date(d.min())} to {fmt_date(d.max())}"
                         + (f" ({int(df['date'].isna().sum())} undated)" if df["date"].isna().any() else "") + ".")
    n_art = int((ds.claims["source_id"] == ARTICLE_SOURCE).sum())
    lines.append(f"The founding article: {n_art} facts recorded one by one (it carries no date).")
    return bullets(lines)
