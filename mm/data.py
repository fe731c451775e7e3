"""The three benchmarks (anli1, cqa, svamp) as DatasetDicts with one schema, checksummed, never re-split."""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict

from mm import ROOT
from mm.arith import evaluate_equation, format_number
from mm.config import DATASETS, DataConfig

RAW_DIR = ROOT / "data" / "raw"
NLI_LABELS = ("entailment", "neutral", "contradiction")  # HF `anli` label ids 0, 1, 2
LETTERS = "abcde"
SPLITS = ("train", "valid", "test")


class DataError(ValueError):
    """A data file is missing, corrupt, or malformed; the message names the file (and line)."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl or .jsonl.gz file; a malformed line raises DataError naming file and line."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: malformed JSON line ({err.msg})") from None
    return rows


def write_jsonl(path: Path, records: Sequence[Mapping]) -> None:
    """Atomic write: a crash leaves the previous file, never half of a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(partial, path)


@cache
def _expected_sums(data_dir: Path) -> dict[str, str]:
    sums = {}
    for line in (data_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.removeprefix("./")] = digest
    return sums


def verified(path: Path, data_dir: Path = RAW_DIR) -> Path:
    """`path` after checking its sha256 against data_dir/SHA256SUMS (DataError on mismatch)."""
    name = path.relative_to(data_dir).as_posix()
    expected = _expected_sums(data_dir).get(name)
    if expected is None:
        raise DataError(f"{path}: not listed in {data_dir / 'SHA256SUMS'}")
    if not path.exists():
        raise DataError(f"{path}: missing (copy it from the data release, see data/raw/README.md)")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise DataError(f"{path}: sha256 {actual} != {expected} listed in SHA256SUMS; the file is corrupt")
    return path


def load_benchmark(
    name: str,
    *,
    source: str = "local",
    anli_valid_fraction: float = 0.1,
    split_seed: int = 0,
    n_train: int | None = None,
    seed: int = 0,
    data_dir: Path = RAW_DIR,
) -> DatasetDict:
    """train/valid/test of one benchmark with columns id, question, answer, choices, palm_*, native fields."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {DATASETS}")
    if source == "hub" and name == "anli1":
        splits = _anli_from_hub(data_dir)
    elif source in ("local", "hub"):  # only ANLI has a hub route: CQA/SVAMP splits are the shipped ones
        splits = _LOADERS[name](data_dir, anli_valid_fraction, split_seed)
    else:
        raise DataError(f"unknown data source {source!r}; use 'local' or 'hub'")
    if n_train is not None:
        splits["train"] = subsample(splits["train"], n_train, seed)
    return DatasetDict({split: Dataset.from_list(rows) for split, rows in splits.items()})


def load_from_config(name: str, config: DataConfig) -> DatasetDict:
    """load_benchmark with the `data:` section of params.yaml."""
    return load_benchmark(name, **vars(config))


def subsample(rows: list[dict], n: int, seed: int) -> list[dict]:
    """The first n of a seeded permutation, kept in original order: a smaller n is a subset of a larger one."""
    keep = sorted(np.random.default_rng(seed).permutation(len(rows))[:n])
    return [rows[i] for i in keep]


def _split_rows(rows: list[dict], split_file: Path) -> tuple[list[dict], list[dict]]:
    split = json.loads(split_file.read_text())
    return [rows[i] for i in split["train_rows"]], [rows[i] for i in split["valid_rows"]]


def _anli_row(row: dict) -> dict:
    question = f"Premise: {row['premise']}\nHypothesis: {row['hypothesis']}"
    palm = {k: row.get(k, "") for k in ("palm_output", "palm_rationale", "palm_label")}
    native = {k: row[k] for k in ("uid", "premise", "hypothesis", "label", "reason")}
    return {"id": row["uid"], "question": question, "answer": NLI_LABELS[row["label"]], "choices": [], **palm, **native}


def _load_anli(data_dir: Path, valid_fraction: float, split_seed: int) -> dict[str, list[dict]]:
    """Local ANLI R1: the shipped release has no train inputs, so the official dev split is the train pool."""
    pool = [_anli_row(r) for r in read_jsonl(verified(data_dir / "anli1" / "valid.jsonl.gz", data_dir))]
    order = np.random.default_rng(split_seed).permutation(len(pool))
    n_valid = math.ceil(valid_fraction * len(pool))
    test = [_anli_row(r) for r in read_jsonl(verified(data_dir / "anli1" / "test.jsonl.gz", data_dir))]
    return {
        "train": [pool[i] for i in order[n_valid:]],
        "valid": [pool[i] for i in order[:n_valid]],
        "test": test,
    }


def _anli_from_hub(data_dir: Path) -> dict[str, list[dict]]:
    """HF `anli` train_r1/dev_r1/test_r1 (needs hub access), joined by row with the shipped PaLM outputs."""
    from datasets import load_dataset

    hub = load_dataset("anli")
    palm_train = read_jsonl(verified(data_dir / "anli1" / "train_palm_only.jsonl.gz", data_dir))
    palm_dev = read_jsonl(verified(data_dir / "anli1" / "valid.jsonl.gz", data_dir))
    palm_test = read_jsonl(verified(data_dir / "anli1" / "test.jsonl.gz", data_dir))
    out = {}
    pairs = (("train", "train_r1", palm_train), ("valid", "dev_r1", palm_dev), ("test", "test_r1", palm_test))
    for split, hub_split, palm in pairs:
        rows = list(hub[hub_split])
        if len(rows) != len(palm):
            raise DataError(f"hub anli {hub_split} has {len(rows)} rows, the PaLM file has {len(palm)}")
        palm_fields = ({k: v for k, v in p.items() if k.startswith("palm_")} for p in palm)
        joined = ({**row, **fields} for row, fields in zip(rows, palm_fields, strict=True))
        out[split] = [_anli_row(row) for row in joined]
    return out


def cqa_question(stem: str, choices: list[str]) -> str:
    """Upstream's model input: the stem, then '(a) ...' to '(e) ...'."""
    lines = [f"({letter}) {choice}" for letter, choice in zip(LETTERS, choices, strict=False)]
    return "\n".join([stem, "Answer Choices:", *lines])


