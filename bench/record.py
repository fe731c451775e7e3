"""Where a benchmark's result goes: printed, and saved as bench/results/<name>.json (the table in bench/README.md)."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from mm import ROOT, config

SPEED_FLAGS = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}  # what decides fp32 vs bf16 speed here


def host() -> dict:
    """The CPU a result was measured on: hosts differ in CPU, and its flags decide
    whether bf16 pays (`python bench/matmul.py`), so seconds compare only on the same host."""
    fields = _first_cpu()
    return {"cpu": fields.get("model name", platform.machine()),
            "cpu_flags": sorted(SPEED_FLAGS & set(fields.get("flags", "").split())),
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}


def _first_cpu() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (none off Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    lines = [line.partition(":") for line in text.split("\n\n", 1)[0].splitlines()]
    return {key.strip(): value.strip() for key, _, value in lines}


def save(result: dict, name: str, profile: str = config.DEFAULT_STUDENT) -> dict:
    """Print result with the host's facts and write it to bench/results/<name>[_<profile>].json (no suffix for the
    default student)."""
    result = {**result, "host": host()}
    print(json.dumps(result, indent=1))
    suffix = "" if profile == config.DEFAULT_STUDENT else f"_{profile}"
    (ROOT / "bench" / "results" / f"{name}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
