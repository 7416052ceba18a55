"""Validate the data package against ``datapackage.json`` and return typed rows.

The descriptor (Frictionless Table Schema) is the contract; this module enforces it with exact
file:line locations, which generic validators do not give for byte-order marks, quoting errors and
multi-line cells. It collects every problem in one pass instead of stopping at the first.

Exit 0 of ``coalition-report validate`` means the build can run, so this module also checks

* the descriptor itself against what the code expects (:data:`EXPECTED_FIELDS` and the other
  ``EXPECTED_*`` tables): a field whose type changes to ``string``, a resource that loses its
  ``path`` or disappears, a constraint this validator would silently ignore;
* what the brief needs beyond the schema: tables it cannot do without have rows
  (:data:`NEEDS_ROWS`), every amount has a recorded exchange rate for its date, every donor's GDP
  has the USD rate the share-of-GDP chart uses;
* plausibility limits no descriptor states (:data:`PLAUSIBLE`): money ceilings per row and per
  donor against GDP, date windows, counts;
* that text is text: no control characters, no cell a spreadsheet would run as a formula.

Problems that only follow from another one are not repeated: a table missing a column, a table
whose schema the code cannot use, or a table that could not be read to its end is not checked
row by row by the cross-field rules, and foreign keys into it are not checked.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from json.decoder import scanstring
from pathlib import Path, PurePosixPath
from typing import Any

import pycountry

from .config import DESCRIPTOR_NAME
from .errors import Problem
from .validate_files import check_files

__all__ = ["ParsedPackage", "parse_package", "read_descriptor", "EXPECTED_FIELDS", "OPTIONAL_RESOURCES", "NEEDS_ROWS",
           "PLAUSIBLE", "DISPLAY_CURRENCIES"]

# ---------------------------------------------------------------------------------------------
# what the code relies on (pinned: an edit of datapackage.json the code cannot follow is a problem)

#: Every resource the loader, analysis and notebooks use, with its fields as ``name:type`` and
#: ``!`` where the code relies on every row having a value. The descriptor may add fields and
#: resources; it may not drop or retype these.
EXPECTED_FIELDS: dict[str, str] = {
    "sources": "source_id:string! publisher:string! title:string url:string local_path:string "
               "published:string accessed:date kind:string! licence:string note:string",
    "actors": "actor_id:string! name:string! actor_type:string! iso3:string kiel_name:string "
              "eu_member:boolean nato_member:boolean europe:boolean membership_source_id:string "
              "nato_source_id:string gdp_usd:number gdp_year:integer population:integer "
              "population_year:integer gdp_source_id:string source_id:string!",
    "meetings": "meeting_id:string! date:date! end_date:date place:string! format:string! level:string! "
                "hosts:string! participation_as_reported:string outcome:string source_id:string! "
                "confidence:string!",
    "attendance": "meeting_id:string! actor_id:string! status:string! level:string mode:string note:string "
                  "source_id:string! confidence:string!",
    "contributions": "contribution_id:string! actor_id:string! date:date! role:string! as_reported:string! "
                     "conditions:string source_id:string! confidence:string!",
    "positions": "position_id:string! actor_id:string! date:date! topic:string! stance:string! "
                 "summary:string! quote:string speaker:string source_id:string! confidence:string!",
    "events": "event_id:string! date:date! end_date:date kind:string! actor_id:string title:string! "
              "description:string source_id:string! confidence:string!",
    "claims": "claim_id:string! topic:string! actor_id:string meeting_id:string date:date statement:string! "
              "quote:string speaker:string value:number unit:string qualifier:string source_id:string! "
              "confidence:string!",
    "aid_announcements": "announcement_id:string! donor_id:string! date:date! aid_type:string! amount:number "
                         "currency:string qualifier:string description:string! same_as:string "
                         "source_id:string! confidence:string!",
    "aid_activities": "activity_id:string! donor_id:string! date:date undated:boolean! aid_type:string! "
                      "measure:string! value_eur:number! value_eur_redistributed:number "
                      "activity_value_eur:number correction:boolean! source_id:string!",
    "aid_totals": "donor_id:string! aid_type:string! measure:string! value_eur:number! source_id:string!",
    "fx_rates": "currency:string! period_start:date! period_end:date! per_eur:number! rate_type:string! "
                "source_id:string!",
    "outlook": "outlook_id:string! date:date! order:integer! question:string! text:string! source_id:string! "
               "other_source_ids:string",
}

#: Pinned resources the brief can do without (it then says so): checked only when declared.
OPTIONAL_RESOURCES = {"outlook"}

#: Primary keys the code relies on (look-ups by id assume one row per key).
EXPECTED_KEYS: dict[str, tuple[str, ...]] = {
    "sources": ("source_id",), "actors": ("actor_id",), "meetings": ("meeting_id",),
    "attendance": ("meeting_id", "actor_id"), "contributions": ("contribution_id",),
    "positions": ("position_id",), "events": ("event_id",), "claims": ("claim_id",),
    "aid_announcements": ("announcement_id",), "aid_activities": ("activity_id",),
    "aid_totals": ("donor_id", "aid_type", "measure"), "fx_rates": ("currency", "period_start"),
    "outlook": ("outlook_id",),
}

#: Foreign keys the code relies on, as ``field>resource`` (the target's key field of that name).
EXPECTED_FOREIGN_KEYS: dict[str, str] = {
    "actors": "source_id>sources membership_source_id>sources gdp_source_id>sources nato_source_id>sources",
    "meetings": "source_id>sources",
    "attendance": "meeting_id>meetings actor_id>actors source_id>sources",
    "contributions": "actor_id>actors source_id>sources",
    "positions": "actor_id>actors source_id>sources",
    "events": "actor_id>actors source_id>sources",
    "claims": "actor_id>actors meeting_id>meetings source_id>sources",
    "aid_announcements": "donor_id>actors source_id>sources same_as>aid_announcements",
    "aid_activities": "donor_id>actors source_id>sources",
    "aid_totals": "donor_id>actors source_id>sources",
    "fx_rates": "source_id>sources",
    "outlook": "source_id>sources",
}

_CONFIDENCE = ("high", "medium", "low")
_AID_TYPES = ("military", "financial", "humanitarian")
#: Values the code maps to labels, colours or ranks: the descriptor may allow fewer, not more.
EXPECTED_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("actors", "actor_type"): ("state", "organisation"),
    ("attendance", "status"): ("attended", "observer", "absent"),
    ("contributions", "role"): ("lead_nation", "ground_forces", "air_maritime", "logistics_training",
                                "political_support", "observer", "declined_troops", "outside_coalition"),
    ("positions", "topic"): ("coalition_force", "ceasefire", "security_guarantees"),
    ("positions", "stance"): ("support", "conditional", "oppose", "neutral"),
    ("aid_announcements", "aid_type"): (*_AID_TYPES, "mixed"),
    ("aid_activities", "aid_type"): _AID_TYPES, ("aid_activities", "measure"): ("allocation", "commitment"),
    ("aid_totals", "aid_type"): _AID_TYPES, ("aid_totals", "measure"): ("allocation", "commitment"),
    **{(t, "confidence"): _CONFIDENCE for t in ("meetings", "attendance", "contributions", "positions",
                                                 "events", "claims", "aid_announcements")},
}

#: Tables the brief cannot be built from when they have no rows, and why. The other tables may
#: be header-only: the brief then shows an empty section.
NEEDS_ROWS: dict[str, str] = {
    "sources": "every row cites a source",
    "actors": "every row names its actors",
    "meetings": "the brief starts at the first coalition meeting",
    "attendance": "membership is read from attendance",
    "fx_rates": "amounts are converted with recorded rates",
    "aid_activities": "the aid charts are drawn from Kiel's activity rows",
}

#: Display currencies of the brief other than EUR (the ``currency`` parameter's rule in
#: ``render.NOTEBOOKS``; a test keeps the two equal).
DISPLAY_CURRENCIES: tuple[str, ...] = ("USD", "GBP")

#: Plausibility limits, stated once; each problem message repeats the limit it breaks.
PLAUSIBLE: dict[str, Any] = {
    # money
    "max_amount_eur": 1e12,        # one row, EUR (or converted to EUR at its date's rate)
    "max_share_of_gdp_pct": 10.0,  # a donor's total allocations against its GDP
    "min_gdp_usd": 1e7, "max_gdp_usd": 1e14,
    "max_population": 2_000_000_000,
    "max_per_eur": 1e6,            # units of a currency per EUR (must also be > 0)
    "max_count": 10_000_000,       # claims counted in states, leaders, troops, days ...
    "max_amount_units_no_rate": 1e15,  # a claim in a currency with no recorded rate
    # dates (inclusive); any date field not listed uses "default"
    "dates": {
        "default": ("1999-01-01", "2030-12-31"),
        ("meetings", "date"): ("2025-01-01", "2030-12-31"),
        ("meetings", "end_date"): ("2025-01-01", "2030-12-31"),
        ("contributions", "date"): ("2025-01-01", "2030-12-31"),
        ("positions", "date"): ("2025-01-01", "2030-12-31"),
        ("events", "date"): ("2022-01-01", "2030-12-31"),
        ("events", "end_date"): ("2022-01-01", "2030-12-31"),
        ("claims", "date"): ("2022-01-01", "2030-12-31"),
        ("aid_announcements", "date"): ("2022-01-01", "2030-12-31"),
        ("aid_activities", "date"): ("2022-01-01", "2030-12-31"),
        ("outlook", "date"): ("2025-01-01", "2030-12-31"),
    },
}
_WHY_DATES = {
    "2025-01-01": "coalition events are dated from 2025 (the coalition first met in March 2025)",
    "2022-01-01": "aid, events and claims are dated from 2022 (the full-scale invasion)",
    "1999-01-01": "dates before the euro (1999) are not plausible in this package",
}

SUPPORTED_TYPES = ("string", "integer", "number", "boolean", "date")
_X_CODES = ("country-alpha3", "currency")
_SUPPORTED_CONSTRAINTS = {"required", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength"}
_TRUE = {"true"}
_FALSE = {"false"}
_INT64 = 2 ** 63

#: Control characters refused in every cell: C0/C1 controls except tab, line feed and carriage
#: return (multi-line cells, CRLF files), DEL, bidirectional embeddings/overrides/isolates (they
#: reorder how text reads) and a byte-order mark inside the text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
#: First characters that make a spreadsheet evaluate a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@")
_RESOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


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
    #: False when the header lacks a column or the descriptor's schema for it is not what the
    #: code expects: its rows are then not checked by cross-field rules (follow-on problems).
    shape_ok: bool = True
    header: list[str] = field(default_factory=list)
    #: Data records read, including blank and ragged ones that have no typed row.
    records: int = 0
    #: Columns with at least one invalid cell: foreign keys into them are not checked (a row
    #: whose id is misspelt would otherwise make every reference to it a second problem).
    bad_columns: set[str] = field(default_factory=set)


@dataclass
class ParsedPackage:
    descriptor: dict[str, Any]
    tables: dict[str, ParsedTable]
    problems: list[Problem]


# ---------------------------------------------------------------------------------------------
# descriptor

def read_descriptor(data_dir: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read ``datapackage.json``; return (descriptor, problems)."""
    desc, _, problems = _read_descriptor(data_dir)
    return desc, problems


