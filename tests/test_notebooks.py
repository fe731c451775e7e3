"""Every notebook: DVC passes only parameters it declares, sources carry no outputs, it runs in the smoke profile and
writes sane outputs."""
import json
import re
import shlex
from pathlib import Path

import papermill
import pytest
import yaml

from mm import ROOT, config, runs

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _papermill_calls():
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        stage = stage.get("do", stage)  # foreach/matrix stages keep their body under `do`
        for command in re.split(r"&&|;", stage["cmd"]):
            words = shlex.split(command)
            if words[:1] == ["papermill"]:
                yield name, words[1], [words[i + 1] for i, w in enumerate(words) if w == "-p"]


def test_every_notebook_is_run_by_a_stage():
    assert {ROOT / nb for _, nb, _ in _papermill_calls()} == set(NOTEBOOKS)


@pytest.mark.parametrize("stage, notebook, keys", list(_papermill_calls()))
def test_stage_parameters_exist_in_notebook(stage, notebook, keys):
    declared = papermill.inspect_notebook(str(ROOT / notebook))
    assert set(keys) <= set(declared), f"stage {stage} passes {set(keys) - set(declared)} unknown to {notebook}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_source_notebook_has_no_outputs(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    assert all(not c.get("outputs") and not c.get("execution_count") for c in cells if c["cell_type"] == "code")


def _data(out, params):
    metrics = json.loads(out["metrics_file"].read_text())
    assert set(metrics) == set(params.study.datasets)
    for dataset in metrics.values():
        assert min(dataset["sizes"].values()) > 0 and all(0 <= a <= 1 for a in dataset["palm_accuracy"].values())


def _teacher(out, params):
    metrics = json.loads(out["metrics_file"].read_text())
    assert metrics["n_questions"] == params.teacher.n_questions[metrics["dataset"]]
    assert metrics["n_cots"] == metrics["n_questions"] * params.teacher.n_cots
    assert all(0 <= metrics[key] <= 1 for key in ("first_cot_accuracy", "majority_accuracy", "any_correct"))


def _distill(out, params):
    metrics = json.loads(out["metrics_file"].read_text())
    assert (metrics["method"], metrics["student"], metrics["n_test"]) == ("mind_mirror", params.student.name,
                                                                         params.distill.n_test)
    assert metrics["steps"] > 0 and 0 <= metrics["test_accuracy"] <= 1
    assert len(out["predictions_file"].read_text().splitlines()) == metrics["n_test"]
    samples = metrics["self_consistency"]["n_items"] * max(params.evaluate.ks)
    assert len(out["samples_file"].read_text().splitlines()) == samples


def _figures(out, params):
    assert "|---|" in out["results_file"].read_text()  # the report's tables
    assert list(out["out_dir"].glob("*.png"))


# What each notebook writes, checked; and whether it shows a figure inline, not only in a file
OUTPUTS = {"00_data.ipynb": (_data, True), "10_teacher.ipynb": (_teacher, True), "20_distill.ipynb": (_distill, True),
           "90_figures.ipynb": (_figures, True)}


def _run_by_hand(declared: dict, into: Path) -> dict[str, Path]:
    """The files a notebook run by hand writes under `into` (mm.runs), for its default run."""
    default = {name: str(spec["default"]).strip("\"'") for name, spec in declared.items()}
    if "student" in declared:
        run = runs.Run(default["student"], default["teacher"], default["dataset"], default["method"],
                       int(default["seed"]))
        return {name: into / path for name, path in run.files().items() if name != "out_dir"}
    files = runs.TeacherRun(default["teacher"], default["dataset"]).files()
    return {"metrics_file": into / files["metrics_file"], "out_dir": into / files["out_dir"]}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_smoke_profile(notebook, smoke_params, tmp_path):
    declared = papermill.inspect_notebook(str(notebook))
    out = {}  # every output (*_file, out_dir) goes to tmp_path, so the run leaves the repo untouched
    for name in declared:
        if (name.endswith("_file") and name != "params_file") or name == "out_dir":
            suffix = str(declared[name]["default"]).strip("\"'").rsplit(".", 1)[-1]
            out[name] = tmp_path / (name if name == "out_dir" else f"{name}.{suffix}")
    parameters = {"params_file": str(smoke_params)} | {name: str(path) for name, path in out.items()}
    if "into" in declared:  # a run by hand: its run's files under `into`
        parameters["into"] = str(tmp_path / "run")
        out = _run_by_hand(declared, tmp_path / "run")
    papermill.execute_notebook(str(notebook), str(tmp_path / notebook.name), parameters=parameters,
                               kernel_name="python3", cwd=str(ROOT), progress_bar=False)
    assert all(path.exists() for path in out.values()), f"{notebook.name} did not write all of {sorted(out)}"
    check, shows_figure = OUTPUTS[notebook.name]
    check(out, config.load_params(smoke_params))
    executed = (tmp_path / notebook.name).read_text()
    assert "site-packages" not in executed  # no warning naming this machine's paths (committed runs/ are re-run)
    outputs = [o for cell in json.loads(executed)["cells"] for o in cell.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs) == shows_figure
