"""A country profile: one state's role, attendance, aid to Ukraine and positions."""

from __future__ import annotations

from typing import Mapping

import altair as alt
import pandas as pd

from .. import analysis as an
from ..cite import confidence_flag, kiel_source, source_note
from ..data import Dataset
from ..display import Figure, Markdown, Table, bullets, strong
from ..fmt import date_column, fmt_date, fmt_money, quoted
from ..style import WIDTH, color_scale, palette, time_axis

__all__ = ["profile_summary", "watch_list", "table_peer_aid", "table_country_announcements", "table_roles",
           "table_attendance", "chart_country_aid", "table_country_aid", "table_statements", "CAPITALS"]


def _name(ds: Dataset, country: str) -> str:
    return ds.actors.set_index("actor_id")["name"].get(country, country)


#: Capitals (the front end's implication keys) -> the state they speak for.
CAPITALS = {"London": "GBR", "Paris": "FRA", "Berlin": "DEU", "Washington": "USA", "Kyiv": "UKR"}


def _pledged(ds: Dataset, country: str) -> list[str]:
    """Figures reported about the state, newest first within each kind: reported facts with a
    value, stated sizes of its force contribution, and aid it announced."""
    c = ds.claims[(ds.claims["actor_id"] == country) & ds.claims["value"].notna()]
    out = []
    for r in c.sort_values("date", ascending=False, na_position="last").itertuples():
        unit = str(r.unit) if isinstance(r.unit, str) else ""
        value = fmt_money(r.value, unit) if len(unit) == 3 and unit.isupper() else f"{r.value:,.0f} {unit}".strip()
        when = fmt_date(r.date) if pd.notna(r.date) else "undated"
        out.append(f"{value}: {r.statement} ({when}) [{r.source_id}]")
    # sizes stated for its force contribution, and aid it announced (the same figures the brief's
    # force and announcement tables show, so the profile never says "none" beside them)
    fp = ds.tables.get("force_pledges")
    if fp is not None and len(fp):
        for r in fp[fp["actor_id"] == country].sort_values("date", ascending=False).itertuples():
            unit = r.unit if isinstance(r.unit, str) else ""
            if pd.isna(r.number) and not unit:
                continue
            size = f"{r.number:,.0f} {unit}".strip() if pd.notna(r.number) else unit
            qual = "up to " if str(r.qualifier) == "up_to" else ""
            out.append(f"{qual}{size} ({str(r.component).replace('_', ' ')}, stated {fmt_date(r.date)}) "
                       f"[{r.source_id}]")
    aa = ds.aid_announcements
    if len(aa):
        own = aa[(aa["donor_id"] == country) & aa["same_as"].isna()] if "same_as" in aa else aa[aa["donor_id"] == country]
        for r in own.sort_values("date", ascending=False).itertuples():
            out.append(f"{fmt_money(r.amount, r.currency)} {r.aid_type} aid announced "
                       f"({fmt_date(r.date)}) [{r.source_id}]")
    return out


