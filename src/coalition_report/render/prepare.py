"""From an executed notebook to what the export templates show.

* :func:`check_outputs` — warnings for charts and tables without a source; an output no static
  page or PDF can show is an :class:`UnexportableOutput` naming its cell.
* :func:`collect_meta` — title, subtitle and as-of date for the title page (the title cell,
  overridden by a displayed :class:`~coalition_report.display.ReportMeta`).
* :class:`PrepareOutputs` — an nbconvert ``Preprocessor``: drops the title cell, parameter cells,
  stderr and metadata outputs, turns the house figure/table mimebundles into export markup,
  numbers figures, tables and body sections, and resolves footnotes, citations and
  cross-references in Markdown cells (:mod:`coalition_report.render.markdown`).
* A chart encoding a field its data lacks fails :func:`check_outputs`
  (:mod:`coalition_report.render.fields`).

Title page convention: the notebook's first markdown cell is its *title cell* when it starts
with a level-1 heading (``# Title``); the rest of that cell is the subtitle. A code cell may
display ``ReportMeta(as_of=..., title=..., subtitle=...)``; fields that are not ``None``
override the title cell. Without it, a non-empty ``as_of`` parameter is used as the date.
"""

from __future__ import annotations

import copy
import html as _html
import re
from dataclasses import dataclass
from typing import Any, Mapping

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .. import display
from ..textsafe import escape_markdown, strip_control

__all__ = ["DROP_TAGS", "Meta", "title_cell", "collect_meta", "markdown_html", "strip_tags",
           "UnexportableOutput", "check_outputs", "PrepareOutputs", "unique_id"]

#: Cells never exported (papermill's parameter cells, cells the author removes).
DROP_TAGS = {"parameters", "injected-parameters", "remove-cell", "papermill-error-cell-tag"}


@dataclass
class Meta:
    title: str
    subtitle_md: str | None
    subtitle_text: str | None
    as_of: str | None


def title_cell(nb: Any) -> tuple[int | None, str | None, str | None]:
    """Index, title and subtitle markdown of the title cell (first markdown cell, ``# `` first)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        text = cell.source.lstrip()
        m = re.match(r"#[ \t]+(.+?)[ \t#]*(?:\n|$)", text)
        if not m:
            return None, None, None
        rest = text[m.end():].strip()
        return i, m.group(1).strip(), rest or None
    return None, None, None


def collect_meta(nb: Any, notebook: str, params: Mapping[str, Any]) -> Meta:
    """The title page's fields, from the title cell and any displayed ReportMeta."""
    _, title, sub_md = title_cell(nb)
    fields: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if display.MIME_META in data:
                for k, v in dict(data[display.MIME_META]).items():
                    if v is not None:
                        fields[k] = v
    as_of = fields.get("as_of") or (params.get("as_of") or None)
    if fields.get("title"):
        title = _md_escape(str(fields["title"]))
    if fields.get("subtitle"):
        sub_md = _md_escape(str(fields["subtitle"]))
    title = strip_tags(markdown_html(title)) if title else notebook.replace("_", " ").capitalize()
    sub_text = strip_tags(markdown_html(sub_md)) if sub_md else None
    return Meta(title, sub_md, sub_text, str(as_of) if as_of else None)


def _md_escape(text: str) -> str:
    """Run-time titles and subtitles are plain text (they may hold data, e.g. a country's
    name): escaped so that Markdown shows them literally, ``[x](javascript:...)``, ``**``,
    backticks and list or heading markers at a line start included."""
    text = escape_markdown(_html.escape(strip_control(text), quote=False))
    text = re.sub(r"(?m)^(\s*)([-+=])", r"\1\\\2", text)
    return re.sub(r"(?m)^(\s*)(\d+)([.)])", r"\1\2\\\3", text)


def markdown_html(md: str) -> str:
    """Markdown to HTML with nbconvert's own filter (what the templates use)."""
    from nbconvert.filters import markdown2html

    return markdown2html(md)


def strip_tags(text: str) -> str:
    """The text of an HTML fragment, whitespace collapsed."""
    return " ".join(_html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


_SCRIPT = re.compile(r"<script\b", re.I)
_URL_IN_SCRIPT = re.compile(r"https?://[^\s\"'<>?]+")
_VEGALITE = re.compile(r"application/vnd\.vegalite\.v\d+\+json")
#: Output types the exports can show (nbconvert picks the first of these a bundle has).
_EXPORTABLE = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown", "text/latex",
               "text/plain")
_PANDAS_BORDER = re.compile(r'<table border="1"')


class UnexportableOutput(ValueError):
    """A cell displayed something neither the HTML page nor the PDF can show."""

    def __init__(self, cell: int | None, message: str):
        self.cell = cell
        super().__init__(message)


