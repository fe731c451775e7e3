"""Seconds per optimiser step of the default student on this host, per kind of stage the methods train (answer
only; multi-task answer + teacher CoT; mind_mirror's self-evaluation), on one dataset's committed teacher data, with
the dtype `distill.bf16: auto` picks here: what the compute plan in README multiplies by.

Run: python bench/train_step.py [steps] [dataset] [student profile]. Writes
bench/results/train_step_<dataset>[_<profile>].json with seconds per step and steps per epoch of each method's stages,
and the minutes one epoch of each takes. A stage that packs a question's CoTs behind one copy of it
(distill.pack_cots) is also timed unpacked: the speed-up.
"""
from __future__ import annotations

import contextlib
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import record
import torch

from mm import config, data, distill, methods, student, train


@dataclass
class Setup:
    """A run's distill config and student, the dtype this host trains in, every method's stages on the dataset's
    teacher data, and `run(stage, packed, steps)`: the seconds and loss of its first steps + 1 (the first warms up)."""
    cfg: config.DistillConfig
    student: str
    kind: str
    bf16: bool
    stages: dict[str, methods.Stage]
    run: Callable[[methods.Stage, bool, int], Iterator[tuple[float, float]]]


def setup(dataset: str, profile: str) -> Setup:
    _, params, _ = config.load_run_params(student=profile)
    cfg = params.distill
    bf16 = distill.host_bf16(cfg)
    rows = list(data.load_from_config(dataset, params.data)["train"])
    cots, evals = distill.teacher_outputs(dataset)
    questions = methods.train_questions(rows, cots, cfg, 0)
    stages = {f"{method}/{s.name}": s for method in config.METHODS
              for s in methods.build_stages(method, dataset, questions, cots, evals, cfg)}
    texts = [t for s in stages.values() for p in s.pairs for t in (p.question, p.answer, p.rationale) if t]
    torch.manual_seed(0)
    built = student.build_student(params.student, texts)
    optimizer = torch.optim.AdamW([p for p in built.model.parameters() if p.requires_grad], lr=1e-5)

    def run(stage: methods.Stage, packed: bool, steps: int) -> Iterator[tuple[float, float]]:
        for index in train.stage_batches(stage, cfg, seed=0, packed=packed)[: steps + 1]:
            batch = train.collate([stage.pairs[i] for i in index], built.tokenizer, built.kind, params.student,
                                  stage.alpha, packed)
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                loss = train.multitask_loss(built.model, batch, stage.alpha, built.kind == "causal")
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            yield time.perf_counter() - started, loss.item()

    return Setup(cfg, params.student.name, built.kind, bf16, stages, run)


def main(steps: int = 4, dataset: str = "svamp", profile: str = config.DEFAULT_STUDENT) -> dict:
    bench = setup(dataset, profile)
    cfg, stages = bench.cfg, bench.stages
    result = {"dataset": dataset, "profile": profile, "student": bench.student, "bf16": bench.bf16,
              "batch_size": cfg.batch_size, "cpu": platform.processor() or platform.machine(),
              "threads": torch.get_num_threads(), "stages": {}}

    def seconds_per_step(stage: methods.Stage, packed: bool) -> float:
        times = [seconds for seconds, _ in bench.run(stage, packed, steps)]
        return sum(times[1:]) / len(times[1:])  # the first step warms up

    timed: dict[tuple[str, float, bool], float] = {}
    for name, stage in stages.items():
        packed = train.packs(stage, cfg, bench.kind)
        key = (stage.name, stage.alpha, packed)  # answer stages of two methods train the same kind of step
        if key not in timed:
            timed[key] = seconds_per_step(stage, packed)
        row = result["stages"][name] = {"pairs": len(stage.pairs), "steps_per_epoch": stage.steps_per_epoch,
                                        "packed": packed, "seconds_per_step": round(timed[key], 2),
                                        "minutes_per_epoch": round(timed[key] * stage.steps_per_epoch / 60, 1)}
        if packed:  # the baseline, same batches of pairs: one copy of the question per CoT
            unpacked = seconds_per_step(stage, False)
            row |= {"seconds_per_step_unpacked": round(unpacked, 2), "packing_speedup": round(unpacked / timed[key], 2)}
    return record.save(result, f"train_step_{dataset}", profile)


if __name__ == "__main__":
    main(*(int(a) if a.isdigit() else a for a in sys.argv[1:4]))
