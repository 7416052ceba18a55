"""Pure analysis: a :class:`~coalition_report.data.Dataset` in, tidy DataFrames out.

Definitions used throughout the brief (also in the README):

* **Coalition member** (as of the dataset's cut-off): a state that attended at least one coalition
  meeting at leaders' level (chiefs-of-defence and planners' meetings included non-members; status ``attended`` or ``observer``) and whose newest reported role is not
  ``outside_coalition``. Organisations (EU, NATO) take part but are not counted as members, nor is
  Ukraine, the state the coalition supports.
* **Same-day reports**: when two rows share a date, the higher-confidence one is the newest.
* **Current role**: the newest ``contributions`` row per state on or before the cut-off.
* **Aid groups**: ``Europe`` = donors Kiel flags as geographically European plus EU institutions;
  ``United States``; ``Other``.
* **EU institutions**: one donor at every date: the Commission and Council, the European Investment
  Bank and the European Peace Facility (Kiel's three EU donors). Kiel's per-donor total for "EU
  (Commission and Council)" already holds the EIB's allocations; before that release is known the
  three are summed from their activity rows (see :func:`eu_institutions_check`).
* **Display currency**: EUR sums are converted at the recorded rate in force on the cut-off date
  (or the newest earlier period); announcements are converted at the rate of their own date.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pycountry

from .data import Dataset, per_dataset
from .fmt import fmt_date
from .fx import FxTable

__all__ = [
    "ROLE_ORDER", "ROLE_LABELS", "STANCE_ORDER", "TOPIC_LABELS",
    "current_roles", "coalition_members", "membership_by_role", "attendance_matrix",
    "participation_by_meeting", "aid_by_donor", "aid_by_group", "aid_monthly",
    "aid_share_of_gdp", "announcements", "positions_matrix", "quotes", "timeline",
    "display_rate", "to_currency", "headline_figures", "map_status", "rates_used", "stance_counts",
    "DEFINITIONS", "NOT_MEMBER_LABEL", "cutoff", "definitions", "eu_institutions_check",
    "members_without_aid_rows", "cited_source_ids", "shown_outlook", "shown_judgements", "SHOWN_SINCE", "EU_LABEL",
    "last_twelve_months", "partial_periods", "later_series_ids", "EU_DONOR",
    "last_reported", "stale_labels", "STALE_AFTER_MONTHS",
]

ROLE_ORDER = ["lead_nation", "ground_forces", "air_maritime", "logistics_training",
              "political_support", "observer", "declined_troops", "outside_coalition"]
ROLE_LABELS = {
    "lead_nation": "Lead nation (forces)", "ground_forces": "Ground forces offered",
    "air_maritime": "Air or maritime assets", "logistics_training": "Logistics / training, no troops",
    "political_support": "Political support only", "observer": "Observer",
    "declined_troops": "Declined to send troops", "outside_coalition": "Outside the coalition",
}
FORCE_ROLES = {"lead_nation", "ground_forces", "air_maritime"}
STANCE_ORDER = ["support", "conditional", "neutral", "oppose"]
TOPIC_LABELS = {"coalition_force": "Coalition / reassurance force", "ceasefire": "Ceasefire / truce",
                "security_guarantees": "Security guarantees"}
AID_TYPES = ["military", "financial", "humanitarian"]
#: The state the coalition supports: it attends every meeting but is not a member of it.
BENEFICIARY = "UKR"
_CONF_RANK = {"low": 0, "medium": 1, "high": 2}
EU_BODIES = {"eu-institutions", "epf", "eib"}
#: The donor id every EU body's aid is counted under, and the name the brief gives it.
EU_DONOR = "eu-institutions"
EU_LABEL = "EU institutions"
#: Events and announcements the brief lists start on this day (the month before the coalition).
SHOWN_SINCE = "2025-02-01"

#: The definitions the brief prints in Methods, in a reader's words (no function or file names):
#: member is what :func:`coalition_members` does, role :func:`current_roles`, stance
#: :func:`positions_matrix`, groups :func:`aid_by_group`, eu :func:`aid_by_donor`.
DEFINITIONS = {
    "member": ("Coalition member", "a state named by a source as present (attended or observer) at one or more "
               "of the coalition's leaders' meetings, whose newest reported role is not \"outside the "
               "coalition\". Chiefs-of-defence, ministers' and planners' meetings included non-members and "
               "do not count; Ukraine (the state supported) and organisations are not counted."),
    "role": ("Role", "one category per state from its newest dated report on or before the as-of date; on the same "
             "day the better-sourced report wins; the source's own wording is kept beside it."),
    "force": ("Offers forces", "a member whose role is lead nation, ground forces, or air or maritime assets."),
    "stance": ("Stance", "the newest dated position per actor and topic, coded by the project's written coding rules "
               "(support, conditional, neutral, oppose) from the quoted wording."),
    "groups": ("Aid groups", "Europe = donors Kiel flags as geographically European plus EU institutions; "
               "United States; Other."),
    "eu": ("EU institutions", "one donor at every date: the European Commission and Council, the European "
           "Investment Bank (EIB) and the European Peace Facility (EPF), Kiel's three EU donors, counted as one "
           "donor in every table and chart."),
    "as_of": ("As-of date", "a knowledge cut-off: a record is shown only if what it states happened on or before "
              "that day and its source was published by then; an undated record takes its source's date; "
              "only sources published by then are listed or cited, and only exchange rates published by then "
              "are used."),
    "currency": ("Currency", "euro sums are converted at the reference rate in force on the as-of date (the mean "
                 "of the rates published so far in its period); announcements at the rate of their own date."),
    "confidence": ("Confidence", "facts graded low confidence (resting on one secondary or aggregator site) "
                   "are marked \"(low confidence)\" wherever they appear."),
}


def definitions(ds: Dataset) -> list[tuple[str, str]]:
    """(label, text) of every definition Methods prints, with the data-dependent parts computed."""
    out = dict(DEFINITIONS)
    label, text = out["eu"]
    chk = eu_institutions_check(ds)
    if chk["basis"] == "kiel_totals":
        text += (f" Kiel's per-donor total for the Commission and Council ({_bn(chk['kiel_total'])}) equals the sum of "
                 f"the Commission and Council's activity rows ({_bn(chk['commission_council'])}) and the EIB's "
                 f"({_bn(chk['eib'])}): the EIB is inside it.")
    else:
        text += (f" Before Kiel's per-donor totals are known, the three are summed from their dated activity rows "
                 f"(Commission and Council {_bn(chk['commission_council'])}, EIB {_bn(chk['eib'])}).")
    text += (" The EPF appears in Kiel's rows with commitments only, with no value in the release used, so it "
             "adds nothing to any total." if chk["epf"] == 0 else f" EPF: {_bn(chk['epf'])}.")
    out["eu"] = (label, text)
    missing = members_without_aid_rows(ds)
    if len(missing):
        label, text = out["groups"]
        out["groups"] = (label, text + f" Members without any row in Kiel's data ({', '.join(missing['name'])}) "
                                       "are members but not donors in the aid charts.")
    return list(out.values())


def _bn(v: float) -> str:
    return f"EUR {v / 1e9:,.2f}bn"


def eu_institutions_check(ds: Dataset) -> dict:
    """How the EU institutions' allocation is made up (EUR): Kiel's total and the activity sums.

    Returns ``basis`` (``kiel_totals`` or ``activity_sums``), ``kiel_total`` (NaN without totals),
    and the activity allocation sums of ``commission_council``, ``eib`` and ``epf``.
    """
    a = ds.aid_activities[ds.aid_activities["measure"] == "allocation"]
    sums = a.groupby("donor_id")["value_eur"].sum()
    t = ds.aid_totals
    kiel = t[(t["donor_id"] == EU_DONOR) & (t["measure"] == "allocation")]["value_eur"].sum() if len(t) else float("nan")
    return {"basis": "kiel_totals" if len(t) else "activity_sums", "kiel_total": float(kiel),
            "commission_council": float(sums.get(EU_DONOR, 0.0)), "eib": float(sums.get("eib", 0.0)),
            "epf": float(sums.get("epf", 0.0))}


def members_without_aid_rows(ds: Dataset) -> pd.DataFrame:
    """Coalition members with no row in Kiel's data (as of the cut-off): members, never donors."""
    m = coalition_members(ds)
    donors = set(ds.aid_activities["donor_id"].unique()) | set(ds.aid_totals["donor_id"].unique())
    return m.loc[~m["actor_id"].isin(donors), ["actor_id", "name"]].sort_values("name").reset_index(drop=True)


