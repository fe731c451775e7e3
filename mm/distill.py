"""One distillation run end to end: teacher data -> stages -> student -> fit on valid -> test scored once; and
`python -m mm.distill`, which runs it as the DVC stage does."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from accelerate import PartialState
from transformers import set_seed

from mm import ROOT, config, decode, evaluate, methods, runs, selfeval, student, tasks, train
from mm.config import Params
from mm.data import load_from_config
from mm.files import balanced_holdout, holdout, read_jsonl, write_json, write_jsonl
from mm.hf_generate import bf16_is_fast


def teacher_outputs(teacher_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """A teacher stage's CoTs and evaluations of a dataset (empty when it has not run)."""
    folder = ROOT / teacher_dir
    read = lambda name: read_jsonl(folder / name) if (folder / name).exists() else []  # noqa: E731
    return read("cots.jsonl"), read("evals.jsonl")


def host_bf16(cfg: config.DistillConfig) -> bool:
    """What `distill.bf16` means on this host: "auto" trains in bf16 where it is fast (GPU, AMX, AVX512-BF16), fp32
    elsewhere. The answer is part of a run's resume key, so `mm.study` and the benchmarks ask here too."""
    return bf16_is_fast() if cfg.bf16 == "auto" else bool(cfg.bf16)


def run(dataset: str, method: str, seed: int, params: Params, out_dir: str | Path,
        teacher_dir: str | Path) -> tuple[dict, list[dict], list[dict]]:
    """Train `method` on `dataset`, select on valid, score test once.

    Returns metrics, per-item test predictions, and per-item self-consistency samples (empty when off).
    """
    started = time.perf_counter()
    cfg = dataclasses.replace(params.distill, bf16=host_bf16(params.distill))
    params = dataclasses.replace(params, distill=cfg)  # this machine's answer to bf16 "auto", in the key and metrics
    task = tasks.get(dataset)
    set_seed(seed)
    splits = load_from_config(dataset, params.data)
    cots, evals = teacher_outputs(teacher_dir)
    rows = methods.train_questions(list(splits["train"]), cots, cfg, seed)
    stages = methods.build_stages(method, dataset, rows, cots, evals, cfg)
    texts = [t for s in stages for p in s.pairs for t in (p.question, p.answer, p.rationale) if t]
    model = student.build_student(params.student, texts)
    heads = ["predict"] + (["explain"] if stages[-1].alpha < 1 else [])
    select_head = cfg.select_head if cfg.select_head in heads else "predict"
    valid = balanced_holdout(splits["valid"], cfg.n_valid, task.label_of) if task.has_options else (
        holdout(splits["valid"], cfg.n_valid))

    def validate(candidate) -> float:
        return decode.accuracy(score(candidate, dataset, valid, select_head, params))

    fitted = train.fit(model, stages, cfg, params.student, out_dir, validate, seed, run_key(dataset, method, seed,
                                                                                         params, cots))
    if not PartialState().is_main_process:  # under `accelerate launch`: the main process scores test and writes
        return {}, [], []
    best = student.load_student(Path(out_dir) / train.BEST, params.student.kind)
    test = holdout(splits["test"], cfg.n_test)  # read only now: selection is over
    subset = holdout(test, cfg.n_test_explain)  # generation on a fixed subset of the same items
    by_head = {"predict": score(best, dataset, test, "predict", params)}
    if "explain" in heads:
        by_head["explain"] = score(best, dataset, subset, "explain", params)
    final = stages[-1]
    metrics = {
        "dataset": dataset, "method": method, "seed": seed,
        "test_accuracy": decode.accuracy(by_head["predict"]),
        **({"test_accuracy_explain": decode.accuracy(by_head["explain"])} if "explain" in by_head else {}),
        **choice_accuracies(best, dataset, test, subset, by_head["predict"], params),
        "val_accuracy": fitted["best_valid_accuracy"], "select_head": select_head,
        "valid_labels": dict(Counter(task.label_of(r) for r in valid)) if task.has_options else {},
        "majority_baseline": task.majority_baseline(list(splits["train"]), test),  # whole train split
        "n_test": len(test), "n_test_explain": len(subset) if "explain" in heads else 0, "n_valid": len(valid),
        "n_train_questions": len(rows), **methods.data_counts(stages),
        "epochs_cap": cfg.epochs, "epochs_trained": round(_final_steps(fitted, stages) / final.steps_per_epoch, 3),
        "best_epoch": _best_epoch(fitted), "stopped_early": fitted["stopped_early"], "steps": fitted["steps"],
        "best_step": fitted["best_step"], "tokens_seen": fitted["tokens_seen"],
        "train_seconds": fitted["train_seconds"],
        "bf16": cfg.bf16, "student": params.student.name, "student_kind": params.student.kind,
        "trainable_parameters": student.count_parameters(model.model)["trainable"],  # LoRA: the adapters
        "teacher": "gold labels" if method == "finetune_gold" else cots[0]["teacher"], "history": fitted["history"],
    }
    samples = []
    if params.evaluate.self_consistency and "explain" in heads:
        sc_metrics, samples = self_consistency(best, dataset, method, test, valid, params, seed)
        metrics["self_consistency"] = sc_metrics
    train.discard_checkpoint(out_dir)  # finished: a re-run trains afresh instead of resuming a finished run
    metrics["wall_seconds"] = round(time.perf_counter() - started, 1)
    return metrics, merge_predictions(by_head), samples


