"""Hostile round 2 on the build side (issue 17, items 4-6): a cache that cannot serve stale or
tampered output, inputs checked before anything runs, batches that publish consistently.

* Cache: every file a build leaves (HTML, PDF, snapshot, manifest, the executed notebook in
  ``.cache/``) edited by hand — together with the hashes the manifest lists — makes the next
  build rebuild, never "unchanged" or "re-exported"; ``SOURCE_DATE_EPOCH`` is in the key; a
  seal made under another user's secret is not trusted; ``data/fx`` replaced by a symlink is
  refused, not served from the cache.
* Inputs: a ``--compare-to`` snapshot with wrong types, NaN, huge nesting or size is refused
  with one line naming the file and the rule before any kernel starts; a deeply nested
  manifest in the output folder is ignored (index.html still rewritten); ``--out`` equal to,
  inside, or a symlink to ``--data`` is refused.
* Batches: SIGTERM or Ctrl-C during ``--all-countries --jobs 2`` leaves index.html listing
  exactly what is published, every link resolving (in ``test_signals.py``, with the other
  timing-sensitive signal tests).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import copy_shipped_data
from test_hostile_build import cli, cli_here, error_lines, no_traceback

EPOCH = "1700000000"
SNAP = {"kind": "coalition-report snapshot", "schema": 1, "report": "coalition_brief", "scope": None,
        "as_of": "2025-06-30", "currency": "EUR", "headline": {"members": 3}}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ============================================================================================
# 1. The cache serves only what a build would make
# ============================================================================================
@pytest.fixture()
def cache_home(tmp_path, monkeypatch) -> Path:
    """A private user cache folder (where the per-user secret lives) and a fixed build time."""
    home = tmp_path / "usercache"
    monkeypatch.setenv("COALITION_CACHE_DIR", str(home))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    return home


def _tiny_spec(folder: Path, heading: str = "## Findings") -> object:
    """A notebook that prints a line and displays a snapshot (so every kind of file is made)."""
    from coalition_report.render import NotebookSpec
    from coalition_report.snapshot import MIME_SNAPSHOT

    folder.mkdir(parents=True, exist_ok=True)
    show = ("import json\nfrom IPython.display import display\n"
            f"display({{'text/markdown': 'Nothing changed.', {MIME_SNAPSHOT!r}: json.loads({json.dumps(SNAP)!r})}}, "
            "raw=True)")
    nb = new_notebook(cells=[new_markdown_cell("# Tamper report"), new_markdown_cell(heading),
                             new_code_cell("print('computed by the kernel')"), new_code_cell(show)],
                      metadata={"kernelspec": {"name": "coalition-report", "language": "python",
                                               "display_name": "x"}})
    path = folder / "tamper.ipynb"
    nbformat.write(nb, path)
    return NotebookSpec("tamper", (), path=path)


def _build(spec, out: Path, **kw):
    from coalition_report.render import render_report

    return render_report(spec, {}, out_dir=out, formats=("html", "pdf"), basename="tamper", progress=False, **kw)


@pytest.mark.slow
def test_damaged_compiled_templates_are_compiled_again(cache_home, tmp_path):
    """Compiled templates kept in the user cache and damaged there (their header intact, the rest
    not) are compiled again: the same page, no error."""
    from jinja2.bccache import bc_magic

    spec = _tiny_spec(tmp_path / "nb")
    first = _build(spec, tmp_path / "a")
    kept = sorted((cache_home / "templates").glob("*.cache"))
    assert kept, "no compiled template was kept"
    for f in kept:
        f.write_bytes(bc_magic + b"\x80garbage")  # the version matches; the checksum does not unpickle
        f.chmod(0o600)
    second = _build(spec, tmp_path / "b", force=True)
    assert second.outputs["html"].read_bytes() == first.outputs["html"].read_bytes()


def _reseal_entry(out: Path, entry_key: str, fmt: str | None, path: Path) -> None:
    """Write ``path``'s new size and hash into the manifest, as a tamperer would."""
    man = out / "manifest.json"
    doc = json.loads(man.read_text())
    entries = doc["outputs"] if entry_key == "outputs" else [doc[entry_key]]
    for e in entries:
        if fmt is None or e.get("format") == fmt:
            e["bytes"], e["sha256"] = path.stat().st_size, sha(path)
    man.write_text(json.dumps(doc, indent=2))


