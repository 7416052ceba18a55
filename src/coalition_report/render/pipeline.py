"""The pipeline: one report from its build context to published files.

Steps (one progress line each): ``validate`` (the build context: parameters, data hash, what
"what changed" compares with), ``execute`` (papermill, or the cached execution when only
Markdown changed), ``html`` and ``pdf`` (the exporters), ``manifest``. Everything is written
into a temporary folder inside the output folder and moved into place with ``os.replace`` only
after every step succeeded, so a failed or interrupted build never touches the last good
outputs. A failing cell raises :class:`~coalition_report.errors.BuildError` and the executed
notebook is kept in ``out_dir/.failed/<basename>.ipynb``.

Reproducibility: no wall-clock time is written anywhere except ``SOURCE_DATE_EPOCH`` (HTML/PDF
``dcterms.created`` and the manifest's ``built_at``); chart and table ids are content hashes;
cell ids are renumbered. Two builds with the same inputs give byte-identical HTML and PDF.
The manifest differs only in its step timings.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .. import config
from ..errors import BuildError, ParameterError
from ..files import write_atomic
from ..params import NotebookSpec
from .cache import cached_execution, cached_result, read_manifest, store_execution
from .context import BASELINE_SUFFIX, FORMATS, BuildContext, resolve_context
from .chromium import prewarm, remember_pages, remembered_pages
from .exporters import PageExporter, PDFExporter, page_context, source_date
from .kernel import ensure_kernelspec, execute, failed_cell_number, failed_line, source_position
from .locks import OutputLock, Scratch, drop_empty, output_problem_text, sweep
from .manifest import dumps, make_manifest
from .prepare import UnexportableOutput, check_outputs, collect_meta
from .progress import Progress
from .result import BuildResult
from .signals import (hold_signals, interrupted_message, propagated, release_signals, signals_deferred,
                      stops_on_signals)

__all__ = ["render_report", "render_context", "export_notebook"]

_log = logging.getLogger(__name__)


@stops_on_signals
def render_report(notebook: str | NotebookSpec, params: Mapping[str, Any] | None = None, *,
                  out_dir: str | Path | None = None,
                  formats: Sequence[str] = ("html", "pdf"),
                  basename: str | None = None,
                  progress: bool | Callable[[str, str, float], None] = True,
                  notebook_dir: str | Path | None = None,
                  data_hash: str | None = None,
                  kernel_name: str | None = None,
                  timeout: int | None = 1800,
                  manifest_name: str = "manifest.json",
                  force: bool = False) -> BuildResult:
    """Execute a notebook and export it; publish outputs only if every step succeeds.

    Builds are cached (see :mod:`coalition_report.render.cache`): when the notebook, the package
    code, the parameters and the data are unchanged and the outputs are in place, nothing runs
    (``cache="unchanged"``); when only Markdown changed, the cached execution is exported
    again (``cache="re-exported"``). ``force=True`` rebuilds from scratch.

    Parameters
    ----------
    notebook : str or NotebookSpec
        A name in :data:`coalition_report.params.NOTEBOOKS`, or a spec (tests, ad-hoc notebooks).
    params : mapping, optional
        The parameter values the caller sets; the notebook's declared defaults fill in the rest
        (see :func:`coalition_report.params.validate_params`).
    out_dir : path, optional
        Where outputs go (default :data:`config.REPORTS_DIR`); created if missing.
    formats : sequence of {"html", "pdf", "ipynb"}
        What to publish; ``"ipynb"`` is the executed notebook. This report's files of the other
        formats (``<basename>.<format>``, left by an earlier build) are removed when it is
        published, so the folder never mixes outputs of two builds of one report.
    basename : str, optional
        Output file stem; default from the spec (``coalition_brief``, ``country_profile-FRA``).
    progress : bool or callable
        One line per step on stderr (rich); or a callable ``(step, state, seconds)``.
    notebook_dir : path, optional
        Folder holding the notebooks (default :data:`config.NOTEBOOK_DIR`).
    data_hash : str, optional
        Data hash computed by the caller; default: hashed here.
    kernel_name : str, optional
        Jupyter kernel; default: :func:`ensure_kernelspec` (``coalition-report``).
    timeout : int, optional
        Per-cell execution timeout in seconds.
    manifest_name : str
        File name of the manifest written beside the outputs.

    A notebook with a ``compare_to`` parameter that ``params`` leaves out compares with the
    previous edition of the same report in ``out_dir`` (see :mod:`coalition_report.render.context`).

    Raises
    ------
    ParameterError
        Invalid notebook name, parameter, format or basename (nothing is executed).
    BuildError
        A cell failed (``cell`` = 1-based position in the source notebook) or an export
        failed (``cell`` is ``None``). The executed notebook is kept in ``out_dir/.failed/``.
    """
    name = notebook.name if isinstance(notebook, NotebookSpec) else str(notebook)
    prog = Progress(progress, name)
    with prog.step("validate"):
        ctx = resolve_context(notebook, params, out_dir=out_dir, formats=formats, basename=basename,
                              manifest_name=manifest_name, notebook_dir=notebook_dir, data_hash=data_hash)
        hit = None if force else cached_result(ctx)
    if hit is not None:
        prog.say(f"[green]unchanged[/green] {ctx.stem}: as in the last build (cache key {ctx.cache_key[:12]}); "
                 "nothing to do (--force rebuilds)")
        return hit
    return render_context(ctx, prog=prog, kernel_name=kernel_name, timeout=timeout, force=force)


@stops_on_signals
def render_context(ctx: BuildContext, *, prog: Progress | None = None,
                   progress: bool | Callable[[str, str, float], None] = True, kernel_name: str | None = None,
                   timeout: int | None = 1800, force: bool = False) -> BuildResult:
    """Build one report from its resolved :class:`BuildContext` (see :func:`render_report`)."""
    prog = prog or Progress(progress, ctx.notebook)
    for note in ctx.notes:
        prog.say(f"note: {ctx.stem}: {note}")
    # "validate": the context (resolved by the caller) against the last build of this report
    if "validate" in prog.timings:  # render_report resolved and looked it up inside this step
        hit = None
    else:
        with prog.step("validate"):
            hit = None if force else cached_result(ctx)
    if hit is not None:
        prog.say(f"[green]unchanged[/green] {ctx.stem}: notebook, code, parameters and data as in "
                 f"the last build (cache key {ctx.cache_key[:12]}); nothing to do (--force rebuilds)")
        return hit
    out, stem = ctx.out, ctx.stem
    cache_state = "built"
    step, lock, scratch, executed, held, pending = "start", None, None, None, False, None
    try:
        with signals_deferred():  # set up whole, so that the finally can undo it
            lock = OutputLock(ctx.notebook, out, stem)  # one build of this report here at a time
            sweep(out, ".build-")  # folders and locks of builds that were killed
            OutputLock.sweep(out)
            scratch = Scratch(".build-", out)
        work = scratch.path
        executed = work / f"{stem}.ipynb"
        if "pdf" in ctx.formats:
            prewarm()  # the browser starts while the notebook runs or is read from the cache
        step = "execute"
        with prog.step("execute"):
            nb = None if force else cached_execution(out, ctx.code_key, ctx.nb_path, executed,
                                                           canonical="ipynb" in ctx.formats)
            if nb is None:
                nb = _run(ctx, executed, kernel_name or ensure_kernelspec(), timeout)
            else:
                cache_state = "re-exported"
        step = "prepare"
        warnings = check_outputs(nb)  # the CLI prints them; the manifest keeps them
        meta = collect_meta(nb, ctx.notebook, ctx.values)
        page = page_context(meta, ctx.public_params, ctx.data_hash)
        files: dict[str, Path] = {}
        counts: dict[str, int] = {}
        resources = {"cr": page, "metadata": {"name": stem, "path": str(ctx.nb_path.parent)},
                     "cr_data": {"data_dir": str(ctx.data_dir), "as_of": meta.as_of or "",
                                 "data_hash": ctx.data_hash or ""}}
        pdf_info = None
        if "pdf" in ctx.formats:  # started first: Chromium prints while the HTML page is made
            step = "pdf"
            t0 = time.perf_counter()
            pending = PDFExporter().start(nb, {**resources, "cr_pdf": {"guess": _contents_guess(ctx),
                                                                        "work_dir": str(work)}})
            started_s = time.perf_counter() - t0
        if "html" in ctx.formats:
            step = "html"
            with prog.step("html"):
                text, res = PageExporter().from_notebook_node(nb, resources)
                counts = dict(res.get("cr_counts", {}))
                files["html"] = work / f"{stem}.html"
                files["html"].write_text(text, encoding="utf-8")
        if pending is not None:
            step = "pdf"
            with prog.step("pdf"):
                files["pdf"] = work / f"{stem}.pdf"
                files["pdf"].write_bytes(pending.finish())
            prog.timings["pdf"] = round(prog.timings["pdf"] + started_s, 3)
            pdf_info = pending.info
            if pdf_info.get("contents_pages"):
                remember_pages(ctx.notebook, pdf_info["contents_pages"])
        if "ipynb" in ctx.formats:
            files["ipynb"] = executed
        step = "manifest"
        with prog.step("manifest"):
            snapshot = _write_snapshot(nb, work, stem)
            baseline = None
            if ctx.values.get("compare_to"):
                baseline = work / f"{stem}{BASELINE_SUFFIX}"
                shutil.copyfile(ctx.values["compare_to"], baseline)
            manifest = make_manifest(ctx, meta, counts=counts, warnings=warnings, timings=prog.timings,
                                     files=files, snapshot=snapshot, baseline=baseline, built_at=source_date(),
                                     pdf=pdf_info)
            man_path = work / ctx.manifest_name
            man_path.write_text(dumps(manifest), encoding="utf-8")
        step, held = "publish", hold_signals()  # a stop signal waits until all are in place
        # Publish: each file atomically, manifest last so it never describes missing files.
        published = {}
        for fmt, path in files.items():
            os.replace(path, out / path.name)
            published[fmt] = out / path.name
        for extra in (snapshot, baseline):
            if extra is not None:
                os.replace(extra, out / extra.name)
        os.replace(man_path, ctx.manifest_path)
        _remove_stale(out, stem, published, snapshot, baseline)
        stale = out / ".failed" / f"{stem}.ipynb"  # a failure record this build supersedes
        if stale.is_file():
            stale.unlink()
        step, held = "published", release_signals(held)
        if cache_state == "built":
            store_execution(out, ctx.code_key, executed)  # only executions that were published
    except (BuildError, ParameterError):
        raise
    except UnexportableOutput as exc:
        raise _failure(ctx, exc.cell, str(exc), _keep_failed(executed, out, stem)) from None
    except KeyboardInterrupt as exc:  # BuildInterrupted: SIGINT, SIGTERM, SIGHUP
        propagated()
        raise interrupted_message(ctx.notebook, exc, step, out, stem) from None
    except Exception as exc:
        raise _failure(ctx, None, _describe(exc, step, out), _keep_failed(executed, out, stem)) from exc
    finally:
        with signals_deferred():  # nothing cuts the clean-up short
            release_signals(held, drop=True)
            if pending is not None:
                pending.cancel()  # a browser still printing is stopped
            if scratch is not None:
                scratch.remove()
            if lock is not None:
                lock.release()
            drop_empty(out / ".failed")
    return BuildResult(ctx.notebook, ctx.values, out, published, ctx.manifest_path, dict(prog.timings),
                       ctx.data_hash, meta.title, meta.as_of, warnings,
                       out / snapshot.name if snapshot is not None else None, cache_state)


def _contents_guess(ctx: BuildContext) -> dict[str, int] | None:
    """The contents' page numbers a print starts from: the previous build's in this folder, else
    the last print of this notebook anywhere (a wrong guess costs a second print, nothing more)."""
    previous = read_manifest(ctx.manifest_path, sealed=True) or {}
    pdf = previous.get("pdf")
    guess = pdf.get("contents_pages") if isinstance(pdf, dict) else None
    return guess if isinstance(guess, dict) and guess else remembered_pages(ctx.notebook)


def _run(ctx: BuildContext, executed: Path, kernel: str, timeout: int | None) -> Any:
    from papermill.exceptions import PapermillExecutionError

    try:
        return execute(ctx.nb_path, ctx.values, executed, kernel, timeout)
    except PapermillExecutionError as exc:
        kept = _keep_failed(executed, ctx.out, ctx.stem)
        cell = failed_cell_number(kept or executed, ctx.nb_path, exc)
        where = failed_line(kept or executed, exc) if cell is not None else None
        line, code = where or (None, None)
        raise BuildError(ctx.notebook, cell, f"{exc.ename}: {exc.evalue}", str(kept) if kept else None,
                         line=line, code=code) from None
    except Exception as exc:
        kept = _keep_failed(executed, ctx.out, ctx.stem)
        cell, kind = None, type(exc).__name__
        if kind == "DeadKernelError":
            text = "the kernel died (killed, or out of memory)"
        elif kind == "CellTimeoutError":
            text = f"the cell ran longer than the {timeout} s allowed (timeout)"
        else:  # not the cell's doing (e.g. the disk is full when the notebook is written)
            text = _describe(exc, "execute", ctx.out)
        if kind in ("DeadKernelError", "CellTimeoutError"):
            cell = source_position(ctx.nb_path, getattr(exc, "cr_running_cell", None))
        raise _failure(ctx, cell, text, kept) from exc


def _failure(ctx: BuildContext, cell: int | None, message: str, kept: Path | None) -> BuildError:
    """The failure as a :class:`BuildError`; its message names the kept notebook (printed once,
    by whoever reports the error)."""
    return BuildError(ctx.notebook, cell, message, str(kept) if kept else None)


def _describe(exc: BaseException, step: str, out: Path) -> str:
    """``step: what went wrong``; a full disk or a folder that became read-only names the place."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                                                  errno.EACCES, errno.EPERM, errno.EIO):
        return f"{step}: {output_problem_text(out, exc, 'cannot write to the output folder')}"
    return f"{step}: {type(exc).__name__}: {exc}"


