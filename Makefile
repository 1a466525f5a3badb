# gameday: every target wraps a `gameday` subcommand; `make install` runs first when needed.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
GAMEDAY := $(BIN)/gameday
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: install up down status test test-quick lint game-day smoke abort bench

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(GAMEDAY) up

down: $(STAMP)
	$(GAMEDAY) down

status: $(STAMP)
	$(GAMEDAY) status

abort: $(STAMP)
	$(GAMEDAY) abort

TEST_REPORTS := --junitxml=reports/tests/junit.xml --cucumberjson=reports/tests/cucumber.json
# two workers (the machine's two cores), each file's tests on one of them, in order; each worker that needs the
# local stack starts its own (conftest.py: a state directory per worker); `-n 0` runs everything in one process
PARALLEL := -n 2 --dist loadfile

test: $(STAMP)
	$(BIN)/ruff check .
	mkdir -p reports/tests
	$(PYTEST) $(PARALLEL) $(TEST_REPORTS)

test-quick: $(STAMP)
	mkdir -p reports/tests
	$(PYTEST) $(PARALLEL) -m "not slow" $(TEST_REPORTS)

lint: $(STAMP)
	$(BIN)/ruff check .

LOCAL_UP = $(if $(filter kubernetes,$(TARGET)),,$(GAMEDAY) up >/dev/null)

game-day: $(STAMP)
	$(LOCAL_UP)
	$(GAMEDAY) run $(EXPERIMENTS)

smoke: $(STAMP)
	$(LOCAL_UP)
	$(GAMEDAY) smoke

bench: $(STAMP)
	$(BIN)/python -m bench.run

-include deploy/kind.mk
