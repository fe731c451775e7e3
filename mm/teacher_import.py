"""Teacher outputs made elsewhere -> {cots,evals}.jsonl of a pool, parsed with the project's parsers.

Two formats:
- `tot`: the official Mind's Mirror release (Tree-of-Thoughts JSON): a JSON array, per question a `steps` list whose
  step holds the input `x` ('"input":"<question>"'), the CoTs in `new_ys` and, per CoT, its evaluations in
  `value_outputs_list` (each ending 'Evaluation result: the given answer is correct|wrong|uncertain.'). Questions are
  matched to the benchmark's train rows by their text.
- `jsonl`: one CoT per line, {"id", "rationale"[, "answer"][, "evaluation"]}; `id` is the train row's id, the
  answer (when given) is parsed as the predict head's would be, else from the rationale.

Run: `python -m mm.teacher_import DATASET FILE --format tot|jsonl [--teacher NAME] [--out-dir DIR] [--force]`
(default folder runs/scratch/imported/DATASET); an existing pool in the output folder is replaced only with --force.
An error in an item or line names file and line.
"""
from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mm import ROOT, tasks
from mm.config import DataConfig
from mm.data import load_from_config
from mm.files import DataError, numbered_jsonl, write_jsonl
from mm.runs import SCRATCH
from mm.teacher import cot_record, eval_record

FORMATS = ("tot", "jsonl")
_BLANK = re.compile(r"[ \t\n\r]*")  # JSON whitespace


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


