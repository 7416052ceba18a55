"""What the exports print around a chart, shown in JupyterLab and VS Code too.

A chart's bundle (:class:`~coalition_report.display.Figure`) carries its Vega-Lite spec, which
JupyterLab draws interactively. JupyterLab shows only the richest type of a bundle it can draw,
and it ranks text/html above Vega-Lite: a caption in a text/html beside the spec would replace
the interactive chart. So in a kernel the figure's caption is a separate output above the chart,
and its source note, alt text and values (collapsed, ``<details>``) one below it.

These outputs are notebook-only: each carries :data:`~coalition_report.display.MIME_META` with no
field, which the exports drop and take nothing from (as they do with a
:class:`~coalition_report.display.ReportMeta`), so the HTML page and the PDF are unchanged.
"""

from __future__ import annotations

import html
from typing import Any

from .display import MIME_META, source_note_html
from .notebook_css import notebook_html
from .textsafe import strip_control

__all__ = ["figure_notes", "flush_notes", "note_bundle"]

#: Notes of the figure displayed last, shown after its chart.
_PENDING: list[tuple[str, str]] = []


def _esc(text: Any) -> str:
    return html.escape(strip_control(str(text)), quote=True)


def note_bundle(markup: str, text: str) -> dict:
    """A notebook-only mimebundle: the exports drop it, JupyterLab shows its text/html."""
    return {MIME_META: {}, "text/html": notebook_html(markup),
            "text/plain": text}


def _publish(markup: str, text: str) -> None:
    from IPython.display import publish_display_data

    publish_display_data(note_bundle(markup, text))


def flush_notes(*_: Any) -> None:
    """Show the notes of the figure displayed last (run after every cell, and before the next
    figure, so that the notes sit under their own chart)."""
    while _PENDING:
        _publish(*_PENDING.pop(0))


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and hasattr(ip, "kernel")


def figure_notes(fig: Any) -> None:
    """In a kernel: the caption of ``fig`` now (above its chart), its source note, alt text and
    values after the chart. Outside a kernel: nothing."""
    if not _in_kernel():
        return
    flush_notes()  # the previous figure's notes belong above this figure
    if fig.title:
        _publish(f'<p class="figure-title">{_esc(fig.title)}</p>', str(fig.title))
    parts = [f'<p class="source-note">{source_note_html(fig.source_note)}</p>',
             f'<p class="alt-text">Alt text: {_esc(fig.description)}</p>']
    if fig.values is not None:
        parts.append('<details class="chart-values"><summary>Values behind the chart</summary>\n'
                     f"{fig.values.table_html()}</details>")
    _PENDING.append(("".join(parts), f"{fig.source_note or 'Source: not stated'}\nAlt text: {fig.description}"))