def _keep_failed(executed: Path | None, out: Path, stem: str) -> Path | None:
    """Copy the executed notebook of a failed build to ``out/.failed/<stem>.ipynb``."""
    if executed is None or not executed.is_file():
        return None
    target = out / ".failed" / f"{stem}.ipynb"
    try:
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(executed, target)
        return target
    except OSError as exc:  # e.g. the disk is full: no half-written copy, no empty .failed/
        _log.info("cannot keep the failed notebook at %s: %s", target, exc)
        target.unlink(missing_ok=True)
        drop_empty(target.parent)
        return None


def _write_snapshot(nb: Any, work: Path, stem: str) -> Path | None:
    """Write the snapshot the executed notebook displayed to ``work/<stem>.snapshot.json``."""
    from ..snapshot import SUFFIX, dumps as snapshot_dumps, snapshot_of_notebook

    snap = snapshot_of_notebook(nb)
    if snap is None:
        return None
    return write_atomic(work / f"{stem}{SUFFIX}", snapshot_dumps(snap))


def _remove_stale(out: Path, stem: str, published: Mapping[str, Path], snapshot: Path | None,
                  baseline: Path | None) -> None:
    """Remove this report's own files that this build did not write: other formats of
    ``<stem>``, a snapshot or baseline the new manifest does not name. Never any other file."""
    from ..snapshot import SUFFIX

    stale = [out / f"{stem}.{fmt}" for fmt in FORMATS if fmt not in published]
    if snapshot is None:
        stale.append(out / f"{stem}{SUFFIX}")
    if baseline is None:
        stale.append(out / f"{stem}{BASELINE_SUFFIX}")
    for path in stale:
        try:
            if path.is_file() and not path.is_symlink():
                path.unlink()
        except OSError as exc:  # the new outputs are published; a file we cannot remove is only left over
            _log.info("cannot remove %s: %s", path, exc)


