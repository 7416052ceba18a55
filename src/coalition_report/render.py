"""Rendering engine: parameterized notebook -> offline HTML page + A4 PDF + manifest.

Pipeline (one progress line per step on stderr)::

    validate  parameters checked against the notebook's spec (table below), data hashed
    execute   papermill, explicit kernel, kernel cwd = the notebook's folder
    html      nbconvert, template ``coalition_html`` (extends ``lab``): no code, no prompts,
              no CDN; vega-embed bundle inlined once; charts drawn from their specs
    pdf       nbconvert, template ``coalition_print`` -> WeasyPrint (A4, title page,
              contents with page numbers, running header, "Page N of M")
    manifest  parameters, data hash, versions, timings, output sizes and hashes

Everything is written into a temporary folder inside ``out_dir`` and moved into place with
``os.replace`` only after every step succeeded, so a failed or interrupted build never touches
the last good outputs. A failing cell raises :class:`~coalition_report.errors.BuildError` and the
executed notebook is kept in ``out_dir/.failed/<basename>.ipynb``.

Title page convention
---------------------
* **Static** (the usual case): the notebook's first markdown cell is its *title cell* when it
  starts with a level-1 heading (``# Title``). The heading is the report title; the rest of that
  cell (markdown) is the subtitle. The exports lift the title cell out of the body.
* **Run time**: a code cell may display :class:`coalition_report.display.ReportMeta`
  (``as_of``, ``title``, ``subtitle``); fields that are not ``None`` override the title cell.
  This is how the resolved as-of date (``as_of=""`` means "newest date in the data") and
  parameter-dependent titles ("Country profile: France") reach the title page and running
  header. Without it, a non-empty ``as_of`` parameter is used as the date.
* Cells tagged ``parameters``, ``injected-parameters`` or ``remove-cell`` never reach the
  exports, nor do stderr streams (warnings stay in the executed notebook).

Reproducibility: no wall-clock time is written anywhere except ``SOURCE_DATE_EPOCH`` (HTML/PDF
``dcterms.created`` and the manifest's ``built_at``); chart and table ids are content hashes;
cell ids are renumbered. Two builds with the same inputs give byte-identical HTML and PDF.
The manifest differs only in its step timings.
"""

from __future__ import annotations

import copy
import errno
import fcntl
import functools
import hashlib
import html as _html
import json
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from . import __version__, config
from . import display as _display
from .errors import BuildError, BuildInterrupted, ParameterError

__all__ = [
    "Param", "Rule", "NotebookSpec", "NOTEBOOKS", "REQUIRED", "get_notebook",
    "one_of", "int_between", "iso_date", "iso3", "directory", "existing_file",
    "validate_params", "render_report", "BuildResult", "hash_directory", "ensure_kernelspec",
    "KERNEL_NAME", "FORMATS", "check_outputs", "UnexportableOutput", "cache_key", "unchanged_result",
    "export_notebook",
]

KERNEL_NAME = "coalition-report"
FORMATS = ("html", "pdf", "ipynb")
_STEPS = ("validate", "execute", "html", "pdf", "manifest")
_DROP_TAGS = {"parameters", "injected-parameters", "remove-cell", "papermill-error-cell-tag"}
_TOC_MARKER = "<!--coalition-report:toc-->"
# Inserted after nbconvert, which re-parses its whole output with BeautifulSoup: keeping the
# ~0.9 MB bundle out of that pass saves time and guarantees the script is inlined verbatim.
_BUNDLE_MARKER = "/*coalition-report:vega-bundle*/"
_MAX_TEXT = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ============================================================================================
# Parameter specs (table-driven)
# ============================================================================================
class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Marks a parameter without default: callers must pass it.
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Rule:
    """A value rule: ``check(value)`` returns the normalised value or raises ``ValueError``.

    ``description`` is shown in error messages; ``allowed`` (a tuple or a zero-argument
    callable, evaluated lazily) lists the accepted values when that list is short enough to help.
    """

    description: str
    check: Callable[[Any], Any]
    allowed: tuple | Callable[[], Iterable[Any]] | None = None

    def allowed_values(self) -> list[str] | None:
        if self.allowed is None:
            return None
        values = self.allowed() if callable(self.allowed) else self.allowed
        return sorted(str(v) for v in values)


@dataclass(frozen=True)
class Param:
    """One notebook parameter: name, Python type (str/int/float/bool), default, rule."""

    name: str
    type: type
    default: Any = REQUIRED
    rule: Rule | None = None
    help: str = ""
    #: Shown in the report colophon; off for machine-specific values such as paths.
    public: bool = True

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def one_of(*values: Any) -> Rule:
    """Value must be one of ``values``."""
    allowed = tuple(values)

    def check(v: Any) -> Any:
        if v not in allowed:
            raise ValueError(f"{v!r} is not allowed")
        return v

    return Rule(f"one of {', '.join(map(str, allowed))}", check, allowed)


def int_between(lo: int, hi: int) -> Rule:
    """Integer ``lo <= value <= hi``."""

    def check(v: int) -> int:
        if not lo <= v <= hi:
            raise ValueError(f"{v} is out of range")
        return v

    return Rule(f"integer from {lo} to {hi}", check)


def iso_date(*, allow_empty: bool = True,
             bounds: Callable[[], tuple[str, str]] | None = None) -> Rule:
    """ISO date ``YYYY-MM-DD`` (a real calendar day); ``""`` allowed when ``allow_empty``.

    ``bounds`` may return ``(first, last)`` ISO dates, e.g. the date range of the data.
    """

    def check(v: str) -> str:
        if v == "" and allow_empty:
            return v
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ValueError(f"{v!r} is not an ISO date YYYY-MM-DD")
        try:
            date.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a calendar date") from None
        if bounds is not None:
            lo, hi = bounds()
            if not str(lo) <= v <= str(hi):
                raise ValueError(f"{v} is outside the data's range {lo} .. {hi}")
        return v

    desc = "ISO date YYYY-MM-DD" + (' or "" (newest date in the data)' if allow_empty else "")
    return Rule(desc, check)


def iso3(*, valid: Callable[[], Iterable[str]] | None = None) -> Rule:
    """ISO 3166-1 alpha-3 code (upper-cased); with ``valid``, also one of ``valid()``."""

    def check(v: str) -> str:
        code = v.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ValueError(f"{v!r} is not a three-letter ISO 3166-1 alpha-3 code")
        if valid is not None and code not in set(valid()):
            raise ValueError(f"{code} is not a known country")
        return code

    return Rule("ISO 3166-1 alpha-3 code, e.g. FRA", check, valid)


def directory(*, allow_empty: bool = True) -> Rule:
    """An existing directory, returned as an absolute path; ``""`` = default when allowed."""

    def check(v: str) -> str:
        if v == "" and allow_empty:
            return v
        path = Path(v).expanduser()
        if not path.is_dir():
            raise ValueError(f"{v!r} is not an existing directory")
        # Absolute, because the kernel runs in the notebooks folder, not the caller's cwd.
        return str(path.resolve())

    return Rule("path of an existing directory" + (' or "" (default)' if allow_empty else ""),
                check)


def existing_file(*, allow_empty: bool = True) -> Rule:
    """An existing file, returned as an absolute path; ``""`` = none when allowed."""

    def check(v: str) -> str:
        if v == "" and allow_empty:
            return v
        path = Path(v).expanduser()
        if not path.is_file():
            raise ValueError(f"{v!r} is not an existing file")
        return str(path.resolve())  # the kernel runs in the notebooks folder

    return Rule("path of an existing file" + (' or "" (none)' if allow_empty else ""), check)


@dataclass(frozen=True)
class NotebookSpec:
    """A renderable notebook: its parameters and where it lives.

    ``path`` defaults to ``<notebook_dir>/<name>.ipynb``. ``basename`` is the output file stem,
    a ``str.format`` pattern over ``notebook`` and the parameter values.
    """

    name: str
    params: tuple[Param, ...]
    path: Path | None = None
    basename: str = "{notebook}"
    description: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def resolve_path(self, notebook_dir: str | Path | None = None) -> Path:
        if self.path is not None:
            return Path(self.path)
        return Path(notebook_dir or config.NOTEBOOK_DIR) / f"{self.name}.ipynb"


_AS_OF = Param("as_of", str, "", iso_date(), "cut-off date; \"\" = newest date in the data")
_CURRENCY = Param("currency", str, "EUR", one_of("EUR", "USD", "GBP"), "display currency")
_DATA_DIR = Param("data_dir", str, "", directory(), "data package folder; \"\" = default",
                  public=False)
#: The previous build to compare with ("what changed"). :func:`render_report` fills it in with the
#: previous snapshot of the same report in the output folder when the caller does not pass it.
_COMPARE_TO = Param("compare_to", str, "", existing_file(),
                    "previous build's snapshot or manifest; \"\" = nothing to compare with", public=False)

