"""The PDF engines: Chromium (printed beside the HTML export) and WeasyPrint, and which one a build uses.

Unit tests need neither engine; the print tests need Chromium (Debian package ``chromium``,
installed by ``make system-deps`` and CI) and say so when it is missing.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from coalition_report.errors import BuildError
from coalition_report.render import chromium
from coalition_report.render.chromium import ChromiumPrint, engine_identity, normalise_pdf, pick_engine

HERE = Path(__file__).parent

needs_chromium = pytest.mark.skipif(chromium.find_chromium() is None,
                                    reason="no chromium on PATH: apt-get install chromium (make system-deps)")


# ============================================================================================
# Which engine
# ============================================================================================
def test_the_engine_follows_the_setting_the_footnotes_and_the_browser(monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("COALITION_CHROMIUM", str(fake))
    monkeypatch.delenv("COALITION_PDF_ENGINE", raising=False)
    assert pick_engine("<p>text</p>") == "chromium"
    # only WeasyPrint puts footnotes at the foot of the page
    assert pick_engine('<p>x<span class="footnote">note</span></p>') == "weasyprint"
    monkeypatch.setenv("COALITION_PDF_ENGINE", "weasyprint")
    assert pick_engine("<p>text</p>") == "weasyprint"
    assert engine_identity() == "weasyprint; weasyprint"
    monkeypatch.setenv("COALITION_PDF_ENGINE", "chromium")
    assert pick_engine('<span class="footnote">n</span>') == "chromium"  # asked for: the notes print inline
    assert str(fake) in engine_identity()  # the browser's binary is in the cache key
    monkeypatch.setenv("COALITION_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(BuildError, match="no chromium found"):
        pick_engine("<p>text</p>")
    monkeypatch.setenv("COALITION_PDF_ENGINE", "auto")
    assert pick_engine("<p>text</p>") == "weasyprint"  # none installed: WeasyPrint
    monkeypatch.setenv("COALITION_PDF_ENGINE", "prince")
    with pytest.raises(BuildError, match="not one of auto, chromium, weasyprint"):
        pick_engine("<p>text</p>")


def test_the_cache_key_changes_with_the_engine(monkeypatch):
    from coalition_report.render.manifest import lib_versions

    monkeypatch.setenv("COALITION_PDF_ENGINE", "weasyprint")
    a = lib_versions()
    monkeypatch.setenv("COALITION_PDF_ENGINE", "auto")
    b = lib_versions()
    assert a["pdf-engine"] != b["pdf-engine"] and {k: v for k, v in a.items() if k != "pdf-engine"} == \
        {k: v for k, v in b.items() if k != "pdf-engine"}


# ============================================================================================
# Byte-identical output
# ============================================================================================
def _fake_pdf(stamp: bytes, first_node: int) -> bytes:
    ids = b"".join(b"<</S /TD /ID (node%08d)>>\n" % (first_node + i) for i in range(3))
    return (b"%PDF-1.4\n1 0 obj\n<</Producer (Skia/PDF m150)\n/CreationDate (D:" + stamp + b"+00'00')\n/ModDate (D:"
            + stamp + b"+00'00')>>\nendobj\n" + ids + b"/IDTree <</Names [(node%08d) 5 0 R]>>\n" % first_node)


def test_print_dates_and_structure_ids_are_normalised_in_place():
    a = _fake_pdf(b"20261206001346", 2318)
    b = _fake_pdf(b"20261206001347", 2327)  # another run: another time, ids shifted
    na, nb = normalise_pdf(a, None), normalise_pdf(b, None)
    assert na == nb and len(na) == len(a)  # same bytes; no offset moved
    assert b"CreationDate" not in na and b"(node00000001)" in na and b"(node00002318)" not in na
    dated = normalise_pdf(a, "2023-11-14T22:13:20Z")
    assert b"/CreationDate (D:20231114221320+00'00')" in dated and len(dated) == len(a)


# ============================================================================================
# Printing with Chromium
# ============================================================================================
PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>T</title>
<style>.title-page {{ break-after: page; }} h2 {{ break-before: page; }}</style></head><body>
<section class="title-page"><h1 class="report-title">Engine test</h1>
<p class="report-dateline">Events to 1 May 2026</p><p class="report-cutoff">Knowledge cut-off 2 May 2026</p>
<nav class="toc"><ol><li><a href="#first">First</a></li><li><a href="#s%C3%A9cond-&amp;-more">Second &amp; more</a></li></ol></nav>
</section>
<h2 id="first">First</h2><p>One.</p>
<h2 id="sécond-&amp;-more">Second &amp; more</h2><p>Two.</p>{extra}
</body></html>"""


