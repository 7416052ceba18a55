"""One build context per report: everything a build is decided by, resolved and checked once.

:func:`resolve_context` checks the parameters against the notebook's declaration, the formats
and file names, makes the output folder, hashes the data and the package, picks what "what
changed" compares with (the edition's baseline, below) and computes the cache keys. The CLI,
the batch (:mod:`coalition_report.build`), the pipeline and the cache all take the result. It
holds only plain values, so a batch hands it to worker processes as it is.

Editions. An *edition* of a report is a build whose inputs (notebook, code, library versions,
parameters other than ``compare_to``, data, file name) differ from the previous build's in the
same folder. A new edition compares with the previous build's snapshot, provided that build's
as-of date is on or before this one's (a brief as of D never reports later records as
"removed"); that snapshot is kept beside the outputs as ``<stem>.baseline.json``. A rebuild of
the same edition compares with that same baseline, so it gives the same bytes and, from the
second build on, is a cache hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import config
from ..errors import BuildError, ParameterError
from ..hashing import hash_directory, sha256_file
from ..params import NotebookSpec, get_notebook, param_error, validate_params
from .cache import cache_keys, read_manifest
from .locks import check_outside_data, output_folder
from .manifest import lib_versions

__all__ = ["BuildContext", "resolve_context", "previous_snapshot", "check_formats", "check_basename", "FORMATS",
           "BASELINE_SUFFIX"]

FORMATS = ("html", "pdf", "ipynb")
#: The edition's baseline beside the outputs: ``coalition-brief.baseline.json``.
BASELINE_SUFFIX = ".baseline.json"


@dataclass(frozen=True)
class BuildContext:
    """Everything one report's build is decided by (plain values: picklable)."""

    notebook: str
    nb_path: Path
    given: dict[str, Any]
    values: dict[str, Any]
    public: tuple[str, ...]
    formats: tuple[str, ...]
    stem: str
    manifest_name: str
    out: Path
    data_dir: Path
    data_hash: str | None
    package_hash: str
    cache_key: str
    code_key: str
    edition_key: str
    #: Why "what changed" compares with nothing although a previous build exists (or None).
    notes: tuple[str, ...] = field(default=())

    @property
    def manifest_path(self) -> Path:
        return self.out / self.manifest_name

    @property
    def public_params(self) -> dict[str, Any]:
        """The parameters shown in the colophon (not machine-specific ones such as paths)."""
        return {k: self.values[k] for k in self.public if k in self.values}


def check_formats(notebook: str, formats: Sequence[str]) -> tuple[str, ...]:
    fmts = (formats,) if isinstance(formats, str) else tuple(formats)
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise param_error(notebook, "formats", list(fmts), "unknown or empty output format list",
                          "subset of " + ", ".join(FORMATS), list(FORMATS))
    return tuple(dict.fromkeys(fmts))


def check_basename(notebook: str, stem: str, what: str = "basename") -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}", stem) or ".." in stem:
        raise param_error(notebook, what, stem, "not a safe file name",
                          "letters, digits, '.', '_', '-' (no path separators)")
    return stem


def resolve_context(notebook: str | NotebookSpec, params: Mapping[str, Any] | None = None, *,
                    out_dir: str | Path | None = None, formats: Sequence[str] = ("html", "pdf"),
                    basename: str | None = None, manifest_name: str = "manifest.json",
                    notebook_dir: str | Path | None = None, data_hash: str | None = None,
                    as_of_date: str | None = None) -> BuildContext:
    """Resolve and check one report's build. Raises :class:`ParameterError` before anything runs.

    ``params`` holds only what the user gave: the notebook's own defaults fill in the rest.
    ``as_of_date``: the report's resolved as-of date when the caller knows it (the batch does,
    having loaded the data); otherwise a non-empty ``as_of`` parameter, or unknown.
    """
    spec = get_notebook(notebook, notebook_dir)
    given = dict(params or {})
    values = validate_params(spec, given)
    fmts = check_formats(spec.name, formats)
    stem = check_basename(spec.name, basename or spec.basename.format(notebook=spec.name, **values))
    check_basename(spec.name, manifest_name.removesuffix(".json"), what="manifest_name")
    nb_path = spec.resolve_path(notebook_dir).resolve()
    if not nb_path.is_file():
        raise BuildError(spec.name, None, f"notebook file not found: {nb_path}", None)
    data_dir = Path(values.get("data_dir") or config.DATA_DIR)
    check_outside_data(spec.name, out_dir or config.REPORTS_DIR, data_dir)
    out = output_folder(spec.name, out_dir or config.REPORTS_DIR)
    if data_hash is None and data_dir.is_dir():
        data_hash = hash_directory(data_dir)
    package_hash = hash_directory(config.PACKAGE_DIR)
    libs = lib_versions()
    as_of = as_of_date or values.get("as_of") or None

    def keys(vals: Mapping[str, Any]) -> tuple[str, str, str]:
        return cache_keys(spec.name, nb_path, vals, data_hash, fmts, stem, package_hash=package_hash,
                          lib_versions=libs)

    notes: tuple[str, ...] = ()
    if "compare_to" in values:
        _, _, edition = keys(values)
        compare_to, notes = _compare_to(spec, given, values, out, stem, manifest_name, edition, as_of)
        values = {**values, "compare_to": compare_to}
    build_key, code_key, edition_key = keys(values)
    return BuildContext(spec.name, nb_path, given, values, tuple(p.name for p in spec.params if p.public),
                        fmts, stem, manifest_name, out, data_dir, data_hash, package_hash, build_key,
                        code_key, edition_key, notes)


