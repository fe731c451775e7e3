"""mm.study, the study in the background: a killed run resumes while its checkpoint moves on, a carried checkpoint
keeps its precision, a finished run is committed without its checkpoint, small checkpoints are carried, and `stop`
ends exactly the study it started."""
import dataclasses
import json
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from mm import config, distill, runs, study, train

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
RUN = runs.Run("qwen_lora", "qwen0_5b", "cqa", "mind_mirror", 0)


def _git(repo, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """An empty git repository standing in for the project root."""
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "init")
    monkeypatch.setattr(study, "ROOT", tmp_path)
    return tmp_path


def _checkpoint(repo, run: runs.Run, step: int, size: int = 1) -> None:
    last = repo / run.out_dir / train.LAST
    last.mkdir(parents=True, exist_ok=True)
    (last / "state.json").write_text(json.dumps({"global_step": step}))
    (last / "weights.bin").write_bytes(b"0" * size)


@pytest.mark.parametrize("outcomes, finishes", [(["kill 200", "finish"], True),
                                                (["kill 200", "kill 220", "kill 220"], False),
                                                (["fail"], False)])
def test_a_killed_run_resumes_while_its_checkpoint_moves_on(repo, monkeypatch, outcomes, finishes):
    """A stage killed mid-run (the OOM killer) is run again, to resume from its checkpoint, as long as each failure
    leaves a newer checkpoint than the one before; a failure without one stops the study."""
    calls = []

    def fake_dvc(*args):
        what, *step = outcomes[len(calls)].split()
        calls.append(what)
        if what == "kill":
            _checkpoint(repo, RUN, int(step[0]))
        return subprocess.CompletedProcess(args, 0 if what == "finish" else 137)

    monkeypatch.setattr(study, "_dvc", fake_dvc)
    if finishes:
        study.reproduce(RUN, "repro")
    else:
        with pytest.raises(study.StudyError, match=RUN.stage):
            study.reproduce(RUN, "repro")
    assert calls == [line.split()[0] for line in outcomes]


