"""Every notebook: DVC passes only parameters it declares, sources carry no outputs, it runs in the smoke profile."""
import json
import re
import shlex
import shutil

import papermill
import pytest
import yaml

from mm import ROOT

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


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_smoke_profile(notebook, smoke_params, tmp_path):
    declared = papermill.inspect_notebook(str(notebook))
    overrides = {"params_file": str(smoke_params)}
    if "into" in declared:  # a run by hand: its files under `into`
        overrides["into"] = str(tmp_path / "run")
    for name in declared:  # every other output (*_file, out_dir) goes to tmp_path, so the run leaves the repo untouched
        if (name.endswith("_file") and name != "params_file") or name == "out_dir":
            default = str(declared[name]["default"]).strip("\"'")
            suffix = "" if name == "out_dir" else "." + default.rsplit(".", 1)[-1]
            overrides[name] = str(tmp_path / (name + suffix))
            if name.endswith("_file") and (ROOT / default).is_file():  # a file the notebook edits in place
                shutil.copy(ROOT / default, overrides[name])
    papermill.execute_notebook(str(notebook), str(tmp_path / notebook.name), parameters=overrides,
                               kernel_name="python3", cwd=str(ROOT), progress_bar=False)
    for name, path in overrides.items():
        if name.endswith("_file") and name != "params_file":
            assert (tmp_path / path).exists(), f"{notebook.name} did not write {name}"
    if "into" in declared:
        assert list((tmp_path / "run" / "metrics").rglob("*.json")), f"{notebook.name} wrote no metrics under into"
    executed = (tmp_path / notebook.name).read_text()
    assert "site-packages" not in executed  # no warning naming this machine's paths (committed runs/ are re-run)
    if "plots." in notebook.read_text():  # figures render inline, not only into files
        cells = json.loads(executed)["cells"]
        assert any("image/png" in out.get("data", {}) for c in cells for out in c.get("outputs", []))