def _read_descriptor(data_dir: Path) -> tuple[dict[str, Any] | None, dict[tuple, int], list[Problem]]:
    path = data_dir / DESCRIPTOR_NAME
    if not path.is_file():
        return None, {}, [Problem(DESCRIPTOR_NAME, None, None, None, "descriptor",
                                  f"no {DESCRIPTOR_NAME} in {data_dir}")]
    try:
        text = path.read_bytes().decode("utf-8")
        desc = json.loads(text)
    except OSError as exc:
        return None, {}, [Problem(DESCRIPTOR_NAME, None, None, None, "descriptor",
                                  f"cannot read it: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, {}, [Problem(DESCRIPTOR_NAME, None, None, None, "encoding",
                                  f"not valid UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start})")]
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        line = getattr(exc, "lineno", None)
        return None, {}, [Problem(DESCRIPTOR_NAME, line, None, None, "descriptor",
                                  f"not valid JSON: {str(exc)[:200]}")]
    if not isinstance(desc, dict) or not isinstance(desc.get("resources"), list):
        return None, {}, [Problem(DESCRIPTOR_NAME, None, None, None, "descriptor", "no 'resources' list")]
    return desc, _json_lines(text), []


def _json_lines(text: str) -> dict[tuple, int]:
    """The 1-based line of every value of a JSON text (already known to be valid), by path.

    ``json`` gives no positions; problems in ``datapackage.json`` name the line they are on.
    Returns ``{}`` if anything unexpected happens: lines are a courtesy, never a failure.
    """
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    ws = re.compile(r"[ \t\n\r]*")
    scalar = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")
    lines: dict[tuple, int] = {}

    def value(i: int, path: tuple) -> int:
        i = ws.match(text, i).end()
        lines[path] = bisect.bisect_right(starts, i)
        c = text[i]
        if c in "{[":
            close, n = ("}" if c == "{" else "]"), 0
            i = ws.match(text, i + 1).end()
            if text[i] == close:
                return i + 1
            while True:
                if c == "{":
                    key, i = scanstring(text, ws.match(text, i).end() + 1)
                    i = ws.match(text, i).end() + 1  # the colon
                    i = value(i, path + (key,))
                else:
                    i = value(i, path + (n,))
                    n += 1
                i = ws.match(text, i).end()
                if text[i] == ",":
                    i += 1
                    continue
                return i + 1
        if c == '"':
            return scanstring(text, i + 1)[1]
        return scalar.match(text, i).end()

    try:
        value(0, ())
    except Exception:  # noqa: BLE001 - see docstring
        return {}
    return lines


