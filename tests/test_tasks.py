"""A benchmark of the user's own, registered from a `tasks:` spec, through teacher, distillation and the tables;
bad specs and rows fail at load, naming the key or the file and line."""
import json

import pandas as pd
import pytest
import yaml

from mm import config, data, distill, files, recipes, results, tasks, teacher

TEMPLATES = [  # (question, operator, rationale): 40 generated word problems
    ("Tom has {a} apples and buys {b} more. How many apples does he have now?", "+",
     "Tom starts with {a} apples and buys {b} more, so he has {a} + {b} = {c} apples."),
    ("A shelf holds {a} books and {b} are taken away. How many books are left?", "-",
     "There were {a} books and {b} were taken, so {a} - {b} = {c} books are left."),
    ("There are {a} boxes with {b} pens each. How many pens are there?", "*",
     "Each of the {a} boxes has {b} pens, so there are {a} * {b} = {c} pens."),
]


@pytest.fixture(autouse=True)
def own_registry(monkeypatch):
    """Tasks registered here stay here: other tests iterate over the registered names."""
    monkeypatch.setattr(tasks, "_registered", {})


def _write_arithmetic(folder):
    rows = []
    for i in range(40):
        question, op, rationale = TEMPLATES[i % 3]
        a, b = 10 + 3 * i, 2 + i % 7
        c = {"+": a + b, "-": a - b, "*": a * b}[op]
        rows.append({"id": f"p{i}", "question": question.format(a=a, b=b), "equation": f"( {a} {op} {b} )",
                     "answer": c, "rationale": rationale.format(a=a, b=b, c=c)})
    for split, part in {"train": rows[:28], "valid": rows[28:34], "test": rows[34:]}.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return {split: str(folder / f"{split}.jsonl") for split in ("train", "valid", "test")}


@pytest.fixture()
def arith_params(tmp_path, smoke_params):
    spec = {**_write_arithmetic(tmp_path), "answer": "equation", "equation_field": "equation",
            "exemplar_ids": ["p0", "p1", "p2"], "instruction": "Solve it. End with 'The answer is (equation).'"}
    return config.load_params(smoke_params, {"tasks": {"arith": spec}, "teacher": {"n_shots": 3, "n_questions": {}},
                                             "study": {"datasets": ["arith"], "teachers": {"qwen0_5b": ["arith"]},
                                                       "arms": {"smollm2": {"qwen0_5b": {"arith": ["mind_mirror"]}}}}})


def test_own_arithmetic_benchmark_runs_teacher_distillation_and_tables(arith_params, tmp_path):
    task = tasks.get("arith")
    splits = data.load_from_config("arith", arith_params.data)
    assert [len(splits[s]) for s in files.SPLITS] == [28, 6, 6]
    row = splits["train"][0]
    assert row["answer"] == "12" and task.gold_target(row) == "10 + 2" and task.palm_accuracy(splits["train"]) == 1
    assert task.answer_sentence(row) == "The answer is (10 + 2)."

    out = tmp_path / "teacher"
    run = teacher.generate("arith", list(splits["train"]), arith_params.teacher, out)  # smoke: the rows' rationales
    cots = files.read_jsonl(out / "cots.jsonl")
    assert run["n_questions"] == 25 and all(c["correct"] for c in cots)  # 28 train less the 3 exemplars

    metrics, predictions, _ = distill.run("arith", "mind_mirror", 0, arith_params, tmp_path / "run", out)
    assert metrics["n_train_questions"] == 12 and len(predictions) == metrics["n_test"] == 6
    assert set(task.trivial_baselines(list(splits["train"]), list(splits["test"]))) == {
        "most common train answer", "one operation on the two largest numbers"}
    table = results.summary_table(pd.DataFrame([metrics | {"setting": "arith"}]))
    assert list(table.columns) == ["arith"] and list(table.index) == ["mind_mirror"]
    assert set(data.summary_frame({"arith": splits})["label"]) == {"number"}


def test_own_label_and_choice_rows_load_in_canonical_form(tmp_path):
    paths = {}
    for split in ("train", "valid", "test"):
        path = tmp_path / f"{split}.jsonl"
        path.write_text(json.dumps({"id": f"{split}1", "text": "Is it?", "gold": "Yes", "options": ["no", "yes"]})
                        + "\n")
        paths[split] = str(path)
    label = config.TaskSpec(**paths, answer="label", labels=["yes", "no"], question_field="text", answer_field="gold")
    choice = config.TaskSpec(**paths, answer="choice", choices_field="options", question_field="text",
                             answer_field="gold")
    tasks.register({"yesno": label, "pick": choice})
    assert data.load_benchmark("yesno")["test"][0]["answer"] == "yes"
    picked = data.load_benchmark("pick")["test"][0]
    assert picked["answer"] == "(b) yes" and picked["question"] == "Is it?\nAnswer Choices:\n(a) no\n(b) yes"
    assert tasks.get("pick").parse_answer("So the answer is (b).", picked["choices"]) == "(b) yes"


