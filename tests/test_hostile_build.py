"""Hostile input and faults on the build side (issue 10): never a traceback, never a silent
acceptance, nothing left behind.

* markup and Markdown in every free-text field of the data stay text: in the built HTML (as
  headless Chromium shows it with the network off, tooltips included) and in the PDF;
* crafted CLI and papermill parameters are refused with one line naming the parameter, and
  never run;
* output paths that cannot be used are refused with one line naming the path;
* faults (SIGINT, SIGTERM, SIGHUP at each build step, ``timeout``, SIGKILL, a killed kernel,
  an exception or a hang in a cell, a full disk, two builds at once) end with one message, the
  right exit code, the previous outputs untouched and no debris in the output folder or TMPDIR.

Builds run the real CLI in a subprocess with a private TMPDIR, so "nothing left in /tmp" is
checked exactly (cases refused before anything runs call the CLI's ``main`` in this process,
TMPDIR pointed the same way: :func:`cli_here`); the country profile (a few seconds) stands in for the brief where the fault
does not depend on the notebook. Case counts are in the module's closing comment.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import ROOT, chromium_dom, copy_shipped_data, default_stop_signals, pdf_pages

DATA = ROOT / "data"
PY = sys.executable
IS_ROOT = os.geteuid() == 0


# ============================================================================================
# Helpers
# ============================================================================================
def cli(*args: str, tmpdir: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``coalition-report ARGS`` as a user runs it, with TMPDIR pointing at ``tmpdir``."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run([PY, "-m", "coalition_report.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ, TMPDIR=str(tmpdir)),
                          timeout=timeout)


def cli_here(*args: str, tmpdir: Path) -> subprocess.CompletedProcess:
    """``coalition-report ARGS`` through ``cli.main`` in this process, answered like :func:`cli`,
    with TMPDIR pointing at ``tmpdir`` for the call. For cases refused before anything runs, where
    the process is not under test: a new interpreter costs ~0.7 s of CPU in imports alone, and
    the suite is CPU-bound. Builds that run, signals and hangs keep :func:`cli`."""
    from contextlib import redirect_stderr, redirect_stdout

    from coalition_report import cli as cli_module

    tmpdir.mkdir(parents=True, exist_ok=True)
    old_env, old_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(tmpdir), None  # tempfile caches TMPDIR once read
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = cli_module.main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
    return subprocess.CompletedProcess(["coalition-report", *args], code, out.getvalue(), err.getvalue())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def report_files(folder: Path) -> dict[str, str]:
    """Every file of the folder with its hash, but index.html (rewritten by every build run,
    failed or not: it lists which reports failed) and hidden entries (see :func:`debris`)."""
    return {p.name: sha(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.name != "index.html" and not p.name.startswith(".")}


def debris(out: Path, tmpdir: Path) -> list[str]:
    """Whatever a build left behind: hidden entries in the output folder (scratch folders,
    locks, an empty .failed/) but the build cache (.cache, minus half-written entries in it),
    anything in its private TMPDIR, and live kernels started there."""
    left = []
    if out.is_dir():
        left += [f"{out.name}/{p.name}" for p in out.iterdir() if p.name.startswith(".") and p.name != ".cache"]
        if (out / ".cache").is_dir():
            left += [f"{out.name}/.cache/{p.name}" for p in (out / ".cache").iterdir() if p.name.startswith(".")]
    left += [f"TMPDIR/{p.name}" for p in tmpdir.iterdir()] if tmpdir.is_dir() else []
    left += [f"kernel pid {pid}" for pid in kernels(tmpdir)]
    return left


def kernels(tmpdir: Path) -> list[int]:
    """Live processes whose command line names ``tmpdir`` (a kernel's connection file)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        # the kernel runs coalition_report.render.kernel_launch (ipykernel_launcher before it)
        if str(tmpdir).encode() in cmd and (b"kernel_launch" in cmd or b"ipykernel" in cmd) and state != "Z":
            found.append(int(proc.name))
    return found


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text[-2000:]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def run_and_signal(args: list[str], *, tmpdir: Path, after: str, sig: int, delay: float = 0.0,
                   timeout: float = 300, ready: Callable[[], bool] | None = None) -> tuple[int, str]:
    """Start the CLI, wait for the stderr line containing ``after``, wait ``delay`` seconds (and
    then, if given, until ``ready()`` is true: a state to reach on a machine of any speed), send
    ``sig``; return exit code and the whole stderr."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([PY, "-m", "coalition_report.cli", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, TMPDIR=str(tmpdir)), preexec_fn=default_stop_signals)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if after in line:
                break
        else:
            raise AssertionError(f"no line with {after!r}:\n{''.join(seen)}")
        time.sleep(delay)
        deadline = time.monotonic() + 60
        while ready is not None and not ready() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(seen) + rest


def profile_args(out: Path, *extra: str, fmt: str = "html,pdf", currency: str = "GBP") -> list[str]:
    """The FRA profile. In GBP by default: the previous outputs the fault tests protect are in
    EUR, so a fault build really runs (an identical rebuild would find nothing to do)."""
    return ["build", "--no-brief", "--country", "FRA", "--currency", currency, "--format", fmt,
            "--out", str(out), *extra]


# ============================================================================================
# 1. Markup and Markdown in every free-text field of the data
# ============================================================================================
#: (file, key column, key, column, shown): a free-text field of one row that the brief or the
#: FRA profile prints (``shown``), or that is only carried along (``False``: still inert).
FIELDS = [
    ("actors.csv", "actor_id", "FRA", "name", True),
    ("meetings.csv", "meeting_id", "2025-03-02-london", "place", True),
    ("meetings.csv", "meeting_id", "2025-03-02-london", "outcome", True),
    ("meetings.csv", "meeting_id", "2025-03-02-london", "hosts", False),
    ("meetings.csv", "meeting_id", "2025-03-02-london", "participation_as_reported", True),
    ("attendance.csv", "actor_id", "FRA", "note", False),
    ("contributions.csv", "contribution_id", "fra-2025-04-11-afp", "as_reported", True),
    ("contributions.csv", "contribution_id", "fra-2025-04-11-afp", "conditions", True),
    ("positions.csv", "position_id", "fra-coalition-2025-03-15", "summary", True),
    ("positions.csv", "position_id", "fra-coalition-2025-03-15", "quote", True),
    ("positions.csv", "position_id", "fra-coalition-2025-03-15", "speaker", True),
    ("events.csv", "event_id", "2025-03-02-uk-fr-truce-proposal", "title", True),
    ("events.csv", "event_id", "2025-03-02-uk-fr-truce-proposal", "description", True),
    ("claims.csv", "claim_id", "article-starmer-big-mistake", "statement", True),
    ("claims.csv", "claim_id", "article-starmer-big-mistake", "quote", True),
    ("aid_announcements.csv", "announcement_id", "fra-2025-03-27-2bn", "description", True),
    ("sources.csv", "source_id", "ref-001", "publisher", True),
    ("sources.csv", "source_id", "ref-001", "title", True),
    ("outlook.csv", "outlook_id", "outlook-ceasefire-to-enforce", "question", True),
    ("outlook.csv", "outlook_id", "outlook-ceasefire-to-enforce", "text", True),
]
#: Prose the old offline check refused as if it were markup.
PARIS = "Paris (video; data = pool report)"


def payload(i: int) -> str:
    """HTML, an event handler, Markdown emphasis, code and a javascript: link, numbered."""
    text = f"<img src=x{i} onerror=alert({i})> **vote{i}** `c{i}` [l{i}](javascript:alert({i}))"
    return f"{PARIS} {text}" if FIELDS[i][3] == "place" else text


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def write_hostile_data(dest: Path) -> Path:
    copy_shipped_data(dest)
    for i, (name, keycol, key, col, _) in enumerate(FIELDS):
        path = dest / name
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        k, c = rows[0].index(keycol), rows[0].index(col)
        hit = [r for r in rows[1:] if r[k] == key]
        assert hit, (name, key)
        for r in hit:
            r[c] = payload(i)
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator="\n").writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return dest


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    """The brief and the FRA profile built (HTML+PDF) from a copy of data/ with markup in
    every free-text field listed in FIELDS. The build itself must succeed: escaped markup and
    "data = pool report" are text, not something to refuse."""
    root = tmp_path_factory.mktemp("hostile")
    data = write_hostile_data(root / "data")
    out, tmp = root / "out", root / "tmp"
    run = cli("build", "--data", str(data), "--out", str(out), "--country", "FRA", "--jobs", "1",
              tmpdir=tmp)
    assert run.returncode == 0, run.stderr[-3000:]
    no_traceback(run.stderr)
    assert debris(out, tmp) == []
    return out


@pytest.fixture(scope="module")
def hostile_pages(hostile_build):
    """Visible text of each page (scripts removed) and of each PDF, whitespace squashed."""
    pages = {}
    for stem in ("coalition-brief", "country-FRA"):
        soup = BeautifulSoup((hostile_build / f"{stem}.html").read_text(encoding="utf-8"), "html.parser")
        for s in soup.find_all("script"):
            s.decompose()
        pdf = "".join(pdf_pages(hostile_build / f"{stem}.pdf"))
        pages[stem] = (squash(soup.get_text()), squash(pdf))
    return pages


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(FIELDS)), ids=[f"{f[0]}:{f[3]}" for f in FIELDS])
def test_field_markup_is_text_in_html_and_pdf(hostile_pages, i):
    name, _, _, col, shown = FIELDS[i]
    want = squash(payload(i))
    in_html = [stem for stem, (html, _) in hostile_pages.items() if want in html]
    in_pdf = [stem for stem, (_, pdf) in hostile_pages.items() if want in pdf]
    if shown:
        assert in_html, f"{name}:{col} is not shown literally in any page"
        assert in_pdf == in_html, f"{name}:{col}: literal in HTML of {in_html}, PDF of {in_pdf}"
    else:  # not printed anywhere: then not half-printed (rendered as markup) either
        for html, pdf in hostile_pages.values():
            assert not re.search(rf"vote{i}(?!\d)", html + pdf)


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["coalition-brief", "country-FRA"])
def test_chromium_dom_has_no_injected_element(hostile_build, stem, tmp_path):
    """What a reader's browser builds from the page (scripts run, network off): no element,
    attribute or link came from the data, and the payloads read as text."""
    dom = BeautifulSoup(chromium_dom(hostile_build / f"{stem}.html", tmp_path), "html.parser")
    assert dom.select("figure.chart"), "the page did not load"
    assert all("chart-drawn" in f["class"] for f in dom.select("figure.chart"))
    for tag in dom.find_all(True):
        for attr, value in tag.attrs.items():
            assert not attr.lower().startswith("on"), (tag.name, attr)
            if attr in ("src", "href", "xlink:href") and isinstance(value, str):
                assert not re.match(r"\s*(javascript|x\d)", value, re.I), (tag.name, attr, value)
    assert not dom.find_all(["iframe", "object", "embed", "base", "link"])
    assert not [s for s in dom.find_all("script") if "alert(" in s.get_text()
                and s.get("type") != "application/json"]
    text = squash(dom.get_text())
    assert squash(payload(0)) in text  # the actor name, shown literally
    if stem == "country-FRA":
        assert dom.title.get_text() == f"Country profile: {payload(0)}"
    else:
        assert squash(payload(1)) in text  # "Paris (video; data = pool report) <img ...>"


@pytest.mark.slow
def test_markup_in_alt_text_and_aria_labels_is_text(hostile_build):
    soup = BeautifulSoup((hostile_build / "country-FRA.html").read_text(encoding="utf-8"), "html.parser")
    labels = [t.get("alt", "") + t.get("aria-label", "") for t in soup.find_all(["img", "figure"])]
    assert any("<img src=x0 onerror=alert(0)>" in label for label in labels)  # the name, as text
    assert soup.select_one(".report-title").get_text() == f"Country profile: {payload(0)}"


TOOLTIP_PROBE = r"""<script>
setTimeout(function () {
  var out = [];
  document.querySelectorAll("figure.chart .chart-view svg path").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (!r.width && !r.height) { return; }
    ["pointermove", "mousemove"].forEach(function (t) {
      el.dispatchEvent(new MouseEvent(t, {bubbles: true, clientX: r.left + r.width / 2,
                                          clientY: r.top + r.height / 2}));
    });
    var tip = document.getElementById("vg-tooltip-element");
    if (tip && tip.classList.contains("visible")) { out.push(tip.innerHTML); }
  });
  var pre = document.createElement("pre"); pre.id = "tooltip-probe";
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
}, 4000);
</script>"""


@pytest.mark.slow
def test_chart_tooltips_show_markup_as_text(hostile_build, tmp_path):
    """Hover every mark of every chart in Chromium: tooltips with the hostile name escape it."""
    page = (hostile_build / "coalition-brief.html").read_text(encoding="utf-8")
    cut = page.rfind("</body>")
    probe = tmp_path / "probe.html"
    probe.write_text(page[:cut] + TOOLTIP_PROBE + page[cut:], encoding="utf-8")
    dom = BeautifulSoup(chromium_dom(probe, tmp_path), "html.parser")
    tips = json.loads(dom.find(id="tooltip-probe").get_text())
    hostile = [t for t in tips if "vote0" in t]
    assert len(tips) > 20 and hostile, "no tooltip shows the hostile actor name"
    for tip in hostile:
        assert "&lt;img src=x0 onerror=alert(0)&gt; **vote0**" in tip
        assert "<img" not in tip and "<strong>" not in tip


def test_offline_check_reads_markup_not_text():
    """assert_offline parses the page: prose and escaped markup are text, in element text and
    in attribute values alike; only what the browser would fetch is refused."""
    from coalition_report.render.offline import assert_offline

    ok = (f'<body><p>{PARIS}</p><td>&lt;img src=x&gt;</td>'
          f'<figure aria-label="{PARIS} &lt;img src=x onerror=alert(1)&gt;" role="img">'
          '<img src="data:image/png;base64,AAAA" alt="a src=http://evil/x data=1"></figure>'
          '<a href="https://www.ifw-kiel.de/">link</a><a href="#sec">in page</a>'
          '<svg><use href="#m"/></svg><style>.x { background: url(data:image/png;base64,AA) }</style>'
          '<script type="application/json">{"url": "url(http://evil.example/)"}</script></body>')
    assert_offline(ok)


@pytest.mark.parametrize("markup,needle", [
    ('<img src="https://example.org/x.png" alt="">', "https://example.org/x.png"),
    ('<img src=x onerror=alert(1)>', "'x' (<img src>)"),
    ('<img srcset="data:image/png;base64,A 1x, http://e.example/2.png 2x">', "http://e.example/2.png"),
    ('<video poster="http://e.example/p.jpg"></video>', "<video poster>"),
    ('<object data="http://e.example/o.swf"></object>', "<object data>"),
    ('<iframe src="//e.example/"></iframe>', "<iframe src>"),
    ('<link rel="stylesheet" href="http://e.example/s.css">', "<link href>"),
    ('<form action="http://e.example/post"></form>', "<form action>"),
    ('<svg><image xlink:href="http://e.example/i.png"/></svg>', "<image xlink:href>"),
    ('<div style="background: url(\'http://e.example/b.png\')"></div>', "<div style>"),
    ('<style>@import "http://e.example/i.css";</style>', "<style>"),
    ('<a href=" javascript:alert(1)">x</a>', "runs a script"),
    ('<meta http-equiv="refresh" content="0;url=http://e.example/">', "<meta refresh>"),
    ('<iframe srcdoc="&lt;p&gt;hi"></iframe>', "srcdoc"),
])
def test_offline_check_refuses_what_would_load(markup, needle):
    from coalition_report.render.offline import assert_offline

    with pytest.raises(ValueError, match="not embedded") as exc:
        assert_offline(f"<body>{markup}</body>")
    assert needle in str(exc.value)


@pytest.mark.parametrize("raw", ["NUL\x00here", "ESC\x1b[2Jhere", "BEL\x07C1\x9bhere", "DEL\x7fhere"])
def test_control_characters_never_reach_the_markup(raw):
    """Removed wherever data becomes markup: cells, captions, links, chart specs and SVG."""
    import pandas as pd

    import base64

    from coalition_report.display import Figure, Table, figure_html, linkify

    control = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
    clean = control.sub("", raw)
    table = Table(pd.DataFrame({"name": [raw], "n": [1]}), caption=raw, source_note=raw).to_html()
    assert clean in table and not control.search(table)
    assert linkify(f"{raw} https://example.org/{raw}") == (
        f'{clean} <a class="url" href="https://example.org/{clean}">https://example.org/{clean}</a>')
    fig = Figure({"mark": "bar", "data": {"values": [{"a": raw, "b": 1}]},
                  "encoding": {"x": {"field": "b", "type": "quantitative"},
                               "y": {"field": "a", "type": "nominal", "title": raw}}},
                 alt_text=raw, source_note=raw, title=raw)
    for interactive in (True, False):
        markup = figure_html(fig.payload(), "f", interactive=interactive)
        svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', markup).group(1)).decode()
        assert clean in markup and clean in svg  # caption, alt text, source, axis label
        assert not control.search(markup) and not control.search(svg)


def test_run_time_title_markdown_is_literal():
    """A title or subtitle from data (a country name) is text, whatever Markdown it holds."""
    from coalition_report.render.prepare import collect_meta

    hostile = "1. [x](javascript:alert(1)) **b** `c` <i>i</i> _e_ # h"
    cell = new_code_cell("meta")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.coalition.meta+json": {"as_of": None, "title": hostile, "subtitle": hostile},
        "text/plain": ""})]
    meta = collect_meta(new_notebook(cells=[cell]), "t", {})
    assert meta.title == hostile and meta.subtitle_text == hostile


# ============================================================================================
# 2. Crafted parameters
# ============================================================================================
@pytest.fixture()
def canary(tmp_path):
    """A folder that crafted parameters try to delete: it must survive."""
    path = tmp_path / "canary"
    path.mkdir()
    (path / "alive").write_text("1")
    return path


CLI_PARAMS = [
    # (arguments, parameter named in the message, why)
    (["--as-of", "9999-12-31"], "as_of", "in the future"),
    (["--as-of", "2999-01-01"], "as_of", "in the future"),
    (["--as-of", "$(rm -rf {canary})"], "as_of", "expected an ISO date"),
    (["--as-of", "../../../../etc/passwd"], "as_of", "expected an ISO date"),
    (["--as-of", "２０２５-０６-３０"], "as_of", "expected an ISO date"),
    (["--as-of", "2025-06-30" * 10_000], "as_of", "expected an ISO date"),
    (["--currency", "EUR\x1b[2J"], "currency", "control characters"),
    (["--currency", "__import__('os').system('rm -rf {canary}')"], "currency", "is not allowed"),
    (["--currency", "€"], "currency", "is not allowed"),
    (["--country", "../FRA"], "country", "not a state"),
    (["--country", "FRA; rm -rf {canary}"], "country", "not a state"),
    (["--country", "ＦＲＡ"], "country", "not a state"),
    (["--format", "html,../../x"], "format", "allowed"),
]


def _param_id(case) -> str:
    args = case.values[0] if hasattr(case, "values") else case[0]
    return f"{args[0]}={args[1][:24]!r}"


@pytest.mark.parametrize("args,name,why", CLI_PARAMS, ids=[_param_id(c) for c in CLI_PARAMS])
def test_crafted_cli_parameter_is_refused(args, name, why, canary, tmp_path):
    args = [a.replace("{canary}", str(canary)) for a in args]
    out = tmp_path / "out"
    run = cli_here("build", *args, "--out", str(out), tmpdir=tmp_path / "tmp")
    assert run.returncode == 2, run.stderr[-2000:]
    no_traceback(run.stderr)
    [line] = error_lines(run.stderr)
    assert line.startswith(f"error: parameter {name}=") and why in line
    assert len(line) < 700 and "\x1b" not in line  # shortened, control characters escaped
    assert (canary / "alive").is_file()
    assert not out.exists() or not any(out.iterdir())
    assert debris(out, tmp_path / "tmp") == []


def _papermill(tmp_path: Path, *params: str) -> subprocess.CompletedProcess:
    from coalition_report.render import ensure_kernelspec

    ensure_kernelspec()
    return subprocess.run([str(Path(PY).parent / "papermill"), "coalition_brief.ipynb",
                           str(tmp_path / "out.ipynb"), "-k", "coalition-report", *params],
                          capture_output=True, text=True, cwd=ROOT / "notebooks", timeout=300,
                          env=dict(os.environ, TMPDIR=str(tmp_path)))


@pytest.mark.slow
def test_plain_papermill_refuses_an_unknown_parameter_name(tmp_path):
    """The README's promise: `-p curency USD` is an error, not a EUR brief with a warning."""
    run = _papermill(tmp_path, "-p", "curency", "USD")
    assert run.returncode != 0
    assert ("ParameterError: parameter curency='USD': notebook 'coalition_brief'; unknown parameter"
            in run.stderr)
    assert "allowed: as_of, currency, data_dir, top_n" in run.stderr
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert not any("key-figures" in json.dumps(c.get("outputs", [])) for c in executed.cells)


