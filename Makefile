# One entry point for people and CI. `make install` builds .venv from requirements.lock.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock setup.py connectors/pubmed/_fast.pyx schemas/_arrow_fast.pyx
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: install
	$(BIN)/biblioduck demo

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

bench: install
	$(BIN)/python -m benchmarks parse
	$(BIN)/python -m benchmarks e2e
	$(BIN)/python -m benchmarks floor
	$(BIN)/python -m benchmarks loader
	$(BIN)/python -m benchmarks ways-in
	$(BIN)/python -m benchmarks matching-quality
	$(BIN)/python -m benchmarks works-scale
	$(BIN)/python -m benchmarks backends --postgres-s3
	$(BIN)/python -m benchmarks jats-parse
	$(BIN)/python -m benchmarks landing-parse

clean:
	rm -rf $(VENV) data/*.duckdb data/*.duckdb.wal
