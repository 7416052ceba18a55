"""Headless Chromium as a PDF engine: the print page laid out and printed by the browser.

Measured side by side with WeasyPrint on the brief (``make bench``, case ``k``), Chromium prints
the same page several times faster, and runs as a separate process, so the PDF is laid out
while this process makes the HTML page. What WeasyPrint does from CSS alone is done here:

* **Contents with page numbers.** Chromium has no ``target-counter()``. The page is printed with
  the page numbers of the previous print (or ``–`` the first time); the PDF's named
  destinations (one per heading the contents link to) give the real ones, and the page is
  printed again until the numbers it shows are the numbers it has (two prints at most, in
  practice; one when the guess came from the previous build of the same report).
* **Running header.** Chromium has no ``string-set``: the header's text (the title, the
  cover's dateline and cut-off) is read from the title page and written into ``@page`` margin
  boxes as CSS strings.
* **Byte-identical rebuilds.** Chromium stamps the print time and numbers the structure
  elements by DOM node ids that vary between runs; both are rewritten in place (same lengths,
  so the cross-reference table stays valid): the dates become ``SOURCE_DATE_EPOCH`` or go,
  the ids are renumbered in order.
* **Offline and inert.** The page gets a Content-Security-Policy that allows only inline
  styles and ``data:`` images and fonts (no script, no fetch), every
  host name resolves to nothing, and the browser runs with a throw-away profile.

It keeps the tagged structure (headings, lists, tables, figures with their alt text), the
document outline, the vector charts and the "Page N of M" footer. It has no page footnotes
(CSS ``float: footnote``): a page with footnotes is printed by WeasyPrint (see
:func:`pick_engine`).
"""

from __future__ import annotations

import html as _html
import os
import re
import shutil
import signal
import subprocess
import logging
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from ..errors import BuildError

__all__ = ["find_chromium", "engine_setting", "engine_identity", "pick_engine", "prewarm", "ChromiumPrint", "ENGINES",
           "normalise_pdf", "remembered_pages", "remember_pages"]

ENGINES = ("auto", "chromium", "weasyprint")
_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
_CSP = ("default-src 'none'; img-src data:; font-src data:; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'")
_log = logging.getLogger(__name__)
_TIMEOUT_S = 300
#: Short scratch folders for a one-shot browser's singleton socket (see ChromiumPrint._socket_folder).
SOCKET_PREFIX = "cr-socket-"
_LEADER = "." * 160
_TOC = re.compile(r'(<nav class="toc".*?</nav>)', re.S)
_TOC_LINK = re.compile(r'<a href="#([^"]+)">(.*?)</a>', re.S)
_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[^)]{0,8}\)")
_NODE = re.compile(rb"\(node(\d{8})\)")


def find_chromium() -> str | None:
    """The Chromium to print with: ``COALITION_CHROMIUM`` if set, else the first on ``PATH``."""
    given = os.environ.get("COALITION_CHROMIUM", "").strip()
    if given:
        return shutil.which(given)
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def engine_setting() -> str:
    """``COALITION_PDF_ENGINE`` (set by ``--pdf-engine``): auto, chromium or weasyprint."""
    value = os.environ.get("COALITION_PDF_ENGINE", "").strip().lower() or "auto"
    if value not in ENGINES:
        raise BuildError("pdf", None, f"COALITION_PDF_ENGINE={value!r} is not one of {', '.join(ENGINES)}", None)
    return value


def engine_identity() -> str:
    """What the PDF depends on besides the page, for the cache key: the setting, and the
    browser's binary (path, size, time) when it may be used. No process is started."""
    setting = engine_setting()
    exe = find_chromium() if setting != "weasyprint" else None
    if not exe:
        return f"{setting}; weasyprint"
    real = Path(exe).resolve()
    # Debian's /usr/bin/chromium is a wrapper script: the browser itself is in /usr/lib/chromium.
    parts = []
    for f in (real, real.parent.parent / "lib" / "chromium" / "chromium"):
        try:
            st = f.stat()
            parts.append(f"{f} {st.st_size} {st.st_mtime_ns}")
        except OSError:
            continue
    return f"{setting}; chromium " + "; ".join(parts or [str(real)])


