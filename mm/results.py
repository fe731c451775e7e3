"""Result tables from committed metrics and predictions: mean ± std over seeds, paired comparisons, answer classes,
compute, self-evaluation and ablation frames. The statistics are mm.stats; rendering the tables as the report is
mm.report."""
from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mm import ROOT, config, data, methods, selfeval, tasks
from mm.files import read_jsonl
from mm.runs import Run, TeacherRun
from mm.stats import (
    claim_verdict,
    comparison_cells,
    comparison_pairs,
    difference_cell,
    interval_text,
    mean_cell,
    paired_bootstrap,
    percent_cell,
    pooled_pairs,
)

REFERENCE = "reference"  # the ablation name of the default run that every ablation changes one thing against
ONE_CLASS_SHARE = 0.9  # a run that gives one class as this share of its test answers learned a class, not the task


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
    return {(student, teacher, dataset, name) for student, teachers in study.arms.items()
            for teacher, datasets in teachers.items() for dataset, names in datasets.items()
            for name in names if name not in config.METHODS}


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


def target_classes(dataset: str, rows: Sequence[Mapping], cots: Sequence[Mapping], cfg: config.DistillConfig,
                   method_names: Sequence[str]) -> dict[str, Counter]:
    """How the answer targets of each method's selected stage fall into classes (labels; choices by letter): a
    teacher that favours one class hands its skew to the students it teaches."""
    task = tasks.get(dataset)
    cfg = dataclasses.replace(cfg, self_eval=False)  # mind_mirror's self-evaluation targets are verdicts: not counted
    counts = {}
    for method in method_names:
        selected = next(s for s in methods.build_stages(method, dataset, rows, cots, [], cfg) if s.selected)
        counts[method] = Counter(task.answers.key(pair.answer) for pair in selected.pairs)
    return counts


def predicted_classes(folder: Path, dataset: str) -> tuple[Counter, Counter]:
    """Classes of a method's `predict:` answers on test (all its seeds' prediction files), and of the gold answers."""
    key = tasks.get(dataset).answers.key
    predicted, gold = Counter(), Counter()
    for path in prediction_files(folder).values():
        records = read_jsonl(path)
        predicted.update(_predict_classes(records, dataset))
        gold.update(key(r["gold"]) for r in records)
    return predicted, gold


def _predict_classes(records: Sequence[Mapping], dataset: str) -> Counter:
    """Classes of `predict:` answers (choices by letter), "none" where no answer was parsed."""
    key = tasks.get(dataset).answers.key
    return Counter(key(r["predict_answer"]) if r.get("predict_answer") else "none" for r in records)


def prediction_shares(frame: pd.DataFrame, root: Path = ROOT, threshold: float = ONE_CLASS_SHARE) -> pd.DataFrame:
    """Per run (row of `frame`) of a task whose answers are classes: the share of its `predict:` test answers in each
    class (one column per class, "none": unparsed), its top class, and `one_class`, True where the top class takes at
    least `threshold` of them: a checkpoint that answers with a class whatever the question (ANLI 'entailment' on
    every item) scores that class's share of gold, which a mean over seeds hides."""
    rows = []
    for run in frame.itertuples():
        path, task = root / run.predictions / f"seed{run.seed}.jsonl", tasks.get(run.dataset)
        if not task.has_options or not path.exists():
            continue
        records = read_jsonl(path)
        counts = _predict_classes(records, run.dataset)
        counts.update({task.answers.key(r["gold"]): 0 for r in records})  # a class it never predicts: share 0
        total = sum(counts.values())
        top, most = max(((c, n) for c, n in counts.items() if c != "none"), key=lambda cn: cn[1], default=("", 0))
        rows.append({"setting": run.setting, "method": run.method, "seed": int(run.seed), "n": total,
                     "top class": top, "one_class": most / total >= threshold}
                    | {c: n / total for c, n in counts.items()})
    table = pd.DataFrame(rows)
    leading = ["setting", "method", "seed", "n", "top class", "one_class"]
    return table[leading + sorted(set(table.columns) - set(leading))] if rows else table


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