@pytest.mark.slow
def test_plain_papermill_refuses_a_wrong_type(tmp_path):
    run = _papermill(tmp_path, "-p", "top_n", "ten")
    assert run.returncode != 0
    assert "ParameterError: parameter top_n='ten': notebook 'coalition_brief'; must be int" in run.stderr


class _FakeShell:
    """A kernel's shell as brief.setup sees it: the input history, and a display formatter."""

    def __init__(self, *history: str):
        from types import SimpleNamespace

        self.user_ns = {"_ih": ["", *history]}
        formatter = SimpleNamespace(for_type=lambda *args: None)
        self.display_formatter = SimpleNamespace(mimebundle_formatter=formatter)


@pytest.mark.parametrize("injected,name,why", [
    ('# Parameters\ncurency = "USD"\n', "curency", "unknown parameter"),
    ('# Parameters\ntop_n = "15"\ncurrency = 5\n', "currency", "must be str"),
    ('# Parameters\ntop_n = 15.5\n', "top_n", "must be int"),
    ('# Parameters\nas_of = "9999-12-31; import os"\n', "as_of", "not an ISO date"),
    ('# Parameters\ncurrency = __import__("os").getcwd()\n', "currency", "not a plain value"),
    ('# Parameters\nimport os\n', "(injected parameters)", "not a plain assignment"),
    ('# Parameters\ndata_dir = "$(rm -rf /)"\n', "data_dir", "not an existing directory"),
])
def test_injected_papermill_parameters_are_checked(monkeypatch, tmp_path, injected, name, why):
    """brief.setup reads papermill's injected cell from the kernel's history (as data, with
    ast) and checks every name and value against the notebook's spec."""
    import IPython

    from coalition_report import brief
    from coalition_report.errors import ParameterError

    monkeypatch.setattr(IPython, "get_ipython", lambda: _FakeShell("x = 1", injected, "setup()"))
    with pytest.raises(ParameterError) as exc:  # before any data is loaded
        brief.setup(as_of="", currency="EUR", data_dir=str(tmp_path / "no-data"), top_n=15)
    assert exc.value.name == name and why in str(exc.value)


