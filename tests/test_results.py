import json

import pandas as pd
import pytest

from mm import ablation_tables, class_tables, config, data, files, plots, report, results, selfeval_tables, stats, tasks


def _write_run(root, dataset, method, seed, accuracy, correct, sc=None, profile="smollm2"):
    path = root / "metrics" / "distill" / profile / "qwen0_5b" / dataset / method / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = {"dataset": dataset, "method": method, "seed": seed, "test_accuracy": accuracy,
               "student": "tiny", "teacher": "stub", "history": [{"step": 1}]}
    if sc:
        metrics["self_consistency"] = {"vote_accuracy": sc}
    path.write_text(json.dumps(metrics))
    files.write_jsonl(root / "predictions" / profile / "qwen0_5b" / dataset / method / f"seed{seed}.jsonl",
                     [{"id": f"i{i}", "predict_correct": c} for i, c in enumerate(correct)])


@pytest.fixture
def study(tmp_path):
    _write_run(tmp_path, "svamp", "mind_mirror", 0, 0.75, [True, True, True, False],
               {"majority@1": 0.5, "majority@3": 0.6, "weighted@1": 0.5, "weighted@3": 0.7})
    _write_run(tmp_path, "svamp", "mind_mirror", 1, 0.25, [True, False, False, False])
    _write_run(tmp_path, "svamp", "finetune_gold", 0, 0.5, [True, False, True, False])
    return tmp_path


def test_summary_table_reports_mean_std_and_seed_count(study):
    table = results.summary_table(results.load_metrics(study))
    assert table.loc["mind_mirror", "svamp"] == "50.0 ± 35.4 (2)"
    assert table.loc["finetune_gold", "svamp"] == "50.0 (1)"  # one seed: no spread to report


def test_paired_items_use_only_seeds_both_methods_have(study):
    by_seed = results.paired_items(study, "svamp", "mind_mirror", "finetune_gold")
    assert by_seed == {0: {"i0": (True, True), "i1": (True, False), "i2": (True, True), "i3": (False, False)}}
    folder = study / "predictions" / "smollm2" / "qwen0_5b" / "svamp"
    mine, theirs, items = results.paired_correctness(folder / "mind_mirror", folder / "finetune_gold")
    assert mine == [True, True, True, False] and theirs == [True, False, True, False]
    assert items == ["i0", "i1", "i2", "i3"]


def test_runs_of_a_superseded_budget_are_left_out_of_every_table(study, smoke_params):
    cap = config.load_run_params(smoke_params, "smollm2")[1].distill.epochs
    for method, seed, epochs_cap in (("mind_mirror", 0, cap), ("finetune_gold", 0, cap), ("mind_mirror", 1, cap + 1)):
        path = study / "metrics" / "distill" / "smollm2" / "qwen0_5b" / "svamp" / method / f"seed{seed}.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {"epochs_cap": epochs_cap}))
    _write_run(study, "svamp", "finetune_gold", 1, 0.0, [False] * 4)  # predates epoch budgets: no epochs_cap
    frame = results.load_metrics(study, params_file=smoke_params)
    assert sorted(zip(frame["method"], frame["seed"], strict=True)) == [("finetune_gold", 0), ("mind_mirror", 0)]
    assert frame.attrs["superseded"] == ["metrics/distill/smollm2/qwen0_5b/svamp/finetune_gold/seed1.json",
                                         "metrics/distill/smollm2/qwen0_5b/svamp/mind_mirror/seed1.json"]
    boot = results.bootstrap_table(frame, ["finetune_gold", "mind_mirror"], root=study)
    assert boot["test questions"].tolist() == [4]  # seed 0 only: seed 1's pair of runs is superseded
    assert len(results.load_metrics(study)) == 4  # without a params file every committed run counts


