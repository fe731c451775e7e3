"""params.yaml -> frozen, type-checked dataclasses; a typo or an impossible value fails naming its key.

The sections and their defaults, and how params.yaml (a recipe, a profile, an ablation laid over it) becomes them;
the type checking is mm.typed, the commands `python -m mm.config` runs are mm.recipes."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mm import ROOT, tasks
from mm.typed import ParamsError, build, check_type, load_yaml, require, require_known


@dataclass(frozen=True)
class DataConfig:
    """The `data:` section: where benchmarks come from and how train is subsampled."""

    source: Literal["local", "hub"] = "local"  # hub: HF `anli` for ANLI R1 (needs network)
    anli_valid_fraction: float = 0.1  # local ANLI: the official dev split is cut into train/valid once
    split_seed: int = 0  # seed of that ANLI cut (fixed: never re-split per run)
    n_train: int | None = None  # subsample train for CPU profiles; None keeps all
    seed: int = 0  # seed of the n_train subsample

    def check(self) -> None:
        require(0 < self.anli_valid_fraction < 1, "data.anli_valid_fraction", "must be in (0, 1)")
        require(self.n_train is None or self.n_train > 0, "data.n_train", "must be positive or null")


@dataclass(frozen=True)
class TeacherConfig:
    """The `teacher:` section: which LLM writes CoTs and self-evaluations, and how."""

    backend: Literal["local", "openai", "replay", "palm"] = "replay"
    replay_of: Literal["local", "openai"] = "local"  # replay: which generator's cached completions to read
    model: str = "qwen2.5-0.5b"  # local: an offline model name (mm.teacher.LOCAL_MODELS) or a path
    engine: Literal["auto", "llama_cpp", "transformers"] = "auto"  # local backend runtime (auto: transformers)
    batch_size: int = 128  # local transformers engine: sequences decoded together
    base_url: str = "https://api.openai.com/v1"  # openai backend
    api_key_env: str = "OPENAI_API_KEY"  # name of the env var holding the key; the key is never stored
    concurrency: int = 4  # openai backend: requests in flight (1 for a single-slot server such as llama.cpp's)
    timeout: float = 600.0  # openai backend: seconds one request may wait for its answer, queueing included
    max_retries: int = 8  # openai backend: retries of a failed request (429/5xx/timeouts), with backoff
    n_cots: int = 5  # CoTs sampled per question
    n_evals: int = 1  # self-evaluations per CoT
    eval_mode: Literal["reference", "gold_verdict", "teacher"] = "reference"  # who decides correct/wrong (mm.prompts)
    n_shots: int = 4  # few-shot exemplars in the CoT prompt
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 200
    eval_max_tokens: int | None = None  # the teacher's own evaluations (teacher mode, verdict probe); None: max_tokens
    seed: int = 0
    verdict_probe: int = 40  # verdicts from gold: the teacher also judges this many CoTs (half right), to report
    rationalize: bool = False  # STaR-style retry with the gold answer as a hint when no CoT is right
    n_questions: dict[str, int | None] = field(default_factory=lambda: {"svamp": 720, "cqa": 2000, "anli1": 900})
    # per dataset; null or a dataset not named = its whole train split
    price_per_mtok_in: float = 0.5  # USD per 1M prompt tokens, for the cost estimate in the report
    price_per_mtok_out: float = 1.5

    def check(self) -> None:
        for name in ("n_cots", "n_shots", "max_tokens", "concurrency", "batch_size"):
            require(getattr(self, name) > 0, f"teacher.{name}", "must be positive")
        require(self.n_evals >= 0, "teacher.n_evals", "must be >= 0")
        require(self.timeout > 0, "teacher.timeout", "must be positive")
        require(self.max_retries >= 0, "teacher.max_retries", "must be >= 0")
        require(self.verdict_probe >= 0, "teacher.verdict_probe", "must be >= 0")
        require(self.eval_max_tokens is None or self.eval_max_tokens > 0, "teacher.eval_max_tokens",
                "must be positive or null")
        require(0 <= self.temperature <= 2, "teacher.temperature", "must be in [0, 2]")
        require(0 < self.top_p <= 1, "teacher.top_p", "must be in (0, 1]")
        for name, n in self.n_questions.items():
            require(n is None or n > 0, f"teacher.n_questions.{name}", "must be positive or null")


@dataclass(frozen=True)
class StudentConfig:
    """The `student:` section: which small model learns, built from config or loaded."""

    kind: Literal["seq2seq", "causal"] = "causal"
    # seq2seq: t5-v1_1-{tiny,small,base,large} (random init from config) or a checkpoint path/hub id;
    # causal: smollm2-135m or qwen2.5-0.5b (pretrained, offline GGUF), tiny-llama (random, tests)
    # or a checkpoint path/hub id.
    name: str = "smollm2-135m"
    vocab_size: int = 8000  # tokenizer trained on the training texts for from-config students
    lora_r: int = 0  # 0 = full fine-tuning; >0 = LoRA adapters of this rank (peft)
    lora_alpha: int = 32
    max_source_tokens: int = 384
    max_target_tokens: int = 192

    def check(self) -> None:
        for name in ("vocab_size", "max_source_tokens", "max_target_tokens"):
            require(getattr(self, name) > 0, f"student.{name}", "must be positive")
        require(self.lora_r >= 0, "student.lora_r", "must be >= 0")


METHODS = ("finetune_gold", "distill_label", "step_by_step", "mind_mirror")
DEFAULT_STUDENT = "smollm2"  # the profile that is params.yaml's own `student:` (ablations change one thing against it)
DEFAULT_TEACHER = "qwen0_5b"  # the profile that is params.yaml's own `teacher:`
PROFILE_SECTIONS = ("student", "distill", "evaluate")


@dataclass(frozen=True)
class DistillConfig:
    """The `distill:` section: training data per method, optimisation budget, validation-based selection."""

    n_train: int | None = None  # train questions (of those the teacher answered); None = all
    train_fraction: float = 1.0  # ablation: share of those questions kept
    n_cots: int = 5  # teacher CoTs per question used by mind_mirror (step_by_step always uses 1)
    n_evals: int = 1  # teacher evaluations per CoT used by mind_mirror's self-evaluation stage
    alpha: float = 0.5  # loss = alpha * predict + (1 - alpha) * explain
    filter_incorrect: bool = True  # drop teacher outputs whose answer is wrong (the offline teacher is weak)
    match_cot_questions: bool = False  # finetune_gold: only the questions the CoT methods keep (data-matched control)
    self_eval: bool = True  # mind_mirror stage 1 (ablation: off = multi-CoT distillation only)
    # mind_mirror stage 1's targets: the teacher stage's evaluation texts, or only the CoT's own answer and its verdict
    self_eval_targets: Literal["teacher", "verdict_only"] = "teacher"
    epochs: float = 5.0  # cap on passes over the final stage's pairs (every method); early stopping ends it sooner
    self_eval_epochs: float = 1.0  # passes over mind_mirror's self-evaluation pairs (not validated: no early stop)
    self_eval_pairs_per_question: int | None = 2  # balanced subsample of (CoT, evaluation) pairs; None = all
    batch_size: int = 8  # pairs per step (multi-task: each gives a predict and an explain sequence)
    pack_cots: bool = True  # causal students: a question's CoTs share one copy of it (same loss, less compute)
    grad_accum: int = 1
    lr: float = 1e-4
    warmup_fraction: float = 0.1
    weight_decay: float = 0.0
    bf16: bool | Literal["auto"] = "auto"  # autocast; auto: where bf16 is fast (GPU, AMX, AVX512-BF16), fp32 else
    evals_per_epoch: int = 4  # validations of the final stage per epoch (and at its end)
    patience: int = 4  # stop the final stage after this many validations without a new best
    min_epochs: float = 2.0  # ... but not before this epoch of it: a lucky early valid score cannot end a run unlearnt
    save_every: int = 20  # resumable checkpoint every this many steps
    n_valid: int | None = 100  # valid questions used for selection; None = all
    n_test: int | None = None  # test items of the predict head, scored once at the end; None = the whole split
    n_test_explain: int | None = 300  # a fixed subset of them for the explain head (generation is costlier)
    select_head: Literal["predict", "explain"] = "predict"  # head whose valid accuracy picks the checkpoint
    choice_score: Literal["mean", "sum"] = "mean"  # options ranked by mean or summed log-probability of their tokens
    max_new_tokens_predict: int = 24
    max_new_tokens_explain: int = 96
    eval_batch_size: int = 64

    def check(self) -> None:
        require(0 <= self.alpha <= 1, "distill.alpha", "must be in [0, 1]")
        require(0 < self.train_fraction <= 1, "distill.train_fraction", "must be in (0, 1]")
        require(0 <= self.warmup_fraction < 1, "distill.warmup_fraction", "must be in [0, 1)")
        require(self.lr > 0, "distill.lr", "must be positive")
        for name in ("n_cots", "n_evals", "epochs", "batch_size", "grad_accum", "evals_per_epoch", "patience",
                     "save_every", "max_new_tokens_predict", "max_new_tokens_explain", "eval_batch_size"):
            require(getattr(self, name) > 0, f"distill.{name}", "must be positive")
        require(self.self_eval_epochs >= 0, "distill.self_eval_epochs", "must be >= 0")
        require(self.min_epochs >= 0, "distill.min_epochs", "must be >= 0")
        for name in ("n_train", "n_valid", "n_test", "n_test_explain", "self_eval_pairs_per_question"):
            value = getattr(self, name)
            require(value is None or value > 0, f"distill.{name}", "must be positive or null")


@dataclass(frozen=True)
class EvaluateConfig:
    """The `evaluate:` section: inference-time use of the selected student on test items (self-consistency votes)."""

    self_consistency: bool = True  # sample CoTs with the explain head (methods that have one) and vote
    ks: list[int] = field(default_factory=lambda: [1, 3, 5])  # votes over the first k samples
    temperature: float = 0.7
    n_items: int | None = 30  # test items sampled (max(ks) CoTs each); None = all scored test items
    n_bins: int = 10  # reliability bins for ECE

    def check(self) -> None:
        require(bool(self.ks) and all(k > 0 for k in self.ks), "evaluate.ks", "must be positive integers")
        require(self.temperature > 0, "evaluate.temperature", "must be positive (sampling)")
        require(self.n_items is None or self.n_items > 0, "evaluate.n_items", "must be positive or null")
        require(self.n_bins > 0, "evaluate.n_bins", "must be positive")


@dataclass(frozen=True)
class StudyConfig:
    """The `study:` section: which runs the study holds (mm/runs.py names them and writes runs.yaml for dvc.yaml).
    No defaults: params.yaml alone holds the study, so adding runs to it is a params edit, never an edit of this
    module (which every run's training imports)."""

    datasets: list[str]  # benchmarks the data stage prepares
    teachers: dict[str, list[str]]  # a `teachers:` profile -> the datasets its teacher stage writes a pool for
    # a `students:` profile -> a teacher profile -> a dataset -> its methods (mm.config.METHODS, or controls:
    # ablations/ablations.yaml entries), each run at every seed
    arms: dict[str, dict[str, dict[str, list[str]]]]
    methods: list[str]  # the paper's methods, compared pair by pair in the tables
    seeds: list[int]
    ablations: list[str]  # ablations/ablations.yaml entries run against the default SVAMP run (seed 0), in order

    def check(self) -> None:
        for name in self.methods:
            require(name in METHODS, "study.methods", f"unknown method {name!r}; known: {METHODS}")

@dataclass(frozen=True)
class TaskSpec:
    """A `tasks:` entry: your own benchmark from JSONL files (paths from the project root; mm.tasks.spec)."""

    train: str
    valid: str
    test: str
    answer: Literal["label", "choice", "equation"]
    labels: list[str] = field(default_factory=list)  # label answers: the label set (lower case)
    id_field: str = "id"
    question_field: str = "question"
    answer_field: str = "answer"  # label: a label; choice: a letter a-e or the choice's text; equation: a number
    choices_field: str = "choices"  # choice answers: a list of 2-5 option texts
    equation_field: str | None = None  # equation answers: the gold equation, the predict-head target if given
    rationale_field: str | None = "rationale"  # a right CoT: needed by exemplars and the `palm` teacher backend
    exemplar_ids: list[str] = field(default_factory=list)  # train ids shown as few-shot examples to the teacher
    instruction: str = "Answer the question. Explain briefly, then end with 'So the answer is X.'"

    def check(self) -> None:
        require(self.answer != "label" or len(self.labels) >= 2, "labels", "must list >= 2 labels for answer: label")
        require(all(label == label.lower() for label in self.labels), "labels", "must be lower case")
        for split in ("train", "valid", "test"):
            require((ROOT / getattr(self, split)).is_file(), split, f"{getattr(self, split)!r} is not a file")


@dataclass(frozen=True, kw_only=True)
class Params:
    """All of params.yaml."""

    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    study: StudyConfig
    tasks: dict[str, TaskSpec] = field(default_factory=dict)  # your own benchmarks, by name
    # Student profiles by name: overlays of `student:`/`distill:`/`evaluate:` keys for the distill stage's student axis
    students: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {DEFAULT_STUDENT: {}})
    # Teacher profiles by name: overlays of `teacher:` keys; each writes its pools to data/teacher/<name>/<dataset>/
    teachers: dict[str, dict[str, Any]] = field(default_factory=lambda: {DEFAULT_TEACHER: {}})


