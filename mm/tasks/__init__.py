"""Everything benchmark-specific, one object per benchmark: how its rows load into the common schema, which kind
of answer it has (label, choice, number), its few-shot exemplars and instruction, its predict-head targets and its
answer-blind baselines. Other modules ask `get(name)`; a new benchmark is one module here or one spec in params.yaml.

Common schema of a row: id, question (the model input), answer (canonical gold), choices (empty unless a choice
task), palm_output / palm_rationale / palm_label (a reference CoT: exemplars and the `palm` teacher), native fields.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from mm import answers, files
from mm.arith import plain_equation

if TYPE_CHECKING:
    from mm.config import DataConfig, TaskSpec


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Task:
    """A benchmark. Subclasses implement `load`; the rest follows from the answer kind."""

    name: str
    answers: answers.Answers
    instruction: str  # the teacher's task statement, before each question of the few-shot prompt
    exemplar_ids: tuple[str, ...]  # train ids whose reference CoT (palm_rationale) is right and short
    equation_field: str | None = None  # number answers: the row field with the gold equation (the predict target)

    def load(self, data_dir: Path, cfg: DataConfig) -> dict[str, list[dict]]:
        """train/valid/test rows in the common schema."""
        raise NotImplementedError

    def parse_answer(self, text: str, choices: Sequence[str] | None = None) -> str | None:
        """Final answer of a CoT ('... the answer is X') in canonical gold form; None when there is none to score."""
        clause = answers.answer_clause(text)
        return None if clause is None else self.answers.parse(clause, choices or None)

    def is_correct(self, predicted: str | None, gold: str) -> bool:
        return predicted is not None and self.answers.is_correct(predicted, gold)

    def accuracy(self, predictions: Sequence[str | None], golds: Sequence[str]) -> float:
        """Share of canonical predictions that are correct (0.0 for no predictions)."""
        if len(predictions) != len(golds):
            raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold answers")
        return sum(map(self.is_correct, predictions, golds)) / len(golds) if golds else 0.0

    @property
    def has_options(self) -> bool:
        """Whether rows carry a closed set of answers (choices or labels) that the predict head can rank."""
        return not isinstance(self.answers, answers.NumberAnswers)

    def options(self, row: Mapping) -> list[str]:
        """The answers a row allows, as predict-head targets (rank classification scores each): its choices as
        '(b) text', or the label set; none for free-form numbers."""
        if isinstance(self.answers, answers.ChoiceAnswers):
            return [f"({letter}) {choice}" for letter, choice in zip(answers.LETTERS, row["choices"], strict=False)]
        if isinstance(self.answers, answers.LabelAnswers):
            return list(self.answers.labels)
        return []

    def label_of(self, row: Mapping) -> str:
        """The class a row counts under in label distributions (numbers are too many to count as classes)."""
        return "number" if isinstance(self.answers, answers.NumberAnswers) else self.answers.key(row["answer"])

    def answer_sentence(self, row: Mapping) -> str:
        """The closing sentence of a gold CoT: 'So the answer is neutral.' / 'The answer is (28 - 15).'"""
        if self.equation_field:
            return f"The answer is ({plain_equation(row[self.equation_field])})."
        return f"So the answer is {row['answer']}."

    def gold_target(self, row: Mapping) -> str:
        """The predict-head target from gold: the gold equation as PaLM writes it, else the canonical answer."""
        return plain_equation(row[self.equation_field]) if self.equation_field else row["answer"]

    def cot_target(self, cot: Mapping) -> str:
        """The predict-head target from a teacher CoT: its own equation where gold has one, else its parsed answer."""
        return plain_equation(answers.parse_equation(cot["text"])) if self.equation_field else cot["answer"]

    def palm_accuracy(self, rows: Sequence[Mapping]) -> float:
        """Accuracy of the rows' reference CoTs (parsed from `palm_output`, as any teacher's text)."""
        predicted = [self.parse_answer(row["palm_output"], row["choices"]) for row in rows]
        return self.accuracy(predicted, [row["answer"] for row in rows])

    def majority_baseline(self, train: Sequence[Mapping], test: Sequence[Mapping]) -> float:
        """Accuracy of always answering the most common train answer (choices: the most common letter)."""
        key = self.answers.key
        common = Counter(key(r["answer"]) for r in train).most_common(1)[0][0]
        return sum(key(r["answer"]) == common for r in test) / len(test)

    def trivial_baselines(self, train: Sequence[Mapping], test: Sequence[Mapping]) -> dict[str, float]:
        """Accuracy of answer-blind guesses on the given test items."""
        result = {"most common train answer": self.majority_baseline(train, test)}
        if isinstance(self.answers, answers.NumberAnswers):
            guesses = [one_operation_guess(r["question"]) for r in test]
            hits = [g is not None and self.is_correct(str(g), r["answer"]) for g, r in zip(guesses, test, strict=True)]
            result["one operation on the two largest numbers"] = sum(hits) / len(hits)
        return result


def one_operation_guess(question: str) -> float | None:
    """A trivial word-problem baseline: one operation on the question's two largest numbers, chosen by keywords."""
    numbers = sorted({float(x) for x in _NUMBER.findall(question.replace(",", ""))}, reverse=True)[:2]
    if len(numbers) < 2:
        return None
    a, b = numbers
    last, text = question.lower().split("\n")[-1], question.lower()
    if any(w in last for w in ("more", "fewer", "less", "left", "difference", "remain", "older", "younger")):
        return a - b
    if any(w in last for w in ("each", "per", "every")) and any(w in text for w in ("equally", "split", "divid")):
        return a / b
    if any(w in text for w in ("each", "per", "every", "times")):
        return a * b
    return a + b


def shipped_splits(data_dir: Path, name: str, to_row: Callable[[dict], dict], test_file: str) -> dict[str, list[dict]]:
    """A release's train file cut into train/valid by its shipped split index, and its test file, checksummed, each
    raw row mapped into the common schema by `to_row`."""
    def read(file: str) -> list[dict]:
        return [to_row(r) for r in files.read_jsonl(files.verified(data_dir / name / file, data_dir))]

    split_file = files.verified(data_dir / name / "train_valid_split.json", data_dir)
    train, valid = files.split_rows(read("train.jsonl.gz"), split_file)
    return {"train": train, "valid": valid, "test": read(test_file)}


def choice_question(stem: str, choices: Sequence[str]) -> str:
    """The model input of a choice task (upstream's CQA form): the stem, then '(a) ...' to '(e) ...'."""
    lines = [f"({letter}) {choice}" for letter, choice in zip(answers.LETTERS, choices, strict=False)]
    return "\n".join([stem, "Answer Choices:", *lines])


_registered: dict[str, Task] = {}


@cache
def builtin() -> dict[str, Task]:
    from mm.tasks import anli1, cqa, svamp

    return {"anli1": anli1.TASK, "cqa": cqa.TASK, "svamp": svamp.TASK}


def register(specs: Mapping[str, TaskSpec]) -> None:
    """Make the `tasks:` benchmarks of params.yaml known to `get` (config.load_params calls this)."""
    from mm.tasks.spec import SpecTask

    _registered.update({name: SpecTask.from_spec(name, spec) for name, spec in specs.items()})


def names() -> tuple[str, ...]:
    return (*builtin(), *_registered)


def get(name: str) -> Task:
    task = builtin().get(name) or _registered.get(name)
    if task is None:
        raise KeyError(f"unknown dataset {name!r}; known: {names()} (your own: a `tasks:` entry in params.yaml)")
    return task
