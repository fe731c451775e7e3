import gzip
import json
import shutil

import pytest

from mm import data, files
from mm.answers import LETTERS
from mm.tasks import anli1

# Per-split counts from data/raw/README.md (local ANLI: the 1,000-row official dev split cut 900/100).
EXPECTED_SIZES = {
    "anli1": {"train": 900, "valid": 100, "test": 1000},
    "cqa": {"train": 8766, "valid": 975, "test": 1221},
    "svamp": {"train": 720, "valid": 80, "test": 200},
}
COMMON_COLUMNS = {"id", "question", "answer", "choices", "palm_output", "palm_rationale", "palm_label"}


@pytest.fixture(scope="module")
def benchmarks():
    return {name: data.load_benchmark(name) for name in EXPECTED_SIZES}


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_split_sizes_match_the_data_readme(benchmarks, name):
    assert {split: len(rows) for split, rows in benchmarks[name].items()} == EXPECTED_SIZES[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_one_schema_for_all_datasets(benchmarks, name):
    for split in files.SPLITS:
        assert COMMON_COLUMNS <= set(benchmarks[name][split].column_names)


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_splits_do_not_overlap(benchmarks, name):
    ids = {split: set(benchmarks[name][split]["id"]) for split in files.SPLITS}
    assert not ids["train"] & ids["valid"]
    assert not ids["train"] & ids["test"]
    assert not ids["valid"] & ids["test"]


def test_canonical_answers(benchmarks):
    anli = benchmarks["anli1"]["test"][0]
    assert anli["answer"] in anli1.LABELS and anli["question"].startswith("Premise: ")
    cqa = benchmarks["cqa"]["train"][0]
    letter = cqa["answer_key"].lower()
    assert cqa["answer"] == f"({letter}) {cqa['choices'][LETTERS.index(letter)]}"
    assert f"({letter}) " in cqa["question"]
    svamp = benchmarks["svamp"]["test"][0]
    assert svamp["answer"] == "450" and svamp["Equation"] == "( 10.0 * 45.0 )"


def test_svamp_gold_comes_from_the_equation(benchmarks):
    # chal-680: the dataset's Answer field says 1.0, its equation 5.0; upstream scores the equation.
    row = next(r for r in benchmarks["svamp"]["train"] if r["id"] == "chal-680")
    assert row["answer"] == "5" and row["Answer"] == 1.0


def test_svamp_valid_uses_the_shipped_index_file(benchmarks, root):
    split = json.loads((root / "data/raw/svamp/train_valid_split.json").read_text())
    rows = files.read_jsonl(root / "data/raw/svamp/train.jsonl.gz")
    assert benchmarks["svamp"]["valid"]["id"] == [rows[i]["ID"] for i in split["valid_rows"]]


def test_anli_split_is_fixed_by_seed():
    again = data.load_benchmark("anli1")
    other = data.load_benchmark("anli1", split_seed=1)
    assert again["valid"]["id"] == data.load_benchmark("anli1")["valid"]["id"]
    assert again["valid"]["id"] != other["valid"]["id"]


def test_n_train_subsample_is_seeded_and_nested():
    small = data.load_benchmark("svamp", n_train=50, seed=3)["train"]["id"]
    large = data.load_benchmark("svamp", n_train=200, seed=3)["train"]["id"]
    assert len(small) == 50 and set(small) <= set(large)
    assert small == data.load_benchmark("svamp", n_train=50, seed=3)["train"]["id"]
    assert small != data.load_benchmark("svamp", n_train=50, seed=4)["train"]["id"]


def test_unknown_dataset_is_rejected():
    with pytest.raises(files.DataError, match="gsm8k"):
        data.load_benchmark("gsm8k")


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(files.DataError, match=r"rows\.jsonl\.gz:3: malformed JSON"):
        files.read_jsonl(path)


def test_corrupt_file_fails_its_checksum(tmp_path, root):
    copy = tmp_path / "raw"
    shutil.copytree(root / "data/raw/svamp", copy / "svamp")
    shutil.copy(root / "data/raw/SHA256SUMS", copy / "SHA256SUMS")
    (copy / "svamp" / "test.jsonl").write_text('{"tampered": true}\n')
    with pytest.raises(files.DataError, match="sha256"):
        data.load_benchmark("svamp", data_dir=copy)


def test_balanced_holdout_takes_classes_in_turn_and_keeps_order():
    rows = [{"id": i, "answer": "(a) x" if i < 30 else "(b) y"} for i in range(40)]
    picked = files.balanced_holdout(rows, 10, lambda r: r["answer"][:3])
    assert len(picked) == 10 and sum(r["answer"].startswith("(a)") for r in picked) == 5
    assert [r["id"] for r in picked] == sorted(r["id"] for r in picked)
    assert files.balanced_holdout(rows, 10, lambda r: r["answer"][:3]) == picked
    assert files.balanced_holdout(rows, None, lambda r: r["answer"]) == rows
