"""The four methods as training data: which (question, answer, rationale) pairs each stage of each method sees."""
from __future__ import annotations

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
    """A training stage: its pairs, its optimiser steps, and whether it is the one selected on valid."""

    name: str
    pairs: list[Pair]
    steps: int
    alpha: float
    selected: bool


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
        pairs = [Pair(row["id"], row["question"], task.gold_target(row)) for row in rows]
        return [Stage("answer", pairs, cfg.steps, 1.0, True)]
    if method == "distill_label":
        return [Stage("answer", _majority_pairs(dataset, by_id, cots, cfg), cfg.steps, 1.0, True)]
    usable = usable_cots(cots, cfg)
    if method == "step_by_step":
        first: dict[str, Mapping] = {}
        for cot in sorted(usable, key=lambda c: c["k"]):
            first.setdefault(cot["id"], cot)
        usable = list(first.values())
    elif method != "mind_mirror":
        raise MethodError(f"unknown method {method!r}; known: {METHODS}")
    pairs = [Pair(c["id"], by_id[c["id"]]["question"], task.cot_target(c), c["text"].strip()) for c in usable]
    stages = [Stage("cot", _nonempty(pairs, method), cfg.steps, cfg.alpha, True)]
    if method == "mind_mirror" and cfg.self_eval and cfg.self_eval_steps > 0:
        stages.insert(0, Stage("self_eval", _self_eval_pairs(by_id, cots, evals, cfg), cfg.self_eval_steps,
                               cfg.alpha, False))
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
    text = {(c["id"], c["k"]): c["text"] for c in cots if c["k"] < cfg.n_cots}
    pairs = [Pair(e["id"], prompts.self_eval_question(by_id[e["id"]]["question"], text[(e["id"], e["k"])]),
                  e["verdict"], e["text"].strip())
             for e in evals if (e["id"], e["k"]) in text and e["j"] < cfg.n_evals and e["verdict"] is not None]
    return _nonempty(pairs, "mind_mirror self-evaluation")


def _nonempty(pairs: list[Pair], what: str) -> list[Pair]:
    if not pairs:
        raise MethodError(f"{what}: no usable teacher output (all unparseable or filtered as wrong)")
    return pairs


def data_counts(stages: Sequence[Stage]) -> dict[str, int]:
    """How many pairs each stage trains on (reported: how many CoTs survive filtering)."""
    return {f"pairs_{s.name}": len(s.pairs) for s in stages} | {
        f"questions_{s.name}": len({p.id for p in s.pairs}) for s in stages}
