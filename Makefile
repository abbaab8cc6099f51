# The two commands of the README: `make serve` and `make test`. Both install what they need.
VENV ?= .venv
PYTHON ?= python3
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/segments_test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test test-sqlite test-postgres lint schema http-audit graphiql-assets

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

serve: install
	$(VENV)/bin/segments serve --host $(HOST) --port $(PORT)

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

# graphql-http's server audit (GraphQL over HTTP) against a running server: needs Node.js;
# `make http-audit URL=http://127.0.0.1:8000/graphql KEY=seg_...`
URL ?= http://$(HOST):$(PORT)/graphql
http-audit:
	cd tools/http-audit && npm ci --no-audit --no-fund && node audit.mjs $(URL) $(KEY)

# copy GraphiQL's built files again from the pinned npm packages (vendored: app/http/vendor/graphiql)
ASSETS := app/http/vendor/graphiql
graphiql-assets:
	rm -rf /tmp/segments-graphiql && mkdir -p /tmp/segments-graphiql
	cp $(ASSETS)/package.json /tmp/segments-graphiql/
	cd /tmp/segments-graphiql && npm install --no-audit --no-fund --ignore-scripts
	cd /tmp/segments-graphiql/node_modules && cp react/umd/react.production.min.js \
	  react-dom/umd/react-dom.production.min.js graphiql/graphiql.min.js graphiql/graphiql.min.css \
	  graphql-ws/umd/graphql-ws.min.js $(CURDIR)/$(ASSETS)/ && \
	  cp @graphiql/plugin-explorer/dist/index.umd.js $(CURDIR)/$(ASSETS)/plugin-explorer.umd.js && \
	  cp @graphiql/plugin-explorer/dist/style.css $(CURDIR)/$(ASSETS)/plugin-explorer.css
	sed -i 's|//# sourceMappingURL=.*$$||' $(ASSETS)/graphiql.min.js
	sed -i 's|/\*# sourceMappingURL=[^*]*\*/||' $(ASSETS)/graphiql.min.css