@dataclass
class _Field:
    """A descriptor field made ready to parse cells (type, constraints, compiled once)."""

    resource: str
    name: str
    type: str = "string"
    required: bool = False
    enum: frozenset | None = None
    enum_text: str = ""
    pattern: re.Pattern | None = None
    pattern_text: str = ""
    minimum: Any = None
    maximum: Any = None
    min_length: int | None = None
    max_length: int | None = None
    x_code: str | None = None
    date_window: tuple[date, date] | None = None
    #: The descriptor's definition is unusable (reported once): cells are read as plain text.
    fallback: bool = False


@lru_cache(maxsize=1)
def _pinned_types() -> dict[tuple[str, str], str]:
    return {(res, item.split(":")[0]): item.split(":")[1].rstrip("!")
            for res, spec in EXPECTED_FIELDS.items() for item in spec.split()}


class _DescriptorChecker:
    """Checks ``datapackage.json``'s structure and that it gives the code what it expects."""

    def __init__(self, desc: dict[str, Any], lines: dict[tuple, int], problems: list[Problem]):
        self.desc, self.lines, self.problems = desc, lines, problems
        #: resource name -> (path, parsed fields, primary key, foreign keys) for readable resources
        self.resources: dict[str, dict[str, Any]] = {}
        #: resources whose schema is not what the code expects (rows read, rules skipped)
        self.broken: set[str] = set()

    def add(self, where: tuple, column: str | None, value: Any, rule: str, message: str) -> None:
        line = None
        while where and line is None:
            line = self.lines.get(where)
            where = where[:-1]
        shown = None if value is None else (value if isinstance(value, str) else json.dumps(value)[:60])
        self.problems.append(Problem(DESCRIPTOR_NAME, line, column, shown, rule, message))

    def run(self) -> None:
        seen: set[str] = set()
        for i, res in enumerate(self.desc["resources"]):
            self._resource(i, res, seen)
        declared = {r["name"] for r in self.desc["resources"] if isinstance(r, dict) and isinstance(r.get("name"), str)}
        for name in EXPECTED_FIELDS:
            if name not in declared and name not in OPTIONAL_RESOURCES:
                self.add(("resources",), None, name, "expected-resource",
                         f"resource {name!r} is missing; the brief reads {name}.csv through it")
        # resources reported above as missing or unreadable: keys into them are not reported again
        self.unreadable = {r.get("name") for r in self.desc["resources"] if isinstance(r, dict)
                           and isinstance(r.get("name"), str)} - set(self.resources)
        self.unreadable |= set(EXPECTED_FIELDS) - declared - OPTIONAL_RESOURCES
        for name, spec in self.resources.items():
            self._foreign_keys(name, spec)
        self._control_characters(self.desc, ())

    def _control_characters(self, node: Any, path: tuple) -> None:
        """No control character in any text of the descriptor (titles and descriptions may be shown)."""
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            for text in (key, value):
                if isinstance(text, str) and _CONTROL.search(text):
                    self.add(path + (key,), None, text, "control-char", _control_message(text))
                    break
            else:
                self._control_characters(value, path + (key,))

    def _resource(self, i: int, res: Any, seen: set[str]) -> None:
        where = ("resources", i)
        if not isinstance(res, dict):
            self.add(where, None, None, "resource", f"resource #{i + 1} is not a JSON object")
            return
        name = res.get("name")
        if not isinstance(name, str) or not _RESOURCE_NAME.fullmatch(name):
            self.add(where + ("name",), None, name, "resource",
                     f"resource #{i + 1} needs a 'name' of lower-case letters, digits, '-', '_' or '.'")
            return
        if name in seen:
            self.add(where + ("name",), None, name, "resource", f"resource {name!r} is declared twice")
            return
        seen.add(name)
        ok = True
        path = res.get("path")
        if not isinstance(path, str) or not path:
            self.add(where + ("name",), None, path if path is not None else name, "resource-path",
                     f"resource {name!r} has no 'path' (a CSV file in the data folder)")
            ok = False
        else:
            p = PurePosixPath(path)
            if p.is_absolute() or ".." in p.parts or "\\" in path or ":" in path or _CONTROL.search(path):
                self.add(where + ("path",), None, path, "resource-path",
                         "path must be a relative file path inside the data folder")
                ok = False
        for key, allowed in (("encoding", ("utf-8", "utf8")), ("format", ("csv",))):
            if key in res and str(res[key]).lower() not in allowed:
                self.add(where + (key,), None, str(res[key]), "resource",
                         f"{key} {res[key]!r} is not supported: files are read as {allowed[0]}")
        dialect = res.get("dialect")
        if dialect is not None and (not isinstance(dialect, dict) or dialect.get("delimiter", ",") != ","
                                    or dialect.get("header", True) is not True):
            self.add(where + ("dialect",), None, name, "resource",
                     "only the default CSV dialect is supported (comma, header row)")
        schema = res.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
            self.add(where + ("schema",), None, name, "resource",
                     f"resource {name!r} needs a 'schema' with a 'fields' list")
            return
        if schema.get("missingValues", [""]) != [""]:
            self.add(where + ("schema", "missingValues"), None, name, "resource",
                     "only the default missingValues [\"\"] is supported: an empty cell is a missing value")
        fields: list[_Field] = []
        names: set[str] = set()
        for j, f in enumerate(schema["fields"]):
            parsed = self._field(name, where + ("schema", "fields", j), f, names)
            if parsed is not None:
                fields.append(parsed)
                names.add(parsed.name)
        pk = schema.get("primaryKey")
        pk = [pk] if isinstance(pk, str) else pk
        if pk is not None and (not isinstance(pk, list) or not all(isinstance(c, str) and c in names for c in pk)):
            self.add(where + ("schema", "primaryKey"), None, name, "key",
                     f"primaryKey of {name!r} must name fields of its schema")
            pk = None
            self.broken.add(name)
        self._expected(name, where, fields, pk or [])
        if ok:
            self.resources[name] = {"path": path, "fields": fields, "primaryKey": pk or [],
                                    "foreignKeys": schema.get("foreignKeys", []), "where": where}

    def _field(self, res: str, where: tuple, f: Any, names: set[str]) -> _Field | None:
        """The parsed field; a plain-text fallback when its definition is unusable (reported, and
        the resource marked broken); None when it has no usable name."""
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not f["name"] \
                or _CONTROL.search(f["name"]):
            self.add(where, res, None, "field", f"field #{where[-1] + 1} of {res!r} needs a 'name' (text)")
            return None
        name = f["name"]
        col = f"{res}.{name}"
        if name in names:
            self.add(where + ("name",), col, name, "field", "field declared twice")
            self.broken.add(res)
            return None
        ftype = f.get("type", "string")
        pinned = _pinned_types().get((res, name))
        if pinned is not None and ftype != pinned:
            self.add(where + ("type",), col, str(ftype), "expected-type",
                     f"{col} must be of type {pinned!r}: the code reads it as {pinned}")
            self.broken.add(res)
            # its cells are not checked against a type the code cannot use (one problem, not one per row)
            return _Field(res, name, "string", fallback=True)
        if ftype not in SUPPORTED_TYPES:
            self.add(where + ("type",), col, str(ftype), "field",
                     f"type {ftype!r} is not supported; use one of {', '.join(SUPPORTED_TYPES)}")
            return self._fallback(res, name)
        if f.get("format", "default") != "default":
            self.add(where + ("format",), col, str(f["format"]), "field",
                     "only the default format is supported (dates are YYYY-MM-DD)")
            return self._fallback(res, name)
        out = _Field(res, name, ftype, x_code=f.get("x-code"))
        if out.x_code is not None and out.x_code not in _X_CODES:
            self.add(where + ("x-code",), col, str(out.x_code), "field",
                     f"x-code must be one of {', '.join(_X_CODES)}")
            return self._fallback(res, name)
        cons = f.get("constraints", {})
        if not isinstance(cons, dict):
            self.add(where + ("constraints",), col, None, "constraint", "constraints must be a JSON object")
            return self._fallback(res, name)
        good = True

        def bad(key: str, message: str) -> None:
            nonlocal good
            good = False
            self.add(where + ("constraints", key), col, None if key not in cons else cons[key], "constraint",
                     message)

        for key in cons:
            if key not in _SUPPORTED_CONSTRAINTS:
                bad(key, f"constraint {key!r} is not supported by this validator and would be ignored; "
                         f"supported: {', '.join(sorted(_SUPPORTED_CONSTRAINTS))}")
        req = cons.get("required", False)
        if not isinstance(req, bool):
            bad("required", "required must be true or false")
        out.required = req is True
        if "enum" in cons:
            enum = cons["enum"]
            if not isinstance(enum, list) or not enum or not all(isinstance(v, str) for v in enum):
                bad("enum", "enum must be a non-empty list of strings")
            else:
                out.enum, out.enum_text = frozenset(enum), ", ".join(enum)
        if "pattern" in cons:
            try:
                out.pattern, out.pattern_text = re.compile(cons["pattern"]), cons["pattern"]
            except (re.error, TypeError) as exc:
                bad("pattern", f"pattern is not a valid regular expression: {exc}")
        for key in ("minimum", "maximum"):
            if key not in cons:
                continue
            v = cons[key]
            if ftype == "date":
                try:
                    v = date.fromisoformat(v)
                except (TypeError, ValueError):
                    bad(key, f"{key} of a date field must be a date YYYY-MM-DD")
                    continue
            elif ftype in ("integer", "number"):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    bad(key, f"{key} must be a number")
                    continue
            else:
                bad(key, f"{key} applies to number, integer and date fields only")
                continue
            setattr(out, key, v)
        for key, attr in (("minLength", "min_length"), ("maxLength", "max_length")):
            if key in cons:
                v = cons[key]
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    bad(key, f"{key} must be a non-negative integer")
                else:
                    setattr(out, attr, v)
        if ftype == "date":
            windows = PLAUSIBLE["dates"]
            lo, hi = windows.get((res, name), windows["default"])
            out.date_window = (date.fromisoformat(lo), date.fromisoformat(hi))
        return out if good else self._fallback(res, name)

    def _fallback(self, res: str, name: str) -> _Field:
        self.broken.add(res)
        return _Field(res, name, "string", fallback=True)

    def _expected(self, name: str, where: tuple, fields: list[_Field], pk: list[str]) -> None:
        """Report where the descriptor differs from what the code expects of resource ``name``."""
        spec = EXPECTED_FIELDS.get(name)
        if spec is None:
            return
        by_name = {f.name: f for f in fields}
        fwhere = {}
        for j, f in enumerate(self.desc["resources"][where[1]]["schema"]["fields"]):
            if isinstance(f, dict) and isinstance(f.get("name"), str):
                fwhere.setdefault(f["name"], where + ("schema", "fields", j))
        for item in spec.split():
            fname, ftype = item.split(":")
            required = ftype.endswith("!")
            ftype = ftype.rstrip("!")
            col = f"{name}.{fname}"
            f = by_name.get(fname)
            if f is None:
                if fname not in fwhere:  # a malformed field was reported already
                    self.add(where + ("schema", "fields"), col, None, "expected-field",
                             f"field {fname!r} ({ftype}) is missing from resource {name!r}; the code reads it")
                self.broken.add(name)
                continue
            if f.fallback:
                continue  # reported by _field
            if required and not f.required:
                self.add(fwhere[fname] + ("name",), col, None, "expected-required",
                         f"{col} must be required (constraints.required: true): the code needs a value in every row")
                self.broken.add(name)
            allowed = EXPECTED_ENUMS.get((name, fname))
            if allowed is not None and (f.enum is None or not f.enum <= set(allowed)):
                extra = "no enum" if f.enum is None else "also " + ", ".join(sorted(f.enum - set(allowed)))
                self.add(fwhere[fname] + ("constraints",), col, None, "expected-enum",
                         f"{col} may only allow {', '.join(allowed)} (the code knows no other value); "
                         f"the descriptor has {extra}")
                self.broken.add(name)
        want = list(EXPECTED_KEYS.get(name, ()))
        if want and pk != want:
            self.add(where + ("schema", "primaryKey"), None, ",".join(pk) or name, "expected-key",
                     f"primaryKey of {name!r} must be {','.join(want)}: the code looks rows up by it")
            self.broken.add(name)

    def _foreign_keys(self, name: str, spec: dict[str, Any]) -> None:
        where = spec["where"] + ("schema", "foreignKeys")
        fks = spec["foreignKeys"]
        names = {f.name for f in spec["fields"]}
        good: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = []
        skipped: set[tuple[tuple[str, ...], str]] = set()
        if not isinstance(fks, list):
            self.add(where, None, name, "key", "foreignKeys must be a list")
            fks = []
        for k, fk in enumerate(fks):
            try:
                cols = (fk["fields"],) if isinstance(fk["fields"], str) else tuple(fk["fields"])
                ref = fk["reference"]
                target = ref.get("resource") or name
                rcols = (ref["fields"],) if isinstance(ref["fields"], str) else tuple(ref["fields"])
                if not isinstance(target, str):
                    raise TypeError
            except (KeyError, TypeError, AttributeError):
                self.add(where + (k,), None, name, "key",
                         "each foreign key needs 'fields' and a 'reference' with 'resource' and 'fields'")
                continue
            if target in self.unreadable:
                skipped.add((cols, target))
                continue
            tnames = {f.name for f in self.resources[target]["fields"]} if target in self.resources else None
            if tnames is None:
                self.add(where + (k,), None, str(target), "key",
                         f"foreign key of {name!r} refers to resource {target!r}, which is not a readable resource")
            elif len(cols) != len(rcols) or not all(isinstance(c, str) and c in names for c in cols) \
                    or not all(isinstance(c, str) and c in tnames for c in rcols):
                self.add(where + (k,), None, ",".join(map(str, cols)), "key",
                         f"foreign key fields must exist in {name!r} and in {target!r}, the same number on each side")
            else:
                good.append((cols, target, rcols))
        spec["foreignKeys"] = good
        declared = {(c, t) for c, t, _ in good} | skipped
        for item in EXPECTED_FOREIGN_KEYS.get(name, "").split():
            col, target = item.split(">")
            if ((col,), target) not in declared:
                self.add(where, f"{name}.{col}", None, "expected-key",
                         f"foreign key {name}.{col} -> {target} is missing: the code assumes every "
                         f"{col} is in {target}")
                self.broken.add(name)