def cutoff(ds: Dataset) -> date:
    return ds.as_of or ds.newest_date or date.today()


def _actor_names(ds: Dataset) -> pd.Series:
    return ds.actors.set_index("actor_id")["name"]


def _iso_numeric(actor_id: str) -> int | None:
    c = pycountry.countries.get(alpha_3=actor_id) if len(actor_id) == 3 and actor_id.isupper() else None
    return int(c.numeric) if c else None


# ---------------------------------------------------------------------------------------------
# membership

@per_dataset
def current_roles(ds: Dataset) -> pd.DataFrame:
    """Newest reported role per state, with conditions, membership flags and ISO numeric code.

    Returns one row per actor with any contribution on or before the cut-off, ordered by
    role (most committed first) then name.
    """
    # same-day reports: the better-sourced one wins
    c = ds.contributions.assign(_conf=ds.contributions["confidence"].map(_CONF_RANK)).sort_values(
        ["actor_id", "date", "_conf", "contribution_id"])
    latest = c.groupby("actor_id", as_index=False).tail(1)
    a = ds.actors[["actor_id", "name", "actor_type", "eu_member", "nato_member"]]
    out = latest.merge(a, on="actor_id", how="left")
    out["role_rank"] = out["role"].map({r: i for i, r in enumerate(ROLE_ORDER)})
    out["role_label"] = out["role"].map(ROLE_LABELS)
    out["iso_numeric"] = out["actor_id"].map(_iso_numeric).astype("Int64")
    cols = ["actor_id", "name", "role", "role_label", "role_rank", "as_reported", "conditions",
            "date", "source_id", "confidence", "eu_member", "nato_member", "iso_numeric"]
    return out[cols].sort_values(["role_rank", "name"]).reset_index(drop=True)


