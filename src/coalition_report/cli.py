"""Command line: ``coalition-report validate | build | preview | import-kiel``.

Bad data, bad parameters and failed builds end with a clear message and a non-zero exit code,
never a traceback (exit 1: data or build problem; exit 2: usage error).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from . import config
from .errors import PROBLEM_LIMIT, CoalitionReportError, DataValidationError, ParameterError
from .textsafe import printable

EXAMPLES = """examples:
  coalition-report validate
  coalition-report validate --data tests/data/bad_dates
  coalition-report build
  coalition-report build --as-of 2025-06-30 --currency GBP --format html
  coalition-report build -p top_n=10 -p currency=USD
  coalition-report build --params my-brief.yaml
  coalition-report build --country GBR --country FRA --out /tmp/briefs
  coalition-report build --all-countries --jobs 2 --format html
  coalition-report build --compare-to /tmp/last-month/manifest.json
  coalition-report preview notebooks/coalition_brief.ipynb -p currency=USD --port 8765
  coalition-report import-kiel ~/Downloads/Ukraine_Support_Tracker_Release_29.xlsx
  coalition-report import-kiel --src data/kiel
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="coalition-report", description="Sourced policy brief on the coalition of the willing.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("validate", help="validate the data package and print a summary")
    v.add_argument("--data", type=Path, default=None, help="data directory (default: data/)")
    v.add_argument("--all", action="store_true",
                   help=f"print every problem (default: at most {PROBLEM_LIMIT} per file and rule)")

    b = sub.add_parser("build", help="execute the notebooks and export HTML/PDF")
    b.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter the notebook declares in its parameters cell (repeatable); "
                        "parameters not given keep the notebook's defaults")
    b.add_argument("--params", type=Path, default=None, metavar="FILE.yaml",
                   help="parameters from a YAML mapping NAME: VALUE (-p and the named options win)")
    b.add_argument("--as-of", default="", help="shorthand for -p as_of=YYYY-MM-DD (default: the notebook's, "
                                               "the newest date in the data)")
    b.add_argument("--currency", default=None, help="shorthand for -p currency=EUR|USD|GBP (default: the notebook's)")
    b.add_argument("--format", default="html,pdf",
                   help="comma list of html, pdf and ipynb (the executed notebook) (default html,pdf); "
                        "a report's files of formats not built this time are removed")
    b.add_argument("--out", type=Path, default=None,
                   help="output directory (default: reports/); it also gets index.html, linking every report in it")
    b.add_argument("--data", type=Path, default=None, help="data directory (default: data/)")
    b.add_argument("--country", action="append", default=[], metavar="ISO3",
                   help="also build a country profile (repeatable); ALL = every coalition member")
    b.add_argument("--all-countries", action="store_true",
                   help="build the profile of every coalition member (as of --as-of)")
    b.add_argument("--no-brief", action="store_true", help="build only the country profiles")
    b.add_argument("--force", action="store_true",
                   help="rebuild even when notebook, code, parameters and data are unchanged (no cache)")
    b.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="reports built in parallel (worker processes; default: one per CPU, at most 4)")
    b.add_argument("--pdf-engine", choices=("auto", "chromium", "weasyprint"), default=None,
                   help="what lays out the PDF: auto (default; Chromium when installed and the brief has no "
                        "footnotes, else WeasyPrint), chromium or weasyprint. Also COALITION_PDF_ENGINE")
    b.add_argument("--compare-to", type=Path, default=None, metavar="PATH",
                   help="'what changed' compares with this previous build: its manifest or snapshot (one "
                        "report), or its output folder (default: the previous build in --out)")

    pv = sub.add_parser("preview", help="serve the HTML on localhost, rebuilt and reloaded when you save",
                        description="Serve the brief's HTML page on 127.0.0.1 with a warm kernel; rebuild when "
                                    "the notebook, src/ or data/ changes and reload the page. A Markdown edit is "
                                    "re-exported without running code; a code edit re-runs from the first "
                                    "changed cell. HTML only.")
    pv.add_argument("notebook", type=Path, nargs="?", default=config.NOTEBOOK_DIR / "coalition_brief.ipynb",
                    help="the notebook to preview (default: notebooks/coalition_brief.ipynb)")
    pv.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                    help="set a parameter the notebook declares (repeatable)")
    pv.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free port)")

    k = sub.add_parser("import-kiel", help="import a Kiel Ukraine Support Tracker release into data/",
                       description="Import the workbook Kiel publishes (or, with --src, processed tables): "
                                   "validate, replace the aid tables atomically, add the release to "
                                   "sources.csv and report the changes per donor.")
    k.add_argument("workbook", type=Path, nargs="?", default=None,
                   help="Kiel's workbook, e.g. Ukraine_Support_Tracker_Release_29.xlsx")
    k.add_argument("--src", type=Path, default=None,
                   help="instead of a workbook: folder with processed tables (bilateral_activities.csv, "
                        "country_summary.csv, PROVENANCE.md naming the release), as data/kiel/")
    k.add_argument("--release", type=int, default=None,
                   help="release number, only needed when the input does not name it (checked otherwise)")
    k.add_argument("--data", type=Path, default=None, help="data directory to write (default: data/)")
    k.add_argument("--url", default=None, help="where the workbook was downloaded (recorded in sources.csv)")
    k.add_argument("--report", type=Path, default=None,
                   help="also write the difference report to this file (e.g. a pull-request body)")
    return p