def test_compute_table_puts_each_methods_epochs_steps_tokens_and_minutes_beside_it(study):
    frame = results.load_metrics(study)
    assert results.compute_table(frame).empty  # runs that record no budget (an earlier profile): no table
    budgets = {"mind_mirror": [(2.5, True, 600), (5.0, False, 900)], "finetune_gold": [(3.0, True, 300)]}
    for method, runs in budgets.items():
        for seed, (epochs, stopped, seconds) in enumerate(runs):
            path = study / "metrics" / "distill" / "smollm2" / "qwen0_5b" / "svamp" / method / f"seed{seed}.json"
            metrics = json.loads(path.read_text())
            path.write_text(json.dumps({**metrics, "epochs_trained": epochs, "best_epoch": epochs - 1,
                                        "stopped_early": stopped, "steps": 10 * seed + 10, "tokens_seen": 2_000_000,
                                        "train_seconds": seconds}))
    table = results.compute_table(results.load_metrics(study)).set_index("method")
    mine = table.loc["mind_mirror"]
    assert (mine["seeds"], mine["epochs trained"], mine["best epoch"], mine["stopped early"]) == (2, 3.75, 2.75, "1/2")
    assert (mine["steps"], mine["tokens seen (M)"], mine["train min"]) == (15, 2.0, 12.5)
    assert table.loc["finetune_gold", "stopped early"] == "1/1"


def test_vote_frame_turns_self_consistency_columns_into_rows(study):
    votes = selfeval_tables.vote_frame(results.load_metrics(study))
    assert set(votes["vote"]) == {"majority", "weighted"} and sorted(set(votes["k"])) == [1, 3]
    assert votes.query("vote == 'weighted' and k == 3")["accuracy"].item() == 0.7


def test_report_is_regenerated(study):
    frame = results.load_metrics(study)
    reference = pd.DataFrame({"svamp": [26.0]}, index=["trivial"])
    boot = results.bootstrap_table(frame, ["finetune_gold", "mind_mirror"], root=study)
    assert boot["comparison"].tolist() == ["mind_mirror − finetune_gold"]  # the ordering's only pair, once
    text = report.report_markdown(frame, reference, boot, "context line", ["figures/a.png"])
    assert "context line" in text and "50.0 ± 35.4 (2)" in text and "![a](figures/a.png)" in text


def test_bootstrap_table_adds_the_papers_ordering_pair_by_pair_and_each_method_against_the_base(study):
    for method in ("step_by_step", "distill_label"):
        _write_run(study, "svamp", method, 0, 0.5, [True, False, True, False])
    boot = results.bootstrap_table(results.load_metrics(study), list(stats.PAPER_ORDER), root=study)
    assert boot["comparison"].tolist() == [
        "mind_mirror − step_by_step", "mind_mirror − distill_label", "mind_mirror − finetune_gold",
        "step_by_step − distill_label", "distill_label − finetune_gold", "step_by_step − finetune_gold"]
    same = boot.set_index("comparison").loc["step_by_step − distill_label"]
    assert (same["difference (points)"], same["paper's claim"]) == ("+0.0 [+0.0, +0.0]", "not resolved")


def test_one_operation_guess_takes_the_two_largest_numbers():
    assert tasks.one_operation_guess("Jack has 12 apples and 30 pears.\nHow many more pears than apples?") == 18
    assert tasks.one_operation_guess("There are 3 boxes with 8 pens each.\nHow many pens?") == 24
    assert tasks.one_operation_guess("No numbers here?") is None


def test_figures_render_from_result_frames(study, tmp_path):
    frame = results.load_metrics(study)
    baselines = pd.DataFrame([{"dataset": "svamp", "name": "trivial", "accuracy": 0.2}])
    plots.accuracy_by_method(frame, baselines, tmp_path / "a.png")
    plots.accuracy_vs_k(selfeval_tables.vote_frame(frame), tmp_path / "k.png")
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "k.png").stat().st_size > 0