def class_table(counts: Mapping[str, Counter]) -> pd.DataFrame:
    """Rows of class counts as cells 'count (share)', with each row's total."""
    table = pd.DataFrame(counts).T.fillna(0).astype(int)
    table = table[sorted(table.columns)]
    totals = table.sum(axis=1)
    cells = table.astype(str) + " (" + table.div(totals, axis=0).map(lambda share: f"{share:.0%}") + ")"
    return cells.assign(n=totals)


def class_tables(params_file: Path, root: Path = ROOT, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Per study setting whose answers are classes: each method's training targets (seed `seed`'s train questions)
    and its test predictions (all seeds) by class, beside gold: did the student learn the task or a class?"""
    params = config.load_params(params_file)
    tables = {}
    for profile, teachers in params.study.arms.items():
        _, run, _ = config.load_run_params(params_file, student=profile)
        for teacher, dataset in [(t, d) for t, datasets in teachers.items() for d in datasets]:
            cots_file = root / TeacherRun(teacher, dataset).out_dir / "cots.jsonl"
            if not tasks.get(dataset).has_options or not cots_file.exists():
                continue
            cots = read_jsonl(cots_file)
            rows = methods.train_questions(list(data.load_from_config(dataset, run.data)["train"]), cots,
                                           run.distill, seed)
            targets = target_classes(dataset, rows, cots, run.distill, params.study.methods)
            counts, gold = {}, Counter()
            for method in params.study.methods:
                predicted, test_gold = predicted_classes(predictions_folder(root, profile, teacher, dataset, method),
                                                         dataset)
                counts[f"{method}: trained on"] = targets[method]
                if predicted:
                    counts[f"{method}: predicts on test"] = predicted
                    gold = gold or test_gold  # the same test items for every method
            tables[setting(dataset, profile, teacher)] = class_table(({"gold on test": gold} if gold else {}) | counts)
    return tables


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


def vote_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Self-consistency columns (sc.majority@k, sc.weighted@k) as rows: setting, method, seed, vote, k, accuracy."""
    columns = [c for c in frame.columns if c.startswith("sc.")]
    if not columns:
        return pd.DataFrame(columns=["setting", "method", "seed", "vote", "k", "accuracy"])
    long = frame.melt(id_vars=["setting", "method", "seed"], value_vars=columns, value_name="accuracy").dropna()
    long[["vote", "k"]] = long["variable"].str.removeprefix("sc.").str.split("@", expand=True)
    long["k"] = long["k"].astype(int)
    return long.drop(columns="variable")


def vote_gains(frame: pd.DataFrame, root: Path = ROOT) -> pd.DataFrame:
    """Does voting over k sampled CoTs beat the first sample, and does weighting the votes by the student's own
    self-evaluation beat plain majority? Paired on the test items with samples, pooled over the seeds that have them
    (k: the fewest samples any item has; weighted votes over the items that carry the student's P(correct))."""
    if frame.empty:
        return pd.DataFrame()
    rows = []
    for (profile, teacher, dataset, method), group in frame.groupby(["profile", "teacher_profile", "dataset",
                                                                     "method"]):
        seeds, records = [], []
        for seed in sorted(int(s) for s in group["seed"]):
            path = predictions_folder(root, profile, teacher, dataset, method) / f"seed{seed}.samples.jsonl"
            test = [r for r in read_jsonl(path) if r.get("split", "test") == "test"] if path.exists() else []
            seeds += [seed] if test else []
            records += test
        if not records:
            continue
        k = min(len(r["answers"]) for r in records)
        scored = [r for r in records if "p_correct" in r]
        pairs = [(f"majority@{k} − first sample", records, (k, False), (1, False))]  # (k, weighted) of each side
        if scored:
            pairs.append((f"weighted@{k} − majority@{k}", scored, (k, True), (k, False)))
        for comparison, chosen, first, second in pairs:
            ci = paired_bootstrap(selfeval.vote_correct(dataset, chosen, *first),
                                  selfeval.vote_correct(dataset, chosen, *second),
                                  groups=[r["id"] for r in chosen])
            rows.append({"setting": setting(dataset, profile, teacher), "method": method, "comparison": comparison,
                         "seeds": ", ".join(map(str, seeds)), "test questions": ci["n"],
                         "difference (points)": interval_text(ci), "first better": claim_verdict(ci)})
    return pd.DataFrame(rows)


