"""The page loads nothing: every attribute that would fetch something is checked in the parsed page.

Element attributes (``src``, ``srcset``, ``poster``, ``data``, ``action``, ``xlink:href``,
``href`` outside links, ...), ``url()``/``@import`` in ``<style>`` and ``style=``,
``<meta http-equiv=refresh>``, ``javascript:`` links. Text is never inspected: escaped markup in
data (``&lt;img src=x&gt;``) and prose such as "data = pool report" are text.
"""

from __future__ import annotations

import re

__all__ = ["offline_problems", "assert_offline", "srcset_urls"]

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


def srcset_urls(value: str) -> list[str]:
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


def offline_problems(page: str) -> list[str]:
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
                    for url in srcset_urls(value):
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


def assert_offline(page: str) -> None:
    """Fail the build if the page would load anything (image, frame, style, ...) from elsewhere."""
    problems = offline_problems(page)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(f"the page would load {problems[0]}{more}, which is not embedded; "
                         "use a local file in a markdown image (it gets inlined) or remove it")

