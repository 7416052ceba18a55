"""The timing-sensitive fault tests (issues 10, 15, 17): a build stopped by SIGINT, SIGTERM or
SIGHUP at each step, by coreutils' ``timeout``, by SIGKILL, or by a second build of the same
report; a batch stopped mid-way. Each must end with one message, the right exit code, the
previous outputs untouched and no debris.

They live in one file so that ``--dist loadfile`` runs them one after another on one xdist
worker (marked ``serial``: never two at once) while the other workers run the rest of the
suite. They tolerate a loaded machine by construction: a signal is sent a fixed time after a
progress line, and a slower build only means the signal lands earlier in the step aimed at or
in a later one, which the assertions accept; never in a step the progress lines show finished.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from coalition_report.render.locks import LOCK_NAME
from conftest import ROOT, default_stop_signals
from test_hostile_build import (PY, assert_consistent, cli, debris, error_lines, kernels, no_traceback,
                                profile_args, report_files, run_and_signal, sha)


@pytest.fixture()
def previous(good_profile, tmp_path) -> tuple[Path, dict[str, str]]:
    out = tmp_path / "out"
    shutil.copytree(good_profile, out)
    return out, report_files(out)


#: The build's steps in order, as interruption messages name them.
_STEPS = ["execute", "prepare", "html", "pdf", "manifest", "publish"]

#: (signal, the progress line to wait for, seconds after it, step named in the message).
#: SIGINT, SIGTERM and SIGHUP take one handler (render/signals.py) and one clean-up path, so
#: each step is stopped by one of them, and SIGINT and SIGTERM each stop an early and a late step
#: (both signals at every step was twice the builds for the same code path).
SIGNAL_CASES = [
    (signal.SIGINT, "[1/5] validate", 0.2, "execute"),   # kernel starting
    (signal.SIGTERM, "[1/5] validate", 1.5, "execute"),  # cells running
    (signal.SIGINT, "[2/5] execute", 0.35, "html"),  # after ~0.15 s of preparing the export
    # the print started before the HTML page and may need only a few tenths after it: at once
    (signal.SIGTERM, "[3/5] html", 0.02, "pdf"),
    (signal.SIGHUP, "[1/5] validate", 1.0, "execute"),   # the terminal was closed
]


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.parametrize("sig,after,delay,step", SIGNAL_CASES,
                         ids=[f"{s.name}-{st}-{d}" for s, _, d, st in SIGNAL_CASES])
def test_signal_stops_cleanly_at_each_step(previous, tmp_path, sig, after, delay, step):
    out, before = previous
    tmp = tmp_path / "tmp"
    code, stderr = run_and_signal(profile_args(out), tmpdir=tmp, after=after, sig=sig, delay=delay)
    assert code == 128 + sig, stderr[-2000:]
    no_traceback(stderr)
    [line] = error_lines(stderr)
    m = re.fullmatch(rf"error: country_profile: interrupted by {sig.name} during (\w+): nothing published, the "
                     rf"previous country-FRA outputs in {re.escape(str(out.resolve()))} are untouched and "
                     r"temporary files removed", line)
    assert m, line
    # The step named is the one that was running: the one aimed at, or (on a machine faster than
    # the delay assumes) a later one; never a step the progress lines show as finished.
    named = m.group(1)
    assert _STEPS.index(named) >= _STEPS.index(step), line
    assert not re.search(rf"✓ \[\d/\d\] {named}\b", stderr), stderr[-2000:]
    assert stderr.count("interrupted") == 1  # said once
    assert report_files(out) == before
    assert debris(out, tmp) == []


@pytest.mark.slow
@pytest.mark.serial
def test_signal_tests_pass_from_a_shell_that_ignores_sigint_and_sighup(previous, tmp_path):
    """Started as `nohup make test &` or `(trap '' INT HUP; make test)` would: this process
    ignores SIGINT and SIGHUP, its children inherit that; run_and_signal resets them, so the
    build is interrupted as from a terminal (issue 15: 1 to 5 signal tests failed that way)."""
    out, before = previous
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGHUP)}
    try:
        for sig in (signal.SIGINT, signal.SIGHUP):
            code, stderr = run_and_signal(profile_args(out), tmpdir=tmp_path / f"tmp-{sig.name}",
                                          after="[1/5] validate", sig=sig, delay=0.5)
            assert code == 128 + sig, stderr[-2000:]
            assert f"interrupted by {sig.name}" in stderr
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    assert report_files(out) == before


@pytest.mark.slow
@pytest.mark.serial
def test_coreutils_timeout_stops_cleanly(previous, tmp_path):
    """`timeout 3 coalition-report build ...`: coreutils' timeout sends SIGTERM to the build and
    to its process group, and exits 124.

    Its clock is made to run out once the build has started (SIGALRM to timeout: the alarm that
    ends its wait), not after a fixed 3 s: on a loaded machine a fixed time once ran out while the
    interpreter was still starting, before any handler existed, and the build died silently (CI)."""
    out, before = previous
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(["timeout", "-s", "TERM", "600", PY, "-m", "coalition_report.cli", *profile_args(out)],
                            cwd=ROOT, env=dict(os.environ, TMPDIR=str(tmp)), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=default_stop_signals)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "[1/5] validate" in line:
                break
        time.sleep(0.5)  # into execute
        os.kill(proc.pid, signal.SIGALRM)  # timeout's time is up
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = "".join(seen) + rest
    assert proc.returncode == 124, stderr[-2000:]  # timeout's own code for "timed out"
    no_traceback(stderr)
    [line] = error_lines(stderr)
    assert line.startswith("error: ") and "interrupted by SIGTERM" in line
    assert report_files(out) == before
    assert debris(out, tmp) == []


@pytest.mark.slow
@pytest.mark.serial
def test_sigkill_debris_is_removed_by_the_next_build(previous, tmp_path, monkeypatch):
    """SIGKILL cannot be caught: the build leaves its scratch folder, lock and kernel folder.
    Its kernel exits by itself (its parent is gone); the next build removes the rest."""
    from coalition_report import render

    out, before = previous
    tmp = tmp_path / "tmp"
    # Killed as soon as the kernel's folder holds its lock (execute has begun), not a fixed time
    # after the validate line: under load papermill's import alone once took longer than that.
    # Not before the lock: a folder killed between its creation and its lock is, by design, left
    # for an hour (a sweeper cannot tell it from one being made; see locks.sweep).
    code, _ = run_and_signal(profile_args(out), tmpdir=tmp, after="[1/5] validate", sig=signal.SIGKILL,
                             ready=lambda: any(tmp.glob(f"cr-kernel-*/{LOCK_NAME}")))
    assert code == -signal.SIGKILL
    left = debris(out, tmp)
    assert any(x.startswith("out/.build-") for x in left) and any(x.startswith("TMPDIR/cr-kernel-") for x in left)
    deadline = time.time() + 30
    while kernels(tmp) and time.time() < deadline:
        time.sleep(0.5)
    assert kernels(tmp) == []
    assert report_files(out) == before
    # The next build (any report into that folder) cleans up after the dead one.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    spec = render.NotebookSpec("fixture_report", (render.Param("as_of", str, ""),),
                               path=ROOT / "tests" / "notebooks" / "fixture_report.ipynb")
    render.render_report(spec, {"as_of": "2025-06-30"}, out_dir=out, formats=("html",), progress=False,
                         basename="other", manifest_name="other.manifest.json")
    assert debris(out, tmp) == []
    assert {k: v for k, v in report_files(out).items() if not k.startswith("other")} == before

@pytest.mark.slow
@pytest.mark.serial
def test_two_builds_of_one_report_into_one_folder(previous, tmp_path):
    """The second refuses at once, naming the first; the first finishes; outputs consistent."""
    out, _ = previous
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    first = subprocess.Popen([PY, "-m", "coalition_report.cli", *profile_args(out, fmt="html")], cwd=ROOT,
                             env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in first.stderr:
        if "[1/5] validate" in line:
            break
    second = cli(*profile_args(out, fmt="html"), tmpdir=tmp, timeout=120)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 1
    no_traceback(second.stderr)
    [line] = error_lines(second.stderr)
    assert line == (f"error: country_profile: build failed: another build (pid {first.pid}) is writing "
                    f"country-FRA into {out.resolve()}; wait for it to finish or build into another folder")
    assert_consistent(out, "country-FRA")
    assert debris(out, tmp) == []


def _links(index: Path) -> list[str]:
    return [unquote(h) for h in re.findall(r'href="([^"]+)"', index.read_text())]


@pytest.fixture(scope="module")
def first_member() -> str:
    from coalition_report.build import coalition_countries
    from coalition_report.data import load_data

    return coalition_countries(load_data(ROOT / "data"))[0]


@pytest.fixture(scope="module")
def member_built(first_member, tmp_path_factory) -> Path:
    """The first member's HTML+PDF, built once by the CLI; each interrupted-batch case copies it."""
    base = tmp_path_factory.mktemp("member-built")
    run = cli("build", "--no-brief", "--country", first_member, "--format", "html,pdf", "--out", str(base / "out"),
              tmpdir=base / "tmp")
    assert run.returncode == 0, run.stderr[-2000:]
    return base / "out"