def _later(snapshot_path: Path, as_of: str | None) -> str | None:
    """The snapshot's as-of date when it is later than ``as_of`` (else None)."""
    from ..snapshot import load_snapshot

    theirs = str((load_snapshot(snapshot_path) or {}).get("as_of") or "")
    return theirs if as_of and theirs > str(as_of) else None


def _compare_to(spec: NotebookSpec, given: Mapping[str, Any], values: Mapping[str, Any], out: Path, stem: str,
                manifest_name: str, edition_key: str, as_of: str | None) -> tuple[str, tuple[str, ...]]:
    """What "what changed" compares with (a snapshot path, or ``""``), and why not when not."""
    from ..snapshot import load_snapshot, resolve_snapshot

    if "compare_to" in given:
        chosen = values.get("compare_to") or ""
        if not chosen:
            return "", ()
        try:
            chosen = str(resolve_snapshot(chosen))
            load_snapshot(chosen)
        except ParameterError as exc:
            raise param_error(spec, "compare_to", chosen, exc.reason,
                              "a previous build's snapshot or manifest") from None
        if _later(Path(chosen), as_of):
            return "", (f"{chosen} is of a later as-of date than {as_of}: not compared with",)
        return chosen, ()
    previous = read_manifest(out / manifest_name, sealed=True)  # a hand-edited manifest: a new edition
    if previous is not None and previous.get("edition_key") == edition_key:
        # The same edition: the same baseline as its last build (or none, as then).
        base = previous.get("baseline")
        if not base:
            return "", ()
        path = out / str(base.get("file", ""))
        if path.is_file() and sha256_file(path) == base.get("sha256"):
            return str(path), ()
    # A new edition: the previous build of this report, if it left a readable snapshot of an
    # as-of date on or before this one's. An unreadable one (e.g. from an older version) means
    # nothing to compare with, said so in the report.
    snap = previous_snapshot(out, manifest_name, stem)
    if snap is None or _later(snap, as_of):
        return "", ()
    if (out / manifest_name).exists() and not _vouched(out / manifest_name, snap):
        return "", (f"the previous build's manifest or snapshot ({snap.name}) in {out} was changed after that "
                    "build, or made by another user: not compared with",)
    return str(snap), ()


def _vouched(manifest_path: Path, snap: Path) -> bool:
    """The manifest is sealed by this user's build and lists ``snap`` with its current hash."""
    from .cache import intact_outputs

    manifest = read_manifest(manifest_path, sealed=True)
    entry = (manifest or {}).get("snapshot")
    return isinstance(entry, dict) and entry.get("file") == snap.name \
        and intact_outputs(manifest_path.parent, {"outputs": [], "snapshot": entry}) is not None


def previous_snapshot(folder: Path, manifest_name: str, stem: str) -> Path | None:
    """The snapshot of the last build of report ``stem`` in ``folder`` (its manifest's, else
    ``<stem>.snapshot.json``), when there is a readable one."""
    from ..snapshot import SUFFIX, load_snapshot, resolve_snapshot

    for candidate in (folder / manifest_name, folder / f"{stem}{SUFFIX}"):
        try:
            if candidate.is_file() and load_snapshot(candidate) is not None:
                return resolve_snapshot(candidate)
        except ParameterError:
            continue  # not a snapshot this version reads: try the next, else none
    return None