#: The notebook registry. Adjust freely: e.g. wire the country list with
#: ``Param("country", str, REQUIRED, iso3(valid=lambda: set_of_codes()))``.
NOTEBOOKS: dict[str, NotebookSpec] = {
    "coalition_brief": NotebookSpec(
        "coalition_brief",
        (_AS_OF, _CURRENCY, _DATA_DIR,
         Param("top_n", int, 15, int_between(5, 40), "donors shown in rankings"), _COMPARE_TO),
        description="Policy brief on the coalition of the willing supporting Ukraine"),
    "country_profile": NotebookSpec(
        "country_profile",
        (Param("country", str, REQUIRED, iso3(), "ISO 3166-1 alpha-3 code"),
         _AS_OF, _CURRENCY, _DATA_DIR, _COMPARE_TO),
        basename="country_profile-{country}",
        description="One coalition member: contributions, aid and positions"),
}


def get_notebook(notebook: str | NotebookSpec) -> NotebookSpec:
    """Look a notebook up in :data:`NOTEBOOKS` (a :class:`NotebookSpec` passes through)."""
    if isinstance(notebook, NotebookSpec):
        return notebook
    try:
        return NOTEBOOKS[notebook]
    except (KeyError, TypeError):
        err = ParameterError("notebook", notebook,
                             f"unknown notebook; known: {', '.join(sorted(NOTEBOOKS))}")
        err.notebook, err.rule, err.allowed = None, "registered notebook", sorted(NOTEBOOKS)
        raise err from None


def _param_error(spec: NotebookSpec, name: str, value: Any, problem: str,
                 rule: str | None = None, allowed: list[str] | None = None) -> ParameterError:
    parts = [f"notebook {spec.name!r}", problem]
    if rule:
        parts.append(f"rule: {rule}")
    if allowed:
        shown = ", ".join(allowed[:40]) + (" …" if len(allowed) > 40 else "")
        parts.append(f"allowed: {shown}")
    err = ParameterError(name, value, "; ".join(parts))
    err.notebook, err.rule, err.allowed = spec.name, rule, allowed
    return err


def validate_params(notebook: str | NotebookSpec,
                    params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check parameters against the notebook's spec; return all of them, defaults filled in.

    Values must be plain JSON scalars (str, int, float, bool, None): nothing else is ever
    handed to papermill, which writes them into the notebook as Python literals. Integer
    parameters also accept decimal strings (``"10"``) because command lines pass strings.

    Raises
    ------
    ParameterError
        Unknown name, missing required parameter, wrong type or a value breaking its rule; the
        message names the notebook, parameter, value, rule and (when short) allowed values.
    """
    spec = get_notebook(notebook)
    params = dict(params or {})
    known = [p.name for p in spec.params]
    for name in params:
        if name not in known:
            raise _param_error(spec, name, params[name], "unknown parameter",
                               "known parameters", known)
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name not in params:
            if p.required:
                raise _param_error(spec, p.name, None, "required parameter is missing",
                                   p.rule.description if p.rule else None,
                                   _allowed(p))
            out[p.name] = p.default
            continue
        out[p.name] = _check_value(spec, p, params[p.name])
    return out


def _allowed(p: Param) -> list[str] | None:
    try:
        return p.rule.allowed_values() if p.rule else None
    except Exception:  # a lazily wired list that cannot load must not hide the real error
        return None


def _check_value(spec: NotebookSpec, p: Param, value: Any) -> Any:
    rule_desc = p.rule.description if p.rule else None
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise _param_error(spec, p.name, value,
                           f"must be a plain JSON scalar, not {type(value).__name__}", rule_desc)
    if isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise _param_error(spec, p.name, value[:60] + "…", f"longer than {_MAX_TEXT} chars")
        if _CONTROL.search(value):
            raise _param_error(spec, p.name, value, "contains control characters", rule_desc)
    if p.type is int and isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,12}", value.strip()):
        value = int(value.strip())
    if p.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    type_ok = isinstance(value, p.type) and not (p.type is not bool and isinstance(value, bool))
    if not type_ok:
        raise _param_error(spec, p.name, value, f"must be {p.type.__name__}", rule_desc,
                           _allowed(p))
    if p.type is float and not (value == value and abs(value) != float("inf")):
        raise _param_error(spec, p.name, value, "must be a finite number", rule_desc)
    if p.rule is not None:
        try:
            value = p.rule.check(value)
        except ValueError as exc:
            raise _param_error(spec, p.name, value, str(exc), rule_desc, _allowed(p)) from None
        except Exception as exc:  # a wired-in list (countries, date range) failed to load
            raise _param_error(spec, p.name, value,
                               f"cannot be checked: {type(exc).__name__}: {exc}",
                               rule_desc) from exc
    return value


# ============================================================================================
# Build result, hashing, kernel
# ============================================================================================
@dataclass
class BuildResult:
    """What :func:`render_report` produced."""

    notebook: str
    params: dict[str, Any]
    out_dir: Path
    outputs: dict[str, Path]
    manifest_path: Path
    timings: dict[str, float]
    data_hash: str | None
    title: str = ""
    as_of: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: The snapshot written beside the manifest (what the next build compares with), if any.
    snapshot: Path | None = None
    #: ``"built"`` (executed and exported), ``"re-exported"`` (code, parameters and data
    #: unchanged: the cached execution was exported again) or ``"unchanged"`` (nothing to do).
    cache: str = "built"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_directory(path: str | Path) -> str:
    """One sha256 over a folder: sorted relative POSIX paths, each with its file's sha256.

    Hidden entries (names starting with ``.``) and ``__pycache__`` are skipped; symlinked
    folders are not followed. Renaming, adding, removing or editing any file changes the hash.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            dirnames.remove(name)  # a linked folder counts as an entry (refused by validate)
            filenames.append(name)
        for name in filenames:
            if not name.startswith("."):
                full = Path(dirpath) / name
                files.append((full.relative_to(root).as_posix(), full))
    h = hashlib.sha256()
    for rel, full in sorted(files):
        # a symlink, FIFO or device is never opened (a FIFO would block, /dev/zero never end):
        # hashed by its kind and link text; validate refuses it (validate_files)
        mode = os.lstat(full).st_mode
        digest = _sha256_file(full) if stat.S_ISREG(mode) else \
            f"special {stat.S_IFMT(mode):o} {os.readlink(full) if stat.S_ISLNK(mode) else ''}"
        h.update(f"{rel}\0{digest}\n".encode("utf-8"))
    return h.hexdigest()


def ensure_kernelspec(name: str = KERNEL_NAME) -> str:
    """Make sure kernel ``name`` runs *this* interpreter; install it into ``sys.prefix`` if not.

    Returns the kernel name to use. The spec pins ``PYTHONHASHSEED=0`` so set iteration order,
    and with it any output that depends on it, is the same in every build.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def matches(kname: str) -> bool:
        try:
            spec = KernelSpecManager().get_kernel_spec(kname)
        except NoSuchKernel:
            return False
        return bool(spec.argv) and os.path.abspath(spec.argv[0]) == os.path.abspath(sys.executable)

    if matches(name):
        return name
    target = Path(sys.prefix) / "share" / "jupyter" / "kernels" / name
    if _install_kernelspec(target, name) and matches(name):
        return name
    # A spec of that name elsewhere (user dir) shadows ours: use an interpreter-specific name.
    alt = f"{name}-{hashlib.sha256(sys.executable.encode()).hexdigest()[:8]}"
    if not matches(alt):
        _install_kernelspec(Path(sys.prefix) / "share" / "jupyter" / "kernels" / alt, alt)
    return alt


def _install_kernelspec(target: Path, name: str) -> bool:
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({name})",
        "language": "python",
        "env": {"PYTHONHASHSEED": "0"},
        "metadata": {"debugger": True},
    }
    try:
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f".kernel.json.{os.getpid()}"
        tmp.write_text(json.dumps(spec, indent=1))
        os.replace(tmp, target / "kernel.json")  # atomic: parallel builds never see half a file
        return True
    except OSError:
        return False


# ============================================================================================
# Progress
# ============================================================================================
class _Progress:
    """Step lines on stderr; or, given a callable, ``callback(step, state, seconds)`` calls
    (state ``"start"``, ``"done"`` or ``"failed"``) so that a batch can show many reports."""

    def __init__(self, enabled: bool | Callable[[str, str, float], None], label: str):
        self.console = None
        self.label = label
        self.timings: dict[str, float] = {}
        self.callback = enabled if callable(enabled) else None
        if enabled and self.callback is None:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        n = _STEPS.index(name) + 1 if name in _STEPS else 0
        t0 = time.perf_counter()
        status = None
        if self.console is not None and self.console.is_terminal:
            status = self.console.status(f"[{n}/{len(_STEPS)}] {self.label}: {name} …")
            status.start()
        self._notify(name, "start", 0.0)
        try:
            yield
            _check_stop()  # a stop signal Python dropped during the step fails the step
        except BaseException:
            if status:
                status.stop()
            self._notify(name, "failed", time.perf_counter() - t0)
            if self.console is not None:
                self.console.print(f"[red]✗[/red] [{n}/{len(_STEPS)}] {name:<8} "
                                   f"{time.perf_counter() - t0:6.2f}s  failed")
            raise
        dt = time.perf_counter() - t0
        self.timings[name] = round(dt, 3)
        if status:
            status.stop()
        self._notify(name, "done", dt)
        if self.console is not None:
            self.console.print(f"[green]✓[/green] [{n}/{len(_STEPS)}] {name:<8} {dt:6.2f}s")

    def say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text)

    def _notify(self, name: str, state: str, seconds: float) -> None:
        if self.callback is not None:
            try:
                self.callback(name, state, seconds)
            except Exception:  # a display problem must never fail the build
                pass


# ============================================================================================
# Execution
# ============================================================================================
def _execute(nb_path: Path, params: dict, out_nb: Path, kernel: str,
             timeout: int | None) -> Any:
    """Run the notebook with papermill on a kernel this function starts and always stops.

    The kernel manager is ours, not nbclient's, so that however execution ends (an error, a
    signal turned into :class:`BuildInterrupted` in the middle of a cell) the ``finally`` below
    kills the kernel and removes its connection file and sockets.
    """
    import papermill as pm

    # Connection file and IPC sockets in a private (0700) folder under TMPDIR instead of
    # loopback TCP: no port is open to other local users, ipykernel stops warning about
    # unencrypted TCP, and one rmtree removes everything. The socket prefix must be absolute
    # (manager and kernel have different cwds) and short (Unix socket paths are limited to
    # ~107 bytes). The folder is locked while in use, so that a later build removes it if this
    # process is killed (see _sweep).
    scratch = km = None
    started: list[str] = []  # ids of the cells started, for "cell N" when the kernel dies
    try:
        with _signals_deferred():  # created and assigned whole, so the finally can remove it
            _sweep(Path(tempfile.gettempdir()), _KERNEL_PREFIX)
            scratch = _Scratch(_KERNEL_PREFIX)
        km = _kernel_manager(kernel_name=kernel, connection_file=str(scratch.path / "kernel.json"))
        if len(str(scratch.path)) <= 100:  # "<path>/k-5" < 108 bytes; else loopback TCP
            km.transport, km.ip = "ipc", str(scratch.path / "k")
        # nbclient logs "Kernel died while waiting for execute reply" and the like through
        # papermill's logger: the BuildError says it once, naming the cell.
        _quiet_logger("papermill")
        return pm.execute_notebook(
            str(nb_path), str(out_nb), parameters=params, kernel_name=kernel,
            language="python", progress_bar=False, log_output=False, start_timeout=120,
            # papermill rewrites the whole output notebook after every cell by default: with
            # ~2 MB of chart specs and SVG that was over half the execution time. It still
            # writes it at the end and when a cell fails.
            request_save_on_cell_execute=False,
            execution_timeout=timeout, km=km,
            on_cell_start=lambda cell, cell_index, **_: started.append(cell.get("id")),
            # nbclient starts the kernel in resources.metadata.path: no process-wide chdir.
            resources={"metadata": {"path": str(nb_path.parent)}})
    except Exception as exc:
        if started:
            exc.cr_running_cell = started[-1]  # type: ignore[attr-defined]
        raise
    finally:
        with _signals_deferred():  # a second Ctrl-C must not cut the clean-up short
            try:
                if km is not None:
                    _stop_kernel(km)
            finally:
                if scratch is not None:
                    scratch.remove()
        _check_stop()


_KERNEL_PREFIX = "cr-kernel-"


def _quiet_logger(name: str) -> None:
    import logging

    log = logging.getLogger(name)
    if not log.handlers:  # unless the caller configured it: then it is theirs
        log.addHandler(logging.NullHandler())
        log.propagate = False


@functools.lru_cache(maxsize=None)
def _kernel_manager_class() -> type:
    from jupyter_client import AsyncKernelManager

    class _KernelManager(AsyncKernelManager):
        """Remembers the clients nbclient creates, so that they can be closed too."""

        def client(self, **kwargs: Any) -> Any:
            kc = super().client(**kwargs)
            self.__dict__.setdefault("_cr_clients", []).append(kc)
            return kc

    return _KernelManager


def _kernel_manager(**kwargs: Any) -> Any:
    return _kernel_manager_class()(**kwargs)


def _stop_kernel(km: Any) -> None:
    """Stop what :func:`_execute` started: the cell's task, the clients, the kernel process."""
    import asyncio

    from jupyter_core.utils import run_sync

    async def stop() -> None:
        # A signal raised out of the event loop leaves nbclient's task suspended mid-cell;
        # cancel it, or it would resume (and talk to a dying kernel) the next time the loop runs.
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            done, _ = await asyncio.wait(pending, timeout=5)
            for task in done:  # retrieved, so asyncio does not log "never retrieved" later
                if not task.cancelled():
                    task.exception()
        for kc in km.__dict__.get("_cr_clients", []):
            try:
                kc.stop_channels()
            except Exception:
                pass
        try:
            if km.has_kernel:
                await km.shutdown_kernel(now=True)  # SIGKILL; also removes the connection file
        except Exception:
            pass
        finally:
            try:
                await km.cleanup_resources()
            except Exception:
                pass

    run_sync(stop)()


