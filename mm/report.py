"""The report (results/results.md): result tables as markdown, published reference numbers, and the recipe of these
runs beside the paper's official code."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mm import config
from mm.class_tables import ONE_CLASS_SHARE, class_tables
from mm.results import compute_table, summary_table
from mm.selfeval_tables import calibration_table, vote_gains

# Distilling step-by-step (Hsieh et al. 2023), T5-base, full data, PaLM-540B rationales: a different teacher and
# student than ours, shown for orientation only. Mind's Mirror's own tables could not be read offline.
PUBLISHED = {
    "step-by-step, T5-base, PaLM teacher (published)": {"anli1": 49.58, "cqa": 63.29, "svamp": 65.50},
    "standard fine-tuning, T5-base (published)": {"anli1": 43.58, "cqa": 62.19, "svamp": 62.63},
}
# The recipe read off the official code (Attention-is-All-I-Need/Mind-s-Mirror-Distilling-LLM), shown beside ours.
PAPER_RECIPE = {
    "teacher": "gpt-3.5-turbo, 5 CoTs per question",
    "verdicts": "the teacher's own, 5 per CoT (correct / wrong / uncertain)",
    "CoTs kept": "all, right or wrong",
    "student": "T5-v1.1 small / base / large (seq2seq)",
    "training": "SVAMP, T5-base: 50 epochs self-evaluation + 80 epochs CoTs, lr 5e-05, batch 16 per GPU",
    "precision": "fp32 unless run.py is given --bf16 (off by default)",
    "train questions": "the whole train split",
    "checkpoint selection": "best on the test set",
    "test items": "the whole test split",
    "seeds": "one run each",
}

def to_markdown(table: pd.DataFrame) -> str:
    """A plain pipe table (no extra dependency)."""
    header = "| " + " | ".join([table.index.name or ""] + [str(c) for c in table.columns]) + " |"
    rule = "|" + "---|" * (len(table.columns) + 1)
    body = ["| " + " | ".join([str(i)] + ["" if pd.isna(v) else str(v) for v in row]) + " |"
            for i, row in zip(table.index, table.itertuples(index=False), strict=True)]  # keeps each column's type
    return "\n".join([header, rule, *body])


def report_markdown(frame: pd.DataFrame, reference: pd.DataFrame, bootstrap: pd.DataFrame, context: str,
                    figures: Sequence[str]) -> str:
    """The README Results section: context, the tables, the figures."""
    if frame.empty:
        return f"{context}\n\nNo distillation metrics are committed yet: run `make repro` (see Stages)."
    parts = [context, "", "**Test accuracy (%), `predict:` head, mean ± std (seeds)**", "",
             to_markdown(summary_table(frame))]
    if "test_accuracy_explain" in frame and frame["test_accuracy_explain"].notna().any():
        parts += ["", "**Test accuracy (%), answer parsed from the generated `explain:` rationale**", "",
                  to_markdown(summary_table(frame.dropna(subset=["test_accuracy_explain"]), "test_accuracy_explain"))]
    if "explain_unanswered" in frame and frame["explain_unanswered"].notna().any():
        parts += ["", "**Rationales that give no answer the task can parse (%, scored wrong above): the student "
                  "stopped, or was cut at `max_new_tokens_explain`, before its answer sentence**", "",
                  to_markdown(summary_table(frame.dropna(subset=["explain_unanswered"]), "explain_unanswered"))]
    compute = compute_table(frame)
    if not compute.empty:
        parts += ["", "**Compute per run, mean over seeds (the same epoch cap for every method; early stopping ends "
                  "each run when its own valid accuracy stops improving; capped, still improving: runs that trained to "
                  "the cap with their best validation in its last epoch, which more epochs might have helped)**", "",
                  to_markdown(compute)]
    parts += ["", "**Reference points on the same test items (%; published rows: other teacher, student, data)**", "",
              to_markdown(reference)]
    if not bootstrap.empty:
        parts += ["", "**Paired differences (points, first minus second, on the test questions of the seeds both "
                  "have): mind_mirror against each baseline, then the paper's ordering pair by pair. The 95% "
                  "bootstrap interval resamples seeds (seed k of one method with seed k of the other) and, within "
                  "them, test questions, so it counts which seeds were trained as well as which questions were drawn "
                  "(one seed: questions only). The paper claims the first beats the second: that holds, or is "
                  "reversed, only where the interval excludes zero. MDD: the minimum detectable difference, 80% "
                  "power at two-sided 5% (2.8 × the bootstrap standard error): a smaller true difference would "
                  "likely go unresolved. Last column: the interval resampling questions only, for these trained "
                  "models (narrower: it leaves seed-to-seed variance out)**", "",
                  to_markdown(bootstrap.set_index("dataset"))]
    parts += [""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(parts)


def results_markdown(frame: pd.DataFrame, reference: pd.DataFrame, bootstrap: pd.DataFrame, shares: pd.DataFrame,
                     ablations: pd.DataFrame, figures: Sequence[str], params_file: str | Path) -> str:
    """results/results.md, whole: what it was made from, the result tables (report_markdown), the recipe beside the
    paper's, answers by class, self-evaluation and self-consistency, and the ablations."""
    students, teachers, seeds = ([] if frame.empty else sorted(frame[column].unique())
                                 for column in ("student", "teacher", "seed"))
    items = frame.groupby("dataset")["n_test"].max().items() if not frame.empty else []
    superseded = frame.attrs.get("superseded", [])
    context = (f"Regenerated by `notebooks/90_figures.ipynb` from the committed metrics (profile `{params_file}`; "
               f"student {students}; teachers {teachers}; seeds {[int(s) for s in seeds]}; test items per dataset: "
               f"{', '.join(f'{d} {int(n)}' for d, n in items)}"
               + (f"; {len(superseded)} committed runs of an earlier budget left out until re-run" if superseded
                  else "")
               + ").")
    markdown = report_markdown(frame, reference, bootstrap, context, figures)
    if not frame.empty:
        markdown += ("\n\n**What differs from the paper (its official code's recipe beside these runs')**\n\n"
                     + to_markdown(paper_comparison(params_file, frame)))
    for name, classes in class_tables(params_file).items():  # learned the task, or a class?
        markdown += (f"\n\n**Answers by class, {name}: what each method trains on (seed 0's train questions) "
                     f"and what it predicts on test (all seeds)**\n\n" + to_markdown(classes))
    markdown += class_shares_section(shares)  # per run: a mean over seeds hides a one-class run
    calibration = calibration_table(frame)
    if not calibration.empty:
        markdown += ("\n\n**Self-evaluation of `mind_mirror` students: calibration (valid / test samples) and "
                     "abstention (AURC, test; lower is better)**\n\n" + to_markdown(calibration))
    gains = vote_gains(frame) if not frame.empty else pd.DataFrame()
    if not gains.empty:
        markdown += ("\n\n**Self-consistency: what voting over k sampled CoTs, and weighting the votes by the "
                     "student's own self-evaluation, add (points, paired on the test questions with samples over the "
                     "seeds; 95% bootstrap interval resampling questions)**\n\n"
                     + to_markdown(gains.set_index("setting")))
    if not ablations.empty:
        markdown += ("\n\n**Ablations: each changes one thing against a default run (test and valid accuracy, %; "
                     "Δ: paired difference from that run, points, 95% bootstrap interval; minutes per run)**\n\n"
                     + to_markdown(ablations))
    return markdown + "\n"


