"""Citing sources: source notes under charts and tables, and which sources the data uses.

Source ids always come from the data (``sources.csv`` and each table's ``source_id`` column),
never from code: after importing Kiel release 29, :func:`kiel_source` names release 29.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from .data import Dataset, per_dataset

__all__ = ["source_note", "top_sources", "confidence_flag", "kiel_source", "source_label", "used_sources",
           "SOURCE_COLUMNS"]

#: Columns that hold source ids, in any table.
SOURCE_COLUMNS = ("source_id", "gdp_source_id", "membership_source_id", "nato_source_id")


def source_note(ds: Dataset, source_ids: Iterable[str], extra: str = "") -> str:
    """``'Source: publisher, title (date) [id]; …'`` for ``source_ids``, from ``sources.csv``.

    Ids missing from ``sources.csv`` are skipped (validation has already refused them);
    ``extra`` is appended as a further sentence.
    """
    s = ds.sources.set_index("source_id")
    parts = []
    for sid in dict.fromkeys(i for i in source_ids if isinstance(i, str) and i):
        if sid not in s.index:
            continue
        row = s.loc[sid]
        title = f", {str(row['title']).split(';')[0].strip()}" if pd.notna(row["title"]) and row["title"] else ""
        if len(title) > 90:
            title = title[:89].rsplit(" ", 1)[0] + "…"
        date = f" ({row['published']})" if pd.notna(row["published"]) and row["published"] else ""
        parts.append(f"{row['publisher']}{title}{date} [{sid}]")
    text = "Source: " + "; ".join(parts) if parts else "Source: this brief's data package"
    return text + (f". {extra}" if extra else ".")


def top_sources(ids: Iterable[str], limit: int = 6) -> list[str]:
    """The most frequent source ids first, at most ``limit``; the full list is in Sources."""
    series = ids.astype(object) if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype=object)
    return list(series.dropna().value_counts().index[:limit])


def confidence_flag(conf: pd.Series) -> pd.Series:
    """``' (low confidence)'`` for rows the dossier graded low, else ``''``."""
    return conf.map({"low": " (low confidence)"}).fillna("")


def kiel_source(ds: Dataset) -> str | None:
    """The source id of the Kiel release in ``aid_activities.csv`` (the most frequent one)."""
    ids = top_sources(ds.aid_activities["source_id"], 1) if len(ds.aid_activities) else []
    if not ids and len(ds.aid_totals):
        ids = top_sources(ds.aid_totals["source_id"], 1)
    return ids[0] if ids else None


def source_label(ds: Dataset, source_id: str | None) -> str:
    """A short label for a source: ``'Kiel Institute, Ukraine Support Tracker, Release 28'``.

    The publisher and the title up to its first ``(`` or ``;`` (the full entry is in Sources).
    """
    if not source_id:
        return "–"
    s = ds.sources.set_index("source_id")
    if source_id not in s.index:
        return source_id
    row = s.loc[source_id]
    title = str(row["title"]) if pd.notna(row["title"]) else ""
    for stop in (" (", ";"):
        title = title.split(stop)[0]
    return f"{row['publisher']}, {title}".strip(", ")


@per_dataset
def used_sources(ds: Dataset, actor_id: str | None = None) -> set[str]:
    """Source ids cited by any row of any table (or by the rows about ``actor_id``)."""
    used: set[str] = set()
    for name, df in ds.tables.items():
        if name == "sources":
            continue
        if actor_id:
            key = next((k for k in ("actor_id", "donor_id") if k in df), None)
            if key is None:
                continue
            df = df[df[key] == actor_id]
        for col in SOURCE_COLUMNS:
            if col in df:
                used |= set(df[col].dropna().unique())
    return used