def test_bad_specs_fail_at_load_naming_the_key(tmp_path, arith_params):
    spec = {"train": "nowhere.jsonl", "valid": "nowhere.jsonl", "test": "nowhere.jsonl", "answer": "label"}
    with pytest.raises(config.ParamsError, match=r"tasks.mine: 'labels' must list"):
        config.load_params(overrides={"tasks": {"mine": spec | {"labels": ["yes"]}}})
    with pytest.raises(config.ParamsError, match=r"tasks.mine: 'train' 'nowhere.jsonl' is not a file"):
        config.load_params(overrides={"tasks": {"mine": spec | {"labels": ["yes", "no"]}}})
    with pytest.raises(config.ParamsError, match=r"missing key 'tasks\.mine\.answer'"):
        config.load_params(overrides={"tasks": {"mine": {"train": "a", "valid": "b", "test": "c"}}})
    with pytest.raises(config.ParamsError, match=r"tasks.svamp: a built-in"):
        config.load_params(overrides={"tasks": {"svamp": spec}})
    with pytest.raises(config.ParamsError, match=r"'study.datasets' names unknown dataset 'gsm8k'"):
        config.load_params(overrides={"study": {"datasets": ["gsm8k"]}})


def test_bad_rows_fail_at_load_naming_file_line_and_field(tmp_path):
    paths = {}
    for split in ("train", "valid", "test"):
        path = tmp_path / f"{split}.jsonl"
        path.write_text('{"id": "a", "question": "q", "answer": "yes"}\n'
                        '{"id": "b", "question": "q", "answer": "maybe"}\n')
        paths[split] = str(path)
    tasks.register({"yn": config.TaskSpec(**paths, answer="label", labels=["yes", "no"])})
    with pytest.raises(files.DataError, match=r"train.jsonl:2: answer 'maybe' is not one of tasks.yn.labels"):
        data.load_benchmark("yn")
    (tmp_path / "train.jsonl").write_text('{"id": "a", "answer": "yes"}\n')
    with pytest.raises(files.DataError, match=r"train.jsonl:1: no field 'question'"):
        data.load_benchmark("yn")


@pytest.mark.parametrize(("train", "error"), [
    (b'{"id": "a", "question": "q", "answer": "yes"}\n\n{"id": "b", "question": null, "answer": "no"}\n',
     r"train.jsonl:3: field 'question' is null"),  # the file's line, blank lines counted
    (b'{"id": "a", "question": "q", "answer": null}\n', r"train.jsonl:1: field 'answer' is null"),
    (b'{"id": "a", "question": "q"}\n', r"train.jsonl:1: no field 'answer'"),
    (b'{"id": "a", "question": "q", "answer": "yes"}\n{"id": "b", "que\n', r"train.jsonl:2: malformed JSON"),
    (b'{"id": "a", "question": "caf\xc3", "answer": "yes"}\n', r"train.jsonl:1: malformed JSON"),
    (b'["a", "q", "yes"]\n', r"train.jsonl:1: not a JSON object"),
], ids=["null question", "null answer", "missing answer", "not JSON", "not UTF-8", "not an object"])
def test_a_bad_row_names_its_file_line_and_field(tmp_path, train, error):
    good = b'{"id": "v", "question": "q", "answer": "yes"}\n'
    for split, content in {"train": train, "valid": good, "test": good.replace(b'"v"', b'"t"')}.items():
        (tmp_path / f"{split}.jsonl").write_bytes(content)
    paths = {split: str(tmp_path / f"{split}.jsonl") for split in ("train", "valid", "test")}
    tasks.register({"yn": config.TaskSpec(**paths, answer="label", labels=["yes", "no"])})
    with pytest.raises(files.DataError, match=error):
        data.load_benchmark("yn")


def test_options_are_the_choices_or_labels_and_none_for_numbers():
    cqa = {"choices": ["up", "down"]}
    assert tasks.get("cqa").options(cqa) == ["(a) up", "(b) down"]
    assert tasks.get("anli1").options({}) == ["entailment", "neutral", "contradiction"]
    assert tasks.get("svamp").options({}) == []


def test_the_check_stage_stops_at_a_bad_row_of_your_benchmark(tmp_path, monkeypatch, root):
    """`python -m mm.config` (the check stage every stage waits for) reads your rows: a bad one fails there, naming
    its file and line, before DVC deletes any stage's outputs (the check's own sentinel persists)."""
    spec = {**_write_arithmetic(tmp_path), "answer": "equation", "exemplar_ids": ["p0", "p1", "p2"]}
    params = tmp_path / "params.yaml"
    params.write_text((root / "params.yaml").read_text().replace("tasks: {}", f"tasks: {{arith: {json.dumps(spec)}}}"))
    monkeypatch.setattr(config, "PARAMS", params)
    assert "1 benchmarks of your own" in recipes.check_all()
    with open(spec["valid"], "a") as handle:
        handle.write('{"id": "p99", "question": null, "answer": 3}\n')
    with pytest.raises(files.DataError, match=r"valid\.jsonl:7: field 'question' is null"):
        recipes.check_all()
    check = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["check"]
    assert check["outs"] == [{"runs/params_check.txt": {"cache": False, "persist": True}}]
