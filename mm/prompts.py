"""Few-shot CoT prompts and self-evaluation prompts/texts, in chat and plain form, per dataset."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

# Few-shot exemplars: train-split ids whose shipped PaLM rationale is right, short, and covers the labels.
EXEMPLAR_IDS: dict[str, tuple[str, ...]] = {
    "anli1": (
        "40e92b26-1f15-485b-8527-97309cadcc51",  # entailment
        "fae8a1ec-b74a-4c99-8466-a2628950bbe5",  # contradiction
        "8278e427-811f-415a-bd17-b9f8f116bfd9",  # neutral
        "a0773f50-7d28-4916-ad79-2deeb533f444",  # contradiction
    ),
    "cqa": (
        "499a2ad710737a02082c5335df802abe",  # (d)
        "604b6848811b3c3be934e7f9e051bf03",  # (b)
        "51a75a89e1296b91c15d7a767e291258",  # (c)
        "ca0fcf046a8fcecd507850b63ad12423",  # (e)
    ),
    "svamp": ("chal-674", "chal-163", "chal-75", "chal-452"),  # two-step, -, +, /
}

INSTRUCTIONS = {
    "anli1": "Does the premise entail the hypothesis, contradict it, or neither (neutral)? Explain briefly, "
    "then end with 'So the answer is entailment.', 'So the answer is neutral.' or 'So the answer is contradiction.'",
    "cqa": "Pick the best answer choice. Explain briefly, then end with 'So the answer is (x) choice.'",
    "svamp": "Solve the math word problem step by step. End with 'The answer is (equation).' where the equation "
    "uses only the numbers of the problem, + - * / and parentheses, e.g. 'The answer is (84 / 2).'",
}
SYSTEM = "You are a careful assistant who reasons step by step and answers in the requested format."
VERDICTS = ("correct", "wrong", "uncertain")
Messages = tuple[dict[str, str], ...]


class PromptError(ValueError):
    """A prompt would leak non-train data or lacks what it needs."""


def answer_sentence(dataset: str, row: Mapping) -> str:
    """The closing sentence of a gold CoT: 'So the answer is neutral.' / '(b) wins' / 'The answer is (28 - 15).'"""
    if dataset == "svamp":
        return f"The answer is ({plain_equation(row['Equation'])})."
    return f"So the answer is {row['answer']}."


def plain_equation(equation: str) -> str:
    """'( ( 18.0 - 10.0 ) * 15.0 )' -> '(18 - 10) * 15': the form PaLM and the student write."""
    text = " ".join(equation.replace("(", " ( ").replace(")", " ) ").split())
    text = " ".join(t[:-2] if t.endswith(".0") else t for t in text.split())
    text = text.replace("( ", "(").replace(" )", ")")
    return text[1:-1] if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]) else text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def exemplars(dataset: str, train: Sequence[Mapping], n_shots: int) -> list[Mapping]:
    """The fixed exemplar rows, looked up in `train` so that no valid/test row can ever enter a prompt."""
    ids = EXEMPLAR_IDS[dataset][:n_shots]
    if n_shots > len(EXEMPLAR_IDS[dataset]):
        raise PromptError(f"teacher.n_shots={n_shots} but {dataset} has {len(EXEMPLAR_IDS[dataset])} exemplars")
    by_id = {row["id"]: row for row in train if row["id"] in ids}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise PromptError(f"{dataset} exemplars {missing} are not in the train split given")
    return [by_id[i] for i in ids]


def exemplar_cot(dataset: str, row: Mapping) -> str:
    """A right CoT for an exemplar: its PaLM rationale and the gold answer sentence."""
    return f"{row['palm_rationale'].strip()} {answer_sentence(dataset, row)}"


def user_turn(dataset: str, question: str) -> str:
    return f"{INSTRUCTIONS[dataset]}\n\n{question}"


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


def to_plain(messages: Messages) -> str:
    """Plain-text form of chat messages, for completion-only models: Q:/A: blocks."""
    parts = []
    for message in messages:
        if message["role"] == "user":
            parts.append(f"Q: {message['content']}\nA:")
        elif message["role"] == "assistant":
            parts[-1] += f" {message['content']}\n"
        else:
            parts.append(message["content"] + "\n")
    return "\n".join(parts)


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
    """Reference-mode evaluation text: a right reference CoT set against the given answer, then the verdict.

    The verdict is decided in code (parsed answer vs gold); the text holds only real reasoning from the data.
    """
    shown = "no clear final answer" if given is None else f"the answer {given}"
    lines = [f"The given solution reaches {shown}."]
    if reference_cot:
        lines.append(f"A correct solution: {reference_cot.strip()}")
    lines.append(f"The correct answer is {gold}, so the given answer {'matches' if correct else 'does not match'} it.")
    lines.append(verdict_line("correct" if correct else "wrong"))
    return " ".join(lines)


def self_eval_question(question: str, cot: str) -> str:
    """Student input of the self-evaluation task: the question and a candidate CoT to judge."""
    return f"{question}\nProposed solution: {cot.strip()}\nIs the proposed solution correct?"
