"""What changed since the last brief: snapshots, their comparison, the section, and real rebuilds.

The fast tests work on the small fixture tests/data/valid (copied to a temporary folder and
edited there); the slow one builds the real brief and a profile from a copy of data/, adds one
sourced aid record and one position, rebuilds into the same folder and reads the section.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from coalition_report import params, render
from coalition_report.render.prepare import PrepareOutputs
from coalition_report import snapshot as S
from coalition_report.data import cut_to, load_data
from coalition_report.errors import ParameterError
from coalition_report.sections.changes import changes
from conftest import FIXTURES


def _append(path: Path, **row) -> None:
    """Append a row to a CSV file, matching its header (missing columns left empty)."""
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    unknown = set(row) - set(header)
    assert not unknown, unknown
    with open(path, "a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, header, lineterminator="\n").writerow({k: row.get(k, "") for k in header})


def _set(path: Path, match: dict, **values) -> None:
    """Change the cells ``values`` of the rows matching ``match``."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        header = list(rows[0])
    hit = 0
    for r in rows:
        if all(r[k] == v for k, v in match.items()):
            r.update({k: str(v) for k, v in values.items()})
            hit += 1
    assert hit == 1, (path, match)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _load(folder: Path, as_of=None):
    full = load_data(folder)
    return cut_to(full, as_of or full.knowledge_date)


@pytest.fixture()
def valid_copy(tmp_path) -> Path:
    dest = tmp_path / "data"
    shutil.copytree(FIXTURES / "valid", dest)
    return dest


def _add_aid_and_position(data: Path) -> None:
    """One new sourced aid record (a Kiel-style activity row, its donor total raised with it, and
    the new source it rests on) and one new position with a source already in sources.csv."""
    _append(data / "sources.csv", source_id="test-aid-2025", publisher="Test Ministry",
            title="A new aid package", url="https://example.org/aid", published="2025-03-20", kind="official")
    _append(data / "aid_activities.csv", activity_id="test-00001", donor_id="GBR", date="2025-03-20",
            undated="false", aid_type="military", measure="allocation", value_eur="250000000.0",
            value_eur_redistributed="250000000.0", activity_value_eur="250000000.0", correction="false",
            source_id="test-aid-2025", kiel_sheet="bilateral_activities.csv", kiel_row="4")
    _set(data / "aid_totals.csv", {"donor_id": "GBR", "aid_type": "military", "measure": "allocation"},
         value_eur="251000000.0")
    _append(data / "positions.csv", position_id="fra-ceasefire-2025-03-20", actor_id="FRA", date="2025-03-20",
            topic="ceasefire", stance="conditional", summary="Test fixture: France sets conditions",
            source_id="ref-001", confidence="high")


# ============================================================================================
# Snapshots
# ============================================================================================
def test_snapshot_is_deterministic_plain_json_in_euros(valid_dir):
    ds = _load(valid_dir)
    a, b = S.make_snapshot(ds, "GBP"), S.make_snapshot(_load(valid_dir), "GBP")
    assert S.dumps(a) == S.dumps(b)
    assert json.loads(S.dumps(a)) == a  # plain JSON, nothing lost
    assert a["kind"] == S.KIND and a["report"] == "coalition_brief" and a["scope"] is None
    assert a["currency"] == "GBP" and a["as_of"] == str(ds.as_of)
    assert a["headline"]["alloc_total"] == 1_500_000  # euros, whatever the display currency
    assert set(a["members"]) == {"FRA", "GBR"}
    assert set(a["sources"]) == {"ref-001", "kiel-r28", "ecb-2025"} and all(len(s["h"]) == 16 for s in a["sources"].values())


def test_profile_snapshot_keeps_only_that_state(valid_dir):
    p = S.make_snapshot(_load(valid_dir), "EUR", country="FRA")
    assert p["report"] == "country_profile" and p["scope"] == "FRA"
    assert set(p["members"]) == {"FRA"} and set(p["aid"]) == {"FRA"}
    assert set(p["meetings"]) == {"2025-03-02-london"}  # the meeting France was named at
    assert not p["positions"] and set(p["events"]) == {"truce-2025-03-02"}
    assert p["headline"]["meetings_present"] == 1 and p["headline"]["member"] == "yes"


