"""``coalition-report build``: which reports a build makes, batches in parallel with failures,
the output folder's index.html, and stale outputs of a rebuilt report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from coalition_report import build
from coalition_report.analysis import coalition_members
from coalition_report.data import cut_to
from coalition_report.errors import ParameterError
from coalition_report.params import NotebookSpec, Param, directory, int_between, iso_date, one_of
from coalition_report.render import render_report
from conftest import ROOT, tiny_profile_dir

DATA = ROOT / "data"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "coalition_report.cli", *args], capture_output=True, text=True,
                          cwd=ROOT)


# ============================================================================================
# Planning
# ============================================================================================
def test_all_countries_is_every_coalition_member(shipped):
    members = sorted(coalition_members(cut_to(shipped, shipped.knowledge_date))["actor_id"])
    assert len(members) > 20
    jobs = build.plan_reports(shipped, given={}, all_countries=True, brief=False)
    assert [j.name for j in jobs] == [f"country-{c}" for c in members]
    assert all(j.notebook == "country_profile" and j.manifest_name == f"{j.name}.manifest.json" for j in jobs)
    # --country ALL (any case) is the same; explicit codes come first, none twice
    alias = build.plan_reports(shipped, given={}, countries=["gbr", "all"])
    assert [j.name for j in alias] == ["coalition-brief", "country-GBR"] + [
        f"country-{c}" for c in members if c != "GBR"]
    # as of an earlier date: the members of that date
    early = build.coalition_countries(shipped, "2025-03-31")
    assert early == sorted(coalition_members(cut_to(shipped, "2025-03-31"))["actor_id"]) and early != members


def test_compare_to_a_file_needs_exactly_one_report(shipped, tmp_path):
    f = tmp_path / "manifest.json"
    f.write_text("{}")
    with pytest.raises(ParameterError, match="a file compares with one report, not 2"):
        build.plan_reports(shipped, given={}, countries=["GBR"], compare_to=f)
    with pytest.raises(ParameterError, match="neither a coalition-report snapshot nor a build manifest"):
        build.plan_reports(shipped, given={}, compare_to=f)
    with pytest.raises(ParameterError, match="not an existing file or folder"):
        build.plan_reports(shipped, given={}, compare_to=tmp_path / "nope")
    # a folder: each report its own previous snapshot there, or none
    (tmp_path / "country-GBR.snapshot.json").write_text(
        json.dumps({"kind": "coalition-report snapshot", "schema": 1}))
    jobs = build.plan_reports(shipped, given={}, countries=["GBR"], compare_to=tmp_path)
    assert [j.params["compare_to"] for j in jobs] == ["", str((tmp_path / "country-GBR.snapshot.json").resolve())]


def test_cli_country_all_resolves_before_anything_runs(tmp_path):
    f = tmp_path / "snap.json"
    f.write_text("{}")
    r = run_cli("build", "--country", "ALL", "--no-brief", "--compare-to", str(f), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "a file compares with one report" in r.stderr and "known:" not in r.stderr  # not 46 states listed
    assert not (tmp_path / "o").exists()


def test_cli_help_documents_formats_and_batch_flags():
    r = run_cli("build", "--help")
    assert r.returncode == 0
    for needle in ("ipynb", "--all-countries", "--jobs", "--compare-to", "ALL", "index.html"):
        assert needle in r.stdout, needle
    bad = run_cli("build", "--format", "docx", "--out", "/nonexistent/never-created")
    assert bad.returncode == 2 and "html, pdf, ipynb" in bad.stderr


# ============================================================================================
# index.html
# ============================================================================================
def test_index_links_every_report_and_escapes_everything(tmp_path):
    (tmp_path / "coalition-brief.html").write_text("x")
    (tmp_path / "coalition-brief.pdf").write_text("x")
    (tmp_path / "manifest.json").write_text(json.dumps({
        "notebook": "coalition_brief", "parameters": {"currency": "GBP", "as_of": ""},
        "report": {"title": "The coalition of the willing", "as_of": "2025-06-30"},
        "outputs": [{"format": "html", "file": "coalition-brief.html", "bytes": 1_500_000},
                    {"format": "pdf", "file": "coalition-brief.pdf", "bytes": 500_000}]}))
    (tmp_path / "a b&c.html").write_text("x")
    (tmp_path / "country-XYZ.manifest.json").write_text(json.dumps({
        "notebook": "country_profile", "parameters": {"currency": "<b>EUR</b>"},
        "report": {"title": "<script>alert(1)</script>", "as_of": "2025-01-01"},
        "outputs": [{"format": "html", "file": "a b&c.html"}, {"format": "pdf", "file": "../../etc/passwd"},
                    {"format": "pdf", "file": "missing.pdf"}]}))
    (tmp_path / "broken.manifest.json").write_text("{nope")
    path = build.write_index(tmp_path, failed=["country-XYZ", "country-QQQ"])
    page = path.read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    assert not soup.find_all(["script", "img", "link", "iframe"]) and "<b>EUR" not in page
    assert "default-src 'none'" in page
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert hrefs == ["coalition-brief.html", "coalition-brief.pdf", "manifest.json",
                     "a%20b%26c.html", "country-XYZ.manifest.json"]
    rows = [tr.get_text(" ", strip=True) for tr in soup.select("tbody tr")]
    assert rows[0].startswith("The coalition of the willing 30 June 2025 GBP HTML (1.5 MB) · PDF (0.5 MB)")
    assert "<script>alert(1)</script> (the last build of this report failed" in rows[1]
    assert rows[2].startswith("country-QQQ (failed; never built here)")


# ============================================================================================
# Stale outputs of a rebuilt report
# ============================================================================================
def _fixture_spec() -> NotebookSpec:
    return NotebookSpec("fixture_report", (Param("as_of", str, "", iso_date()),
                                           Param("currency", str, "EUR", one_of("EUR", "USD", "GBP")),
                                           Param("data_dir", str, "", directory(), public=False),
                                           Param("top_n", int, 5, int_between(5, 40))),
                        path=ROOT / "tests" / "notebooks" / "fixture_report.ipynb")


@pytest.mark.slow
def test_rebuild_removes_its_own_outputs_of_formats_not_built(tmp_path):
    out = tmp_path / "reports"
    full = render_report(_fixture_spec(), out_dir=out, formats=("html", "pdf", "ipynb"), basename="brief",
                         progress=False)
    assert {p.name for p in full.outputs.values()} == {"brief.html", "brief.pdf", "brief.ipynb"}
    others = ["brief-2.pdf", "briefing.pdf", "other.pdf", "country-GBR.pdf", "brief.pdf.bak"]
    for name in others:
        (out / name).write_text("not ours")
    (out / "brief.snapshot.json").write_text("{}")  # a snapshot this notebook no longer writes
    html_only = render_report(_fixture_spec(), {"currency": "GBP"}, out_dir=out, formats=("html",),
                              basename="brief", progress=False)
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert names == sorted(["brief.html", "manifest.json", *others])
    manifest = json.loads(html_only.manifest_path.read_text())
    assert [o["file"] for o in manifest["outputs"]] == ["brief.html"] and manifest["snapshot"] is None


# ============================================================================================
# The plan's answers from the data, kept per data hash
# ============================================================================================
@pytest.mark.slow  # four builds of a two-cell notebook, one in a new interpreter
def test_a_build_of_data_validated_before_neither_loads_it_nor_imports_pandas(tmp_path, monkeypatch, data_copy):
    """What the plan needs of the data (the country codes checked, the as-of date) is kept under
    the data hash: the next build of the same data does not load it in the build's process (nor
    import pandas); changed data is loaded again; refused data and codes are refused every time."""
    from coalition_report import data as data_module
    from coalition_report.errors import DataValidationError

    cache = tmp_path / "cache"
    monkeypatch.setenv("COALITION_CACHE_DIR", str(cache))
    loads = []
    real_load = data_module.load_data
    monkeypatch.setattr(data_module, "load_data", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    kw = dict(data_dir=data_copy, out_dir=tmp_path / "out", formats=("ipynb",), countries=["gbr"], brief=False,
              notebook_dir=tiny_profile_dir(tmp_path), progress=False, force=True)

    [first] = build.build_reports(**kw)
    assert first.ok and len(loads) == 1
    [second] = build.build_reports(**kw)
    assert second.ok and len(loads) == 1, "the same data was loaded again"
    assert second.job == first.job and second.result.as_of == first.result.as_of
    assert "profile=GBR" in (tmp_path / "out" / "country-GBR.ipynb").read_text(encoding="utf-8")

    with pytest.raises(ParameterError, match="country='XXX'"):  # a code the data refuses: never kept
        build.build_reports(**{**kw, "countries": ["XXX"]})
    with pytest.raises(ParameterError, match="country='XXX'"):
        build.build_reports(**{**kw, "countries": ["XXX"]})

    events = data_copy / "events.csv"
    events.write_text(events.read_text(encoding="utf-8").replace("\n", "\r\n"), encoding="utf-8")  # same rows
    [third] = build.build_reports(**kw)
    assert third.ok and len(loads) == 4  # the refused code loaded it twice; the changed file once more
    (data_copy / "actors.csv").write_text("actor_id\nGBR\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(DataValidationError):
            build.build_reports(**kw)

    # in a new interpreter, as the CLI runs it: the plan is read back, pandas is never imported
    (data_copy / "actors.csv").write_bytes((ROOT / "data" / "actors.csv").read_bytes())
    build.build_reports(**kw)
    code = ("import sys; from pathlib import Path; from coalition_report import build; "
            f"[o] = build.build_reports(data_dir=Path({str(data_copy)!r}), out_dir=Path({str(tmp_path / 'out')!r}), "
            f"formats=('ipynb',), countries=['GBR'], brief=False, notebook_dir=Path({str(tmp_path / 'notebooks')!r}), "
            "progress=False, force=True); assert o.ok, o.error; print('pandas' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COALITION_CACHE_DIR": str(cache)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "False"


# ============================================================================================
# Batches: parallel, one failure does not stop the others
# ============================================================================================
def _failing_profile_dir(tmp_path: Path, fail_for: str) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "country_profile.ipynb", as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if "setup_profile" in c.source)
    nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(
        f'if country == "{fail_for}":\n    raise RuntimeError("forced failure for the test")'))
    nbformat.write(nb, folder / "country_profile.ipynb")
    return folder


@pytest.mark.slow
def test_batch_builds_the_others_when_one_fails(tmp_path):
    out = tmp_path / "reports"
    nb_dir = _failing_profile_dir(tmp_path, "FRA")
    kw = dict(out_dir=out, formats=("html",), countries=["GBR", "FRA", "DEU"], brief=False, jobs=2,
              notebook_dir=nb_dir, progress=False)
    outcomes = build.build_reports(**kw)
    assert [(o.job.name, o.ok) for o in outcomes] == [("country-GBR", True), ("country-FRA", False),
                                                      ("country-DEU", True)]
    [failed] = [o for o in outcomes if not o.ok]
    assert ("cell 4, line 2: raise RuntimeError(\"forced failure for the test\")  -> RuntimeError: forced failure "
            "for the test") in failed.error
    assert (out / ".failed" / "country-FRA.ipynb").is_file()
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert names == sorted(["index.html", *(f"country-{c}.{ext}" for c in ("GBR", "DEU")
                                            for ext in ("html", "manifest.json", "snapshot.json"))])
    index = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert "country-FRA (failed; never built here)" in index.get_text(" ", strip=True)
    assert [a["href"] for a in index.select("a") if a["href"].endswith(".html")] == ["country-DEU.html",
                                                                                   "country-GBR.html"]

    with pytest.raises(build.BuildFailures) as exc:
        build.build_all(**{**kw, "countries": ["FRA", "GBR"], "jobs": 1})
    assert [o.job.name for o in exc.value.failed] == ["country-FRA"]
    assert str(exc.value).startswith("1 of 2 reports failed: country-FRA")


def test_batch_progress_lines_name_each_report(capsys):
    display = build.BatchDisplay(["country-GBR", "country-FRA"], enabled=True)
    display.event("country-GBR", "execute", "start", 0.0)
    display.event("country-GBR", "execute", "done", 7.94)
    display.event("country-FRA", "html", "failed", 1.0)
    job = build.Job("country-FRA", "country_profile", {}, "country-FRA.manifest.json")
    display.finished(build.Outcome(job, error="country_profile: cell 5 failed: RuntimeError: boom", seconds=3.0))
    display.event("country-FRA", "manifest", "done", 0.1)  # after the report finished: ignored
    display.close()
    err = capsys.readouterr().err.splitlines()
    assert err == ["[country-GBR] ✓ execute 7.9s", "[country-FRA] ✗ html 1.0s failed",
                   "[country-FRA] ✗ failed after 3.0s: country_profile: cell 5 failed: RuntimeError: boom"]


# ============================================================================================
# Parameters declared in the notebook (issue 16.1)
# ============================================================================================
def _notebook_with(tmp_path: Path, line: str, *, top_n: str | None = None) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir(exist_ok=True)
    nb = nbformat.read(ROOT / "notebooks" / "coalition_brief.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.rstrip("\n") + "\n" + line
    if top_n is not None:
        cell.source = re.sub(r"(?m)^top_n = 15", f"top_n = {top_n}", cell.source)
    use = next(i for i, c in enumerate(nb.cells) if "brief.setup(" in c.source)
    nb.cells.insert(use + 1, nbformat.v4.new_code_cell('print(f"highlight={highlight_country} top={top_n}")'))
    nbformat.write(nb, folder / "coalition_brief.ipynb")
    return folder


@pytest.mark.slow
def test_a_parameter_added_only_to_the_notebook_is_set_from_the_cli_and_papermill(tmp_path):
    """One line in the parameters cell is the whole declaration: `build -p NAME=VALUE` sets it,
    its rule is checked (one line, exit 2), a changed default in the notebook is the one used,
    and plain papermill checks it too (one line, no traceback from the kernel)."""
    import subprocess
    import sys

    nb_dir = _notebook_with(tmp_path, 'highlight_country = "FRA"  # iso3; a state to highlight', top_n="10")
    out = tmp_path / "out"
    results = build.build_all(out_dir=out, formats=("ipynb",), notebook_dir=nb_dir, progress=False,
                              params={"highlight_country": "deu"})
    [result] = results
    assert result.params["highlight_country"] == "DEU" and result.params["top_n"] == 10  # the notebook's default
    executed = (out / "coalition-brief.ipynb").read_text(encoding="utf-8")
    assert "highlight=DEU top=10" in executed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["given_parameters"] == {"highlight_country": "deu"}  # nothing injected that was not given

    with pytest.raises(ParameterError, match=r"highlight_country='XX'.*rule: ISO 3166-1 alpha-3"):
        build.build_all(out_dir=out, formats=("ipynb",), notebook_dir=nb_dir, progress=False,
                        params={"highlight_country": "XX"})

    run = subprocess.run([sys.executable, "-m", "papermill", "coalition_brief.ipynb", str(tmp_path / "x.ipynb"),
                          "-k", "coalition-report", "-p", "highlight_country", "X1"],
                         cwd=nb_dir, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0
    assert "ParameterError: parameter highlight_country='X1'" in run.stderr
    assert "rule: ISO 3166-1 alpha-3 code" in run.stderr
    executed = json.loads((tmp_path / "x.ipynb").read_text())
    tb = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(tb) == 1 and len(tb[0]["traceback"]) == 1  # the kernel shows one line, not a traceback


def test_parameter_declarations_are_cached_per_parameters_cell_and_only_a_private_copy_is_read(tmp_path,
                                                                                              monkeypatch):
    """A Markdown edit keeps the cached declarations; a code edit to the parameters cell does not;
    a cache file someone else may write is not read (a forged default would be believed)."""
    from coalition_report import params

    monkeypatch.setenv("COALITION_CACHE_DIR", str(tmp_path / "cache"))
    nb = nbformat.read(ROOT / "notebooks" / "country_profile.ipynb", as_version=4)
    path = tmp_path / "profile.ipynb"
    nbformat.write(nb, path)
    first = params._declarations(str(path))
    assert first[0][:2] == ("country", '"GBR"')
    [cached] = (tmp_path / "cache").glob("params-*.json")

    nb.cells[0].source += "\n\nAn edited introduction."  # Markdown only: the same declarations, same file
    nbformat.write(nb, path)
    assert params._declarations(str(path)) == first and list((tmp_path / "cache").glob("params-*.json")) == [cached]

    cached.write_text(json.dumps([["country", "'ZZZ'", "forged"]]))
    cached.chmod(0o666)  # anyone may write it: not read, papermill reads the notebook again
    assert params._declarations(str(path)) == first

    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    cell.source = cell.source.replace('"GBR"', '"FRA"')
    nbformat.write(nb, path)
    assert params._declarations(str(path))[0][:2] == ("country", '"FRA"')