def _failed_cell_number(executed: Path, source: Path, exc: Any) -> int | None:
    """1-based position of the failing cell in the *source* notebook (all cell types)."""
    import nbformat

    try:
        ran = nbformat.read(str(executed), as_version=4)
        src = nbformat.read(str(source), as_version=4)
        failed_id = None
        for cell in ran.cells:
            if "papermill-error-cell-tag" in cell.metadata.get("tags", []):
                continue
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])) or \
                    cell.metadata.get("papermill", {}).get("exception"):
                failed_id = cell.get("id")
                break
        for i, cell in enumerate(src.cells):
            if failed_id and cell.get("id") == failed_id:
                return i + 1
    except Exception:
        pass
    # Fallback: papermill's 0-based index counts its injected-parameters cell, which sits
    # before every cell that can fail after the parameters; so it equals the 1-based position.
    idx = getattr(exc, "cell_index", None)
    return None if idx is None else idx


# ============================================================================================
# Export preparation
# ============================================================================================
@dataclass
class _Meta:
    title: str
    subtitle_md: str | None
    subtitle_text: str | None
    as_of: str | None


def _title_cell(nb: Any) -> tuple[int | None, str | None, str | None]:
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


def _collect_meta(nb: Any, spec: NotebookSpec, params: Mapping[str, Any]) -> _Meta:
    _, title, sub_md = _title_cell(nb)
    fields: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if _display.MIME_META in data:
                for k, v in dict(data[_display.MIME_META]).items():
                    if v is not None:
                        fields[k] = v
    as_of = fields.get("as_of") or (params.get("as_of") or None)
    if fields.get("title"):
        title = _md_escape(str(fields["title"]))
    if fields.get("subtitle"):
        sub_md = _md_escape(str(fields["subtitle"]))
    title = _strip_tags(_markdown(title)) if title else spec.name.replace("_", " ").capitalize()
    sub_text = _strip_tags(_markdown(sub_md)) if sub_md else None
    return _Meta(title, sub_md, sub_text, str(as_of) if as_of else None)


def _md_escape(text: str) -> str:
    """Run-time titles and subtitles are plain text (they may hold data, e.g. a country's
    name): escaped so that Markdown shows them literally, ``[x](javascript:...)``, ``**``,
    backticks and list or heading markers at a line start included."""
    text = _display.escape_markdown(_html.escape(_display.strip_control(text), quote=False))
    text = re.sub(r"(?m)^(\s*)([-+=])", r"\1\\\2", text)
    return re.sub(r"(?m)^(\s*)(\d+)([.)])", r"\1\2\\\3", text)


def _markdown(md: str) -> str:
    from nbconvert.filters import markdown2html

    return markdown2html(md)


