"""The commands behind `python -m mm.config`: check every params file the study can run (the `check` stage), and
turn a recipe into `dvc exp run -S` arguments."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mm import ROOT, config, runs, tasks
from mm.typed import load_yaml


def check_all(out: Path | None = None) -> str:
    """Validate params.yaml, every recipe laid over it, every ablation's overrides and every row of your own
    benchmarks (`tasks:`; the built-in ones are checked by sha256 when loaded); the `check` stage runs this first, so a
    typo or a bad row stops `dvc repro` in seconds, before any stage deletes its outputs."""
    recipes = sorted((ROOT / "recipes").glob("*.yaml"))
    for path in [config.PARAMS, *recipes]:
        config.load_params(path)
    params = config.load_params(config.PARAMS)
    for name in params.tasks:
        tasks.get(name).load(ROOT, params.data)  # a bad row fails naming its file, line and field
    for name in config.load_params(config.PARAMS).students:
        config.load_run_params(config.PARAMS, student=name)
    for name in config.load_params(config.PARAMS).teachers:
        config.load_teacher_params(config.PARAMS, name)
    settings = {(r.student, r.ablation, r.teacher): r for r in runs.all_runs(params.study) if r.method == "mind_mirror"}
    for run in settings.values():  # once per setting, not per seed
        _check_cots_available(run)
    ablations = load_yaml(config.ABLATIONS.read_text()) if config.ABLATIONS.exists() else {}
    for name in ablations:
        _, overrides = config.load_ablation(name)
        try:
            config.load_params(config.PARAMS, overrides)
        except config.ParamsError as err:
            raise config.ParamsError(f"{config.ABLATIONS}: ablation {name!r}: {err}") from None
    if out is not None:  # constant text: stages depend on it, and a valid edit of params must not re-run them all
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text("params.yaml, recipes/*.yaml and ablations/ablations.yaml passed mm.config checks\n")
    return (f"valid: params.yaml, {len(recipes)} recipes laid over it, {len(ablations)} ablations, "
            f"{len(params.tasks)} benchmarks of your own\n")


def _check_cots_available(run: runs.Run) -> None:
    """A mind_mirror run learns from distill.n_cots CoTs a question: its teacher must sample that many."""
    wanted = config.load_run_params(config.PARAMS, run.student, run.ablation)[1].distill.n_cots
    sampled = config.load_teacher_params(config.PARAMS, run.teacher).teacher.n_cots
    if wanted > sampled:
        raise config.ParamsError(f"{run.stage}: distill.n_cots {wanted} > teacher.n_cots {sampled} of teachers."
                                 f"{run.teacher}")


def as_set_args(recipe: str | Path) -> list[str]:
    """A recipe as `dvc exp run` arguments (`-S section.key=value` per key it names), after checking it laid over
    params.yaml: DVC then runs the pipeline with exactly the values `load_params(recipe)` gives, no file copied."""
    path = Path(recipe) if Path(recipe).is_absolute() else ROOT / recipe
    config.load_params(path)
    layer = load_yaml(path.read_text()) or {}
    args = []
    for section, values in layer.items():
        whole = not isinstance(values, dict) or section in ("tasks", "students")  # name -> spec: set as one value
        for key, value in [(None, values)] if whole else values.items():
            name = section if key is None else f"{section}.{key}"
            if isinstance(value, dict):  # DVC merges a mapping into the old one; the recipe replaces it: drop, add
                args += ["-S", f"~{name}", "-S", f"+{name}={_override(value)}"]
            else:
                args += ["-S", f"{name}={_override(value)}"]
    return args


def _override(value: Any) -> str:
    """A value in DVC's `-S` (Hydra override) grammar: JSON, except that mapping keys go unquoted."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_override(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_override(item) for item in value) + "]"
    return json.dumps(value)


def main(argv: list[str] | None = None) -> None:
    """`python -m mm.config [OUT]` validates every profile (the `check` stage); `python -m mm.config --as-set RECIPE`
    prints a recipe as `dvc exp run` arguments (shell-quoted, for xargs):
    `python -m mm.config --as-set recipes/quick.yaml | xargs dvc exp run --temp`."""
    import shlex
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--as-set"]:
        print(" ".join(shlex.quote(arg) for arg in as_set_args(argv[1])))
    else:
        print(check_all(Path(argv[0]) if argv else None), end="")

