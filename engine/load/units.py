"""Unit and kind checking of rule expressions at load time, with pint.

Every field and table column declares a unit. At load, each expression is evaluated
symbolically: a field or looked-up value is 1 of its unit, a number literal is a pure
number. The result must have the unit of the field the rule sets, exactly: a result in g
where the field says kg, or in kW where it says kWh, is rejected. Conversions are written
``convert(expression, "unit")``; pint computes the factor here, once, and the expression is
rewritten to a plain multiplication, so evaluation never touches pint.

Kinds are checked on the way: text, dates and true/false never meet arithmetic, a
comparison compares two things of one kind, and ``and``, ``or``, ``not`` and a condition
take true or false only, so a rule that could only fail or mislead at run time is refused
at load, with its file and line.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import pint

from ..core.functions import FUNCTIONS
from ..core.model import Expression, FieldSpec, Rule, Table

NOT_A_QUANTITY = "-"  # the unit of names, text and dates
SAME_UNIT = 1e-9  # a conversion factor this close to 1 means the same unit


class UnitProblem(Exception):
    """An expression's units or kinds do not agree; the message says where and how."""


@dataclass(frozen=True)
class Kind:
    """What a non-numeric expression yields."""

    name: str  # "text", "date" or "true/false"


TEXT, DATE, BOOL = Kind("text"), Kind("date"), Kind("true/false")


@dataclass(frozen=True)
class Dim:
    """The unit of a numeric expression; a bare number literal takes the unit it meets."""

    q: Any  # pint.Quantity of magnitude 1: only its units matter
    literal: bool = False


class UnitDefinitionProblem(Exception):
    """A line of a ruleset's units file is not a unit definition."""


@cache
def registry_from_text(text: str) -> Any:
    """A unit registry with pint's defaults plus definitions (pint syntax, # comments).

    Only plain definitions (``name = expression``) are accepted: pint directives such as
    ``@import`` or ``@group`` could reach other files or change existing units.
    """
    ureg: Any = pint.UnitRegistry(cache_folder=None)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("@") or "=" not in line:
            raise UnitDefinitionProblem(f"line {number}: expected 'name = definition'")
        name = line.split("=", 1)[0].strip()
        if name in ureg:  # a redefined kilogram would silently change every conversion
            raise UnitDefinitionProblem(f"line {number}: {name} is already a unit")
        try:
            ureg.define(line)
        except Exception as exc:  # pint raises many kinds; each is a bad definition
            raise UnitDefinitionProblem(f"line {number}: {exc}") from None
    return ureg


def parse_unit(ureg: Any, unit: str) -> Any:
    """One of the unit as a quantity; None for non-quantities ("-")."""
    if unit == NOT_A_QUANTITY:
        return None
    return ureg.Quantity(1, "dimensionless" if unit == "1" else unit)


def show(q: Any) -> str:
    """A unit as people write it; a pure number says so."""
    text = f"{q.units:~}"
    return text or "a pure number"


def _kind(value: Any) -> str:
    return value.name if isinstance(value, Kind) else "quantity"


class _Analysis:
    def __init__(self, ureg: Any, fields: dict[str, FieldSpec], tables: dict[str, Table]) -> None:
        self.ureg = ureg
        self.fields = fields
        self.tables = tables
        self.factors: dict[int, float] = {}

    def unit(self, unit: str, kind: str) -> Kind | Dim:
        if kind in ("date", "datetime"):
            return DATE
        if kind == "boolean":
            return BOOL
        q = parse_unit(self.ureg, unit)
        return TEXT if q is None else Dim(q)

    def dim(self, units: Any) -> Dim:
        return Dim(self.ureg.Quantity(1, units))

    def same(self, a: Kind | Dim, b: Kind | Dim, what: str) -> Kind | Dim:
        """Operands that must share one kind and unit (sum, min, comparison...)."""
        if isinstance(a, Kind) or isinstance(b, Kind):
            if a != b:
                raise UnitProblem(f"{what} mixes a {_kind(a)} and a {_kind(b)}")
            return a
        if a.literal:
            return b
        if b.literal:
            return a
        if a.q.dimensionality != b.q.dimensionality:
            raise UnitProblem(f"{what} mixes {show(a.q)} and {show(b.q)}")
        if not math.isclose(b.q.to(a.q.units).magnitude, 1.0, rel_tol=SAME_UNIT):
            raise UnitProblem(f"{what} mixes {show(a.q)} and {show(b.q)}: convert() one of them")
        return a

    def numeric(self, value: Kind | Dim, what: str) -> Dim:
        if isinstance(value, Kind):
            raise UnitProblem(f"{what} on a {_kind(value)}")
        return value

    def boolean(self, node: ast.expr, what: str) -> None:
        got = self.eval(node)
        if got is not BOOL:
            raise UnitProblem(f"{what} takes true or false, not a {_kind(got)}")

    def eval(self, node: ast.expr) -> Kind | Dim:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return BOOL
            if isinstance(node.value, str):
                return TEXT
            return Dim(self.ureg.Quantity(1, "dimensionless"), literal=True)
        if isinstance(node, ast.Name):
            spec = self.fields[node.id]
            return self.unit(spec.unit, spec.type)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                self.boolean(node.operand, "'not'")
                return BOOL
            return self.numeric(self.eval(node.operand), "arithmetic")
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.BoolOp):
            word = "'and'" if isinstance(node.op, ast.And) else "'or'"
            for value in node.values:
                self.boolean(value, word)
            return BOOL
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.eval(comparator)
                kept = self.same(left, right, "a comparison")
                ordering = not isinstance(op, (ast.Eq, ast.NotEq))
                if ordering and kept in (TEXT, BOOL):
                    raise UnitProblem(f"a comparison orders a {_kind(kept)}: use == or !=")
                left = right
            return BOOL
        if isinstance(node, ast.IfExp):
            self.boolean(node.test, "the condition of 'if'")
            return self.same(
                self.eval(node.body), self.eval(node.orelse), "a conditional expression"
            )
        if isinstance(node, ast.Call):
            return self.call(node)
        raise UnitProblem(f"cannot check units of {type(node).__name__}")

    def binop(self, node: ast.BinOp) -> Dim:
        left = self.numeric(self.eval(node.left), "arithmetic")
        right = self.numeric(self.eval(node.right), "arithmetic")
        literal = left.literal and right.literal
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mod)):
            what = {ast.Add: "a sum", ast.Sub: "a difference"}.get(type(node.op), "a remainder")
            kept = self.same(left, right, what)
            assert isinstance(kept, Dim)
            return Dim(kept.q, literal)
        if isinstance(node.op, ast.Mult):
            return Dim(self.dim((left.q * right.q).units).q, literal)
        if isinstance(node.op, (ast.Div, ast.FloorDiv)):
            return Dim(self.dim((left.q / right.q).units).q, literal)
        if isinstance(node.op, ast.Pow):
            exponent = node.right.value if isinstance(node.right, ast.Constant) else None
            if not right.literal or not isinstance(exponent, (int, float)):
                raise UnitProblem("an exponent must be a plain number")
            return Dim(self.dim((left.q**exponent).units).q, literal)
        raise UnitProblem(f"operator {type(node.op).__name__} is not checked")

    def keys(self, name: str, table: Table, keys: list[ast.expr]) -> None:
        if len(keys) != len(table.key):
            raise UnitProblem(
                f"{name}() on table {table.name} needs {len(table.key)} key(s) "
                f"({', '.join(table.key)}), got {len(keys)}"
            )
        for column, arg in zip(table.key, keys, strict=True):
            spec = table.columns[column]
            expected: Kind | Dim = (
                TEXT if spec.type == "string" else self.unit(spec.unit, spec.type)
            )
            self.same(expected, self.eval(arg), f"the key {column} of {name}()")

    def call(self, node: ast.Call) -> Kind | Dim:
        assert isinstance(node.func, ast.Name)
        function = FUNCTIONS[node.func.id]
        args = node.args
        gives = function.gives
        if gives in ("column", "bool") and function.literal_first:
            first = args[0]
            assert isinstance(first, ast.Constant)
            table = self.tables[str(first.value)]
            if gives == "bool":
                self.keys(function.name, table, args[1:])
                return BOOL
            self.keys(function.name, table, args[1:-1])
            last = args[-1]
            assert isinstance(last, ast.Constant)
            col = table.columns[str(last.value)]
            return TEXT if col.type == "string" else self.unit(col.unit, col.type)
        if gives == "field":
            return self.eval(args[0])
        if gives == "unit":
            inner = self.numeric(self.eval(args[0]), "convert()")
            target = args[1]
            assert isinstance(target, ast.Constant) and isinstance(target.value, str)
            try:
                wanted = parse_unit(self.ureg, target.value)
            except (pint.errors.PintError, ValueError, AttributeError, TypeError) as exc:
                raise UnitProblem(f"unknown unit {target.value!r}: {exc}") from None
            if wanted is None or wanted.dimensionality != inner.q.dimensionality:
                raise UnitProblem(f"cannot convert {show(inner.q)} to {target.value}")
            self.factors[id(node)] = inner.q.to(wanted.units).magnitude
            return Dim(wanted)
        values = [self.eval(a) for a in args]
        name = function.name
        if gives == "same":
            out = self.numeric(values[0], f"{name}()")
            for v in values[1:]:
                kept = self.same(out, self.numeric(v, f"{name}()"), f"{name}()")
                assert isinstance(kept, Dim)
                out = kept
            return out
        if gives == "first":
            for v in values[1:]:
                self.numeric(v, f"{name}()")
            return self.numeric(values[0], f"{name}()")
        if gives == "year":
            self.same(DATE, values[0], f"{name}()")
            return self.dim("year")
        if gives == "date":
            self.same(DATE, values[0], f"{name}()")
            self.same(values[1], self.dim("h"), f"{name}()")
            return DATE
        if gives == "hours":
            for v in values:
                self.same(DATE, v, f"{name}()")
            return self.dim("h")
        raise UnitProblem(f"cannot check units of {name}()")