@pytest.mark.slow  # prints with a browser
@needs_chromium
def test_contents_numbers_are_the_pages_the_headings_are_on(tmp_path):
    job = ChromiumPrint(PAGE.format(extra=""), work_dir=tmp_path).start()
    pdf = job.finish()
    assert job.pages == {"first": 2, "sécond-&-more": 3} and job.prints == 2  # guessed nothing: printed twice
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) == 3 and "Second & more" in pages[2] and "First" in pages[1]
    toc = re.sub(r"\s+", " ", pages[0])
    assert re.search(r"First \.{3,}\s*2", toc) and re.search(r"Second & more \.{3,}\s*3", toc)
    # the running header, from the title page's lines (not on the title page itself)
    assert "Engine test" in pages[1] and "Events to 1 May 2026 · Knowledge cut-off 2 May 2026" in pages[1]
    assert "Events to 1 May 2026 ·" not in pages[0]
    assert list(tmp_path.iterdir()) == []  # the browser's scratch folder is gone

    again = ChromiumPrint(PAGE.format(extra=""), work_dir=tmp_path, guess=job.pages).start()
    assert again.finish() == pdf and again.prints == 1  # a right guess: one print, the same bytes


@pytest.mark.slow  # prints with a browser
@needs_chromium
def test_the_page_cannot_run_script_or_reach_the_network(tmp_path):
    extra = ('<script>document.write("SCRIPT-RAN")</script>'
             '<img src="http://127.0.0.1:9/pixel.png" alt="remote"><img src="file:///etc/hostname" alt="local">')
    pdf = ChromiumPrint(PAGE.format(extra=extra), work_dir=tmp_path).start().finish()
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Two." in text and "SCRIPT-RAN" not in text


