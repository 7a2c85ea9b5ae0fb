# Two commands a fresh clone needs:
#   make render   offline render of the dev stack (STACK=staging|prod for the others)
#   make test     lint, format check, type check and the whole test suite
# Both set up what they need on first use: .venv from the pinned requirements, and the pinned npm
# validators (package-lock.json) for the tests.

PYTHON ?= python3
STACK ?= dev
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.stamp-requirements
NODE_STAMP := node_modules/.stamp-lock

.PHONY: render test lint typecheck pytest bench clean

$(VENV_STAMP): requirements.txt requirements-dev.txt delivery_metrics/requirements.in
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

render: $(VENV_STAMP)
	$(PY) -m render $(STACK)

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV_STAMP)
	$(VENV)/bin/mypy

pytest: $(VENV_STAMP) $(NODE_STAMP)
	$(PY) -m pytest -n 2

test: lint typecheck pytest

bench: $(VENV_STAMP)
	$(PY) tools/bench.py

clean:
	rm -rf build $(VENV) node_modules
