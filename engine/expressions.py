"""Rule expressions: parsed and checked once at load, evaluated many times with simpleeval.

The grammar is arithmetic, comparisons, ``and``/``or``/``not``, ``a if c else b``, field
names and calls of the functions in ``FUNCTIONS``; nothing else parses. There is no
attribute access, subscript, assignment, comprehension, lambda or f-string, so an expression
can reach neither Python objects nor loops: its evaluation time is bounded by its length.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import simpleeval

from .model import Expression, Table
from .tables import NotApplicable, TableUse, has_row, lookup, lookup_year

MAX_EXPRESSION_LENGTH = 2000  # characters in one rule expression
MAX_STRING_CONSTANT = 200  # characters in one string literal
MAX_NUMBER = 1e18  # largest literal number; larger is a typo
MAX_POWER = 1000  # largest exponent in x ** y (values are physical quantities)

FUNCTIONS: dict[str, str] = {
    "min": "smallest of its arguments",
    "max": "largest of its arguments",
    "abs": "absolute value",
    "round": "round(x, digits)",
    "ceil": "smallest whole number >= x",
    "floor": "largest whole number <= x",
    "lookup": 'lookup("table", key..., "column"): value of a row with exactly these keys',
    "lookup_year": 'lookup_year("table", key..., year, "column"): the row of that year, '
    "else the latest earlier year, else the earliest later year",
    "has_row": 'has_row("table", key...): whether such a row exists (for conditions)',
    "year": "calendar year of a date or date-time",
    "minus_hours": "minus_hours(datetime, hours): the date-time that many hours earlier",
    "hours_between": "hours_between(start, end): hours from start to end",
    "disclosed": "disclosed(field): the disclosed value only, never one set by a rule",
    "convert": 'convert(x, "unit"): x in another unit of the same dimension',
}
TABLE_FUNCTIONS = ("lookup", "lookup_year", "has_row")

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Load, ast.Constant,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
    ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)  # fmt: skip

_NODE_NAMES = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "a subscript (a[b])",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "assignment (:=)",
    ast.List: "a list literal",
    ast.Tuple: "a tuple literal",
    ast.Dict: "a dict literal",
    ast.Set: "a set literal",
    ast.Starred: "a starred argument",
    ast.In: "'in'",
    ast.NotIn: "'not in'",
    ast.Is: "'is'",
    ast.IsNot: "'is not'",
}


class ExpressionProblem(Exception):
    """An expression is not valid; the message says what is wrong."""


def compile_expression(text: str, fields: set[str] | dict[str, Any]) -> Expression:
    """Parse and check an expression; every name must be a declared field.

    Raises ExpressionProblem with a message naming the offending part.
    """
    if not isinstance(text, str):
        text = str(text)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionProblem(
            f"expression is {len(text)} characters; the limit is {MAX_EXPRESSION_LENGTH}"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionProblem(f"syntax error in {text!r}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionProblem(f"cannot parse {text!r}: {exc}") from None

    inputs: set[str] = set()
    disclosed: set[str] = set()
    table_refs: list[tuple[str, str | None]] = []
    call_funcs: set[int] = set()
    disclosed_args: set[int] = set()

    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_NAMES.get(type(node), type(node).__name__)
            raise ExpressionProblem(f"{what} is not allowed in rule expressions: {text!r}")
        if isinstance(node, ast.Call):
            _check_call(node, text, fields, disclosed, table_refs)
            call_funcs.add(id(node.func))
            if isinstance(node.func, ast.Name) and node.func.id == "disclosed":
                disclosed_args.add(id(node.args[0]))
        elif isinstance(node, ast.Constant):
            _check_constant(node.value, text)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (
                isinstance(exponent, ast.Constant)
                and isinstance(exponent.value, (int, float))
                and not isinstance(exponent.value, bool)
                and abs(exponent.value) <= MAX_POWER
            ):
                raise ExpressionProblem(
                    f"an exponent must be a number no larger than {MAX_POWER}: {text!r}"
                )
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in call_funcs | disclosed_args:
            if node.id.startswith("_"):
                raise ExpressionProblem(f"names starting with '_' are not allowed: {node.id}")
            if node.id not in fields:
                raise ExpressionProblem(f"unknown name {node.id!r}: not a declared field")
            inputs.add(node.id)
    both = inputs & disclosed
    if both:
        raise ExpressionProblem(
            f"{sorted(both)[0]} is used both as disclosed() and as resolved in {text!r}"
        )
    return Expression(text, tree.body, frozenset(inputs), frozenset(disclosed), tuple(table_refs))


def _check_constant(value: Any, text: str) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise ExpressionProblem(f"number {value!r} is out of range in {text!r}")
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING_CONSTANT:
            raise ExpressionProblem(f"string literal longer than {MAX_STRING_CONSTANT}")
        return
    raise ExpressionProblem(f"literal {value!r} is not allowed in {text!r}")


def _check_call(
    node: ast.Call,
    text: str,
    fields: set[str] | dict[str, Any],
    disclosed: set[str],
    table_refs: list[tuple[str, str | None]],
) -> None:
    if not isinstance(node.func, ast.Name):
        raise ExpressionProblem(f"only named functions can be called: {text!r}")
    name = node.func.id
    if name not in FUNCTIONS:
        allowed = ", ".join(sorted(FUNCTIONS))
        raise ExpressionProblem(f"function {name!r} is not allowed; allowed: {allowed}")
    if node.keywords:
        raise ExpressionProblem(f"keyword arguments are not allowed: {text!r}")
    args = node.args
    if name == "convert":
        target = args[1] if len(args) == 2 else None
        if not (isinstance(target, ast.Constant) and isinstance(target.value, str)):
            raise ExpressionProblem(f"convert() takes an expression and a quoted unit: {text!r}")
    elif name == "disclosed":
        if len(args) != 1 or not isinstance(args[0], ast.Name) or args[0].id not in fields:
            raise ExpressionProblem(f"disclosed() takes one declared field name: {text!r}")
        disclosed.add(args[0].id)
    elif name in TABLE_FUNCTIONS:
        minimum = 2 if name == "has_row" else 3
        if len(args) < minimum:
            raise ExpressionProblem(f"{name}() needs at least {minimum} arguments: {text!r}")
        first = args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            raise ExpressionProblem(f"{name}() takes the table name as a quoted string first")
        column: str | None = None
        if name != "has_row":
            last = args[-1]
            if not (isinstance(last, ast.Constant) and isinstance(last.value, str)):
                raise ExpressionProblem(f"{name}() takes the column name as a quoted string last")
            column = last.value
        table_refs.append((first.value, column))


def _safe_power(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, (int, float)) and abs(exponent) > MAX_POWER:
        raise OverflowError(f"exponent {exponent} is larger than {MAX_POWER}")
    return operator.pow(base, exponent)


def _number(value: Any) -> Any:
    if isinstance(value, str):
        raise TypeError(f"expected a number, got the text {value!r}")
    return value


def _year(value: Any) -> int:
    if not isinstance(value, datetime):
        raise TypeError(f"year() expects a date or date-time, got {value!r}")
    return value.year


def _minus_hours(value: Any, hours: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"minus_hours() expects a date-time first, got {value!r}")
    return value - timedelta(hours=float(hours))


def _hours_between(start: Any, end: Any) -> float:
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        raise TypeError("hours_between() expects two date-times")
    return (end - start).total_seconds() / 3600.0


def _unchecked_convert(value: Any, unit: Any) -> Any:
    raise ValueError("convert() runs only in rules whose units were checked at load")


def _binary(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def checked(a: Any, b: Any) -> Any:
        return op(_number(a), _number(b))

    return checked


_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: _binary(operator.add),
    ast.Sub: _binary(operator.sub),
    ast.Mult: _binary(operator.mul),
    ast.Div: _binary(operator.truediv),
    ast.FloorDiv: _binary(operator.floordiv),
    ast.Mod: _binary(operator.mod),
    ast.Pow: _binary(_safe_power),
    ast.USub: lambda a: -_number(a),
    ast.UAdd: lambda a: +_number(a),
    ast.Not: operator.not_,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class _Evaluator(simpleeval.SimpleEval):  # type: ignore[misc]
    """simpleeval with only the node handlers our grammar needs."""

    def __init__(self, functions: dict[str, Callable[..., Any]]) -> None:
        super().__init__(operators=_OPERATORS, functions=functions, names={})
        allowed = (
            ast.Name, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
            ast.Constant,
        )  # fmt: skip
        handlers: dict[type[ast.AST], Callable[..., Any]] = dict(self.__dict__["nodes"])
        self.nodes = {k: v for k, v in handlers.items() if k in allowed}


@dataclass
class EvaluationContext:
    """Everything an evaluation may read: input values and the ruleset's tables."""

    tables: dict[str, Table]
    trace: list[TableUse]


