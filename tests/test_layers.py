"""Architecture checks by `ast`: mm imports go one way only, and DVC stages depend on every module they run."""
import ast
import json

import pytest
import yaml

from mm import ROOT

# Lower layers first: a module may import only modules listed before it.
LAYERS = ["typed", "arith", "answers", "files", "hub", "tasks", "config", "runs", "recipes", "data", "selfeval",
          "prompts", "llm", "cache", "llm_openai", "hf_generate", "llm_local", "teacher", "teacher_import",
          "teacher_report", "student", "collate", "methods", "decode", "train", "evaluate", "distill", "study", "stats",
          "results", "class_tables", "selfeval_tables", "ablation_tables", "report", "plots"]


def _source(name: str) -> str:
    """A module's code; a package (mm/tasks) counts as one module: all its files."""
    package = ROOT / "mm" / name
    return "\n".join(p.read_text() for p in sorted(package.glob("*.py"))) if package.is_dir() else (
        ROOT / "mm" / f"{name}.py").read_text()


def _entry_point(node: ast.AST) -> bool:
    """`if __name__ == "__main__":`: what `python -m` runs, never an importer (mm.config's hands over to mm.recipes)."""
    test = getattr(node, "test", None)
    return isinstance(test, ast.Compare) and getattr(test.left, "id", None) == "__name__" and any(
        getattr(c, "value", None) == "__main__" for c in test.comparators)


def _runtime_nodes(tree: ast.AST):
    """Every node an import runs: none under `if TYPE_CHECKING:` (imports for type hints only) or an entry point."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and (getattr(node.test, "id", None) == "TYPE_CHECKING" or _entry_point(node)):
            continue
        yield node
        yield from _runtime_nodes(node)


def _mm_imports(source: str) -> set[str]:
    found = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mm":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("mm.")}
    return {name for name in found if (ROOT / "mm" / f"{name}.py").exists() or (ROOT / "mm" / name).is_dir()}


def _closure(modules: set[str]) -> set[str]:
    todo, seen = list(modules), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _mm_imports(_source(name))
    return seen


MODULES = sorted({p.stem for p in (ROOT / "mm").glob("*.py")} - {"__init__"}
                 | {p.parent.name for p in (ROOT / "mm").glob("*/__init__.py")})


def test_every_module_has_a_layer():
    assert set(MODULES) <= set(LAYERS)


@pytest.mark.parametrize("module", MODULES)
def test_imports_go_to_lower_layers_only(module):
    upward = {m for m in _mm_imports(_source(module)) - {module} if LAYERS.index(m) >= LAYERS.index(module)}
    assert not upward, f"mm/{module}.py imports {upward} from its own or a higher layer"


def _stages():
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        stage = stage.get("do", stage)
        notebooks = [d for d in stage["deps"] if d.endswith(".ipynb")]
        if notebooks:
            yield name, notebooks[0], stage["deps"]


@pytest.mark.parametrize("stage, notebook, deps", list(_stages()))
def test_stage_deps_are_exactly_the_modules_the_notebook_runs(stage, notebook, deps):
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    needed = {f"mm/{m}" if (ROOT / "mm" / m).is_dir() else f"mm/{m}.py" for m in _closure(_mm_imports(code))}
    needed |= {"mm/__init__.py"}
    declared = {d for d in deps if d.startswith("mm/")}
    assert needed <= declared, f"stage {stage} lacks deps {sorted(needed - declared)}"
    assert declared <= needed, f"stage {stage} declares modules it never imports: {sorted(declared - needed)}"


def test_resume_key_hashes_exactly_the_training_code():
    from mm import distill

    assert set(distill.TRAINING_CODE) == _closure({"data", "methods", "train", "student", "decode"})