def export_notebook(nb: Any, notebook: str | NotebookSpec, params: Mapping[str, Any], out_dir: Path,
                    stem: str, *, formats: Sequence[str] = ("html", "pdf"),
                    notebook_dir: Path | None = None, data_hash: str | None = None) -> dict[str, Path]:
    """Export an executed notebook to ``out_dir/<stem>.html`` and ``.pdf`` (no manifest, no
    publishing step): the export half of a build, for callers that executed the notebook
    themselves (the benchmark's floor)."""
    from ..params import get_notebook

    spec = get_notebook(notebook, notebook_dir)
    meta = collect_meta(nb, spec.name, params)
    public = {p.name: params[p.name] for p in spec.params if p.public and p.name in params}
    resources = {"cr": page_context(meta, public, data_hash),
                 "metadata": {"name": stem, "path": str(notebook_dir or config.NOTEBOOK_DIR)},
                 "cr_data": {"data_dir": str(params.get("data_dir") or config.DATA_DIR), "as_of": meta.as_of or "",
                             "data_hash": data_hash or ""}}
    files: dict[str, Path] = {}
    if "html" in formats:
        text, _ = PageExporter().from_notebook_node(nb, resources)
        files["html"] = write_atomic(out_dir / f"{stem}.html", text)
    if "pdf" in formats:
        pdf, _ = PDFExporter().from_notebook_node(nb, resources)
        files["pdf"] = write_atomic(out_dir / f"{stem}.pdf", pdf)
    return files