def _edit_html(out: Path) -> str:
    p = out / "tamper.html"
    p.write_text(p.read_text().replace("computed by the kernel", "TAMPERED"))
    _reseal_entry(out, "outputs", "html", p)
    return "tamper.html"


def _edit_pdf(out: Path) -> str:
    p = out / "tamper.pdf"
    p.write_bytes(p.read_bytes() + b"\n% TAMPERED\n")
    _reseal_entry(out, "outputs", "pdf", p)
    return "tamper.pdf"


def _edit_snapshot(out: Path) -> str:
    p = out / "tamper.snapshot.json"
    p.write_text(json.dumps({**SNAP, "headline": {"members": 99}, "note": "TAMPERED"}))
    _reseal_entry(out, "snapshot", None, p)
    return "tamper.snapshot.json"


def _edit_manifest(out: Path) -> str:
    man = out / "manifest.json"
    doc = json.loads(man.read_text())
    doc["report"]["title"] = "TAMPERED"
    man.write_text(json.dumps(doc, indent=2))
    return "manifest.json"


def _drop_seal(out: Path) -> str:
    """A manifest as an older version (or a forger without the secret) writes it: no seal."""
    man = out / "manifest.json"
    doc = json.loads(man.read_text())
    doc.pop("seal")
    doc["report"]["title"] = "TAMPERED"
    man.write_text(json.dumps(doc, indent=2))
    return "manifest.json"


EDITS = {"html": _edit_html, "pdf": _edit_pdf, "snapshot": _edit_snapshot, "manifest": _edit_manifest,
         "manifest_without_seal": _drop_seal}


@pytest.mark.slow
def test_an_unchanged_rebuild_is_served_from_the_cache(cache_home, tmp_path):
    """The control for the tamper tests: untouched, the next build is a cache hit."""
    spec, out = _tiny_spec(tmp_path / "nb"), tmp_path / "out"
    first = _build(spec, out)
    assert first.cache == "built" and (out / "tamper.snapshot.json").is_file()
    assert _build(spec, out).cache == "unchanged"


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(EDITS))
def test_an_edited_output_with_its_manifest_hashes_is_rebuilt(cache_home, tmp_path, kind):
    spec, out = _tiny_spec(tmp_path / "nb"), tmp_path / "out"
    _build(spec, out)
    before = {p.name: sha(p) for p in out.iterdir() if p.is_file()}
    edited = EDITS[kind](out)
    again = _build(spec, out)
    assert again.cache != "unchanged", kind
    for name in ("tamper.html", "tamper.pdf", "tamper.snapshot.json"):
        assert sha(out / name) == before[name], name  # what a build makes, byte for byte
        assert b"TAMPERED" not in (out / name).read_bytes()
    assert "TAMPERED" not in (out / "manifest.json").read_text(), edited
    assert _build(spec, out).cache == "unchanged"  # the rebuilt folder is trusted again


@pytest.mark.slow
@pytest.mark.parametrize("how", ["notebook", "seal", "both", "seal_is_dev_zero"])
def test_an_edited_cached_execution_is_executed_again(cache_home, tmp_path, how):
    """A Markdown edit re-exports the cached execution; an edited cached execution (or an edited
    seal beside it, or both re-hashed without the secret, or a seal linked to /dev/zero) is not
    used: the notebook runs."""
    nb_dir = tmp_path / "nb"
    spec, out = _tiny_spec(nb_dir), tmp_path / "out"
    _build(spec, out)
    [cached] = (out / ".cache").glob("exec-*.ipynb")
    seal = cached.with_suffix(".seal")
    if how in ("notebook", "both"):  # the printed output, not the code (a code edit is a miss anyway)
        nb = nbformat.read(cached, as_version=4)
        [cell] = [c for c in nb.cells if c.cell_type == "code" and "computed" in c.source]
        cell.outputs[0]["text"] = "TAMPERED\n"
        nbformat.write(nb, cached)
    if how in ("seal", "both"):
        seal.write_text(hashlib.sha256(cached.read_bytes()).hexdigest() + "\n")
    if how == "seal_is_dev_zero":  # never read to the end (it has none)
        seal.unlink()
        seal.symlink_to("/dev/zero")
    spec = _tiny_spec(nb_dir, heading="## Findings, edited")  # same code: the cache would re-export
    again = _build(spec, out)
    assert again.cache == "built"
    assert "TAMPERED" not in (out / "tamper.html").read_text()
    assert "computed by the kernel" in (out / "tamper.html").read_text()


