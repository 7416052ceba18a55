# coalition-report — `make help` lists the targets. The two you need: `make report`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help report test validate lab bench clean system-deps venv lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name coalition-report --display-name "Python (coalition-report)" >/dev/null
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install the pinned dependencies (constraints.txt)

system-deps: ## apt-get chromium, poppler-utils, pango, DejaVu fonts if missing
	@bash scripts/install-system-deps.sh

report: venv system-deps ## build the brief (reports/coalition-brief.html and .pdf) from the shipped data
	$(VENV)/bin/coalition-report validate
	$(VENV)/bin/coalition-report build

validate: venv ## validate the data package and print its summary
	$(VENV)/bin/coalition-report validate

test: venv system-deps ## run the whole test suite
	$(PY) -m pytest

lab: venv ## open JupyterLab on the project's kernel (package installed editable)
	$(PY) -m pip install -q -c constraints.txt -e '.[lab]'
	$(VENV)/bin/jupyter lab notebooks/

bench: venv ## time the build against hand-run papermill + nbconvert
	$(PY) scripts/bench.py

lock: ## re-pin constraints.txt from a fresh resolve (then review the diff)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install -q -e '.[test,lab]' \
	  && .venv-lock/bin/pip freeze --exclude-editable | grep -v '^coalition-report' > constraints.txt && rm -rf .venv-lock

clean: ## remove generated reports and caches (keeps .venv)
	rm -rf reports/*.html reports/*.pdf reports/*.json reports/.failed .pytest_cache
