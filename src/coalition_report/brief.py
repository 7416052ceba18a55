"""What the notebooks call: one import (``from coalition_report import brief``) and thin cells.

Setup functions check the parameters (also when a notebook runs under plain ``papermill``) and
load the data; every other name is a chart, table or text function re-exported from the modules
that own it, plus the few that only the notebooks need.
"""

from __future__ import annotations

import platform

import pandas as pd

from . import __version__, analysis as an
from .charts import (TYPE_COLORS, WIDTH, _date_str, _flag, _many_sources, chart_aid_groups,
                     chart_attendance, chart_gdp_share, chart_membership_map, chart_monthly_aid,
                     chart_participation, chart_positions, chart_timeline, chart_top_donors,
                     fmt_money, source_note, table_announcements, table_coverage, table_fx,
                     table_meetings, table_members, table_positions, table_quotes)
from .data import Dataset, load_data, parse_date
from .display import Figure, ReportMeta, Table
from .errors import ParameterError
from .narrative import (Markdown, article_claims, bullets, data_coverage_text, key_figures, profile_summary,
                        references, summary_bullets)
from .render import hash_directory

#: What the notebooks call (re-exported from the modules that own them, plus this module's own).
__all__ = [
    "setup", "setup_profile", "key_figures", "data_coverage_text", "summary_bullets",
    "chart_membership_map", "table_members", "chart_participation", "chart_attendance",
    "table_meetings", "chart_top_donors", "chart_aid_groups", "chart_monthly_aid", "chart_gdp_share",
    "table_announcements", "chart_positions", "table_quotes", "chart_timeline", "table_events",
    "article_claims", "table_coverage", "kiel_method_note", "table_fx", "build_info", "references",
    "profile_summary", "table_roles", "table_attendance", "chart_country_aid", "table_country_aid",
    "table_positions", "table_statements",
]

CURRENCIES = ("EUR", "USD", "GBP")


def _check_currency(currency: str) -> None:
    if currency not in CURRENCIES:
        raise ParameterError("currency", currency, "allowed: " + ", ".join(CURRENCIES))


def _load(as_of: str, data_dir: str) -> Dataset:
    """Load the data as of ``as_of`` (empty: the newest date in the data)."""
    full = load_data(data_dir or None)
    cutoff = parse_date(as_of) or full.newest_date
    first = full.meetings["date"].min().date() if len(full.meetings) else None
    if first and cutoff < first:
        raise ParameterError("as_of", str(cutoff), f"before the first coalition meeting ({first})")
    return load_data(data_dir or None, as_of=cutoff)


def setup(as_of: str = "", currency: str = "EUR", data_dir: str = "", top_n: int = 15):
    """Check the brief's parameters, load the data as of the cut-off; return (dataset, meta)."""
    _check_currency(currency)
    if not isinstance(top_n, int) or isinstance(top_n, bool) or not 5 <= top_n <= 40:
        raise ParameterError("top_n", top_n, "an integer from 5 to 40")
    ds = _load(as_of, data_dir)
    return ds, ReportMeta(as_of=str(ds.as_of))


def setup_profile(country: str, as_of: str = "", currency: str = "EUR", data_dir: str = ""):
    """Check the profile's parameters (``country`` must be a state in actors.csv)."""
    _check_currency(currency)
    ds = _load(as_of, data_dir)
    states = ds.actors[ds.actors["actor_type"] == "state"].set_index("actor_id")["name"]
    if country not in states.index:
        raise ParameterError("country", country, "not a state in actors.csv (ISO 3166-1 alpha-3, e.g. GBR)")
    return ds, ReportMeta(as_of=str(ds.as_of), title=f"Country profile: {states[country]}")


def table_events(ds: Dataset, since: str | None = "2025-02-01") -> Table:
    """Dated events with their source, oldest first."""
    e = ds.events.sort_values(["date", "event_id"])
    if since:
        e = e[e["date"] >= pd.Timestamp(since)]
    out = pd.DataFrame({"Date": _date_str(e["date"]), "Kind": e["kind"].str.replace("_", " "),
                        "Event": e["title"], "Details": e["description"].fillna(""),
                        "Source": e["source_id"] + _flag(e["confidence"])})
    return Table(out, caption="Timeline of key events", source_note=source_note(ds, _many_sources(e["source_id"])))


