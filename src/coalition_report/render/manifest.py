"""The manifest written beside a report's outputs: what it was built from, and what it holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping

from .. import __version__, config
from ..hashing import sha256_file
from ..svgcache import vl_version
from .cache import SEAL_KEY, seal

__all__ = ["lib_versions", "versions", "display_path", "file_entry", "make_manifest", "dumps"]

_LIBS = (("python", None), ("pandas", "pandas"), ("altair", "altair"),
         ("vl-convert", "vl-convert-python"), ("papermill", "papermill"),
         ("nbconvert", "nbconvert"), ("weasyprint", "weasyprint"), ("nbformat", "nbformat"))


def lib_versions() -> dict[str, str | None]:
    """Installed versions of the libraries outputs depend on (metadata only: no imports), and
    the PDF engine's setting and browser binary (:func:`~coalition_report.render.chromium.engine_identity`)."""
    from importlib.metadata import PackageNotFoundError, version

    from .chromium import engine_identity

    out: dict[str, str | None] = {"pdf-engine": engine_identity()}
    for label, dist in _LIBS:
        if dist is None:
            out[label] = ".".join(map(str, sys.version_info[:3]))
            continue
        try:
            out[label] = version(dist)
        except PackageNotFoundError:
            out[label] = None
    return out


def versions() -> dict[str, str | None]:
    """The manifest's versions: the libraries plus the Vega-Lite version charts are made for."""
    return {**lib_versions(), "vega-lite": vl_version()}


def display_path(path: Path) -> str:
    """``path`` relative to the project when inside it (manifests name no home folders)."""
    try:
        return path.resolve().relative_to(config.PROJECT_DIR.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def file_entry(path: Path | None, *, display: bool = False) -> dict[str, Any] | None:
    """``{file, bytes, sha256}`` of a file (None when there is none)."""
    if path is None or not path.is_file():
        return None
    return {"file": display_path(path) if display else path.name, "bytes": path.stat().st_size,
            "sha256": sha256_file(path)}


def make_manifest(ctx: Any, meta: Any, *, counts: Mapping[str, int], warnings: list[str],
                  timings: Mapping[str, float], files: Mapping[str, Path], snapshot: Path | None,
                  baseline: Path | None, built_at: str | None, pdf: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a build (``ctx``: its :class:`~coalition_report.render.context.BuildContext`)."""
    manifest = {
        "schema": 1,
        "cache_key": ctx.cache_key,
        "edition_key": ctx.edition_key,
        "notebook": ctx.notebook,
        "notebook_file": display_path(ctx.nb_path),
        "notebook_sha256": sha256_file(ctx.nb_path),
        "package_sha256": ctx.package_hash,
        "parameters": ctx.values,
        "given_parameters": ctx.given,
        "report": {"title": meta.title, "subtitle": meta.subtitle_text, "as_of": meta.as_of},
        "data": {"path": display_path(ctx.data_dir), "sha256": ctx.data_hash},
        "package": {"name": "coalition-report", "version": __version__},
        "versions": versions(),
        "built_at": built_at,
        "counts": dict(counts),
        "warnings": warnings,
        "timings_s": dict(timings),
        # The PDF's engine, how many prints it took, and the contents' page numbers (the next
        # build's first guess: a Chromium print that guesses right is printed once).
        "pdf": dict(pdf) if pdf else None,
        "outputs": [{"format": fmt, "file": path.name, "bytes": path.stat().st_size,
                     "sha256": sha256_file(path)} for fmt, path in files.items()],
        "snapshot": file_entry(snapshot),
        # The edition's baseline: what "what changed" compared with, kept beside the outputs so
        # that a rebuild of the same edition compares with the same thing.
        "baseline": file_entry(baseline),
        "compared_with": file_entry(Path(ctx.values["compare_to"]), display=True)
        if ctx.values.get("compare_to") else None,
    }
    # Sealed under this user's secret: the next build trusts it (and the hashes it lists) only
    # if the seal verifies (see render/cache.py).
    return {**manifest, SEAL_KEY: seal(manifest)}


def dumps(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
