"""Writing a brief (render/markdown.py, render/fields.py, the failing-cell message).

A small notebook with a footnote, citations (one the data cites, one it does not), labelled
figure and table, cross-references and ``##`` sections is built once; the HTML is read after
headless Chromium ran it with the network blocked, the PDF through its text. Unknown keys,
a failing cell and a chart encoding a missing field fail the build with one line naming the cell.
"""

from __future__ import annotations

import re

import altair as alt
import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from coalition_report.errors import BuildError
from coalition_report.render import NotebookSpec, render_report
from coalition_report.render.fields import missing_fields
from conftest import ROOT, chromium_dom, pdf_pages

SETUP = (f"from coalition_report import brief\nds, meta = brief.setup(as_of='', currency='EUR', "
         f"data_dir={str(ROOT / 'data')!r}, top_n=15)\nmeta")
CHART = """import altair as alt, pandas as pd
hand = pd.DataFrame({"Donor": ["Alphaland", "Betaland"], "EUR": [3.0, 2.0]})
brief.figure(alt.Chart(hand).mark_bar().encode(x="EUR:Q", y="Donor:N"), "Aid by hand",
             source="ref-001", label="fig-hand")"""
TABLE = 'brief.table(hand, "Hand table", source="ref-001", label="tbl-hand")'


