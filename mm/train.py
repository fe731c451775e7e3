"""The training loop: multi-task loss, length-grouped batches, bf16 autocast, accumulation, resume, selection."""
from __future__ import annotations

import functools
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import broadcast_object_list
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from mm.collate import (
    IGNORE,
    encode_batch,
    encode_packed,
    length_grouped_batches,
    source_text,
    target_logits,
    target_text,
)
from mm.config import DistillConfig, StudentConfig
from mm.methods import Pair, Stage

BEST, LAST = "best", "last"
BEST_TRAINABLE = "best_trainable.safetensors"  # in out/last: the best's trainable weights, when some are frozen


def task_loss(model, batch: dict, causal: bool) -> torch.Tensor:
    """Mean cross-entropy over the labelled tokens (what `model(**batch).loss` computes; causal: with less work)."""
    if not causal:  # an encoder-decoder's logits are all target positions already
        return model(**batch).loss
    logits, labels = target_logits(model, batch, causal)
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE)


def multitask_loss(model, batch: dict, alpha: float, causal: bool) -> torch.Tensor:
    """alpha * L_predict + (1 - alpha) * L_explain; a task whose weight is 0 is not even run."""
    total = torch.zeros((), device=next(model.parameters()).device)
    if alpha > 0:
        total = total + alpha * task_loss(model, batch["predict"], causal)
    if alpha < 1:
        if batch.get("explain") is None:
            raise ValueError("alpha < 1 needs rationales: this stage's pairs have none")
        total = total + (1 - alpha) * task_loss(model, batch["explain"], causal)
    return total


def packs(stage: Stage, cfg: DistillConfig, kind: str) -> bool:
    """Whether a stage's batches pack each question's targets behind one copy of it: a causal student, and a stage
    whose questions have 1.5 pairs or more on average (mind_mirror's CoTs: 3.1 on SVAMP, 1.4x faster a step; the
    block mask costs ~10 %, so a stage where few questions repeat, like self-evaluation's, trains slower packed)."""
    return cfg.pack_cots and kind == "causal" and len(stage.pairs) >= 1.5 * len({p.question for p in stage.pairs})


def collate(pairs: Sequence[Pair], tokenizer, kind: str, student_cfg: StudentConfig, alpha: float,
            packed: bool = False) -> dict:
    """A predict batch and, for multi-task stages, the explain batch of the same questions; packed: one row per
    question holding all of its targets (`encode_packed`), the same loss for less compute."""
    questions = list(dict.fromkeys(p.question for p in pairs)) if packed else [p.question for p in pairs]

    def encode(task: str, targets: list[str]) -> dict:
        sources = [source_text(task, question, kind) for question in questions]
        if not packed:
            return encode_batch(tokenizer, kind, sources, [target_text(t, kind) for t in targets],
                                student_cfg.max_source_tokens, student_cfg.max_target_tokens)
        grouped: dict[str, list[str]] = {question: [] for question in questions}
        for pair, target in zip(pairs, targets, strict=True):
            grouped[pair.question].append(target_text(target, kind))
        return encode_packed(tokenizer, sources, list(grouped.values()), student_cfg.max_source_tokens,
                             student_cfg.max_target_tokens)

    batch = {"predict": encode("predict", [p.answer for p in pairs])}
    if alpha < 1 and all(p.rationale for p in pairs):
        batch["explain"] = encode("explain", [p.rationale for p in pairs])
    return batch


def stage_batches(stage: Stage, cfg: DistillConfig, seed: int, packed: bool = False) -> list[list[int]]:
    """Exactly steps * grad_accum batches of batch_size pairs: length-grouped epochs, reshuffled with a new seed each
    epoch; packed: a question's pairs stay next to each other, so a batch holds few questions."""
    groups: dict[str | int, list[int]] = {}
    for index, pair in enumerate(stage.pairs):
        groups.setdefault(pair.question if packed else index, []).append(index)
    members = list(groups.values())
    lengths = [sum(len(stage.pairs[i].question) + len(stage.pairs[i].rationale or stage.pairs[i].answer)
                   for i in group) for group in members]
    needed, batches, epoch = stage.steps * cfg.grad_accum, [], 0
    while len(batches) < needed:
        batches += length_grouped_batches(lengths, cfg.batch_size, seed=seed * 1000 + epoch, groups=members)
        epoch += 1
    return batches[:needed]