def profile_summary(ds: Dataset, country: str, currency: str = "EUR") -> Markdown:
    """A desk officer's summary: role and offer in the state's own words, figures reported,
    conditions and approvals it has named, attendance, aid against peers, newest stances."""
    name = _name(ds, country)
    lines: list = []
    roles = an.current_roles(ds).set_index("actor_id")
    if country in roles.index:
        r = roles.loc[country]
        stale_role, _ = an.stale_labels(ds)
        age = f" ({stale_role[country]})" if country in stale_role else ""
        lines.append([strong("Role and offer: "), f"{r['role_label']}{age}. In the words reported on "
                      f"{fmt_date(r['date'])}: \u201c{r['as_reported']}\u201d [{r['source_id']}]."])
        cond = r["conditions"] if isinstance(r["conditions"], str) and r["conditions"] else ""
        lines.append([strong("Conditions and approvals it has named: "), (cond + ".") if cond else
                      "none reported in the sources."])
    else:
        lines.append([strong("Role and offer: "), f"no role reported for {name} in the sources."])
    figures = _pledged(ds, country)
    lines.append([strong("Figures reported: "), "; ".join(figures) + "." if figures else
                  "no troop numbers or sums reported for it in the sources."])
    am = an.attendance_matrix(ds)
    mine = am[(am["actor_id"] == country) & am["status"].isin(["attended", "observer"])]
    absent = am[(am["actor_id"] == country) & (am["status"] == "absent")]
    total = ds.meetings["meeting_id"].nunique()
    leaders = ds.meetings[ds.meetings["level"] == "leaders"]["meeting_id"]
    at_leaders = mine["meeting_id"].isin(leaders).sum()
    lines.append([strong("Attendance: "), f"named present at {len(mine)} of {total} coalition meetings "
                  f"({at_leaders} of {len(leaders)} leaders' meetings)"
                  + (f", first on {fmt_date(mine['date'].min())}" if len(mine) else "")
                  + (f"; reported absent from {len(absent)}" if len(absent) else "")
                  + ". At the others the sources do not name it, which does not mean it was absent."])
    d = an.aid_by_donor(ds, currency).set_index("donor_id")
    if country in d.index:
        row = d.loc[country]
        committed = row["commitment_total"]
        text = (f"{fmt_money(row['allocation_total'], currency)} allocated since 2022, rank {int(row['rank'])} of "
                f"{len(d)} donors" + (f"; {fmt_money(committed, currency)} committed" if committed == committed else ""))
        g = an.aid_share_of_gdp(ds).set_index("donor_id")
        if country in g.index:
            rank = list(g.index).index(country) + 1
            text += (f"; {g.at[country, 'share_of_gdp_pct']:.2f}% of its {int(g.at[country, 'gdp_year'])} GDP, "
                     f"rank {rank} of {len(g)} by that measure")
        lines.append([strong("Aid to Ukraine: "), text + "."])
    else:
        lines.append([strong("Aid to Ukraine: "), f"{name} is not a donor in the Kiel tracker's data."])
    _, stale_stance = an.stale_labels(ds)
    for r in an.positions_matrix(ds, [country]).itertuples():
        when = stale_stance.get((country, r.topic)) or fmt_date(r.date)
        lines.append([strong(f"{r.topic_label}: "), f"{r.stance} ({when}) [{r.source_id}]."])
    return bullets(lines)


def watch_list(ds: Dataset, country: str, currency: str = "EUR") -> Markdown:
    """What to watch: the brief's own judgement for this state's capital and its scenarios'
    indicators (the same records the brief prints, so the profile never contradicts it)."""
    from .frontend import judgement_set
    from .facts import resolve

    s = judgement_set(ds)
    lines: list = []
    if s.empty:
        return bullets([f"No key judgements had been written by {fmt_date(an.cutoff(ds))}."])
    capital = next((k for k, v in CAPITALS.items() if v == country), None)
    for r in s[(s["kind"] == "implication") & (s["key"] == capital)].to_dict("records"):
        text, _ = resolve(r["text"], ds, currency, record=f"judgements.csv {r['judgement_id']}")
        lines.append([strong(f"For {capital}: "), f"{text} [{r['source_id']}]"])
    for r in s[s["kind"] == "scenario"].sort_values("order").to_dict("records"):
        signs = s[(s["kind"] == "indicator") & (s["key"] == r["key"])].sort_values("order")
        text = " ".join(resolve(t, ds, currency, record=f"judgements.csv {i}")[0]
                        for t, i in zip(signs["text"], signs["judgement_id"]))
        lines.append([strong(f"{r['heading']} ({r['confidence']}). "), f"Watch for: {text}" if text else r["text"]])
    written = pd.to_datetime(s["written_as_of"]).max()
    lines.append(f"From the brief's key judgements written as of {fmt_date(written)}.")
    return bullets(lines)