def _strip_tags(text: str) -> str:
    return " ".join(_html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


_SCRIPT = re.compile(r"<script\b", re.I)
_URL_IN_SCRIPT = re.compile(r"https?://[^\s\"'<>?]+")
_VEGALITE = re.compile(r"application/vnd\.vegalite\.v\d+\+json")
#: Output types the exports can show (nbconvert picks the first of these a bundle has).
_EXPORTABLE = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown", "text/latex",
               "text/plain")


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
      :class:`UnexportableOutput` naming the cell and the types.
    """
    warnings: list[str] = []
    for cell, num in zip(nb.cells, _cell_numbers(nb)):
        if cell.cell_type != "code" or _DROP_TAGS & set(cell.metadata.get("tags", [])):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") not in ("display_data", "execute_result"):
                continue
            data = out.get("data", {})
            if _display.MIME_META in data:
                continue
            payload = data.get(_display.MIME_FIGURE)
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


def _prepare(nb: Any, *, interactive: bool) -> tuple[Any, dict[str, int]]:
    """Copy of ``nb`` ready for a template: custom outputs turned into export markup."""
    nb = copy.deepcopy(nb)
    title_idx, _, _ = _title_cell(nb)
    seen: dict[str, int] = {}
    counts = {"charts": 0, "tables": 0, "stderr_dropped": 0}
    cells = []
    for i, cell in enumerate(nb.cells):
        if i == title_idx or _DROP_TAGS & set(cell.metadata.get("tags", [])):
            continue
        if cell.cell_type == "code":
            outputs = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    counts["stderr_dropped"] += 1
                    continue
                data = out.get("data", {})
                if _display.MIME_META in data:
                    continue
                payload = data.get(_display.MIME_FIGURE)
                if payload is None and _vegalite_spec(data) is not None:
                    # fallback: a chart shown by another Altair renderer, rebuilt from its spec
                    payload = _display.Figure(_vegalite_spec(data), None, None).payload()
                if payload is not None and payload.get("kind") == "html":
                    out = {"output_type": "display_data", "metadata": {},
                           "data": {"text/html": payload["html"]}}
                elif payload is not None:
                    uid = _unique(str(payload.get("id", "figure")), seen)
                    if payload.get("kind") == "table":
                        markup = _retarget_id(payload["html"], payload["id"], uid)
                        counts["tables"] += 1
                    else:
                        markup = _display.figure_html(payload, uid, interactive=interactive)
                        counts["charts"] += 1
                    out = {"output_type": "display_data", "metadata": {},
                           "data": {"text/html": markup}}
                elif "<table" in data.get("text/html", ""):
                    # a DataFrame shown without the house formatter: drop pandas' border="1"
                    out = copy.deepcopy(out)
                    out["data"]["text/html"] = _PANDAS_BORDER.sub("<table", data["text/html"])
                outputs.append(out)
            if not outputs:
                continue
            cell.outputs = outputs
            cell.execution_count = None
        cells.append(cell)
    for n, cell in enumerate(cells):
        cell["id"] = f"c{n}"  # stable ids: papermill's injected cell gets a random one
    nb.cells = cells
    return nb, counts


_PANDAS_BORDER = re.compile(r'<table border="1"')


def _unique(base: str, seen: dict[str, int]) -> str:
    seen[base] = seen.get(base, 0) + 1
    return base if seen[base] == 1 else f"{base}-{seen[base]}"


def _retarget_id(markup: str, old: str, new: str) -> str:
    return markup if old == new else markup.replace(f'id="{old}"', f'id="{new}"', 1)


_HEADING = re.compile(r"<h([1-6])([^>]*?)\bid=\"([^\"]*)\"([^>]*)>(.*?)</h\1>", re.S)
_ANCHOR = re.compile(r'<a class="anchor-link" href="#[^"]*">.*?</a>', re.S)


def _finish(page: str, *, print_mode: bool) -> str:
    """Unique heading ids, a contents list from the body's h2/h3, anchor links for print."""
    start = page.find("<main")
    head, body = page[:start], page[start:]
    seen: dict[str, int] = {}
    toc: list[tuple[int, str, str]] = []

    def fix(m: re.Match) -> str:
        level, pre, hid, post, inner = m.groups()
        new = _unique(hid, seen)
        inner = inner.replace(f'href="#{hid}"', f'href="#{new}"')
        if print_mode:
            inner = _ANCHOR.sub("", inner)
        if level in ("2", "3"):
            toc.append((int(level), new, _strip_tags(_ANCHOR.sub("", inner))))
        return f'<h{level}{pre}id="{new}"{post}>{inner}</h{level}>'

    body = _HEADING.sub(fix, body)
    return head.replace(_TOC_MARKER, _toc_html(toc)) + body


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


# ============================================================================================
# HTML / PDF export
# ============================================================================================
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; base-uri 'none'; form-action 'none'")
_BUNDLE: dict[str, str] = {}


def _vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one script, cached in-process and on disk."""
    from importlib.metadata import version

    vl = _display.vl_version()
    key = f"vlc{version('vl-convert-python')}-vl{vl}"
    if key in _BUNDLE:
        return _BUNDLE[key]
    cache_root = os.environ.get("COALITION_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "coalition-report")
    cache = Path(cache_root) / f"vega-bundle-{key}.js"
    text = None
    try:
        text = cache.read_text(encoding="utf-8")
        if "vegaEmbed" not in text:
            text = None
    except OSError:
        pass
    if text is None:
        import vl_convert as vlc

        text = vlc.javascript_bundle(vl_version=vl)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, cache)
        except OSError:
            pass
    # Inline <script>: a literal "</script" would end it early.
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.I)
    _BUNDLE[key] = text
    return text


def _source_date() -> str | None:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return None
    try:
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return None


def _page_context(meta: _Meta, spec: NotebookSpec, params: Mapping[str, Any],
                  data_hash: str | None) -> dict[str, Any]:
    public = [(p.name, params[p.name]) for p in spec.params if p.public and p.name in params]
    shown = ", ".join(f"{k}={_html.escape(str(v)) if v != '' else '(default)'}" for k, v in public)
    colophon = f"Built with coalition-report {_html.escape(__version__)}"
    if data_hash:
        colophon += f" from data snapshot sha256:{data_hash[:12]}"
    if shown:
        colophon += f" · parameters: {shown}"
    return {
        "lang": "en",
        "title": meta.title,
        "subtitle_html": _markdown(meta.subtitle_md) if meta.subtitle_md else "",
        "subtitle_text": meta.subtitle_text or "",
        "as_of": meta.as_of or "",
        "as_of_long": _display.format_date(meta.as_of) if meta.as_of else "",
        "version": __version__,
        "created": _source_date(),
        "csp": _CSP,
        "toc_marker": _TOC_MARKER,
        "colophon_html": colophon + ".",
        "n_charts": 0,
        "bundle_marker": _BUNDLE_MARKER,
    }


def _exporter(template: str) -> Any:
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name=template, extra_template_basedirs=[str(config.TEMPLATE_DIR)],
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        embed_images=True, sanitize_html=False, anchor_link_text="¶")


def _export_html(nb: Any, ctx: dict, nb_dir: Path, name: str) -> tuple[str, dict]:
    prepared, counts = _prepare(nb, interactive=True)
    ctx = dict(ctx, n_charts=counts["charts"])
    body, _ = _exporter("coalition_html").from_notebook_node(
        prepared, resources={"cr": ctx, "metadata": {"name": name, "path": str(nb_dir)}})
    page = _finish(body, print_mode=False)
    _assert_offline(page)
    if counts["charts"]:
        head, sep, tail = page.rpartition(_BUNDLE_MARKER)
        page = head + _vega_bundle() + tail
    return page, counts


#: Attributes whose value the browser fetches (or submits to, or pings) by itself.
_LOADING_ATTRS = {"src", "srcset", "poster", "data", "action", "formaction", "background",
                  "ping", "manifest", "codebase", "archive", "longdesc", "lowsrc", "dynsrc",
                  "icon", "profile", "xlink:href", "href"}
#: Elements whose ``href`` is a link the reader may follow, not something the page loads.
_LINK_ELEMENTS = {"a", "area"}
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')""",
                      re.I)
_SCRIPT_URL = re.compile(r"^\s*(?:javascript|vbscript):", re.I)


def _fetches(url: str) -> bool:
    """Whether a URL in a loading position would reach outside the page."""
    u = url.strip()
    return bool(u) and not (u.startswith("#") or u.lower().startswith("data:"))


def _srcset_urls(value: str) -> list[str]:
    """The URLs of a ``srcset`` (HTML's rule: a URL is a run of non-space characters, so the
    comma inside ``data:image/png;base64,...`` does not split it; descriptors end at a comma)."""
    urls, pos, n = [], 0, len(value)
    while pos < n:
        while pos < n and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        start = pos
        while pos < n and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        elif pos < n:  # descriptors ("2x", "640w") up to the next comma
            end = value.find(",", pos)
            pos = n if end < 0 else end
        if url:
            urls.append(url)
    return urls


