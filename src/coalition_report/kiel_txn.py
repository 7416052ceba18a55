"""Replace a data package as one transaction: the whole folder changes at once or not at all.

Used by ``coalition-report import-kiel`` (:func:`coalition_report.kiel_import.import_source`).
For a data folder ``D`` (symlinks resolved), everything happens beside it, never inside it:

``.D.import-kiel.lock``
    ``flock``-ed for the whole import: a second import into the same folder is refused at once
    (like a second build of one report), never queued and never interleaved.
``.D.import-kiel/new/``
    The staged package: a copy of ``D`` (regular files and folders only: a symlink, FIFO, socket
    or device in ``D`` stops the import before anything is read from it), with the new files
    written into it. It is validated as a whole before anything is switched.
``.D.import-kiel/JOURNAL``
    Written (atomically) once the staged package is valid: from then on the import is decided.
    The switch is two renames, ``D`` -> ``.D.import-kiel/old`` and ``new`` -> ``D``, then every
    extra output (``--report``), staged beside its target, is renamed into place.

A failure or a signal at any point rolls back (nothing was switched yet) or forward (the old
folder was already moved away) in the same run; a crash (``kill -9``, power loss) is finished by
the next import into the folder, which recovers under the lock before doing anything else:
without a journal the staging folder is removed and ``D`` is the old package; with one, the
switch is completed. Either way ``D`` is the old package or the new one, never a mix.
``tests/test_kiel_transaction.py`` injects a failure before every file operation to prove it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from .errors import CoalitionReportError

__all__ = ["ImportTransaction", "TransactionError", "printable", "recover"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` with control characters (ESC, NUL, line breaks, bidi overrides) as escapes.

    Names of files and sheets, and cells, go through this before they reach a message: an
    escape sequence in a workbook's file name must not reach the terminal raw.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", str(text))


class TransactionError(CoalitionReportError):
    """The data folder or an output path cannot be used; nothing was changed. One line."""


def _paths(data_dir: Path) -> tuple[Path, Path, Path]:
    real = Path(os.path.realpath(data_dir))
    work = real.parent / f".{real.name}.import-kiel"
    lock = real.parent / f".{real.name}.import-kiel.lock"
    return real, work, lock


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _fsync_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_json_atomic(path: Path, obj: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    _fsync_write(tmp, json.dumps(obj).encode("utf-8"))
    os.replace(tmp, path)


def _remove_tree(path: Path) -> None:
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def recover(data_dir: Path) -> str | None:
    """Finish or undo an import into ``data_dir`` that was cut short; the caller holds the lock.

    Returns what was done (for the summary), or ``None`` when there was nothing to do.
    """
    real, work, _ = _paths(data_dir)
    if not os.path.lexists(work):
        return None
    journal = work / "JOURNAL"
    new, old = work / "new", work / "old"
    extras = []
    for name in ("JOURNAL", "OUTPUTS"):
        try:
            extras = json.loads((work / name).read_text(encoding="utf-8")).get("outputs", [])
            break
        except (OSError, ValueError, AttributeError):
            continue
    if not journal.is_file():
        finished = os.path.lexists(old) and not os.path.lexists(new)
        # staging never finished (the data folder was not touched), or only the clean-up did not
        for tmp, _target in extras:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        _remove_tree(work)
        if finished:
            return f"removed what a finished import left behind ({printable(work)})"
        return f"removed the staging folder of an unfinished import ({printable(work)}); " \
               f"{printable(real)} is unchanged"
    if os.path.lexists(real) and os.path.isdir(new):
        # decided but not switched: roll back (the new package is simply dropped)
        for tmp, _target in extras:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        _remove_tree(work)
        return f"rolled back an import that stopped before switching; {printable(real)} is unchanged"
    if not os.path.lexists(real):
        if os.path.isdir(new):
            os.rename(new, real)  # roll forward: the staged package was validated
        elif os.path.isdir(old):
            os.rename(old, real)  # cannot happen in order, but never leave no package
    done = []
    for tmp, target in extras:
        if os.path.lexists(tmp):
            os.replace(tmp, target)
            done.append(target)
    os.unlink(journal)
    _remove_tree(work)
    return f"completed an import that was cut short while switching: {printable(real)} is the " \
           f"new package" + (f"; wrote {', '.join(printable(t) for t in done)}" if done else "")


class ImportTransaction:
    """Stage, validate and switch a data package (see the module docstring).

    Parameters
    ----------
    data_dir : pathlib.Path
        The data folder to replace. It must exist (after recovery of an interrupted import).

    Use as a context manager (it holds the lock), then :meth:`commit`.
    """

    def __init__(self, data_dir: Path):
        self.given = Path(data_dir)
        self.data, self.work, self.lock_path = _paths(self.given)
        self.recovered: str | None = None
        self._fh = None

    # -- lock ---------------------------------------------------------------------------------

    def __enter__(self) -> "ImportTransaction":
        parent = self.data.parent
        if not parent.is_dir():
            raise TransactionError(f"{printable(self.given)}: no such data folder (its parent "
                                   f"{printable(parent)} does not exist either)")
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise TransactionError(
                    f"{printable(self.given)}: cannot import here: the lock {printable(self.lock_path)} "
                    f"beside the data folder cannot be created ({exc.strerror or exc}); "
                    f"import-kiel stages the new package beside the data folder") from None
            fh = os.fdopen(fd, "r+b")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise TransactionError(
                    f"{printable(self.given)}: another import-kiel into this data folder is running "
                    f"(lock {printable(self.lock_path)}); wait for it to finish") from None
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(self.lock_path))
            except FileNotFoundError:
                same = False
            if same:  # the holder before us removed the file just as we opened it: try again
                break
            fh.close()
        self._fh = fh
        try:
            self.recovered = recover(self.given)
            if not self.data.is_dir():
                raise TransactionError(
                    f"{printable(self.given)}: no such data folder; import-kiel replaces the tables of "
                    f"an existing data package (default data/, or pass --data DIR)")
            for _ in self._entries(self.data):  # a link, FIFO or device: refused before any read
                pass
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            try:
                os.unlink(self.lock_path)  # before unlocking: a waiting import re-checks the path
            except OSError:
                pass  # a stale lock file is harmless: flock, not the file, is the lock
            finally:
                self._fh.close()
                self._fh = None

    # -- checks -------------------------------------------------------------------------------

    def check_output(self, target: Path, what: str = "--report") -> Path:
        """``target`` as an absolute path, refused unless it is a new or regular file outside
        the data folder and its staging area, in a folder that exists or can be made."""
        target = Path(target)
        shown = printable(target)
        if target.name in ("", ".", ".."):
            raise TransactionError(f"{what} {shown}: names a folder; expected a file")
        full = Path(os.path.realpath(target))
        for inside, label in ((self.data, "the data package"), (self.work, "import-kiel's staging folder")):
            if full == inside or full.is_relative_to(inside):
                raise TransactionError(f"{what} {shown}: inside {label} ({printable(inside)}); "
                                       f"the report may not replace a file of the package")
        if os.path.lexists(full):
            mode = os.stat(full).st_mode
            if not stat.S_ISREG(mode):
                raise TransactionError(f"{what} {shown}: {_kind(mode)}, not a regular file; "
                                       f"expected a file to write")
        parent = full.parent
        probe = parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise TransactionError(f"{what} {shown}: {printable(probe)} is not a folder")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise TransactionError(f"{what} {shown}: folder {printable(probe)} is not writable")
        return full

    # -- the transaction ----------------------------------------------------------------------

    def _entries(self, folder: Path):
        """``(path, mode)`` of everything under ``folder``, parents first, links not followed;
        the first entry that is not a folder or a regular file stops it (nothing is opened)."""
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            mode = e.stat(follow_symlinks=False).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                extra = f" to {printable(os.readlink(e.path))}" if stat.S_ISLNK(mode) else ""
                rel = Path(e.path).relative_to(self.data)
                raise TransactionError(
                    f"{printable(self.given / rel)}: {_kind(mode)}{extra} in the data folder; the data "
                    f"package holds regular files only (validate reports it too): remove it, nothing "
                    f"was changed")
            yield Path(e.path), mode
            if stat.S_ISDIR(mode):
                yield from self._entries(Path(e.path))

    def _stage_copy(self, dst: Path) -> None:
        """Copy the data folder to ``dst``: folders and regular files only, never following a
        link and never opening a FIFO or device (a stray ``/dev/zero`` link is read forever)."""
        os.mkdir(dst)
        shutil.copymode(self.data, dst)  # the switched-in folder keeps the old one's permissions
        for path, mode in self._entries(self.data):
            target = dst / path.relative_to(self.data)
            if stat.S_ISDIR(mode):
                os.mkdir(target)
                shutil.copymode(path, target)
            else:
                shutil.copy2(path, target, follow_symlinks=False)

    def commit(self, files: dict[str, bytes], validate: Callable[[Path], None],
               outputs: dict[Path, bytes] | None = None) -> None:
        """Stage the package with ``files`` (path relative to the package -> bytes), run
        ``validate(staged_folder)`` (raise to refuse), then switch and write ``outputs``
        (checked paths from :meth:`check_output` -> bytes). All or nothing."""
        outputs = dict(outputs or {})
        temps = [(str(t.with_name(f".{t.name}.import-kiel.tmp")), str(t)) for t in outputs]
        work, new, old = self.work, self.work / "new", self.work / "old"
        try:
            os.mkdir(work, 0o700)
            _write_json_atomic(work / "OUTPUTS", {"outputs": temps})
            self._stage_copy(new)
            for rel, data in files.items():
                target = new / rel
                for parent in reversed(target.relative_to(new).parents[:-1]):
                    if not (new / parent).is_dir():
                        os.mkdir(new / parent)
                mode = 0o644
                if os.path.lexists(target):
                    mode = os.stat(target).st_mode & 0o777
                    os.unlink(target)
                _fsync_write(target, data, mode)
            validate(new)
            for (tmp, target), data in zip(temps, outputs.values()):
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                _fsync_write(Path(tmp), data)  # a full disk (/dev/full-like) fails here, not later
            # decided: from here on a crash is completed by the next run (see recover)
            _write_json_atomic(work / "JOURNAL", {"data": str(self.data), "outputs": temps})
            os.rename(self.data, old)
            os.rename(new, self.data)
            for tmp, target in temps:
                os.replace(tmp, target)
            os.unlink(work / "JOURNAL")
            _remove_tree(work)
        except BaseException:
            try:
                recover(self.given)
            except BaseException as again:  # noqa: BLE001 - leave it for the next run, say so
                raise TransactionError(
                    f"{printable(self.given)}: the import failed and could not be undone now "
                    f"({type(again).__name__}: {again}); the next coalition-report import-kiel into "
                    f"this folder completes or rolls it back") from None
            raise
