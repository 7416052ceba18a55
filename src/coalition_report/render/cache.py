"""The build cache: an unchanged build does nothing; a Markdown-only edit re-exports.

* :func:`cache_keys` — ``(build key, code key, edition key)`` of a build. The build key covers
  everything an output depends on; the code key leaves out Markdown cells and formats (an
  execution is reusable across Markdown edits); the edition key leaves out what "what changed"
  compares with (a rebuild of the same inputs is the same edition).
* :func:`cached_result` — the last build's result when its key matches and its outputs are intact.
* :func:`cached_execution` / :func:`store_execution` — executed notebooks kept per code key in
  ``<out>/.cache/``.

Integrity. The output folder is not trusted to vouch for itself: a manifest carries a *seal*
(HMAC-SHA256 of its content under a per-user secret kept in the user cache folder, readable by
this user only), and each cached execution a seal file over its code key and bytes. A manifest
or cached execution whose seal does not verify — edited by hand, written by another user, or
sealed under another secret — is never used: the build runs again. Since the manifest lists the
sha256 of every output, snapshot and baseline, an edited HTML, PDF or snapshot is caught even
when its hash in the manifest was edited too. Without a usable secret (e.g. a read-only home)
nothing is sealed and the cache is never used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import stat
from datetime import date
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..files import copy_atomic, user_cache_dir, write_atomic
from ..hashing import digest, sha256_file
from .result import BuildResult

__all__ = ["CACHE_FOLDER", "cache_keys", "read_manifest", "intact_outputs", "cached_result", "cached_execution",
           "store_execution", "seal", "is_sealed", "user_cache_dir", "SEAL_KEY"]

#: Folder (inside the output folder) holding executed notebooks keyed by their code.
CACHE_FOLDER = ".cache"
_CACHE_KEEP = 12  # executed notebooks kept per output folder (newest first)
_log = logging.getLogger(__name__)
#: The manifest field holding its seal.
SEAL_KEY = "seal"
_SECRET_NAME = "cache-secret"
_SECRET: dict[str, bytes] = {}


def _read_secret(path: Path) -> bytes | None:
    """The secret at ``path`` if this user owns it, nobody else can read or write it, 32 bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            return None
        key = fh.read(33)
    return key if len(key) == 32 else None


