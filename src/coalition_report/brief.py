"""What the notebooks call: ``from coalition_report import brief``, then one call per cell.

* ``setup`` / ``setup_profile`` check the parameters with the same rules as the CLI and the
  build (:data:`coalition_report.render.NOTEBOOKS`), load the data as of the cut-off, and make
  every chart and table the notebook displays exportable in the house style.
* ``figure`` and ``table`` give any chart or DataFrame a caption, alt text and source.
* Every section function (``chart_*``, ``table_*`` and the prose helpers) is re-exported from
  :mod:`coalition_report.sections`; its keyword arguments are the knobs an analyst changes
  (colours, sort order, top-n, titles).
* ``palette``, ``color_scale``, ``cite``, ``kiel_source`` and the ``fmt_*`` helpers are the
  small public tools a hand-written cell needs; ``theme`` changes the colours of every chart
  for the rest of the session, ``to_currency`` converts an analyst's own EUR amounts to the
  brief's currency.
"""

from __future__ import annotations

import ast
from typing import Any, Iterable, Mapping

from .cite import kiel_source, source_note
from .data import Dataset, check_as_of, check_state, cut_to, load_data
from .display import Figure, ReportMeta, Table, enable_display, reset_values, values_annex
from .fmt import fmt_date, fmt_int, fmt_money, fmt_pct
from .errors import ParameterError
from .params import validate_params
from .sections.aid import chart_aid_groups, chart_gdp_share, chart_monthly_aid, chart_top_donors, table_announcements
from .sections.article import article_claims
from .sections.changes import changes
from .sections.membership import (chart_attendance, chart_membership_map, chart_participation, table_meetings,
                                  table_members)
from .sections.methods import (build_info, definitions, kiel_method_note, references, table_coverage, table_fx,
                               table_sourcing)
from .sections.frontend import confidence_scale, front_end
from .sections.outlook import outlook
from .sections.statements import statements
from .sections.positions import chart_positions, chart_timeline, table_events, table_positions, table_quotes
from .sections.profile import (chart_country_aid, profile_summary, table_attendance, table_country_aid,
                               table_country_announcements, table_peer_aid, table_roles, table_statements, watch_list)
from .sections.summary import data_coverage_text, dateline, key_figures, summary_bullets
from .style import color_scale, palette, theme
# evidence sections (force generation, public opinion, context)
from .sections.context import (context_summary, table_approvals, table_eu_role, table_financing,
                               table_russia_position, table_us_backstop)
from .sections.forces import chart_force_estimates, chart_force_pledges, table_force_estimates, table_force_pledges
from .sections.opinion import chart_polls, table_polls

#: What the notebooks call.
__all__ = [
    # setup and the analyst's own outputs
    "setup", "setup_profile", "figure", "table", "cite",
    # small public helpers
    "palette", "color_scale", "theme", "to_currency", "kiel_source", "fmt_money", "fmt_date", "fmt_pct", "fmt_int",
    # cover, front end, summary, and what changed since the previous edition
    "dateline", "front_end", "key_figures", "data_coverage_text", "summary_bullets", "changes",
    # 1 membership
    "chart_membership_map", "table_members", "chart_participation", "chart_attendance", "table_meetings",
    # 2 aid
    "chart_top_donors", "chart_aid_groups", "chart_monthly_aid", "chart_gdp_share", "table_announcements",
    # 3 positions
    "chart_positions", "table_quotes", "statements", "chart_timeline", "table_events", "table_positions",
    # 4 article, 5 outlook, 6 methods
    "article_claims", "outlook", "definitions", "confidence_scale", "table_coverage", "table_sourcing", "kiel_method_note", "table_fx",
    "build_info", "references",
    # annex: the values behind every chart shown so far
    "chart_values",
    # country profile
    "profile_summary", "watch_list", "table_peer_aid", "table_country_announcements", "table_roles",
    "table_attendance", "chart_country_aid", "table_country_aid", "table_statements",
    # evidence: force generation, public opinion, context
    "chart_force_pledges", "chart_force_estimates", "table_force_pledges", "table_force_estimates",
    "chart_polls", "table_polls",
    "context_summary", "table_us_backstop", "table_russia_position", "table_approvals", "table_financing",
    "table_eu_role",
]