def test_valid_curves_follow_each_runs_selected_stage_with_its_cap_and_best(study, tmp_path):
    path = study / "metrics" / "distill" / "smollm2" / "qwen0_5b" / "svamp" / "mind_mirror" / "seed0.json"
    history = [{"stage": "cot", "step": step, "epoch": step / 10, "valid_accuracy": accuracy}
               for step, accuracy in ((5, 0.2), (10, 0.4), (15, 0.3))]
    path.write_text(json.dumps({**json.loads(path.read_text()), "epochs_cap": 5, "best_epoch": 1.0,
                                "history": [{"stage": "self_eval", "step": 2, "epoch": 0.5, "valid_accuracy": 0.9},
                                            *history]}))
    curves = results.curve_frame(results.load_metrics(study), root=study)
    run = curves[(curves["method"] == "mind_mirror") & (curves["seed"] == 0)]
    assert run["epoch"].tolist() == [0.5, 1.0, 1.5] and run["valid_accuracy"].tolist() == [0.2, 0.4, 0.3]  # cot only
    assert run["best"].tolist() == [False, True, False] and set(run["epochs_cap"]) == {5}
    assert len(curves) == 3  # the other runs recorded no epochs
    plots.valid_curves(curves, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_ablation_axis_reads_the_swept_value_from_the_ablation_file():
    frame = pd.DataFrame([{"ablation": "cots1", "test_accuracy": 0.1}, {"ablation": "cots3", "test_accuracy": 0.2},
                          {"ablation": "alpha25", "test_accuracy": 0.3},
                          {"ablation": "reference", "test_accuracy": 0.4}])
    axis = ablation_tables.ablation_axis(frame, "n_cots", 5)
    assert axis.set_index("ablation")["n_cots"].to_dict() == {"cots1": 1, "cots3": 3, "reference": 5}


def test_ablation_frame_takes_the_default_run_of_the_same_seed_as_reference(study):
    assert ablation_tables.ablation_frame(study).empty  # no ablation run yet: no reference row either
    path = study / "metrics" / "distill" / "smollm2" / "qwen0_5b" / "svamp" / "cots1" / "seed0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"dataset": "svamp", "method": "mind_mirror", "seed": 0, "ablation": "cots1",
                                "test_accuracy": 0.3}))
    frame = ablation_tables.ablation_frame(study)
    assert frame.set_index("ablation")["test_accuracy"].to_dict() == {"cots1": 0.3, "reference": 0.75}
    axis = ablation_tables.ablation_axis(frame, "n_cots", 5)
    assert axis.set_index("ablation")["n_cots"].to_dict() == {"cots1": 1, "reference": 5}


def test_ablation_table_compares_each_ablation_with_the_default_run_of_its_method(study):
    _write_run(study, "svamp", "step_by_step", 0, 0.6, [True, True, False, False])
    for name, method, seed, accuracy in (("unfiltered_sbs", "step_by_step", 0, 0.4), ("cots1", "mind_mirror", 0, 0.3),
                                         ("cots1", "mind_mirror", 1, 0.5)):
        path = study / "metrics" / "distill" / "smollm2" / "qwen0_5b" / "svamp" / name / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"dataset": "svamp", "method": method, "seed": seed, "ablation": name,
                                    "test_accuracy": accuracy, "pairs_cot": 10 + seed, "wall_seconds": 60.0 * seed}))
    files.write_jsonl(study / "predictions" / "smollm2" / "qwen0_5b" / "svamp" / "cots1" / "seed0.jsonl",
                     [{"id": f"i{i}", "predict_correct": c, "explain_correct": c}
                      for i, c in enumerate([True, False, True, False])])
    table = ablation_tables.ablation_table(ablation_tables.ablation_frame(study), study)
    assert list(table.index) == ["reference", "reference:step_by_step", "cots1", "unfiltered_sbs"]  # file order
    assert table.loc["reference", "predict: %"] == "50.0 ± 35.4 (2)"  # default mind_mirror, seeds 0 and 1
    assert table.loc["reference:step_by_step", "predict: %"] == "60.0 (1)"
    assert table.loc["cots1", "changes"] == "distill.n_cots 1"  # evaluation-only overrides left out
    assert table.loc["unfiltered_sbs", "changes"] == "method step_by_step, distill.filter_incorrect false"
    # paired with the default mind_mirror run of the same seed only (seed 0: 3 of 4 right, here 2 of 4)
    assert table.loc["cots1", "Δ predict: (points)"].startswith("-25.0 [")
    assert table.loc["cots1", "Δ rationale (points)"] == ""  # the default run's predictions carry no explain head
    assert table.loc["unfiltered_sbs", "Δ predict: (points)"] == ""  # no predictions written: nothing to pair
    assert table.loc["cots1", "CoT pairs"] == 10  # mean over seeds 10 and 11, rounded to an int
    assert table.loc["cots1", "total min"] == 0.5 and table.loc["reference", "total min"] == ""  # not reported


