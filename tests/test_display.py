"""Display protocol: Figure, Table, ReportMeta and the export markup helpers."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import altair as alt
import pandas as pd
import pytest

from coalition_report import display as d
from coalition_report.display import MIME_FIGURE, MIME_META, Figure, ReportMeta, Table


def _bar(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df).mark_bar().encode(x="value:Q", y="name:N")


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"name": ["Germany", "<script>alert(1)</script>"], "value": [17.7, 0.5]})


# ---------------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------------
def test_figure_mimebundle_has_spec_svg_and_payload(frame):
    fig = Figure(_bar(frame), alt_text="Bars by name", source_note="Test data", title="T")
    bundle = fig._repr_mimebundle_()
    major = alt.SCHEMA_VERSION.lstrip("v").split(".")[0]
    assert f"application/vnd.vegalite.v{major}+json" in bundle
    assert bundle["image/svg+xml"].lstrip().startswith("<svg")
    payload = bundle[MIME_FIGURE]
    assert set(payload) == {"kind", "id", "alt_text", "source_note", "title", "spec", "svg"}
    assert payload["kind"] == "figure" and payload["title"] == "T"
    assert payload["spec"] == bundle[f"application/vnd.vegalite.v{major}+json"]
    json.dumps(payload)  # must be plain JSON for the notebook file


def test_figure_names_the_chart_font(frame):
    fig = Figure(_bar(frame), alt_text="a", source_note="s")
    assert fig.spec["config"]["font"] == d.CHART_FONT
    assert d.CHART_FONT in fig.to_svg()
    themed = _bar(frame).configure(font="Liberation Sans")
    assert Figure(themed, alt_text="a", source_note="s").spec["config"]["font"] == "Liberation Sans"


def test_figure_id_is_stable_and_content_addressed(frame):
    a = Figure(_bar(frame), alt_text="a", source_note="s")
    b = Figure(_bar(frame.copy()), alt_text="a", source_note="s")
    assert a.id == b.id and a.id.startswith("chart-")
    changed = frame.assign(value=[1.0, 2.0])
    assert Figure(_bar(changed), alt_text="a", source_note="s").id != a.id
    assert Figure(_bar(frame), alt_text="other", source_note="s").id != a.id


@pytest.mark.parametrize("field", ["alt_text", "source_note"])
def test_figure_requires_alt_text_and_source(frame, field):
    kwargs = {"alt_text": "a", "source_note": "s", field: "  "}
    with pytest.raises(ValueError, match=field):
        Figure(_bar(frame), **kwargs)


def test_figure_refuses_raw_data_even_if_altair_limit_is_off():
    big = pd.DataFrame({"name": [f"n{i}" for i in range(6000)], "value": range(6000)})
    with pytest.raises(Exception, match="5000|rows"):  # Altair's own MaxRowsError
        Figure(_bar(big), alt_text="a", source_note="s").spec
    with alt.data_transformers.enable("default", max_rows=None):
        with pytest.raises(ValueError, match="aggregate"):
            Figure(_bar(big), alt_text="a", source_note="s").spec


def test_figure_accepts_a_plain_spec_dict():
    spec = {"data": {"values": [{"a": 1}, {"a": 2}]}, "mark": "point",
            "encoding": {"x": {"field": "a", "type": "quantitative"}}}
    fig = Figure(spec, alt_text="points", source_note="s")
    assert fig.spec["config"]["font"] == d.CHART_FONT
    assert "config" not in spec  # caller's dict untouched
    assert "<svg" in fig.to_svg()


# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------
def test_table_html_structure_and_escaping(frame):
    t = Table(frame.rename(columns={"name": "<b>name</b>"}), caption="Aid <by> donor",
              source_note="Kiel <tracker>")
    html = t.to_html()
    assert html.startswith(f'<figure class="table short" id="{t.id}">')  # few rows: kept on one page in print
    assert "<caption>Aid &lt;by&gt; donor</caption>" in html
    assert '<th scope="col" style="text-align:left">&lt;b&gt;name&lt;/b&gt;</th>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert html.rstrip().endswith("</figcaption>\n</figure>")
    assert '<figcaption class="source-note">Source: Kiel &lt;tracker&gt;</figcaption>' in html
    assert "<thead>" in html and "<tbody>" in html


def test_table_number_formats_and_alignment():
    df = pd.DataFrame({"label": ["a", "b"], "whole": [1000.0, 2.0], "frac": [1.5, None],
                       "count": [1234567, 3], "share": [0.123, 0.5], "custom": [1, 2]})
    t = Table(df, caption="c", source_note="s",
              formats={"share": "{:.0%}", "custom": lambda v: f"#{v}"}, align={"label": "center"})
    html = t.to_html()
    assert '<td style="text-align:right" class="num">1,000</td>' in html
    assert '<td style="text-align:right" class="num">1.50</td>' in html
    assert '<td style="text-align:right" class="num na">\u2013</td>' in html
    assert ">1,234,567<" in html and ">12%<" in html and ">#2<" in html
    assert '<td style="text-align:center" class="center">a</td>' in html
    assert '<th scope="col" style="text-align:right" class="num">whole</th>' in html


def test_table_format_spec_and_index():
    df = pd.DataFrame({"v": [1.23456]}, index=pd.Index(["row<1>"], name="key"))
    html = Table(df, caption="c", source_note="s", formats={"v": ",.1f"}, index=True).to_html()
    assert '<th scope="row" style="text-align:left">row&lt;1&gt;</th>' in html and ">1.2<" in html
    assert '<th scope="col" style="text-align:left">key</th>' in html


def test_table_mimebundle_and_validation(frame):
    t = Table(frame, caption="c", source_note="s")
    bundle = t._repr_mimebundle_()
    assert t.to_html() == bundle[MIME_FIGURE]["html"]
    # the notebook view: the same markup inside the house stylesheet for JupyterLab / VS Code
    assert bundle["text/html"] == f'<div class="cr-nb"><style>{d.NOTEBOOK_CSS}</style>{t.to_html()}</div>'
    assert bundle[MIME_FIGURE]["kind"] == "table" and bundle[MIME_FIGURE]["id"] == t.id
    assert Table(frame.copy(), caption="c", source_note="s").id == t.id
    with pytest.raises(ValueError, match="source_note"):
        Table(frame, caption="c", source_note="")
    with pytest.raises(ValueError, match="caption"):
        Table(frame, caption="", source_note="s")
    with pytest.raises(ValueError, match="align"):
        Table(frame, caption="c", source_note="s", align={"name": "middle"})


def test_table_dates_and_bools():
    df = pd.DataFrame({"when": pd.to_datetime(["2025-06-30", None]), "ok": [True, False]})
    html = Table(df, caption="c", source_note="s").to_html()
    assert ">2025-06-30<" in html and ">yes<" in html and ">no<" in html
    assert 'class="na"' in html


# ---------------------------------------------------------------------------------------------
# ReportMeta and markup helpers
# ---------------------------------------------------------------------------------------------
def test_report_meta_bundle_is_escaped():
    bundle = ReportMeta(as_of="2025-06-30", title="<i>T</i>")._repr_mimebundle_()
    assert bundle[MIME_META] == {"as_of": "2025-06-30", "title": "<i>T</i>", "subtitle": None}
    assert "&lt;i&gt;T&lt;/i&gt;" in bundle["text/html"]
    assert "30 June 2025" in bundle["text/html"]


def test_format_date():
    assert d.format_date("2025-06-30") == "30 June 2025"
    assert d.format_date("2025-01-05") == "5 January 2025"
    assert d.format_date("mid-2025") == "mid-2025"
    assert d.format_date(None) == ""


def test_source_note_links_and_prefix():
    html = d.source_note_html('Kiel "IfW" https://www.ifw-kiel.de/x?a=1&b=2.')
    assert html.startswith("Source: Kiel &quot;IfW&quot; ")
    assert '<a class="url" href="https://www.ifw-kiel.de/x?a=1&amp;b=2">' in html
    assert html.endswith("</a>.")
    assert d.source_note_html("Sources: A; B") == "Sources: A; B"
    hostile = d.source_note_html('https://x.org/"onmouseover=alert(1)')
    assert '"onmouseover' not in hostile


def test_figure_markup_keeps_hostile_strings_inert():
    spec = {"data": {"values": [{"n": "</script><script>alert(1)</script>", "v": 1}]},
            "mark": "bar", "encoding": {"y": {"field": "n", "type": "nominal"},
                                        "x": {"field": "v", "type": "quantitative"}}}
    fig = Figure(spec, alt_text='Alt "quoted" <b>', source_note="s")
    web = d.figure_html(fig.payload(), fig.id, interactive=True)
    assert "</script><script>" not in web
    assert web.count("</script>") == 1  # only the JSON block's own closing tag
    assert 'aria-label="Alt &quot;quoted&quot; &lt;b&gt;"' in web
    assert f'aria-describedby="{fig.id}-source"' in web and 'role="img"' in web
    start = web.index('type="application/json"')
    blob = web[web.index(">", start) + 1: web.rindex("</script>")]
    assert json.loads(blob) == fig.spec
    printed = d.figure_html(fig.payload(), "x", interactive=False)
    assert "<script" not in printed and 'class="chart-view"' not in printed
    src = printed.split('src="data:image/svg+xml;base64,')[1].split('"')[0]
    assert base64.b64decode(src).decode() == fig.to_svg()


def test_importing_display_is_cheap():
    code = ("import sys, coalition_report.display; "
            "heavy = [m for m in ('altair', 'pandas', 'vl_convert') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_chart_is_converted_once_per_spec_and_only_a_private_copy_is_trusted(tmp_path, monkeypatch):
    import vl_convert as vlc

    from coalition_report.svgcache import chart_svg, vl_version

    monkeypatch.setenv("COALITION_CACHE_DIR", str(tmp_path))
    calls, real = [], vlc.vegalite_to_svg
    monkeypatch.setattr(vlc, "vegalite_to_svg", lambda spec, **kw: calls.append(1) or real(spec, **kw))
    spec = {"mark": "bar", "data": {"values": [{"a": "x", "b": 1}, {"a": "y", "b": 3}]},
            "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}}}
    first = chart_svg(spec, vl_version())
    assert chart_svg(json.loads(json.dumps(spec)), vl_version()) == first and len(calls) == 1
    assert first.startswith("<svg") and len(list((tmp_path / "charts").glob("*.svg"))) == 1
    other = {**spec, "data": {"values": [{"a": "x", "b": 2}]}}
    assert chart_svg(other, vl_version()) != first and len(calls) == 2  # new data, new drawing
    for f in (tmp_path / "charts").glob("*.svg"):
        f.write_text('<svg xmlns="http://www.w3.org/2000/svg"><text>forged</text></svg>')
        f.chmod(0o666)  # anyone may write it: not read
    assert chart_svg(spec, vl_version()) == first and len(calls) == 3
