"""Rendering engine: parameters, execution, offline HTML, PDF, manifest, failure handling.

The fixture notebooks live in tests/notebooks/ (regenerate with make_fixtures.py). The expensive
part, executing and exporting the fixture, runs once per module; most tests inspect its outputs.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from coalition_report import render
from coalition_report.display import MIME_FIGURE, MIME_META
from coalition_report.errors import BuildError, ParameterError
from conftest import chromium_dom
from coalition_report.hashing import hash_directory
from coalition_report.params import (
    NOTEBOOKS, REQUIRED, NotebookSpec, get_notebook, Param, directory, int_between, iso3, iso_date, one_of, validate_params,
)
from coalition_report.render import render_report
from coalition_report.render.exporters import TOC_MARKER, PDFExporter, finish_page
from coalition_report.render.prepare import PrepareOutputs, collect_meta
from coalition_report.render.progress import STEPS

HERE = Path(__file__).parent
FIXTURES = HERE / "notebooks"
EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
# A data folder whose name is Python code: papermill must inject it as an inert string.
CRAFTED_DIR = 'data"; open("PWNED", "w").write("x"); x = "'

pytestmark = pytest.mark.slow


def fixture_spec(name: str = "fixture_report") -> NotebookSpec:
    return NotebookSpec(
        name,
        (Param("as_of", str, "", iso_date()),
         Param("currency", str, "EUR", one_of("EUR", "USD", "GBP")),
         Param("data_dir", str, "", directory(), public=False),
         Param("top_n", int, 5, int_between(5, 40))),
        path=FIXTURES / f"{name}.ipynb")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs") / CRAFTED_DIR
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("x,y\n1,2\n")
    (root / "sub" / "b.csv").write_text("z\n3\n")
    return root


def _build(out: Path, data_dir: Path, **kw) -> render.BuildResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        return render_report(fixture_spec(), {"as_of": "2025-06-30", "data_dir": str(data_dir)},
                             out_dir=out, progress=False, **kw)


@pytest.fixture(scope="module")
def build(tmp_path_factory, data_dir) -> render.BuildResult:
    return _build(tmp_path_factory.mktemp("out"), data_dir)


@pytest.fixture(scope="module")
def page(build) -> str:
    return build.outputs["html"].read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def soup(page) -> BeautifulSoup:
    return BeautifulSoup(page, "html.parser")


@pytest.fixture(scope="module")
def pdf_pages(build) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() for p in PdfReader(build.outputs["pdf"]).pages]


# ============================================================================================
# Parameters
# ============================================================================================
def test_registry_holds_the_real_notebooks():
    brief = get_notebook("coalition_brief")  # read from the notebook's parameters cell
    assert [p.name for p in brief.params] == ["as_of", "currency", "data_dir", "top_n", "compare_to"]
    profile = NOTEBOOKS["country_profile"]
    assert profile.param("country").required
    assert validate_params("coalition_brief") == {
        "as_of": "", "currency": "EUR", "data_dir": "", "top_n": 15, "compare_to": ""}
    assert validate_params("country_profile", {"country": "fra"})["country"] == "FRA"


def test_unknown_parameter_is_rejected_with_context():
    with pytest.raises(ParameterError) as exc:
        validate_params("coalition_brief", {"top": 10})
    err = exc.value
    assert err.name == "top" and err.notebook == "coalition_brief"
    assert "unknown parameter" in str(err) and "top_n" in str(err)


@pytest.mark.parametrize("name,value,needle", [
    ("currency", "JPY", "EUR, GBP, USD"),
    ("top_n", 4, "integer from 5 to 40"),
    ("top_n", 41, "out of range"),
    ("top_n", "ten", "must be int"),
    ("top_n", True, "must be int"),
    ("top_n", 7.5, "must be int"),
    ("as_of", "2025-02-30", "not a calendar date"),
    ("as_of", "30/06/2025", "ISO date"),
    ("as_of", 20250630, "must be str"),
    ("data_dir", "/no/such/folder", "existing directory"),
    ("currency", ["EUR"], "plain JSON scalar"),
    ("currency", {"x": 1}, "plain JSON scalar"),
    ("as_of", "2025-06-30\nimport os", "control characters"),
])
def test_invalid_values_are_rejected(name, value, needle):
    with pytest.raises(ParameterError) as exc:
        validate_params("coalition_brief", {name: value})
    assert exc.value.name == name
    assert needle in str(exc.value)
    assert "coalition_brief" in str(exc.value)


def test_country_rules():
    with pytest.raises(ParameterError, match="required parameter is missing"):
        validate_params("country_profile", {})
    with pytest.raises(ParameterError, match="alpha-3"):
        validate_params("country_profile", {"country": "FR"})
    spec = NotebookSpec("p", (Param("country", str, REQUIRED,
                                    iso3(valid=lambda: {"FRA", "DEU"})),))
    assert validate_params(spec, {"country": "deu"}) == {"country": "DEU"}
    with pytest.raises(ParameterError) as exc:
        validate_params(spec, {"country": "ITA"})
    assert exc.value.allowed == ["DEU", "FRA"] and "allowed: DEU, FRA" in str(exc.value)


def test_int_strings_from_command_lines_are_coerced(tmp_path):
    out = validate_params("coalition_brief", {"top_n": "12", "data_dir": str(tmp_path)})
    assert out["top_n"] == 12 and out["data_dir"] == str(tmp_path.resolve())


def test_unknown_notebook_format_and_basename(tmp_path):
    with pytest.raises(ParameterError, match="unknown notebook"):
        validate_params("nope", {})
    with pytest.raises(ParameterError, match="format"):
        render_report(fixture_spec(), formats=("docx",), out_dir=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="safe file name"):
        render_report(fixture_spec(), basename="../evil", out_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing executed, nothing written


def test_hash_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "a.csv").write_text("1")
    (tmp_path / "d" / "b.csv").write_text("2")
    first = hash_directory(tmp_path)
    assert first == hash_directory(tmp_path) and len(first) == 64
    (tmp_path / ".hidden").write_text("ignored")
    assert hash_directory(tmp_path) == first
    (tmp_path / "d" / "b.csv").rename(tmp_path / "d" / "c.csv")
    renamed = hash_directory(tmp_path)
    assert renamed != first
    (tmp_path / "a.csv").write_text("changed")
    assert hash_directory(tmp_path) not in (first, renamed)


def test_kernelspec_runs_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    name = render.ensure_kernelspec()
    assert KernelSpecManager().get_kernel_spec(name).argv[0] == sys.executable


@pytest.mark.slow
def test_a_build_kernel_pins_the_hash_seed_starts_without_the_debugger_and_stops_by_sigkill(tmp_path, monkeypatch):
    """The kernelspec runs render/kernel_launch.py with PYTHONHASHSEED=0; a build starts it with
    --no-debugger, so ipykernel never imports debugpy (~0.1 s of CPU per kernel) and the garbage
    collector's thresholds are raised (kernel_launch.BUILD_GC_THRESHOLDS), and it keeps no input
    history (kernel_launch.NO_HISTORY). Plain papermill
    and JupyterLab start the same spec without the flag (test_fixture_runs_under_plain_papermill).
    The kernel is stopped by SIGKILL alone: jupyter_client's shutdown sent SIGINT first, and a
    kernel still starting wrote part of a KeyboardInterrupt traceback into a stopped build's stderr."""
    import signal

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    sent, send = [], LocalProvisioner.send_signal

    async def recorded(self, signum):
        sent.append(signum)
        await send(self, signum)

    monkeypatch.setattr(LocalProvisioner, "send_signal", recorded)

    spec = KernelSpecManager().get_kernel_spec(render.ensure_kernelspec())
    assert spec.argv[1:] == ["-Xfrozen_modules=off", "-m", "coalition_report.render.kernel_launch", "-f",
                             "{connection_file}"]
    assert spec.env["PYTHONHASHSEED"] == "0"
    folder = tmp_path / "nb"
    folder.mkdir()
    code = ("import gc, os, sys\nprint(os.environ.get('PYTHONHASHSEED'), 'debugpy' in sys.modules, "
            "sys.modules.get('debugpy'), type(get_ipython().kernel).__name__, gc.get_threshold(), "
            "get_ipython().history_manager.enabled)")
    nb = new_notebook(cells=[new_markdown_cell("# Kernel"), new_code_cell(code)],
                      metadata={"kernelspec": {"name": "coalition-report", "language": "python", "display_name": "x"}})
    nbformat.write(nb, folder / "kernel.ipynb")
    result = render_report(NotebookSpec("kernel", (), path=folder / "kernel.ipynb"), out_dir=tmp_path / "out",
                           formats=("ipynb",), progress=False)
    ran = nbformat.read(result.outputs["ipynb"], as_version=4)
    [out] = ran.cells[1].outputs
    # debugpy blocked, never loaded; no input history written (kernel_launch.NO_HISTORY)
    assert out["text"].strip() == "0 True None IPythonKernel (20000, 20, 20) False"
    assert sent == [signal.SIGKILL]