@per_dataset
def coalition_members(ds: Dataset) -> pd.DataFrame:
    """States in the coalition as of the cut-off (see module docstring), with their role."""
    leaders = ds.meetings.loc[ds.meetings["level"] == "leaders", "meeting_id"]
    att = ds.attendance[ds.attendance["status"].isin(["attended", "observer"])
                        & ds.attendance["meeting_id"].isin(leaders)]
    states = set(ds.actors.loc[ds.actors["actor_type"] == "state", "actor_id"])
    attended = set(att["actor_id"]) & states
    roles = current_roles(ds)
    attended.discard(BENEFICIARY)
    out = roles[roles["actor_id"].isin(attended) & (roles["role"] != "outside_coalition")]
    first = att.merge(ds.meetings[["meeting_id", "date"]], on="meeting_id").groupby("actor_id")["date"].min()
    # dict lookup: mapping through an empty datetime Series trips over pandas' dtype casting
    out = out.assign(first_meeting=[first.get(a, pd.NaT) for a in out["actor_id"]])
    # Attended but never given a role in the data: still a member, role unknown.
    missing = sorted(attended - set(roles["actor_id"]))
    if missing:
        extra = pd.DataFrame({"actor_id": missing, "name": [ _actor_names(ds).get(m, m) for m in missing],
                              "role": "political_support", "role_label": NO_ROLE_LABEL,
                              "role_rank": ROLE_ORDER.index("political_support"),
                              "first_meeting": [first.get(m) for m in missing]})
        out = pd.concat([out, extra], ignore_index=True)
    return out.sort_values(["role_rank", "name"]).reset_index(drop=True)


def membership_by_role(ds: Dataset) -> pd.DataFrame:
    """Number of coalition members per role, in ROLE_ORDER, with member names."""
    m = coalition_members(ds)
    rows = []
    for role in ROLE_ORDER:
        sub = m[m["role"] == role]
        if len(sub):
            rows.append({"role": role, "role_label": ROLE_LABELS[role], "states": len(sub),
                         "members": ", ".join(sub["name"])})
    return pd.DataFrame(rows, columns=["role", "role_label", "states", "members"])


def map_status(ds: Dataset) -> pd.DataFrame:
    """Every state with a reported role or named at a meeting: its map category.

    Members get their role (the same :func:`coalition_members` the tables and the summary use);
    any other state the data mentions is ``not_member``. One row per state with ``category``,
    ``label``, ``name``, ``iso_numeric``, ``as_reported`` and ``source_id``.
    """
    members = coalition_members(ds)
    roles = current_roles(ds).set_index("actor_id")
    states = ds.actors[ds.actors["actor_type"] == "state"].set_index("actor_id")
    named = set(ds.attendance["actor_id"]) | set(roles.index)
    rows = []
    for r in members.itertuples(index=False):
        no_role = r.role_label == NO_ROLE_LABEL
        rows.append({"actor_id": r.actor_id, "category": "no_stated_role" if no_role else r.role,
                     "label": r.role_label,
                     "as_reported": getattr(r, "as_reported", None), "source_id": getattr(r, "source_id", None)})
    for actor in sorted((named & set(states.index)) - set(members["actor_id"]) - {BENEFICIARY}):
        role = roles.loc[actor] if actor in roles.index else None
        rows.append({"actor_id": actor, "category": "not_member", "label": NOT_MEMBER_LABEL,
                     "as_reported": None if role is None else role["as_reported"],
                     "source_id": None if role is None else role["source_id"]})
    out = pd.DataFrame(rows, columns=["actor_id", "category", "label", "as_reported", "source_id"])
    out["name"] = out["actor_id"].map(states["name"])
    out["iso_numeric"] = out["actor_id"].map(_iso_numeric).astype("Int64")
    return out


#: Label of members the data gives no role.
NO_ROLE_LABEL = "No stated role"
#: Map and legend label for states in the data that are not members.
NOT_MEMBER_LABEL = "Not a member (named in the data)"


