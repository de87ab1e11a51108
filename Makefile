# Backprop Lab — the two commands people use are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed
AXE := node_modules/axe-core/axe.min.js

.PHONY: install run test test-fast lint bench soak load clean

install: $(STAMP) $(AXE)

# Reinstall only when the dependency list changes, so `make run`/`make test` stay quick.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: the CPU wheel; anything unpinned would pull a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# axe-core (pinned in package-lock.json) for the accessibility test only; the app needs no npm.
# Without npm the test skips locally and fails in CI.
$(AXE): package.json package-lock.json
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $(AXE); \
	else echo "npm not found: the accessibility test will skip"; fi

run: install
	$(BIN)/uvicorn app.main:create_app --factory --host $(HOST) --port $(PORT)

test: install
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy app
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy app
	$(BIN)/hadolint --failure-threshold warning Dockerfile

bench: install
	$(BIN)/python -m bench

# 2 minutes of 20 pages training, turning knobs and reconnecting; fails on any error or RSS +10 %.
soak: install
	$(BIN)/python -m bench.soak

# N page-like learners against a running server at URL for SECONDS: size a server before class.
N ?= 100
SECONDS ?= 30
URL ?= http://$(HOST):$(PORT)
load:
	$(BIN)/python -m bench.load --url $(URL) -n $(N) --seconds $(SECONDS)

clean:
	rm -rf $(VENV) .pytest_cache artifacts