ABLATIONS = ROOT / "ablations" / "ablations.yaml"
PARAMS = ROOT / "params.yaml"


def load_params(path: str | Path = PARAMS, overrides: dict[str, Any] | None = None) -> Params:
    """params.yaml, or a recipe laid over it, into typed, checked sections (a relative path is from the project root).

    A recipe (any file other than params.yaml) changes only the keys it names, so its omitted keys keep params.yaml's
    values; `overrides` ({"distill": {"n_cots": 3}}) go on top and are validated the same way.
    """
    path = Path(path)
    path = path if path.is_absolute() else ROOT / path
    layers = ([] if path.resolve() == PARAMS.resolve() else [PARAMS]) + [path]
    raw: dict[str, Any] = {}
    for layer in [*(load_yaml(p.read_text()) or {} for p in layers), overrides or {}]:
        for section, values in layer.items():
            raw[section] = {**(raw.get(section) or {}), **values} if isinstance(values, dict) else values
    source = " + ".join(str(p) for p in layers) + (" + overrides" if overrides else "")
    return parse_params(raw, source=source)


def load_run_params(path: str | Path = PARAMS, student: str = "", ablation: str = "",
                    extra: dict[str, dict[str, Any]] | None = None) -> tuple[str | None, Params, dict[str, Any]]:
    """Params of one distill run: params.yaml (or a recipe over it), then a student profile, then an ablation's
    overrides, then `extra`. Returns the ablation's method (None without one), the params, the overrides applied."""
    overrides: dict[str, dict[str, Any]] = {}
    if student:
        profiles = load_params(path).students
        if student not in profiles:
            raise ParamsError(f"{path}: no student profile {student!r}; known: {sorted(profiles)}")
        overrides = {section: dict(values) for section, values in profiles[student].items()}
    method = None
    if ablation:
        method, changes = load_ablation(ablation)
        for section, values in changes.items():
            overrides[section] = {**overrides.get(section, {}), **values}
    for section, values in (extra or {}).items():
        overrides[section] = {**overrides.get(section, {}), **values}
    return method, load_params(path, overrides), overrides


def load_teacher_params(path: str | Path = PARAMS, teacher: str = DEFAULT_TEACHER,
                        extra: dict[str, dict[str, Any]] | None = None) -> Params:
    """Params of one teacher stage: params.yaml (or a recipe over it) with a teacher profile laid over `teacher:`."""
    profiles = load_params(path).teachers
    if teacher not in profiles:
        raise ParamsError(f"{path}: no teacher profile {teacher!r}; known: {sorted(profiles)}")
    overrides = {"teacher": dict(profiles[teacher])}
    for section, values in (extra or {}).items():
        overrides[section] = {**overrides.get(section, {}), **values}
    return load_params(path, overrides)


def parse_overrides(assignments: list[str]) -> dict[str, dict[str, Any]]:
    """['teacher.backend=local', 'distill.lr=3e-4'] -> {'teacher': {'backend': 'local'}, 'distill': {'lr': 0.0003}}."""
    overrides: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section and name):
            raise ParamsError(f"override {assignment!r} is not of the form section.key=value")
        overrides.setdefault(section, {})[name] = load_yaml(value)
    return overrides


def load_ablation(name: str, path: Path = ABLATIONS) -> tuple[str, dict[str, Any]]:
    """An ablation of ablations/ablations.yaml: its method and its params overrides."""
    table = load_yaml(path.read_text())
    if name not in table:
        raise ParamsError(f"{path}: no ablation {name!r}; known: {sorted(table)}")
    entry = dict(table[name])
    method = entry.pop("method", None)
    require(method in METHODS, f"{name}.method", f"must be one of {METHODS}")
    return method, entry


def parse_params(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    """Build Params from a dict; errors name the source file and the dotted key."""
    sections = {f.name: f.type for f in dataclasses.fields(Params)}
    hints = typing.get_type_hints(Params)
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ParamsError(f"{source}: unknown section {unknown[0]!r}; known: {sorted(sections)}")
    built = {}
    for name, cls in hints.items():
        try:
            if name == "tasks":
                built[name] = _build_tasks(raw.get(name) or {})
            elif name in ("students", "teachers"):
                built[name] = raw.get(name) or Params.__dataclass_fields__[name].default_factory()
                check_type(built[name], cls, name)
            else:
                built[name] = build(cls, raw.get(name) or {}, name)
        except ParamsError as err:
            raise ParamsError(f"{source}: {err}") from None
    params = Params(**built)
    for name, overlay in params.students.items():
        unknown = sorted(set(overlay) - set(PROFILE_SECTIONS))
        if unknown:
            raise ParamsError(f"{source}: students.{name}: section {unknown[0]!r} cannot be set per student; "
                              f"known: {PROFILE_SECTIONS}")
    for name, overlay in params.teachers.items():
        try:
            build(TeacherConfig, {**dataclasses.asdict(params.teacher), **overlay}, f"teachers.{name}")
        except ParamsError as err:
            raise ParamsError(f"{source}: teachers.{name}: {err}") from None
    tasks.register(params.tasks)
    known = tasks.names()
    study = params.study
    used = [("study.datasets", n) for n in study.datasets] + [
        (f"teacher.n_questions.{n}", n) for n in params.teacher.n_questions]
    for key, name in used:
        if name not in known:
            raise ParamsError(f"{source}: '{key}' names unknown dataset {name!r}; known: {known} "
                              "(add your own under `tasks:`)")
    for teacher, datasets in study.teachers.items():
        require_known(source, f"study.teachers.{teacher}", teacher, params.teachers, "teacher profile")
        for name in datasets:
            require_known(source, f"study.teachers.{teacher}", name, study.datasets, "dataset of study.datasets")
    for student, arms in study.arms.items():
        require_known(source, f"study.arms.{student}", student, params.students, "student profile")
        for teacher, datasets in arms.items():
            require_known(source, f"study.arms.{student}.{teacher}", teacher, study.teachers,
                          "teacher of study.teachers")
            for name, methods in datasets.items():
                require_known(source, f"study.arms.{student}.{teacher}", name, study.teachers[teacher],
                              f"dataset of study.teachers.{teacher} (its teacher stage prepares those)")
                for method in methods:
                    if method not in METHODS:
                        _check_ablation(source, f"study.arms.{student}.{teacher}.{name}", method)
    for name in study.ablations:
        _check_ablation(source, "study.ablations", name)
    return params


def _build_tasks(raw: dict[str, Any]) -> dict[str, TaskSpec]:
    if not isinstance(raw, dict):
        raise ParamsError(f"tasks: expected a mapping of name -> spec, got {type(raw).__name__}")
    built = {}
    for name, spec in raw.items():
        if name in tasks.builtin():
            raise ParamsError(f"tasks.{name}: a built-in benchmark has that name; choose another")
        try:
            built[name] = build(TaskSpec, spec, f"tasks.{name}")
        except ParamsError as err:
            raise (err if f"tasks.{name}" in str(err) else ParamsError(f"tasks.{name}: {err}")) from None
    return built


def _check_ablation(source: str, key: str, name: str) -> None:
    try:
        load_ablation(name)
    except ParamsError as err:
        raise ParamsError(f"{source}: '{key}': {err}") from None


if __name__ == "__main__":  # the `check` stage's command (dvc.yaml) and `--as-set`: mm.recipes.main
    from mm import recipes

    recipes.main()
