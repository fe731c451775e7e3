"""Where a benchmark's result goes: printed, and saved as bench/results/<name>.json (the table in bench/README.md)."""
from __future__ import annotations

import json

from mm import ROOT, config


def save(result: dict, name: str, profile: str = config.DEFAULT_STUDENT) -> dict:
    """Print result and write it to bench/results/<name>[_<profile>].json (no suffix for the default student)."""
    print(json.dumps(result, indent=1))
    suffix = "" if profile == config.DEFAULT_STUDENT else f"_{profile}"
    (ROOT / "bench" / "results" / f"{name}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
