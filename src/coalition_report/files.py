"""One way to replace a file: write beside it, then ``os.replace`` (atomic on one file system).

A reader (a parallel build, a browser reloading ``index.html``, the next build reading a cache
entry) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

__all__ = ["write_atomic", "copy_atomic", "keep_private", "read_private", "used_private", "user_cache_dir",
           "SMALL_KEEP"]


#: Small cache entries of one kind kept (parameter declarations, build plans: ~1 KB each).
SMALL_KEEP = 256


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


def user_cache_dir() -> Path:
    """This user's cache folder (``$COALITION_CACHE_DIR``, else ``$XDG_CACHE_HOME/coalition-report``)."""
    return Path(os.environ.get("COALITION_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "coalition-report"))


def keep_private(path: str | Path, data: str | bytes, *, keep: int | None = None,
                 max_bytes: int | None = None) -> bool:
    """Store ``data`` at ``path`` in this user's cache (folders made, written atomically); False
    when it cannot be stored (a read-only or full home): the caller works it out again next time.
    What it stores is read back with :func:`read_private`.

    ``keep`` bounds a kind of entry: the files in ``path``'s folder whose names share its prefix
    (up to the first ``-``, if any) and suffix. Past ``keep`` of them, or past ``max_bytes`` in all, the
    least recently used go (newest modification first; :func:`used_private` marks a hit), never
    the one just stored. Without a bound the cache grew with every data edit and code change:
    a working copy's cache held ~6,000 validated datasets (414 MB) after two days."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        logging.getLogger(__name__).info("not kept in the cache: %s: %s", path, exc)
        return False
    if keep is not None:
        _prune(path, keep, max_bytes)
    return True


def used_private(path: str | Path) -> None:
    """Mark the cache entry at ``path`` as just used, so that :func:`keep_private` removes it last."""
    try:
        os.utime(path)
    except OSError:
        pass  # gone or not ours: nothing to keep


def _prune(path: Path, keep: int, max_bytes: int | None) -> None:
    head, dash, _ = path.name.partition("-")
    prefix, suffix = (head + dash if dash else ""), path.suffix  # "validated-", ".pickle"; "", ".svg"
    entries = []
    try:
        with os.scandir(path.parent) as it:
            for e in it:
                if e.name.startswith(prefix) and e.name.endswith(suffix) and e.name != path.name:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed by another build meanwhile
                    entries.append((st.st_mtime_ns, st.st_size, e.path))
    except OSError:
        return
    entries.sort(reverse=True)  # most recently used first
    try:
        total = path.stat().st_size
    except OSError:  # removed meanwhile by another build's prune: count nothing for it
        total = 0
    for n, (_, size, name) in enumerate(entries, start=1):  # the stored entry is number 0
        total += size
        if n >= keep or (max_bytes is not None and total > max_bytes):
            try:
                os.unlink(name)
            except OSError:
                continue  # another build removed it first


def read_private(path: str | Path) -> bytes | None:
    """The bytes of ``path`` if this user owns it and nobody else can write it, else None (also
    when it is missing). For caches whose content the build trusts as it trusts its own code."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)
