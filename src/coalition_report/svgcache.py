"""Charts drawn once per spec: vl-convert's SVG kept in the user's cache, keyed on the spec.

Converting the brief's twelve charts takes about two seconds of every execution (the first
call also starts vl-convert's JavaScript runtime). The SVG depends only on the Vega-Lite spec
(data included), the Vega-Lite version and vl-convert's version, so a chart whose spec did not
change (a rebuild after a text or code edit, another currency's brief that shares charts, the
preview) is read back instead. Only a file this user owns and nobody else can write is read.
"""

from __future__ import annotations

import functools
import re

from .files import keep_private, read_private, used_private, user_cache_dir
from .hashing import digest

__all__ = ["chart_svg", "vl_version"]

#: Charts kept; past this the least recently used are removed when a new one is stored.
MAX_CHARTS = 2000


@functools.lru_cache(maxsize=1)
def vl_version() -> str:
    """Vega-Lite version (``"6.4"``) matching Altair's schema, as vl-convert names it.

    Kept in the user's cache under the two package versions that decide it: the build's own
    process (the manifest, the HTML page's script bundle) then need not import Altair, ~0.2 s."""
    from importlib.metadata import version

    path = user_cache_dir() / f"vl-version-altair{version('altair')}-vlc{version('vl-convert-python')}.txt"
    raw = read_private(path)
    if raw is not None and re.fullmatch(rb"\d+\.\d+", raw):
        return raw.decode()
    import altair as alt
    import vl_convert as vlc

    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    versions = vlc.get_vegalite_versions()
    if major_minor not in versions:
        same_major = [v for v in versions if v.split(".")[0] == major_minor.split(".")[0]]
        major_minor = (same_major or versions)[-1]
    keep_private(path, major_minor)
    return major_minor


def chart_svg(spec: dict, vl_version: str) -> str:
    """The SVG vl-convert draws for ``spec`` (Vega-Lite ``vl_version``), converted once per spec."""
    from importlib.metadata import version

    key = digest({"spec": spec, "vl": vl_version, "vl-convert": version("vl-convert-python")})
    folder = user_cache_dir() / "charts"
    path = folder / f"{key}.svg"
    raw = read_private(path)
    if raw is not None and raw.startswith(b"<svg") and raw.rstrip().endswith(b"</svg>"):
        used_private(path)
        return raw.decode("utf-8")
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec, vl_version=vl_version)
    keep_private(path, svg, keep=MAX_CHARTS)
    return svg

