"""The real notebooks, executed and exported as a reader gets them.

One full HTML+PDF build of the brief with default parameters is shared by most tests; the
parameter matrix (every currency, several as-of dates, both notebooks) builds HTML only.
Expected figures are computed here from the raw CSV files, not by the code under test.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from coalition_report.build import build_all
from coalition_report.errors import BuildError
from conftest import ROOT, chromium_dom

pytestmark = pytest.mark.slow

DATA = ROOT / "data"
SECTIONS = ["Key figures", "Executive summary", "What changed since the last brief", "1. Coalition membership",
            "2. Aid flows", "3. Diplomatic positions", "4. The founding article, fact by fact",
            "5. Outlook and open questions", "6. Methods and sources"]


def _rows(name: str) -> list[dict]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _bn(value_eur: float) -> str:
    return f"EUR {value_eur / 1e9:,.1f}bn"


@pytest.fixture(scope="module")
def brief(build_brief):
    return build_brief("")


@pytest.fixture(scope="module")
def pdf_text(brief) -> list[str]:
    return [p.extract_text() or "" for p in PdfReader(brief.outputs["pdf"]).pages]


@pytest.fixture(scope="module")
def soup(brief) -> BeautifulSoup:
    return BeautifulSoup(brief.outputs["html"].read_text(encoding="utf-8"), "html.parser")


def test_outputs_and_manifest(brief):
    names = sorted(p.name for p in brief.out_dir.iterdir() if not p.name.startswith("."))
    assert names == ["coalition-brief.html", "coalition-brief.pdf", "coalition-brief.snapshot.json", "index.html",
                     "manifest.json"]
    import json
    m = json.loads((brief.out_dir / "manifest.json").read_text())
    assert m["parameters"]["currency"] == "EUR" and m["parameters"]["top_n"] == 15
    assert {o["file"] for o in m["outputs"]} == {"coalition-brief.html", "coalition-brief.pdf"}
    for o in m["outputs"]:
        assert hashlib.sha256((brief.out_dir / o["file"]).read_bytes()).hexdigest() == o["sha256"]


def test_pdf_has_sections_page_numbers_and_header(pdf_text):
    text = "\n".join(pdf_text)
    n = len(pdf_text)
    for s in SECTIONS:
        assert s in text, s
    assert f"Page 1 of {n}" in pdf_text[0] and f"Page {n} of {n}" in pdf_text[-1]
    newest = max(r["date"] for r in _rows("meetings.csv") + _rows("positions.csv") + _rows("events.csv"))
    y, mth, d = newest.split("-")
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December"]
    assert f"{int(d)} {months[int(mth) - 1]} {y}" in pdf_text[2]  # running header: as-of date


def test_pdf_figures_match_raw_data(pdf_text):
    text = re.sub(r"\s+", " ", "\n".join(pdf_text))
    summary = {r["land"]: r for r in _rows("kiel/country_summary.csv")}
    assert _bn(float(summary["United States"]["total_allocation"]) * 1e9) in text
    assert _bn(float(summary["EU (Commission and Council)"]["total_allocation"]) * 1e9) in text
    meetings = _rows("meetings.csv")
    leaders = sum(m["level"] == "leaders" for m in meetings)
    assert f"{leaders} leaders' meetings ({len(meetings)} coalition meetings of all levels" in text
    n_article = sum(r["source_id"] == "article" for r in _rows("claims.csv"))
    assert f"fact by fact ({n_article} facts)" in text


def test_html_has_every_section_in_the_contents(soup):
    toc = [a.get_text() for a in soup.select("nav.toc a")]
    for s in SECTIONS:
        assert s in toc


def test_html_is_offline_and_has_no_code(soup, brief):
    page = brief.outputs["html"].read_text(encoding="utf-8")
    for tag in soup.find_all(["script", "img", "link", "iframe", "source", "video", "audio"]):
        for attr in ("src", "href"):
            if tag.has_attr(attr):
                assert tag[attr].startswith(("data:", "#")), (tag.name, tag[attr][:60])
    assert not re.search(r"url\(\s*['\"]?https?:", page)
    for needle in ("Traceback", "brief.setup(", "from coalition_report", "In&nbsp;["):
        assert needle not in page, needle


def test_every_chart_has_alt_text_and_every_figure_a_source(soup):
    charts, tables = soup.select("figure.chart"), soup.select("figure.table")
    import nbformat
    cells = [c.source for c in nbformat.read(ROOT / "notebooks" / "coalition_brief.ipynb", 4).cells
             if c.cell_type == "code"]
    assert len(charts) == sum(bool(re.search(r"^brief\.chart_", c, re.M)) for c in cells)
    assert len(tables) == sum(bool(re.search(r"^brief\.(table_|article_claims)", c, re.M)) for c in cells)
    for fig in charts + tables:
        assert fig.find("figcaption", class_="source-note").get_text().startswith("Source")
    for fig in charts:
        assert len(fig["aria-label"]) > 30


def test_charts_draw_in_chromium_with_network_blocked(brief, soup, tmp_path):
    dom = BeautifulSoup(chromium_dom(brief.outputs["html"], tmp_path), "html.parser")
    charts = dom.select("figure.chart")
    drawn = [f for f in charts if f.select_one(".chart-view svg.marks path, .chart-view svg.marks text")]
    assert len(charts) == len(soup.select("figure.chart"))
    assert len(drawn) == len(charts)


@pytest.mark.parametrize("notebook, params", [
    ("coalition_brief", {"as_of": "2025-06-30", "currency": "USD"}),
    ("coalition_brief", {"as_of": "2025-03-31", "currency": "GBP"}),
    ("country_profile", {"country": "GBR", "as_of": "", "currency": "EUR"}),
    ("country_profile", {"country": "POL", "as_of": "2025-06-30", "currency": "USD"}),
    ("country_profile", {"country": "TUR", "as_of": "2025-03-31", "currency": "GBP"}),
])
def test_parameter_matrix(tmp_path, notebook, params):
    from coalition_report.render import render_report
    r = render_report(notebook, {**params, "data_dir": str(DATA)}, out_dir=tmp_path,
                      formats=("html",), progress=False)
    page = r.outputs["html"].read_text(encoding="utf-8")
    assert "Traceback" not in page
    cur = params["currency"]
    assert f"{cur} " in page
    if params["as_of"]:
        meetings_after = [m for m in _rows("meetings.csv") if m["date"] > params["as_of"]]
        assert meetings_after and all(m["outcome"][:40] not in page for m in meetings_after
                                      if notebook == "coalition_brief" and len(m["outcome"]) > 40)
        if notebook == "coalition_brief":
            # before Kiel's coverage ends its donor totals drop out: the brief says so
            assert "commitments are not shown" in page or "commitments not available" in page
    if notebook == "country_profile":
        name = {r["actor_id"]: r["name"] for r in _rows("actors.csv")}[params["country"]]
        assert f"Country profile: {name}" in page


def test_failed_build_keeps_previous_outputs(brief, tmp_path):
    import shutil
    out = tmp_path / "out"
    shutil.copytree(brief.out_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    from coalition_report.render import render_report
    with pytest.raises(BuildError) as err:  # the notebook itself rejects the date: cell 3 fails
        render_report("coalition_brief", {"as_of": "2024-01-01", "data_dir": str(DATA)}, out_dir=out,
                      basename="coalition-brief", formats=("html", "pdf"), progress=False)
    assert err.value.cell is not None and "ParameterError" in err.value.exception
    assert Path(err.value.notebook_path).is_file()
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before


def test_cli_rejects_as_of_before_the_data_without_running(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "coalition_report.cli", "build", "--as-of", "2024-01-01",
                        "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "before the first coalition meeting" in r.stderr
    assert "Traceback" not in r.stderr and not list(tmp_path.iterdir())