def _read_state(out_dir: Path, run_key: str) -> dict:
    """The checkpoint state of this very run; one left by a run with other settings is discarded."""
    path = out_dir / LAST / "state.json"
    if path.exists():
        state = json.loads(path.read_text())
        if state.get("run_key") == run_key:
            return state
        shutil.rmtree(out_dir / LAST)
        shutil.rmtree(out_dir / BEST, ignore_errors=True)
    return {"run_key": run_key, "stage": 0, "step": 0, "global_step": 0, "best": -1.0, "best_step": None,
            "since_best": 0, "stopped_early": False, "tokens": 0, "history": [], "seconds": 0.0}


@dataclass
class _Fit:
    """What every stage of one `fit` call shares: its arguments, the accelerator, the state that checkpoints carry."""

    student: Any
    cfg: DistillConfig
    student_cfg: StudentConfig
    out_dir: Path
    validate: Callable[[object], float]
    seed: int
    state: dict
    accelerator: Accelerator
    live: Any  # dvclive's logger on the main process, where dvclive is installed; else None
    started: float  # perf_counter at the run's start, the seconds of the runs it resumes included


def fit(student, stages: Sequence[Stage], cfg: DistillConfig, student_cfg: StudentConfig, out_dir: str | Path,
        validate: Callable[[object], float], seed: int = 0, run_key: str = "") -> dict:
    """Train stage after stage. The selected stage is validated evals_per_epoch times per epoch and at its end; the
    best goes to out/best, and the stage stops early after `patience` validations without a new best, from epoch
    `min_epochs` of it on.

    Resumable: every save_every steps the model, optimiser, scheduler and RNG go to out/last, and a new call
    with the same run_key continues from there. Frozen weights (LoRA's base) are left out of out/last: they are
    rebuilt with the student, so a LoRA run's out/last is small enough to carry to another machine, and holds
    what is needed to rebuild out/best too. Only `validate` sees held-out data; the test split never.
    Under `accelerate launch` each process takes its share of every batch (`batch_size` stays the global batch);
    only the main process validates and writes, and its early-stopping decision is sent to the others.
    """
    out_dir = Path(out_dir)
    state = _read_state(out_dir, run_key)
    accelerator = Accelerator(mixed_precision="bf16" if cfg.bf16 is True else "no",  # "auto": resolved by the caller
                              gradient_accumulation_steps=cfg.grad_accum,
                              dataloader_config=DataLoaderConfiguration(split_batches=True),  # one LR step per step
                              cpu=not torch.cuda.is_available())  # CPU-only: several processes talk over gloo
    accelerator.register_save_state_pre_hook(_drop_frozen_weights)
    if state["best_step"] is not None and not (out_dir / BEST).exists() and accelerator.is_main_process:
        _restore_best(student, out_dir)
    live = _live(out_dir, state["global_step"]) if accelerator.is_main_process else None
    run = _Fit(student, cfg, student_cfg, out_dir, validate, seed, state, accelerator, live,
               started=time.perf_counter() - state["seconds"])
    for index, stage in enumerate(stages):
        if index >= state["stage"]:
            _fit_stage(run, stage, index)
    if live:
        live.end()
    return {"best_valid_accuracy": state["best"], "best_step": state["best_step"], "history": state["history"],
            "steps": state["global_step"], "stopped_early": state["stopped_early"], "tokens_seen": state["tokens"],
            "train_seconds": round(time.perf_counter() - run.started, 1)}