def attendance_matrix(ds: Dataset) -> pd.DataFrame:
    """Long table: one row per (meeting, actor) with meeting date/place and status."""
    m = ds.meetings[["meeting_id", "date", "place", "level", "format"]].rename(
        columns={"level": "meeting_level", "format": "meeting_format"})
    out = ds.attendance.merge(m, on="meeting_id").merge(
        ds.actors[["actor_id", "name", "actor_type"]], on="actor_id", how="left")
    return out.sort_values(["date", "name"]).reset_index(drop=True)


def participation_by_meeting(ds: Dataset) -> pd.DataFrame:
    """Per meeting: states named as present in the data and the counts the sources report.

    ``named_states`` counts attendance rows (status attended/observer) of states;
    ``reported_min``/``reported_max`` span the country/state/participant counts in claims.csv
    (sources often report more participants than they name).
    """
    am = attendance_matrix(ds)
    present = am[am["status"].isin(["attended", "observer"]) & (am["actor_type"] == "state")]
    named = present.groupby("meeting_id")["actor_id"].nunique()
    cl = ds.claims.dropna(subset=["meeting_id", "value"])
    cl = cl[cl["unit"].isin(["countries", "states", "participants", "leaders", "nations"])]
    rep = cl.groupby("meeting_id")["value"].agg(["min", "max"])
    m = ds.meetings[["meeting_id", "date", "place", "level", "format", "participation_as_reported",
                     "source_id"]].copy()
    m["named_states"] = m["meeting_id"].map(named).fillna(0).astype(int)
    m["reported_min"] = m["meeting_id"].map(rep["min"])
    m["reported_max"] = m["meeting_id"].map(rep["max"])
    return m.sort_values("date").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# money

def rates_used(ds: Dataset, currency: str = "EUR") -> pd.DataFrame:
    """The recorded rates the brief converts with: the display rate, each announcement's date's
    rates, and the USD rate of each GDP year (the ``fx_rates`` rows, deduplicated)."""
    fx = FxTable(ds.fx_rates)
    wanted = []
    if currency != "EUR":
        wanted.append(fx.latest(currency, cutoff(ds)))
    a = ds.aid_announcements
    for r in a[a["amount"].notna()].itertuples(index=False):
        for cur in {r.currency, currency} - {"EUR"}:
            wanted.append(fx.rate(cur, r.date))
    years = ds.actors["gdp_year"].dropna().astype(int).unique() if "gdp_year" in ds.actors else []
    for y in years:
        wanted.append(fx.rate("USD", date(int(y), 7, 1)))
    keys = {(w.currency, pd.Timestamp(w.period_start)) for w in wanted}
    f = ds.fx_rates
    hit = [(c, p) in keys for c, p in zip(f["currency"], f["period_start"])]
    return f[hit].sort_values(["currency", "period_start"]).reset_index(drop=True)


def display_rate(ds: Dataset, currency: str) -> tuple[float, str, str]:
    """(units of ``currency`` per EUR, description, source_id) used to show EUR sums."""
    if currency == "EUR":
        return 1.0, "EUR (no conversion)", ""
    r = FxTable(ds.fx_rates).latest(currency, cutoff(ds))
    kind = str(r.rate_type).split(":", 1)[0].strip()  # the rate's kind, not how it was computed
    return r.per_eur, f"{r.per_eur:g} {currency} per EUR ({kind}, {r.period_start}–{r.period_end})", r.source_id


def to_currency(values, ds: Dataset, currency: str):
    """Convert EUR amounts (scalar, Series or frame columns) to ``currency`` at :func:`display_rate`."""
    return values * display_rate(ds, currency)[0]


def _group(ds: Dataset) -> pd.Series:
    a = ds.actors.set_index("actor_id")
    europe = a["europe"].fillna(False).astype(bool) if "europe" in a else pd.Series(False, index=a.index)
    g = pd.Series("Other", index=a.index)
    g[europe | a.index.isin(EU_BODIES)] = "Europe"
    g[a.index == "USA"] = "United States"
    return g