def _notebook(folder, cells: list[tuple[str, str]], annex_at: int | None = None) -> NotebookSpec:
    """``cells`` as (kind, source); the cell at ``annex_at`` (0-based) is tagged annex-start."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "coalition-report", "display_name": "x", "language": "python"}
    new = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb.cells = [new[kind](src) for kind, src in cells]
    if annex_at is not None:
        nb.cells[annex_at].metadata["tags"] = ["annex-start"]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "writing.ipynb")
    return NotebookSpec("writing", (), path=folder / "writing.ipynb")


def _uncited_source() -> str:
    """A source in sources.csv, known by the newest as-of date, that the data cites nowhere."""
    from coalition_report import analysis as an
    from coalition_report.data import cut_to, load_data

    full = load_data(ROOT / "data")
    ds = cut_to(full, full.knowledge_date)
    spare = sorted(set(ds.sources["source_id"]) - an.cited_source_ids(ds))
    assert spare, "every known source is cited by the data: pick another way to test an added reference"
    return spare[0]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    extra = _uncited_source()
    folder = tmp_path_factory.mktemp("writing")
    spec = _notebook(folder / "nb", [
        ("md", "# Writing test"),
        ("code", SETUP),
        ("md", "## Summary {-}\nKiel counts aid[^kiel] as @fig-hand shows, listed in @tbl-hand "
               f"[@ref-002; @{extra}].\n\n[^kiel]: Government-to-government aid only [@ref-003]."),
        ("md", "## Aid\nA second mention of the note[^kiel]; code stays as typed: `[@not-a-key]`."),
        ("code", CHART),
        ("code", TABLE),
        ("md", "## Outlook"),
        ("md", "## Annex"),
        ("code", "brief.references(ds)"),
    ], annex_at=7)
    result = render_report(spec, out_dir=folder / "out", progress=False)
    return result, extra


@pytest.mark.slow
def test_footnote_citation_and_cross_reference_in_the_html(written, tmp_path):
    result, extra = written
    dom = BeautifulSoup(chromium_dom(result.outputs["html"], tmp_path), "html.parser")
    para = next(p for p in dom.select("p") if p.get_text().startswith("Kiel counts aid"))
    # the footnote: a numbered call linking to the endnote, which links back
    call = para.select_one("sup.fn-ref a")
    assert call.get_text() == "1" and call["href"] == "#fn-1"
    note = dom.select_one("#fn-1")
    assert note.find_parent("section", class_="footnotes") is not None
    assert "Government-to-government aid only" in note.get_text()
    assert note.select_one("a.fn-back")["href"] == "#fnref-1" and dom.select_one("#fnref-1") is not None
    assert len(dom.select("section.footnotes li")) == 1  # cited twice, one note
    # the notes close the body: before the annex
    notes_heading = dom.find(id="Notes")
    assert notes_heading is not None and notes_heading.find_parent("details", class_="annex") is None
    # the citations: ids in brackets, each linked to its entry in the list of sources
    cites = para.select("a.citation")
    assert [a.get_text() for a in cites] == ["ref-002", extra]
    for a in cites + note.select("a.citation"):
        target = dom.find(id=a["href"][1:])
        assert target is not None and target.find_parent(class_="references") is not None, a["href"]
    assert "[ref-002; " + extra + "]" in para.get_text()
    # the cross-references: "Figure 1" and "Table 1", linked to the labelled chart and table
    xrefs = {a.get_text(): a["href"] for a in para.select("a.xref")}
    assert xrefs == {"Figure\xa01": "#fig-hand", "Table\xa01": "#tbl-hand"}
    fig = dom.find(id="fig-hand")
    assert fig.name == "figure" and fig.select_one(".figure-title").get_text().startswith("Figure\xa01")
    assert dom.find(id="tbl-hand").select_one("caption").get_text().startswith("Table\xa01")
    # sections: numbered in the body, not where marked {-}, not in the annex
    heads = [h.get_text().rstrip("¶") for h in dom.select("main h2")]
    assert heads[:3] == ["Summary", "1. Aid", "2. Outlook"] and "Annex" in heads and "Notes" in heads
    assert "[@not-a-key]" in dom.get_text()  # code is left alone


@pytest.mark.slow
def test_footnote_citation_and_cross_reference_in_the_pdf(written):
    result, extra = written
    text = re.sub(r"\s+", " ", " ".join(pdf_pages(result.outputs["pdf"])))
    assert "as Figure 1 shows, listed in Table 1 [ref-002; " + extra + "]" in text
    assert "1. Government-to-government aid only [ref-003]" in text  # the note at the foot of the page
    assert "[^kiel]" not in text and "@fig-hand" not in text and "[@" not in text.replace("[@not-a-key]", "")
    assert "Figure 1. Aid by hand" in text and "1. Aid" in text and "2. Outlook" in text
    assert f"[{extra}]" in text  # the source only the prose cites is in the list of sources


@pytest.mark.slow
@pytest.mark.parametrize("markdown,expected", [
    ("See [@no-such-source-x].", "cell 3: [@no-such-source-x]: no source 'no-such-source-x' in sources.csv"),
    ("See @fig-nowhere.", "cell 3: @fig-nowhere: no figure has this label"),
    ("A note[^gone].", "cell 3: footnote [^gone] has no note"),
])
def test_unknown_key_fails_naming_the_cell(tmp_path, markdown, expected):
    spec = _notebook(tmp_path / "nb", [("md", "# T"), ("code", SETUP), ("md", markdown),
                                       ("code", "brief.references(ds)")])
    with pytest.raises(BuildError) as exc:
        render_report(spec, out_dir=tmp_path / "out", formats=("html",), progress=False)
    assert exc.value.cell == 3
    assert expected in str(exc.value).splitlines()[0], str(exc.value)
    assert not (tmp_path / "out" / "writing.html").exists()


@pytest.mark.slow
def test_failing_cell_names_line_and_code(tmp_path):
    spec = _notebook(tmp_path / "nb", [("md", "# T"), ("code", "amounts = {'military': 1}"),
                                       ("code", "x = 1\namounts['militray']\ny = 2")])
    with pytest.raises(BuildError) as exc:
        render_report(spec, out_dir=tmp_path / "out", formats=("html",), progress=False)
    assert str(exc.value).splitlines()[0] == "writing: cell 3, line 2: amounts['militray']  -> KeyError: 'militray'"
    assert (exc.value.cell, exc.value.line) == (3, 2)


@pytest.mark.slow
def test_chart_with_a_missing_field_fails_naming_field_and_nearest(tmp_path):
    chart = ("import altair as alt, pandas as pd\n"
             "df = pd.DataFrame({'donor': ['A', 'B'], 'eur_bn': [1.0, 2.0]})\n"
             "alt.Chart(df).mark_bar().encode(x='donor:N', y='eur_mn:Q')")
    spec = _notebook(tmp_path / "nb", [("md", "# T"), ("code", "from coalition_report import brief"),
                                       ("code", chart)])
    with pytest.raises(BuildError) as exc:
        render_report(spec, out_dir=tmp_path / "out", formats=("html",), progress=False)
    line = str(exc.value).splitlines()[0]
    assert exc.value.cell == 3 and "cell 3: chart encodes field 'eur_mn' (y)" in line
    assert "nearest: 'eur_bn'" in line


# ------------------------------------------------------------------------ the field check, unit
FRAME = pd.DataFrame({"donor": ["A", "B"], "military": [1.0, 2.0], "financial": [3.0, 4.0]})


def test_fields_made_by_transforms_are_not_missing():
    base = alt.Chart(FRAME)
    charts = [
        base.transform_calculate(total="datum.military + datum.financial").mark_bar().encode(x="total:Q", y="donor:N"),
        base.transform_fold(["military", "financial"], as_=["type", "eur"]).mark_bar().encode(
            x="sum(eur):Q", y="donor:N", color="type:N"),
        base.transform_aggregate(n="count()", groupby=["donor"]).mark_bar().encode(x="n:Q", y="donor:N"),
        base.transform_window(rank="rank()", sort=[alt.SortField("military")]).mark_bar().encode(
            x="rank:O", y="donor:N"),
        base.mark_bar().encode(x="count():Q", y="donor:N", tooltip=["donor", "military"]),
    ]
    for chart in charts:
        assert missing_fields(chart.to_dict()) == [], chart.to_dict().get("transform")


def test_layered_and_concatenated_charts_are_checked_in_every_part():
    bars = alt.Chart(FRAME).mark_bar().encode(x="military:Q", y="donor:N")
    labels = alt.Chart(FRAME).mark_text().encode(x="militray:Q", y="donor:N", text="military:Q")
    other = alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x="y:Q")
    assert missing_fields((bars + labels).to_dict()) == [("militray", "x", ["donor", "financial", "military"])]
    assert [m[0] for m in missing_fields(alt.hconcat(bars, other).to_dict())] == ["y"]
    assert missing_fields(alt.vconcat(bars, bars).to_dict()) == []
    # a layer's encoding applies to each layer's data
    shared = alt.layer(alt.Chart(FRAME).mark_bar(), alt.Chart(FRAME).mark_tick()).encode(x="financial:Q", y="donr:N")
    assert {m[0] for m in missing_fields(shared.to_dict())} == {"donr"}


def test_charts_whose_fields_cannot_be_known_are_not_checked():
    from_url = alt.Chart(alt.Data(url="data.csv")).mark_bar().encode(x="anything:Q")
    pivoted = alt.Chart(FRAME).transform_pivot("donor", value="military").mark_bar().encode(x="A:Q")
    assert missing_fields(from_url.to_dict()) == [] and missing_fields(pivoted.to_dict()) == []


# ------------------------------------------------------------------------ the Markdown pass, unit
def _resolve(*sources: str, print_mode: bool = False):
    from coalition_report.render.markdown import Writing, fill_placeholders

    cells = [nbformat.v4.new_markdown_cell(s) for s in sources]
    w = Writing(print_mode=print_mode)
    w.refs_output = {"data": {"text/html": '<div class="references"><ol><li id="src-ref-001">x</li></ol></div>'}}
    w.resolve([(c, i + 3, True) for i, c in enumerate(cells)])
    return [fill_placeholders(c.source, w.fills) for c in cells], w


def test_code_is_left_as_typed_in_text_and_in_notes():
    (text,), w = _resolve("See[^a].\n\n[^a]: Uses `[@x]` and [@ref-001].\n\n```\n[^b]: not a note\n[@y]\n```")
    from coalition_report.render.markdown import fill_placeholders

    assert "[^b]: not a note\n[@y]" in text  # fenced code: no definition, no citation
    assert [fill_placeholders(n, w.fills) for n in w.footnotes] == ['Uses <code>[@x]</code> and <span class="cite">[<a class="citation" '
                           'href="#src-ref-001">ref-001</a>]</span>.']


def test_print_footnote_is_in_the_text_once_and_referred_to_after():
    (text,), w = _resolve("One[^a], two[^a].\n\n[^a]: The note.", print_mode=True)
    assert text.count('<span class="footnote">The note.</span>') == 1
    assert text.rstrip().endswith('two<sup class="fn-ref">1</sup>.')


def test_unused_or_twice_defined_footnotes_fail_naming_the_cell():
    from coalition_report.render.markdown import WritingError

    with pytest.raises(WritingError, match=r"^cell 3: footnote \[\^a\] is defined but never referenced"):
        _resolve("No call.\n\n[^a]: A note.")
    with pytest.raises(WritingError, match=r"^cell 4: footnote \[\^a\] is defined twice \(also in cell 3\)"):
        _resolve("X[^a]\n\n[^a]: one", "[^a]: two")
