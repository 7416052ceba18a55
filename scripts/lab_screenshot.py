"""Screenshot an executed notebook as JupyterLab shows it, and count the charts it drew.

    .venv-lab/bin/python scripts/lab_screenshot.py EXECUTED.ipynb [--cell N | --output N]
                         [--out PNG] [--untrusted] [--width 1400 --height 1000]

(or `make lab-screenshot NOTEBOOK=EXECUTED.ipynb CELL=N`; `make lab-env` creates .venv-lab.)

What it does:
1. copies the notebook into a temporary folder (the argument is never modified) and marks the
   copy trusted with `jupyter trust` (skipped with --untrusted); every Jupyter and JupyterLab
   setting, the trust database and the workspace live in that temporary folder too;
2. starts JupyterLab from .venv-lab on 127.0.0.1, a free port and a random token, no browser;
   notebook windowing is off so every cell is in the DOM, news and update checks are off;
3. drives Debian's headless Chromium (/usr/bin/chromium; `bash scripts/install-system-deps.sh`
   installs it) over the DevTools protocol: opens the notebook, waits until every cell is in the
   DOM, every Vega view has drawn and nothing changed for a while, scrolls cell N (or output N)
   to the top and writes a PNG;
4. prints one JSON object on stdout:
   vega_rendered   elements .jp-RenderedVegaCommon5 (JupyterLab's vega/vega-lite renderer)
   vega_embed      elements .vega-embed (vega-embed views, i.e. interactive charts)
   vega_drawn      .vega-embed views holding a drawn canvas/svg
   vega_actions    vega-embed "..." action menus
   svg_img         <img> elements showing image/svg+xml (static charts)
   untrusted_svg   outputs saying "Cannot display an untrusted SVG"
   source_notes    source notes shown in the notebook (under charts and tables)
   alt_texts       "Alt text:" lines under charts; values_tables: collapsed values under charts
   cells, cells_in_dom, outputs, vega_cells, svg_img_cells (cell indices), trusted (what the
   server says: code cells with outputs / of them marked trusted), dialogs, console_errors,
   screenshot, url_path, elapsed_s.
Exit status: 0 when the page rendered (counts may be zero), 1 when it did not (timeout, server or
browser failure).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--hide-scrollbars", "--force-device-scale-factor=1"]

# Runs in the page: a snapshot of what JupyterLab has drawn so far.
PROBE_JS = r"""
(() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)') ||
                document.querySelector('.jp-NotebookPanel');
  const nb = panel && panel.querySelector('.jp-Notebook');
  const cells = nb ? Array.from(nb.querySelectorAll(':scope .jp-Cell')) : [];
  const count = (sel) => nb ? nb.querySelectorAll(sel).length : 0;
  const cellsWith = (sel) => cells.map((c, i) => c.querySelector(sel) ? i : -1).filter(i => i >= 0);
  const svgImg = 'img[src^="data:image/svg+xml"]';
  const embeds = nb ? Array.from(nb.querySelectorAll('.vega-embed')) : [];
  const dialogs = Array.from(document.querySelectorAll('.jp-Dialog'))
      .map(d => d.innerText.replace(/\s+/g, ' ').trim().slice(0, 200));
  const untrustedSvg = nb ? Array.from(nb.querySelectorAll('.jp-OutputArea-output'))
      .filter(o => /Cannot display an untrusted SVG/.test(o.textContent)).length : 0;
  return {
    notebook: !!nb,
    cells_in_dom: cells.length,
    outputs: count('.jp-OutputArea-output'),
    vega_rendered: count('.jp-RenderedVegaCommon5'),
    vega_embed: embeds.length,
    vega_drawn: embeds.filter(e => e.querySelector('canvas, svg.marks')).length,
    vega_actions: count('.vega-embed > details'),
    svg_img: count(svgImg),
    source_notes: count('.cr-nb .source-note'),
    alt_texts: count('.cr-nb .alt-text'),
    values_tables: count('.cr-nb details.chart-values'),
    untrusted_svg: untrustedSvg,
    vega_cells: cellsWith('.jp-RenderedVegaCommon5'),
    svg_img_cells: cellsWith(svgImg),
    dialogs: dialogs,
    busy: !!document.querySelector('.jp-mod-busy, .jp-Spinner'),
  };
})()
"""


class CDP:
    """A minimal Chrome DevTools Protocol client over one page target's websocket."""

    def __init__(self, ws_url: str):
        import websocket  # websocket-client, installed with jupyter_server in .venv-lab

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, deadline: float, proc: subprocess.Popen, what: str) -> bytes:
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read()
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer on {url}") from None
            time.sleep(0.25)


