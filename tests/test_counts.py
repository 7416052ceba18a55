"""One count per thing: the sources the brief cites, the EU institutions, the members that are no
donors. Expected values are worked from the CSV files, not from the analysis functions.
"""

from __future__ import annotations

import csv
import re

import pytest
from bs4 import BeautifulSoup

from coalition_report import analysis as an
from coalition_report.data import cut_to, load_data
from coalition_report.sections import aid, methods, summary
from conftest import ROOT

DATA = ROOT / "data"


def _rows(name: str) -> list[dict]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def full():
    return load_data(DATA)


@pytest.fixture(scope="module", params=["", "2025-03-20", "2025-06-30", "2025-12-31"])
def ds(request, full):
    return cut_to(full, request.param or full.knowledge_date)


# ---------------------------------------------------------------------------------------------
# sources cited: one set, one number
# ---------------------------------------------------------------------------------------------
def test_references_and_the_coverage_count_are_the_one_cited_set(ds):
    cited = an.cited_source_ids(ds)
    listed = [r["source_id"] for r in methods.references(ds).rows]
    assert sorted(listed) == sorted(cited)
    assert f"Sources cited ({len(listed)})" in methods.references(ds).caption
    later = an.later_series_ids(ds)
    assert f"{len(listed)} sources are cited: {len(listed) - len(later)} published by" in summary.data_coverage_text(ds).text
    # a series compiled later (Kiel's release, the ECB file) is never counted as published by then
    from coalition_report.data import source_dates
    known = source_dates(ds.sources)
    assert later == {s for s in listed if known.get(s) is not None and known[s] > __import__("pandas").Timestamp(an.cutoff(ds))}


def test_the_outlook_shown_has_all_its_sources_listed(ds):
    day = an.cutoff(ds).isoformat()
    written = [r for r in _rows("outlook.csv") if r["date"] <= day]
    if not written:
        return
    newest = max(r["date"] for r in written)
    known = set(ds.sources["source_id"])
    wanted = {i.strip() for r in written if r["date"] == newest
              for i in [r["source_id"], *r["other_source_ids"].split(";")] if i.strip() in known}
    assert wanted and wanted <= an.cited_source_ids(ds)


def test_a_table_added_later_is_cited_in_full(full):
    """A new table (judgements, polls ...) is cited in full until a rule says otherwise."""
    import pandas as pd
    ds = cut_to(full, full.knowledge_date)
    sid = ds.sources["source_id"].iloc[0]
    ds.tables["polls"] = pd.DataFrame({"poll_id": ["p1"], "source_id": [sid], "other_source_ids": ["x;" + sid]})
    try:
        assert sid in an.cited_source_ids(ds)
    finally:
        del ds.tables["polls"]


@pytest.mark.slow
def test_every_listed_source_is_cited_and_every_cited_source_listed(build_brief):
    """In the built brief: the ids in the body are exactly the ids in Sources (nothing cited but
    missing, such as ref-166 in the outlook; nothing listed but never cited)."""
    html = build_brief("").outputs["html"].read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    refs = soup.select_one("div.references")
    listed = {li["id"][4:] for li in refs.select("li[id^=src-]")}
    refs.decompose()
    for tag in soup(["script", "style"]):
        tag.decompose()
    body = re.sub(r"\s+", " ", soup.get_text(" "))
    ids = {r["source_id"] for r in _rows("sources.csv")}

    def cited(sid):
        if re.search(r"[\d-]", sid):
            return re.search(rf"(?<![\w-]){re.escape(sid)}(?![\w-])", body) is not None
        return f"[{sid}]" in body
    in_body = {sid for sid in ids if cited(sid)}
    assert sorted(in_body - listed) == [], "cited but not in Sources"
    assert sorted(listed - in_body) == [], "in Sources but never cited"


# ---------------------------------------------------------------------------------------------
# EU institutions: one definition at every date
# ---------------------------------------------------------------------------------------------
EU = {"eu-institutions", "eib", "epf"}


def test_eu_institutions_are_commission_council_eib_and_epf_at_every_date(ds):
    day = an.cutoff(ds).isoformat()
    if ds.kiel_reconstructed:
        want = sum(float(r["value_eur"]) for r in _rows("aid_activities.csv")
                   if r["donor_id"] in EU and r["measure"] == "allocation" and r["date"] and r["date"] <= day)
    else:
        want = sum(float(r["value_eur"]) for r in _rows("aid_totals.csv")
                   if r["donor_id"] == "eu-institutions" and r["measure"] == "allocation")
    groups = an.aid_by_group(ds).set_index("category")
    assert groups.at["EU institutions", "allocation_total"] == pytest.approx(want)
    assert groups.at["EU institutions", "donors"] == 1
    assert not set(an.aid_by_donor(ds)["donor_id"]) & {"eib", "epf"}


def test_kiels_eu_total_holds_the_eib(full):
    """Why the EIB is inside Kiel's total: the summary total equals the Commission and Council's
    activity rows plus the EIB's."""
    acts = _rows("aid_activities.csv")
    s = {d: sum(float(r["value_eur"]) for r in acts if r["donor_id"] == d and r["measure"] == "allocation")
         for d in EU}
    total = sum(float(r["value_eur"]) for r in _rows("aid_totals.csv")
                if r["donor_id"] == "eu-institutions" and r["measure"] == "allocation")
    assert total == pytest.approx(s["eu-institutions"] + s["eib"], rel=1e-9)
    text = " ".join(t for _, t in an.definitions(cut_to(full, full.knowledge_date)))
    assert "European Investment Bank" in text and "European Peace Facility" in text and "EIB is inside" in text


def test_members_without_kiel_rows_are_named_where_donors_are_counted(full):
    ds = cut_to(full, full.knowledge_date)
    donors = {r["donor_id"] for r in _rows("aid_activities.csv")} | {r["donor_id"] for r in _rows("aid_totals.csv")}
    members = an.coalition_members(ds)
    missing = sorted(members.loc[~members["actor_id"].isin(donors), "name"])
    assert missing  # Albania and Montenegro in the shipped data
    fig = aid.chart_aid_groups(ds, "EUR")
    subtitle = " ".join(fig.spec["title"]["subtitle"])
    assert f"the {len(members)} coalition members count as {len(members) - len(missing)} donors" in subtitle
    for name in missing:
        assert name in subtitle and name in fig.source_note
        assert name in " ".join(t for _, t in an.definitions(ds))
