PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench install clean

$(BIN)/.installed: requirements/base.txt requirements/test.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/test.txt
	touch $@

install: $(BIN)/.installed

## Start web server, Celery worker and Celery beat on embedded defaults (Ctrl-C stops all).
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py sync_periodic_tasks
	$(BIN)/python manage.py run_platform --port $${PORT:-8000}

## Run the test suite (SQLite unless DATABASE_URL is set).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var
