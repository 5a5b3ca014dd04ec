# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := $(wildcard schemas ml infra streams agents api cli bench)

.PHONY: install system-packages demo test lint

$(BIN)/streamrec: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,spark]'
	touch $@

install: $(BIN)/streamrec

## Debian packages the tests use: Chromium for the browser test (Postgres is installed
## by `streamrec stack up` itself). Needs root; does nothing when they are present.
system-packages:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

## The main job: the whole pipeline on embedded defaults and built-in data.
demo: install
	$(BIN)/streamrec demo $(DEMO_ARGS)

## The test suite; starts the local stack for the run when it is not up.
test: install system-packages
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy $(PACKAGES)
