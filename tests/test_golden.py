"""Golden results: every fixture under every shipped ruleset, compared with a relative
tolerance. They change only when regenerated on purpose:

    python -m pytest tests/test_golden.py --regen-golden
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from tuneprint import load_ruleset
from tuneprint.core.provenance import plain
from tuneprint.load.disclosures import load_disclosure

from tests.conftest import FIXTURES, RULES, VERSIONS

GOLDEN = FIXTURES / "golden"
REL = 1e-9
CASES = sorted(p.name for p in FIXTURES.glob("case_*.yaml"))


def snapshot(version: str, case: str) -> dict[str, Any]:
    from tuneprint.core.resolve import estimate

    rs = load_ruleset(RULES / version)
    est = estimate(rs, load_disclosure(FIXTURES / case, rs))
    return {
        "ruleset": f"{rs.id}@{rs.version}",
        "fields": {
            name: {
                "value": plain(r.value),
                "unit": r.unit,
                "status": r.status,
                "rule": r.rule.id if r.rule else None,
            }
            for name, r in sorted(est.fields.items())
        },
    }


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and math.isclose(a, b, rel_tol=REL, abs_tol=0.0)
        )
    return bool(a == b)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_golden(request: pytest.FixtureRequest, version: str, case: str) -> None:
    path = GOLDEN / version / case.replace(".yaml", ".json")
    got = snapshot(version, case)
    if request.config.getoption("--regen-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip(f"regenerated {path.relative_to(FIXTURES.parent)}")
    assert path.is_file(), f"no golden result {path.name} for {version}: run with --regen-golden"
    want = json.loads(path.read_text(encoding="utf-8"))
    assert want["ruleset"] == got["ruleset"]
    assert sorted(want["fields"]) == sorted(got["fields"]), "a different set of fields resolved"
    for name, expected in want["fields"].items():
        actual = got["fields"][name]
        for key in ("unit", "status", "rule"):
            assert actual[key] == expected[key], f"{name}.{key}"
        assert same(actual["value"], expected["value"]), (
            f"{name}: {actual['value']!r} != golden {expected['value']!r}"
        )


def test_golden_files_all_belong_to_a_case() -> None:
    for path in GOLDEN.glob("*/*.json"):
        assert path.parent.name in VERSIONS and path.stem + ".yaml" in CASES, path
