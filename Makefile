# The README's commands. Each installs what it needs first (a virtualenv in .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The local instance; the grading-pipeline commands fall back to it too (settings.DEFAULT_DAGSTER_HOME).
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: install demo test dev bench torture clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/grading-pipeline demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev

bench: install
	$(BIN)/python scripts/with-firestore-emulator.py $(BIN)/grading-pipeline bench

# Real processes against one warehouse (concurrency, SIGKILL, stale holders, lock backend loss, range
# backfills): one table, exit 1 on an invariant violation. TORTURE_ARGS="--quick" (or --help).
torture: install
	$(BIN)/python scripts/with-firestore-emulator.py $(BIN)/python -m grading_pipeline_tests.torture $(TORTURE_ARGS)

clean:
	rm -rf data .dagster_home
