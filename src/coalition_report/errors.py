"""One base exception; subclasses carry structured fields so callers never parse messages."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

#: Problems printed per (file, rule) before "... and K more": a million duplicate ids are one
#: finding, not a million lines.
PROBLEM_LIMIT = 50


class CoalitionReportError(Exception):
    """Base class of every error this package raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One data problem: where it is and which rule it breaks.

    ``line`` is the 1-based physical line in ``file`` (the header is line 1); ``None`` when the
    problem concerns the whole file.
    """

    file: str
    line: int | None
    column: str | None
    value: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.column:
            parts.append(f"column {self.column!r}")
        if self.value is not None:
            parts.append(f"value {_short(self.value)!r}")
        return ": ".join(parts) + f": rule {self.rule}: {self.message}"


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def format_problems(problems: Iterable[Problem], limit: int | None = PROBLEM_LIMIT,
                    hint: str = "use --all") -> list[str]:
    """One line per problem, in order; at most ``limit`` per (file, rule), then one line
    ``file: rule r: ... and K more (hint)``. ``limit=None`` keeps every line.
    """
    problems = list(problems)
    total = Counter((p.file, p.rule) for p in problems)
    shown: Counter = Counter()
    out = []
    for p in problems:
        key = (p.file, p.rule)
        shown[key] += 1
        n = shown[key]
        if limit is None or n <= limit:
            out.append(str(p))
            if limit is not None and n == limit and total[key] > limit:
                out.append(f"{p.file}: rule {p.rule}: ... and {total[key] - limit} more ({hint})")
    return out


class DataValidationError(CoalitionReportError):
    """The data package breaks one or more rules; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        head = "\n".join(str(p) for p in self.problems[:20])
        more = "" if len(self.problems) <= 20 else f"\n… and {len(self.problems) - 20} more"
        super().__init__(f"{len(self.problems)} data problem(s):\n{head}{more}")

    def lines(self, limit: int | None = PROBLEM_LIMIT, hint: str = "use --all") -> list[str]:
        """The problems one per line, capped per file and rule (see :func:`format_problems`)."""
        return format_problems(self.problems, limit, hint)


class FxError(CoalitionReportError):
    """No recorded reference rate for a currency/date."""

    def __init__(self, currency: str, date: object, reason: str):
        self.currency, self.date, self.reason = currency, date, reason
        super().__init__(f"cannot convert {currency} on {date}: {reason}")


class ParameterError(CoalitionReportError):
    """A notebook parameter is unknown or has an invalid value."""

    def __init__(self, name: str, value: object, reason: str):
        self.name, self.value, self.reason = name, value, reason
        # repr: control characters and quotes show as escapes; shortened: a megabyte of
        # crafted text must not become a megabyte of error message.
        shown = str(name) if str(name).isidentifier() else repr(name)
        super().__init__(f"parameter {_short(shown, 60)}={_short(repr(value), 80)}: {reason}")

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback (its protocol): under plain papermill a bad
        parameter is one line naming the parameter and the rule."""
        return [f"ParameterError: {self}"]


class BuildError(CoalitionReportError):
    """A notebook failed to execute or export. ``notebook_path`` keeps the executed copy."""

    def __init__(self, notebook: str, cell: int | None, exception: str, notebook_path: str | None,
                 line: int | None = None, code: str | None = None):
        self.notebook, self.cell, self.exception, self.notebook_path = (
            notebook, cell, exception, notebook_path)
        self.line, self.code = line, code  # where in the cell, when the traceback says
        where = f"cell {cell} failed: " if cell is not None else "build failed: "
        if cell is not None and line is not None:
            where = f"cell {cell}, line {line}: {code}  -> "
        kept = f"\nexecuted notebook kept at: {notebook_path}" if notebook_path else ""
        super().__init__(f"{notebook}: {where}{exception}{kept}")


class BuildInterrupted(KeyboardInterrupt):
    """A build stopped by SIGINT, SIGTERM or SIGHUP (Ctrl-C, ``timeout``, ``kill``, a closed
    terminal). A ``KeyboardInterrupt``, so no ``except Exception`` on the way swallows it; the
    message is one line saying what happened to the outputs. Exit code: 128 + ``signum``.
    """

    def __init__(self, signum: int, message: str | None = None):
        import signal

        self.signum = signum
        try:
            self.signame = signal.Signals(signum).name
        except ValueError:
            self.signame = f"signal {signum}"
        super().__init__(message or f"interrupted by {self.signame}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
