"""Durable completion cache: append-only JSONL, fsync per record; a torn line is skipped and reported."""
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
        self.bad_lines: list[int] = []  # line numbers skipped as torn or corrupt
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    completion = Completion(**json.loads(line))
                except (json.JSONDecodeError, TypeError):
                    self.bad_lines.append(lineno)
                    continue
                self.records.setdefault(completion.key, completion)
        if self.bad_lines:
            log.warning("%s: skipped %d torn/corrupt line(s): %s", self.path, len(self.bad_lines), self.bad_lines[:10])

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
        line = json.dumps(dataclasses.asdict(completion), ensure_ascii=False) + "\n"
        with self.path.open("ab") as handle:
            if handle.tell() > 0 and not _ends_with_newline(self.path):
                handle.write(b"\n")  # a torn last line must not swallow this record
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        self.records[completion.key] = completion


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
