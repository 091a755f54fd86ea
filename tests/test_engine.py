"""The engine on small synthetic rulesets: priority, skipping, provenance, load checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuneprint import load_ruleset, why_unresolved
from tuneprint.core.problems import RulesetError, UnresolvedError
from tuneprint.core.resolve import estimate
from tuneprint.load.disclosures import load_disclosure

from tests.minirules import FIELDS, TABLES, build, disclose

CHAIN = [
    {"id": "c.from_a", "sets": "c", "priority": 10, "value": "a * 2"},
    {"id": "c.from_b", "sets": "c", "priority": 20, "value": "b + 1"},
    {"id": "c.constant", "sets": "c", "priority": 30, "value": 7},
]


def run(tmp_path: Path, rules: list[dict], values: dict, **kw):  # type: ignore[no-untyped-def]
    rs = load_ruleset(build(tmp_path / "rs", rules, **kw))
    return estimate(rs, load_disclosure(disclose(tmp_path / "d.yaml", values), rs))


def test_disclosed_value_wins_over_every_rule(tmp_path: Path) -> None:
    est = run(tmp_path, CHAIN, {"c": 3, "a": 1})
    assert est.fields["c"].value == 3
    assert est.fields["c"].status == "input"
    assert "a" not in est.fields  # demand-driven: nothing needed it


def test_first_applicable_rule_in_priority_order(tmp_path: Path) -> None:
    est = run(tmp_path, CHAIN, {"b": 4})
    c = est.fields["c"]
    assert c.value == 5 and c.rule is not None and c.rule.id == "c.from_b"
    assert c.inputs == {"b": 4}
    assert [(s.rule, s.reason) for s in c.skipped] == [
        ("c.from_a", "needs a, which is not disclosed (no rule sets it)")
    ]


def test_priority_not_file_order(tmp_path: Path) -> None:
    est = run(tmp_path, list(reversed(CHAIN)), {"a": 1, "b": 1})
    assert est.fields["c"].rule is not None and est.fields["c"].rule.id == "c.from_a"


def test_false_condition_is_skipped_with_reason(tmp_path: Path) -> None:
    rules = [
        {"id": "c.big", "sets": "c", "priority": 10, "when": "a > 10", "value": "a"},
        *CHAIN[1:],
    ]
    est = run(tmp_path, rules, {"a": 1})
    c = est.fields["c"]
    assert c.value == 7
    assert c.skipped[0].reason == "condition is false: a > 10"


def test_missing_table_row_is_skipped(tmp_path: Path) -> None:
    rules = [
        {
            "id": "c.row",
            "sets": "c",
            "priority": 10,
            "value": 'lookup("things", "missing-one", "power")',
        },
        CHAIN[2],
    ]
    est = run(tmp_path, rules, {})
    assert est.fields["c"].skipped[0].reason == "no row missing-one in table things"


def test_table_value_has_status_table_and_row_provenance(tmp_path: Path) -> None:
    rules = [{"id": "c.row", "sets": "c", "priority": 10, "value": 'lookup("things", n, "power")'}]
    est = run(tmp_path, rules, {"n": "BIG ONE (TM)"})
    c = est.fields["c"]
    assert est.fields["n"].value == "big-one"  # alias, case and punctuation folded
    assert c.status == "table" and c.value == 50
    (use,) = c.tables
    assert (use.table.name, use.key, use.column, use.sources) == (
        "things",
        ("big-one",),
        "power",
        ("s",),
    )
    assert use.at.line is not None and use.at.path == "tables/things.yaml"


@pytest.mark.parametrize(
    ("year", "power", "note"),
    [
        (2022, 22, None),
        (2024, 22, "2022 is the latest year before 2024 with data"),
        (2021, 20, "2020 is the latest year before 2021 with data"),
        (2010, 20, "2020 is the earliest year after 2010 with data"),
    ],
)
def test_lookup_year_says_which_year_it_used(
    tmp_path: Path, year: int, power: int, note: str | None
) -> None:
    rules = [
        {
            "id": "c.yearly",
            "sets": "c",
            "priority": 10,
            "value": 'lookup_year("yearly", n, y, "power")',
        }
    ]
    est = run(tmp_path, rules, {"n": "big-one", "y": year})
    assert est.fields["c"].value == power
    assert est.fields["c"].tables[0].note == note


def test_unresolvable_output_says_what_to_disclose_then_every_rule_and_reason(
    tmp_path: Path,
) -> None:
    with pytest.raises(UnresolvedError) as info:
        run(tmp_path, CHAIN[:2], {})
    (problem,) = info.value.problems
    assert problem.code == "unresolved" and problem.field == "c"
    assert str(problem).endswith("cannot resolve c (c): disclose a, or b")
    (unresolved,) = info.value.failures
    assert unresolved.options == (("a",), ("b",))
    assert [(s.rule, s.code, s.fields) for s in unresolved.failure.tried] == [
        ("c.from_a", "input-missing", ("a",)),
        ("c.from_b", "input-missing", ("b",)),
    ]
    tree = why_unresolved(info.value, load_ruleset(tmp_path / "rs"))
    assert "c.from_a: needs a" in tree and "c.from_b: needs b" in tree


def test_rule_result_outside_bounds_names_the_rule(tmp_path: Path) -> None:
    with pytest.raises(RulesetError) as info:
        run(
            tmp_path, [{"id": "c.big", "sets": "c", "priority": 10, "value": "a * 1000"}], {"a": 1}
        )
    assert "c.big" in str(info.value) and "above the maximum 100" in str(info.value)
    assert "a=1" in str(info.value)


def test_division_by_zero_names_rule_and_inputs(tmp_path: Path) -> None:
    with pytest.raises(RulesetError) as info:
        run(
            tmp_path,
            [{"id": "c.div", "sets": "c", "priority": 10, "value": "a * a / b"}],
            {"a": 1, "b": 0},
        )
    assert "c.div" in str(info.value) and "division by zero" in str(info.value)


def load_problems(tmp_path: Path, rules: list[dict], **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(RulesetError) as info:
        load_ruleset(build(tmp_path / "rs", rules, **kw))
    return str(info.value)


def test_equal_priorities_in_one_field_are_rejected(tmp_path: Path) -> None:
    rules = [CHAIN[0], {**CHAIN[1], "priority": 10}]
    assert "two rules of c need different priorities" in load_problems(tmp_path, rules)


def test_cycles_are_rejected(tmp_path: Path) -> None:
    rules = [
        {"id": "a.from_b", "sets": "a", "priority": 10, "value": "b"},
        {"id": "b.from_a", "sets": "b", "priority": 10, "value": "a"},
        CHAIN[0],
    ]
    text = load_problems(tmp_path, rules)
    assert "dependency cycle" in text and "a.from_b" in text and "b.from_a" in text


def test_disclosed_reference_breaks_a_cycle(tmp_path: Path) -> None:
    rules = [
        {"id": "a.from_b", "sets": "a", "priority": 10, "value": "b / 2"},
        {"id": "b.from_disclosed_a", "sets": "b", "priority": 10, "value": "disclosed(a) * 2"},
        {"id": "b.default", "sets": "b", "priority": 20, "value": 8},
        CHAIN[0],
    ]
    assert run(tmp_path, rules, {"a": 3}).fields["c"].value == 6
    est = run(tmp_path / "2", rules, {})
    assert est.fields["b"].skipped[0].reason == "a is not disclosed"
    assert est.fields["c"].value == 8


def test_typo_in_rule_key_is_rejected_not_ignored(tmp_path: Path) -> None:
    rules = [{**CHAIN[0], "wen": "a > 1"}]
    assert "unknown key 'wen'" in load_problems(tmp_path, rules)


def test_unknown_source_and_field(tmp_path: Path) -> None:
    rules = [
        {**CHAIN[0], "source": "nowhere"},
        {"id": "d.x", "sets": "d", "priority": 10, "value": 1},
    ]
    text = load_problems(tmp_path, rules)
    assert "unknown source 'nowhere'" in text and "sets unknown field 'd'" in text


def test_rule_id_must_name_its_field(tmp_path: Path) -> None:
    assert "must start with the field" in load_problems(tmp_path, [{**CHAIN[0], "id": "x.y"}])


def test_unknown_table_and_column(tmp_path: Path) -> None:
    rules = [
        {"id": "c.t", "sets": "c", "priority": 10, "value": 'lookup("nope", n, "power")'},
        {"id": "c.u", "sets": "c", "priority": 20, "value": 'lookup("things", n, "wat")'},
    ]
    text = load_problems(tmp_path, rules)
    assert "unknown table 'nope'" in text and "no column 'wat'" in text


def test_duplicate_rule_ids_and_table_keys(tmp_path: Path) -> None:
    rows = [{"thing": "x", "power": 1, "source": "s"}, {"thing": "X", "power": 2, "source": "s"}]
    tables = {"things": {**TABLES["things"], "rows": rows}}
    rules = [CHAIN[0], {**CHAIN[1], "id": "c.from_a"}]
    text = load_problems(tmp_path, rules, tables=tables)
    assert "duplicate rule id" in text and "duplicate key" in text


def test_table_row_without_source_is_rejected(tmp_path: Path) -> None:
    tables = {"things": {**TABLES["things"], "rows": [{"thing": "x", "power": 1}]}}
    assert "'source' is required" in load_problems(tmp_path, CHAIN, tables=tables)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    rules = [{**CHAIN[0], "value": "zz"}, {**CHAIN[1], "value": "qq"}]
    text = load_problems(tmp_path, rules)
    assert "'zz'" in text and "'qq'" in text


def test_field_declaration_typos_are_rejected(tmp_path: Path) -> None:
    fields = {**FIELDS, "a": {**FIELDS["a"], "maximum": 3}}
    assert "unknown key 'maximum'" in load_problems(tmp_path, CHAIN, fields=fields)
