# The two commands are `make run` and `make test`; everything else is for people who know the project.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test lint format bench bench-api-auth bench-payments bench-ledger bench-ledger-cost bench-startup install clean-data

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start the whole platform on embedded PostgreSQL + Redis (or MBOA_DATABASE_URL / MBOA_REDIS_URL).
run: $(STAMP)
	$(BIN)/mboa up

## The whole suite (embedded servers unless MBOA_TEST_DATABASE_URL / MBOA_TEST_REDIS_URL are set).
test: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -q

## ruff, mypy --strict, and the module contract (SQL in repositories, errors in exceptions.py).
lint: $(STAMP)
	$(BIN)/ruff check mboa tests bench migrations scripts
	$(BIN)/ruff format --check mboa tests bench migrations scripts
	$(BIN)/mypy mboa scripts
	$(BIN)/python scripts/lint_contract.py

format: $(STAMP)
	$(BIN)/ruff format mboa tests bench migrations scripts
	$(BIN)/ruff check --fix mboa tests bench migrations scripts

bench: bench-api-auth bench-payments bench-ledger bench-ledger-cost bench-startup

## Authenticated GET vs a bare FastAPI GET (needs wrk: installed here if missing).
bench-api-auth: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk; }
	$(BIN)/python bench/api_auth.py

## Payment intents: create vs a bare FastAPI + asyncpg insert, then end to end through the
## simulator (docs/benchmarks.md); MBOA_BENCH_SECONDS=5 for a smoke run.
bench-payments: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk; }
	$(BIN)/python bench/payments.py

## Server instructions per ledger transfer at head (vs the counts in docs/benchmarks.md), by callgrind.
bench-ledger-cost: $(STAMP)
	@command -v valgrind >/dev/null 2>&1 || apt-get install -y valgrind >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y valgrind; }
	$(BIN)/python bench/ledger_cost.py

## Seconds until a second `mboa up` serves again on existing data.
bench-startup: $(STAMP)
	@mkdir -p .mboa
	$(BIN)/python bench/startup.py

## Ledger throughput (docs/benchmarks.md); MBOA_BENCH_SECONDS=3 for a smoke run.
bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger.py

clean-data:
	rm -rf .mboa