def test_setup_without_papermill_has_nothing_to_check(monkeypatch):
    import IPython

    from coalition_report import brief

    # The notebook's own parameters cell ("# Parameters (papermill injects ...)") is not
    # papermill's; JupyterLab runs have no injected cell at all.
    own = '# Parameters (papermill injects overrides after this cell)\nas_of = ""\n'
    monkeypatch.setattr(IPython, "get_ipython", lambda: _FakeShell(own, "brief.setup()"))
    ds, _ = brief.setup(as_of="2025-06-30", currency="EUR", data_dir="", top_n=15)
    assert str(ds.as_of) == "2025-06-30"
    monkeypatch.setattr(IPython, "get_ipython", lambda: _FakeShell(own, '# Parameters\ncurrency = "GBP"\n'))
    brief.setup(as_of="2025-06-30", currency="GBP", data_dir="", top_n=15)


# ============================================================================================
# 3. Output paths
# ============================================================================================
@pytest.fixture()
def read_only(tmp_path):
    """A read-only folder: chmod for ordinary users; a read-only tmpfs for root (root ignores
    permission bits)."""
    path = tmp_path / "ro"
    path.mkdir()
    if not IS_ROOT:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("root without mount: no way to make a read-only folder")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def _paths(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    return {"file": (afile, "afile"), "under a file": (afile / "sub", "afile/sub"),
            "symlink loop": (loop, "loop"), "under a symlink loop": (loop / "sub", "loop/sub"),
            "device": (Path("/dev/null"), "/dev/null")}


@pytest.mark.parametrize("case", ["file", "under a file", "symlink loop", "under a symlink loop", "device"])
def test_unusable_output_path_is_one_line_naming_it(case, tmp_path):
    target, shown = _paths(tmp_path)[case]
    before = {p.name for p in tmp_path.iterdir()}
    run = cli_here(*profile_args(target), tmpdir=tmp_path / "tmp")
    assert run.returncode == 2, run.stderr[-2000:]
    no_traceback(run.stderr)
    [line] = error_lines(run.stderr)
    assert shown in line
    assert {p.name for p in tmp_path.iterdir()} == before | {"tmp"}  # nothing created
    assert debris(tmp_path / "nowhere", tmp_path / "tmp") == []
    if case == "file":
        assert (tmp_path / "afile").read_text() == "not a folder"


@pytest.mark.parametrize("sub", ["", "new/deeper"])
def test_read_only_output_folder_is_one_line_naming_it(read_only, sub, tmp_path):
    target = read_only / sub if sub else read_only
    run = cli_here(*profile_args(target), tmpdir=tmp_path / "tmp")
    assert run.returncode == 2, run.stderr[-2000:]
    no_traceback(run.stderr)
    [line] = error_lines(run.stderr)
    assert str(read_only) in line and ("Read-only" in line or "ermission" in line or "not writable" in line)
    assert list(read_only.iterdir()) == []
    assert debris(read_only, tmp_path / "tmp") == []


def test_output_folder_rules_in_process(tmp_path):
    """render's own check (API callers): ParameterError naming the path, nothing created."""
    from coalition_report.errors import ParameterError
    from coalition_report.params import get_notebook
    from coalition_report.render.locks import output_folder

    (tmp_path / "f").write_text("x")
    spec = get_notebook("coalition_brief")
    with pytest.raises(ParameterError, match="exists and is not a folder") as exc:
        output_folder(spec.name, tmp_path / "f")
    assert exc.value.name == "out_dir" and str(tmp_path / "f") in str(exc.value)
    (tmp_path / "l").symlink_to(tmp_path / "l")
    with pytest.raises(ParameterError, match="Symlink loop"):
        output_folder(spec.name, tmp_path / "l")
    assert output_folder(spec.name, tmp_path / "a" / "b") == (tmp_path / "a" / "b").resolve()


# ============================================================================================
# 4. Faults: signals, timeout, SIGKILL, kernel death, failing cells, full disk, concurrency
# ============================================================================================
def test_a_running_builds_folders_are_not_swept(tmp_path):
    """The sweep removes only folders nobody holds: a live build's scratch folder stays."""
    from coalition_report.render.locks import Scratch, sweep

    live = Scratch(".build-", tmp_path)
    dead = tmp_path / ".build-dead"
    dead.mkdir()
    (dead / ".lock").write_text("12345\n")  # its process died: nobody holds the lock
    unlocked_new = tmp_path / ".build-starting"
    unlocked_new.mkdir()  # no lock file yet, and young: maybe being created this instant
    sweep(tmp_path, ".build-")
    assert live.path.is_dir() and not dead.exists() and unlocked_new.is_dir()
    live.remove()
    assert not live.path.exists()


def _tiny(folder: Path, name: str, code: str) -> "object":
    from coalition_report.render import NotebookSpec

    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_markdown_cell("# Tiny"), new_code_cell(code), new_code_cell("print('after')")],
                      metadata={"kernelspec": {"name": "coalition-report", "language": "python",
                                               "display_name": "x"}})
    nbformat.write(nb, folder / f"{name}.ipynb")
    return NotebookSpec(name, (), path=folder / f"{name}.ipynb")


