from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from coalition_report.data import load_data
from coalition_report.hashing import hash_directory
from coalition_report.errors import DataValidationError, ParameterError
from conftest import FIXTURES


def test_load_types(valid_dir):
    ds = load_data(valid_dir)
    assert str(ds.meetings["date"].dtype).startswith("datetime64")
    assert ds.aid_activities["undated"].tolist() == [False, True]
    assert ds.actors.set_index("actor_id").at["GBR", "gdp_year"] == 2024
    assert ds.newest_date == date(2025, 3, 27)
    assert ds.meetings["_line"].tolist() == [2, 3]  # provenance of each row: its line in the file


def test_as_of_drops_later_records_and_their_attendance(valid_dir):
    ds = load_data(valid_dir, as_of="2025-03-10")
    assert ds.meetings["meeting_id"].tolist() == ["2025-03-02-london"]
    assert set(ds.attendance["meeting_id"]) == {"2025-03-02-london"}
    assert ds.positions["position_id"].tolist() == ["rus-coalition-2025-03-06"]
    assert ds.dropped["meetings"] == 1 and ds.dropped["attendance"] == 1
    assert len(ds.actors) == 4  # states exist at every date


def test_as_of_is_a_knowledge_cut_off_for_sources(valid_dir):
    """Only sources published by the date are kept; Kiel's release (published 2026, accessed
    2026-06-01) is reconstructed from dated rows; GDP resting on a later source is blanked."""
    ds = load_data(valid_dir, as_of="2025-03-10")
    # ref-001 is published by then; kiel-r28 ("2026") and ecb-2025 ("2025") are series: they stay
    # citable because their values are cut by their own dates
    assert ds.sources["source_id"].tolist() == ["ref-001", "kiel-r28", "ecb-2025"]
    assert ds.kiel_known == date(2026, 6, 1) and ds.kiel_reconstructed
    assert len(ds.aid_totals) == 0
    assert ds.aid_activities["activity_id"].tolist() == ["kiel-r28-00001"]  # dated 2025-03-10; undated out
    assert ds.actors["gdp_usd"].isna().all()  # the fixture's GDP cites kiel-r28


def _with_sources(valid_dir, tmp_path, old: str, new: str):
    """A copy of the valid fixture with one edit to sources.csv."""
    pkg = tmp_path / "p"
    shutil.copytree(valid_dir, pkg)
    src = (pkg / "sources.csv").read_text()
    assert old in src
    (pkg / "sources.csv").write_text(src.replace(old, new))
    return pkg


def test_a_record_needs_a_source_published_by_the_date(tmp_path, valid_dir):
    pkg = _with_sources(valid_dir, tmp_path, "London,https://example.org/a,,2025-03-02",
                        "London,https://example.org/a,,2025-03-08")
    early = load_data(pkg, as_of="2025-03-07")
    assert early.meetings.empty and early.positions.empty  # every row cites ref-001, published 03-08
    assert len(load_data(pkg, as_of="2025-03-08").meetings) == 1


def test_after_the_kiel_release_the_whole_release_counts(tmp_path, valid_dir):
    pkg = _with_sources(valid_dir, tmp_path, "Tracker R28,https://www.kielinstitut.de/,,2026,",
                        "Tracker R28,https://www.kielinstitut.de/,,2025-03-12,")
    before = load_data(pkg, as_of="2025-03-11")
    after = load_data(pkg, as_of="2025-03-12")
    assert before.kiel_reconstructed and not after.kiel_reconstructed
    assert len(before.aid_totals) == 0 and len(after.aid_totals) == 2
    assert after.aid_activities["activity_id"].tolist() == ["kiel-r28-00001", "kiel-r28-00002"]


def test_undated_policy(valid_dir):
    inc = load_data(valid_dir)
    assert inc.aid_activities["activity_id"].tolist() == ["kiel-r28-00001", "kiel-r28-00002"]
    exc = load_data(valid_dir, undated="exclude")
    assert exc.aid_activities["activity_id"].tolist() == ["kiel-r28-00001"]
    with pytest.raises(ParameterError):
        load_data(valid_dir, undated="maybe")