# ---------------------------------------------------------------------------------------------
# cell parsing

@lru_cache(maxsize=4096)
def _known_country(code: str) -> bool:
    return pycountry.countries.get(alpha_3=code) is not None


@lru_cache(maxsize=4096)
def _known_currency(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=code) is not None


def _control_message(raw: str) -> str:
    ch = _CONTROL.search(raw).group()
    name = {"\x00": "NUL", "\x1b": "ESC", "\x7f": "DEL", "\ufeff": "byte-order mark"}.get(ch, "")
    return (f"control character U+{ord(ch):04X}{' (' + name + ')' if name else ''} is not allowed in text: "
            "remove it (only tab and line breaks are kept)")


def _parse_cell(raw: str, spec: _Field) -> tuple[Any, str | None, str | None]:
    """Return (value, rule, message); rule is None when the cell is valid."""
    if raw == "":
        if spec.required:
            return None, "required", "a value is required"
        return None, None, None
    if _CONTROL.search(raw):
        return None, "control-char", _control_message(raw)
    if raw != raw.strip():
        return None, "whitespace", "leading or trailing whitespace"
    ftype = spec.type
    value: Any = raw
    try:
        if ftype == "string":
            if raw[0] in _FORMULA_START:
                return None, "formula", (f"text starting with {raw[0]!r} runs as a formula when the CSV is opened "
                                         "in a spreadsheet (CSV injection): rephrase it to start with a letter "
                                         "or digit")
        elif ftype == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                raise ValueError
            value = int(raw)
            if not -_INT64 < value < _INT64:
                return None, "range", "integer out of range (more than 18 digits)"
        elif ftype == "number":
            value = float(raw)
            if not math.isfinite(value):
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
    if spec.enum is not None and raw not in spec.enum:
        return None, "enum", "allowed: " + spec.enum_text
    if spec.pattern is not None and not spec.pattern.fullmatch(raw):
        return None, "pattern", f"must match {spec.pattern_text}"
    if spec.min_length is not None and len(raw) < spec.min_length:
        return None, "length", f"at least {spec.min_length} characters"
    if spec.max_length is not None and len(raw) > spec.max_length:
        return None, "length", f"at most {spec.max_length} characters"
    if spec.minimum is not None and value < spec.minimum:
        return None, "range", f"minimum is {spec.minimum}"
    if spec.maximum is not None and value > spec.maximum:
        return None, "range", f"maximum is {spec.maximum}"
    if spec.date_window is not None and not spec.date_window[0] <= value <= spec.date_window[1]:
        lo, hi = spec.date_window
        why = _WHY_DATES.get(str(lo), "outside the plausible window")
        return None, "plausible-date", f"{spec.name} must be from {lo} to {hi}: {why}"
    if spec.x_code == "country-alpha3" and not _known_country(raw):
        return None, "iso-country", "not an ISO 3166-1 alpha-3 country code"
    if spec.x_code == "currency" and not _known_currency(raw):
        return None, "iso-currency", "not an ISO 4217 currency code"
    return value, None, None