@pytest.mark.slow
def test_a_markdown_edit_re_exports_the_untouched_cached_execution(cache_home, tmp_path):
    """The control for the test above: the same edit with an intact cache entry re-exports."""
    nb_dir = tmp_path / "nb"
    out = tmp_path / "out"
    _build(_tiny_spec(nb_dir), out)
    again = _build(_tiny_spec(nb_dir, heading="## Findings, edited"), out)
    assert again.cache == "re-exported"
    assert "Findings, edited" in (out / "tamper.html").read_text()


@pytest.mark.slow
def test_source_date_epoch_is_in_the_cache_key(cache_home, tmp_path, monkeypatch):
    spec, out = _tiny_spec(tmp_path / "nb"), tmp_path / "out"
    _build(spec, out)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")  # 2027-01-15T08:00:00Z
    again = _build(spec, out)
    assert again.cache != "unchanged"
    assert json.loads((out / "manifest.json").read_text())["built_at"] == "2027-01-15T08:00:00Z"
    assert "2027-01-15" in (out / "tamper.html").read_text()


@pytest.mark.slow
def test_a_folder_sealed_under_another_secret_is_not_trusted(cache_home, tmp_path, monkeypatch):
    """Another user's (or another machine's) secret: their seals do not verify here."""
    spec, out = _tiny_spec(tmp_path / "nb"), tmp_path / "out"
    _build(spec, out)
    monkeypatch.setenv("COALITION_CACHE_DIR", str(tmp_path / "another-user"))
    assert _build(spec, out).cache == "built"


def test_the_secret_is_private_and_an_exposed_one_is_replaced(cache_home):
    from coalition_report.render import cache

    cache._SECRET.clear()
    mark = cache.seal({"a": 1})
    secret = cache_home / "cache-secret"
    assert mark and (secret.stat().st_mode & 0o777) == 0o600 and secret.stat().st_size == 32
    secret.chmod(0o644)  # readable by others: anyone could forge seals with it
    cache._SECRET.clear()
    assert cache.seal({"a": 1}) != mark
    assert (secret.stat().st_mode & 0o777) == 0o600
    cache._SECRET.clear()


def test_a_manifest_read_from_the_output_folder_is_bounded(tmp_path):
    from coalition_report.render.cache import read_manifest

    deep = tmp_path / "manifest.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert read_manifest(deep) is None
    deep.write_text(json.dumps({"a": float("nan")}))
    assert read_manifest(deep) is None


@pytest.fixture(scope="module")
def fra_profile(tmp_path_factory) -> Path:
    """A complete FRA profile (HTML) with its private data copy: ``root/out``, ``root/data``."""
    root = tmp_path_factory.mktemp("fra")
    data = copy_shipped_data(root / "data")
    run = cli("build", "--no-brief", "--country", "FRA", "--currency", "USD", "--format", "html",
              "--data", str(data), "--out", str(root / "out"), tmpdir=root / "tmp")
    assert run.returncode == 0, run.stderr[-3000:]
    return root


