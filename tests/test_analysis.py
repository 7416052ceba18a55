"""Analysis helpers on the small valid fixture, where every expected number is worked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from coalition_report import analysis as an
from coalition_report.data import load_data


@pytest.fixture()
def ds(valid_dir):
    return load_data(valid_dir)


def test_members_are_states_that_attended_and_are_not_outside(ds):
    m = an.coalition_members(ds)
    assert list(m["actor_id"]) == ["FRA", "GBR"]  # both lead nations, ordered by name
    assert set(m["role"]) == {"lead_nation"}


def test_membership_by_role_counts(ds):
    t = an.membership_by_role(ds)
    assert t.to_dict("records") == [{"role": "lead_nation", "role_label": "Lead nation (forces)",
                                     "states": 2, "members": "France, United Kingdom"}]


def test_newest_role_wins(valid_dir, tmp_path):
    import shutil
    pkg = tmp_path / "p"
    shutil.copytree(valid_dir, pkg)
    with open(pkg / "contributions.csv", "a") as f:
        f.write("fra-2025-06-01,FRA,2025-06-01,declined_troops,No troops,,ref-001,high\n")
    roles = an.current_roles(load_data(pkg)).set_index("actor_id")["role"]
    assert roles["FRA"] == "declined_troops"
    roles_before = an.current_roles(load_data(pkg, as_of="2025-05-31")).set_index("actor_id")["role"]
    assert roles_before["FRA"] == "lead_nation"


def test_aid_by_donor_uses_kiel_totals_and_converts(ds):
    eur = an.aid_by_donor(ds, "EUR").set_index("donor_id")
    assert eur.at["GBR", "allocation_total"] == 1_000_000
    assert eur.at["GBR", "rank"] == 1 and eur.at["FRA", "rank"] == 2
    assert eur.at["GBR", "commitment_total"] != eur.at["GBR", "commitment_total"]  # NaN: no commitment rows
    gbp = an.aid_by_donor(ds, "GBP").set_index("donor_id")
    # newest date in the fixture is 2025-03-27: the 2025 rate, 0.85 GBP per EUR
    assert gbp.at["GBR", "allocation_total"] == pytest.approx(850_000)


def test_before_the_kiel_release_aid_is_reconstructed_from_dated_rows(valid_dir):
    ds = load_data(valid_dir, as_of="2025-03-12")
    d = an.aid_by_donor(ds).set_index("donor_id")
    assert set(d.index) == {"GBR"}  # GBR's activity is dated 2025-03-10; FRA's undated row waits for the release
    assert d.at["GBR", "allocation_total"] == 1_000_000 and d.at["GBR", "basis"] == "activity_sums"
    assert an.aid_by_donor(load_data(valid_dir, as_of="2025-03-05")).empty


def test_aid_by_group(ds):
    g = an.aid_by_group(ds).set_index("category")
    assert g.at["Coalition members", "allocation_total"] == 1_500_000
    assert g.at["Coalition members", "donors"] == 2


def test_monthly_keeps_undated_apart(ds):
    m = an.aid_monthly(ds)
    dated = m[m["month"].notna()]
    assert dated.to_dict("records")[0]["month"] == pd.Timestamp("2025-03-01")
    assert m.loc[m["month"].isna(), "value_eur"].sum() == 500_000


def test_share_of_gdp_uses_gdp_year_rate(ds):
    s = an.aid_share_of_gdp(ds).set_index("donor_id")
    # 1,000,000 EUR x 1.25 USD/EUR (2024) / 3.6e12 USD GDP
    assert s.at["GBR", "share_of_gdp_pct"] == pytest.approx(100 * 1.25e6 / 3.6e12)


def test_announcements_keep_original_currency(ds):
    table = an.announcements(ds, "USD")
    assert len(table) == 1  # the restating row is folded in, not counted twice
    a = table.iloc[0]
    assert a["also_reported_by"] == "kiel-r28"
    assert (a["amount"], a["currency"]) == (1_600_000_000, "GBP")
    # 2025 rates: GBP 0.85, USD 1.10 per EUR
    assert a["converted"] == pytest.approx(1_600_000_000 / 0.85 * 1.10)


def test_positions_matrix_and_quotes(ds):
    p = an.positions_matrix(ds)
    assert set(zip(p["actor_id"], p["topic"], p["stance"])) == {
        ("RUS", "coalition_force", "oppose"), ("GBR", "ceasefire", "support")}
    q = an.quotes(ds)
    assert list(q["quote"]) == ["We see no room for compromise"]


def test_headline_figures(ds):
    h = an.headline_figures(ds, "EUR")
    assert h["members"] == 2 and h["force_offering"] == 2 and h["meetings"] == 2
    assert str(h["last_meeting_date"]) == "2025-03-27"
    assert h["alloc_total"] == 1_500_000
