"""nbconvert exporters for the brief: an offline HTML page, and a PDF as its subclass.

:class:`PageExporter` is nbconvert's ``HTMLExporter`` with the ``coalition_html`` template
(no code, no prompts, no CDN), :class:`~coalition_report.render.prepare.PrepareOutputs` as its
preprocessor, a contents list and unique heading ids made after the template, the offline
check, and the vega-embed bundle inlined once. :class:`PDFExporter` extends it the way
nbconvert's ``WebPDFExporter`` extends ``HTMLExporter``: the ``coalition_print`` template with
static charts, then WeasyPrint (A4, title page, contents with page numbers, running header,
"Page N of M", tagged PDF). Both take the report's page context as ``resources["cr"]`` (see
:func:`page_context`).
"""

from __future__ import annotations

import html as _html
import logging
import os
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from nbconvert import HTMLExporter
from traitlets import Bool

from .. import __version__, config, display
from ..files import keep_private, read_private, user_cache_dir
from ..svgcache import vl_version
from .markdown import fill_placeholders
from .offline import assert_offline
from .prepare import Meta, PrepareOutputs, markdown_html, strip_tags, unique_id

__all__ = ["PageExporter", "PDFExporter", "PendingPDF", "page_context", "finish_page", "source_date", "vega_bundle",
           "TOC_MARKER", "BUNDLE_MARKER"]

TOC_MARKER = "<!--coalition-report:toc-->"
# Inserted after nbconvert, which re-parses its whole output with BeautifulSoup: keeping the
# ~0.9 MB bundle out of that pass saves time and guarantees the script is inlined verbatim.
BUNDLE_MARKER = "/*coalition-report:vega-bundle*/"
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; base-uri 'none'; form-action 'none'")
_BUNDLE: dict[str, str] = {}
#: An <img> tag with no alt attribute (nbconvert gives such images a stock text).
_IMG_NO_ALT = re.compile(r"<img\b(?![^>]*\salt\s*=)", re.I)
_log = logging.getLogger(__name__)


def source_date() -> str | None:
    """``SOURCE_DATE_EPOCH`` as an ISO timestamp (the only wall-clock time a build writes)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return None
    try:
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return None


def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one script, cached in-process and on disk."""
    from importlib.metadata import version

    # Keyed on the two versions that decide the bundle (Altair's schema picks the Vega-Lite
    # version): read from the installed metadata, not by importing Altair (~0.2 s a process).
    key = f"vlc{version('vl-convert-python')}-altair{version('altair')}"
    if key in _BUNDLE:
        return _BUNDLE[key]
    cache = user_cache_dir() / f"vega-bundle-{key}.js"
    raw = read_private(cache)  # script every page runs: only a copy this user alone can write
    text = raw.decode("utf-8", "replace") if raw is not None else None
    if text is None or "vegaEmbed" not in text:
        import vl_convert as vlc

        text = vlc.javascript_bundle(vl_version=vl_version())
        keep_private(cache, text)
    # Inline <script>: a literal "</script" would end it early.
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.I)
    _BUNDLE[key] = text
    return text


def page_context(meta: Meta, public_params: Mapping[str, Any], data_hash: str | None) -> dict[str, Any]:
    """What the templates read as ``cr``: title page, colophon, CSP, markers."""
    shown = ", ".join(f"{k}={_html.escape(str(v)) if v != '' else '(default)'}" for k, v in public_params.items())
    colophon = f"Built with coalition-report {_html.escape(__version__)}"
    if data_hash:
        colophon += f" from data snapshot sha256:{data_hash[:12]}"
    if shown:
        colophon += f" · parameters: {shown}"
    return {
        "lang": "en",
        "title": meta.title,
        "subtitle_html": markdown_html(meta.subtitle_md) if meta.subtitle_md else "",
        "subtitle_text": meta.subtitle_text or "",
        "as_of": meta.as_of or "",
        "as_of_long": display.format_date(meta.as_of) if meta.as_of else "",
        "version": __version__,
        "created": source_date(),
        "csp": _CSP,
        "toc_marker": TOC_MARKER,
        "colophon_html": colophon + ".",
        "n_charts": 0,
        "bundle_marker": BUNDLE_MARKER,
    }


_HEADING = re.compile(r"<h([1-6])([^>]*?)\bid=\"([^\"]*)\"([^>]*)>(.*?)</h\1>", re.S)
_ANCHOR = re.compile(r'<a class="anchor-link" href="#[^"]*">.*?</a>', re.S)


