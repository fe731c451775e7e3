"""Batched greedy decoding of a student and scoring of its two heads (predict, explain) on a split."""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import torch

from mm import tasks
from mm.collate import (
    IGNORE,
    encode_batch,
    encode_packed,
    longest_first_batches,
    source_text,
    target_logits,
    target_text,
)


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


@torch.inference_mode()
def option_logprobs(student, sources: Sequence[str], options: Sequence[Sequence[str]], batch_size: int = 32,
                    bf16: bool = True, max_source: int = 512, max_target: int = 64,
                    pack: bool = False) -> list[list[tuple[float, int]]]:
    """For each source, each of its options as the target: (summed log-probability of the option's tokens and its end
    token, how many tokens). Rank classification as in lm-eval-harness; batched longest-first, in input order.

    pack (causal students): a source's options are scored in one row behind a single copy of it (`encode_packed`, as
    packed CoTs train): the same values up to float rounding, for one pass over the source instead of one per option.
    """
    model, kind = student.model, student.kind
    was_training = model.training
    model.eval()
    try:
        if pack and kind == "causal":
            return _packed_option_logprobs(student, sources, options, batch_size, bf16, max_source, max_target)
        flat = [(i, j) for i, opts in enumerate(options) for j in range(len(opts))]
        scores: dict[int, tuple[float, int]] = {}
        for index in longest_first_batches([sources[i] + options[i][j] for i, j in flat], batch_size):
            batch = encode_batch(student.tokenizer, kind, [sources[flat[n][0]] for n in index],
                                 [target_text(options[flat[n][0]][flat[n][1]], kind) for n in index], max_source,
                                 max_target)
            sums, counts = _label_logprobs(model, batch, kind == "causal", bf16)
            scores |= {n: (s[0], c[0]) for n, s, c in zip(index, sums, counts, strict=True)}
    finally:
        model.train(was_training)
    nested: list[list[tuple[float, int]]] = [[] for _ in sources]
    for n, (i, _) in enumerate(flat):
        nested[i].append(scores[n])
    return nested


def _packed_option_logprobs(student, sources: Sequence[str], options: Sequence[Sequence[str]], batch_size: int,
                            bf16: bool, max_source: int, max_target: int) -> list[list[tuple[float, int]]]:
    """option_logprobs with each source's options packed behind it; batch_size still counts (source, option) pairs."""
    rows_per_batch = max(1, batch_size // max([1, *(len(opts) for opts in options)]))
    nested: list[list[tuple[float, int]]] = [[] for _ in sources]
    for index in longest_first_batches(sources, rows_per_batch):
        batch = encode_packed(student.tokenizer, [sources[i] for i in index],
                              [[target_text(option, "causal") for option in options[i]] for i in index], max_source,
                              max_target)
        sums, counts = _label_logprobs(student.model, batch, True, bf16)
        for row, i in enumerate(index):
            nested[i] = list(zip(sums[row][: len(options[i])], counts[row][: len(options[i])], strict=True))
    return nested


def _label_logprobs(model, batch: dict[str, torch.Tensor], causal: bool,
                    bf16: bool) -> tuple[list[list[float]], list[list[int]]]:
    """Per row, per target segment (one segment per row unless packed): summed log-probability of its labels, count."""
    device = next(model.parameters()).device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        logits, labels = target_logits(model, {k: v.to(device) for k, v in batch.items()}, causal)
    mask = labels != IGNORE
    picked = logits.float().log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
    if "segment_ids" not in batch:
        return picked.sum(-1, keepdim=True).tolist(), mask.sum(-1, keepdim=True).tolist()
    segments = batch["segment_ids"][:, -labels.shape[1] :].to(device)  # aligned with the labels target_logits kept
    of = [segments == k for k in range(1, int(segments.max()) + 1)]
    return (torch.stack([(picked * s).sum(-1) for s in of], -1).tolist(),
            torch.stack([(mask & s).sum(-1) for s in of], -1).tolist())


def choose(student, dataset: str, rows: Sequence[Mapping], score: str = "mean", batch_size: int = 32,
           bf16: bool = True, max_source: int = 512, max_target: int = 64, pack: bool = False) -> list[dict]:
    """The predict head on a task with options: each row's most likely option (by mean or summed token log-probability),
    as `predict` records, with both rankings' picks kept (`pick_mean`, `pick_sum`) for the report."""
    task = tasks.get(dataset)
    options = [task.options(row) for row in rows]
    sources = [source_text("predict", row["question"], student.kind) for row in rows]
    records = []
    for row, opts, scored in zip(rows, options, option_logprobs(student, sources, options, batch_size, bf16, max_source,
                                                                max_target, pack), strict=True):
        picks = {"sum": max(range(len(opts)), key=lambda j: scored[j][0]),
                 "mean": max(range(len(opts)), key=lambda j: scored[j][0] / scored[j][1])}
        output = opts[picks[score]]
        parsed = parse_head(dataset, "predict", output, row["choices"])
        records.append({"id": row["id"], "head": "predict", "output": output, "answer": parsed, "gold": row["answer"],
                        "correct": task.is_correct(parsed, row["answer"]),
                        **{f"pick_{name}_correct": task.is_correct(parse_head(dataset, "predict", opts[j],
                                                                              row["choices"]), row["answer"])
                           for name, j in picks.items()}})
    return records


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