# ---------------------------------------------------------------------------------------------
# file reading

def _shown_bytes(text: str) -> str:
    """A cell decoded with surrogateescape, its undecodable bytes shown as Latin-1 characters."""
    return _SURROGATE.sub(lambda m: chr(ord(m.group()) - 0xDC00), text)


def _read_table(data_dir: Path, name: str, rel: str, fields: list[_Field], problems: list[Problem]) -> ParsedTable:
    table = ParsedTable(name=name, path=rel, fields=[{"name": f.name, "type": f.type} for f in fields])
    path = data_dir / rel

    def add(line, column, value, rule, message):
        problems.append(Problem(rel, line, column, value, rule, message))

    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # e.g. a name too long for the file system
        is_file = False
    if not is_file:
        add(None, None, None, "missing-file", f"resource {name!r} has no file")
        table.complete = False
        return table
    try:
        data = path.read_bytes()
    except OSError as exc:
        add(None, None, None, "missing-file", f"cannot read the file: {exc.strerror or exc}")
        table.complete = False
        return table
    if not data.strip():
        add(None, None, None, "empty-file", "file is empty: a header row is required")
        table.complete = False
        return table
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (b"\x00" in data[:200] and data[:200].count(b"\x00") > 20):
        add(None, None, None, "encoding", "file is UTF-16 or UTF-32: save it as UTF-8 without a byte-order mark")
        table.complete = False
        return table
    if data.startswith(b"\xef\xbb\xbf"):
        add(1, None, None, "encoding", "file starts with a UTF-8 byte-order mark; save as UTF-8 without BOM")
        data = data[3:]
    try:
        text = data.decode("utf-8")
        undecodable = False
    except UnicodeDecodeError:
        # read on, so that every bad cell is named with its line and column
        text, undecodable = data.decode("utf-8", "surrogateescape"), True

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    by_name = {f.name: f for f in fields}
    # Cells repeat (ids of donors and sources, types, flags): parse each distinct text once per
    # column, up to a bound, so a million-row table takes seconds, not minutes.
    memo: dict[str, dict[str, tuple]] = {f.name: {} for f in fields}
    header: list[str] | None = None
    prev_end = 0
    try:
        for row in reader:
            start, prev_end = prev_end + 1, reader.line_num
            if header is not None:
                table.records += 1
            if header is None:
                header = row
                table.header = header
                seen = set()
                for col in header:
                    if undecodable and _has_surrogates(col):
                        add(1, _shown_bytes(col), _shown_bytes(col), "encoding", _ENCODING_MESSAGE)
                        continue
                    if col in seen:
                        add(1, col, col, "duplicate-column", "column appears twice")
                    seen.add(col)
                    if col not in by_name:
                        add(1, col, col, "unknown-column", f"not a field of {name!r} in {DESCRIPTOR_NAME}")
                for f in fields:
                    if f.name not in header:
                        add(1, f.name, None, "missing-column", "column required by the schema is missing")
                        table.shape_ok = False
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
                if undecodable and _has_surrogates(raw):
                    add(start, col, _shown_bytes(raw), "encoding", _ENCODING_MESSAGE)
                    table.bad_columns.add(col)
                    ok = False
                    typed[col] = None
                    continue
                seen = memo[col]
                parsed = seen.get(raw)
                if parsed is None:
                    parsed = _parse_cell(raw, spec)
                    if len(seen) < _MEMO_LIMIT:
                        seen[raw] = parsed
                value, rule, msg = parsed
                if rule:
                    add(start, col, raw, rule, msg)
                    table.bad_columns.add(col)
                    ok = False
                typed[col] = value
            for f in fields:
                typed.setdefault(f.name, None)
            table.rows.append(typed)
            table.lines.append(start)
            if not ok:
                typed["__invalid__"] = True
    except csv.Error as exc:
        add(reader.line_num, None, None, "csv-syntax", f"CSV quoting/syntax error: {exc}")
        table.complete = False
    if header is None:
        add(None, None, None, "empty-file", "file is empty: a header row is required")
        table.complete = False
    return table