def class_shares_section(shares: pd.DataFrame) -> str:
    """The report's section on one-class runs (class_tables.prediction_shares): per setting, each run's test answers by
    class, so a run that answers one class whatever the question is seen, not averaged away over seeds."""
    if shares.empty:
        return ""
    parts = ["", "", f"**Test answers by class, per run (`predict:` head, % of test items; one class: the top class "
             f"takes ≥ {ONE_CLASS_SHARE:.0%}, a checkpoint that answers the class, not the question)**"]
    for where, runs in shares.groupby("setting", sort=False):
        table = runs.drop(columns="setting").dropna(axis=1, how="all").set_index("method")
        classes = [c for c in table.columns if c not in ("seed", "n", "top class", "one_class")]
        table[classes] = table[classes].map(lambda share: f"{share:.0%}")
        table["one_class"] = table["one_class"].map({True: "**yes**", False: ""})
        parts += ["", where, "", to_markdown(table.rename(columns={"one_class": "one class"}))]
    return "\n".join(parts)


def paper_comparison(params_file: str | Path, frame: pd.DataFrame) -> pd.DataFrame:
    """What the committed runs did beside what the paper's official code did, setting by setting: the results
    table is only comparable with the paper's where the two columns agree."""
    params = config.load_params(params_file)
    teacher, distill = params.teacher, params.distill
    names = sorted(frame["profile"].dropna().unique()) if "profile" in frame else []
    runs = {name: config.load_run_params(params_file, name)[1] for name in names}  # the runs' own student profiles
    profiles = {name: (run.student, run.distill) for name, run in runs.items()} or {"": (params.student, distill)}

    def per_dataset(column: str) -> str:
        values = frame.groupby("dataset")[column].max() if column in frame else {}
        return ", ".join(f"{dataset} {int(n)}" for dataset, n in values.items())

    used = frame[frame["method"] != "finetune_gold"] if "method" in frame else frame  # its teacher is gold labels
    teachers = ", ".join(sorted(used["teacher"].unique())) if "teacher" in used else ""
    verdicts = (f"the teacher's own, {teacher.n_evals} per CoT" if teacher.eval_mode == "teacher" else
                f"from the gold answer (teacher.eval_mode reference), {teacher.n_evals} per CoT")
    ours = {
        "teacher": f"{teachers or teacher.model}, {teacher.n_cots} CoTs per question "
                   f"(temperature {teacher.temperature})",
        "verdicts": verdicts,
        "CoTs kept": "only those whose answer is right" if distill.filter_incorrect else "all, right or wrong",
        "student": "; ".join(f"{_student(s)}{f' (profile {name}, lr {d.lr:g})' if len(profiles) > 1 else ''}"
                             for name, (s, d) in profiles.items()),
        "training": "; ".join(f"{_training(frame[frame['profile'] == name] if name else frame, d)}"
                              f"{f' (profile {name})' if len(profiles) > 1 else ''}"
                              for name, (_, d) in profiles.items()),
        "precision": _precision(frame),
        "train questions": per_dataset("n_train_questions"),
        "checkpoint selection": (f"best `{distill.select_head}:` accuracy on "
                                 f"{f'up to {distill.n_valid}' if distill.n_valid else 'all'} valid questions"),
        "test items": per_dataset("n_test"),
        "seeds": "; ".join(f"{dataset} {_listed(seeds)}"
                           for dataset, seeds in frame.groupby("dataset")["seed"]) if "seed" in frame else "",
    }
    table = pd.DataFrame({"paper (official code)": PAPER_RECIPE, "these runs": ours})
    table.index.name = "setting"
    return table