@pytest.mark.slow
@pytest.mark.parametrize("name,code,message,kept", [
    ("exception", "1/0", "cell 2, line 1: 1/0  -> ZeroDivisionError: division by zero", True),
    ("kernel_killed", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
     "cell 2 failed: the kernel died (killed, or out of memory)", False),
    ("hangs", "import time\ntime.sleep(120)", "cell 2 failed: the cell ran longer than the 2 s allowed (timeout)",
     False),
    ("keyboard_interrupt_in_cell", "raise KeyboardInterrupt", "cell 2, line 1: raise KeyboardInterrupt  -> "
     "KeyboardInterrupt: ", True),
    ("sys_exit_in_cell", "import sys\nsys.exit(3)", "cell 2 failed: SystemExit: 3", True),
])
def test_cell_faults_name_the_cell_and_leave_nothing(tmp_path, monkeypatch, capsys, name, code, message, kept):
    from coalition_report.errors import BuildError
    from coalition_report.render import render_report

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny.html").write_text("previous")
    with pytest.raises(BuildError) as exc:
        render_report(_tiny(tmp_path / "nb", name, code), out_dir=out, formats=("html",), basename="tiny",
                      timeout=2 if name == "hangs" else 60)
    failed = out / ".failed" / "tiny.ipynb"
    assert str(exc.value) == f"{name}: {message}" + (f"\nexecuted notebook kept at: {failed}" if kept else "")
    assert failed.is_file() == kept
    assert (out / "tiny.html").read_text() == "previous"
    assert sorted(p.name for p in out.iterdir()) == ([".failed", "tiny.html"] if kept else ["tiny.html"])
    assert debris(tmp_path / "none", tmp) == []
    err = capsys.readouterr().err
    assert "executed notebook kept at" not in err  # said once, in the error, not also on stderr
    assert "Kernel died" not in err and "Timeout waiting" not in err


