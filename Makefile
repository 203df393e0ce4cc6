# One task runner for people and CI. `make run` serves the bundled corpus; `make test` runs it all.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# test processes: a test module stays in one (its fixtures are built once); the servers,
# browsers and Redis nodes the tests start are processes of their own
TEST_WORKERS ?= 2

.PHONY: setup system-packages run test lint bench-eval clean

$(BIN)/chachong: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[test]'
	touch $@

setup: $(BIN)/chachong

# Debian packages the tests use (browser, redis-server, CJK font): installed when missing and
# allowed, else a clear error naming them
system-packages:
	scripts/system-packages

run: setup
	$(BIN)/chachong serve --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check app tests bench docs
	$(BIN)/mypy app

test: system-packages setup lint
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadscope

bench-eval: setup
	$(BIN)/python bench/eval_dev.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
