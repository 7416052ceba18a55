"""Scratch folders, the per-report output lock, the output folder, and debris of killed builds.

* :class:`Scratch` — a private temporary folder (mode 0700) its build holds a ``flock`` on;
  :func:`sweep` removes the folders of builds that died (SIGKILL, power cut, OOM).
* :class:`OutputLock` — one build at a time per report in an output folder.
* :func:`output_folder` — ``--out`` made absolute and created, or one line saying why not.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import BuildError, ParameterError

__all__ = ["Scratch", "sweep", "OutputLock", "output_folder", "check_outside_data", "output_problem",
           "output_problem_text", "drop_empty", "LOCK_NAME"]

LOCK_NAME = ".lock"
#: A scratch folder without a lock file is left alone until it is this old: it may be one that
#: another build is creating this instant, or one from a version that did not lock its folders.
_UNLOCKED_STALE_S = 3600


def short_temp_parent() -> Path:
    """Where a folder for Unix sockets goes: ``/tmp`` when writable (a socket path is limited to
    ~107 bytes, and TMPDIR may be long: a test's, a CI runner's), else the temporary folder."""
    return Path("/tmp") if os.access("/tmp", os.W_OK) else Path(tempfile.gettempdir())


class Scratch:
    """A private temporary folder (mode 0700) that the build using it holds a lock on.

    The lock (``flock`` on ``.lock`` inside the folder) is released by the operating system when
    the process ends, however it ends, so :func:`sweep` tells the folder of a killed build from
    the folder of a running one without trusting process ids, which get reused.
    """

    def __init__(self, prefix: str, parent: str | Path | None = None):
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        try:
            fresh = self.path / (LOCK_NAME + ".new")
            self._fh = open(fresh, "w", encoding="ascii")
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Locked before it gets its name: a sweeper never sees an unlocked lock file.
            os.rename(fresh, self.path / LOCK_NAME)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._fh.close()


def sweep(parent: Path, prefix: str) -> None:
    """Remove ``parent/<prefix>*`` folders left by builds that died (SIGKILL, power cut, OOM).

    A folder is removed when nobody holds its lock (see :class:`Scratch`), or when it has no
    lock file and is older than an hour; only folders of this user are touched.
    """
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(prefix)]
    except OSError:
        return  # the parent folder cannot be listed: nothing of ours to sweep there
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or st.st_uid != os.getuid():
                continue
            try:
                fh = open(os.path.join(entry.path, LOCK_NAME), "rb")
            except FileNotFoundError:
                if time.time() - st.st_mtime > _UNLOCKED_STALE_S:
                    shutil.rmtree(entry.path, ignore_errors=True)
                continue
            with fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # its build is running
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue  # gone meanwhile, or not ours to read: the next sweep looks again


class OutputLock:
    """One build at a time per report in an output folder: ``out/.<stem>.lock`` (flock).

    Two builds of the same report into the same folder would interleave their files (one's
    HTML beside the other's manifest); the second one refuses instead, naming the first one's
    process id. Different reports (the brief, each country profile) build side by side.
    """

    def __init__(self, notebook: str, out: Path, stem: str):
        self.path = out / f".{stem}.lock"
        for _ in range(10):
            fh = open(self.path, "a+", encoding="ascii")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "?"
                fh.close()
                raise BuildError(notebook, None,
                                 f"another build (pid {holder}) is writing {stem} into {out}; "
                                 "wait for it to finish or build into another folder", None) from None
            # The holder removes the file when done: make sure the file locked is the one there.
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            fh.close()
        else:
            raise BuildError(notebook, None, f"could not lock {self.path}", None)
        self._fh = fh
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()

    def release(self) -> None:
        try:
            os.unlink(self.path)  # before unlocking: a waiting build re-checks the path
        except FileNotFoundError:
            pass
        self._fh.close()

    @staticmethod
    def sweep(out: Path) -> None:
        """Remove lock files nobody holds (their build was killed). Safe against a build that
        is taking one right now: it checks that the file it locked is still the one there."""
        for path in out.glob(".*.lock"):
            try:
                with open(path, "rb") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    if os.path.samestat(os.fstat(fh.fileno()), os.stat(path)):
                        os.unlink(path)
            except OSError:
                continue  # held (its build runs) or already gone


#: errno values that mean "this place cannot be used as an output folder" (exit 2), as
#: opposed to running out of room while writing (exit 1).
_BAD_PLACE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.ELOOP,
              errno.ENAMETOOLONG, errno.ENOENT}


def output_problem_text(out: Path | str, exc: BaseException, doing: str) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    name = getattr(exc, "filename", None)
    where = f" ({name})" if name and str(name) != str(out) else ""
    return f"{doing} {out}: {reason}{where}"


def output_problem(notebook: str, out: Path | str, exc: BaseException,
                   doing: str = "cannot write to the output folder") -> Exception:
    """A one-line error naming the output folder (and the file, when the OS says which)."""
    text = output_problem_text(out, exc, doing)
    if isinstance(exc, OSError) and exc.errno in _BAD_PLACE or isinstance(exc, RuntimeError):
        err = ParameterError("out_dir", str(out), text)
        err.notebook, err.rule, err.allowed = notebook, "a writable folder", None
        return err
    return BuildError(notebook, None, text, None)


def output_folder(notebook: str, out_dir: str | Path) -> Path:
    """``out_dir`` made absolute and created; a file, a symlink loop or a folder that cannot be
    created is a :class:`ParameterError` naming it."""
    raw = Path(out_dir).expanduser()
    try:
        out = raw.resolve()
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "not writable")
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Path.resolve)
        raise output_problem(notebook, raw, exc, "cannot use") from None
    return out


def check_outside_data(notebook: str, out_dir: str | Path, data_dir: str | Path) -> None:
    """Refuse an output folder that is the data folder or inside it (symlinks resolved): the
    outputs and ``.cache`` would land in the data package and change its hash."""
    try:
        out, data = Path(out_dir).expanduser().resolve(), Path(data_dir).expanduser().resolve()
    except (OSError, RuntimeError):
        return  # a path that cannot be resolved is refused with its own message by output_folder
    if out == data or data in out.parents:
        where = f"is the data folder {data}" if out == data else f"is inside the data folder {data}"
        err = ParameterError("out_dir", str(out_dir), f"{where}: outputs would change the data package "
                                                      "(choose an output folder outside it)")
        err.notebook, err.rule, err.allowed = notebook, "a folder outside the data folder", None
        raise err


def drop_empty(folder: Path) -> None:
    """Remove ``folder`` if it is empty (and leave it otherwise)."""
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty, or already gone: both fine
