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

The checks live in four modules, one concern each: this one reads the descriptor and the CSV
files (cells, types, constraints) and runs the rest; :mod:`.validate_spec` holds what the code
relies on (the pinned fields, keys, enums and limits named above, re-exported here);
:mod:`.validate_rules` the keys and cross-table rules; :mod:`.validate_sources` the curation rules
of ``data/CURATION.md`` (source tiers, coding checked against the row's own text).

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
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from json.decoder import scanstring
from pathlib import Path, PurePosixPath
from typing import Any

from .config import DESCRIPTOR_NAME
from .errors import Problem
from .validate_files import check_files
from .validate_rules import Rules, check_keys
from .validate_sources import check_sources
from .validate_spec import (  # noqa: F401  (re-exported: the public API stays in this module)
    CONTROL_CHARS, FALSE_VALUES, FORMULA_START, INT64, RESOURCE_NAME, SUPPORTED_CONSTRAINTS, TRUE_VALUES, WHY_DATES, X_CODES,
    DISPLAY_CURRENCIES, EXPECTED_ENUMS, EXPECTED_FIELDS, EXPECTED_FOREIGN_KEYS, EXPECTED_KEYS, NEEDS_ROWS,
    OPTIONAL_RESOURCES, PLAUSIBLE, SUPPORTED_TYPES, ParsedPackage, ParsedTable, known_country, known_currency)

__all__ = ["ParsedPackage", "parse_package", "read_descriptor", "EXPECTED_FIELDS", "OPTIONAL_RESOURCES", "NEEDS_ROWS",
           "PLAUSIBLE", "DISPLAY_CURRENCIES"]

# ---------------------------------------------------------------------------------------------
# descriptor

def read_descriptor(data_dir: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read ``datapackage.json``; return (descriptor, problems)."""
    desc, _, problems = _read_descriptor(data_dir)
    return desc, problems


def _read_descriptor(data_dir: Path) -> tuple[dict[str, Any] | None, str, list[Problem]]:
    """(descriptor, its text, problems): the text for :func:`_json_lines` when a problem needs a line."""
    path = data_dir / DESCRIPTOR_NAME
    if not path.is_file():
        return None, "", [Problem(DESCRIPTOR_NAME, None, None, None, "descriptor",
                                  f"no {DESCRIPTOR_NAME} in {data_dir}")]
    try:
        text = path.read_bytes().decode("utf-8")
        desc = json.loads(text)
    except OSError as exc:
        return None, "", [Problem(DESCRIPTOR_NAME, None, None, None, "descriptor",
                                  f"cannot read it: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, "", [Problem(DESCRIPTOR_NAME, None, None, None, "encoding",
                                  f"not valid UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start})")]
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        line = getattr(exc, "lineno", None)
        return None, "", [Problem(DESCRIPTOR_NAME, line, None, None, "descriptor",
                                  f"not valid JSON: {str(exc)[:200]}")]
    if not isinstance(desc, dict) or not isinstance(desc.get("resources"), list):
        return None, "", [Problem(DESCRIPTOR_NAME, None, None, None, "descriptor", "no 'resources' list")]
    return desc, text, []


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

    def __init__(self, desc: dict[str, Any], text: str, problems: list[Problem]):
        self.desc, self.problems = desc, problems
        # every value's line, found when the first problem needs one: a valid descriptor (nearly
        # every validation) never pays for the walk (~4 ms for the shipped one)
        self._text, self._lines = text, None
        #: resource name -> (path, parsed fields, primary key, foreign keys) for readable resources
        self.resources: dict[str, dict[str, Any]] = {}
        #: resources whose schema is not what the code expects (rows read, rules skipped)
        self.broken: set[str] = set()

    def add(self, where: tuple, column: str | None, value: Any, rule: str, message: str) -> None:
        if self._lines is None:
            self._lines = _json_lines(self._text)
        line = None
        while where and line is None:
            line = self._lines.get(where)
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
                if isinstance(text, str) and CONTROL_CHARS.search(text):
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
        if not isinstance(name, str) or not RESOURCE_NAME.fullmatch(name):
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
            if p.is_absolute() or ".." in p.parts or "\\" in path or ":" in path or CONTROL_CHARS.search(path):
                self.add(where + ("path",), None, path, "resource-path",
                         "path must be a relative file path inside the data folder")
                ok = False
            elif any(part.startswith(".") for part in p.parts):  # the data hash skips hidden entries
                self.add(where + ("path",), None, path, "resource-path",
                         "path must not name a hidden file or folder (the data hash, and so the build cache, "
                         "skips hidden entries)")
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
                or CONTROL_CHARS.search(f["name"]):
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
        if out.x_code is not None and out.x_code not in X_CODES:
            self.add(where + ("x-code",), col, str(out.x_code), "field",
                     f"x-code must be one of {', '.join(X_CODES)}")
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
            if key not in SUPPORTED_CONSTRAINTS:
                bad(key, f"constraint {key!r} is not supported by this validator and would be ignored; "
                         f"supported: {', '.join(sorted(SUPPORTED_CONSTRAINTS))}")
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

def _control_message(raw: str) -> str:
    ch = CONTROL_CHARS.search(raw).group()
    name = {"\x00": "NUL", "\x1b": "ESC", "\x7f": "DEL", "\ufeff": "byte-order mark"}.get(ch, "")
    return (f"control character U+{ord(ch):04X}{' (' + name + ')' if name else ''} is not allowed in text: "
            "remove it (only tab and line breaks are kept)")


def _parse_cell(raw: str, spec: _Field) -> tuple[Any, str | None, str | None]:
    """Return (value, rule, message); rule is None when the cell is valid."""
    if raw == "":
        if spec.required:
            return None, "required", "a value is required"
        return None, None, None
    if CONTROL_CHARS.search(raw):
        return None, "control-char", _control_message(raw)
    if raw != raw.strip():
        return None, "whitespace", "leading or trailing whitespace"
    ftype = spec.type
    value: Any = raw
    try:
        if ftype == "string":
            if raw[0] in FORMULA_START:
                return None, "formula", (f"text starting with {raw[0]!r} runs as a formula when the CSV is opened "
                                         "in a spreadsheet (CSV injection): rephrase it to start with a letter "
                                         "or digit")
        elif ftype == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                raise ValueError
            value = int(raw)
            if not -INT64 < value < INT64:
                return None, "range", "integer out of range (more than 18 digits)"
        elif ftype == "number":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
        elif ftype == "boolean":
            if raw not in TRUE_VALUES | FALSE_VALUES:
                return None, "type", "expected boolean 'true' or 'false'"
            value = raw in TRUE_VALUES
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
        why = WHY_DATES.get(str(lo), "outside the plausible window")
        return None, "plausible-date", f"{spec.name} must be from {lo} to {hi}: {why}"
    if spec.x_code == "country-alpha3" and not known_country(raw):
        return None, "iso-country", "not an ISO 3166-1 alpha-3 country code"
    if spec.x_code == "currency" and not known_currency(raw):
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
                # decided once, not per row: (position, column, field, memo) of the known columns
                cols = [(i, col, by_name[col], memo[col]) for i, col in enumerate(header) if col in by_name]
                absent = [f.name for f in fields if f.name not in {c for _, c, _, _ in cols}]
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
            for i, col, spec, seen in cols:
                raw = row[i]
                if undecodable and _has_surrogates(raw):
                    add(start, col, _shown_bytes(raw), "encoding", _ENCODING_MESSAGE)
                    table.bad_columns.add(col)
                    ok = False
                    typed[col] = None
                    continue
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
            for absent_name in absent:
                typed[absent_name] = None
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
# the whole package

def parse_package(data_dir: Path) -> ParsedPackage:
    """Parse and validate every resource; never raises for bad data (problems are returned)."""
    desc, text, problems = _read_descriptor(data_dir)
    if desc is None:
        return ParsedPackage({}, {}, problems)
    checker = _DescriptorChecker(desc, text, problems)
    checker.run()
    problems.extend(check_files(data_dir, desc))  # symlinks, FIFOs, devices, undescribed files
    tables: dict[str, ParsedTable] = {}
    for name, spec in checker.resources.items():
        tables[name] = _read_table(data_dir, name, spec["path"], spec["fields"], problems)
        if name in checker.broken:
            tables[name].shape_ok = False
    check_keys(checker.resources, tables, problems)
    Rules(tables, problems).run()
    check_sources(tables, problems)  # curation rules: source tiers, coding against the row's text
    # (a file-coverage check of data/ goes here: one call, after the table rules)
    for t in tables.values():
        for r in t.rows:
            r.pop("__invalid__", None)
    return ParsedPackage(desc, tables, problems)
