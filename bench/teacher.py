"""Teacher decode throughput: mm's local backend vs plain transformers `generate` at batch 1, same model and prompts.

Run: .venv/bin/python bench/teacher.py [n_prompts] [max_tokens]. Prints a table and writes bench/results/teacher.json.
Read the ratios, not the seconds: this machine is shared and noisy.
"""
from __future__ import annotations

import json
import sys
import time

import torch

from mm import ROOT, config, data, prompts, teacher
from mm.hf_generate import HFGenerator, load_gguf_model
from mm.llm_local import MODEL_DIR, LocalBackend, gguf_path, has_llama_cpp


def jobs_for(n: int, max_tokens: int) -> list:
    cfg = config.TeacherConfig(temperature=0.0, max_tokens=max_tokens, n_questions={"svamp": n})
    train = list(data.load_benchmark("svamp")["train"])
    shots = prompts.exemplars("svamp", train, cfg.n_shots)
    return [teacher.make_job(cfg, prompts.cot_messages("svamp", q["question"], shots), 0)
            for q in teacher.teacher_questions("svamp", train, cfg)]


def measure(name: str, run) -> dict:
    started = time.perf_counter()
    completions = list(run())
    seconds = time.perf_counter() - started
    tokens = sum(c.completion_tokens for c in completions)
    return {"engine": name, "completion_tokens": tokens, "seconds": round(seconds, 1), "tok_per_s": tokens / seconds}


def plain_transformers(jobs, model, tokenizer):
    """The baseline: fp32, batch 1, no prefix reuse."""
    from mm.llm import Completion

    for job in jobs:
        text = tokenizer.apply_chat_template(list(job.messages), tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**ids, do_sample=False, max_new_tokens=job.sampling.max_tokens,
                                 pad_token_id=tokenizer.eos_token_id)
        yield Completion(key=job.key, text="", completion_tokens=int(out.shape[1] - ids["input_ids"].shape[1]))


def main(n: int = 8, max_tokens: int = 96) -> list[dict]:
    jobs = jobs_for(n, max_tokens)
    model, tokenizer = load_gguf_model(gguf_path("qwen2.5-0.5b"), MODEL_DIR / "qwen2.5-0.5b-hf")
    baseline = "transformers generate, fp32, batch 1 (baseline)"
    rows = [measure(baseline, lambda: plain_transformers(jobs, model, tokenizer))]
    generator = HFGenerator(model, tokenizer, batch_size=8)
    rows.append(measure("mm transformers engine, bf16 autocast, batch 8", lambda: generator.run(jobs)))
    if has_llama_cpp():
        backend = LocalBackend("qwen2.5-0.5b", engine="llama_cpp")
        rows.append(measure("mm local backend, llama.cpp (prefix reuse)", lambda: backend.run(jobs)))
    base = rows[0]["tok_per_s"]
    for row in rows:
        row["speedup_vs_baseline"] = round(row["tok_per_s"] / base, 2)
        row["tok_per_s"] = round(row["tok_per_s"], 1)
    print(f"{'engine':52} {'tokens':>7} {'s':>7} {'tok/s':>7} {'ratio':>6}")
    for row in rows:
        print(f"{row['engine']:52} {row['completion_tokens']:>7} {row['seconds']:>7} {row['tok_per_s']:>7} "
              f"{row['speedup_vs_baseline']:>6}")
    out = ROOT / "bench" / "results" / "teacher.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n_prompts": n, "max_tokens": max_tokens, "threads": torch.get_num_threads(),
                               "rows": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
