"""Dates as readers see them, without locale or pandas (the build side imports this too)."""

from __future__ import annotations

import re

__all__ = ["format_date"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def format_date(value: str | None) -> str:
    """``"2025-06-30"`` -> ``"30 June 2025"`` (locale-independent); other text unchanged."""
    if not value:
        return ""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", str(value))
    if not m or not 1 <= int(m.group(2)) <= 12:
        return str(value)
    return f"{int(m.group(3))} {_MONTHS[int(m.group(2)) - 1]} {m.group(1)}"
