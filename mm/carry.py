"""Whether a carried resume checkpoint (a run's out/last, committed by `make carry`) can resume on this host.

A run's resume key holds the precision `distill.bf16: auto` picks on the host (bf16 on a GPU, AMX or AVX512-BF16;
fp32 on AVX2-only CPUs), and `train.fit` discards a checkpoint whose key differs. A run carried across would so
restart and lose hours of training; `make study` and `make ablations` ask this module first. A run carried from an
fp32 host is finished in fp32 on a bf16 host (recipes/fp32.yaml; ANLI Qwen LoRA: ~20 s a step, ~22 on AVX2); one
from a bf16 host is left for a bf16 host (bf16 matmuls on an AVX2-only CPU run ~100x slower than fp32).

Run: python -m mm.carry OUT_DIR --dataset D --method M --seed S [--student P] [--ablation A]. Exit status, with a
line saying why: 4 when OUT_DIR's checkpoint trained in fp32 and this host trains in bf16 (resume it under
recipes/fp32.yaml), 3 when it trained in bf16 and this host trains in fp32 (leave it); 0 otherwise (nothing carried,
or a checkpoint this host resumes, or one that other settings or code made stale, which the run restarts as before).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mm import config, distill, train

OTHER_PRECISION = 3  # exit status: leave the run for a host of its precision
FINISH_IN_FP32 = 4  # exit status: resume it here under FP32_RECIPE
FP32_RECIPE = "recipes/fp32.yaml"


def carried_precision(out_dir: str | Path, dataset: str, method: str, seed: int, params: config.Params,
                      teacher_dir: str | Path | None = None) -> bool | None:
    """The bf16 setting out_dir's carried checkpoint was trained with: None when nothing is carried or its key
    matches neither precision (settings, teacher data or training code changed since)."""
    state_file = Path(out_dir) / train.LAST / "state.json"
    if not state_file.exists():
        return None
    carried = json.loads(state_file.read_text()).get("run_key")
    cots, _ = distill.teacher_outputs(dataset, Path(teacher_dir) if teacher_dir else None)
    for bf16 in (True, False):
        keyed = dataclasses.replace(params, distill=dataclasses.replace(params.distill, bf16=bf16))
        if distill.run_key(dataset, method, seed, keyed, cots) == carried:
            return bf16
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mm.carry", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--method", default="mind_mirror")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--student", default="")
    parser.add_argument("--ablation", default="")
    parser.add_argument("--params", default=str(config.PARAMS))
    args = parser.parse_args(argv)
    ablation_method, params, _ = config.load_run_params(args.params, args.student, args.ablation)
    carried = carried_precision(args.out_dir, args.dataset, ablation_method or args.method, args.seed, params)
    here = distill.host_bf16(params.distill)
    if carried is None or carried == here:
        return 0
    if here:
        print(f"{args.out_dir}: its carried checkpoint trained in fp32, this host trains in bf16: it resumes here in "
              f"fp32, under {FP32_RECIPE}")
        return FINISH_IN_FP32
    print(f"{args.out_dir}: its carried checkpoint trained in bf16, this host trains in fp32: left for a bf16 host "
          f"(a restart here would discard it)")
    return OTHER_PRECISION


if __name__ == "__main__":
    sys.exit(main())
