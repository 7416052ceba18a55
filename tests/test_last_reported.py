"""last_reported: each role or stance older than six months at D is marked "last reported <date>".

Worked on the small valid fixture: roles of GBR and FRA dated 2025-03-02, RUS's stance on the force
dated 2025-03-06 and GBR's ceasefire stance dated 2025-03-15."""

from __future__ import annotations

from datetime import date

import pytest

from coalition_report.analysis import last_reported
from coalition_report.data import load_data


@pytest.fixture()
def ds(valid_dir):
    return load_data(valid_dir)


def _stale(df):
    return {(r.actor_id, r.kind, r.topic): r.stale for r in df.itertuples()}


def test_exactly_six_months_is_not_yet_stale(ds):
    got = _stale(last_reported(ds, date(2025, 9, 2)))
    assert got[("GBR", "role", "")] is False and got[("FRA", "role", "")] is False


def test_older_than_six_months_is_marked_with_its_date(ds):
    df = last_reported(ds, date(2025, 9, 3)).set_index(["actor_id", "kind", "topic"])
    assert bool(df.loc[("GBR", "role", ""), "stale"]) is True
    assert df.loc[("GBR", "role", ""), "label"] == "last reported 2 March 2025"
    assert bool(df.loc[("RUS", "stance", "coalition_force"), "stale"]) is False  # 2025-03-06 is within
    assert df.loc[("RUS", "stance", "coalition_force"), "label"] == ""


def test_rows_after_the_day_are_not_considered(ds):
    df = last_reported(ds, date(2025, 3, 10))
    assert ("GBR", "stance", "ceasefire") not in _stale(df)  # stated on 2025-03-15
    assert set(df["kind"]) == {"role", "stance"}
    assert not df["stale"].any()


def test_default_day_is_the_cutoff(ds):
    # the fixture's newest row is 2025-03-27 (a meeting): nothing is six months old then
    assert not last_reported(ds)["stale"].any()