def test_unchanged_data_means_nothing_changed(valid_dir, tmp_path):
    ds = _load(valid_dir)
    prev = tmp_path / "coalition-brief.snapshot.json"
    prev.write_text(S.dumps(S.make_snapshot(ds, "EUR")), encoding="utf-8")
    assert not S.has_changes(S.diff_snapshots(S.load_snapshot(prev), S.make_snapshot(ds, "EUR")))
    out = changes(ds, str(prev), "EUR")
    assert "Nothing changed since the previous brief" in out.text and "<li>" not in out.html
    assert S.dumps(out.snapshot) == prev.read_text(encoding="utf-8")


def test_no_previous_build_says_so(valid_dir):
    out = changes(_load(valid_dir), "", "EUR")
    assert out.text.startswith("There is no earlier edition of this brief to compare with")
    prof = changes(_load(valid_dir), "", "EUR", country="GBR")
    assert prof.text.startswith("There is no earlier edition of this profile to compare with")


def test_added_aid_record_and_position_are_listed_with_sources(valid_copy, tmp_path):
    before = _load(valid_copy)
    prev = tmp_path / "prev.snapshot.json"
    prev.write_text(S.dumps(S.make_snapshot(before, "EUR")), encoding="utf-8")
    _add_aid_and_position(valid_copy)
    after = _load(valid_copy)
    assert after.as_of == before.as_of

    diff = S.diff_snapshots(S.load_snapshot(prev), S.make_snapshot(after, "EUR"))
    assert {k: len(diff[k]) for k in S.PARTS} == {
        "headline": 2, "members": 0, "meetings": 0, "aid": 1, "positions": 1, "events": 0, "sources": 1}
    assert {(h["key"], h["old"], h["new"]) for h in diff["headline"]} == {
        ("alloc_coalition", 1_500_000, 251_500_000), ("alloc_total", 1_500_000, 251_500_000)}
    [aid] = diff["aid"]
    assert (aid["donor_id"], aid["measure"], aid["aid_type"], aid["old"], aid["new"], aid["rows_added"],
            aid["rows_eur"], aid["sources"]) == ("GBR", "allocation", "military", 1_000_000, 251_000_000, 1,
                                                 250_000_000, ["test-aid-2025"])
    [pos] = diff["positions"]
    assert (pos["change"], pos["actor_id"], pos["old_stance"], pos["stance"], pos["sources"]) == (
        "new_stance", "FRA", None, "conditional", ["ref-001"])
    assert [(s["change"], s["source_id"]) for s in diff["sources"]] == [("new", "test-aid-2025")]

    out = changes(after, str(prev), "EUR")
    soup = BeautifulSoup(out.html, "html.parser")
    items = [li.get_text(" ", strip=True) for li in soup.select("li")]
    assert len(items) == 5, items
    assert any("Allocated by all donors: EUR 1.5m → EUR 251.5m (+EUR 250.0m)" in i for i in items), items
    assert any(i.startswith("United Kingdom, military allocations: EUR 1.0m → EUR 251.0m (+EUR 250.0m); "
                            "1 activity row added (+EUR 250.0m)") and "[ test-aid-2025 ]" in i for i in items), items
    assert any(i.startswith("France on ceasefire / truce: conditional") and "ref-001" in i for i in items), items
    assert any(i.startswith("New source: Test Ministry, A new aid package (2025-03-20)") for i in items), items
    # every cited id links to its entry in the report's Sources, and is in the section's source note
    for a in soup.select("li a"):
        assert a["href"] in {"#src-test-aid-2025", "#src-ref-001", "#src-kiel-r28"}
    assert "Test Ministry, A new aid package (2025-03-20) [test-aid-2025]" in soup.select_one("p.source-note").text

    # the same change in another display currency: amounts converted, the currency switch said
    usd = changes(after, str(prev), "USD").text
    assert "That brief showed amounts in EUR; amounts here are in USD" in usd and "(+USD 275.0m)" in usd