@pytest.fixture()
def full_disk(tmp_path):
    """A 4 MB tmpfs (root only) holding the previous outputs, filled up but for 64 KB."""
    if not IS_ROOT:
        pytest.skip("needs root to mount a small tmpfs")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("mount failed")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _fill(folder: Path, leave: int) -> None:
    free = shutil.disk_usage(folder).free - leave
    with open(folder / "filler", "wb") as fh:
        try:
            fh.write(b"\0" * max(free, 0))
        except OSError:
            pass


@pytest.mark.slow
def test_full_disk_names_the_folder_and_leaves_nothing(full_disk, good_profile, tmp_path):
    out = full_disk / "out"
    shutil.copytree(good_profile, out)
    _fill(full_disk, 64 * 1024)
    before = report_files(out)
    tmp = tmp_path / "tmp"
    run = cli(*profile_args(out, fmt="html"), tmpdir=tmp)
    assert run.returncode == 1, run.stderr[-2000:]
    no_traceback(run.stderr)
    [line] = error_lines(run.stderr)
    assert re.fullmatch(rf"error: country_profile: build failed: \w+: cannot write to the output folder "
                        rf"{re.escape(str(out))}: No space left on device.*", line), line
    assert report_files(out) == before
    assert debris(out, tmp) == []  # no .build-*, no lock, no empty .failed/


