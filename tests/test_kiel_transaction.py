"""A Kiel import is a transaction (issue 17, item 1): the data folder is the old package or the
new one, never a mix, whatever fails, whenever the process dies; outputs are checked before
anything is replaced; one import per folder at a time; nothing but regular files is copied.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from coalition_report import kiel_txn
from coalition_report.cli import main
from conftest import make_special
from coalition_report.data import validate_data
from coalition_report.kiel_txn import ImportTransaction, TransactionError
from coalition_report.kiel_workbook import import_workbook
from test_kiel_workbook import TODAY, good, pkg, snapshot  # noqa: F401


class Crash(BaseException):
    """The process dies here (not an Exception: nothing may catch it as an ordinary error)."""


#: The file operations of an import, as the transaction calls them (module attributes, so a
#: patch sees every call).
OPERATIONS = [(os, "rename"), (os, "replace"), (os, "unlink"), (os, "mkdir"), (os, "open"),
              (shutil, "copy2"), (shutil, "rmtree")]


def patch_operations(monkeypatch, fail_at: int, *, crash: bool) -> list[str]:
    """Count file operations; the ``fail_at``-th raises. With ``crash``, every later one raises
    too (the process is gone: not even the clean-up runs); otherwise only that one fails (a full
    disk, a permission error) and the import's own clean-up runs."""
    calls: list[str] = []
    dead = [False]

    def wrap(mod, name):
        real = getattr(mod, name)

        def op(*args, **kwargs):
            if name == "open" and not (args[1] if len(args) > 1 else kwargs.get("flags", 0)) & (
                    os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                return real(*args, **kwargs)  # reading is not an operation on the package
            if dead[0]:
                raise Crash(f"dead: {name}")
            calls.append(name)
            if len(calls) == fail_at:
                dead[0] = crash
                raise (Crash if crash else OSError)(f"injected failure at {name} #{fail_at}")
            return real(*args, **kwargs)
        monkeypatch.setattr(mod, name, op)

    for mod, name in OPERATIONS:
        wrap(mod, name)
    return calls


@pytest.fixture()
def states(tmp_path, pkg):
    """(workbook, old package snapshot, new package snapshot, number of file operations)."""
    wb = good(tmp_path)
    old = snapshot(pkg)
    probe = Path(shutil.copytree(pkg, tmp_path / "probe"))
    mp = pytest.MonkeyPatch()
    try:
        calls = patch_operations(mp, 0, crash=False)
        import_workbook(wb, probe, today=TODAY)
    finally:
        mp.undo()
    new = snapshot(probe)
    assert new != old and validate_data(probe) == []
    return wb, old, new, len(calls)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.import-kiel"))


@pytest.mark.parametrize("crash", [False, True], ids=["error", "crash"])
def test_a_failure_before_any_file_operation_leaves_old_or_new(tmp_path, pkg, states, crash):
    wb, old, new, n = states
    assert n >= 20  # staging copy, new files, journal, two renames, clean-up
    print(f"{n} file operations")
    seen = set()
    for k in range(1, n + 1):
        folder = Path(shutil.copytree(pkg, tmp_path / f"run{k}"))
        with pytest.MonkeyPatch.context() as mp:
            patch_operations(mp, k, crash=crash)
            try:
                import_workbook(wb, folder, today=TODAY)
            except (Crash, OSError, TransactionError):
                pass  # else the failure fell on removing the lock file, after the switch
        with ImportTransaction(folder):  # what the next import does first: lock, recover
            state = snapshot(folder)
        assert state in (old, new), f"step {k}: a mix of old and new files"
        assert leftovers(folder) == [], f"step {k}"
        seen.add("new" if state == new else "old")
    assert seen == {"old", "new"}  # the failures fell on both sides of the switch


def test_next_import_completes_an_interrupted_switch(tmp_path, pkg, states, capsys):
    wb, old, new, n = states
    # killed right after the first rename of the switch (no rename works after it): no data
    # folder at all until the next import into it completes the switch
    real_rename, moved = os.rename, []

    def rename(src, dst):
        if moved:
            raise Crash("dead")
        real_rename(src, dst)
        if Path(dst).name == "old":
            moved.append(dst)
            raise Crash("killed between the two renames")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "rename", rename)
        with pytest.raises(TransactionError, match="the next coalition-report import-kiel"):
            import_workbook(wb, pkg, today=TODAY)
    assert moved and not pkg.exists()
    assert main(["import-kiel", str(wb), "--data", str(pkg)]) == 0
    out = capsys.readouterr().out
    assert "earlier import: completed an import that was cut short while switching" in out
    # the same workbook imported again onto the recovered package: only the report's comparison
    # (now against release 29 itself) differs
    report = "kiel/import-diff-r29.md"
    assert {k: v for k, v in snapshot(pkg).items() if k != report} == {k: v for k, v in new.items() if k != report}
    assert "0 of 2 donors changed" in (pkg / report).read_text(encoding="utf-8")
    assert validate_data(pkg) == [] and leftovers(pkg) == []