#: The dataset of the last ``setup``/``setup_profile``: ``figure``/``table``/``cite`` resolve
#: source ids against it when no ``ds`` is given.
_active: Dataset | None = None
#: The display currency of the last ``setup``/``setup_profile``.
_currency: str | None = None


def _load(as_of: str, data_dir: str) -> Dataset:
    """Load the data as known on ``as_of`` (empty: the newest date anything in the data became known)."""
    global _active
    full = load_data(data_dir or None)
    _active = cut_to(full, check_as_of(full, as_of) or full.knowledge_date)
    enable_display()
    reset_values()
    return _active


def _check_injected(notebook: str) -> None:
    """Check the parameters papermill injected into this run against the notebook's spec.

    ``papermill -p curency USD`` only warns about the unknown name and then runs the notebook
    with the default currency; this makes it an error, as with ``coalition-report build``.
    papermill puts its overrides in a cell whose first line is ``# Parameters``; the kernel's
    input history (``_ih``) holds its source, read here as data (``ast``), never executed.
    Outside papermill (JupyterLab, VS Code) there is no such cell and nothing to check.

    Raises
    ------
    ParameterError
        An unknown name (the message lists the known ones), a value that is not a plain
        literal, or a value of the wrong type or breaking its rule.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    history = getattr(ip, "user_ns", {}).get("_ih") or []
    injected = next((src for src in reversed(history) if isinstance(src, str)
                     and src.lstrip().split("\n", 1)[0].strip() == "# Parameters"), None)
    if injected is None:
        return
    values: dict[str, Any] = {}
    try:
        body = ast.parse(injected).body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ParameterError("(injected parameters)", injected.strip()[:80],
                             f"papermill wrote parameters that are not Python: {exc}") from None
    for node in body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            raise ParameterError("(injected parameters)", ast.unparse(node)[:80],
                                 "not a plain assignment `name = value`")
        name = node.targets[0].id
        try:
            values[name] = ast.literal_eval(node.value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ParameterError(name, ast.unparse(node.value)[:80],
                                 "not a plain value (string, number, true/false)") from None
    validate_params(notebook, values)


def setup(as_of: str, currency: str, data_dir: str, top_n: int):
    """Check the brief's parameters, load the data as of the cut-off; return ``(dataset, meta)``."""
    global _currency
    _check_injected("coalition_brief")
    validate_params("coalition_brief", {"as_of": as_of, "currency": currency, "data_dir": data_dir,
                                        "top_n": top_n})
    ds = _load(as_of, data_dir)
    _currency = currency
    return ds, ReportMeta(as_of=str(ds.as_of))


def setup_profile(country: str, as_of: str, currency: str, data_dir: str):
    """Check the profile's parameters (``country`` must be a state in actors.csv)."""
    global _currency
    _check_injected("country_profile")
    validate_params("country_profile", {"country": country, "as_of": as_of, "currency": currency,
                                        "data_dir": data_dir})
    ds = _load(as_of, data_dir)
    _currency = currency
    name = check_state(ds, country)
    return ds, ReportMeta(as_of=str(ds.as_of), title=f"Country profile: {name}")


