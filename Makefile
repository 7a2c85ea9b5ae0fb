# Two commands a fresh clone needs:
#   make render   offline render of every stack: the platform stacks (platform/: nonprod, prod)
#                 into build/render/platform-STACK, then dev, staging, prod into
#                 build/render/STACK (STACK=dev renders one environment stack only;
#                 PLATFORM=nonprod one platform stack only)
#   make test     lint, format check, type check and the whole test suite
# Both set up what they need on first use: .venv from the pinned requirements, and the pinned npm
# validators (package-lock.json) for the tests.

PYTHON ?= python3
STACKS := dev staging prod
PLATFORM_STACKS := nonprod prod
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
ifdef STACK
	$(PY) -m render $(STACK)
else ifdef PLATFORM
	$(PY) -m render --project platform $(PLATFORM)
else
	for stack in $(PLATFORM_STACKS); do $(PY) -m render --project platform $$stack || exit 1; done
	for stack in $(STACKS); do $(PY) -m render $$stack || exit 1; done
endif

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
