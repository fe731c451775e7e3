"""Architecture checks by `ast`: mm imports go one way only, and DVC stages depend on every module they run."""
import ast
import json

import pytest
import yaml

from mm import ROOT

# Lower layers first: a module may import only modules listed before it.
LAYERS = ["config", "arith", "data", "answers", "prompts", "llm", "cache", "llm_openai", "hf_generate", "llm_local",
          "teacher", "teacher_import", "teacher_report", "student", "collate", "distill", "decode", "train", "evaluate",
          "experiment", "results", "plots"]


def _mm_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mm":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("mm.")}
    return {name for name in found if (ROOT / "mm" / f"{name}.py").exists()}


def _closure(modules: set[str]) -> set[str]:
    todo, seen = list(modules), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _mm_imports((ROOT / "mm" / f"{name}.py").read_text())
    return seen


def test_every_module_has_a_layer():
    assert {p.stem for p in (ROOT / "mm").glob("*.py")} - {"__init__"} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "mm").glob("*.py") if p.stem != "__init__"))
def test_imports_go_to_lower_layers_only(module):
    upward = {m for m in _mm_imports((ROOT / "mm" / f"{module}.py").read_text())
              if LAYERS.index(m) >= LAYERS.index(module)}
    assert not upward, f"mm/{module}.py imports {upward} from its own or a higher layer"


def _stages():
    pipelines = [ROOT / "dvc.yaml", ROOT / "ablations" / "dvc.yaml"]
    for name, stage in [item for p in pipelines for item in yaml.safe_load(p.read_text())["stages"].items()]:
        stage = stage.get("do", stage)
        notebooks = [d for d in stage["deps"] if d.endswith(".ipynb")]
        if notebooks:
            yield name, notebooks[0], stage["deps"]


@pytest.mark.parametrize("stage, notebook, deps", list(_stages()))
def test_stage_deps_cover_every_module_the_notebook_runs(stage, notebook, deps):
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    needed = {f"mm/{m}.py" for m in _closure(_mm_imports(code))} | {"mm/__init__.py"}
    assert needed <= set(deps), f"stage {stage} lacks deps {sorted(needed - set(deps))}"
