# Backprop Lab — the two commands people use are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install run test test-fast lint bench bench-compare soak load clean

install: $(STAMP) $(NODE_STAMP)

# Reinstall only when the dependency list changes, so `make run`/`make test` stay quick.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: the CPU wheel; anything unpinned would pull a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Test tools only, pinned in package-lock.json: axe-core (accessibility test) and eslint; the app
# itself needs no npm. --include=dev: they are all devDependencies, kept even where npm is
# configured to omit them (NODE_ENV=production).
$(NODE_STAMP): package.json package-lock.json
	if command -v npm >/dev/null; then \
		npm ci --include=dev --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "npm not found: make lint and make test need Node.js and npm"; fi

run: install
	$(BIN)/python -m app serve --host $(HOST) --port $(PORT)

test: lint
	npm run test:js
	$(BIN)/python -m pytest

# Unit and protocol tests and the pure JS modules, without a browser, the Dockerfile replay or
# the tests marked slow: under two minutes, for the edit-test loop. `make test` runs them all.
test-fast: install
	npm run test:js
	$(BIN)/python -m pytest tests/unit tests/protocol -m "not slow"

# mypy is strict on app/ (pyproject.toml); ruff includes a complexity limit (C901).
lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy app
	npm run lint:js
	$(BIN)/hadolint --failure-threshold warning Dockerfile

bench: install
	$(BIN)/python -m bench

# Every figure of `make bench` for BASE (a commit) beside this tree's, measured alternately in
# one run so that the machine's drift hits both alike: make bench-compare BASE=main [QUICK=1]
BASE ?= main
bench-compare: install
	$(BIN)/python -m bench.compare $(BASE) $(if $(QUICK),--quick)

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