def test_most_common_train_answer_counts_cqa_by_letter_and_svamp_adds_the_heuristic():
    train = [{"answer": "(a) pen"}, {"answer": "(a) desk"}, {"answer": "(b) pen"}]
    test = [{"answer": "(a) lamp"}, {"answer": "(c) pen"}]
    assert tasks.get("cqa").trivial_baselines(train, test) == {"most common train answer": 0.5}
    question = "Tom has 3 apples and Ann gives him 4. How many does he have now?"  # no keyword: 3 + 4
    svamp = tasks.get("svamp").trivial_baselines([{"answer": "7"}], [
        {"answer": "7", "question": question}, {"answer": "12", "question": question}])
    assert svamp == {"most common train answer": 0.5, "one operation on the two largest numbers": 0.5}


def test_self_evaluation_is_binned_per_split_and_abstention_uses_test_items(study):
    records = [{"id": "v0", "gold": "1", "answers": ["1", "2"], "correct": [True, False], "p_correct": [0.9, 0.2],
                "split": "valid"},
               {"id": "t0", "gold": "1", "answers": ["1", "1"], "correct": [True, True], "p_correct": [0.8, 0.7],
                "split": "test"},
               {"id": "t1", "gold": "3", "answers": ["2", "4"], "correct": [False, False], "p_correct": [0.6, 0.1]}]
    files.write_jsonl(study / "predictions" / "smollm2" / "qwen0_5b" / "svamp" / "mind_mirror" / "seed0.samples.jsonl",
                      records)
    bins, curves = selfeval_tables.self_eval_frames(results.load_metrics(study), study, n_bins=2)
    assert bins.groupby("split")["count"].sum().to_dict() == {"test": 4, "valid": 2}  # no split: a test item
    assert set(curves["coverage"]) == {0.5, 1.0}  # two test items per confidence source


def test_vote_gains_pair_each_vote_with_the_first_sample_and_the_weighted_with_the_plain(study):
    def item(i, answers, p_correct):
        return {"id": f"t{i}", "gold": "1", "answers": answers, "correct": [a == "1" for a in answers],
                "p_correct": p_correct, "split": "test"}

    # the first sample is wrong twice, the majority of three once; weighting picks the lone right answer once
    seed0 = [item(0, ["2", "1", "1"], [0.5, 0.5, 0.5]), item(1, ["1", "2", "2"], [0.9, 0.1, 0.1])]
    seed1 = [item(0, ["2", "1", "1"], [0.5, 0.5, 0.5]), item(1, ["1", "1", "1"], [0.5, 0.5, 0.5])]
    folder = study / "predictions" / "smollm2" / "qwen0_5b" / "svamp" / "mind_mirror"
    files.write_jsonl(folder / "seed0.samples.jsonl", seed0 + [item(9, ["2"] * 3, [0.1] * 3) | {"split": "valid"}])
    files.write_jsonl(folder / "seed1.samples.jsonl", seed1)
    gains = selfeval_tables.vote_gains(results.load_metrics(study), study).set_index("comparison")
    assert gains.loc["majority@3 − first sample", "difference (points)"].startswith("+25.0 ")  # 3/4 - 2/4
    assert gains.loc["weighted@3 − majority@3", "difference (points)"].startswith("+25.0 ")  # 4/4 - 3/4
    assert gains["test questions"].tolist() == [2, 2]  # t0 and t1, each under both seeds; valid left out
    assert gains["seeds"].tolist() == ["0, 1", "0, 1"] and set(gains["first better"]) == {"not resolved"}
    assert selfeval_tables.vote_gains(results.load_metrics(study).iloc[0:0], study).empty


