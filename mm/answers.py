"""Final answers and self-evaluation verdicts parsed out of chain-of-thought text, and their scoring."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mm.arith import EquationError, evaluate_equation, format_number
from mm.data import LETTERS, NLI_LABELS

if TYPE_CHECKING:
    import evaluate

METRIC_DIR = Path(__file__).resolve().parent / "metrics" / "cot_accuracy"
VERDICTS = ("correct", "wrong", "uncertain")
REL_TOL = 1e-4

# Completions run on into invented few-shot examples; upstream cuts at 'Q:' (CQA, SVAMP) and 'Premise:' (ANLI).
_RUN_ON = re.compile(r"\n\s*(?:Q|Premise):")
_PHRASE = re.compile(r"\bthe answer is\b", re.IGNORECASE)
_LETTER = re.compile(r"\s*\(?([a-e])\)(?!\w)", re.IGNORECASE)
_MARKER = re.compile(r"\(([a-e])\)", re.IGNORECASE)
_EQUATION = re.compile(r"[\d\s.,+\-*/()]*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# 'Evaluation result: the given answer is correct' and the near-misses real models write: 'The evaluation result
# is: ...', '**Evaluation Result:** Correct', 'Evaluation result - the proposed answer is wrong'.
_VERDICT = re.compile(
    r"evaluation\s+result\W*(?:is\W*)?(?:the\s+(?:given\s+|proposed\s+)?(?:answer|solution)\s+is\W*)?"
    r"(correct|incorrect|wrong|uncertain)\b",
    re.IGNORECASE,
)


def answer_clause(text: str) -> str | None:
    """The rest of the line after the first 'the answer is' in the model's own text (None without one)."""
    own = _RUN_ON.split(text, maxsplit=1)[0]
    match = _PHRASE.search(own)
    if match is None:
        return None
    return own[match.end():].split("\n", 1)[0].strip()


def parse_answer(dataset: str, text: str, choices: list[str] | None = None) -> str | None:
    """Final answer of a CoT in the canonical gold form of `dataset`, or None when there is none to score."""
    clause = answer_clause(text)
    if clause is None:
        return None
    if dataset == "anli1":
        return _parse_nli(clause)
    if dataset == "cqa":
        return _parse_choice(clause, choices)
    if dataset == "svamp":
        equation = _equation_of(clause)
        try:
            return None if equation is None else format_number(evaluate_equation(equation))
        except EquationError:
            return None
    raise ValueError(f"unknown dataset {dataset!r}")


def parse_equation(text: str) -> str | None:
    """The raw SVAMP equation after 'The answer is' (kept for display; it may not evaluate)."""
    clause = answer_clause(text)
    return None if clause is None else _equation_of(clause)


def _equation_of(clause: str) -> str | None:
    """The arithmetic prefix: '(3 * 8) + 9. So ...' -> '(3 * 8) + 9', '$ 42.' -> '42', '(8 / 4) and (6 / 4)' -> None."""
    body = clause.lstrip("$ ")
    prefix = _EQUATION.match(body).group(0)
    rest = body[len(prefix):]
    if rest and not rest.startswith("="):  # '(84 / 2) = 42' names its result; other text must be words
        if not prefix[-1:].isspace():  # '(1).real', '2x + 4'
            return None
        if not prefix.rstrip().endswith(".") and re.search(r"\d", rest.split(". ", 1)[0]):
            return None
    equation = _THOUSANDS.sub("", prefix).strip().rstrip(".,").strip()
    return equation or None


def _parse_nli(clause: str) -> str | None:
    # 'neutral because ...' still names its label; nothing else in the PaLM files ('analogy', '') does.
    word = re.match(r"\W*([a-z]*)", clause.lower()).group(1)
    return word if word in NLI_LABELS else None


def _parse_choice(clause: str, choices: list[str] | None) -> str | None:
    """'(b)', '(b) text', 'b)' or a bare choice text -> '(b) <choice text>'; hedges like 'either (b) or (d)' -> None.

    When the text after the letter is another choice's text, the text wins (upstream scores the text);
    a text that is no choice ('(b) Farsi' for 'dard') leaves the letter to decide.
    """
    if len({m.lower() for m in _MARKER.findall(clause)}) > 1:
        return None
    options = [_normal(choice) for choice in choices or []]
    match = _LETTER.match(clause)
    text = _normal(clause[match.end():] if match else clause)
    if text and text in options:  # a duplicated choice text counts as its first letter unless the letter names it
        index = LETTERS.index(match.group(1).lower()) if match else -1
        if not (0 <= index < len(options) and options[index] == text):
            index = options.index(text)
        return f"({LETTERS[index]}) {choices[index]}"
    if match is None:
        return None
    letter = match.group(1).lower()
    if choices:
        index = LETTERS.index(letter)
        return f"({letter}) {choices[index]}" if index < len(choices) else None
    return f"({letter}) {text}" if text else f"({letter})"


def _normal(text: str) -> str:
    return " ".join(text.lower().strip().strip("\"'").rstrip(".!?").split())


def parse_verdict(text: str) -> str | None:
    """'Evaluation result: the given answer is correct|wrong|uncertain' -> the word; the last one wins."""
    found = _VERDICT.findall(text)
    if not found:
        return None
    return "wrong" if found[-1].lower() == "incorrect" else found[-1].lower()


def is_correct(dataset: str, predicted: str | None, gold: str) -> bool:
    """Whether a canonical prediction matches gold: numbers within REL_TOL, ANLI by label, CQA by letter.

    A CQA prediction naming the gold text under the other letter also counts: 48 questions list it twice.
    """
    if predicted is None:
        return False
    if dataset == "svamp":
        try:
            value, target = float(predicted), float(gold)
        except ValueError:
            return False
        return math.isclose(value, target, rel_tol=REL_TOL, abs_tol=REL_TOL)
    if dataset == "cqa":
        pred, ref = _LETTER.match(predicted), _LETTER.match(gold)
        if pred is None or ref is None:
            return False
        text = _normal(predicted[pred.end():])
        return pred.group(1).lower() == ref.group(1).lower() or (text != "" and text == _normal(gold[ref.end():]))
    if dataset == "anli1":
        return predicted.strip().lower() == gold
    raise ValueError(f"unknown dataset {dataset!r}")


def accuracy(dataset: str, predictions: list[str | None], golds: list[str]) -> float:
    """Share of canonical predictions that are correct (0.0 for no predictions)."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold answers")
    if not golds:
        return 0.0
    return sum(is_correct(dataset, p, g) for p, g in zip(predictions, golds, strict=True)) / len(golds)


def load_metric(dataset: str | None = None) -> evaluate.EvaluationModule:
    """The repo's `cot_accuracy` evaluate module, loaded by path: `evaluate.load('accuracy')` needs the hub."""
    import evaluate

    return evaluate.load(str(METRIC_DIR), config_name=dataset)


def palm_accuracy(dataset: str, rows) -> float:
    """Accuracy of the shipped PaLM-540B CoTs on `rows` (parsed from `palm_output`, as any teacher's text)."""
    predictions = [parse_answer(dataset, row["palm_output"], row["choices"]) for row in rows]
    return accuracy(dataset, predictions, [row["answer"] for row in rows])


def majority_vote(predictions: Sequence[str | None], weights: Sequence[float] | None = None) -> str | None:
    """Most-weighted canonical answer; None (unparseable) never votes; ties go to the answer seen first."""
    weights = [1.0] * len(predictions) if weights is None else list(weights)
    if len(weights) != len(predictions):
        raise ValueError(f"{len(weights)} weights for {len(predictions)} predictions")
    totals: dict[str, float] = {}
    for prediction, weight in zip(predictions, weights, strict=True):
        if prediction is not None:
            totals[prediction] = totals.get(prediction, 0.0) + weight
    return max(totals, key=totals.__getitem__) if totals else None
