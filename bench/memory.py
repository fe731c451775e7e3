"""Resident memory and seconds per step of a student's training steps, with the environment as it is (the baseline)
and under each variant of it, e.g. `ONEDNN_PRIMITIVE_CACHE_CAPACITY=0`: why a bf16 Qwen run's memory grows until the
kernel's OOM killer ends it (24 GB on a 24 GB host), and what a setting would cost. Every variant trains the
same batches from the same seed in a fresh process (oneDNN and glibc read these variables once, at start), and its
losses are compared with the baseline's: a setting that changes them is not a memory setting.

Run: python bench/memory.py [steps] [dataset] [profile] [method/stage] [VAR=value ...]. Nothing else may run beside
it (two cores). Writes bench/results/memory_<dataset>_<the variables varied>[_<profile>].json.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import record

VARIANTS = ["ONEDNN_PRIMITIVE_CACHE_CAPACITY=0"]


def resident_mb() -> float:
    """This process's resident set now (what the OOM killer counts), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(steps: int, dataset: str, profile: str, stage_name: str) -> None:
    """Train `steps` + 1 steps of one stage; print one JSON line per step: seconds, loss, resident MB after it."""
    import train_step

    from mm import train

    bench = train_step.setup(dataset, profile)
    stage = bench.stages[stage_name]
    print(json.dumps({"loaded_mb": round(resident_mb()), "bf16": bench.bf16, "student": bench.student}), flush=True)
    for seconds, loss in bench.run(stage, train.packs(stage, bench.cfg, bench.kind), steps):
        print(json.dumps({"seconds": seconds, "loss": loss, "mb": round(resident_mb())}), flush=True)


def measure(env: dict[str, str], steps: int, dataset: str, profile: str, stage_name: str) -> dict:
    """One variant in a fresh process: its per-step lines, parsed."""
    out = subprocess.run([sys.executable, __file__, "--child", str(steps), dataset, profile, stage_name],
                         env=os.environ | env, capture_output=True, text=True, check=True).stdout
    head, *lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return head | {"steps": lines}


def main(steps: int = 20, dataset: str = "anli1", profile: str = "qwen_lora",
         stage_name: str = "step_by_step/cot", *variants: str) -> dict:
    variants = variants or tuple(VARIANTS)
    varied = dict.fromkeys(item.split("=")[0] for variant in variants for item in variant.split())
    if already := [name for name in varied if name in os.environ]:
        sys.exit(f"unset {' '.join(already)} first: the baseline runs with the environment as it is")
    result = {"dataset": dataset, "profile": profile, "stage": stage_name, "train_steps": steps,
              "cpu": platform.processor() or platform.machine(), "variants": {}}
    baseline = None
    for variant in ["", *variants]:
        env = dict(item.split("=", 1) for item in variant.split())  # the baseline's "": none
        run = measure(env, steps, dataset, profile, stage_name)
        mb = [s["mb"] for s in run["steps"]]
        seconds = [s["seconds"] for s in run["steps"][1:]]  # the first step warms up
        losses = [s["loss"] for s in run["steps"]]
        row = {"loaded_mb": run["loaded_mb"], "mb_after_first_step": mb[0], "mb_after_last_step": mb[-1],
               "peak_mb": max(mb), "mb_per_step": round((mb[-1] - mb[0]) / max(1, len(mb) - 1), 1),
               "seconds_per_step": round(sum(seconds) / len(seconds), 2), "mb_by_step": mb}
        if baseline is None:
            baseline = row | {"losses": losses}
            result |= {"bf16": run["bf16"], "student": run["student"]}
        else:
            row |= {"same_losses_as_baseline": losses == baseline["losses"],
                    "time_ratio": round(row["seconds_per_step"] / baseline["seconds_per_step"], 3),
                    "growth_ratio": round((mb[-1] - mb[0]) / max(1, baseline["mb_after_last_step"]
                                                                 - baseline["mb_after_first_step"]), 3)}
        result["variants"][variant or "baseline (environment as is)"] = row
        print(variant or "baseline", {k: v for k, v in row.items() if k != "mb_by_step"}, flush=True)
    return record.save(result, f"memory_{dataset}_{'-'.join(n.strip('_').lower() for n in varied)}", profile)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), *sys.argv[3:6])
    else:
        main(*(int(a) if a.isdigit() else a for a in sys.argv[1:]))
