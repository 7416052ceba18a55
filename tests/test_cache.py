"""The build cache: an unchanged build does nothing, a Markdown edit re-exports without running
the notebook, a changed input rebuilds, and cached, forced and fresh builds give the same bytes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from coalition_report.render import CACHE_FOLDER, render_report
from test_render import EPOCH, fixture_spec

pytestmark = pytest.mark.slow


def _digests(result) -> dict[str, str]:
    return {fmt: hashlib.sha256(p.read_bytes()).hexdigest() for fmt, p in result.outputs.items()}


@pytest.fixture()
def notebook(tmp_path) -> Path:
    folder = tmp_path / "nb"
    folder.mkdir()
    shutil.copy(fixture_spec().path, folder / "fixture_report.ipynb")
    return folder / "fixture_report.ipynb"


@pytest.fixture()
def data(tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.csv").write_text("x\n1\n")
    return d


def _build(nb_path: Path, out: Path, data: Path, **kw):
    spec = fixture_spec()
    spec = type(spec)(spec.name, spec.params, path=nb_path)
    return render_report(spec, {"data_dir": str(data)}, out_dir=out, progress=False, **kw)


def _edit_markdown(nb_path: Path, text: str) -> None:
    nb = nbformat.read(str(nb_path), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Aid overview"))
    cell.source += "\n\n" + text
    nbformat.write(nb, str(nb_path))


def test_unchanged_forced_and_fresh_builds_are_byte_identical(notebook, data, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    out = tmp_path / "out"
    first = _build(notebook, out, data)
    assert first.cache == "built"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    again = _build(notebook, out, data)
    assert again.cache == "unchanged" and _digests(again) == _digests(first)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()} == before  # nothing touched
    key = json.loads((out / "manifest.json").read_text())["cache_key"]
    assert len(key) == 64
    forced = _build(notebook, out, data, force=True)
    assert forced.cache == "built" and _digests(forced) == _digests(first)
    fresh = _build(notebook, tmp_path / "elsewhere", data)
    assert fresh.cache == "built" and _digests(fresh) == _digests(first)


def test_a_markdown_edit_re_exports_without_running_and_matches_a_fresh_build(notebook, data, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    out = tmp_path / "out"
    _build(notebook, out, data)
    assert list((out / CACHE_FOLDER).glob("exec-*.ipynb"))
    _edit_markdown(notebook, "An analyst's new sentence.")
    edited = _build(notebook, out, data)
    assert edited.cache == "re-exported"
    assert "execute" in edited.timings and edited.timings["execute"] < 5  # no kernel was started
    assert "An analyst&#x27;s new sentence." in edited.outputs["html"].read_text() or \
        "An analyst's new sentence." in edited.outputs["html"].read_text()
    fresh = _build(notebook, tmp_path / "fresh", data)  # same edited notebook, empty cache
    assert fresh.cache == "built" and _digests(fresh) == _digests(edited)


@pytest.mark.parametrize("change", ["code", "data", "parameter"])
def test_a_changed_input_rebuilds(notebook, data, tmp_path, change):
    out = tmp_path / "out"
    _build(notebook, out, data)
    kw = {}
    if change == "code":
        nb = nbformat.read(str(notebook), as_version=4)
        cell = next(c for c in nb.cells if c.cell_type == "code" and "print(" in c.source)
        cell.source += "\nprint('one more line')"
        nbformat.write(nb, str(notebook))
    elif change == "data":
        (data / "a.csv").write_text("x\n2\n")
    result = (render_report(type(fixture_spec())(fixture_spec().name, fixture_spec().params, path=notebook),
                            {"data_dir": str(data), "currency": "GBP"}, out_dir=out, progress=False)
              if change == "parameter" else _build(notebook, out, data, **kw))
    assert result.cache == "built"


# ============================================================================================
# Editions: the real brief, built as the README says (issue 15.3, issue 13.6)
# ============================================================================================
def _cli(*args: str, env=None):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    return subprocess.run([sys.executable, "-m", "coalition_report.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=900, env=dict(os.environ, SOURCE_DATE_EPOCH=EPOCH))


def test_unchanged_rebuild_is_a_hit_from_the_second_build_and_early_briefs_see_no_later_edition(tmp_path):
    """`make report` twice, then `build --as-of 2025-06-30` into the same folder: the second build
    is a cache hit with byte-identical outputs; the June brief compares with no later edition and
    names no date after 30 June 2025."""
    import re

    out = tmp_path / "reports"
    first = _cli("build", "--format", "html", "--out", str(out))
    assert first.returncode == 0, first.stderr[-2000:]
    html = (out / "coalition-brief.html").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["baseline"] is None and manifest["edition_key"]
    second = _cli("build", "--format", "html", "--out", str(out))
    assert second.returncode == 0 and "unchanged" in second.stderr + second.stdout
    assert (out / "coalition-brief.html").read_bytes() == html
    assert json.loads((out / "manifest.json").read_text())["cache_key"] == manifest["cache_key"]

    june = _cli("build", "--as-of", "2025-06-30", "--format", "html", "--out", str(out))
    assert june.returncode == 0, june.stderr[-2000:]
    page = (out / "coalition-brief.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", page[page.index("<main"):])
    section = text[text.index("What changed"):][:3000]
    assert "There is no earlier edition of this brief to compare with" in section
    assert not re.search(r"\b(20(2[6-9])|(July|August|September|October|November|December) 2025)\b", section)
    assert json.loads((out / "manifest.json").read_text())["compared_with"] is None


def test_a_new_edition_compares_only_with_a_snapshot_as_of_its_date_or_earlier(tmp_path):
    """The previous build's snapshot is the baseline of a new edition only when its as-of date
    is on or before this build's; a notebook without compare_to gets none."""
    from coalition_report.render.context import resolve_context

    out = tmp_path / "out"
    snap = {"kind": "coalition-report snapshot", "schema": 1, "as_of": "2025-06-30"}
    out.mkdir()
    (out / "brief.snapshot.json").write_text(json.dumps(snap))
    ctx = resolve_context(fixture_spec(), {"as_of": "2025-06-30"}, out_dir=out, basename="brief")
    assert "compare_to" not in ctx.values  # the fixture notebook declares no compare_to: nothing to pick
    # the rule itself, on the registered brief (declares compare_to) with a later snapshot beside it
    later = dict(snap, as_of="2026-01-31")
    (out / "coalition-brief.snapshot.json").write_text(json.dumps(later))
    brief = resolve_context("coalition_brief", {"as_of": "2025-06-30"}, out_dir=out, basename="coalition-brief")
    assert brief.values["compare_to"] == ""
    (out / "coalition-brief.snapshot.json").write_text(json.dumps(dict(snap, as_of="2025-03-31")))
    brief = resolve_context("coalition_brief", {"as_of": "2025-06-30"}, out_dir=out, basename="coalition-brief")
    assert brief.values["compare_to"] == str((out / "coalition-brief.snapshot.json").resolve())
