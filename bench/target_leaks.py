"""What the committed mind_mirror runs' self-evaluation targets held: the gold answer sentence, a quoted PaLM-540B
rationale, a quoted sibling CoT of the teacher; over each run's pairs and over those its training actually drew.

Run: .venv/bin/python bench/target_leaks.py (from the project root; writes bench/results/target_leaks.json).
"""
import json
from collections import Counter

from mm import ROOT, config, methods, runs, teacher, train
from mm.data import load_from_config
from mm.distill import teacher_outputs

study = config.load_params().study
results = []
QUOTE, GOLD = "A correct solution: ", " The correct answer is "


def kinds(text, row, cot_k, question_cots, dataset):
    """What one target holds: 'gold' (the gold answer sentence) and where its quoted solution comes from."""
    held = set()
    if "The correct answer is" in text:
        held.add("gold")
    if QUOTE in text:
        quoted = text.split(QUOTE, 1)[1].rsplit(GOLD, 1)[0].strip()
        siblings = {c["text"].strip() for c in question_cots if c["k"] != cot_k and c["correct"]}
        if quoted in siblings:  # mm.teacher takes a right sibling before PaLM's rationale
            held.add("sibling")
        elif quoted == teacher.palm_cot(dataset, row):
            held.add("palm")
        else:
            held.add("other quote")
        if quoted == teacher.palm_cot(dataset, row):
            held.add("palm text")
    return held


for profile, teachers in study.arms.items():
    params = config.load_run_params("params.yaml", student=profile)[1]
    cfg = params.distill
    for teacher_name, dataset in [(t, d) for t, datasets in teachers.items() for d in datasets]:
        cots, evals = teacher_outputs(runs.TeacherRun(teacher_name, dataset).out_dir)
        rows = list(load_from_config(dataset, params.data)["train"])
        cots_by_q = {}
        for c in cots:
            cots_by_q.setdefault(c["id"], []).append(c)
        eval_of = {(e["id"], e["k"], e["j"]): e for e in evals}
        for seed in study.seeds:
            run = runs.Run(profile, teacher_name, dataset, "mind_mirror", seed)
            metrics = json.loads((ROOT / run.metrics_file).read_text())
            train_rows = methods.train_questions(rows, cots, cfg, seed)
            stage = methods.build_stages("mind_mirror", dataset, train_rows, cots, evals, cfg)[0]
            assert stage.name == "self_eval" and len(stage.pairs) == metrics["pairs_self_eval"]
            by_id = {r["id"]: r for r in train_rows}
            # a pair's (question, target) identify its evaluation: the CoT text sits in the question
            pair_kinds = []
            for p in stage.pairs:
                matches = [e for e in evals if e["id"] == p.id and e["text"].strip() == p.rationale]
                text_of = {c["k"]: c["text"].strip() for c in cots_by_q[p.id]}
                ks = {e["k"] for e in matches if text_of[e["k"]] in p.question}
                assert ks, p
                pair_kinds.append(kinds(p.rationale, by_id[p.id], min(ks), cots_by_q[p.id], dataset))
            batches = train.stage_batches(stage, cfg, seed * 100 + 0, train.packs(stage, cfg, "causal"))
            seen = sorted({i for b in batches for i in b})
            every = Counter(k for i in range(len(stage.pairs)) for k in pair_kinds[i])
            trained = Counter(k for i in seen for k in pair_kinds[i])
            results.append({"run": run.name, "pairs": len(stage.pairs), "trained": len(seen),
                            "all": dict(every), "trained_on": dict(trained)})
            print(f"{profile:9s} {dataset:5s} seed {seed}: stage pairs {len(stage.pairs)} "
                  f"(gold {every['gold']}, PaLM {every['palm']}, sibling {every['sibling']}, "
                  f"other {every['other quote']}; "
                  f"PaLM's text {every['palm text']})"
                  f" | trained on {len(seen)} in {stage.steps} steps x {cfg.batch_size} "
                  f"(gold {trained['gold']}, PaLM {trained['palm']}, sibling {trained['sibling']}, "
                  f"other {trained['other quote']}; PaLM's text {trained['palm text']})")

(ROOT / "bench" / "results" / "target_leaks.json").write_text(json.dumps(results, indent=1) + "\n")
