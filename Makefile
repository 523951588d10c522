# Everyday commands. The venv is .venv (python3 -m venv .venv && .venv/bin/pip install -e '.[dev]').
VENV ?= .venv
BIN := $(VENV)/bin
PG ?= postgresql+psycopg://postgres@127.0.0.1:5432
BENCH_DATABASE_URL ?= $(PG)/tandem_bench

.PHONY: lint test test-pg bench bench-data bench-small

lint:  ## ruff (lint and format check) and mypy on the pure packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test:  ## the suite on SQLite
	$(BIN)/pytest -q

test-pg:  ## the suite on a throw-away PostgreSQL database
	db=tandem_test_$$$$; createdb -h 127.0.0.1 -U postgres $$db && \
	TANDEM_TEST_DATABASE_URL=$(PG)/$$db $(BIN)/pytest -q; status=$$?; \
	dropdb -h 127.0.0.1 -U postgres --if-exists $$db; exit $$status

bench-data:  ## the full benchmark data set (200 therapists, 4,000 couples, a year)
	$(BIN)/python -m bench.generate --reset --database-url $(BENCH_DATABASE_URL)

bench-small:  ## a quick data set and a short load test
	$(BIN)/python -m bench.generate --reset --small --database-url $(PG)/tandem_bench_small
	$(BIN)/python -m bench.load --duration 3 --database-url $(PG)/tandem_bench_small

bench:  ## load test (wrk) against the benchmark data set; run bench-data once first
	$(BIN)/python -m bench.load --database-url $(BENCH_DATABASE_URL)
