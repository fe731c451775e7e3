"""`evaluate` metric: accuracy of raw chain-of-thought predictions against canonical gold answers."""
from __future__ import annotations

import datasets
import evaluate

from mm.answers import accuracy, parse_answer
from mm.data import DATASETS

_DESCRIPTION = """Parses the final answer out of each chain of thought with `mm.answers.parse_answer` and scores it
against the canonical gold answer (anli1: label word, cqa: '(d) text' by letter, svamp: number within 1e-4).
Kept in the repository and loaded by path, because `evaluate.load("accuracy")` needs the hub."""

_KWARGS = """
Args:
    predictions: raw model outputs (CoT text ending in 'the answer is ...').
    references: canonical gold answers as in `mm.data.load_benchmark(...)["answer"]`.
    dataset: 'anli1', 'cqa' or 'svamp'; defaults to the config name.
    choices: for cqa, the 5 choice strings of each example (lets a bare choice text count).
Returns:
    accuracy: share of predictions whose parsed answer is correct (unparsed ones count as wrong).
    parsed: share of predictions from which an answer could be parsed.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class CotAccuracy(evaluate.Metric):
    """Accuracy of CoT text predictions; the config name is the dataset."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[str],
        dataset: str | None = None,
        choices: list[list[str]] | None = None,
    ) -> dict[str, float]:
        name = dataset or self.config_name
        if name not in DATASETS:
            raise ValueError(f"dataset {name!r} is not one of {DATASETS}: pass dataset= or load_metric(<dataset>)")
        options = choices if choices is not None else [None] * len(predictions)
        if len(options) != len(predictions):
            raise ValueError(f"{len(options)} choice lists for {len(predictions)} predictions")
        parsed = [parse_answer(name, text, opts) for text, opts in zip(predictions, options, strict=True)]
        share = sum(p is not None for p in parsed) / len(parsed) if parsed else 0.0
        return {"accuracy": accuracy(name, parsed, list(references)), "parsed": share}