def test_a_finished_run_is_committed_without_its_checkpoints(repo):
    _checkpoint(repo, RUN, 40)
    _git(repo, "add", "-f", ".")
    _git(repo, "commit", "-q", "-m", "carried")
    (repo / RUN.out_dir / train.BEST).mkdir()
    (repo / RUN.out_dir / train.BEST / "model.safetensors").write_bytes(b"0")  # the selected model: GBs
    for path in (RUN.metrics_file, RUN.predictions_file, RUN.samples_file, RUN.notebook, "dvc.lock"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("{}\n")

    study.commit(RUN)

    tracked = _git(repo, "ls-files").split()
    assert {RUN.metrics_file, RUN.predictions_file, RUN.notebook, "dvc.lock"} <= set(tracked)
    assert not any(f"/{train.LAST}/" in path or f"/{train.BEST}/" in path for path in tracked)
    assert _git(repo, "log", "-1", "--format=%s").strip() == f"Study: {RUN.name} (dvc repro)"


def test_carry_commits_the_checkpoints_under_the_size_cap_only(repo, capsys):
    small, large = RUN, dataclasses.replace(RUN, method="step_by_step")
    _checkpoint(repo, small, 20)
    _checkpoint(repo, large, 20, size=3 * 2**20)
    (repo / small.out_dir / "dvclive").mkdir()
    (repo / small.out_dir / "dvclive" / "metrics.json").write_text("{}")

    assert study.carry(max_mb=2) == [f"{small.out_dir}/{train.LAST}"]

    committed = _git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert f"{small.out_dir}/{train.LAST}/state.json" in committed
    assert f"{small.out_dir}/dvclive/metrics.json" in committed
    assert not any(large.out_dir in path for path in committed)
    assert "not carried" in capsys.readouterr().out


@pytest.mark.parametrize("trained_bf16", [True, False])
def test_a_carried_checkpoint_resumes_in_its_own_precision(tmp_path, monkeypatch, smoke_params, trained_bf16):
    """The precision is read off the key the run itself wrote: a host of the other precision finishes an fp32 run in
    fp32 and leaves a bf16 one for a bf16 host, instead of restarting it (which would discard it)."""
    recipe = yaml.safe_load(smoke_params.read_text())
    recipe["distill"]["bf16"] = "auto"  # the study's setting: each host picks
    params_file = tmp_path / "auto.yaml"
    params_file.write_text(yaml.safe_dump(recipe))
    run = runs.Run("smollm2", "qwen0_5b", "svamp", "step_by_step", 1)

    def interrupted_fit(*args):  # the run's key, as train.fit stores it in its first checkpoint; then a stop
        (tmp_path / run.out_dir / train.LAST).mkdir(parents=True)
        (tmp_path / run.out_dir / train.LAST / "state.json").write_text(json.dumps({"run_key": args[7]}))
        raise KeyboardInterrupt

    monkeypatch.setattr(distill, "bf16_is_fast", lambda: trained_bf16)
    monkeypatch.setattr(train, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        distill.run_stage(run, params_file, into=tmp_path)
    monkeypatch.setattr(study, "ROOT", tmp_path)

    _, params, _ = config.load_run_params(params_file)  # as the run loaded them
    assert study.carried_precision(run, params) is trained_bf16
    assert study.plan(run, params_file) == "repro"  # a host of its precision resumes it
    monkeypatch.setattr(distill, "bf16_is_fast", lambda: not trained_bf16)
    assert study.plan(run, params_file) == ("leave" if trained_bf16 else "fp32")
    shutil.rmtree(tmp_path / run.out_dir / train.LAST)
    assert study.plan(run, params_file) == "repro"  # nothing carried


def test_the_fp32_recipe_is_params_yaml_in_fp32():
    """What an fp32 host resolves params.yaml's `bf16: auto` to, so a run carried from it keeps its key under it."""
    params = config.load_params()
    assert params.distill.bf16 == "auto"
    assert config.load_params(study.FP32_RECIPE) == dataclasses.replace(
        params, distill=dataclasses.replace(params.distill, bf16=False))


def test_stop_ends_the_study_it_started_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "PID_FILE", tmp_path / "study.pid")
    assert not study.stop()  # none running
    started = subprocess.Popen([sys.executable, "-c", "import os, time; os.setpgrp(); time.sleep(60)"])
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        study.PID_FILE.write_text(str(started.pid))
        for _ in range(50):  # until the child has its own process group
            if subprocess.run(["ps", "-o", "pgid=", str(started.pid)], capture_output=True,
                              text=True).stdout.strip() == str(started.pid):
                break
            time.sleep(0.1)
        assert study.stop()
        assert started.wait(timeout=10) != 0 and bystander.poll() is None
        assert not study.PID_FILE.exists()
    finally:
        for process in (started, bystander):
            process.kill()
            process.wait()


def test_pools_grow_the_committed_cache_and_commit_it_as_it_grows(repo, monkeypatch):
    cache = repo / runs.TeacherRun("qwen1_5b", "svamp").cache_file
    commands = []

    class FakeGeneration:  # appends two completions, the first wait outlasting one commit interval
        def __init__(self, command):
            commands.append(command)
            cache.parent.mkdir(parents=True, exist_ok=True)
            self.waits = 0

        def wait(self, timeout):
            self.waits += 1
            with cache.open("a") as handle:
                handle.write(f'{{"key": "k{len(commands)}-{self.waits}"}}\n')
            if self.waits == 1:
                raise subprocess.TimeoutExpired("mm.teacher", timeout)
            return 0

    monkeypatch.setattr(study, "_start", FakeGeneration)
    study.grow_pools("qwen1_5b", ["svamp:100", "svamp:720"])

    assert [c[c.index("--set") + 5] for c in commands] == ["teacher.n_questions={svamp: 100}",
                                                          "teacher.n_questions={svamp: 720}"]
    assert all("--grow-cache" in c and "teacher.backend=local" in c for c in commands)
    log = _git(repo, "log", "--format=%s").splitlines()
    assert log[:2] == ["qwen1_5b teacher: svamp pool, 4 completions cached (growing)",
                       "qwen1_5b teacher: svamp pool, 3 completions cached (growing)"]
    assert _git(repo, "status", "--porcelain") == ""