@pytest.mark.slow
def test_a_kernel_client_that_never_closes_does_not_hang_the_build(tmp_path, monkeypatch):
    """ZMQ's context termination blocks while any socket of the context is open; a stop signal
    inside pyzmq's socket() once left such a socket, and an interrupted build hung in
    KernelClient.stop_channels for good. Closing is now waited for a bounded time (5 s; 0.5 s
    here, so that the test does not idle a core)."""
    import time

    from jupyter_client.client import KernelClient

    from coalition_report.render import kernel

    monkeypatch.setattr(kernel, "CLOSE_SECONDS", 0.5)
    monkeypatch.setattr(KernelClient, "stop_channels", lambda self: time.sleep(3600))
    folder = tmp_path / "nb"
    folder.mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# Hang"), new_code_cell("1 + 1")],
                      metadata={"kernelspec": {"name": "coalition-report", "language": "python", "display_name": "x"}})
    nbformat.write(nb, folder / "hang.ipynb")
    start = time.monotonic()
    result = render_report(NotebookSpec("hang", (), path=folder / "hang.ipynb"), out_dir=tmp_path / "out",
                           formats=("html",), progress=False)
    assert result.outputs["html"].is_file()
    assert time.monotonic() - start < 60  # 0.5 s of waiting for the close, not an hour


