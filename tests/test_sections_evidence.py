"""The evidence sections (force generation, public opinion, context) and their data tables.

Expected values are computed here from the CSV text of data/, never copied from the program's
output; every section function is run at the default date and at two early dates, where the
as-of rule must hide every row dated or published later, and on the small fixture that has none
of these tables (empty inputs).
"""

from __future__ import annotations

import csv
import json
import re
from datetime import date

import pytest

from coalition_report import brief
from coalition_report.data import DATE_COLUMNS, cut_to, load_data
from coalition_report.display import MIME_FIGURE
from coalition_report.sections import context, forces, opinion
from conftest import FIXTURES, ROOT

DATA = ROOT / "data"
NEW_TABLES = ("force_pledges", "force_estimates", "polls", "statements", "approvals", "financing")

CALLS = {
    "forces.chart_force_pledges": forces.chart_force_pledges,
    "forces.chart_force_estimates": forces.chart_force_estimates,
    "forces.table_force_pledges": forces.table_force_pledges,
    "forces.table_force_estimates": forces.table_force_estimates,
    "opinion.chart_polls": opinion.chart_polls,
    "opinion.table_polls": opinion.table_polls,
    "context.context_summary": context.context_summary,
    "context.table_us_backstop": context.table_us_backstop,
    "context.table_russia_position": context.table_russia_position,
    "context.table_approvals": context.table_approvals,
    "context.table_financing": context.table_financing,
    "context.table_eu_role": context.table_eu_role,
}
EARLY = ["2025-03-06", "2025-06-30"]


