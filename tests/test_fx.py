from __future__ import annotations

import pandas as pd
import pytest

from coalition_report.errors import FxError
from coalition_report.fx import FxTable

RATES = pd.DataFrame({
    "currency": ["GBP", "GBP", "USD"],
    "period_start": pd.to_datetime(["2024-01-01", "2025-01-01", "2024-01-01"]),
    "period_end": pd.to_datetime(["2024-12-31", "2025-12-31", "2024-12-31"]),
    "per_eur": [0.8, 0.5, 1.25],
    "rate_type": ["test"] * 3,
    "source_id": ["s"] * 3,
})


def test_converts_through_eur_with_the_period_rate():
    fx = FxTable(RATES)
    assert fx.convert(100, "GBP", "EUR", "2024-06-30") == pytest.approx(125.0)
    assert fx.convert(100, "GBP", "EUR", "2025-06-30") == pytest.approx(200.0)
    assert fx.convert(80, "GBP", "USD", "2024-03-01") == pytest.approx(125.0)
    assert fx.convert(7, "EUR", "EUR", "1999-01-01") == 7


def test_unknown_currency_is_a_clear_error():
    with pytest.raises(FxError) as err:
        FxTable(RATES).convert(1, "JPY", "EUR", "2024-06-30")
    assert err.value.currency == "JPY" and "no rate recorded" in str(err.value)


def test_date_outside_every_period_is_a_clear_error():
    with pytest.raises(FxError) as err:
        FxTable(RATES).convert(1, "USD", "EUR", "2025-02-01")
    assert "2024-01-01..2024-12-31" in err.value.reason


def test_latest_falls_back_to_newest_earlier_period():
    fx = FxTable(RATES)
    assert fx.latest("USD", "2026-01-15").per_eur == 1.25
    with pytest.raises(FxError):
        fx.latest("USD", "2023-01-01")


def test_shipped_rates_are_the_means_of_the_shipped_ecb_daily_series():
    """fx_rates.csv is derived, not typed: recompute every period mean from the ECB daily file."""
    import csv
    from decimal import ROUND_HALF_UP, Decimal

    from conftest import ROOT

    with open(ROOT / "data" / "fx" / "ecb-daily.csv", newline="") as f:
        daily = list(csv.DictReader(f))
    with open(ROOT / "data" / "fx_rates.csv", newline="") as f:
        rates = list(csv.DictReader(f))
    assert rates
    for r in rates:
        vals = [Decimal(d[r["currency"]]) for d in daily
                if r["period_start"] <= d["date"] <= r["period_end"] and d[r["currency"]] not in ("", "N/A")]
        places = len(r["per_eur"].split(".")[1])
        mean = (sum(vals) / len(vals)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        assert Decimal(r["per_eur"]) == mean, r
        assert f"mean of {len(vals)} ECB" in r["rate_type"]
