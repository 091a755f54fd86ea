"""Property-based fuzzing: nothing but the documented errors escapes.

Documented errors are the subclasses of tuneprint.TuneprintError (InputError,
RulesetError, UnresolvedError) at the boundary, and ExpressionProblem / UnitProblem from
the expression compiler and unit checker. The CI profile runs a few hundred examples per
property; `python bench/fuzz.py` runs the same properties far longer.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tuneprint import load_ruleset
from tuneprint.core.expressions import ExpressionProblem, compile_expression, evaluate
from tuneprint.core.model import Location, Rule
from tuneprint.core.problems import TuneprintError
from tuneprint.core.resolve import estimate
from tuneprint.core.tables import NotApplicable
from tuneprint.load.disclosures import disclosure_from_document
from tuneprint.load.units import UnitProblem, check_rule, registry_from_text
from tuneprint.load.yamlio import parse_json, parse_yaml

from tests.conftest import FAITHFUL

RULESET = load_ruleset(FAITHFUL)
FIELDS = sorted(RULESET.fields)
UREG = registry_from_text(
    "\n".join(p.read_text(encoding="utf-8") for p in [FAITHFUL / "units.txt"] if p.is_file())
)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "Llama 2",
            "A100 80GB",
            "us-west-2",
            "AWS Bedrock",
            "2024-07-06T17:01",
            "HPE Apollo 6500 Gen10 Plus",
            "full",
            "lora",
            "France",
            "nan",
            "1e999",
        ]
    ),
)


@FUZZ
@given(st.text(max_size=2000))
def test_any_text_as_a_disclosure(text: str) -> None:
    with contextlib.suppress(TuneprintError):
        disclosure_from_document(parse_yaml(text, "fuzz.yaml"), "fuzz.yaml", RULESET)
    with contextlib.suppress(TuneprintError):
        disclosure_from_document(parse_json(text, "fuzz.json"), "fuzz.json", RULESET)


@FUZZ
@given(
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=20)), scalars, max_size=25)
)
def test_any_values_are_checked_and_resolved_or_refused(values: dict[str, Any]) -> None:
    try:
        disclosure = disclosure_from_document({"values": values}, "fuzz.yaml", RULESET)
        est = estimate(RULESET, disclosure)
    except TuneprintError:
        return
    for name in RULESET.outputs:
        value = est.fields[name].value
        assert isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


TOKENS = [
    "a",
    "b",
    "gpu_count",
    "pue",
    "reserved_hours",
    "gpu_model",
    "unknown",
    "_x",
    "__class__",
    "1",
    "0",
    "2.5",
    "1e400",
    "1000",
    "'x'",
    '"gpus"',
    '"tdp_w"',
    "True",
    "None",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "**",
    "<",
    "==",
    "and",
    "or",
    "not",
    "if",
    "else",
    "in",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    ":",
    "=",
    ":=",
    "lambda",
    "for",
    "f'",
    "@",
    "min",
    "max",
    "round",
    "lookup",
    "lookup_year",
    "convert",
    "disclosed",
    "year",
    "eval",
    "__import__",
    "open",
    "getattr",
]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25), st.data())
def test_any_expression_is_compiled_checked_and_evaluated_or_refused(
    tokens: list[str], data: st.DataObject
) -> None:
    text = " ".join(tokens)
    try:
        expr = compile_expression(text, RULESET.fields)
    except ExpressionProblem:
        return
    rule = Rule("pue.fuzz", "pue", 99, expr, None, "r", ("s",), Location("fuzz", "fuzz.yaml", 1))
    try:
        rule = check_rule(UREG, rule, RULESET.fields, RULESET.tables)
    except (UnitProblem, KeyError):
        # KeyError: a table or column the loader would have rejected before units
        return
    names = {name: data.draw(scalars) for name in (*expr.inputs, *expr.disclosed_inputs)}
    with contextlib.suppress(NotApplicable, ArithmeticError, TypeError, ValueError):
        evaluate(rule.value, names, RULESET.tables)


@FUZZ
@given(
    st.sampled_from(
        [
            "case_c_seed_disclosure.yaml",
            "case_d_seed_bedrock.yaml",
            "case_b_bloom_training_page.yaml",
        ]
    ),
    st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=6),
)
def test_perturbed_seed_cases_resolve_or_fail_cleanly(case: str, changes: dict[str, Any]) -> None:
    doc = parse_yaml((FAITHFUL.parent.parent / "fixtures" / case).read_text(), case)
    doc["values"].update(changes)
    try:
        est = estimate(RULESET, disclosure_from_document(doc, case, RULESET))
    except TuneprintError:
        return
    assert set(RULESET.outputs) <= set(est.fields)


# -- the readers of round two: batches as bytes, YAML scalars, expression trees by depth ---

BATCH_BYTES = st.binary(max_size=600) | st.builds(
    lambda head, rows: (head + "\n" + "\n".join(rows)).encode("utf-8", "surrogatepass"),
    st.sampled_from(["id,gpu_count,reserved_hours,gpu_model", "\ufeffid,gpu_count", "a,a", ""]),
    st.lists(st.text(max_size=40), max_size=6),
)


@FUZZ
@given(BATCH_BYTES, st.sampled_from([".csv", ".jsonl"]))
def test_any_bytes_as_a_batch_give_one_item_per_row(data: bytes, suffix: str) -> None:
    import tempfile

    from tuneprint.load.disclosures import load_batch

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"b{suffix}"
        path.write_bytes(data)
        try:
            items = list(load_batch(path, RULESET))
        except TuneprintError:
            return  # the file as a whole is refused (not UTF-8...)
    assert items, "an empty batch is an error item, never nothing"
    for item in items:
        if isinstance(item, Exception):
            assert isinstance(item, TuneprintError) and item.problems


SCALARS = st.one_of(
    st.from_regex(r"[-+]?[0-9_]{0,45}(\.[0-9_]{0,8})?([eE][-+]?[0-9]{0,4})?", fullmatch=True),
    st.from_regex(r"0[xob][0-9a-fA-F_]{0,10}", fullmatch=True),
    st.sampled_from(["yes", "no", "on", "off", "~", "null", ".inf", "-.inf", ".nan", "1:30"]),
    st.text(max_size=12),
)


@FUZZ
@given(SCALARS, st.sampled_from(["", "!!int ", "!!float ", "!!str ", "!!bool "]))
def test_any_yaml_scalar_is_a_value_or_a_clean_error(scalar: str, tag: str) -> None:
    text = f"id: x\nvalues:\n  gpu_count: {tag}{scalar}\n"
    try:
        doc = parse_yaml(text, "fuzz.yaml")
    except TuneprintError:
        return
    value = (
        doc["values"]["gpu_count"]
        if isinstance(doc, dict) and isinstance(doc.get("values"), dict)
        else None
    )
    if isinstance(value, int) and not isinstance(value, bool):
        digits = scalar.lstrip("+-")
        assert not (len(digits) > 1 and digits.startswith("0") and digits.isdigit()), scalar
    with contextlib.suppress(TuneprintError):
        disclosure_from_document(doc, "fuzz.yaml", RULESET)


LEAVES = st.sampled_from(["gpu_count", "reserved_hours", "1", "2.5", "pue", "True"])


@st.composite
def expression_trees(draw: st.DrawFn, depth: int) -> str:
    """An expression nested ``depth`` levels: one branch goes deeper at each level, the
    others are leaves, so its size grows with its depth, not exponentially."""
    text = draw(LEAVES)
    for _ in range(depth):
        kind = draw(st.sampled_from(["unary", "binary", "not", "if", "call"]))
        leaf = draw(LEAVES)
        if kind == "unary":
            text = f"-({text})"
        elif kind == "not":
            text = f"not ({text})"
        elif kind == "if":
            text = f"({leaf}) if ({text}) else ({draw(LEAVES)})"
        elif kind == "call":
            text = f"{draw(st.sampled_from(['min', 'max', 'abs', 'round', 'ceil']))}({text})"
        else:
            op = draw(st.sampled_from(["+", "-", "*", "/", "**", "<", "==", "and", "or"]))
            text = f"({text}) {op} ({leaf})" if draw(st.booleans()) else f"({leaf}) {op} ({text})"
    return text


@FUZZ
@given(st.integers(min_value=0, max_value=60).flatmap(expression_trees), st.data())
def test_any_expression_tree_by_depth_is_refused_or_evaluated(
    text: str, data: st.DataObject
) -> None:
    try:
        expr = compile_expression(text, RULESET.fields)
    except ExpressionProblem:
        return
    rule = Rule("pue.fuzz", "pue", 99, expr, None, "r", ("s",), Location("fuzz", "fuzz.yaml", 1))
    try:
        rule = check_rule(UREG, rule, RULESET.fields, RULESET.tables)
    except UnitProblem:
        return
    names = {name: data.draw(scalars) for name in (*expr.inputs, *expr.disclosed_inputs)}
    with contextlib.suppress(NotApplicable, ArithmeticError, TypeError, ValueError):
        evaluate(rule.value, names, RULESET.tables, reference=True)
