"""Validate the files of the data folder itself, beside the tables (``coalition-report validate``).

The tables are validated by :mod:`coalition_report.validate`; this module checks that the folder
holds nothing the build might open by accident and nothing nobody described:

* every entry is a folder or a **regular file**: a symbolic link (to ``/dev/zero``, to a folder
  outside, to a file), a FIFO, a socket or a device is refused (rule ``not-regular-file``). The
  data package is what is in the folder: links are not followed, so the data hash, the import's
  staging copy and the build all see the same bytes, and no read can block on a FIFO or run
  forever on ``/dev/zero``. The entry is only ``lstat``-ed, never opened.
* every regular file is **described** (rule ``undescribed-file``): the descriptor
  ``datapackage.json``, a resource's ``path`` (the tables, and ``fx/ecb-daily.csv`` as resource
  ``fx_daily``), a ``local_path`` of ``sources.csv`` (shipped copies of sources), a Markdown
  document (``*.md``: curation notes, provenance, import reports), or a file named in the
  ``PROVENANCE.md`` of its own folder (``kiel/``: the processed Kiel tables).

Hidden entries (names starting with ``.``) are skipped, as the data hash skips them.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from .config import DESCRIPTOR_NAME
from .errors import Problem

__all__ = ["check_files", "file_problems"]

#: Entries listed before the walk stops (a folder of a million files is not a data package).
MAX_ENTRIES = 100_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(rel: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", rel)


def _kind(mode: int) -> str | None:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def _local_paths(data_dir: Path) -> set[str]:
    """``local_path`` values of ``sources.csv`` (read only when it is a regular file)."""
    path = data_dir / "sources.csv"
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return set()
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return set()
    try:
        return {(r.get("local_path") or "").strip() for r in csv.DictReader(io.StringIO(text))} - {""}
    except csv.Error:
        return set()  # reported with its line by the table checks


def _named_in_provenance(folder: Path, cache: dict[Path, str]) -> str:
    if folder not in cache:
        text = ""
        for name in ("PROVENANCE.md", "README.md"):
            p = folder / name
            try:
                if stat.S_ISREG(os.lstat(p).st_mode):
                    text += p.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
        cache[folder] = text
    return cache[folder]


def file_problems(data_dir: Path, resource_paths: set[str]) -> list[Problem]:
    """Problems of the entries of ``data_dir`` (see the module docstring).

    Parameters
    ----------
    data_dir : pathlib.Path
        The data folder.
    resource_paths : set of str
        The ``path`` of every resource of the descriptor (POSIX, relative to ``data_dir``).
    """
    problems: list[Problem] = []
    described = {PurePosixPath(p).as_posix() for p in resource_paths} | {DESCRIPTOR_NAME}
    described |= {PurePosixPath(p).as_posix() for p in _local_paths(data_dir)}
    provenance: dict[Path, str] = {}
    seen = 0
    stack = [Path(data_dir)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            rel = folder.relative_to(data_dir).as_posix()
            problems.append(Problem(_shown(rel), None, None, None, "not-regular-file",
                                    f"folder cannot be listed: {exc.strerror or exc}"))
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            seen += 1
            if seen > MAX_ENTRIES:
                problems.append(Problem(_shown(Path(data_dir).name), None, None, None,
                                        "undescribed-file", f"more than {MAX_ENTRIES:,} entries in the "
                                        f"data folder; a data package holds its tables and their notes"))
                return problems
            rel = Path(e.path).relative_to(data_dir).as_posix()
            try:
                mode = e.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                problems.append(Problem(_shown(rel), None, None, None, "not-regular-file",
                                        f"cannot be examined: {exc.strerror or exc}"))
                continue
            kind = _kind(mode)
            if kind is not None:
                target = ""
                if stat.S_ISLNK(mode):
                    try:
                        target = f" to {_shown(os.readlink(e.path))}"
                    except OSError:
                        pass
                problems.append(Problem(
                    _shown(rel), None, None, None, "not-regular-file",
                    f"{kind}{target}: the data package holds regular files and folders only, and "
                    f"links are not followed (the build, the data hash and import-kiel would not "
                    f"read the same bytes); replace it by the file itself or remove it"))
            elif stat.S_ISDIR(mode):
                stack.append(Path(e.path))
            elif not (rel in described or e.name.endswith(".md")
                      or re.search(rf"(?<![\w.-]){re.escape(e.name)}(?![\w-])",
                                   _named_in_provenance(Path(e.path).parent, provenance))):
                problems.append(Problem(
                    _shown(rel), None, None, None, "undescribed-file",
                    "not described: the build never reads it; declare it as a resource in "
                    f"{DESCRIPTOR_NAME}, as a local_path in sources.csv, or name it in a PROVENANCE.md "
                    "in its folder (or remove it)"))
    return problems


def check_files(data_dir: Path, descriptor: dict[str, Any] | None) -> list[Problem]:
    """:func:`file_problems` with the resource paths taken from the parsed descriptor."""
    resources = (descriptor or {}).get("resources")
    paths = {r["path"] for r in resources if isinstance(r, dict) and isinstance(r.get("path"), str)} \
        if isinstance(resources, list) else set()
    from .validate import EXPECTED_FIELDS  # here: validate imports this module

    # a table the code expects but the descriptor lacks is reported once, as expected-resource
    # a table the code expects but the descriptor lacks, or a resource whose path is unusable, is
    # reported once, by the descriptor checks; its file is not "undescribed" on top
    names = {r["name"] for r in resources if isinstance(r, dict) and isinstance(r.get("name"), str)} \
        if isinstance(resources, list) else set()
    paths |= {f"{name}.csv" for name in names | set(EXPECTED_FIELDS)}
    return file_problems(Path(data_dir), paths)
