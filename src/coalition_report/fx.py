"""Currency conversion with the reference rates recorded in ``fx_rates.csv``.

Rates are stored as units of currency per 1 EUR for a period. Any conversion goes through EUR.
A currency or date with no recorded rate is an :class:`~coalition_report.errors.FxError`, never a
silent guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from .errors import FxError

__all__ = ["FxTable"]


@dataclass(frozen=True)
class Rate:
    currency: str
    per_eur: float
    period_start: date
    period_end: date
    rate_type: str
    source_id: str


class FxTable:
    """Look-up over the recorded rates.

    Parameters
    ----------
    rates : DataFrame
        The ``fx_rates`` table (columns currency, period_start, period_end, per_eur, rate_type,
        source_id).
    """

    def __init__(self, rates: pd.DataFrame):
        self._by_cur: dict[str, list[Rate]] = {}
        for r in rates.itertuples(index=False):
            self._by_cur.setdefault(r.currency, []).append(Rate(
                r.currency, float(r.per_eur), pd.Timestamp(r.period_start).date(),
                pd.Timestamp(r.period_end).date(), r.rate_type, r.source_id))
        for items in self._by_cur.values():
            items.sort(key=lambda x: x.period_start)

    @property
    def currencies(self) -> list[str]:
        return sorted({"EUR", *self._by_cur})

    def rate(self, currency: str, on: date | str | pd.Timestamp) -> Rate:
        """The recorded rate for ``currency`` whose period contains ``on``."""
        day = pd.Timestamp(on).date()
        if currency == "EUR":
            return Rate("EUR", 1.0, day, day, "identity", "")
        items = self._by_cur.get(currency)
        if not items:
            raise FxError(currency, day, "no rate recorded for this currency; recorded: "
                          + ", ".join(self.currencies))
        for r in items:
            if r.period_start <= day <= r.period_end:
                return r
        spans = "; ".join(f"{r.period_start}..{r.period_end}" for r in items)
        raise FxError(currency, day, f"no recorded period contains this date (periods: {spans})")

    def latest(self, currency: str, on_or_before: date | str | pd.Timestamp) -> Rate:
        """The rate in force on ``on_or_before``, else the newest period ending before it."""
        try:
            return self.rate(currency, on_or_before)
        except FxError:
            day = pd.Timestamp(on_or_before).date()
            earlier = [r for r in self._by_cur.get(currency, []) if r.period_end <= day]
            if not earlier:
                raise
            return earlier[-1]

    def convert(self, amount: float, from_cur: str, to_cur: str, on: date | str | pd.Timestamp) -> float:
        """Convert ``amount`` from ``from_cur`` to ``to_cur`` at the rates for day ``on``."""
        eur = amount / self.rate(from_cur, on).per_eur
        return eur * self.rate(to_cur, on).per_eur
