import numpy as np
import pandas as pd
import pytest

from mm import stats


def test_paired_bootstrap_interval_contains_the_difference_and_is_seeded():
    a, b = [True] * 30 + [False] * 10, [True] * 20 + [False] * 20
    ci = stats.paired_bootstrap(a, b)
    assert ci["diff"] == pytest.approx(0.25) and ci["low"] < 0.25 < ci["high"]
    assert ci == stats.paired_bootstrap(a, b)
    assert stats.paired_bootstrap([True] * 5, [True] * 5) == {"diff": 0.0, "low": 0.0, "high": 0.0, "n": 5}
    with pytest.raises(ValueError):
        stats.paired_bootstrap([True], [True, False])


def test_paired_bootstrap_resamples_whole_questions_across_seeds():
    a, b = [True] * 6 + [False] * 4, [True] * 3 + [False] * 7
    three_seeds = stats.paired_bootstrap(a * 3, b * 3, groups=[f"q{i}" for i in range(10)] * 3)
    once = stats.paired_bootstrap(a, b)
    assert three_seeds["n"] == once["n"] == 10  # three copies of a question are one draw
    assert three_seeds == pytest.approx(once)
    assert stats.paired_bootstrap(a * 3, b * 3)["high"] - stats.paired_bootstrap(a * 3, b * 3)["low"] < (
        once["high"] - once["low"])  # as independent items, the copies would narrow the interval


def test_claim_verdict_needs_an_interval_clear_of_zero():
    better, worse = [True] * 40 + [False] * 10, [True] * 10 + [False] * 40
    assert stats.claim_verdict(stats.paired_bootstrap(better, worse)) == "holds"
    assert stats.claim_verdict(stats.paired_bootstrap(worse, better)) == "reversed"
    assert stats.claim_verdict(stats.paired_bootstrap(better[:4], [True, False, True, True])) == "not resolved"



def _disagreeing_seeds():
    """Three seeds over 40 questions: first beats second by 50 points under seed 0, loses by 30 under seed 1, wins
    by 10 under seed 2."""
    first = [[True] * 30 + [False] * 10, [True] * 10 + [False] * 30, [True] * 20 + [False] * 20]
    second = [[True] * 10 + [False] * 30, [True] * 22 + [False] * 18, [True] * 16 + [False] * 24]
    return first, second


def test_hierarchical_bootstrap_is_wider_than_the_question_bootstrap_when_seeds_disagree():
    first, second = _disagreeing_seeds()
    ci = stats.hierarchical_bootstrap(first, second)
    questions = [f"q{i}" for i in range(40)] * 3
    questions_only = stats.paired_bootstrap(sum(first, []), sum(second, []), groups=questions)
    assert ci["diff"] == pytest.approx(questions_only["diff"]) == pytest.approx((0.5 - 0.3 + 0.1) / 3)
    assert (ci["seeds"], ci["n"], ci["resamples"]) == (3, 40, "seeds × questions")
    assert ci["high"] - ci["low"] > 1.5 * (questions_only["high"] - questions_only["low"])
    assert ci == stats.hierarchical_bootstrap(first, second)  # seeded


def test_hierarchical_bootstrap_of_one_seed_is_the_question_bootstrap():
    a, b = [True] * 30 + [False] * 10, [True] * 20 + [False] * 20
    ci = stats.hierarchical_bootstrap([a], [b])
    questions_only = stats.paired_bootstrap(a, b)
    assert ci["resamples"] == "questions" and ci["seeds"] == 1 and ci["n"] == questions_only["n"] == 40
    keys = ("diff", "low", "high")
    assert [ci[k] for k in keys] == pytest.approx([questions_only[k] for k in keys])
    with pytest.raises(ValueError):
        stats.hierarchical_bootstrap([a], [b[:-1]])
    with pytest.raises(ValueError):
        stats.hierarchical_bootstrap(a, b)  # not seeds × questions


def test_minimum_detectable_difference_shrinks_as_questions_grow():
    first, second = _disagreeing_seeds()
    few = stats.hierarchical_bootstrap(first, second)
    many = stats.hierarchical_bootstrap(np.tile(first, 4), np.tile(second, 4))  # each seed's accuracy unchanged
    assert many["n"] == 160 and many["diff"] == pytest.approx(few["diff"])
    assert many["mdd"] < few["mdd"]
    assert few["mdd"] == pytest.approx(stats.minimum_detectable_difference(few["se"]))
    assert stats.minimum_detectable_difference(1.0) == pytest.approx(1.959964 + 0.841621, abs=1e-5)


def test_seed_matrices_align_seeds_on_the_questions_all_of_them_scored():
    by_seed = {1: {"q2": (True, False), "q1": (False, False), "q9": (True, True)},
               0: {"q1": (True, True), "q2": (False, True)}, 2: {}}
    first, second = stats.seed_matrices(by_seed)
    assert first.tolist() == [[1, 0], [0, 1]] and second.tolist() == [[1, 1], [0, 0]]  # seeds 0, 1; q1, q2
    mine, theirs, questions = stats.pooled_pairs(by_seed)
    assert questions == ["q2", "q1", "q9", "q1", "q2"] and mine[:2] == [True, False] and theirs[-1] is True


def test_percent_and_mean_cells_summarise_seeds():
    assert stats.percent_cell(pd.Series([0.25, 0.75, None])) == "50.0 ± 35.4 (2)"
    assert stats.percent_cell(pd.Series([0.5])) == "50.0 (1)" and stats.percent_cell(pd.Series([], dtype=float)) == ""
    runs = pd.DataFrame({"steps": [10, 21]})
    assert stats.mean_cell(runs, "steps", digits=0) == 16 and stats.mean_cell(runs, "missing") == ""


def test_each_control_is_compared_with_what_it_isolates_when_both_ran():
    pairs = stats.comparison_pairs(["finetune_gold", "mind_mirror", "no_self_eval", "finetune_gold_matched"])
    assert pairs[0] == ("mind_mirror", "finetune_gold")  # the paper's methods first
    assert ("mind_mirror", "no_self_eval") in pairs and ("mind_mirror", "finetune_gold_matched") in pairs
    assert ("step_by_step", "finetune_gold_matched") not in pairs  # step_by_step did not run
    assert not any("no_self_eval" == first for first, _ in pairs)
