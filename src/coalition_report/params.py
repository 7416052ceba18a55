"""Notebook parameters: the one place their rules live.

A notebook declares its parameters once, in its ``parameters`` cell: name, default, and a rule
in the trailing comment, read with papermill's :func:`papermill.inspect_notebook`::

    as_of = ""        # date or empty; knowledge cut-off YYYY-MM-DD
    currency = "EUR"  # EUR|USD|GBP; display currency
    top_n = 15        # int, 5..40; donors in the top-donor chart
    country = "GBR"   # iso3, required; the state profiled (the build must pass it)
    data_dir = ""     # directory or empty, private; data package folder

The comment before ``;`` is the rule, a comma list of:

* a type: ``str``, ``int``, ``float``, ``bool`` (default: the type of the default value);
* ``LO..HI``: a number range; ``A|B|C``: one of these values;
* ``date``, ``iso3``, ``directory``, ``file`` (a path made absolute), each optionally
  ``... or empty`` (``""`` allowed);
* ``required``: the build must pass a value (the default is for interactive runs only);
* ``private``: not shown in the report's colophon (machine-specific values such as paths).

After ``;`` comes the help text. :func:`validate_params` checks values against those rules in the
CLI, the build and inside the notebook (``brief.setup`` checks what papermill injected).
This module imports nothing heavy at import time: the notebook kernel imports it.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from . import config
from .errors import ParameterError
from .textsafe import CONTROL_ANY

__all__ = [
    "Param", "Rule", "NotebookSpec", "NOTEBOOKS", "REQUIRED", "get_notebook", "read_parameters",
    "parse_rule", "one_of", "int_between", "number_between", "iso_date", "iso3", "directory",
    "existing_file", "validate_params", "param_error", "parameter_help", "MAX_TEXT",
]

#: Longest text value accepted (a parameter is a short value, never a document).
MAX_TEXT = 1000


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Marks a parameter the build must pass (``required`` in the notebook's rule comment).
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


def number_between(lo: float, hi: float) -> Rule:
    """Number ``lo <= value <= hi``."""

    def check(v: float) -> float:
        if not lo <= v <= hi:
            raise ValueError(f"{v} is out of range")
        return v

    return Rule(f"number from {lo:g} to {hi:g}", check)


def int_between(lo: int, hi: int) -> Rule:
    """Integer ``lo <= value <= hi``."""
    rule = number_between(lo, hi)
    return Rule(f"integer from {lo} to {hi}", rule.check)


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


def iso3(*, valid: Callable[[], Iterable[str]] | None = None, allow_empty: bool = False) -> Rule:
    """ISO 3166-1 alpha-3 code (upper-cased); with ``valid``, also one of ``valid()``."""

    def check(v: str) -> str:
        if v == "" and allow_empty:
            return v
        code = v.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ValueError(f"{v!r} is not a three-letter ISO 3166-1 alpha-3 code")
        if valid is not None and code not in set(valid()):
            raise ValueError(f"{code} is not a known country")
        return code

    return Rule("ISO 3166-1 alpha-3 code, e.g. FRA" + (' or ""' if allow_empty else ""), check, valid)


def _path_rule(what: str, exists, empty_means: str, allow_empty: bool) -> Rule:
    """A path that must exist as ``what`` (checked by ``exists``), returned absolute, because the
    kernel runs in the notebooks folder, not the caller's cwd; ``""`` = ``empty_means`` when allowed."""

    def check(v: str) -> str:
        if v == "" and allow_empty:
            return v
        path = Path(v).expanduser()
        if not exists(path):
            raise ValueError(f"{v!r} is not an existing {what}")
        return str(path.resolve())

    return Rule(f"path of an existing {what}" + (f' or "" ({empty_means})' if allow_empty else ""), check)


def directory(*, allow_empty: bool = True) -> Rule:
    """An existing directory, returned as an absolute path; ``""`` = default when allowed."""
    return _path_rule("directory", Path.is_dir, "default", allow_empty)


def existing_file(*, allow_empty: bool = True) -> Rule:
    """An existing file, returned as an absolute path; ``""`` = none when allowed."""
    return _path_rule("file", Path.is_file, "none", allow_empty)


