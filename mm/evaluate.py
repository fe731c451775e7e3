"""Using a distilled student at inference: self-consistency, self-evaluation-weighted votes, calibration, abstention."""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from mm import answers, decode, prompts, tasks
from mm.collate import IGNORE, encode_batch, longest_first_batches, source_text, target_logits, target_text


def sequence_logprob(model, batch: Mapping[str, torch.Tensor], causal: bool) -> torch.Tensor:
    """Sum of log-probabilities of each sequence's labelled tokens."""
    logits, labels = target_logits(model, dict(batch), causal)
    logits = logits.float()
    mask = labels != IGNORE
    picked = logits.log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


@torch.inference_mode()
def verdict_probability(student, questions: Sequence[str], cots: Sequence[str], batch_size: int = 16,
                        max_source: int = 512, bf16: bool = True) -> list[float]:
    """P(correct) from the student's learned self-evaluation: 'correct' vs 'wrong' as the predict-head answer.

    Batched longest-first (less padding) under bf16 autocast, like decoding; results come back in input order."""
    model, kind = student.model.eval(), student.kind
    sources = [source_text("predict", prompts.self_eval_question(q, c), kind) for q, c in zip(questions, cots,
                                                                                               strict=True)]
    device = next(model.parameters()).device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    probabilities: dict[int, float] = {}
    for index in longest_first_batches(sources, batch_size):
        scores = []
        for verdict in ("correct", "wrong"):
            batch = encode_batch(student.tokenizer, kind, [sources[i] for i in index],
                                 [target_text(verdict, kind)] * len(index), max_source, 8)
            with autocast:
                scores.append(sequence_logprob(model, {k: v.to(device) for k, v in batch.items()}, kind == "causal"))
        probabilities |= dict(zip(index, torch.softmax(torch.stack(scores, -1), -1)[:, 0].tolist(), strict=True))
    return [probabilities[i] for i in range(len(sources))]


def sample_cots(student, dataset: str, rows: Sequence[Mapping], k: int, temperature: float, max_new_tokens: int,
                batch_size: int = 32, bf16: bool = True, seed: int = 0, score_verdicts: bool = False) -> list[dict]:
    """k sampled explain-head CoTs per row, their parsed answers and (optionally) the student's P(correct)."""
    sources = [source_text("explain", row["question"], student.kind) for row in rows]
    samples = decode.sample(student, sources, max_new_tokens, k, temperature, batch_size, bf16, seed)
    task, records = tasks.get(dataset), []
    for row, cots in zip(rows, samples, strict=True):
        parsed = [task.parse_answer(c, row["choices"]) for c in cots]
        records.append({"id": row["id"], "gold": row["answer"], "cots": cots, "answers": parsed,
                        "correct": [task.is_correct(a, row["answer"]) for a in parsed]})
    if score_verdicts:
        questions = [row["question"] for row, r in zip(rows, records, strict=True) for _ in r["cots"]]
        flat = verdict_probability(student, questions, [c for r in records for c in r["cots"]], bf16=bf16)
        for i, record in enumerate(records):
            record["p_correct"] = flat[i * k : (i + 1) * k]
    return records


def vote(dataset: str, record: Mapping, k: int, weighted: bool = False) -> tuple[str | None, float]:
    """The answer of the first k samples by (weighted) majority, and its confidence: its share of the votes."""
    picked = record["answers"][:k]
    weights = record["p_correct"][:k] if weighted else [1.0] * len(picked)
    winner = answers.majority_vote(picked, weights)
    total = sum(w for a, w in zip(picked, weights, strict=True) if a is not None)
    support = sum(w for a, w in zip(picked, weights, strict=True) if a == winner and a is not None)
    return winner, (support / total if total > 0 else 0.0)


def vote_table(dataset: str, records: Sequence[Mapping], ks: Sequence[int], weighted: bool) -> pd.DataFrame:
    """Accuracy of the k-sample vote for each k (rows: k, accuracy, weighted)."""
    rows = []
    for k in ks:
        correct = [tasks.get(dataset).is_correct(vote(dataset, r, k, weighted)[0], r["gold"]) for r in records]
        rows.append({"k": k, "accuracy": float(np.mean(correct)), "weighted": weighted})
    return pd.DataFrame(rows)


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |accuracy - mean confidence| weighted by the bin's share."""
    table = reliability_table(confidence, correct, n_bins)
    n = table["count"].sum()
    return float((table["count"] / n * (table["accuracy"] - table["confidence"]).abs()).sum()) if n else 0.0


def reliability_table(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> pd.DataFrame:
    """Per non-empty bin: mean confidence, accuracy and count (bins (0, 1/n], ..., ((n-1)/n, 1]; 0 in the first)."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    rows = [{"bin": b, "confidence": conf[bins == b].mean(), "accuracy": hit[bins == b].mean(),
             "count": int((bins == b).sum())} for b in range(n_bins) if (bins == b).any()]
    return pd.DataFrame(rows, columns=["bin", "confidence", "accuracy", "count"])


def brier_score(confidence: Sequence[float], correct: Sequence[bool]) -> float:
    return float(np.mean((np.asarray(confidence, float) - np.asarray(correct, float)) ** 2))


def risk_coverage(confidence: Sequence[float], correct: Sequence[bool]) -> tuple[pd.DataFrame, float]:
    """Accuracy when answering only the most confident share of items, for every coverage; and the area under
    the risk (1 - accuracy) vs coverage curve (AURC, lower is better)."""
    order = np.argsort(-np.asarray(confidence, float), kind="stable")
    hit = np.asarray(correct, float)[order]
    answered = np.arange(1, len(hit) + 1)
    accuracy = np.cumsum(hit) / answered
    curve = pd.DataFrame({"coverage": answered / len(hit), "accuracy": accuracy, "risk": 1 - accuracy})
    return curve, float(curve["risk"].mean()) if len(hit) else 0.0
