"""Batched greedy decoding of a student and scoring of its two heads (predict, explain) on a split."""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import torch

from mm import tasks
from mm.collate import longest_first_batches, source_text


def generate(student, sources: Sequence[str], max_new_tokens: int, batch_size: int = 32,
             bf16: bool = True) -> list[str]:
    """Greedy continuations, batched longest-first (less padding); outputs come back in input order."""
    return [outs[0] for outs in sample(student, sources, max_new_tokens, 1, 0.0, batch_size, bf16)]


def sample(student, sources: Sequence[str], max_new_tokens: int, k: int, temperature: float,
           batch_size: int = 32, bf16: bool = True, seed: int = 0) -> list[list[str]]:
    """k continuations per source (greedy when temperature is 0), in input order."""
    model, tokenizer = student.model, student.tokenizer
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs: dict[int, list[str]] = {}
    sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0} if temperature > 0 else {
        "do_sample": False}
    torch.manual_seed(seed)
    causal = student.kind == "causal"
    tokenizer.padding_side = "left" if causal else "right"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    try:
        for index in longest_first_batches(sources, max(1, batch_size // k)):
            enc = tokenizer([sources[i] for i in index], return_tensors="pt", padding=True,
                            add_special_tokens=not causal).to(device)
            with torch.inference_mode(), autocast:
                out = model.generate(**enc, **sampling, num_return_sequences=k, max_new_tokens=max_new_tokens,
                                     pad_token_id=pad)
            new = out[:, enc["input_ids"].shape[1] :] if causal else out
            texts = tokenizer.batch_decode(new, skip_special_tokens=True)
            for n, i in enumerate(index):
                outputs[i] = [t.strip() for t in texts[n * k : (n + 1) * k]]
    finally:
        tokenizer.padding_side = "right"
        model.train(was_training)
    return [outputs[i] for i in range(len(sources))]


def parse_head(dataset: str, head: str, output: str, choices: Sequence[str]) -> str | None:
    """Canonical answer of a head's output: the predict head writes the answer itself, explain a whole CoT."""
    text = f"The answer is {output}" if head == "predict" else output
    return tasks.get(dataset).parse_answer(text, choices)


def predict(student, dataset: str, rows: Sequence[Mapping], head: str, max_new_tokens: int,
            batch_size: int = 32, bf16: bool = True) -> list[dict]:
    """One record per row: id, head, output, parsed answer, gold, correct."""
    sources = [source_text(head, row["question"], student.kind) for row in rows]
    outputs = generate(student, sources, max_new_tokens, batch_size, bf16)
    records = []
    for row, output in zip(rows, outputs, strict=True):
        parsed = parse_head(dataset, head, output, row["choices"])
        records.append({"id": row["id"], "head": head, "output": output, "answer": parsed, "gold": row["answer"],
                        "correct": tasks.get(dataset).is_correct(parsed, row["answer"])})
    return records


def accuracy(records: Sequence[Mapping]) -> float:
    return sum(r["correct"] for r in records) / len(records) if records else 0.0