class ExpressionRunner:
    """Evaluates checked expressions; one instance serves many evaluations."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.context = EvaluationContext(tables, [])
        ctx = self.context

        def table(name: str) -> Table:
            return ctx.tables[name]

        functions: dict[str, Callable[..., Any]] = {
            "min": min,
            "max": max,
            "abs": abs,
            "round": round,
            "ceil": math.ceil,
            "floor": math.floor,
            "lookup": lambda t, *a: lookup(table(t), tuple(a[:-1]), a[-1], ctx.trace),
            "lookup_year": lambda t, *a: lookup_year(table(t), tuple(a[:-1]), a[-1], ctx.trace),
            "has_row": lambda t, *a: has_row(table(t), tuple(a)),
            "year": _year,
            "minus_hours": _minus_hours,
            "hours_between": _hours_between,
            "disclosed": lambda v: v,
            "convert": _unchecked_convert,
        }
        self._evaluator = _Evaluator(functions)

    def run(self, expression: Expression, names: dict[str, Any]) -> tuple[Any, list[TableUse]]:
        """Evaluate with the given input values; returns the value and the table rows read.

        Raises NotApplicable when a row it needs is missing, ArithmeticError, TypeError or
        ValueError when the inputs do not suit the expression.
        """
        self.context.trace = []
        self._evaluator.names = names
        self._evaluator.expr = expression.text
        try:
            value = self._evaluator._eval(expression.node)
        except NotApplicable:
            raise
        except simpleeval.InvalidExpression as exc:
            raise ValueError(str(exc)) from None
        return value, self.context.trace