@pytest.mark.slow
def test_a_kernel_launched_but_not_recorded_when_the_stop_came_is_killed(tmp_path, monkeypatch):
    """The stop signal lands after the kernel's Popen and before jupyter_client keeps the
    process: nothing recorded to kill, and the kernel outlived the build (until it noticed its
    parent gone). The build's stop finds it among its children by its connection file."""
    import signal
    import tempfile

    from jupyter_client.provisioning import local_provisioner

    from coalition_report.errors import BuildInterrupted
    from test_hostile_build import kernels

    real = local_provisioner.launch_kernel

    def launched_then_stopped(cmd, **kw):
        real(cmd, **kw)  # the process runs; the provisioner never gets it
        raise BuildInterrupted(signal.SIGINT)

    monkeypatch.setattr(local_provisioner, "launch_kernel", launched_then_stopped)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = tmp_path / "nb"
    folder.mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# Stop"), new_code_cell("1 + 1")],
                      metadata={"kernelspec": {"name": "coalition-report", "language": "python", "display_name": "x"}})
    nbformat.write(nb, folder / "stop.ipynb")
    with pytest.raises(KeyboardInterrupt):
        render_report(NotebookSpec("stop", (), path=folder / "stop.ipynb"), out_dir=tmp_path / "out",
                      formats=("html",), progress=False)
    assert kernels(tmp_path) == []  # at once: not left to ipykernel's parent poller


