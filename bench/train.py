"""Training throughput: mm's batches vs the official repo's configuration, same model and data, one run.

Official (distilling-step-by-step / Mind's Mirror code): inputs padded to 1024 tokens, random batch order, fp32.
mm: dynamic padding, length-grouped batches, bf16 autocast. Counts target (label) tokens per second.
Run: .venv/bin/python bench/train.py [steps] [student]  -> table + bench/results/train.json. Read ratios, not seconds.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time

import numpy as np
import torch

from mm import ROOT, config, data, methods, student, tasks, train
from mm.collate import IGNORE, source_text, target_text


def palm_pairs(n: int = 256) -> list[methods.Pair]:
    """SVAMP train questions with their PaLM CoT as rationale: real lengths."""
    rows = list(data.load_benchmark("svamp")["train"])[:n]
    return [methods.Pair(r["id"], r["question"], tasks.get("svamp").gold_target(r), r["palm_rationale"]) for r in rows]


def official_batch(built, pairs, cfg: config.StudentConfig) -> dict:
    """Both tasks padded to fixed lengths (1024 source tokens), as upstream's tokenisation does."""
    out = {}
    for task, targets in (("predict", [p.answer for p in pairs]), ("explain", [p.rationale for p in pairs])):
        enc = built.tokenizer([source_text(task, p.question, built.kind) for p in pairs], max_length=1024,
                              padding="max_length", truncation=True, return_tensors="pt")
        lab = built.tokenizer([target_text(t, built.kind) for t in targets], max_length=cfg.max_target_tokens,
                              padding="max_length", truncation=True, return_tensors="pt")
        out[task] = {**enc, "labels": lab["input_ids"].masked_fill(lab["attention_mask"] == 0, IGNORE)}
    return out


def measure(name: str, built, batches, bf16: bool) -> dict:
    """Target tokens/s over the batches after a warm-up step, on the model's device (CUDA: its peak memory too)."""
    model = built.model.train()
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    tokens, seconds = 0, 0.0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i, batch in enumerate(batches):
        batch = {task: {k: v.to(device) for k, v in part.items()} for task, part in batch.items()}
        _synchronize(device)
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss = train.multitask_loss(model, batch, 0.5, built.kind == "causal")
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        _synchronize(device)
        if i:  # the first step warms up
            seconds += time.perf_counter() - started
            tokens += sum(int((b["labels"] != IGNORE).sum()) for b in batch.values())
    row = {"config": name, "target_tokens": tokens, "seconds": round(seconds, 2), "tok_per_s": tokens / seconds}
    if device.type == "cuda":
        row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return row


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def compare(name: str, steps: int, batch_size: int, device: str = "cpu") -> list[dict]:
    """The official configuration and mm's (fp32, bf16) on the same student, data and device; ratios vs official."""
    cfg = config.StudentConfig(kind="seq2seq", name=name, max_source_tokens=1024, max_target_tokens=256)
    pairs = palm_pairs()
    torch.manual_seed(0)
    built = student.build_student(cfg, [t for p in pairs for t in (p.question, p.answer, p.rationale)])
    built.model.to(device)
    order = np.random.default_rng(0).permutation(len(pairs))
    random_batches = [[pairs[i] for i in order[s * batch_size : (s + 1) * batch_size]] for s in range(steps + 1)]
    grouped = train.stage_batches(methods.Stage("cot", pairs, steps + 1, 0.5, True),
                                  config.DistillConfig(batch_size=batch_size), seed=0)
    mm_batches = [train.collate([pairs[i] for i in b], built.tokenizer, built.kind, cfg, 0.5) for b in grouped]
    rows = [measure("official: pad to 1024, random order, fp32", built,
                    [official_batch(built, b, cfg) for b in random_batches], bf16=False),
            measure("mm: dynamic padding, length-grouped, fp32", built, mm_batches, False),
            measure("mm: dynamic padding, length-grouped, bf16 autocast", built, mm_batches, True)]
    base = rows[0]["tok_per_s"]
    print(f"{name} on {device}\n{'configuration':52} {'tokens':>7} {'s':>7} {'tok/s':>7} {'ratio':>6}")
    for row in rows:
        row["speedup_vs_official"] = round(row["tok_per_s"] / base, 2)
        row["tok_per_s"] = round(row["tok_per_s"], 1)
        print(f"{row['config']:52} {row['target_tokens']:>7} {row['seconds']:>7} {row['tok_per_s']:>7} "
              f"{row['speedup_vs_official']:>6}")
    return rows


BATCH = 4  # batch 8 at 1024 tokens (both tasks in one graph) needs > 24 GB in fp32 on CPU: OOM-killed here


def main(steps: int = 5, name: str = "t5-v1_1-small") -> list[dict]:
    rows = compare(name, steps, BATCH)
    out = ROOT / "bench" / "results" / "train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"student": name, "steps": steps, "batch_size": BATCH, "rows": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, *sys.argv[2:3])
