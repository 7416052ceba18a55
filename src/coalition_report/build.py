"""``coalition-report build``: validate the data once, then render the brief and any profiles.

Each report is published only when all its steps succeed (see :func:`render.render_report`);
a failing report leaves the previous files of that report untouched and does not stop the
others. Several reports run in parallel worker processes (``jobs``); each ``render_report`` is
independent (own kernel, own temporary folder, own files). After every build the output folder
gets an ``index.html`` linking every report in it (from the manifests found there).
"""

from __future__ import annotations

import html
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote

from . import config
from .boundedjson import JSONLimitError, read_bounded
from .errors import CoalitionReportError, ParameterError
from .files import write_atomic
from .hashing import hash_directory
from .render.context import BuildContext
from .render.result import BuildResult

__all__ = ["build_all", "build_reports", "plan_reports", "given_params", "coalition_countries", "write_index", "Job",
           "Outcome", "BuildFailures", "print_summary", "BRIEF_BASENAME", "INDEX_NAME", "ALL_COUNTRIES"]

BRIEF_BASENAME = "coalition-brief"
INDEX_NAME = "index.html"
#: ``--country ALL``: every coalition member (same as ``--all-countries``).
ALL_COUNTRIES = "ALL"


# ============================================================================================
# What to build
# ============================================================================================
@dataclass
class Job:
    """One report to build: output name (``coalition-brief``, ``country-GBR``), notebook, parameters."""

    name: str
    notebook: str
    params: dict[str, Any]
    manifest_name: str


@dataclass
class Outcome:
    """How one report's build ended: ``result`` when published, else ``error`` (one message)."""

    job: Job
    result: BuildResult | None = None
    error: str | None = None
    #: The exception itself when the build ran in this process (kept for its exit code/fields).
    exception: BaseException | None = field(default=None, repr=False)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.result is not None


class BuildFailures(CoalitionReportError):
    """Some reports of a build failed; the others were built. ``outcomes`` holds every report."""

    def __init__(self, outcomes: Sequence[Outcome]):
        self.outcomes = list(outcomes)
        self.failed = [o for o in self.outcomes if not o.ok]
        lines = [f"{len(self.failed)} of {len(self.outcomes)} reports failed: "
                 + ", ".join(o.job.name for o in self.failed)]
        lines += [f"  {o.job.name}: {o.error}" for o in self.failed]
        super().__init__("\n".join(lines))


def coalition_countries(ds, as_of: str = "") -> list[str]:
    """ISO3 codes of the coalition members as of ``as_of`` (empty: the data's knowledge date),
    the states ``--all-countries`` builds, in code order."""
    from .analysis import coalition_members
    from .data import check_as_of, cut_to

    cut = cut_to(ds, check_as_of(ds, as_of) or ds.knowledge_date)
    return sorted(coalition_members(cut)["actor_id"])


