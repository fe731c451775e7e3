"""Importing teacher outputs made elsewhere: the official Mind's Mirror ToT JSON and a plain JSONL."""
import json
import re

import pytest

from mm import ROOT, data, files
from mm.files import DataError
from mm.teacher_import import import_outputs, main, tot_question

SAMPLE = ROOT / "data" / "raw" / "minds_mirror_samples" / "svamp_tree1" / "llm" / "train_CoT_0.json"


def test_the_official_release_sample_imports_with_its_own_verdicts(tmp_path):
    report = import_outputs("svamp", SAMPLE, "tot", tmp_path, "gpt-3.5-turbo")
    assert report | {"unmatched_examples": []} == {
        "questions": 2, "unmatched": 0, "unmatched_examples": [], "cots": 10, "cots_parsed": 10, "cots_correct": 10,
        "evals": 50, "verdicts_parsed": 50, "verdicts_right": 48}  # gpt-3.5 calls two right CoTs of Faye's wrong
    cots = files.read_jsonl(tmp_path / "cots.jsonl")
    assert {c["answer"] for c in cots if c["id"] == cots[0]["id"]} == {"42"}
    assert cots[0]["teacher"] == "gpt-3.5-turbo" and cots[0]["eval_mode"] == "teacher"
    evals = files.read_jsonl(tmp_path / "evals.jsonl")
    assert [(e["k"], e["j"]) for e in evals[:6]] == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]


def tot_item(question: str, cots: list[str], evaluations: list[list[str]]) -> dict:
    x = '"input":' + json.dumps(question) + "\n"
    return {"steps": [{"step": 0, "x": x, "ys": [""], "new_ys": cots, "value_outputs_list": evaluations}], "idx": 0}


def test_a_written_tot_file_maps_choices_reports_unmatched_and_near_miss_verdicts(tmp_path):
    row = data.load_benchmark("cqa")["train"][10]
    letter, text = row["answer"][1], row["answer"][4:]
    wrong = next(c for c in row["choices"] if c != text)
    items = [
        tot_item(row["question"], [f"Because. So the answer is ({letter}).", f"Hmm. So the answer is {wrong}."],
                 [["Fine. The evaluation result is: the given answer is correct."],
                  ["No. Evaluation result: the given answer is wrong."]]),
        tot_item("A question from another benchmark?", ["The answer is 3."], [[]]),
    ]
    (tmp_path / "tot.json").write_text(json.dumps(items))
    report = import_outputs("cqa", tmp_path / "tot.json", "tot", tmp_path, "t")
    assert (report["questions"], report["unmatched"], report["cots_correct"]) == (1, 1, 1)
    assert (report["verdicts_parsed"], report["verdicts_right"]) == (2, 2)
    assert [c["answer"] for c in files.read_jsonl(tmp_path / "cots.jsonl")][0] == row["answer"]