def _cqa_row(row: dict) -> dict:
    letter = row["answer_key"].lower()
    choice = row["choices"][LETTERS.index(letter)]
    extra = ("answer_key", "question_concept", "abstractive_explanation", "extractive_explanation")
    native = {k: row[k] for k in extra}
    return {
        "id": row["id"],
        "question": cqa_question(row["question"], row["choices"]),
        "answer": f"({letter}) {choice}",
        "choices": row["choices"],
        **{k: row[k] for k in ("palm_output", "palm_rationale", "palm_label")},
        "stem": row["question"],
        **native,
    }


def _load_cqa(data_dir: Path, *_: Any) -> dict[str, list[dict]]:
    rows = [_cqa_row(r) for r in read_jsonl(verified(data_dir / "cqa" / "train.jsonl.gz", data_dir))]
    train, valid = _split_rows(rows, verified(data_dir / "cqa" / "train_valid_split.json", data_dir))
    test = [_cqa_row(r) for r in read_jsonl(verified(data_dir / "cqa" / "test.jsonl.gz", data_dir))]
    return {"train": train, "valid": valid, "test": test}


def _svamp_row(row: dict) -> dict:
    # Gold is the dataset's equation, as upstream scores it (chal-680's `Answer` field disagrees with it).
    native = {k: row[k] for k in ("Body", "Question", "Equation", "Answer", "Type")}
    return {
        "id": row["ID"],
        "question": row["input"],
        "answer": format_number(evaluate_equation(row["Equation"])),
        "choices": [],
        **{k: row[k] for k in ("palm_output", "palm_rationale", "palm_label")},
        **native,
    }


def _load_svamp(data_dir: Path, *_: Any) -> dict[str, list[dict]]:
    rows = [_svamp_row(r) for r in read_jsonl(verified(data_dir / "svamp" / "train.jsonl.gz", data_dir))]
    train, valid = _split_rows(rows, verified(data_dir / "svamp" / "train_valid_split.json", data_dir))
    test = [_svamp_row(r) for r in read_jsonl(verified(data_dir / "svamp" / "test.jsonl", data_dir))]
    return {"train": train, "valid": valid, "test": test}


_LOADERS = {"anli1": _load_anli, "cqa": _load_cqa, "svamp": _load_svamp}


def label_of(name: str, row: Mapping) -> str:
    """The class a row counts under in label distributions: NLI label, CQA letter, SVAMP problem type."""
    if name == "svamp":
        return row["Type"]
    return row["answer"][:3] if name == "cqa" else row["answer"]


def summary_frame(benchmarks: Mapping[str, DatasetDict]) -> pd.DataFrame:
    """One row per example: dataset, split, label class, input length in words (for tables and histograms)."""
    records = [
        {"dataset": name, "split": split, "label": label_of(name, row), "input_words": len(row["question"].split())}
        for name, splits in benchmarks.items()
        for split, rows in splits.items()
        for row in rows
    ]
    return pd.DataFrame.from_records(records)