class _ConvertRewriter(ast.NodeTransformer):
    def __init__(self, factors: dict[int, float]) -> None:
        self.factors = factors

    def visit_Call(self, node: ast.Call) -> ast.AST:
        factor = self.factors.get(id(node))
        inner = self.generic_visit(node)
        if factor is None:
            return inner
        assert isinstance(inner, ast.Call)
        return ast.copy_location(
            ast.BinOp(left=inner.args[0], op=ast.Mult(), right=ast.Constant(factor)), node
        )


def check_rule(
    ureg: Any, rule: Rule, fields: dict[str, FieldSpec], tables: dict[str, Table]
) -> Rule:
    """Check a rule's units and kinds; return it with convert() calls compiled to factors.

    Raises UnitProblem naming what was expected and what was found.
    """
    analysis = _Analysis(ureg, fields, tables)
    spec = fields[rule.sets]
    for condition, what in ((rule.when, "the condition"), (rule.warn_when, "warn_when")):
        if condition is not None:
            got_kind = analysis.eval(condition.node)
            if got_kind is not BOOL:
                raise UnitProblem(f"{what} gives a {_kind(got_kind)}, not true or false")
    got = analysis.eval(rule.value.node)
    expected = analysis.unit(spec.unit, spec.type)
    if isinstance(expected, Kind) or isinstance(got, Kind):
        text_ok = spec.type in ("string", "name", "enum") and got is TEXT
        if got != expected and not text_ok:
            raise UnitProblem(f"gives a {_kind(got)}, but {rule.sets} is a {_kind(expected)}")
    elif not got.literal:
        if got.q.dimensionality != expected.q.dimensionality:
            raise UnitProblem(
                f"gives {show(got.q)}, but {rule.sets} is in {show(expected.q)} "
                f"(expected {spec.unit})"
            )
        factor = got.q.to(expected.q.units).magnitude
        if not math.isclose(factor, 1.0, rel_tol=SAME_UNIT):
            raise UnitProblem(
                f"gives {show(got.q)}, but {rule.sets} is in {show(expected.q)} (1 "
                f"{show(got.q)} = {factor:g} {show(expected.q)}): wrap it in "
                f'convert(..., "{spec.unit}")'
            )
    if not analysis.factors:
        return rule
    rewrite = _ConvertRewriter(analysis.factors)
    value = _rewritten(rule.value, rewrite)
    when = _rewritten(rule.when, rewrite) if rule.when is not None else None
    warn = _rewritten(rule.warn_when, rewrite) if rule.warn_when is not None else None
    return replace(rule, value=value, when=when, warn_when=warn)


def _rewritten(expr: Expression, rewrite: _ConvertRewriter) -> Expression:
    tree = ast.Expression(body=expr.node)
    new = rewrite.visit(tree)
    ast.fix_missing_locations(new)
    return replace(expr, node=new.body)


def check_declared_unit(ureg: Any, unit: str) -> str | None:
    """None if pint understands the unit, else why not."""
    try:
        parse_unit(ureg, unit)
    except (pint.errors.PintError, ValueError, AttributeError, TypeError) as exc:
        return f"unknown unit {unit!r}: {exc}"
    return None
