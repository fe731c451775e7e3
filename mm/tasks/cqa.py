"""CommonsenseQA: a question and five answer choices -> '(b) <choice text>'."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mm.answers import LETTERS, ChoiceAnswers
from mm.tasks import Task, choice_question, shipped_splits

if TYPE_CHECKING:
    from mm.config import DataConfig


class Cqa(Task):
    def load(self, data_dir: Path, cfg: DataConfig) -> dict[str, list[dict]]:
        """The shipped train split cut into train/valid by the shipped split file; the official dev set is test."""
        return shipped_splits(data_dir, "cqa", _row, "test.jsonl.gz")


def _row(row: dict) -> dict:
    letter = row["answer_key"].lower()
    choice = row["choices"][LETTERS.index(letter)]
    extra = ("answer_key", "question_concept", "abstractive_explanation", "extractive_explanation")
    return {
        "id": row["id"],
        "question": choice_question(row["question"], row["choices"]),
        "answer": f"({letter}) {choice}",
        "choices": row["choices"],
        **{k: row[k] for k in ("palm_output", "palm_rationale", "palm_label")},
        "stem": row["question"],
        **{k: row[k] for k in extra},
    }


TASK = Cqa(
    name="cqa",
    answers=ChoiceAnswers(),
    instruction="Pick the best answer choice. Explain briefly, then end with 'So the answer is (x) choice.'",
    exemplar_ids=(
        "499a2ad710737a02082c5335df802abe",  # (d)
        "604b6848811b3c3be934e7f9e051bf03",  # (b)
        "51a75a89e1296b91c15d7a767e291258",  # (c)
        "ca0fcf046a8fcecd507850b63ad12423",  # (e)
    ),
)