def _offline_problems(page: str) -> list[str]:
    """What in ``page`` would load from elsewhere, read from the parsed markup.

    Element attributes (``src``, ``srcset``, ``poster``, ``data``, ``action``, ``xlink:href``,
    ``href`` outside links, ...), ``url()``/``@import`` in ``<style>`` and ``style=``,
    ``<meta http-equiv=refresh>``, ``javascript:`` links. Text is never inspected: escaped
    markup in data (``&lt;img src=x&gt;``) and prose such as "data = pool report" are text.
    """
    from html.parser import HTMLParser

    problems: list[str] = []

    def css(text: str, where: str) -> None:
        for m in _CSS_URL.finditer(text):
            url = next(g for g in m.groups() if g is not None)
            if _fetches(url):
                problems.append(f"{url[:120]!r} ({where})")

    class Scan(HTMLParser):
        in_style = False

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.in_style = tag == "style"
            for name, value in attrs:
                name, value = name.lower(), value or ""
                if name == "style":
                    css(value, f"<{tag} style>")
                elif name == "href" and tag in _LINK_ELEMENTS:
                    if _SCRIPT_URL.match(value):
                        problems.append(f"{value[:120]!r} (<{tag} href> runs a script)")
                elif name == "srcset":
                    for url in _srcset_urls(value):
                        if _fetches(url):
                            problems.append(f"{url[:120]!r} (<{tag} srcset>)")
                elif name == "srcdoc":
                    problems.append(f"<{tag} srcdoc> (a page inside the page)")
                elif name in _LOADING_ATTRS and _fetches(value):
                    problems.append(f"{value[:120]!r} (<{tag} {name}>)")
            if tag == "meta" and dict(attrs).get("http-equiv", "").lower() == "refresh":
                problems.append(f"{(dict(attrs).get('content') or '')[:120]!r} (<meta refresh>)")

        handle_startendtag = handle_starttag

        def handle_endtag(self, tag: str) -> None:
            if tag == "style":
                self.in_style = False

        def handle_data(self, data: str) -> None:
            if self.in_style:
                css(data, "<style>")

    scan = Scan(convert_charrefs=True)
    scan.feed(page)
    scan.close()
    return problems


def _assert_offline(page: str) -> None:
    """Fail the build if the page would load anything (image, frame, style, ...) from elsewhere."""
    problems = _offline_problems(page)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(f"the page would load {problems[0]}{more}, which is not embedded; "
                         "use a local file in a markdown image (it gets inlined) or remove it")


def _export_print_html(nb: Any, ctx: dict, nb_dir: Path, name: str) -> str:
    prepared, _ = _prepare(nb, interactive=False)
    body, _ = _exporter("coalition_print").from_notebook_node(
        prepared, resources={"cr": ctx, "metadata": {"name": name, "path": str(nb_dir)}})
    return _finish(body, print_mode=True)


def _write_pdf(print_html: str, target: Path, base_dir: Path) -> None:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Only embedded data: URIs: the build never reaches the network or arbitrary files.
    fetcher = URLFetcher(allowed_protocols={"data"})
    HTML(string=print_html, base_url=str(base_dir) + os.sep, url_fetcher=fetcher).write_pdf(
        # pdf_tags: a structure tree (headings, tables, chart alt text) for screen readers.
        str(target), presentational_hints=True, pdf_identifier=False, pdf_tags=True)


# ============================================================================================
# Manifest
# ============================================================================================
_LIBS = (("python", None), ("pandas", "pandas"), ("altair", "altair"),
         ("vl-convert", "vl-convert-python"), ("papermill", "papermill"),
         ("nbconvert", "nbconvert"), ("weasyprint", "weasyprint"), ("nbformat", "nbformat"))


def _versions() -> dict[str, str | None]:
    """The manifest's versions: the libraries plus the Vega-Lite version charts are made for."""
    return {**_lib_versions(), "vega-lite": _display.vl_version()}


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(config.PROJECT_DIR.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


# ============================================================================================
# Faults: signals, locks, scratch folders, debris of killed builds
# ============================================================================================
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
#: ``pending``: a signal that arrived inside a _signals_deferred block; ``raised``: the last
#: signal raised as BuildInterrupted and not yet seen to propagate (main thread only).
_DEFERRED = {"depth": 0, "pending": None, "raised": None}
_LOCK = ".lock"
#: A scratch folder without a lock file is left alone until it is this old: it may be one that
#: another build is creating this instant, or one from a version that did not lock its folders.
_UNLOCKED_STALE_S = 3600


def _on_stop_signal(signum: int, frame: Any) -> None:
    if _DEFERRED["depth"]:
        _DEFERRED["pending"] = _DEFERRED["pending"] or signum
        return
    # Remembered as well: raised while Python runs a finalizer or a weakref callback, the
    # exception is dropped ("Exception ignored in ..."); _check_stop raises it again later.
    _DEFERRED["raised"] = signum
    raise BuildInterrupted(signum)


def _check_stop() -> None:
    """Raise a stop signal whose exception Python dropped (see :func:`_on_stop_signal`).
    Called before publishing, after the kernel is stopped and when the build returns."""
    if _main_thread() and _DEFERRED["raised"] is not None:
        signum, _DEFERRED["raised"] = _DEFERRED["raised"], None
        raise BuildInterrupted(signum)


def _hide_dropped_interrupts(unraisable: Any) -> None:
    """``sys.unraisablehook`` while signals stop builds: a BuildInterrupted Python could not
    raise is not a traceback for the user (it is raised again by _check_stop)."""
    if isinstance(unraisable.exc_value, BuildInterrupted):
        return
    sys.__unraisablehook__(unraisable)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`~coalition_report.errors.BuildInterrupted`.

    Without this, SIGTERM (``timeout``, ``kill``, CI cancelling a job) ends the process on the
    spot: no ``finally`` runs, so the kernel, its sockets and the temporary build folder stay
    behind. Only the main thread receives signals, so elsewhere this does nothing; a signal the
    process ignores (``nohup``, a background job) stays ignored. Re-entrant.
    """
    if not _main_thread():
        yield
        return
    previous = {}
    for name in _STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        current = signal.getsignal(sig)
        if current in (signal.SIG_IGN, None) or current is _on_stop_signal:
            continue
        previous[sig] = current
        signal.signal(sig, _on_stop_signal)
    hook = sys.unraisablehook
    if hook is sys.__unraisablehook__:
        sys.unraisablehook = _hide_dropped_interrupts
    try:
        yield
    except KeyboardInterrupt:
        _DEFERRED["raised"] = None  # it did propagate
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = hook
    _check_stop()


def _stops_on_signals(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with stop_on_signals():
            return fn(*args, **kwargs)
    return wrapper


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold a stop signal until the block ends: clean-up is not cut short and a set of outputs
    is published whole. If the block ends normally the held signal is raised then; if it ends
    with an exception, the build is stopping anyway and the signal is dropped."""
    if not _main_thread():
        yield
        return
    _DEFERRED["depth"] += 1
    try:
        yield
    except BaseException:
        _DEFERRED["depth"] -= 1
        if not _DEFERRED["depth"]:
            _DEFERRED["pending"] = None
        raise
    _DEFERRED["depth"] -= 1
    if not _DEFERRED["depth"] and _DEFERRED["pending"] is not None:
        signum, _DEFERRED["pending"] = _DEFERRED["pending"], None
        raise BuildInterrupted(signum)


class _Scratch:
    """A private temporary folder (mode 0700) that the build using it holds a lock on.

    The lock (``flock`` on ``.lock`` inside the folder) is released by the operating system when
    the process ends, however it ends, so :func:`_sweep` tells the folder of a killed build from
    the folder of a running one without trusting process ids, which get reused.
    """

    def __init__(self, prefix: str, parent: str | Path | None = None):
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        try:
            fresh = self.path / (_LOCK + ".new")
            self._fh = open(fresh, "w", encoding="ascii")
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Locked before it gets its name: a sweeper never sees an unlocked lock file.
            os.rename(fresh, self.path / _LOCK)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._fh.close()


def _sweep(parent: Path, prefix: str) -> None:
    """Remove ``parent/<prefix>*`` folders left by builds that died (SIGKILL, power cut, OOM).

    A folder is removed when nobody holds its lock (see :class:`_Scratch`), or when it has no
    lock file and is older than an hour; only folders of this user are touched.
    """
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or st.st_uid != os.getuid():
                continue
            try:
                fh = open(os.path.join(entry.path, _LOCK), "rb")
            except FileNotFoundError:
                if time.time() - st.st_mtime > _UNLOCKED_STALE_S:
                    shutil.rmtree(entry.path, ignore_errors=True)
                continue
            with fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # its build is running
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue


class _OutputLock:
    """One build at a time per report in an output folder: ``out/.<stem>.lock`` (flock).

    Two builds of the same report into the same folder would interleave their files (one's
    HTML beside the other's manifest); the second one refuses instead, naming the first one's
    process id. Different reports (the brief, each country profile) build side by side.
    """

    def __init__(self, spec: NotebookSpec, out: Path, stem: str):
        self.path = out / f".{stem}.lock"
        for _ in range(10):
            fh = open(self.path, "a+", encoding="ascii")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "?"
                fh.close()
                raise BuildError(spec.name, None,
                                 f"another build (pid {holder}) is writing {stem} into {out}; "
                                 "wait for it to finish or build into another folder", None) from None
            # The holder removes the file when done: make sure the file locked is the one there.
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            fh.close()
        else:
            raise BuildError(spec.name, None, f"could not lock {self.path}", None)
        self._fh = fh
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()

    def release(self) -> None:
        try:
            os.unlink(self.path)  # before unlocking: a waiting build re-checks the path
        except OSError:
            pass
        self._fh.close()

    @staticmethod
    def sweep(out: Path) -> None:
        """Remove lock files nobody holds (their build was killed). Safe against a build that
        is taking one right now: it checks that the file it locked is still the one there."""
        for path in out.glob(".*.lock"):
            try:
                with open(path, "rb") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    if os.path.samestat(os.fstat(fh.fileno()), os.stat(path)):
                        os.unlink(path)
            except OSError:
                continue


#: errno values that mean "this place cannot be used as an output folder" (exit 2), as
#: opposed to running out of room while writing (exit 1).
_BAD_PLACE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.ELOOP,
              errno.ENAMETOOLONG, errno.ENOENT}


