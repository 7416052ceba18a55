from __future__ import annotations

import shutil
from datetime import date

import pytest

from coalition_report.data import load_data
from coalition_report.render import hash_directory
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
    assert len(ds.aid_totals) == 2  # on the Kiel cut-off date (2025-03-10) the totals stay
    assert ds.dropped["meetings"] == 1 and ds.dropped["attendance"] == 1
    assert len(ds.actors) == 4 and len(ds.sources) == 3  # reference tables are never cut


def test_undated_policy(valid_dir):
    inc = load_data(valid_dir, as_of="2025-03-01")
    assert inc.aid_activities["activity_id"].tolist() == ["kiel-r28-00002"]
    exc = load_data(valid_dir, undated="exclude")
    assert exc.aid_activities["activity_id"].tolist() == ["kiel-r28-00001"]
    with pytest.raises(ParameterError):
        load_data(valid_dir, undated="maybe")


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
