"""Writing a brief: footnotes, citations, figure and table numbers, cross-references, section numbers.

Resolved at export time on the executed notebook (so HTML and PDF agree and the notebook's kernel
side knows nothing of it); :class:`~coalition_report.render.prepare.PrepareOutputs` drives it.

* Footnotes: ``text[^kiel]`` and, anywhere in a Markdown cell, ``[^kiel]: the note``. Numbered
  1, 2, ... in order of first reference across the brief. Web page: endnotes ("Notes", at the end
  of the body, before the annex) with links both ways. PDF: footnotes at the foot of the page.
* Citations: ``[@ref-012]`` and ``[@ref-012; @kiel-ust-r28]`` print the source ids in brackets,
  ``[ref-012; kiel-ust-r28]``, each linked to its entry in the brief's list of sources: the same
  label the source notes under charts and tables use, so a reader meets one label per source.
  A cited source the data does not already cite is added to that list. It must be in
  ``sources.csv`` and known by the as-of date.
* Figures and tables: every chart is "Figure N", every table with a caption or label "Table N",
  in document order. ``brief.figure(..., label="fig-top-donors")`` and
  ``brief.table(..., label="tbl-fx")`` name one; ``@fig-top-donors`` in Markdown becomes
  "Figure N", linked to it.
* Sections: ``##`` headings of the body (before the annex) are numbered 1, 2, ...; a heading
  ending in ``{-}`` or ``{.unnumbered}`` is not.

Anything unresolved (an unknown citation key, label or footnote) is a :class:`WritingError`
naming the notebook cell; the build fails with that one line. Code (fenced blocks, inline code
spans) is left alone.
"""

from __future__ import annotations

import functools
import html as _html
import re
from pathlib import Path
from typing import Any, Callable

from .prepare import UnexportableOutput

__all__ = ["WritingError", "Writing", "LABEL_RE", "citable_sources", "fill_placeholders"]

#: A label: ``fig-...`` for a figure, ``tbl-...`` for a table.
LABEL_RE = re.compile(r"(fig|tbl)-[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?")
_KIND = {"fig": ("figure", "Figure"), "tbl": ("table", "Table")}

_FENCE = re.compile(r"(?ms)^[ \t]{0,3}(```|~~~).*?(?:^[ \t]{0,3}\1[^\n]*$|\Z)")
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_FN_DEF = re.compile(r"(?m)^[ \t]{0,3}\[\^([^\]\s]+)\]:[ \t]*(.*(?:\n(?:[ \t]{2,}|\t)[^\n]*)*)\n?")
_FN_REF = re.compile(r"\[\^([^\]\s]+)\]")
_CITE = re.compile(r"\[(\s*@[^\]\s;]+(?:\s*;\s*@[^\]\s;]+)*\s*)\]")
_XREF = re.compile(r"(?<![\w@/.\\])@(" + LABEL_RE.pattern + r")")
_H2 = re.compile(r"(?m)^(#{1,6})([ \t]+)(.*?)[ \t]*$")
_UNNUMBERED = re.compile(r"[ \t]*\{(?:-|\.unnumbered)\}[ \t]*$")


class WritingError(UnexportableOutput):
    """An unresolved footnote, citation or label; ``cell`` is its 1-based notebook position."""

    def __init__(self, cell: int | None, message: str):
        super().__init__(cell, f"cell {cell}: {message}" if cell is not None else message)


#: What stands in the Markdown for a resolved piece until the page is rendered: nbconvert
#: re-parses each inline HTML tag of a Markdown cell on its own (to embed images), which would
#: tear ``<a href>text</a>`` apart; a plain token passes through Markdown untouched.
_TOKEN = "ZQcrw{:05d}QZ"
_TOKEN_RE = re.compile(r"(<p>)?ZQcrw(\d{5})QZ(</p>)?")


