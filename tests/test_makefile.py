"""The Makefile's `quick`: the recipe's four runs and the tables in a scratch clone, the checkout left alone."""
import shutil
import subprocess
import sys

from mm import config, runs

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _run(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


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
    targets = [f"distill@smollm2-qwen0_5b-svamp-{method}-0"
               for method in ("finetune_gold", "distill_label", "step_by_step", "mind_mirror")]
    assert exp_run.startswith(f"{clone} exp run {' '.join(targets)} -S")
    assert "distill.n_train=160" in exp_run and "ablate" not in exp_run
    assert figures == f"{clone} repro -s figures"
    study = config.load_params().study  # the target's stages are the study's
    assert all(runs.find(stage, study) for stage in targets)
    assert _run(["git", "status", "--porcelain"], repo) == ""  # the scratch clone is ignored