def kiel_method_note(ds: Dataset) -> Markdown:
    """Kiel's method in brief, and where Kiel's own tables disagree (computed, not typed)."""
    from .kiel import check_totals
    lines = [
        "Kiel counts government-to-government aid only; in-kind aid is valued at market prices.",
        "Since February 2024 Kiel's headline measure is allocations (aid delivered or earmarked), shown "
        "beside commitments (pledges, including multi-year ones).",
        "Sub-activity values are summed; the whole-activity value repeats across sub-activities and is never summed.",
        "Kiel records some downward revisions as negative sub-activities; they are kept, flagged as corrections.",
    ]
    if len(ds.aid_totals):
        chk = check_totals(ds.aid_activities, ds.aid_totals)
        bad = chk[chk["status"] == "differs"]
        names = ds.actors.set_index("actor_id")["name"]
        for r in bad.itertuples():
            lines.append(f"Kiel's activity rows and donor totals differ for {names.get(r.donor_id, r.donor_id)}: "
                         f"{fmt_money(r.summed_eur, 'EUR')} summed vs {fmt_money(r.kiel_eur, 'EUR')} in the totals; "
                         "this brief shows Kiel's totals.")
        nt = chk[chk["status"] == "no-total"]
        if len(nt):
            lines.append("No donor totals in Kiel's summary for " + ", ".join(names.get(d, d) for d in nt["donor_id"])
                         + "; they appear only in activity-based charts.")
    else:
        lines.append(f"The as-of date is before the end of Kiel's coverage ({ds.kiel_cutoff}): allocations are "
                     "summed from dated activity rows and commitments are not shown.")
    return bullets(lines)


def build_info(ds: Dataset) -> Markdown:
    """Package and library versions and the data hash (no wall-clock time: builds are reproducible)."""
    import altair
    import vl_convert
    lines = [f"coalition-report {__version__}; Python {platform.python_version()}; pandas {pd.__version__}; "
             f"Altair {altair.__version__}; vl-convert {vl_convert.__version__}.",
             f"Data package sha256 {hash_directory(ds.data_dir)[:16]}…; as-of date {ds.as_of}; undated records: {ds.undated}.",
             "Full parameters, timings and output hashes are in manifest.json beside this report."]
    return bullets(lines)


# ---------------------------------------------------------------------------------------------
# country profile

def table_roles(ds: Dataset, country: str) -> Table:
    """Every dated role report for one state, newest first."""
    c = ds.contributions[ds.contributions["actor_id"] == country].sort_values("date", ascending=False)
    out = pd.DataFrame({"Reported": _date_str(c["date"]), "Role": c["role"].map(an.ROLE_LABELS),
                        "As reported": c["as_reported"], "Conditions": c["conditions"].fillna("–"),
                        "Source": c["source_id"] + _flag(c["confidence"])})
    return Table(out, caption="Role in the coalition, as reported over time",
                 source_note=source_note(ds, c["source_id"].unique()))


def table_attendance(ds: Dataset, country: str) -> Table:
    """The state's reported attendance at each meeting."""
    am = an.attendance_matrix(ds)
    mine = am[am["actor_id"] == country].set_index("meeting_id")
    m = ds.meetings.sort_values("date")
    status = m["meeting_id"].map(mine["status"]).fillna("not named").str.replace("_", " ")
    out = pd.DataFrame({"Date": _date_str(m["date"]), "Meeting": m["place"],
                        "Level": m["level"].str.replace("_", " "), "Status": status.str.capitalize(),
                        "Represented by": m["meeting_id"].map(mine["level"]).str.replace("_", " ").fillna("–"),
                        "Source": m["meeting_id"].map(mine["source_id"]).fillna("–")})
    return Table(out, caption="Attendance at coalition meetings",
                 source_note=source_note(ds, mine["source_id"].unique(),
                                         "'Not named' means no source in the data names the state for that meeting"))


