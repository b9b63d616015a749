# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(PYTHON) -m uv
VENV := .venv
export DAGSTER_HOME := $(CURDIR)/dagster_home
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup demo test lint validate bench clean

setup: ## Install uv and the locked environment (idempotent).
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet
	@npm ci --prefix tests/sdk_node --no-audit --no-fund --silent
	@echo "environment ready: $(VENV) (uv.lock), tests/sdk_node (package-lock.json)"

demo: setup ## Embedded platform: 48 h of history loaded, live demo traffic, Dagster UI on :3000.
	@bash scripts/demo.sh

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

validate: setup
	@$(VENV)/bin/dagster definitions validate -w workspace.yaml

test: setup lint validate ## Everything CI runs.
	@$(VENV)/bin/pytest -p no:cacheprovider

bench: setup ## Benchmarks (not run in CI); results go to bench/results/.
	@$(VENV)/bin/python bench/load_clickhouse.py
	@$(VENV)/bin/python bench/lake.py

clean:
	rm -rf .data $(filter-out $(DAGSTER_HOME)/dagster.yaml,$(wildcard $(DAGSTER_HOME)/*))
