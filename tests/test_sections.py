"""Section modules on their own, without running a notebook: fast checks of what each chart and
table shows and of the knobs analysts turn (colours, order, top-n, titles, sources).

Most tests use the small valid fixture; a few use the shipped data where the fixture is too
small to show the behaviour. Expected values are computed here from the fixture's CSV text.
"""

from __future__ import annotations

import ast
import csv
import json
import shutil
from pathlib import Path

import altair as alt
import pandas as pd
import pytest

from coalition_report import brief, cite, style
from coalition_report.data import load_data
from coalition_report.display import MIME_FIGURE, Figure, Table
from coalition_report.sections import (aid, article, frontend, membership, methods, outlook, positions, profile,
                                       statements, summary)
from conftest import FIXTURES, ROOT

SRC = ROOT / "src" / "coalition_report"


@pytest.fixture(scope="module")
def ds():
    return load_data(FIXTURES / "valid")


def _csv(name: str) -> list[dict]:
    with open(FIXTURES / "valid" / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _color_pairs(spec: dict, channel: str = "color") -> dict:
    """Value -> colour as the chart will draw it (domain[i] gets range[i])."""
    enc = spec["encoding"][channel] if "encoding" in spec else next(
        layer["encoding"][channel] for layer in spec["layer"] if channel in layer.get("encoding", {}))
    scale = enc["scale"]
    return dict(zip(scale["domain"], scale["range"]))


# ---------------------------------------------------------------------------------------------
# every section function returns something both exports can show, with a source
# ---------------------------------------------------------------------------------------------
CALLS = {
    "summary.key_figures": lambda ds: summary.key_figures(ds, "EUR"),
    "summary.summary_bullets": lambda ds: summary.summary_bullets(ds, "EUR"),
    "summary.data_coverage_text": summary.data_coverage_text,
    "summary.dateline": summary.dateline,
    "frontend.front_end": lambda ds: frontend.front_end(ds, "EUR"),
    "frontend.judgement_set": None,  # a DataFrame, not a display: tested in test_frontend.py
    "frontend.confidence_scale": frontend.confidence_scale,
    "statements.statements": statements.statements,
    "membership.chart_membership_map": membership.chart_membership_map,
    "membership.table_members": membership.table_members,
    "membership.chart_participation": membership.chart_participation,
    "membership.chart_attendance": membership.chart_attendance,
    "membership.table_meetings": membership.table_meetings,
    "aid.chart_top_donors": lambda ds: aid.chart_top_donors(ds, "GBP"),
    "aid.chart_aid_groups": lambda ds: aid.chart_aid_groups(ds, "USD"),
    "aid.chart_monthly_aid": lambda ds: aid.chart_monthly_aid(ds, "EUR"),
    "aid.chart_gdp_share": aid.chart_gdp_share,
    "aid.table_announcements": lambda ds: aid.table_announcements(ds, "EUR", since=None),
    "positions.chart_positions": positions.chart_positions,
    "positions.table_quotes": positions.table_quotes,
    "positions.table_positions": positions.table_positions,
    "positions.chart_timeline": lambda ds: positions.chart_timeline(ds, since=None),
    "positions.table_events": lambda ds: positions.table_events(ds, since=None),
    "article.article_claims": article.article_claims,
    "methods.definitions": methods.definitions,
    "outlook.outlook": outlook.outlook,
    "methods.table_coverage": methods.table_coverage,
    "methods.table_sourcing": methods.table_sourcing,
    "methods.kiel_method_note": methods.kiel_method_note,
    "methods.table_fx": methods.table_fx,
    "methods.build_info": methods.build_info,
    "methods.references": methods.references,
    "profile.profile_summary": lambda ds: profile.profile_summary(ds, "GBR", "EUR"),
    "profile.table_roles": lambda ds: profile.table_roles(ds, "GBR"),
    "profile.table_attendance": lambda ds: profile.table_attendance(ds, "GBR"),
    "profile.chart_country_aid": lambda ds: profile.chart_country_aid(ds, "GBR", "EUR"),
    "profile.table_country_aid": lambda ds: profile.table_country_aid(ds, "GBR", "EUR"),
    "profile.table_statements": lambda ds: profile.table_statements(ds, "GBR"),
    "profile.watch_list": lambda ds: profile.watch_list(ds, "GBR", "EUR"),
    "profile.table_peer_aid": lambda ds: profile.table_peer_aid(ds, "GBR", "EUR"),
    "profile.table_country_announcements": lambda ds: profile.table_country_announcements(ds, "GBR", "EUR"),
}


def test_every_public_section_function_is_covered():
    public = {f"{m.__name__.rsplit('.', 1)[1]}.{n}" for m in (summary, membership, aid, positions, article,
                                                             methods, outlook, profile, frontend, statements)
              for n in m.__all__ if callable(getattr(m, n)) and n[0].islower() and n != "fx_note"
              and not n.endswith("_finding")}  # findings are the charts' titles, tested in test_charts.py
    assert public == set(CALLS)


@pytest.mark.parametrize("name", sorted(n for n, f in CALLS.items() if f is not None))
def test_section_output_is_exportable_and_sourced(ds, name):
    obj = CALLS[name](ds)
    bundle = obj._repr_mimebundle_()
    payload = bundle[MIME_FIGURE]
    json.dumps(payload)  # goes into the notebook file as JSON
    assert payload["kind"] in ("figure", "table", "html")
    if payload["kind"] in ("figure", "table"):
        assert payload["source_note"].startswith("Source")
    if payload["kind"] == "figure":
        assert payload["svg"].lstrip().startswith("<svg")
        assert payload["alt_text"] and "nan" not in payload["alt_text"]
        # JupyterLab / VS Code get the same spec under the Vega-Lite 5 type they draw offline
        assert bundle["application/vnd.vegalite.v5+json"]["$schema"].startswith(
            "https://vega.github.io/schema/vega-lite/v5")
    # the notebook view carries the house stylesheet; the exports take clean markup
    if "text/html" in bundle:
        assert '<div class="cr-nb"><style>' in bundle["text/html"]
        assert "<style>" not in payload.get("html", "")


# ---------------------------------------------------------------------------------------------
# knobs: colours by name, order, top-n, titles
# ---------------------------------------------------------------------------------------------
def test_reordering_a_colour_mapping_never_swaps_colours(shipped):
    colors = {"military": "#111111", "financial": "#222222", "humanitarian": "#333333"}
    backwards = dict(reversed(list(colors.items())))
    a = aid.chart_top_donors(shipped, colors=colors).spec
    b = aid.chart_top_donors(shipped, colors=backwards).spec
    want = {"Military": "#111111", "Financial": "#222222", "Humanitarian": "#333333"}
    assert _color_pairs(a) == want and _color_pairs(b) == want


def test_palette_is_a_copy_and_names_unknown_palettes():
    p = brief.palette("aid_types")
    p["military"] = "#000000"
    assert style.PALETTES["aid_types"]["military"] == style.MEANINGS["aid.military"]
    with pytest.raises(KeyError, match="known: categorical"):
        brief.palette("nope")
    with pytest.raises(KeyError, match="no colour for humanitarian"):
        style.color_scale({"military": "#1", "financial": "#2"}, order=["military", "humanitarian"])


def test_top_donors_top_n_sort_and_title(shipped):
    by_alloc = aid.chart_top_donors(shipped, top_n=7)
    order = by_alloc.spec["layer"][0]["encoding"]["y"]["sort"]
    assert len(order) == 7
    assert "Top 7 donors" in by_alloc.spec["title"]["subtitle"][0]
    assert by_alloc.spec["title"]["text"] == style.chart_title(aid.top_donors_finding(shipped)).to_dict()["text"]
    named = aid.chart_top_donors(shipped, top_n=7, sort_by="name", title="Seven donors").spec
    assert named["layer"][0]["encoding"]["y"]["sort"] == sorted(order)  # same donors, alphabetical
    assert named["title"]["text"] == "Seven donors"
    with pytest.raises(ValueError, match="sort_by='size'"):
        aid.chart_top_donors(shipped, sort_by="size")


def test_sorting_the_chart_does_not_change_profile_ranks(shipped):
    before = profile.table_country_aid(shipped, "DEU").caption
    aid.chart_top_donors(shipped, sort_by="name")
    assert profile.table_country_aid(shipped, "DEU").caption == before
    assert "rank" in before


def test_map_legend_pairs_roles_with_their_colours(shipped):
    roles = style.palette("roles")
    spec = membership.chart_membership_map(shipped).spec
    pairs = _color_pairs(spec)
    from coalition_report.analysis import ROLE_LABELS
    for role, colour in roles.items():
        if ROLE_LABELS[role] in pairs:
            assert pairs[ROLE_LABELS[role]] == colour


def test_table_members_sort_by_name(shipped):
    t = membership.table_members(shipped, sort_by=("name",))
    names = list(t.frame["State"])
    assert names == sorted(names)


# ---------------------------------------------------------------------------------------------
# sources come from the data
# ---------------------------------------------------------------------------------------------
def test_kiel_release_comes_from_the_data(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "valid", data)
    for f in data.glob("*.csv"):
        f.write_text(f.read_text(encoding="utf-8").replace("kiel-r28", "kiel-r29")
                     .replace("Tracker R28", "Tracker R29"), encoding="utf-8")
    ds = load_data(data)
    assert cite.kiel_source(ds) == "kiel-r29"
    notes = [aid.chart_top_donors(ds).source_note, aid.chart_monthly_aid(ds).source_note,
             profile.table_country_aid(ds, "GBR").source_note]
    for n in notes:
        assert "[kiel-r29]" in n and "r28" not in n
    kf = summary.key_figures(ds)._repr_mimebundle_()["text/plain"]
    assert "kiel-r29" in kf and "R28" not in kf
    assert "Tracker R29" in summary.data_coverage_text(ds).text


def test_no_kiel_source_id_typed_in_code():
    offenders = [p.relative_to(ROOT).as_posix() for p in SRC.rglob("*.py")
                 if "kiel-r28" in p.read_text(encoding="utf-8") or "Kiel R28" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_cite_resolves_ids_and_refuses_unknown_ones(ds):
    note = brief.cite("ref-001", ds)
    row = next(r for r in _csv("sources.csv") if r["source_id"] == "ref-001")
    assert note.startswith(f"Source: {row['publisher']}, {row['title']}") and "[ref-001]" in note
    assert brief.cite("my own count of press reports", ds) == "my own count of press reports"
    with pytest.raises(ValueError, match="'ref-999'"):
        brief.cite(["ref-001", "ref-999"], ds)


def test_figure_and_table_helpers(ds):
    df = pd.DataFrame({"donor": ["A", "B"], "eur": [166463900000.0, 2.5]})
    chart = alt.Chart(df).mark_bar().encode(x="eur:Q", y="donor:N")
    fig = brief.figure(chart, "My chart", source="ref-001", alt="Two bars", ds=ds)
    assert isinstance(fig, Figure) and fig.title == "My chart" and "[ref-001]" in fig.source_note
    assert fig.payload()["alt_text"] == "Two bars"
    tab = brief.table(df, "My table", source=["ref-001"], ds=ds)
    assert isinstance(tab, Table) and "[ref-001]" in tab.source_note
    html = tab.to_html()
    assert ">166,463,900,000.00<" in html and ">2.50<" in html and "e+" not in html


# ---------------------------------------------------------------------------------------------
# a plain DataFrame or chart shown in a notebook
# ---------------------------------------------------------------------------------------------
def test_plain_dataframe_is_formatted_like_the_built_in_tables():
    from coalition_report.display import _frame_bundle  # the formatter IPython calls
    df = pd.DataFrame({"value": [1.664639e11, 12.0], "n": [1234567, 3]},
                      index=pd.Index(["Germany", "France"], name="donor"))
    bundle = _frame_bundle(df)
    html = bundle[MIME_FIGURE]["html"]
    assert "e+" not in html and ">166,463,900,000<" in html and ">1,234,567<" in html
    assert 'border="1"' not in html
    # the index name sits in the one header row, text left and numbers right
    assert html.count("<tr>") == 3 and '<th scope="col" style="text-align:left">donor</th>' in html
    assert '<th scope="row" style="text-align:left">Germany</th>' in html
    assert '<td style="text-align:right" class="num">12</td>' in html
    assert bundle[MIME_FIGURE]["source_note"] is None  # the build warns about it


def test_styler_is_exported_with_its_own_formats_and_a_stable_id():
    from coalition_report.display import _frame_bundle
    df = pd.DataFrame({"share": [0.1234, 0.5]})
    a = _frame_bundle(df.style.format("{:.1%}").set_caption("Shares"))[MIME_FIGURE]
    b = _frame_bundle(df.style.format("{:.1%}").set_caption("Shares"))[MIME_FIGURE]
    assert a["html"] == b["html"]  # no random ids: builds stay byte-identical
    assert "12.3%" in a["html"] and "Shares" in a["html"]


def test_house_theme_applies_to_a_hand_written_chart():
    chart = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x="a:Q")
    cfg = chart.to_dict()["config"]
    assert cfg["font"] == "DejaVu Sans"
    assert cfg["range"]["category"][0] == style.PALETTES["categorical"]["blue"]


def test_plain_chart_renders_through_the_house_renderer():
    brief.setup  # importing brief enables it
    assert alt.renderers.active == "coalition"
    chart = alt.Chart(pd.DataFrame({"a": [1, 2]})).mark_bar().encode(x="a:Q").properties(title="Plain")
    bundle = chart._repr_mimebundle_()
    if isinstance(bundle, tuple):
        bundle = bundle[0]
    payload = bundle[MIME_FIGURE]
    assert payload["kind"] == "figure" and payload["source_note"] is None
    assert payload["alt_text"] == "Bar chart “Plain” (x: a)."
    assert "<svg" in payload["svg"]


# ---------------------------------------------------------------------------------------------
# every brief chart means the same to the Vega-Lite 5 that JupyterLab and VS Code bundle
# ---------------------------------------------------------------------------------------------
def test_brief_charts_compile_with_vega_lite_5(shipped):
    import vl_convert as vlc
    v5 = [v for v in vlc.get_vegalite_versions() if v.startswith("5.")][-1]
    figs = [membership.chart_membership_map(shipped), membership.chart_participation(shipped),
            membership.chart_attendance(shipped), aid.chart_top_donors(shipped), aid.chart_aid_groups(shipped),
            aid.chart_monthly_aid(shipped), aid.chart_gdp_share(shipped), positions.chart_positions(shipped),
            positions.chart_timeline(shipped), profile.chart_country_aid(shipped, "FRA")]
    for fig in figs:
        spec = fig._repr_mimebundle_()["application/vnd.vegalite.v5+json"]
        vega = vlc.vegalite_to_vega(spec, vl_version=v5)
        assert vega["marks"], fig.description
        svg = vlc.vegalite_to_svg(spec, vl_version=v5)
        assert svg.count("<path") + svg.count("<text") > 10, fig.description


# ---------------------------------------------------------------------------------------------
# module boundaries
# ---------------------------------------------------------------------------------------------
def _private_uses(path: Path) -> list[str]:
    """``from .x import _name`` and ``alias._name`` on a package module imported as ``alias``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("coalition_report")):
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{path.name}:{node.lineno} imports {a.name}")
                aliases.add(a.asname or a.name)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    problems = [p for f in sorted(SRC.rglob("*.py")) for p in _private_uses(f)]
    assert problems == []


def test_private_name_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from .charts import _flag\nfrom . import analysis as an\nx = an._cutoff(1)\n")
    assert len(_private_uses(bad)) == 2


@pytest.fixture(scope="module")
def first_days(shipped):
    """The shipped data cut to each early date once, shared by every section function as a
    notebook shares its one dataset (a new cut per case was ~5 s of the module's CPU)."""
    from coalition_report.data import cut_to

    cuts: dict = {}

    def cut(as_of: str):
        if as_of not in cuts:
            cuts[as_of] = cut_to(shipped, as_of)
        return cuts[as_of]
    return cut


@pytest.mark.parametrize("as_of", ["2025-03-02", "2025-03-06"])
@pytest.mark.parametrize("name", sorted(n for n, f in CALLS.items() if f is not None))
def test_section_functions_work_on_the_first_days(first_days, name, as_of):
    """On the coalition's first days most tables are empty after the knowledge cut: every
    section still renders (an empty section says so), never a TypeError in a notebook cell."""
    obj = CALLS[name](first_days(as_of))
    assert obj._repr_mimebundle_()[MIME_FIGURE]


def test_sourcing_table_counts_the_references_by_tier(ds):
    """Methods' sourcing mix adds up to the tiered sources of the references list, and its weak-only
    share is a share of the rows the brief shows."""
    from coalition_report import analysis as an
    from coalition_report.sourcing import sourcing_mix

    cited = an.cited_source_ids(ds)
    tiers = ds.sources.set_index("source_id")["tier"]
    mix = sourcing_mix(ds)
    assert mix["tiers"]["sources"].sum() == tiers[tiers.index.isin(cited)].notna().sum()
    assert 0 <= mix["weak_only"] <= mix["rows"] and mix["rows"] > 0
    frame = methods.table_sourcing(ds).frame
    assert list(frame["Sources cited"]) == list(mix["tiers"]["sources"])


def test_references_show_each_sources_tier(ds):
    refs = methods.references(ds).rows
    src = ds.sources.set_index("source_id")
    for r in refs:
        tier = src.at[r["source_id"], "tier"]
        if isinstance(tier, str) and tier:
            assert "Tier: " in r.get("note", ""), r["source_id"]
        if tier == "copy" and isinstance(src.at[r["source_id"], "original_publisher"], str):
            assert f"copy of {src.at[r['source_id'], 'original_publisher']}" in r["note"]


def test_stale_roles_and_stances_say_last_reported(ds):
    from coalition_report import analysis as an

    roles, stances = an.stale_labels(ds)
    table = membership.table_members(ds).frame
    m = an.coalition_members(ds).set_index("name")["actor_id"]
    for name, reported in zip(table["State"], table["Reported"]):
        assert ("last reported" in reported) == (m[name] in roles), name
    p = an.positions_matrix(ds)
    values = positions.chart_positions(ds).values.frame
    stale = {(r.actor, r.topic_label) for r in p.itertuples() if (r.actor_id, r.topic) in stances}
    for actor, topic, stance in zip(values["Actor"], values["Topic"], values["Stance"]):
        assert ("last reported" in stance) == ((actor, topic) in stale), (actor, topic)


def test_profile_figures_name_every_stated_size_and_announcement():
    """The profile's "Figures reported" line never says none beside the brief's own force and
    announcement tables: every France row with a stated size, and every primary announcement, is
    named there by its source (read from the CSVs, not from the code)."""
    ds = load_data(ROOT / "data")
    with open(ROOT / "data" / "force_pledges.csv", encoding="utf-8") as f:
        sized = {r["source_id"] for r in csv.DictReader(f) if r["actor_id"] == "FRA" and (r["number"] or r["unit"])}
    with open(ROOT / "data" / "aid_announcements.csv", encoding="utf-8") as f:
        announced = {r["source_id"] for r in csv.DictReader(f) if r["donor_id"] == "FRA" and not r["same_as"]}
    assert sized and announced  # the shipped data has both for France
    text = profile.profile_summary(ds, "FRA").text
    line = next(ln for ln in text.splitlines() if "Figures reported" in ln).replace("\\[", "[").replace("\\]", "]")
    assert "no troop numbers" not in line
    for sid in sized | announced:
        assert f"[{sid}]" in line, sid