def test_vote_gains_name_only_seeds_with_samples_and_vote_over_the_fewest_samples(study):
    folder = study / "predictions" / "smollm2" / "qwen0_5b" / "svamp" / "mind_mirror"
    records = [{"id": "t0", "gold": "1", "answers": ["2", "1", "1"], "correct": [False, True, True]},  # no P(correct)
               {"id": "t1", "gold": "1", "answers": ["1", "2"], "correct": [True, False]}]
    files.write_jsonl(folder / "seed1.samples.jsonl", records)  # seed 0 of the fixture has no samples file
    gains = selfeval_tables.vote_gains(results.load_metrics(study), study)
    assert gains["comparison"].tolist() == ["majority@2 − first sample"]  # nothing to weight
    assert gains["seeds"].tolist() == ["1"]


def test_calibration_table_averages_seeds_per_dataset(study):
    for seed, ece in ((0, 0.2), (1, 0.4)):
        path = study / "metrics" / "distill" / "smollm2" / "qwen0_5b" / "svamp" / "mind_mirror" / f"seed{seed}.json"
        metrics = json.loads(path.read_text())
        metrics["self_consistency"] = {"self_eval_ece": ece, "self_eval_ece_valid": ece / 2, "n_items": 3}
        path.write_text(json.dumps(metrics))
    table = selfeval_tables.calibration_table(results.load_metrics(study))
    assert table.loc["svamp"].to_dict() == {"ECE valid": 0.15, "ECE test": 0.3, "seeds": 2}
    assert "| svamp | 0.15 | 0.3 | 2 |" in report.to_markdown(table)  # seeds stay an integer


def test_paper_comparison_describes_the_runs_from_their_params_and_metrics(smoke_params):
    params = config.load_params(smoke_params)
    frame = pd.DataFrame([
        {"dataset": "svamp", "method": "finetune_gold", "seed": 0, "teacher": "gold labels", "n_test": 6,
         "n_train_questions": 12, "bf16": False},
        {"dataset": "svamp", "method": "mind_mirror", "seed": 1, "teacher": "palm", "n_test": 6,
         "n_train_questions": 12, "bf16": True},
        {"dataset": "cqa", "method": "mind_mirror", "seed": 0, "teacher": "palm", "n_test": 5, "n_train_questions": 9,
         "bf16": False}])
    ours = report.paper_comparison(smoke_params, frame)["these runs"]
    assert ours["teacher"].startswith("palm, ")  # gold labels are not a teacher
    assert ours["train questions"] == "cqa 9, svamp 12" and ours["test items"] == "cqa 5, svamp 6"
    assert ours["seeds"] == "cqa 0; svamp 0, 1"
    assert ours["precision"] == "cqa fp32 1 run (seed 0); svamp fp32 1 run (seed 0), bf16 autocast 1 run (seed 1)"
    plural = pd.concat([frame, frame.iloc[[0]].assign(seed=2)])
    assert report.paper_comparison(smoke_params, plural)["these runs"]["precision"].startswith(
        "cqa fp32 1 run (seed 0); svamp fp32 2 runs (seeds 0, 2)")
    mixed = frame.assign(seed=0)
    assert report.paper_comparison(smoke_params, mixed)["these runs"]["precision"].endswith("seed 0 mixes both")
    assert ours["student"] == f"{params.student.name} ({params.student.kind})"
    two = pd.concat([frame.assign(profile="smollm2"), frame.assign(profile="qwen_lora")])
    lora = params.students["qwen_lora"]
    assert report.paper_comparison(smoke_params, two)["these runs"]["student"] == (
        f"{lora['student']['name']} (causal, LoRA r={lora['student']['lora_r']}) (profile qwen_lora, lr "
        f"{lora['distill']['lr']:g}); {params.student.name} ({params.student.kind}) (profile smollm2, lr "
        f"{params.distill.lr:g})")
    budgets = two.assign(epochs_cap=5.0, epochs_trained=[2.5, 3.0, 4.0, 2.25, 2.5, 5.0])
    training = report.paper_comparison(smoke_params, budgets)["these runs"]["training"]
    qwen, smollm2 = training.split("(profile qwen_lora)")  # each profile its own schedule
    lr = config.load_run_params(smoke_params, "qwen_lora")[1].distill.lr
    assert f"lr {lr:g}" in qwen and "2.25-5 epochs trained" in qwen
    assert "2.5-4 epochs trained" in smollm2 and smollm2.endswith("(profile smollm2)")
    assert ours["CoTs kept"] == ("only those whose answer is right" if params.distill.filter_incorrect
                                 else "all, right or wrong")
    assert ours["checkpoint selection"] != report.PAPER_RECIPE["checkpoint selection"]  # never the test set


