"""Teacher outputs made elsewhere -> data/teacher/<dataset>/{cots,evals}.jsonl, parsed with the project's parsers.

Two formats:
- `tot`: the official Mind's Mirror release (Tree-of-Thoughts JSON): a JSON array, per question a `steps` list whose
  step holds the input `x` ('"input":"<question>"'), the CoTs in `new_ys` and, per CoT, its evaluations in
  `value_outputs_list` (each ending 'Evaluation result: the given answer is correct|wrong|uncertain.'). Questions are
  matched to the benchmark's train rows by their text.
- `jsonl`: one CoT per line, {"id", "rationale"[, "answer"][, "evaluation"]}; `id` is the train row's id, the
  answer (when given) is parsed as the predict head's would be, else from the rationale.

Run: `python -m mm.teacher_import DATASET FILE --format tot|jsonl [--teacher NAME] [--out-dir DIR]`.
"""
from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from mm import tasks
from mm.config import DataConfig
from mm.data import load_from_config
from mm.files import DataError, read_jsonl, write_jsonl
from mm.teacher import cot_record, eval_record

FORMATS = ("tot", "jsonl")


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def tot_question(x: str) -> str:
    """'"input":"Luke scored ...\\nHow many ...?"\\n' -> the question text."""
    body = x.strip()
    match = re.match(r'^"input"\s*:\s*', body)
    if match is None:
        return body
    try:
        return json.loads(body[match.end():])
    except json.JSONDecodeError:
        return body[match.end():].strip().strip('"')


def from_tot(dataset: str, train: Sequence[Mapping], items: Sequence[Mapping], teacher: str
             ) -> tuple[list[dict], list[dict], list[str]]:
    """CoT and evaluation records of the ToT items whose question is a train row; the unmatched questions."""
    by_text = {_normal(row["question"]): row for row in train}
    cots, evals, unmatched = [], [], []
    for n, item in enumerate(items):
        if not isinstance(item, Mapping) or not item.get("steps"):
            raise DataError(f"ToT item {n}: no 'steps' list")
        step = item["steps"][0]
        question = tot_question(step.get("x", ""))
        row = by_text.get(_normal(question))
        if row is None:
            unmatched.append(question)
            continue
        judged = step.get("value_outputs_list") or [[] for _ in step["new_ys"]]
        for k, (text, evaluations) in enumerate(zip(step["new_ys"], judged, strict=True)):
            cot = cot_record(dataset, row, k, text.strip(), teacher, "teacher")
            cots.append(cot)
            evals += [eval_record(cot, j, e.strip(), "teacher") for j, e in enumerate(evaluations)]
    return cots, evals, unmatched


def from_jsonl(dataset: str, train: Sequence[Mapping], lines: Sequence[Mapping], teacher: str
               ) -> tuple[list[dict], list[dict], list[str]]:
    """CoT (and evaluation) records of JSONL lines {id, rationale[, answer][, evaluation]}; the unmatched ids."""
    by_id = {row["id"]: row for row in train}
    cots, evals, unmatched, seen = [], [], [], {}
    for n, line in enumerate(lines, start=1):
        if "id" not in line or "rationale" not in line:
            raise DataError(f"line {n}: needs 'id' and 'rationale', has {sorted(line)}")
        row = by_id.get(str(line["id"]))
        if row is None:
            unmatched.append(str(line["id"]))
            continue
        k = seen[row["id"]] = seen.get(row["id"], -1) + 1
        answer = None
        if line.get("answer") is not None:
            answer = tasks.get(dataset).parse_answer(f"The answer is {line['answer']}", row["choices"])
        cot = cot_record(dataset, row, k, str(line["rationale"]).strip(), teacher, "teacher", answer=answer)
        cots.append(cot)
        if line.get("evaluation"):
            evals.append(eval_record(cot, 0, str(line["evaluation"]).strip(), "teacher"))
    return cots, evals, unmatched


def import_outputs(dataset: str, path: Path, fmt: str, out_dir: Path, teacher: str,
                   data_cfg: DataConfig | None = None) -> dict:
    """Write cots.jsonl and evals.jsonl from a file of outside teacher outputs; returns what parsed and matched."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    path = Path(path)
    train = list(load_from_config(dataset, data_cfg or DataConfig())["train"])
    if fmt == "tot":
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not a JSON array of ToT items ({err.msg}, line {err.lineno})") from None
        cots, evals, unmatched = from_tot(dataset, train, items, teacher)
    else:
        cots, evals, unmatched = from_jsonl(dataset, train, read_jsonl(path), teacher)
    if not cots:
        raise DataError(f"{path}: no {dataset} train question matched ({len(unmatched)} unmatched)")
    write_jsonl(Path(out_dir) / "cots.jsonl", cots)
    write_jsonl(Path(out_dir) / "evals.jsonl", evals)
    return {
        "questions": len({c["id"] for c in cots}), "unmatched": len(unmatched), "unmatched_examples": unmatched[:3],
        "cots": len(cots), "cots_parsed": sum(c["parsed"] for c in cots),
        "cots_correct": sum(c["correct"] for c in cots),
        "evals": len(evals), "verdicts_parsed": sum(e["verdict"] is not None for e in evals),
        "verdicts_right": sum(e["verdict"] == ("correct" if e["cot_correct"] else "wrong") for e in evals),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m mm.teacher_import", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("file", type=Path)
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--teacher", default="imported", help="name recorded as the CoTs' teacher")
    parser.add_argument("--out-dir", type=Path, help="default: data/teacher/DATASET")
    args = parser.parse_args(argv)
    report = import_outputs(args.dataset, args.file, args.format, args.out_dir or Path("data/teacher") / args.dataset,
                            args.teacher)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
