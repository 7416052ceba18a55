"""JSON read with limits: size, nesting depth and finite numbers, for files a build did not just write.

Manifests and snapshots in an output folder, and a ``--compare-to`` file, come from outside
this process: a 100,000-deep document must give a clear refusal, never a ``RecursionError``;
a huge one is refused by its size before it is read; ``NaN`` and ``Infinity`` (which Python's
``json`` accepts) are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["JSONLimitError", "read_bounded", "MAX_BYTES", "MAX_DEPTH"]

#: Largest JSON document read from an output folder or given as ``--compare-to`` (bytes).
MAX_BYTES = 64 * 1024 * 1024
#: Deepest nesting of objects and arrays accepted (a snapshot nests 4 levels, a manifest 3).
MAX_DEPTH = 32


class JSONLimitError(ValueError):
    """A JSON file that is unreadable or breaks a limit; ``reason`` says which rule."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (NaN and Infinity are not JSON)")


def _finite(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is out of range (not finite)")
    return value


def _depth(doc: Any, limit: int) -> int:
    """Nesting depth of a parsed document (iterative: no recursion), stopping past ``limit``."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def read_bounded(path: str | Path, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document at ``path``; :class:`JSONLimitError` (or ``FileNotFoundError``) otherwise.

    Rules, in order: a regular file; at most ``max_bytes``; UTF-8 JSON; no ``NaN``/``Infinity``;
    nesting at most ``max_depth`` deep.
    """
    p = Path(path)
    if not p.is_file():
        if not p.exists():
            raise FileNotFoundError(str(p))
        raise JSONLimitError(p, "not a regular file")
    size = p.stat().st_size
    if size > max_bytes:
        raise JSONLimitError(p, f"{size} bytes, more than the {max_bytes} allowed")
    try:
        with open(p, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise JSONLimitError(p, f"cannot be read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise JSONLimitError(p, f"more than the {max_bytes} bytes allowed")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise JSONLimitError(p, f"nested more than {max_depth} levels deep") from None
    except UnicodeDecodeError:
        raise JSONLimitError(p, "not a readable JSON file (not UTF-8 text)") from None
    except ValueError as exc:
        raise JSONLimitError(p, f"not a readable JSON file ({exc})") from None
    if _depth(doc, max_depth) > max_depth:
        raise JSONLimitError(p, f"nested more than {max_depth} levels deep")
    return doc
