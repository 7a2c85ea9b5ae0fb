# Two commands a fresh clone needs:
#   make render   offline render of every stack: the platform stacks (platform/: nonprod, prod)
#                 into build/render/platform-STACK, then every environment stack file present
#                 (Pulumi.*.yaml), in chain order (python -m render stacks), into
#                 build/render/STACK (STACK=dev renders one environment stack only;
#                 PLATFORM=nonprod one platform stack only), then the project check (all
#                 stack files together: one chain, one owner per GitHub object)
#   make test     lint, format check, type check and the fast test tier (while editing)
# and the one CI runs:
#   make check    lint, format check, type check and every tier (executed workflows, real control
#                 plane, real supply-chain tools, real Prometheus); .ci/run calls it
# All set up what they need on first use: .venv from the pinned requirements, the pinned npm
# validators (package-lock.json), the Debian tools of the tier (installed when run as root,
# otherwise one line names the command; tools/system_tools.py) and the Go-built tools, cached by
# version under build/tools (tools/gotools.py). docs/testing.md says what each tier runs and costs.

PYTHON ?= python3
PLATFORM_STACKS := nonprod prod
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.stamp-requirements
NODE_STAMP := node_modules/.stamp-lock

FAST_TIER := not (pipeline or slow or subprocess or cluster or supplychain or prometheus or engine)
PLANE_TIERS := cluster or engine
SHARED_TIERS := (pipeline or slow or subprocess or supplychain or prometheus) and not ($(PLANE_TIERS))

.PHONY: render example test check lint typecheck pytest fast-tier full-tier system-fast system-full tools bench clean

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
	stacks="$$($(PY) -m render stacks)" || exit 1; \
	for stack in $$stacks; do $(PY) -m render $$stack || exit 1; done
	$(PY) -m render check-project
endif

# Start from another delivery model: the stack files of examples/NAME replace the project's
# (environment and platform), this repository's workflows follow the new chain, and the project
# check runs (docs/delivery-models.md). git shows and restores what changed.
example: $(VENV_STAMP)
ifndef NAME
	@echo "make example NAME=<$$(ls examples | tr '\n' ' ')>" >&2; exit 2
endif
	$(PY) -m render use-example $(if $(FORCE),--force) $(NAME)

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV_STAMP)
	$(VENV)/bin/mypy

system-fast:
	$(PYTHON) tools/system_tools.py fast

system-full:
	$(PYTHON) tools/system_tools.py full

# Every Go-built tool the full tier runs (each test also builds what it needs on first use).
tools: $(VENV_STAMP)
	$(PY) tools/gotools.py

fast-tier: $(VENV_STAMP) $(NODE_STAMP) system-fast
	@start=$$(date +%s); $(PY) -m pytest -n 2 -m "$(FAST_TIER)"; status=$$?; \
	echo "make test: fast tier took $$(( $$(date +%s) - start )) s (meant to stay under 2 minutes on two cores)"; \
	exit $$status

# The tiers after the fast one (make check runs make test first, so no test runs twice).
# Tiers that start a control plane run in one process: under -n 2 each xdist worker would
# start its own cluster on the same two cores. Everything else runs on two workers.
full-tier: $(VENV_STAMP) $(NODE_STAMP) system-full tools
	@start=$$(date +%s); \
	CICD_CHECK=1 $(PY) -m pytest -n 2 -m "$(SHARED_TIERS)"; status=$$?; \
	echo "make check: tiers without a control plane took $$(( $$(date +%s) - start )) s"; \
	mid=$$(date +%s); \
	CICD_CHECK=1 $(PY) -m pytest -p no:xdist -m "$(PLANE_TIERS)"; plane=$$?; \
	echo "make check: control-plane tiers took $$(( $$(date +%s) - mid )) s"; \
	echo "make check: every tier after the fast one took $$(( $$(date +%s) - start )) s"; \
	[ $$status -eq 0 ] && [ $$plane -eq 0 ]

pytest: fast-tier

test: lint typecheck fast-tier

check: test full-tier

bench: $(VENV_STAMP)
	$(PY) tools/bench.py
	$(PY) -m render ci-cost

clean:
	rm -rf build $(VENV) node_modules