def fill_placeholders(page: str, fills: dict[str, str] | None) -> str:
    """``page`` with every placeholder of :class:`Writing` replaced by its HTML."""
    if not fills:
        return page

    def put(m: re.Match) -> str:
        inner = fills[m.group(2)]
        block = inner.startswith(("<section", "<div"))
        if block and m.group(1) and m.group(3):
            return inner
        return (m.group(1) or "") + inner + (m.group(3) or "")

    for _ in range(4):  # a footnote may hold citations: placeholders inside placeholders
        page, n = _TOKEN_RE.subn(put, page)
        if not n:
            break
    return page


def _inline_html(md: str) -> str:
    """A short Markdown text as inline HTML (paragraph tags dropped)."""
    from .prepare import markdown_html

    out = markdown_html(md).strip()
    out = re.sub(r"</p>\s*<p>", "<br>", out)
    return re.sub(r"^<p>|</p>$", "", out).strip()


def _split_code(text: str) -> list[tuple[bool, str]]:
    """``text`` as (is_code, piece) pairs: fenced blocks and inline code spans are code."""
    out: list[tuple[bool, str]] = []
    pos = 0
    for m in _FENCE.finditer(text):
        out += _split_spans(text[pos:m.start()])
        out.append((True, m.group(0)))
        pos = m.end()
    return out + _split_spans(text[pos:])


def _split_spans(text: str) -> list[tuple[bool, str]]:
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append((False, text[pos:m.start()]))
        out.append((True, m.group(0)))
        pos = m.end()
    out.append((False, text[pos:]))
    return out


def _outside_fences(text: str, fn: Callable[[str], str]) -> str:
    """``fn`` applied to the text between fenced code blocks (a note may hold inline code)."""
    out, pos = [], 0
    for m in _FENCE.finditer(text):
        out += [fn(text[pos:m.start()]), m.group(0)]
        pos = m.end()
    return "".join(out + [fn(text[pos:])])


def _prose(text: str, fn: Callable[[str], str]) -> str:
    """``fn`` applied to every piece of ``text`` that is not code."""
    return "".join(piece if code else fn(piece) for code, piece in _split_code(text))


@functools.lru_cache(maxsize=8)
def citable_sources(data_dir: str, as_of: str, data_hash: str = "") -> dict[str, str]:
    """Source id -> reference-list entry (``<li>``) for every source known by ``as_of``.

    ``data_hash`` only keys the in-process cache (a long-lived process, e.g. a preview, sees
    edited data); without it the cache holds until the process ends."""
    import pandas as pd

    from ..data import cut_to, load_data
    from ..display import References

    ds = cut_to(load_data(data_dir or None), as_of or None)
    s = ds.sources.sort_values("source_id")
    rows = [{k: ("" if pd.isna(v) else str(v)) for k, v in r.items()}
            for r in s[["source_id", "publisher", "title", "url", "local_path", "published"]].to_dict("records")]
    markup = References(rows, "")._repr_mimebundle_()["application/vnd.coalition.figure+json"]["html"]
    return {_html.unescape(m.group(1)): m.group(0)
            for m in re.finditer(r'<li id="src-([^"]+)">.*?</li>', markup, re.S)}


