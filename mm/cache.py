"""Durable completion cache: append-only JSONL, fsync per record; a torn line is skipped, reported, and dropped from
the file at the next write."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

from mm.llm import Completion

log = logging.getLogger(__name__)


class CompletionCache:
    """Completions by key. Each `put` is on disk before it returns, so kill -9 loses only in-flight work."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: dict[str, Completion] = {}
        self.bad_lines: list[int] = []  # line numbers skipped at load as torn or corrupt
        self._bad_lines_on_disk = False
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open("rb") as handle:  # bytes: a line may be torn inside a multi-byte character
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    completion = Completion(**json.loads(line.decode("utf-8")))
                except (UnicodeDecodeError, json.JSONDecodeError, TypeError):
                    log.warning("%s:%d: skipped a torn or corrupt line (dropped at the next write)", self.path, lineno)
                    self.bad_lines.append(lineno)
                    continue
                self.records.setdefault(completion.key, completion)
        self._bad_lines_on_disk = bool(self.bad_lines)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> Completion:
        return self.records[key]

    def put(self, completion: Completion) -> None:
        if completion.key in self.records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._bad_lines_on_disk:
            self._drop_bad_lines()
        line = json.dumps(dataclasses.asdict(completion), ensure_ascii=False) + "\n"
        with self.path.open("ab") as handle:
            if handle.tell() > 0 and not _ends_with_newline(self.path):
                handle.write(b"\n")  # a torn last line must not swallow this record
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        self.records[completion.key] = completion

    def _drop_bad_lines(self) -> None:
        """Rewrite the file without the lines skipped at load, atomically, so their warnings do not recur."""
        bad = set(self.bad_lines)
        partial = self.path.with_suffix(self.path.suffix + ".partial")
        with self.path.open("rb") as source, partial.open("wb") as target:
            for lineno, line in enumerate(source, start=1):
                if lineno not in bad:
                    target.write(line if line.endswith(b"\n") else line + b"\n")
            target.flush()
            os.fsync(target.fileno())
        os.replace(partial, self.path)
        _fsync_dir(self.path.parent)  # the rename too must survive a crash, or the next record is lost with it
        self._bad_lines_on_disk = False


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
