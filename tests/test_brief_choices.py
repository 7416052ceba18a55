"""Brief-wide choices (issue 16.6): one palette for every chart, an analyst's EUR amounts in the
brief's currency; and the notebook view of a chart (16.3): no NaN in a bundle, notes beside it."""

from __future__ import annotations

import json
import math

import altair as alt
import pandas as pd
import pytest

from coalition_report import brief, style
from coalition_report.display import MIME_META, Figure
from conftest import ROOT


@pytest.fixture()
def house():
    style.theme(reset=True)
    yield
    style.theme(reset=True)



def test_theme_recolours_every_chart_showing_the_meaning(shipped, house):
    before = json.dumps(brief.chart_top_donors(shipped).spec)
    assert "#B2432F" in before  # the house colour of military aid
    brief.theme({"aid_types": {"military": "#7F2704"}})
    for chart in (brief.chart_top_donors(shipped), brief.chart_aid_groups(shipped)):
        text = json.dumps(chart.spec)
        assert "#7F2704" in text and "#B2432F" not in text
    assert style.MEANINGS["aid.military"] == "#7F2704"
    assert style.palette("aid_types")["military"] == "#7F2704"


def test_theme_by_meaning_reaches_every_palette_showing_it(house):
    brief.theme({"role.observer": "#004400"})
    assert style.palette("roles")["observer"] == "#004400"
    assert style.palette("attendance")["observer"] == "#004400"  # the same meaning elsewhere


def test_theme_keeps_one_colour_per_meaning(house):
    taken = style.MEANINGS["stance.support"]
    with pytest.raises(ValueError, match="stance.support") as err:
        brief.theme({"aid.military": taken})
    assert "aid.military" in str(err.value)
    assert style.MEANINGS["aid.military"] == "#B2432F"  # refused whole: nothing changed
    brief.theme({"aid.military": "#7F2704"})
    for meaning, colour in style.MEANINGS.items():
        assert style.meaning_of(colour) == [meaning]


def test_theme_rejects_unknown_names_and_bad_colours(house):
    with pytest.raises(KeyError, match="neither a meaning"):
        brief.theme({"aid.navy": "#123456"})
    with pytest.raises(KeyError, match="has no value 'naval'"):
        brief.theme({"aid_types": {"naval": "#123456"}})
    with pytest.raises(ValueError, match="not a colour"):
        brief.theme({"aid.military": "red"})


def test_theme_categorical_reaches_an_analysts_own_chart(house):
    brief.theme({"categorical": {"blue": "#123456"}})
    spec = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().to_dict()
    assert spec["config"]["range"]["category"][0] == "#123456"
    brief.theme(reset=True)
    spec = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().to_dict()
    assert spec["config"]["range"]["category"][0] == "#0072B2"


def test_to_currency_converts_a_frame_column_at_the_as_of_rate():
    ds, _ = brief.setup("2025-06-30", "USD", "", 15)
    frame = pd.DataFrame({"donor": ["A", "B"], "eur": [100.0, 250.0]})
    out = brief.to_currency(frame, column="eur")
    # the rate the brief converts its own EUR sums with (Kiel's totals per donor, EUR vs USD)
    from coalition_report import analysis

    eur = analysis.aid_by_donor(ds, "EUR")["allocation_total"]
    usd = analysis.aid_by_donor(ds, "USD")["allocation_total"]
    rate = float((usd[eur > 0] / eur[eur > 0]).iloc[0])
    assert rate != 1.0 and (usd[eur > 0] / eur[eur > 0]).round(9).nunique() == 1
    assert out["eur"].tolist() == pytest.approx([100 * rate, 250 * rate])
    assert frame["eur"].tolist() == [100.0, 250.0]  # a copy
    assert out["donor"].tolist() == ["A", "B"]
    assert brief.to_currency(10.0, currency="EUR") == 10.0
    assert brief.to_currency(10.0) == pytest.approx(10 * rate)
    with pytest.raises(ValueError, match="column="):
        brief.to_currency(frame)
    with pytest.raises(KeyError, match="'value'"):
        brief.to_currency(frame, column="value")
    with pytest.raises(Exception, match="XYZ"):
        brief.to_currency(1.0, currency="XYZ")


def test_dataset_documents_the_eur_tables():
    from coalition_report.data import Dataset

    doc = Dataset.__doc__
    desc = json.loads((ROOT / "data" / "datapackage.json").read_text(encoding="utf-8"))
    eur_cols = {(r["name"], f["name"]) for r in desc["resources"] for f in r["schema"]["fields"]
                if "value_eur" in f["name"]}
    assert eur_cols  # the derivation finds the EUR columns
    for table, col in eur_cols:
        assert f"``{table}``" in doc and f"``{col}``" in doc, (table, col)


def test_nan_and_infinity_become_null_in_the_spec():
    df = pd.DataFrame({"x": ["a", "b", "c"], "y": [1.0, float("nan"), float("inf")],
                       "label": pd.array(["p", None, "q"], dtype="str")})
    fig = Figure(alt.Chart(df).mark_bar().encode(x="x:N", y="y:Q"), alt_text="t", source_note="s")
    bundle = fig._repr_mimebundle_()
    json.dumps(bundle, allow_nan=False)  # what the kernel's message serialiser requires
    rows = next(iter(fig.spec["datasets"].values()))
    assert [r["y"] for r in rows] == [1.0, None, None]
    assert not any(isinstance(v, float) and not math.isfinite(v) for r in rows for v in r.values())


@pytest.mark.slow
def test_executed_brief_has_no_stderr_and_notes_beside_each_chart(tmp_path):
    """The brief run as in JupyterLab (a kernel, papermill): no stderr stream from its cells, and
    each chart followed by a notebook-only output with its source note, alt text and values."""
    import nbformat

    from coalition_report.render import render_report

    res = render_report("coalition_brief", {}, out_dir=tmp_path, formats=("ipynb",), progress=False)
    nb = nbformat.read(str(res.outputs["ipynb"]), as_version=4)
    stderr = [(i, o.get("text", "")[:200]) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert stderr == []
    charts = 0
    for cell in nb.cells:
        outs = cell.get("outputs", [])
        for k, out in enumerate(outs):
            payload = out.get("data", {}).get("application/vnd.coalition.figure+json")
            if not payload or payload.get("kind") != "figure":
                continue
            charts += 1
            notes = [o for o in outs[k + 1:] if MIME_META in o.get("data", {})]
            assert notes, payload["alt_text"][:60]
            html = notes[0]["data"]["text/html"]
            assert notes[0]["data"][MIME_META] == {}  # carries nothing to the exports
            words = payload["source_note"].split()[:4]
            assert " ".join(words).replace("&", "&amp;") in html or words[0] in html
            assert "Alt text:" in html
            if payload.get("values_html"):
                assert "<details" in html and "Values behind the chart" in html
    assert charts >= 8
