"""The views the service returns: the compact and bare result documents (read from the
estimate's facts) against the per-field records, and the derivation tree against the
text of ``explain``, on every fixture under every shipped ruleset."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tuneprint import load_ruleset
from tuneprint.core.model import Ruleset
from tuneprint.core.problems import TuneprintError
from tuneprint.core.provenance import plain
from tuneprint.core.resolve import Estimate, estimate
from tuneprint.load.disclosures import load_disclosure
from tuneprint.views.json import compact_record, result_json
from tuneprint.views.text import explain_text
from tuneprint.views.tree import explain_tree

from tests.conftest import FIXTURES, RULES, VERSIONS

CASES = sorted(FIXTURES.glob("case_*.yaml"))


def estimates() -> list[tuple[str, Ruleset, Estimate]]:
    out = []
    for version in VERSIONS:
        rs = load_ruleset(RULES / version)
        for case in CASES:
            try:
                out.append((f"{version}/{case.stem}", rs, estimate(rs, load_disclosure(case, rs))))
            except TuneprintError:
                continue  # a fixture an older ruleset cannot resolve
    return out


ESTIMATES = estimates()


def test_most_fixtures_resolve_under_most_rulesets() -> None:
    assert len(ESTIMATES) >= len(VERSIONS) * len(CASES) - len(CASES)


@pytest.mark.parametrize(("label", "rs", "est"), ESTIMATES, ids=[e[0] for e in ESTIMATES])
def test_compact_and_none_match_the_field_records(label: str, rs: Ruleset, est: Estimate) -> None:
    compact = result_json(est, "compact")
    bare = result_json(est, "none")
    full = result_json(est, "full")
    fields = est.fields
    assert compact["fields"] == {
        name: {"value": plain(r.value), "unit": r.unit, "provenance": compact_record(r)}
        for name, r in fields.items()
    }
    warnings = {name: r.warning for name, r in fields.items() if r.warning}
    assert compact.get("warnings", {}) == warnings == bare.get("warnings", {})
    assert "fields" not in bare
    assert compact["outputs"] == bare["outputs"] == full["outputs"]
    assert compact["outputs"] == {
        name: {"value": plain(fields[name].value), "unit": fields[name].unit}
        for name in rs.outputs
    }


def _walk(node: dict[str, Any], depth: int, out: list[tuple[int, str, str]]) -> None:
    out.append((depth, node["field"], node.get("rule", "input")))
    for child in node.get("children", ()):
        _walk(child, depth + 1, out)


def _text_lines(text: str) -> list[tuple[int, str, str]]:
    """(depth, field, rule or input) of each ``field = value   [...]`` line of the text."""
    found = []
    head = re.compile(
        r"^( *)(?:disclosed )?([a-z][a-z0-9_]*) = .*   \[(input|rule|table)(?:: ([^,\]]+))?"
    )
    for line in text.splitlines():
        match = head.match(line)
        if match:
            pad, field, status, rule = match.groups()
            found.append((len(pad) // 2, field, "input" if status == "input" else rule))
    return found


@pytest.mark.parametrize(("label", "rs", "est"), ESTIMATES, ids=[e[0] for e in ESTIMATES])
def test_the_tree_has_the_lines_of_the_text(label: str, rs: Ruleset, est: Estimate) -> None:
    names = list(rs.outputs)
    tree = explain_tree(est, names)
    walked: list[tuple[int, str, str]] = []
    for node in tree["fields"]:
        _walk(node, 0, walked)
    text = explain_text(est, names, portable=True)
    assert walked == _text_lines(text)
    cited = re.findall(r"^  \[([^\]]+)\] ", text.split("\nsources:\n", 1)[1], flags=re.M)
    assert list(tree["sources"]) == cited
    assert "rules/" not in text  # portable: versions and files, no path of this machine


def test_a_field_derived_twice_is_a_short_node_the_second_time() -> None:
    _, rs, est = next(e for e in ESTIMATES if e[0].endswith("case_c_seed_disclosure"))
    tree = explain_tree(est, list(rs.outputs))
    shorts: list[dict[str, Any]] = []

    def collect(node: dict[str, Any]) -> None:
        if node.get("derived_above"):
            shorts.append(node)
        for child in node.get("children", ()):
            collect(child)

    for node in tree["fields"]:
        collect(node)
    assert shorts and all(
        set(n) == {"field", "value", "unit", "status", "rule", "derived_above"} for n in shorts
    )
