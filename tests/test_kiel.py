"""Tests of the Kiel Ukraine Support Tracker importer (``coalition_report.kiel``).

Expected values are computed here from the raw Kiel tables with the ``csv`` module, independently
of the code under test.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from coalition_report.errors import DataValidationError
from coalition_report.kiel import (KielImportError, KielLayoutError, KielReleaseError, check_totals,
                                   import_kiel)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
KIEL = DATA / "kiel"
RAW_ACTS = KIEL / "bilateral_activities.csv"
RAW_SUMMARY = KIEL / "country_summary.csv"
SHIPPED_ACTS = DATA / "aid_activities.csv"
SHIPPED_TOTALS = DATA / "aid_totals.csv"

ORGS = {"EU (Commission and Council)": "eu-institutions", "European Peace Facility": "epf",
        "European Investment Bank": "eib"}
TYPES = ("military", "financial", "humanitarian")
MEASURES = ("allocation", "commitment")
HEADER = ("giver,dato,kategori,maal,verdi_eur,verdi_eur_redistr,verdi_eur_activity,maaned_nr,"
          "maaned_finnes,verdi_eur_mrd")



def outdir(tmp_path: Path) -> Path:
    """The data folder an import writes into: import-kiel writes only into a folder that exists."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return out

def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


#: Tests that compare the shipped aid tables with the extraction in data/kiel/ hold while the
#: tables were imported from it (import-kiel --src data/kiel). After a workbook import they are
#: skipped: the tables then come from the workbook named in sources.csv, see
#: test_shipped_tables_record_their_import.
FROM_EXTRACTION = read(SHIPPED_ACTS)[0]["kiel_sheet"] == RAW_ACTS.name
from_extraction = pytest.mark.skipif(
    not FROM_EXTRACTION, reason="shipped aid tables come from a workbook import, not data/kiel/")


def expected_ids() -> dict[str, str]:
    wdi = json.loads((KIEL / "wdi.json").read_text(encoding="utf-8"))["land"]
    return {**{name: v["iso3"] for name, v in wdi.items()}, "Taiwan": "TWN", **ORGS}


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1.0 or abs(a - b) <= 1e-6 * max(abs(a), abs(b))


@pytest.fixture(scope="module")
def raw() -> list[dict[str, str]]:
    return read(RAW_ACTS)


@pytest.fixture(scope="module")
def raw_summary() -> list[dict[str, str]]:
    return read(RAW_SUMMARY)


@pytest.fixture(scope="module")
def shipped_acts() -> list[dict[str, str]]:
    return read(SHIPPED_ACTS)


@pytest.fixture(scope="module")
def shipped_totals() -> list[dict[str, str]]:
    return read(SHIPPED_TOTALS)


# --------------------------------------------------------------------------------------------
# The shipped files against the raw tables


def test_shipped_tables_record_their_import(shipped_acts, shipped_totals):
    """Whatever the last import read, the shipped tables say which release, file and row."""
    ids = {r["source_id"] for r in shipped_acts} | {r["source_id"] for r in shipped_totals}
    assert len(ids) == 1 and re.fullmatch(r"kiel-r\d+", next(iter(ids)))
    source_id = ids.pop()
    release = int(source_id.removeprefix("kiel-r"))
    source = {r["source_id"]: r for r in read(DATA / "sources.csv")}[source_id]
    assert f"Release {release} " in source["title"]
    sheets = ({r["kiel_sheet"] for r in shipped_acts}, {r["kiel_sheet"] for r in shipped_totals})
    assert sheets in (
        ({RAW_ACTS.name}, {RAW_SUMMARY.name}),
        ({"Bilateral Assistance, MAIN DATA"}, {"Country Summary (€)"}))
    if not FROM_EXTRACTION:  # a workbook import: the file and its hash, and what it changed
        assert re.search(r"; workbook \S.*, sha256 [0-9a-f]{64}$", source["title"])
        assert (KIEL / f"import-diff-r{release}.md").is_file()
    rows = [int(r["kiel_row"]) for r in shipped_acts]
    assert rows == sorted(rows) and len(set(rows)) == len(rows) and min(rows) >= 2
    assert [r["activity_id"] for r in shipped_acts] == [
        f"{source_id}-{n:05d}" for n in range(1, len(shipped_acts) + 1)]