def _final_steps(fitted: Mapping, stages: Sequence[methods.Stage]) -> int:
    """Optimiser steps the final (selected) stage took: all steps less those of the stages before it."""
    return fitted["steps"] - sum(s.steps for s in stages[:-1])


def _best_epoch(fitted: Mapping) -> float | None:
    """Epoch of the final stage at which the selected checkpoint was validated (None without validation)."""
    best = [h for h in fitted["history"] if h["valid_accuracy"] == fitted["best_valid_accuracy"]]
    return best[0]["epoch"] if best else None


def choice_accuracies(best, dataset: str, test: Sequence[Mapping], subset: Sequence[Mapping],
                      predicted: Sequence[Mapping], params: Params) -> dict[str, float]:
    """On a task with options: test accuracy of each ranking (mean, sum of token log-probabilities; the one in
    `distill.choice_score` is `test_accuracy`), and of the predict head generating its answer freely (on the subset)."""
    if not tasks.get(dataset).has_options:
        return {}
    cfg = params.distill
    generated = decode.predict(best, dataset, subset, "predict", cfg.max_new_tokens_predict, cfg.eval_batch_size,
                               cfg.bf16)
    return {"test_accuracy_rank_mean": sum(r["pick_mean_correct"] for r in predicted) / len(predicted),
            "test_accuracy_rank_sum": sum(r["pick_sum_correct"] for r in predicted) / len(predicted),
            "test_accuracy_generate": decode.accuracy(generated)}


def self_consistency(best, dataset: str, method: str, test: Sequence[Mapping], valid: Sequence[Mapping],
                     params: Params, seed: int) -> tuple[dict, list[dict]]:
    """Vote over k sampled CoTs of test items; a mind_mirror student also weights each by its own P(correct), and
    its self-evaluation is calibrated on valid and test items (samples carry their `split`)."""
    cfg = params.evaluate
    weighted = method == "mind_mirror" and params.distill.self_eval
    splits = {"test": holdout(test, cfg.n_items)} | ({"valid": holdout(valid, cfg.n_items)} if weighted else {})
    by_split = {split: [r | {"split": split} for r in evaluate.sample_cots(
        best, dataset, rows, max(cfg.ks), cfg.temperature, params.distill.max_new_tokens_explain,
        params.distill.eval_batch_size, params.distill.bf16, seed, score_verdicts=weighted)]
        for split, rows in splits.items()}
    records = by_split["test"]
    tables = [selfeval.vote_table(dataset, records, cfg.ks, weighted=False)]
    if weighted:
        tables.append(selfeval.vote_table(dataset, records, cfg.ks, weighted=True))
    metrics = {"n_items": len(records), "temperature": cfg.temperature,
               "vote_accuracy": {f"{'weighted' if w else 'majority'}@{k}": a
                                 for t in tables for k, a, w in t[["k", "accuracy", "weighted"]].itertuples(False)}}
    if weighted:
        metrics |= selfeval.calibration(by_split, cfg.n_bins)
        k = max(cfg.ks)
        metrics |= {f"aurc_{by}@{k}": aurc for by, (_, aurc) in selfeval.abstention(dataset, records, k).items()}
    return metrics, [r for rows in by_split.values() for r in rows]


def score(candidate, dataset: str, rows: Sequence[Mapping], head: str, params: Params) -> list[dict]:
    """One record per row. The predict head of a task with options ranks them by likelihood; otherwise it, and the
    explain head always, generate greedily and the answer is parsed from the text."""
    cfg, student_cfg = params.distill, params.student
    if head == "predict" and tasks.get(dataset).has_options:
        return decode.choose(candidate, dataset, rows, cfg.choice_score, cfg.eval_batch_size, cfg.bf16,
                             student_cfg.max_source_tokens, student_cfg.max_target_tokens, cfg.pack_cots)
    tokens = cfg.max_new_tokens_predict if head == "predict" else cfg.max_new_tokens_explain
    return decode.predict(candidate, dataset, rows, head, tokens, cfg.eval_batch_size, cfg.bf16)


