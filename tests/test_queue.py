"""README Recipes: `dvc exp run --queue` with a sweep, then `dvc queue start -j 2`, runs the experiments side by side.

The queue runs each experiment in its own temporary copy made from git, so the test queues in a clone of the committed
tree and leaves this checkout alone. Each experiment is one small stage (`-s`: upstream outputs as committed) on the
smoke profile; the two differ by `distill.lr`."""
import json
import os
import re
import subprocess
import time

import pytest

from mm import ROOT, recipes

STAGE = "distill@smollm2-qwen0_5b-svamp-finetune_gold-0"
METRICS = "metrics/distill/smollm2/qwen0_5b/svamp/finetune_gold/seed0.json"
READS = ("data", "student", "distill", "evaluate")  # the params sections the distill stage reads (dvc.yaml)


def dvc(repo, *args: str) -> str:
    return subprocess.run(["dvc", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_two_queued_smoke_experiments_finish(tmp_path):
    subprocess.run(["git", "clone", "-q", str(ROOT), str(tmp_path)], check=True)
    # one commit with the checkout's tree: each worker copies the baseline's whole history into its workspace (dulwich,
    # in Python), 27 s for this repo's history against 6 s for one commit of its tree (CHANGELOG, 2026-12-06)
    subprocess.run(["git", "checkout", "-q", "--orphan", "snapshot"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=mm", "-c", "user.email=mm@localhost", "commit", "-q", "-m", "snapshot"],
                   cwd=tmp_path, check=True)
    smoke = [arg for kv in recipes.as_set_args(ROOT / "recipes" / "smoke.yaml")[1::2] if kv.split(".")[0] in READS
             for arg in ("-S", kv)]
    dvc(tmp_path, "exp", "run", "--queue", "-s", STAGE, *smoke, "-S", "distill.lr=1e-4,3e-4")
    try:
        # the workers inherit the starter's stdout and stderr (were they pipes, `run` would wait for the workers) and
        # its environment: one thread per experiment, as the two share two cores
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=tmp_path, env=os.environ | {"OMP_NUM_THREADS": "1"},
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while re.search(r"\b(Queued|Running)\b", status := dvc(tmp_path, "queue", "status")):
            assert time.monotonic() < deadline, status
            time.sleep(5)
    finally:
        dvc(tmp_path, "queue", "stop", "--kill")  # idle workers would also exit by themselves after 10 s
    assert status.count("Success") == 2, status
    revs = [rev for row in json.loads(dvc(tmp_path, "exp", "show", "--json", "--hide-workspace"))
            for exp in row.get("experiments") or [] for rev in exp["revs"]]
    runs = {rev["data"]["params"]["params.yaml"]["data"]["distill"]["lr"]: rev["data"]["metrics"][METRICS]["data"]
            for rev in revs}
    assert sorted(runs) == [1e-4, 3e-4]
    assert all(run["student"] == "tiny-llama" and run["steps"] == 2 for run in runs.values())