def test_importing_render_is_cheap():
    code = ("import sys, coalition_report.render; heavy = [m for m in ('altair', 'pandas', "
            "'papermill', 'nbconvert', 'weasyprint', 'vl_convert') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ============================================================================================
# Title convention, contents (no execution)
# ============================================================================================
def _nb(*cells):
    return new_notebook(cells=list(cells))


def _meta_cell(**fields):
    cell = new_code_cell("ReportMeta(...)")
    cell.outputs = [new_output("display_data", data={MIME_META: fields, "text/html": "<p></p>"})]
    return cell


def test_title_cell_and_report_meta():
    spec = NotebookSpec("some_report", ())
    nb = _nb(new_markdown_cell("# The *coalition*\n\nWho is in, and what they offer."),
             _meta_cell(as_of="2025-06-30", title=None, subtitle=None))
    meta = collect_meta(nb, spec.name, {})
    assert (meta.title, meta.subtitle_text, meta.as_of) == (
        "The coalition", "Who is in, and what they offer.", "2025-06-30")
    nb.cells.append(_meta_cell(as_of=None, title="Country profile: <France>", subtitle="x_y"))
    meta = collect_meta(nb, spec.name, {"as_of": ""})
    assert meta.title == "Country profile: <France>" and meta.as_of == "2025-06-30"  # plain text
    assert meta.subtitle_text == "x_y"
    bare = collect_meta(_nb(new_markdown_cell("No heading")), spec.name, {"as_of": "2024-01-01"})
    assert (bare.title, bare.subtitle_text, bare.as_of) == ("Some report", None, "2024-01-01")


def test_prepare_drops_title_parameters_meta_and_stderr():
    params = new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    noisy = new_code_cell("warn()")
    noisy.outputs = [new_output("stream", name="stderr", text="careful"),
                     new_output("stream", name="stdout", text="kept")]
    nb = _nb(new_markdown_cell("# T"), params, _meta_cell(as_of="2025-01-01"), noisy,
             new_code_cell("silent = 1"))
    prepared, res = PrepareOutputs(interactive=True).preprocess(nb, {})
    counts = res["cr_counts"]
    assert len(prepared.cells) == 1 and prepared.cells[0].outputs[0]["text"] == "kept"
    assert prepared.cells[0]["id"] == "c0" and counts["stderr_dropped"] == 1


def test_contents_nesting_and_unique_ids():
    page = ("<header>" + TOC_MARKER + "</header><main>"
            '<h2 id="A">A<a class="anchor-link" href="#A">¶</a></h2><h3 id="B">B</h3>'
            '<h3 id="A">A</h3><h2 id="C">C &amp; D</h2><h4 id="E">E</h4></main>')
    out = finish_page(page, print_mode=True)
    assert 'id="A-2"' in out and "anchor-link" not in out
    toc = out[: out.index("<main>")]
    assert re.findall(r'href="#([^"]+)"', toc) == ["A", "B", "A-2", "C"]
    assert "C &amp; D" in toc and "E" not in toc
    assert toc.count("<ol>") == 2 and toc.count("</ol>") == 2


# ============================================================================================
# Full build: HTML
# ============================================================================================
def test_build_result_and_files(build):
    assert set(build.outputs) == {"html", "pdf"}
    assert all(p.is_file() and p.parent == build.out_dir for p in build.outputs.values())
    assert build.title == "Fixture brief" and build.as_of == "2025-06-30"
    assert set(build.timings) == set(STEPS)
    assert not list(build.out_dir.glob(".build-*"))


def test_html_loads_nothing_from_outside(soup):
    assert not soup.find_all(["link", "iframe", "object", "embed", "base"])
    for tag in soup.find_all(True):
        for attr in ("src", "srcset", "poster", "data", "background", "xlink:href"):
            if tag.has_attr(attr):
                assert tag[attr].startswith("data:"), (tag.name, attr, tag[attr][:80])
        if tag.name == "script":
            assert not tag.has_attr("src")
        if tag.name == "a" and tag.has_attr("href"):
            assert not tag["href"].lower().startswith("javascript:")
    css = " ".join(s.get_text() for s in soup.find_all("style"))
    css += " ".join(t["style"] for t in soup.find_all(style=True))
    assert "@import" not in css
    assert all(u.startswith("data:") for u in re.findall(r"url\(\s*['\"]?([^'\")]*)", css))
    for img in soup.find_all("img"):
        svg = __import__("base64").b64decode(img["src"].split(",", 1)[1]).decode()
        assert not re.search(r"href=\"(?!#)", svg)
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert "default-src 'none'" in csp and "unsafe-eval" not in csp


def test_html_has_no_code_or_prompts(page, soup):
    assert not soup.select(".jp-InputArea-editor, .jp-InputPrompt, .jp-OutputPrompt, .highlight")
    for needle in ("In&nbsp;[", "Out[", "import altair", "resolved_as_of", "warnings.warn",
                   "this warning must not", "ReportMeta(", 'currency = "EUR"'):
        assert needle not in page, needle
    assert "currency=EUR top_n=5" in page  # stdout of a cell is part of the report


def test_html_title_block_and_contents(soup):
    assert soup.title.get_text() == "Fixture brief"
    assert soup.select_one("header .report-title").get_text() == "Fixture brief"
    assert "rendering" in soup.select_one("header .report-subtitle").get_text()
    assert soup.select_one("header time")["datetime"] == "2025-06-30"
    main = soup.find("main")
    assert not main.find("h1")  # the title cell was lifted into the header
    heads = [h["id"] for h in main.find_all(["h2", "h3"])]
    links = [a["href"][1:] for a in soup.select("nav.toc a")]
    assert links == heads and len(heads) == 6
    all_ids = [t["id"] for t in soup.find_all(id=True)]
    assert len(all_ids) == len(set(all_ids))
    # level-2 headings of the body are numbered by the build (render/markdown.py)
    assert [a.get_text() for a in soup.select("nav.toc > ol > li > a")] == [
        "1. Aid overview", "2. Timeline", "3. Method & sources: who's in? (Ø)"]


def test_every_chart_and_table_has_alt_text_and_source(soup):
    charts = soup.select("figure.chart")
    tables = soup.select("figure.table")
    assert len(charts) == 2 and len(tables) == 2
    for fig in charts:
        assert fig["role"] == "img" and len(fig["aria-label"]) > 20
        note = fig.find("figcaption", class_="source-note")
        assert note.get_text().startswith("Source: ") and note["id"] == fig["aria-describedby"]
        assert fig.select_one(".chart-fallback img")["alt"] == fig["aria-label"]
        assert soup.find("script", id=f"{fig['id']}-spec")
    for fig in tables:
        assert fig.find("caption").get_text()
        assert fig.find("figcaption", class_="source-note").get_text().startswith("Source: ")
    assert len(soup.find_all("script", src=False)) == 2 + 2  # bundle + embed + 2 specs


def test_markup_in_data_stays_inert(page, soup):
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x" not in page and "<b>bold?</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not [s for s in soup.find_all("script") if "alert(1)" in s.get_text()
                and s.get("type") != "application/json"]


def test_crafted_string_parameter_never_runs(build, data_dir, page, soup):
    assert build.params["data_dir"] == str(data_dir)
    assert not (FIXTURES / "PWNED").exists() and not Path("PWNED").exists()
    assert 'open("PWNED"' in soup.get_text()  # shown as the text it is (however the quotes are escaped)
    assert not re.search(r'<[^>]*open\("PWNED"', page)  # and never inside a tag


def test_charts_draw_in_headless_chromium_offline(build, tmp_path):
    dom_text = chromium_dom(build.outputs["html"], tmp_path)
    dom = BeautifulSoup(dom_text, "html.parser")
    charts = dom.select("figure.chart")
    assert len(charts) == 2
    drawn = [f for f in charts if f.select_one(".chart-view svg.marks")
             and f.select_one(".chart-view svg.marks path, .chart-view svg.marks text")]
    assert len(drawn) == len(charts)
    assert not dom.select(".chart-fallback")  # replaced by the live view
    assert all("chart-drawn" in f["class"] for f in charts)


# ============================================================================================
# Full build: PDF
# ============================================================================================
def test_pdf_pages_footer_and_running_header(pdf_pages):
    n = len(pdf_pages)
    assert n >= 4
    assert "Page 1 of" in pdf_pages[0]
    for i, text in enumerate(pdf_pages, start=1):
        assert f"Page {i} of {n}" in text
    assert "Fixture brief" in pdf_pages[0] and "Data as of 30 June 2025" in pdf_pages[0]
    for text in pdf_pages[1:]:
        assert "Fixture brief" in text and "Data as of 30 June 2025" in text


def test_pdf_sections_and_contents_with_page_numbers(pdf_pages):
    body = "\n".join(pdf_pages[1:])  # the contents share the title page
    for title in ("Aid overview", "Details by donor", "Timeline", "Long table",
                  "Method & sources: who's in? (Ø)"):
        assert title in body
    toc = pdf_pages[0]
    assert "Contents" in toc
    numbers = [int(m) for m in re.findall(r"\.{3,}\s*(\d+)", toc)]
    assert len(numbers) == 6 and numbers == sorted(numbers) and numbers[0] == 2
    assert "import altair" not in body and "this warning" not in body


def test_pdf_tables_repeat_headers(pdf_pages):
    with_rows = [t for t in pdf_pages if re.search(r"Item \d+", t)]
    assert len(with_rows) >= 2
    assert all(re.search(r"row\s+label\s+value", t) for t in with_rows)


def test_pdf_links_and_metadata(build):
    from pypdf import PdfReader

    reader = PdfReader(build.outputs["pdf"])
    uris, internal = set(), 0
    for pg in reader.pages:
        for annot in pg.get("/Annots") or []:
            a = annot.get_object()
            action = a.get("/A")
            if action and "/URI" in action:
                uris.add(action["/URI"])
            elif "/Dest" in a or (action and action.get("/S") == "/GoTo"):
                internal += 1
    assert "https://www.ifw-kiel.de/" in uris
    assert internal >= 6  # contents entries
    meta = reader.metadata
    assert meta.title == "Fixture brief"
    assert meta.get("/CreationDate", "").startswith("D:20231114")


# ============================================================================================
# Manifest and reproducibility
# ============================================================================================
def test_manifest(build, data_dir):
    man = json.loads(build.manifest_path.read_text())
    assert build.manifest_path == build.out_dir / "manifest.json"
    assert man["parameters"] == build.params
    assert man["data"]["sha256"] == hash_directory(data_dir) == build.data_hash
    assert man["built_at"] == "2023-11-14T22:13:20Z"
    assert man["package"]["version"]
    for lib in ("python", "pandas", "altair", "vl-convert", "papermill", "nbconvert",
                "weasyprint"):
        assert man["versions"][lib]
    assert set(man["timings_s"]) == {"validate", "execute", "html", "pdf"}
    files = {o["format"]: o for o in man["outputs"]}
    for fmt, path in build.outputs.items():
        assert files[fmt]["file"] == path.name
        assert files[fmt]["bytes"] == path.stat().st_size and files[fmt]["sha256"] == sha(path)
    assert man["report"] == {"title": "Fixture brief", "as_of": "2025-06-30",
                             "subtitle": "A small report used by the rendering tests."}


def test_second_build_is_byte_identical(build, data_dir, tmp_path):
    again = _build(tmp_path, data_dir)
    assert sha(again.outputs["html"]) == sha(build.outputs["html"])
    assert sha(again.outputs["pdf"]) == sha(build.outputs["pdf"])


# ============================================================================================
# Failures never touch the last good outputs
# ============================================================================================
def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: sha(p) for p in folder.iterdir() if p.is_file()}