def _secret() -> bytes | None:
    """The per-user secret seals are made with: created once (0600, linked into place whole, so
    two builds at once agree on it); None when it cannot be had (nothing is sealed or trusted)."""
    folder = user_cache_dir()
    path = folder / _SECRET_NAME
    if str(path) in _SECRET:
        return _SECRET[str(path)]
    key = _read_secret(path)
    if key is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{_SECRET_NAME}.{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(os.urandom(32))
                if path.is_file() and not path.is_symlink() and _read_secret(path) is None:
                    path.unlink()  # unusable (another owner's, readable by others, cut short): replace it
                try:
                    os.link(tmp, path)  # fails if another build made one first: use theirs
                except FileExistsError:
                    pass
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            _log.info("no cache secret in %s: %s (the build cache is not used)", folder, exc)
            return None
        key = _read_secret(path)
    if key is not None:
        _SECRET[str(path)] = key
    return key


def seal(value: Any) -> str | None:
    """HMAC-SHA256 of a JSON-able value (a manifest without its seal) under the user's secret."""
    key = _secret()
    if key is None:
        return None
    return hmac.new(key, json.dumps(value, sort_keys=True, default=str).encode("utf-8"), hashlib.sha256).hexdigest()


def is_sealed(manifest: Mapping[str, Any]) -> bool:
    """True when ``manifest`` carries a seal made by this user's secret over its content."""
    mark = manifest.get(SEAL_KEY)
    expected = seal({k: v for k, v in manifest.items() if k != SEAL_KEY})
    return isinstance(mark, str) and expected is not None and hmac.compare_digest(mark, expected)


def cache_keys(notebook: str, nb_path: Path, values: Mapping[str, Any], data_hash: str | None,
               formats: Sequence[str], stem: str, *, package_hash: str,
               lib_versions: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(build key, code key, edition key)`` of a build.

    The build key covers the notebook file, the package code, the library versions, the
    parameters (with the *content* of a ``compare_to`` file), the data, the formats and file
    name, ``SOURCE_DATE_EPOCH`` (the only time written into the outputs), and today's date when
    ``as_of`` is empty (the default as-of date is never later than today). The notebook is read
    as plain JSON, not nbformat: an unchanged rebuild should not pay for importing it.
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
    # SOURCE_DATE_EPOCH is written into the HTML, the PDF and the manifest (not the execution).
    build_key = digest({**common, "code_key": code_key, "notebook_sha256": nb_sha,
                        "formats": sorted(formats), "stem": stem,
                        "source_date_epoch": os.environ.get("SOURCE_DATE_EPOCH", "").strip()})
    edition = {**common, "params": {k: v for k, v in params.items() if k != "compare_to"}}
    edition_key = digest({**edition, "code": code, "notebook_sha256": nb_sha, "stem": stem})
    return build_key, code_key, edition_key


def read_manifest(path: Path, *, sealed: bool = False) -> dict[str, Any] | None:
    """The manifest at ``path`` as a dict, or None when missing, unreadable, too large or too
    deeply nested (see :mod:`coalition_report.boundedjson`); with ``sealed=True`` also None
    when its seal does not verify."""
    from ..boundedjson import JSONLimitError, read_bounded

    try:
        manifest = read_bounded(path, max_bytes=8 * 1024 * 1024)
    except (OSError, JSONLimitError):
        return None
    if not isinstance(manifest, dict):
        return None
    if sealed and not is_sealed(manifest):
        _log.info("not using %s: its seal does not verify (edited, or made by someone else)", path)
        return None
    return manifest


def _intact(out: Path, entry: Any) -> Path | None:
    """The file a manifest entry ``{file, bytes, sha256}`` names, when it is there unchanged."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return None
    f = out / Path(entry["file"]).name
    try:
        if f.is_symlink() or not f.is_file() or f.stat().st_size != entry.get("bytes") \
                or sha256_file(f) != entry.get("sha256"):
            return None
    except OSError:
        return None
    return f


def intact_outputs(out: Path, manifest: Mapping[str, Any]) -> dict[str, Path] | None:
    """The outputs a manifest lists, by format, when every one is there unchanged, and so are
    the snapshot and baseline it names; else None."""
    outputs = {}
    entries = manifest.get("outputs")
    if not isinstance(entries, list):
        return None
    for entry in entries:
        f = _intact(out, entry)
        if f is None:
            return None  # an output was edited or removed: rebuild
        outputs[str(entry.get("format"))] = f
    for extra in ("snapshot", "baseline"):
        if manifest.get(extra) is not None and _intact(out, manifest[extra]) is None:
            return None  # the next edition would compare with an edited file: rebuild
    return outputs


def _read_small(path: Path, limit: int = 256) -> str:
    """A short text file's content; "" for a link, FIFO, device or anything longer than ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return ""
        raw = fh.read(limit + 1)
    return raw.decode("ascii", "replace").strip() if len(raw) <= limit else ""


def _exec_seal(code_key: str, sha256: str) -> str | None:
    return seal({"execution": code_key, "sha256": sha256})


def cached_execution(out: Path, code_key: str, nb_path: Path, executed: Path, *,
                     canonical: bool = True) -> Any | None:
    """The cached executed notebook for ``code_key`` with the current Markdown cells, or None.

    Code cells are identical by construction of the key; their outputs are copied in order onto
    the current notebook, papermill's injected-parameters cell is kept where it was. The result
    is also written to ``executed``: in nbformat's own layout when ``canonical`` (it is published
    as the ``ipynb`` output), else as compact JSON, which only this build and the cache read
    (nbformat's indented writer, with its copy and validation, took ~0.4 s of a Markdown edit).
    """
    import nbformat

    cached = out / CACHE_FOLDER / f"exec-{code_key}.ipynb"
    if cached.is_symlink() or not cached.is_file():
        return None
    try:  # only an execution this user's build stored, byte for byte: else execute again
        mark = _read_small(out / CACHE_FOLDER / f"exec-{code_key}.seal")
        expected = _exec_seal(code_key, sha256_file(cached))
        if expected is None or not hmac.compare_digest(mark, expected):
            _log.info("ignoring cache entry %s: its seal does not verify", cached)
            return None
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
    if canonical:
        nbformat.write(old, str(executed))
    else:
        executed.write_text(json.dumps(old, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return old


def store_execution(out: Path, code_key: str, executed: Path) -> None:
    """Keep the executed notebook for the next build (never fails the build)."""
    try:
        folder = out / CACHE_FOLDER
        folder.mkdir(exist_ok=True)
        mark = _exec_seal(code_key, sha256_file(executed))
        if mark is None:
            return  # nothing to vouch for it with: not kept
        copy_atomic(executed, folder / f"exec-{code_key}.ipynb")
        write_atomic(folder / f"exec-{code_key}.seal", mark + "\n")
        entries = sorted(folder.glob("exec-*.ipynb"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".seal").unlink(missing_ok=True)
    except OSError as exc:  # a cache that cannot be written only costs time next build
        _log.info("cannot store the execution in %s: %s", out / CACHE_FOLDER, exc)


def cached_result(ctx: Any) -> BuildResult | None:
    """The last build's result if this build (a :class:`~coalition_report.render.context.BuildContext`)
    has nothing to do: same cache key, outputs intact.

    Cheap (no kernel, no pandas): the build command asks it first, so an unchanged rebuild
    neither loads nor validates the data (its hash equals that of the last, validated build).
    """
    manifest = read_manifest(ctx.manifest_path, sealed=True)
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
