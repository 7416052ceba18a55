"""Validate the data package against ``datapackage.json`` and return typed rows.

The descriptor (Frictionless Table Schema) is the contract; this module enforces it with exact
file:line locations, which generic validators do not give for byte-order marks, quoting errors and
multi-line cells. It collects every problem in one pass instead of stopping at the first.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pycountry

from .config import DESCRIPTOR_NAME
from .errors import Problem

__all__ = ["ParsedPackage", "parse_package", "read_descriptor"]

_TRUE = {"true"}
_FALSE = {"false"}


@dataclass
class ParsedTable:
    """One resource after parsing: typed rows plus the physical line of each row."""

    name: str
    path: str
    fields: list[dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    #: False when the file could not be read to its end (missing, empty, undecodable, bad CSV);
    #: foreign keys pointing into it are then not checked, to avoid a cascade of false alarms.
    complete: bool = True


@dataclass
class ParsedPackage:
    descriptor: dict[str, Any]
    tables: dict[str, ParsedTable]
    problems: list[Problem]


def read_descriptor(data_dir: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read ``datapackage.json``; return (descriptor, problems)."""
    path = data_dir / DESCRIPTOR_NAME
    if not path.is_file():
        return None, [Problem(DESCRIPTOR_NAME, None, None, None, "descriptor",
                              f"no {DESCRIPTOR_NAME} in {data_dir}")]
    try:
        desc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        return None, [Problem(DESCRIPTOR_NAME, line, None, None, "descriptor", f"not valid JSON: {exc}")]
    if not isinstance(desc, dict) or not isinstance(desc.get("resources"), list):
        return None, [Problem(DESCRIPTOR_NAME, None, None, None, "descriptor", "no 'resources' list")]
    return desc, []


# ---------------------------------------------------------------------------------------------
# cell parsing

def _parse_cell(raw: str, spec: dict[str, Any]) -> tuple[Any, str | None, str | None]:
    """Return (value, rule, message); rule is None when the cell is valid."""
    cons = spec.get("constraints", {})
    if raw == "":
        if cons.get("required"):
            return None, "required", "a value is required"
        return None, None, None
    if raw != raw.strip():
        return None, "whitespace", "leading or trailing whitespace"
    ftype = spec.get("type", "string")
    value: Any = raw
    try:
        if ftype == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                raise ValueError
            value = int(raw)
        elif ftype == "number":
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
        elif ftype == "boolean":
            if raw not in _TRUE | _FALSE:
                return None, "type", "expected boolean 'true' or 'false'"
            value = raw in _TRUE
        elif ftype == "date":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                raise ValueError
            value = date.fromisoformat(raw)
    except ValueError:
        expect = {"integer": "an integer", "number": "a number",
                  "date": "a date YYYY-MM-DD"}.get(ftype, ftype)
        return None, "type", f"expected {expect}"
    if "enum" in cons and raw not in cons["enum"]:
        return None, "enum", "allowed: " + ", ".join(cons["enum"])
    if "pattern" in cons and not re.fullmatch(cons["pattern"], raw):
        return None, "pattern", f"must match {cons['pattern']}"
    for bound, ok in (("minimum", lambda v, b: v >= b), ("maximum", lambda v, b: v <= b)):
        if bound in cons:
            limit = cons[bound]
            if ftype == "date":
                limit = date.fromisoformat(limit)
            if not ok(value, limit):
                rule = "range"
                return None, rule, f"{bound} is {cons[bound]}"
    code = spec.get("x-code")
    if code == "country-alpha3" and pycountry.countries.get(alpha_3=raw) is None:
        return None, "iso-country", "not an ISO 3166-1 alpha-3 country code"
    if code == "currency" and pycountry.currencies.get(alpha_3=raw) is None:
        return None, "iso-currency", "not an ISO 4217 currency code"
    return value, None, None


# ---------------------------------------------------------------------------------------------
# file reading

