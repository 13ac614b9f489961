# Two entry points: `make demo` runs the main job on the sample data, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch: pip prefers "2.13.0+cpu" from this index over PyPI's CUDA
# build of the same version, which would pull several GB of CUDA libraries.
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PIP := $(BIN)/pip --disable-pip-version-check
export INCIDENT_HOME ?= var

.PHONY: demo serve test install install-test lint clean ensure-chromium

demo: $(VENV)/.installed
	$(BIN)/indexer build data/knowledge
	$(BIN)/recommender suggest --file data/alerts/alertmanager-disk-full.json

serve: $(VENV)/.installed
	$(BIN)/recommender serve

test: $(VENV)/.installed-test ensure-chromium
	$(BIN)/ruff check indexer recommender tests benchmarks
	$(BIN)/ruff format --check indexer recommender tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

# The page tests drive the system Chromium; Playwright's own browser download is
# not used. Installing it needs root and apt, as CI has.
ensure-chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(PIP) install --retries 1 --extra-index-url $(TORCH_INDEX) "torch==$(TORCH_VERSION)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e ".[test]"
	touch $@

clean:
	rm -rf $(VENV) var