def _validate(args) -> int:
    from .data import load_data
    data_dir = args.data or config.DATA_DIR
    ds = load_data(data_dir)  # raises DataValidationError with every problem
    cov = ds.coverage()
    print(f"data package {data_dir}: 0 problems")
    print(f"{'table':<20}{'rows':>7}  {'first':<11}{'last':<11}{'undated':>8}{'sources':>8}")
    for r in cov.itertuples(index=False):
        print(f"{r.table:<20}{r.rows:>7}  {str(r.first_date or '-'):<11}{str(r.last_date or '-'):<11}"
              f"{r.undated_rows:>8}{r.sources:>8}")
    print(f"newest date: {ds.newest_date}; sources: {len(ds.sources)}; "
          f"rows: {int(cov['rows'].sum())} in {len(cov)} tables")
    return 0


def _import_kiel(args) -> int:
    if (args.workbook is None) == (args.src is None):
        print("error: import-kiel takes a workbook or --src DIR (one of them)", file=sys.stderr)
        return 2
    if args.release is not None and args.release < 1:
        print(f"error: --release must be a positive integer, got {args.release}", file=sys.stderr)
        return 2
    from .kiel import import_kiel
    from .kiel_workbook import import_workbook
    read = import_kiel if args.workbook is None else import_workbook
    result = read(args.src or args.workbook, args.data or config.DATA_DIR, release=args.release,
                  url=args.url, report=args.report)  # --report: written in the import's transaction
    print(result.summary())
    return 0


def _given(args) -> dict:
    """``--params FILE.yaml`` then ``-p NAME=VALUE`` (later wins); values stay as typed in YAML,
    strings from ``-p`` (the notebook's rule converts ``"10"`` for an int parameter)."""
    given: dict = {}
    if args.params is not None:
        import yaml

        try:
            doc = yaml.safe_load(args.params.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ParameterError("--params", str(args.params), exc.strerror or str(exc)) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None)
            raise ParameterError("--params", str(args.params),
                                 f"{where}not valid YAML" + (f" ({problem})" if problem else "")) from None
        if doc is None:
            doc = {}
        if not isinstance(doc, dict) or not all(isinstance(k, str) for k in doc):
            raise ParameterError("--params", str(args.params), "must be a YAML mapping NAME: VALUE")
        given.update(doc)
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ParameterError("-p", item, "expected NAME=VALUE, NAME a parameter of the notebook")
        given[name.strip()] = value
    return given