_KINDS: dict[str, Callable[..., Rule]] = {"date": iso_date, "iso3": iso3, "directory": directory,
                                          "file": existing_file}
_TYPES = {"str": str, "int": int, "float": float, "bool": bool}
_RANGE = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*\.\.\s*([+-]?\d+(?:\.\d+)?)")


def parse_rule(name: str, default: Any, comment: str) -> tuple[Param, str]:
    """The :class:`Param` a parameters-cell line declares, and its help text.

    ``comment`` is the line's trailing comment (without ``#``); see the module docstring for
    its grammar. Raises ``ValueError`` naming the token it cannot read.
    """
    spec, sep, help_text = comment.partition(";")
    if not sep:  # no ";": the whole comment is the rule when it reads as one, else help text
        try:
            return parse_rule(name, default, comment + ";")
        except ValueError:
            return parse_rule(name, default, ";" + comment)
    ptype: type | None = None
    rules: list[Rule] = []
    required = private = False
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        words = token.split()
        if token in _TYPES:
            ptype = _TYPES[token]
        elif token == "required":
            required = True
        elif token == "private":
            private = True
        elif words[0] in _KINDS and (len(words) == 1 or words[1:] == ["or", "empty"]):
            rules.append(_KINDS[words[0]](allow_empty=len(words) > 1))
        elif m := _RANGE.fullmatch(token):
            lo, hi = (float(g) for g in m.groups())
            if ptype is int or (ptype is None and isinstance(default, int) and not isinstance(default, bool)):
                rules.append(int_between(int(lo), int(hi)))
            else:
                rules.append(number_between(lo, hi))
        elif "|" in token:
            rules.append(one_of(*(v.strip() for v in token.split("|"))))
        else:
            raise ValueError(f"cannot read {token!r} in the rule comment of {name!r} (known: a type "
                             f"{'/'.join(_TYPES)}, LO..HI, A|B|C, date, iso3, directory, file, "
                             "'... or empty', required, private)")
    if ptype is None:
        ptype = type(default) if isinstance(default, (str, int, float, bool)) else str
    if len(rules) > 1:
        raise ValueError(f"parameter {name!r}: one rule per parameter, got {len(rules)}")
    return (Param(name, ptype, REQUIRED if required else default, rules[0] if rules else None,
                  public=not private), help_text.strip())


def _parameters_key(path: str) -> str | None:
    """A hash of what papermill reads to find the declarations: the ``parameters`` cell's source
    and the notebook's language (so a Markdown edit keeps the cached declarations); None if the
    notebook cannot be read here (papermill then reports it)."""
    import json

    from .hashing import digest

    try:
        with open(path, encoding="utf-8") as fh:
            nb = json.load(fh)
        cells = [c for c in nb.get("cells", []) if "parameters" in (c.get("metadata") or {}).get("tags", [])]
        meta = nb.get("metadata") or {}
        lang = ((meta.get("kernelspec") or {}).get("language"), (meta.get("language_info") or {}).get("name"))
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return digest({"parameters": [c.get("source") for c in cells], "language": lang, "v": 1})


def _declarations(path: str) -> list[tuple[str, str, str]]:
    """``(name, default source, comment)`` per declared parameter, from papermill's
    :func:`~papermill.inspect_notebook`. Kept on disk per parameters cell (:func:`_parameters_key`),
    so that an unchanged rebuild, a Markdown edit and each notebook kernel read the declaration
    without importing papermill."""
    import json

    from .files import SMALL_KEEP, keep_private, read_private, user_cache_dir
    from .hashing import sha256_file

    cache = user_cache_dir() / f"params-{_parameters_key(path) or sha256_file(path)}.json"
    raw = read_private(cache)  # like every user-cache file: only one this user alone can write
    try:
        found = json.loads(raw) if raw is not None else None
        if isinstance(found, list) and all(isinstance(x, list) and len(x) == 3 for x in found):
            return [tuple(map(str, x)) for x in found]
    except ValueError:
        pass  # damaged: read it with papermill below
    from papermill import inspect_notebook

    decl = [(name, str(info["default"]), str(info.get("help") or ""))
            for name, info in inspect_notebook(path).items()]
    keep_private(cache, json.dumps(decl), keep=SMALL_KEEP)
    return decl