def test_a_second_student_profile_gets_its_own_columns(study):
    _write_run(study, "svamp", "mind_mirror", 0, 0.5, [True, False], profile="qwen_lora")
    table = results.summary_table(results.load_metrics(study))
    assert list(table.columns) == ["svamp", "svamp · qwen_lora"]
    assert table.loc["mind_mirror", "svamp · qwen_lora"] == "50.0 (1)"


def test_class_tables_count_each_methods_targets_and_test_answers_by_class(smoke_params, tmp_path):
    rows = [{"id": f"q{i}", "question": f"Premise {i}", "answer": gold}
            for i, gold in enumerate(["contradiction", "neutral", "entailment"])]
    said = {"q0": ["contradiction"] * 3, "q1": ["contradiction", "contradiction", "neutral"], "q2": ["entailment"]}
    cots = [{"id": qid, "k": k, "text": f"So the answer is {answer}.", "answer": answer, "parsed": True,
             "correct": answer == rows[int(qid[1])]["answer"]} for qid, answers in said.items()
            for k, answer in enumerate(answers)]
    targets = class_tables.target_classes("anli1", rows, cots, config.load_params(smoke_params).distill, config.METHODS)
    files.write_jsonl(tmp_path / "seed0.jsonl", [{"id": "t0", "gold": "neutral", "predict_answer": "entailment"},
                                                 {"id": "t1", "gold": "entailment", "predict_answer": None}])
    predicted, gold = class_tables.predicted_classes(tmp_path, "anli1")
    table = class_tables.class_table({**targets, "step_by_step: predicts on test": predicted, "gold on test": gold})
    assert list(table.columns) == ["contradiction", "entailment", "neutral", "none", "n"]
    assert table["n"].tolist() == [3, 2, 3, 5, 2, 2]
    classes = table.drop(columns=["none", "n"])
    assert classes.loc["finetune_gold"].tolist() == ["1 (33%)"] * 3
    assert classes.loc["distill_label"].tolist() == ["1 (50%)", "1 (50%)", "0 (0%)"]  # q1's majority is wrong: dropped
    assert classes.loc["step_by_step"].tolist() == ["1 (33%)"] * 3  # each question's first right CoT
    assert classes.loc["mind_mirror"].tolist() == ["3 (60%)", "1 (20%)", "1 (20%)"]  # every right CoT
    assert table.loc["step_by_step: predicts on test", "none"] == "1 (50%)"  # an unparsed answer is counted, not lost
    assert table.loc["gold on test", "neutral"] == "1 (50%)"


