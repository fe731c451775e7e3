"""A distilled student at inference: sampled CoTs and its own P(correct) of each (scored in mm.selfeval)."""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import torch

from mm import decode, prompts, tasks
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
