"""mm.runs is the one home of a run: runs.yaml is current, dvc.yaml's stages write exactly the files it names, a run
by hand writes to scratch, and a new student or teacher profile is a params edit."""
import dataclasses

import pytest
from dvc.repo import Repo

from mm import ROOT, config, runs


def test_runs_yaml_is_current_with_params_yaml():
    assert runs.main(["--check"]) == 0


def test_every_stage_writes_exactly_the_files_mm_runs_names():
    study = config.load_params().study
    stages = {stage.addressing: {str(out.def_path) for out in stage.outs}
              for stage in Repo(str(ROOT)).index.stages}
    for run in runs.teacher_runs(study):
        files = run.files()
        assert stages.pop(run.stage) == {f"{files['out_dir']}/{name}.jsonl" for name in
                                          ("cots", "evals", "verdict_probe")} | {
            files["cache_file"], files["metrics_file"], files["notebook"]}
    for run in runs.all_runs(study):
        files = run.files()
        assert stages.pop(run.stage) == {run.notebook, files["predictions_file"], files["samples_file"],
                                          files["metrics_file"], f"{files['out_dir']}/dvclive/plots/metrics"}
    assert set(stages) == {"check", "data", "figures"}  # nothing else runs


def test_a_run_by_hand_writes_to_scratch(monkeypatch):
    run = runs.Run("smollm2", "qwen0_5b", "svamp", "mind_mirror", 0)
    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert runs.destination(run)["metrics_file"] == (
        "runs/scratch/smollm2-qwen0_5b-svamp-mind_mirror-0/metrics/distill/smollm2/qwen0_5b/svamp/mind_mirror/seed0.json")
    assert runs.destination(run, force=True)["metrics_file"] == run.metrics_file
    monkeypatch.setenv("DVC_STAGE", "distill@smollm2-qwen0_5b-svamp-step_by_step-0")  # another run's stage
    assert runs.destination(run)["out_dir"].startswith(runs.SCRATCH)
    monkeypatch.setenv("DVC_STAGE", run.stage)
    assert runs.destination(run) == run.files()
    teacher = runs.TeacherRun("qwen1_5b", "svamp")
    monkeypatch.delenv("DVC_STAGE")
    assert all(path.startswith(runs.SCRATCH) for path in runs.destination(teacher).values())  # its cache too


def test_a_student_or_teacher_profile_is_a_params_edit():
    study = config.load_params().study
    methods = [*study.methods, "no_self_eval"]  # a control: an ablations.yaml entry, at every seed
    wider = dataclasses.replace(study, teachers=study.teachers | {"qwen1_5b": ["svamp"]},
                                arms=study.arms | {"qwen_lora": {"qwen1_5b": {"svamp": methods}}})
    added = set(runs.study_runs(wider)) - set(runs.study_runs(study))
    assert {run.name for run in added} == {f"qwen_lora-qwen1_5b-svamp-{method}-{seed}"
                                           for method in methods for seed in study.seeds}
    control = runs.find("qwen_lora-qwen1_5b-svamp-no_self_eval-2", wider)
    assert (control.method, control.ablation, control.stage.split("@")[0]) == ("mind_mirror", "no_self_eval", "ablate")
    assert runs.TeacherRun("qwen1_5b", "svamp") in runs.teacher_runs(wider)
    assert "qwen1_5b-svamp:" in runs.runs_yaml(wider)


def test_find_names_the_fix_for_an_unknown_run():
    study = config.load_params().study
    assert runs.find("distill@smollm2-qwen0_5b-svamp-mind_mirror-0", study).method == "mind_mirror"
    with pytest.raises(KeyError, match="python -m mm.runs --list"):
        runs.find("distill@nobody", study)