@pytest.mark.slow
@pytest.mark.serial
def test_an_interrupted_batch_leaves_an_index_of_what_is_published(first_member, member_built, tmp_path):
    """The first member's HTML+PDF from an earlier build; the batch (HTML only) publishes its new
    profile, which removes the PDF, and is stopped: index.html lists exactly the reports whose
    files are there and links no deleted file. SIGTERM (CI cancelling a job, cron's timeout):
    SIGINT takes the same handler in the batch's process and its workers (a case of its own
    here cost ~12 s of CPU for that same path; the single builds above are stopped by both)."""
    sig = signal.SIGTERM
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    shutil.copytree(member_built, out, symlinks=True)
    assert f"country-{first_member}.pdf" in _links(out / "index.html")
    code, stderr = run_and_signal(["build", "--no-brief", "--all-countries", "--jobs", "2", "--format", "html",
                                   "--currency", "GBP", "--out", str(out)],
                                  tmpdir=tmp, after=f"[country-{first_member}] ✓ built", sig=sig, delay=0.3)
    assert code == 128 + sig, stderr[-2000:]
    no_traceback(stderr)
    [line] = error_lines(stderr)
    assert line == (f"error: interrupted by {sig.name}: the reports finished before it are published and listed "
                    f"in {out.resolve() / 'index.html'}; the others were not published (their previous files, "
                    "if any, are untouched) and temporary files removed"), line
    assert not (out / f"country-{first_member}.pdf").exists()
    links = _links(out / "index.html")
    assert links and all((out / h).is_file() for h in links), links
    manifests = sorted(p.name for p in out.glob("*.manifest.json"))
    assert sorted(h for h in links if h.endswith(".manifest.json")) == manifests
    assert len(manifests) >= 1 and len(manifests) < 30  # stopped early: not every member was built
    for m in manifests:  # each listed report is complete: its HTML is there with the hash listed
        doc = json.loads((out / m).read_text())
        assert [o["format"] for o in doc["outputs"]] == ["html"] or m != f"country-{first_member}.manifest.json"
        for o in doc["outputs"]:
            assert sha(out / o["file"]) == o["sha256"]
    assert debris(out, tmp) == []


def test_a_stop_signal_inside_an_event_loop_task_is_reported_without_a_traceback(caplog):
    """A stop signal lands wherever the main thread is: inside a task the event loop is not
    waiting on (nbclient polls the kernel's output in one), that task ends with the signal's
    exception, and asyncio logged "Task exception was never retrieved" with its traceback when
    the task was collected: once in a stopped batch's stderr. The stop stays one line."""
    import asyncio
    import gc
    import logging

    from coalition_report.errors import BuildInterrupted
    from coalition_report.render.signals import stop_on_signals

    async def poller() -> None:
        signal.raise_signal(signal.SIGTERM)  # the handler runs here, inside the task

    async def main() -> None:
        asyncio.ensure_future(poller())
        await asyncio.sleep(5)

    loop = asyncio.new_event_loop()
    caplog.set_level(logging.DEBUG, logger="asyncio")
    try:
        with pytest.raises(BuildInterrupted):
            with stop_on_signals():
                loop.run_until_complete(main())
    finally:
        loop.close()
    del loop
    gc.collect()  # the ended task is collected: asyncio's log of it, if any, is made now
    assert not [r for r in caplog.records if r.name == "asyncio"], [r.getMessage() for r in caplog.records]