def finish_page(page: str, *, print_mode: bool) -> str:
    """Unique heading ids, a contents list from the body's h2/h3, anchor links off for print."""
    start = page.find("<main")
    head, body = page[:start], page[start:]
    seen: dict[str, int] = {}
    toc: list[tuple[int, str, str]] = []

    def fix(m: re.Match) -> str:
        level, pre, hid, post, inner = m.groups()
        new = unique_id(hid, seen)
        inner = inner.replace(f'href="#{hid}"', f'href="#{new}"')
        if print_mode:
            inner = _ANCHOR.sub("", inner)
        if level in ("2", "3"):
            toc.append((int(level), new, strip_tags(_ANCHOR.sub("", inner))))
        return f'<h{level}{pre}id="{new}"{post}>{inner}</h{level}>'

    body = _HEADING.sub(fix, body)
    return head.replace(TOC_MARKER, _toc_html(toc)) + body


def _toc_html(entries: list[tuple[int, str, str]]) -> str:
    if not entries:
        return ""
    out = ['<nav class="toc" aria-labelledby="toc-heading">',
           '<h2 class="toc-heading" id="toc-heading">Contents</h2>', "<ol>"]
    open_sub = False
    for i, (level, hid, text) in enumerate(entries):
        # ``hid`` is copied from an id attribute nbconvert already escaped: do not re-escape.
        link = f'<a href="#{hid}">{_html.escape(text)}</a>'
        if level == 3 and i > 0:
            if not open_sub:
                out[-1] = out[-1].removesuffix("</li>")
                out.append("<ol>")
                open_sub = True
            out.append(f"<li>{link}</li>")
        else:
            if open_sub:
                out.append("</ol></li>")
                open_sub = False
            out.append(f"<li>{link}</li>")
    if open_sub:
        out.append("</ol></li>")
    out += ["</ol>", "</nav>"]
    return "\n".join(out)


class PageExporter(HTMLExporter):
    """The offline HTML page: interactive charts, no code, nothing loaded from elsewhere."""

    export_from_notebook = "coalition-report page"
    interactive = Bool(True, help="charts drawn from their specs with vega-embed").tag(config=True)

    def __init__(self, **kw: Any):
        kw.setdefault("template_name", "coalition_html")
        kw.setdefault("extra_template_basedirs", [str(config.TEMPLATE_DIR)])
        super().__init__(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                         embed_images=True, sanitize_html=False, anchor_link_text="¶",
                         # the notebook is validated once, after the last preprocessor, not after
                         # each of nbconvert's ~13 (~0.1 s of every page)
                         optimistic_validation=True, **kw)
        self.register_preprocessor(PrepareOutputs(interactive=self.interactive), enabled=True)

    def _create_environment(self) -> Any:
        env = super()._create_environment()
        env.bytecode_cache = _bytecode_cache()  # a new exporter per build compiled ~23 templates
        return env

    def _init_resources(self, resources: Any) -> Any:
        resources = super()._init_resources(resources)
        resources.setdefault("cr", {})
        return resources

    def page(self, nb: Any, resources: dict | None = None) -> tuple[str, dict]:
        """The finished page (contents list, unique ids, checked offline, bundle inlined)."""
        resources = dict(resources or {})
        resources["cr"] = dict(resources.get("cr") or {})
        # nbconvert copies the notebook before preprocessing; PrepareOutputs sets cr.n_charts.
        body, res = self._template_html(nb, resources)
        body = fill_placeholders(body, res.get("cr_fills"))  # citations, notes, cross-references
        page = finish_page(body, print_mode=not self.interactive)
        if self.interactive:
            assert_offline(page)
            if res.get("cr_counts", {}).get("charts"):
                head, _, tail = page.rpartition(BUNDLE_MARKER)
                page = head + vega_bundle() + tail
        return page, res

    def from_notebook_node(self, nb: Any, resources: dict | None = None, **kw: Any) -> tuple[str, dict]:
        return self.page(nb, resources)

    def _preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        """nbconvert's, less its own deep copy of the notebook: ``Exporter.from_notebook_node``
        hands it a private copy, and ``validator.normalize`` copies it once more. A copy of the
        brief's executed notebook (~4 MB of outputs) takes ~0.05-0.1 s; this was the third."""
        import copy

        from nbformat import validator

        resc = copy.deepcopy(resources)
        _, nbc = validator.normalize(nb)  # a normalised copy: the preprocessors change only it
        for preprocessor in self._preprocessors:
            nbc, resc = preprocessor(nbc, resc)
            if not self.optimistic_validation:
                self._validate_preprocessor(nbc, preprocessor)
        if self.optimistic_validation and self._preprocessors:
            self._validate_preprocessor(nbc, self._preprocessors[-1])
        return nbc, resc

    def _template_html(self, nb: Any, resources: dict) -> tuple[str, dict]:
        """``HTMLExporter.from_notebook_node`` without its last step, a BeautifulSoup pass over the
        whole page (~0.35 s a page) that only gives an ``<img>`` with no alt text a stock one and
        a tabindex to the cells of a ``jp-Notebook`` (these templates have none). The alt text is
        given here, by a pattern."""
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.highlight import Highlight2HTML
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        resources = self._init_resources(resources)
        self.register_filter("highlight_code",
                             self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata,
                                                                       parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources)
        return _IMG_NO_ALT.sub('<img alt="No description has been provided for this image"', html), resources


