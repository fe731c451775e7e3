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
    unpacked = encode_packed(tokenizer, sources, [[target] for target in targets], max_source, max_target)
    return {key: unpacked[key] for key in ("input_ids", "attention_mask", "labels")}


def _prompt_ids(tokenizer, source: str, max_source: int) -> list[int]:
    return tokenizer(source, add_special_tokens=False)["input_ids"][-max_source:]  # keep the cue at the end


def _target_ids(tokenizer, target: str, max_target: int) -> list[int]:
    return tokenizer(target, add_special_tokens=False)["input_ids"][: max_target - 1] + [tokenizer.eos_token_id]


def encode_packed(tokenizer, sources: Sequence[str], targets: Sequence[Sequence[str]], max_source: int,
                  max_target: int) -> dict[str, torch.Tensor]:
    """Causal: one row per source with all its targets behind a single copy of it (pad may equal eos: masked).

    Each target is a segment (the source's last token, then the target) that sees the rest of the source and itself
    only (`segment_ids`: 0 = shared source, k = k-th target, -1 = pad), with the positions it would have in a row of
    its own, so every target gets exactly the loss it would get there (`encode_batch`), for one pass over the source
    instead of one per target.
    """
    rows = []
    for source, group in zip(sources, targets, strict=True):
        prompt = _prompt_ids(tokenizer, source, max_source)
        shared, cue = prompt[:-1], prompt[-1:]  # each segment repeats the prompt's last token: it predicts the first
        ids, labels, segments, positions = list(shared), [IGNORE] * len(shared), [0] * len(shared), []
        positions += range(len(shared))
        for k, target in enumerate(group, start=1):
            answer = _target_ids(tokenizer, target, max_target)
            ids += cue + answer
            labels += [IGNORE] * len(cue) + answer
            segments += [k] * (len(cue) + len(answer))
            positions += range(len(shared), len(prompt) + len(answer))
        rows.append((ids, labels, segments, positions))
    width = max(len(row[0]) for row in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = {key: torch.full((len(rows), width), fill, dtype=torch.long)  # right padding, masked by attention
           for key, fill in (("input_ids", pad), ("labels", IGNORE), ("segment_ids", -1), ("position_ids", 0))}
    for i, row in enumerate(rows):
        for key, values in zip(("input_ids", "labels", "segment_ids", "position_ids"), row, strict=True):
            out[key][i, : len(values)] = torch.tensor(values)
    out["attention_mask"] = (out["segment_ids"] >= 0).long()  # real tokens: what tokens_seen counts
    return out


def block_attention(segment_ids: torch.Tensor, boolean: bool, dtype: torch.dtype) -> torch.Tensor:
    """The (batch, 1, query, key) mask of a packed row: causal, and a target's tokens see the source and their own
    segment only. Pad queries see the source and themselves: no softmax row is empty. Boolean for SDPA (True =
    attend), additive float for eager attention."""
    width = segment_ids.shape[1]
    query, key = segment_ids[:, :, None], segment_ids[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool, device=segment_ids.device).tril()
    allowed = causal & (key >= 0) & ((key == 0) | (key == query))
    allowed |= torch.eye(width, dtype=torch.bool, device=segment_ids.device) & (query < 0)
    allowed = allowed[:, None]
    if boolean:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device).masked_fill(~allowed,
                                                                                         torch.finfo(dtype).min)


def target_logits(model, batch: dict[str, torch.Tensor], causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits that predict each labelled token, and those labels, position by position.

    Causal: token t is predicted at position t - 1, and the vocabulary head runs only from the batch's first labelled
    position on (`logits_to_keep`), not over the prompt: the same values as the full logits, and on ANLI's long
    premises ~20 % less time per training step (measured on 2 CPU cores, SmolLM2-135M). A packed batch
    (`encode_packed`) goes in with its block mask and per-segment positions.
    """
    labels = batch["labels"]
    if not causal:
        return model(**batch).logits, labels
    first = max(1, int((labels != IGNORE).int().argmax(1).min()))
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if "segment_ids" in batch:
        attention = model.config._attn_implementation
        if attention not in ("sdpa", "eager"):
            raise ValueError(f"packed CoTs need sdpa or eager attention (a block mask); the student uses "
                             f"{attention!r}: set distill.pack_cots: false")
        inputs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"],
                  "attention_mask": block_attention(batch["segment_ids"], attention == "sdpa",
                                                    model.get_input_embeddings().weight.dtype)}
    logits = model(**inputs, logits_to_keep=labels.shape[1] - first + 1).logits
    return logits[:, :-1], labels[:, first:]


def longest_first_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Index batches over texts, longest first, for inference: less padding per batch; callers restore input order
    by index."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, mega: int = 50,
                           groups: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
    """Seeded shuffle, then sort by length inside mega-batches: batches of similar length, random order.

    groups: item indices that stay next to each other (a question's CoTs, to be packed), with one length per group;
    batches still hold batch_size items, so a group may straddle two. Default: every item on its own.
    """
    groups = groups if groups is not None else [[i] for i in range(len(lengths))]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups)).tolist()
    items = []
    for start in range(0, len(order), batch_size * mega):
        chunk = sorted(order[start : start + batch_size * mega], key=lambda g: -lengths[g])
        items += [i for g in chunk for i in groups[g]]
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    rng.shuffle(batches)
    return batches