@per_dataset
def aid_by_donor(ds: Dataset, currency: str = "EUR") -> pd.DataFrame:
    """Per donor: allocations and commitments by aid type and in total, in ``currency``.

    Uses Kiel's donor totals when they are in the dataset (cut-off on or after Kiel's coverage);
    otherwise sums dated and undated activity allocations up to the cut-off (commitments are then
    missing, shown as NaN). Adds rank by total allocation, group and coalition membership.
    """
    totals = ds.aid_totals
    if len(totals):
        # Kiel's "EU (Commission and Council)" total already holds the EIB (eu_institutions_check)
        base, basis = totals, "kiel_totals"
    else:
        acts = ds.aid_activities[ds.aid_activities["measure"] == "allocation"]
        base = acts.groupby(["donor_id", "aid_type", "measure"], as_index=False)["value_eur"].sum()
        basis = "activity_sums"
    # one EU donor at every date: the EIB and the EPF are counted under the EU institutions
    base = base.assign(donor_id=base["donor_id"].where(~base["donor_id"].isin(EU_BODIES), EU_DONOR))
    wide = base.pivot_table(index="donor_id", columns=["measure", "aid_type"], values="value_eur",
                            aggfunc="sum", fill_value=0.0)
    out = pd.DataFrame(index=wide.index)
    for measure in ("allocation", "commitment"):
        for t in AID_TYPES:
            col = (measure, t)
            out[f"{measure}_{t}"] = wide[col] if col in wide.columns else (0.0 if measure in wide.columns.get_level_values(0) else float("nan"))
        out[f"{measure}_total"] = out[[f"{measure}_{t}" for t in AID_TYPES]].sum(axis=1, min_count=1)
    rate = display_rate(ds, currency)[0]
    out = out * rate
    members = set(coalition_members(ds)["actor_id"])
    out = out.reset_index()
    out.insert(1, "name", out["donor_id"].map(_actor_names(ds)).where(out["donor_id"] != EU_DONOR, EU_LABEL))
    out["group"] = out["donor_id"].map(_group(ds))
    out["coalition_member"] = out["donor_id"].isin(members)
    out["basis"] = basis
    out["currency"] = currency
    out = out.sort_values(["allocation_total", "name"], ascending=[False, True]).reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def aid_by_group(ds: Dataset, currency: str = "EUR") -> pd.DataFrame:
    """Allocations and commitments: coalition members vs the United States vs all other donors.

    EU institutions are not states, so they are their own category ("EU institutions").
    """
    d = aid_by_donor(ds, currency)
    cat = pd.Series("Other donors", index=d.index)
    cat[d["coalition_member"]] = "Coalition members"
    cat[d["donor_id"].isin(EU_BODIES)] = "EU institutions"
    cat[d["donor_id"] == "USA"] = "United States"
    d = d.assign(category=cat)
    cols = [c for c in d.columns if c.startswith(("allocation_", "commitment_"))]
    out = d.groupby("category")[cols].sum(min_count=1)
    out["donors"] = d.groupby("category").size()
    order = ["Coalition members", "EU institutions", "United States", "Other donors"]
    return out.reindex([o for o in order if o in out.index]).reset_index()


def aid_monthly(ds: Dataset, currency: str = "EUR") -> pd.DataFrame:
    """Monthly allocations (dated activity rows) by group Europe / United States / Other.

    Undated rows are not placed in any month; their sum per group is returned with
    ``month`` = NaT so a chart can mention them.
    """
    a = ds.aid_activities[ds.aid_activities["measure"] == "allocation"].copy()
    a["group"] = a["donor_id"].map(_group(ds))
    a["month"] = a["date"].dt.to_period("M").dt.to_timestamp()
    out = a.groupby(["month", "group"], dropna=False, as_index=False)["value_eur"].sum()
    out["value"] = to_currency(out["value_eur"], ds, currency)
    out["currency"] = currency
    return out.sort_values(["month", "group"], na_position="last").reset_index(drop=True)


def aid_share_of_gdp(ds: Dataset) -> pd.DataFrame:
    """Total allocations as a share of the donor's GDP (percent), states with GDP only.

    GDP is in current USD for ``gdp_year``; allocations (EUR) are converted to USD at the recorded
    rate for the middle of ``gdp_year`` so that both sides are in the same money.
    """
    d = aid_by_donor(ds, "EUR")
    a = ds.actors.set_index("actor_id")
    d = d[d["donor_id"].isin(a.index[a["gdp_usd"].notna()])].copy()
    fx = FxTable(ds.fx_rates)
    usd = []
    for donor, eur in zip(d["donor_id"], d["allocation_total"]):
        year = int(a.at[donor, "gdp_year"])
        usd.append(eur * fx.rate("USD", date(year, 7, 1)).per_eur)
    d["allocation_usd"] = usd
    d["gdp_usd"] = d["donor_id"].map(a["gdp_usd"])
    d["gdp_year"] = d["donor_id"].map(a["gdp_year"])
    d["share_of_gdp_pct"] = 100 * d["allocation_usd"] / d["gdp_usd"]
    cols = ["donor_id", "name", "group", "coalition_member", "allocation_total", "allocation_usd",
            "gdp_usd", "gdp_year", "share_of_gdp_pct"]
    return d[cols].sort_values("share_of_gdp_pct", ascending=False).reset_index(drop=True)