def _cell_numbers(nb: Any) -> list[int | None]:
    """1-based position of each executed cell in the *source* notebook (papermill's injected
    parameters cell has none)."""
    out: list[int | None] = []
    n = 0
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            out.append(None)
            continue
        n += 1
        out.append(n)
    return out


def _vegalite_spec(data: Mapping[str, Any]) -> dict | None:
    key = next((k for k in sorted(data, reverse=True) if _VEGALITE.fullmatch(k)), None)
    return data[key] if key else None


def check_outputs(nb: Any) -> list[str]:
    """Warnings for outputs the exports show but that lack a source; raise for unexportable ones.

    * a chart or table without a source note: warning naming the cell;
    * a Vega-Lite chart displayed outside the house renderer: exported from its spec
      (documented fallback), with a warning;
    * an output with only types no static page can show (widgets, JavaScript, ...):
      :class:`UnexportableOutput` naming the cell and the types;
    * a chart encoding a field its data does not have (it would be drawn empty):
      :class:`UnexportableOutput` naming the cell, the field and the nearest field names.
    """
    warnings: list[str] = []
    for cell, num in zip(nb.cells, _cell_numbers(nb)):
        if cell.cell_type != "code" or DROP_TAGS & set(cell.metadata.get("tags", [])):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") not in ("display_data", "execute_result"):
                continue
            data = out.get("data", {})
            if display.MIME_META in data:
                continue
            payload = data.get(display.MIME_FIGURE)
            spec = payload.get("spec") if payload is not None else _vegalite_spec(data)
            if isinstance(spec, dict):
                _check_fields(spec, num)
            if payload is not None:
                kind = payload.get("kind")
                if kind in ("figure", "table") and not payload.get("source_note"):
                    how = "brief.figure(chart, source=...)" if kind == "figure" else "brief.table(df, source=...)"
                    what = "chart" if kind == "figure" else "table"
                    warnings.append(f"cell {num}: {what} without a source (printed as 'Source: not stated'); "
                                    f"give one with {how}")
                continue
            if _vegalite_spec(data) is not None:
                warnings.append(f"cell {num}: chart displayed outside the house renderer, exported from its "
                                "Vega-Lite spec without a source; wrap it in brief.figure(chart, source=...)")
                continue
            markup = str(data.get("text/html", ""))
            if _SCRIPT.search(markup):
                url = _URL_IN_SCRIPT.search(markup)
                where = f" loading {url.group(0)[:80]}" if url else ""
                raise UnexportableOutput(num, f"cell {num}: HTML output runs a script{where}; the PDF runs no "
                                              "scripts and the offline page loads nothing from the network; for "
                                              "charts, keep the house Altair renderer that `from coalition_report "
                                              "import brief` enables")
            rich = sorted(k for k in data if k != "text/plain")
            if rich and not any(k in _EXPORTABLE for k in rich):
                raise UnexportableOutput(num, f"cell {num}: output of type {', '.join(rich)} cannot be "
                                              "exported (the HTML page is static and offline, the PDF runs no "
                                              "scripts); display a chart, table, image or text instead")
    return warnings


def _check_fields(spec: dict, num: int | None) -> None:
    """A chart encoding a field its data does not have fails, naming the cell (see render.fields)."""
    from .fields import field_message, missing_fields

    problems = missing_fields(spec)
    if problems:
        raise UnexportableOutput(num, f"cell {num}: " + field_message(*problems[0]))


def unique_id(base: str, seen: dict[str, int]) -> str:
    """``base``, or ``base-2``, ``base-3`` ... when seen before (``seen`` counts)."""
    seen[base] = seen.get(base, 0) + 1
    return base if seen[base] == 1 else f"{base}-{seen[base]}"


def _retarget_id(markup: str, old: str, new: str) -> str:
    return markup if old == new else markup.replace(f'id="{old}"', f'id="{new}"', 1)


