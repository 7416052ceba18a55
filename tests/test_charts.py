"""The brief's charts as a reader sees them: titles that state a finding with its number, one
colour per meaning, words not colour alone, values tables behind every chart, and rendered axes
whose labels neither collide nor get cut, at the four test dates and in all three currencies.

Expected values are computed here from the CSV files, not from the analysis functions.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from datetime import date

import pandas as pd
import pytest

from coalition_report import style
from coalition_report.data import cut_to, load_data
from coalition_report.sections import aid, membership, positions
from conftest import ROOT

DATA = ROOT / "data"
DATES = ["2025-03-06", "2025-03-20", "2025-06-30", "2025-12-31", ""]
CURRENCIES = ["EUR", "USD", "GBP"]


@pytest.fixture(scope="module")
def full():
    return load_data(DATA)


_CUTS: dict = {}


def _at(full, day: str):
    if day not in _CUTS:
        _CUTS[day] = cut_to(full, day or full.knowledge_date)
    return _CUTS[day]


_FIGURES: dict = {}


def _chart(full, name: str, day: str, cur: str):
    """The brief's chart ``name`` at ``day`` in ``cur``, made once per module: the title, colour
    and label checks read the same figures (its spec and SVG are computed once by the figure)."""
    key = (name, day, cur)
    if key not in _FIGURES:
        _FIGURES[key] = CHARTS[name](_at(full, day), cur)
    return _FIGURES[key]


def _rows(name: str) -> list[dict]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


CHARTS = {
    "map": lambda ds, cur: membership.chart_membership_map(ds),
    "participation": lambda ds, cur: membership.chart_participation(ds),
    "attendance": lambda ds, cur: membership.chart_attendance(ds),
    "top_donors": lambda ds, cur: aid.chart_top_donors(ds, cur),
    "aid_groups": lambda ds, cur: aid.chart_aid_groups(ds, cur),
    "monthly": lambda ds, cur: aid.chart_monthly_aid(ds, cur),
    "gdp": lambda ds, cur: aid.chart_gdp_share(ds),
    "positions": lambda ds, cur: positions.chart_positions(ds),
    "timeline": lambda ds, cur: positions.chart_timeline(ds),
}
MONEY = {"top_donors", "aid_groups", "monthly"}


def _title(spec: dict) -> str:
    t = spec["title"]
    t = t["text"] if isinstance(t, dict) else t
    return " ".join(t) if isinstance(t, list) else t


# ---------------------------------------------------------------------------------------------
# titles state the finding with a number
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("day", DATES)
@pytest.mark.parametrize("name", sorted(CHARTS))
def test_every_default_title_states_a_number(full, name, day):
    for cur in (CURRENCIES if name in MONEY else ["EUR"]):
        title = _title(_chart(full, name, day, cur).spec)
        assert re.search(r"\d", title), f"{name} at {day or 'default'}: {title!r}"
        assert "nan" not in title.split() and "n/a" not in title


def test_monthly_title_is_the_twelve_month_share_from_the_csv(full):
    """'Europe gave 93% of new aid in the twelve months to February 2026', worked from the files."""
    actors = {r["actor_id"]: r for r in _rows("actors.csv")}

    def group(donor):
        if donor == "USA":
            return "US"
        return "Europe" if donor in {"eu-institutions", "eib", "epf"} or actors[donor]["europe"] == "true" else "Other"

    by_month: dict = defaultdict(lambda: defaultdict(float))
    for r in _rows("aid_activities.csv"):
        if r["measure"] == "allocation" and r["date"]:
            by_month[r["date"][:7]][group(r["donor_id"])] += float(r["value_eur"])
    last = max(by_month)
    y, m = int(last[:4]), int(last[5:])
    first = f"{y - 1}-{m + 1:02d}" if m < 12 else f"{y}-01"
    window = [k for k in by_month if first <= k <= last]
    europe = sum(by_month[k]["Europe"] for k in window)
    total = sum(sum(by_month[k].values()) for k in window)
    month = date(y, m, 1).strftime("%B %Y")
    want = f"Europe gave {round(100 * europe / total)}% of new aid in the twelve months to {month}"
    assert _title(aid.chart_monthly_aid(_at(full, ""), "EUR").spec) == want


def test_a_title_passed_by_the_analyst_wins(full):
    spec = aid.chart_aid_groups(_at(full, ""), "EUR", title="Who carries the load").spec
    assert _title(spec) == "Who carries the load"


# ---------------------------------------------------------------------------------------------
# one colour per meaning
# ---------------------------------------------------------------------------------------------
def _colour_labels(spec, found=None) -> dict:
    """Colour -> the labels the chart gives it (scales) or 'fixed' (a mark's own colour)."""
    found = found if found is not None else defaultdict(set)
    if isinstance(spec, dict):
        enc = spec.get("encoding", {})
        for ch in ("color", "fill"):
            scale = enc.get(ch, {}).get("scale") if isinstance(enc.get(ch), dict) else None
            if scale and "range" in scale and "domain" in scale:
                for label, colour in zip(scale["domain"], scale["range"]):
                    found[colour.lower()].add(label)
        mark = spec.get("mark")
        if isinstance(mark, dict):
            for key in ("color", "fill"):
                if isinstance(mark.get(key), str) and mark[key].startswith("#"):
                    found[mark[key].lower()].add("(fixed)")
        for k, v in spec.items():
            if k not in ("encoding", "data", "datasets", "config"):
                _colour_labels(v, found)
    elif isinstance(spec, list):
        for v in spec:
            _colour_labels(v, found)
    return found


#: Labels that name the same meaning in two charts.
SAME_MEANING = [{"Not a member", "Not a member (named in the data)"}, {"Observer"}]


def _conflicts(found: dict) -> dict:
    out = {}
    for colour, labels in found.items():
        labels = labels - {"(fixed)"}
        if len(labels) > 1 and not any(labels <= same for same in SAME_MEANING):
            out[colour] = sorted(labels)
    return out


def test_no_two_meanings_share_a_colour_in_the_palette():
    seen: dict = {}
    for meaning, colour in style.MEANINGS.items():
        assert colour.lower() not in seen, f"{colour} means {seen[colour.lower()]} and {meaning}"
        seen[colour.lower()] = meaning
    assert not set(seen) & {c.lower() for c in style.INK.values()}
    for name, mapping in style.PALETTES.items():
        if name != "categorical":  # an analyst's own series, never the brief's
            for key, colour in mapping.items():
                assert len(style.meaning_of(colour)) == 1, (name, key, colour)


def test_no_colour_carries_two_meanings_across_the_brief(full):
    found: dict = defaultdict(set)
    for day in ("", "2025-03-20"):
        for name in CHARTS:
            _colour_labels(_chart(full, name, day, "EUR").spec, found)
    assert _conflicts(found) == {}
    meaning = set(c.lower() for c in style.MEANINGS.values()) | {c.lower() for c in style.INK.values()}
    assert set(found) <= meaning, sorted(set(found) - meaning)


def test_the_colour_check_fails_when_one_colour_has_two_meanings(full):
    clash = {"military": style.MEANINGS["stance.support"], "financial": "#123456", "humanitarian": "#654321"}
    found: dict = defaultdict(set)
    _colour_labels(aid.chart_top_donors(_at(full, ""), "EUR", colors=clash).spec, found)
    _colour_labels(positions.chart_positions(_at(full, "")).spec, found)
    assert _conflicts(found) == {style.MEANINGS["stance.support"].lower(): ["Military", "Support"]}


def _contrast(a: str, b: str) -> float:
    def lum(h):
        c = [int(h.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_stance_cells_print_the_stance_in_a_readable_colour(full):
    spec = positions.chart_positions(_at(full, "")).spec
    text = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "text")
    assert text["encoding"]["text"]["field"] == "stance_label"
    rows = spec["datasets"][spec["data"]["name"]] if "datasets" in spec else None
    rows = rows or next(iter(spec.get("datasets", {}).values()))
    stances = _rows("positions.csv")
    assert {r["stance_label"].lower() for r in rows} <= {r["stance"] for r in stances}
    for r in rows:
        fill = style.PALETTES["stances"][r["stance"]]
        assert _contrast(fill, r["ink"]) >= 4.5, (r["stance"], fill, r["ink"])
    assert all(r["when"] for r in rows)  # the date travels with the cell (tooltip)


# ---------------------------------------------------------------------------------------------
# the map
# ---------------------------------------------------------------------------------------------
def test_map_shows_ukraine_and_russia_and_lists_members_off_the_map(full):
    ds = _at(full, "")
    fig = membership.chart_membership_map(ds)
    pairs = _colour_labels(fig.spec)
    assert pairs[style.MEANINGS["state.ukraine"].lower()] and pairs[style.MEANINGS["state.russia"].lower()]
    subtitle = " ".join(fig.spec["title"]["subtitle"])
    members = set(membership.an.coalition_members(ds)["name"])
    for name in ("Australia", "Canada", "Japan", "New Zealand"):
        if name in members:
            assert name in subtitle
    assert set(fig.values.frame["State"]) >= members


# ---------------------------------------------------------------------------------------------
# every number on paper
# ---------------------------------------------------------------------------------------------
def test_gdp_values_list_every_donor_state_with_a_gdp_figure(full):
    ds = _at(full, "")
    donors = {r["donor_id"] for r in _rows("aid_totals.csv")}
    want = {r["name"] for r in _rows("actors.csv") if r["gdp_usd"] and r["actor_id"] in donors}
    table = aid.chart_gdp_share(ds, top_n=25).values.frame
    assert set(table["State"]) == want
    assert {"Romania", "Spain", "Portugal", "Ireland", "Greece", "Australia", "New Zealand", "Cyprus"} <= want


def test_monthly_values_give_every_month_and_flag_the_incomplete_quarter(full):
    months = {r["date"][:7] for r in _rows("aid_activities.csv") if r["measure"] == "allocation" and r["date"]}
    table = aid.chart_monthly_aid(_at(full, ""), "EUR").values.frame
    assert sorted(table["Month"]) == sorted(months)
    last = max(months)
    if int(last[5:]) % 3:  # the newest quarter is not over
        q = (int(last[5:]) - 1) // 3
        flagged = set(table.loc[table["Note"].str.contains("incomplete quarter"), "Month"])
        assert flagged == {m for m in months if m[:4] == last[:4] and (int(m[5:]) - 1) // 3 == q}


def test_participation_values_name_who_took_part(full):
    ds = _at(full, "")
    states = {r["actor_id"]: r["name"] for r in _rows("actors.csv") if r["actor_type"] == "state"}
    named: dict = defaultdict(set)
    for r in _rows("attendance.csv"):
        if r["status"] in ("attended", "observer") and r["actor_id"] in states:
            named[r["meeting_id"]].add(states[r["actor_id"]])
    meetings = sorted(_rows("meetings.csv"), key=lambda r: r["date"])
    table = membership.chart_participation(ds).values.frame
    assert list(table["States named"]) == [len(named[m["meeting_id"]]) for m in meetings]
    for who, m in zip(table["Who (named as present)"], meetings):
        assert set(who.split(", ")) - {"–"} == named[m["meeting_id"]]


def test_stance_values_give_stance_and_date(full):
    table = positions.chart_positions(_at(full, "")).values.frame
    assert {"Actor", "Topic", "Stance", "Date", "Source"} <= set(table.columns)
    assert table["Date"].str.match(r"\d{4}-\d\d-\d\d").all()


# ---------------------------------------------------------------------------------------------
# rendered: no colliding axis labels, nothing cut
# ---------------------------------------------------------------------------------------------
_TEXT = re.compile(r'<text([^>]*)>([^<]*)</text>')


def _axis_label_groups(svg: str):
    for group in re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg, re.S):
        labels = []
        for attrs, text in _TEXT.findall(group):
            if 'opacity="0"' in attrs:
                continue  # removed by Vega's overlap rule
            x, y = map(float, re.search(r"translate\(([-\d.e]+),([-\d.e]+)\)", attrs).groups())
            size = float(re.search(r'font-size="([\d.]+)px"', attrs).group(1))
            anchor = re.search(r'text-anchor="(\w+)"', attrs)
            rotate = "rotate(" in attrs
            labels.append((x, y, size, anchor.group(1) if anchor else "start", text, rotate))
        yield labels


def _collisions(svg: str) -> list:
    """Pairs of horizontal axis labels on one line whose boxes overlap (DejaVu Sans digits are
    0.64 em wide; a wider estimate only makes the check stricter)."""
    out = []
    for labels in _axis_label_groups(svg):
        rows = defaultdict(list)
        for x, y, size, anchor, text, rotate in labels:
            if rotate:
                continue
            w = 0.64 * size * len(text)
            left = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
            rows[round(y)].append((left, left + w, text))
        for row in rows.values():
            row.sort()
            out += [(a[2], b[2]) for a, b in zip(row, row[1:]) if b[0] < a[1] + 1]
    return out


def test_the_collision_check_finds_the_old_crowded_axis(full):
    import altair as alt

    crowded = alt.Chart(pd.DataFrame({"v": [0, 130]})).mark_bar().encode(
        x=alt.X("v:Q", axis=alt.Axis(tickCount=14, labelOverlap=False))).properties(width=120)
    import vl_convert as vlc

    assert _collisions(vlc.vegalite_to_svg(crowded.to_dict()))


@pytest.mark.parametrize("day", ["2025-03-20", "2025-06-30", "2025-12-31", ""])
def test_no_axis_labels_collide_or_are_cut(full, day):
    for name in CHARTS:
        for cur in (CURRENCIES if name in MONEY else ["EUR"]):
            svg = _chart(full, name, day, cur).to_svg()
            assert _collisions(svg) == [], (name, cur, day)
            cut = [t for _, t in _TEXT.findall(svg) if t.endswith("…")]
            assert cut == [], (name, cur, day)  # Vega cuts a label it cannot fit with an ellipsis
