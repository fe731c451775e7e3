"""Benchmarks (mm.tasks) as DatasetDicts in one schema, and a per-example summary for tables and plots."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from datasets import Dataset, DatasetDict

from mm import tasks
from mm.config import DataConfig
from mm.files import RAW_DIR, DataError, subsample


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
