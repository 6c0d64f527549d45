# Two commands do all set-up: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-fresh lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/liveblog --db ./events.db --feeds ./feeds serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check liveblog tests bench
	$(BIN)/ruff format --check liveblog tests bench
	$(BIN)/mypy

# Every core (pytest-xdist), a module's tests on one worker in their order; each worker
# starts its own throwaway PostgreSQL cluster (tests/postgres.py).
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# As `test`, but every CLI command and service a new interpreter, as before the launcher
# (tests/forkcli.py): to check the suite does not depend on forking. Slower.
test-fresh: $(STAMP)
	LIVEBLOG_TEST_FRESH_CLI=1 $(BIN)/python -m pytest -q -n auto --dist loadfile

# For working sessions: no lint, no multi-process tests, stop at the first failure.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -n auto --dist loadfile -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
