"""Result tables from committed metrics and predictions: mean ± std over seeds, paired comparisons, compute and
validation curves. Answer classes are mm.class_tables, self-evaluation mm.selfeval_tables, ablations
mm.ablation_tables; the statistics are mm.stats; rendering the tables as the report is mm.report."""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mm import ROOT, config
from mm.files import read_jsonl
from mm.runs import Run, study_runs
from mm.stats import comparison_cells, comparison_pairs, mean_cell, percent_cell, pooled_pairs


def load_metrics(root: Path = ROOT, params_file: Path | None = None, ablations: bool = False) -> pd.DataFrame:
    """One row per committed run (metrics/distill/<student>/<teacher>/<dataset>/<method or ablation>/seed<k>.json,
    mm.runs): the study's runs, the controls its arms list among them under their own name as `method` (the method
    they change in `base_method`); or with `ablations` the other ablation runs. Each row has its self-consistency vote
    accuracies as `sc.<vote>@<k>` and its self-evaluation scores as `cal.<name>` columns, its student `profile`,
    `teacher_profile`, `ablation` ("" for none), `setting`, and `predictions` (its folder of per-seed files).

    With params_file, only runs trained at that file's budget count: a run whose `epochs_cap` differs (or that
    predates epoch budgets) is superseded until re-run, and its path is listed in `frame.attrs["superseded"]`."""
    controls = _arm_controls(config.load_params(params_file or config.PARAMS).study)
    rows, superseded = [], []
    for path in sorted((root / "metrics" / "distill").glob("*/*/*/*/seed*.json")):
        metrics = json.loads(path.read_text())
        profile, teacher, dataset, label = path.parts[-5:-1]
        ablation = "" if label in config.METHODS else label
        control = (profile, teacher, dataset, label) in controls
        if (bool(ablation) and not control) != ablations:
            continue
        if params_file is not None and metrics.get("epochs_cap") != _epochs_cap(Path(params_file), profile, ablation):
            superseded.append(str(path.relative_to(root)))
            continue
        consistency = metrics.get("self_consistency", {})
        rows.append({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
                    | {"profile": profile, "teacher_profile": teacher, "ablation": ablation,
                       "base_method": metrics.get("method"), "method": label if control else metrics.get("method"),
                       "metrics_path": str(path.relative_to(root)),
                       "predictions": str(predictions_folder(Path(), profile, teacher, dataset, label))}
                    | {f"sc.{k}": v for k, v in consistency.get("vote_accuracy", {}).items()}
                    | {f"cal.{k}": v for k, v in consistency.items() if k.startswith(("self_eval_", "aurc_"))})
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["setting"] = [setting(*key) for key in zip(frame["dataset"], frame["profile"], frame["teacher_profile"],
                                                        strict=True)]
    frame.attrs["superseded"] = superseded
    return frame


def _arm_controls(study: config.StudyConfig) -> set[tuple[str, str, str, str]]:
    """(student, teacher, dataset, control) of every control an arm runs: a study method, not an ablation."""
    return {(run.student, run.teacher, run.dataset, run.label) for run in study_runs(study) if run.ablation}


@functools.cache
def _epochs_cap(params_file: Path, profile: str, ablation: str) -> float:
    """The final stage's epoch cap a run of this profile (and ablation) trains under today."""
    return config.load_run_params(params_file, profile, ablation)[1].distill.epochs


def seeds_of(frame: pd.DataFrame, **where: str) -> set[int]:
    """The seeds of the frame's runs that match every column=value given (e.g. dataset, method, profile)."""
    if frame.empty:
        return set()
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    return {int(seed) for seed in frame.loc[mask, "seed"]}


def setting(dataset: str, profile: str, teacher: str) -> str:
    """A table column / figure panel: the dataset, with the student and teacher profiles unless default."""
    return " · ".join([dataset] + [name for name, default in ((profile, config.DEFAULT_STUDENT),
                                                              (teacher, config.DEFAULT_TEACHER)) if name != default])


def predictions_folder(root: Path, profile: str, teacher: str, dataset: str, label: str) -> Path:
    """Where a method's (or an ablation's) committed test predictions lie: seed<k>.jsonl and seed<k>.samples.jsonl
    per seed (mm.runs)."""
    return root / Path(Run(profile, teacher, dataset, label, 0).predictions_file).parent


def prediction_files(folder: Path) -> dict[int, Path]:
    """A method's per-seed test predictions (seed<k>.jsonl, not the .samples.jsonl beside them), by seed."""
    return {int(path.name.removeprefix("seed").removesuffix(".jsonl")): path
            for path in sorted(folder.glob("seed*.jsonl")) if not path.name.endswith(".samples.jsonl")}


def unanswered_rationales(frame: pd.DataFrame, root: Path = ROOT) -> pd.Series:
    """Per run (row of `frame`), the share of its generated test rationales with no answer the task can parse,
    scored wrong by the rationale accuracy: the student stopped, or was cut at `max_new_tokens_explain`, before its
    answer sentence. NaN for a run that generated no rationales."""
    def share(run) -> float:
        path = root / run.predictions / f"seed{run.seed}.jsonl"
        rationales = [r for r in read_jsonl(path) if "explain_output" in r] if path.exists() else []
        return sum(r["explain_answer"] is None for r in rationales) / len(rationales) if rationales else float("nan")
    return pd.Series([share(run) for run in frame.itertuples()], index=frame.index, dtype=float)


def summary_table(frame: pd.DataFrame, column: str = "test_accuracy") -> pd.DataFrame:
    """setting (dataset, and student when several) x method: 'mean ± std (n)' in percent over seeds; one seed has
    no spread, so just 'value (1)'."""
    return frame.groupby(["method", "setting"])[column].agg(percent_cell).unstack("setting")


def compute_table(frame: pd.DataFrame) -> pd.DataFrame:
    """What each accuracy cost, per setting and method, mean over seeds: epochs the final stage trained under the cap
    every method shares (early stopping decides), the epoch of the selected checkpoint, the runs that stopped before
    the cap and those the cap stopped while still improving (capped_while_improving, by seed), optimiser steps and
    tokens seen over all stages (mind_mirror: self-evaluation too), training minutes."""
    columns = ["epochs_trained", "best_epoch", "stopped_early", "steps", "tokens_seen", "train_seconds"]
    if frame.empty or not set(columns) <= set(frame):
        return pd.DataFrame()
    rows = [{"setting": where, "method": method, "seeds": len(runs),
             "epochs trained": mean_cell(runs, "epochs_trained", digits=2),
             "best epoch": mean_cell(runs, "best_epoch", digits=2),
             "stopped early": f"{int(runs['stopped_early'].eq(True).sum())}/{len(runs)}",
             "capped, still improving": _flagged_seeds(runs, capped_while_improving(runs)),
             "steps": mean_cell(runs, "steps", digits=0),
             "tokens seen (M)": mean_cell(runs, "tokens_seen", 1e-6, digits=2),
             "train min": mean_cell(runs, "train_seconds", 1 / 60)}
            for (where, method), runs in frame.groupby(["setting", "method"])]
    return pd.DataFrame(rows).set_index("setting")


def capped_while_improving(frame: pd.DataFrame) -> pd.Series:
    """Per run: early stopping never ended it, so it trained to its epoch cap, and its best validation fell in the
    last epoch before the cap: it was still improving when the cap stopped it, and more epochs might have helped.
    False where a run records no cap or best epoch."""
    runs = frame.reindex(columns=["epochs_cap", "best_epoch", "stopped_early"])
    return runs["stopped_early"].eq(False) & (runs["best_epoch"] > runs["epochs_cap"] - 1)


def _flagged_seeds(runs: pd.DataFrame, flags: pd.Series) -> str:
    """'k/n' runs flagged, naming their seeds: '1/3: seed 1'."""
    seeds = sorted(int(seed) for seed in runs.loc[flags, "seed"])
    named = f": seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}" if seeds else ""
    return f"{len(seeds)}/{len(runs)}{named}"


def curve_frame(frame: pd.DataFrame, root: Path = ROOT) -> pd.DataFrame:
    """Valid accuracy at each validation of every run's final stage (where its checkpoint is selected), by epoch,
    with the run's epoch cap and best epoch: whether each curve had flattened before the cap all methods share."""
    rows = []
    for run in frame.itertuples():
        history = json.loads((root / run.metrics_path).read_text()).get("history", [])
        final = history[-1].get("stage") if history else None
        rows += [{"setting": run.setting, "method": run.method, "seed": int(run.seed), "epoch": point["epoch"],
                  "valid_accuracy": point["valid_accuracy"], "epochs_cap": getattr(run, "epochs_cap", None),
                  "best": point["epoch"] == getattr(run, "best_epoch", None)}
                 for point in history if point.get("stage") == final and "epoch" in point]
    return pd.DataFrame(rows)


def paired_items(root: Path, dataset: str, method: str, baseline: str, head: str = "predict",
                 profile: str = config.DEFAULT_STUDENT, teacher: str = config.DEFAULT_TEACHER,
                 seeds: set[int] | None = None) -> dict[int, dict[str, tuple[bool, bool]]]:
    """Correctness of two methods (one student and teacher profile) on the same test items, per seed both have (and,
    given `seeds`, only those): paired_seeds of their prediction folders."""
    return paired_seeds(predictions_folder(root, profile, teacher, dataset, method),
                        predictions_folder(root, profile, teacher, dataset, baseline), head, seeds)


def paired_seeds(first: Path, second: Path, head: str = "predict",
                 seeds: set[int] | None = None) -> dict[int, dict[str, tuple[bool, bool]]]:
    """Per seed both prediction folders (seed<k>.jsonl each) have (given `seeds`: only those), each test item's
    correctness under both runs by item id, seed k of one paired with seed k of the other; items where either run has
    no such head are left out."""
    key, paired = f"{head}_correct", {}
    for seed, path in prediction_files(first).items():
        if not (second / path.name).exists() or (seeds is not None and seed not in seeds):
            continue
        mine = {r["id"]: r[key] for r in read_jsonl(path) if key in r}
        theirs = {r["id"]: r[key] for r in read_jsonl(second / path.name) if key in r}
        paired[seed] = {item: (mine[item], theirs[item]) for item in sorted(mine.keys() & theirs.keys())}
    return paired


def paired_correctness(first: Path, second: Path, head: str = "predict",
                       seeds: set[int] | None = None) -> tuple[list, list, list]:
    """paired_seeds pooled over the seeds (stats.pooled_pairs): both runs' correctness and each pair's item id."""
    return pooled_pairs(paired_seeds(first, second, head, seeds))


def teacher_frame(frame: pd.DataFrame, root: Path = ROOT) -> pd.DataFrame:
    """Each teacher's CoT accuracy (first sample, majority of N; PaLM-540B's on the same questions) beside the mean
    student accuracy of each method, per dataset."""
    rows = []
    for path in sorted((root / "metrics" / "teacher").glob("*/*.json")):
        teacher = json.loads(path.read_text())
        for key in ("first_cot_accuracy", "majority_accuracy", "palm_accuracy_same_questions"):
            rows.append({"dataset": teacher["dataset"], "who": f"{path.parent.name}: {key}", "accuracy": teacher[key]})
    if not frame.empty:
        means = frame.groupby(["dataset", "profile", "teacher_profile", "method"])["test_accuracy"].mean()
        rows += [{"dataset": d, "who": f"{p} ← {t}: {m}", "accuracy": a}
                 for (d, p, t, m), a in means.items()]
    return pd.DataFrame(rows)


def bootstrap_table(frame: pd.DataFrame, methods: Sequence[str] = (), root: Path = ROOT,
                    target: str = "mind_mirror") -> pd.DataFrame:
    """First minus second (stats.comparison_pairs: `target` against each other method, the paper's ordering pair by
    pair, every method against gold fine-tuning, each control against what it isolates; `methods`: the frame's),
    per arm (student and teacher profile) and dataset in the frame, on
    the test questions of the seeds both have in the frame. The difference's 95% interval resamples seeds and, within
    them, questions, and the paper's claim (first beats second) is read off it; beside it the minimum detectable
    difference, and the interval that resamples questions only (stats.comparison_cells)."""
    rows = []
    arms = frame[["profile", "teacher_profile", "dataset"]].drop_duplicates() if not frame.empty else pd.DataFrame()
    for profile, teacher, dataset in arms.itertuples(index=False):
        for first, second in comparison_pairs(methods or sorted(frame["method"].unique()), target):
            where = {"dataset": dataset, "profile": profile, "teacher_profile": teacher}
            seeds = seeds_of(frame, method=first, **where) & seeds_of(frame, method=second, **where)
            by_seed = paired_items(root, dataset, first, second, profile=profile, teacher=teacher, seeds=seeds)
            if any(by_seed.values()):
                rows.append({"dataset": dataset, "student": profile, "teacher": teacher,
                             "comparison": f"{first} − {second}", "seeds": ", ".join(map(str, sorted(seeds)))}
                            | comparison_cells(by_seed))
    return pd.DataFrame(rows)