def _read_table(data_dir: Path, res: dict[str, Any], problems: list[Problem]) -> ParsedTable:
    name, rel = res["name"], res["path"]
    fields = res.get("schema", {}).get("fields", [])
    table = ParsedTable(name=name, path=rel, fields=fields)
    path = data_dir / rel

    def add(line, column, value, rule, message):
        problems.append(Problem(rel, line, column, value, rule, message))

    if not path.is_file():
        add(None, None, None, "missing-file", f"resource {name!r} has no file")
        table.complete = False
        return table
    data = path.read_bytes()
    if not data.strip():
        add(None, None, None, "empty-file", "file is empty: a header row is required")
        table.complete = False
        return table
    if data.startswith(b"\xef\xbb\xbf"):
        add(1, None, None, "encoding", "file starts with a UTF-8 byte-order mark; save as UTF-8 without BOM")
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        add(line, None, repr(data[exc.start:exc.start + 4]), "encoding", "not valid UTF-8")
        table.complete = False
        return table

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    by_name = {f["name"]: f for f in fields}
    header: list[str] | None = None
    prev_end = 0
    try:
        for row in reader:
            start, prev_end = prev_end + 1, reader.line_num
            if header is None:
                header = row
                seen = set()
                for col in header:
                    if col in seen:
                        add(1, col, col, "duplicate-column", "column appears twice")
                    seen.add(col)
                    if col not in by_name:
                        add(1, col, col, "unknown-column", f"not a field of {name!r} in {DESCRIPTOR_NAME}")
                for f in fields:
                    if f["name"] not in header:
                        add(1, f["name"], None, "missing-column", "column required by the schema is missing")
                continue
            if not row:
                add(start, None, None, "blank-row", "blank line inside the table")
                continue
            if len(row) != len(header):
                add(start, None, ",".join(row)[:60], "row-length",
                    f"row has {len(row)} cells, header has {len(header)}")
                continue
            typed: dict[str, Any] = {}
            ok = True
            for col, raw in zip(header, row):
                spec = by_name.get(col)
                if spec is None:
                    continue
                value, rule, msg = _parse_cell(raw, spec)
                if rule:
                    add(start, col, raw, rule, msg)
                    ok = False
                typed[col] = value
            for f in fields:
                typed.setdefault(f["name"], None)
            table.rows.append(typed)
            table.lines.append(start)
            if not ok:
                typed["__invalid__"] = True
    except csv.Error as exc:
        add(reader.line_num, None, None, "csv-syntax", f"CSV quoting/syntax error: {exc}")
        table.complete = False
    if header is None:
        add(None, None, None, "empty-file", "file is empty: a header row is required")
    return table


# ---------------------------------------------------------------------------------------------
# keys and cross-field rules

def _check_keys(desc: dict[str, Any], tables: dict[str, ParsedTable], problems: list[Problem]) -> None:
    index: dict[tuple[str, tuple[str, ...]], set[tuple]] = {}

    def key_set(resource: str, cols: tuple[str, ...]) -> set[tuple]:
        if (resource, cols) not in index:
            t = tables.get(resource)
            index[(resource, cols)] = {tuple(r[c] for c in cols) for r in (t.rows if t else [])}
        return index[(resource, cols)]

    for res in desc["resources"]:
        t = tables.get(res["name"])
        if t is None:
            continue
        schema = res.get("schema", {})
        pk = schema.get("primaryKey")
        if pk:
            pk = [pk] if isinstance(pk, str) else pk
            first: dict[tuple, int] = {}
            for row, line in zip(t.rows, t.lines):
                key = tuple(row.get(c) for c in pk)
                if any(k is None for k in key):
                    continue
                if key in first:
                    problems.append(Problem(t.path, line, ",".join(pk), ",".join(map(str, key)),
                                            "primary-key", f"duplicate key; first used on line {first[key]}"))
                else:
                    first[key] = line
        for fk in schema.get("foreignKeys", []):
            cols = tuple(fk["fields"])
            ref = fk["reference"]
            target = ref.get("resource") or res["name"]
            if target in tables and not tables[target].complete:
                continue
            known = key_set(target, tuple(ref["fields"]))
            for row, line in zip(t.rows, t.lines):
                key = tuple(row.get(c) for c in cols)
                if any(k is None for k in key) or key in known:
                    continue
                problems.append(Problem(t.path, line, ",".join(cols), ",".join(map(str, key)),
                                        "foreign-key", f"no such {'/'.join(ref['fields'])} in {target}"))


