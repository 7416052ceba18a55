"""Sentences with numbers in them: every figure the prose of the brief uses is computed here.

Notebooks display these objects; analysts write the narrative around them in markdown, without
typing numbers.
"""

from __future__ import annotations

import html

import pandas as pd

from . import analysis as an
from .charts import fmt_money
from .data import Dataset
from .display import format_date

__all__ = ["KeyFigures", "key_figures", "bullets", "References", "references", "summary_bullets", "Markdown", "data_coverage_text",
           "profile_summary", "article_claims"]


class Markdown:
    """Markdown text shown as HTML (exports) and markdown (JupyterLab)."""

    def __init__(self, text: str, html_text: str):
        self.text, self.html = text, html_text

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/markdown": self.text, "text/html": self.html, "text/plain": self.text}


class KeyFigures:
    """A row of headline figures (value + label + source id), rendered as cards."""

    def __init__(self, items: list[tuple[str, str, str]]):
        self.items = items

    def _repr_mimebundle_(self, include=None, exclude=None):
        cards = "".join(
            f'<div class="kf"><div class="kf-value">{html.escape(v)}</div>'
            f'<div class="kf-label">{html.escape(l)}</div><div class="kf-src">{html.escape(s)}</div></div>'
            for v, l, s in self.items)
        text = "\n".join(f"- **{v}** {l} ({s})" for v, l, s in self.items)
        return {"text/html": f'<div class="key-figures">{cards}</div>', "text/markdown": text,
                "text/plain": text}


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def key_figures(ds: Dataset, currency: str = "EUR") -> KeyFigures:
    """The title block's headline figures."""
    h = an.headline_figures(ds, currency)
    return KeyFigures([
        (str(h["members"]), "states in the coalition", "attendance + roles"),
        (str(h["force_offering"]), "of them offer forces (lead, ground, air or sea)", "roles as reported"),
        (fmt_money(h["alloc_coalition"], currency), "allocated by coalition members since 2022", "Kiel R28"),
        (fmt_money(h["alloc_us"], currency), "allocated by the United States", "Kiel R28"),
        (fmt_money(h["alloc_eu"], currency), "allocated by EU institutions", "Kiel R28"),
        (format_date(str(h["last_meeting_date"])) if h["last_meeting_date"] else "–",
         f"latest meeting ({h['last_meeting_place'] or '–'})", "meetings"),
    ])


def _md_to_html(lines: list[str]) -> str:
    def inline(t: str) -> str:
        t = html.escape(t)
        parts = t.split("**")
        return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    return "<ul>" + "".join(f"<li>{inline(l)}</li>" for l in lines) + "</ul>"


def bullets(lines: list[str]) -> Markdown:
    """A bulleted list (``**bold**`` allowed) as markdown and escaped HTML."""
    return Markdown("\n".join(f"- {line}" for line in lines), _md_to_html(lines))


def summary_bullets(ds: Dataset, currency: str = "EUR") -> Markdown:
    """Executive summary bullets; each number comes from the analysis functions."""
    h = an.headline_figures(ds, currency)
    by_role = an.membership_by_role(ds).set_index("role")["states"]
    lines = []
    first = ds.meetings["date"].min()
    lines.append(
        f"**{h['members']} states** are in the coalition as of {format_date(str(h['as_of']))}: they attended "
        f"at least one of its **{h['meetings']} meetings** since {format_date(first.strftime('%Y-%m-%d'))} "
        f"and have not left it. {h['force_offering']} offer forces "
        f"({int(by_role.get('lead_nation', 0))} lead nations, {int(by_role.get('ground_forces', 0))} ground forces, "
        f"{int(by_role.get('air_maritime', 0))} air or maritime); {int(by_role.get('logistics_training', 0))} offer "
        f"logistics or training only and {h['declined']} have ruled out troops.")
    if h["alloc_total"]:
        lines.append(
            f"Coalition members have allocated **{fmt_money(h['alloc_coalition'], currency)}** to Ukraine since "
            f"January 2022, {_pct(h['alloc_coalition'], h['alloc_total'])} of all government aid Kiel tracks; "
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
            f"({_pct(last.get('Europe', 0), tot)}), the United States {fmt_money(last.get('United States', 0), currency)} "
            f"({_pct(last.get('United States', 0), tot)}) and others {fmt_money(last.get('Other', 0), currency)}.")
    g = an.aid_share_of_gdp(ds)
    if len(g) >= 3:
        top = g.head(3)
        lines.append("Relative to GDP the largest donors are " + ", ".join(
            f"{r.name} ({r.share_of_gdp_pct:.2f}%)" for r in top.itertuples()) + ".")
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
            f"{r.actor} {r.stance} ({format_date(r.date.strftime('%Y-%m-%d'))})"
            for r in cf.sort_values("date", ascending=False).head(4).itertuples()) + ".")
    return bullets(lines)


def data_coverage_text(ds: Dataset) -> Markdown:
    """One line per source family: what period it covers."""
    acts = ds.aid_activities
    lines = []
    if len(acts):
        d = acts["date"].dropna()
        lines.append(f"Kiel Ukraine Support Tracker, Release 28: {len(acts):,} aid sub-activities announced "
                     f"{format_date(d.min().strftime('%Y-%m-%d'))} to {format_date(d.max().strftime('%Y-%m-%d'))} "
                     f"({int(acts['date'].isna().sum())} undated), {acts['donor_id'].nunique()} donors.")
    for name, label in (("meetings", "coalition meetings"), ("positions", "dated positions"),
                        ("events", "timeline events"), ("claims", "reported facts and figures")):
        df = ds.table(name)
        d = df["date"].dropna()
        if len(d):
            lines.append(f"{len(df)} {label}, {format_date(d.min().strftime('%Y-%m-%d'))} to "
                         f"{format_date(d.max().strftime('%Y-%m-%d'))}"
                         + (f" ({int(df['date'].isna().sum())} undated)" if df["date"].isna().any() else "") + ".")
    n_art = int((ds.claims["source_id"] == "article").sum())
    lines.append(f"The founding article: {n_art} facts recorded one by one (it carries no date).")
    return bullets(lines)