def chart_country_aid(ds: Dataset, country: str, currency: str = "EUR") -> Figure:
    """The state's allocations per quarter by aid type (dated Kiel rows)."""
    import altair as alt
    a = ds.aid_activities[(ds.aid_activities["donor_id"] == country) & (ds.aid_activities["measure"] == "allocation")]
    a = a[a["date"].notna()].copy()
    name = ds.actors.set_index("actor_id")["name"].get(country, country)
    if a.empty:
        chart = alt.Chart(pd.DataFrame({"text": [f"No dated Kiel allocations for {name}"]})).mark_text(
            fontSize=13).encode(text="text:N").properties(width=WIDTH, height=60)
        return Figure(chart, alt_text=f"No dated Kiel allocations recorded for {name}.",
                      source_note=source_note(ds, ["kiel-r28"]))
    a["quarter"] = a["date"].dt.to_period("Q").dt.to_timestamp()
    q = a.groupby(["quarter", "aid_type"], as_index=False)["value_eur"].sum()
    q["value"] = an.to_currency(q["value_eur"], ds, currency) / 1e6
    q["type"] = q["aid_type"].str.capitalize()
    chart = alt.Chart(q).mark_bar().encode(
        x=alt.X("quarter:T", title=None, axis=alt.Axis(format="%Y", tickCount="year", labelAngle=0)),
        y=alt.Y("sum(value):Q", title=f"{currency} million per quarter"),
        color=alt.Color("type:N", title="Aid type", scale=alt.Scale(
            domain=["Military", "Financial", "Humanitarian"], range=list(TYPE_COLORS.values()))),
        tooltip=[alt.Tooltip("quarter:T", format="%Y Q%q"), "type:N",
                 alt.Tooltip("sum(value):Q", format=",.1f", title=f"{currency} m")],
    ).properties(width=WIDTH, height=240, title=alt.Title(f"{name}: allocations to Ukraine per quarter",
                                                           subtitle="By announcement date; undated rows not shown"))
    peak = q.groupby("quarter")["value"].sum()
    return Figure(chart, alt_text=(f"Stacked bar chart of {name}'s allocations per quarter from "
                                   f"{q['quarter'].min():%Y} to {q['quarter'].max():%Y}; the largest quarter was "
                                   f"{peak.idxmax():%Y} Q{(peak.idxmax().month - 1) // 3 + 1} with {currency} "
                                   f"{peak.max():,.0f} million."),
                  source_note=source_note(ds, ["kiel-r28"]))


def table_country_aid(ds: Dataset, country: str, currency: str = "EUR") -> Table:
    """Allocations and commitments by type for one donor, with its rank."""
    d = an.aid_by_donor(ds, currency).set_index("donor_id")
    if country not in d.index:
        out = pd.DataFrame({"Note": ["Not a donor in the Kiel tracker data"]})
        return Table(out, caption="Aid by type", source_note=source_note(ds, ["kiel-r28"]))
    r = d.loc[country]
    rows = []
    for t in an.AID_TYPES + ["total"]:
        rows.append({"Type": t.capitalize(), "Allocations": fmt_money(r[f"allocation_{t}"], currency),
                     "Commitments": fmt_money(r[f"commitment_{t}"], currency)})
    return Table(pd.DataFrame(rows), caption=f"Aid by type (rank {int(r['rank'])} of {len(d)} donors by allocations)",
                 source_note=source_note(ds, ["kiel-r28"]))


def table_statements(ds: Dataset, country: str) -> Table:
    """Other reported facts and statements about one state (claims.csv), dated or not."""
    c = ds.claims[ds.claims["actor_id"] == country].sort_values(["date", "claim_id"], na_position="last")
    out = pd.DataFrame({"Date": _date_str(c["date"]), "Reported": c["statement"],
                        "Quote": c["quote"].map(lambda q: f"“{q}”" if isinstance(q, str) and q else "–"),
                        "Source": c["source_id"] + _flag(c["confidence"])})
    if out.empty:
        out = pd.DataFrame({"Note": ["No other statements recorded for this state"]})
    return Table(out, caption="Other statements and reported facts",
                 source_note=source_note(ds, c["source_id"].unique(),
                                         "'undated' means the source gives no date for the statement"))