def _check_rules(tables: dict[str, ParsedTable], problems: list[Problem]) -> None:
    """Rules a Table Schema cannot express: cross-field consistency."""

    def each(name):
        t = tables.get(name)
        return [] if t is None else [(t.path, r, ln) for r, ln in zip(t.rows, t.lines)
                                     if not r.get("__invalid__")]

    def add(path, line, col, value, rule, msg):
        problems.append(Problem(path, line, col, None if value is None else str(value), rule, msg))

    for name in ("meetings", "events"):
        for path, r, ln in each(name):
            if r.get("end_date") and r["end_date"] < r["date"]:
                add(path, ln, "end_date", r["end_date"], "date-order", "end_date is before date")
    for path, r, ln in each("fx_rates"):
        if r["period_end"] < r["period_start"]:
            add(path, ln, "period_end", r["period_end"], "date-order", "period_end is before period_start")
    for path, r, ln in each("actors"):
        if r["actor_type"] == "state":
            if r["iso3"] != r["actor_id"]:
                add(path, ln, "iso3", r["iso3"], "state-iso3", "a state's iso3 must equal its actor_id")
            if pycountry.countries.get(alpha_3=r["actor_id"]) is None:
                add(path, ln, "actor_id", r["actor_id"], "iso-country",
                    "a state's actor_id must be an ISO 3166-1 alpha-3 code")
        elif r["iso3"]:
            add(path, ln, "iso3", r["iso3"], "state-iso3", "organisations have no iso3")
        if (r["gdp_usd"] is not None or r["population"] is not None) and not r["gdp_source_id"]:
            add(path, ln, "gdp_source_id", None, "sourced", "GDP/population need gdp_source_id")
        if (r["eu_member"] is not None or r.get("europe") is not None) and not r["membership_source_id"]:
            add(path, ln, "membership_source_id", None, "sourced", "eu_member/europe need membership_source_id")
        if r["nato_member"] is not None and not r.get("nato_source_id"):
            add(path, ln, "nato_source_id", None, "sourced", "nato_member needs nato_source_id")
    for path, r, ln in each("aid_activities"):
        if (r["date"] is None) != bool(r["undated"]):
            add(path, ln, "undated", r["undated"], "undated-flag",
                "undated must be true exactly when date is empty")
        for col in ("value_eur", "value_eur_redistributed", "activity_value_eur"):
            if r[col] is not None and r[col] < 0 and not r["correction"]:
                add(path, ln, col, r[col], "negative-amount",
                    "amounts must be >= 0; only a row flagged correction=true may be negative")
    for path, r, ln in each("aid_announcements"):
        if r["amount"] is not None and not r["currency"]:
            add(path, ln, "currency", None, "currency-required", "an amount needs its currency")
    for path, r, ln in each("claims"):
        if r["value"] is not None and not r["unit"]:
            add(path, ln, "unit", None, "unit-required", "a value needs its unit")
        if r["unit"] and len(r["unit"]) == 3 and r["unit"].isupper() and \
                pycountry.currencies.get(alpha_3=r["unit"]) is None:
            add(path, ln, "unit", r["unit"], "iso-currency", "not an ISO 4217 currency code")
    # overlapping FX periods would make a conversion ambiguous
    spans: dict[str, list[tuple]] = {}
    for path, r, ln in each("fx_rates"):
        spans.setdefault(r["currency"], []).append((r["period_start"], r["period_end"], ln, path))
    for cur, items in spans.items():
        items.sort()
        for (s0, e0, l0, _), (s1, e1, l1, path) in zip(items, items[1:]):
            if s1 <= e0:
                add(path, l1, "period_start", s1, "fx-overlap",
                    f"{cur} period overlaps the one on line {l0}")


def parse_package(data_dir: Path) -> ParsedPackage:
    """Parse and validate every resource; never raises for bad data (problems are returned)."""
    desc, problems = read_descriptor(data_dir)
    if desc is None:
        return ParsedPackage({}, {}, problems)
    tables: dict[str, ParsedTable] = {}
    for res in desc["resources"]:
        tables[res["name"]] = _read_table(data_dir, res, problems)
    _check_keys(desc, tables, problems)
    _check_rules(tables, problems)
    for t in tables.values():
        for r in t.rows:
            r.pop("__invalid__", None)
    return ParsedPackage(desc, tables, problems)