def article_claims(ds: Dataset):
    """Every fact of the founding article, in the article's order, as a Table."""
    from .display import Table
    c = ds.claims[ds.claims["source_id"] == "article"].sort_values("_line")
    names = ds.actors.set_index("actor_id")["name"]
    val = [("" if pd.isna(r.value) else (fmt_money(r.value, r.unit) if len(str(r.unit)) == 3 and str(r.unit).isupper()
                                          else f"{r.value:,.0f} {r.unit}")) for r in c.itertuples()]
    out = pd.DataFrame({"#": range(1, len(c) + 1), "Topic": c["topic"].str.replace("_", " "),
                        "Actor": c["actor_id"].map(names).fillna("–"), "Fact as reported": c["statement"],
                        "Quote": c["quote"].map(lambda q: f"“{q}”" if isinstance(q, str) and q else "–"),
                        "Figure": val})
    return Table(out, caption=f"The founding article, fact by fact ({len(out)} facts)",
                 source_note="Source: founding article [article], shipped in data/sources/; no publication date given.")


def profile_summary(ds: Dataset, country: str, currency: str = "EUR") -> Markdown:
    """Bullets for a country profile: role, attendance, aid rank and share of GDP, stances."""
    names = ds.actors.set_index("actor_id")["name"]
    name = names.get(country, country)
    lines = []
    roles = an.current_roles(ds).set_index("actor_id")
    if country in roles.index:
        r = roles.loc[country]
        cond = f" Conditions: {r['conditions']}." if isinstance(r["conditions"], str) and r["conditions"] else ""
        lines.append(f"Role: **{r['role_label']}** (as reported {format_date(r['date'].strftime('%Y-%m-%d'))}: "
                     f"{r['as_reported']}).{cond}")
    else:
        lines.append(f"No role reported for {name} in the data.")
    am = an.attendance_matrix(ds)
    mine = am[(am["actor_id"] == country) & am["status"].isin(["attended", "observer"])]
    total = ds.meetings["meeting_id"].nunique()
    lines.append(f"Named present at **{len(mine)} of {total}** coalition meetings in the data"
                 + (f", first on {format_date(mine['date'].min().strftime('%Y-%m-%d'))}" if len(mine) else "") + ".")
    d = an.aid_by_donor(ds, currency).set_index("donor_id")
    if country in d.index:
        row = d.loc[country]
        lines.append(f"Aid: **{fmt_money(row['allocation_total'], currency)}** allocated "
                     f"(rank {int(row['rank'])} of {len(d)} donors)"
                     + (f", {fmt_money(row['commitment_total'], currency)} committed" if row['commitment_total'] == row['commitment_total'] else "")
                     + ".")
        g = an.aid_share_of_gdp(ds).set_index("donor_id")
        if country in g.index:
            rank = list(g.index).index(country) + 1
            lines.append(f"That is {g.at[country, 'share_of_gdp_pct']:.2f}% of its {int(g.at[country, 'gdp_year'])} GDP "
                         f"(rank {rank} of {len(g)} donor states).")
    else:
        lines.append(f"{name} is not a donor in the Kiel tracker data.")
    p = an.positions_matrix(ds, [country])
    for r in p.itertuples():
        lines.append(f"{r.topic_label}: {r.stance} ({format_date(r.date.strftime('%Y-%m-%d'))}).")
    return bullets(lines)


class References:
    """The sources as a numbered reference list (wraps long URLs cheaply, unlike a table)."""

    def __init__(self, rows: list[dict], caption: str):
        self.rows, self.caption = rows, caption

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .display import linkify
        items = []
        for r in self.rows:
            parts = [html.escape(r["publisher"])]
            if r["title"]:
                parts.append(f"<em>{html.escape(r['title'])}</em>")
            parts.append(html.escape(r["published"] or "n.d."))
            where = r["url"] or (f"data/{r['local_path']}" if r["local_path"] else "")
            if where:
                parts.append(linkify(where))
            items.append(f'<li id="src-{html.escape(r["source_id"])}"><span class="ref-id">'
                         f'[{html.escape(r["source_id"])}]</span> ' + ". ".join(parts) + "</li>")
        text = "\n".join(f"[{r['source_id']}] {r['publisher']}. {r['title']}. {r['published']}. {r['url'] or r['local_path']}"
                         for r in self.rows)
        return {"text/html": f'<div class="references"><p class="references-caption">{html.escape(self.caption)}'
                             f'</p><ol>{"".join(items)}</ol></div>',
                "text/plain": text}


def references(ds: Dataset, actor_id: str | None = None) -> References:
    """Every source the data cites (or the rows about ``actor_id`` cite), in id order."""
    from .charts import _used_sources
    s = ds.sources[ds.sources["source_id"].isin(_used_sources(ds, actor_id))].sort_values("source_id")
    rows = [{k: ("" if pd.isna(v) else str(v)) for k, v in r.items()}
            for r in s[["source_id", "publisher", "title", "url", "local_path", "published"]].to_dict("records")]
    return References(rows, f"Sources cited ({len(rows)}); ids in brackets are the ones used in source notes and tables")
