"""SVAMP: a math word problem -> a number, written as an equation of the problem's numbers."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mm.answers import NumberAnswers
from mm.arith import evaluate_equation, format_number
from mm.tasks import Task, shipped_splits

if TYPE_CHECKING:
    from mm.config import DataConfig


class Svamp(Task):
    def load(self, data_dir: Path, cfg: DataConfig) -> dict[str, list[dict]]:
        """The shipped train split cut into train/valid by the shipped split file, and the 200-question test set."""
        return shipped_splits(data_dir, "svamp", _row, "test.jsonl")

    def label_of(self, row: Mapping) -> str:
        """Problem type (Addition, Subtraction, ...)."""
        return row["Type"]


def _row(row: dict) -> dict:
    # Gold is the dataset's equation, as upstream scores it (chal-680's `Answer` field disagrees with it).
    return {
        "id": row["ID"],
        "question": row["input"],
        "answer": format_number(evaluate_equation(row["Equation"])),
        "choices": [],
        **{k: row[k] for k in ("palm_output", "palm_rationale", "palm_label")},
        **{k: row[k] for k in ("Body", "Question", "Equation", "Answer", "Type")},
    }


TASK = Svamp(
    name="svamp",
    answers=NumberAnswers(),
    instruction="Solve the math word problem step by step. End with 'The answer is (equation).' where the equation "
    "uses only the numbers of the problem, + - * / and parentheses, e.g. 'The answer is (84 / 2).'",
    exemplar_ids=("chal-674", "chal-163", "chal-75", "chal-452"),  # two-step, -, +, /
    equation_field="Equation",
)
