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

__all__ = ["profile_summary", "table_roles", "table_attendance", "chart_country_aid", "table_country_aid",
           "table_statements"]


def _name(ds: Dataset, country: str) -> str:
    return ds.actors.set_index("actor_id")["name"].get(country, country)


def profile_summary(ds: Dataset, country: str, currency: str = "EUR") -> Markdown:
    """Bullets for a country profile: role, attendance, aid rank and share of GDP, stances."""
    name = _name(ds, country)
    lines: list = []
    roles = an.current_roles(ds).set_index("actor_id")
    if country in roles.index:
        r = roles.loc[country]
        cond = f" Conditions: {r['conditions']}." if isinstance(r["conditions"], str) and r["conditions"] else ""
        lines.append(["Role: ", strong(r["role_label"]),
                      f" (as reported {fmt_date(r['date'])}: {r['as_reported']}).{cond}"])
    else:
        lines.append(f"No role reported for {name} in the data.")
    am = an.attendance_matrix(ds)
    mine = am[(am["actor_id"] == country) & am["status"].isin(["attended", "observer"])]
    total = ds.meetings["meeting_id"].nunique()
    lines.append(["Named present at ", strong(f"{len(mine)} of {total}"), " coalition meetings in the data"
                  + (f", first on {fmt_date(mine['date'].min())}" if len(mine) else "") + "."])
    d = an.aid_by_donor(ds, currency).set_index("donor_id")
    if country in d.index:
        row = d.loc[country]
        committed = row["commitment_total"]
        lines.append(["Aid: ", strong(fmt_money(row["allocation_total"], currency)),
                      f" allocated (rank {int(row['rank'])} of {len(d)} donors)"
                      + (f", {fmt_money(committed, currency)} committed" if committed == committed else "") + "."])
        g = an.aid_share_of_gdp(ds).set_index("donor_id")
        if country in g.index:
            rank = list(g.index).index(country) + 1
            lines.append(f"That is {g.at[country, 'share_of_gdp_pct']:.2f}% of its {int(g.at[country, 'gdp_year'])} GDP "
                         f"(rank {rank} of {len(g)} donor states).")
    else:
        lines.append(f"{name} is not a donor in the Kiel tracker data.")
    for r in an.positions_matrix(ds, [country]).itertuples():
        lines.append(f"{r.topic_label}: {r.stance} ({fmt_date(r.date)}).")
    return bullets(lines)


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
    status = m["meeting_id"].map(mine["status"]).astype(object).fillna("not named").str.replace("_", " ")
    out = pd.DataFrame({"Date": date_column(m["date"]), "Meeting": m["place"],
                        "Level": m["level"].str.replace("_", " "), "Status": status.str.capitalize(),
                        "Represented by": m["meeting_id"].map(mine["level"]).astype(object).fillna("–")
                        .str.replace("_", " "),
                        "Source": m["meeting_id"].map(mine["source_id"]).astype(object).fillna("–")})
    return Table(out, caption=caption,
                 source_note=source_note(ds, mine["source_id"].unique(),
                                         "'Not named' means no source in the data names the state for that meeting"))


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


def table_statements(ds: Dataset, country: str, *, caption: str = "Other statements and reported facts") -> Table:
    """Other reported facts and statements about one state (claims.csv), dated or not."""
    c = ds.claims[ds.claims["actor_id"] == country].sort_values(["date", "claim_id"], na_position="last")
    out = pd.DataFrame({"Date": date_column(c["date"]), "Reported": c["statement"], "Quote": c["quote"].map(quoted),
                        "Source": c["source_id"] + confidence_flag(c["confidence"])})
    if out.empty:
        out = pd.DataFrame({"Note": ["No other statements recorded for this state"]})
    return Table(out, caption=caption,
                 source_note=source_note(ds, c["source_id"].unique(),
                                         "'undated' means the source gives no date for the statement"))