def pick_engine(print_html: str) -> str:
    """The engine for this page: WeasyPrint when asked for, when no Chromium is installed, or
    when the page has footnotes (only WeasyPrint puts them at the foot of the page)."""
    setting = engine_setting()
    if setting == "weasyprint":
        return "weasyprint"
    if setting == "chromium":
        if not find_chromium():
            raise BuildError("pdf", None, "--pdf-engine chromium: no chromium found on PATH "
                             "(apt-get install chromium, or set COALITION_CHROMIUM)", None)
        return "chromium"
    if not find_chromium() or 'class="footnote"' in print_html:
        return "weasyprint"
    return "chromium"


def _css_string(text: str) -> str:
    """``text`` as a CSS string literal that cannot end the string, the rule or the style element."""
    out = []
    for ch in " ".join(text.split()):
        out.append(f"\\{ord(ch):X} " if ch in '"\\<>&' or ord(ch) < 32 or ord(ch) == 127 else ch)
    return '"' + "".join(out) + '"'


def _first_text(page: str, cls: str) -> str:
    m = re.search(rf'<[a-z0-9]+ class="[^"]*\b{cls}\b[^"]*"[^>]*>(.*?)</[a-z0-9]+>', page, re.S)
    return _html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else ""


def _chromium_css(page: str) -> str:
    title = _first_text(page, "report-title")
    right = " · ".join(t for t in (_first_text(page, "report-dateline"), _first_text(page, "report-cutoff")) if t)
    return f"""
/* Chromium: the running header as strings (no string-set), contents numbers as text (no target-counter) */
@page {{ @top-left {{ content: {_css_string(title)}; }} @top-right {{ content: {_css_string(right)}; }} }}
@page :first {{ @top-left {{ content: none; }} @top-right {{ content: none; }} }}
/* no ligatures: "offered" stays six letters for search, copy and screen readers (not U+FB00) */
html {{ font-variant-ligatures: none; }}
.toc a {{ display: flex; align-items: baseline; }}
.toc a::after {{ content: none; }}
.toc .toc-leader {{ flex: 1 1 0; min-width: 8pt; margin: 0 2pt; overflow: hidden; white-space: nowrap;
  color: #5b6270; font-weight: normal; }}
.toc .toc-page {{ color: #5b6270; font-weight: normal; font-variant-numeric: tabular-nums; }}
"""


