"""Data files: JSONL read/written safely, shipped files checked against their checksums, seeded nested subsets."""
from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mm import ROOT

RAW_DIR = ROOT / "data" / "raw"
HOLDOUT_SEED = 0
SPLITS = ("train", "valid", "test")


class DataError(ValueError):
    """A data file is missing, corrupt, or malformed; the message names the file (and line)."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl or .jsonl.gz file; a malformed line raises DataError naming file and line."""
    return [row for _, row in numbered_jsonl(path)]


def numbered_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) of each non-blank line, so that checks of a row can name its line; a line that is not a
    JSON object in UTF-8 raises DataError naming file and line."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rb") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise DataError(f"{path}:{lineno}: malformed JSON line ({err})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: not a JSON object")
            rows.append((lineno, row))
    return rows


def write_json(path: str | Path, record: Mapping) -> None:
    """A metrics/report JSON file (indent 2, trailing newline), written atomically like write_jsonl."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, path)


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


def subsample(rows: list[dict], n: int, seed: int) -> list[dict]:
    """The first n of a seeded permutation, kept in original order: a smaller n is a subset of a larger one."""
    keep = sorted(np.random.default_rng(seed).permutation(len(rows))[:n])
    return [rows[i] for i in keep]


def holdout(rows: Sequence[Mapping], n: int | None) -> list[Mapping]:
    """The first n valid/test rows of a fixed permutation: the same for every method and seed, so results pair up."""
    return list(rows) if n is None or n >= len(rows) else subsample(list(rows), n, HOLDOUT_SEED)


def balanced_holdout(rows: Sequence[Mapping], n: int | None, key: Callable[[Mapping], str]) -> list[Mapping]:
    """n rows taken in turn from each class (`key`), each class in a fixed permutation's order, kept in original
    order: a selection set whose answers are not skewed (an always-'(a)' student cannot win it)."""
    if n is None or n >= len(rows):
        return list(rows)
    classes: dict[str, list[int]] = {}
    for i in np.random.default_rng(HOLDOUT_SEED).permutation(len(rows)).tolist():
        classes.setdefault(key(rows[i]), []).append(i)
    turns = itertools.zip_longest(*(classes[c] for c in sorted(classes)))
    return [rows[i] for i in sorted([i for turn in turns for i in turn if i is not None][:n])]


def split_rows(rows: list[dict], split_file: Path) -> tuple[list[dict], list[dict]]:
    """train and valid rows as listed (by row index) in a shipped split file."""
    split = json.loads(split_file.read_text())
    return [rows[i] for i in split["train_rows"]], [rows[i] for i in split["valid_rows"]]
