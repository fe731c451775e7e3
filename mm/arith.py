"""Safe arithmetic: evaluate an equation string from data or model text with `ast`, never `eval`."""
from __future__ import annotations

import ast
import operator

MAX_CHARS = 200  # longer "equations" are model babble, not arithmetic
MAX_NODES = 64
MAX_ABS = 1e12  # bounds every intermediate value, so 9**9**9-style blow-ups cannot happen

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class EquationError(ValueError):
    """The text is not a bounded expression of numbers, + - * / and parentheses."""


def evaluate_equation(text: str) -> float:
    """Value of e.g. '( 84.0 / 2.0 )'; raises EquationError on anything but plain arithmetic."""
    if len(text) > MAX_CHARS:
        raise EquationError(f"expression longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise EquationError(f"not an expression: {text!r}") from err
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise EquationError(f"expression has more than {MAX_NODES} nodes")
    return _value(tree.body)


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        result = float(node.value)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise EquationError("division by zero")
        result = _BINARY[type(node.op)](left, right)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        result = _UNARY[type(node.op)](_value(node.operand))
    else:
        raise EquationError(f"{type(node).__name__} is not allowed in an equation")
    if abs(result) > MAX_ABS:
        raise EquationError(f"value exceeds {MAX_ABS:g}")
    return result


def format_number(value: float) -> str:
    """Canonical text of a number: 450.0 -> '450', 2.50 -> '2.5'."""
    rounded = round(value, 6)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.6f}".rstrip("0")


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
