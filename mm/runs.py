"""One home for a run: the name, DVC stage and files of every run of the study.

A teacher run is (teacher profile, dataset): its pool of CoTs and evaluations. A distill run is (student profile,
teacher profile, dataset, method, seed), where the method is one of mm.config.METHODS or an ablation of
ablations/ablations.yaml (a method and the keys it changes). params.yaml's `study:` section says which runs the study
holds; `python -m mm.runs` writes them to runs.yaml, which dvc.yaml's stages iterate over, so every path below is
spelled once, here.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import yaml

from mm import ROOT, config

RUNS_FILE = ROOT / "runs.yaml"
SCRATCH = "runs/scratch"  # by-hand runs write here, never over a committed output
HEADER = ("# Written by `python -m mm.runs` from params.yaml's study: section; do not edit: the check stage and\n"
          "# tests/test_runs.py fail when it is not current. dvc.yaml's teacher, distill and ablate stages iterate\n"
          "# over its entries.\n")


@dataclass(frozen=True)
class TeacherRun:
    """A teacher profile's pool on one dataset."""

    teacher: str
    dataset: str

    @property
    def name(self) -> str:
        return f"{self.teacher}-{self.dataset}"

    @property
    def stage(self) -> str:
        return f"teacher@{self.name}"

    @property
    def out_dir(self) -> str:
        return f"data/teacher/{self.teacher}/{self.dataset}"

    @property
    def cache_file(self) -> str:
        """Every completion the teacher model returned, by key: generation resumes from it, a replay reads only it."""
        return f"data/completions/{self.teacher}/{self.dataset}.jsonl"

    @property
    def metrics_file(self) -> str:
        return f"metrics/teacher/{self.teacher}/{self.dataset}.json"

    @property
    def notebook(self) -> str:
        return f"runs/teacher/{self.teacher}/{self.dataset}.ipynb"

    def files(self, root: str = "") -> dict[str, str]:
        """Its cots/evals folder, completion cache, metrics and executed notebook, under `root` if given."""
        prefix = f"{root}/" if root else ""
        return {"out_dir": prefix + self.out_dir, "cache_file": prefix + self.cache_file,
                "metrics_file": prefix + self.metrics_file, "notebook": prefix + self.notebook}


@dataclass(frozen=True)
class Run:
    """One distillation run. `ablation` names an entry of ablations/ablations.yaml, whose method replaces `method`."""

    student: str
    teacher: str
    dataset: str
    method: str
    seed: int
    ablation: str = ""

    @property
    def label(self) -> str:
        """The method as the study's tables name it: the ablation's name for an ablation."""
        return self.ablation or self.method

    @property
    def name(self) -> str:
        return f"{self.student}-{self.teacher}-{self.dataset}-{self.label}-{self.seed}"

    @property
    def stage(self) -> str:
        return f"{'ablate' if self.ablation else 'distill'}@{self.name}"

    @property
    def teacher_dir(self) -> str:
        return TeacherRun(self.teacher, self.dataset).out_dir

    def files(self, root: str = "") -> dict[str, str]:
        """The run's folder (notebook, curves, checkpoints) and its committed outputs, under `root` if given."""
        where = f"{self.student}/{self.teacher}/{self.dataset}"
        prefix = f"{root}/" if root else ""
        return {"out_dir": f"{prefix}runs/distill/{where}/{self.label}-seed{self.seed}",
                "metrics_file": f"{prefix}metrics/distill/{where}/{self.label}/seed{self.seed}.json",
                "predictions_file": f"{prefix}predictions/{where}/{self.label}/seed{self.seed}.jsonl",
                "samples_file": f"{prefix}predictions/{where}/{self.label}/seed{self.seed}.samples.jsonl"}

    @property
    def out_dir(self) -> str:
        return self.files()["out_dir"]

    @property
    def metrics_file(self) -> str:
        return self.files()["metrics_file"]

    @property
    def predictions_file(self) -> str:
        return self.files()["predictions_file"]

    @property
    def samples_file(self) -> str:
        return self.files()["samples_file"]

    @property
    def notebook(self) -> str:
        return f"{self.out_dir}/run.ipynb"


def teacher_runs(study: config.StudyConfig) -> list[TeacherRun]:
    """Every teacher pool the study prepares (`study.teachers`: profile -> datasets)."""
    return [TeacherRun(teacher, dataset) for teacher, datasets in study.teachers.items() for dataset in datasets]