def announcements(ds: Dataset, currency: str = "EUR") -> pd.DataFrame:
    """Curated announcements with the original amount and its value in ``currency``.

    Each amount is converted at the recorded rate for the announcement's own date; the rate used
    and its source are returned beside it. Amounts the source does not give stay empty. Rows that
    restate another announcement (``same_as``) are folded into it as ``also_reported_by``.
    """
    fx = FxTable(ds.fx_rates)
    a = ds.aid_announcements
    # a row that restates another (same_as) adds a source to it, never a second amount
    extra = a.dropna(subset=["same_as"]).groupby("same_as")["source_id"].agg(lambda s: ";".join(sorted(s)))
    rows = []
    for r in a[a["same_as"].isna()].sort_values(["date", "announcement_id"]).itertuples(index=False):
        conv, rate_note, rate_src = None, "", ""
        if pd.notna(r.amount):
            conv = fx.convert(float(r.amount), r.currency, currency, r.date)
            if r.currency != currency:
                a, b = fx.rate(r.currency, r.date), fx.rate(currency, r.date)
                rate_note = f"{r.currency}->{currency} via EUR ({str(a.rate_type).split(':', 1)[0]}; {str(b.rate_type).split(':', 1)[0]})"
                rate_src = ";".join(s for s in (a.source_id, b.source_id) if s)
        rows.append({"date": r.date, "donor_id": r.donor_id, "aid_type": r.aid_type,
                     "amount": r.amount, "currency": r.currency, "qualifier": r.qualifier,
                     "converted": conv, "to_currency": currency, "rate_note": rate_note,
                     "rate_source_ids": rate_src, "description": r.description,
                     "source_id": r.source_id, "also_reported_by": extra.get(r.announcement_id, ""),
                     "confidence": r.confidence})
    out = pd.DataFrame(rows)
    if len(out):
        out.insert(2, "donor", out["donor_id"].map(_actor_names(ds)))
    return out


# ---------------------------------------------------------------------------------------------
# positions

def positions_matrix(ds: Dataset, actors: list[str] | None = None) -> pd.DataFrame:
    """Newest stance per actor and topic (long form), with date, quote and source."""
    p = ds.positions.assign(_conf=ds.positions["confidence"].map(_CONF_RANK)).sort_values(
        ["actor_id", "topic", "date", "_conf", "position_id"])
    latest = p.groupby(["actor_id", "topic"], as_index=False).tail(1)
    if actors is not None:
        latest = latest[latest["actor_id"].isin(actors)]
    latest = latest.assign(actor=latest["actor_id"].map(_actor_names(ds)),
                           topic_label=latest["topic"].map(TOPIC_LABELS))
    return latest.sort_values(["actor", "topic"]).reset_index(drop=True)


def stance_counts(ds: Dataset, topic: str) -> dict[str, list[str]]:
    """Stance -> actor names (newest stance per actor) on ``topic``, in :data:`STANCE_ORDER`."""
    p = positions_matrix(ds)
    p = p[p["topic"] == topic]
    return {s: sorted(p.loc[p["stance"] == s, "actor"]) for s in STANCE_ORDER}


#: A role or stance older than this many calendar months at the as-of date is shown as
#: "last reported <date>" (CURATION.md, "How old an entry is").
STALE_AFTER_MONTHS = 6


def last_reported(ds: Dataset, day: date | None = None, months: int = STALE_AFTER_MONTHS) -> pd.DataFrame:
    """Each actor's newest role and newest stance per topic, marked when older than ``months`` at ``day``.

    ``day`` defaults to the dataset's cut-off (:func:`cutoff`); rows dated after ``day`` are not
    considered. The newest entry is chosen as :func:`current_roles` and :func:`positions_matrix`
    choose it (same day: the better-sourced row). An entry is *stale* when its date is before
    ``day`` minus ``months`` calendar months (on exactly that day it is not yet stale); ``label``
    is then ``"last reported 12 April 2025"`` and empty otherwise, so a table can show it beside
    the role or stance.

    Returns columns ``actor_id``, ``kind`` (``"role"`` or ``"stance"``), ``topic`` (empty for a
    role), ``value`` (the role or stance), ``date``, ``stale`` and ``label``, one row per actor and
    kind/topic, ordered by actor, kind and topic.
    """
    day = pd.Timestamp(day or cutoff(ds))
    limit = day - pd.DateOffset(months=months)
    frames = []
    c = ds.contributions[ds.contributions["date"] <= day]
    if len(c):
        c = c.assign(_conf=c["confidence"].map(_CONF_RANK)).sort_values(["actor_id", "date", "_conf", "contribution_id"])
        c = c.groupby("actor_id", as_index=False).tail(1)
        frames.append(pd.DataFrame({"actor_id": c["actor_id"], "kind": "role", "topic": "", "value": c["role"],
                                    "date": c["date"]}))
    p = ds.positions[ds.positions["date"] <= day]
    if len(p):
        p = p.assign(_conf=p["confidence"].map(_CONF_RANK)).sort_values(
            ["actor_id", "topic", "date", "_conf", "position_id"])
        p = p.groupby(["actor_id", "topic"], as_index=False).tail(1)
        frames.append(pd.DataFrame({"actor_id": p["actor_id"], "kind": "stance", "topic": p["topic"],
                                    "value": p["stance"], "date": p["date"]}))
    cols = ["actor_id", "kind", "topic", "value", "date", "stale", "label"]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out["stale"] = out["date"] < limit
    out["label"] = [f"last reported {fmt_date(d)}" if s else "" for d, s in zip(out["date"], out["stale"])]
    return out[cols].sort_values(["actor_id", "kind", "topic"]).reset_index(drop=True)