class ChromiumPrint:
    """One page printed by Chromium: :meth:`start` launches the first print and returns at once,
    :meth:`finish` waits, corrects the contents' page numbers and returns the PDF's bytes.
    :meth:`cancel` stops the browser (always call it, e.g. in a ``finally``)."""

    def __init__(self, print_html: str, *, work_dir: str | Path | None = None, guess: Mapping[str, int] | None = None,
                 created: str | None = None):
        exe = find_chromium()
        if not exe:
            raise BuildError("pdf", None, "no chromium found on PATH (apt-get install chromium)", None)
        self.exe = exe
        self.created = created
        self._tmp = tempfile.mkdtemp(prefix=".chromium-", dir=work_dir)
        head, sep, rest = print_html.partition("<head>")
        if not sep:
            raise BuildError("pdf", None, "the print page has no <head>", None)
        csp = f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        page = head + sep + csp + rest
        page = page.replace("</head>", f"<style>{_chromium_css(page)}</style>\n</head>", 1)
        m = _TOC.search(page)
        self.toc_ids = [_id_key(i) for i, _ in _TOC_LINK.findall(m.group(1))] if m else []
        self._page = page
        self.guess = {k: v for k, v in (guess or {}).items() if k in self.toc_ids}
        self.pages: dict[str, int] = {}
        self.prints = 0
        self._html = Path(self._tmp) / "page-1.html"  # the page of the current print (see _launch)
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._browser = None
        self._result: bytes | Exception | None = None
        self._short = None  # see _socket_folder

    # ------------------------------------------------------------------------------- printing
    def _with_numbers(self, numbers: Mapping[str, int]) -> str:
        def link(m: re.Match) -> str:
            hid, inner = m.groups()
            n = numbers.get(_id_key(hid))
            shown = str(n) if n else "–"
            # the leader is dots (text, as WeasyPrint's leader() gives), cut to the space left
            return (f'<a href="#{hid}"><span class="toc-text">{inner}</span>'
                    f'<span class="toc-leader" aria-hidden="true">{_LEADER}</span>'
                    f'<span class="toc-page">{shown}</span></a>')
        return _TOC.sub(lambda m: _TOC_LINK.sub(link, m.group(1)), self._page, count=1)

    def _launch(self, numbers: Mapping[str, int]) -> None:
        self.prints += 1
        # a new file for each print: the kept browser's tab navigates to it (never to a URL it has
        # shown, which it could take from its cache)
        html_path = self._html = Path(self._tmp) / f"page-{self.prints}.html"
        html_path.write_text(self._with_numbers(numbers), encoding="utf-8")
        self._started = time.monotonic()
        browser = _kept_browser(self.exe)
        if browser is None:
            self._spawn()
            return
        self._browser, self._result = browser, None

        def run() -> None:  # the browser lays the page out; this thread only waits on its pipe
            try:
                self._result = browser.print_pdf(html_path.as_uri(), _TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - handed to _wait, which prints another way
                self._result = exc
        self._thread = threading.Thread(target=run, name="chromium-print", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        """Print with a browser started for this print alone (``--print-to-pdf``)."""
        html_path, pdf_path = self._html, Path(self._tmp) / "page.pdf"
        if pdf_path.exists():
            pdf_path.unlink()
        cmd = [self.exe, "--headless", "--no-pdf-header-footer", "--generate-pdf-document-outline", *_flags(),
               f"--user-data-dir={Path(self._tmp) / 'profile'}", f"--print-to-pdf={pdf_path}", html_path.as_uri()]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                      env=dict(os.environ, TMPDIR=self._socket_folder()),
                                      start_new_session=True)  # its own group: cancel() stops every helper

    def _socket_folder(self) -> str:
        """TMPDIR for the one-shot browser. Chrome makes its singleton socket's folder there and
        removes it only on a clean exit; :meth:`cancel` kills the browser, so it is a folder this
        print removes: a short scratch folder (a Unix socket path is limited to ~107 bytes) under
        :func:`~coalition_report.render.locks.short_temp_parent`, swept after a crash."""
        if self._short is None:
            from .locks import Scratch, short_temp_parent, sweep

            sweep(short_temp_parent(), SOCKET_PREFIX)
            self._short = Scratch(SOCKET_PREFIX, short_temp_parent())
        return str(self._short.path)

    @property
    def pid(self) -> int | None:
        """The browser's process id while it prints, else None."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> "ChromiumPrint":
        self._launch(self.guess)
        return self

    def _wait(self) -> bytes:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(_TIMEOUT_S)
            result, self._result = self._result, None
            if isinstance(result, bytes) and result:
                return result
            _log.info("the kept browser did not print (%r): printing with a browser of its own", result)
            self._spawn()
        proc = self._proc
        assert proc is not None
        try:
            _, err = proc.communicate(timeout=max(1.0, _TIMEOUT_S - (time.monotonic() - self._started)))
        except subprocess.TimeoutExpired:
            self.cancel()
            raise BuildError("pdf", None, f"chromium did not print the page within {_TIMEOUT_S} s", None) from None
        self._proc = None
        pdf_path = Path(self._tmp) / "page.pdf"
        if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
            tail = " ".join((err or b"").decode("utf-8", "replace").split())[-400:]
            raise BuildError("pdf", None, f"chromium failed to print the page (exit {proc.returncode}): {tail}", None)
        return pdf_path.read_bytes()

    def finish(self) -> bytes:
        """The PDF, once the contents show the pages their headings are on."""
        import pypdf  # noqa: F401 - loaded (~0.2 s) while the browser still prints, not after

        try:
            numbers = dict(self.guess)
            for _ in range(3):
                pdf = self._wait()
                found = _destination_pages(pdf, self.toc_ids)
                if not self.toc_ids or found == numbers:
                    break
                numbers = found
                self._launch(numbers)
            else:
                raise BuildError("pdf", None, "the contents' page numbers did not settle after three prints", None)
            self.pages = numbers
            return normalise_pdf(pdf, self.created)
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop the browser if it is still printing and remove the scratch files."""
        thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive() and self._browser is not None:
            self._browser.close()  # mid-print: the kept browser goes (the next print starts another)
            thread.join(10)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            proc.wait()
        shutil.rmtree(self._tmp, ignore_errors=True)
        short, self._short = self._short, None
        if short is not None:
            short.remove()


def _guess_path(notebook: str) -> Path:
    from ..files import user_cache_dir
    from ..hashing import digest

    return user_cache_dir() / f"contents-pages-{digest(notebook)[:16]}.json"


def remembered_pages(notebook: str) -> dict[str, int] | None:
    """The contents' page numbers of the last print of ``notebook`` by this user, in any folder: a
    first guess for a build with no previous build in its own folder (checked like any guess)."""
    import json

    from ..files import read_private

    raw = read_private(_guess_path(notebook))
    try:
        pages = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(pages, dict) or len(pages) > 500:
        return None
    return {str(k): v for k, v in pages.items() if isinstance(v, int) and 0 < v < 100_000}


def remember_pages(notebook: str, pages: Mapping[str, int]) -> None:
    """Keep ``pages`` as the next first guess for ``notebook`` (best effort)."""
    import json

    from ..files import keep_private

    keep_private(_guess_path(notebook), json.dumps(dict(pages), sort_keys=True))  # if not: two prints next time


def _flags() -> list[str]:
    """The flags of every browser this module starts: nothing loaded from elsewhere, no name resolves."""
    flags = ["--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-sync", "--disable-background-networking", "--disable-component-update", "--mute-audio",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--disable-features=BackForwardCache"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.insert(0, "--no-sandbox")  # Chromium refuses to run its sandbox as root (CI, containers)
    return flags


def _kept_browser(exe: str):
    """This process's kept browser (:mod:`~coalition_report.render.browser`), unless
    ``COALITION_KEEP_BROWSER=0`` or it cannot start (then each print starts its own)."""
    if os.environ.get("COALITION_KEEP_BROWSER", "1").strip() == "0":
        return None
    from .browser import BrowserError, shared_browser

    try:
        return shared_browser(exe, _flags())
    except (OSError, BrowserError) as exc:
        _log.info("no kept browser: %r", exc)
        return None


def prewarm() -> None:
    """Start this process's kept browser in the background, so that the print later in this
    build does not wait the ~0.6 s a browser takes to start (a new process's build: the CLI, a
    Markdown edit). Only when the PDF may be printed by Chromium; a non-daemon thread, so the
    process waits for the start to finish and its exit handler then closes the browser."""
    try:
        if engine_setting() == "weasyprint":
            return
    except BuildError:
        return  # a bad setting: the print step says so
    exe = find_chromium()
    if exe and os.environ.get("COALITION_KEEP_BROWSER", "1").strip() != "0":
        threading.Thread(target=_start_in_background, args=(exe,), name="cr-browser-start").start()


def _start_in_background(exe: str) -> None:
    try:
        _kept_browser(exe)
    except Exception as exc:  # noqa: BLE001 - not this thread's to report: the print starts its own browser or says why
        _log.info("the kept browser did not start in the background: %r", exc)


def _id_key(ref: str) -> str:
    """A heading id as an href writes it (HTML-escaped, percent-encoded) or as the PDF names its
    destination (percent-encoded), in one form."""
    from urllib.parse import unquote

    return unquote(_html.unescape(ref))


def _destination_pages(pdf: bytes, ids: list[str]) -> dict[str, int]:
    """1-based page of each heading id the contents link to (the PDF's named destinations)."""
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    dests = {}
    for name, dest in reader.named_destinations.items():
        key = _id_key(name.lstrip("/"))
        try:
            dests[key] = reader.get_destination_page_number(dest) + 1
        except Exception:  # noqa: BLE001 - a destination pypdf cannot place: that entry stays unnumbered
            continue
    return {i: dests[i] for i in ids if i in dests}


def normalise_pdf(pdf: bytes, created: str | None) -> bytes:
    """The same bytes for the same page: print dates set to ``created`` (ISO, UTC) or blanked,
    structure ids renumbered in order. Every change keeps its length (the xref stays valid)."""
    stamp = None
    if created:
        try:
            dt = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            stamp = dt.strftime("D:%Y%m%d%H%M%S+00'00'").encode()
        except ValueError:
            stamp = None

    def date(m: re.Match) -> bytes:
        whole = m.group(0)
        if stamp is not None:
            new = b"/" + m.group(1) + b" (" + stamp + b")"
            if len(new) == len(whole):
                return new
        return b" " * len(whole)  # the entry goes: whitespace inside a dictionary is nothing

    pdf = _DATE.sub(date, pdf)
    ids = sorted(set(_NODE.findall(pdf)))
    renumber = {old: b"%08d" % (i + 1) for i, old in enumerate(ids)}
    return _NODE.sub(lambda m: b"(node" + renumber[m.group(1)] + b")", pdf)