def table_peer_aid(ds: Dataset, country: str, currency: str = "EUR", *, peers: int = 5,
                   caption: str | None = None) -> Table:
    """The state's allocations by type beside its peers: the donors ranked just above and below
    it, and the coalition's co-leads (``peers``: how many neighbours in the ranking)."""
    kiel = kiel_source(ds)
    d = an.aid_by_donor(ds, currency).reset_index(drop=True)
    if country not in set(d["donor_id"].unique()):
        out = pd.DataFrame({"Note": ["Not a donor in the Kiel tracker's data"]})
        return Table(out, caption=caption or "Aid by type against peers", source_note=source_note(ds, [kiel]))
    d = d.sort_values("rank").reset_index(drop=True)
    i = int(d.index[d["donor_id"] == country][0])
    half = peers // 2
    pick = set(d.iloc[max(0, i - half): i + half + 1]["donor_id"]) | ({"GBR", "FRA"} & set(d["donor_id"]))
    sub = d[d["donor_id"].isin(pick)].sort_values("rank")
    g = an.aid_share_of_gdp(ds).set_index("donor_id")["share_of_gdp_pct"]
    out = pd.DataFrame({"Rank": sub["rank"].astype(int), "Donor": sub["name"],
                        **{t.capitalize(): sub[f"allocation_{t}"].map(lambda v: fmt_money(v, currency))
                           for t in an.AID_TYPES},
                        "Total allocated": sub["allocation_total"].map(lambda v: fmt_money(v, currency)),
                        "% of GDP": sub["donor_id"].map(g).map(lambda v: f"{v:.2f}" if v == v else "–")})
    name = _name(ds, country)
    return Table(out, caption=caption or f"{name}'s aid by type against its neighbours in the ranking and the co-leads",
                 source_note=source_note(ds, [kiel]))


def table_country_announcements(ds: Dataset, country: str, currency: str = "EUR", *,
                                caption: str = "Aid announcements reported since the coalition's launch") -> Table:
    """The state's curated aid announcements (original amount and its value in ``currency``)."""
    a = an.announcements(ds, currency)
    a = a[a["donor_id"] == country] if len(a) else a
    if a.empty:
        out = pd.DataFrame({"Note": ["No announcement recorded for this state"]})
        return Table(out, caption=caption, source_note="Source: this brief's data package.")
    out = pd.DataFrame({"Date": date_column(a["date"]), "Type": a["aid_type"].str.capitalize(),
                        "Amount as reported": [fmt_money(v, c) if v == v else "–" for v, c in zip(a["amount"], a["currency"])],
                        f"In {currency}": [fmt_money(v, currency) if v == v and v is not None else "–" for v in a["converted"]],
                        "Source": a["source_id"]})
    return Table(out, caption=caption, source_note=source_note(ds, a["source_id"].unique()))


def table_roles(ds: Dataset, country: str, *, caption: str = "Role in the coalition, as reported over time") -> Table:
    """Every dated role report for one state, newest first."""
    c = ds.contributions[ds.contributions["actor_id"] == country].sort_values("date", ascending=False)
    out = pd.DataFrame({"Reported": date_column(c["date"]), "Role": c["role"].map(an.ROLE_LABELS),
                        "As reported": c["as_reported"], "Conditions": c["conditions"].fillna("–"),
                        "Source": c["source_id"] + confidence_flag(c["confidence"])})
    return Table(out, caption=caption, source_note=source_note(ds, c["source_id"].unique()))


def table_attendance(ds: Dataset, country: str, *, caption: str = "Attendance at coalition meetings") -> Table:
    """The state's reported attendance at each meeting, oldest first."""
    am = an.attendance_matrix(ds)
    mine = am[am["actor_id"] == country].set_index("meeting_id")
    m = ds.meetings.sort_values("date")
    status = m["meeting_id"].map(mine["status"]).astype(object).fillna("not named in sources").str.replace("_", " ")
    out = pd.DataFrame({"Date": date_column(m["date"]), "Meeting": m["place"],
                        "Level": m["level"].str.replace("_", " "), "Status": status.str.capitalize(),
                        "Represented by": m["meeting_id"].map(mine["level"]).astype(object).fillna("–")
                        .str.replace("_", " "),
                        "Source": m["meeting_id"].map(mine["source_id"]).astype(object).fillna("–")})
    return Table(out, caption=caption,
                 source_note=source_note(ds, mine["source_id"].unique(),
                                         "'Not named in sources' means no source names the state for that meeting: it may have been there"))


