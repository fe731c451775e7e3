"""Student text formats and batches: task prefixes, dynamic padding, prompt masking, length-grouped order."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

IGNORE = -100  # label value the loss skips
TASKS = ("predict", "explain")


def source_text(task: str, question: str, kind: str) -> str:
    """The model input of a task: `predict: <question>` / `explain: <question>` (causal: plus a cue line)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    text = f"{task}: {question}"
    return f"{text}\n{'Answer' if task == 'predict' else 'Explanation'}:" if kind == "causal" else text


def target_text(target: str, kind: str) -> str:
    return f" {target}" if kind == "causal" else target


def encode_batch(tokenizer, kind: str, sources: Sequence[str], targets: Sequence[str], max_source: int,
                 max_target: int) -> dict[str, torch.Tensor]:
    """Padded tensors with labels; causal labels cover only the target tokens (+eos), never the prompt or pad."""
    if kind == "seq2seq":
        enc = tokenizer(list(sources), max_length=max_source, truncation=True, padding=True, return_tensors="pt")
        lab = tokenizer(list(targets), max_length=max_target, truncation=True, padding=True, return_tensors="pt")
        labels = lab["input_ids"].masked_fill(lab["attention_mask"] == 0, IGNORE)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}
    rows = []
    for source, target in zip(sources, targets, strict=True):
        prompt = tokenizer(source, add_special_tokens=False)["input_ids"][-max_source:]  # keep the cue at the end
        answer = tokenizer(target, add_special_tokens=False)["input_ids"][: max_target - 1] + [tokenizer.eos_token_id]
        rows.append((prompt + answer, [IGNORE] * len(prompt) + answer))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):  # right padding; masked by attention, since pad may equal eos
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        attention[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def target_logits(model, batch: dict[str, torch.Tensor], causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits that predict each labelled token, and those labels, position by position.

    Causal: token t is predicted at position t - 1, and the vocabulary head runs only from the batch's first labelled
    position on (`logits_to_keep`), not over the prompt: the same values as the full logits, and on ANLI's long
    premises ~20 % less time per training step (measured on 2 CPU cores, SmolLM2-135M).
    """
    labels = batch["labels"]
    if not causal:
        return model(**batch).logits, labels
    first = max(1, int((labels != IGNORE).int().argmax(1).min()))
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   logits_to_keep=labels.shape[1] - first + 1).logits
    return logits[:, :-1], labels[:, first:]


def longest_first_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Index batches over texts, longest first, for inference: less padding per batch; callers restore input order
    by index."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, mega: int = 50) -> list[list[int]]:
    """Seeded shuffle, then sort by length inside mega-batches: batches of similar length, random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths)).tolist()
    batches = []
    for start in range(0, len(order), batch_size * mega):
        chunk = sorted(order[start : start + batch_size * mega], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches
