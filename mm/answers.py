"""Final answers and self-evaluation verdicts parsed out of chain-of-thought text; the three kinds of answer
(label, choice, number), each with its canonical form, parser and scoring. Tasks pick one (mm.tasks)."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mm.arith import EquationError, evaluate_equation, format_number

LETTERS = "abcde"
VERDICTS = ("correct", "wrong", "uncertain")
REL_TOL = 1e-4

# Completions run on into invented few-shot examples; upstream cuts at 'Q:' (CQA, SVAMP) and 'Premise:' (ANLI).
# Only spaces and tabs between the newline and the marker: `\n\s*` would rescan every run of blank lines from each
# of its newlines (quadratic); cutting at the run's last newline instead leaves the same answer clause.
_RUN_ON = re.compile(r"\n[^\S\n]*(?:Q|Premise):")
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


@dataclass(frozen=True)
class LabelAnswers:
    """One word of a fixed label set ('neutral because ...' still names its label)."""

    labels: tuple[str, ...]
    kind = "label"

    def parse(self, clause: str, choices: Sequence[str] | None = None) -> str | None:
        word = re.match(r"\W*([a-z]*)", clause.lower()).group(1)
        return word if word in self.labels else None

    def is_correct(self, predicted: str, gold: str) -> bool:
        return predicted.strip().lower() == gold

    def key(self, answer: str) -> str:
        return answer


@dataclass(frozen=True)
class ChoiceAnswers:
    """'(b) <choice text>' among up to five options; right by letter, or by the gold text under another letter
    (48 CQA questions list a choice twice)."""

    kind = "choice"

    def parse(self, clause: str, choices: Sequence[str] | None = None) -> str | None:
        return _parse_choice(clause, list(choices) if choices else None)

    def is_correct(self, predicted: str, gold: str) -> bool:
        pred, ref = _LETTER.match(predicted), _LETTER.match(gold)
        if pred is None or ref is None:
            return False
        text = _normal(predicted[pred.end():])
        return pred.group(1).lower() == ref.group(1).lower() or (text != "" and text == _normal(gold[ref.end():]))

    def key(self, answer: str) -> str:
        return answer[:3]


@dataclass(frozen=True)
class NumberAnswers:
    """A number, written by the model as an equation ('The answer is (84 / 2).') and evaluated by mm.arith;
    right within REL_TOL."""

    kind = "equation"

    def parse(self, clause: str, choices: Sequence[str] | None = None) -> str | None:
        equation = _equation_of(clause)
        try:
            return None if equation is None else format_number(evaluate_equation(equation))
        except EquationError:
            return None

    def is_correct(self, predicted: str, gold: str) -> bool:
        try:
            value, target = float(predicted), float(gold)
        except ValueError:
            return False
        return math.isclose(value, target, rel_tol=REL_TOL, abs_tol=REL_TOL)

    def key(self, answer: str) -> str:
        return answer


Answers = LabelAnswers | ChoiceAnswers | NumberAnswers
KINDS = {"label": LabelAnswers, "choice": ChoiceAnswers, "equation": NumberAnswers}
