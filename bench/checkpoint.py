"""Size on disk of a student profile's resume checkpoint (out/last) and selected model (out/best) after one training
step: what `make carry` can commit (README: Compute plan). LoRA's out/last holds only the adapters, their optimiser
state and the best's adapters; full fine-tuning's holds every weight and its optimiser state.

Run: python bench/checkpoint.py [student profile]. Writes bench/results/checkpoint_<profile>.json.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import torch

from mm import ROOT, config, methods, student, train


def _megabytes(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): round(p.stat().st_size / 2**20, 2) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def main(profile: str = config.DEFAULT_STUDENT) -> dict:
    _, params, _ = config.load_run_params(student=profile)
    pairs = [methods.Pair(f"q{i}", f"What is {i} plus {i}?", str(2 * i), f"{i} plus {i} is {2 * i}.") for i in range(2)]
    torch.manual_seed(0)
    built = student.build_student(params.student, [t for p in pairs for t in (p.question, p.answer, p.rationale)])
    cfg = dataclasses.replace(params.distill, batch_size=2, epochs=1, evals_per_epoch=1, save_every=1, bf16=False)
    stage = methods.stage("cot", pairs, cfg.epochs, 0.5, True, cfg)
    with tempfile.TemporaryDirectory() as out:
        train.fit(built, [stage], cfg, params.student, out, lambda _: 0.5, 0, run_key="bench")
        files = {name: _megabytes(Path(out) / name) for name in (train.LAST, train.BEST)}
    result = {"profile": profile, "student": params.student.name, "lora_r": params.student.lora_r,
              "parameters": student.count_parameters(built.model),
              "megabytes": {name: round(sum(sizes.values()), 1) for name, sizes in files.items()}, "files": files}
    path = ROOT / "bench" / "results" / f"checkpoint_{profile}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["megabytes"]), "->", path.relative_to(ROOT))
    return result


if __name__ == "__main__":
    main(*sys.argv[1:])