def study_runs(study: config.StudyConfig) -> list[Run]:
    """Every run of the study's arms, in the order the study loop runs them: seed by seed, so each seed's table
    fills before the next seed starts (`study.arms`: student profile -> teacher profile -> dataset -> methods, a
    control being an ablations/ablations.yaml entry)."""
    return [_run(student, teacher, dataset, method, seed)
            for seed in study.seeds
            for student, teachers in study.arms.items()
            for teacher, datasets in teachers.items()
            for dataset, methods in datasets.items()
            for method in methods]


def _run(student: str, teacher: str, dataset: str, name: str, seed: int) -> Run:
    """A run of one of mm.config.METHODS, or of an ablation (its method from ablations/ablations.yaml)."""
    if name in config.METHODS:
        return Run(student, teacher, dataset, name, seed)
    return Run(student, teacher, dataset, config.load_ablation(name)[0], seed, name)


def ablation_runs(study: config.StudyConfig) -> list[Run]:
    """The ablations the study runs: each against the default SVAMP run (default student and teacher, seed 0)."""
    return [_run(config.DEFAULT_STUDENT, config.DEFAULT_TEACHER, "svamp", name, 0) for name in study.ablations]


def all_runs(study: config.StudyConfig) -> list[Run]:
    arms = study_runs(study)
    return arms + [run for run in ablation_runs(study) if run not in arms]


def find(stage_or_name: str, study: config.StudyConfig) -> Run:
    """The study's run with this stage or name (`distill@smollm2-…-0` or `smollm2-…-0`)."""
    for run in all_runs(study):
        if stage_or_name in (run.stage, run.name):
            return run
    raise KeyError(f"no run {stage_or_name!r} in params.yaml's study (python -m mm.runs --list names them)")


def by_hand(run: Run | TeacherRun, force: bool = False) -> bool:
    """Whether a run started outside DVC (DVC names the stage it runs in $DVC_STAGE)."""
    return not force and os.environ.get("DVC_STAGE", "").split(":")[-1] != run.stage


def destination(run: Run | TeacherRun, force: bool = False, into: str | None = None) -> dict[str, str]:
    """Where this process writes the run: its committed paths when DVC runs its stage (or `force`), else the same
    layout under `into` or runs/scratch/<name>/, so a run by hand (JupyterLab, papermill, the CLI) never overwrites
    the study (a teacher run by hand starts from a copy of the committed cache: `teacher.generate`)."""
    if not by_hand(run, force):
        return run.files()
    return run.files(str(into) if into else f"{SCRATCH}/{run.name}")


def runs_yaml(study: config.StudyConfig) -> str:
    """runs.yaml's text: the entries dvc.yaml's foreach stages iterate over, keyed by stage name suffix."""
    def distill_entry(run: Run) -> dict:
        return asdict(run) | {"label": run.label, "teacher_dir": run.teacher_dir, **run.files(),
                              "notebook": run.notebook}

    entries = {
        "teacher_runs": {t.name: asdict(t) | t.files() for t in teacher_runs(study)},
        "distill_runs": {r.name: distill_entry(r) for r in all_runs(study) if not r.ablation},
        "ablate_runs": {r.name: distill_entry(r) for r in all_runs(study) if r.ablation},
    }
    return HEADER + yaml.safe_dump(entries, sort_keys=False, width=120)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mm.runs [--params RECIPE]` writes runs.yaml from params.yaml (or a recipe laid over it, whose study
    then runs under `dvc exp run`); `--check` fails if it is not current; `--list` prints each run's stage and files."""
    argv = sys.argv[1:] if argv is None else list(argv)
    recipe = argv[argv.index("--params") + 1] if "--params" in argv else config.PARAMS
    study = config.load_params(recipe).study
    text = runs_yaml(study)
    if "--list" in argv:
        for run in teacher_runs(study) + all_runs(study):
            print(run.stage, *run.files().values())
    elif "--check" in argv:
        if not RUNS_FILE.exists() or RUNS_FILE.read_text() != text:
            print(f"{RUNS_FILE.name} is not current with params.yaml's study: run `python -m mm.runs`", file=sys.stderr)
            return 1
    else:
        RUNS_FILE.write_text(text)
        print(f"wrote {RUNS_FILE.name}: {len(teacher_runs(study))} teacher runs, {len(all_runs(study))} distill runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
