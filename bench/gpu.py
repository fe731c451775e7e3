"""The GPU check: ≤ 8 min on one GPU, no downloaded weights.

On the same GPU and data it reports: target tokens/s of mm's training (dynamic padding, length-grouped batches) against
the official configuration (inputs padded to 1024, random order, fp32), fp32 and bf16, with peak GPU memory, for
T5-v1.1-small and -base built from config with the project's trained tokenizer (`bench/train.py`'s comparison);
batched greedy and sampled decoding tokens/s of mm's engine on a Llama from config shaped like Qwen2.5-0.5B (random
weights: the speed, not the text; rows run to max_tokens); and the smoke pipeline (`python -m mm.distill`,
`recipes/smoke.yaml`, bf16 auto) end to end. Writes bench/results/gpu.json.

--dry-run: the same code on CPU with tiny shapes and a few steps, in seconds; CI runs it so the script cannot rot. It
writes to --out (default: a temporary file), never over the GPU figures.
Run: python bench/gpu.py [--dry-run] [--out PATH]. It needs torch, transformers, accelerate, peft and `datasets` (with
dill and multiprocess), not dvc (training runs without dvclive): on a GPU host without network, install those three
from wheels first.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from train import compare, palm_pairs  # bench/train.py

from mm import ROOT, student
from mm.config import DEFAULT_STUDENT, DEFAULT_TEACHER
from mm.hf_generate import HFGenerator
from mm.llm import Job, Sampling
from mm.runs import Run

QWEN_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True)
TINY = dict(student.TINY_LLAMA, vocab_size=512)
CHAT = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"


def decoding(shape: dict, n_prompts: int, max_tokens: int, batch_size: int) -> list[dict]:
    """mm's engine, greedy (one row per prompt) and sampled (5 per prompt, the teacher stage's work)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    pairs = palm_pairs(n_prompts)
    tokenizer = student.train_tokenizer([p.question for p in palm_pairs()], 500, "causal")  # within either vocab
    tokenizer.chat_template = CHAT
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                         **shape))
    engine = HFGenerator(model, tokenizer, batch_size=batch_size)
    rows = []
    for name, temperature, samples in (("greedy", 0.0, 1), ("sampled, 5 per prompt", 0.7, 5)):
        jobs = [Job(f"{p.id}-{k}", ({"role": "user", "content": p.question},),
                    Sampling(temperature=temperature, top_p=0.95, max_tokens=max_tokens, seed=k))
                for p in pairs for k in range(samples)]
        started = time.perf_counter()
        tokens = sum(c.completion_tokens for c in engine.run(jobs))
        seconds = time.perf_counter() - started
        rows.append({"decoding": name, "dtype": engine.dtype, "rows": len(jobs), "completion_tokens": tokens,
                     "seconds": round(seconds, 2), "tok_per_s": round(tokens / seconds, 1)})
        print(rows[-1], flush=True)
    return rows


def smoke_pipeline(out_dir: Path) -> dict:
    """One smoke run of the distillation entry point, as its DVC stage runs it, on whatever device torch sees."""
    run = Run(DEFAULT_STUDENT, DEFAULT_TEACHER, "svamp", "mind_mirror", 0)
    metrics_file = out_dir / run.metrics_file
    command = [sys.executable, "-m", "mm.distill", "--dataset", "svamp", "--method", "mind_mirror", "--seed", "0",
               "--params", str(ROOT / "recipes" / "smoke.yaml"), "--set", "distill.bf16=auto", "--into", str(out_dir)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    row = {"command": " ".join(command[1:]), "returncode": done.returncode,
           "seconds": round(time.perf_counter() - started, 1)}
    if done.returncode:
        return row | {"stderr_tail": done.stderr[-2000:]}
    metrics = json.loads(metrics_file.read_text())
    return row | {key: metrics[key] for key in ("test_accuracy", "steps", "bf16", "train_seconds")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes, a few steps")
    parser.add_argument("--out", type=Path, help="default: bench/results/gpu.json (dry run: a temporary file)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    if not args.dry_run and not cuda:
        parser.error("no CUDA device: run with --dry-run on CPU")
    device = "cuda" if cuda and not args.dry_run else "cpu"
    result = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
              "dry_run": args.dry_run, "train": {}}
    students, steps, batch = (["t5-v1_1-tiny"], 1, 2) if args.dry_run else (["t5-v1_1-small", "t5-v1_1-base"], 10, 16)
    for name in students:
        result["train"][name] = {"steps": steps, "batch_size": batch, "rows": compare(name, steps, batch, device)}
    result["decode"] = decoding(TINY, 2, 8, 8) if args.dry_run else decoding(QWEN_05B, 64, 128, 320)
    with tempfile.TemporaryDirectory() as tmp:
        result["smoke_pipeline"] = smoke_pipeline(Path(tmp))
    out = args.out or (Path(tempfile.mkstemp(suffix=".json")[1]) if args.dry_run
                       else ROOT / "bench" / "results" / "gpu.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
