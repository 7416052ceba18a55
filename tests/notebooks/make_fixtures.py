"""Regenerate the fixture notebooks (committed without outputs).

Run: .venv/bin/python tests/notebooks/make_fixtures.py
"""
import os

import nbformat as nbf
from nbformat.v4 import new_code_cell as code
from nbformat.v4 import new_markdown_cell as md
from nbformat.v4 import new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

META = {"kernelspec": {"name": "coalition-report", "display_name": "Python (coalition-report)",
                       "language": "python"},
        "language_info": {"name": "python"}}

def params(extra=""):
    c = code('as_of = ""\ncurrency = "EUR"\ndata_dir = ""\ntop_n = 5' + extra)
    c.metadata["tags"] = ["parameters"]
    return c

def ids(nb, prefix):
    for i, c in enumerate(nb.cells):
        c["id"] = f"{prefix}-{i:02d}"
    return nb

cells = [
    md("# Fixture brief\n\nA small report used by the *rendering* tests."),
    params(),
    code("import altair as alt\nimport pandas as pd\n\n"
         "from coalition_report.display import Figure, ReportMeta, Table"),
    code('resolved_as_of = as_of or "2025-06-30"\nReportMeta(as_of=resolved_as_of)'),
    md("## Aid overview\n\nTotals by donor, in billions of "
       "euros. See [the tracker](https://www.ifw-kiel.de/topics/war-against-ukraine/ukraine-support-tracker/)."),
    code('aid = pd.DataFrame({\n'
         '    "donor": ["Germany", "France", "United Kingdom", "Poland", "<script>alert(1)</script>"],\n'
         '    "eur_bn": [17.7, 6.3, 14.9, 4.6, 0.1],\n'
         '})\n'
         'chart = alt.Chart(aid.head(top_n)).mark_bar(color="#1f3a5f").encode(\n'
         '    x=alt.X("eur_bn:Q", title="EUR bn"),\n'
         '    y=alt.Y("donor:N", sort="-x", title=None),\n'
         '    tooltip=["donor", "eur_bn"],\n'
         ').properties(width=520, height=160)\n'
         'Figure(chart, alt_text="Bar chart: Germany leads with 17.7 bn EUR, then the United Kingdom and France.",\n'
         '       source_note="Kiel Institute, Ukraine Support Tracker, release 28: https://www.ifw-kiel.de/",\n'
         '       title="Military aid by donor")'),
    md("### Details by donor\n\nThe same numbers as a table; markup in data stays inert."),
    code('Table(aid.assign(note=["", "<b>bold?</b>", "", "<img src=x onerror=alert(1)>", None]),\n'
         '      caption="Aid by donor (EUR bn)", source_note="Kiel Institute, Ukraine Support Tracker",\n'
         '      formats={"eur_bn": ",.1f"})'),
    md("## Timeline\n\nMonthly allocations."),
    code('months = pd.DataFrame({"month": pd.date_range("2024-01-01", periods=12, freq="MS"),\n'
         '                       "eur_bn": [1.2, 0.8, 2.5, 1.1, 0.9, 3.0, 1.4, 0.7, 1.9, 2.2, 1.0, 2.8]})\n'
         'line = alt.Chart(months).mark_line(point=True).encode(\n'
         '    x=alt.X("month:T", title=None), y=alt.Y("eur_bn:Q", title="EUR bn")\n'
         ').properties(width=520, height=180)\n'
         'Figure(line, alt_text="Line chart of monthly allocations in 2024, peaking in June at 3.0 bn EUR.",\n'
         '       source_note="Kiel Institute, Ukraine Support Tracker")'),
    code('print(f"currency={currency} top_n={top_n} data_dir={data_dir}")\n'
         'import warnings\nwarnings.warn("this warning must not reach the exports")'),
    md("### Long table\n\nEnough rows to span a page break in the PDF."),
    code('long = pd.DataFrame({"row": range(1, 91), "label": [f"Item {i}" for i in range(1, 91)],\n'
         '                     "value": [i * 1234.5 for i in range(1, 91)]})\n'
         'Table(long, caption="A long table", source_note="Synthetic test data")'),
    md("## Method & sources: who's in? (Ø)\n\nNumbers are illustrative test fixtures, not real data.\n\n"
       "### Timeline\n\nA duplicate heading text, to test unique anchors."),
]
nb = ids(new_notebook(cells=cells, metadata=META), "fx")
nbf.write(nb, HERE + "/fixture_report.ipynb")

fail = [
    md("# Failing fixture\n\nThis notebook fails on purpose."),
    params(),
    code("x = 1"),
    md("## Section"),
    code("y = x / 0"),
    code("print('never')"),
]
nbf.write(ids(new_notebook(cells=fail, metadata=META), "ff"), HERE + "/fixture_failing.ipynb")