class Writing:
    """One document's numbers, labels, footnotes and citations (see the module docstring).

    Call :meth:`number` for each figure and table in document order, :meth:`references` for
    the output holding the list of sources, then :meth:`resolve` once with the Markdown cells.
    """

    def __init__(self, *, print_mode: bool, sources: Callable[[], dict[str, str]] | None = None):
        self.print_mode = print_mode
        self._sources = sources
        self.counts = {"figure": 0, "table": 0}
        self.labels: dict[str, tuple[str, int, str]] = {}  # label -> (kind, number, element id)
        self.refs_output: dict | None = None
        self.footnotes: list[str] = []  # note HTML, by number - 1
        self.fills: dict[str, str] = {}  # placeholder number -> HTML (see fill_placeholders)

    def _ph(self, markup: str) -> str:
        key = f"{len(self.fills):05d}"
        self.fills[key] = markup
        return _TOKEN.format(int(key))

    # ----------------------------------------------------------------------------- outputs
    def number(self, kind: str, label: str | None, element_id: str, cell: int | None) -> int:
        """The next number of ``kind`` ("figure" or "table"); records ``label`` if given."""
        self.counts[kind] += 1
        n = self.counts[kind]
        if label:
            m = LABEL_RE.fullmatch(label)
            if not m or _KIND[m.group(1)][0] != kind:
                prefix = "fig" if kind == "figure" else "tbl"
                raise WritingError(cell, f"{kind} label {label!r} must look like '{prefix}-top-donors' "
                                         "(letters, digits, hyphens)")
            if label in self.labels:
                raise WritingError(cell, f"label {label!r} is used twice; labels name one {kind} each")
            self.labels[label] = (kind, n, element_id)
        return n

    def references(self, output: dict) -> None:
        """The display output holding the brief's list of sources (patched by :meth:`resolve`)."""
        self.refs_output = output

    # ----------------------------------------------------------------------------- markdown
    def resolve(self, cells: list[tuple[Any, int | None, bool]]) -> int | None:
        """Rewrite the Markdown ``cells`` — ``(cell, notebook position, in_body)`` in document
        order — in place. Returns the index in ``cells`` where the web page's notes go (the first
        cell not in the body), or ``None`` when there are no notes or they go at the end."""
        defs: dict[str, tuple[str, int | None]] = {}
        for cell, num, _ in cells:
            def take(m: re.Match, num=num) -> str:
                key = m.group(1)
                if key in defs:
                    raise WritingError(num, f"footnote [^{key}] is defined twice (also in cell {defs[key][1]})")
                defs[key] = (re.sub(r"\n[ \t]+", "\n", m.group(2)).strip(), num)
                return ""
            cell.source = _outside_fences(cell.source, lambda t: _FN_DEF.sub(take, t))
        cited: list[tuple[str, int | None]] = []
        for cell, num, _ in cells:
            _prose(cell.source, lambda t, num=num: self._collect(t, num, cited))
        for note, num in defs.values():
            _prose(note, lambda t, num=num: self._collect(t, num, cited))
        listed = self._check_citations(cited)
        fn_numbers: dict[str, int] = {}
        section = 0
        notes_at = None
        for idx, (cell, num, in_body) in enumerate(cells):
            if not in_body and notes_at is None:
                notes_at = idx
            def heading(m: re.Match, in_body=in_body) -> str:
                nonlocal section
                hashes, space, text = m.groups()
                if _UNNUMBERED.search(text):
                    return hashes + space + _UNNUMBERED.sub("", text)
                if hashes != "##" or not in_body:
                    return m.group(0)
                section += 1
                return f"{hashes}{space}{section}. {text}"
            text = _prose(cell.source, lambda t: _H2.sub(heading, t))
            cell.source = _prose(text, lambda t, num=num: self._inline(t, num, defs, fn_numbers, listed))
        unused = sorted(set(defs) - set(fn_numbers))
        if unused:
            key = unused[0]
            raise WritingError(defs[key][1], f"footnote [^{key}] is defined but never referenced")
        return notes_at if self.footnotes and not self.print_mode else None

    def notes_markdown(self) -> str:
        """The web page's endnotes as a Markdown cell source (a heading and one HTML block)."""
        items = "".join(f'<li id="fn-{n}">{note} <a class="fn-back" href="#fnref-{n}" role="doc-backlink" '
                        f'aria-label="Back to note {n} in the text">&#8617;</a></li>'
                        for n, note in enumerate(self.footnotes, 1))
        block = f'<section class="footnotes" role="doc-endnotes"><ol>{items}</ol></section>'
        return f"## Notes\n\n{self._ph(block)}\n"

    def _collect(self, text: str, num: int | None, cited: list) -> str:
        for m in _CITE.finditer(text):
            for key in re.findall(r"@([^\s;]+)", m.group(1)):
                if not LABEL_RE.fullmatch(key):
                    cited.append((key, num))
        return text

    def _check_citations(self, cited: list[tuple[str, int | None]]) -> set[str]:
        """Every cited key in the list of sources (added there if the data does not cite it)."""
        if not cited:
            return set()
        if self.refs_output is None:
            raise WritingError(cited[0][1], f"[@{cited[0][0]}] cites a source, but the brief shows no list "
                                            "of sources to link it to; add a cell with brief.references(ds)")
        markup = self.refs_output["data"]["text/html"]
        listed = {_html.unescape(i) for i in re.findall(r'<li id="src-([^"]+)"', markup)}
        missing = [(k, n) for k, n in dict(cited).items() if k not in listed]
        if not missing:
            return listed
        known = self._sources() if self._sources else {}
        extra = []
        for key, num in missing:
            if key not in known:
                raise WritingError(num, f"[@{key}]: no source {key!r} in sources.csv known by the as-of date "
                                        f"(cite a source id; {_nearest(key, known)})")
            extra.append(known[key])
        listed |= {k for k, _ in missing}
        items = re.findall(r'<li id="src-[^"]+">.*?</li>', markup, re.S) + extra
        items.sort(key=lambda li: _html.unescape(re.match(r'<li id="src-([^"]+)"', li).group(1)))
        body = re.sub(r"<ol>.*</ol>", lambda _: "<ol>" + "".join(items) + "</ol>", markup, count=1, flags=re.S)
        body = re.sub(r"(Sources cited \()(\d+)(\))", lambda m: f"{m.group(1)}{len(items)}{m.group(3)}", body, count=1)
        self.refs_output["data"]["text/html"] = body
        return listed

    def _inline(self, text: str, num: int | None, defs: dict, fn_numbers: dict[str, int], listed: set[str]) -> str:
        def cite(m: re.Match) -> str:
            links = []
            for key in re.findall(r"@([^\s;]+)", m.group(1)):
                if LABEL_RE.fullmatch(key):
                    links.append(self._xref(key, num))
                else:
                    esc = _html.escape(key)
                    links.append(f'<a class="citation" href="#src-{esc}">{esc}</a>')
            return self._ph('<span class="cite">[' + "; ".join(links) + "]</span>")

        def footnote(m: re.Match) -> str:
            key = m.group(1)
            if key not in defs:
                raise WritingError(num, f"footnote [^{key}] has no note; add a line `[^{key}]: the note` "
                                        f"({_nearest(key, defs)})")
            if key in fn_numbers:
                n = fn_numbers[key]
                return self._ph(f'<sup class="fn-ref"><a href="#fn-{n}" role="doc-noteref">{n}</a></sup>'
                                if not self.print_mode else f'<sup class="fn-ref">{n}</sup>')
            self.footnotes.append("")  # reserve the number: a note may cite or refer on its own
            n = fn_numbers[key] = len(self.footnotes)
            note_md = _prose(defs[key][0], lambda t: self._inline(t, defs[key][1], defs, fn_numbers, listed))
            note = _inline_html(note_md)
            self.footnotes[n - 1] = note
            if self.print_mode:
                return self._ph(f'<span class="footnote">{note}</span>')
            return self._ph(f'<sup class="fn-ref" id="fnref-{n}"><a href="#fn-{n}" role="doc-noteref" '
                            f'aria-label="Note {n}">{n}</a></sup>')

        text = _CITE.sub(cite, text)
        text = _FN_REF.sub(footnote, text)
        return _XREF.sub(lambda m: self._xref(m.group(1), num), text)

    def _xref(self, label: str, num: int | None) -> str:
        if label not in self.labels:
            kind = "figure" if label.startswith("fig-") else "table"
            how = "brief.figure(chart, ..., label=...)" if kind == "figure" else "brief.table(df, ..., label=...)"
            raise WritingError(num, f"@{label}: no {kind} has this label ({_nearest(label, self.labels)}; "
                                    f"name one with {how})")
        kind, n, element_id = self.labels[label]
        word = "Figure" if kind == "figure" else "Table"
        return self._ph(f'<a class="xref" href="#{_html.escape(element_id)}">{word}&#160;{n}</a>')


def _nearest(key: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    return "did you mean " + ", ".join(map(repr, close)) + "?" if close else "none is close"


def data_dir_of(nb: Any, default: str | Path | None = None) -> str:
    """The data folder the notebook ran on (its ``data_dir`` parameter, else ``default``)."""
    given = (nb.metadata.get("papermill", {}).get("parameters") or {}).get("data_dir")
    return str(given or default or "")
