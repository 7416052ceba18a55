"""Small, exact edits of a copy of the valid fixture package (tests/data/valid).

Every helper changes one thing, so a test can say exactly which problem it expects.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any, Callable

VALID = Path(__file__).resolve().parent.parent / "data" / "valid"


def copy_valid(dest: Path) -> Path:
    """A fresh copy of the valid fixture at ``dest`` (returned)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(VALID, dest)
    return dest


def read_rows(pkg: Path, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO((pkg / name).read_text(encoding="utf-8"), newline="")))


def write_rows(pkg: Path, name: str, rows: list[list[str]], *, newline: str = "\n") -> None:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator=newline).writerows(rows)
    (pkg / name).write_text(buf.getvalue(), encoding="utf-8", newline="")


def drop_column(pkg: Path, name: str, column: str) -> None:
    """Remove ``column`` (header and every row) from ``name``."""
    rows = read_rows(pkg, name)
    i = rows[0].index(column)
    write_rows(pkg, name, [r[:i] + r[i + 1:] for r in rows])


def set_cell(pkg: Path, name: str, row: int, column: str, value: str) -> str:
    """Set data row ``row`` (1 = first row after the header, physical line 2 in the fixtures)."""
    rows = read_rows(pkg, name)
    rows[row][rows[0].index(column)] = value
    write_rows(pkg, name, rows)
    return value


def get_cell(pkg: Path, name: str, row: int, column: str) -> str:
    rows = read_rows(pkg, name)
    return rows[row][rows[0].index(column)]


def header_only(pkg: Path, name: str) -> None:
    write_rows(pkg, name, read_rows(pkg, name)[:1])


def edit_descriptor(pkg: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = pkg / "datapackage.json"
    desc = json.loads(path.read_text(encoding="utf-8"))
    edit(desc)
    path.write_text(json.dumps(desc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def resource(desc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in desc["resources"] if r.get("name") == name)


def field_spec(desc: dict[str, Any], res: str, name: str) -> dict[str, Any]:
    return next(f for f in resource(desc, res)["schema"]["fields"] if f["name"] == name)


def descriptor_line(pkg: Path, res: str, field: str | None = None, key: str | None = None) -> int:
    """Physical line in datapackage.json (as :func:`edit_descriptor` writes it) of resource ``res``'s
    ``"name"``, or of its field ``field``'s name, or of ``key`` after that."""
    lines = (pkg / "datapackage.json").read_text(encoding="utf-8").splitlines()
    i = next(n for n, line in enumerate(lines) if line.strip().rstrip(",") == f'"name": "{res}"')
    if field is not None:
        i = next(n for n in range(i + 1, len(lines)) if lines[n].strip().rstrip(",") == f'"name": "{field}"')
    if key is not None:
        i = next(n for n in range(i, len(lines)) if lines[n].strip().startswith(f'"{key}"'))
    return i + 1


def pinned_fields() -> list[tuple[str, str, str, bool]]:
    """(resource, field, type, required) for every field the code expects."""
    from coalition_report.validate import EXPECTED_FIELDS
    out = []
    for res, spec in EXPECTED_FIELDS.items():
        for item in spec.split():
            name, ftype = item.split(":")
            out.append((res, name, ftype.rstrip("!"), ftype.endswith("!")))
    return out


def csv_name(res: str) -> str:
    return f"{res}.csv"


def top_level_line(pkg: Path, key: str) -> int:
    """Physical line of a top-level key of datapackage.json (two-space indent)."""
    lines = (pkg / "datapackage.json").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines) if line.startswith(f'  "{key}"')) + 1