@from_extraction
def test_every_row_imported_with_unique_ids(raw, shipped_acts):
    assert len(raw) == 5565
    assert len(shipped_acts) == len(raw)
    ids = [r["activity_id"] for r in shipped_acts]
    assert len(set(ids)) == len(ids)
    assert ids == [f"kiel-r28-{n:05d}" for n in range(1, len(raw) + 1)]
    assert {r["source_id"] for r in shipped_acts} == {"kiel-r28"}


@from_extraction
def test_undated_rows(raw, shipped_acts):
    raw_undated = [i for i, r in enumerate(raw) if r["dato"] == ""]
    assert len(raw_undated) == 284
    undated = [i for i, r in enumerate(shipped_acts) if r["undated"] == "true"]
    assert undated == raw_undated
    assert all(shipped_acts[i]["date"] == "" for i in undated)
    for r_raw, r in zip(raw, shipped_acts):
        assert r["undated"] in ("true", "false")
        if r["undated"] == "false":
            assert r["date"] == r_raw["dato"]
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["date"])


@from_extraction
def test_every_donor_mapped(raw, shipped_acts):
    ids = expected_ids()
    assert {r["giver"] for r in raw} <= set(ids), "test mapping incomplete"
    for r_raw, r in zip(raw, shipped_acts):
        assert r["donor_id"] == ids[r_raw["giver"]]
    assert len({r["donor_id"] for r in shipped_acts}) == 44


@from_extraction
def test_rows_match_raw_values(raw, shipped_acts):
    for r_raw, r in zip(raw, shipped_acts):
        assert r["aid_type"] == r_raw["kategori"].lower()
        assert r["measure"] == r_raw["maal"].lower()
        assert float(r["value_eur"]) == float(r_raw["verdi_eur"])
        assert float(r["value_eur_redistributed"]) == float(r_raw["verdi_eur_redistr"])
        assert float(r["activity_value_eur"]) == float(r_raw["verdi_eur_activity"])


@from_extraction
def test_activity_sums_per_donor_and_type_equal_raw(raw, shipped_acts):
    ids = expected_ids()
    want, got = defaultdict(list), defaultdict(list)
    for r in raw:
        want[ids[r["giver"]], r["kategori"].lower(), r["maal"].lower()].append(float(r["verdi_eur"]))
    for r in shipped_acts:
        got[r["donor_id"], r["aid_type"], r["measure"]].append(float(r["value_eur"]))
    assert set(want) == set(got)
    for key in want:
        assert math.fsum(got[key]) == math.fsum(want[key]), key


@from_extraction
def test_totals_equal_raw_summary(raw_summary, shipped_totals):
    ids = expected_ids()
    want = {}
    for r in raw_summary:
        for t in TYPES:
            for m in MEASURES:
                want[ids[r["land"]], t, m] = float(r[f"{t}_{m}"]) * 1e9
    got = {(r["donor_id"], r["aid_type"], r["measure"]): float(r["value_eur"])
           for r in shipped_totals}
    assert len(shipped_totals) == len(got) == len(want) == 42 * 6
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-15, abs=1e-6), key
    assert {r["source_id"] for r in shipped_totals} == {"kiel-r28"}
    # No totals are invented for the two EU bodies Kiel's summary leaves out.
    assert not {"epf", "eib"} & {r["donor_id"] for r in shipped_totals}


def raw_allocation_agreement(raw, raw_summary) -> dict[str, tuple[float, float]]:
    ids = expected_ids()
    sums = defaultdict(list)
    for r in raw:
        if r["maal"] == "Allocation":
            sums[ids[r["giver"]]].append(float(r["verdi_eur"]))
    return {ids[r["land"]]: (math.fsum(sums[ids[r["land"]]]), float(r["total_allocation"]) * 1e9)
            for r in raw_summary}


@from_extraction
def test_shipped_tables_agree_where_raw_tables_agree(raw, raw_summary, shipped_acts,
                                                   shipped_totals):
    raw_cmp = raw_allocation_agreement(raw, raw_summary)
    agreeing = {d for d, (s, k) in raw_cmp.items() if close(s, k)}
    assert len(agreeing) >= 38  # sanity: nearly every donor agrees in the raw tables
    acts, tots = defaultdict(list), defaultdict(list)
    for r in shipped_acts:
        if r["measure"] == "allocation":
            acts[r["donor_id"]].append(float(r["value_eur"]))
    for r in shipped_totals:
        if r["measure"] == "allocation":
            tots[r["donor_id"]].append(float(r["value_eur"]))
    for donor in agreeing:
        assert close(math.fsum(acts[donor]), math.fsum(tots[donor])), donor