def _rows(name: str) -> list[dict]:
    with open(DATA / f"{name}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _source_day() -> dict[str, date]:
    out = {}
    for r in _rows("sources"):
        day = r["published"] if len(r["published"]) == 10 else r["known_from"]
        out[r["source_id"]] = date.fromisoformat(day)
    return out


def _known_by(name: str, as_of: str | None) -> list[dict]:
    """Rows of ``name`` the as-of rule keeps, computed from the CSV text."""
    known = _source_day()
    rows = _rows(name)
    if as_of is None:
        return rows
    day = date.fromisoformat(as_of)
    return [r for r in rows if date.fromisoformat(r["date"]) <= day and known[r["source_id"]] <= day]


@pytest.fixture(scope="module")
def full():
    return load_data(DATA)


def _at(full, as_of):
    return cut_to(full, as_of or full.knowledge_date)


def test_every_public_function_of_the_evidence_sections_is_covered_and_exported():
    public = {f"{m.__name__.rsplit('.', 1)[1]}.{n}" for m in (forces, opinion, context)
              for n in m.__all__ if callable(getattr(m, n)) and n[0].islower() and n != "poll_rows"}
    assert public == set(CALLS)
    for name in CALLS:
        assert name.split(".")[1] in brief.__all__, name


def test_new_tables_are_resources_with_a_date_column_and_source_key():
    desc = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    res = {r["name"]: r for r in desc["resources"]}
    for name in NEW_TABLES:
        assert DATE_COLUMNS[name] == "date"
        fks = res[name]["schema"]["foreignKeys"]
        assert {"fields": ["source_id"], "reference": {"resource": "sources", "fields": ["source_id"]}} in fks
        assert [f["name"] for f in res[name]["schema"]["fields"]][-2:] == ["source_id", "confidence"]


@pytest.mark.parametrize("as_of", [None, *EARLY])
@pytest.mark.parametrize("name", NEW_TABLES)
def test_as_of_keeps_exactly_the_rows_dated_and_published_by_then(full, name, as_of):
    ds = _at(full, as_of)
    key = next(iter(_rows(name)[0]))
    assert sorted(ds.table(name)[key]) == sorted(r[key] for r in _known_by(name, as_of))


@pytest.mark.parametrize("as_of", [None, *EARLY])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_section_renders_sourced_and_shows_nothing_later(full, name, as_of):
    ds = _at(full, as_of)
    obj = CALLS[name](ds)
    payload = obj._repr_mimebundle_()[MIME_FIGURE]
    json.dumps(payload)
    assert payload["kind"] in ("figure", "table", "html")
    if payload["kind"] == "figure":
        assert payload["svg"].lstrip().startswith("<svg") and payload["alt_text"]
        assert "nan" not in payload["alt_text"]
    if payload["kind"] in ("figure", "table"):
        assert payload["source_note"].startswith("Source")
    text = json.dumps(payload, ensure_ascii=False)
    cutoff = ds.as_of
    for day in re.findall(r"\b(20\d\d-\d\d-\d\d)\b", text):
        assert date.fromisoformat(day) <= cutoff, (name, day)
    # no source published later is cited
    known = set(ds.sources["source_id"])
    for sid in re.findall(r"\[([a-z0-9][a-z0-9-]+)\]", text):
        assert sid in known, (name, sid)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_sections_say_so_when_the_tables_are_missing(name):
    ds = load_data(FIXTURES / "valid")
    assert not set(NEW_TABLES) & set(ds.tables)
    payload = CALLS[name](ds)._repr_mimebundle_()[MIME_FIGURE]
    assert payload["kind"] in ("figure", "table", "html")


@pytest.mark.parametrize("as_of", [None, *EARLY])
def test_pledge_chart_title_counts_states_and_the_estimate_range(full, as_of):
    pledges = _known_by("force_pledges", as_of)
    estimates = _known_by("force_estimates", as_of)
    fig = forces.chart_force_pledges(_at(full, as_of))
    title = fig.chart.to_dict()["title"]["text"]
    title = " ".join(title) if isinstance(title, list) else title
    n = len({r["actor_id"] for r in pledges})
    assert title.startswith(f"{n} state")
    if estimates:
        lo = min(int(r["troops_low"]) for r in estimates)
        hi = max(int(r["troops_high"]) for r in estimates)
        assert f"from {lo:,} to {hi:,} troops" in title
    else:
        assert "estimates" not in title
    values = fig.values.frame
    assert len(values) == len({(r["actor_id"], r["component"]) for r in pledges})


@pytest.mark.parametrize("topic, what", [("troops", "sending troops"), ("aid", "increasing aid")])
def test_poll_chart_title_counts_polls_where_support_outweighs_opposition(full, topic, what):
    rows = [r for r in _known_by("polls", None) if r["topic"] == topic and r["support_pct"] and r["oppose_pct"]]
    assert rows
    more = sum(float(r["support_pct"]) > float(r["oppose_pct"]) for r in rows)
    title = opinion.chart_polls(_at(full, None), topic).chart.to_dict()["title"]["text"]
    assert title == (f"Support for {what} outweighed opposition in {more} of {len(rows)} polls that give "
                     "both shares")


def test_poll_values_table_holds_every_published_share(full):
    fig = opinion.chart_polls(_at(full, None))
    shown = fig.values.frame
    rows = [r for r in _known_by("polls", None)
            if r["topic"] == "troops" and (r["support_pct"] or r["oppose_pct"] or r["dont_know_pct"])]
    assert len(shown) == len(rows)
    assert sorted(shown["Support %"].dropna()) == sorted(float(r["support_pct"]) for r in rows if r["support_pct"])


def test_russia_table_holds_statements_and_positions_by_speaker(full):
    ds = _at(full, None)
    table = context.table_russia_position(ds).frame
    n = (sum(r["actor_id"] == "RUS" and r["subject"] == "russia_position" for r in _known_by("statements", None))
         + sum(r["actor_id"] == "RUS" for r in _known_by("positions", None)))
    assert len(table) == n
    assert list(table["Date"]) == sorted(table["Date"])


def test_approvals_summary_names_the_states_that_need_a_vote(full):
    rows = [r for r in _known_by("approvals", None) if r["status"] == "required"]
    names = {r["actor_id"]: r["name"] for r in _rows("actors")}
    states = sorted({names[r["actor_id"]] for r in rows})
    text = context.context_summary(_at(full, None)).text
    assert f"{len(states)} states" in text and ", ".join(states) in text


def test_financing_amounts_are_shown_as_reported_never_added(full):
    table = context.table_financing(_at(full, None)).frame
    rows = _known_by("financing", None)
    assert len(table) == len(rows)
    assert "Total" not in " ".join(table.columns)


def test_no_russian_state_media_source_for_another_state():
    """Russian state media (TASS, RIA, Sputnik, RT) only for Russia's own statements in the new tables."""
    media = {r["source_id"] for r in _rows("sources") if re.search(r"\b(TASS|RIA|Sputnik|RT)\b", r["publisher"])}
    for name in NEW_TABLES:
        for r in _rows(name):
            if r["source_id"] in media:
                assert r.get("actor_id") == "RUS", (name, r)


@pytest.mark.parametrize("country", ["EST", "DEU", "GBR", "ISL"])
def test_country_filters_keep_only_that_states_rows(full, country):
    ds = _at(full, None)
    names = {r["actor_id"]: r["name"] for r in _rows("actors")}
    for fn, table, col in ((lambda: forces.table_force_pledges(ds, country), "force_pledges", "State"),
                           (lambda: context.table_approvals(ds, country), "approvals", "State"),
                           (lambda: opinion.table_polls(ds, country=country), "polls", "Poll")):
        frame = fn().frame
        expected = [r for r in _known_by(table, None) if r["actor_id"] == country]
        if expected:
            # the polls table names the country at the head of its "Poll" cell ("Germany: Forsa ...")
            states = set(frame[col]) if col == "State" else {v.split(":", 1)[0] for v in frame[col]}
            assert states == {names[country]} and len(frame) == len(expected)
        else:
            assert list(frame.columns) == ["Note"]