def _output_problem_text(out: Path | str, exc: BaseException, doing: str) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    name = getattr(exc, "filename", None)
    where = f" ({name})" if name and str(name) != str(out) else ""
    return f"{doing} {out}: {reason}{where}"


def _output_problem(spec: NotebookSpec, out: Path | str, exc: BaseException,
                    doing: str = "cannot write to the output folder") -> Exception:
    """A one-line error naming the output folder (and the file, when the OS says which)."""
    text = _output_problem_text(out, exc, doing)
    if isinstance(exc, OSError) and exc.errno in _BAD_PLACE or isinstance(exc, RuntimeError):
        err = ParameterError("out_dir", str(out), text)
        err.notebook, err.rule, err.allowed = spec.name, "a writable folder", None
        return err
    return BuildError(spec.name, None, text, None)


def _output_folder(spec: NotebookSpec, out_dir: str | Path) -> Path:
    """``out_dir`` made absolute and created; a file, a symlink loop or a folder that cannot be
    created is a :class:`ParameterError` naming it."""
    raw = Path(out_dir).expanduser()
    try:
        out = raw.resolve()
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "not writable")
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Path.resolve)
        raise _output_problem(spec, raw, exc, "cannot use") from None
    return out


def _drop_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only succeeds when empty
    except OSError:
        pass


# ============================================================================================
# render_report
# ============================================================================================
@_stops_on_signals
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

    Builds are cached (see :func:`cache_key`): when the notebook, the package code, the
    parameters and the data are unchanged and the outputs are in place, nothing runs
    (``cache="unchanged"``); when only Markdown changed, the cached execution is exported
    again (``cache="re-exported"``). ``force=True`` rebuilds from scratch.

    Parameters
    ----------
    notebook : str or NotebookSpec
        A name in :data:`NOTEBOOKS`, or a spec (tests, ad-hoc notebooks).
    params : mapping, optional
        Parameter values; see :func:`validate_params`.
    out_dir : path, optional
        Where outputs go (default :data:`config.REPORTS_DIR`); created if missing.
    formats : sequence of {"html", "pdf", "ipynb"}
        What to publish; ``"ipynb"`` is the executed notebook. This report's files of the other
        formats (``<basename>.<format>``, left by an earlier build) are removed when it is
        published, so the folder never mixes outputs of two builds of one report.
    basename : str, optional
        Output file stem; default from the spec (``coalition_brief``, ``country_profile-FRA``).
    progress : bool or callable
        One line per step on stderr (rich); or a callable ``(step, state, seconds)`` called as
        each step starts (``"start"``) and ends (``"done"``/``"failed"``), printing nothing.
    notebook_dir : path, optional
        Folder holding the notebooks (default :data:`config.NOTEBOOK_DIR`).
    data_hash : str, optional
        Data hash computed by the caller; default :func:`hash_directory` of ``data_dir``
        (or :data:`config.DATA_DIR`).
    kernel_name : str, optional
        Jupyter kernel; default: :func:`ensure_kernelspec` (``coalition-report``).
    timeout : int, optional
        Per-cell execution timeout in seconds.
    manifest_name : str
        File name of the manifest written beside the outputs.

    A notebook with a ``compare_to`` parameter that ``params`` leaves out compares with the
    previous build of the same report in ``out_dir`` (the snapshot its manifest names). The
    snapshot the notebook displays (:mod:`coalition_report.snapshot`) is written beside the
    manifest as ``<basename>.snapshot.json`` when the build succeeds.

    Returns
    -------
    BuildResult

    Raises
    ------
    ParameterError
        Invalid notebook name, parameter, format or basename (nothing is executed).
    BuildError
        A cell failed (``cell`` = 1-based position in the source notebook) or an export
        failed (``cell`` is ``None``). The executed notebook is kept in ``out_dir/.failed/``.
    """
    spec = get_notebook(notebook)
    prog = _Progress(progress, spec.name)
    with prog.step("validate"):
        values, fmts, stem, nb_path, out, data_dir, data_hash = _resolve_build(
            spec, params, formats, basename, manifest_name, notebook_dir, out_dir, data_hash)
        key, code_key = cache_key(spec, nb_path, values, data_hash, fmts, stem)
    if not force:
        hit = _unchanged(spec, values, out, manifest_name, key, data_hash)
        if hit is not None:
            prog.say(f"[green]unchanged[/green] {stem}: notebook, code, parameters and data as in "
                     f"the last build (cache key {key[:12]}); nothing to do (--force rebuilds)")
            return hit
    cache_state = "built"
    step, lock, scratch, executed, held = "start", None, None, None, False
    try:
        with _signals_deferred():  # set up whole, so that the finally can undo it
            lock = _OutputLock(spec, out, stem)  # one build of this report here at a time
            _sweep(out, ".build-")  # folders and locks of builds that were killed
            _OutputLock.sweep(out)
            scratch = _Scratch(".build-", out)
        work = scratch.path
        executed = work / f"{stem}.ipynb"
        step = "execute"
        with prog.step("execute"):
            nb = None if force else _cached_execution(out, code_key, nb_path, executed)
            if nb is None:
                kernel = kernel_name or ensure_kernelspec()
                nb = _run(spec, nb_path, values, executed, kernel, timeout, out, stem, prog)
            else:
                cache_state = "re-exported"
        step = "prepare"
        warnings = check_outputs(nb)  # the CLI prints them; the manifest keeps them
        meta = _collect_meta(nb, spec, values)
        ctx = _page_context(meta, spec, values, data_hash)
        files: dict[str, Path] = {}
        counts: dict[str, int] = {}
        if "html" in fmts:
            step = "html"
            with prog.step("html"):
                page, counts = _export_html(nb, ctx, nb_path.parent, stem)
                files["html"] = work / f"{stem}.html"
                files["html"].write_text(page, encoding="utf-8")
        if "pdf" in fmts:
            step = "pdf"
            with prog.step("pdf"):
                files["pdf"] = work / f"{stem}.pdf"
                _write_pdf(_export_print_html(nb, ctx, nb_path.parent, stem), files["pdf"],
                           work)
        if "ipynb" in fmts:
            files["ipynb"] = executed
        step = "manifest"
        with prog.step("manifest"):
            snapshot = _write_snapshot(nb, work, stem)
            manifest = {
                "schema": 1,
                "cache_key": key,
                "notebook": spec.name,
                "notebook_file": _display_path(nb_path),
                "notebook_sha256": _sha256_file(nb_path),
                "package_sha256": hash_directory(config.PACKAGE_DIR),
                "parameters": values,
                "report": {"title": meta.title, "subtitle": meta.subtitle_text,
                           "as_of": meta.as_of},
                "data": {"path": _display_path(data_dir), "sha256": data_hash},
                "package": {"name": "coalition-report", "version": __version__},
                "versions": _versions(),
                "built_at": _source_date(),
                "counts": counts,
                "warnings": warnings,
                "timings_s": dict(prog.timings),
                "outputs": [{"format": fmt, "file": path.name, "bytes": path.stat().st_size,
                             "sha256": _sha256_file(path)} for fmt, path in files.items()],
                "snapshot": _file_entry(snapshot),
                "compared_with": _file_entry(Path(values["compare_to"]), display=True)
                if values.get("compare_to") else None,
            }
            man_path = work / manifest_name
            man_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")
        step, held = "publish", _hold_signals()  # a stop signal waits until all are in place
        # Publish: each file atomically, manifest last so it never describes missing files.
        published = {}
        for fmt, path in files.items():
            os.replace(path, out / path.name)
            published[fmt] = out / path.name
        if snapshot is not None:
            os.replace(snapshot, out / snapshot.name)
        os.replace(man_path, out / manifest_name)
        _remove_stale(out, stem, published, snapshot)
        stale = out / ".failed" / f"{stem}.ipynb"  # a failure record this build supersedes
        if stale.is_file():
            stale.unlink()
        step, held = "published", _release_signals(held)
        if cache_state == "built":
            _store_execution(out, code_key, executed)  # only executions that were published
    except (BuildError, ParameterError):
        raise
    except UnexportableOutput as exc:
        raise _failure(spec, exc.cell, str(exc), _keep_failed(executed, out, stem), prog) from None
    except KeyboardInterrupt as exc:  # BuildInterrupted: SIGINT, SIGTERM, SIGHUP
        _DEFERRED["raised"] = None  # it propagated: nothing to raise again
        raise _interrupted(spec, exc, step, out, stem) from None
    except Exception as exc:
        raise _failure(spec, None, _describe(exc, step, out),
                       _keep_failed(executed, out, stem), prog) from exc
    finally:
        with _signals_deferred():  # nothing cuts the clean-up short
            _release_signals(held, drop=True)
            if scratch is not None:
                scratch.remove()
            if lock is not None:
                lock.release()
            _drop_empty(out / ".failed")
    timings = dict(prog.timings)
    return BuildResult(spec.name, values, out, published, out / manifest_name, timings,
                       data_hash, meta.title, meta.as_of, warnings,
                       out / snapshot.name if snapshot is not None else None, cache_state)


def _run(spec: NotebookSpec, nb_path: Path, values: dict, executed: Path, kernel: str,
         timeout: int | None, out: Path, stem: str, prog: _Progress) -> Any:
    from papermill.exceptions import PapermillExecutionError

    try:
        return _execute(nb_path, values, executed, kernel, timeout)
    except PapermillExecutionError as exc:
        kept = _keep_failed(executed, out, stem)
        cell = _failed_cell_number(kept or executed, nb_path, exc)
        raise _failure(spec, cell, f"{exc.ename}: {exc.evalue}", kept, prog) from None
    except Exception as exc:
        kept = _keep_failed(executed, out, stem)
        cell, kind = None, type(exc).__name__
        if kind == "DeadKernelError":
            text = "the kernel died (killed, or out of memory)"
        elif kind == "CellTimeoutError":
            text = f"the cell ran longer than the {timeout} s allowed (timeout)"
        else:  # not the cell's doing (e.g. the disk is full when the notebook is written)
            text = _describe(exc, "execute", out)
        if kind in ("DeadKernelError", "CellTimeoutError"):
            cell = _source_position(nb_path, getattr(exc, "cr_running_cell", None))
        raise _failure(spec, cell, text, kept, prog) from exc


def _failure(spec: NotebookSpec, cell: int | None, message: str, kept: Path | None,
             prog: _Progress) -> BuildError:
    """The failure as a :class:`BuildError`; its message names the kept notebook (printed once,
    by whoever reports the error)."""
    return BuildError(spec.name, cell, message, str(kept) if kept else None)


def _describe(exc: BaseException, step: str, out: Path) -> str:
    """``step: what went wrong``; a full disk or a folder that became read-only names the place."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                                                  errno.EACCES, errno.EPERM, errno.EIO):
        return f"{step}: {_output_problem_text(out, exc, 'cannot write to the output folder')}"
    return f"{step}: {type(exc).__name__}: {exc}"


