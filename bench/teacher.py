"""Teacher decode throughput: mm's local engines vs plain transformers `generate` at batch 1, same model and prompts.

Run: .venv/bin/python bench/teacher.py [n_prompts] [max_tokens] [model], the model a name of mm.llm_local.LOCAL_MODELS
(default params.yaml's teacher, Qwen2.5-Coder-0.5B; `qwen2.5-coder-1.5b` the larger teacher). Prints a table and writes
bench/results/teacher.json (teacher_<model>.json for another model).
Rows: the baseline (fp32, batch 1, greedy); plain batched `generate` (left-padded); mm's engine greedy (its answers
are compared with the baseline's, prompt by prompt) and sampled as the teacher stage runs it (5 samples per question,
temperature 0.7); llama.cpp one prompt at a time, when installed. Read the ratios, not the seconds: the machine is
shared and noisy, and which CPU it is matters (bf16 pays only with AMX / AVX512-BF16: see `host` in the JSON).
"""
from __future__ import annotations

import argparse
import sys
import time

import record
import torch

from mm import config, data, prompts, tasks, teacher
from mm.hf_generate import HFGenerator, bf16_is_fast, load_gguf_model
from mm.llm import Completion
from mm.llm_local import MODEL_DIR, LocalBackend, gguf_path, has_llama_cpp

DATASET = "svamp"
DEFAULT_MODEL = config.TeacherConfig().model


def jobs_for(model: str, n: int, max_tokens: int, temperature: float, samples: int) -> tuple[list, list]:
    cfg = config.TeacherConfig(model=model, temperature=temperature, max_tokens=max_tokens, n_questions={DATASET: n})
    train = list(data.load_benchmark(DATASET)["train"])
    shots = prompts.exemplars(DATASET, train, cfg.n_shots)
    rows = teacher.teacher_questions(DATASET, train, cfg)
    return rows, [teacher.make_job(cfg, prompts.cot_messages(DATASET, q["question"], shots), k)
                  for q in rows for k in range(samples)]


def measure(name: str, run) -> tuple[dict, list[Completion]]:
    started = time.perf_counter()
    completions = list(run())
    seconds = time.perf_counter() - started
    tokens = sum(c.completion_tokens for c in completions)
    row = {"engine": name, "completions": len(completions), "completion_tokens": tokens,
           "seconds": round(seconds, 1), "tok_per_s": tokens / seconds}
    print(f"{name}: {row['tok_per_s']:.1f} tok/s", file=sys.stderr, flush=True)
    return row, completions


def plain_generate(jobs, model, tokenizer, batch_size: int = 1):
    """Plain `generate`, greedy, left-padded batches, whole prompts: the baseline at batch 1."""
    tokenizer.padding_side = "left"
    for start in range(0, len(jobs), batch_size):
        batch = jobs[start : start + batch_size]
        texts = [tokenizer.apply_chat_template(list(j.messages), tokenize=False, add_generation_prompt=True)
                 for j in batch]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=False, max_new_tokens=batch[0].sampling.max_tokens,
                                 pad_token_id=tokenizer.pad_token_id)
        for job, new in zip(batch, out[:, enc["input_ids"].shape[1]:], strict=True):
            kept = new[(new != tokenizer.pad_token_id) & (new != tokenizer.eos_token_id)]
            yield Completion(key=job.key, text=tokenizer.decode(kept, skip_special_tokens=True),
                             completion_tokens=len(kept))


def agreement(rows, reference: list[Completion], other: list[Completion]) -> dict:
    """Share of prompts whose parsed final answer (and whose whole text) equals the baseline's."""
    by_key = {c.key: c for c in other}
    same_answer = same_text = 0
    for row, ref in zip(rows, reference, strict=True):
        mine = by_key[ref.key]
        parsed = [tasks.get(DATASET).parse_answer(c.text, row["choices"]) for c in (mine, ref)]
        same_answer += parsed[0] == parsed[1]
        same_text += mine.text.strip() == ref.text.strip()
    return {"answer_agreement": round(same_answer / len(rows), 3), "text_agreement": round(same_text / len(rows), 3)}


def main(n: int = 32, max_tokens: int = 200, model_name: str = DEFAULT_MODEL) -> list[dict]:
    rows, greedy = jobs_for(model_name, n, max_tokens, 0.0, 1)
    _, sampled = jobs_for(model_name, n, max_tokens, 0.7, 5)
    path = gguf_path(model_name)
    model, tokenizer = load_gguf_model(path, MODEL_DIR / f"{path.stem}-hf")  # the teacher stage's converted copy
    results = []
    row, baseline = measure("transformers generate, fp32, batch 1 (baseline)",
                            lambda: plain_generate(greedy, model, tokenizer))
    results.append(row)
    row, plain = measure("transformers generate, fp32, left-padded batch 16",
                         lambda: plain_generate(greedy, model, tokenizer, 16))
    results.append(row | agreement(rows, baseline, plain))
    if has_llama_cpp():
        backend = LocalBackend(model_name, engine="llama_cpp")
        row, out = measure("llama.cpp, one prompt at a time (prefix reuse)", lambda: backend.run(greedy))
        results.append(row | agreement(rows, baseline, out))
    engine = HFGenerator(model, tokenizer, batch_size=128)
    name = f"mm engine ({engine.dtype}): shared prefix, batch 128"
    row, out = measure(f"{name}, greedy", lambda: engine.run(greedy))
    results.append(row | agreement(rows, baseline, out))
    row, _ = measure(f"{name}, 5 samples per question (teacher stage)", lambda: engine.run(sampled))
    results.append(row)

    base = results[0]["tok_per_s"]
    for row in results:
        row["speedup_vs_baseline"] = round(row["tok_per_s"] / base, 2)
        row["tok_per_s"] = round(row["tok_per_s"], 1)
    print(f"| {'engine':64} | tokens | s | tok/s | x baseline | same answer |\n|---|---|---|---|---|---|")
    for row in results:
        print(f"| {row['engine']:64} | {row['completion_tokens']} | {row['seconds']} | {row['tok_per_s']} | "
              f"{row['speedup_vs_baseline']} | {row.get('answer_agreement', '')} |")
    record.save({"model": model_name, "n_prompts": n, "max_tokens": max_tokens, "threads": torch.get_num_threads(),
                 "bf16_is_fast": bf16_is_fast(), "rows": results},
                "teacher" if model_name == DEFAULT_MODEL else f"teacher_{model_name}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=32, help="SVAMP prompts (the teacher's first questions)")
    parser.add_argument("max_tokens", nargs="?", type=int, default=200, help="new tokens per completion at most")
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="a local teacher model")
    args = parser.parse_args()
    main(args.n, args.max_tokens, args.model)
