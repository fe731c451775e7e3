import dataclasses
import json

import pandas as pd
import pytest

from mm import config, data, runs, tasks, teacher
from mm.files import read_jsonl
from mm.teacher_report import QUALITY_KEYS, cot_summary, first_questions_quality

N = 5


@pytest.fixture(scope="module")
def svamp():
    params = config.load_teacher_params(teacher=config.DEFAULT_TEACHER)
    train = list(data.load_from_config("svamp", params.data)["train"])
    cfg = dataclasses.replace(params.teacher, n_questions={"svamp": N})
    return train, cfg, runs.TeacherRun(config.DEFAULT_TEACHER, "svamp")


def test_first_questions_replay_as_the_committed_pool_scores_them_and_leave_the_cache_alone(root, tmp_path, svamp):
    train, cfg, pool = svamp
    cache_file = tmp_path / "completions.jsonl"
    cache_file.write_bytes((root / pool.cache_file).read_bytes())
    quality = first_questions_quality("svamp", train, cfg, cache_file, N)
    questions = teacher.teacher_questions("svamp", train, cfg)
    ids = {row["id"] for row in questions}
    committed = pd.DataFrame([r for r in read_jsonl(root / pool.out_dir / "cots.jsonl") if r["id"] in ids])
    expected = cot_summary("svamp", committed, questions)
    assert quality["complete"] and quality["complete_questions"] == N
    assert {key: quality[key] for key in QUALITY_KEYS} == {key: expected[key] for key in QUALITY_KEYS}
    assert quality["palm_accuracy"] == tasks.get("svamp").palm_accuracy(questions)
    assert quality["majority_class_share"] is None  # number answers have no classes
    assert cache_file.read_bytes() == (root / pool.cache_file).read_bytes()


def test_a_cache_short_of_one_cot_leaves_the_teachers_numbers_out(root, tmp_path, svamp):
    train, cfg, pool = svamp
    questions = teacher.teacher_questions("svamp", train, cfg)
    _, _, lost = teacher.cot_jobs("svamp", train, questions[:1], cfg)[3]
    lines = (root / pool.cache_file).read_text().splitlines(keepends=True)
    cache_file = tmp_path / "completions.jsonl"
    cache_file.write_text("".join(line for line in lines if json.loads(line)["key"] != lost.key))
    quality = first_questions_quality("svamp", train, cfg, cache_file, N)
    assert (quality["complete"], quality["complete_questions"]) == (False, N - 1)
    assert not set(QUALITY_KEYS) & set(quality) and quality["palm_accuracy"] is not None


def test_majority_class_share_is_the_commonest_gold_among_the_questions(tmp_path):
    params = config.load_params()
    train = list(data.load_from_config("anli1", params.data)["train"])
    cfg = dataclasses.replace(params.teacher, n_questions={"anli1": 20})
    quality = first_questions_quality("anli1", train, cfg, tmp_path / "empty.jsonl", 20)
    golds = [row["answer"] for row in teacher.teacher_questions("anli1", train, cfg)]
    assert quality["majority_class_share"] == max(map(golds.count, set(golds))) / 20
    assert (quality["complete"], quality["complete_questions"]) == (False, 0)
    assert not (tmp_path / "empty.jsonl").exists()
