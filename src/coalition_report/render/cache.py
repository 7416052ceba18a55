"""The build cache: an unchanged build does nothing; a Markdown-only edit re-exports.

* :func:`cache_keys` — ``(build key, code key, edition key)`` of a build. The build key covers
  everything an output depends on; the code key leaves out Markdown cells and formats (an
  execution is reusable across Markdown edits); the edition key leaves out what "what changed"
  compares with (a rebuild of the same inputs is the same edition).
* :func:`cached_result` — the last build's result when its key matches and its outputs are intact.
* :func:`cached_execution` / :func:`store_execution` — executed notebooks kept per code key in
  ``<out>/.cache/``.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import date
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..files import copy_atomic
from ..hashing import digest, sha256_file
from .result import BuildResult

__all__ = ["CACHE_FOLDER", "cache_keys", "read_manifest", "intact_outputs", "cached_result", "cached_execution",
           "store_execution"]

#: Folder (inside the output folder) holding executed notebooks keyed by their code.
CACHE_FOLDER = ".cache"
_CACHE_KEEP = 12  # executed notebooks kept per output folder (newest first)
_log = logging.getLogger(__name__)


def cache_keys(notebook: str, nb_path: Path, values: Mapping[str, Any], data_hash: str | None,
               formats: Sequence[str], stem: str, *, package_hash: str,
               lib_versions: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(build key, code key, edition key)`` of a build.

    The build key covers the notebook file, the package code, the library versions, the
    parameters (with the *content* of a ``compare_to`` file), the data, the formats and file
    name, and today's date when ``as_of`` is empty (the default as-of date is never later than
    today). The notebook is read as plain JSON, not nbformat: an unchanged rebuild should not
    pay for importing it.
    """
    nb = json.loads(nb_path.read_text(encoding="utf-8"))

    def text(src: Any) -> str:
        return "".join(src) if isinstance(src, list) else str(src)

    code = [[text(c.get("source", "")), sorted(c.get("metadata", {}).get("tags", []))]
            for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    params = dict(values)
    if params.get("compare_to"):
        path = Path(params["compare_to"])
        params["compare_to"] = sha256_file(path) if path.is_file() else f"missing:{path}"
    common = {"package": package_hash, "versions": dict(lib_versions), "params": params,
              "data": data_hash, "today": date.today().isoformat() if not values.get("as_of") else None,
              "kernel": nb.get("metadata", {}).get("kernelspec", {}).get("name"), "notebook": notebook}
    nb_sha = sha256_file(nb_path)
    code_key = digest({**common, "code": code})
    build_key = digest({**common, "code_key": code_key, "notebook_sha256": nb_sha,
                        "formats": sorted(formats), "stem": stem})
    edition = {**common, "params": {k: v for k, v in params.items() if k != "compare_to"}}
    edition_key = digest({**edition, "code": code, "notebook_sha256": nb_sha, "stem": stem})
    return build_key, code_key, edition_key


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path`` as a dict, or None when missing or unreadable."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def intact_outputs(out: Path, manifest: Mapping[str, Any]) -> dict[str, Path] | None:
    """The outputs a manifest lists, by format, when every one is there unchanged; else None."""
    outputs = {}
    for entry in manifest.get("outputs", []):
        f = out / str(entry.get("file", ""))
        if not f.is_file() or f.stat().st_size != entry.get("bytes") or sha256_file(f) != entry.get("sha256"):
            return None  # an output was edited or removed: rebuild
        outputs[entry["format"]] = f
    return outputs


def cached_execution(out: Path, code_key: str, nb_path: Path, executed: Path) -> Any | None:
    """The cached executed notebook for ``code_key`` with the current Markdown cells, or None.

    Code cells are identical by construction of the key; their outputs are copied in order onto
    the current notebook, papermill's injected-parameters cell is kept where it was.
    """
    import nbformat

    cached = out / CACHE_FOLDER / f"exec-{code_key}.ipynb"
    if not cached.is_file():
        return None
    try:
        old = nbformat.read(str(cached), as_version=4)
    except (OSError, ValueError) as exc:  # a damaged entry: execute instead
        _log.info("ignoring cache entry %s: %r", cached, exc)
        return None
    new = nbformat.read(str(nb_path), as_version=4)
    ran = [c for c in old.cells if c.cell_type == "code"
           and "injected-parameters" not in c.metadata.get("tags", [])]
    if len(ran) != sum(c.cell_type == "code" for c in new.cells):
        return None
    injected = next((c for c in old.cells if "injected-parameters" in c.metadata.get("tags", [])), None)
    cells, it = [], iter(ran)
    for cell in new.cells:
        if cell.cell_type == "code":
            done = next(it)
            if done.source != cell.source:
                return None
            cell = done
        cells.append(cell)
        if injected is not None and "parameters" in cell.metadata.get("tags", []):
            cells.append(injected)
    old.cells = cells
    os.utime(cached)  # most recently used
    nbformat.write(old, str(executed))
    return old


def store_execution(out: Path, code_key: str, executed: Path) -> None:
    """Keep the executed notebook for the next build (never fails the build)."""
    try:
        folder = out / CACHE_FOLDER
        folder.mkdir(exist_ok=True)
        copy_atomic(executed, folder / f"exec-{code_key}.ipynb")
        entries = sorted(folder.glob("exec-*.ipynb"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as exc:  # a cache that cannot be written only costs time next build
        _log.info("cannot store the execution in %s: %s", out / CACHE_FOLDER, exc)


def cached_result(ctx: Any) -> BuildResult | None:
    """The last build's result if this build (a :class:`~coalition_report.render.context.BuildContext`)
    has nothing to do: same cache key, outputs intact.

    Cheap (no kernel, no pandas): the build command asks it first, so an unchanged rebuild
    neither loads nor validates the data (its hash equals that of the last, validated build).
    """
    manifest = read_manifest(ctx.manifest_path)
    if manifest is None or manifest.get("cache_key") != ctx.cache_key:
        return None
    outputs = intact_outputs(ctx.out, manifest)
    if outputs is None:
        return None
    snap = manifest.get("snapshot") or {}
    snapshot = ctx.out / snap["file"] if isinstance(snap, dict) and snap.get("file") else None
    report = manifest.get("report") or {}
    return BuildResult(ctx.notebook, ctx.values, ctx.out, outputs, ctx.manifest_path, {}, ctx.data_hash,
                       report.get("title", ""), report.get("as_of"), list(manifest.get("warnings") or []),
                       snapshot, "unchanged")
