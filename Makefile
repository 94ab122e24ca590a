# cardiofed: every target creates .venv when it is missing and installs the project into it.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The machine keeps a CPU wheel of torch on disk; pointing pip at it avoids gigabytes of CUDA packages.
TORCH_WHEELS ?= /opt/wheels

.PHONY: install demo test test-fast test-deployment lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(if $(wildcard $(TORCH_WHEELS)),--find-links $(TORCH_WHEELS)) torch==2.13.0
	$(BIN)/pip install -q $(if $(wildcard $(TORCH_WHEELS)),--find-links $(TORCH_WHEELS)) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/cardiofed demo --out runs/demo

# Every test: unit, real Flower simulations, and the real-process deployment, fault and security suite.
test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

# The inner loop: everything that starts no Flower federation (a minute or two).
test-fast: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m "not slow and not deployment"

# Only the real SuperLink/SuperNode processes over TLS: faults, strangers and unapproved apps.
test-deployment: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m deployment

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy shared server client

# Every benchmark (23 min on 2 idle cores) -> bench/results.json + .md; `make bench BENCH_ARGS=--quick`.
bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
