"""Few-shot CoT prompts (instruction and exemplars from the task) and self-evaluation prompts and texts."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from mm import tasks
from mm.answers import VERDICTS

SYSTEM = "You are a careful assistant who reasons step by step and answers in the requested format."
Messages = tuple[dict[str, str], ...]


class PromptError(ValueError):
    """A prompt would leak non-train data or lacks what it needs."""


def exemplars(dataset: str, train: Sequence[Mapping], n_shots: int) -> list[Mapping]:
    """The fixed exemplar rows, looked up in `train` so that no valid/test row can ever enter a prompt."""
    known = tasks.get(dataset).exemplar_ids
    ids = known[:n_shots]
    if n_shots > len(known):
        raise PromptError(f"teacher.n_shots={n_shots} but {dataset} has {len(known)} exemplars (exemplar_ids)")
    by_id = {row["id"]: row for row in train if row["id"] in ids}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise PromptError(f"{dataset} exemplars {missing} are not in the train split given")
    unexplained = [i for i in ids if not by_id[i]["palm_rationale"].strip()]
    if unexplained:
        raise PromptError(f"{dataset} exemplars {unexplained} have no rationale to show the teacher")
    return [by_id[i] for i in ids]


def exemplar_cot(dataset: str, row: Mapping) -> str:
    """A right CoT for an exemplar: its reference (PaLM) rationale and the gold answer sentence."""
    return f"{row['palm_rationale'].strip()} {tasks.get(dataset).answer_sentence(row)}"


def user_turn(dataset: str, question: str) -> str:
    return f"{tasks.get(dataset).instruction}\n\n{question}"


def cot_messages(dataset: str, question: str, shots: Sequence[Mapping], hint: str | None = None) -> Messages:
    """Chat form: system, then each exemplar as a user/assistant pair, then the question.

    `hint` (STaR rationalization) adds the gold answer to the question so the teacher explains it.
    """
    messages = [{"role": "system", "content": SYSTEM}]
    for shot in shots:
        messages.append({"role": "user", "content": user_turn(dataset, shot["question"])})
        messages.append({"role": "assistant", "content": exemplar_cot(dataset, shot)})
    final = user_turn(dataset, question)
    if hint is not None:
        final += f"\n\n(Hint: the correct answer is {hint}. Explain why, without mentioning the hint.)"
    messages.append({"role": "user", "content": final})
    return tuple(messages)


def eval_messages(question: str, cot: str) -> Messages:
    """Teacher-mode self-evaluation: critique the candidate CoT, end with the verdict line."""
    content = (
        f"Question:\n{question}\n\nProposed solution:\n{cot.strip()}\n\n"
        "Check the proposed solution step by step and point out any mistake. Then end with exactly one line: "
        "'Evaluation result: the given answer is correct.', '... is wrong.' or '... is uncertain.'"
    )
    return ({"role": "system", "content": SYSTEM}, {"role": "user", "content": content})


def verdict_line(verdict: str) -> str:
    if verdict not in VERDICTS:
        raise PromptError(f"unknown verdict {verdict!r}")
    return f"Evaluation result: the given answer is {verdict}."


def reference_evaluation(given: str | None, reference_cot: str | None, gold: str, correct: bool) -> str:
    """Reference-mode evaluation text, which holds more than a verdict: the given answer; a right reference CoT (another
    right sample of the teacher, or PaLM-540B's shipped rationale) quoted as "A correct solution: ..."; the gold answer,
    stated as "The correct answer is ..."; then the verdict decided in code (parsed answer vs gold).
    """
    lines = [_given_answer_sentence(given)]
    if reference_cot:
        lines.append(f"A correct solution: {reference_cot.strip()}")
    lines.append(f"The correct answer is {gold}, so the given answer {'matches' if correct else 'does not match'} it.")
    lines.append(verdict_line("correct" if correct else "wrong"))
    return " ".join(lines)


def gold_verdict_evaluation(given: str | None, correct: bool) -> str:
    """Gold-verdict evaluation text: the given solution's own final answer, then the verdict decided in code against
    gold. It states no gold answer and quotes no other solution, so the student learns the verdict and nothing else
    of the gold data or of another model.
    """
    return f"{_given_answer_sentence(given)} {verdict_line('correct' if correct else 'wrong')}"


def _given_answer_sentence(given: str | None) -> str:
    shown = "no clear final answer" if given is None else f"the answer {given}"
    return f"The given solution reaches {shown}."


def self_eval_question(question: str, cot: str) -> str:
    """Student input of the self-evaluation task: the question and a candidate CoT to judge."""
    return f"{question}\nProposed solution: {cot.strip()}\nIs the proposed solution correct?"
