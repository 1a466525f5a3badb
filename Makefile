# gameday: every target wraps a `gameday` subcommand; `make install` runs first when needed.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
GAMEDAY := $(BIN)/gameday
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: install up down status test test-quick lint game-day smoke abort bench heavy-game-day

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

# ruff, then the layer contracts of pyproject.toml ([tool.importlinter]: layers, no cycles, targets apart)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

LOCAL_UP = $(if $(filter kubernetes,$(TARGET)),,$(GAMEDAY) up >/dev/null)

game-day: $(STAMP)
	$(LOCAL_UP)
	$(GAMEDAY) run $(EXPERIMENTS)

smoke: $(STAMP)
	$(LOCAL_UP)
	$(GAMEDAY) smoke

# the heavy reference service's whole game day (sut/heavy_shop: ~30 ms of CPU per page, ~15 s starts, a worker per
# replica), on a stack of its own; too slow for `make test`
HEAVY := GAMEDAY_PROFILE=profiles/heavy-shop.yaml GAMEDAY_STATE_DIR=$(or $(GAMEDAY_STATE_DIR),/var/tmp/gameday)-heavy-shop

heavy-game-day: $(STAMP)
	$(HEAVY) $(GAMEDAY) up >/dev/null
	$(HEAVY) $(GAMEDAY) run; status=$$?; $(HEAVY) $(GAMEDAY) down >/dev/null; exit $$status

bench: $(STAMP)
	$(BIN)/python -m bench.run

-include deploy/kind.mk