@from_extraction
def test_check_totals_reports_raw_disagreements(raw, raw_summary):
    raw_cmp = raw_allocation_agreement(raw, raw_summary)
    disagreeing = {d: s - k for d, (s, k) in raw_cmp.items() if not close(s, k)}
    assert "eu-institutions" in disagreeing
    assert disagreeing["eu-institutions"] == pytest.approx(-3.2e9, rel=0.02)

    checks = check_totals(pd.read_csv(SHIPPED_ACTS), pd.read_csv(SHIPPED_TOTALS))
    by_donor = checks.set_index("donor_id")
    assert set(checks.loc[checks["status"] == "differs", "donor_id"]) == set(disagreeing)
    for donor, diff in disagreeing.items():
        assert not by_donor.loc[donor, "agrees"]
        assert by_donor.loc[donor, "diff_eur"] == pytest.approx(diff, abs=1.0)
    agreeing = set(raw_cmp) - set(disagreeing)
    assert by_donor.loc[sorted(agreeing), "agrees"].all()
    # Donors without Kiel totals are neither agreeing nor disagreeing.
    for donor in ("epf", "eib"):
        assert by_donor.loc[donor, "status"] == "no-total"
        assert pd.isna(by_donor.loc[donor, "agrees"])
        assert math.isnan(by_donor.loc[donor, "kiel_eur"])


def test_shipped_files_are_canonical_csv():
    for path in (SHIPPED_ACTS, SHIPPED_TOTALS):
        data = path.read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in data
        assert data.endswith(b"\n")
    for r in read(SHIPPED_ACTS) + read(SHIPPED_TOTALS):
        for col in ("value_eur", "value_eur_redistributed", "activity_value_eur"):
            if r.get(col):
                assert repr(float(r[col])) == r[col]


# --------------------------------------------------------------------------------------------
# Re-running the import


