"""The house style for charts: one Altair theme and named colour mappings.

Importing this module registers and enables the Altair theme ``coalition`` (DejaVu Sans, the
font vl-convert measures with and WeasyPrint draws with; the Okabe–Ito palette, safe for the
common colour-vision deficiencies; sizes readable at A4 width). Any chart an analyst writes in a
notebook therefore gets the house look without extra code.

Colours are named mappings (value -> colour), never lists paired with a separate list of names:
reordering a mapping changes the legend order, never which value gets which colour.

>>> palette("stances")["oppose"]
'#D55E00'
>>> color_scale({"b": "#111111", "a": "#222222"}, labels={"a": "A", "b": "B"}).to_dict()
{'domain': ['B', 'A'], 'range': ['#111111', '#222222']}
"""

from __future__ import annotations

from typing import Mapping, Sequence

import altair as alt

from .display import CHART_FONT

__all__ = ["THEME", "WIDTH", "PALETTES", "palette", "color_scale", "enable_theme", "time_axis"]

THEME = "coalition"
#: Chart width in px; A4 text width at 96 dpi is about 640 px.
WIDTH = 560

#: Every named colour mapping of the brief. ``categorical`` is the Okabe & Ito (2008) palette
#: used for any series without a mapping of its own.
PALETTES: dict[str, dict[str, str]] = {
    "categorical": {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
                    "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"},
    "roles": {"lead_nation": "#003f6b", "ground_forces": "#0072B2", "air_maritime": "#56B4E9",
              "logistics_training": "#009E73", "political_support": "#F0E442", "observer": "#CC79A7",
              "declined_troops": "#E69F00", "outside_coalition": "#D55E00"},
    "stances": {"support": "#0072B2", "conditional": "#56B4E9", "neutral": "#BBBBBB", "oppose": "#D55E00"},
    "aid_types": {"military": "#0072B2", "financial": "#E69F00", "humanitarian": "#009E73"},
    "donor_groups": {"Europe": "#0072B2", "United States": "#D55E00", "Other": "#009E73"},
    "donor_categories": {"Coalition members": "#0072B2", "EU institutions": "#56B4E9",
                         "United States": "#D55E00", "Other donors": "#999999"},
    "membership": {"Coalition member": "#0072B2", "Not a member": "#999999"},
    "attendance": {"attended": "#0072B2", "observer": "#CC79A7", "absent": "#D55E00"},
    "map": {"no_stated_role": "#c6dbef", "not_member": "#a6a6a6"},
}


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


def _theme() -> dict:
    return {
        "config": {
            "font": CHART_FONT,
            "view": {"continuousWidth": WIDTH, "continuousHeight": 300, "stroke": None},
            "range": {"category": list(PALETTES["categorical"].values())},
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