def to_currency(values: Any, column: str | Iterable[str] | None = None, currency: str | None = None, *,
                ds: Dataset | None = None) -> Any:
    """EUR amounts in the brief's currency, at the rate the brief uses for its own EUR sums (the
    rate in force on the as-of date, as published by then; see Methods).

    ``values``: a number, a Series, or a DataFrame whose ``column`` (a name or a list of names)
    holds EUR amounts; a frame comes back as a copy with those columns converted, other input
    converted whole. ``currency``: default, the brief's (the ``currency`` parameter of
    ``setup``). Only EUR amounts: the tables of :class:`~coalition_report.data.Dataset` say
    which of their columns are in EUR.

    >>> aid = ds.aid_activities.groupby("donor_id", as_index=False)["value_eur"].sum()  # doctest: +SKIP
    >>> brief.to_currency(aid, column="value_eur")                                     # doctest: +SKIP
    """
    from .analysis import to_currency as convert

    ds = ds or _active
    currency = currency or _currency
    if ds is None or currency is None:
        raise ValueError("to_currency: run brief.setup(...) first, or pass ds= and currency=")
    validate_params("coalition_brief", {"currency": currency})
    if column is None:
        if hasattr(values, "columns"):
            raise ValueError("to_currency: name the EUR column(s) of the frame with column=")
        return convert(values, ds, currency)
    cols = [column] if isinstance(column, str) else list(column)
    missing = [c for c in cols if c not in getattr(values, "columns", [])]
    if missing:
        raise KeyError(f"to_currency: no column {', '.join(map(repr, missing))}")
    out = values.copy()
    out[cols] = convert(out[cols].astype(float), ds, currency)
    return out


def chart_values():
    """The numbers behind every chart shown so far, one table per chart (for the annex)."""
    return values_annex()


def cite(source: str | Iterable[str], ds: Dataset | None = None, extra: str = "") -> str:
    """A source note from source ids in ``sources.csv``, or ``source`` itself when it is free text.

    >>> brief.cite("ref-001")                # doctest: +SKIP
    'Source: <publisher>, <title> (<published>) [ref-001].'
    >>> brief.cite([brief.kiel_source(ds), "ecb-eurofxref-hist"])  # doctest: +SKIP

    A list must hold only known ids (``ValueError`` names the unknown ones).
    """
    ds = ds or _active
    known = set(ds.sources["source_id"]) if ds is not None else set()
    if isinstance(source, str):
        return source_note(ds, [source], extra) if source in known else source
    ids = list(source)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"unknown source id(s) {', '.join(map(repr, unknown))}: add them to sources.csv "
                         "or pass the source as text")
    return source_note(ds, ids, extra)


def figure(chart: Any, caption: str | None = None, *, source: str | Iterable[str] | None = None,
           alt: str | None = None, ds: Dataset | None = None, label: str | None = None) -> Figure:
    """Any Altair chart with a caption (heading above it), alt text and source note.

    ``source``: source ids from ``sources.csv`` (resolved to a full note) or free text.
    ``alt``: what the chart shows, for screen readers (default: made from the chart).
    ``label``: ``"fig-..."``, for cross-references: ``@fig-top-donors`` in Markdown becomes
    "Figure N", linked to the chart. ``chart`` may be a section's chart
    (``brief.figure(brief.chart_top_donors(ds), label="fig-top-donors")``): it keeps its
    caption, alt text, source and values unless given here.
    A chart displayed without ``figure`` still renders in both outputs, marked
    "Source: not stated", and the build warns naming its cell.
    """
    if isinstance(chart, Figure):
        return Figure(chart.chart, alt_text=alt or chart.alt_text,
                      source_note=cite(source, ds) if source is not None else chart.source_note,
                      title=caption or chart.title, values=chart.values, label=label or chart.label)
    return Figure(chart, alt_text=alt, source_note=cite(source, ds) if source is not None else None,
                  title=caption, label=label)


def table(frame: Any, caption: str | None = None, *, source: str | Iterable[str] | None = None,
          formats: Mapping[str, Any] | None = None, align: Mapping[str, str] | None = None,
          index: bool | None = None, ds: Dataset | None = None, label: str | None = None) -> Table:
    """Any DataFrame (or Styler) as a house-style table with caption and source note.

    ``formats``: column -> format spec (``",.0f"``), pattern (``"{:.1%}"``) or callable;
    ``align``: column -> ``"left" | "right" | "center"``; ``index``: show the index as the
    first column (default: when it is not a plain 0..n-1 range); ``label``: ``"tbl-..."``, for
    cross-references (``@tbl-fx`` in Markdown becomes "Table N", linked to the table).
    """
    return Table(frame, caption=caption, source_note=cite(source, ds) if source is not None else None,
                 formats=formats, align=align, index=index, label=label)


enable_display()
