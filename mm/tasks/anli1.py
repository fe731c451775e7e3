"""ANLI round 1: premise/hypothesis -> entailment | neutral | contradiction."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mm import files
from mm.answers import LabelAnswers
from mm.hub import fetch
from mm.tasks import Task

if TYPE_CHECKING:
    from mm.config import DataConfig

LABELS = ("entailment", "neutral", "contradiction")  # HF `anli` label ids 0, 1, 2


class Anli(Task):
    def load(self, data_dir: Path, cfg: DataConfig) -> dict[str, list[dict]]:
        """Local ANLI R1: the shipped release has no train inputs, so the official dev split is the train pool,
        cut once into train/valid; `data.source: hub` reads HF `anli` train_r1/dev_r1/test_r1 instead."""
        if cfg.source == "hub":
            return _from_hub(data_dir)
        pool = [_row(r) for r in files.read_jsonl(files.verified(data_dir / "anli1" / "valid.jsonl.gz", data_dir))]
        order = np.random.default_rng(cfg.split_seed).permutation(len(pool))
        n_valid = math.ceil(cfg.anli_valid_fraction * len(pool))
        test = [_row(r) for r in files.read_jsonl(files.verified(data_dir / "anli1" / "test.jsonl.gz", data_dir))]
        return {"train": [pool[i] for i in order[n_valid:]], "valid": [pool[i] for i in order[:n_valid]], "test": test}


def _row(row: dict) -> dict:
    question = f"Premise: {row['premise']}\nHypothesis: {row['hypothesis']}"
    palm = {k: row.get(k, "") for k in ("palm_output", "palm_rationale", "palm_label")}
    native = {k: row[k] for k in ("uid", "premise", "hypothesis", "label", "reason")}
    return {"id": row["uid"], "question": question, "answer": LABELS[row["label"]], "choices": [], **palm, **native}


def _from_hub(data_dir: Path) -> dict[str, list[dict]]:
    """HF `anli` train_r1/dev_r1/test_r1 (needs hub access), joined by row with the shipped PaLM outputs."""
    from datasets import load_dataset

    hub = fetch("data.source", "hub (HF `anli`)", lambda: load_dataset("anli"))
    read = lambda name: files.read_jsonl(files.verified(data_dir / "anli1" / name, data_dir))  # noqa: E731
    out = {}
    pairs = (("train", "train_r1", "train_palm_only.jsonl.gz"), ("valid", "dev_r1", "valid.jsonl.gz"),
             ("test", "test_r1", "test.jsonl.gz"))
    for split, hub_split, palm_file in pairs:
        rows, palm = list(hub[hub_split]), read(palm_file)
        if len(rows) != len(palm):
            raise files.DataError(f"hub anli {hub_split} has {len(rows)} rows, the PaLM file has {len(palm)}")
        palm_fields = ({k: v for k, v in p.items() if k.startswith("palm_")} for p in palm)
        out[split] = [_row({**row, **fields}) for row, fields in zip(rows, palm_fields, strict=True)]
    return out


TASK = Anli(
    name="anli1",
    answers=LabelAnswers(LABELS),
    instruction="Does the premise entail the hypothesis, contradict it, or neither (neutral)? Explain briefly, "
    "then end with 'So the answer is entailment.', 'So the answer is neutral.' or 'So the answer is contradiction.'",
    exemplar_ids=(
        "40e92b26-1f15-485b-8527-97309cadcc51",  # entailment
        "fae8a1ec-b74a-4c99-8466-a2628950bbe5",  # contradiction
        "8278e427-811f-415a-bd17-b9f8f116bfd9",  # neutral
        "a0773f50-7d28-4916-ad79-2deeb533f444",  # contradiction
    ),
)
