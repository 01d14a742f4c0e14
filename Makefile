# geova: two commands do all set-up on a fresh machine (see README, Quick start).
#   make demo   install, build the Boston demo territory, serve the app on http://127.0.0.1:5000
#   make test   install, lint, run the whole suite on SpatiaLite and PostGIS

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install system-deps demo serve test lint typecheck typecheck-baseline bench clean translations translations-compile

system-deps:
	@bash scripts/install-system-deps.sh

$(BIN)/geova: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: system-deps $(BIN)/geova translations-compile

translations-compile: $(BIN)/geova
	@$(BIN)/python -m geova.web.translations

# After changing user-facing strings: extract them, update the French catalogue, then translate
# the new entries in geova/web/translations/fr/LC_MESSAGES/messages.po.
translations: $(BIN)/geova
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
	    -o geova/web/translations/messages.pot .
	$(BIN)/pybabel update -i geova/web/translations/messages.pot -d geova/web/translations --no-fuzzy-matching
	$(BIN)/python -m geova.web.translations

demo: install
	$(BIN)/geova demo
	$(BIN)/flask --app app run --host $(HOST) --port $(PORT)

# Production: gunicorn, sized and configured from GEOVA_* settings (README, Production).
serve: install
	$(BIN)/gunicorn --config python:geova.gunicorn_conf 'geova.web:create_app()'

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two test processes (pytest-xdist), one per core: each has its own PostGIS database, SpatiaLite
# files, browser and ports (tests/conftest.py); the slowest tests are listed at the end.
test: install lint typecheck
	$(BIN)/pytest -n 2 --durations=25

# mypy on geova/ against the recorded baseline (mypy-baseline.txt): fails on a new error, and on a
# recorded one that is gone. After fixing errors, or when a merge moved them: make typecheck-baseline
# (records mypy's current errors; review the diff, it must only shrink) and commit mypy-baseline.txt.
typecheck: install
	$(BIN)/mypy | $(BIN)/mypy-baseline filter --no-colors

typecheck-baseline: $(BIN)/geova
	$(BIN)/mypy | $(BIN)/mypy-baseline sync

# The benchmarks (bench/README.md): imports, then the load on a demo store (needs the bench extra: locust).
bench: install
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/load_bench.py

clean:
	rm -rf $(VENV) instance .pytest_cache
