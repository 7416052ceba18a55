"""The house style for charts: one Altair theme and named colour mappings.

Importing this module registers and enables the Altair theme ``coalition`` (DejaVu Sans, the
font vl-convert measures with and WeasyPrint draws with; the Okabe–Ito palette, safe for the
common colour-vision deficiencies; sizes readable at A4 width). Any chart an analyst writes in a
notebook therefore gets the house look without extra code.

The brief's own charts use one colour per meaning (:data:`MEANINGS`, documented there); the
named palettes are views on it.

Colours are named mappings (value -> colour), never lists paired with a separate list of names:
reordering a mapping changes the legend order, never which value gets which colour.

>>> palette("stances")["oppose"]
'#D7301F'
>>> color_scale({"b": "#111111", "a": "#222222"}, labels={"a": "A", "b": "B"}).to_dict()
{'domain': ['B', 'A'], 'range': ['#111111', '#222222']}
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import altair as alt

from .display import CHART_FONT

__all__ = ["THEME", "WIDTH", "PALETTES", "MEANINGS", "INK", "palette", "color_scale", "enable_theme", "time_axis",
           "meaning_of", "text_colour", "chart_title", "theme"]

THEME = "coalition"
#: Chart width in px; A4 text width at 96 dpi is about 640 px.
WIDTH = 560

#: One colour per meaning across the whole brief. Each key is a meaning (``family.value``); no two
#: meanings share a colour (tested), so a reader who learns that dark navy is "lead nation" on the
#: map never meets dark navy meaning something else. Families:
#:
#: * ``role``: what a member offers (map, members table): blues for forces, from the lead nations'
#:   navy to air and maritime's light blue; teal for logistics and training; sand for political
#:   support; lilac for observers (the same meaning as an observer at a meeting); browns for
#:   declining troops and leaving.
#: * ``state``: the two belligerents on the map (Ukraine in its flag's yellow, Russia in pale rose)
#:   and states that are not members (light grey, also "not a member" in the GDP chart).
#: * ``membership``: coalition members in the charts that do not show roles (steel blue).
#: * ``aid``: aid types: military (rust), financial (gold), humanitarian (green).
#: * ``group``: Europe (EU flag blue), the United States (magenta), other donors (mid grey);
#:   ``category`` adds coalition members, EU institutions and other donors for the group chart.
#: * ``stance``: a diverging purple scale from support (deep purple) through conditional and
#:   neutral (pale) to oppose (red); each cell also prints the stance as a word.
#: * ``attendance``: attended (slate), observer (the role's lilac), reported absent (salmon).
#:
#: Colours that carry no meaning (text, axes, grid, land with no data) are in :data:`INK`.
MEANINGS: dict[str, str] = {
    "role.lead_nation": "#08306B", "role.ground_forces": "#2171B5", "role.air_maritime": "#6BAED6",
    "role.logistics_training": "#1B9E77", "role.political_support": "#DFC27D", "role.observer": "#B39DDB",
    "role.declined_troops": "#8C510A", "role.outside_coalition": "#543005", "role.no_stated_role": "#C6DBEF",
    "state.ukraine": "#FFD500", "state.russia": "#E9C3C3", "state.not_member": "#B0B0B0",
    "membership.member": "#4A6FA5",
    "aid.military": "#B2432F", "aid.financial": "#E6AB02", "aid.humanitarian": "#66A61E",
    "group.europe": "#003399", "group.united_states": "#C51B7D", "group.other": "#8C8C8C",
    "category.coalition_members": "#3E7CB1", "category.eu_institutions": "#7FA7D9", "category.other_donors": "#A89F91",
    "stance.support": "#40004B", "stance.conditional": "#9970AB", "stance.neutral": "#E7D4E8", "stance.oppose": "#D7301F",
    "attendance.attended": "#35516B", "attendance.absent": "#F4A582",
}

#: Colours without a meaning: text, axes, grid lines, land outside the data, marks of one series.
INK: dict[str, str] = {"text": "#000000", "text_light": "#FFFFFF", "subtle": "#555555", "axis": "#888888",
                       "grid": "#E6E6E6", "land": "#F0F0F0", "mark": "#333333"}


#: Which meaning each value of a named palette shows; :data:`PALETTES` is made from it, so a
#: meaning changed with :func:`theme` changes every palette that shows it.
_VIEWS: dict[str, dict[str, str]] = {
    "roles": {r: f"role.{r}" for r in ("lead_nation", "ground_forces", "air_maritime", "logistics_training",
                                        "political_support", "observer", "declined_troops", "outside_coalition")},
    "stances": {s: f"stance.{s}" for s in ("support", "conditional", "neutral", "oppose")},
    "aid_types": {t: f"aid.{t}" for t in ("military", "financial", "humanitarian")},
    "donor_groups": {"Europe": "group.europe", "United States": "group.united_states", "Other": "group.other"},
    "donor_categories": {"Coalition members": "category.coalition_members",
                         "EU institutions": "category.eu_institutions",
                         "United States": "group.united_states", "Other donors": "category.other_donors"},
    "membership": {"Coalition member": "membership.member", "Not a member": "state.not_member"},
    "attendance": {"attended": "attendance.attended", "observer": "role.observer", "absent": "attendance.absent"},
    "map": {"no_stated_role": "role.no_stated_role", "not_member": "state.not_member", "ukraine": "state.ukraine",
            "russia": "state.russia"},
}
#: The Okabe & Ito (2008) palette for an analyst's own charts; the brief's charts never use it.
_CATEGORICAL = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
                "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}
_HOUSE = (dict(MEANINGS), dict(_CATEGORICAL))

#: Every named colour mapping of the brief, each value a colour of :data:`MEANINGS` (the same
#: meaning has the same colour wherever it appears). ``categorical`` is the Okabe & Ito (2008)
#: palette for an analyst's own charts; the brief's charts never use it.
PALETTES: dict[str, dict[str, str]] = {}


def _rebuild() -> None:
    PALETTES.clear()
    PALETTES["categorical"] = dict(_CATEGORICAL)
    PALETTES.update({name: {v: MEANINGS[m] for v, m in view.items()} for name, view in _VIEWS.items()})


_rebuild()
_HEX = re.compile(r"#[0-9A-Fa-f]{6}")


def theme(palette: Mapping[str, object] | None = None, *, reset: bool = False) -> dict[str, str]:
    """Change the brief's colours for every chart drawn from now on in this session.

    ``palette`` maps meanings (``"aid.military"``, see :data:`MEANINGS`) to colours, or a named
    palette to a mapping of its values (``{"aid_types": {"military": "#7F2704"}}``; the value's
    meaning changes, so every palette showing it follows: ``"observer"`` in ``attendance`` is
    ``role.observer`` in ``roles`` too), or ``"categorical"`` to the colours of an analyst's own
    charts. Colours are ``#RRGGBB``. The brief keeps one colour per meaning: a change that would
    give two meanings one colour is refused (``ValueError`` naming both) and nothing changes.
    ``reset=True`` first restores the house colours. Returns a copy of the meanings in force.

    >>> theme({"aid.military": "#7F2704"})["aid.military"]
    '#7F2704'
    >>> palette("aid_types")["military"]
    '#7F2704'
    >>> theme(reset=True)["aid.military"]
    '#B2432F'
    """
    meanings = dict(_HOUSE[0] if reset else MEANINGS)
    categorical = dict(_HOUSE[1] if reset else _CATEGORICAL)

    def colour(where: str, value: object) -> str:
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise ValueError(f"theme: {where}: {value!r} is not a colour #RRGGBB")
        return value.upper()

    for key, value in (palette or {}).items():
        if key in meanings:
            meanings[key] = colour(key, value)
        elif key == "categorical" and isinstance(value, Mapping):
            for name, c in value.items():
                categorical[str(name)] = colour(f"categorical.{name}", c)
        elif key in _VIEWS and isinstance(value, Mapping):
            for v, c in value.items():
                if v not in _VIEWS[key]:
                    raise KeyError(f"theme: palette {key!r} has no value {v!r}; it has {', '.join(_VIEWS[key])}")
                meanings[_VIEWS[key][v]] = colour(f"{key}.{v}", c)
        else:
            raise KeyError(f"theme: {key!r} is neither a meaning ({', '.join(sorted(meanings)[:3])}, ...) "
                           f"nor a palette ({', '.join(PALETTES)}) with a mapping of colours")
    by_colour: dict[str, str] = {}
    for meaning, c in meanings.items():
        other = by_colour.setdefault(c.lower(), meaning)
        if other != meaning:
            raise ValueError(f"theme: {other} and {meaning} would both be {c}; the brief gives each meaning "
                             "its own colour")
    MEANINGS.clear()
    MEANINGS.update(meanings)
    _CATEGORICAL.clear()
    _CATEGORICAL.update(categorical)
    _rebuild()
    return dict(MEANINGS)


def meaning_of(colour: str) -> list[str]:
    """Every meaning :data:`MEANINGS` gives ``colour`` (case-insensitive); one at most when the
    palette is sound."""
    return [k for k, v in MEANINGS.items() if v.lower() == colour.lower()]


def text_colour(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (WCAG relative luminance)."""
    h = fill.lstrip("#")
    rgb = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lum = sum(w * (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
              for w, c in zip((0.2126, 0.7152, 0.0722), rgb))
    # contrast against black (lum + 0.05) / 0.05 vs against white 1.05 / (lum + 0.05)
    return INK["text"] if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else INK["text_light"]


def palette(name: str) -> dict[str, str]:
    """A copy of the named colour mapping (value -> colour), safe to edit in a notebook.

    Raises ``KeyError`` naming the known palettes when ``name`` is unknown.
    """
    try:
        return dict(PALETTES[name])
    except KeyError:
        raise KeyError(f"unknown palette {name!r}; known: {', '.join(PALETTES)}") from None


def color_scale(colors: Mapping[str, str], labels: Mapping[str, str] | None = None,
                order: Sequence[str] | None = None) -> alt.Scale:
    """An Altair colour scale pairing each value with its own colour.

    ``labels`` maps values to the text the chart shows (the scale domain uses the labels);
    ``order`` restricts and orders the values (default: the mapping's order).
    """
    keys = list(order) if order is not None else list(colors)
    missing = [k for k in keys if k not in colors]
    if missing:
        raise KeyError(f"no colour for {', '.join(map(str, missing))}; the mapping has {', '.join(colors)}")
    domain = [(labels or {}).get(k, k) for k in keys]
    return alt.Scale(domain=domain, range=[colors[k] for k in keys])


def time_axis(dates, **kwargs) -> alt.Axis:
    """A date axis whose labels never repeat, whatever the span of ``dates``.

    Over two years: one label per year; over four months: month and year at a step that keeps
    about eight labels; shorter spans: day and month.
    """
    import pandas as pd

    d = pd.to_datetime(pd.Series(list(dates))).dropna()
    span = (d.max() - d.min()).days if len(d) else 0
    if span > 730:
        spec = {"format": "%Y", "tickCount": "year"}
    elif span > 120:
        step = max(1, round(span / 30 / 8))
        spec = {"format": "%b %Y", "tickCount": {"interval": "month", "step": step}}
    else:
        step = max(1, round(span / 8)) if span else 1
        spec = {"format": "%-d %b %Y", "tickCount": {"interval": "day", "step": step}}
    return alt.Axis(labelAngle=0, **{**spec, **kwargs})


def chart_title(text: str, subtitle=None, width: int = WIDTH) -> alt.Title:
    """A title that states the chart's finding, wrapped into lines that fit ``width`` px (a title
    wider than the chart would widen the figure and shrink it on the page); ``subtitle``: a string
    or a list of lines, wrapped the same way."""
    import textwrap

    def lines(t, px_per_char):
        out = []
        for part in ([t] if isinstance(t, str) else list(t)):
            out += textwrap.wrap(part, max(20, int(width / px_per_char))) or [""]
        return out

    kw = {"subtitle": lines(subtitle, 6.4)} if subtitle else {}
    head = lines(text, 8.6)
    return alt.Title(head if len(head) > 1 else head[0], **kw)


def _theme() -> dict:
    return {
        "config": {
            "font": CHART_FONT,
            "view": {"continuousWidth": WIDTH, "continuousHeight": 300, "stroke": None},
            "range": {"category": list(PALETTES["categorical"].values())},  # read at each chart
            "title": {"fontSize": 14, "anchor": "start", "fontWeight": "bold", "subtitleFontSize": 11,
                      "subtitleColor": "#555555"},
            "axis": {"labelFontSize": 11, "titleFontSize": 11, "gridColor": "#e6e6e6",
                     "domainColor": "#888888", "tickColor": "#888888", "labelLimit": 220},
            "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "bottom",
                       "labelLimit": 260, "columns": 3},
            "header": {"labelFontSize": 11, "titleFontSize": 11},
            "bar": {"discreteBandSize": {"band": 0.8}},
        }
    }


def enable_theme() -> None:
    """Register and enable the house theme (idempotent; done on import)."""
    alt.theme.register(THEME, enable=True)(_theme)


enable_theme()