def tot_items(path: Path) -> list[tuple[str, Any]]:
    """The items of a ToT file (a JSON array), each with 'file:line' where it starts, for messages about it."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
        items = json.loads(text)
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({err.reason})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not a JSON array of ToT items ({err.msg})") from None
    if not isinstance(items, list):
        raise DataError(f"{path}:1: not a JSON array of ToT items")
    decoder, located, pos = json.JSONDecoder(), [], text.index("[") + 1
    line, counted = 1, 0
    for item in items:  # the text is valid JSON: skip blanks to the item, then past the item and its comma
        pos = _BLANK.match(text, pos).end()
        line += text.count("\n", counted, pos)
        counted = pos
        located.append((f"{path}:{line}", item))
        pos = _BLANK.match(text, decoder.raw_decode(text, pos)[1]).end() + 1
    return located


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _tot_step(where: str, item: Any) -> tuple[str, list[str], list[list[str]]]:
    """(question, CoTs, evaluations of each CoT) of one ToT item, checked: a string of CoTs must not be read as one
    CoT per character, nor a short list of evaluations silently drop CoTs."""
    steps = item.get("steps") if isinstance(item, Mapping) else None
    if not (isinstance(steps, list) and steps and isinstance(steps[0], Mapping)):
        raise DataError(f"{where}: a ToT item needs a 'steps' list of objects")
    step = steps[0]
    x, cots = step.get("x"), step.get("new_ys")
    if not isinstance(x, str):
        raise DataError(f"{where}: 'x' must be the question text, got {type(x).__name__}")
    if not _texts(cots):
        raise DataError(f"{where}: 'new_ys' must be a list of CoT texts, got {type(cots).__name__}")
    judged = step.get("value_outputs_list") or [[] for _ in cots]
    if not (isinstance(judged, list) and all(_texts(e) for e in judged)):
        raise DataError(f"{where}: 'value_outputs_list' must hold a list of evaluation texts per CoT")
    if len(judged) != len(cots):
        raise DataError(f"{where}: 'value_outputs_list' has {len(judged)} lists for {len(cots)} CoTs in 'new_ys'")
    return tot_question(x), cots, judged


def from_tot(dataset: str, train: Sequence[Mapping], items: Sequence[tuple[str, Any]], teacher: str
             ) -> tuple[list[dict], list[dict], list[str]]:
    """CoT and evaluation records of the ToT items (each with 'file:line') whose question is a train row; the
    unmatched questions."""
    by_text = {_normal(row["question"]): row for row in train}
    cots, evals, unmatched = [], [], []
    for where, item in items:
        question, new_ys, judged = _tot_step(where, item)
        row = by_text.get(_normal(question))
        if row is None:
            unmatched.append(question)
            continue
        for k, (text, evaluations) in enumerate(zip(new_ys, judged, strict=True)):
            cot = cot_record(dataset, row, k, text.strip(), teacher, "teacher")
            cots.append(cot)
            evals += [eval_record(cot, j, e.strip(), "teacher") for j, e in enumerate(evaluations)]
    return cots, evals, unmatched


def from_jsonl(dataset: str, train: Sequence[Mapping], lines: Sequence[tuple[str, Mapping]], teacher: str
               ) -> tuple[list[dict], list[dict], list[str]]:
    """CoT (and evaluation) records of JSONL lines {id, rationale[, answer][, evaluation]}, each with 'file:line';
    the unmatched ids."""
    by_id = {row["id"]: row for row in train}
    cots, evals, unmatched, seen = [], [], [], {}
    for where, line in lines:
        if "id" not in line or "rationale" not in line:
            raise DataError(f"{where}: needs 'id' and 'rationale', has {sorted(line)}")
        if not isinstance(line["rationale"], str) or not isinstance(line.get("evaluation") or "", str):
            raise DataError(f"{where}: 'rationale' and 'evaluation' must be texts")
        row = by_id.get(str(line["id"]))
        if row is None:
            unmatched.append(str(line["id"]))
            continue
        k = seen[row["id"]] = seen.get(row["id"], -1) + 1
        answer = None
        if line.get("answer") is not None:
            answer = tasks.get(dataset).parse_answer(f"The answer is {line['answer']}", row["choices"])
        cot = cot_record(dataset, row, k, line["rationale"].strip(), teacher, "teacher", answer=answer)
        cots.append(cot)
        if line.get("evaluation"):
            evals.append(eval_record(cot, 0, line["evaluation"].strip(), "teacher"))
    return cots, evals, unmatched


def import_outputs(dataset: str, path: Path, fmt: str, out_dir: Path, teacher: str,
                   data_cfg: DataConfig | None = None, force: bool = False) -> dict:
    """Write cots.jsonl and evals.jsonl from a file of outside teacher outputs; returns what parsed and matched.
    A pool already in `out_dir` (a generated one costs hours) is replaced only with `force`."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    path, out_dir = Path(path), Path(out_dir)
    pool = [p for p in (out_dir / "cots.jsonl", out_dir / "evals.jsonl") if p.exists() and p.stat().st_size > 0]
    if pool and not force:
        raise FileExistsError(f"{pool[0]} already holds a teacher pool; --force (force=True) replaces it")
    train = list(load_from_config(dataset, data_cfg or DataConfig())["train"])
    if fmt == "tot":
        cots, evals, unmatched = from_tot(dataset, train, tot_items(path), teacher)
    else:
        lines = [(f"{path}:{n}", line) for n, line in numbered_jsonl(path)]
        cots, evals, unmatched = from_jsonl(dataset, train, lines, teacher)
    if not cots:
        raise DataError(f"{path}: no {dataset} train question matched ({len(unmatched)} unmatched)")
    write_jsonl(out_dir / "cots.jsonl", cots)
    write_jsonl(out_dir / "evals.jsonl", evals)
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
    parser.add_argument("--out-dir", type=Path, help="default: runs/scratch/imported/DATASET (a study pool lives in "
                                                     "data/teacher/<teacher profile>/DATASET)")
    parser.add_argument("--force", action="store_true", help="replace the pool already in the output folder")
    args = parser.parse_args(argv)
    out_dir = args.out_dir or ROOT / SCRATCH / "imported" / args.dataset  # by hand: never over a committed pool
    report = import_outputs(args.dataset, args.file, args.format, out_dir, args.teacher, force=args.force)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
