import dataclasses

import pytest
import yaml

from mm import ROOT, config, tasks

STUDY = dataclasses.asdict(config.load_params().study)  # params.yaml's: the study section has no defaults


def test_default_params_file_loads():
    params = config.load_params()
    assert params.teacher.n_cots >= 1
    assert set(params.study.datasets) <= set(tasks.names())


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"teacher": {"n_cot": 5}}, "teacher.n_cot"),
        ({"teachr": {}}, "teachr"),
        ({"teacher": {"n_cots": "5"}}, "teacher.n_cots"),
        ({"teacher": {"n_cots": -1}}, "teacher.n_cots"),
        ({"teacher": {"n_cots": True}}, "teacher.n_cots"),
        ({"teacher": {"temperature": 3.0}}, "teacher.temperature"),
        ({"teacher": {"backend": "gpt"}}, "teacher.backend"),
        ({"teacher": {"n_questions": {"gsm8k": 10}}}, "teacher.n_questions.gsm8k"),
        ({"study": STUDY | {"datasets": ["anli1", "mnli"]}}, "study.datasets"),
        ({"study": STUDY | {"students": ["smollm2"]}}, "study.students"),  # profile -> datasets, not a list
        ({"study": STUDY | {"students": {"smollm2": ["svamp", "mnli"]}}}, "study.students.smollm2"),
        ({"study": STUDY | {"students": {"tiny": ["svamp"]}}}, "study.students"),  # no such profile
        ({"study": STUDY | {"ablations": ["cots2"]}}, "study.ablations"),  # not in ablations/ablations.yaml
        ({"study": {key: value for key, value in STUDY.items() if key != "seeds"}}, "study.seeds"),  # no default
        ({"data": {"n_train": 0}}, "data.n_train"),
        ({"data": {"anli_valid_fraction": 1.5}}, "data.anli_valid_fraction"),
    ],
)
def test_bad_params_fail_naming_the_key(raw, key):
    with pytest.raises(config.ParamsError, match=key.replace(".", r"\.")):
        config.parse_params({"study": STUDY} | raw, source="test.yaml")


def test_error_names_the_source_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("teacher:\n  n_cots: -2\n")
    with pytest.raises(config.ParamsError, match="p.yaml"):
        config.load_params(path)


def test_optional_and_float_accept_valid_values():
    params = config.parse_params({"data": {"n_train": None}, "study": STUDY,
                                  "teacher": {"temperature": 1, "n_questions": {"cqa": 3}}})
    assert params.teacher.temperature == 1
    assert params.teacher.n_questions == {"cqa": 3}


def test_every_recipe_parses_to_the_values_it_names(root):
    for recipe in sorted((root / "recipes").glob("*.yaml")):
        params = dataclasses.asdict(config.load_params(recipe))
        for section, values in yaml.safe_load(recipe.read_text()).items():
            for key, value in values.items():
                assert params[section][key] == value, f"{recipe.name}: {section}.{key}"


def test_every_ablation_names_a_method_and_valid_overrides():
    for name in yaml.safe_load(config.ABLATIONS.read_text()):
        method, overrides = config.load_ablation(name)
        assert method in config.METHODS
        config.load_params(overrides=overrides)


def test_overrides_are_checked_like_the_file():
    assert config.load_params(overrides={"distill": {"n_cots": 3}}).distill.n_cots == 3
    with pytest.raises(config.ParamsError, match=r"distill\.n_cot"):
        config.load_params(overrides={"distill": {"n_cot": 3}})
    with pytest.raises(config.ParamsError, match="no ablation"):
        config.load_ablation("nope")


def test_defaults_are_the_default_profile_and_every_key_is_in_params_yaml(root):
    """One source of defaults: a key missing from a recipe means params.yaml's value, and `-S key=value` finds it."""
    defaults = config.Params(study=config.StudyConfig(**STUDY))
    assert config.load_params() == defaults
    raw = yaml.safe_load((root / "params.yaml").read_text())
    sections = [s.name for s in dataclasses.fields(defaults) if s.name not in ("tasks", "students")]  # name -> dict
    missing = [f"{name}.{f.name}" for name in sections
               for f in dataclasses.fields(getattr(defaults, name)) if f.name not in raw[name]]
    assert missing == [] and raw["tasks"] == {}


def test_a_recipe_changes_only_the_keys_it_names(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("distill:\n  lr: 3.0e-4\nteacher:\n  n_questions: {cqa: 5}\n")
    params = config.load_params(recipe)
    assert params.distill.lr == 3e-4 and params.teacher.n_questions == {"cqa": 5}
    default = config.load_params()
    assert params == dataclasses.replace(default, distill=dataclasses.replace(default.distill, lr=3e-4),
                                         teacher=dataclasses.replace(default.teacher, n_questions={"cqa": 5}))
    recipe.write_text("distill:\n  lr: -1\n")
    with pytest.raises(config.ParamsError, match="r.yaml"):
        config.load_params(recipe)


def test_a_recipe_becomes_dvc_set_arguments_for_exactly_its_keys(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("distill:\n  epochs: 2\nstudy:\n  seeds: [0, 1]\n")
    assert config.as_set_args(recipe) == ["-S", "distill.epochs=2", "-S", "study.seeds=[0, 1]"]
    recipe.write_text("teacher:\n  n_questions: {svamp: 16}\n")  # replaces params.yaml's mapping, as the recipe does
    assert config.as_set_args(recipe) == ["-S", "~teacher.n_questions", "-S", "+teacher.n_questions={svamp: 16}"]
    recipe.write_text("distill:\n  epochs: -1\n")
    with pytest.raises(config.ParamsError, match="distill.epochs"):
        config.as_set_args(recipe)


@pytest.mark.parametrize("recipe", ["recipes/quick.yaml", "recipes/smoke.yaml", "recipes/paper.yaml"])
def test_dvc_applying_the_set_arguments_gives_the_recipes_params(recipe, tmp_path, root):
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` does to params.yaml

    copy = tmp_path / "params.yaml"
    copy.write_text((root / "params.yaml").read_text())
    apply_overrides(str(copy), [a for a in config.as_set_args(recipe) if a != "-S"])  # smoke, paper: mappings
    assert config.load_params(copy) == config.load_params(recipe)  # DVC writes 5e-05 for 5.0e-5: still a float


def test_every_profile_of_study_students_has_its_distill_stage_in_params_and_every_recipe():
    """dvc.yaml's distill-<profile> stages read study.students.<profile>: a recipe that drops one breaks the DAG."""
    stages = {name.removeprefix("distill-") for name in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
              if name.startswith("distill-")}
    assert stages == set(config.load_params().study.students) and config.DEFAULT_STUDENT in stages
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        assert set(config.load_params(path).study.students) == stages, path