def test_class_tables_put_gold_first_and_each_methods_targets_beside_its_test_answers(smoke_params, tmp_path):
    params = config.load_params(smoke_params)
    train = list(data.load_from_config("anli1", params.data)["train"])[:4]
    cots = [{"id": row["id"], "k": 0, "text": f"So the answer is {row['answer']}.", "answer": row["answer"],
             "parsed": True, "correct": True} for row in train]
    files.write_jsonl(tmp_path / "data" / "teacher" / "qwen0_5b" / "anli1" / "cots.jsonl", cots)
    files.write_jsonl(tmp_path / "predictions" / "qwen_lora" / "qwen0_5b" / "anli1" / "step_by_step" / "seed0.jsonl",
                      [{"id": "t0", "gold": "neutral", "predict_answer": "neutral"}])
    tables = class_tables.class_tables(smoke_params, root=tmp_path)  # params.yaml's arms: qwen_lora learns ANLI
    assert list(tables) == ["anli1 · qwen_lora"]  # cqa has no teacher output here; svamp's answers are numbers
    table = tables["anli1 · qwen_lora"]
    assert list(table.index) == ["gold on test", "finetune_gold: trained on", "distill_label: trained on",
                                           "step_by_step: trained on", "step_by_step: predicts on test",
                                           "mind_mirror: trained on"]
    assert table.loc["finetune_gold: trained on", "n"] == 4


def test_unanswered_rationales_count_rationales_with_no_parsed_answer_and_reach_the_report(study):
    records = [{"id": "i0", "predict_correct": True, "explain_output": "x. The answer is 3", "explain_answer": "3"},
               {"id": "i1", "predict_correct": False, "explain_output": "The premise states", "explain_answer": None},
               {"id": "i2", "predict_correct": False}]  # no rationale generated for this item: not counted
    files.write_jsonl(study / "predictions" / "smollm2" / "qwen0_5b" / "svamp" / "mind_mirror" / "seed0.jsonl", records)
    frame = results.load_metrics(study)
    frame["explain_unanswered"] = results.unanswered_rationales(frame, study)
    by_run = frame.set_index(["method", "seed"])["explain_unanswered"]
    assert by_run[("mind_mirror", 0)] == 0.5
    assert pd.isna(by_run[("mind_mirror", 1)])  # that run generated no rationales
    text = report.report_markdown(frame, pd.DataFrame(), pd.DataFrame(), "context", [])
    assert "no answer the task can parse" in text and "| mind_mirror | 50.0 (1) |" in text


def _width(cell: str) -> float:
    """The width of a '+d [low, high]' cell, in points."""
    low, high = cell.split("[")[1].rstrip("]").split(", ")
    return float(high) - float(low)


def test_bootstrap_table_resamples_seeds_and_keeps_the_question_only_interval_beside(study):
    one_seed = results.bootstrap_table(results.load_metrics(study), ["finetune_gold", "mind_mirror"], root=study)
    row = one_seed.iloc[0]  # finetune_gold has seed 0 only: nothing to resample but questions
    assert (row["seeds"], row["resamples"]) == ("0", "questions")
    assert row["difference (points)"] == row["difference, questions only (points)"]
    _write_run(study, "svamp", "finetune_gold", 1, 0.75, [True, True, True, False])  # seed 1: −50 points, seed 0: +25
    row = results.bootstrap_table(results.load_metrics(study), ["finetune_gold", "mind_mirror"], root=study).iloc[0]
    assert (row["seeds"], row["test questions"], row["resamples"]) == ("0, 1", 4, "seeds × questions")
    assert row["difference (points)"].startswith("-12.5 [") and row["paper's claim"] == "not resolved"
    assert _width(row["difference (points)"]) > _width(row["difference, questions only (points)"])
    assert row["MDD (points)"] > 0