def write_settings(settings_dir: Path) -> None:
    """JupyterLab user settings for an unattended, complete rendering."""
    files = {
        # every cell in the DOM (the default windowing leaves far-away cells out)
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        # no "would you like to receive news?" toast, no update check (no network anyway)
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for rel, value in files.items():
        p = settings_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook", type=Path, help="an executed .ipynb (with outputs)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--cell", type=int, default=0, help="scroll this cell (0-based) to the top")
    where.add_argument("--output", type=int, help="scroll the N-th output (0-based) to the top")
    ap.add_argument("--out", type=Path, default=Path("lab-screenshot.png"), help="PNG to write")
    ap.add_argument("--untrusted", action="store_true", help="do not `jupyter trust` the copy")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=120, help="seconds for the whole run")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds the page must stay unchanged before the screenshot")
    ap.add_argument("--lab-venv", type=Path, default=ROOT / ".venv-lab")
    ap.add_argument("--kernel-venv", type=Path, default=ROOT / ".venv",
                    help="venv with the notebook's kernelspec (used when .venv-lab lacks it)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    deadline = t0 + args.timeout
    src = args.notebook.resolve()
    if not src.is_file():
        ap.error(f"no such notebook: {args.notebook}")
    jupyter = args.lab_venv / "bin" / "jupyter"
    if not jupyter.exists():
        ap.error(f"{jupyter} missing: run `make lab-env` first")
    if not Path(args.chromium).exists():
        ap.error(f"{args.chromium} missing: run `bash scripts/install-system-deps.sh`")
    nb_json = json.loads(src.read_text(encoding="utf-8"))
    n_cells = len(nb_json.get("cells", []))

    tmp = Path(tempfile.mkdtemp(prefix="lab-screenshot-"))
    work = tmp / "work"
    work.mkdir()
    copy = work / src.name
    shutil.copyfile(src, copy)
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),          # also holds the trust database
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "JUPYTER_PLATFORM_DIRS": "1",
    })
    env.pop("JUPYTER_PATH", None)
    kernel = (nb_json.get("metadata", {}).get("kernelspec") or {}).get("name", "")
    lab_kernels = args.lab_venv / "share" / "jupyter" / "kernels"
    if kernel and not (lab_kernels / kernel).is_dir():
        # `make lab-env` copies the kernelspec into .venv-lab; without it, look in .venv
        env["JUPYTER_PATH"] = str(args.kernel_venv / "share" / "jupyter")
    write_settings(tmp / "settings")

    if not args.untrusted:
        subprocess.run([str(jupyter), "trust", str(copy)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    token = base64.urlsafe_b64encode(os.urandom(18)).decode()
    port = free_port()
    lab_log = open(tmp / "jupyterlab.log", "wb")
    server = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={work}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=lab_log, stderr=subprocess.STDOUT, cwd=work)
    browser = None
    cdp = None
    report: dict = {"notebook": str(src), "trusted_requested": not args.untrusted}
    ok = False
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status?token={token}", deadline, server, "JupyterLab")
        model = json.loads(urllib.request.urlopen(
            f"{base}/api/contents/{urllib.parse.quote(copy.name)}?content=1&token={token}",
            timeout=30).read())
        with_out = [c for c in model["content"]["cells"] if c.get("outputs")]
        report["trusted"] = {"cells_with_outputs": len(with_out),
                             "marked_trusted": sum(bool(c["metadata"].get("trusted"))
                                                   for c in with_out)}

        profile = tmp / "chromium-profile"
        profile.mkdir()
        browser = subprocess.Popen(
            [args.chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-port=0", f"--window-size={args.width},{args.height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "chromium.log", "wb"))
        port_file = profile / "DevToolsActivePort"
        while not port_file.exists() or not port_file.read_text().strip():
            if browser.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start (see chromium.log, --keep)")
            time.sleep(0.1)
        devtools_port = int(port_file.read_text().split()[0])
        targets = json.loads(wait_http(f"http://127.0.0.1:{devtools_port}/json/list", deadline,
                                       browser, "chromium DevTools"))
        page = next(t for t in targets if t["type"] == "page")
        cdp = CDP(page["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        cdp.call("Runtime.enable")
        cdp.call("Emulation.setDeviceMetricsOverride", width=args.width, height=args.height,
                 deviceScaleFactor=1, mobile=False)
        url_path = f"/lab/tree/{urllib.parse.quote(copy.name)}"
        report["url_path"] = url_path
        cdp.call("Page.navigate", url=f"{base}{url_path}?token={token}")

        # Rendered = the notebook is there with all its cells, every vega view drew, and the
        # snapshot stayed the same for `settle` seconds.
        last, stable_since, snap = None, None, {}
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not rendered within {args.timeout}s; last state {snap}")
            snap = cdp.evaluate(PROBE_JS)
            complete = (snap["notebook"] and snap["cells_in_dom"] >= n_cells
                        and snap["vega_drawn"] == snap["vega_embed"] and not snap["busy"])
            key = json.dumps(snap, sort_keys=True)
            if complete and key == last:
                if time.monotonic() - stable_since >= args.settle:
                    break
            else:
                last, stable_since = key, time.monotonic()
            time.sleep(0.25)

        if args.output is not None:
            sel = ".jp-Notebook .jp-OutputArea-output"
            target = f"document.querySelectorAll('{sel}')[{args.output}]"
        else:
            target = f"document.querySelectorAll('.jp-Notebook .jp-Cell')[{args.cell}]"
        found = cdp.evaluate(f"(() => {{ const el = {target}; if (!el) return false;"
                             " el.scrollIntoView({block: 'start'}); return true; })()")
        report["scrolled_to"] = ({"output": args.output} if args.output is not None
                                 else {"cell": args.cell}) | {"found": found}
        time.sleep(0.8)  # let lazy parts (vega resize, images) settle after the scroll
        snap = cdp.evaluate(PROBE_JS)
        shot = cdp.call("Page.captureScreenshot", format="png")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(base64.b64decode(shot["data"]))
        errors = []
        for ev in cdp.events:
            if ev["method"] == "Runtime.exceptionThrown":
                d = ev["params"]["exceptionDetails"]
                errors.append((d.get("exception") or {}).get("description") or d.get("text"))
            elif ev["method"] == "Runtime.consoleAPICalled" and ev["params"]["type"] == "error":
                errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                       for a in ev["params"]["args"]))
        snap.pop("notebook", None)
        snap.pop("busy", None)
        report.update(snap)
        report.update({"cells": n_cells, "console_errors": [e[:300] for e in errors[:10]],
                       "screenshot": str(args.out.resolve())})
        ok = True
    except Exception as exc:  # report, clean up, exit 1
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if cdp:
            cdp.close()
        for proc in (browser, server):
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        lab_log.close()
        report["elapsed_s"] = round(time.monotonic() - t0, 1)
        if args.keep or not ok:
            report["tmp"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