def given_params(*, as_of: str = "", currency: str | None = None, data_dir: str | Path | None = None,
                 top_n: int | None = None, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters the user set (the named options are shorthands for ``-p NAME=VALUE``).
    Nothing else is passed: the notebook's own defaults apply to the rest."""
    given = dict(params or {})
    for name, value in (("as_of", as_of or None), ("currency", currency), ("top_n", top_n),
                        ("data_dir", str(data_dir) if data_dir is not None else None)):
        if value is not None:
            given[name] = value
    return given


def _declared(notebook: str, notebook_dir: str | Path | None) -> set[str]:
    from .params import get_notebook

    return {p.name for p in get_notebook(notebook, notebook_dir).params}


def plan_reports(ds, *, given: Mapping[str, Any], countries: Sequence[str] = (), brief: bool = True,
                 all_countries: bool = False, compare_to: str | Path | None = None,
                 notebook_dir: str | Path | None = None) -> list[Job]:
    """The reports a build makes, their parameters checked against the data (nothing runs).

    ``given`` (see :func:`given_params`) goes to every report whose notebook declares the name;
    a name no notebook of the build declares is a :class:`ParameterError`. ``countries`` may
    hold ``"ALL"`` (any case): every coalition member, as ``all_countries``. ``compare_to``: a
    previous build's snapshot or manifest (one report only) or its output folder (each report
    compares with its own previous snapshot there); None: the previous edition in the output folder.
    """
    codes = _countries(ds, countries, all_countries, str(given.get("as_of") or ""))
    return _jobs(codes, given=given, brief=brief, compare_to=compare_to, notebook_dir=notebook_dir)


def _countries(ds, countries: Sequence[str], all_countries: bool, as_of: str) -> list[str]:
    """The country codes to build, each checked against ``actors.csv`` (``ALL``: the members as
    of ``as_of``), after ``as_of`` is checked against the data: what the plan needs of the data."""
    from .data import check_as_of, check_state

    codes = [str(c).strip().upper() for c in countries]
    if ALL_COUNTRIES in codes:
        all_countries = True
        codes = [c for c in codes if c != ALL_COUNTRIES]
    for c in codes:
        check_state(ds, c)
    check_as_of(ds, as_of)
    if all_countries:
        codes += coalition_countries(ds, as_of)
    return list(dict.fromkeys(codes))


def _data_facts(data: Path, data_hash: str | None, *, countries: Sequence[str], all_countries: bool,
                as_of: str) -> dict[str, Any]:
    """``{"codes": [...], "as_of_date": "YYYY-MM-DD"}``: the countries to build (:func:`_countries`)
    and the date the reports are as of, from the validated data package.

    Kept in the user's cache under the data hash, the package code, the arguments and today's
    date (the newest date a brief may claim is never later than today), so that a build of data
    that was validated before neither loads it nor imports pandas in this process (~0.6 s of a
    profile build's ~1.7 s; the kernels read the validated tables themselves). Data that fails validation,
    or a code or date the data refuses, is never kept: it raises here every time."""
    import gc
    import json
    from datetime import date

    from .files import SMALL_KEEP, keep_private, read_private, user_cache_dir
    from .hashing import code_hash, digest

    key = digest({"data": data_hash, "code": code_hash(), "today": date.today().isoformat(), "as_of": as_of,
                  "countries": [str(c).strip().upper() for c in countries], "all": bool(all_countries)})
    path = user_cache_dir() / f"plan-{key[:32]}.json"
    raw = read_private(path) if data_hash else None
    if raw is not None:
        try:
            facts = json.loads(raw)
        except ValueError:
            facts = None
        if (isinstance(facts, dict) and isinstance(facts.get("as_of_date"), str)
                and isinstance(facts.get("codes"), list) and all(isinstance(c, str) for c in facts["codes"])):
            return facts
    from .data import check_as_of, load_data

    ds = load_data(data)  # validates; raises with every problem
    facts = {"codes": _countries(ds, countries, all_countries, as_of),
             "as_of_date": str(check_as_of(ds, as_of) or ds.knowledge_date)}
    # The plan is made: the kernels load their own (cached) copy, so this one is let go now,
    # not held beside theirs for the whole build (x100 the rows: ~0.3 GB).
    del ds
    gc.collect()
    if data_hash:
        keep_private(path, json.dumps(facts), keep=SMALL_KEEP)  # if it cannot be kept: worked out again next time
    return facts


def _jobs(codes: list[str], *, given: Mapping[str, Any], brief: bool, compare_to: str | Path | None,
          notebook_dir: str | Path | None) -> list[Job]:
    """One job per report, ``given`` checked against the notebooks' declared parameters."""
    from .params import param_error

    notebooks = (["coalition_brief"] if brief else []) + (["country_profile"] if codes else [])
    declared = {nb: _declared(nb, notebook_dir) for nb in notebooks}
    for name, value in given.items():
        if notebooks and not any(name in d for d in declared.values()):
            known = sorted(set().union(*declared.values()))
            raise param_error(" and ".join(notebooks), name, value, "unknown parameter (not declared in the "
                              "notebook's parameters cell)", "known parameters", known)

    def own(notebook: str) -> dict[str, Any]:
        return {k: v for k, v in given.items() if k in declared[notebook]}

    jobs = []
    if brief:
        jobs.append(Job(BRIEF_BASENAME, "coalition_brief", own("coalition_brief"), "manifest.json"))
    for c in codes:
        jobs.append(Job(f"country-{c}", "country_profile", {**own("country_profile"), "country": c},
                        f"country-{c}.manifest.json"))
    if compare_to is not None and str(compare_to) != "":
        _assign_compare_to(jobs, Path(compare_to))
    return jobs


def _assign_compare_to(jobs: list[Job], path: Path) -> None:
    from .render.context import previous_snapshot
    from .snapshot import load_snapshot, resolve_snapshot

    path = path.expanduser()
    if path.is_dir():
        for job in jobs:  # "" when this report has no previous build there: the report says so
            job.params["compare_to"] = str(previous_snapshot(path, job.manifest_name, job.name) or "")
        return
    if not path.is_file():
        raise ParameterError("compare_to", str(path), "not an existing file or folder (a previous build's "
                                                      "snapshot, its manifest, or its output folder)")
    if len(jobs) != 1:
        raise ParameterError("compare_to", str(path), f"a file compares with one report, not {len(jobs)}; "
                                                      "to compare several, give the previous build's output folder")
    load_snapshot(path)  # fails now, before anything runs, when it is not a snapshot or manifest
    jobs[0].params["compare_to"] = str(resolve_snapshot(path))


# ============================================================================================
# Running the reports
# ============================================================================================
def build_reports(*, as_of: str = "", currency: str | None = None, formats: Sequence[str] = ("html", "pdf"),
                  out_dir: str | Path | None = None, data_dir: str | Path | None = None,
                  countries: Sequence[str] = (), brief: bool = True, top_n: int | None = None,
                  params: Mapping[str, Any] | None = None,
                  all_countries: bool = False, jobs: int | None = None,
                  compare_to: str | Path | None = None, progress: bool = True,
                  notebook_dir: str | Path | None = None, force: bool = False) -> list[Outcome]:
    """Build every report; one failure does not stop the others. Returns one outcome per report.

    Data, country codes, parameters, as-of date and ``compare_to`` are checked once, before
    anything runs (:class:`DataValidationError` / :class:`ParameterError`): each report's
    :class:`~coalition_report.render.BuildContext` is resolved up front. Only parameters the
    caller gives are passed (``as_of``, ``currency``, ``top_n`` and ``data_dir`` are shorthands
    for entries of ``params``); the notebooks' declared defaults apply to the rest. ``jobs``:
    worker processes (default: one per CPU, at most 4, never more than reports; a single report
    runs in this process). ``progress``: a line per step (one report), or a live display per
    report on a terminal and ``[report] ✓ step 1.2s`` lines otherwise. The output folder's
    ``index.html`` is rewritten at the end.
    """
    from .render.cache import cached_result
    from .render.context import FORMATS, resolve_context

    fmts = (formats,) if isinstance(formats, str) else tuple(formats)
    if not fmts or any(f not in FORMATS for f in fmts):
        raise ParameterError("format", ",".join(map(str, fmts)), f"allowed: a comma list of {', '.join(FORMATS)}")
    if jobs is not None and jobs < 1:
        raise ParameterError("jobs", jobs, "must be at least 1")
    from .render.locks import check_outside_data

    check_outside_data("build", out_dir or config.REPORTS_DIR, data_dir or config.DATA_DIR)
    data = Path(data_dir or config.DATA_DIR).resolve()
    out = Path(out_dir or config.REPORTS_DIR).resolve()
    given = given_params(as_of=as_of, currency=currency, data_dir=data if data_dir is not None else None,
                         top_n=top_n, params=params)
    if not force and brief and not countries and not all_countries and compare_to is None and not as_of:
        # The common rebuild: the brief alone, as of the newest date. If nothing changed since the
        # last build (same data hash: that data was validated then) there is nothing to load.
        job = Job(BRIEF_BASENAME, "coalition_brief", dict(given), "manifest.json")
        try:
            hit = cached_result(resolve_context(job.notebook, job.params, out_dir=out, formats=fmts,
                                                   basename=job.name, notebook_dir=notebook_dir,
                                                   manifest_name=job.manifest_name))
        except CoalitionReportError:
            hit = None  # let the full path report the problem
        if hit is not None:
            if progress:
                print(f"unchanged: {job.name} (notebook, code, parameters and data as in the last build; "
                      "--force rebuilds)", file=sys.stderr)
            return [Outcome(job, result=hit)]
    from .params import validate_params

    try:
        digest = hash_directory(data)
    except OSError:  # no such folder: validation says so, as a problem of the data package
        digest = None
    facts = _data_facts(data, digest, countries=countries, all_countries=all_countries,
                        as_of=str(given.get("as_of") or ""))
    digest = digest or hash_directory(data)
    plan = _jobs(facts["codes"], given=given, brief=brief, compare_to=compare_to, notebook_dir=notebook_dir)
    if not plan:
        return []
    for job in plan:  # every parameter checked before any folder or file is made
        validate_params(job.notebook, job.params, notebook_dir=notebook_dir)
    as_of_date = facts["as_of_date"]
    contexts = {job.name: resolve_context(job.notebook, job.params, out_dir=out, formats=fmts, basename=job.name,
                                          manifest_name=job.manifest_name, notebook_dir=notebook_dir,
                                          data_hash=digest, as_of_date=as_of_date) for job in plan}
    n = jobs or min(os.cpu_count() or 1, 4)
    n = max(1, min(n, len(plan)))
    try:
        if len(plan) == 1:
            outcomes = [_run_here(plan[0], contexts[plan[0].name], force, progress=progress)]
        else:
            display = BatchDisplay([j.name for j in plan], enabled=progress)
            try:
                if n == 1:
                    from .render.kernel import reuse_kernels, stop_warm_kernels

                    reuse_kernels()  # one kernel runs the profiles one after another
                    try:
                        outcomes = [_run_here(j, contexts[j.name], force, progress=display.callback(j.name),
                                              display=display) for j in plan]
                    finally:
                        stop_warm_kernels()
                else:
                    outcomes = _run_pool(plan, contexts, force, n, display)
            finally:
                display.close()
    except BaseException as exc:
        # Interrupted (SIGINT, SIGTERM, SIGHUP) or failed mid-batch: each report is published
        # whole or not at all, and index.html is rewritten for exactly what is published now.
        from .errors import BuildInterrupted
        from .render.signals import signals_deferred

        with signals_deferred():
            _index_quietly(out)
        if isinstance(exc, BuildInterrupted) and len(plan) > 1:
            raise BuildInterrupted(exc.signum, (
                f"interrupted by {exc.signame}: the reports finished before it are published and listed in "
                f"{out / INDEX_NAME}; the others were not published (their previous files, if any, are "
                "untouched) and temporary files removed")) from None
        raise
    out.mkdir(parents=True, exist_ok=True)
    write_index(out, failed=[o.job.name for o in outcomes if not o.ok])
    return outcomes


def _index_quietly(out: Path) -> None:
    """Rewrite ``index.html`` on the way out of an interrupted batch (never masks the interruption)."""
    try:
        if out.is_dir():
            write_index(out)
    except Exception as exc:  # the interruption is what the user must hear about
        print(f"warning: could not rewrite {out / INDEX_NAME}: {exc}", file=sys.stderr)


def build_all(*, as_of: str = "", currency: str | None = None, formats: Sequence[str] = ("html", "pdf"),
              out_dir: str | Path | None = None, data_dir: str | Path | None = None,
              countries: Sequence[str] = (), brief: bool = True, top_n: int | None = None,
              params: Mapping[str, Any] | None = None,
              progress: bool = True, all_countries: bool = False, jobs: int | None = None,
              compare_to: str | Path | None = None, notebook_dir: str | Path | None = None,
              force: bool = False) -> list[BuildResult]:
    """Build the brief (``coalition-brief.*``) and one profile per country (``country-ISO3.*``).

    The data package is validated once up front (a :class:`DataValidationError` lists every
    problem); country codes are checked against the states in ``actors.csv`` before anything runs.
    Returns the results in order. A single report that fails raises its own error
    (:class:`BuildError`); when several reports are built, the others still build and
    :class:`BuildFailures` names the failed ones. See :func:`build_reports` for the arguments.
    """
    outcomes = build_reports(as_of=as_of, currency=currency, formats=formats, out_dir=out_dir, data_dir=data_dir,
                             countries=countries, brief=brief, top_n=top_n, params=params,
                             all_countries=all_countries, jobs=jobs, compare_to=compare_to, progress=progress,
                             notebook_dir=notebook_dir, force=force)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        if len(outcomes) == 1 and failed[0].exception is not None:
            raise failed[0].exception
        raise BuildFailures(outcomes)
    return [o.result for o in outcomes]


def _run_here(job: Job, ctx: BuildContext, force: bool, *, progress: Any,
              display: "BatchDisplay | None" = None) -> Outcome:
    from .render import render_context

    t0 = time.perf_counter()
    try:
        result = render_context(ctx, progress=progress, force=force)
        outcome = Outcome(job, result=result, seconds=time.perf_counter() - t0)
    except CoalitionReportError as exc:
        outcome = Outcome(job, error=str(exc), exception=exc, seconds=time.perf_counter() - t0)
    except Exception as exc:  # a bug in one report must not stop the others; its message is the outcome
        outcome = Outcome(job, error=f"{type(exc).__name__}: {exc}", exception=exc,
                          seconds=time.perf_counter() - t0)
    if display is not None:
        display.finished(outcome)
    return outcome


# -- worker processes -----------------------------------------------------------------------
def _worker(job: Job, ctx: BuildContext, force: bool, events: Any) -> dict[str, Any]:
    """Run one report in a worker process; step events go to ``events`` (a manager queue)."""
    from .render import render_context, stop_on_signals
    from .render.signals import settle_after_stop

    def callback(step: str, state: str, seconds: float) -> None:
        events.put((job.name, step, state, seconds))

    t0 = time.perf_counter()
    try:
        with stop_on_signals():  # SIGTERM from the parent: clean up
            result = render_context(ctx, progress=callback, force=force)
        return {"result": result, "seconds": time.perf_counter() - t0}
    except KeyboardInterrupt:
        settle_after_stop()  # this worker is stopping: its half-built debris stays quiet
        raise
    except CoalitionReportError as exc:
        return {"error": str(exc), "seconds": time.perf_counter() - t0}
    except Exception as exc:  # reported as this report's outcome
        return {"error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - t0}


def _worker_init() -> None:
    """A batch worker keeps its kernel for its next report of the same notebook (as a
    one-process batch does): a profile then skips the kernel's start and imports, ~1.2 s of CPU.

    A report runs inside :func:`~coalition_report.render.stop_on_signals`; between reports a stop
    signal (the batch's SIGTERM when it is interrupted, SIGHUP) would end the worker on the spot
    and leave the kept kernel and its folder. This handler kills the kernel and closes the kept
    browser directly (no event loop in a signal handler) and exits at once, before any other
    thread could print: nothing is being published between reports."""
    import signal

    from .render.browser import close_shared_browser
    from .render.kernel import kill_warm_kernels, reuse_kernels

    def stop(signum: int, frame: Any) -> None:
        try:
            kill_warm_kernels()
            close_shared_browser()
        finally:
            os._exit(128 + signum)

    reuse_kernels()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # an inherited "ignore" is honoured
            signal.signal(sig, stop)


def _run_pool(plan: list[Job], contexts: Mapping[str, BuildContext], force: bool, n: int,
              display: "BatchDisplay") -> list[Outcome]:
    import multiprocessing as mp
    from multiprocessing.managers import SyncManager

    from .render.locks import Scratch, short_temp_parent

    # spawn: workers start clean (no copy of this process's threads, locks or rich console).
    mp_ctx = mp.get_context("spawn")
    # The manager listens on a Unix socket: under a long TMPDIR its default path is too long
    # to bind ("AF_UNIX path too long"), so it goes in a private folder under /tmp.
    sockets = Scratch("cr-batch-", short_temp_parent())
    try:
        with SyncManager(address=str(sockets.path / "m"), ctx=mp_ctx) as manager:
            return _run_workers(plan, contexts, force, n, display, mp_ctx, manager.Queue())
    finally:
        sockets.remove()


def _run_workers(plan: list[Job], contexts: Mapping[str, BuildContext], force: bool, n: int,
                 display: "BatchDisplay", mp_ctx: Any, events: Any) -> list[Outcome]:
    """The reports in ``n`` worker processes; their step events arrive on ``events`` (a manager
    queue: put() returns once queued, so every event precedes its result)."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    outcomes: dict[str, Outcome] = {}
    # Each worker keeps its kernel between reports (_worker_init). Turned off once after a CI run
    # where the batch's interruption met a kept kernel's reset with its heartbeat thread running
    # (its traceback on stderr); the reset has opened no heartbeat channel since.
    pool = ProcessPoolExecutor(max_workers=n, mp_context=mp_ctx, initializer=_worker_init)
    try:
        futures = {pool.submit(_worker, job, contexts[job.name], force, events): job for job in plan}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(events, display)
            for fut in done:
                job = futures[fut]
                try:
                    got = fut.result()
                except BaseException as exc:  # the worker died (killed, out of memory)
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    got = {"error": f"worker process failed: {type(exc).__name__}: {exc}", "seconds": 0.0}
                outcome = Outcome(job, result=got.get("result"), error=got.get("error"),
                                  seconds=got.get("seconds", 0.0))
                outcomes[job.name] = outcome
                display.finished(outcome)
        _drain(events, display)
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            try:
                proc.terminate()  # SIGTERM: each worker cleans up its kernel and temp folder
            except OSError:
                continue  # already gone
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [outcomes[j.name] for j in plan]


def _drain(events: Any, display: "BatchDisplay") -> None:
    import queue

    while True:
        try:
            name, step, state, seconds = events.get_nowait()
        except queue.Empty:
            return
        except (EOFError, OSError):
            return
        display.event(name, step, state, seconds)


# -- progress display -----------------------------------------------------------------------
class BatchDisplay:
    """A live line per report on a terminal (rich); ``[report] ✓ step 1.2s`` lines otherwise."""

    def __init__(self, names: list[str], *, enabled: bool = True):
        self.enabled = enabled
        self.live = None
        self.tasks: dict[str, Any] = {}
        self.done: set[str] = set()
        if not enabled:
            return
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        if self.console.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(SpinnerColumn(), TextColumn("{task.fields[report]:<16}"),
                                 TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=self.console, transient=False)
            for name in names:
                self.tasks[name] = self.live.add_task("waiting", report=name, total=None, start=False)
            self.live.start()

    def callback(self, name: str) -> Callable[[str, str, float], None]:
        return lambda step, state, seconds: self.event(name, step, state, seconds)

    def event(self, name: str, step: str, state: str, seconds: float) -> None:
        if not self.enabled or name in self.done:
            return
        if self.live is not None:
            task = self.tasks[name]
            if state == "start":
                self.live.start_task(task)
                self.live.update(task, description=f"{step} …")
            elif state == "failed":
                self.live.update(task, description=f"[red]{step} failed[/red]")
            return
        if state != "start":
            mark = "✓" if state == "done" else "✗"
            self._line(f"[{name}] {mark} {step} {seconds:.1f}s" + ("" if state == "done" else " failed"))

    def finished(self, outcome: Outcome) -> None:
        name = outcome.job.name
        self.done.add(name)
        if not self.enabled:
            return
        if self.live is not None:
            task = self.tasks[name]
            text = "[green]✓ built[/green]" if outcome.ok else "[red]✗ failed[/red]"
            self.live.update(task, description=text, total=1, completed=1)
            self.live.stop_task(task)
            return
        if outcome.ok:
            self._line(f"[{name}] ✓ built in {outcome.seconds:.1f}s")
        else:
            first = (outcome.error or "").splitlines()[0] if outcome.error else "failed"
            self._line(f"[{name}] ✗ failed after {outcome.seconds:.1f}s: {first}")

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


# ============================================================================================
# index.html
# ============================================================================================
_INDEX_CSS = """
:root { --ink: #1c1f24; --muted: #5b6270; --accent: #1f3a5f; --rule: #d4d8de; --soft: #f4f6f8;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
body { margin: 0 auto; padding: 2.5rem 1.25rem 3rem; max-width: 56rem; color: var(--ink); background: #fff;
  font-family: var(--sans); font-size: 1rem; line-height: 1.5; }
h1, h2 { color: var(--accent); line-height: 1.25; }
h1 { font-size: 1.9rem; margin: 0 0 0.4rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.6rem; padding-top: 0.5rem; border-top: 1px solid var(--rule); }
p.dateline { color: var(--muted); margin: 0 0 1.5rem; }
a { color: var(--accent); text-underline-offset: 0.15em; }
table { border-collapse: collapse; font-size: 0.92rem; width: 100%; }
thead th { border-bottom: 1.5px solid var(--ink); text-align: left; font-weight: 600; }
th, td { padding: 0.35rem 0.8rem 0.35rem 0; vertical-align: top; }
tbody tr { border-bottom: 1px solid var(--rule); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.failed { color: #9b1c1c; font-weight: 600; }
.muted { color: var(--muted); }
"""
_FORMAT_LABELS = {"html": "HTML", "pdf": "PDF", "ipynb": "notebook"}


def _read_manifests(out: Path) -> list[tuple[str, dict]]:
    found = []
    for path in sorted([out / "manifest.json", *out.glob("*.manifest.json")]):
        if not path.is_file():
            continue
        try:  # size and depth limits: a crafted manifest is left out, never a RecursionError
            doc = read_bounded(path, max_bytes=8 * 1024 * 1024)
        except (OSError, JSONLimitError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("outputs"), list):
            found.append((path.name, doc))
    return found


def _safe_name(name: Any) -> str | None:
    name = str(name or "")
    return name if name and "/" not in name and "\\" not in name and not name.startswith(".") else None


def write_index(out_dir: str | Path, *, failed: Sequence[str] = ()) -> Path:
    """Write ``index.html`` in ``out_dir``: every report whose manifest is there, linked with its
    as-of date, currency and files. Static, offline (no scripts, no external requests), every
    value escaped; ``failed`` reports are marked (their previous files, if any, stay listed)."""
    out = Path(out_dir)
    esc = html.escape
    rows: dict[str, list[str]] = {"brief": [], "profiles": []}
    listed: set[str] = set()
    entries = []
    for manifest_name, doc in _read_manifests(out):
        report = doc.get("report") if isinstance(doc.get("report"), dict) else {}
        params = doc.get("parameters") if isinstance(doc.get("parameters"), dict) else {}
        name = manifest_name.removesuffix(".manifest.json") if manifest_name != "manifest.json" else None
        files = []
        for o in doc["outputs"]:
            fname = _safe_name(o.get("file")) if isinstance(o, dict) else None
            if fname and (out / fname).is_file():
                files.append((str(o.get("format", "")), fname, o.get("bytes")))
        if name is None and files:
            name = files[0][1].rsplit(".", 1)[0]
        kind = "profiles" if doc.get("notebook") == "country_profile" else "brief"
        entries.append((kind, str(report.get("title") or name or manifest_name), name, report, params, files,
                        manifest_name))
    from .display import format_date

    for kind, title, name, report, params, files, manifest_name in sorted(entries, key=lambda e: (e[0], e[1])):
        links = " · ".join(
            f'<a href="{esc(quote(f))}">{esc(_FORMAT_LABELS.get(fmt, fmt))}</a>'
            + (f' <span class="muted">({int(b) / 1e6:.1f} MB)</span>' if isinstance(b, (int, float)) else "")
            for fmt, f, b in files) or '<span class="muted">no files</span>'
        status = ""
        if name in failed:
            status = ' <span class="failed">(the last build of this report failed; these are the previous files)</span>'
        listed.add(name or "")
        as_of = str(report.get("as_of") or params.get("as_of") or "")
        rows[kind].append(
            f"<tr><td>{esc(title)}{status}</td><td class=\"num\">{esc(format_date(as_of) or '–')}</td>"
            f"<td>{esc(str(params.get('currency') or '–'))}</td><td>{links}</td>"
            f'<td><a href="{esc(quote(manifest_name))}">manifest</a></td></tr>')
    for name in failed:
        if name not in listed:
            rows["profiles" if name.startswith("country-") else "brief"].append(
                f'<tr><td>{esc(name)} <span class="failed">(failed; never built here)</span></td>'
                "<td>–</td><td>–</td><td>–</td><td>–</td></tr>")
    head = ("<thead><tr><th>Report</th><th>As of</th><th>Currency</th><th>Files</th><th>Details</th>"
            "</tr></thead>")
    parts = []
    for kind, label in (("brief", "Brief"), ("profiles", "Country profiles")):
        if rows[kind]:
            parts.append(f"<h2>{label} ({len(rows[kind])})</h2><table>{head}<tbody>{''.join(rows[kind])}</tbody></table>")
    n = sum(len(v) for v in rows.values())
    body = "".join(parts) or "<p>No reports have been built in this folder yet.</p>"
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'\">\n"
        "<title>Coalition of the willing: reports</title>\n"
        f"<style>{_INDEX_CSS}</style>\n</head>\n<body>\n<main>\n"
        "<h1>Coalition of the willing: reports</h1>\n"
        f"<p class=\"dateline\">{n} report{'s' if n != 1 else ''} in this folder, each with its as-of date, "
        "display currency and files; the manifest lists parameters, data and hashes.</p>\n"
        f"{body}\n</main>\n</body>\n</html>\n")
    return write_atomic(out / INDEX_NAME, page)


def print_summary(outcomes: Sequence[Outcome], stream=None) -> None:
    """A table of every report: built or failed, as-of date, currency, time, files or the error."""
    stream = stream or sys.stderr
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, highlight=False)
    table = Table(title=None, show_edge=False, pad_edge=False)
    for col, just in (("report", "left"), ("result", "left"), ("as of", "left"), ("currency", "left"),
                      ("time", "right"), ("files / error", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for o in outcomes:
        if o.ok:
            r = o.result
            table.add_row(*map(Text, (o.job.name, "✓ built", str(r.as_of or "–"), str(r.params.get("currency", "")),
                                      f"{o.seconds:.1f}s", ", ".join(sorted(r.outputs)))))
        else:
            first = (o.error or "failed").splitlines()[0]
            table.add_row(*map(Text, (o.job.name, "✗ FAILED", "–", str(o.job.params.get("currency", "")),
                                      f"{o.seconds:.1f}s", first)))
    console.print(table)
