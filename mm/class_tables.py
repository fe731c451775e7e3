"""Answer-class tables for tasks whose answers are classes (labels, choices): how each method's training targets and
test predictions fall into classes beside gold, and the runs that answer one class whatever the question."""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mm import ROOT, config, data, methods, tasks
from mm.files import read_jsonl
from mm.results import prediction_files, predictions_folder, setting
from mm.runs import TeacherRun

ONE_CLASS_SHARE = 0.9  # a run that gives one class as this share of its test answers learned a class, not the task


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
