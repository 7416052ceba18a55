"""The sourcing mix of what a brief shows: tiers of the sources it cites, rows resting on weak sources.

Pure functions on a loaded :class:`~coalition_report.data.Dataset` (after the as-of cut). The rules
are validation's (:mod:`coalition_report.validate_sources`): the same tiers, the same weak tiers
and the same curated tables count as "cited rows", so Methods, ``scripts/source_quality.py`` and the
shipped-data tests measure one thing.
"""

from __future__ import annotations

import pandas as pd

from .validate_sources import CITED_TABLES, TIERS, WEAK_TIERS

__all__ = ["TIER_LABELS", "tier_label", "sourcing_mix"]

#: How the references name each tier (a short label a reader understands).
TIER_LABELS = {"official": "official", "record": "wire/outlet of record", "press": "other press",
               "copy": "copy", "state_media": "state media", "aggregator": "aggregator"}


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) or pd.isna(v) else str(v).strip()


def tier_label(source: dict, state_names: dict[str, str] | None = None) -> str:
    """The short tier label of one ``sources`` row: "official", "wire/outlet of record",
    "copy of Reuters", "state media of Russia" ...; empty when the source has no tier."""
    tier = _text(source.get("tier"))
    if not tier:
        return ""
    if tier == "copy":
        orig = _text(source.get("original_publisher"))
        return f"copy of {orig}" if orig else "copy"
    if tier == "state_media":
        owner = _text(source.get("owner_state"))
        return f"state media of {(state_names or {}).get(owner, owner)}" if owner else "state media"
    return TIER_LABELS.get(tier, tier)


def _row_ids(row: pd.Series) -> list[str]:
    ids = [_text(row.get("source_id"))]
    ids += [s.strip() for s in _text(row.get("other_source_ids")).split(";")]
    return [s for s in dict.fromkeys(ids) if s]


def sourcing_mix(ds, cited: set[str] | None = None) -> dict:
    """Tiers of the cited sources and the share of cited rows resting only on weak sources.

    ``cited`` defaults to the brief's references list (:func:`analysis.cited_source_ids`). A cited
    row is a row of the curated tables (``validate_sources.CITED_TABLES``) shown at the brief's
    date that names at least one cited source; it rests only on weak sources when every cited
    source it names is a copy, state media or an aggregator.

    Returns ``tiers`` (DataFrame: ``tier``, ``label``, ``sources``, in the order of ``TIERS``, tiers
    with no source left out), ``rows``, ``weak_only`` and ``weak_share`` (0 when no rows).
    """
    from . import analysis as an

    cited = cited if cited is not None else an.cited_source_ids(ds)
    src = ds.sources.set_index("source_id")
    tier = src["tier"].fillna("") if "tier" in src else pd.Series("", index=src.index)
    counts = tier[tier.index.isin(cited)].value_counts()
    tiers = pd.DataFrame([{"tier": t, "label": TIER_LABELS[t], "sources": int(counts.get(t, 0))}
                          for t in TIERS if counts.get(t, 0)])
    rows = weak = 0
    for name in CITED_TABLES:
        df = ds.table(name)
        for _, r in df.iterrows():
            ids = [s for s in _row_ids(r) if s in cited]
            if not ids:
                continue
            rows += 1
            weak += all(tier.get(s, "") in WEAK_TIERS for s in ids)
    return {"tiers": tiers, "rows": rows, "weak_only": weak, "weak_share": weak / rows if rows else 0.0}