def _fit_stage(run: _Fit, stage: Stage, index: int) -> None:
    """One stage, from its start or from the checkpoint's step: train, validate (the selected stage), checkpoint
    every save_every steps and at its end. `run.state` follows along; the student holds the trained model after."""
    cfg, state, accelerator = run.cfg, run.state, run.accelerator
    torch.manual_seed(run.seed * 100 + index)  # dropout etc.: a stage starts the same on a resumed run
    model = run.student.model
    frozen_base = not all(p.requires_grad for p in model.parameters())  # LoRA: only the adapters train and travel
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                  weight_decay=cfg.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(cfg.warmup_fraction * stage.steps), stage.steps)
    first = state["step"] if index == state["stage"] else 0
    loader = _stage_loader(run, stage, index, first)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    _resume_stage(run, model, index, first, frozen_base)
    model.train()
    step, eval_every = first, max(1, stage.steps_per_epoch // cfg.evals_per_epoch)
    bar = tqdm(total=stage.steps, initial=first, desc=f"{stage.name}", unit="step")
    for micro, batch in enumerate(loader, start=1):
        batch = {task: {k: v.to(accelerator.device) for k, v in part.items()} for task, part in batch.items()}
        state["tokens"] += sum(int(part["attention_mask"].sum()) for part in batch.values()) * accelerator.num_processes
        with accelerator.accumulate(model):
            loss = multitask_loss(model, batch, stage.alpha, run.student.kind == "causal")
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        if micro % cfg.grad_accum:
            continue
        step += 1
        state["global_step"] += 1
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if run.live:
            run.live.log_metric(f"train/loss_{stage.name}", loss.item())
        last_step = step == stage.steps
        if stage.selected and (step % eval_every == 0 or last_step):
            last_step = _validate(run, model, stage, step, loss, frozen_base, last_step)
        if run.live:
            run.live.next_step()
        if step % cfg.save_every == 0 or last_step:
            state.update(stage=index + 1 if last_step else index, step=0 if last_step else step,
                         seconds=time.perf_counter() - run.started)
            _save(accelerator, run.out_dir, state)
        if last_step:
            break
    bar.close()
    run.student.model = accelerator.unwrap_model(model)
    accelerator.free_memory()


def _stage_loader(run: _Fit, stage: Stage, index: int, first: int) -> DataLoader:
    """The stage's batches from step `first` on, each cut to this process's share."""
    cfg, student = run.cfg, run.student
    packed = packs(stage, cfg, student.kind)
    batches = stage_batches(stage, cfg, run.seed * 100 + index, packed)[first * cfg.grad_accum :]
    world, rank = run.accelerator.num_processes, run.accelerator.process_index
    batches = [batch[rank::world] or batch[:1] for batch in batches]  # this process's share of each batch
    return DataLoader(stage.pairs, batch_sampler=batches, collate_fn=functools.partial(
        collate, tokenizer=student.tokenizer, kind=student.kind, student_cfg=run.student_cfg, alpha=stage.alpha,
        packed=packed))


def _resume_stage(run: _Fit, model, index: int, first: int, frozen_base: bool) -> None:
    """Mid-stage, the checkpoint's model, optimiser, scheduler and RNG; at a stage boundary, its weights only."""
    checkpoint = run.state.get("checkpoint")
    if checkpoint and first > 0:
        run.accelerator.load_state(str(run.out_dir / LAST / checkpoint), strict=not frozen_base)
    elif checkpoint and index == run.state["stage"]:
        _load_into(run.accelerator.unwrap_model(model), _weights_file(run.out_dir / LAST / checkpoint))


def _validate(run: _Fit, model, stage: Stage, step: int, loss: torch.Tensor, frozen_base: bool,
              last_step: bool) -> bool:
    """The main process scores the model on valid, records it, keeps a new best in out/best and decides whether the
    stage stops early; every process gets that decision. Whether the stage ends at this step."""
    state, accelerator = run.state, run.accelerator
    if accelerator.is_main_process:
        run.student.model = accelerator.unwrap_model(model)
        accuracy = run.validate(run.student)
        if run.live:
            run.live.log_metric("valid/accuracy", accuracy)
        epoch = round(step / stage.steps_per_epoch, 3)
        state["history"].append({"stage": stage.name, "step": step, "epoch": epoch, "valid_accuracy": accuracy,
                                 "loss": loss.item()})
        if accuracy > state["best"]:
            state.update(best=accuracy, best_step=state["global_step"], since_best=0)
            run.student.save(run.out_dir / BEST)
            if frozen_base:
                (run.out_dir / LAST).mkdir(parents=True, exist_ok=True)
                save_file(_trainable(run.student.model), run.out_dir / LAST / BEST_TRAINABLE)
        else:
            state["since_best"] += 1
        if state["since_best"] >= run.cfg.patience and epoch >= run.cfg.min_epochs and not last_step:
            last_step = state["stopped_early"] = True
    return broadcast_object_list([last_step])[0]  # every process stops where the main one decided to


def _live(out_dir: Path, global_step: int) -> Any:
    """dvclive's logger, continuing at the checkpoint's step; None without dvclive (a bare GPU box, bench/gpu.py: the
    valid curve is in the metrics' history anyway). dvclive's own resume counts on from the last row it wrote, and
    a run stopped after its checkpoint wrote rows past it; those are dropped (a row at dvclive step s logs training
    step s + 1)."""
    try:
        from dvclive import Live
    except ImportError:
        return None
    for tsv in (out_dir / "dvclive" / "plots" / "metrics").rglob("*.tsv") if global_step else []:
        header, *rows = tsv.read_text().splitlines(keepends=True)
        column = header.rstrip("\n").split("\t").index("step")
        tsv.write_text(header + "".join(row for row in rows if int(row.split("\t")[column]) < global_step))
    live = Live(str(out_dir / "dvclive"), resume=global_step > 0, save_dvc_exp=False, dvcyaml=None, report=None)
    live.step = global_step
    return live


def discard_checkpoint(out_dir: str | Path) -> None:
    """Drop the resume checkpoint of a finished run (out/best stays): a later run with the same settings trains
    afresh, as `dvc repro -f` means, instead of resuming into a run that has nothing left to do."""
    shutil.rmtree(Path(out_dir) / LAST, ignore_errors=True)


def _save(accelerator: Accelerator, out_dir: Path, state: dict) -> None:
    """Checkpoint for resume into a new folder; state.json names it and is replaced last, then the old one goes.

    A crash at any point leaves state.json naming a complete checkpoint.
    """
    previous = state.get("checkpoint")
    state["checkpoint"] = f"step{state['global_step']}"
    (out_dir / LAST / state["checkpoint"]).mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(out_dir / LAST / state["checkpoint"]))  # every process: its RNG; the weights once
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    partial = out_dir / LAST / "state.json.partial"
    partial.write_text(json.dumps(state, indent=1))
    partial.replace(out_dir / LAST / "state.json")
    if previous and previous != state["checkpoint"]:
        shutil.rmtree(out_dir / LAST / previous, ignore_errors=True)


