# `make run` and `make test` do all the set-up themselves: they create .venv with the
# first python3 on PATH (3.11 or newer) and install the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: run test test-fast lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Javumbo needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# A stamp per extra: reinstall when pyproject.toml changes.
$(VENV)/.serve: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[serve]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,cdk]'
	touch $@ $(VENV)/.serve

run: $(VENV)/.serve
	JAVUMBO_BACKEND=$${JAVUMBO_BACKEND:-local} \
		$(BIN)/uvicorn api.main:app --host 127.0.0.1 --port $(PORT)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# One worker per core (servers use free ports and private directories; each worker has
# its own moto server). PYTEST_ARGS="-n 0" runs in one process.
pytest: $(VENV)/.dev
	$(BIN)/pytest -n auto --dist worksteal $(PYTEST_ARGS)

test: lint typecheck pytest

# The inner loop: unit and API tests only. No servers (uvicorn, moto over HTTP), no real
# Anki, no fuzzing, no CDK (importing it starts node). make test runs everything.
test-fast: $(VENV)/.dev
	$(BIN)/pytest -n auto --dist worksteal --ignore=tests/cdk \
		-m "not (integration or interop or load or fuzz)" $(PYTEST_ARGS)

# The real app against moto behind a latency proxy; rewrites docs/benchmarks.{md,json}
# and fails if a target is missed. BENCH_ARGS="--s3-latency-ms 10" etc. (python -m bench -h)
bench: $(VENV)/.dev
	$(BIN)/python -m bench --command "make bench $(BENCH_ARGS)" $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
