"""The validator finds each defect of the broken corpus, exactly where it is."""

from __future__ import annotations

import shutil

import pytest

from coalition_report.data import validate_data
from conftest import FIXTURES
from hostile.mutate import descriptor_line, top_level_line

# case -> the problems expected: (file, line, column, rule)
EXPECTED = {
    "missing_column": [("positions.csv", 1, "stance", "missing-column")],
    "wrong_type": [("aid_totals.csv", 2, "value_eur", "type")],
    "bad_date": [("meetings.csv", 3, "date", "type")],
    "duplicate_id": [("meetings.csv", 3, "meeting_id", "primary-key"),
                     # the renamed meeting no longer exists, so its attendance row dangles
                     ("attendance.csv", 4, "meeting_id", "foreign-key")],
    "dangling_source": [("positions.csv", 3, "source_id", "foreign-key")],
    "dangling_actor": [("attendance.csv", 4, "actor_id", "foreign-key")],
    "unknown_country": [("actors.csv", 4, "iso3", "iso-country")],
    "unknown_currency": [("aid_announcements.csv", 2, "currency", "iso-currency")],
    "negative_amount": [("aid_activities.csv", 3, "value_eur", "negative-amount")],
    "ragged_rows": [("events.csv", 2, None, "row-length")],
    "bad_quoting": [("meetings.csv", 3, None, "csv-syntax")],
    "bom": [("sources.csv", 1, None, "encoding")],
    "empty_file": [("claims.csv", None, None, "empty-file")],
    # hostile input (issue 10); tests/test_hostile_data.py has the systematic cases
    "control_char": [("meetings.csv", 3, "outcome", "control-char")],
    "formula": [("sources.csv", 2, "title", "formula")],
    "implausible_amount": [("aid_activities.csv", 2, "value_eur", "plausible-amount")],
    "no_fx_rate": [("aid_announcements.csv", 2, "currency", "fx-missing")],
    "header_only": [("attendance.csv", None, None, "no-rows")],
    "latin1": [("sources.csv", 2, "title", "encoding")],
    "utf16": [("claims.csv", None, None, "encoding")],
    "descriptor_type": [("datapackage.json", descriptor_line(FIXTURES / "descriptor_type", "meetings", "date", "type"),
                         "meetings.date", "expected-type")],
    "no_path": [("datapackage.json", descriptor_line(FIXTURES / "no_path", "fx_rates"), None, "resource-path")],
    "missing_resource": [("datapackage.json", top_level_line(FIXTURES / "missing_resource", "resources"), None,
                          "expected-resource")],
}


def test_valid_fixture_has_no_problems(valid_dir):
    assert validate_data(valid_dir) == []


def test_corpus_covers_every_case():
    dirs = {p.name for p in FIXTURES.iterdir() if p.is_dir() and (p / "datapackage.json").exists()}
    assert dirs - {"valid"} == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_broken_fixture_reports_exact_problems(case):
    problems = validate_data(FIXTURES / case)
    got = sorted((p.file, p.line, p.column, p.rule) for p in problems)
    assert got == sorted(EXPECTED[case], key=lambda t: (t[0], t[1] or 0, t[2] or "", t[3]))


def test_problem_names_offending_value():
    [p] = validate_data(FIXTURES / "unknown_currency")
    assert p.value == "GPB"
    assert str(p).startswith("aid_announcements.csv:2: column 'currency': value 'GPB': rule iso-currency")


def test_all_problems_collected_in_one_pass(tmp_path, valid_dir):
    pkg = tmp_path / "pkg"
    shutil.copytree(valid_dir, pkg)
    (pkg / "meetings.csv").write_text((pkg / "meetings.csv").read_text().replace("leaders,Starmer", "summit,Starmer"))
    pos = (pkg / "positions.csv").read_text()
    (pkg / "positions.csv").write_text(pos.replace(",oppose,", ",hostile,").replace("2025-03-15", "2025-13-15"))
    rules = sorted((p.file, p.rule) for p in validate_data(pkg))
    assert rules == [("meetings.csv", "enum"), ("positions.csv", "enum"), ("positions.csv", "type")]


def test_cross_field_rules(tmp_path, valid_dir):
    pkg = tmp_path / "pkg"
    shutil.copytree(valid_dir, pkg)
    acts = (pkg / "aid_activities.csv").read_text().replace("2025-03-10,false", "2025-03-10,true")
    (pkg / "aid_activities.csv").write_text(acts)
    fx = (pkg / "fx_rates.csv").read_text() + "GBP,2025-06-01,2026-06-30,0.86,overlapping,ecb-2025\n"
    (pkg / "fx_rates.csv").write_text(fx)
    got = sorted((p.file, p.line, p.rule) for p in validate_data(pkg))
    assert got == [("aid_activities.csv", 2, "undated-flag"), ("fx_rates.csv", 6, "fx-overlap")]


