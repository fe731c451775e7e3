"""The four methods as training data: which (question, answer, rationale) pairs each stage of each method sees."""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mm import answers, prompts, tasks
from mm.config import METHODS, DistillConfig
from mm.files import subsample


@dataclass(frozen=True)
class Pair:
    """One training item: an input, its answer target, and (multi-task) its rationale target."""

    id: str
    question: str
    answer: str
    rationale: str | None = None


@dataclass(frozen=True)
class Stage:
    """A training stage: its pairs, its optimiser steps (at most), and whether it is the one selected on valid."""

    name: str
    pairs: list[Pair]
    steps: int
    alpha: float
    selected: bool
    steps_per_epoch: int = 1  # optimiser steps per pass over the pairs: validation and early stopping count in these


def stage(name: str, pairs: list[Pair], epochs: float, alpha: float, selected: bool, cfg: DistillConfig) -> Stage:
    """A stage of `epochs` passes over its pairs (a fraction of a pass allowed), in optimiser steps."""
    per_epoch = math.ceil(len(pairs) / (cfg.batch_size * cfg.grad_accum))
    return Stage(name, pairs, max(1, math.ceil(epochs * per_epoch)), alpha, selected, per_epoch)


class MethodError(ValueError):
    """A method cannot be built from the data given (unknown name, no usable teacher output)."""


def train_questions(rows: Sequence[Mapping], cots: Sequence[Mapping], cfg: DistillConfig, seed: int) -> list[Mapping]:
    """Train questions the teacher answered, subsampled to n_train then train_fraction (seeded, nested)."""
    answered = {c["id"] for c in cots}
    pool = [row for row in rows if row["id"] in answered] if cots else list(rows)
    if cfg.n_train is not None and cfg.n_train < len(pool):
        pool = subsample(pool, cfg.n_train, seed)
    keep = max(1, round(cfg.train_fraction * len(pool)))
    return pool if keep == len(pool) else subsample(pool, keep, seed)


def usable_cots(cots: Sequence[Mapping], cfg: DistillConfig) -> list[Mapping]:
    """Parsed CoTs among the first n_cots samples (plus rationalized ones), right ones only when filtering."""
    return [c for c in cots if c["parsed"] and (c["k"] < cfg.n_cots or c.get("rationalized"))
            and (c["correct"] or not cfg.filter_incorrect)]


def build_stages(method: str, dataset: str, rows: Sequence[Mapping], cots: Sequence[Mapping],
                 evals: Sequence[Mapping], cfg: DistillConfig) -> list[Stage]:
    """Stages of `method` on the questions `rows` (already the train subset)."""
    task = tasks.get(dataset)
    ids = {row["id"] for row in rows}
    by_id = {row["id"]: row for row in rows}
    cots = [c for c in cots if c["id"] in ids]
    if method == "finetune_gold":
        kept = {c["id"] for c in usable_cots(cots, cfg)} if cfg.match_cot_questions else ids
        pairs = [Pair(row["id"], row["question"], task.gold_target(row)) for row in rows if row["id"] in kept]
        return [stage("answer", pairs, cfg.epochs, 1.0, True, cfg)]
    if method == "distill_label":
        return [stage("answer", _majority_pairs(dataset, by_id, cots, cfg), cfg.epochs, 1.0, True, cfg)]
    usable = usable_cots(cots, cfg)
    if method == "step_by_step":
        first: dict[str, Mapping] = {}
        for cot in sorted(usable, key=lambda c: c["k"]):
            first.setdefault(cot["id"], cot)
        usable = list(first.values())
    elif method != "mind_mirror":
        raise MethodError(f"unknown method {method!r}; known: {METHODS}")
    pairs = [Pair(c["id"], by_id[c["id"]]["question"], task.cot_target(c), c["text"].strip()) for c in usable]
    stages = [stage("cot", _nonempty(pairs, method), cfg.epochs, cfg.alpha, True, cfg)]
    if method == "mind_mirror" and cfg.self_eval and cfg.self_eval_epochs > 0:
        stages.insert(0, stage("self_eval", _self_eval_pairs(by_id, cots, evals, cfg), cfg.self_eval_epochs,
                               cfg.alpha, False, cfg))
    return stages


def _majority_pairs(dataset: str, by_id: Mapping, cots: Sequence[Mapping], cfg: DistillConfig) -> list[Pair]:
    """distill_label: the teacher's majority answer per question (its CoT's equation for SVAMP)."""
    grouped: dict[str, list[Mapping]] = {}
    for cot in cots:
        if cot["parsed"] and cot["k"] < cfg.n_cots and not cot.get("rationalized"):
            grouped.setdefault(cot["id"], []).append(cot)
    task, pairs = tasks.get(dataset), []
    for qid, group in grouped.items():
        vote = answers.majority_vote([c["answer"] for c in group])
        if cfg.filter_incorrect and not task.is_correct(vote, by_id[qid]["answer"]):
            continue
        source = next(c for c in group if c["answer"] == vote)
        pairs.append(Pair(qid, by_id[qid]["question"], task.cot_target(source)))
    return _nonempty(pairs, "distill_label")


def _self_eval_pairs(by_id: Mapping, cots: Sequence[Mapping], evals: Sequence[Mapping],
                     cfg: DistillConfig) -> list[Pair]:
    """mind_mirror stage 1: judge a teacher CoT (right or wrong) -> its verdict word and evaluation text."""
    shown = {(c["id"], c["k"]): c for c in cots if c["k"] < cfg.n_cots}
    kept = [e for e in evals if (e["id"], e["k"]) in shown and e["j"] < cfg.n_evals and e["verdict"] is not None]
    if cfg.self_eval_pairs_per_question is not None:
        kept = _balanced_per_question(kept, cfg.self_eval_pairs_per_question)

    def target(e: Mapping) -> str:
        if cfg.self_eval_targets == "verdict_only":  # whatever the teacher wrote, only the CoT's answer and verdict
            return prompts.gold_verdict_evaluation(shown[(e["id"], e["k"])]["answer"], e["verdict"] == "correct")
        return e["text"].strip()

    pairs = [Pair(e["id"], prompts.self_eval_question(by_id[e["id"]]["question"], shown[(e["id"], e["k"])]["text"]),
                  e["verdict"], target(e)) for e in kept]
    return _nonempty(pairs, "mind_mirror self-evaluation")


def _balanced_per_question(evals: Sequence[Mapping], n: int) -> list[Mapping]:
    """At most n evaluations per question, taken in turn from its verdicts (correct, wrong, ...) so both are seen."""
    by_question: dict[str, dict[str, list[Mapping]]] = {}
    for e in evals:
        by_question.setdefault(e["id"], {}).setdefault(e["verdict"], []).append(e)
    kept = []
    for verdicts in by_question.values():
        turns = itertools.zip_longest(*(verdicts[v] for v in sorted(verdicts)))
        kept += [e for turn in turns for e in turn if e is not None][:n]
    return kept

def _nonempty(pairs: list[Pair], what: str) -> list[Pair]:
    if not pairs:
        raise MethodError(f"{what}: no usable teacher output (all unparseable or filtered as wrong)")
    return pairs


def data_counts(stages: Sequence[Stage]) -> dict[str, int]:
    """How many pairs each stage trains on (reported: how many CoTs survive filtering)."""
    return {f"pairs_{s.name}": len(s.pairs) for s in stages} | {
        f"questions_{s.name}": len({p.id for p in s.pairs}) for s in stages}