def _student(student: config.StudentConfig) -> str:
    return f"{student.name} ({student.kind}{f', LoRA r={student.lora_r}' if student.lora_r else ''})"


def _listed(values: pd.Series) -> str:
    """Distinct integers (seeds, step counts), sorted: '0, 1, 2'."""
    return ", ".join(str(int(v)) for v in sorted(values.unique()))


def _precision(frame: pd.DataFrame) -> str:
    """How many runs trained in fp32 and how many under bf16 autocast, per dataset: `distill.bf16: auto` follows the
    machine, so runs made on different hosts differ, even the methods of one seed (named, as their pairing mixes)."""
    if "bf16" not in frame or frame["bf16"].isna().all():
        return ""
    parts = []
    for dataset, runs in frame.dropna(subset=["bf16"]).groupby("dataset"):
        kinds = [f"{'bf16 autocast' if bf16 else 'fp32'} {len(group)} run{'s' * (len(group) > 1)} "
                 f"(seed{'s' * (group['seed'].nunique() > 1)} {_listed(group['seed'])})"
                 for bf16, group in runs.groupby("bf16")]
        mixed = pd.Series([s for s, group in runs.groupby("seed") if group["bf16"].nunique() > 1], dtype=int)
        note = (f" — seed{'s' * (len(mixed) > 1)} {_listed(mixed)} mix{'es' * (len(mixed) == 1)} both"
                if len(mixed) else "")
        parts.append(f"{dataset} {', '.join(kinds)}{note}")
    return "; ".join(parts)


def _training(frame: pd.DataFrame, distill: config.DistillConfig) -> str:
    """The committed runs' schedule: epochs with early stopping, or (runs of the earlier profile) fixed steps."""
    batch = f"lr {distill.lr:g}, batch {distill.batch_size * distill.grad_accum}"
    if "epochs_cap" in frame and frame["epochs_cap"].notna().all():
        trained = frame["epochs_trained"]
        return (f"{_epochs(distill.self_eval_epochs)} self-evaluation + at most {_epochs(distill.epochs)} CoTs, early "
                f"stopping (patience {distill.patience} validations, from epoch {distill.min_epochs:g}; "
                f"{round(trained.min(), 2):g}-{round(trained.max(), 2):g} epochs "
                f"trained), {batch}")
    steps = _listed(frame["steps"].dropna()) if "steps" in frame else "?"
    return f"fixed budgets of {steps} optimiser steps in all (an earlier profile: less than one epoch)"


def _epochs(n: float) -> str:
    return f"{n:g} epoch{'' if n == 1 else 's'}"
