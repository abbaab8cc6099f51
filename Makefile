# The two commands of the README: `make serve` and `make test`. Both install what they need.
VENV ?= .venv
PYTHON ?= python3
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/segments_test

.PHONY: install serve test test-sqlite test-postgres lint schema

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

serve: install
	$(VENV)/bin/segments serve --host 127.0.0.1 --port 8000

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test-sqlite: install
	DATABASE_URL= $(VENV)/bin/pytest -q

test-postgres: install
	bash .ci/postgres-up
	DATABASE_URL=$(PG_TEST_URL) $(VENV)/bin/pytest -q

# the whole suite: lint, then the tests on SQLite and on PostgreSQL
test: lint test-sqlite test-postgres

schema: install
	$(VENV)/bin/python -m app.schema