def _interrupted(spec: NotebookSpec, exc: BaseException, step: str, out: Path,
                 stem: str) -> BuildInterrupted:
    signum = getattr(exc, "signum", signal.SIGINT)
    why = BuildInterrupted(signum).signame
    if step == "published":
        what = f"after its outputs were published: {stem} in {out} is complete"
    else:
        what = (f"during {step}: nothing published, the previous {stem} outputs in {out} are "
                "untouched and temporary files removed")
    return BuildInterrupted(signum, f"{spec.name}: interrupted by {why} {what}")


def _hold_signals() -> bool:
    """Start holding stop signals (see :func:`_signals_deferred`); returns whether it did."""
    if not _main_thread():
        return False
    _check_stop()  # a stop signal Python dropped earlier: nothing gets published
    _DEFERRED["depth"] += 1
    return True


def _release_signals(held: bool, *, drop: bool = False) -> bool:
    """Undo :func:`_hold_signals`; a signal that came meanwhile is raised now (or, with
    ``drop``, forgotten: the build is stopping anyway). Returns ``False`` (no longer held)."""
    if not held:
        return False
    _DEFERRED["depth"] -= 1
    if not _DEFERRED["depth"] and _DEFERRED["pending"] is not None:
        signum, _DEFERRED["pending"] = _DEFERRED["pending"], None
        if not drop:
            raise BuildInterrupted(signum)
    return False


def _source_position(source: Path, cell_id: str | None) -> int | None:
    """1-based position of the cell ``cell_id`` in the source notebook; ``None`` when unknown
    (papermill's injected-parameters cell, or no cell had started)."""
    import nbformat

    if not cell_id:
        return None
    try:
        ids = [c.get("id") for c in nbformat.read(str(source), as_version=4).cells]
        return ids.index(cell_id) + 1
    except Exception:
        return None


def _keep_failed(executed: Path | None, out: Path, stem: str) -> Path | None:
    """Copy the executed notebook of a failed build to ``out/.failed/<stem>.ipynb``."""
    if executed is None or not executed.is_file():
        return None
    target = out / ".failed" / f"{stem}.ipynb"
    try:
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(executed, target)
        return target
    except OSError:  # e.g. the disk is full: no half-written copy, no empty .failed/
        try:
            target.unlink()
        except OSError:
            pass
        _drop_empty(target.parent)
        return None


# ============================================================================================
# Snapshots and the publish step's housekeeping
# ============================================================================================
def _with_compare_to(spec: NotebookSpec, params: Mapping[str, Any] | None, values: dict[str, Any],
                     out: Path, stem: str, manifest_name: str) -> dict[str, Any]:
    """``values`` with ``compare_to`` defaulted and checked (notebooks that declare it only).

    Not passed: the snapshot the previous manifest of this report in ``out`` names, else
    ``<stem>.snapshot.json`` there, else ``""``. A path (snapshot or manifest) must read as a
    snapshot before anything runs: :class:`ParameterError` otherwise.
    """
    if "compare_to" not in {p.name for p in spec.params}:
        return values
    from . import snapshot as _snapshot

    chosen = values.get("compare_to") or ""
    if "compare_to" not in (params or {}):
        # The previous build of this report, if it left a readable snapshot; an unreadable one
        # (e.g. from an older version) means nothing to compare with, said so in the report.
        for candidate in (out / manifest_name, out / f"{stem}{_snapshot.SUFFIX}"):
            try:
                if candidate.is_file() and _snapshot.load_snapshot(candidate) is not None:
                    return {**values, "compare_to": str(_snapshot.resolve_snapshot(candidate))}
            except ParameterError:
                continue
        return {**values, "compare_to": ""}
    if chosen:
        try:
            chosen = str(_snapshot.resolve_snapshot(chosen))
            _snapshot.load_snapshot(chosen)
        except ParameterError as exc:
            raise _param_error(spec, "compare_to", chosen, exc.reason,
                               "a previous build's snapshot or manifest") from None
    return {**values, "compare_to": chosen}


def _write_snapshot(nb: Any, work: Path, stem: str) -> Path | None:
    """Write the snapshot the executed notebook displayed to ``work/<stem>.snapshot.json``."""
    from . import snapshot as _snapshot

    snap = _snapshot.snapshot_of_notebook(nb)
    if snap is None:
        return None
    path = work / f"{stem}{_snapshot.SUFFIX}"
    path.write_text(_snapshot.dumps(snap), encoding="utf-8")
    return path


def _file_entry(path: Path | None, *, display: bool = False) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    return {"file": _display_path(path) if display else path.name, "bytes": path.stat().st_size,
            "sha256": _sha256_file(path)}


def _remove_stale(out: Path, stem: str, published: Mapping[str, Path], snapshot: Path | None) -> None:
    """Remove this report's own files that this build did not write: other formats of
    ``<stem>`` and a snapshot the new manifest does not name. Never any other file."""
    from .snapshot import SUFFIX

    stale = [out / f"{stem}.{fmt}" for fmt in FORMATS if fmt not in published]
    if snapshot is None:
        stale.append(out / f"{stem}{SUFFIX}")
    for path in stale:
        try:
            if path.is_file() and not path.is_symlink():
                path.unlink()
        except OSError:
            pass  # the new outputs are published; a file we cannot remove is only left over


def _check_formats(spec: NotebookSpec, formats: Sequence[str]) -> tuple[str, ...]:
    fmts = (formats,) if isinstance(formats, str) else tuple(formats)
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise _param_error(spec, "formats", list(fmts), "unknown or empty output format list",
                           "subset of " + ", ".join(FORMATS), list(FORMATS))
    return tuple(dict.fromkeys(fmts))


