"""The GPU check (bench/gpu.py) in its CPU dry-run mode: a script that needs a GPU to measure anything must not rot
between GPU runs."""
import json
import os
import subprocess
import sys

from mm import ROOT


def test_gpu_check_dry_run_measures_training_decoding_and_the_smoke_pipeline(tmp_path):
    out = tmp_path / "gpu.json"
    # this checkout's mm, wherever the venv's editable install points; one thread: the dry run checks that the script
    # works, not its speed, and its tiny ops stall on two OpenMP threads whenever the other core is busy
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "bench/gpu.py", "--dry-run", "--out", str(out)], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    result = json.loads(out.read_text())
    assert result["dry_run"] and result["device"] == "cpu"
    rows = result["train"]["t5-v1_1-tiny"]["rows"]
    assert [row["config"].split(":")[0] for row in rows] == ["official", "mm", "mm"]
    assert rows[0]["speedup_vs_official"] == 1.0 and all(row["tok_per_s"] > 0 for row in rows)
    greedy, sampled = result["decode"]
    assert sampled["rows"] == 5 * greedy["rows"] and 0 < sampled["completion_tokens"] <= sampled["rows"] * 8
    smoke = result["smoke_pipeline"]
    assert smoke["returncode"] == 0 and smoke["steps"] > 0 and 0 <= smoke["test_accuracy"] <= 1
