"""Content hashes: of a file, of a folder, of a JSON-able value.

The data hash (:func:`hash_directory` of the data package) names the validated data a build
used; the cache key and the manifest are made of these. No heavy imports: the notebook kernel
and an unchanged rebuild both use it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

__all__ = ["sha256_file", "hash_directory", "digest", "code_hash"]


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_directory(path: str | Path) -> str:
    """One sha256 over a folder: sorted relative POSIX paths, each with its file's sha256.

    Hidden entries (names starting with ``.``) and ``__pycache__`` are skipped; symlinked
    folders are not followed. Renaming, adding, removing or editing any file changes the hash.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            dirnames.remove(name)  # a linked folder counts as an entry (refused by validate)
            filenames.append(name)
        for name in filenames:
            if not name.startswith("."):
                full = Path(dirpath) / name
                files.append((full.relative_to(root).as_posix(), full))
    h = hashlib.sha256()
    for rel, full in sorted(files):
        # a symlink, FIFO or device is never opened (a FIFO would block, /dev/zero never end):
        # hashed by its kind and link text; validate refuses it (validate_files)
        mode = os.lstat(full).st_mode
        digest = sha256_file(full) if stat.S_ISREG(mode) else \
            f"special {stat.S_IFMT(mode):o} {os.readlink(full) if stat.S_ISLNK(mode) else ''}"
        h.update(f"{rel}\0{digest}\n".encode("utf-8"))
    return h.hexdigest()


def digest(obj: Any) -> str:
    """sha256 of a JSON-able value (sorted keys; anything else by its ``str``)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """The package's code (:func:`hash_directory` of ``src/coalition_report``), hashed once per
    process: what this process computes is computed by the code it imported, whatever the files
    say later (and hashing them takes ~6 ms a call). Part of the keys of what the user cache keeps
    per data hash (the validated tables, the build's plan)."""
    from . import config

    return hash_directory(config.PACKAGE_DIR)
