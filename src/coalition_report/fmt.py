"""Formatting numbers, money, dates and percentages the way the brief prints them.

>>> fmt_money(1.234e9, "EUR")
'EUR 1.23bn'
>>> fmt_money(56.7e9, "USD")
'USD 56.7bn'
>>> fmt_money(5.6e6, "GBP")
'GBP 5.6m'
>>> fmt_date("2025-06-30")
'30 June 2025'
>>> fmt_pct(1, 3)
'33%'
>>> fmt_int(1234567)
'1,234,567'
"""

from __future__ import annotations

import pandas as pd

from .dates import format_date

__all__ = ["fmt_money", "fmt_date", "fmt_pct", "fmt_int", "date_column", "quoted"]

#: Shown where a value is missing.
NA = "n/a"


def fmt_money(value: float | None, currency: str) -> str:
    """``1.234e9`` -> ``'EUR 1.23bn'``; ``5.6e6`` -> ``'EUR 5.6m'``; missing -> ``'n/a'``."""
    if value is None or value != value:
        return NA
    a = abs(value)
    if a >= 1e9:
        return f"{currency} {value / 1e9:,.1f}bn" if a >= 1e10 else f"{currency} {value / 1e9:,.2f}bn"
    if a >= 1e6:
        return f"{currency} {value / 1e6:,.1f}m"
    return f"{currency} {value:,.0f}"


def fmt_date(value) -> str:
    """A date, ``Timestamp`` or ISO string -> ``'30 June 2025'`` (locale-independent)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return NA
    if hasattr(value, "strftime"):
        value = value.strftime("%Y-%m-%d")
    return format_date(str(value))


def fmt_pct(part: float, whole: float, digits: int = 0) -> str:
    """``part`` as a percentage of ``whole``; ``'n/a'`` when ``whole`` is 0."""
    return f"{100 * part / whole:.{digits}f}%" if whole else NA


def fmt_int(value: float) -> str:
    """Whole number with thousands separators."""
    return f"{int(value):,}"


def date_column(s: pd.Series) -> pd.Series:
    """A datetime column as ISO days, ``'undated'`` where missing (for tables)."""
    return s.dt.strftime("%Y-%m-%d").fillna("undated")


def quoted(q) -> str:
    """An exact quote in typographic quotation marks; en dash when there is none."""
    return f"“{q}”" if isinstance(q, str) and q else "–"