def self_eval_frames(frame: pd.DataFrame, root: Path = ROOT, n_bins: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the self-consistency samples of the frame's mind_mirror runs: reliability bins per dataset and split
    (valid, test), and risk-coverage curves on test items."""
    bins, curves, empty = [], [], pd.DataFrame()
    if frame.empty:
        return empty, empty
    mirror = frame[frame["method"] == "mind_mirror"]
    for profile, teacher, dataset, seed in sorted(zip(mirror["profile"], mirror["teacher_profile"], mirror["dataset"],
                                                      mirror["seed"], strict=True)):
        path = predictions_folder(root, profile, teacher, dataset, "mind_mirror") / f"seed{seed}.samples.jsonl"
        if not path.exists():
            continue
        by_split, panel = {"valid": [], "test": []}, setting(dataset, profile, teacher)
        for r in read_jsonl(path):
            if "p_correct" in r:
                by_split[r.get("split", "test")].append(r)
        for split, rows in by_split.items():
            if rows:
                bins.append(selfeval.reliability_table(*selfeval.flatten(rows), n_bins).assign(setting=panel,
                                                                                                split=split))
        records = by_split["test"]
        if records:
            curves += [curve.assign(setting=panel, confidence=selfeval.ABSTAIN_BY[by]) for by, (curve, _) in
                       selfeval.abstention(dataset, records, len(records[0]["answers"])).items()]
    return (pd.concat(bins) if bins else empty), (pd.concat(curves) if curves else empty)


def calibration_table(frame: pd.DataFrame, method: str = "mind_mirror") -> pd.DataFrame:
    """Per dataset, mean over seeds: the self-evaluation's ECE and Brier score on valid and test samples, and the
    area under the risk-coverage curve when abstaining by self-evaluation vs by vote agreement (lower is better)."""
    columns = [c for c in frame.columns if c.startswith("cal.")]
    runs = frame[frame["method"] == method].dropna(subset=columns, how="all") if columns else pd.DataFrame()
    if runs.empty:
        return pd.DataFrame()
    table = runs.groupby("setting")[columns].mean().round(3)
    table.columns = [c.removeprefix("cal.") for c in columns]
    table["seeds"] = runs.groupby("setting").size()
    names = {"self_eval_ece_valid": "ECE valid", "self_eval_ece": "ECE test", "self_eval_brier_valid": "Brier valid",
             "self_eval_brier": "Brier test"}
    names |= {c: c.replace("aurc_self_eval", "AURC self-eval").replace("aurc_agreement", "AURC agreement")
              for c in table.columns if c.startswith("aurc_")}
    return table[[c for c in [*names, "seeds"] if c in table.columns]].rename(columns=names)


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


def ablation_frame(root: Path = ROOT, params_file: Path | None = None) -> pd.DataFrame:
    """Ablation runs plus, as references, the default runs they change one thing against: the same dataset, method
    and seed under params.yaml (ablation `reference` for mind_mirror, `reference:<method>` for another method), so a
    reference is trained once, not again as an ablation. params_file: only runs at its budgets (load_metrics)."""
    ablations = load_metrics(root, params_file, ablations=True)
    if ablations.empty:
        return ablations
    runs = load_metrics(root, params_file)
    reference = runs[runs["method"].isin(ablations["method"]) & runs["dataset"].isin(ablations["dataset"])
                     & runs["seed"].isin(ablations["seed"]) & (runs["profile"] == config.DEFAULT_STUDENT)
                     & (runs["teacher_profile"] == config.DEFAULT_TEACHER)] if not runs.empty else runs
    names = [_reference_of(method) for method in reference["method"]]
    return pd.concat([ablations, reference.assign(ablation=names)], ignore_index=True)


def ablation_axis(frame: pd.DataFrame, key: str, default: Any) -> pd.DataFrame:
    """Ablation runs along distill.<key>: those that set it (value read from ablations/ablations.yaml) and the
    reference run, placed at the default value."""
    values = {}
    for name in frame.get("ablation", pd.Series(dtype=str)).dropna().unique():
        if name == REFERENCE:
            values[name] = default
        if name.startswith(REFERENCE):
            continue
        _, overrides = config.load_ablation(name)
        if key in overrides.get("distill", {}):
            values[name] = overrides["distill"][key]
    picked = frame[frame["ablation"].isin(values)].copy() if values else frame.iloc[0:0].copy()
    picked[key] = picked["ablation"].map(values)
    return picked


def ablation_table(frame: pd.DataFrame, root: Path = ROOT) -> pd.DataFrame:
    """One row per dataset and ablation, the references first, then in ablations/ablations.yaml's order: what it
    changes, test accuracy of both heads and the validation score (mean ± std over seeds), each head's paired
    difference from the default run of its method (points, 95% bootstrap interval resampling test questions with
    their seeds), the CoT pairs it trained on, and training and total minutes (a reference's total includes
    self-consistency sampling, off in ablations)."""
    if frame.empty:
        return pd.DataFrame()
    names = [*sorted(n for n in frame["ablation"].unique() if n.startswith(REFERENCE)),
             *yaml.safe_load(config.ABLATIONS.read_text())]
    order = {name: i for i, name in enumerate(names)}
    rows = []
    for (dataset, name), runs in sorted(frame.groupby(["dataset", "ablation"]),
                                        key=lambda item: (item[0][0], order.get(item[0][1], len(order)))):
        method = runs["method"].iloc[0]
        rows.append({"dataset": dataset, "ablation": name, "changes": _ablation_changes(name, method),
                     "predict: %": percent_cell(runs["test_accuracy"]),
                     "rationale %": percent_cell(runs.get("test_accuracy_explain", pd.Series(dtype=float))),
                     "valid %": percent_cell(runs.get("val_accuracy", pd.Series(dtype=float))),
                     **_ablation_differences(root, dataset, name, method, seeds_of(runs) & seeds_of(
                         frame, dataset=dataset, ablation=_reference_of(method))),
                     "CoT pairs": mean_cell(runs, "pairs_cot", digits=0),
                     "train min": mean_cell(runs, "train_seconds", 1 / 60),
                     "total min": mean_cell(runs, "wall_seconds", 1 / 60), "seeds": len(runs)})
    return pd.DataFrame(rows).set_index("ablation")


def _reference_of(method: str) -> str:
    """The ablation name ablation_frame gives the default run of a method."""
    return REFERENCE if method == "mind_mirror" else f"{REFERENCE}:{method}"


def _ablation_differences(root: Path, dataset: str, name: str, method: str, seeds: set[int]) -> dict[str, str]:
    """Each head's paired difference between an ablation and the default run of its method, over the given seeds
    (blank for references)."""
    if name.startswith(REFERENCE):
        return {"Δ predict: (points)": "", "Δ rationale (points)": ""}
    mine = predictions_folder(root, config.DEFAULT_STUDENT, config.DEFAULT_TEACHER, dataset, name)
    theirs = predictions_folder(root, config.DEFAULT_STUDENT, config.DEFAULT_TEACHER, dataset, method)
    return {f"Δ {label} (points)": difference_cell(*paired_correctness(mine, theirs, head, seeds))
            for label, head in (("predict:", "predict"), ("rationale", "explain"))}


def _ablation_changes(name: str, method: str) -> str:
    """An ablation's difference from the reference run, read from ablations/ablations.yaml (evaluation-only
    overrides left out: they do not change what is trained or scored)."""
    if name.startswith(REFERENCE):
        return f"none (the default {method} run)"
    _, overrides = config.load_ablation(name)
    changes = [] if method == "mind_mirror" else [f"method {method}"]
    changes += [f"{section}.{key} {json.dumps(value)}" for section, values in overrides.items()
                if section != "evaluate" for key, value in values.items()]
    return ", ".join(changes)
