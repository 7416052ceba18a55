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

from coalition_report.errors import BuildError
from conftest import ROOT, chromium_dom, pdf_pages

pytestmark = pytest.mark.slow

DATA = ROOT / "data"
SECTIONS = ["Bottom line and key judgements", "What changed since the last edition", "1. Membership",
            "2. Forces", "3. Aid", "4. Positions", "5. Outlook and open questions", "Annex",
            "G. The founding article, fact by fact", "I. Definitions and methods", "Sources"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
#: Words of the build and of curation that have no place in reader text (the package's own
#: names, file names and columns are added from the code and the data by _forbidden_tokens).
BUILD_WORDS = ["dossier", "curator", "sha256", "snapshot", "manifest", "notebook", "papermill", "placeholder",
               "datapackage", "coalition_report", "first build"]


def _long(day: str) -> str:
    y, m, d = day.split("-")
    return f"{int(d)} {MONTHS[int(m) - 1]} {y}"


def _forbidden_tokens() -> set[str]:
    """File names and columns of the data package, the package's own identifiers, build words."""
    import json
    import pkgutil

    import coalition_report
    from coalition_report import analysis, brief as brief_api, sections

    desc = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    tokens = set(BUILD_WORDS)
    for res in desc["resources"]:
        tokens.add(Path(res["path"]).name)                      # judgements.csv
        if "_" in res["name"]:
            tokens.add(res["name"])                             # aid_activities
        tokens |= {f["name"] for f in res["schema"]["fields"] if "_" in f["name"]}  # source_id ...
    names = set(brief_api.__all__) | set(analysis.__all__)
    for mod in pkgutil.iter_modules(sections.__path__):
        m = __import__(f"coalition_report.sections.{mod.name}", fromlist=["__all__"])
        names |= set(getattr(m, "__all__", []))
    tokens |= {n for n in names if "_" in n}                    # chart_top_donors, coalition_members ...
    tokens |= {f"{m.name}.py" for m in pkgutil.iter_modules(coalition_report.__path__)}
    return tokens


def _annex_page(pages: list[str]) -> int:
    """0-based index of the page where the annex starts (its heading alone on a line)."""
    return next(i for i, t in enumerate(pages) if i > 0 and any(l.strip() == "Annex" for l in t.splitlines()))


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
    return pdf_pages(brief.outputs["pdf"])


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
    assert f"Events to {_long(newest)}" in pdf_text[2]  # running header: what the brief covers ...
    assert "Knowledge cut-off" in pdf_text[2]  # ... and the cut-off, later than the newest event here


def test_cover_states_the_newest_event_and_no_build_metadata(pdf_text):
    newest = max(r["date"] for n in ("meetings.csv", "positions.csv", "events.csv", "aid_announcements.csv")
                 for r in _rows(n) if r["date"])
    assert f"Events to {_long(newest)}" in pdf_text[0]
    assert "sha256" not in pdf_text[0] and "Built with" not in pdf_text[0]
    assert "Colophon" in pdf_text[-1] and "sha256" in pdf_text[-1]  # the build metadata, at the end


def test_front_end_in_the_first_three_pages_and_body_within_sixteen(pdf_text):
    first = "\n".join(pdf_text[:3])
    for term in ("Bottom line", "Key judgements", "What it means", "Scenarios and what to watch"):
        assert term in first, term
    annex = _annex_page(pdf_text)
    # body: from the page after the cover (title and contents) to the page before the annex
    assert 1 <= annex - 1 <= 16, f"body is {annex - 1} pages"
    assert "Sources" in pdf_text[0] and "Annex" in pdf_text[0]  # the contents list both
    # the front end fits two pages: the next section starts by page 4
    assert any("1. Membership" in t for t in pdf_text[1:4])


def test_no_forbidden_token_in_the_body(pdf_text):
    tokens = _forbidden_tokens()
    assert {"judgements.csv", "source_id", "coalition_members", "chart_top_donors"} <= tokens  # derivation works
    body = re.sub(r"\s+", " ", "\n".join(pdf_text[:_annex_page(pdf_text)]))
    found = sorted(t for t in tokens if re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", body, re.I))
    assert not found, found
    assert not re.search(r"\{[a-z_]+(?::[^{}]*)?\}", body)  # no unfilled placeholder


def _content_lines(page: str) -> list[str]:
    """A page's text without the running header and the page number."""
    return [l.strip() for l in page.splitlines()
            if l.strip() and not re.fullmatch(r"Page \d+ of \d+", l.strip())
            and l.strip() != "The coalition of the willing" and not l.strip().startswith("Events to ")
            and not l.strip().startswith("Knowledge cut-off")]


def test_no_heading_alone_at_a_page_foot_and_no_stranded_source_note(brief, pdf_text, soup):
    """Read in page order (pdftotext), where pypdf returns chart text after the notes."""
    pages = pdf_pages(brief.outputs["pdf"])
    headings = {a.get_text().strip() for a in soup.select("nav.toc a")}
    annex = _annex_page(pdf_text)
    for i, page in enumerate(pages[1:annex], start=2):
        lines = _content_lines(page)
        assert lines, f"page {i} is empty"
        assert lines[-1] not in headings, f"page {i} ends with the heading {lines[-1]!r}"
        assert not lines[0].startswith("Source:"), f"page {i} starts with a source note"
        # a page holding only the tail of a note (a few lines) is a note stranded at the page top
        assert len(lines) >= 5 or i == annex, f"page {i} holds only {lines!r}"


def test_no_table_caption_and_header_end_a_page_without_a_row(brief, soup):
    """A table's caption and header row at a page foot with its first row on the next page (seen in
    the annex: Tables 7 and 11) is a table split badly; the whole PDF is checked."""
    words = {}  # table number -> the words of its caption and header cells
    for cap in soup.select("figure.table caption"):
        m = re.match(r"Table\s*(\d+)\s*\.", cap.get_text(" ", strip=True))
        table = cap.find_parent("table")
        if m and table is not None:
            words[m.group(1)] = set(cap.get_text(" ").split()) | set(
                " ".join(th.get_text(" ") for th in table.select("thead th")).split())
    assert len(words) >= 10
    for i, page in enumerate(pdf_pages(brief.outputs["pdf"]), start=1):
        lines = _content_lines(page)
        starts = [k for k, line in enumerate(lines) if re.match(r"Table\s*\d+\s*\.", line)]
        if starts:
            number = re.match(r"Table\s*(\d+)", lines[starts[-1]]).group(1)
            rest = set(" ".join(lines[starts[-1] + 1:]).split())
            assert not (number in words and rest <= words[number]), f"page {i} ends with {lines[starts[-1]]!r} and no row"


@pytest.mark.parametrize("as_of", ["2025-03-20", "2025-06-30"])
def test_early_briefs_show_only_judgements_written_by_then(build_brief, as_of):
    pages = pdf_pages(build_brief(as_of).outputs["pdf"])
    text = re.sub(r"\s+", " ", "\n".join(pages))
    rows = _rows("judgements.csv")
    shown = max(r["written_as_of"] for r in rows if r["written_as_of"] <= as_of)
    assert f"Written as of {_long(shown)}" in re.sub(r"\s+", " ", "\n".join(pages[:3]))
    for r in rows:
        if r["kind"] == "judgement":
            words = " ".join(r["text"].split()[:8])
            assert (words in text) == (r["written_as_of"] == shown), (r["judgement_id"], as_of)


def test_pdf_figures_match_raw_data(pdf_text):
    text = re.sub(r"\s+", " ", "\n".join(pdf_text))
    summary = {r["land"]: r for r in _rows("kiel/country_summary.csv")}
    assert _bn(float(summary["United States"]["total_allocation"]) * 1e9) in text
    assert _bn(float(summary["EU (Commission and Council)"]["total_allocation"]) * 1e9) in text
    meetings = _rows("meetings.csv")
    assert f"{len(meetings)} coalition meetings" in text  # data coverage, in the annex
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
    assert len(charts) == sum(bool(re.search(r"^brief\.chart_(?!values)", c, re.M)) for c in cells)
    assert len(tables) == sum(bool(re.search(r"^brief\.(table_|article_claims)", c, re.M)) for c in cells)
    # the annex is collapsed on the web page; the values behind the charts stay under each chart there
    annex = soup.select_one("details.annex")
    assert annex is not None and annex.find("summary") and not annex.has_attr("open")
    assert annex.find(string=re.compile("The founding article, fact by fact"))
    assert not soup.select(".values-annex")
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
