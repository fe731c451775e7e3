"""Seconds per optimiser step of the default student on this machine, fp32 against bf16 autocast: what a compute
plan multiplies by (`distill.bf16` pays only on CPUs with AMX / AVX512-BF16, and on GPUs).

Run: .venv/bin/python bench/train_step.py [steps] [dataset] [fp32,bf16]. Multi-task steps (predict + explain) of
`distill.batch_size` questions with their PaLM rationales, the student and lengths from params.yaml.
Writes bench/results/train_step.json. On an AVX2-only CPU a bf16 step takes minutes: pass `fp32` alone there.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time

import torch

from mm import ROOT, config, data, distill, student, tasks, train
from mm.hf_generate import bf16_is_fast


def main(steps: int = 3, dataset: str = "svamp", dtypes: str = "fp32,bf16") -> dict:
    params = config.load_params()
    rows = list(data.load_benchmark(dataset)["train"])[: params.distill.batch_size * (steps + 1)]
    pairs = [distill.Pair(r["id"], r["question"], tasks.get(dataset).gold_target(r), r["palm_rationale"]) for r in rows]
    torch.manual_seed(0)
    built = student.build_student(params.student, [t for p in pairs for t in (p.question, p.answer, p.rationale)])
    optimizer = torch.optim.AdamW(built.model.parameters(), lr=1e-5)
    size = params.distill.batch_size
    batches = [train.collate(pairs[i : i + size], built.tokenizer, built.kind, params.student, 0.5)
               for i in range(0, len(pairs), size)]
    result = {"student": params.student.name, "dataset": dataset, "batch_size": size, "bf16_is_fast": bf16_is_fast()}
    for bf16 in [name == "bf16" for name in dtypes.split(",")]:
        times = []
        for batch in batches:
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                loss = train.multitask_loss(built.model, batch, 0.5, built.kind == "causal")
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            times.append(time.perf_counter() - started)
        result[f"seconds_per_step_{'bf16' if bf16 else 'fp32'}"] = round(sum(times[1:]) / len(times[1:]), 2)
    print(json.dumps(result, indent=1))
    (ROOT / "bench" / "results" / "train_step.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(*(int(a) if a.isdigit() else a for a in sys.argv[1:4]))
