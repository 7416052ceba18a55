"""The shipped data package: valid, fully sourced, and holding what the brief promises."""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta

import pandas as pd

from coalition_report import analysis as an
from coalition_report.data import validate_data
from coalition_report.fx import FxTable
from conftest import ROOT

DATA = ROOT / "data"
ARTICLE = (DATA / "sources" / "coalition-of-the-willing-article.txt").read_text(encoding="utf-8")


def test_shipped_package_has_no_problems():
    assert [str(p) for p in validate_data(DATA)] == []


def test_every_row_of_every_table_is_sourced(shipped):
    sources = set(shipped.sources["source_id"])
    for res in shipped.descriptor["resources"]:
        if res["name"] == "sources":
            continue
        names = [f["name"] for f in res["schema"]["fields"]]
        assert "source_id" in names, f"{res['name']} has no source_id column"
        with open(DATA / res["path"], newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                assert row["source_id"] in sources, (res["path"], line)


def test_sources_are_traceable(shipped):
    s = shipped.sources
    for r in s.itertuples():
        assert pd.notna(r.url) or pd.notna(r.local_path), r.source_id
        if pd.notna(r.local_path):
            assert (DATA / r.local_path).is_file(), r.local_path


def test_required_meetings_have_attendance(shipped):
    att = shipped.attendance.groupby("meeting_id")["actor_id"].nunique()
    for mid in ["2025-03-02-london", "2025-03-15-virtual", "2025-03-27-paris", "2025-09-04-paris", "2026-01-06-paris"]:
        assert att.get(mid, 0) >= 10, mid


def test_about_35_participating_states_each_with_a_role(shipped):
    states = set(shipped.actors.loc[shipped.actors["actor_type"] == "state", "actor_id"])
    attended = set(shipped.attendance.loc[shipped.attendance["status"] != "absent", "actor_id"]) & states
    assert 35 <= len(attended) <= 45
    roles = set(shipped.contributions["actor_id"])
    # every participant but Ukraine (the beneficiary) has a reported role (Romania's rests on a
    # low-confidence source dated only to January 2026, so it is flagged low)
    assert attended - roles <= {"UKR"}


def test_positions_cover_required_actors_on_both_topics(shipped):
    p = shipped.positions
    for actor in ["RUS", "USA", "GBR", "FRA", "DEU", "TUR", "IRL", "AUS", "CAN", "eu-commission", "UKR"]:
        topics = set(p.loc[p["actor_id"] == actor, "topic"])
        assert "coalition_force" in topics, actor
        if actor != "CAN":  # the dossier found no Canadian ceasefire statement
            assert "ceasefire" in topics, actor


def test_article_quotes_are_exact(shipped):
    c = shipped.claims[shipped.claims["source_id"] == "article"]
    assert len(c) >= 40
    flat = re.sub(r"\s+", " ", ARTICLE)
    for q in c["quote"].dropna():
        assert q in flat, q


def test_article_amounts_recorded_in_original_currency(shipped):
    c = shipped.claims[(shipped.claims["source_id"] == "article") & shipped.claims["value"].notna()]
    got = set(zip(c["value"], c["unit"]))
    assert (1.6e9, "GBP") in got and (30e6, "GBP") in got and (800e9, "EUR") in got and (670e9, "GBP") in got


def test_all_kiel_rows_present(shipped):
    a = shipped.aid_activities
    assert len(a) == 5565 and int(a["undated"].sum()) == 284
    assert a.loc[a["value_eur"] < 0, "correction"].all()


def test_kiel_totals_cover_every_summary_donor(shipped):
    with open(DATA / "kiel" / "country_summary.csv", newline="", encoding="utf-8") as f:
        n = sum(1 for _ in csv.DictReader(f))
    assert shipped.aid_totals["donor_id"].nunique() == n


def test_every_announcement_converts(shipped):
    fx = FxTable(shipped.fx_rates)
    a = shipped.aid_announcements.dropna(subset=["amount"])
    assert {"GBP", "USD"} <= set(a["currency"])
    for r in a.itertuples():
        for cur in ("EUR", "USD", "GBP"):
            assert fx.convert(float(r.amount), r.currency, cur, r.date) > 0


def test_gdp_year_has_usd_rate(shipped):
    fx = FxTable(shipped.fx_rates)
    for year in shipped.actors["gdp_year"].dropna().unique():
        assert fx.rate("USD", f"{int(year)}-07-01").per_eur > 0


def test_membership_matches_reported_coalition_size(shipped):
    # Sources report "35 countries" forming the coalition (25 Nov 2025, 6 Jan 2026) incl. Ukraine.
    reported = shipped.claims[shipped.claims["meeting_id"].isin(["2025-11-25-virtual", "2026-01-06-paris"])
                              & (shipped.claims["unit"].isin(["countries", "states"]))]["value"]
    assert 35 in set(reported)
    assert abs(len(an.coalition_members(shipped)) + 1 - 35) <= 2


def test_every_quote_is_verbatim_in_the_dossier_or_the_article(shipped):
    """Quotes are copied, never paraphrased: each must appear word for word in a shipped source text,
    or in the passage its own source's ``note`` records from the stored page it was read on."""
    dossier = re.sub(r"\s+", " ", (DATA / "sources" / "research-dossier.md").read_text(encoding="utf-8"))
    article = re.sub(r"\s+", " ", ARTICLE)
    notes = {r["source_id"]: r["note"] for r in csv.DictReader(open(DATA / "sources.csv", newline="", encoding="utf-8"))}
    for table in ("positions", "claims"):
        for r in shipped.table(table).dropna(subset=["quote"]).itertuples():
            own = notes.get(r.source_id) or ""
            assert r.quote in dossier or r.quote in article or r.quote in own, (table, r._1, r.quote)


def _period(published: str) -> tuple[date, date]:
    """First and last day of a published value YYYY, YYYY-MM or YYYY-MM-DD."""
    parts = [int(x) for x in published.split("-")]
    if len(parts) == 3:
        d = date(*parts)
        return d, d
    if len(parts) == 2:
        y, m = parts
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        return date(y, m, 1), nxt - timedelta(days=1)
    return date(parts[0], 1, 1), date(parts[0], 12, 31)


def test_every_source_has_a_day_it_was_known():
    """known_from (CURATION.md) dates every source that has no exact publication day, within its bounds."""
    with open(DATA / "sources.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        sid, pub, kf, acc = r["source_id"], r["published"], r["known_from"], r["accessed"]
        exact = len(pub) == 10
        assert exact or kf, f"{sid}: no exact published day and no known_from"
        if exact:
            assert not kf, f"{sid}: published is an exact day, known_from must stay empty"
            continue
        known = date.fromisoformat(kf)
        if pub:
            first, last = _period(pub)
            assert first <= known <= last, f"{sid}: known_from {kf} outside published period {pub}"
        if acc:
            assert known <= date.fromisoformat(acc), f"{sid}: known_from {kf} after accessed {acc}"
    known = {r["source_id"]: r["known_from"] for r in rows}
    assert known["article"] == "2025-03-06"  # latest dated event the founding article reports


# Text fields of the curated tables, checked for later knowledge.
TEXT_FIELDS = {
    "meetings": ["place", "hosts", "participation_as_reported", "outcome"],
    "attendance": ["note"],
    "contributions": ["as_reported", "conditions"],
    "positions": ["summary", "quote"],
    "events": ["title", "description"],
    "claims": ["statement", "quote"],
    "aid_announcements": ["description"],
    "outlook": ["question", "text"],
    # evidence tables (force generation, opinion, context)
    "force_pledges": ["conditions", "as_reported"],
    "force_estimates": ["scenario", "description"],
    "polls": ["question", "note"],
    "statements": ["summary", "quote"],
    "approvals": ["as_reported", "quote"],
    "financing": ["description"],
}
# A later year is fine only where the text states a plan or a name known on the row's date.
# (table, row id, text as matched): why it may name a later period.
LATER_DATE_ALLOWED = {
    ("contributions", "nzl-2025-04-22", "Dec 2026"): "deployment end date announced with the package",
    ("events", "2025-12-18-eu-90bn-loan", "2026–27"): "the years the loan was agreed for",
    ("aid_announcements", "eu-2025-12-18-loan-90bn", "2026–27"): "the years the loan was agreed for",
    ("aid_announcements", "deu-2025-04-11-11bn-to-2029", "2029"): "horizon of the pledge as announced",
    ("aid_announcements", "deu-2025-11-15-2026-budget", "2026"): "the budget year as announced",
    ("claims", "hungary-election-2026-04-12", "April 2026"): "election date as set on 13 Jan 2026",
}
LATER_NAME_ALLOWED = {"Readiness 2030"}  # the EU plan's name, not a date
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_MONTH_YEAR = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
                         r"((?:/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*)*)\s+'?(\d{4}|\d{2})(?!\d)")
_YEAR = re.compile(r"(?<![\d,.])(20\d{2})(?:[–-](\d{2}|\d{4}))?(?![\d,])")


def named_periods(text: str):
    """(matched text, year, month or None) for every month+year and bare year the text names."""
    spans = []
    for m in _MONTH_YEAR.finditer(text):
        months = [m.group(1)] + [x for x in m.group(2).split("/") if x]
        year = int(m.group(3)) if len(m.group(3)) == 4 else 2000 + int(m.group(3))
        spans.append(m.span())
        yield m.group(0), year, max(_MONTHS[x[:3].lower()] for x in months)
    for m in _YEAR.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue
        yield m.group(0), int(m.group(1)), None
        if m.group(2):
            end = m.group(2)
            yield m.group(0), int(end) if len(end) == 4 else int(m.group(1)[:2] + end), None


def _after(year, month, day: date) -> bool:
    return year > day.year or (month is not None and year == day.year and month > day.month)


def source_days(shipped) -> dict:
    s = shipped.sources
    out = {}
    for r in s.itertuples():
        if pd.notna(r.known_from):
            out[r.source_id] = r.known_from.date()
        elif pd.notna(r.published) and len(r.published) == 10:
            out[r.source_id] = date.fromisoformat(r.published)
    return out


def test_text_names_no_period_later_than_its_row(shipped):
    """No curated text carries later knowledge: a year or month+year after both the row's date and
    its source's publication is allowed only where it states a plan or a name (LATER_DATE_ALLOWED)."""
    known = source_days(shipped)
    meeting_day = dict(zip(shipped.meetings["meeting_id"], shipped.meetings["date"].dt.date))
    found = set()
    for table, cols in TEXT_FIELDS.items():
        if table not in shipped.tables:
            continue
        df = shipped.table(table)
        key = df.columns[0]
        for r in df.to_dict("records"):
            src_day = known[r["source_id"]]
            if table == "attendance":
                row_day, rid = meeting_day[r["meeting_id"]], f"{r['meeting_id']}/{r['actor_id']}"
            else:
                rid = r[key]
                row_day = r["date"].date() if pd.notna(r.get("date")) else src_day
            for col in cols:
                text = r.get(col)
                if not isinstance(text, str):
                    continue
                for name in LATER_NAME_ALLOWED:
                    text = text.replace(name, "")
                for match, year, month in named_periods(text):
                    if _after(year, month, row_day) and _after(year, month, src_day):
                        found.add((table, rid, match))
    assert found <= set(LATER_DATE_ALLOWED), sorted(found - set(LATER_DATE_ALLOWED))
    assert set(LATER_DATE_ALLOWED) <= found, "stale allow-list entries: " + repr(sorted(set(LATER_DATE_ALLOWED) - found))


def test_named_periods_reads_the_forms_the_data_uses():
    got = [(y, m) for _, y, m in named_periods("US backstop (Feb 25); Co-chair (Aug/Nov 25); loan 2026–27; 20 Feb 2026")]
    assert got == [(2025, 2), (2025, 11), (2026, 2), (2026, None), (2027, None)]
    assert list(named_periods("20,000 troops; €2,260,000,000")) == []


def test_states_named_with_troop_offers_are_members_by_then():
    """A state a report names among those offering troops is a coalition member on that report's date
    (the AFP report of 11 Apr 2025 names Estonia beside Latvia and Lithuania)."""
    from coalition_report.data import load_data

    ds = load_data(DATA, as_of="2025-04-11")
    members = set(an.coalition_members(ds)["actor_id"])
    assert {"GBR", "FRA", "EST", "LVA", "LTU"} <= members


def test_ruling_out_own_troops_is_not_support_for_the_force(shipped):
    """CURATION.md stance rules: an actor that rules out its own troops supports the force only if
    it offers something else of its own for it; Italy, Poland, Japan, Ireland and the US (Aug 2025)
    ruled troops out and offered nothing for the force, so they are neutral, not supporters."""
    p = shipped.positions[shipped.positions["topic"] == "coalition_force"]
    rules_out = p["summary"].str.contains(
        r"will not send|rules out|no Self-Defense|not a single|not a deterrent|not among these", regex=True)
    assert set(p.loc[rules_out, "stance"]) <= {"neutral", "oppose"}, p.loc[rules_out, ["position_id", "stance"]]
    newest = an.positions_matrix(shipped)
    force = newest[newest["topic"] == "coalition_force"].set_index("actor_id")["stance"]
    assert {a: force[a] for a in ["ITA", "POL", "JPN", "USA", "IRL"]} == dict.fromkeys(
        ["ITA", "POL", "JPN", "USA", "IRL"], "neutral")


def test_outlook_rests_only_on_sources_known_by_its_date(shipped):
    """Every outlook point cites sources that resolve, none published after the day it is written
    as of; its text is plain (no Markdown); each dated set is numbered 1..n."""
    o = shipped.table("outlook")
    assert len(o) >= 4
    known = source_days(shipped)
    for r in o.to_dict("records"):
        others = [i.strip() for i in str(r["other_source_ids"] or "").split(";") if i.strip()] \
            if isinstance(r["other_source_ids"], str) else []
        for sid in [r["source_id"], *others]:
            assert sid in known, (r["outlook_id"], sid)
            assert known[sid] <= r["date"].date(), (r["outlook_id"], sid, known[sid])
        for text in (r["question"], r["text"]):
            assert not re.search(r"[*_#`\[\]]|^\s*[-+] ", text), (r["outlook_id"], text)
    for day, group in o.groupby("date"):
        assert sorted(group["order"]) == list(range(1, len(group) + 1)), day
