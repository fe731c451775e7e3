"""Benchmarks (mm.tasks) as DatasetDicts with one schema: checksummed files, JSONL I/O, nested subsamples."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict

from mm import ROOT, tasks
from mm.config import DataConfig

RAW_DIR = ROOT / "data" / "raw"
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
    """train/valid/test of one benchmark (a name known to mm.tasks) in the common schema (see mm.tasks)."""
    if source not in ("local", "hub"):  # only ANLI has a hub route: CQA/SVAMP splits are the shipped ones
        raise DataError(f"unknown data source {source!r}; use 'local' or 'hub'")
    try:
        task = tasks.get(name)
    except KeyError as err:
        raise DataError(err.args[0]) from None
    cfg = DataConfig(source, anli_valid_fraction, split_seed, n_train, seed)
    splits = task.load(data_dir, cfg)
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


def split_rows(rows: list[dict], split_file: Path) -> tuple[list[dict], list[dict]]:
    """train and valid rows as listed (by row index) in a shipped split file."""
    split = json.loads(split_file.read_text())
    return [rows[i] for i in split["train_rows"]], [rows[i] for i in split["valid_rows"]]


def summary_frame(benchmarks: Mapping[str, DatasetDict]) -> pd.DataFrame:
    """One row per example: dataset, split, label class, input length in words (for tables and histograms)."""
    records = [
        {"dataset": name, "split": split, "label": tasks.get(name).label_of(row),
         "input_words": len(row["question"].split())}
        for name, splits in benchmarks.items()
        for split, rows in splits.items()
        for row in rows
    ]
    return pd.DataFrame.from_records(records)
