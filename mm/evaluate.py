"""A distilled student at inference: sampled CoTs and its own P(correct) of each (scored in mm.selfeval)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from mm import decode, prompts, tasks
from mm.collate import source_text

VERDICT_OPTIONS = ("correct", "wrong")


def verdict_probability(student, questions: Sequence[str], cots: Sequence[str], batch_size: int = 32,
                        max_source: int = 512, bf16: bool = True) -> list[float]:
    """P(correct) from the student's learned self-evaluation: 'correct' against 'wrong' as its predict-head answer."""
    sources = [source_text("predict", prompts.self_eval_question(q, c), student.kind) for q, c in zip(questions, cots,
                                                                                                       strict=True)]
    scored = decode.option_logprobs(student, sources, [VERDICT_OPTIONS] * len(sources), batch_size, bf16, max_source, 8)
    sums = torch.tensor([[total for total, _ in pair] for pair in scored]).reshape(-1, len(VERDICT_OPTIONS))
    return torch.softmax(sums, -1)[:, 0].tolist()


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
