# The two commands of the README:
#   make demo   set up (if needed) and run the whole flow on a synthetic shop
#   make test   set up (if needed) and run every check and the whole test suite
# Everything a machine needs (uv, the locked virtualenv, Java, redis-server, Chromium, npm and
# the web console's vendored htmx) is installed here.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
# the web console's front-end library, vendored from the npm registry (web/package-lock.json)
VENDORED := src/dimrec/serve/console/static/vendor/htmx.min.js

# the compiled kernels (hatch_build.py builds them when uv installs the project)
KERNELS := $(wildcard src/dimrec/*/*.pyx)

.PHONY: setup system demo test check lint typecheck layers pytest clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: every command starts from compiled modules, even where
# PYTHONDONTWRITEBYTECODE keeps Python from caching them (see bench/cli_startup.py)
$(VENV)/.synced: uv.lock pyproject.toml hatch_build.py $(KERNELS) | $(UV) system
	$(UV) sync --locked --all-extras --compile-bytecode --python $(PYTHON)
	touch $@

$(VENDORED): web/package.json web/package-lock.json
	scripts/vendor-web.sh

system:
	@scripts/ensure-system-deps.sh

setup: system $(VENV)/.synced
	@$(MAKE) --no-print-directory $(VENDORED)
	@$(BIN)/python -m compileall -q src/dimrec >/dev/null

demo: setup
	$(BIN)/dimrec demo $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench hatch_build.py
	$(BIN)/ruff format --check src tests bench hatch_build.py

typecheck: setup
	$(BIN)/mypy

layers: setup
	$(BIN)/lint-imports

# the whole suite measures coverage and fails under its floor ([tool.coverage.report]);
# a subset (PYTEST_ARGS) does not
COVERAGE := --cov --cov-report=term
pytest: setup
	DIMREC_REQUIRE_SERVICES=1 $(BIN)/pytest $(if $(PYTEST_ARGS),,$(COVERAGE)) $(PYTEST_ARGS)

check: lint typecheck layers

test: check pytest

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* var \
	  web/node_modules $(dir $(VENDORED)) build $(KERNELS:.pyx=.c) $(wildcard src/dimrec/*/*.so)
