import dataclasses
import json
import shutil
import subprocess
import sys

import pytest
import safetensors.torch
import torch

from mm import collate, config, data, decode, distill, files, methods, runs, student, train
from mm.config import DistillConfig, StudentConfig

TINY = {"seq2seq": StudentConfig(kind="seq2seq", name="t5-v1_1-tiny", vocab_size=300),
        "causal": StudentConfig(kind="causal", name="tiny-llama", vocab_size=300)}
TEXTS = [f"predict: question {i} has {i * 7} apples. explain: because {i} + {i} = {2 * i}" for i in range(60)]


def _rows():
    return [{"id": f"q{i}", "question": f"What is {i} + 1?", "answer": str(i + 1), "choices": [],
             "Equation": f"( {i}.0 + 1.0 )"} for i in range(4)]


def _cot(qid, k, answer, correct, parsed=True):
    return {"id": qid, "k": k, "text": f"Think {k}. The answer is ({answer}).", "answer": answer if parsed else None,
            "parsed": parsed, "correct": correct, "teacher": "test:stub"}


COTS = [_cot("q0", 0, "9", False), _cot("q0", 1, "1", True), _cot("q0", 2, "1", True),
        _cot("q1", 0, "2", True), _cot("q1", 1, "7", False), _cot("q2", 0, "x", False, parsed=False)]
EVALS = [{"id": c["id"], "k": c["k"], "j": 0, "text": f"Check. Evaluation result: the given answer is "
          f"{'correct' if c['correct'] else 'wrong'}.", "verdict": "correct" if c["correct"] else "wrong"}
         for c in COTS]


def test_filtering_keeps_only_right_parsed_cots():
    every = DistillConfig(self_eval_pairs_per_question=None)
    stages = methods.build_stages("mind_mirror", "svamp", _rows(), COTS, EVALS, every)
    assert [s.name for s in stages] == ["self_eval", "cot"]
    assert len(stages[1].pairs) == 3 and {p.id for p in stages[1].pairs} == {"q0", "q1"}
    assert len(stages[0].pairs) == 6  # self-evaluation learns from wrong and unparseable CoTs too
    per_question = methods.build_stages("mind_mirror", "svamp", _rows(), COTS, EVALS, DistillConfig())[0].pairs
    assert len(per_question) == 5 and {p.answer for p in per_question} == {"correct", "wrong"}  # q0 keeps 2 of 3
    assert {p.answer for p in stages[0].pairs} == {"correct", "wrong"}
    unfiltered = methods.build_stages("mind_mirror", "svamp", _rows(), COTS, EVALS,
                                      DistillConfig(filter_incorrect=False))
    assert len(unfiltered[1].pairs) == 5


def test_step_by_step_takes_one_cot_per_question_the_first_right_one():
    (stage,) = methods.build_stages("step_by_step", "svamp", _rows(), COTS, EVALS, DistillConfig())
    by_id = {p.id: p for p in stage.pairs}
    assert set(by_id) == {"q0", "q1"} and by_id["q0"].rationale.startswith("Think 1.")
    assert by_id["q0"].answer == "1" and stage.alpha == 0.5


def test_distill_label_uses_the_majority_and_finetune_gold_the_equation():
    (labels,) = methods.build_stages("distill_label", "svamp", _rows(), COTS, EVALS, DistillConfig())
    assert {p.id: p.answer for p in labels.pairs} == {"q0": "1", "q1": "2"}  # q1 tie: first seen wins
    (gold,) = methods.build_stages("finetune_gold", "svamp", _rows(), COTS, EVALS, DistillConfig())
    assert gold.pairs[3].answer == "3 + 1" and gold.alpha == 1.0 and gold.pairs[0].rationale is None


def test_data_matched_gold_fine_tuning_trains_on_the_questions_the_cot_methods_keep():
    (matched,) = methods.build_stages("finetune_gold", "svamp", _rows(), COTS, EVALS,
                                      DistillConfig(match_cot_questions=True))
    (cot_stage,) = methods.build_stages("step_by_step", "svamp", _rows(), COTS, EVALS, DistillConfig())
    assert {p.id for p in matched.pairs} == {p.id for p in cot_stage.pairs} == {"q0", "q1"}  # not q2, q3
    assert [p.answer for p in matched.pairs] == ["0 + 1", "1 + 1"]  # still gold targets


