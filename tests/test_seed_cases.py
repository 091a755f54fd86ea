"""Cases C and D: the seed's own disclosures give complete results, checked field by field
against the expectations kept as data in fixtures/expected/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tuneprint.core.model import Ruleset
from tuneprint.core.provenance import plain
from tuneprint.core.resolve import Estimate

EXPECTED = Path(__file__).resolve().parent.parent / "fixtures" / "expected"
CASES = {
    "case_c_seed_disclosure.yaml": "case_c_seed_disclosure.yaml",
    "case_d_seed_bedrock.yaml": "case_d_seed_bedrock.yaml",
}


def expected(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((EXPECTED / name).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_output_and_every_field_has_provenance(
    run_case: Callable[..., Estimate], ruleset: Ruleset, case: str
) -> None:
    est = run_case(case)
    for name in ruleset.outputs:
        assert name in est.fields, f"{name} not resolved"
    for name, r in est.fields.items():
        assert r.status in ("input", "rule", "table"), name
        if r.status == "input":
            assert r.rule is None and r.disclosed_at, name
        else:
            assert r.rule is not None and r.rule.sources, name
            for dep in r.inputs:
                assert dep in est.fields, f"{name} used {dep}, which has no provenance"
            for use in r.tables:
                assert use.sources, f"{name}: table row without source"


@pytest.mark.parametrize("case", sorted(CASES))
def test_fields_match_expectations(run_case: Callable[..., Estimate], case: str) -> None:
    spec = expected(CASES[case])
    est = run_case(case)
    tolerance = spec.get("tolerance", 1e-9)
    for name, want in spec["fields"].items():
        got = est.fields[name]
        assert got.status == want["status"], name
        if "rule" in want:
            assert got.rule is not None and got.rule.id == want["rule"], name
        if "value" in want:
            if isinstance(want["value"], float):
                assert plain(got.value) == pytest.approx(want["value"], rel=tolerance), name
            else:
                assert str(plain(got.value)) == str(want["value"]), name