_MEMO_LIMIT = 100_000
_ENCODING_MESSAGE = ("not valid UTF-8 (the bad bytes are shown as Latin-1): save the file as UTF-8; "
                     "it looks like Latin-1 or Windows-1252")
_SURROGATE = re.compile("[\udc80-\udcff]")


def _has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


# ---------------------------------------------------------------------------------------------
# keys and cross-field rules

def _check_keys(specs: dict[str, dict[str, Any]], tables: dict[str, ParsedTable], problems: list[Problem]) -> None:
    index: dict[tuple[str, tuple[str, ...]], set[tuple]] = {}

    def key_set(resource: str, cols: tuple[str, ...]) -> set[tuple]:
        if (resource, cols) not in index:
            index[(resource, cols)] = {tuple(r[c] for c in cols) for r in tables[resource].rows}
        return index[(resource, cols)]

    for name, spec in specs.items():
        t = tables.get(name)
        if t is None:
            continue
        pk = spec["primaryKey"]
        if pk and all(c in t.header for c in pk):
            first: dict[tuple, int] = {}
            col_text = ",".join(pk)
            for row, line in zip(t.rows, t.lines):
                key = tuple(row[c] for c in pk)
                if None in key:
                    continue
                seen = first.setdefault(key, line)
                if seen != line:
                    row["__invalid__"] = True  # not counted again by the rules (sums, coverage)
                    problems.append(Problem(t.path, line, col_text, ",".join(map(str, key)),
                                            "primary-key", f"duplicate key; first used on line {seen}"))
        for cols, target, rcols in spec["foreignKeys"]:
            tt = tables.get(target)
            # a column missing on either side, or a target that could not be read or whose schema is
            # not usable, is reported once already: no per-row follow-on problems
            if tt is None or not tt.complete or not all(c in t.header for c in cols) \
                    or not all(c in tt.header for c in rcols) or (target != name and not tt.shape_ok) \
                    or tt.bad_columns.intersection(rcols) or not tt.records:  # empty: reported as no-rows
                continue
            known = key_set(target, rcols)
            col_text, what = ",".join(cols), f"no such {'/'.join(rcols)} in {target}"
            for row, line in zip(t.rows, t.lines):
                key = tuple(row[c] for c in cols)
                if None in key or key in known:
                    continue
                problems.append(Problem(t.path, line, col_text, ",".join(map(str, key)), "foreign-key", what))