def test_verdict_only_self_evaluation_targets_hold_the_cots_answer_and_verdict_only():
    cfg = DistillConfig(self_eval_pairs_per_question=None, self_eval_targets="verdict_only")
    (stage, _) = methods.build_stages("mind_mirror", "svamp", _rows(), COTS, EVALS, cfg)
    wrong = next(p for p in stage.pairs if p.id == "q0" and p.answer == "wrong")
    assert wrong.rationale == "The given solution reaches the answer 9. Evaluation result: the given answer is wrong."
    assert all("Check." not in p.rationale for p in stage.pairs)  # nothing of the teacher stage's texts
    assert [p.answer for p in stage.pairs] == [e["verdict"] for e in EVALS]  # the same verdicts


def test_no_usable_teacher_output_is_an_error_naming_the_method():
    bad = [_cot("q0", 0, "9", False)]
    with pytest.raises(methods.MethodError, match="step_by_step"):
        methods.build_stages("step_by_step", "svamp", _rows(), bad, [], DistillConfig())


def _batch(kind):
    built = student.build_student(TINY[kind], TEXTS)
    pairs = [methods.Pair("a", "question 3 has 21 apples", "21", "because 3 times 7 is 21"),
             methods.Pair("b", "question 5", "5", "because 5")]
    return built, train.collate(pairs, built.tokenizer, kind, TINY[kind], alpha=0.5)


@pytest.mark.parametrize("kind", ["seq2seq", "causal"])
def test_alpha_one_and_zero_reduce_to_single_task_losses(kind):
    torch.manual_seed(0)
    built, batch = _batch(kind)
    model = built.model.eval()
    with torch.no_grad():
        predict, explain = model(**batch["predict"]).loss, model(**batch["explain"]).loss
        causal = kind == "causal"  # the loss on trimmed causal logits must equal the model's own loss
        assert torch.allclose(train.multitask_loss(model, batch, 1.0, causal), predict)
        assert torch.allclose(train.multitask_loss(model, batch, 0.0, causal), explain)
        assert torch.allclose(train.multitask_loss(model, batch, 0.25, causal), 0.25 * predict + 0.75 * explain)
        assert torch.allclose(train.multitask_loss(model, {"predict": batch["predict"]}, 1.0, causal), predict)


def test_causal_target_logits_are_the_full_logits_at_the_labelled_positions():
    torch.manual_seed(0)
    built = student.build_student(TINY["causal"], TEXTS)
    model = built.model.eval()
    batch = collate.encode_batch(built.tokenizer, "causal", ["predict: a much longer question here\nAnswer:",
                                                             "predict: q\nAnswer:"], [" 21", " 5 apples"], 64, 16)
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        logits, labels = collate.target_logits(model, batch, causal=True)
    assert logits.shape[1] < full.shape[1]  # the prompt shared by every row is skipped
    offset = full.shape[1] - logits.shape[1]
    assert torch.equal(labels, batch["labels"][:, 1 + offset :])
    kept = labels != collate.IGNORE
    assert kept.sum() == (batch["labels"] != collate.IGNORE).sum()
    assert torch.allclose(logits[kept], full[:, offset:][kept], atol=1e-5)


def test_causal_labels_cover_only_target_and_eos_even_when_pad_is_eos():
    built = student.build_student(TINY["causal"], TEXTS)
    tok = built.tokenizer
    tok.pad_token = tok.eos_token  # SmolLM2's situation: pad == eos
    enc = collate.encode_batch(tok, "causal", ["predict: long question here\nAnswer:", "predict: q\nAnswer:"],
                               [" 21", " 5"], 64, 16)
    for ids, labels, mask in zip(enc["input_ids"], enc["labels"], enc["attention_mask"], strict=True):
        n_prompt = len(tok(["predict: long question here\nAnswer:", "predict: q\nAnswer:"][0 if mask.sum() ==
                           enc["attention_mask"][0].sum() else 1], add_special_tokens=False)["input_ids"])
        kept = labels[labels != collate.IGNORE].tolist()
        assert (labels[:n_prompt] == collate.IGNORE).all()
        assert kept[-1] == tok.eos_token_id and kept == ids[n_prompt : int(mask.sum())].tolist()
        assert (labels[mask == 0] == collate.IGNORE).all()