def test_profile_changes_list_only_that_state(valid_copy, tmp_path):
    prev = tmp_path / "gbr.snapshot.json"
    prev.write_text(S.dumps(S.make_snapshot(_load(valid_copy), "EUR", country="GBR")), encoding="utf-8")
    _add_aid_and_position(valid_copy)
    out = changes(_load(valid_copy), str(prev), "EUR", country="GBR")
    assert "Compared with the previous profile" in out.text
    assert "France" not in out.text  # France's new position belongs to France's profile
    assert "Aid allocated: EUR 1.0m → EUR 251.0m (+EUR 250.0m)" in out.text
    assert "United Kingdom, military allocations" in out.text


def test_joined_left_and_role_changes(valid_copy, tmp_path):
    prev = tmp_path / "prev.snapshot.json"
    prev.write_text(S.dumps(S.make_snapshot(_load(valid_copy), "EUR")), encoding="utf-8")
    # France's newest report: outside the coalition (it left); the UK now offers air only
    _append(valid_copy / "contributions.csv", contribution_id="fra-2025-03-20", actor_id="FRA", date="2025-03-20",
            role="outside_coalition", as_reported="Test fixture: leaves", source_id="ref-001", confidence="high")
    _append(valid_copy / "contributions.csv", contribution_id="gbr-2025-03-20", actor_id="GBR", date="2025-03-20",
            role="air_maritime", as_reported="Test fixture: air only", source_id="ref-001", confidence="high")
    diff = S.diff_snapshots(S.load_snapshot(prev), S.make_snapshot(_load(valid_copy), "EUR"))
    got = {(m["change"], m["actor_id"]) for m in diff["members"]}
    assert got == {("left", "FRA"), ("role", "GBR")}
    text = changes(_load(valid_copy), str(prev), "EUR").text
    assert "Left: France (was Lead nation (forces); now Outside the coalition" in text
    assert "Changed role: United Kingdom: Lead nation (forces) → Air or maritime assets" in text
    assert "States in the coalition: 2 → 1 (-1)" in text


def test_corrected_source_and_earlier_as_of(valid_copy, tmp_path):
    prev = tmp_path / "prev.snapshot.json"
    prev.write_text(S.dumps(S.make_snapshot(_load(valid_copy), "EUR")), encoding="utf-8")
    _set(valid_copy / "sources.csv", {"source_id": "ref-001"}, title="Leaders meet in London (corrected title)")
    diff = S.diff_snapshots(S.load_snapshot(prev), S.make_snapshot(_load(valid_copy), "EUR"))
    assert [(s["change"], s["source_id"]) for s in diff["sources"]] == [("corrected", "ref-001")]
    assert not any(diff[p] for p in S.PARTS if p != "sources")
    # A brief as of an earlier date never compares with a later edition (issue 13.6): it says
    # there is no earlier edition and names no later date or record.
    early = _load(valid_copy, "2025-03-10")
    earlier = changes(early, str(prev), "EUR")
    assert earlier.text.startswith("There is no earlier edition of this brief to compare with")
    assert earlier.previous is None and earlier.diff is None
    assert not re.search(r"20(2[6-9]|25-(0[4-9]|1[0-2]))|March 2025|Paris", earlier.text)
    # the same snapshot is compared with by a brief as of its own date or later
    later = changes(_load(valid_copy), str(prev), "EUR")
    assert later.previous is not None and "Compared with the previous brief" in later.text


def test_snapshots_of_different_reports_are_not_compared(valid_dir, tmp_path):
    prev = tmp_path / "gbr.snapshot.json"
    prev.write_text(S.dumps(S.make_snapshot(_load(valid_dir), "EUR", country="GBR")), encoding="utf-8")
    out = changes(_load(valid_dir), str(prev), "EUR")
    assert "is of the country profile of GBR, not of the coalition brief: nothing was compared" in out.text