def _trainable(model) -> dict[str, torch.Tensor]:
    """The state-dict entries of the weights that train (LoRA: the adapters), as contiguous copies."""
    names = {name for name, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
    return {name: t.detach().contiguous().clone() for name, t in model.state_dict().items() if name in names}


def _drop_frozen_weights(models: list, weights: list[dict], _output_dir: str) -> None:
    """accelerate save_state hook: keep only trainable weights (qwen_lora: 4 MB, not 2.4 GB; bench/checkpoint.py)."""
    for model, state_dict in zip(models, weights, strict=True):
        for name, p in model.named_parameters(remove_duplicate=False):  # tied copies too
            if not p.requires_grad:
                state_dict.pop(name, None)


def _restore_best(student, out_dir: Path) -> None:
    """Rebuild out/best of a run whose out/last travelled without it (LoRA: the best's adapters are in out/last)."""
    path = out_dir / LAST / BEST_TRAINABLE
    if not path.exists():
        raise FileNotFoundError(f"{out_dir / BEST} is missing and {path} cannot rebuild it: this run's best "
                                f"checkpoint is lost; delete {out_dir / LAST} to restart the run")
    live = _trainable(student.model)
    _load_into(student.model, path)
    student.save(out_dir / BEST)
    student.model.load_state_dict(live, strict=False)  # training resumes from out/last, not from the best


def _weights_file(checkpoint: Path) -> Path:
    files = sorted(checkpoint.glob("model*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{checkpoint}: no model weights to resume from")
    return files[0]


def _load_into(model, path: Path) -> None:
    """Load a (possibly partial: trainable-only) state dict; a key the model lacks is an error."""
    _missing, unexpected = model.load_state_dict(load_file(path), strict=False)
    if unexpected:
        raise RuntimeError(f"{path}: weights do not fit the model ({unexpected[:3]} ...)")
