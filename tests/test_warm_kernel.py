"""A batch's warm kernel: the next profile runs in the kernel the last one ran in, and gives the
same report as a kernel started for it alone."""

from __future__ import annotations

import hashlib

import nbformat
import pytest

pytestmark = pytest.mark.slow


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cells(path) -> list:
    nb = nbformat.read(path, as_version=4)
    return [(c.get("execution_count"), [{k: v for k, v in o.items() if k != "metadata"} for o in c.get("outputs", [])])
            for c in nb.cells if c.cell_type == "code"]


def test_profiles_from_a_warm_kernel_are_the_profiles_from_a_cold_one(tmp_path, monkeypatch):
    from coalition_report.build import build_reports
    from coalition_report.render import kernel

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    fmts = ("html", "pdf", "ipynb")
    before = kernel.warm_runs()
    warm = build_reports(countries=["FRA", "GBR", "DEU"], brief=False, jobs=1, formats=fmts,
                         out_dir=tmp_path / "warm", progress=False)
    assert all(o.ok for o in warm)
    assert kernel.warm_runs() - before == 2  # GBR and DEU ran in the kernel FRA started
    # alone: a kernel of its own (a single report keeps no kernel)
    cold = build_reports(countries=["DEU"], brief=False, jobs=1, formats=fmts, out_dir=tmp_path / "cold",
                         progress=False)
    assert all(o.ok for o in cold) and kernel.warm_runs() - before == 2
    for ext in ("html", "pdf"):
        assert _sha(tmp_path / "warm" / f"country-DEU.{ext}") == _sha(tmp_path / "cold" / f"country-DEU.{ext}"), ext
    # the executed notebook: the same outputs and prompt numbers from 1 (the namespace was reset)
    assert _cells(tmp_path / "warm" / "country-DEU.ipynb") == _cells(tmp_path / "cold" / "country-DEU.ipynb")
    assert _cells(tmp_path / "warm" / "country-DEU.ipynb")[0][0] == 1
