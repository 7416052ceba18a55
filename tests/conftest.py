from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def shipped():
    """The shipped data package, loaded once per test session."""
    from coalition_report.data import load_data
    return load_data(ROOT / "data")


_BUILDS: dict = {}


@pytest.fixture(scope="session")
def build_brief(tmp_path_factory):
    """``build_brief(as_of="")``: the real brief (HTML+PDF) built once per as-of date per test run.

    Shared by the xdist workers: the first to ask builds it in a folder beside their own, under a
    lock; the others then get the same build as an unchanged-build cache hit. Read-only for tests."""
    import fcntl

    from coalition_report.build import build_all

    def get(as_of: str = ""):
        if as_of not in _BUILDS:
            base = tmp_path_factory.getbasetemp()
            shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-briefs"
            shared.mkdir(exist_ok=True)
            name = f"brief-{as_of or 'default'}"
            with open(shared / f"{name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one build; another worker waits for it
                [result] = build_all(as_of=as_of, out_dir=shared / name, progress=False)
            _BUILDS[as_of] = result
        return _BUILDS[as_of]
    return get


@pytest.fixture(scope="session")
def good_profile(tmp_path_factory) -> Path:
    """A complete, good FRA profile (HTML+PDF) built by the real CLI: the 'previous outputs' that
    the fault tests (test_hostile_build, test_signals) must not touch. Built once per test run
    and shared by the xdist workers as :func:`build_brief` is; read-only for tests (they copy it)."""
    import fcntl

    from test_hostile_build import cli, debris, profile_args

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-good-profile"
    root.mkdir(exist_ok=True)
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build; another worker waits for it
        if not (root / "built").exists():
            run = cli(*profile_args(root / "out", currency="EUR"), tmpdir=root / "tmp")
            assert run.returncode == 0, run.stderr[-3000:]
            assert debris(root / "out", root / "tmp") == []
            (root / "built").touch()
    return root / "out"


_PDF_TEXT: dict = {}


def pdf_pages(path: Path) -> list[str]:
    """Each page's text of the PDF at ``path``, in reading order, by poppler's ``pdftotext``.

    pypdf's extraction took about 45 s of the suite's CPU (py-spy), several tests reading the
    same briefs; pdftotext is many times faster, and the text is kept per file version."""
    import shutil
    import subprocess

    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _PDF_TEXT:
        exe = shutil.which("pdftotext")
        assert exe, "pdftotext (poppler-utils) is required: make test installs it"
        out = subprocess.run([exe, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True).stdout
        pages = out.decode("utf-8").split("\f")
        _PDF_TEXT[key] = pages[:-1] if pages and not pages[-1].strip() else pages  # a \f ends each page
    return list(_PDF_TEXT[key])


def tiny_profile_dir(tmp_path: Path, code: str = 'print(f"profile={country} as_of={as_of!r}")') -> Path:
    """``tmp_path/notebooks``: country_profile.ipynb with the real parameters cell and one cell
    of ``code`` (by default, one that prints them): a build whose kernel does next to nothing."""
    import nbformat

    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "country_profile.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, folder / "country_profile.ipynb")
    return folder


def copy_shipped_data(dest: Path) -> Path:
    """A private, writable copy of the shipped data package at ``dest`` (real copies, never
    links: tests append to and rewrite its files)."""
    import shutil

    return Path(shutil.copytree(ROOT / "data", dest))


@pytest.fixture()
def data_copy(tmp_path) -> Path:
    """The one way a test gets shipped data it may edit: ``tmp_path/data``."""
    return copy_shipped_data(tmp_path / "data")


@pytest.fixture()
def valid_dir() -> Path:
    return FIXTURES / "valid"


def chromium_dom(html_path: Path, tmp_path: Path) -> str:
    """The DOM of ``html_path`` after headless Chromium ran its scripts with the network blocked.

    Background networking is off and every request goes to a dead proxy, so a page that needed
    the network would show it (no chart drawn).
    """
    import shutil
    import subprocess
    import tempfile

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian chromium is required for this test (make test installs it)"
    profile = tempfile.mkdtemp(dir=tmp_path)
    run = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         "--disable-sync", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
         "--virtual-time-budget=15000", "--dump-dom", html_path.as_uri()],
        capture_output=True, text=True, timeout=180)
    return run.stdout


def default_stop_signals() -> None:
    """In the child before exec: SIGINT, SIGTERM and SIGHUP back to their default dispositions.
    A shell that ignores them (``nohup``, a background job, some CI runners) passes "ignore" on
    to its children, and a build rightly honours an inherited "ignore": the signal tests test
    the build as started from an ordinary terminal."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def make_special(path: Path, kind: str, *, folder: Path, file: Path | None = None) -> None:
    """Put a special entry at ``path``: ``dev-zero-link``, ``fifo``, ``file-link`` (to ``file``) or
    ``dir-link`` (to ``folder``): what validate, the data hash and imports must never open."""
    if kind == "dev-zero-link":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "file-link":
        path.symlink_to(file)
    else:
        path.symlink_to(folder, target_is_directory=True)


#: Seconds each of the heaviest files took in one worker (a timeline of `make test` with 3 workers,
#: 2026-12-06). `make test` hands whole files to its workers (--dist loadfile) in collection order
#: (--no-loadscope-reorder; xdist's own order is by test count, which sent a 7-test file taking
#: 34 s near the end): heaviest first, so the last files to start are short and the workers
#: finish together. Only the order depends on these numbers; a file not listed runs after them.
FILE_SECONDS = {
    "test_hostile_data.py": 104, "test_hostile_build.py": 56, "test_signals.py": 52, "test_notebooks.py": 51,
    "test_cache.py": 46, "test_hostile_cache.py": 45, "test_as_of.py": 34, "test_build.py": 32,
    "test_changes.py": 29, "test_charts.py": 23, "test_sections.py": 22, "test_analyst_outputs.py": 20,
    "test_preview.py": 17, "test_notebook_hygiene.py": 17, "test_writing.py": 16, "test_render.py": 15,
    "test_kiel_transaction.py": 13, "test_warm_kernel.py": 12, "test_pdf_engine.py": 11, "test_validate_files.py": 9,
}


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: -FILE_SECONDS.get(item.path.name, 0))  # stable: in-file order kept