def stale_labels(ds: Dataset, day: date | None = None) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """``"last reported <date>"`` for each stale newest role (by actor) and stance (by actor and
    topic), from :func:`last_reported`; entries that are not stale are absent."""
    lr = last_reported(ds, day)
    lr = lr[lr["stale"]]
    roles = {r.actor_id: r.label for r in lr[lr["kind"] == "role"].itertuples()}
    stances = {(r.actor_id, r.topic): r.label for r in lr[lr["kind"] == "stance"].itertuples()}
    return roles, stances


def quotes(ds: Dataset, actor_id: str | None = None) -> pd.DataFrame:
    """Dated exact quotes (positions with a quote), newest first."""
    p = ds.positions[ds.positions["quote"].notna()]
    if actor_id:
        p = p[p["actor_id"] == actor_id]
    p = p.assign(actor=p["actor_id"].map(_actor_names(ds)))
    return p.sort_values(["date", "position_id"], ascending=[False, True]).reset_index(drop=True)


def timeline(ds: Dataset) -> pd.DataFrame:
    """Events and meetings in one dated list (kind 'meeting' for coalition meetings)."""
    ev = ds.events[["date", "kind", "title", "actor_id", "source_id", "confidence"]]
    mt = ds.meetings.assign(kind="meeting", actor_id=pd.NA,
                            title="Coalition meeting: " + ds.meetings["place"])
    mt = mt[["date", "kind", "title", "actor_id", "source_id", "confidence"]]
    return pd.concat([ev, mt], ignore_index=True).sort_values(["date", "title"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# headline

def headline_figures(ds: Dataset, currency: str = "EUR") -> dict[str, object]:
    """The numbers of the title block and executive summary, all computed here."""
    members = coalition_members(ds)
    groups = aid_by_group(ds, currency).set_index("category")
    meetings = ds.meetings.sort_values("date")
    last = meetings.iloc[-1] if len(meetings) else None

    def alloc(cat):
        return float(groups.at[cat, "allocation_total"]) if cat in groups.index else 0.0

    return {
        "as_of": cutoff(ds),
        "members": len(members),
        "force_offering": int(members["role"].isin(FORCE_ROLES).sum()),
        "declined": int((members["role"] == "declined_troops").sum()),
        "meetings": len(meetings),
        "leaders_meetings": int((meetings["level"] == "leaders").sum()),
        "last_meeting_date": None if last is None else last["date"].date(),
        "last_meeting_place": None if last is None else last["place"],
        "alloc_coalition": alloc("Coalition members"),
        "alloc_eu": alloc("EU institutions"),
        "alloc_us": alloc("United States"),
        "alloc_other": alloc("Other donors"),
        "alloc_total": float(groups["allocation_total"].sum()),
        "currency": currency,
    }


# ---------------------------------------------------------------------------------------------
# what the brief cites: one set, one count

#: Tables whose rows the brief shows only in part; every other table's rows are all shown, so all
#: their sources are cited (a new table is cited in full until a rule is added here).
#: ``positions`` is not among them: the annex lists every dated statement (sections.statements).
_PARTLY_SHOWN = {"contributions", "events", "aid_announcements", "claims", "outlook", "judgements",
                 "actors", "fx_rates", "sources"}


def shown_outlook(ds: Dataset) -> pd.DataFrame:
    """The analysts' outlook the brief shows: the newest set written on or before the cut-off."""
    o = ds.tables.get("outlook")
    if o is None or o.empty:
        return pd.DataFrame(columns=["outlook_id", "date", "source_id"])
    return o[o["date"] == o["date"].max()].sort_values(["order", "outlook_id"]).reset_index(drop=True)


def shown_judgements(ds: Dataset) -> pd.DataFrame:
    """The front end's records the brief shows: the newest set written on or before the cut-off
    (empty when none); ``sections.frontend.judgement_set`` orders them for print."""
    j = ds.tables.get("judgements")
    if j is None or j.empty:
        return pd.DataFrame(columns=["judgement_id", "written_as_of", "kind", "order", "source_id"])
    when = pd.to_datetime(j["written_as_of"])
    j = j[when <= pd.Timestamp(cutoff(ds))]
    if j.empty:
        return j
    return j[pd.to_datetime(j["written_as_of"]) == pd.to_datetime(j["written_as_of"]).max()].copy()


def _split_ids(values) -> set[str]:
    """Source ids in a column of single ids or ``;``-separated lists."""
    out: set[str] = set()
    # distinct cells first: a Kiel table repeats one source id on every row (and iterating a
    # pandas string array cell by cell costs ~1 µs a cell)
    distinct = pd.unique(pd.Series(values, dtype=object)) if not isinstance(values, (set, frozenset)) else values
    for v in distinct:
        if isinstance(v, str):
            out |= {i.strip() for i in v.split(";") if i.strip()}
    return out


def _source_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c == "source_id" or c.endswith("_source_id") or c.endswith("_source_ids")]


def cited_source_ids(ds: Dataset, actor_id: str | None = None, *, currency: str = "EUR",
                     since: str | None = SHOWN_SINCE) -> set[str]:
    """The sources the brief cites: those of the records it shows, and only sources in ``sources``.

    This one set is the references list and every "sources cited" count. The brief shows: every
    state on the map with its newest role (:func:`map_status`), every meeting and attendance row,
    the newest stance per actor and topic and every dated statement, events and announcements dated
    from ``since``, the founding article's facts, the outlook shown (:func:`shown_outlook`), Kiel's
    release, the GDP figures and exchange rates used (:func:`rates_used`), and every row of any other
    table. For a country profile (``actor_id``) it is every row about that state.
    """
    known = set(ds.sources["source_id"])
    if actor_id:
        from .cite import used_sources  # a profile shows every row about its state
        return used_sources(ds, actor_id) & known
    ids: set[str] = set()
    for name, df in ds.tables.items():
        if name not in _PARTLY_SHOWN:
            for col in _source_cols(df):
                ids |= _split_ids(df[col])
    ids |= _split_ids(map_status(ds)["source_id"])
    start = pd.Timestamp(since) if since else None
    for name in ("events", "aid_announcements"):
        df = ds.table(name)
        if start is not None and len(df):
            df = df[df["date"] >= start]
        for col in _source_cols(df):
            ids |= _split_ids(df[col])
    ids |= _split_ids(ds.claims.loc[ds.claims["source_id"] == "article", "source_id"])
    o = shown_outlook(ds)
    for col in _source_cols(o):
        ids |= _split_ids(o[col])
    jset = shown_judgements(ds)  # only the newest set is printed (its facts' sources are Kiel, GDP and
    for col in _source_cols(jset):  # evidence tables, all listed above)
        ids |= _split_ids(jset[col])
    gdp = aid_share_of_gdp(ds)
    if len(gdp) and "gdp_source_id" in ds.actors:
        ids |= _split_ids(ds.actors.loc[ds.actors["actor_id"].isin(gdp["donor_id"]), "gdp_source_id"])
    ids |= _split_ids(rates_used(ds, currency)["source_id"])
    return ids & known


def later_series_ids(ds: Dataset, cited: set[str] | None = None) -> set[str]:
    """Cited sources compiled after the cut-off (a later Kiel release, the ECB rates file): only
    their values dated by then are used, so they are counted apart from those published by then."""
    from .data import source_dates

    cited = cited if cited is not None else cited_source_ids(ds)
    known = source_dates(ds.sources[ds.sources["source_id"].isin(cited)])
    day = pd.Timestamp(cutoff(ds))
    return {sid for sid, k in known.items() if pd.notna(k) and k > day}


# ---------------------------------------------------------------------------------------------
# periods

def partial_periods(ds: Dataset, months: pd.Series) -> dict[str, pd.Timestamp | None]:
    """The month and quarter that the data covers only in part (``None`` when complete).

    Kiel's coverage ends on ``ds.kiel_cutoff`` (or, reconstructed, on the as-of date): a month or
    quarter that ends after it is incomplete.
    """
    end = pd.Timestamp(min(d for d in (ds.kiel_cutoff, cutoff(ds)) if d))
    months = pd.to_datetime(pd.Series(list(months))).dropna()
    if months.empty:
        return {"month": None, "quarter": None}
    last = months.max()
    month_end = last + pd.offsets.MonthEnd(0)
    q_end = last.to_period("Q").end_time.normalize()
    return {"month": last if month_end > end else None,
            "quarter": last.to_period("Q").start_time if q_end > end else None, "end": end}


def last_twelve_months(ds: Dataset, currency: str = "EUR") -> dict:
    """Allocations by group over the twelve newest dated months (the monthly chart's window)."""
    m = aid_monthly(ds, currency)
    m = m[m["month"].notna()]
    if m.empty:
        return {"end": None, "start": None, "by_group": {}, "total": 0.0}
    end = m["month"].max()
    start = end - pd.DateOffset(months=11)
    w = m[m["month"] >= start].groupby("group")["value"].sum()
    return {"end": end, "start": start, "by_group": w.to_dict(), "total": float(w.sum())}
