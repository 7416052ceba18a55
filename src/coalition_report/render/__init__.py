"""Rendering engine: parameterized notebook -> offline HTML page + A4 PDF + manifest.

One concern per module; arrows are imports (none go upwards)::

    pipeline ─┬─> context ──> cache ──> result         (coalition_report.params, hashing)
              │      └──> locks, manifest
              ├─> kernel ──> locks, signals
              ├─> exporters ──> prepare, offline      (coalition_report.display)
              └─> progress ──> signals

* :mod:`.context` — :class:`BuildContext`, resolved once per report; editions and baselines.
* :mod:`.cache` — cache keys, the unchanged-build shortcut, cached executions.
* :mod:`.kernel` — kernelspec, papermill execution on a kernel always stopped.
* :mod:`.prepare` — output checks, title page fields, the ``PrepareOutputs`` preprocessor.
* :mod:`.exporters` — ``PageExporter`` (HTML) and ``PDFExporter`` (its subclass, WeasyPrint).
* :mod:`.offline` — the page loads nothing; :mod:`.manifest`; :mod:`.signals`; :mod:`.locks`;
  :mod:`.progress`; :mod:`.result`; :mod:`.pipeline` — one report from context to files.

Parameter rules are not here: they are declared in the notebooks and read by
:mod:`coalition_report.params`, which the notebook kernel imports without this package.
The names below load their module on first use, so that an unchanged rebuild
(:func:`resolve_context` and :func:`cached_result`) imports neither nbconvert nor papermill.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "render_report", "render_context", "resolve_context", "BuildContext", "BuildResult", "cached_result",
    "export_notebook", "PageExporter", "PDFExporter", "ensure_kernelspec", "check_outputs",
    "UnexportableOutput", "stop_on_signals", "KERNEL_NAME", "FORMATS", "CACHE_FOLDER",
]

_WHERE = {
    "render_report": "pipeline", "render_context": "pipeline", "export_notebook": "pipeline",
    "resolve_context": "context", "BuildContext": "context", "FORMATS": "context",
    "BuildResult": "result", "cached_result": "cache", "CACHE_FOLDER": "cache",
    "PageExporter": "exporters", "PDFExporter": "exporters", "ensure_kernelspec": "kernel",
    "KERNEL_NAME": "kernel", "check_outputs": "prepare", "UnexportableOutput": "prepare",
    "stop_on_signals": "signals",
    # the parameter rules moved to coalition_report.params; kept importable from here
    "NOTEBOOKS": "..params", "NotebookSpec": "..params", "Param": "..params", "validate_params": "..params",
    "REQUIRED": "..params", "one_of": "..params", "int_between": "..params", "iso_date": "..params",
    "iso3": "..params", "directory": "..params", "existing_file": "..params", "hash_directory": "..hashing",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        where = _WHERE[name]
        value = getattr(importlib.import_module(where if where.startswith("..") else f".{where}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
