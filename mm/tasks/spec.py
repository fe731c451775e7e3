"""Your own benchmark from params.yaml: train/valid/test JSONL files and a `tasks:` spec (README: Your own dataset).
Rows are checked as they load; an error names the file, the line and the field."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mm import ROOT, files
from mm.answers import KINDS, LETTERS, LabelAnswers
from mm.arith import EquationError, evaluate_equation, format_number
from mm.tasks import Task, choice_question

if TYPE_CHECKING:
    from mm.config import DataConfig, TaskSpec


@dataclasses.dataclass(frozen=True)
class SpecTask(Task):
    spec: TaskSpec | None = None

    @classmethod
    def from_spec(cls, name: str, spec: TaskSpec) -> SpecTask:
        kind = LabelAnswers(tuple(spec.labels)) if spec.answer == "label" else KINDS[spec.answer]()
        return cls(name=name, answers=kind, instruction=spec.instruction, exemplar_ids=tuple(spec.exemplar_ids),
                   equation_field=spec.equation_field, spec=spec)

    def load(self, data_dir: Path, cfg: DataConfig) -> dict[str, list[dict]]:
        splits = {}
        for split in files.SPLITS:
            path = ROOT / getattr(self.spec, split)
            if not path.exists():
                raise files.DataError(f"{path}: missing (tasks.{self.name}.{split} in params.yaml)")
            splits[split] = [self._row(row, f"{path}:{n}") for n, row in files.numbered_jsonl(path)]
        ids = [row["id"] for rows in splits.values() for row in rows]
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise files.DataError(f"tasks.{self.name}: id {duplicate!r} appears twice across train/valid/test")
        return splits

    def _row(self, row: Mapping, where: str) -> dict:
        spec = self.spec

        def field(name: str | None, required: bool = True):
            if row.get(name) is not None:
                return row[name]
            if required:
                problem = f"field {name!r} is null" if name in row else f"no field {name!r}"
                raise files.DataError(f"{where}: {problem} (tasks.{self.name} reads it)")
            return None

        question, choices = str(field(spec.question_field)), []
        if spec.answer == "choice":
            choices = field(spec.choices_field)
            if not (isinstance(choices, list) and 2 <= len(choices) <= len(LETTERS)):
                raise files.DataError(f"{where}: {spec.choices_field!r} must be a list of 2-{len(LETTERS)} texts")
            choices = [str(c) for c in choices]
            question = choice_question(question, choices)
        answer = self._canonical(field(spec.answer_field, spec.answer != "equation"), row, choices, where)
        rationale = str(field(spec.rationale_field, False) or "").strip() if spec.rationale_field else ""
        common = {"id": str(field(spec.id_field)), "question": question, "answer": answer, "choices": choices,
                  "palm_rationale": rationale, "palm_label": answer}
        common["palm_output"] = f"{rationale} {self.answer_sentence(row | common)}" if rationale else ""
        return {k: v for k, v in row.items() if k not in common} | common

    def _canonical(self, value, row: Mapping, choices: list[str], where: str) -> str:
        """The gold answer in canonical form: a label, '(b) text', or a formatted number."""
        kind, text = self.spec.answer, "" if value is None else str(value).strip()
        if kind == "label":
            if text.lower() not in self.answers.labels:
                raise files.DataError(f"{where}: answer {text!r} is not one of tasks.{self.name}.labels")
            return text.lower()
        if kind == "choice":
            letter, options = text.strip("()").lower(), [c.strip().lower() for c in choices]
            index = LETTERS.index(letter) if len(letter) == 1 and letter in LETTERS else (
                options.index(text.lower()) if text.lower() in options else -1)
            if not 0 <= index < len(choices):
                raise files.DataError(f"{where}: answer {text!r} is neither a choice letter nor a choice text")
            return f"({LETTERS[index]}) {choices[index]}"
        try:
            number = float(text) if text else evaluate_equation(str(row.get(self.spec.equation_field or "", "")))
        except (ValueError, EquationError):
            raise files.DataError(f"{where}: answer {text!r} is not a number (nor is there an equation)") from None
        return format_number(number)
