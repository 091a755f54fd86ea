"""Reading YAML safely, and the expression sandbox: each attack named, each rejected."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tuneprint.core.expressions import ExpressionProblem, compile_expression, compiled, evaluate
from tuneprint.core.problems import InputError
from tuneprint.load.yamlio import parse_json, parse_yaml

FIELDS = {"a", "b", "name"}


def test_yaml_12_scalars() -> None:
    doc = parse_yaml("a: no\nb: 1e3\nc: 2024-07-06\nd: on\ne: true\nf: 0x10\n", "x.yaml")
    assert doc == {"a": "no", "b": 1000.0, "c": "2024-07-06", "d": "on", "e": True, "f": 16}


def test_yaml_keeps_lines() -> None:
    doc = parse_yaml("a: 1\nrows:\n  - {x: 1}\n  - {x: 2}\n", "x.yaml")
    assert doc.key_lines == {"a": 1, "rows": 2}
    assert doc["rows"].item_lines == [3, 4]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a' (first on line 1)"),
        ("a: &x [1]\nb: *x\n", "aliases (*name) are not allowed"),
        ("a: [1\n", "invalid YAML"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "nesting deeper than 64"),
        # (past libyaml's own limit: its message was told, "exceeded maximum nesting depth")
        ("a: " + "[" * 2000 + "]" * 2000 + "\n", "nesting deeper than 64"),
        ("a: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n", "nesting deeper than 64"),
        ("a: !!python/object:os.system {}\n", "invalid YAML"),
    ],
)
def test_yaml_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        parse_yaml(text, "x.yaml")
    assert fragment in str(info.value) and str(info.value).startswith("x.yaml")


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}', "{"])
def test_json_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_json(text, "x.json")


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("a.__class__", "attribute access"),
        ("a.real", "attribute access"),
        ("().__class__.__bases__[0].__subclasses__()", "only named functions"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("eval('1')", "function 'eval' is not allowed"),
        ("open('/etc/passwd')", "function 'open' is not allowed"),
        ("(lambda: 1)()", "only named functions can be called"),
        ("[x for x in range(10)]", "a comprehension"),
        ("{x: 1 for x in 'ab'}", "a comprehension"),
        ("f'{a}'", "an f-string"),
        ("'{0.__class__}'.format(a)", "only named functions"),
        ("a[0]", "a subscript"),
        ("(b := 1)", "assignment"),
        ("_secret", "names starting with '_'"),
        ("unknown_field + 1", "unknown name 'unknown_field'"),
        ("a if a else", "syntax error"),
        ("a; b", "syntax error"),
        ("1e400", "out of range"),
        ("a ** 100000", "exponent must be a number no larger than 1000"),
        ("a ** b", "exponent must be a number"),
        ("'x' * 10", None),  # parses; evaluation refuses text arithmetic (below)
        ("a " + "+ a " * 1200, "the limit is 2000"),
        ("min(a, key=b)", "keyword arguments"),
        ("lookup(name, a, 'power')", "table name as a quoted string"),
        ("disclosed(a + 1)", "disclosed() takes one declared field name"),
    ],
)
def test_expression_attacks_are_rejected(expression: str, fragment: str | None) -> None:
    if fragment is None:
        compile_expression(expression, FIELDS)
        return
    with pytest.raises(ExpressionProblem) as info:
        compile_expression(expression, FIELDS)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("'x' * 10", TypeError),
        ("a / b", ZeroDivisionError),
    ],
)
def test_evaluation_refuses_unbounded_work(expression: str, error: type[Exception]) -> None:
    """The reference evaluator checks every operand (the compiled one relies on the kinds
    the unit checker proves at load, which refuses text in arithmetic)."""
    with pytest.raises(error):
        evaluate(compile_expression(expression, FIELDS), {"a": 10, "b": 0}, {}, reference=True)


def test_compiled_division_by_zero_raises_like_the_reference() -> None:
    expr = compile_expression("a / b", FIELDS)
    with pytest.raises(ZeroDivisionError):
        evaluate(replace(expr, run=compiled(expr, {})), {"a": 10, "b": 0})


def test_parse_once_evaluate_many() -> None:
    expr = compile_expression("max(a, b) * 2 if a > 0 else abs(b)", FIELDS)
    fast = replace(expr, run=compiled(expr, {}))
    for e in (expr, fast):
        assert [evaluate(e, {"a": a, "b": -3})[0] for a in (1, 5, -1)] == [2, 10, 3]
    assert expr.inputs == ("a", "b")


def test_billion_laughs_is_refused_quickly() -> None:
    import time

    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    start = time.perf_counter()
    with pytest.raises(InputError, match="aliases"):
        parse_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert time.perf_counter() - start < 1.0


def test_scalar_alias_is_refused() -> None:
    with pytest.raises(InputError, match="aliases"):
        parse_yaml("a: &x 5\nb: *x\n", "x.yaml")