PACKED_PAIRS = [methods.Pair("a", "question 3 has 21 apples", "21", "because 3 times 7 is 21"),
                methods.Pair("b", "question 5", "5", "because 5"),
                methods.Pair("a", "question 3 has 21 apples", "21", "seven threes make 21, then nothing more"),
                methods.Pair("a", "question 3 has 21 apples", "3 * 7", "21 apples")]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_cots_get_the_loss_and_gradients_of_one_row_each(attention):
    torch.manual_seed(0)
    built = student.build_student(TINY["causal"], TEXTS)
    built.model.config._attn_implementation = attention
    args = (built.tokenizer, "causal", TINY["causal"], 0.5)
    packed, plain = train.collate(PACKED_PAIRS, *args, packed=True), train.collate(PACKED_PAIRS, *args)
    assert packed["explain"]["input_ids"].shape[0] == 2 and plain["explain"]["input_ids"].shape[0] == 4
    assert packed["explain"]["attention_mask"].sum() < plain["explain"]["attention_mask"].sum()  # one copy of "a"
    grads = []
    for batch in (packed, plain):
        built.model.zero_grad()
        loss = train.multitask_loss(built.model, batch, 0.5, causal=True)
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in built.model.parameters()]))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
    for packed_grad, plain_grad in zip(grads[0][1], grads[1][1], strict=True):
        assert torch.allclose(packed_grad, plain_grad, atol=1e-5)


def test_block_attention_lets_a_cot_see_its_question_and_itself_only():
    segments = torch.tensor([[0, 0, 1, 1, 2, 2, -1]])
    allowed = collate.block_attention(segments, boolean=True, dtype=torch.float32)[0, 0]
    assert allowed[3].tolist() == [True, True, True, True, False, False, False]
    assert allowed[5].tolist() == [True, True, False, False, True, True, False]  # not the first CoT
    assert allowed[6].tolist() == [True, True] + [False] * 4 + [True]  # pad: never an empty softmax row
    additive = collate.block_attention(segments, boolean=False, dtype=torch.float32)[0, 0]
    assert torch.equal(additive == 0, allowed)


def test_packed_batches_keep_a_questions_pairs_together_and_the_epoch_length():
    pairs = [methods.Pair(f"q{i % 5}", f"question {i % 5}", "1", f"cot {i}") for i in range(17)]
    cfg = DistillConfig(batch_size=4)
    stage = methods.stage("cot", pairs, 2, 0.5, True, cfg)
    assert train.packs(stage, cfg, "causal") and not train.packs(stage, cfg, "seq2seq")
    assert not train.packs(stage, dataclasses.replace(cfg, pack_cots=False), "causal")
    batches = train.stage_batches(stage, cfg, seed=0, packed=True)
    assert len(batches) == stage.steps == 10 and all(len(b) <= 4 for b in batches)
    epoch = sorted(i for batch in batches[:5] for i in batch)
    assert epoch == list(range(17))  # one pass over every pair
    questions_per_batch = [len({pairs[i].question for i in b}) for b in batches]
    assert sum(questions_per_batch) < sum(len(b) for b in batches)
    one_each = methods.stage("answer", pairs[:5], 2, 1.0, True, cfg)
    assert not train.packs(one_each, cfg, "causal")
    assert train.stage_batches(one_each, cfg, 0, packed=True) == train.stage_batches(one_each, cfg, 0)


def _fit(kind, out_dir, steps=2, validate=None, seed=0, patience=100, lora_r=0, min_epochs=0.0):
    torch.manual_seed(seed)
    student_cfg = dataclasses.replace(TINY[kind], lora_r=lora_r)
    built = student.build_student(student_cfg, TEXTS)
    pairs = [methods.Pair(f"q{i}", f"question {i}", str(i), f"because {i}") for i in range(8)]
    cfg = DistillConfig(epochs=steps / 4, batch_size=2, evals_per_epoch=4, patience=patience, save_every=2, bf16=False,
                        lr=1e-3, min_epochs=min_epochs)
    stage = methods.stage("cot", pairs, cfg.epochs, 0.5, True, cfg)
    assert stage.steps == steps and stage.steps_per_epoch == 4
    before = {k: v.clone() for k, v in built.model.state_dict().items()}
    result = train.fit(built, [stage], cfg, student_cfg, out_dir, validate or (lambda s: 0.5), seed, run_key="t")
    return built, before, result