def merge_predictions(by_head: Mapping[str, list[dict]]) -> list[dict]:
    """One record per test item with each head's output, parsed answer and correctness."""
    merged: dict[str, dict] = {}
    for head, records in by_head.items():
        for r in records:
            item = merged.setdefault(r["id"], {"id": r["id"], "gold": r["gold"]})
            item.update({f"{head}_output": r["output"], f"{head}_answer": r["answer"], f"{head}_correct": r["correct"]})
    return list(merged.values())


# What a checkpoint's weights and its selection history depend on: the modules under data loading, training
# and validation (tests/test_layers.py keeps this equal to their import closure). Editing a report module (results,
# plots) or the teacher therefore never throws away a half-done run.
TRAINING_CODE = ("answers", "arith", "collate", "config", "data", "decode", "files", "hf_generate", "hub", "llm",
                 "llm_local", "methods", "prompts", "student", "tasks", "train", "typed")


def run_key(dataset: str, method: str, seed: int, params: Params, cots: Sequence[Mapping]) -> str:
    """Fingerprint of everything a checkpoint depends on (settings, teacher data, the training code), so a resumed
    run never mixes settings or code versions."""
    package = Path(__file__).parent
    code = hashlib.sha256()
    for name in TRAINING_CODE:  # a module, or a package's files
        module = package / f"{name}.py"
        for path in [module] if module.exists() else sorted((package / name).glob("*.py")):
            code.update(path.read_bytes())
    payload = [dataset, method, seed, dataclasses.asdict(params.distill), dataclasses.asdict(params.student),
               dataclasses.asdict(params.data), len(cots), hashlib.sha256(json.dumps(cots).encode()).hexdigest(),
               code.hexdigest()]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def write_outputs(metrics: Mapping, predictions: Sequence[Mapping], samples: Sequence[Mapping],
                  metrics_file: str | Path, predictions_file: str | Path, samples_file: str | Path) -> None:
    """Metrics JSON, test predictions and self-consistency samples (always written, possibly empty)."""
    write_json(metrics_file, metrics)
    write_jsonl(Path(predictions_file), predictions)
    write_jsonl(Path(samples_file), samples)


def run_stage(run_id: runs.Run, params_file: str | Path = config.PARAMS, overrides: Sequence[str] = (),
              force: bool = False, into: str | Path | None = None) -> tuple[dict, list[dict], list[dict]]:
    """What one distill stage runs, for the notebook and `python -m mm.distill` alike: the params of its student
    profile (and ablation, and `section.key=value` overrides), the run, and its outputs written where
    `runs.destination` says: the stage's files under DVC (or with `force`), by hand under `into` or runs/scratch/."""
    ablation_method, params, applied = config.load_run_params(params_file, run_id.student, run_id.ablation,
                                                              config.parse_overrides(list(overrides)))
    where = runs.destination(run_id, force, into)
    metrics, predictions, samples = run(run_id.dataset, ablation_method or run_id.method, run_id.seed, params,
                                        where["out_dir"], run_id.teacher_dir)
    if not metrics:  # another process than the main one
        return metrics, predictions, samples
    metrics |= {"profile": run_id.student, "teacher_profile": run_id.teacher, "ablation": run_id.ablation,
                "overrides": applied}
    write_outputs(metrics, predictions, samples, *(where[k] for k in ("metrics_file", "predictions_file",
                                                                      "samples_file")))
    return metrics, predictions, samples


def main(argv: Sequence[str] | None = None) -> dict:
    """`python -m mm.distill --dataset svamp --method mind_mirror --seed 0 [--student P] [--teacher T] [--ablation A]
    [--params F] [--set section.key=value ...] [--into DIR | --force]`: one run as its DVC stage runs it, its files
    under DIR or runs/scratch/<run>/ (the stage's own, committed files with --force). Under `accelerate launch` it
    runs once per process."""
    parser = argparse.ArgumentParser(prog="python -m mm.distill", description=main.__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--method", default="mind_mirror", choices=config.METHODS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--student", default=config.DEFAULT_STUDENT, help="a profile of params.yaml's students:")
    parser.add_argument("--teacher", default=config.DEFAULT_TEACHER, help="a profile of params.yaml's teachers:")
    parser.add_argument("--ablation", default="", help="a name in ablations/ablations.yaml (its method replaces "
                                                       "--method)")
    parser.add_argument("--params", default=str(config.PARAMS))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--into", help="folder for the run's files (default: runs/scratch/<run>/)")
    parser.add_argument("--force", action="store_true", help="write the DVC stage's committed outputs")
    args = parser.parse_args(argv)
    run_id = runs.Run(args.student, args.teacher, args.dataset, args.method, args.seed, args.ablation)
    metrics, _, _ = run_stage(run_id, args.params, args.set, args.force, args.into)
    if metrics:
        print(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=1))
    return metrics


if __name__ == "__main__":
    main()
