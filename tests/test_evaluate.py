import math

import pytest
import torch

from mm import answers, collate, config, distill, evaluate, selfeval, student
from mm.config import StudentConfig


def test_majority_vote_ties_go_to_the_answer_seen_first():
    assert answers.majority_vote(["7", "5", "5", "7"]) == "7"
    assert answers.majority_vote(["5", "7", "7", "5"]) == "5"


def test_majority_vote_ignores_unparseable_and_all_unparseable_gives_none():
    assert answers.majority_vote([None, None, "3"]) == "3"
    assert answers.majority_vote([None, None]) is None
    assert answers.majority_vote([]) is None


def test_weighted_vote_can_overturn_the_count():
    assert answers.majority_vote(["a", "a", "b"]) == "a"
    assert answers.majority_vote(["a", "a", "b"], [0.2, 0.2, 0.9]) == "b"
    with pytest.raises(ValueError, match="weights"):
        answers.majority_vote(["a"], [0.5, 0.5])


def test_vote_uses_the_first_k_samples_and_reports_support():
    record = {"answers": ["1", "2", "2", None, "1"], "p_correct": [0.9, 0.1, 0.1, 0.5, 0.9], "gold": "1"}
    assert selfeval.vote("svamp", record, 1) == ("1", 1.0)
    assert selfeval.vote("svamp", record, 3) == ("2", pytest.approx(2 / 3))
    winner, support = selfeval.vote("svamp", record, 3, weighted=True)
    assert winner == "1" and support == pytest.approx(0.9 / 1.1)
    table = selfeval.vote_table("svamp", [record], [1, 3, 5], weighted=False)
    assert table["accuracy"].tolist() == [1.0, 0.0, 1.0]  # k=5: '1' and '2' tie 2-2; '1', seen first, wins


def test_expected_calibration_error_by_hand():
    # bin (0.1, 0.2]: conf 0.2, 0.2 -> acc 0.5 ; bin (0.8, 0.9]: conf 0.9, 0.9 -> acc 1.0 ; bin (0.9, 1.0]: 1.0 -> 0
    confidence = [0.2, 0.2, 0.9, 0.9, 1.0]
    correct = [True, False, True, True, False]
    expected = 2 / 5 * abs(0.5 - 0.2) + 2 / 5 * abs(1.0 - 0.9) + 1 / 5 * abs(0.0 - 1.0)
    assert selfeval.expected_calibration_error(confidence, correct, n_bins=10) == pytest.approx(expected)
    assert selfeval.expected_calibration_error([1.0, 1.0], [True, True]) == 0.0


def test_brier_score_by_hand():
    assert selfeval.brier_score([0.8, 0.3], [True, False]) == pytest.approx((0.04 + 0.09) / 2)


def test_risk_coverage_ranks_by_confidence():
    curve, aurc = selfeval.risk_coverage([0.9, 0.1, 0.8, 0.2], [True, False, True, True])
    assert curve["accuracy"].tolist() == [1.0, 1.0, 1.0, 0.75]
    assert aurc == pytest.approx(0.25 / 4)


@pytest.mark.parametrize("kind, name", [("causal", "tiny-llama"), ("seq2seq", "t5-v1_1-tiny")])
def test_verdict_probability_and_sampling_on_a_tiny_student(kind, name):
    torch.manual_seed(0)
    texts = ["predict: what is 2 + 2? correct wrong explain: 2 + 2 = 4. The answer is (2 + 2)."] * 20
    tiny = student.build_student(StudentConfig(kind=kind, name=name, vocab_size=200), texts)
    p = evaluate.verdict_probability(tiny, ["what is 2 + 2?"] * 3, ["The answer is (2 + 2).", "x", "y"])
    assert len(p) == 3 and all(0 < v < 1 for v in p)
    rows = [{"id": "a", "question": "what is 2 + 2?", "answer": "4", "choices": []}]
    records = evaluate.sample_cots(tiny, "svamp", rows, k=3, temperature=1.0, max_new_tokens=6, score_verdicts=True)
    assert len(records[0]["cots"]) == 3 and len(records[0]["p_correct"]) == 3
    assert all(math.isfinite(v) for v in records[0]["p_correct"])


def test_longest_first_batches_cover_every_index_once_longest_first():
    batches = collate.longest_first_batches(["a", "abcd", "ab", "abc", "abcde"], 2)
    assert batches == [[4, 1], [3, 2], [0]]


def test_self_consistency_calibrates_on_valid_and_votes_on_test_only(monkeypatch, smoke_params):
    """Valid items here are all right at P(correct) 1 (ECE 0), test items all wrong at P 1 (ECE 1)."""
    params = config.load_params(smoke_params)

    def fake_sample_cots(best, dataset, rows, k, *args, score_verdicts=False, **kwargs):
        right = rows[0]["id"].startswith("v")
        return [{"id": r["id"], "gold": "1", "cots": ["c"] * k, "answers": ["1" if right else "2"] * k,
                 "correct": [right] * k, "p_correct": [1.0] * k} for r in rows]

    monkeypatch.setattr(evaluate, "sample_cots", fake_sample_cots)
    valid = [{"id": f"v{i}"} for i in range(3)]
    test = [{"id": f"t{i}"} for i in range(3)]
    metrics, samples = distill.self_consistency(None, "svamp", "mind_mirror", test, valid, params, seed=0)
    assert metrics["self_eval_ece_valid"] == 0 and metrics["self_eval_ece"] == 1
    assert metrics["self_eval_brier_valid"] == 0 and metrics["self_eval_brier"] == 1
    assert set(metrics["vote_accuracy"].values()) == {0.0}  # votes count test items only
    assert sorted({(r["split"], r["id"][0]) for r in samples}) == [("test", "t"), ("valid", "v")]
    metrics, samples = distill.self_consistency(None, "svamp", "step_by_step", test, valid, params, seed=0)
    assert {r["split"] for r in samples} == {"test"} and "self_eval_ece" not in metrics
