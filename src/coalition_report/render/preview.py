"""``coalition-report preview``: the brief's HTML page served on localhost, rebuilt on save.

One warm kernel stays up between rebuilds; a thread serves the page on ``127.0.0.1``; the main
thread polls the modification times of the notebook, the package (``src/``) and the data folder
four times a second and rebuilds when one changes:

* only Markdown changed (every code cell as last run): the kept execution is exported again
  with the current Markdown, no kernel involved (``/status`` says ``re-exported``);
* a code cell changed and every code cell before it is unchanged: the cells from that one on
  run again in the same kernel, whose state holds the cells before it (``executed``);
* an earlier cell, the package or the data changed: the kernel restarts and every cell runs.

The served page is the HTML export (never a PDF) with two changes made only when it is served,
never in a built report: a small script that polls ``/version`` and reloads the page when it
changes, and its Content-Security-Policy allowing that request to this server. A failing cell
shows as a banner on the page (cell number and message) above the last page that built.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping

from .. import config

__all__ = ["Preview", "serve", "RELOAD_SCRIPT"]

_log = logging.getLogger(__name__)

#: Injected into the served page only: reload when the server's version changes.
RELOAD_SCRIPT = """<script>(function(){var v=%s;function poll(){fetch('/version',{cache:'no-store'})
.then(function(r){return r.text();}).then(function(t){if(t.trim()!==String(v)){location.reload();}
else{setTimeout(poll,250);}}).catch(function(){setTimeout(poll,1000);});}setTimeout(poll,250);})();</script>"""
_BANNER = ('<div id="cr-preview-error" role="alert" style="position:sticky;top:0;z-index:1000;background:#B00020;'
           'color:#fff;font:14px/1.4 sans-serif;padding:.6rem 1rem;white-space:pre-wrap">{}</div>')
_EMPTY = "<!DOCTYPE html><html><head><meta charset='utf-8'><title>preview</title></head><body>{}</body></html>"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Preview:
    """The state of one preview: the notebook, its parameters, the kernel and the last page.

    Parameters
    ----------
    notebook : path
        The ``.ipynb`` to preview (edited in place by the analyst; never written here).
    params : mapping
        Parameters given (``-p NAME=VALUE``); checked against the notebook's parameters cell.
    watch : sequence of paths, optional
        Folders whose files trigger a full re-run (default: the package and the data folder).
    """

    def __init__(self, notebook: Path, params: Mapping[str, Any] | None = None, *,
                 watch: list[Path] | None = None, timeout: int = 600):
        from ..params import NotebookSpec, get_notebook, validate_params

        self.path = Path(notebook).resolve()
        spec = get_notebook(NotebookSpec(self.path.stem, path=self.path))
        self.spec = spec
        self.given = dict(params or {})
        validate_params(spec, self.given)  # a bad name or value: one line, before any kernel
        data_dir = Path(self.given.get("data_dir") or config.DATA_DIR)
        self.watch = watch if watch is not None else [Path(__file__).resolve().parent.parent, data_dir]
        self.timeout = timeout
        self.version = 0
        self.state = "starting"
        self.error: dict | None = None
        self.seconds = 0.0
        self.ran_from: int | None = None  # the first cell the last execution ran (1-based)
        self.page = _EMPTY.format("<p>Building the preview…</p>")
        self._lock = threading.Lock()
        self._km = self._kc = self._scratch = None
        self._ran: list[str] = []  # source hashes of the code cells run in the kernel, in order
        self._executed: Any = None  # the parameterized notebook with the outputs of those cells
        self._stamp: tuple = ()

    # -- what the server reads -------------------------------------------------------------
    def status(self) -> dict:
        with self._lock:
            return {"version": self.version, "state": self.state, "seconds": round(self.seconds, 3),
                    "error": self.error, "ran_from": self.ran_from, "notebook": str(self.path)}

    def served_page(self) -> str:
        with self._lock:
            page, version = self.page, self.version
        # the page's policy allows no request; the preview's own page may ask this server
        page = page.replace("default-src 'none';", "default-src 'none'; connect-src 'self';", 1)
        script = RELOAD_SCRIPT % json.dumps(version)
        if self.error:
            text = f"cell {self.error['cell']}: " if self.error.get("cell") else ""
            banner = _BANNER.format(html.escape(text + self.error["message"]))
            page = page.replace("<body>", "<body>" + banner, 1) if "<body>" in page else banner + page
        return page.replace("</body>", script + "</body>", 1) if "</body>" in page else page + script

    # -- watching ----------------------------------------------------------------------------
    def _stamps(self) -> tuple[tuple, tuple]:
        def one(p: Path) -> tuple:
            try:
                st = p.stat()
                return (str(p), st.st_mtime_ns, st.st_size)
            except OSError:
                return (str(p), None, None)

        others = []
        for folder in self.watch:
            for p in sorted(folder.rglob("*")):
                if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."):
                    others.append(one(p))
        return one(self.path), tuple(others)

    def poll(self) -> bool:
        """Rebuild when something changed since the last look; True when a rebuild ran."""
        nb_stamp, other = self._stamps()
        if (nb_stamp, other) == self._stamp:
            return False
        restart = bool(self._stamp) and other != self._stamp[1]
        self._stamp = (nb_stamp, other)
        self.rebuild(restart=restart)
        return True

    # -- building ----------------------------------------------------------------------------
    def rebuild(self, *, restart: bool = False) -> str:
        """Bring the page up to date with the notebook; returns the state (``executed``,
        ``re-exported``, ``error``)."""
        import nbformat

        t0 = time.perf_counter()
        try:
            source = nbformat.read(str(self.path), as_version=4)
        except Exception as exc:  # a save in progress, or JSON broken by hand: say so, keep the page
            return self._finish("error", t0, {"cell": None, "message": f"cannot read the notebook: {exc}"})
        try:
            return self._rebuild(source, restart, t0)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the preview stays up and says what went wrong, on the page too
            _log.debug("rebuild failed", exc_info=True)
            return self._finish("error", t0, {"cell": None, "message": f"{type(exc).__name__}: {exc}"})

    def _rebuild(self, source: Any, restart: bool, t0: float) -> str:
        nb = self._parameterized(source)
        code = [_sha(c.source) for c in nb.cells if c.cell_type == "code"]
        if restart or self._km is None:
            self._restart()
        first = next((i for i, (a, b) in enumerate(zip(code, self._ran)) if a != b), min(len(code), len(self._ran)))
        if first == len(code) == len(self._ran) and self._executed is not None:
            self._copy_outputs(nb, len(code))
            self.ran_from = None
            return self._export(nb, "re-exported", t0)
        if first < len(self._ran) and first == 0:
            self._restart()
        else:
            self._copy_outputs(nb, first)
        return self._execute(nb, first, t0)

    def _parameterized(self, source: Any) -> Any:
        """The notebook with the given parameters in a cell after its parameters cell, as
        papermill writes it (``# Parameters`` first, tagged ``injected-parameters``)."""
        if not self.given:
            return source
        import nbformat
        from papermill.translators import translate_parameters

        from ..params import validate_params

        values = validate_params(self.spec, self.given)
        text = translate_parameters(self._kernel_name(), "python", {k: values[k] for k in self.given}, "Parameters")
        injected = nbformat.v4.new_code_cell(text, metadata={"tags": ["injected-parameters"]})
        at = next((i + 1 for i, c in enumerate(source.cells) if "parameters" in c.metadata.get("tags", [])), 0)
        source.cells.insert(at, injected)
        return source

    def _kernel_name(self) -> str:
        from .kernel import ensure_kernelspec

        if not hasattr(self, "_kname"):
            self._kname = ensure_kernelspec()
        return self._kname

    def _copy_outputs(self, nb: Any, upto: int) -> None:
        """Outputs of the first ``upto`` code cells from the kept execution onto ``nb``."""
        if self._executed is None:
            return
        old = [c for c in self._executed.cells if c.cell_type == "code"]
        new = [c for c in nb.cells if c.cell_type == "code"]
        for a, b in zip(old[:upto], new[:upto]):
            b.outputs, b.execution_count = a.get("outputs", []), a.get("execution_count")

    def _execute(self, nb: Any, first: int, t0: float) -> str:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        client = NotebookClient(nb, km=self._km, timeout=self.timeout, allow_errors=False,
                                resources={"metadata": {"path": str(self.path.parent)}})
        client.kc = self._kc
        client.reset_execution_trackers()
        self._ran = self._ran[:first]
        k = -1
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            k += 1
            if k < first:
                continue
            if k == first:
                self.ran_from = self._source_position(nb, index)
            try:
                client.execute_cell(cell, index)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                self._executed = nb
                message = (f"{exc.ename}: {exc.evalue}" if isinstance(exc, CellExecutionError)
                           else f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                if isinstance(exc, DeadKernelError):
                    self.stop_kernel()  # its files go now; a new kernel at the next rebuild
                return self._finish("error", t0, {"cell": self._source_position(nb, index), "message": message})
            self._ran.append(_sha(cell.source))
        self._executed = nb
        return self._export(nb, "executed", t0)

    @staticmethod
    def _source_position(nb: Any, index: int) -> int:
        """1-based position in the analyst's notebook (papermill's injected cell not counted)."""
        return sum(1 for c in nb.cells[: index + 1] if "injected-parameters" not in c.metadata.get("tags", []))

    def _export(self, nb: Any, state: str, t0: float) -> str:
        from ..hashing import hash_directory
        from .exporters import PageExporter, page_context
        from .prepare import UnexportableOutput, check_outputs, collect_meta

        try:
            check_outputs(nb)
            meta = collect_meta(nb, self.spec.name, self.given)
            public = {p.name: self.given[p.name] for p in self.spec.params if p.public and p.name in self.given}
            data_dir = Path(self.given.get("data_dir") or config.DATA_DIR)
            # the citations pass looks sources up per data hash: an edited data file is seen at once
            resources = {"cr": page_context(meta, public, None),
                         "metadata": {"name": self.path.stem, "path": str(self.path.parent)},
                         "cr_data": {"data_dir": str(data_dir), "as_of": meta.as_of or "",
                                     "data_hash": hash_directory(data_dir)}}
            page, _ = PageExporter().from_notebook_node(nb, resources)
        except UnexportableOutput as exc:
            return self._finish("error", t0, {"cell": exc.cell, "message": str(exc)})
        except Exception as exc:
            return self._finish("error", t0, {"cell": None, "message": f"html: {type(exc).__name__}: {exc}"})
        with self._lock:
            self.page = page
        return self._finish(state, t0, None)

    def _finish(self, state: str, t0: float, error: dict | None) -> str:
        with self._lock:
            self.state, self.error, self.seconds = state, error, time.perf_counter() - t0
            self.version += 1
        where = f" cell {error['cell']}:" if error and error.get("cell") else ""
        print(f"preview: {state}{where}{' ' + error['message'] if error else ''} ({self.seconds:.1f} s)",
              file=sys.stderr, flush=True)
        return state

    # -- the kernel --------------------------------------------------------------------------
    def _restart(self) -> None:
        from jupyter_client import KernelManager

        from .kernel import KERNEL_PREFIX
        from .kernel_launch import NO_DEBUGGER
        from .locks import Scratch

        self.stop_kernel()
        self._scratch = Scratch(KERNEL_PREFIX)  # connection file and sockets, removed with it
        km = KernelManager(kernel_name=self._kernel_name(),
                           connection_file=str(self._scratch.path / "kernel.json"))
        if len(str(self._scratch.path)) <= 100:
            km.transport, km.ip = "ipc", str(self._scratch.path / "k")
        km.start_kernel(cwd=str(self.path.parent), extra_arguments=[NO_DEBUGGER])
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        self._km, self._kc, self._ran, self._executed = km, kc, [], None

    def stop_kernel(self) -> None:
        """Stop the kernel and remove its connection files (safe to call twice)."""
        km, kc, scratch = self._km, self._kc, self._scratch
        self._km = self._kc = self._scratch = None
        try:
            if km is not None:
                from .kernel import stop_kernel

                stop_kernel(km, [kc] if kc is not None else [])  # as a build's: SIGKILL, bounded close
        finally:
            if scratch is not None:
                scratch.remove()


def _handler(preview: Preview) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/version":
                body, kind = str(preview.status()["version"]).encode(), "text/plain; charset=utf-8"
            elif path == "/status":
                body, kind = json.dumps(preview.status()).encode(), "application/json"
            elif path in ("/", "/index.html"):
                body, kind = preview.served_page().encode("utf-8"), "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # the page polls four times a second: quiet
            pass

    return Handler


def serve(notebook: Path, params: Mapping[str, Any] | None = None, *, port: int = 8765,
          interval: float = 0.25) -> int:
    """Serve the preview until interrupted (Ctrl-C); returns the exit code (0)."""
    preview = Preview(notebook, params)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(preview))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="preview-http", daemon=True)
    thread.start()
    print(f"preview: http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        while True:
            preview.poll()
            time.sleep(interval)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP (BuildInterrupted): a clean stop
        from .signals import propagated

        propagated()
        print("preview: stopped", file=sys.stderr, flush=True)
        return 0
    finally:
        server.shutdown()
        server.server_close()
        preview.stop_kernel()
