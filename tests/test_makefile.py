"""The Makefile's `carry`: an unfinished run resumes in a fresh clone from what is committed, so small resume
checkpoints are committed, large ones not; `study`: a finished run is committed without them; `ablations`: the stages
it runs exist; `quick`: only its runs."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mm import config

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _run(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_carry_commits_the_checkpoints_under_the_size_cap_only(root, tmp_path, monkeypatch):
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    shutil.copy(root / "Makefile", tmp_path / "Makefile")
    shutil.copy(root / ".gitignore", tmp_path / ".gitignore")
    _run(["git", "init", "-q"], tmp_path)
    _run(["git", "add", "."], tmp_path)
    _run(["git", "commit", "-q", "-m", "init"], tmp_path)
    small, large, finished = (tmp_path / "runs" / "distill" / "qwen_lora" / run for run in
                              ("cqa-mind_mirror-seed0", "cqa-step_by_step-seed0", "cqa-distill_label-seed0"))
    for run in (small, large):
        (run / "last" / "step20").mkdir(parents=True)
        (run / "last" / "state.json").write_text("{}")
        (run / "dvclive" / "plots").mkdir(parents=True)
        (run / "dvclive" / "plots" / "loss.tsv").write_text("step\tloss\n")
    (large / "last" / "step20" / "optimizer.bin").write_bytes(b"0" * 3 * 2**20)
    (finished / "last").mkdir(parents=True)  # no state.json: nothing to resume
    (finished / "last" / "stray.bin").write_bytes(b"0")

    printed = _run(["make", "-s", "carry", "CARRY_MAX_MB=2"], tmp_path)

    committed = _run(["git", "show", "--name-only", "--format=%s", "HEAD"], tmp_path).split()
    assert "runs/distill/qwen_lora/cqa-mind_mirror-seed0/last/state.json" in committed
    assert "runs/distill/qwen_lora/cqa-mind_mirror-seed0/dvclive/plots/loss.tsv" in committed
    assert not any("step_by_step" in path or "distill_label" in path for path in committed)
    assert "cqa-step_by_step-seed0/last" in printed and "not carried" in printed


def test_ablations_target_and_stages_run_the_ablations_params_yaml_names(root):
    """`make ablations` and ablations/dvc.yaml's matrix both take study.ablations (mm.config checks its names)."""
    from dvc.repo import Repo

    names = config.load_params().study.ablations
    printed = _run(["make", "-s", "--eval", "print-ablations: ; @echo $(ABLATIONS)", "print-ablations",
                    f"BIN={Path(sys.executable).parent}"], root)
    assert printed.split() == names
    stages = [stage.name for stage in Repo(str(root)).stage.collect("ablations/dvc.yaml")]
    assert sorted(stages) == sorted(f"ablate@svamp-{name}-0" for name in names)  # the target's stage names


@pytest.mark.parametrize("precision_check", [0, 3, 4])
def test_study_commits_a_finished_run_without_its_carried_checkpoint(root, tmp_path, monkeypatch, precision_check):
    """A run carried mid-way (`make carry` tracked its out/last) is committed, once finished, without out/last; one
    carried from a bf16 host to an fp32 one (`python -m mm.carry` exits 3) is left as it is, not run; one carried from
    an fp32 host to a bf16 one (exits 4) runs its stage's command under recipes/fp32.yaml, then `dvc commit`."""
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(root / "Makefile", repo / "Makefile")
    shutil.copy(root / ".gitignore", repo / ".gitignore")
    run = repo / "runs" / "distill" / "qwen_lora" / "cqa-mind_mirror-seed0"
    (run / "last" / "step40").mkdir(parents=True)
    (run / "last" / "state.json").write_text('{"step": 40}')
    (run / "last" / "step40" / "model.safetensors").write_bytes(b"0")
    _run(["git", "init", "-q"], repo)
    _run(["git", "add", "-f", "."], repo)
    _run(["git", "commit", "-q", "-m", "carried"], repo)
    fake_dvc = tmp_path / "venv" / "bin" / "dvc"  # a finished run: its outputs written, out/last moved on
    fake_dvc.parent.mkdir(parents=True)
    fake_dvc.write_text(f"#!/bin/sh\nset -e\necho \"$*\" >> {tmp_path / 'dvc.log'}\ntest $1 != commit || exit 0\n"
                        "run=runs/distill/qwen_lora/cqa-mind_mirror-seed0\n"
                        "mkdir -p metrics/distill/qwen_lora/cqa/mind_mirror predictions/qwen_lora/cqa/mind_mirror\n"
                        "echo '{}' > metrics/distill/qwen_lora/cqa/mind_mirror/seed0.json\n"
                        "echo '{}' > predictions/qwen_lora/cqa/mind_mirror/seed0.jsonl\n"
                        "echo lock > dvc.lock; echo '{}' > $run/run.ipynb\n"
                        "rm -r $run/last/step40; mkdir $run/last/step620\n"
                        "echo '{\"step\": 620}' > $run/last/state.json\n")
    fake_dvc.chmod(0o755)
    fake_python = fake_dvc.parent / "python"  # `python -m mm.carry RUN ...`: the carried checkpoint's precision;
    fake_python.write_text(f'#!/bin/sh\ntest $1 != -c || {{ echo "{fake_dvc} stage-cmd $3"; exit 0; }}\n'  # STAGE_CMD
                           f'echo "$*" >> {tmp_path / "carry.log"}\nexit {precision_check}\n')
    fake_python.chmod(0o755)

    _run(["make", "-s", "-o", "setup", "-o", "models", "study", f"VENV={tmp_path / 'venv'}", "STUDENT=qwen_lora",
          "DATASETS=cqa", "SEEDS=0", "METHODS=mind_mirror"], repo)

    assert (tmp_path / "carry.log").read_text().split()[:3] == ["-m", "mm.carry", str(run.relative_to(repo))]
    tracked = _run(["git", "ls-files"], repo).split()
    stage = "distill-qwen_lora@cqa-mind_mirror-0"
    if precision_check == 3:
        assert not (tmp_path / "dvc.log").exists()
        assert "runs/distill/qwen_lora/cqa-mind_mirror-seed0/last/step40/model.safetensors" in tracked
        assert (run / "last" / "step40").is_dir() and not (run / "run.ipynb").exists()
        return
    assert (tmp_path / "dvc.log").read_text().splitlines() == (
        [f"repro -s {stage}"] if precision_check == 0 else
        [f"stage-cmd {stage} -p params_file recipes/fp32.yaml", f"commit -f -q {stage}"])
    assert "runs/distill/qwen_lora/cqa-mind_mirror-seed0/run.ipynb" in tracked
    assert "metrics/distill/qwen_lora/cqa/mind_mirror/seed0.json" in tracked
    assert not any("/last/" in path for path in tracked)
    assert _run(["git", "status", "--porcelain"], repo) == ""


