# Two commands do all the set-up: `make run` (main job) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/nef run scenarios/rosenbrock.toml

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m nef_agents.bench.engines
	$(BIN)/python -m nef_agents.bench.health
	$(BIN)/python -m nef_agents.bench.memory
	$(BIN)/python -m nef_agents.bench.framework

clean:
	rm -rf $(VENV) build *.egg-info