def test_report_may_not_name_a_file_of_the_package(tmp_path, pkg, capsys):
    wb = good(tmp_path)
    before = snapshot(pkg)
    for target in (pkg / "aid_totals.csv", pkg / "kiel" / "new.md", pkg, tmp_path / f".{pkg.name}.import-kiel" / "r.md"):
        with pytest.raises(TransactionError, match="inside"):
            import_workbook(wb, pkg, today=TODAY, report=target)
        assert snapshot(pkg) == before
        assert main(["import-kiel", str(wb), "--data", str(pkg), "--report", str(target)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "may not replace a file of the package" in err
    link = tmp_path / "innocent.md"
    link.symlink_to(pkg / "sources.csv")
    with pytest.raises(TransactionError, match="inside the data package"):
        import_workbook(wb, pkg, today=TODAY, report=link)
    assert snapshot(pkg) == before


@pytest.mark.parametrize("target, says", [
    ("/dev/full", "a character device, not a regular file"),
    ("DIR", "a folder, not a regular file"),
    ("RO/report.md", "is not writable"),
])
def test_unusable_report_is_refused_before_anything_changes(tmp_path, pkg, capsys, target, says):
    if target == "/dev/full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    (tmp_path / "DIR").mkdir()
    ro = tmp_path / "RO"
    ro.mkdir()
    ro.chmod(0o500)
    if target.startswith("RO") and os.access(ro, os.W_OK):
        pytest.skip("running as a user who can write to a read-only folder (root)")
    path = Path(target) if target.startswith("/") else tmp_path / target
    wb = good(tmp_path)
    before = snapshot(pkg)
    assert main(["import-kiel", str(wb), "--data", str(pkg), "--report", str(path)]) == 1
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and snapshot(pkg) == before


def test_report_written_with_the_data(tmp_path, pkg, capsys):
    wb = good(tmp_path)
    target = tmp_path / "pr" / "body.md"  # its folder is made
    assert main(["import-kiel", str(wb), "--data", str(pkg), "--report", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == (pkg / "kiel" / "import-diff-r29.md").read_text(encoding="utf-8")
    assert f"difference report also written to {target}" in capsys.readouterr().out
    assert not list(target.parent.glob(".*.tmp"))


def test_data_folder_that_does_not_exist_is_one_line(tmp_path, capsys):
    wb = good(tmp_path)
    for missing in (tmp_path / "nope", tmp_path / "no" / "such" / "folder"):
        assert main(["import-kiel", str(wb), "--data", str(missing)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no such data folder" in err
        assert not missing.exists()


def test_concurrent_imports_refuse(tmp_path, pkg, capsys):
    wb = good(tmp_path)
    before = snapshot(pkg)
    with ImportTransaction(pkg):  # another import holds the folder
        assert main(["import-kiel", str(wb), "--data", str(pkg)]) == 1
        err = capsys.readouterr().err
        assert "another import-kiel into this data folder is running" in err and err.count("\n") == 1
        assert snapshot(pkg) == before
    assert main(["import-kiel", str(wb), "--data", str(pkg)]) == 0  # free again
    assert leftovers(pkg) == []


def test_two_processes_at_once_each_completes_or_refuses(tmp_path, pkg):
    """Two real imports race: each either completes or refuses; the package is valid after."""
    wb = good(tmp_path)
    cmd = [sys.executable, "-m", "coalition_report.cli", "import-kiel", str(wb), "--data", str(pkg)]
    results = []

    def run():
        results.append(subprocess.run(cmd, capture_output=True, text=True, timeout=120))
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr
        assert r.returncode == 0 or "another import-kiel" in r.stderr
    assert any(r.returncode == 0 for r in results)
    assert validate_data(pkg) == [] and leftovers(pkg) == []


@pytest.mark.parametrize("kind", ["dev-zero-link", "fifo", "dir-link"])
def test_specials_in_the_data_folder_are_never_read(tmp_path, pkg, capsys, kind):
    make_special(pkg / "stray", kind, folder=tmp_path)
    before = snapshot(pkg) if kind != "dir-link" else None
    wb = good(tmp_path)
    # a read of /dev/zero or the FIFO would never end: the timeout of the subprocess proves none
    r = subprocess.run([sys.executable, "-m", "coalition_report.cli", "import-kiel", str(wb), "--data", str(pkg)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "stray" in r.stderr and "regular files only" in r.stderr and r.stderr.count("\n") == 1
    if before is not None:
        assert snapshot(pkg) == before
    assert leftovers(pkg) == []


def test_stale_staging_folder_without_journal_is_removed(tmp_path, pkg, states, capsys):
    wb, old, new, n = states
    stale = tmp_path / f".{pkg.name}.import-kiel"
    (stale / "new").mkdir(parents=True)
    (stale / "new" / "aid_totals.csv").write_text("half-written")
    result = import_workbook(wb, pkg, today=TODAY)
    assert "removed the staging folder of an unfinished import" in result.recovered
    assert snapshot(pkg) == new and leftovers(pkg) == []


def test_printable_escapes_controls():
    assert kiel_txn.printable("a\x1b[2Jb\u202ec\n") == "a\\x1b[2Jb\\u202ec\\x0a"