def test_failing_cell_raises_and_keeps_previous_outputs(build, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(build.out_dir, out)
    before = _snapshot(out)
    with pytest.raises(BuildError) as exc:
        render_report(fixture_spec("fixture_failing"), out_dir=out, basename="fixture_report",
                      progress=False)
    err = exc.value
    assert err.notebook == "fixture_failing"
    assert err.cell == 5  # 1-based position in the source notebook
    assert err.exception.startswith("ZeroDivisionError")
    kept = Path(err.notebook_path)
    assert kept == out / ".failed" / "fixture_report.ipynb" and kept.is_file()
    executed = nbformat.read(kept, as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells
               for o in c.get("outputs", []))
    assert _snapshot(out) == before
    assert not list(out.glob(".build-*"))


def test_export_failure_keeps_previous_outputs(build, data_dir, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    shutil.copytree(build.out_dir, out)
    before = _snapshot(out)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(PDFExporter, "start", boom)
    with pytest.raises(BuildError) as exc:
        _build(out, data_dir, formats=("html", "pdf", "ipynb"))
    assert exc.value.cell is None and "pdf: RuntimeError: disk on fire" in exc.value.exception
    assert Path(exc.value.notebook_path).is_file()
    assert _snapshot(out) == before  # the html that did succeed was not published either


# ============================================================================================
# The notebook does not need render.py
# ============================================================================================
def test_fixture_runs_under_plain_papermill(tmp_path):
    render.ensure_kernelspec()
    papermill = Path(sys.executable).parent / "papermill"
    target = tmp_path / "out.ipynb"
    run = subprocess.run([str(papermill), str(FIXTURES / "fixture_report.ipynb"), str(target),
                          "-p", "as_of", "2025-06-30"],
                         capture_output=True, text=True, timeout=300, cwd=FIXTURES)
    assert run.returncode == 0, run.stderr[-3000:]
    nb = nbformat.read(target, as_version=4)
    kinds = [o["data"][MIME_FIGURE]["kind"] for c in nb.cells for o in c.get("outputs", [])
             if MIME_FIGURE in o.get("data", {})]
    assert kinds == ["figure", "table", "figure", "table"]
    meta = collect_meta(nb, fixture_spec().name, {})
    assert meta.as_of == "2025-06-30" and meta.title == "Fixture brief"


# ============================================================================================
# Images in markdown: local ones are inlined, remote ones fail the build
# ============================================================================================
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


def _tiny_notebook(folder: Path, markdown: str) -> NotebookSpec:
    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_markdown_cell("# Tiny"), new_markdown_cell(markdown)],
                      metadata={"kernelspec": {"name": "coalition-report", "language": "python",
                                               "display_name": "x"}})
    nbformat.write(nb, folder / "tiny.ipynb")
    return NotebookSpec("tiny", (), path=folder / "tiny.ipynb")


def test_local_markdown_image_is_inlined(tmp_path):
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "pic.png").write_bytes(PNG_1PX)
    spec = _tiny_notebook(tmp_path / "nb", "## Picture\n\n![A one-pixel test image](pic.png)")
    result = render_report(spec, out_dir=tmp_path / "out", formats=("html",), progress=False)
    img = BeautifulSoup(result.outputs["html"].read_text(), "html.parser").find("img")
    assert img["src"].startswith("data:image/png;base64,") and img["alt"]


def test_remote_image_fails_the_build(tmp_path):
    spec = _tiny_notebook(tmp_path / "nb", "![remote](https://example.org/x.png)")
    with pytest.raises(BuildError, match="not embedded"):
        render_report(spec, out_dir=tmp_path / "out", formats=("html",), progress=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == [".failed"]
