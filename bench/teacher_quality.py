"""How right each teacher's CoTs are on the same questions: the first n of the seeded generation order, which every
teacher answers first, so a teacher whose pool is still being generated is compared as soon as it has them.

Run: python bench/teacher_quality.py [n] [--root DIR]. For each benchmark and teacher profile of params.yaml, the
profile's completion cache (DIR/data/completions/<teacher>/<dataset>.jsonl, DIR the project root by default) is
replayed in a temporary folder (mm.teacher_report.first_questions_quality): first-CoT, majority-of-5 and any-of-5
accuracy and parse failures, beside PaLM-540B's shipped CoT and the majority class on those questions. A teacher
whose cache lacks some of them is reported as incomplete. Prints a markdown table, writes it and the numbers to
bench/results/teacher_quality.{md,json}.
"""
from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import record

from mm import ROOT, config, data, runs, tasks
from mm.teacher_report import first_questions_quality

COLUMNS = ("dataset", "teacher", "first CoT", "majority of {n_cots}", "any of {n_cots}", "parse failures",
           "PaLM-540B", "majority class")


def table(rows: list[dict]) -> str:
    """The results as a markdown table, shares in percent; an incomplete teacher says how far its cache got."""
    def pct(share: float | None) -> str:
        return "" if share is None else f"{100 * share:.0f} %"

    n_cots = rows[0]["n_cots"]
    lines = ["| " + " | ".join(c.format(n_cots=n_cots) for c in COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    for row in rows:
        if row["complete"]:
            scores = [pct(row[key]) for key in ("first_cot_accuracy", "majority_accuracy", "any_correct",
                                                 "parse_failure_rate")]
        else:
            scores = [f"incomplete ({row['complete_questions']} of {row['n_questions']} questions)", "", "", ""]
        lines.append("| " + " | ".join([row["dataset"], row["profile"], *scores, pct(row["palm_accuracy"]),
                                         pct(row["majority_class_share"])]) + " |")
    return "\n".join(lines)


def main(n: int = 100, root: Path = ROOT) -> dict:
    rows = []
    for dataset in tasks.builtin():
        for profile in config.load_params().teachers:
            params = config.load_teacher_params(teacher=profile)
            if params.teacher.backend == "palm":  # PaLM-540B's shipped CoT: the column beside every teacher
                continue
            train = list(data.load_from_config(dataset, params.data)["train"])
            cache_file = root / runs.TeacherRun(profile, dataset).cache_file
            rows.append({"profile": profile, **first_questions_quality(dataset, train, params.teacher, cache_file, n)})
    markdown = table(rows)
    print(markdown)
    (ROOT / "bench" / "results" / "teacher_quality.md").write_text(markdown + "\n")
    return record.save({"n": n, "date": datetime.date.today().isoformat(), "rows": rows}, "teacher_quality")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=100, help="questions, the first of the generation order")
    parser.add_argument("--root", type=Path, default=ROOT, help="project root whose completion caches are read")
    args = parser.parse_args()
    main(args.n, args.root)