@pytest.mark.parametrize("kind", ["seq2seq", "causal"])
def test_two_training_steps_change_weights_and_survive_save_load(kind, tmp_path):
    built, before, result = _fit(kind, tmp_path)
    after = built.model.state_dict()
    assert result["steps"] == 2 and any(not torch.equal(before[k], after[k]) for k in before)
    built.save(tmp_path / "saved")
    loaded = student.load_student(tmp_path / "saved", kind)
    enc = built.tokenizer(["question 1"], return_tensors="pt")
    extra = {"decoder_input_ids": torch.zeros((1, 1), dtype=torch.long)} if kind == "seq2seq" else {}
    with torch.no_grad():
        assert torch.allclose(built.model.eval()(**enc, **extra).logits, loaded.model.eval()(**enc, **extra).logits,
                              atol=1e-5)
    assert (tmp_path / train.BEST / "config.json").exists()


def test_training_runs_without_dvclive(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dvclive", None)  # a bare GPU box: `import dvclive` raises ImportError
    _, _, result = _fit("causal", tmp_path)
    assert result["steps"] == 2 and len(result["history"]) == 2 and not (tmp_path / "dvclive").exists()


def _scores(*values):
    """A validate function returning values in turn; KeyboardInterrupt (a crash) once they run out."""
    remaining = list(values)

    def validate(_):
        if not remaining:
            raise KeyboardInterrupt
        return remaining.pop(0)
    return validate


@pytest.mark.parametrize("lora_r", [0, 4])
def test_resume_after_interruption_continues_from_the_checkpoint(tmp_path, lora_r):
    reference, _, _ = _fit("causal", tmp_path / "reference", steps=4, lora_r=lora_r)
    with pytest.raises(KeyboardInterrupt):
        _fit("causal", tmp_path / "resumed", steps=4, validate=_scores(0.5, 0.5), lora_r=lora_r)
    (checkpoint,) = (tmp_path / "resumed" / train.LAST).glob("step*/model.safetensors")
    saved = safetensors.torch.load_file(checkpoint)
    assert all("lora_" in name for name in saved) if lora_r else len(saved) > 0  # LoRA: the adapters only
    resumed, _, result = _fit("causal", tmp_path / "resumed", steps=4, lora_r=lora_r)
    assert result["steps"] == 4 and [h["step"] for h in result["history"]] == [1, 2, 3, 4]
    ref, got = reference.model.state_dict(), resumed.model.state_dict()
    assert all(torch.allclose(ref[k], got[k], atol=1e-6) for k in ref)
    for curve in ["train/loss_cot.tsv", "valid/accuracy.tsv"]:  # the crash logged step 3 after the step-2 checkpoint
        steps = [line.split("\t")[0] for line in
                 (tmp_path / "resumed" / "dvclive" / "plots" / "metrics" / curve).read_text().splitlines()]
        assert steps == ["step", "0", "1", "2", "3"], curve


@pytest.mark.parametrize("lora_r", [0, 4])
def test_a_checkpoint_carried_without_out_best_rebuilds_it_from_lora_adapters(tmp_path, lora_r):
    _fit("causal", tmp_path / "reference", steps=4, validate=_scores(0.1, 0.9, 0.2, 0.3), lora_r=lora_r)
    with pytest.raises(KeyboardInterrupt):  # the best (step 2) is saved, then a crash at step 3
        _fit("causal", tmp_path / "carried", steps=4, validate=_scores(0.1, 0.9), lora_r=lora_r)
    shutil.rmtree(tmp_path / "carried" / train.BEST)  # out/last travelled to another machine; out/best did not
    if not lora_r:  # full fine-tuning keeps no copy of the best in out/last
        with pytest.raises(FileNotFoundError, match="delete"):
            _fit("causal", tmp_path / "carried", steps=4, validate=_scores(0.2, 0.3))
        return
    _, _, result = _fit("causal", tmp_path / "carried", steps=4, validate=_scores(0.2, 0.3), lora_r=lora_r)
    assert result["best_step"] == 2 and result["steps"] == 4
    ref = student.load_student(tmp_path / "reference" / train.BEST).model.state_dict()
    got = student.load_student(tmp_path / "carried" / train.BEST).model.state_dict()
    assert ref.keys() == got.keys() and all(torch.allclose(ref[k], got[k], atol=1e-6) for k in ref)


def test_early_stopping_ends_the_stage_after_patience_validations_without_a_new_best(tmp_path):
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.7, 0.9])
    _, _, result = _fit("causal", tmp_path, steps=6, validate=lambda s: next(scores), patience=2)
    assert [h["valid_accuracy"] for h in result["history"]] == [0.5, 0.6, 0.6, 0.55]
    assert result["stopped_early"] and result["steps"] == 4 and result["best_step"] == 2
    assert result["tokens_seen"] > 0


