# The two commands are `make run` and `make test`; everything else is for people who know the project.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test lint format sdk-models catalogs bench bench-checkout bench-events bench-webhooks bench-api-auth bench-payments bench-ledger bench-ledger-cost bench-startup bench-dashboard install clean-data

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml sdks/python/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e sdks/python
	@touch $(STAMP)

# The Node SDK (sdks/node): its pinned devDependencies, then its ESM + CJS build; both are
# redone only when the lock file or the sources change. `npm ci --ignore-scripts`: the package's
# `prepare` (a build, for `npm pack` and git installs) would build it a first time for nothing.
NODE_SDK := sdks/node
$(NODE_SDK)/node_modules/.package-lock.json: $(NODE_SDK)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Node.js 18+ and npm are required for sdks/node"; exit 1; }
	cd $(NODE_SDK) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

$(NODE_SDK)/dist/.built: $(NODE_SDK)/node_modules/.package-lock.json $(wildcard $(NODE_SDK)/src/*.ts) $(NODE_SDK)/tsconfig.json $(NODE_SDK)/scripts/build.mjs
	cd $(NODE_SDK) && npm run --silent build
	@touch $@

install: $(STAMP) $(NODE_SDK)/dist/.built

## Regenerate the SDKs' models from the API (sdks/openapi.json, scripts/sdk_models.py).
sdk-models: $(STAMP) $(NODE_SDK)/node_modules/.package-lock.json
	$(BIN)/python scripts/sdk_models.py

## Start the whole platform on embedded PostgreSQL + Redis (or MBOA_DATABASE_URL / MBOA_REDIS_URL).
run: $(STAMP)
	$(BIN)/mboa up

## The whole suite (embedded servers unless MBOA_TEST_DATABASE_URL / MBOA_TEST_REDIS_URL are set).
test: $(STAMP) $(NODE_SDK)/dist/.built
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -q

## ruff, mypy --strict, the module contract (SQL in repositories, errors in exceptions.py), hadolint.
lint: $(STAMP)
	$(BIN)/ruff check mboa tests bench migrations scripts sdks/python/src examples/python
	$(BIN)/ruff format --check mboa tests bench migrations scripts sdks/python/src examples/python
	$(BIN)/mypy mboa scripts
	$(BIN)/mypy --strict sdks/python/src examples/python
	$(BIN)/python scripts/lint_contract.py
	$(BIN)/hadolint Dockerfile

format: $(STAMP)
	$(BIN)/ruff format mboa tests bench migrations scripts sdks/python/src examples/python
	$(BIN)/ruff check --fix mboa tests bench migrations scripts sdks/python/src examples/python

bench: bench-api-auth bench-payments bench-webhooks bench-checkout bench-ledger bench-ledger-cost bench-startup bench-dashboard

## Authenticated GET vs a bare FastAPI GET (needs wrk: installed here if missing).
bench-api-auth: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk; }
	$(BIN)/python bench/api_auth.py

## Payment intents: create vs a bare FastAPI + asyncpg insert, then end to end through the
## simulator (docs/benchmarks.md); MBOA_BENCH_SECONDS=5 for a smoke run.
bench-payments: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk; }
	$(BIN)/python bench/payments.py

## The payment page under 16 connections vs a bare FastAPI HTML route, and its first-load bytes
## (docs/benchmarks.md, "Checkout"); BENCH_SECONDS=5 for a smoke run.
bench-checkout: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk; }
	$(BIN)/python bench/checkout.py

## The dashboard on one merchant with 1,000,000 payment intents: list pages, searches and the
## streamed CSV export, with EXPLAIN asserting index paths (docs/benchmarks.md, "Dashboard").
bench-dashboard: $(STAMP)
	$(BIN)/python bench/dashboard.py

## Extract the payment pages' and the dashboard's strings and update their catalogs
## (docs/checkout.md, "Languages"; docs/dashboard.md, "Languages").
catalogs: $(STAMP)
	$(BIN)/python scripts/checkout_catalogs.py

## Server instructions per ledger transfer at head (vs the counts in docs/benchmarks.md), by callgrind.
bench-ledger-cost: $(STAMP)
	@command -v valgrind >/dev/null 2>&1 || apt-get install -y valgrind >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y valgrind; }
	$(BIN)/python bench/ledger_cost.py

## The event stream's choice: writes with and without a NOTIFY trigger, the cost of an idle poll.
bench-events: $(STAMP)
	$(BIN)/python bench/events_stream.py

## Webhook deliveries through the worker vs a bare httpx client, first-attempt latency at
## 200 events/s, lost deliveries (docs/benchmarks.md); MBOA_BENCH_EVENTS=400 for a smoke run.
bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py

## Seconds until a second `mboa up` serves again on existing data.
bench-startup: $(STAMP)
	@mkdir -p .mboa
	$(BIN)/python bench/startup.py

## Ledger throughput (docs/benchmarks.md); MBOA_BENCH_SECONDS=3 for a smoke run.
bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger.py

clean-data:
	rm -rf .mboa
