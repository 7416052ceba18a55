"""Display protocol: what charts, tables and report metadata look like inside a notebook.

Chart and table functions return :class:`Figure` and :class:`Table` objects; a notebook cell
that ends with one (or calls ``display(...)`` on it) emits a Jupyter mimebundle. Each bundle
carries, besides what JupyterLab draws, a private payload under :data:`MIME_FIGURE` that the
export templates in :mod:`coalition_report.render` turn into accessible, offline HTML and into
print-quality PDF markup. Nothing here depends on ``render`` having started the kernel: a plain
``papermill nb.ipynb out.ipynb`` produces the same outputs.

:class:`ReportMeta` lets a notebook state values only known at run time (the resolved as-of date,
a title that depends on a parameter); the exports lift it into the title block and running
header. Its convention is documented in :mod:`coalition_report.render`.

Heavy libraries (altair, pandas, vl-convert) are imported lazily so that importing this module
(which ``render`` does for the markup helpers) stays cheap.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .dates import format_date
from .notebook_css import NOTEBOOK_CSS, notebook_html
from .svgcache import vl_version
from .textsafe import escape_markdown, strip_control

__all__ = ["Figure", "Table", "ReportMeta", "Markdown", "KeyFigures", "References", "bullets", "strong",
           "ValuesAnnex", "values_annex", "reset_values",
           "format_date", "enable_display", "MIME_FIGURE", "MIME_META", "CHART_FONT", "MAX_ROWS",
           "NOTEBOOK_CSS"]

#: Custom mimetype carrying figures and tables to the export templates.
MIME_FIGURE = "application/vnd.coalition.figure+json"
#: Custom mimetype carrying report metadata (title, subtitle, as-of date) to the exports.
MIME_META = "application/vnd.coalition.meta+json"
#: Font named in every chart's config: vl-convert measures text with it and WeasyPrint draws
#: with it, so labels are neither clipped nor overflowing. Installed with Debian fonts-dejavu.
CHART_FONT = "DejaVu Sans"
#: Same ceiling as Altair's default data transformer; enforced here independently of whatever
#: transformer a notebook enables, because a brief must only embed aggregated data.
MAX_ROWS = 5000

_NA = "\u2013"  # en dash for missing values
#: Tables with at most this many rows are kept on one page in print (class ``short``).
SHORT_ROWS = 12


# --------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------
@dataclass
class Figure:
    """An Altair chart plus the text a reader needs to trust and understand it.

    Parameters
    ----------
    chart : altair.TopLevelMixin or dict
        The chart (anything with ``to_dict()``) or a Vega-Lite spec dict.
    alt_text : str or None
        One or two sentences saying what the chart shows, for screen readers. ``None``: a
        description is made from the spec (title, mark, fields); never an empty string.
    source_note : str or None
        Where the numbers come from. Shown under the chart; ``http(s)://`` URLs become links;
        prefixed with "Source: " unless it already starts with "Source". ``None`` (a chart
        displayed without a source) prints "Source: not stated" and the build warns, naming
        the cell.
    title : str, optional
        Heading shown above the chart in the exports (the spec may carry its own title too).
    values : Table, optional
        The numbers behind the chart, so a reader of the PDF can read every value: printed
        under the chart in the PDF, a collapsible "Values" table on the web page.
    label : str, optional
        ``fig-...``: names the chart for cross-references (``@fig-top-donors`` in Markdown
        becomes "Figure N", linked to it; see :mod:`coalition_report.render.markdown`).
    """

    chart: Any
    alt_text: str | None
    source_note: str | None
    title: str | None = None
    values: Any = None
    label: str | None = None
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _require_text(self.alt_text, "Figure", "alt_text", optional=True)
        _require_text(self.source_note, "Figure", "source_note", optional=True)
        _check_label(self.label, "fig")

    # The spec is computed once: to_dict() runs Altair's validation and data transformers.
    @property
    def spec(self) -> dict:
        """The Vega-Lite spec with the chart font set and the row limit checked."""
        if "spec" not in self._cache:
            raw = self.chart if isinstance(self.chart, dict) else self.chart.to_dict()
            # deep copy, proof that it is plain JSON, and no control characters in labels,
            # tooltips or titles (they would make the SVG invalid XML)
            spec = _without_controls(json.loads(json.dumps(raw)))
            cfg = spec.setdefault("config", {})
            cfg.setdefault("font", CHART_FONT)
            rows = _count_rows(spec)
            if rows > MAX_ROWS:
                raise ValueError(
                    f"Figure {self.title or self.alt_text[:40]!r} embeds {rows} data rows; "
                    f"at most {MAX_ROWS} are allowed: aggregate in pandas before charting")
            self._cache["spec"] = spec
        return self._cache["spec"]

    @property
    def id(self) -> str:
        """Stable id: a hash of the spec and the texts, so rebuilding gives the same id."""
        if "id" not in self._cache:
            blob = _canonical({"spec": self.spec, "alt": self.alt_text,
                               "src": self.source_note, "title": self.title})
            self._cache["id"] = "chart-" + hashlib.sha256(blob.encode()).hexdigest()[:12]
        return self._cache["id"]

    def to_svg(self) -> str:
        """Static SVG drawn by vl-convert (vector; used by the PDF and as the HTML fallback)."""
        if "svg" not in self._cache:
            from .svgcache import chart_svg

            self._cache["svg"] = chart_svg(self.spec, vl_version())
        return self._cache["svg"]

    @property
    def description(self) -> str:
        """The alt text, or one made from the spec when none was given."""
        return self.alt_text or describe_spec(self.spec)

    def payload(self) -> dict:
        """The :data:`MIME_FIGURE` payload the export templates consume."""
        payload = {"kind": "figure", "id": self.id, "alt_text": self.description,
                   "source_note": self.source_note, "title": self.title,
                   "spec": self.spec, "svg": self.to_svg()}
        if self.label:
            payload["label"] = self.label
        if self.values is not None:
            payload["values_html"] = self.values.table_html()
            payload["values_caption"] = self.values.caption
        return payload

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        if self.values is not None:
            _SHOWN_VALUES[self.id] = self  # for the annex: values_annex() lists them in display order
        from .notebook_view import figure_notes

        figure_notes(self)
        major = vl_version().split(".")[0]
        bundle = {
            f"application/vnd.vegalite.v{major}+json": self.spec,
            "image/svg+xml": self.to_svg(),
            MIME_FIGURE: self.payload(),
            "text/plain": f"<Figure {self.title or ''!s}: {self.description}>",
        }
        # JupyterLab 4 and VS Code draw Vega-Lite 5 offline (their bundled renderer) but not 6:
        # hand them the same spec under the v5 type; tests compile every brief chart with
        # Vega-Lite 5 to prove the spec means the same there.
        if major != "5":
            bundle[VEGALITE5_MIME] = lab_spec(self.spec)
        return bundle


#: Figures displayed in this kernel that carry their values (id -> figure), in display order.
_SHOWN_VALUES: dict[str, "Figure"] = {}


def reset_values() -> None:
    """Forget the figures shown so far (a new brief starts with none)."""
    _SHOWN_VALUES.clear()


class ValuesAnnex:
    """The numbers behind every chart displayed so far, one table per chart (for an annex).

    Each table keeps its chart's title and source note, so it reads on its own. In the PDF the
    values move here from under the charts; on the web page they stay collapsed under each chart.
    """

    def __init__(self, figures: Sequence["Figure"]):
        self.figures = list(figures)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        parts, text = [], []
        for fig in self.figures:
            label = fig.title or _spec_title(fig.spec) or fig.description
            cap = fig.values.caption or "Values"
            parts.append(f'<figure class="table values-table"><p class="values-for">{_esc(label)}</p>\n'
                         f'{fig.values.table_html()}<figcaption class="source-note">'
                         f'{source_note_html(fig.source_note)}</figcaption>\n</figure>')
            text.append(f"{label}: {cap}")
        if not parts:
            parts.append("<p>No chart in this report carries a values table.</p>")
        return _html_bundle('<div class="values-annex">' + "".join(parts) + "</div>", "\n".join(text))


def _spec_title(spec: Mapping[str, Any]) -> str | None:
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    return str(title) if title else None


def values_annex() -> ValuesAnnex:
    """The values tables of every chart displayed so far in this kernel (see :class:`ValuesAnnex`)."""
    return ValuesAnnex(list(_SHOWN_VALUES.values()))


#: The Vega-Lite type JupyterLab 4 and VS Code render with their own bundled (offline) library.
VEGALITE5_MIME = "application/vnd.vegalite.v5+json"
_VL5_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.20.1.json"


def lab_spec(spec: dict) -> dict:
    """The spec with a Vega-Lite 5 ``$schema``, for notebook front ends that know only v5."""
    return {**spec, "$schema": _VL5_SCHEMA}


def describe_spec(spec: Mapping[str, Any]) -> str:
    """A plain description of a chart from its spec, for charts given no alt text."""
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    mark = spec.get("mark")
    mark = mark.get("type") if isinstance(mark, Mapping) else mark
    kinds = {"bar": "Bar chart", "line": "Line chart", "point": "Scatter plot", "circle": "Dot chart",
             "area": "Area chart", "rect": "Heat map", "geoshape": "Map", "arc": "Pie chart"}
    what = kinds.get(str(mark), "Chart") if mark else "Chart"
    fields = []
    for ch in ("x", "y", "color", "theta"):
        enc = (spec.get("encoding") or {}).get(ch)
        if isinstance(enc, Mapping):
            label = enc.get("title") or enc.get("field") or enc.get("aggregate")
            if label:
                fields.append(f"{ch}: {label}")
    text = what + (f" “{title}”" if title else "")
    return text + (f" ({'; '.join(map(str, fields))})" if fields else "") + "."


def _count_rows(spec: Any) -> int:
    """Rows embedded anywhere in a spec: named datasets plus inline ``data.values``."""
    total = sum(len(v) for v in spec.get("datasets", {}).values() if isinstance(v, list))

    def walk(node: Any) -> int:
        n = 0
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, dict) and isinstance(data.get("values"), list):
                n += len(data["values"])
            for key, value in node.items():
                if key not in ("datasets", "data"):
                    n += walk(value)
        elif isinstance(node, list):
            n += sum(walk(x) for x in node)
        return n

    return total + walk(spec)


# --------------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------------
@dataclass
class Table:
    """A small, already aggregated DataFrame rendered as an accessible HTML table.

    Parameters
    ----------
    frame : pandas.DataFrame or pandas.io.formats.style.Styler
        The data. Cell text is HTML-escaped, so markup in data stays inert. A Styler is
        exported as pandas renders it (its formats and styles win), inside the house table frame.
    caption : str or None
        Table caption, rendered as ``<caption>``; ``None``: no caption.
    source_note : str or None
        Where the numbers come from, rendered as ``<figcaption>`` under the table. ``None``
        prints "Source: not stated" and the build warns, naming the cell.
    formats : mapping, optional
        Column -> format: a format spec (``",.0f"``), a ``str.format`` pattern
        (``"{:.1%}"``) or a callable returning text. Defaults: thousands separators for
        numbers, no decimals when every value in a float column is whole, else two.
    align : mapping, optional
        Column -> ``"left" | "right" | "center"``. Numbers are right-aligned by default.
    index : bool or None
        Show the index as row headers (default ``False``); ``None``: when it is not a plain
        unnamed 0..n-1 range (what a displayed DataFrame gets).
    label : str, optional
        ``tbl-...``: names the table for cross-references (``@tbl-fx`` becomes "Table N").
    """

    frame: Any
    caption: str | None
    source_note: str | None
    formats: Mapping[str, str | Callable[[Any], str]] | None = None
    align: Mapping[str, str] | None = None
    index: bool | None = False
    label: str | None = None

    def __post_init__(self) -> None:
        import pandas as pd

        _check_label(self.label, "tbl")
        if self.index is None:
            idx = _frame_of(self.frame).index
            self.index = not (isinstance(idx, pd.RangeIndex) and idx.name is None)
        if self.caption is None and _is_styler(self.frame) and getattr(self.frame, "caption", None):
            self.caption = str(self.frame.caption)  # the Styler's own caption
        _require_text(self.caption, "Table", "caption", optional=True)
        _require_text(self.source_note, "Table", "source_note", optional=True)
        for col, how in (self.align or {}).items():
            if how not in ("left", "right", "center"):
                raise ValueError(f"Table align[{col!r}]={how!r}: use 'left', 'right' or 'center'")
        if len(_frame_of(self.frame)) > MAX_ROWS:
            raise ValueError(f"Table {self.caption!r} has {len(_frame_of(self.frame))} rows; "
                             f"at most {MAX_ROWS} are allowed: aggregate first")

    @property
    def id(self) -> str:
        """Stable id: a hash of the rendered table and its source note."""
        return self._render()[0]

    def to_html(self) -> str:
        """``<figure class="table"><table>…</table><figcaption>Source…</figcaption></figure>``."""
        return self._render()[1]

    def table_html(self) -> str:
        """Only the ``<table>`` (with its caption), for values printed under a chart."""
        return self._styler_html() if _is_styler(self.frame) else self._inner_html()

    def _render(self) -> tuple[str, str]:
        inner = self._styler_html() if _is_styler(self.frame) else self._inner_html()
        note = source_note_html(self.source_note)
        tid = "table-" + hashlib.sha256(f"{inner}\0{note}".encode()).hexdigest()[:12]
        short = " short" if len(_frame_of(self.frame)) <= SHORT_ROWS else ""
        markup = (f'<figure class="table{short}" id="{tid}">\n{inner}'
                  f'<figcaption class="source-note">{note}</figcaption>\n</figure>')
        return tid, markup

    def _inner_html(self) -> str:
        import pandas as pd

        frame = self.frame.reset_index() if self.index else self.frame
        n_index = frame.shape[1] - self.frame.shape[1] if self.index else 0
        cols = [_column_label(c) for c in frame.columns]
        kinds = []
        formatters = []
        for pos, col in enumerate(frame.columns):
            series = frame.iloc[:, pos]
            numeric = (pd.api.types.is_numeric_dtype(series)
                       and not pd.api.types.is_bool_dtype(series))
            how = (self.align or {}).get(col) or ("right" if numeric else "left")
            kinds.append(how)
            formatters.append(_formatter(series, (self.formats or {}).get(col), numeric))
        caption = f"<caption>{_esc(self.caption)}</caption>\n" if self.caption else ""
        out = [f'<table>\n{caption}<thead>\n<tr>']
        for label, how in zip(cols, kinds):
            out.append(f'<th scope="col"{_cell_attrs(how)}>{_esc(label)}</th>')
        out.append("</tr>\n</thead>\n<tbody>\n")
        for row in frame.itertuples(index=False, name=None):
            out.append("<tr>")
            for pos, (value, how, fmt) in enumerate(zip(row, kinds, formatters)):
                text = fmt(value)
                tag = "th" if pos < n_index else "td"
                scope = ' scope="row"' if tag == "th" else ""
                attr = _cell_attrs(how, missing=_is_missing(value))
                if _ISO_DAY.fullmatch(text):  # keep dates on one line in narrow columns
                    attr += ' class="date"' if "class=" not in attr else ""
                out.append(f"<{tag}{scope}{attr}>{linkify(text)}</{tag}>")
            out.append("</tr>\n")
        out.append("</tbody>\n</table>\n")
        return "".join(out)

    def _styler_html(self) -> str:
        # A stable table id keeps outputs byte-identical between builds (pandas picks a random one).
        styler = self.frame
        digest = hashlib.sha256(styler.data.to_json(date_format="iso").encode()).hexdigest()[:10]
        if self.caption:
            styler = styler.set_caption(self.caption)
        return styler.to_html(table_uuid=f"s{digest}") + "\n"

    def payload(self) -> dict:
        """The :data:`MIME_FIGURE` payload the export templates consume."""
        tid, markup = self._render()
        payload = {"kind": "table", "id": tid, "caption": self.caption,
                   "source_note": self.source_note, "html": markup}
        if self.label:
            payload["label"] = self.label
        return payload

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        payload = self.payload()
        return {"text/html": notebook_html(payload["html"]), MIME_FIGURE: payload,
                "text/plain": f"<Table {self.caption or ''}: {len(_frame_of(self.frame))} rows>"}


def _is_styler(obj: Any) -> bool:
    return type(obj).__name__ == "Styler" and hasattr(obj, "data") and hasattr(obj, "to_html")


def _frame_of(obj: Any) -> Any:
    return obj.data if _is_styler(obj) else obj


def _column_label(col: Any) -> str:
    if isinstance(col, tuple):
        return " / ".join(str(c) for c in col if str(c))
    return str(col)


def _cell_attrs(how: str, missing: bool = False) -> str:
    # Classes for our stylesheets, inline style so JupyterLab (without them) aligns too: its
    # own stylesheet right-aligns every cell, so left needs saying as well.
    align_class = {"right": "num", "center": "center"}.get(how)
    classes = [c for c in (align_class, "na" if missing else None) if c]
    style = f' style="text-align:{how}"'
    return style + (f' class="{" ".join(classes)}"' if classes else "")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        result = pd.isna(value)
        return bool(result) if not hasattr(result, "__len__") else False
    except (TypeError, ValueError):
        return False


def _formatter(series: Any, spec: str | Callable | None, numeric: bool) -> Callable[[Any], str]:
    import pandas as pd

    if callable(spec):
        base = spec
    elif isinstance(spec, str):
        base = (lambda v, s=spec: s.format(v)) if "{" in spec else (lambda v, s=spec: format(v, s))
    elif numeric and pd.api.types.is_integer_dtype(series):
        base = lambda v: f"{int(v):,}"  # noqa: E731
    elif numeric:
        values = series.dropna()
        whole = all(float(v).is_integer() for v in values if math.isfinite(float(v)))
        base = (lambda v: f"{v:,.0f}") if whole else (lambda v: f"{v:,.2f}")  # noqa: E731
    else:
        base = _plain_text

    def fmt(value: Any) -> str:
        if _is_missing(value):
            return _NA
        return str(base(value))

    return fmt


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "isoformat") and hasattr(value, "hour"):
        if (value.hour, value.minute, value.second) == (0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------------------------
# ReportMeta
# --------------------------------------------------------------------------------------------
@dataclass
class ReportMeta:
    """Run-time report metadata: the exports put it in the title block and running header.

    Display it once, early (usually right after loading the data)::

        ReportMeta(as_of=str(as_of_resolved))                       # brief
        ReportMeta(title=f"Country profile: {name}", as_of=...)     # profile

    Fields left ``None`` fall back to the notebook's title cell (its first markdown cell, when it
    starts with a ``# `` heading): the heading is the title, the rest of that cell the subtitle.
    In JupyterLab it shows as a one-line dateline; the exports lift it out of the body.
    """

    as_of: str | None = None
    title: str | None = None
    subtitle: str | None = None

    def payload(self) -> dict:
        return {"as_of": self.as_of, "title": self.title, "subtitle": self.subtitle}

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        line = f"Data as of {format_date(self.as_of)}" if self.as_of else ""
        head = f"<strong>{_esc(self.title)}</strong><br>" if self.title else ""
        return {MIME_META: self.payload(),
                "text/html": f'<p class="dateline">{head}{_esc(line)}</p>',
                "text/plain": " | ".join(x for x in (self.title, line) if x)}


# --------------------------------------------------------------------------------------------
# Markup shared with the export templates
# --------------------------------------------------------------------------------------------


def _without_controls(node: Any) -> Any:
    """A JSON value with control characters removed from every string (keys too), and NaN and
    infinities as ``null`` (missing in Vega-Lite): JSON has no such numbers, and a bundle holding
    one makes the kernel print "Out of range float values are not JSON compliant"."""
    if isinstance(node, float) and not math.isfinite(node):
        return None
    if isinstance(node, str):
        return strip_control(node)
    if isinstance(node, dict):
        return {_without_controls(k): _without_controls(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_controls(v) for v in node]
    return node


def _esc(text: Any) -> str:
    """Text as inert HTML: ``<``, ``>``, ``&`` and quotes escaped, control characters removed.
    Markdown syntax (``**vote**``) stays literal text: nothing here reads Markdown."""
    return html.escape(strip_control(str(text)), quote=True)


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_URL = re.compile(r"https?://[^\s<>\"')\]]+[^\s<>\"')\].,;:]")


def source_note_html(note: str | None) -> str:
    """Escaped source note, ``Source:`` prefix added, bare http(s) URLs turned into links."""
    if not note:
        return "Source: not stated."
    text = note.strip()
    if not text.lower().startswith("source"):
        text = "Source: " + text
    return linkify(text)


def linkify(text: str) -> str:
    """Escape ``text`` and turn bare http(s) URLs into links (class ``url`` lets long ones wrap)."""
    text = strip_control(str(text))
    out, pos = [], 0
    for m in _URL.finditer(text):
        out.append(_esc(text[pos:m.start()]))
        url = _esc(m.group(0))
        out.append(f'<a class="url" href="{url}">{url}</a>')
        pos = m.end()
    out.append(_esc(text[pos:]))
    return "".join(out)


def _json_for_script(obj: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` even with hostile strings."""
    return (_canonical(obj).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _svg_size(svg: str) -> tuple[str | None, str | None]:
    head = svg[: svg.find(">") + 1]
    w = re.search(r'\bwidth="([\d.]+)', head)
    h = re.search(r'\bheight="([\d.]+)', head)
    return (w.group(1) if w else None, h.group(1) if h else None)


def _svg_img(svg: str, alt: str) -> str:
    # A data: URI isolates each SVG: vl-convert reuses ids such as "clip1" in every chart,
    # which would collide if several SVGs were inlined into one document.
    w, h = _svg_size(svg)
    size = (f' width="{w}"' if w else "") + (f' height="{h}"' if h else "")
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (f'<img class="chart-image" src="data:image/svg+xml;base64,{data}"{size} '
            f'alt="{_esc(alt)}">')


def figure_html(payload: Mapping[str, Any], fig_id: str, *, interactive: bool) -> str:
    """Export markup for a figure payload.

    ``interactive=True`` (web page): the static SVG sits in a fallback block that the page's
    script replaces with a vega-embed view; the spec travels in a JSON script element.
    ``interactive=False`` (print): only the static vector image.
    """
    alt = _esc(payload.get("alt_text") or "Chart")
    title = payload.get("title")
    parts = [f'<figure class="chart" id="{fig_id}" role="img" aria-label="{alt}" '
             f'aria-describedby="{fig_id}-source">']
    if title:
        parts.append(f'<p class="figure-title">{_esc(title)}</p>')
    if interactive:
        parts.append(f'<div class="chart-view" data-spec="{fig_id}-spec"></div>')
        fallback = _svg_img(payload["svg"], payload.get("alt_text") or "Chart")
        parts.append(f'<div class="chart-fallback">{fallback}</div>')
    else:
        parts.append(_svg_img(payload["svg"], payload.get("alt_text") or "Chart"))
    parts.append(f'<figcaption class="source-note" id="{fig_id}-source">'
                 f'{source_note_html(payload.get("source_note"))}</figcaption>')
    parts.append("</figure>")
    values = payload.get("values_html")
    if values and interactive:
        parts.append(f'<details class="chart-values"><summary>Values behind the chart</summary>\n{values}</details>')
    elif values:
        parts.append(f'<div class="chart-values">\n{values}</div>')
    if interactive:
        parts.append(f'<script type="application/json" id="{fig_id}-spec">'
                     f'{_json_for_script(payload["spec"])}</script>')
    return "\n".join(parts)


def _check_label(label: Any, prefix: str) -> None:
    """A cross-reference label: ``fig-top-donors`` (figures), ``tbl-fx`` (tables)."""
    if label is None:
        return
    if not isinstance(label, str) or not re.fullmatch(prefix + r"-[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?", label):
        what = "figure" if prefix == "fig" else "table"
        raise ValueError(f"{what} label {label!r} must look like '{prefix}-top-donors' "
                         "(letters, digits, hyphens)")


def _require_text(value: Any, cls: str, name: str, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{cls}.{name} is required and must be non-empty text, got {value!r}")


# --------------------------------------------------------------------------------------------
# Text blocks: bullets, key figures, reference list
# --------------------------------------------------------------------------------------------
#: House look inside JupyterLab / VS Code (the exports have their own stylesheets and take the
#: clean markup from the payload). Scoped to ``.cr-nb`` so it never leaks into other outputs.
def _html_bundle(markup: str, text: str, markdown: str | None = None) -> dict:
    bundle = {MIME_FIGURE: {"kind": "html", "html": markup}, "text/html": notebook_html(markup),
              "text/plain": text}
    if markdown is not None:
        bundle["text/markdown"] = markdown
    return bundle


class Markdown:
    """Computed text shown as HTML (exports, JupyterLab) and markdown (plain front ends).

    ``html_text`` is the markup, built from escaped data; ``text`` the markdown equivalent.
    """

    def __init__(self, text: str, html_text: str):
        self.text, self.html = text, html_text

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return _html_bundle(self.html, self.text, self.text)


class strong(str):
    """A piece of a bullet shown in bold (see :func:`bullets`)."""




def bullets(lines: list[str | Sequence[str]]) -> Markdown:
    """A bulleted list of text; data is never read as Markdown or HTML.

    Each line is a string (shown as it is, escaped) or a sequence of strings in which
    :class:`strong` pieces are bold: ``[strong("34 states"), " are in the coalition"]``.
    """
    def pieces(line):
        return [line] if isinstance(line, str) else list(line)

    def to_html(line) -> str:
        return "".join(f"<strong>{_esc(p)}</strong>" if isinstance(p, strong) else _esc(p) for p in pieces(line))

    md = escape_markdown

    def to_md(line) -> str:
        return "".join("**" + md(p) + "**" if isinstance(p, strong) else md(p) for p in pieces(line))

    markup = "<ul>" + "".join(f"<li>{to_html(line)}</li>" for line in lines) + "</ul>"
    return Markdown("\n".join(f"- {to_md(line)}" for line in lines), markup)


class KeyFigures:
    """A row of headline figures (value, label, source), rendered as cards."""

    def __init__(self, items: list[tuple[str, str, str]]):
        self.items = items

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        cards = "".join(
            f'<div class="kf"><div class="kf-value">{_esc(v)}</div>'
            f'<div class="kf-label">{_esc(label)}</div><div class="kf-src">{_esc(src)}</div></div>'
            for v, label, src in self.items)
        text = "\n".join(f"- {v} {label} ({src})" for v, label, src in self.items)
        return _html_bundle(f'<div class="key-figures">{cards}</div>', text)


class References:
    """Sources as a numbered reference list (long URLs wrap cheaply, unlike in a table).

    ``rows`` are dicts with ``source_id``, ``publisher``, ``title``, ``published``, ``url``
    and ``local_path`` (empty strings where missing).
    """

    def __init__(self, rows: list[dict], caption: str):
        self.rows, self.caption = rows, caption

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        items = []
        for r in self.rows:
            parts = [_esc(r["publisher"])]
            if r["title"]:
                # the title proper; what follows a ";" is the curators' provenance (file, hash)
                parts.append(f"<em>{_esc(r['title'].split(';')[0].strip())}</em>")
            parts.append(_esc(r["published"] or "n.d."))
            where = r["url"] or ("A copy ships with this brief's data." if r["local_path"] else "")
            if where:
                parts.append(linkify(where))
            if r.get("note"):
                parts.append(f'<span class="ref-note">{_esc(r["note"])}</span>')
            items.append(f'<li id="src-{_esc(r["source_id"])}"><span class="ref-id">'
                         f'[{_esc(r["source_id"])}]</span> ' + ". ".join(parts) + "</li>")
        text = "\n".join(f"[{r['source_id']}] {r['publisher']}. {r['title']}. {r['published']}. "
                         f"{r['url'] or r['local_path']}" for r in self.rows)
        markup = (f'<div class="references"><p class="references-caption">{_esc(self.caption)}</p>'
                  f'<ol>{"".join(items)}</ol></div>')
        return _html_bundle(markup, text)


# --------------------------------------------------------------------------------------------
# Whatever an analyst displays: plain Altair charts, DataFrames and Stylers
# --------------------------------------------------------------------------------------------
RENDERER = "coalition"


def _chart_renderer(spec: dict, **metadata: Any) -> dict:
    """Altair renderer: a plain chart becomes a :class:`Figure` without alt text or source."""
    return Figure(spec, alt_text=None, source_note=None)._repr_mimebundle_()


def _frame_bundle(obj: Any, include=None, exclude=None) -> dict:
    return Table(obj, caption=None, source_note=None, index=None)._repr_mimebundle_()


def enable_display(ip: Any = None) -> None:
    """Make every chart and table a notebook displays exportable, in the house style.

    * Altair: the ``coalition`` renderer turns any chart into a :class:`Figure` (spec for the
      interactive page and for JupyterLab, vector SVG for the PDF).
    * pandas: a displayed DataFrame or Styler becomes a :class:`Table` (thousands separators,
      no scientific notation, text left and numbers right, no grid).

    Called by ``from coalition_report import brief``; harmless outside IPython.
    """
    import altair as alt

    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, _chart_renderer)
    alt.renderers.enable(RENDERER)
    if ip is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return
        ip = get_ipython()
    if ip is None:
        return
    import pandas as pd
    from pandas.io.formats.style import Styler

    from .notebook_view import flush_notes

    events = getattr(ip, "events", None)  # a kernel's shell has them; a stand-in may not
    if events is not None and flush_notes not in events.callbacks.get("post_execute", []):
        events.register("post_execute", flush_notes)  # a figure's notes, after its chart
    fmt = ip.display_formatter.mimebundle_formatter
    fmt.for_type(pd.DataFrame, _frame_bundle)
    fmt.for_type(Styler, _frame_bundle)