def test_early_stopping_waits_for_min_epochs(tmp_path):
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.7, 0.9])  # patience 2 is spent at step 4, epoch 1.0: too early here
    _, _, result = _fit("causal", tmp_path, steps=6, validate=lambda s: next(scores), patience=2, min_epochs=1.25)
    assert not result["stopped_early"] and result["steps"] == 6 and result["best_step"] == 6


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    _fit("causal", tmp_path, steps=2)
    torch.manual_seed(0)
    built = student.build_student(TINY["causal"], TEXTS)
    cfg = DistillConfig(epochs=2, batch_size=1, evals_per_epoch=1, save_every=1, bf16=False)
    stage = methods.stage("cot", [methods.Pair("q", "question", "1", "because")], cfg.epochs, 0.5, True, cfg)
    result = train.fit(built, [stage], cfg, TINY["causal"], tmp_path, lambda s: 0.1, 0, run_key="other")
    assert [h["step"] for h in result["history"]] == [1, 2]


@pytest.mark.slow
def test_selection_never_reads_the_test_split(tmp_path, monkeypatch, smoke_params):
    params = config.load_params(smoke_params)
    splits = data.load_benchmark("svamp")
    test_ids = set(splits["test"]["id"])
    seen, phase = [], {"fitting": False}
    real_predict, real_fit = decode.predict, train.fit

    def spy_predict(candidate, dataset, rows, head, *args, **kwargs):
        seen.append((phase["fitting"], head, [r["id"] for r in rows]))
        return real_predict(candidate, dataset, rows, head, *args, **kwargs)

    def spy_fit(*args, **kwargs):
        phase["fitting"] = True
        try:
            return real_fit(*args, **kwargs)
        finally:
            phase["fitting"] = False

    monkeypatch.setattr(decode, "predict", spy_predict)
    monkeypatch.setattr(train, "fit", spy_fit)
    params = dataclasses.replace(params, distill=dataclasses.replace(params.distill, n_test=5))
    teacher_dir = tmp_path / "teacher"
    files.write_jsonl(teacher_dir / "cots.jsonl", [
        {**_cot(r["id"], 0, r["answer"], True), "text": f"{r['palm_rationale']} The answer is ({r['answer']})."}
        for r in list(splits["train"])[:12]])
    metrics, predictions, _ = distill.run("svamp", "step_by_step", 0, params, tmp_path / "run", teacher_dir)
    during = [ids for fitting, _, ids in seen if fitting]
    after = [(head, ids) for fitting, head, ids in seen if not fitting]
    assert during and not any(test_ids & set(ids) for ids in during)
    assert sorted(head for head, _ in after) == ["explain", "predict"]  # test scored once per head
    assert all(set(ids) <= test_ids for _, ids in after)
    assert (tmp_path / "run" / train.BEST).exists() and not (tmp_path / "run" / train.LAST).exists()  # finished
    assert metrics["n_test"] == len(predictions) == 5


def test_option_logprobs_are_the_summed_token_logprobs_of_each_option():
    torch.manual_seed(0)
    built = student.build_student(TINY["causal"], TEXTS)
    scored = decode.option_logprobs(built, ["predict: q\nAnswer:"] * 2, [["1", "because 2"], ["3"]], bf16=False)
    assert [len(s) for s in scored] == [2, 1]
    enc = collate.encode_batch(built.tokenizer, "causal", ["predict: q\nAnswer:"], [" because 2"], 64, 16)
    with torch.no_grad():
        logits = built.model.eval()(input_ids=enc["input_ids"]).logits[0, :-1].log_softmax(-1)
    labels = enc["labels"][0, 1:]
    keep = labels != collate.IGNORE
    expected = logits[keep].gather(-1, labels[keep].unsqueeze(-1)).sum().item()
    assert scored[0][1][0] == pytest.approx(expected, abs=1e-4) and scored[0][1][1] == int(keep.sum())


