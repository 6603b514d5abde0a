PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run demo test lint bench install clean

# `make run` needs only the runtime requirements; `make test` adds the test tools.
$(BIN)/.installed-base: requirements/base.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/base.txt
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed-base requirements/test.txt
	$(BIN)/pip install --quiet -r requirements/test.txt
	touch $@

install: $(BIN)/.installed-test

## Start web server, Celery worker and Celery beat on embedded defaults (Ctrl-C stops all).
run: $(BIN)/.installed-base
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py sync_periodic_tasks
	$(BIN)/python manage.py run_platform --port $${PORT:-8000}

## The platform on embedded defaults with a simulated grid operator and optimizer already configured.
demo: $(BIN)/.installed-base
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py sync_periodic_tasks
	$(BIN)/python manage.py oscp_demo --port $${PORT:-8000} --sim-port $${SIM_PORT:-8100}

## Run the test suite (SQLite unless DATABASE_URL is set).
test: $(BIN)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

## Every benchmark and one combined table (under 15 minutes on 2 cores); QUICK=1 for the short run.
bench: $(BIN)/.installed-test
	$(BIN)/python bench/run_all.py $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) var
