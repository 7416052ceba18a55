"""``coalition-report build``: validate the data once, then render the brief and any profiles.

Each report is published only when all its steps succeed (see :func:`render.render_report`);
a failing report leaves the previous files of that report untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from . import config
from .data import check_as_of, check_state, load_data
from .render import BuildResult, hash_directory, render_report

__all__ = ["build_all", "BRIEF_BASENAME"]

BRIEF_BASENAME = "coalition-brief"


def build_all(*, as_of: str = "", currency: str = "EUR", formats: Sequence[str] = ("html", "pdf"),
              out_dir: str | Path | None = None, data_dir: str | Path | None = None,
              countries: Sequence[str] = (), brief: bool = True, top_n: int = 15,
              progress: bool = True) -> list[BuildResult]:
    """Build the brief (``coalition-brief.*``) and one profile per country (``country-ISO3.*``).

    The data package is validated once up front (a :class:`DataValidationError` lists every
    problem); country codes are checked against the states in ``actors.csv`` before anything runs.
    """
    data = Path(data_dir or config.DATA_DIR).resolve()
    ds = load_data(data)  # validates; raises with every problem
    for c in countries:
        check_state(ds, c)
    check_as_of(ds, as_of)
    digest = hash_directory(data)
    common = {"as_of": as_of or "", "currency": currency, "data_dir": str(data)}
    results = []
    if brief:
        results.append(render_report("coalition_brief", {**common, "top_n": top_n}, out_dir=out_dir,
                                     formats=formats, basename=BRIEF_BASENAME, data_hash=digest,
                                     progress=progress))
    for c in countries:
        results.append(render_report("country_profile", {**common, "country": c}, out_dir=out_dir,
                                     formats=formats, basename=f"country-{c}", data_hash=digest,
                                     manifest_name=f"country-{c}.manifest.json", progress=progress))
    return results
