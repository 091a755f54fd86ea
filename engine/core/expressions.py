"""Rule expressions: parsed and checked once at load; evaluated by a compiled function, with
simpleeval kept as the reference evaluator.

The grammar is arithmetic, comparisons, ``and``/``or``/``not``, ``a if c else b``, field
names and calls of the functions in ``functions.FUNCTIONS``; nothing else parses. There is
no attribute access, subscript, assignment, comprehension, lambda or f-string, so an
expression can reach neither Python objects nor loops: its evaluation time is bounded by
its length.

Both evaluators are stateless: ``run(expression, env, trace)`` reads field values from
``env`` and appends the table rows it reads to ``trace``; nothing is kept between calls,
so one loaded ruleset serves any number of threads.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from functools import cache
from typing import Any

from .functions import FUNCTIONS, TABLE_FUNCTIONS
from .model import Expression, Table
from .tables import has_row, lookup, lookup_year

MAX_EXPRESSION_LENGTH = 2000  # characters in one rule expression
MAX_EXPRESSION_DEPTH = 40  # nesting of operators and calls in one expression
MAX_STRING_CONSTANT = 200  # characters in one string literal
MAX_NUMBER = 1e18  # largest literal number; larger is a typo
MAX_POWER = 1000  # largest exponent in x ** y (values are physical quantities)
SOURCE_NAME_CHARS = 60  # characters of an expression naming its compiled code

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


def _depth(tree: ast.AST) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_EXPRESSION_DEPTH:
            break
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


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
        raise ExpressionProblem(f"cannot parse {text!r}: {exc or 'too deeply nested'}") from None
    if _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise ExpressionProblem(
            f"expression nests deeper than {MAX_EXPRESSION_DEPTH} levels: split it into rules"
        )

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
    return Expression(
        text, tree.body, tuple(sorted(inputs)), tuple(sorted(disclosed)), tuple(table_refs)
    )


def _check_constant(value: Any, text: str) -> None:
    if isinstance(value, bool) or value is None:
        if value is None:
            raise ExpressionProblem(f"None is not allowed in {text!r}")
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
    function = FUNCTIONS.get(name)
    if function is None:
        allowed = ", ".join(sorted(FUNCTIONS))
        raise ExpressionProblem(f"function {name!r} is not allowed; allowed: {allowed}")
    if node.keywords:
        raise ExpressionProblem(f"keyword arguments are not allowed: {text!r}")
    args = node.args
    if name == "convert" and not (
        len(args) == 2 and isinstance(args[1], ast.Constant) and isinstance(args[1].value, str)
    ):
        raise ExpressionProblem(f"convert() takes an expression and a quoted unit: {text!r}")
    if len(args) < function.min_args or (
        function.max_args is not None and len(args) > function.max_args
    ):
        most = "or more" if function.max_args is None else f"to {function.max_args}"
        raise ExpressionProblem(
            f"{name}() takes {function.min_args} {most} arguments, got {len(args)}: {text!r}"
            if function.max_args != function.min_args
            else f"{name}() takes {function.min_args} argument(s), got {len(args)}: {text!r}"
        )
    if name == "disclosed":
        if not isinstance(args[0], ast.Name) or args[0].id not in fields:
            raise ExpressionProblem(f"disclosed() takes one declared field name: {text!r}")
        disclosed.add(args[0].id)
    elif name in TABLE_FUNCTIONS:
        first = args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            raise ExpressionProblem(f"{name}() takes the table name as a quoted string first")
        column: str | None = None
        if function.literal_last:
            last = args[-1]
            if not (isinstance(last, ast.Constant) and isinstance(last.value, str)):
                raise ExpressionProblem(f"{name}() takes the column name as a quoted string last")
            column = last.value
        table_refs.append((first.value, column))


# -- evaluation -------------------------------------------------------------------------


def safe_power(base: Any, exponent: Any) -> float:
    """``base ** exponent`` in floating point: a huge result overflows at once instead of
    growing an integer of millions of digits."""
    if isinstance(exponent, (int, float)) and abs(exponent) > MAX_POWER:
        raise OverflowError(f"exponent {exponent} is larger than {MAX_POWER}")
    return math.pow(float(base), float(exponent))


def _table_call(name: str, tables: dict[str, Table], trace: list[Any], args: list[Any]) -> Any:
    table = tables[args[0]]
    if name == "has_row":
        return has_row(table, tuple(args[1:]))
    find = lookup if name == "lookup" else lookup_year
    return find(table, tuple(args[1:-1]), args[-1], trace)


def _number(value: Any) -> Any:
    if isinstance(value, str):
        raise TypeError(f"expected a number, got the text {value!r}")
    return value


def _arithmetic(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def checked(a: Any, b: Any) -> Any:
        return op(_number(a), _number(b))

    return checked


# The reference checks operand types at every step; the compiled path relies on the kinds
# the unit checker proved at load (text never reaches arithmetic in a loaded ruleset).
_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: _arithmetic(operator.add),
    ast.Sub: _arithmetic(operator.sub),
    ast.Mult: _arithmetic(operator.mul),
    ast.Div: _arithmetic(operator.truediv),
    ast.FloorDiv: _arithmetic(operator.floordiv),
    ast.Mod: _arithmetic(operator.mod),
    ast.Pow: _arithmetic(safe_power),
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


@cache
def _reference_class() -> Any:
    """simpleeval with only the node handlers our grammar needs (simpleeval is imported
    only when the reference evaluator is used)."""
    import simpleeval

    class Reference(simpleeval.SimpleEval):  # type: ignore[misc]
        def __init__(self, env: dict[str, Any], tables: dict[str, Table], trace: list[Any]):
            functions: dict[str, Callable[..., Any]] = {
                name: f.impl for name, f in FUNCTIONS.items() if f.impl is not None
            }
            for name in TABLE_FUNCTIONS:
                functions[name] = lambda *a, _n=name: _table_call(_n, tables, trace, list(a))
            functions["disclosed"] = lambda v: v
            functions["convert"] = _unchecked_convert
            super().__init__(operators=_OPERATORS, functions=functions, names=env)
            allowed = (
                ast.Name, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp,
                ast.Call, ast.Constant,
            )  # fmt: skip
            handlers: dict[type[ast.AST], Callable[..., Any]] = dict(self.__dict__["nodes"])
            self.nodes = {k: v for k, v in handlers.items() if k in allowed}

    return Reference


def _unchecked_convert(value: Any, unit: Any) -> Any:
    raise ValueError("convert() runs only in rules whose units were checked at load")


def reference_run(
    expression: Expression, env: dict[str, Any], trace: list[Any], tables: dict[str, Table]
) -> Any:
    """Evaluate with simpleeval (the reference). Raises NotApplicable when a row it needs
    is missing, ArithmeticError, TypeError or ValueError when the inputs do not suit it."""
    import simpleeval

    evaluator = _reference_class()(env, tables, trace)
    evaluator.expr = expression.text
    try:
        return evaluator._eval(expression.node)
    except simpleeval.InvalidExpression as exc:
        raise ValueError(str(exc)) from None


# -- the compiled evaluator ---------------------------------------------------------------

_BINARY = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
}  # fmt: skip
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


EVALUATION_ERRORS = (ArithmeticError, TypeError, ValueError, KeyError)  # a rule that fails


class Generator:
    """Python source for checked expression trees. Every name becomes a look-up in the
    ``_e`` mapping, table rows read are appended to ``trace`` (a variable name), and every
    call is one of the registry's functions bound under a private name, so the code
    reaches nothing but the values and functions it is given."""

    def __init__(self, tables: dict[str, Table], trace: str = "_t") -> None:
        self.tables = tables
        self.trace = trace
        self.bound: dict[str, Any] = {}
        self._ids: dict[int, str] = {}

    def bind(self, value: Any) -> str:
        """A private name for an object the code refers to (the same name for the same
        object)."""
        known = self._ids.get(id(value))
        if known is not None:
            return known
        name = f"_b{len(self.bound)}"
        self.bound[name] = value
        self._ids[id(value)] = name
        return name

    def namespace(self) -> dict[str, Any]:
        """The names the generated code needs: the helpers and every bound object."""
        return {
            "__builtins__": {},
            "_pow": safe_power,
            "_lookup": lookup,
            "_lookup_year": lookup_year,
            "_has_row": has_row,
            "_unchecked_convert": _unchecked_convert,
            **self.bound,
        }

    def code(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return repr(node.value)
        if isinstance(node, ast.Name):
            return f"_e[{node.id!r}]"
        if isinstance(node, ast.BinOp):
            left, right = self.code(node.left), self.code(node.right)
            if isinstance(node.op, ast.Pow):
                return f"_pow({left}, {right})"
            return f"({left} {_BINARY[type(node.op)]} {right})"
        if isinstance(node, ast.UnaryOp):
            symbol = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not "}[type(node.op)]
            return f"({symbol}{self.code(node.operand)})"
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + joiner.join(self.code(v) for v in node.values) + ")"
        if isinstance(node, ast.Compare):
            parts = [self.code(node.left)]
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                parts += [_COMPARE[type(op)], self.code(comparator)]
            return "(" + " ".join(parts) + ")"
        if isinstance(node, ast.IfExp):
            test, body, orelse = (self.code(n) for n in (node.test, node.body, node.orelse))
            return f"({body} if {test} else {orelse})"
        if isinstance(node, ast.Call):
            return self.call(node)
        raise ExpressionProblem(f"cannot compile {type(node).__name__}")

    def call(self, node: ast.Call) -> str:
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        args = node.args
        if name == "disclosed":
            assert isinstance(args[0], ast.Name)
            return f"_e[{args[0].id!r}]"
        if name in TABLE_FUNCTIONS:
            assert isinstance(args[0], ast.Constant)
            table = self.bind(self.tables[str(args[0].value)])
            if name == "has_row":
                keys = "".join(f"{self.code(a)}, " for a in args[1:])
                return f"_has_row({table}, ({keys}))"
            keys = "".join(f"{self.code(a)}, " for a in args[1:-1])
            assert isinstance(args[-1], ast.Constant)
            return f"_{name}({table}, ({keys}), {args[-1].value!r}, {self.trace})"
        function = FUNCTIONS[name]
        if function.impl is None:  # convert() left in a rule whose units were not checked
            return f"_unchecked_convert({', '.join(self.code(a) for a in args)})"
        return f"{self.bind(function.impl)}({', '.join(self.code(a) for a in args)})"


def compiled(
    expression: Expression, tables: dict[str, Table]
) -> Callable[[dict[str, Any], list[Any]], Any]:
    """The expression as a Python function ``f(env, trace)``, generated from its checked
    tree (which holds only the allowed node types) with no builtins in reach."""
    generator = Generator(tables)
    body = generator.code(expression.node)
    namespace = generator.namespace()
    source = f"def _expression(_e, _t):\n    return {body}\n"
    exec(
        compile(source, f"<rule expression {expression.text[:SOURCE_NAME_CHARS]!r}>", "exec"),
        namespace,
    )
    function: Callable[[dict[str, Any], list[Any]], Any] = namespace["_expression"]
    return function


def evaluate(
    expression: Expression,
    env: dict[str, Any],
    tables: dict[str, Table] | None = None,
    reference: bool = False,
) -> tuple[Any, list[Any]]:
    """An expression's value for these field values, and the table rows it read.

    The compiled form is used when the expression has one (every expression of a loaded
    ruleset does) unless ``reference`` asks for simpleeval; an expression compiled on its
    own is evaluated by simpleeval.
    """
    trace: list[Any] = []
    if reference or expression.run is None:
        return reference_run(expression, env, trace, tables or {}), trace
    return expression.run(env, trace), trace
