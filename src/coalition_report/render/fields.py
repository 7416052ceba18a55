"""A chart that encodes a field its data does not have: found on the executed chart's spec.

Vega-Lite draws such a chart empty and says nothing; the build checks every chart's spec in
the executed notebook (build side: the kernel and :mod:`coalition_report.display` stay as
they are) and fails naming the cell, the field and the nearest field names.

What a field may be: a column of the chart's inline data (``data.values`` or a named
``datasets`` entry, inherited by layers, concatenations and facets), or a field a transform
makes (``calculate``, ``aggregate``, ``fold``, ``window``, ``bin``, ``timeUnit``, ``lookup``
...). A chart whose data is loaded from a URL or generated, or that pivots (columns named by
data values), is not checked: its fields are not known before it is drawn.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterator, Mapping

__all__ = ["missing_fields", "field_message"]

_UNKNOWN = None  # columns that cannot be known from the spec
#: Transforms that add fields, and the names they add when "as" is left out.
_DEFAULT_AS = {"fold": ["key", "value"], "density": ["value", "density"], "quantile": ["prob", "value"],
               "regression": [], "loess": [], "filter": [], "sample": [], "impute": [], "extent": []}


def _columns(data: Any, datasets: Mapping[str, Any]) -> set[str] | None:
    if not isinstance(data, Mapping):
        return _UNKNOWN
    rows = data.get("values") if "values" in data else (
        datasets.get(data["name"]) if isinstance(data.get("name"), str) else None)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, Mapping) for r in rows):
        return _UNKNOWN  # a URL, a generator, a list of plain values, or no rows to tell
    cols: set[str] = set()
    for r in rows:
        cols.update(map(str, r))
    return cols


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _derived(transforms: Any) -> set[str] | None:
    """Fields the transforms add; ``None`` when one adds fields that cannot be known."""
    out: set[str] = set()
    for t in transforms or []:
        if not isinstance(t, Mapping):
            return _UNKNOWN
        if "calculate" in t or "timeUnit" in t or "bin" in t or "stack" in t or "flatten" in t:
            out.update(_as_list(t.get("as")))
            out.update(_as_list(t.get("flatten")))
        elif "aggregate" in t or "joinaggregate" in t or "window" in t:
            for op in t.get("aggregate") or t.get("joinaggregate") or t.get("window") or []:
                if isinstance(op, Mapping):
                    out.update(_as_list(op.get("as")))
        elif "lookup" in t:
            names = _as_list(t.get("as")) + _as_list((t.get("from") or {}).get("fields"))
            if not names:
                return _UNKNOWN  # every field of the looked-up data
            out.update(names)
        elif "pivot" in t:
            return _UNKNOWN
        else:
            kind = next((k for k in _DEFAULT_AS if k in t), None)
            if kind is None:
                return _UNKNOWN
            out.update(_as_list(t.get("as")) or _DEFAULT_AS[kind])
            for key in ("regression", "loess", "density", "quantile"):
                out.update(_as_list(t.get(key)))
            out.update(_as_list(t.get("on")))
    return out


def _base(field: str) -> str:
    """The top-level column a field path reads (``a.b`` -> ``a``; ``a\\.b`` -> ``a.b``)."""
    parts = re.split(r"(?<!\\)[.\[]", field, maxsplit=1)
    return parts[0].replace("\\.", ".").replace("\\[", "[")


def _encoded(encoding: Any) -> Iterator[tuple[str, str]]:
    """``(channel, field)`` for every field an encoding reads."""
    if not isinstance(encoding, Mapping):
        return
    for channel, defs in encoding.items():
        for d in defs if isinstance(defs, list) else [defs]:
            if not isinstance(d, Mapping):
                continue
            for item in [d, *(d.get("condition") if isinstance(d.get("condition"), list) else [d.get("condition")])]:
                if isinstance(item, Mapping) and isinstance(item.get("field"), str) and item["field"] != "*":
                    yield channel, item["field"]


def missing_fields(spec: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """``(field, channel, columns)`` for each encoded field absent from the chart's data."""
    datasets = spec.get("datasets") or {}
    out: list[tuple[str, str, list[str]]] = []

    def walk(node: Any, cols: set[str] | None, derived: set[str] | None, enc: Mapping) -> None:
        if not isinstance(node, Mapping):
            return
        if "data" in node:
            cols, derived = _columns(node["data"], datasets), set()
        more = _derived(node.get("transform"))
        derived = None if derived is None or more is None else derived | more
        known = None if cols is None or derived is None else cols | derived
        if isinstance(node.get("facet"), Mapping) and known is not None:
            facet = node["facet"]
            defs = facet if "field" not in facet else {"facet": facet}
            out.extend((f, ch, sorted(cols)) for ch, f in _encoded(defs) if _base(f) not in known)
        enc = {**enc, **(node.get("encoding") or {})}
        if "mark" in node and known is not None:
            out.extend((f, ch, sorted(cols)) for ch, f in _encoded(enc) if _base(f) not in known)
        for layer in node.get("layer") or []:
            walk(layer, cols, derived, enc)
        for key in ("hconcat", "vconcat", "concat"):
            for child in node.get(key) or []:
                walk(child, cols, derived, {})
        if isinstance(node.get("spec"), Mapping):
            walk(node["spec"], cols, derived, {})

    walk(spec, _UNKNOWN, set(), {})
    seen: set[tuple[str, str]] = set()
    return [p for p in out if (p[0], p[1]) not in seen and not seen.add((p[0], p[1]))]


def field_message(field: str, channel: str, columns: list[str]) -> str:
    """``chart encodes field 'eur_mn' (y), which its data does not have; nearest: 'eur_bn'``."""
    close = difflib.get_close_matches(_base(field), columns, n=3, cutoff=0.5)
    if close:
        hint = "nearest: " + ", ".join(map(repr, close))
    else:
        shown = columns[:8]
        hint = "its fields: " + ", ".join(map(repr, shown)) + (" ..." if len(columns) > 8 else "")
    return (f"chart encodes field {field!r} ({channel}), which its data does not have; {hint} "
            "(Vega-Lite would draw it empty)")