class _Rules:
    """Rules a Table Schema cannot express, plus what the build needs and plausibility limits."""

    def __init__(self, tables: dict[str, ParsedTable], problems: list[Problem]):
        self.tables, self.problems = tables, problems
        self.fx: dict[str, list[tuple[date, date, float]]] = {}

    def usable(self, *names: str) -> bool:
        return all(n in self.tables and self.tables[n].shape_ok for n in names)

    def complete(self, name: str) -> bool:
        """Usable, read to its end, not empty, every row valid: rules over the whole table may run."""
        t = self.tables.get(name)
        return self.usable(name) and t.complete and bool(t.rows) and t.records == len(t.rows) \
            and not any(r.get("__invalid__") for r in t.rows)

    def each(self, name: str):
        """Valid rows of a usable table, with their file and line."""
        if not self.usable(name):
            return []
        t = self.tables[name]
        return [(t.path, r, ln) for r, ln in zip(t.rows, t.lines) if not r.get("__invalid__")]

    def add(self, path, line, col, value, rule, msg):
        self.problems.append(Problem(path, line, col, None if value is None else _fmt_value(value), rule, msg))

    def rate(self, currency: str, day: date) -> float | None:
        if currency == "EUR":
            return 1.0
        for start, end, per_eur in self.fx.get(currency, ()):
            if start <= day <= end:
                return per_eur
        return None

    def fx_periods(self, currency: str) -> str:
        spans = [f"{s}..{e}" for s, e, _ in self.fx.get(currency, ())]
        return "recorded periods: " + ", ".join(spans) if spans else "no rate recorded for it"

    # -- rules ---------------------------------------------------------------------------------

    def run(self) -> None:
        self.rows_needed()
        self.consistency()
        # coverage only from a rate table that is whole and plausible (else its own problem says why)
        if self.complete("fx_rates") and all(0 < r["per_eur"] <= PLAUSIBLE["max_per_eur"]
                                             for r in self.tables["fx_rates"].rows):
            for _, r, _ in self.each("fx_rates"):
                if r["per_eur"] > 0:
                    self.fx.setdefault(r["currency"], []).append((r["period_start"], r["period_end"], r["per_eur"]))
            for items in self.fx.values():
                items.sort()
            self.fx_coverage()
        self.plausibility()

    def rows_needed(self) -> None:
        for name, why in NEEDS_ROWS.items():
            t = self.tables.get(name)
            if t is not None and t.complete and t.header and not t.records:
                self.add(t.path, None, None, None, "no-rows",
                         f"{t.path} has a header but no rows; the brief cannot be built without it ({why})")
        acts = self.tables.get("aid_activities")
        if self.complete("aid_activities") and acts.rows and not any(
                r["date"] is not None and r["measure"] == "allocation" for r in acts.rows):
            self.add(acts.path, None, "date", None, "no-rows",
                     "no dated allocation row: the monthly aid chart needs at least one")

    def consistency(self) -> None:
        add = self.add
        for name in ("meetings", "events"):
            for path, r, ln in self.each(name):
                if r.get("end_date") and r["end_date"] < r["date"]:
                    add(path, ln, "end_date", r["end_date"], "date-order", "end_date is before date")
        for path, r, ln in self.each("fx_rates"):
            if r["period_end"] < r["period_start"]:
                add(path, ln, "period_end", r["period_end"], "date-order", "period_end is before period_start")
        for path, r, ln in self.each("actors"):
            if r["actor_type"] == "state":
                if r["iso3"] != r["actor_id"]:
                    add(path, ln, "iso3", r["iso3"], "state-iso3", "a state's iso3 must equal its actor_id")
                if not _known_country(r["actor_id"]):
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
            if r["gdp_usd"] is not None and r["gdp_year"] is None:
                add(path, ln, "gdp_year", None, "gdp-year", "gdp_usd needs gdp_year (the year the GDP is for)")
            if r["population"] is not None and r["population_year"] is None:
                add(path, ln, "population_year", None, "gdp-year", "population needs population_year")
        for path, r, ln in self.each("sources"):
            if r["published"] and not _partial_date_ok(r["published"]):
                add(path, ln, "published", r["published"], "plausible-date",
                    "published must be a calendar date YYYY, YYYY-MM or YYYY-MM-DD from 1900 to 2030")
        sources = self.tables.get("sources")
        if self.usable("sources") and sources.complete and sources.records and "source_id" not in sources.bad_columns:
            known = {r["source_id"] for r in sources.rows}
            for path, r, ln in self.each("outlook"):
                for sid in (r["other_source_ids"] or "").split(";"):
                    if sid and sid not in known:
                        add(path, ln, "other_source_ids", sid, "foreign-key", "no such source_id in sources")
        for path, r, ln in self.each("aid_activities"):
            if (r["date"] is None) != bool(r["undated"]):
                add(path, ln, "undated", r["undated"], "undated-flag",
                    "undated must be true exactly when date is empty")
            for col in ("value_eur", "value_eur_redistributed", "activity_value_eur"):
                if r[col] is not None and r[col] < 0 and not r["correction"]:
                    add(path, ln, col, r[col], "negative-amount",
                        "amounts must be >= 0; only a row flagged correction=true may be negative")
        for path, r, ln in self.each("aid_announcements"):
            if r["amount"] is not None and not r["currency"]:
                add(path, ln, "currency", None, "currency-required", "an amount needs its currency")
        for path, r, ln in self.each("claims"):
            if r["value"] is not None and not r["unit"]:
                add(path, ln, "unit", None, "unit-required", "a value needs its unit")
            if r["unit"] and _is_currency_like(r["unit"]) and not _known_currency(r["unit"]):
                add(path, ln, "unit", r["unit"], "iso-currency", "not an ISO 4217 currency code")
        # overlapping FX periods would make a conversion ambiguous
        spans: dict[str, list[tuple]] = {}
        for path, r, ln in self.each("fx_rates"):
            spans.setdefault(r["currency"], []).append((r["period_start"], r["period_end"], ln, path))
        for cur, items in spans.items():
            items.sort()
            for (s0, e0, l0, _), (s1, e1, l1, path) in zip(items, items[1:]):
                if s1 <= e0:
                    add(path, l1, "period_start", s1, "fx-overlap",
                        f"{cur} period overlaps the one on line {l0}")

    def fx_coverage(self) -> None:
        """Every conversion the brief makes has a recorded rate (else FxError in a notebook)."""
        # announcements: converted at the rate of their own date, to every display currency
        for path, r, ln in self.each("aid_announcements"):
            if r["amount"] is None or not r["currency"]:
                continue
            # one problem per row, naming every currency without a rate for its date
            missing = [c for c in dict.fromkeys((r["currency"], *DISPLAY_CURRENCIES)) if self.rate(c, r["date"]) is None]
            if missing:
                own = r["currency"] in missing
                col, value = ("currency", r["currency"]) if own else ("date", r["date"])
                self.add(path, ln, col, value, "fx-missing",
                         f"no {' or '.join(missing)} rate in fx_rates.csv for {r['date']}: each amount is converted "
                         f"at the rate of its own date, to EUR and to each display currency "
                         f"({'; '.join(c + ': ' + self.fx_periods(c) for c in missing)})")
        # EUR sums: shown at the rate in force on the as-of date, which is on or after the first meeting
        first = min((r["date"] for _, r, _ in self.each("meetings")), default=None)
        fx = self.tables["fx_rates"]
        if first is not None:
            for cur in DISPLAY_CURRENCIES:
                if not any(s <= first for s, _, _ in self.fx.get(cur, ())):
                    self.add(fx.path, None, "currency", cur, "fx-missing",
                             f"no {cur} rate in force on or before {first} (the first meeting, the earliest "
                             f"as-of date): the brief in {cur} converts EUR sums at the rate of the as-of date")
        # share of GDP: a donor's allocations are converted to USD at the GDP year's mid-year rate
        donors = self.donor_ids()
        for path, r, ln in self.each("actors"):
            if r["gdp_usd"] is None or r["gdp_year"] is None or r["actor_id"] not in donors:
                continue
            day = date(r["gdp_year"], 7, 1) if 1 <= r["gdp_year"] <= 9999 else None
            if day is not None and self.rate("USD", day) is None:
                self.add(path, ln, "gdp_year", r["gdp_year"], "fx-missing",
                         f"no USD rate in fx_rates.csv for {day}: aid as a share of GDP converts allocations "
                         f"to USD at the GDP year's mid-year rate ({self.fx_periods('USD')})")

    def donor_ids(self) -> set[str]:
        return {r["donor_id"] for name in ("aid_totals", "aid_activities") for _, r, _ in self.each(name)}

    def plausibility(self) -> None:
        lim = PLAUSIBLE
        cap = lim["max_amount_eur"]
        flagged: set[str] = set()  # donors with an implausible row: no per-donor follow-on problem

        def ceiling(path, ln, col, value, eur, donor, what):
            if eur is not None and abs(eur) > cap:
                self.add(path, ln, col, value, "plausible-amount",
                         f"{what} of EUR {_num(eur)} is above the ceiling of EUR {_num(cap)} per row "
                         "(larger than any single aid package); check the units")
                if donor:
                    flagged.add(donor)

        for path, r, ln in self.each("aid_activities"):
            for col in ("value_eur", "value_eur_redistributed", "activity_value_eur"):
                ceiling(path, ln, col, r[col], r[col], r["donor_id"], "an amount")
        for path, r, ln in self.each("aid_totals"):
            if r["value_eur"] < 0:
                self.add(path, ln, "value_eur", r["value_eur"], "negative-amount", "a donor total must be >= 0")
            ceiling(path, ln, "value_eur", r["value_eur"], r["value_eur"], r["donor_id"], "a donor total")
        for path, r, ln in self.each("aid_announcements"):
            if r["amount"] is None or not r["currency"]:
                continue
            if r["amount"] < 0:
                self.add(path, ln, "amount", r["amount"], "negative-amount", "an announced amount must be >= 0")
            rate = self.rate(r["currency"], r["date"]) if self.fx else None
            if rate is not None:
                ceiling(path, ln, "amount", r["amount"], r["amount"] / rate, None,
                        f"{r['currency']} {_num(r['amount'])}, an announcement")
        for path, r, ln in self.each("claims"):
            v, unit = r["value"], r["unit"]
            if v is None or not unit:
                continue
            if v < 0:
                self.add(path, ln, "value", v, "negative-amount", "a reported figure must be >= 0")
            elif _is_currency_like(unit):
                rates = [per for _, _, per in self.fx.get(unit, ())] or ([1.0] if unit == "EUR" else [])
                if rates:  # the most lenient recorded rate: never a false alarm from the choice of period
                    ceiling(path, ln, "value", v, v / max(rates), None, f"{unit} {_num(v)}, a reported figure")
                elif v > lim["max_amount_units_no_rate"]:
                    self.add(path, ln, "value", v, "plausible-amount",
                             f"{unit} {_num(v)} is above {_num(lim['max_amount_units_no_rate'])} units "
                             "(no rate recorded to convert it); check the units")
            elif v > lim["max_count"]:
                self.add(path, ln, "value", v, "plausible-count",
                         f"{_num(v)} {unit} is above the ceiling of {lim['max_count']:,} for a count; check the units")
        for path, r, ln in self.each("fx_rates"):
            if not 0 < r["per_eur"] <= lim["max_per_eur"]:
                self.add(path, ln, "per_eur", r["per_eur"], "plausible-rate",
                         f"a rate must be above 0 and at most {lim['max_per_eur']:,.0f} units per EUR")
        for path, r, ln in self.each("actors"):
            g, p = r["gdp_usd"], r["population"]
            if g is not None and not lim["min_gdp_usd"] <= g <= lim["max_gdp_usd"]:
                self.add(path, ln, "gdp_usd", g, "plausible-gdp",
                         f"GDP must be from USD {_num(lim['min_gdp_usd'])} to USD {_num(lim['max_gdp_usd'])} "
                         "(current USD, whole units)")
                flagged.add(r["actor_id"])
            if p is not None and not 1 <= p <= lim["max_population"]:
                self.add(path, ln, "population", p, "plausible-population",
                         f"population must be from 1 to {lim['max_population']:,}")
        self.share_of_gdp(flagged)

    def share_of_gdp(self, flagged: set[str]) -> None:
        """A donor's total allocations against its GDP, as the brief's share-of-GDP chart does."""
        if not self.usable("actors"):
            return
        sums: dict[tuple[str, str], float] = {}
        biggest: dict[tuple[str, str], tuple[float, str, int, str]] = {}
        for name in ("aid_totals", "aid_activities"):
            for path, r, ln in self.each(name):
                if r["measure"] != "allocation":
                    continue
                key = (name, r["donor_id"])
                sums[key] = sums.get(key, 0.0) + r["value_eur"]
                if key not in biggest or r["value_eur"] > biggest[key][0]:
                    biggest[key] = (r["value_eur"], path, ln, r["donor_id"])
        gdp = {r["actor_id"]: (r["gdp_usd"], r["gdp_year"], ln) for _, r, ln in self.each("actors")
               if r["gdp_usd"] and r["gdp_year"]}
        limit = PLAUSIBLE["max_share_of_gdp_pct"]
        for (name, donor), total in sums.items():
            if donor in flagged or donor not in gdp:
                continue
            g, year, gline = gdp[donor]
            usd = self.rate("USD", date(year, 7, 1)) if 1 <= year <= 9999 else None
            if usd is None:
                continue  # reported by fx_coverage
            share = 100 * total * usd / g
            if share > limit:
                value, path, ln, _ = biggest[(name, donor)]
                self.add(path, ln, "value_eur", value, "share-of-gdp",
                         f"{donor}'s allocations in {name}.csv total EUR {_num(total)}, {share:,.1f}% of its {year} "
                         f"GDP (actors.csv line {gline}); the ceiling is {limit:g}%: check the units "
                         "(this is the donor's largest row)")