@pytest.mark.parametrize("outcomes, committed", [(["kill 200", "finish"], True),
                                                 (["kill 200", "kill 220", "kill 220"], False),
                                                 (["fail"], False)])
def test_study_resumes_a_killed_run_while_its_checkpoint_moves_on(root, tmp_path, monkeypatch, outcomes, committed):
    """A `dvc repro` killed mid-run (the OOM killer) is run again, to resume from its checkpoint, as long as each
    failure leaves a newer checkpoint than the one before; a failure without one stops the chain."""
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(root / "Makefile", repo / "Makefile")
    _run(["git", "init", "-q"], repo)
    _run(["git", "commit", "-q", "--allow-empty", "-m", "init"], repo)
    run = "runs/distill/qwen_lora/cqa-mind_mirror-seed0"
    script = tmp_path / "outcomes"
    script.write_text("\n".join(outcomes) + "\n")
    fake_dvc = tmp_path / "venv" / "bin" / "dvc"  # the next line of `outcomes`: kill STEP, finish or fail
    fake_dvc.parent.mkdir(parents=True)
    fake_dvc.write_text(f"#!/bin/sh\nset -e\nrun={run}\nread what step < {script}\nsed -i 1d {script}\n"
                        f"echo \"$what\" >> {tmp_path / 'calls.log'}\nmkdir -p $run/last\n"
                        "case $what in\n"
                        "  kill) echo \"{{\\\"global_step\\\": $step}}\" > $run/last/state.json; exit 137;;\n"
                        "  fail) exit 1;;\n"
                        "esac\nmkdir -p metrics/distill/qwen_lora/cqa/mind_mirror\n"
                        "mkdir -p predictions/qwen_lora/cqa/mind_mirror\n"
                        "echo '{}' > metrics/distill/qwen_lora/cqa/mind_mirror/seed0.json\n"
                        "echo '{}' > predictions/qwen_lora/cqa/mind_mirror/seed0.jsonl; echo lock > dvc.lock\n")
    fake_dvc.chmod(0o755)

    done = subprocess.run(["make", "-s", "-o", "setup", "-o", "models", "study", f"VENV={tmp_path / 'venv'}",
                           "STUDENT=qwen_lora", "DATASETS=cqa", "SEEDS=0", "METHODS=mind_mirror"], cwd=repo,
                          capture_output=True, text=True)

    assert (tmp_path / "calls.log").read_text().split() == [line.split()[0] for line in outcomes]
    assert (done.returncode == 0) == committed, done.stderr
    assert ("metrics/distill/qwen_lora/cqa/mind_mirror/seed0.json" in _run(["git", "ls-files"], repo)) == committed


def test_quick_runs_the_recipes_four_runs_and_the_tables_in_a_scratch_clone(root, tmp_path, monkeypatch):
    """`make quick` leaves the checkout alone and asks DVC for the quick runs only (not the ablations)."""
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    repo = tmp_path / "repo"
    repo.mkdir()
    for path in ("Makefile", ".gitignore", "params.yaml", "recipes/quick.yaml"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / path, repo / path)
    _run(["git", "init", "-q"], repo)
    _run(["git", "add", "."], repo)
    _run(["git", "commit", "-q", "-m", "init"], repo)
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (venv / "dvc").write_text(f'#!/bin/sh\necho "$(pwd) $*" >> {tmp_path / "dvc.log"}\n')
    for tool in ("python", "dvc"):
        (venv / tool).chmod(0o755)

    _run(["make", "-s", "-o", "setup", "-o", "models", "quick", f"VENV={venv.parent}"], repo)

    exp_run, figures = (tmp_path / "dvc.log").read_text().splitlines()
    clone = str(repo / "runs" / "scratch" / "quick")
    targets = [f"distill-smollm2@svamp-{method}-0"
               for method in ("finetune_gold", "distill_label", "step_by_step", "mind_mirror")]
    assert exp_run.startswith(f"{clone} exp run {' '.join(targets)} -S")
    assert "distill.n_train=160" in exp_run and "ablate" not in exp_run
    assert figures == f"{clone} repro -s figures"
    study = yaml.safe_load((root / "recipes" / "quick.yaml").read_text())["study"]  # the stage names the target assumes
    assert study["datasets"] == ["svamp"] and study["seeds"] == [0] and study["students"]["smollm2"] == ["svamp"]
    assert _run(["git", "status", "--porcelain"], repo) == ""  # the scratch clone is ignored
