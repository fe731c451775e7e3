"""Throughput of a teacher run in progress: completions and tokens added to its cache over a window.

Run: .venv/bin/python bench/cache_rate.py data/completions/qwen1_5b/cqa.jsonl [seconds]. Prints one line; this is how
README's compute plan measures the background teacher chain (the machine is shared: read it as a rate, not a promise).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def snapshot(path: Path) -> tuple[int, int]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return len(records), sum(r["completion_tokens"] for r in records)


def main(path: str, seconds: float = 300) -> str:
    n0, t0 = snapshot(Path(path))
    started = time.perf_counter()
    time.sleep(seconds)
    n1, t1 = snapshot(Path(path))
    elapsed = time.perf_counter() - started
    line = (f"{path}: {n1 - n0} completions, {t1 - t0} tokens in {elapsed:.0f} s = {(t1 - t0) / elapsed:.1f} tok/s, "
            f"{(n1 - n0) / elapsed * 60:.1f} completions/min")
    print(line)
    return line


if __name__ == "__main__":
    main(sys.argv[1], *(float(a) for a in sys.argv[2:3]))