def _partial_date_ok(text: str) -> bool:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, a real calendar day, 1900 to 2030."""
    try:
        day = date.fromisoformat((text + "-01-01")[:10] if len(text) < 10 else text)
    except ValueError:
        return False
    return len(text) in (4, 7, 10) and date(1900, 1, 1) <= day <= date(2030, 12, 31)


def _is_currency_like(unit: str) -> bool:
    return len(unit) == 3 and unit.isupper()


def _num(x: float) -> str:
    """``1,500,000,000`` up to 10^15; beyond, ``1e+30`` (thirty digits help nobody)."""
    return f"{x:,.0f}" if abs(x) < 1e15 else f"{x:.3g}"


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e15 else f"{value:g}" if value != int(value) else f"{value:.0f}"
    return str(value)


def parse_package(data_dir: Path) -> ParsedPackage:
    """Parse and validate every resource; never raises for bad data (problems are returned)."""
    desc, lines, problems = _read_descriptor(data_dir)
    if desc is None:
        return ParsedPackage({}, {}, problems)
    checker = _DescriptorChecker(desc, lines, problems)
    checker.run()
    problems.extend(check_files(data_dir, desc))  # symlinks, FIFOs, devices, undescribed files
    tables: dict[str, ParsedTable] = {}
    for name, spec in checker.resources.items():
        tables[name] = _read_table(data_dir, name, spec["path"], spec["fields"], problems)
        if name in checker.broken:
            tables[name].shape_ok = False
    _check_keys(checker.resources, tables, problems)
    _Rules(tables, problems).run()
    for t in tables.values():
        for r in t.rows:
            r.pop("__invalid__", None)
    return ParsedPackage(desc, tables, problems)
