"""One way to replace a file: write beside it, then ``os.replace`` (atomic on one file system).

A reader (a parallel build, a browser reloading ``index.html``, the next build reading a cache
entry) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["write_atomic", "copy_atomic"]


def _tmp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def write_atomic(target: str | Path, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text or bytes) to ``target`` atomically; returns ``target``."""
    target = Path(target)
    tmp = _tmp_name(target)
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def copy_atomic(source: str | Path, target: str | Path) -> Path:
    """Copy ``source`` to ``target`` atomically; returns ``target``."""
    target = Path(target)
    tmp = _tmp_name(target)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