def test_plain_jsonl_with_answers_and_evaluations(tmp_path):
    train = data.load_benchmark("anli1")["train"]
    a, b = train[0], train[1]
    lines = [{"id": a["id"], "rationale": "It follows.", "answer": a["answer"],
              "evaluation": "Evaluation result: the given answer is correct."},
             {"id": a["id"], "rationale": "It does not. So the answer is contradiction."},
             {"id": b["id"], "rationale": "No final answer here."},
             {"id": "no-such-id", "rationale": "x"}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = import_outputs("anli1", tmp_path / "in.jsonl", "jsonl", tmp_path, "t")
    assert (report["questions"], report["cots"], report["cots_parsed"], report["unmatched"]) == (2, 3, 2, 1)
    cots = files.read_jsonl(tmp_path / "cots.jsonl")
    assert [(c["id"], c["k"], c["correct"]) for c in cots][:1] == [(a["id"], 0, True)]
    assert report["evals"] == report["verdicts_right"] == 1


def test_bad_files_name_the_problem(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        import_outputs("svamp", tmp_path / "bad.json", "tot", tmp_path, "t")
    (tmp_path / "none.jsonl").write_text(json.dumps({"id": "nope", "rationale": "r"}) + "\n")
    with pytest.raises(DataError, match="no svamp train question matched"):
        import_outputs("svamp", tmp_path / "none.jsonl", "jsonl", tmp_path, "t")
    (tmp_path / "keys.jsonl").write_text(json.dumps({"id": "x"}) + "\n")
    with pytest.raises(DataError, match="keys.jsonl:1: needs 'id' and 'rationale'"):
        import_outputs("svamp", tmp_path / "keys.jsonl", "jsonl", tmp_path, "t")


def test_tot_question_reads_the_escaped_input():
    assert tot_question('"input":"Luke scored 84.\\nHow many?"\n') == "Luke scored 84.\nHow many?"



COTS = ["The answer is (1 + 1).", "The answer is (2 + 2)."]


def tot_step(**fields) -> dict:
    """A ToT item of two CoTs, its step's fields replaced."""
    item = tot_item("How many?", COTS, [[], []])
    item["steps"][0].update(fields)
    return item


def write_tot(path, items: list) -> list[int]:
    """A pretty-printed ToT file, like the release's; the line each item starts on."""
    text = json.dumps(items, indent=1)
    path.write_text(text)
    return [n for n, line in enumerate(text.splitlines(), start=1) if line in (" {", ' "an item"')]


@pytest.mark.parametrize(("bad", "error"), [
    (tot_step(new_ys="The answer is (84 / 2)."), "'new_ys' must be a list of CoT texts, got str"),
    (tot_step(value_outputs_list=[["Evaluation result: the given answer is correct."]]),
     "'value_outputs_list' has 1 lists for 2 CoTs"),
    (tot_step(value_outputs_list=["correct", "wrong"]), "'value_outputs_list' must hold a list of evaluation texts"),
    (tot_step(x=None), "'x' must be the question text"),
    ("an item", "a ToT item needs a 'steps' list"),
], ids=["CoTs in a string", "too few evaluation lists", "evaluations not in lists", "no question", "not an object"])
def test_a_malformed_tot_item_is_an_error_naming_file_and_line(tmp_path, bad, error):
    lines = write_tot(tmp_path / "tot.json", [tot_step(), bad])
    with pytest.raises(DataError, match=rf"tot\.json:{lines[1]}: {re.escape(error)}"):
        import_outputs("svamp", tmp_path / "tot.json", "tot", tmp_path / "out", "t")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("line", "error"), [
    ("42", "in.jsonl:2: not a JSON object"),
    ('{"id": "x", "rationale": ["step", "step"]}', "in.jsonl:2: 'rationale' and 'evaluation' must be texts"),
    ('{"id": "x", "rationale": "r", "evaluation": 1}', "in.jsonl:2: 'rationale' and 'evaluation' must be texts"),
    ('{"id": "x"}', "in.jsonl:2: needs 'id' and 'rationale'"),
], ids=["not an object", "rationale not a text", "evaluation not a text", "no rationale"])
def test_a_malformed_jsonl_line_is_an_error_naming_file_and_line(tmp_path, line, error):
    first = data.load_benchmark("svamp")["train"][5]["id"]
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": first, "rationale": "The answer is (1 + 1)."}) + f"\n{line}\n")
    with pytest.raises(DataError, match=re.escape(error)):
        import_outputs("svamp", tmp_path / "in.jsonl", "jsonl", tmp_path / "out", "t")


def test_an_existing_pool_is_replaced_only_with_force(tmp_path):
    row = data.load_benchmark("svamp")["train"][5]
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": row["id"], "rationale": "The answer is (1 + 1)."}) + "\n")
    (tmp_path / "out").mkdir()
    pool = tmp_path / "out" / "cots.jsonl"
    pool.write_text('{"id": "generated for hours"}\n')
    with pytest.raises(FileExistsError, match="cots.jsonl already holds a teacher pool; --force"):
        import_outputs("svamp", tmp_path / "in.jsonl", "jsonl", tmp_path / "out", "t")
    assert pool.read_text() == '{"id": "generated for hours"}\n'
    assert main(["svamp", str(tmp_path / "in.jsonl"), "--format", "jsonl", "--out-dir", str(tmp_path / "out"),
                 "--force"])["cots"] == 1
    assert files.read_jsonl(pool)[0]["id"] == row["id"]
