# Two entry points (see README.md): `make demo` and `make test`. Both create or reuse .venv,
# install what is missing and build the extension first; re-running is fast when nothing changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps-installed
BUILD_STAMP := $(VENV)/.qgac-built
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test bench setup system-deps clean

demo: $(BUILD_STAMP)
	$(BIN)/python -m qgac_fast.demo

test: $(BUILD_STAMP)
	$(BIN)/python -m pytest

bench: $(BUILD_STAMP)
	$(BIN)/python bench/run.py

setup: $(BUILD_STAMP)

system-deps:
	@tools/ensure_system_deps.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): requirements.txt | $(BIN)/python
	$(PIP) install -r requirements.txt
	touch $@

$(BUILD_STAMP): $(DEPS_STAMP) setup.py pyproject.toml $(wildcard csrc/*) | system-deps
	$(PIP) install --no-build-isolation --no-deps -e .
	touch $@

clean:
	rm -rf build *.egg-info qgac_fast/*.so $(BUILD_STAMP)
