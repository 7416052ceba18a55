"""Text stays text: control characters and Markdown escaping, stated once.

* :data:`CONTROL` — C0 and C1 control characters except tab, line feed and carriage return,
  plus DEL. Not text: the HTML spec makes them parse errors (NUL becomes U+FFFD), they are
  invalid in the SVG (XML) of a chart, and ESC starts terminal escape sequences. Removed
  wherever data becomes markup (:func:`strip_control`), shown as escapes on a terminal
  (:func:`printable`); ``coalition-report validate`` refuses them in the data package already.
* :data:`CONTROL_ANY` — every C0 control and DEL (tab and line breaks included): refused in
  parameter values, which are one-line values.
* :func:`escape_markdown` — data shown literally in Markdown, never read as emphasis, links or HTML.

>>> strip_control("a\\x1b[2Jb\\tc")
'a[2Jb\\tc'
>>> printable("a\\x1bb")
'a\\\\x1bb'
>>> escape_markdown("**vote** [x](javascript:1)")
'\\\\*\\\\*vote\\\\*\\\\* \\\\[x\\\\](javascript:1)'
"""

from __future__ import annotations

import re

__all__ = ["CONTROL", "CONTROL_ANY", "strip_control", "printable", "escape_markdown"]

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_ANY = re.compile(r"[\x00-\x1f\x7f]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def strip_control(text: str) -> str:
    """``text`` without control characters, tab and line breaks kept (see :data:`CONTROL`)."""
    return CONTROL.sub("", text)


def printable(text: str) -> str:
    """Control characters (tab and line feed kept) shown as
    ``\\xNN`` escapes, never sent to a terminal (an ESC sequence could rewrite the screen)."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def escape_markdown(text: str) -> str:
    """``text`` with every Markdown-special character backslash-escaped (shown, never applied)."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(1), text)