def test_packed_option_logprobs_equal_one_row_per_option():
    torch.manual_seed(0)
    built = student.build_student(TINY["causal"], TEXTS)
    sources = ["predict: a longer question here\nAnswer:", "predict: q\nAnswer:", "predict: two words\nAnswer:"]
    options = [["1", "because 2", "(c) three"], ["3"], ["yes", "no"]]
    rows = decode.option_logprobs(built, sources, options, batch_size=4, bf16=False)
    packed = decode.option_logprobs(built, sources, options, batch_size=4, bf16=False, pack=True)
    assert [[count for _, count in scored] for scored in packed] == [[c for _, c in s] for s in rows]
    assert [[total for total, _ in scored] for scored in packed] == [
        [pytest.approx(total, abs=1e-4) for total, _ in scored] for scored in rows]
    assert len({total for scored in rows for total, _ in scored}) == 6  # distinct values: a mix-up would show


def test_choose_ranks_options_by_mean_or_summed_logprob(monkeypatch):
    row = {"id": "x", "question": "Q?\nAnswer Choices:\n(a) up\n(b) down", "choices": ["up", "down"],
           "answer": "(a) up"}
    # (a): 4 tokens summing to -4 (mean -1); (b): 1 token at -3: the sum prefers (b), the mean (a)
    monkeypatch.setattr(decode, "option_logprobs", lambda *a, **k: [[(-4.0, 4), (-3.0, 1)]])
    causal = student.Student(model=None, tokenizer=None, kind="causal", name="stub")
    mean, = decode.choose(causal, "cqa", [row], "mean")
    total, = decode.choose(causal, "cqa", [row], "sum")
    assert mean["output"] == "(a) up" and mean["correct"] and not total["correct"]
    assert mean["pick_mean_correct"] and not mean["pick_sum_correct"]


def test_self_evaluation_pairs_can_be_subsampled_per_question_with_both_verdicts():
    evals = [{"id": "q", "k": k, "j": 0, "verdict": v, "text": "t"} for k, v in enumerate("cccww")]
    evals = [e | {"verdict": "correct" if e["verdict"] == "c" else "wrong"} for e in evals]
    kept = methods._balanced_per_question(evals, 3)
    assert [e["verdict"] for e in kept] == ["correct", "wrong", "correct"]


@pytest.mark.slow
def test_choice_task_is_selected_and_scored_by_likelihood_on_a_balanced_valid_set(tmp_path, smoke_params):
    params = config.load_params(smoke_params, {"distill": {"n_valid": 10, "n_test": 8, "n_test_explain": 4},
                                               "student": {"lora_r": 4}})  # as study (b) trains CQA
    metrics, predictions, _ = distill.run("cqa", "finetune_gold", 0, params, tmp_path / "run", tmp_path / "none")
    assert metrics["n_test"] == len(predictions) == 8 and sorted(metrics["valid_labels"].values()) == [2] * 5
    assert {"test_accuracy_rank_mean", "test_accuracy_rank_sum", "test_accuracy_generate"} <= set(metrics)
    assert metrics["test_accuracy"] == metrics["test_accuracy_rank_mean"]
    assert all(p["predict_output"].startswith("(") for p in predictions)  # an option, as ranked
    assert metrics["epochs_cap"] == 0.5 and metrics["tokens_seen"] > 0 and metrics["bf16"] is False
    merged = student.count_parameters(student.load_student(tmp_path / "run" / train.BEST, "causal").model)
    assert 0 < metrics["trainable_parameters"] < merged["total"] / 10  # the adapters trained, not the merged model


@pytest.mark.slow
def test_the_command_line_runs_what_the_stage_runs_without_touching_the_study(tmp_path, smoke_params, root):
    """By hand (no DVC stage, no --force) a run writes under --into, or runs/scratch/: git status stays as it was."""
    before = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
    common = ["--dataset", "svamp", "--method", "finetune_gold", "--params", str(smoke_params), "--set",
              "distill.n_test=5"]
    metrics = distill.main(common + ["--into", str(tmp_path)])
    run = runs.Run("smollm2", "qwen0_5b", "svamp", "finetune_gold", 0)
    written = json.loads((tmp_path / run.metrics_file).read_text())
    assert written["n_test"] == metrics["n_test"] == 5 and written["profile"] == "smollm2"
    assert written["overrides"] == {"distill": {"n_test": 5}}
    scratch = root / runs.SCRATCH / run.name
    try:
        distill.main(common + ["--set", "distill.n_test=2"])
        assert json.loads((scratch / run.metrics_file).read_text())["n_test"] == 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout == before
