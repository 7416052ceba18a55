"""One headless Chromium per process, kept for the next print: driven over its DevTools pipe.

Starting the browser is about half of a short print (~0.6 s of CPU). A batch worker prints a
profile after another and a test session prints hundreds of small pages; both reuse the browser
this module keeps (the preview serves HTML only and prints nothing). Every print uses the same tab,
each with a page file of its own. The browser runs with the flags of :mod:`~coalition_report.render.chromium`
(no network names, a throw-away profile in a locked scratch folder swept after a crash) and ends
with this process: on exit, and by itself when the pipe closes (the process was killed).

The protocol is Chrome's ``--remote-debugging-pipe``: JSON messages ended by a NUL byte, commands
on the browser's file descriptor 3, replies and events on 4.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["Browser", "shared_browser", "close_shared_browser", "BrowserError"]

PREFIX = "cr-chromium-"


class BrowserError(RuntimeError):
    """The kept browser failed (it is then closed; the caller prints another way)."""


class Browser:
    """A headless Chromium on a DevTools pipe. :meth:`print_pdf` prints one page; :meth:`close`."""

    def __init__(self, exe: str, flags: list[str]):
        from .locks import Scratch, short_temp_parent, sweep

        # Not under TMPDIR: Chrome's singleton socket path may be too long there, and a test
        # that points TMPDIR at its own folder would find the kept browser's profile in it.
        parent = short_temp_parent()
        sweep(parent, PREFIX)  # profiles of browsers whose process was killed
        self._scratch = Scratch(PREFIX, parent)
        r_cmd, w_cmd = os.pipe()
        r_res, w_res = os.pipe()

        def fds_3_and_4() -> None:  # in the child, before exec: the pipe ends where Chrome looks
            a, b = os.dup(r_cmd), os.dup(w_res)
            os.dup2(a, 3)
            os.dup2(b, 4)

        # Chrome makes its singleton socket's folder (org.chromium.Chromium.*) under TMPDIR and
        # removes it only on a clean exit; this browser is killed, so the folder goes in the
        # profile's scratch folder, removed with it (or swept). Under /tmp, one was left per build.
        env = dict(os.environ, TMPDIR=str(self._scratch.path))
        cmd = [exe, "--headless", "--remote-debugging-pipe", *flags,
               f"--user-data-dir={self._scratch.path / 'profile'}", "about:blank"]
        try:
            self._proc = subprocess.Popen(cmd, pass_fds=sorted({3, 4, r_cmd, w_res}), preexec_fn=fds_3_and_4,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        except BaseException:
            for fd in (r_cmd, w_cmd, r_res, w_res):
                os.close(fd)
            self._scratch.remove()
            raise
        os.close(r_cmd)
        os.close(w_res)
        self._out, self._in = w_cmd, r_res
        self._buf = b""
        self._next = 0
        self._lock = threading.Lock()
        self._session: str | None = None  # the tab every print uses (made by the first)
        self.closed = False

    @property
    def folder(self) -> Path:
        """The browser's scratch folder (its profile), removed by :meth:`close`."""
        return self._scratch.path

    # ------------------------------------------------------------------------------ protocol
    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data):]
        return self._next

    def _receive(self, want, deadline: float) -> dict:
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if want(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer from the browser in time")
            ready, _, _ = select.select([self._in], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise BrowserError("the browser closed its pipe")
                self._buf += chunk

    def _call(self, method: str, params: dict | None, session: str | None, deadline: float) -> dict:
        i = self._send(method, params, session)
        msg = self._receive(lambda m: m.get("id") == i, deadline)
        if "error" in msg:
            raise BrowserError(f"{method}: {msg['error'].get('message', msg['error'])}")
        return msg.get("result", {})

    # ------------------------------------------------------------------------------ printing
    def print_pdf(self, url: str, timeout: float) -> bytes:
        """The page at ``url`` printed (A4 from its CSS, tagged, with an outline).

        Every print navigates the same tab: a new tab per print started a renderer process each
        time (~0.2 s of CPU a print; a brief's print ~1.65 -> ~1.2 s, measured over three each).
        Each navigation loads a new document, and ``url`` is a new file for every print."""
        with self._lock:
            if self.closed:
                raise BrowserError("the browser is closed")
            deadline = time.monotonic() + timeout
            try:
                session = self._tab(deadline)
                self._call("Page.navigate", {"url": url}, session, deadline)
                self._receive(lambda m: m.get("method") == "Page.loadEventFired"
                              and m.get("sessionId") == session, deadline)
                data = self._call("Page.printToPDF", {
                    "printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": False,
                    "generateTaggedPDF": True, "generateDocumentOutline": True}, session, deadline)["data"]
                return base64.b64decode(data)
            except (OSError, ValueError, KeyError) as exc:
                self.close()
                raise BrowserError(f"the browser failed: {exc!r}") from None
            except BrowserError:
                self.close()
                raise

    def _tab(self, deadline: float) -> str:
        """The session of the tab the prints use, opened by the first print."""
        if self._session is None:
            target = self._call("Target.createTarget", {"url": "about:blank"}, None, deadline)["targetId"]
            session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True}, None,
                                 deadline)["sessionId"]
            self._call("Page.enable", None, session, deadline)
            self._session = session
        return self._session

    def close(self) -> None:
        """Stop the browser and remove its profile (idempotent; safe from another thread)."""
        if self.closed:
            return
        self.closed = True
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except OSError:
            pass  # already gone
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass  # a zombie at worst; the scratch folder is swept by a later build
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                continue
        self._scratch.remove()


_SHARED: dict[str, Browser] = {}
_SHARED_LOCK = threading.Lock()


def shared_browser(exe: str, flags: list[str]) -> Browser:
    """This process's kept browser for ``exe`` (started on first use; a closed one is replaced)."""
    with _SHARED_LOCK:
        browser = _SHARED.get(exe)
        if browser is None or browser.closed:
            if not _SHARED:
                import atexit
                from multiprocessing import util

                atexit.register(close_shared_browser)
                util.Finalize(None, close_shared_browser, exitpriority=10)  # a pool worker skips atexit
            browser = _SHARED[exe] = Browser(exe, flags)
        return browser


def close_shared_browser() -> None:
    """Stop the kept browser(s) of this process."""
    with _SHARED_LOCK:
        while _SHARED:
            _, browser = _SHARED.popitem()
            browser.close()