def _bytecode_cache() -> Any:
    """Jinja's compiled templates, kept in the user's cache (~0.2 s of every build's two pages).
    A compiled template is code: a file is loaded only if this user owns it and nobody else can
    write it; one that cannot be stored is compiled again next time."""
    import io
    import pickle

    from jinja2 import FileSystemBytecodeCache

    class PrivateBytecodeCache(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            raw = read_private(self._get_cache_filename(bucket))
            if raw is None:
                return
            try:  # Jinja checks its version and the template's checksum; a damaged file is compiled again
                bucket.load_bytecode(io.BytesIO(raw))
            except (EOFError, ValueError, TypeError, IndexError, pickle.UnpicklingError) as exc:
                _log.info("ignoring a damaged compiled template: %r", exc)
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError as exc:
                _log.info("cannot keep a compiled template in %s: %s", self.directory, exc)

    folder = user_cache_dir() / "templates"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        _log.info("no template cache in %s: %s", folder, exc)
        return None
    return PrivateBytecodeCache(str(folder))


class PendingPDF:
    """A PDF being made: :meth:`finish` returns its bytes, :meth:`cancel` stops it (idempotent).

    With Chromium the browser prints in its own process from :meth:`PDFExporter.start` on, so the
    caller can make the HTML page meanwhile; with WeasyPrint the work happens in :meth:`finish`.
    ``engine`` names the engine; ``info`` says what the manifest keeps of the print."""

    def __init__(self, engine: str, print_html: str, res: dict, base: str, guess: Mapping[str, int] | None,
                 work_dir: str | None):
        self.engine, self.res, self._html, self._base = engine, res, print_html, base
        self.info: dict[str, Any] = {"engine": engine}
        self._job = None
        if engine == "chromium":
            from .chromium import ChromiumPrint

            self._job = ChromiumPrint(print_html, work_dir=work_dir, guess=guess, created=source_date()).start()

    def finish(self) -> bytes:
        if self._job is not None:
            pdf = self._job.finish()
            self.info.update(prints=self._job.prints, contents_pages=self._job.pages)
            return pdf
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher

        # Only embedded data: URIs: the build never reaches the network or arbitrary files.
        fetcher = URLFetcher(allowed_protocols={"data"})
        return HTML(string=self._html, base_url=self._base, url_fetcher=fetcher).write_pdf(
            # pdf_tags: a structure tree (headings, tables, chart alt text) for screen readers.
            presentational_hints=True, pdf_identifier=False, pdf_tags=True)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()


class PDFExporter(PageExporter):
    """The A4 PDF: the print template with static charts, printed by headless Chromium or laid
    out by WeasyPrint (:func:`~coalition_report.render.chromium.pick_engine`)."""

    export_from_notebook = "coalition-report PDF"
    interactive = Bool(False).tag(config=True)

    def __init__(self, **kw: Any):
        kw.setdefault("template_name", "coalition_print")
        super().__init__(**kw)

    def start(self, nb: Any, resources: dict | None = None) -> PendingPDF:
        """Make the print page and start printing it. ``resources["cr_pdf"]`` may carry
        ``guess`` (the contents' page numbers of the previous print) and ``work_dir`` (a
        scratch folder for the browser's files)."""
        from .chromium import pick_engine

        print_html, res = self.page(nb, resources)
        res["output_extension"] = ".pdf"
        opts = (resources or {}).get("cr_pdf") or {}
        base = str(res.get("metadata", {}).get("path") or ".") + os.sep
        return PendingPDF(pick_engine(print_html), print_html, res, base, opts.get("guess"), opts.get("work_dir"))

    def from_notebook_node(self, nb: Any, resources: dict | None = None, **kw: Any) -> tuple[bytes, dict]:
        pending = self.start(nb, resources)
        try:
            return pending.finish(), pending.res
        finally:
            pending.cancel()
