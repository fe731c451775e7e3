"""Seconds to score a split's options by likelihood (the predict head's test and validation scorer on CQA / ANLI),
packed (a question's options behind one copy of it, what `distill.pack_cots` selects for causal students) against
one row per option (the baseline, same run), with how often the two pick the same option and their largest gap.

Run: python bench/choice.py [n questions] [dataset] [student profile] [split]. Writes
bench/results/choice_<dataset>[_<profile>].json. The student is the profile's pretrained one (no training: scoring
costs the same for any weights).
"""
from __future__ import annotations

import platform
import sys
import time

import record
import torch

from mm import config, data, decode, distill, student, tasks
from mm.collate import source_text


def main(n: int = 100, dataset: str = "cqa", profile: str = config.DEFAULT_STUDENT, split: str = "valid") -> dict:
    _, params, _ = config.load_run_params(student=profile)
    cfg = params.distill
    bf16 = distill.host_bf16(cfg)
    task = tasks.get(dataset)
    rows = list(data.load_from_config(dataset, params.data)[split])[:n]
    torch.manual_seed(0)
    built = student.build_student(params.student, [r["question"] for r in rows])
    sources = [source_text("predict", row["question"], built.kind) for row in rows]
    options = [task.options(row) for row in rows]
    result = {"dataset": dataset, "split": split, "questions": len(rows), "options": sum(map(len, options)),
              "profile": profile, "student": params.student.name, "bf16": bf16, "batch_size": cfg.eval_batch_size,
              "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    scored = {}
    for pack in (False, True):
        started = time.perf_counter()
        scored[pack] = decode.option_logprobs(built, sources, options, cfg.eval_batch_size, bf16,
                                              params.student.max_source_tokens, params.student.max_target_tokens, pack)
        result[f"seconds_{'packed' if pack else 'unpacked'}"] = round(time.perf_counter() - started, 1)
    result["speedup"] = round(result["seconds_unpacked"] / result["seconds_packed"], 2)
    picks = {pack: [max(range(len(s)), key=lambda j, s=s: s[j][0] / s[j][1]) for s in scored[pack]]
             for pack in scored}
    result["same_mean_pick"] = sum(a == b for a, b in zip(picks[False], picks[True], strict=True))
    result["max_abs_logprob_gap"] = round(max(abs(a[0] - b[0]) for x, y in zip(scored[False], scored[True], strict=True)
                                              for a, b in zip(x, y, strict=True)), 4)
    return record.save(result, f"choice_{dataset}", profile)


if __name__ == "__main__":
    main(*(int(a) if a.isdigit() else a for a in sys.argv[1:5]))
