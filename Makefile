# The two commands are `make run` and `make test`; everything else is for people who know the project.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test test-fast lint format bench bench-api-auth bench-ledger install clean-data

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

lint: $(STAMP)
	$(BIN)/ruff check mboa tests bench migrations
	$(BIN)/ruff format --check mboa tests bench migrations
	$(BIN)/mypy mboa

format: $(STAMP)
	$(BIN)/ruff format mboa tests bench migrations
	$(BIN)/ruff check --fix mboa tests bench migrations

bench: bench-api-auth bench-ledger

bench-api-auth: $(STAMP)
	$(BIN)/python bench/api_auth.py

## Ledger throughput (docs/benchmarks.md); MBOA_BENCH_SECONDS=3 for a smoke run.
bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger.py

clean-data:
	rm -rf .mboa