def test_rates_are_those_published_by_the_date(tmp_path, valid_dir):
    """A period running past the as-of date is re-averaged from the daily rates published so far."""
    pkg = tmp_path / "p"
    shutil.copytree(valid_dir, pkg)
    (pkg / "fx").mkdir()
    (pkg / "fx" / "ecb-daily.csv").write_text("date,USD,GBP\n2025-01-02,1.00,0.80\n2025-01-03,1.20,0.90\n"
                                              "2025-06-02,9.99,9.99\n")
    desc = json.loads((pkg / "datapackage.json").read_text(encoding="utf-8"))
    desc["resources"].append({"name": "fx_daily", "path": "fx/ecb-daily.csv", "schema": {"fields": [
        {"name": "date", "type": "date"}, {"name": "USD", "type": "number"}, {"name": "GBP", "type": "number"}]}})
    (pkg / "datapackage.json").write_text(json.dumps(desc), encoding="utf-8")
    ds = load_data(pkg, as_of="2025-01-03")
    r = ds.fx_rates[ds.fx_rates["period_start"] == "2025-01-01"].set_index("currency")
    assert r.at["USD", "per_eur"] == 1.1 and r.at["GBP", "per_eur"] == 0.85
    assert str(r.at["USD", "period_end"].date()) == "2025-01-03"
    assert "mean of 2 ECB euro reference rates published 2025-01-02 to 2025-01-03" in r.at["USD", "rate_type"]
    assert (ds.fx_rates["period_start"] <= "2025-01-03").all()


def test_bad_as_of_is_a_parameter_error(valid_dir):
    with pytest.raises(ParameterError) as err:
        load_data(valid_dir, as_of="31/12/2025")
    assert err.value.name == "as_of"


def test_invalid_package_raises_with_every_problem():
    with pytest.raises(DataValidationError) as err:
        load_data(FIXTURES / "duplicate_id")
    assert len(err.value.problems) == 2


def test_coverage(valid_dir):
    cov = load_data(valid_dir).coverage().set_index("table")
    assert cov.at["aid_activities", "undated_rows"] == 1
    assert str(cov.at["meetings", "last_date"]) == "2025-03-27"


def test_hash_changes_with_content(tmp_path, valid_dir):
    pkg = tmp_path / "p"
    shutil.copytree(valid_dir, pkg)
    before = hash_directory(pkg)
    assert before == hash_directory(valid_dir)
    (pkg / "events.csv").write_text((pkg / "events.csv").read_text().replace("One-month", "One month"))
    assert hash_directory(pkg) != before


# ---------------------------------------------------------------------------------------------
# The user cache is bounded: the least recently used entries of a kind go
def _aged(path, seconds_ago: float) -> None:
    import os
    import time

    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_a_kind_of_cache_entry_keeps_the_most_recently_used(tmp_path):
    from coalition_report.files import keep_private, used_private

    for i in range(5):  # validated-0 oldest ... validated-4 newest
        keep_private(tmp_path / f"validated-{i}.pickle", b"x" * 10)
        _aged(tmp_path / f"validated-{i}.pickle", 100 - i)
    keep_private(tmp_path / "params-a.json", b"{}")
    _aged(tmp_path / "params-a.json", 1000)  # another kind: never counted with these
    used_private(tmp_path / "validated-0.pickle")  # read just now: the most recently used
    assert keep_private(tmp_path / "validated-new.pickle", b"y" * 10, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params-a.json", "validated-0.pickle",
                                                          "validated-4.pickle", "validated-new.pickle"]
    # a size bound too; the entry just stored stays even when it alone is over it
    assert keep_private(tmp_path / "validated-big.pickle", b"z" * 50, keep=10, max_bytes=60)
    assert sorted(p.name for p in tmp_path.glob("validated-*")) == ["validated-big.pickle", "validated-new.pickle"]
    assert keep_private(tmp_path / "validated-huge.pickle", b"z" * 100, keep=10, max_bytes=60)
    assert [p.name for p in tmp_path.glob("validated-*")] == ["validated-huge.pickle"]


def test_validated_datasets_in_the_user_cache_are_bounded(tmp_path, monkeypatch, valid_dir):
    """Each data version's validated tables are kept for the next build and its kernels; past
    VALIDATED_KEEP the least recently used go (a working copy's cache once held ~6,000)."""
    from coalition_report import data as data_module

    cache = tmp_path / "cache"
    monkeypatch.setenv("COALITION_CACHE_DIR", str(cache))
    monkeypatch.setattr(data_module, "VALIDATED_KEEP", 2)
    copies = []
    for i in range(3):
        d = shutil.copytree(valid_dir, tmp_path / f"v{i}")
        events = (d / "events.csv").read_text(encoding="utf-8")
        (d / "events.csv").write_text(events.replace("One-month truce proposed", f"One-month truce proposed{' ' * i}."),
                                      encoding="utf-8")  # three versions of the data
        copies.append(d)
    load_data(copies[0])
    [first] = cache.glob("validated-*.pickle")
    _aged(first, 60)
    load_data(copies[1])
    _aged(next(p for p in cache.glob("validated-*.pickle") if p != first), 30)
    load_data(copies[0])  # read back (not validated again): now the most recently used
    assert len(list(cache.glob("validated-*.pickle"))) == 2
    load_data(copies[2])
    kept = set(cache.glob("validated-*.pickle"))
    assert len(kept) == 2 and first in kept  # copies[1]'s, the least recently used, went
