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


def test_each_worker_of_a_parallel_batch_keeps_its_kernel(tmp_path, data_copy):
    """--jobs 2: a worker runs its next profile in the kernel its last one ran in (the profiles'
    kernels are at most one per worker, not one per profile); the batch's workers stop them."""
    import json
    import re

    import psutil

    from coalition_report.build import build_reports
    from conftest import tiny_profile_dir

    folder = tiny_profile_dir(tmp_path, 'import os\nprint(f"kernel={os.getpid()} profile={country}")')
    codes = ["FRA", "GBR", "DEU", "ITA", "POL", "NLD"]
    outcomes = build_reports(data_dir=data_copy, out_dir=tmp_path / "out", formats=("ipynb",), countries=codes,
                             brief=False, jobs=2, notebook_dir=folder, progress=False)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    pids = set()
    for code in codes:
        text = json.dumps(nbformat.read(tmp_path / "out" / f"country-{code}.ipynb", as_version=4).cells[-1].outputs)
        [(pid, shown)] = re.findall(r"kernel=(\d+) profile=(\w+)", text)
        assert shown == code
        pids.add(int(pid))
    assert len(pids) <= 2, f"{len(pids)} kernels for {len(codes)} profiles in two workers"
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