def test_prediction_shares_flag_a_run_that_answers_one_class(study):
    gold = ["entailment", "neutral", "contradiction", "neutral"] * 5
    answers = {("distill_label", 0): ["entailment"] * 20, ("distill_label", 1): ["entailment"] * 17 + [None] * 3,
               ("mind_mirror", 0): gold}
    for (method, seed), said in answers.items():
        _write_run(study, "anli1", method, seed, 0.25, [])
        folder = study / "predictions" / "smollm2" / "qwen0_5b" / "anli1" / method
        files.write_jsonl(folder / f"seed{seed}.jsonl", [{"id": f"t{i}", "gold": g, "predict_answer": a}
                                                         for i, (g, a) in enumerate(zip(gold, said, strict=True))])
    shares = class_tables.prediction_shares(results.load_metrics(study), study).set_index(["method", "seed"])
    assert list(shares["setting"].unique()) == ["anli1"]  # svamp's answers are numbers, not classes
    assert shares["one_class"].to_dict() == {("distill_label", 0): True, ("distill_label", 1): False,  # 17 of 20
                                             ("mind_mirror", 0): False}  # shares of all answers, unparsed ones too
    assert shares.loc[("distill_label", 0), ["contradiction", "entailment", "neutral"]].tolist() == [0.0, 1.0, 0.0]
    assert shares.loc[("distill_label", 1), "none"] == 0.15 and shares.loc[("mind_mirror", 0), "neutral"] == 0.5
    assert class_tables.prediction_shares(results.load_metrics(study), study, threshold=0.85)["one_class"].sum() == 2
    assert "| distill_label | 0 | 20 | entailment | **yes** | 0% | 100% | 0% |" in report.class_shares_section(
        shares.reset_index())


def test_compute_table_names_the_runs_the_cap_stopped_while_still_improving(study):
    _write_run(study, "svamp", "finetune_gold", 1, 0.5, [True] * 4)
    runs = {("mind_mirror", 0): (5.0, 4.6, False), ("mind_mirror", 1): (5.0, 3.5, False),  # flat over its last epoch
            ("finetune_gold", 0): (4.5, 4.2, True), ("finetune_gold", 1): (5.0, 4.0, False)}  # 4.0: not after 4
    for (method, seed), (trained, best, stopped) in runs.items():
        path = study / "metrics" / "distill" / "smollm2" / "qwen0_5b" / "svamp" / method / f"seed{seed}.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {
            "epochs_cap": 5, "epochs_trained": trained, "best_epoch": best, "stopped_early": stopped, "steps": 10,
            "tokens_seen": 1000, "train_seconds": 60}))
    frame = results.load_metrics(study)
    flagged = results.capped_while_improving(frame)
    assert sorted(zip(frame.loc[flagged, "method"], frame.loc[flagged, "seed"], strict=True)) == [("mind_mirror", 0)]
    table = results.compute_table(frame).set_index("method")["capped, still improving"]
    assert table.to_dict() == {"finetune_gold": "0/2", "mind_mirror": "1/2: seed 0"}
    assert not results.capped_while_improving(frame.drop(columns="epochs_cap")).any()  # no cap recorded: no flag


def test_the_whole_report_says_what_it_was_made_from_and_holds_every_table(study, smoke_params):
    frame = results.load_metrics(study)
    frame["n_test"] = 4
    frame.attrs["superseded"] = ["metrics/distill/old.json"]
    ablations = pd.DataFrame({"changes": ["distill.n_cots 1"]}, index=pd.Index(["cots1"], name="ablation"))
    text = report.results_markdown(frame, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), ablations, [], smoke_params)
    assert text.startswith("Regenerated by `notebooks/90_figures.ipynb`") and text.endswith("\n")
    assert "seeds [0, 1]" in text and "1 committed runs of an earlier budget left out" in text
    assert "**Test accuracy (%)" in text and "**Ablations:" in text and "| cots1 | distill.n_cots 1 |" in text