def _check_basename(spec: NotebookSpec, stem: str, what: str = "basename") -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}", stem) or ".." in stem:
        raise _param_error(spec, what, stem, "not a safe file name",
                           "letters, digits, '.', '_', '-' (no path separators)")
    return stem


def export_notebook(nb: Any, notebook: str | NotebookSpec, params: Mapping[str, Any], out_dir: Path,
                    stem: str, *, formats: Sequence[str] = ("html", "pdf"),
                    notebook_dir: Path | None = None, data_hash: str | None = None) -> dict[str, Path]:
    """Export an executed notebook to ``out_dir/<stem>.html`` and ``.pdf`` (no manifest, no
    publishing step): the export half of :func:`render_report`, for callers that executed the
    notebook themselves (the benchmark's floor, the execution cache)."""
    spec = get_notebook(notebook)
    meta = _collect_meta(nb, spec, params)
    ctx = _page_context(meta, spec, params, data_hash)
    nb_dir = Path(notebook_dir or config.NOTEBOOK_DIR)
    files: dict[str, Path] = {}
    if "html" in formats:
        page, _ = _export_html(nb, ctx, nb_dir, stem)
        files["html"] = out_dir / f"{stem}.html"
        files["html"].write_text(page, encoding="utf-8")
    if "pdf" in formats:
        files["pdf"] = out_dir / f"{stem}.pdf"
        _write_pdf(_export_print_html(nb, ctx, nb_dir, stem), files["pdf"], out_dir)
    return files


# ============================================================================================
# Build cache
# ============================================================================================
#: Folder (inside the output folder) holding executed notebooks keyed by their code.
CACHE_FOLDER = ".cache"
_CACHE_KEEP = 12  # executed notebooks kept per output folder (newest first)


def cache_key(spec: NotebookSpec, nb_path: Path, values: Mapping[str, Any], data_hash: str | None,
              formats: Sequence[str], stem: str) -> tuple[str, str]:
    """``(build key, code key)`` of a build.

    The build key covers everything an output depends on: the notebook file, the package code,
    the library versions, the parameters (with the *content* of a ``compare_to`` file), the
    data, the formats and file name, and today's date when ``as_of`` is empty (the default as-of
    date is never later than today). The code key leaves out the notebook's Markdown cells and
    the formats: an execution is reusable across Markdown edits.
    """
    # plain JSON, not nbformat: an unchanged rebuild should not pay for importing it
    nb = json.loads(nb_path.read_text(encoding="utf-8"))

    def text(src: Any) -> str:
        return "".join(src) if isinstance(src, list) else str(src)

    code = [[text(c.get("source", "")), sorted(c.get("metadata", {}).get("tags", []))]
            for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    params = dict(values)
    if params.get("compare_to"):
        path = Path(params["compare_to"])
        params["compare_to"] = _sha256_file(path) if path.is_file() else f"missing:{path}"
    common = {"package": hash_directory(config.PACKAGE_DIR), "versions": _lib_versions(), "params": params,
              "data": data_hash, "today": date.today().isoformat() if not values.get("as_of") else None,
              "kernel": nb.get("metadata", {}).get("kernelspec", {}).get("name"), "notebook": spec.name}
    def digest(obj: Any) -> str:
        return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()

    code_key = digest({**common, "code": code})
    build_key = digest({**common, "code_key": code_key, "notebook_sha256": _sha256_file(nb_path),
                        "formats": sorted(formats), "stem": stem})
    return build_key, code_key


def _unchanged(spec: NotebookSpec, values: dict, out: Path, manifest_name: str, key: str,
               data_hash: str | None) -> BuildResult | None:
    """The last build's result when its cache key matches and every output is intact."""
    path = out / manifest_name
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("cache_key") != key:
        return None
    outputs = {}
    for entry in manifest.get("outputs", []):
        f = out / str(entry.get("file", ""))
        if not f.is_file() or f.stat().st_size != entry.get("bytes") or _sha256_file(f) != entry.get("sha256"):
            return None  # an output was edited or removed: rebuild
        outputs[entry["format"]] = f
    snap = manifest.get("snapshot") or {}
    snapshot = out / snap["file"] if isinstance(snap, dict) and snap.get("file") else None
    report = manifest.get("report") or {}
    return BuildResult(spec.name, values, out, outputs, path, {}, data_hash, report.get("title", ""),
                       report.get("as_of"), list(manifest.get("warnings") or []), snapshot, "unchanged")


def _cached_execution(out: Path, code_key: str, nb_path: Path, executed: Path) -> Any | None:
    """The cached executed notebook for ``code_key`` with the current Markdown cells, or None.

    Code cells are identical by construction of the key; their outputs are copied in order onto
    the current notebook, papermill's injected-parameters cell is kept where it was.
    """
    import nbformat

    cached = out / CACHE_FOLDER / f"exec-{code_key}.ipynb"
    try:
        old = nbformat.read(str(cached), as_version=4)
    except Exception:
        return None
    new = nbformat.read(str(nb_path), as_version=4)
    ran = [c for c in old.cells if c.cell_type == "code"
           and "injected-parameters" not in c.metadata.get("tags", [])]
    if len(ran) != sum(c.cell_type == "code" for c in new.cells):
        return None
    injected = next((c for c in old.cells if "injected-parameters" in c.metadata.get("tags", [])), None)
    cells, it = [], iter(ran)
    for cell in new.cells:
        if cell.cell_type == "code":
            done = next(it)
            if done.source != cell.source:
                return None
            cell = done
        cells.append(cell)
        if injected is not None and "parameters" in cell.metadata.get("tags", []):
            cells.append(injected)
    old.cells = cells
    os.utime(cached)  # most recently used
    nbformat.write(old, str(executed))
    return old


def _store_execution(out: Path, code_key: str, executed: Path) -> None:
    """Keep the executed notebook for the next build (never fails the build)."""
    try:
        folder = out / CACHE_FOLDER
        folder.mkdir(exist_ok=True)
        tmp = folder / f".exec-{code_key}.{os.getpid()}.tmp"
        shutil.copyfile(executed, tmp)
        os.replace(tmp, folder / f"exec-{code_key}.ipynb")
        entries = sorted(folder.glob("exec-*.ipynb"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def _resolve_build(spec: NotebookSpec, params: Mapping[str, Any] | None, formats: Sequence[str],
                   basename: str | None, manifest_name: str, notebook_dir: str | Path | None,
                   out_dir: str | Path | None, data_hash: str | None) -> tuple:
    """Everything a build is decided by, checked: (values, formats, stem, notebook path, output
    folder, data folder, data hash). Raises :class:`ParameterError` before anything runs."""
    values = validate_params(spec, params)
    fmts = _check_formats(spec, formats)
    stem = _check_basename(spec, basename or spec.basename.format(notebook=spec.name, **values))
    _check_basename(spec, manifest_name.removesuffix(".json"), what="manifest_name")
    nb_path = spec.resolve_path(notebook_dir).resolve()
    if not nb_path.is_file():
        raise BuildError(spec.name, None, f"notebook file not found: {nb_path}", None)
    out = _output_folder(spec, out_dir or config.REPORTS_DIR)
    data_dir = Path(values.get("data_dir") or config.DATA_DIR)
    if data_hash is None and data_dir.is_dir():
        data_hash = hash_directory(data_dir)
    values = _with_compare_to(spec, params, values, out, stem, manifest_name)
    return values, fmts, stem, nb_path, out, data_dir, data_hash


def unchanged_result(notebook: str | NotebookSpec, params: Mapping[str, Any] | None = None, *,
                     out_dir: str | Path | None = None, formats: Sequence[str] = ("html", "pdf"),
                     basename: str | None = None, notebook_dir: str | Path | None = None,
                     data_hash: str | None = None, manifest_name: str = "manifest.json") -> BuildResult | None:
    """The last build's result if :func:`render_report` would find nothing to do, else None.

    Cheap (no kernel, no pandas): the build command asks it first, so an unchanged rebuild
    neither loads nor validates the data (its hash equals that of the last, validated build).
    """
    spec = get_notebook(notebook)
    values, fmts, stem, nb_path, out, _, data_hash = _resolve_build(
        spec, params, formats, basename, manifest_name, notebook_dir, out_dir, data_hash)
    key, _ = cache_key(spec, nb_path, values, data_hash, fmts, stem)
    return _unchanged(spec, values, out, manifest_name, key, data_hash)


def _lib_versions() -> dict[str, str | None]:
    """Installed versions of the libraries outputs depend on (metadata only: no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for label, dist in _LIBS:
        if dist is None:
            out[label] = ".".join(map(str, sys.version_info[:3]))
            continue
        try:
            out[label] = version(dist)
        except PackageNotFoundError:
            out[label] = None
    return out
