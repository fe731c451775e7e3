"""The study in the background: each run of params.yaml's study (mm.runs), one at a time, committed as it finishes.

    python -m mm.study run [--only TEXT ...] [--keep-best]   every run not yet done (skipped when DVC says it is)
    python -m mm.study pools TEACHER DATASET:N ...           grow a teacher's pools, committing its caches as they grow
    python -m mm.study carry [--max-mb 50]                   commit small resume checkpoints of unfinished runs
    python -m mm.study stop                                  stop the running study (its pid file), nothing else

A run killed part-way (out of memory) is retried while each failure leaves a newer checkpoint. A checkpoint carried
from a host of the other precision (`distill.bf16: auto` picks bf16 on a GPU, AMX or AVX512-BF16, fp32 on AVX2):
one trained in fp32 resumes on a bf16 host in fp32 (recipes/fp32.yaml, then `dvc commit`: dvc.lock keeps `auto`);
one trained in bf16 is left for a bf16 host, as bf16 matmuls on an AVX2-only CPU run ~100x slower than fp32.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mm import ROOT, config, distill, runs, train

PID_FILE = ROOT / "logs" / "study.pid"
FP32_RECIPE = "recipes/fp32.yaml"


class StudyError(RuntimeError):
    """A run failed without progress, or the study is already running."""


def carried_precision(run: runs.Run, params: config.Params) -> bool | None:
    """The bf16 setting the run's carried checkpoint trained with: None when nothing is carried or its key matches
    neither precision (settings, teacher data or training code changed since: the run restarts)."""
    state_file = ROOT / run.out_dir / train.LAST / "state.json"
    if not state_file.exists():
        return None
    carried = json.loads(state_file.read_text()).get("run_key")
    cots, _ = distill.teacher_outputs(run.teacher_dir)
    for bf16 in (True, False):
        keyed = dataclasses.replace(params, distill=dataclasses.replace(params.distill, bf16=bf16))
        if distill.run_key(run.dataset, run.method, run.seed, keyed, cots) == carried:
            return bf16
    return None


def plan(run: runs.Run, params_file: Path = config.PARAMS) -> str:
    """How this host continues the run: "repro" (DVC, as usual), "fp32" (a checkpoint trained in fp32, resumed
    here in fp32) or "leave" (a checkpoint trained in bf16, on an fp32 host)."""
    _, params, _ = config.load_run_params(params_file, run.student, run.ablation)
    carried, here = carried_precision(run, params), distill.host_bf16(params.distill)
    if carried is None or carried == here:
        return "repro"
    return "fp32" if here else "leave"


def _step(run: runs.Run) -> int | None:
    state_file = ROOT / run.out_dir / train.LAST / "state.json"
    return json.loads(state_file.read_text()).get("global_step") if state_file.exists() else None


def _dvc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=ROOT)


def reproduce(run: runs.Run, how: str) -> None:
    """Run the run's stage until it succeeds, retrying while each failure leaves a checkpoint further on."""
    if how == "fp32":  # the stage's own command with the fp32 recipe laid over params.yaml, then accepted by DVC
        from dvc.repo import Repo

        command = Repo(str(ROOT)).stage.collect(run.stage)[0].cmd + f" -p params_file {FP32_RECIPE}"
        attempt = lambda: subprocess.run(command, shell=True, cwd=ROOT,  # noqa: E731
                                         env=os.environ | {"DVC_STAGE": run.stage})
    else:
        attempt = lambda: _dvc("repro", "-s", run.stage)  # noqa: E731
    reached = None
    while attempt().returncode != 0:
        step = _step(run)
        if step is None or step == reached:
            raise StudyError(f"{run.stage} failed without a newer checkpoint (last global step {step})")
        print(f"{run.stage}: failed, resuming from its checkpoint (global step {step})", flush=True)
        reached = step
    if how == "fp32" and _dvc("commit", "-f", "-q", run.stage).returncode != 0:
        raise StudyError(f"dvc commit {run.stage} failed")


def _git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, check=check)


def commit(run: runs.Run) -> None:
    """Commit a finished run's outputs and dvc.lock (never its resume checkpoint)."""
    _git("rm", "-r", "-q", "--cached", "--ignore-unmatch", f"{run.out_dir}/{train.LAST}")
    files = [run.out_dir, run.metrics_file, run.predictions_file, run.samples_file]
    checkpoints = [f":(exclude){run.out_dir}/{name}" for name in (train.LAST, train.BEST)]
    _git("add", "dvc.lock", *[f for f in files if (ROOT / f).exists()], *checkpoints)
    if _git("diff", "--cached", "--quiet", check=False).returncode != 0:
        _git("commit", "-q", "-m", f"Study: {run.name} (dvc repro)")


def run_study(only: Sequence[str] = (), keep_best: bool = False) -> None:
    """Every run of the study whose name contains one of `only` (all by default), in mm.runs order."""
    for run in runs.all_runs(config.load_params().study):
        if only and not any(text in run.name for text in only):
            continue
        how = plan(run)
        if how == "leave":
            print(f"{run.stage}: its carried checkpoint trained in bf16 and this host trains in fp32: left for a "
                  "bf16 host (a restart here would discard it)", flush=True)
            continue
        reproduce(run, how)
        commit(run)
        if not keep_best:  # a Qwen LoRA run's merged best model is 2.4 GB: `dvc repro -f -s STAGE` rebuilds it
            shutil.rmtree(ROOT / run.out_dir / train.BEST, ignore_errors=True)


def carry(max_mb: float = 50) -> list[str]:
    """Commit the resume checkpoints (out/last, with its curves) of unfinished runs no larger than max_mb, so they
    resume in another checkout: a LoRA run's is ~17 MB; a SmolLM2 full fine-tuning run's 1.5 GB is not carried."""
    carried = []
    for state_file in sorted((ROOT / "runs" / "distill").glob(f"*/*/*/*/{train.LAST}/state.json")):
        last = state_file.parent
        size = sum(f.stat().st_size for f in last.rglob("*") if f.is_file()) / 2**20
        if size > max_mb:
            print(f"{last.relative_to(ROOT)}: {size:.0f} MB > {max_mb} MB: not carried, that run restarts")
            continue
        _git("add", "-f", str(last.relative_to(ROOT)), str((last.parent / "dvclive").relative_to(ROOT)))
        carried.append(str(last.relative_to(ROOT)))
    if _git("diff", "--cached", "--quiet", check=False).returncode != 0:
        _git("commit", "-q", "-m", "Carry the resume checkpoints of unfinished study runs (python -m mm.study carry)")
    return carried


def grow_pools(teacher: str, steps: Sequence[str], commit_minutes: float = 20) -> None:
    """Generate each DATASET:N step (the first N questions of the generation order, so steps nest) into the
    teacher's committed completion cache, committing the cache every `commit_minutes` and when a step ends: a stop
    loses only the completions in flight. cots/evals of a partial pool go to runs/scratch/pools/."""
    for step in steps:
        dataset, _, n = step.partition(":")
        cache = runs.TeacherRun(teacher, dataset).cache_file
        command = [sys.executable, "-m", "mm.teacher", dataset, "--teacher", teacher, "--grow-cache",
                   "--into", f"runs/scratch/pools/{teacher}-{dataset}-{n}", "--set", "teacher.backend=local",
                   "--set", "teacher.verdict_probe=0", "--set", f"teacher.n_questions={{{dataset}: {n}}}"]
        generating = _start(command)
        while True:
            try:
                done = generating.wait(timeout=commit_minutes * 60)
                break
            except subprocess.TimeoutExpired:
                _commit_cache(teacher, dataset, cache)
        _commit_cache(teacher, dataset, cache)
        if done != 0:
            raise StudyError(f"{teacher} {step}: generation failed (exit {done})")


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT)


def _commit_cache(teacher: str, dataset: str, cache: str) -> None:
    if not (ROOT / cache).exists():
        return
    lines = sum(1 for _ in (ROOT / cache).open("rb"))
    _git("add", cache)
    if _git("diff", "--cached", "--quiet", "--", cache, check=False).returncode != 0:
        _git("commit", "-q", "-m", f"{teacher} teacher: {dataset} pool, {lines} completions cached (growing)", "--",
             cache, check=False)  # a commit racing another one in the checkout is retried at the next interval


def _claim_pid_file() -> None:
    if PID_FILE.exists():
        pid = int(PID_FILE.read_text())
        try:
            os.kill(pid, 0)
            raise StudyError(f"the study is already running (pid {pid}, {PID_FILE}); stop it: python -m mm.study stop")
        except ProcessLookupError:
            pass  # a stale file from a study that ended uncleanly
    PID_FILE.parent.mkdir(parents=True, exist_ok=True)
    os.setpgrp()  # its own process group: `stop` ends it with every dvc, papermill and kernel it started
    PID_FILE.write_text(str(os.getpid()))


def stop() -> bool:
    """Stop the study started by `run` (its whole process group); False when none runs."""
    if not PID_FILE.exists():
        return False
    try:
        os.killpg(int(PID_FILE.read_text()), signal.SIGTERM)
    except ProcessLookupError:
        return False
    finally:
        PID_FILE.unlink(missing_ok=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mm.study", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="every run not yet done, each committed as it finishes")
    run_parser.add_argument("--only", nargs="*", default=[], help="runs whose name contains one of these")
    run_parser.add_argument("--keep-best", action="store_true", help="keep each run's selected model (out/best)")
    carry_parser = commands.add_parser("carry", help="commit small resume checkpoints of unfinished runs")
    carry_parser.add_argument("--max-mb", type=float, default=50)
    pools_parser = commands.add_parser("pools", help="grow a teacher's pools, committing its caches as they grow")
    pools_parser.add_argument("teacher", help="a profile of params.yaml's teachers:")
    pools_parser.add_argument("steps", nargs="+", metavar="DATASET:N", help="e.g. svamp:100 cqa:100 svamp:720")
    commands.add_parser("stop", help="stop the running study")
    args = parser.parse_args(argv)
    if args.command == "stop":
        print("stopped" if stop() else "no study running")
    elif args.command == "carry":
        carry(args.max_mb)
    else:
        _claim_pid_file()
        try:
            if args.command == "pools":
                grow_pools(args.teacher, args.steps)
            else:
                run_study(args.only, args.keep_best)
        finally:
            PID_FILE.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