@pytest.mark.slow
def test_full_disk_in_process_keeps_no_empty_failed_folder(tmp_path, monkeypatch):
    """Without root: the disk is full when the PDF is written and when the failed notebook
    would be kept (both monkeypatched)."""
    from coalition_report import render
    from coalition_report.errors import BuildError

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[1]))

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    from coalition_report.render import exporters, pipeline

    def pdf_no_space(self):
        raise OSError(errno.ENOSPC, "No space left on device", "coalition-brief.pdf")

    monkeypatch.setattr(exporters.PendingPDF, "finish", pdf_no_space)
    monkeypatch.setattr(pipeline.shutil, "copyfile", no_space)
    out = tmp_path / "out"
    spec = render.NotebookSpec("fixture_report", (render.Param("as_of", str, ""),),
                               path=ROOT / "tests" / "notebooks" / "fixture_report.ipynb")
    with pytest.raises(BuildError) as exc:
        render.render_report(spec, {"as_of": "2025-06-30"}, out_dir=out, formats=("html", "pdf"), progress=False)
    assert str(exc.value).startswith(f"fixture_report: build failed: pdf: cannot write to the output folder "
                                     f"{out.resolve()}: No space left on device (")
    assert report_files(out) == {} and debris(out, tmp) == []  # the build cache may stay