def _build(args) -> int:
    from .build import INDEX_NAME, BuildFailures, build_reports, print_summary
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    if args.pdf_engine:  # read by every build, in this process and in the batch's workers
        os.environ["COALITION_PDF_ENGINE"] = args.pdf_engine
    out = args.out or config.REPORTS_DIR
    outcomes = build_reports(as_of=args.as_of, currency=args.currency, formats=formats, out_dir=out,
                             params=_given(args),
                             data_dir=args.data, countries=args.country, brief=not args.no_brief,
                             all_countries=args.all_countries, jobs=args.jobs, compare_to=args.compare_to,
                             force=args.force)
    for o in outcomes:
        if not o.ok:
            continue
        r = o.result
        verb = "unchanged" if r.cache == "unchanged" else "wrote"
        for path in [*r.outputs.values(), *([r.snapshot] if r.snapshot else []), r.manifest_path]:
            print(f"{verb} {path} ({path.stat().st_size / 1e6:.1f} MB)")
        for w in r.warnings:
            print(f"warning: {o.job.name}: {w}", file=sys.stderr)
    if len(outcomes) > 1:
        print_summary(outcomes)
    index = Path(out) / INDEX_NAME
    if outcomes and index.is_file() and any(not o.ok or o.result.cache != "unchanged" for o in outcomes):
        print(f"wrote {index}")
    failed = [o for o in outcomes if not o.ok]
    if len(outcomes) == 1 and failed and failed[0].exception is not None:
        raise failed[0].exception  # one report: its own message and exit code, as before
    if failed:
        raise BuildFailures(outcomes)  # names every failed report; exit 1
    return 0


def _preview(args) -> int:
    from .render.preview import serve

    if not args.notebook.is_file():
        raise ParameterError("notebook", str(args.notebook), "notebook file not found")
    if not 0 <= args.port <= 65535:
        raise ParameterError("--port", str(args.port), "a port number from 0 to 65535")
    args.params = None
    return serve(args.notebook, _given(args), port=args.port)


def _eprint(text: str) -> None:
    """Print to stderr even when its encoding cannot show every character of the data."""
    enc = getattr(sys.stderr, "encoding", None) or "utf-8"
    print(text.encode(enc, "backslashreplace").decode(enc, "replace"), file=sys.stderr)


#: errno values meaning "that path cannot be used" (a usage error, exit 2), not a fault (exit 1).
_BAD_PLACE = {errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.EACCES, errno.EPERM,
              errno.EROFS, errno.ENOENT, errno.ENAMETOOLONG}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"validate": _validate, "build": _build, "preview": _preview,
               "import-kiel": _import_kiel}[args.command]
    from .render.signals import stop_on_signals
    try:
        with stop_on_signals():  # SIGTERM/SIGHUP too: clean up, one line, exit 128 + signal
            return handler(args)
    except DataValidationError as exc:
        every = getattr(args, "all", False)
        hint = "use --all" if args.command == "validate" else "see them all with: coalition-report validate --all"
        try:
            for line in exc.lines(None if every else PROBLEM_LIMIT, hint):
                _eprint(line)
            print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        except BrokenPipeError:  # e.g. `2>&1 | head`
            sys.stderr = open(os.devnull, "w")
        return 1
    except ParameterError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except CoalitionReportError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # BuildInterrupted says what happened to the outputs
        from .render.signals import settle_after_stop
        settle_after_stop()  # the stop's half-built debris: no traceback after the one line
        print(f"error: {printable(str(exc)) or 'interrupted'}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except BrokenPipeError:
        # output piped into a reader that stopped early (e.g. `| head`): not an error
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:  # the file system said no: one line naming the place, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {printable(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 2 if exc.errno in _BAD_PLACE else 1
    except RuntimeError as exc:
        if "Symlink loop" not in str(exc):  # pathlib's way of saying ELOOP
            raise
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
