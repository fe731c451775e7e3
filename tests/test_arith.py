"""The safe equation evaluator: plain arithmetic works, anything else is an EquationError, never code."""
from __future__ import annotations

import pytest

from mm.arith import MAX_CHARS, EquationError, evaluate_equation, format_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("( 10.0 * 45.0 )", 450.0),  # the SVAMP `Equation` form
        ("(84 / 2)", 42.0),  # the PaLM form
        ("(10 - (3 + 6))", 1.0),
        ("(12 - 2) - 7", 3.0),
        ("-3 + 5", 2.0),
        ("-(2 - 7)", 5.0),
        ("+4", 4.0),
        ("2.5", 2.5),
        ("  7 ", 7.0),
        ("1 / 4", 0.25),
    ],
)
def test_evaluate_equation_computes_plain_arithmetic(text: str, value: float) -> None:
    assert evaluate_equation(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "__import__('os').system('true')",
        "(1).real",
        "x",
        "x + 1",
        "abs(-1)",
        "print(1)",
        "'4'",
        "'4' * 3",
        "9**9**9",
        "2 ** 3",
        "7 % 3",
        "7 // 3",
        "[1, 2]",
        "1, 2",
        "1 if 1 else 2",
        "True + 1",
        "lambda: 1",
        "(8 / 4) and (6 / 4)",
        "(9 + 6",
        "",
        "1 = 1",
    ],
)
def test_evaluate_equation_rejects_non_arithmetic(text: str) -> None:
    with pytest.raises(EquationError):
        evaluate_equation(text)


def test_evaluate_equation_rejects_division_by_zero() -> None:
    with pytest.raises(EquationError, match="division by zero"):
        evaluate_equation("(3 / (2 - 2))")


def test_evaluate_equation_rejects_values_beyond_the_bound() -> None:
    with pytest.raises(EquationError, match="exceeds"):
        evaluate_equation("999999 * 999999 * 999999")
    with pytest.raises(EquationError, match="exceeds"):
        evaluate_equation("1e300 * 1e300")


def test_evaluate_equation_rejects_too_long_input() -> None:
    long_sum = " + ".join(["1"] * 60)
    assert len(long_sum) > MAX_CHARS
    with pytest.raises(EquationError, match="longer"):
        evaluate_equation(long_sum)


def test_evaluate_equation_rejects_too_many_nodes() -> None:
    many = "+".join(["1"] * 40)  # short enough in characters, but 79 operand/operator nodes
    assert len(many) <= MAX_CHARS
    with pytest.raises(EquationError, match="nodes"):
        evaluate_equation(many)


@pytest.mark.parametrize(
    ("value", "text"),
    [(450.0, "450"), (2.5, "2.5"), (2.50, "2.5"), (-3.0, "-3"), (1 / 3, "0.333333"), (0.1 + 0.2, "0.3"), (0.0, "0")],
)
def test_format_number_gives_canonical_text(value: float, text: str) -> None:
    assert format_number(value) == text
