"""What a teacher run is worth: CoT accuracy, diversity, parse failures, verdict quality, tokens and cost."""
from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mm import answers, tasks, teacher
from mm.cache import CompletionCache
from mm.config import TeacherConfig
from mm.files import read_jsonl


def load_run(out_dir: Path) -> dict[str, pd.DataFrame]:
    """cots, evals and verdict_probe of a teacher run as frames (empty frames for missing files)."""
    out_dir = Path(out_dir)
    names = ("cots", "evals", "verdict_probe")
    return {n: pd.DataFrame(read_jsonl(out_dir / f"{n}.jsonl")) if (out_dir / f"{n}.jsonl").exists()
            else pd.DataFrame() for n in names}


def cot_summary(dataset: str, cots: pd.DataFrame, rows: Sequence[Mapping]) -> dict:
    """Accuracy of the first CoT and of the majority of N, coverage, diversity, parse failures, PaLM on the same."""
    sampled = cots[~cots.get("rationalized", pd.Series(False, index=cots.index)).fillna(False).astype(bool)]
    by_id, task = {row["id"]: row for row in rows}, tasks.get(dataset)
    per_q = sampled.groupby("id", sort=False)
    first = per_q.apply(lambda g: bool(g.sort_values("k")["correct"].iloc[0]), include_groups=False)
    majority = per_q.apply(
        lambda g: task.is_correct(answers.majority_vote(_answers(g["answer"])), g["gold"].iloc[0]),
        include_groups=False)
    diversity = per_q["answer"].agg(lambda a: len({x for x in _answers(a) if x is not None}))
    asked = [by_id[i] for i in first.index]
    summary = {
        "n_questions": int(len(first)),
        "n_cots": int(len(sampled)),
        "first_cot_accuracy": float(first.mean()),
        "majority_accuracy": float(majority.mean()),
        "any_correct": float(per_q["correct"].any().mean()),
        "cot_accuracy": float(sampled["correct"].mean()),
        "parse_failure_rate": float(1 - sampled["parsed"].mean()),
        "distinct_answers_mean": float(diversity.mean()),
        "palm_accuracy_same_questions": task.palm_accuracy(asked),
        "usable_correct_cots": int(sampled["correct"].sum()),
    }
    if len(sampled) != len(cots):
        rationalized = cots.drop(sampled.index)
        summary["rationalized_questions"] = int(len(rationalized))
        summary["rationalization_yield"] = float(rationalized["correct"].mean())
    return summary


QUALITY_KEYS = ("first_cot_accuracy", "majority_accuracy", "any_correct", "parse_failure_rate")


def first_questions_quality(dataset: str, train: Sequence[Mapping], cfg: TeacherConfig, cache_file: Path,
                            n: int) -> dict:
    """A teacher's CoTs on the first n questions of its generation order, the ones an unfinished run answers first,
    so teachers compare on the same questions before their pools are whole: cot_summary's QUALITY_KEYS of a replay
    from `cache_file` (copied into a temporary folder, never written), beside PaLM-540B's shipped CoTs and the
    majority class's share on those questions (None for number answers). Until the cache holds every CoT of them,
    `complete` is False and the teacher's numbers are left out."""
    # the CoTs alone: evaluations from gold, no verdict probe, no STaR retries, so a replay reads nothing else
    cfg = dataclasses.replace(cfg, backend="replay", n_questions={dataset: n}, eval_mode="gold_verdict",
                              verdict_probe=0, rationalize=False)
    questions = teacher.teacher_questions(dataset, train, cfg)
    done = teacher.complete_questions(dataset, train, cfg, CompletionCache(cache_file))
    palm = _replayed_summary(dataset, train, dataclasses.replace(cfg, backend="palm", n_cots=1))
    task = tasks.get(dataset)
    result = {"dataset": dataset, "teacher": teacher.teacher_name(cfg), "n_questions": len(questions),
              "n_cots": cfg.n_cots, "complete_questions": done, "complete": done == len(questions),
              "palm_accuracy": palm["first_cot_accuracy"],
              "majority_class_share": task.majority_baseline(questions, questions) if task.has_options else None}
    if result["complete"]:
        summary = _replayed_summary(dataset, train, cfg, cache_file)
        result |= {key: summary[key] for key in QUALITY_KEYS}
    return result


def _replayed_summary(dataset: str, train: Sequence[Mapping], cfg: TeacherConfig,
                      seed_cache: Path | None = None) -> dict:
    """cot_summary of a teacher run written into a temporary folder."""
    with tempfile.TemporaryDirectory() as out_dir:
        teacher.generate(dataset, train, cfg, Path(out_dir), seed_cache=seed_cache)
        cots = load_run(Path(out_dir))["cots"]
    return cot_summary(dataset, cots, teacher.teacher_questions(dataset, train, cfg))


def _answers(column: pd.Series) -> list[str | None]:
    """Parsed answers with pandas' missing values (NaN under pandas 3 string dtype) back to None."""
    return [None if pd.isna(x) else x for x in column]


def verdict_quality(evals: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Verdict vs the CoT's true correctness: confusion matrix, accuracy, precision/recall of 'wrong'."""
    if evals.empty:
        return {}, pd.DataFrame()
    truth = evals["cot_correct"].map({True: "correct", False: "wrong"})
    said = evals["verdict"].fillna("unparsed")
    confusion = pd.crosstab(truth.rename("true"), said.rename("verdict"))
    flagged = said == "wrong"
    really_wrong = truth == "wrong"
    stats = {
        "n": int(len(evals)),
        "verdict_accuracy": float((said == truth).mean()),
        "verdict_unparsed_rate": float((said == "unparsed").mean()),
        "wrong_precision": float((flagged & really_wrong).sum() / max(int(flagged.sum()), 1)),
        "wrong_recall": float((flagged & really_wrong).sum() / max(int(really_wrong.sum()), 1)),
    }
    return stats, confusion


def report(dataset: str, out_dir: Path, rows: Sequence[Mapping], cfg: TeacherConfig, usage: dict) -> dict:
    """All teacher metrics of one dataset, as written to metrics/teacher/<teacher>/<dataset>.json (`usage`: the
    run's)."""
    run = load_run(out_dir)
    metrics = {"dataset": dataset, "teacher": teacher.teacher_name(cfg), "eval_mode": cfg.eval_mode,
               **cot_summary(dataset, run["cots"], rows)}
    metrics["self_eval"] = verdict_quality(run["evals"])[0]
    metrics["teacher_verdict_probe"] = verdict_quality(run["verdict_probe"])[0]
    metrics["usage"] = usage
    return metrics