def test_manifest_resolves_to_its_snapshot_and_bad_files_are_parameter_errors(valid_dir, tmp_path):
    snap = tmp_path / "country-GBR.snapshot.json"
    snap.write_text(S.dumps(S.make_snapshot(_load(valid_dir), "EUR", country="GBR")), encoding="utf-8")
    man = tmp_path / "country-GBR.manifest.json"
    man.write_text(json.dumps({"notebook": "country_profile", "outputs": [],
                               "snapshot": {"file": snap.name}}), encoding="utf-8")
    assert S.resolve_snapshot(man) == snap.resolve()
    assert S.load_snapshot(man)["scope"] == "GBR"
    old = tmp_path / "old.manifest.json"
    old.write_text(json.dumps({"notebook": "coalition_brief", "outputs": []}), encoding="utf-8")
    escape = tmp_path / "escape.manifest.json"
    escape.write_text(json.dumps({"notebook": "x", "outputs": [], "snapshot": {"file": "../../etc/passwd"}}))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    for path, needle in ((old, "names no snapshot"), (escape, "missing beside it"), (junk, "not a readable JSON"),
                         (tmp_path / "nope.json", "no such file"), (valid_dir / "datapackage.json", "neither")):
        with pytest.raises(ParameterError, match=needle) as exc:
            S.load_snapshot(path)
        assert exc.value.name == "compare_to"


def test_section_bundle_carries_the_snapshot_which_the_exports_drop(valid_dir):
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    out = changes(_load(valid_dir), "", "EUR")
    bundle = out._repr_mimebundle_()
    assert bundle[S.MIME_SNAPSHOT] == out.snapshot
    cell = new_code_cell("brief.changes(ds, compare_to, currency)")
    cell.outputs = [new_output("display_data", data=json.loads(json.dumps(bundle)))]
    nb = new_notebook(cells=[cell])
    assert S.snapshot_of_notebook(nb) == out.snapshot
    assert render.check_outputs(nb) == []  # exportable, no warning
    prepared, _ = PrepareOutputs(interactive=True).preprocess(nb, {})
    assert S.MIME_SNAPSHOT not in json.dumps(prepared)
    assert "no earlier edition of this brief" in prepared.cells[0].outputs[0]["data"]["text/html"]


def test_compare_to_parameter_rules(tmp_path):
    spec = params.get_notebook("coalition_brief")
    assert spec.param("compare_to").default == "" and not spec.param("compare_to").public
    assert params.validate_params("coalition_brief")["compare_to"] == ""
    with pytest.raises(ParameterError, match="not an existing file"):
        params.validate_params("coalition_brief", {"compare_to": str(tmp_path / "missing.json")})
    f = tmp_path / "x.json"
    f.write_text("{}")
    assert params.validate_params("country_profile", {"country": "GBR", "compare_to": str(f)})["compare_to"] \
        == str(f.resolve())


# ============================================================================================
# Real rebuilds of the brief and a profile
# ============================================================================================
def _section(html_path: Path) -> tuple[str, list[str]]:
    soup = BeautifulSoup(html_path.read_text(encoding="utf-8"), "html.parser")
    # the build numbers body sections (render/markdown.py): "6. What changed ..." in a profile
    [h] = [h for h in soup.find_all("h2") if re.sub(r"^\d+\.\s*", "", h.get_text()).startswith("What changed since the last")]
    div = h.find_next("div", class_="changes")
    return div.get_text(" ", strip=True), [li.get_text(" ", strip=True) for li in div.select("li")]


