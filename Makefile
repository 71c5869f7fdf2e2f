# Two commands for a newcomer: `make demo` runs the engine with demo data, `make test` runs the
# tests. Both create .venv and install pinned dependencies on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_MEMBERS ?= 2000
DEMO_MONTHS ?= 12
DEMO_SEED ?= 42

.PHONY: install demo serve test lint format check-ledger worker beat bench bench-events bench-demo-events bench-kpis constraints clean

$(STAMP): pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else \"Python 3.11+ is required (set PYTHON=python3.x)\")"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_data --members $(DEMO_MEMBERS) --months $(DEMO_MONTHS) --seed $(DEMO_SEED) --url http://$(HOST):$(PORT)
	$(MAKE) serve

serve: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check-ledger: install
	$(BIN)/python manage.py check_ledger

bench: install
	$(BIN)/python bench/ledger_ops.py

bench-events: install
	$(BIN)/python bench/events.py
	$(BIN)/python bench/event_requests.py

bench-demo-events: install
	$(BIN)/python bench/demo_events.py

# KPI computation over 1M members beside DuckDB (PostgreSQL only; BENCH_KPI_SCALE=0.1 for 100k).
bench-kpis: install
	$(BIN)/python bench/kpis.py --scale $(or $(BENCH_KPI_SCALE),1.0)

worker: install
	$(BIN)/celery -A loyalty worker --loglevel=INFO

beat: install
	$(BIN)/celery -A loyalty beat --loglevel=INFO --schedule var/celerybeat-schedule

# Re-pin every dependency to what is installed now (after changing pyproject.toml ranges).
constraints: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^loyalty-engine' > requirements/constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
