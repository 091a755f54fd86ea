"""The compiled resolver and the reference interpreter (simpleeval) agree: on every shipped
ruleset, over generated partial disclosures, the same values, the same provenance (rule,
table rows read, rules skipped with their codes, warnings) and the same failures."""

from __future__ import annotations

from typing import Any

import pytest
import tuneprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tuneprint.core.model import Ruleset
from tuneprint.core.resolve import estimate
from tuneprint.load.disclosures import disclosure_from_mapping
from tuneprint.load.yamlio import load_file

from tests.conftest import FIXTURES, RULES, VERSIONS

RULESETS: dict[str, Ruleset] = {}
FIXTURE_VALUES = [load_file(p)["values"] for p in sorted(FIXTURES.glob("case_*.yaml"))]


def ruleset(version: str) -> Ruleset:
    if version not in RULESETS:
        RULESETS[version] = tuneprint.load_ruleset(RULES / version)
    return RULESETS[version]


def candidates(rs: Ruleset, name: str) -> list[Any]:
    """Plausible disclosed values of a field: what the fixtures give, table rows for
    names, the bounds and a middle value for numbers, a few dates."""
    spec = rs.fields[name]
    out: list[Any] = [v["value"] if isinstance(v, dict) else v for f in FIXTURE_VALUES
                      for k, v in f.items() if k == name]  # fmt: skip
    if spec.type == "name":
        out += [row.key[0] for row in rs.tables[spec.table or ""].rows[:6]]
    elif spec.type == "enum":
        out += list(spec.choices)
    elif spec.type in ("number", "integer"):
        low = spec.minimum if spec.minimum is not None else spec.exclusive_minimum or 0
        high = spec.maximum if spec.maximum is not None else 1e6
        values = [low, high, (low + high) / 2, low + 1, 1, 0.5]
        out += [int(v) if spec.type == "integer" else v for v in values]
    elif spec.type in ("date", "datetime"):
        out += ["2019-03-01", "2023-07-18T10:00", "2026-01-01"]
    elif spec.type == "boolean":
        out += [True, False]
    return out or ["x"]


def outcome(rs: Ruleset, values: dict[str, Any], reference: bool) -> Any:
    try:
        disclosure = disclosure_from_mapping(values, "generated", rs)
        est = estimate(rs, disclosure, reference=reference)
    except tuneprint.TuneprintError as exc:
        failures = getattr(exc, "failures", ())
        return ("error", type(exc).__name__, [str(p) for p in exc.problems],
                [(u.field, u.options, u.failure) for u in failures])  # fmt: skip
    return ("ok", est.env, est.memo)


@st.composite
def partial_disclosures(draw: st.DrawFn, rs: Ruleset) -> dict[str, Any]:
    base = dict(draw(st.sampled_from(FIXTURE_VALUES)))
    kept = {k: v for k, v in base.items() if k in rs.fields and draw(st.booleans())}
    extra = draw(st.lists(st.sampled_from(sorted(rs.fields)), max_size=4, unique=True))
    for name in extra:
        kept[name] = draw(st.sampled_from(candidates(rs, name)))
    return kept


@pytest.mark.parametrize("version", VERSIONS)
def test_compiled_and_reference_agree_on_generated_disclosures(version: str) -> None:
    rs = ruleset(version)

    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(partial_disclosures(rs))
    def check(values: dict[str, Any]) -> None:
        assert outcome(rs, values, reference=False) == outcome(rs, values, reference=True)

    check()


@pytest.mark.parametrize("version", VERSIONS)
def test_compiled_and_reference_agree_on_the_fixtures(version: str) -> None:
    rs = ruleset(version)
    for values in FIXTURE_VALUES:
        fast, slow = outcome(rs, values, False), outcome(rs, values, True)
        assert fast == slow
        if fast[0] == "ok":
            assert fast[2], "provenance recorded"


def test_the_comparison_sees_a_difference() -> None:
    """The equality above is not vacuous: a changed fact is a difference."""
    rs = ruleset(VERSIONS[-1])
    est = estimate(rs, disclosure_from_mapping(FIXTURE_VALUES[2], "x", rs))
    memo = dict(est.memo)
    name, fact = next((k, v) for k, v in memo.items() if v[0] is not None)
    memo[name] = (fact[0], fact[1], (), "a warning")
    assert memo != est.memo