@pytest.mark.slow
def test_rebuild_lists_exactly_the_new_records(tmp_path, data_copy):
    from coalition_report.build import build_all

    data = data_copy
    out = tmp_path / "reports"
    kw = dict(data_dir=data, out_dir=out, formats=("html",), countries=["GBR"], jobs=1, progress=False)  # one process: the batch pool is test_build's

    first = build_all(**kw)
    assert [r.snapshot.name for r in first] == ["coalition-brief.snapshot.json", "country-GBR.snapshot.json"]
    text, items = _section(first[0].outputs["html"])
    assert text.startswith("There is no earlier edition of this brief to compare with") and not items
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["snapshot"]["file"] == "coalition-brief.snapshot.json" and manifest["compared_with"] is None
    old_snapshot = (out / "coalition-brief.snapshot.json").read_bytes()

    # one sourced aid record (activity row + the donor total it raises + its new source), one position
    gbr = {r["aid_type"] + r["measure"]: r for r in csv.DictReader(open(data / "aid_totals.csv", encoding="utf-8"))
           if r["donor_id"] == "GBR"}
    old_total = float(gbr["militaryallocation"]["value_eur"])
    _append(data / "sources.csv", source_id="test-aid-2026", publisher="Test Ministry of Defence",
            title="Test aid package", url="https://example.org/test-aid", published="2026-03-01", kind="official")
    _append(data / "aid_activities.csv", activity_id="test-00001", donor_id="GBR", date="2026-03-01",
            undated="false", aid_type="military", measure="allocation", value_eur="150000000.0",
            value_eur_redistributed="150000000.0", activity_value_eur="150000000.0", correction="false",
            source_id="test-aid-2026", kiel_sheet="bilateral_activities.csv", kiel_row="99999")
    _set(data / "aid_totals.csv", {"donor_id": "GBR", "aid_type": "military", "measure": "allocation"},
         value_eur=repr(old_total + 150e6))
    _append(data / "positions.csv", position_id="gbr-ceasefire-2026-03-03", actor_id="GBR", date="2026-03-03",
            topic="ceasefire", stance="conditional", summary="Test fixture: conditions on a ceasefire",
            source_id="ref-178", confidence="high")

    second = build_all(**kw)
    text, items = _section(second[0].outputs["html"])
    assert "Compared with the previous brief, as of" in text and "That brief was" not in text
    assert len(items) == 5, items
    money = [i for i in items if i.startswith("Allocated by")]
    assert len(money) == 2 and all("(+EUR 150.0m)" in i for i in money), money
    assert {i.split(":")[0] for i in money} == {"Allocated by coalition members", "Allocated by all donors"}
    [aid] = [i for i in items if i.startswith("United Kingdom, military allocations")]
    assert "(+EUR 150.0m); 1 activity row added (+EUR 150.0m)" in aid and aid.endswith("[ test-aid-2026 ]")
    [pos] = [i for i in items if i.startswith("United Kingdom on ceasefire")]
    assert "support → conditional (3 March 2026)" in pos and "ref-178" in pos
    [src] = [i for i in items if i.startswith("New source")]
    assert "Test Ministry of Defence, Test aid package (2026-03-01)" in src
    soup = BeautifulSoup(second[0].outputs["html"].read_text(encoding="utf-8"), "html.parser")
    for link in soup.select("div.changes li a"):  # every cited id is in the brief's Sources
        assert soup.find(id=link["href"][1:]) is not None, link["href"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["compared_with"]["sha256"] == hashlib.sha256(old_snapshot).hexdigest()
    new_snapshot = (out / "coalition-brief.snapshot.json").read_bytes()
    assert new_snapshot != old_snapshot

    ptext, pitems = _section(second[1].outputs["html"])
    assert "Compared with the previous profile" in ptext
    assert any(i.startswith("Aid allocated:") and "(+EUR 150.0m)" in i for i in pitems), pitems
    assert any(i.startswith("United Kingdom on ceasefire / truce: support → conditional") for i in pitems)
    assert any("Test aid package" in i for i in pitems)

    # The same inputs again: the same edition, so the same baseline, the same changes reported
    # (a re-run does not wipe them), byte for byte, without running anything (issue 15.3).
    pages = [r.outputs["html"].read_bytes() for r in second]
    third = build_all(**kw)
    assert [r.cache for r in third] == ["unchanged", "unchanged"]
    assert [r.outputs["html"].read_bytes() for r in third] == pages
    assert (out / "coalition-brief.snapshot.json").read_bytes() == new_snapshot  # same data, same bytes
    assert (out / "coalition-brief.baseline.json").read_bytes() == old_snapshot


def test_markup_in_data_stays_inert(valid_copy, tmp_path):
    prev = tmp_path / "prev.snapshot.json"
    prev.write_text(S.dumps(S.make_snapshot(_load(valid_copy), "EUR")), encoding="utf-8")
    _append(valid_copy / "events.csv", event_id="evil-2025-03-20", date="2025-03-20", kind="statement",
            actor_id="GBR", title='<script>alert(1)</script> **bold** [x](https://evil.example)',
            description="x", source_id="ref-001", confidence="high")
    out = changes(_load(valid_copy), str(prev), "EUR")
    soup = BeautifulSoup(out.html, "html.parser")
    assert not soup.find_all("script") and "&lt;script&gt;" in out.html
    [li] = soup.select("li")
    assert li.get_text(" ", strip=True).startswith("New event: 20 March 2025, <script>alert(1)</script> **bold**")
    assert "\\<script\\>" in out.text and "\\*\\*bold\\*\\*" in out.text and "\\[x\\]" in out.text
