"""Importing teacher outputs made elsewhere: the official Mind's Mirror ToT JSON and a plain JSONL."""
import json

import pytest

from mm import ROOT, data, files
from mm.files import DataError
from mm.teacher_import import import_outputs, tot_question

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
    with pytest.raises(DataError, match="line 1: needs 'id' and 'rationale'"):
        import_outputs("svamp", tmp_path / "keys.jsonl", "jsonl", tmp_path, "t")


def test_tot_question_reads_the_escaped_input():
    assert tot_question('"input":"Luke scored 84.\\nHow many?"\n') == "Luke scored 84.\nHow many?"
