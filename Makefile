# Two entry points (see README.md): `make demo` and `make test`. Both create or reuse .venv,
# install what is missing and build the extension first; re-running is fast when nothing changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps-installed
BUILD_STAMP := $(VENV)/.qgac-built
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test bench fuzz setup system-deps clean

demo: $(BUILD_STAMP)
	$(BIN)/python -m qgac_fast.demo

# `make test` then runs the numerics-sensitive test files again on other CPUs' code paths
# (docs/development.md, "Numerics in tests"): ATen, oneDNN and MKL narrowed to AVX2 (close to
# what AMD Zen runs, which Intel machines otherwise skip), then to their oldest paths (ATen's
# scalar kernels, oneDNN SSE4.1, MKL's SSE2-compatible path, which AMD machines otherwise skip),
# so that a test holding only for one CPU's kernels fails on the CI machine, whichever it is.
# About a minute each on 2 cores.
NUMERICS_TESTS := tests/test_model.py tests/test_color.py tests/test_cfm.py tests/test_sampling.py tests/test_dct.py \
	tests/test_native.py
NARROW_PATHS := "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2" \
	"ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_CBWR=COMPATIBLE"

test: $(BUILD_STAMP)
	$(BIN)/python -m pytest
	@for paths in $(NARROW_PATHS); do \
		echo "numerics-sensitive tests with $$paths"; \
		env $$paths $(BIN)/python -m pytest -q $(NUMERICS_TESTS) || exit 1; \
	done

# Every bench/bench_*.py file with pytest-benchmark, one JSON each in bench/results/, and its Markdown
# (and plot) by the report tool: bench/run.py. One file: `python -m bench.run png`.
bench: $(BUILD_STAMP)
	$(BIN)/python -m bench.run

# The long fuzz campaign (tools/fuzz.py; needs cjpeg/jpegtran): prints its table, saves any input
# that crashes, hangs or raises unexpectedly under fuzz-findings/, and fails if there was one or a
# target's memory grew by more than 50 MB over the second half of its inputs.
FUZZ_TARGETS ?= read-strict=100000 read-lax=100000 decode=5000 correct=1000 info=5000 estimate=5000 \
	correct-blind=5000 weights=5000 metadata=5000 memory=5000
fuzz: $(BUILD_STAMP)
	nice -n 10 $(BIN)/python tools/fuzz.py --seed 0 $(addprefix --target ,$(FUZZ_TARGETS)) \
		--json bench/results/fuzz-campaign.json --markdown bench/results/fuzz-campaign.md

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