def test_multiline_cell_keeps_physical_line_numbers(tmp_path, valid_dir):
    pkg = tmp_path / "pkg"
    shutil.copytree(valid_dir, pkg)
    ev = (pkg / "events.csv").read_text()
    ev = ev.replace('"Air, sea and energy"', '"Air, sea\nand energy"')
    ev += "bad-row,2025-03-05,,nonsense,FRA,x,,ref-001,high\n"
    (pkg / "events.csv").write_text(ev)
    [p] = validate_data(pkg)
    assert (p.line, p.column, p.rule) == (4, "kind", "enum")


def test_missing_descriptor(tmp_path):
    [p] = validate_data(tmp_path)
    assert p.rule == "descriptor"


def test_frictionless_agrees_on_valid_fixture(valid_dir):
    """An independent Table Schema implementation accepts what we accept."""
    import frictionless
    report = frictionless.validate(str(valid_dir / "datapackage.json"))
    errors = [e.message for task in report.tasks for e in task.errors]
    assert report.valid, errors


def test_frictionless_rejects_a_broken_fixture():
    import frictionless
    report = frictionless.validate(str(FIXTURES / "dangling_source" / "datapackage.json"))
    assert not report.valid


def test_membership_flags_need_their_sources(tmp_path, valid_dir):
    pkg = tmp_path / "pkg"
    shutil.copytree(valid_dir, pkg)
    actors = (pkg / "actors.csv").read_text().replace("France,true,true,true,ref-001,ref-001,", "France,true,true,true,ref-001,,")
    (pkg / "actors.csv").write_text(actors)
    got = [(p.line, p.column, p.rule) for p in validate_data(pkg)]
    assert got == [(3, "nato_source_id", "sourced")]


def test_display_currencies_are_the_currency_parameters_values():
    """The validator checks rates for every display currency the build accepts."""
    from coalition_report.params import NOTEBOOKS
    from coalition_report.validate import DISPLAY_CURRENCIES
    for notebook in NOTEBOOKS.values():
        assert set(notebook.param("currency").rule.allowed) == {"EUR", *DISPLAY_CURRENCIES}


def test_pinned_schema_is_the_shipped_descriptor():
    """EXPECTED_FIELDS states what the code reads; the shipped descriptor must give exactly that
    (types, required) for every pinned field, so a drift in either is seen here first."""
    import json

    from coalition_report.validate import EXPECTED_FIELDS, OPTIONAL_RESOURCES
    from conftest import ROOT
    desc = json.loads((ROOT / "data" / "datapackage.json").read_text(encoding="utf-8"))
    shipped = {r["name"]: {f["name"]: f for f in r["schema"]["fields"]} for r in desc["resources"]}
    for res, spec in EXPECTED_FIELDS.items():
        assert res in shipped or res in OPTIONAL_RESOURCES, res
        for item in spec.split():
            name, ftype = item.split(":")
            f = shipped[res][name]
            assert f.get("type", "string") == ftype.rstrip("!"), (res, name)
            assert bool(f.get("constraints", {}).get("required")) == ftype.endswith("!"), (res, name)


# ---------------------------------------------------------------------------------------------
# curation rules (validate_sources): source tiers and coding against the row's own text

def _pkg(tmp_path, valid_dir, **edits):
    """A copy of the valid fixture with lines appended (``name=text``) to its CSV files."""
    pkg = tmp_path / "pkg"
    shutil.copytree(valid_dir, pkg)
    for name, text in edits.items():
        with open(pkg / f"{name}.csv", "a", encoding="utf-8") as f:
            f.write(text)
    return pkg


_TASS = "tass-1,TASS,,https://tass.com/x,,2025-03-10,,,news,state_media,,,RUS,,\n"


def test_state_media_may_support_only_its_own_state(tmp_path, valid_dir):
    pkg = _pkg(tmp_path, valid_dir, sources=_TASS, positions=(
        "rus-coalition-2025-03-10,RUS,2025-03-10,coalition_force,oppose,Rejects the force,,,tass-1,high\n"
        "gbr-coalition-2025-03-10,GBR,2025-03-10,coalition_force,support,Offers troops,,,tass-1,high\n"))
    [p] = [p for p in validate_data(pkg) if p.rule == "state-media-only"]
    assert (p.file, p.line, p.column, p.value) == ("positions.csv", 5, "source_id", "tass-1")
    assert "state media of RUS" in p.message and "about GBR" in p.message
    # the Russian row on Russian state media is allowed; the British one is also its own weak position
    assert [q.line for q in validate_data(pkg) if q.rule == "own-position-weak"] == [5]