class PrepareOutputs(Preprocessor):
    """Turns an executed notebook into what the templates show (nbconvert runs it on a copy).

    Drops the title cell, cells tagged as in :data:`DROP_TAGS`, stderr streams and metadata
    outputs; renders the house figure and table mimebundles (interactive charts from their
    specs on the page, static images in print); renumbers cell ids (papermill's injected cell
    gets a random one). Counts go to ``resources["cr_counts"]`` (and the chart count to
    ``resources["cr"]["n_charts"]``, which the page template reads).
    """

    interactive = Bool(True, help="charts drawn from their Vega-Lite specs (HTML), else static (print)").tag(
        config=True)

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        from .markdown import Writing, citable_sources, data_dir_of

        title_idx, _, _ = title_cell(nb)
        numbers = _cell_numbers(nb)
        where = dict(resources.get("cr_data") or {})
        data_dir = str(where.get("data_dir") or data_dir_of(nb))
        as_of = str(where.get("as_of") or _as_of_of(nb))
        data_hash = str(where.get("data_hash") or "")
        writing = Writing(print_mode=not self.interactive,
                          sources=lambda: citable_sources(data_dir, as_of, data_hash))
        other = "print-only" if self.interactive else "web-only"  # not in this output: not numbered
        seen: dict[str, int] = {}
        counts = {"charts": 0, "tables": 0, "stderr_dropped": 0}
        cells, markdown = [], []
        in_body = True
        for i, cell in enumerate(nb.cells):
            tags = set(cell.metadata.get("tags", []))
            if "annex-start" in tags:
                in_body = False
            if i == title_idx or DROP_TAGS & tags:
                continue
            if cell.cell_type == "code":
                numbered = writing if other not in tags else None
                outputs = [o for o in (self._output(out, seen, counts, numbered, numbers[i])
                                       for out in cell.get("outputs", [])) if o is not None]
                if not outputs:
                    continue
                cell.outputs = outputs
                cell.execution_count = None
            elif cell.cell_type == "markdown" and other not in tags:
                markdown.append((cell, numbers[i], in_body, len(cells)))
            cells.append(cell)
        notes_at = writing.resolve([(c, n, b) for c, n, b, _ in markdown])
        if writing.footnotes and not writing.print_mode:
            import nbformat

            at = markdown[notes_at][3] if notes_at is not None else len(cells)
            cells.insert(at, nbformat.v4.new_markdown_cell(writing.notes_markdown()))
        for n, cell in enumerate(cells):
            cell["id"] = f"c{n}"  # stable ids: papermill's injected cell gets a random one
        nb.cells = cells
        resources["cr_counts"] = counts
        resources["cr_fills"] = writing.fills  # the exporter puts them in the rendered page
        resources.setdefault("cr", {})["n_charts"] = counts["charts"]
        return nb, resources

    def _output(self, out: Any, seen: dict[str, int], counts: dict[str, int], writing: Any,
                cell: int | None) -> Any | None:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            counts["stderr_dropped"] += 1
            return None
        data = out.get("data", {})
        if display.MIME_META in data:
            return None
        payload = data.get(display.MIME_FIGURE)
        if payload is None and _vegalite_spec(data) is not None:
            # fallback: a chart shown by another Altair renderer, rebuilt from its spec
            payload = display.Figure(_vegalite_spec(data), None, None).payload()
        if payload is not None and payload.get("kind") == "html":
            new = {"output_type": "display_data", "metadata": {}, "data": {"text/html": payload["html"]}}
            if writing is not None and 'class="references"' in payload["html"]:
                writing.references(new)
            return new
        if payload is not None:
            label = payload.get("label")
            uid = label or unique_id(str(payload.get("id", "figure")), seen)
            if payload.get("kind") == "table":
                markup = _retarget_id(payload["html"], payload["id"], uid)
                if writing is not None and (payload.get("caption") or label):
                    n = writing.number("table", label, uid, cell)
                    markup = _number_table(markup, n)
                counts["tables"] += 1
            else:
                markup = display.figure_html(payload, uid, interactive=self.interactive)
                if writing is not None:
                    markup = _number_figure(markup, writing.number("figure", label, uid, cell))
                counts["charts"] += 1
            return {"output_type": "display_data", "metadata": {}, "data": {"text/html": markup}}
        if "<table" in data.get("text/html", ""):
            # a DataFrame shown without the house formatter: drop pandas' border="1"
            out = copy.deepcopy(out)
            out["data"]["text/html"] = _PANDAS_BORDER.sub("<table", data["text/html"])
        return out


def _number_figure(markup: str, n: int) -> str:
    """"Figure N" before the figure's caption (or as its caption when it has none)."""
    num = f'<span class="figure-number">Figure&#160;{n}</span>'
    if '<p class="figure-title">' in markup:
        return markup.replace('<p class="figure-title">', f'<p class="figure-title">{num}. ', 1)
    return re.sub(r'(<figure class="chart"[^>]*>)', lambda m: f'{m.group(1)}\n<p class="figure-title number-only">{num}</p>',
                  markup, count=1)


def _number_table(markup: str, n: int) -> str:
    """"Table N" before the table's caption (or as its caption when it has none)."""
    num = f'<span class="table-number">Table&#160;{n}</span>'
    m = re.search(r"<caption[^>]*>", markup)
    if m:
        return markup[:m.end()] + num + ". " + markup[m.end():]
    return re.sub(r"(<table\b[^>]*>)", lambda m: f"{m.group(1)}\n<caption>{num}</caption>", markup, count=1)


def _as_of_of(nb: Any) -> str:
    """The as-of date the notebook displayed (ReportMeta), else its ``as_of`` parameter."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta = out.get("data", {}).get(display.MIME_META)
            if meta and meta.get("as_of"):
                return str(meta["as_of"])
    return str((nb.metadata.get("papermill", {}).get("parameters") or {}).get("as_of") or "")