@pytest.mark.slow  # prints with a browser
@needs_chromium
def test_header_text_is_a_string_even_when_it_looks_like_markup(tmp_path):
    title = 'A "quoted" \\ title &lt;/style&gt;&lt;p&gt;INJECTED'
    page = PAGE.format(extra="").replace("Engine test", title)
    pdf = ChromiumPrint(page, work_dir=tmp_path).start().finish()
    pages = [re.sub(r"\s+", "", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]
    assert 'A"quoted"\\title</style><p>INJECTED' in pages[1]  # printed as text in the header
    assert pages[1].count("INJECTED") == 1 and "One." in pages[1]  # and the page's own style still holds


@pytest.mark.slow  # prints with a browser
@needs_chromium
@pytest.mark.parametrize("folder", ["short", "long"])
def test_cancel_stops_the_browser_and_removes_its_files(folder, tmp_path, monkeypatch):
    """A cancelled print leaves nothing: not its files, and not the folder Chrome makes for its
    singleton socket under TMPDIR, which it removes only on a clean exit (killed, it left one in
    /tmp per print). TMPDIR is a short folder of the print's own, whatever its work folder."""
    import psutil

    monkeypatch.setenv("COALITION_KEEP_BROWSER", "0")  # a browser of its own, as without the kept one
    work = Path(tempfile.mkdtemp(prefix="cr-test-", dir="/tmp")) if folder == "short" else tmp_path / ("x" * 60)
    work.mkdir(exist_ok=True)
    try:
        job = ChromiumPrint(PAGE.format(extra=""), work_dir=work).start()
        pid = job.pid
        assert pid is not None and psutil.pid_exists(pid)
        env = psutil.Process(pid).environ()
        sockets = Path(env["TMPDIR"])
        assert sockets.name.startswith(chromium.SOCKET_PREFIX) and len(str(sockets)) <= 60
        deadline = time.monotonic() + 20
        while not list(sockets.glob("org.chromium.Chromium.*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(sockets.glob("org.chromium.Chromium.*")) != []
        job.cancel()
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert list(work.iterdir()) == [] and not sockets.exists()
        job.cancel()  # twice is harmless
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ============================================================================================
# Both engines on a whole report
# ============================================================================================
@pytest.mark.slow
@pytest.mark.parametrize("engine", ["weasyprint", pytest.param("chromium", marks=needs_chromium)])
def test_both_engines_give_contents_numbers_header_and_tags(engine, tmp_path, monkeypatch):
    from coalition_report.render import render_report
    from test_render import fixture_spec

    data = tmp_path / "data"
    shutil.copytree(HERE.parent / "data", data)
    monkeypatch.setenv("COALITION_PDF_ENGINE", engine)
    result = render_report(fixture_spec(), {"as_of": "2025-06-30", "data_dir": str(data)}, out_dir=tmp_path / "out",
                           progress=False)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["pdf"]["engine"] == engine
    reader = PdfReader(result.outputs["pdf"])
    pages = [p.extract_text() for p in reader.pages]
    toc = re.sub(r"\s+", " ", pages[0])
    numbers = [int(n) for n in re.findall(r"\.{3,}\s*(\d+)", toc)]
    assert len(numbers) == 6 and numbers == sorted(numbers)
    # each number is the page the heading is on: its title is in that page's text
    for title, n in re.findall(r"([A-Z][^.]{2,40}?) \.{3,}\s*(\d+)", toc):
        assert title.split(". ", 1)[-1][:12] in re.sub(r"\s+", " ", pages[int(n) - 1]), (title, n)
    assert all(f"Page {i} of {len(pages)}" in t for i, t in enumerate(pages, 1))
    assert "Fixture brief" in pages[1] and "Data as of 30 June 2025" in pages[1]
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and root.get("/Lang") == "en"


@pytest.mark.slow  # prints with a browser
@needs_chromium
def test_the_kept_browsers_one_tab_prints_each_page_as_its_own(tmp_path):
    """Every print of the kept browser navigates the same tab (a new tab per print started a
    renderer process each time): pages printed in turn, one of them twice, each come out with
    their own text and only it, a page printed again gives the same bytes, and the renderer
    processes are the same ones after each print."""
    import os

    from coalition_report.render.browser import close_shared_browser, shared_browser

    def text(pdf: bytes) -> str:
        return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)

    def renderers() -> set[int]:  # of this browser: their command lines name its profile
        profile = f"--user-data-dir={shared_browser(chromium.find_chromium(), []).folder}".encode()
        found = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if b"--type=renderer" in cmd and profile in cmd:
                found.add(int(pid))
        return found

    close_shared_browser()
    pages = {name: PAGE.format(extra=f"<p>Only on page {name}.</p>") for name in ("alpha", "beta")}
    first = ChromiumPrint(pages["alpha"], work_dir=tmp_path).start().finish()
    after_first = renderers()
    second = ChromiumPrint(pages["beta"], work_dir=tmp_path).start().finish()
    again = ChromiumPrint(pages["alpha"], work_dir=tmp_path).start().finish()
    assert "Only on page alpha" in text(first) and "beta" not in text(first)
    assert "Only on page beta" in text(second) and "alpha" not in text(second)
    assert again == first
    assert after_first and renderers() == after_first
    close_shared_browser()


@pytest.mark.slow  # prints with a browser
@needs_chromium
def test_the_kept_browser_prints_again_and_goes_with_the_process(tmp_path):
    """Prints in one process share one browser; a print cancelled mid-way closes it, and the next
    print starts another; closing it removes its profile."""
    from coalition_report.render.browser import PREFIX, close_shared_browser, shared_browser

    close_shared_browser()
    first = ChromiumPrint(PAGE.format(extra=""), work_dir=tmp_path).start().finish()
    browser = shared_browser(chromium.find_chromium(), [])
    second = ChromiumPrint(PAGE.format(extra=""), work_dir=tmp_path).start().finish()
    assert shared_browser(chromium.find_chromium(), []) is browser and not browser.closed
    assert first == second  # the kept browser prints the same bytes each time
    job = ChromiumPrint(PAGE.format(extra=""), work_dir=tmp_path).start()
    job.cancel()
    assert browser.closed
    assert ChromiumPrint(PAGE.format(extra=""), work_dir=tmp_path).start().finish() == first
    folder = shared_browser(chromium.find_chromium(), []).folder
    assert folder.name.startswith(PREFIX) and folder.is_dir()
    # Chrome's singleton socket folder, which it removes only on a clean exit, is the browser's
    # own: killed, it once left an org.chromium.Chromium.* folder in /tmp per build.
    assert [p.parent for p in folder.glob("org.chromium.Chromium.*/SingletonSocket")] != []
    close_shared_browser()
    assert not folder.exists()