@from_extraction
def test_reimport_is_byte_identical(tmp_path):
    result = import_kiel(KIEL, tmp_path)
    assert result.mapping_source == "fallback"
    for name in ("aid_activities.csv", "aid_totals.csv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
    assert result.n_activities == 5565
    assert result.n_undated == 284
    assert result.n_totals == 252
    assert result.donors_without_totals == ("eib", "epf")
    assert result.diff is None
    negative_lines = [n for n, r in enumerate(read(RAW_ACTS), start=2)
                      if float(r["verdi_eur"]) < 0]
    assert [line for line, _, _ in result.negative_rows] == negative_lines  # kept, not dropped
    assert set(result.disagreeing["donor_id"]) >= {"eu-institutions"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aid_activities.csv", "aid_totals.csv",
                                                          "kiel"]
    assert [p.name for p in (tmp_path / "kiel").iterdir()] == ["import-diff-r28.md"]
    assert result.release == 28 and not result.validated


@from_extraction
def test_reimport_with_project_actors_csv(tmp_path):
    actors = DATA / "actors.csv"
    result = import_kiel(KIEL, tmp_path, actors_csv=actors)
    assert result.mapping_source == str(actors)
    for name in ("aid_activities.csv", "aid_totals.csv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_diff_against_previous_files(tmp_path):
    import_kiel(KIEL, tmp_path)
    again = import_kiel(KIEL, tmp_path)
    assert again.diff is not None and not again.diff["changed"].any()
    assert len(again.diff) == 44
    # Fake an older release: drop AUS's first activity and change AUS's allocation total.
    acts = (tmp_path / "aid_activities.csv").read_text(encoding="utf-8").splitlines(True)
    first_aus = next(i for i, line in enumerate(acts) if ",AUS," in line)
    del acts[first_aus]
    (tmp_path / "aid_activities.csv").write_text("".join(acts), encoding="utf-8")
    tots = read(tmp_path / "aid_totals.csv")
    for r in tots:
        if r["donor_id"] == "AUS" and r["measure"] == "allocation" and r["aid_type"] == "military":
            r["value_eur"] = "1.0"
    with (tmp_path / "aid_totals.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(tots[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(tots)
    result = import_kiel(KIEL, tmp_path)
    d = result.diff.set_index("donor_id")
    assert list(d.index[d["changed"]]) == ["AUS"]
    assert d.loc["AUS", "rows_old"] == 75 and d.loc["AUS", "rows_new"] == 76
    assert d.loc["AUS", "total_allocation_eur_new"] == pytest.approx(1.0726133316760755e9)
    assert d.loc["AUS", "total_allocation_eur_old"] == pytest.approx(
        1.0726133316760755e9 - 0.9117147146250586e9 + 1.0)
    assert "AUS" in result.summary()


# --------------------------------------------------------------------------------------------
# Broken raw input


GOOD_ROWS = [
    "Australia,2022-03-01,Humanitarian,Allocation,100.0,100.0,100.0,3,True,1e-07",
    "Taiwan,2023-05-01,Military,Allocation,50.5,50.5,50.5,17,True,5.05e-08",
    "EU (Commission and Council),,Financial,Commitment,0.0,0.0,0.0,0,False,0.0",
    "European Peace Facility,2022-02-27,Military,Commitment,0.0,0.0,0.0,2,True,0.0",
]
SUMMARY_HEADER = ("land,er_eu_medlem,er_geografisk_europa,financial_allocation,"
                  "humanitarian_allocation,military_allocation,total_allocation,financial_commitment,"
                  "humanitarian_commitment,military_commitment,total_commitment")
GOOD_SUMMARY = [
    "Australia,False,False,0.0,1e-07,0.0,1e-07,0.0,2e-07,0.0,2e-07",
    "Taiwan,False,False,0.0,0.0,5.05e-08,5.05e-08,0.0,0.0,0.0,0.0",
    "EU (Commission and Council),False,True,0.0,0.0,0.0,0.0,1.5,0.0,0.0,1.5",
]


def make_src(tmp_path: Path, rows: list[str], summary: list[str] | None = None,
             release: int | None = 28) -> Path:
    src = tmp_path / "kiel"
    src.mkdir()
    if release is not None:
        (src / "PROVENANCE.md").write_text(f"# Kiel Ukraine Support Tracker, Release {release}\n",
                                           encoding="utf-8")
    (src / "bilateral_activities.csv").write_text("\n".join([HEADER, *rows]) + "\n",
                                                  encoding="utf-8")
    (src / "country_summary.csv").write_text(
        "\n".join([SUMMARY_HEADER, *(GOOD_SUMMARY if summary is None else summary)]) + "\n",
        encoding="utf-8")
    shutil.copy(KIEL / "wdi.json", src / "wdi.json")
    return src


def problems_of(src: Path, out: Path) -> set[tuple]:
    with pytest.raises(DataValidationError) as info:
        import_kiel(src, out)
    return {(Path(p.file).name, p.line, p.column, p.value, p.rule) for p in info.value.problems}


def test_small_clean_input(tmp_path):
    out = outdir(tmp_path)
    result = import_kiel(make_src(tmp_path, GOOD_ROWS, release=29), out)
    assert list(result.activities["activity_id"]) == [f"kiel-r29-{n:05d}" for n in range(1, 5)]
    assert list(result.activities["donor_id"]) == ["AUS", "TWN", "eu-institutions", "epf"]
    assert result.donors_without_totals == ("epf",)
    assert (out / "aid_totals.csv").read_text(encoding="utf-8").splitlines()[:3] == [
        "donor_id,aid_type,measure,value_eur,source_id,kiel_sheet,kiel_row",
        "AUS,military,allocation,0.0,kiel-r29,country_summary.csv,2",
        "AUS,military,commitment,0.0,kiel-r29,country_summary.csv,2",
    ]
    assert "AUS,humanitarian,commitment,200.0,kiel-r29,country_summary.csv,2" in (
        out / "aid_totals.csv").read_text()
    assert (out / "aid_activities.csv").read_text(encoding="utf-8").splitlines()[3] == (
        "kiel-r29-00003,eu-institutions,,true,financial,commitment,0.0,0.0,0.0,false,kiel-r29,"
        "bilateral_activities.csv,4")
    assert set(result.checks.loc[result.checks["status"] == "agrees", "donor_id"]) == {
        "AUS", "TWN", "eu-institutions"}


@pytest.mark.parametrize("row, column, value, rule", [
    ("Atlantis,2022-03-01,Military,Allocation,1.0,1.0,1.0,3,True,1e-09",
     "giver", "Atlantis", "donor-mapping"),
    ("Australia,2022-03-01,Military,Allocation,-5.0,5.0,0.0,3,True,-5e-09",
     "verdi_eur", "-5.0", "minimum"),
    ("Australia,2022-03-01,Military,Allocation,5.0,5.0,-1e-3,3,True,5e-09",
     "verdi_eur_activity", "-1e-3", "minimum"),
    ("Australia,2023-02-30,Military,Allocation,1.0,1.0,1.0,3,True,1e-09",
     "dato", "2023-02-30", "date"),
    ("Australia,01/03/2022,Military,Allocation,1.0,1.0,1.0,3,True,1e-09",
     "dato", "01/03/2022", "date"),
    ("Australia,2021-12-31,Military,Allocation,1.0,1.0,1.0,3,True,1e-09",
     "dato", "2021-12-31", "date-range"),
    ("Australia,2022-03-01,Economic,Allocation,1.0,1.0,1.0,3,True,1e-09",
     "kategori", "Economic", "enum"),
    ("Australia,2022-03-01,Military,Pledge,1.0,1.0,1.0,3,True,1e-09",
     "maal", "Pledge", "enum"),
    ("Australia,2022-03-01,Military,Allocation,1.0,n/a,1.0,3,True,1e-09",
     "verdi_eur_redistr", "n/a", "number"),
    ("Australia,2022-03-01,Military,Allocation,nan,1.0,1.0,3,True,1e-09",
     "verdi_eur", "nan", "number"),
    ("Australia,2022-03-01,Military,Allocation,,1.0,1.0,3,True,1e-09",
     "verdi_eur", "", "required"),
])
def test_broken_activity_row(tmp_path, row, column, value, rule):
    rows = GOOD_ROWS[:2] + [row] + GOOD_ROWS[2:]
    out = outdir(tmp_path)
    found = problems_of(make_src(tmp_path, rows), out)
    # header = line 1, two good rows on lines 2-3, the broken row on line 4
    assert found == {("bilateral_activities.csv", 4, column, value, rule)}
    assert not out.exists() or not any(out.iterdir())


def test_all_problems_collected_with_physical_lines(tmp_path):
    rows = [
        GOOD_ROWS[0],                                                             # line 2
        '"Multi\nLine",2022-03-01,Military,Allocation,1.0,1.0,1.0,3,True,1e-09',  # lines 3-4
        "Atlantis,2022-13-01,Aid,Allocation,-1.0,1.0,1.0,3,True,1e-09",            # line 5
        GOOD_ROWS[1],                                                             # line 6
        "Atlantis,2022-03-01,Military,Allocation,1.0,1.0,1.0,3,True,1e-09",        # line 7
    ]
    found = problems_of(make_src(tmp_path, rows), outdir(tmp_path))
    assert found == {
        ("bilateral_activities.csv", 3, "giver", "Multi\nLine", "donor-mapping"),
        ("bilateral_activities.csv", 5, "giver", "Atlantis", "donor-mapping"),
        ("bilateral_activities.csv", 5, "dato", "2022-13-01", "date"),
        ("bilateral_activities.csv", 5, "kategori", "Aid", "enum"),
        ("bilateral_activities.csv", 5, "verdi_eur", "-1.0", "minimum"),
        ("bilateral_activities.csv", 7, "giver", "Atlantis", "donor-mapping"),
    }


def test_failed_import_leaves_previous_files(tmp_path):
    out = outdir(tmp_path)
    out.mkdir(exist_ok=True)
    (out / "aid_activities.csv").write_text("old\n", encoding="utf-8")
    (out / "aid_totals.csv").write_text("old\n", encoding="utf-8")
    bad = GOOD_ROWS + ["Atlantis,2022-03-01,Military,Allocation,1.0,1.0,1.0,3,True,1e-09"]
    with pytest.raises(DataValidationError):
        import_kiel(make_src(tmp_path, bad), out)
    assert sorted(p.name for p in out.iterdir()) == ["aid_activities.csv", "aid_totals.csv"]
    assert (out / "aid_activities.csv").read_text() == "old\n"
    assert (out / "aid_totals.csv").read_text() == "old\n"
    assert not (out / "kiel").exists()


def test_broken_summary(tmp_path):
    summary = [
        GOOD_SUMMARY[0],                                                   # line 2
        "Taiwan,False,False,0.0,0.0,5.05e-08,5.06e-08,0.0,0.0,0.0,0.0",    # line 3: total wrong
        "Atlantis,False,False,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0",            # line 4: unmapped
        "Australia,False,False,0.0,x,0.0,0.0,0.0,0.0,0.0,0.0",             # line 5: duplicate, NaN
        "EU (Commission and Council),False,True,0.0,0.0,-1.0,-1.0,0.0,0.0,0.0,0.0",  # line 6
    ]
    found = problems_of(make_src(tmp_path, GOOD_ROWS, summary), outdir(tmp_path))
    assert found == {
        ("country_summary.csv", 3, "total_allocation", "5.06e-08", "total-sum"),
        ("country_summary.csv", 4, "land", "Atlantis", "donor-mapping"),
        ("country_summary.csv", 5, "land", "Australia", "primary-key"),
        ("country_summary.csv", 5, "humanitarian_allocation", "x", "number"),
        ("country_summary.csv", 6, "military_allocation", "-1.0", "minimum"),
        ("country_summary.csv", 6, "total_allocation", "-1.0", "minimum"),
    }


def test_missing_column_is_one_layout_error(tmp_path):
    src = make_src(tmp_path, GOOD_ROWS)
    text = (src / "bilateral_activities.csv").read_text().replace("kategori", "category", 1)
    (src / "bilateral_activities.csv").write_text(text)
    with pytest.raises(KielLayoutError) as info:
        import_kiel(src, outdir(tmp_path))
    err = info.value
    assert (Path(err.file).name, err.sheet, err.column) == ("bilateral_activities.csv", None,
                                                            "kategori")
    assert "\n" not in str(err) and "'category'" in str(err) and "expected Kiel's columns" in str(err)
    assert not any(outdir(tmp_path).iterdir())  # nothing written


def test_missing_table(tmp_path):
    src = make_src(tmp_path, GOOD_ROWS)
    (src / "country_summary.csv").unlink()
    with pytest.raises(KielImportError, match="country_summary.csv: no such file"):
        import_kiel(src, outdir(tmp_path))


def test_release_comes_from_provenance(tmp_path):
    src = make_src(tmp_path, GOOD_ROWS, release=None)
    with pytest.raises(KielReleaseError, match="pass --release N"):
        import_kiel(src, outdir(tmp_path))
    assert import_kiel(src, outdir(tmp_path), release=31).source_id == "kiel-r31"
    (src / "PROVENANCE.md").write_text("Release 30; workbook Ukraine_Support_Tracker_Release_30.xlsx")
    assert import_kiel(src, outdir(tmp_path)).source_id == "kiel-r30"
    with pytest.raises(KielReleaseError, match="--release 31, but PROVENANCE.md names release 30"):
        import_kiel(src, outdir(tmp_path), release=31)
    (src / "PROVENANCE.md").write_text("Release 30 replaces Release 29")
    with pytest.raises(KielReleaseError, match="several releases"):
        import_kiel(src, outdir(tmp_path))


def test_actors_csv_mapping_is_used(tmp_path):
    out = outdir(tmp_path)
    out.mkdir(exist_ok=True)
    (out / "actors.csv").write_text(
        "actor_id,name,kiel_name\n"
        "AUS,Australia,Australia\n"
        "TWN,Taiwan,Taiwan\n"
        "eu-x,EU,EU (Commission and Council)\n"
        "GBR,United Kingdom,\n", encoding="utf-8")
    src = make_src(tmp_path, GOOD_ROWS)
    # epf has no kiel_name in this actors.csv, so the fallback must not be consulted
    found = problems_of(src, out)
    assert found == {("bilateral_activities.csv", 5, "giver", "European Peace Facility",
                      "donor-mapping")}
    rows = GOOD_ROWS[:3]
    src2 = tmp_path / "kiel2"
    shutil.copytree(src, src2)
    (src2 / "bilateral_activities.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    result = import_kiel(src2, out)
    assert result.mapping_source == str(out / "actors.csv")
    assert list(result.activities["donor_id"]) == ["AUS", "TWN", "eu-x"]
    assert set(result.totals["donor_id"]) == {"AUS", "TWN", "eu-x"}


def test_release_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        import_kiel(make_src(tmp_path, GOOD_ROWS), outdir(tmp_path), release=0)


# --------------------------------------------------------------------------------------------
# check_totals on its own


def test_check_totals_tolerance():
    acts = pd.DataFrame({
        "donor_id": ["A", "A", "B", "C", "D", "D"],
        "aid_type": ["military"] * 6,
        "measure": ["allocation", "commitment", "allocation", "allocation", "allocation",
                    "allocation"],
        "value_eur": [100.5, 999.0, 2e9, 5.0, 1.0, 2.0],
    })
    tots = pd.DataFrame({
        "donor_id": ["A", "A", "B", "C"],
        "aid_type": ["military", "military", "military", "military"],
        "measure": ["allocation", "commitment", "allocation", "allocation"],
        "value_eur": [100.0, 1.0, 2e9 + 1500.0, 7.0],
    })
    out = check_totals(acts, tots).set_index("donor_id")
    assert list(out.columns) == ["summed_eur", "kiel_eur", "diff_eur", "agrees", "status"]
    assert out.loc["A", "agrees"]                 # 0.5 EUR apart: within EUR 1
    assert out.loc["B", "agrees"]                 # 7.5e-7 relative: within 1e-6
    assert not out.loc["C", "agrees"]             # 2 EUR on 7: differs
    assert out.loc["C", "diff_eur"] == -2.0
    assert out.loc["D", "status"] == "no-total" and pd.isna(out.loc["D", "agrees"])
    assert out.loc["D", "summed_eur"] == 3.0
    by_type = check_totals(acts, tots, by_type=True)
    assert len(by_type) == 4 * 3


# --------------------------------------------------------------------------------------------
# Into the data package (--src DIR): validation, sources.csv, report


@from_extraction
def test_reimport_into_the_data_package_changes_nothing(tmp_path, capsys):
    from coalition_report.cli import main

    pkg = Path(shutil.copytree(DATA, tmp_path / "data"))
    assert main(["import-kiel", "--src", str(pkg / "kiel"), "--data", str(pkg)]) == 0
    out = capsys.readouterr().out
    assert "data package validated" in out and "row kiel-r28 kept as it is" in out
    for name in ("aid_activities.csv", "aid_totals.csv", "sources.csv"):
        assert (pkg / name).read_bytes() == (DATA / name).read_bytes(), name
    report = (pkg / "kiel" / "import-diff-r28.md").read_text(encoding="utf-8")
    assert "0 of 44 donors changed" in report and "Replaces: `kiel-r28`" in report


@from_extraction
def test_new_release_from_processed_tables_adds_its_source(tmp_path):
    pkg = Path(shutil.copytree(DATA, tmp_path / "data"))
    src = Path(shutil.copytree(KIEL, pkg / "kiel-r29"))
    # a folder in the data package names its files in its PROVENANCE.md (validate_files)
    (src / "PROVENANCE.md").write_text("# Kiel Ukraine Support Tracker, Release 29\n\nFiles: " + ", ".join(
        f"`{p.name}`" for p in sorted(src.iterdir()) if p.name != "PROVENANCE.md") + "\n")
    rows = (src / "bilateral_activities.csv").read_text(encoding="utf-8").splitlines(True)
    (src / "bilateral_activities.csv").write_text("".join(rows[:-1]), encoding="utf-8")
    result = import_kiel(src, pkg, today="2026-07-01")
    assert result.source_id == "kiel-r29" and result.sources_action == "row kiel-r29 added"
    new = read(pkg / "sources.csv")
    ids = [r["source_id"] for r in new]
    assert ids[ids.index("kiel-r28") + 1] == "kiel-r29"
    row = new[ids.index("kiel-r29")]
    assert row["title"].startswith("Ukraine Support Tracker, Release 29 (Trebesch et al.); processed "
                                   "tables bilateral_activities.csv (sha256 ")
    assert (row["local_path"], row["accessed"], row["licence"]) == (
        "kiel-r29/PROVENANCE.md", "2026-07-01", read(DATA / "sources.csv")[ids.index("kiel-r28")]["licence"])
    changed = result.diff[result.diff["changed"]]
    last_donor = expected_ids()[read(RAW_ACTS)[-1]["giver"]]
    assert list(changed["donor_id"]) == [last_donor]
    assert "1 of 44 donors changed" in result.report and f"| {last_donor} |" in result.report


def test_blank_commitment_value_reads_as_zero(tmp_path):
    rows = GOOD_ROWS[:2] + ["EU (Commission and Council),,Financial,Commitment,,,5.0,0,False,0.0"]
    result = import_kiel(make_src(tmp_path, rows), outdir(tmp_path))
    last = result.activities.iloc[-1]
    assert last["value_eur"] == 0.0 and math.isnan(last["value_eur_redistributed"])
    assert last["activity_value_eur"] == 5.0
