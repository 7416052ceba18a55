"""What an analyst writes in a notebook renders: a hand-written Altair chart and a plain DataFrame
added to a copy of the brief appear in the HTML (drawn by Chromium, network off) and in the PDF,
in the house style; unsourced outputs are warned about by cell; unexportable ones fail the build
naming the cell.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from bs4 import BeautifulSoup

from coalition_report.errors import BuildError
from coalition_report.render import NotebookSpec, render_report
from conftest import ROOT, chromium_dom, pdf_pages

pytestmark = pytest.mark.slow

CHART_CELL = '''import altair as alt
import pandas as pd
hand = pd.DataFrame({"Donor": ["Alphaland", "Betaland"], "EUR": [166463900000.0, 2500000.0]})
alt.Chart(hand).mark_bar().encode(
    x=alt.X("EUR:Q", title="Handwritten euros"), y=alt.Y("Donor:N", title="Handwritten donors")
).properties(title="Handwritten chart title")'''
TABLE_CELL = 'hand.set_index("Donor")'
SOURCED_CELL = '''brief.table(hand.assign(Share=[0.985, 0.015]), "Sourced hand table",
            source=brief.kiel_source(ds), formats={"Share": "{:.1%}"})'''


@pytest.fixture(scope="module")
def analyst_build(tmp_path_factory):
    """The brief with three analyst cells appended to section 2 (after the aid heading)."""
    folder = tmp_path_factory.mktemp("notebooks")
    nb = nbformat.read(ROOT / "notebooks" / "coalition_brief.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if re.match(r"## (\d+\. )?Aid", c.source)) + 1
    new = [nbformat.v4.new_code_cell(CHART_CELL), nbformat.v4.new_code_cell(TABLE_CELL),
           nbformat.v4.new_code_cell(SOURCED_CELL)]
    nb.cells[at:at] = new
    nbformat.write(nb, folder / "coalition_brief.ipynb")
    out = tmp_path_factory.mktemp("out")
    result = render_report("coalition_brief", {"data_dir": str(ROOT / "data")}, out_dir=out,
                           notebook_dir=folder, progress=False)
    return result, at + 1  # 1-based number of the chart cell


def test_unsourced_outputs_are_warned_about_by_cell(analyst_build):
    result, chart_cell = analyst_build
    assert any(w.startswith(f"cell {chart_cell}: chart without a source") for w in result.warnings)
    assert any(w.startswith(f"cell {chart_cell + 1}: table without a source") for w in result.warnings)
    assert not any(w.startswith(f"cell {chart_cell + 2}:") for w in result.warnings)  # it has a source
    # the built-in sections all carry sources: nothing else is warned about
    assert len(result.warnings) == 2, result.warnings
    import json
    assert json.loads(result.manifest_path.read_text())["warnings"] == result.warnings


def test_hand_written_chart_and_table_in_the_html(analyst_build, tmp_path):
    result, _ = analyst_build
    page = result.outputs["html"].read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    fig = next(f for f in soup.select("figure.chart") if "Handwritten chart title" in f.get("aria-label", ""))
    assert "Source: not stated" in fig.select_one("figcaption").get_text()
    tables = [t for t in soup.select("figure.table") if "Alphaland" in t.get_text()]
    plain, sourced = tables
    cells = [td.get_text() for td in plain.select("td")]
    assert "166,463,900,000" in cells and "2,500,000" in cells
    assert not plain.select("table[border]") and "e+" not in plain.get_text()
    assert [th.get_text() for th in plain.select("thead th")] == ["Donor", "EUR"]  # one header row
    assert plain.select_one("tbody th").get("style") == "text-align:left"
    assert plain.select_one("td").get("class") == ["num"]
    assert "98.5%" in sourced.get_text() and "[kiel-r" in sourced.select_one("figcaption").get_text()
    # drawn by the inlined vega-embed in a real browser with the network blocked
    dom = BeautifulSoup(chromium_dom(result.outputs["html"], tmp_path), "html.parser")
    drawn = next(f for f in dom.select("figure.chart") if "Handwritten chart title" in f.get("aria-label", ""))
    texts = [t.get_text() for t in drawn.select(".chart-view svg text")]
    assert "Handwritten chart title" in texts and "Handwritten euros" in texts and "Alphaland" in texts
    assert not drawn.select(".chart-fallback")  # the static fallback was replaced


def test_hand_written_chart_and_table_in_the_pdf(analyst_build):
    result, _ = analyst_build
    text = re.sub(r"\s+", " ", " ".join(pdf_pages(result.outputs["pdf"])))
    for label in ("Handwritten chart title", "Handwritten euros", "Handwritten donors", "Alphaland"):
        assert label in text, label
    assert "166,463,900,000" in text and "2,500,000" in text and "Source: not stated" in text
    assert "1.664639e+11" not in text and "166463900000" not in text


def _tiny(folder, *cells) -> NotebookSpec:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "coalition-report", "display_name": "x", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"),
                nbformat.v4.new_code_cell("from coalition_report import brief"),
                *[nbformat.v4.new_code_cell(c) for c in cells]]
    nbformat.write(nb, folder / "tiny.ipynb")
    return NotebookSpec("tiny", (), path=folder / "tiny.ipynb")


def test_unexportable_output_fails_the_build_naming_the_cell(tmp_path):
    spec = _tiny(tmp_path, "1 + 1", "from IPython.display import Javascript\nJavascript('alert(1)')")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny.html").write_text("last good")
    with pytest.raises(BuildError) as e:
        render_report(spec, out_dir=out, formats=("html",), progress=False)
    assert e.value.cell == 4
    assert "cell 4: output of type application/javascript cannot be exported" in str(e.value)
    assert (out / "tiny.html").read_text() == "last good"


def test_chart_from_another_altair_renderer_fails_naming_the_cell(tmp_path):
    spec = _tiny(tmp_path, "import altair as alt, pandas as pd\nalt.renderers.enable('html')\n"
                           "alt.Chart(pd.DataFrame({'a': [1, 2]})).mark_bar().encode(x='a:Q')")
    with pytest.raises(BuildError) as e:
        render_report(spec, out_dir=tmp_path / "out", formats=("html",), progress=False)
    assert e.value.cell == 3 and "runs a script loading https://cdn.jsdelivr.net/npm/vega" in str(e.value)


def test_a_bare_vega_lite_bundle_is_exported_from_its_spec(tmp_path):
    """Documented fallback: Vega-Lite displayed by other code becomes a figure (with a warning)."""
    spec = _tiny(tmp_path, "from IPython.display import display\n"
                           "display({'application/vnd.vegalite.v5+json': {'mark': 'bar', 'title': 'Bare spec chart',"
                           " 'data': {'values': [{'a': 1}, {'a': 2}]}, 'encoding': {'x': {'field': 'a',"
                           " 'type': 'quantitative'}}}}, raw=True)")
    r = render_report(spec, out_dir=tmp_path / "out", formats=("html",), progress=False)
    soup = BeautifulSoup(r.outputs["html"].read_text(encoding="utf-8"), "html.parser")
    [fig] = soup.select("figure.chart")
    assert "Bare spec chart" in fig["aria-label"] and fig.select_one("img.chart-image")
    assert r.warnings == ["cell 3: chart displayed outside the house renderer, exported from its Vega-Lite "
                          "spec without a source; wrap it in brief.figure(chart, source=...)"]