@pytest.mark.slow
def test_two_builds_of_different_reports_into_one_folder(tmp_path):
    """Different reports build side by side; each manifest describes its own files."""
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    procs = [subprocess.Popen([PY, "-m", "coalition_report.cli", "build", "--no-brief", "--country", c,
                               "--format", "html", "--out", str(out)], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in ("FRA", "GBR")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        no_traceback(err)
    assert_consistent(out, "country-FRA")
    assert_consistent(out, "country-GBR")
    assert debris(out, tmp) == []


def assert_consistent(out: Path, stem: str) -> None:
    manifest = json.loads((out / f"{stem}.manifest.json").read_text())
    for entry in manifest["outputs"]:
        path = out / entry["file"]
        assert path.stat().st_size == entry["bytes"] and sha(path) == entry["sha256"], entry["file"]


# Case counts (parametrized cases included):
#   markup in data ........ 20 fields + 2 DOM + 1 alt/title + 1 tooltips + 1 + 14 offline + 4 control + 1 title = 44
#   crafted parameters .... 13 CLI + 2 papermill + 7 injected + 1 = 23
#   output paths .......... 5 CLI + 2 read-only + 1 in-process = 8
#   faults ................ 5 signals + 1 timeout + 1 SIGKILL (these three in test_signals.py) + 1 sweep
#                           + 5 cell faults + 2 full disk + 2 concurrent = 17