def test_a_copy_names_its_original(tmp_path, valid_dir):
    pkg = _pkg(tmp_path, valid_dir, sources=(
        "copy-1,Mirror host,,https://mirror.example/a,,2025-03-10,,,copy,copy,,,,,\n"
        "copy-2,Mirror host,,https://mirror.example/b,,2025-03-10,,,copy,copy,Reuters,,,,\n"
        "copy-3,Mirror host,,https://mirror.example/c,,2025-03-10,,,copy,copy,Reuters,,,,Original cannot be had: not in the stored pages\n"
        "press-1,Some paper,,https://paper.example/a,,2025-03-10,,,news,press,Reuters,,,,\n"))
    got = sorted((p.line, p.column, p.rule) for p in validate_data(pkg))
    assert got == [(5, "original_publisher", "copy-original"), (5, "original_url", "copy-original"),
                   (6, "original_url", "copy-original"), (8, "original_publisher", "copy-original")]


def test_own_position_needs_a_non_weak_source(tmp_path, valid_dir):
    pkg = _pkg(tmp_path, valid_dir, sources=(
        "agg-1,Aggregator,,https://agg.example/a,,2025-03-10,,,aggregator,aggregator,,,,,\n"
        "copy-3,Mirror host,,https://mirror.example/c,,2025-03-10,,,copy,copy,Reuters,,,,Original cannot be had: not stored\n"),
        contributions=("fra-2025-03-10,FRA,2025-03-10,ground_forces,Troops,,agg-1,low\n"
                       "gbr-2025-03-10,GBR,2025-03-10,ground_forces,Troops,,copy-3,low\n"))
    [p] = validate_data(pkg)
    assert (p.file, p.line, p.rule, p.value) == ("contributions.csv", 4, "own-position-weak", "agg-1")
    assert "aggregator" in p.message


def test_role_offering_forces_beside_a_no_troops_stance_is_refused(tmp_path, valid_dir):
    stance = "fra-coalition-2025-06-01,FRA,2025-06-01,coalition_force,neutral,France will not send troops,,,ref-001,high\n"
    pkg = _pkg(tmp_path, valid_dir, positions=stance)
    [p] = validate_data(pkg)  # the FRA lead_nation role of 2025-03-02 is 91 days from the stance
    assert (p.file, p.line, p.column, p.value, p.rule) == ("contributions.csv", 3, "role", "lead_nation",
                                                           "role-vs-stance")
    assert "positions.csv:4" in p.message
    # outside the window (more than ROLE_STANCE_WINDOW_DAYS apart) the two are not compared
    far = stance.replace("2025-06-01", "2025-12-01")
    assert validate_data(_pkg(tmp_path / "far", valid_dir, positions=far)) == []


@pytest.mark.parametrize("row, bad", [
    ("tur-ceasefire-2025-05-11,FRA,2025-05-11,ceasefire,support,Offers to host talks,,,ref-001,high", True),
    ("x-ceasefire-2025-05-11,FRA,2025-05-11,ceasefire,support,Calls for a 30-day truce,,,ref-001,high", False),
    ("x-guarantees-2025-03-04,FRA,2025-03-04,security_guarantees,support,Europe faces a clear danger,,,ref-001,high", True),
    ("x-guarantees-2025-03-04,FRA,2025-03-04,security_guarantees,support,Ready to contribute to guarantees,,,ref-001,high", False),
    ("x-coalition-2025-03-04,FRA,2025-03-04,coalition_force,support,Will not send soldiers to Ukraine,,,ref-001,high", True),
    ("x-coalition-2025-03-04,FRA,2025-03-04,coalition_force,support,No troops but a naval element,,,ref-001,high", False),
])
def test_stance_coded_against_its_own_wording(tmp_path, valid_dir, row, bad):
    got = [(p.line, p.column, p.rule) for p in validate_data(_pkg(tmp_path, valid_dir, positions=row + "\n"))]
    assert got == ([(4, "stance", "stance-wording")] if bad else [])


def test_cited_source_needs_a_tier(tmp_path, valid_dir):
    pkg = tmp_path / "pkg"
    shutil.copytree(valid_dir, pkg)
    src = (pkg / "sources.csv").read_text().replace("2025-03-02,,,news,record,", "2025-03-02,,,news,,")
    (pkg / "sources.csv").write_text(src)
    [p] = validate_data(pkg)
    assert (p.file, p.line, p.column, p.rule) == ("sources.csv", 2, "tier", "tier-required")
