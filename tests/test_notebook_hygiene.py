"""Notebooks are committed clean, the pre-commit hook keeps them so, JupyterLab stays out of .venv.

- every committed notebook has no outputs and no execution counts (and the check can fail);
- the nbstripout hook of .pre-commit-config.yaml really refuses a commit of a notebook with
  outputs, and what it leaves behind is the clean notebook with its `parameters` tag, kernelspec
  and cell ids (a real `git commit` in a temporary repository; needs PyPI once, for the hook's
  private virtualenv);
- the hook pins match constraints.txt;
- `make lab` runs JupyterLab from .venv-lab and never installs it into .venv.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

CONFIG = ROOT / ".pre-commit-config.yaml"
NOTEBOOK_GLOBS = ["notebooks/*.ipynb", "tests/notebooks/*.ipynb"]


def committed_notebooks() -> list[Path]:
    return sorted(p for g in NOTEBOOK_GLOBS for p in ROOT.glob(g))


def notebook_problems(nb: dict) -> list[str]:
    """What makes a notebook unfit to commit: outputs, execution counts, papermill leftovers."""
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("outputs"):
            problems.append(f"cell {i}: {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i}: execution_count {cell['execution_count']}")
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            problems.append(f"cell {i}: papermill's injected-parameters cell")
    if "papermill" in nb.get("metadata", {}):
        problems.append("notebook metadata: papermill block")
    return problems


def _dirty(nb: dict) -> dict:
    """``nb`` as it looks after running it and saving (outputs, counts, papermill residue)."""
    nb = copy.deepcopy(nb)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for n, cell in enumerate(code, start=1):
        cell["execution_count"] = n
        cell["outputs"] = [
            {"output_type": "stream", "name": "stdout", "text": [f"cell {n}\n"]},
            {"output_type": "execute_result", "execution_count": n, "metadata": {},
             "data": {"text/plain": [f"{n}"], "image/svg+xml": ["<svg/>"]}},
        ]
        cell["metadata"]["execution"] = {"iopub.status.busy": "2025-06-30T10:00:00Z"}
    at = next(i for i, c in enumerate(nb["cells"])
              if "parameters" in c.get("metadata", {}).get("tags", []))
    nb["cells"].insert(at + 1, {
        "cell_type": "code", "id": "injected", "execution_count": 99, "outputs": [],
        "metadata": {"tags": ["injected-parameters"]}, "source": ['currency = "USD"\n']})
    nb["metadata"]["papermill"] = {"parameters": {"currency": "USD"}}
    nb["metadata"]["language_info"] = {
        "name": "python", "version": "3.11.7", "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": 3}, "mimetype": "text/x-python",
        "file_extension": ".py", "nbconvert_exporter": "python"}
    return nb


def _tags(nb: dict) -> list[list[str]]:
    return [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]


# --- committed notebooks are clean ----------------------------------------------------------

def test_notebooks_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in committed_notebooks()}
    assert {"notebooks/coalition_brief.ipynb", "notebooks/country_profile.ipynb"} <= names


@pytest.mark.parametrize("path", committed_notebooks(),
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_committed_notebook_is_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert notebook_problems(nb) == [], (
        f"{path.relative_to(ROOT)} carries outputs: clear them (Edit > Clear Outputs of All Cells) "
        "or run .venv-lab/bin/pre-commit run --all-files")
    # what papermill and the pre-commit hook rely on
    assert nb["metadata"]["kernelspec"]["name"] == "coalition-report"
    assert sum("parameters" in t for t in _tags(nb)) == 1


def test_check_flags_outputs(tmp_path):
    """The check above can fail: a notebook with outputs written to disk is flagged."""
    clean = json.loads((ROOT / "notebooks" / "coalition_brief.ipynb").read_text(encoding="utf-8"))
    assert notebook_problems(clean) == []
    p = tmp_path / "executed.ipynb"
    p.write_text(json.dumps(_dirty(clean)), encoding="utf-8")
    problems = notebook_problems(json.loads(p.read_text(encoding="utf-8")))
    assert any("output(s)" in x for x in problems)
    assert any("execution_count" in x for x in problems)
    assert any("injected-parameters" in x for x in problems)
    assert "notebook metadata: papermill block" in problems
    # one output alone, or one execution count alone, is enough
    one = copy.deepcopy(clean)
    next(c for c in one["cells"] if c["cell_type"] == "code")["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": ["x\n"]}]
    assert notebook_problems(one) == ["cell 1: 1 output(s)"]
    one = copy.deepcopy(clean)
    next(c for c in one["cells"] if c["cell_type"] == "code")["execution_count"] = 1
    assert notebook_problems(one) == ["cell 1: execution_count 1"]


# --- the pre-commit configuration -----------------------------------------------------------

def _hooks() -> dict[str, dict]:
    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert [r["repo"] for r in cfg["repos"]] == ["local"], "hooks must not need GitHub"
    return {h["id"]: h for r in cfg["repos"] for h in r["hooks"]}


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s;#]+)\s*", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
    return pins


def test_hook_pins_match_constraints():
    constraints = _pins((ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines())
    hooks = _hooks()
    assert set(hooks) == {"nbstripout", "ruff"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        deps = hook["additional_dependencies"]
        pinned = _pins(deps)
        assert len(pinned) == len(deps), f"{hook['id']}: every dependency needs an exact pin"
        for name, version in pinned.items():
            assert constraints.get(name) == version, (
                f"{hook['id']}: {name}=={version}, constraints.txt has {constraints.get(name)}")


def test_hook_scope_covers_committed_notebooks():
    pattern = re.compile(_hooks()["nbstripout"]["files"])
    for p in committed_notebooks():
        assert pattern.search(p.relative_to(ROOT).as_posix())


def _nbstripout_exe() -> str:
    exe = Path(sys.executable).with_name("nbstripout")
    if not exe.exists():
        pytest.fail("nbstripout is missing from the test environment (test extra; `make venv`)")
    return str(exe)


def test_hook_arguments_keep_tags_kernelspec_and_ids(tmp_path):
    """Fast, offline check of the hook's nbstripout arguments, with the test env's nbstripout."""
    args = _hooks()["nbstripout"]["args"]
    for src in committed_notebooks():
        clean = json.loads(src.read_text(encoding="utf-8"))
        p = tmp_path / src.name
        p.write_text(json.dumps(_dirty(clean), indent=1), encoding="utf-8")
        subprocess.run([_nbstripout_exe(), *args, str(p)], check=True)
        stripped = json.loads(p.read_text(encoding="utf-8"))
        assert stripped == clean, f"{src.name}: stripping an executed copy must give it back"
        # and a committed notebook is left alone byte for byte
        q = tmp_path / f"clean-{src.name}"
        shutil.copyfile(src, q)
        subprocess.run([_nbstripout_exe(), *args, str(q)], check=True)
        assert q.read_bytes() == src.read_bytes(), f"the hook would rewrite {src.name}"


def _git_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                "PRE_COMMIT_HOME": str(tmp / "pre-commit-home"),
                "VIRTUALENV_OVERRIDE_APP_DATA": str(tmp / "virtualenv-app-data"),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    return env


@pytest.mark.slow
def test_pre_commit_hook_refuses_notebook_with_outputs(tmp_path_factory):
    """A real `git commit` with the hook installed; builds the hook envs from PyPI (~10-15 s)."""
    tmp = tmp_path_factory.mktemp("precommit")
    repo = tmp / "repo"
    (repo / "notebooks").mkdir(parents=True)
    env = _git_env(tmp)

    def git(*args, check=True):
        return subprocess.run(["git", *args], cwd=repo, env=env, check=check, text=True,
                              capture_output=True)

    git("init", "-q")
    git("config", "user.email", "test@example.org")
    git("config", "user.name", "test")
    git("config", "commit.gpgsign", "false")
    shutil.copyfile(CONFIG, repo / ".pre-commit-config.yaml")
    shutil.copyfile(ROOT / "pyproject.toml", repo / "pyproject.toml")
    src = ROOT / "notebooks" / "coalition_brief.ipynb"
    clean = json.loads(src.read_text(encoding="utf-8"))
    nb_path = repo / "notebooks" / src.name
    nb_path.write_text(json.dumps(_dirty(clean), indent=1) + "\n", encoding="utf-8")
    install = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=repo, env=env,
                             text=True, capture_output=True)
    assert install.returncode == 0, install.stdout + install.stderr

    git("add", "-A")
    refused = git("commit", "-q", "-m", "notebook with outputs", check=False)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0, out
    assert "files were modified by this hook" in out, out
    assert git("rev-parse", "--verify", "-q", "HEAD", check=False).returncode != 0, "committed"

    stripped = json.loads(nb_path.read_text(encoding="utf-8"))
    assert notebook_problems(stripped) == []
    assert "parameters" in _tags(stripped)[1], "papermill's parameters tag was lost"
    assert stripped["metadata"]["kernelspec"] == clean["metadata"]["kernelspec"]
    assert [c["id"] for c in stripped["cells"]] == [c["id"] for c in clean["cells"]]
    assert stripped == clean

    # the stripped notebook commits; a python file with an unused import does not (ruff)
    git("add", "-A")
    ok = git("commit", "-q", "-m", "clean notebook", check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (repo / "tool.py").write_text("import os\n", encoding="utf-8")
    git("add", "tool.py")
    lint = git("commit", "-q", "-m", "unused import", check=False)
    assert lint.returncode != 0 and "F401" in lint.stdout + lint.stderr, lint.stdout + lint.stderr


# --- JupyterLab lives in .venv-lab -----------------------------------------------------------

def test_pyproject_keeps_jupyterlab_out_of_the_build_env():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                      for r in extra]
    assert not [r for r in reqs if r.lower().startswith(("jupyterlab", "notebook", "nbdime"))]
    assert "lab" not in project["optional-dependencies"]
    assert {"pre-commit", "nbstripout"} <= {re.split(r"[<>=!~ \[]", r)[0]
                                           for r in project["optional-dependencies"]["test"]}


def test_make_lab_uses_its_own_venv():
    make = shutil.which("make")
    if not make:
        pytest.skip("make not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    run = subprocess.run([make, "-n", "-B", "lab"], cwd=ROOT, env=env, text=True,
                         capture_output=True, check=True)
    lines = run.stdout.splitlines()
    installs = [ln for ln in lines if "pip install" in ln]
    lab_install = [ln for ln in installs if "jupyterlab" in ln]
    assert lab_install and all(ln.startswith(".venv-lab/bin/python -m pip") for ln in lab_install)
    for ln in installs:
        if ln.startswith(".venv/"):
            assert "jupyterlab" not in ln and "[lab]" not in ln and ",lab" not in ln, ln
    assert any(ln.startswith(".venv-lab/bin/jupyter lab") for ln in lines), run.stdout
    assert not any(ln.startswith(".venv/bin/jupyter") for ln in lines), run.stdout
    # set-up done by `make lab-env`: the project's kernel, the hook, nbdime's git driver
    joined = run.stdout
    assert "kernelspec install --sys-prefix" in joined
    assert ".venv/share/jupyter/kernels/coalition-report" in joined
    assert ".venv-lab/bin/pre-commit install" in joined
    assert ".venv-lab/bin/nbdime config-git --enable" in joined