def chart_country_aid(ds: Dataset, country: str, currency: str = "EUR", *,
                      colors: Mapping[str, str] | None = None, title: str | None = None) -> Figure:
    """The state's allocations per quarter by aid type (dated Kiel rows).

    ``colors`` maps aid types to colours; default ``palette("aid_types")``.
    """
    colors = colors or palette("aid_types")
    kiel = kiel_source(ds)
    a = ds.aid_activities[(ds.aid_activities["donor_id"] == country) & (ds.aid_activities["measure"] == "allocation")]
    a = a[a["date"].notna()].copy()
    name = _name(ds, country)
    if a.empty:
        chart = alt.Chart(pd.DataFrame({"text": [f"No dated Kiel allocations for {name}"]})).mark_text(
            fontSize=13).encode(text="text:N").properties(width=WIDTH, height=60)
        return Figure(chart, alt_text=f"No dated Kiel allocations recorded for {name}.",
                      source_note=source_note(ds, [kiel]))
    a["quarter"] = a["date"].dt.to_period("Q").dt.to_timestamp()
    q = a.groupby(["quarter", "aid_type"], as_index=False)["value_eur"].sum()
    q["value"] = an.to_currency(q["value_eur"], ds, currency) / 1e6
    q["type"] = q["aid_type"].str.capitalize()
    chart = alt.Chart(q).mark_bar().encode(
        x=alt.X("quarter:T", title=None, axis=time_axis(q["quarter"])),
        y=alt.Y("sum(value):Q", title=f"{currency} million per quarter"),
        color=alt.Color("type:N", title="Aid type",
                        scale=color_scale(colors, labels={t: t.capitalize() for t in colors})),
        tooltip=[alt.Tooltip("quarter:T", format="%Y Q%q"), "type:N",
                 alt.Tooltip("sum(value):Q", format=",.1f", title=f"{currency} m")],
    ).properties(width=WIDTH, height=240, title=alt.Title(
        title or f"{name}: allocations to Ukraine per quarter", subtitle="By announcement date; undated rows not shown"))
    peak = q.groupby("quarter")["value"].sum()
    return Figure(chart, alt_text=(f"Stacked bar chart of {name}'s allocations per quarter from "
                                   f"{q['quarter'].min():%Y} to {q['quarter'].max():%Y}; the largest quarter was "
                                   f"{peak.idxmax():%Y} Q{(peak.idxmax().month - 1) // 3 + 1} with {currency} "
                                   f"{peak.max():,.0f} million."),
                  source_note=source_note(ds, [kiel]))


def table_country_aid(ds: Dataset, country: str, currency: str = "EUR", *, caption: str = "Aid by type") -> Table:
    """Allocations and commitments by type for one donor, with its rank by allocations."""
    kiel = kiel_source(ds)
    d = an.aid_by_donor(ds, currency).set_index("donor_id")
    if country not in d.index:
        out = pd.DataFrame({"Note": ["Not a donor in the Kiel tracker data"]})
        return Table(out, caption=caption, source_note=source_note(ds, [kiel]))
    r = d.loc[country]
    rows = [{"Type": t.capitalize(), "Allocations": fmt_money(r[f"allocation_{t}"], currency),
             "Commitments": fmt_money(r[f"commitment_{t}"], currency)} for t in an.AID_TYPES + ["total"]]
    return Table(pd.DataFrame(rows), caption=f"{caption} (rank {int(r['rank'])} of {len(d)} donors by allocations)",
                 source_note=source_note(ds, [kiel]))


def table_statements(ds: Dataset, country: str, *, caption: str = "Other reported facts") -> Table:
    """Other reported facts and statements about one state, dated or not."""
    c = ds.claims[ds.claims["actor_id"] == country].sort_values(["date", "claim_id"], na_position="last")
    out = pd.DataFrame({"Date": date_column(c["date"]), "Reported": c["statement"], "Quote": c["quote"].map(quoted),
                        "Source": c["source_id"] + confidence_flag(c["confidence"])})
    if out.empty:
        out = pd.DataFrame({"Note": ["No other reported fact about this state in the sources"]})
    return Table(out, caption=caption,
                 source_note=source_note(ds, c["source_id"].unique(),
                                         "'undated' means the source gives no date for the statement"))