@functools.lru_cache(maxsize=32)
def _read_cached(path: str, mtime_ns: int, size: int) -> tuple[tuple[Param, ...], tuple[str, ...]]:
    params, helps = [], []
    for name, source, comment in _declarations(path):
        try:
            default = ast.literal_eval(source)
        except (ValueError, SyntaxError):
            raise ParameterError(name, source, f"notebook {path}: the default in the parameters "
                                 "cell must be a plain value (string, number, True/False)") from None
        try:
            param, help_text = parse_rule(name, default, comment)
        except ValueError as exc:
            raise ParameterError(name, comment, f"notebook {path}: {exc}") from None
        params.append(param)
        helps.append(help_text)
    return tuple(params), tuple(helps)


def read_parameters(path: str | Path) -> tuple[Param, ...]:
    """The parameters a notebook's ``parameters`` cell declares (cached per file version)."""
    st = os.stat(path)
    return _read_cached(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)[0]


def parameter_help(path: str | Path) -> dict[str, str]:
    """Each declared parameter's help text (the comment after ``;``)."""
    st = os.stat(path)
    params, helps = _read_cached(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
    return {p.name: h for p, h in zip(params, helps)}


@dataclass(frozen=True)
class NotebookSpec:
    """A renderable notebook: where it lives and its parameters.

    ``params`` = ``None`` (the registry's notebooks): read from the notebook's parameters cell
    when the spec is resolved (:func:`get_notebook`). ``path`` defaults to
    ``<notebook_dir>/<name>.ipynb``. ``basename`` is the output file stem, a ``str.format``
    pattern over ``notebook`` and the parameter values.
    """

    name: str
    params: tuple[Param, ...] | None = None
    path: Path | None = None
    basename: str = "{notebook}"
    description: str = ""
    helps: dict[str, str] = field(default_factory=dict, compare=False)

    def param(self, name: str) -> Param:
        for p in self.resolved().params or ():
            if p.name == name:
                return p
        raise KeyError(name)

    def resolve_path(self, notebook_dir: str | Path | None = None) -> Path:
        if self.path is not None:
            return Path(self.path)
        return Path(notebook_dir or _notebook_dir(self.name)) / f"{self.name}.ipynb"

    def resolved(self, notebook_dir: str | Path | None = None) -> "NotebookSpec":
        """This spec with its parameters read from the notebook file (when not given)."""
        if self.params is not None:
            return self
        path = self.resolve_path(notebook_dir)
        if not path.is_file():
            raise ParameterError("notebook", str(path), "notebook file not found")
        return NotebookSpec(self.name, read_parameters(path), path.resolve(), self.basename, self.description,
                            parameter_help(path))


def _notebook_dir(name: str) -> Path:
    """Where a registered notebook is read from: inside a notebook kernel, the kernel's working
    folder when it holds that notebook (papermill and JupyterLab start the kernel there, so a
    copy being run checks its own parameters cell); otherwise the project's ``notebooks/``."""
    if "ipykernel" in sys.modules and (Path.cwd() / f"{name}.ipynb").is_file():
        return Path.cwd()
    return config.NOTEBOOK_DIR


#: The registered notebooks. Their parameters are declared in their parameters cells.
NOTEBOOKS: dict[str, NotebookSpec] = {
    "coalition_brief": NotebookSpec(
        "coalition_brief", description="Policy brief on the coalition of the willing supporting Ukraine"),
    "country_profile": NotebookSpec(
        "country_profile", basename="country_profile-{country}",
        description="One coalition member: contributions, aid and positions"),
}


def get_notebook(notebook: str | NotebookSpec, notebook_dir: str | Path | None = None) -> NotebookSpec:
    """A notebook's spec, its parameters read from its parameters cell (a spec passes through,
    resolved)."""
    if isinstance(notebook, NotebookSpec):
        return notebook.resolved(notebook_dir)
    try:
        spec = NOTEBOOKS[notebook]
    except (KeyError, TypeError):
        err = ParameterError("notebook", notebook,
                             f"unknown notebook; known: {', '.join(sorted(NOTEBOOKS))}")
        err.notebook, err.rule, err.allowed = None, "registered notebook", sorted(NOTEBOOKS)
        raise err from None
    return spec.resolved(notebook_dir)


def param_error(spec: NotebookSpec | str, name: str, value: Any, problem: str,
                rule: str | None = None, allowed: list[str] | None = None) -> ParameterError:
    """A :class:`ParameterError` naming the notebook, the problem, the rule and allowed values."""
    nb = spec.name if isinstance(spec, NotebookSpec) else str(spec)
    parts = [f"notebook {nb!r}", problem]
    if rule:
        parts.append(f"rule: {rule}")
    if allowed:
        shown = ", ".join(allowed[:40]) + (" …" if len(allowed) > 40 else "")
        parts.append(f"allowed: {shown}")
    err = ParameterError(name, value, "; ".join(parts))
    err.notebook, err.rule, err.allowed = nb, rule, allowed
    return err


def validate_params(notebook: str | NotebookSpec, params: Mapping[str, Any] | None = None, *,
                    notebook_dir: str | Path | None = None) -> dict[str, Any]:
    """Check parameters against the notebook's declaration; return all of them, defaults filled in.

    Values must be plain JSON scalars (str, int, float, bool, None): nothing else is ever
    handed to papermill, which writes them into the notebook as Python literals. Integer,
    number and true/false parameters also accept strings (``"10"``, ``"true"``) because command
    lines pass strings.

    Raises
    ------
    ParameterError
        Unknown name, missing required parameter, wrong type or a value breaking its rule; the
        message names the notebook, parameter, value, rule and (when short) allowed values.
    """
    spec = get_notebook(notebook, notebook_dir)
    params = dict(params or {})
    known = [p.name for p in spec.params]
    for name in params:
        if name not in known:
            raise param_error(spec, name, params[name], "unknown parameter (not declared in the notebook's "
                              "parameters cell)", "known parameters", known)
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name not in params:
            if p.required:
                raise param_error(spec, p.name, None, "required parameter is missing",
                                  p.rule.description if p.rule else None, _allowed(p))
            out[p.name] = p.default
            continue
        out[p.name] = _check_value(spec, p, params[p.name])
    return out


def _allowed(p: Param) -> list[str] | None:
    if p.rule is None:
        return None
    try:
        return p.rule.allowed_values()
    except (OSError, ValueError, LookupError):  # a lazily wired list that cannot load: not the real error
        return None


def _coerce(p: Param, value: Any) -> Any:
    """Command-line strings for number and true/false parameters."""
    if not isinstance(value, str):
        if p.type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    text = value.strip()
    if p.type is int and re.fullmatch(r"[+-]?\d{1,12}", text):
        return int(text)
    if p.type is float and re.fullmatch(r"[+-]?(\d{1,15}(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?", text):
        return float(text)
    if p.type is bool and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


def _check_value(spec: NotebookSpec, p: Param, value: Any) -> Any:
    rule_desc = p.rule.description if p.rule else None
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise param_error(spec, p.name, value,
                          f"must be a plain JSON scalar, not {type(value).__name__}", rule_desc)
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise param_error(spec, p.name, value[:60] + "…", f"longer than {MAX_TEXT} chars")
        if CONTROL_ANY.search(value):
            raise param_error(spec, p.name, value, "contains control characters", rule_desc)
    value = _coerce(p, value)
    type_ok = isinstance(value, p.type) and not (p.type is not bool and isinstance(value, bool))
    if not type_ok:
        raise param_error(spec, p.name, value, f"must be {p.type.__name__}", rule_desc, _allowed(p))
    if p.type is float and not (value == value and abs(value) != float("inf")):
        raise param_error(spec, p.name, value, "must be a finite number", rule_desc)
    if p.rule is not None:
        try:
            value = p.rule.check(value)
        except ValueError as exc:
            raise param_error(spec, p.name, value, str(exc), rule_desc, _allowed(p)) from None
        except (OSError, LookupError) as exc:  # a wired-in list (countries, date range) failed to load
            raise param_error(spec, p.name, value, f"cannot be checked: {type(exc).__name__}: {exc}",
                              rule_desc) from exc
    return value
