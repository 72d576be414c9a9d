"""A calculator by safe evaluation of a parsed expression: no `eval`, bounded work.

Only numbers, ``+ - * / // % **``, parentheses and a few functions (``sqrt``, ``abs``, ``round``)
are allowed. Exponents, intermediate sizes and the expression's length are capped, so no input
can make it compute for long or allocate a huge integer.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from decimal import Decimal

from vocable.tools.registry import ToolError
from vocable.tools.spoken import say_expression, spoken_expression

MAX_CHARS = 200
MAX_NODES = 64
MAX_EXPONENT = 1000
MAX_ABS = 1e100

Number = int | float
_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_FUNCTIONS: dict[str, Callable[[Number], Number]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
}
_NAMES: dict[str, float] = {"pi": math.pi, "e": math.e}


class CalculatorError(ToolError):
    """The expression is not arithmetic the calculator accepts, or cannot be computed."""

    default_code = "tool.calculator"


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression (digits and symbols, or spoken words).

    Raises:
        CalculatorError: not arithmetic, too long or too large, or undefined (divide by zero).
    """
    if len(expression) > 5 * MAX_CHARS:
        raise CalculatorError(
            f"That calculation is too long; keep it under {MAX_CHARS} characters."
        )
    text = spoken_expression(expression)
    if not text:
        raise CalculatorError("I did not find a calculation in that.")
    if len(text) > MAX_CHARS:
        raise CalculatorError(
            f"That calculation is too long; keep it under {MAX_CHARS} characters."
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise CalculatorError(f"I could not read {expression!r} as a calculation.") from err
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError("That calculation has too many parts.")
    return _eval(tree.body)


def _check(value: Number) -> Number:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise CalculatorError("That calculation has no finite answer.")
    if abs(value) > MAX_ABS:
        raise CalculatorError("The answer is too large to say.")
    return value


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise CalculatorError("Only numbers are allowed in a calculation.")
        return _check(node.value)
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or abs(left) > MAX_ABS):
            raise CalculatorError(f"Exponents are limited to {MAX_EXPONENT}.")
        if (
            isinstance(node.op, ast.Pow)
            and abs(left) > 1
            and abs(right) * math.log10(abs(left)) > math.log10(MAX_ABS)
        ):
            raise CalculatorError("The answer is too large to say.")
        try:
            return _check(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError as err:
            raise CalculatorError("You cannot divide by zero.") from err
        except (OverflowError, ValueError) as err:
            raise CalculatorError("That calculation has no answer I can give.") from err
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        arg = _eval(node.args[0])
        try:
            return _check(_FUNCTIONS[node.func.id](arg))
        except ValueError as err:
            raise CalculatorError(f"{node.func.id} of {format_number(arg)} is undefined.") from err
    raise CalculatorError("Only numbers and + - × ÷ ^ % and sqrt are allowed in a calculation.")


def format_number(value: Number) -> str:
    """A number as it should be read out: integers plainly, others to at most 6 decimals."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return format(Decimal(repr(round(value, 6))).normalize(), "f")


def calculate(expression: str) -> str:
    """Work out an arithmetic expression, e.g. ``17 * 23`` or ``sqrt(2) / 3``.

    Args:
        expression: The calculation, in digits and symbols (+ - * / ** % parentheses, sqrt).
    """
    value = evaluate(expression)
    return f"{say_expression(spoken_expression(expression))} is {format_number(value)}."