@pytest.mark.slow
def test_fx_folder_swapped_for_a_symlink_is_refused_not_served(fra_profile, tmp_path):
    """Issue 17: after data/fx became a symlink to other rates, the build said "unchanged"."""
    data = tmp_path / "data"
    shutil.copytree(fra_profile / "data", data)
    out = tmp_path / "out"
    shutil.copytree(fra_profile / "out", out)
    rates = tmp_path / "rates"
    shutil.copytree(data / "fx", rates)
    shutil.rmtree(data / "fx")
    (data / "fx").symlink_to(rates, target_is_directory=True)
    before = {p.name: sha(p) for p in out.iterdir() if p.is_file() and p.name != "index.html"}
    run = cli("build", "--no-brief", "--country", "FRA", "--currency", "USD", "--format", "html",
              "--data", str(data), "--out", str(out), tmpdir=tmp_path / "tmp")
    assert run.returncode == 1, run.stderr[-2000:]
    no_traceback(run.stderr)
    assert "unchanged" not in run.stdout + run.stderr
    assert re.search(r"fx\b.*(link|symlink)", run.stderr), run.stderr[-2000:]
    assert {p.name: sha(p) for p in out.iterdir() if p.is_file() and p.name != "index.html"} == before


# ============================================================================================
# 2. Inputs checked before anything runs
# ============================================================================================
def _real_snapshot(fra_profile: Path) -> dict:
    return json.loads((fra_profile / "out" / "country-FRA.snapshot.json").read_text())


def _set(doc: dict, path: str, value) -> dict:
    node = doc
    *parents, last = path.split(".")
    for key in parents:
        node = node[key] if key in node else next(iter(node.values()))  # "*": any record
    node[last] = value
    return doc


#: (name, how to spoil a real snapshot -> file text, rule the message names)
def _typed(path: str, value):
    return lambda snap: json.dumps(_set(snap, path, value))


SPOILED = [
    ("int_for_mapping", lambda s: json.dumps({**s, "members": 7}), "members: must be an object of records"),
    ("string_for_money", _typed("aid.*.allocation_total", "12abc"), "must be a finite whole number or null"),
    ("nan_amount", lambda s: json.dumps(s).replace('"kind"', '"nan": NaN, "kind"', 1),
     "NaN and Infinity are not JSON"),
    ("infinite_headline", lambda s: json.dumps(s).replace('"kind"', '"big": 1e999, "kind"', 1),
     "not finite"),
    ("list_for_record", _typed("events", {"x": [1, 2]}), "events.x: must be an object"),
    ("missing_field", lambda s: json.dumps({**s, "positions": {"p": {"actor_id": "FRA"}}}),
     "positions.p.topic: missing"),
    ("deep", lambda s: "[" * 100_000 + "]" * 100_000, "nested more than 32 levels deep"),
    ("wrong_kind", lambda s: json.dumps({**s, "kind": "something else"}), "neither a coalition-report snapshot"),
    ("wrong_schema", lambda s: json.dumps({**s, "schema": 2}), "snapshot format 2, this version reads 1"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,spoil,rule", SPOILED, ids=[c[0] for c in SPOILED])
def test_a_bad_compare_to_snapshot_is_refused_before_anything_runs(fra_profile, tmp_path, name, spoil, rule):
    bad = tmp_path / f"{name}.snapshot.json"
    bad.write_text(spoil(_real_snapshot(fra_profile)))
    out = tmp_path / "out"
    run = cli_here("build", "--no-brief", "--country", "FRA", "--format", "html", "--data",
                   str(fra_profile / "data"), "--compare-to", str(bad), "--out", str(out), tmpdir=tmp_path / "tmp")
    assert run.returncode == 2, run.stderr[-2000:]
    no_traceback(run.stderr)
    [line] = error_lines(run.stderr)
    assert str(bad) in line and rule in line, line
    assert "execute" not in run.stderr and not out.exists()  # no kernel, no folder


@pytest.mark.slow
def test_an_oversized_compare_to_file_is_refused_by_its_size(fra_profile, tmp_path):
    big = tmp_path / "big.snapshot.json"
    with open(big, "wb") as fh:
        fh.truncate(65 * 1024 * 1024)  # sparse: costs no disk
    run = cli_here("build", "--no-brief", "--country", "FRA", "--format", "html", "--data",
                   str(fra_profile / "data"), "--compare-to", str(big), "--out", str(tmp_path / "out"),
                   tmpdir=tmp_path / "tmp")
    assert run.returncode == 2
    [line] = error_lines(run.stderr)
    assert str(big) in line and "more than the 67108864 allowed" in line, line


@pytest.mark.slow  # builds the FRA profile
def test_the_snapshot_a_build_writes_passes_the_schema(fra_profile):
    from coalition_report.snapshot import check_snapshot, load_snapshot

    path = fra_profile / "out" / "country-FRA.snapshot.json"
    check_snapshot(_real_snapshot(fra_profile), path)  # raises if the schema refused its own output
    assert load_snapshot(path)["scope"] == "FRA"


@pytest.mark.slow
def test_deep_manifests_in_the_output_folder_do_not_stop_the_index(fra_profile, tmp_path):
    """A 100,000-deep manifest of this report and of another one: the build rebuilds the first,
    leaves the second out of index.html, and rewrites index.html (exit 0, no traceback)."""
    out = tmp_path / "out"
    shutil.copytree(fra_profile / "out", out)
    deep = "{\"outputs\": " + "[" * 100_000 + "]" * 100_000 + "}"
    (out / "country-FRA.manifest.json").write_text(deep)
    (out / "country-XXX.manifest.json").write_text(deep)
    (out / "index.html").unlink()
    run = cli("build", "--no-brief", "--country", "FRA", "--currency", "USD", "--format", "html",
              "--data", str(fra_profile / "data"), "--out", str(out), tmpdir=tmp_path / "tmp")
    assert run.returncode == 0, run.stderr[-2000:]
    no_traceback(run.stderr)
    assert "unchanged" not in run.stdout
    index = (out / "index.html").read_text()
    assert 'href="country-FRA.html"' in index and "XXX" not in index
    assert json.loads((out / "country-FRA.manifest.json").read_text())["outputs"]


@pytest.mark.parametrize("where", ["same", "inside", "symlink", "symlink_inside"])
def test_out_may_not_be_the_data_folder_or_inside_it(data_copy, tmp_path, where):
    from coalition_report.hashing import hash_directory

    before = hash_directory(data_copy)
    entries = sorted(p.name for p in data_copy.iterdir())
    link = tmp_path / "link"
    link.symlink_to(data_copy, target_is_directory=True)
    out = {"same": data_copy, "inside": data_copy / "reports", "symlink": link,
           "symlink_inside": link / "fx" / "out"}[where]
    run = cli_here("build", "--data", str(data_copy), "--out", str(out), tmpdir=tmp_path / "tmp")
    assert run.returncode == 2, run.stderr[-2000:]
    no_traceback(run.stderr)
    [line] = error_lines(run.stderr)
    assert str(data_copy.resolve()) in line, line
    assert "outputs would change the data package" in line
    assert hash_directory(data_copy) == before and sorted(p.name for p in data_copy.iterdir()) == entries


def test_out_beside_the_data_folder_is_accepted(data_copy, tmp_path):
    """The rule is exact: a sibling whose name starts like the data folder's is not inside it."""
    from coalition_report.render.locks import check_outside_data

    check_outside_data("build", tmp_path / "data-reports", data_copy)
    check_outside_data("build", tmp_path, data_copy)  # the data folder inside the output folder is fine


# ============================================================================================
# 3. Hidden entries in the data folder
# ============================================================================================
def test_a_resource_in_a_hidden_file_is_refused(data_copy):
    """The data hash skips hidden entries, so a table read from one could change under an
    "unchanged" build: validate refuses the path instead."""
    from coalition_report.data import validate_data

    (data_copy / "aid_totals.csv").rename(data_copy / ".aid_totals.csv")
    desc = data_copy / "datapackage.json"
    desc.write_text(desc.read_text().replace('"path": "aid_totals.csv"', '"path": ".aid_totals.csv"'))
    problems = [str(p) for p in validate_data(data_copy)]
    assert any("'.aid_totals.csv'" in p and "resource-path" in p and "hidden" in p for p in problems), problems
