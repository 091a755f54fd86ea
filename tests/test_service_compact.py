"""Compact results written from pieces: the bytes the service sends are those of the
compact view's document, for every ruleset, disclosures that take other rules, warnings,
fields that cannot be resolved, and values only the standard library writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.asgi import call
from tests.conftest import FIXTURES, RELEASED, RULES
from tests.liveserver import service_extra

service_extra()
import orjson  # noqa: E402
from tuneprint import load_ruleset  # noqa: E402
from tuneprint.api import Result, estimate  # noqa: E402
from tuneprint.core.model import Ruleset  # noqa: E402
from tuneprint.core.problems import TuneprintError  # noqa: E402
from tuneprint.load.disclosures import disclosure_from_document  # noqa: E402
from tuneprint.service.app import create_app  # noqa: E402
from tuneprint.service.catalog import Catalog  # noqa: E402
from tuneprint.service.compact import CompactWriter  # noqa: E402
from tuneprint.service.encoding import dumps  # noqa: E402
from tuneprint.service.settings import Settings  # noqa: E402

CASES = sorted(FIXTURES.glob("case_*.yaml"))
WRITERS: dict[str, CompactWriter] = {}  # kept across examples, as the service keeps them


def values_of(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8"))["values"])


@pytest.fixture(scope="module")
def rulesets() -> dict[str, Ruleset]:
    return {v: load_ruleset(str(RULES / v)) for v in RELEASED}


def result_of(values: dict[str, Any], rs: Ruleset, name: str = "request") -> Result | None:
    try:
        return estimate(disclosure_from_document({"values": values}, name, rs), rs, report=True)
    except TuneprintError:
        return None


def test_every_fixture_under_every_ruleset(rulesets: dict[str, Ruleset]) -> None:
    written = 0
    for rs in rulesets.values():
        writer = CompactWriter(rs)
        for case in CASES:
            result = result_of(values_of(case), rs)
            if result is None:
                continue
            expected = dumps(result.to_json("compact"))
            assert writer.write(result) == expected  # the first, from the view
            assert writer.write(result) == expected  # then from the pieces kept
            written += 1
    assert written >= 3 * len(rulesets)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(CASES),
    version=st.sampled_from(RELEASED),
    drop=st.sets(st.integers(0, 30), max_size=4),
    scale=st.sampled_from([0.01, 0.5, 1.0, 3.0, 100.0]),
)
def test_disclosures_that_take_other_rules(
    rulesets: dict[str, Ruleset], case: Path, version: str, drop: set[int], scale: float
) -> None:
    rs = rulesets[version]
    values = values_of(case)
    names = sorted(values)
    values = {k: v for i, k in enumerate(names) if i not in drop for v in [values[k]]}
    values = {
        k: (v * scale if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
        for k, v in values.items()
    }
    values = {k: (round(v) if k.endswith("_count") else v) for k, v in values.items()}
    result = result_of(values, rs)
    assume(result is not None)
    assert result is not None
    writer = WRITERS.setdefault(version, CompactWriter(rs))
    assert writer.write(result) == dumps(result.to_json("compact"))


def test_warnings_and_fields_that_cannot_be_resolved(rulesets: dict[str, Ruleset]) -> None:
    seen_warning = seen_failure = False
    for rs in rulesets.values():
        writer = CompactWriter(rs)
        for case in CASES:
            for drop in [None, *sorted(values_of(case))]:
                values = {k: v for k, v in values_of(case).items() if k != drop}
                result = result_of(values, rs)
                if result is None:
                    continue
                doc = result.to_json("compact")
                seen_warning |= "warnings" in doc
                seen_failure |= len(doc["fields"]) < len(result.memo)
                assert writer.write(result) == dumps(doc)
    assert seen_warning and seen_failure  # both kinds were written


def test_values_only_the_standard_library_writes(rulesets: dict[str, Ruleset]) -> None:
    rs = next(iter(rulesets.values()))
    writer = CompactWriter(rs)
    result = result_of(values_of(CASES[2]), rs)
    assert result is not None
    writer.write(result)
    name = next(iter(result.memo))
    huge = Result(result.ruleset, result.disclosure, {**result.env, name: 10**30}, result.memo)
    with pytest.raises(orjson.JSONEncodeError):
        writer.write_orjson(huge)
    assert writer.write(huge) == dumps(huge.to_json("compact"))
    assert b"1000000000000000000000000000000" in writer.write(huge)
    other = [o for o in rulesets.values() if o is not rs]
    with pytest.raises(ValueError, match="another ruleset"):
        CompactWriter(other[0]).write(result)


def test_the_service_sends_the_bytes_of_the_compact_view() -> None:
    catalog = Catalog.load(())
    rs = catalog.rulesets[catalog.default]
    app = create_app(catalog, Settings())
    bodies = [{"id": c.stem, "values": values_of(c)} for c in CASES]
    expected_one = dumps(result_of_doc(bodies[2], rs).to_json("compact"))
    expected_list = dumps([result_of_doc(b, rs, f"request[{i}]").to_json("compact")
                           for i, b in enumerate(bodies * 5)])  # fmt: skip
    for _ in range(2):
        assert post(app, bodies[2]) == (200, expected_one)
        assert post(app, bodies * 5) == (200, expected_list)
    status, content = post(app, [bodies[0], {"values": {"gpu_count": -1}}])
    assert status == 422 and json.loads(content)["results"][0] == json.loads(
        dumps(result_of_doc(bodies[0], rs, "request[0]").to_json("compact"))
    )


def result_of_doc(doc: dict[str, Any], rs: Ruleset, name: str = "request") -> Result:
    return estimate(disclosure_from_document(doc, name, rs), rs, report=True)


def post(app: Any, document: Any) -> tuple[int, bytes]:
    status, _, content = call(
        app,
        "POST",
        "/v1/estimate",
        b"provenance=compact",
        json.dumps(document).encode(),
        ((b"content-type", b"application/json"),),
    )
    return status, content


def test_a_list_some_result_of_which_orjson_cannot_write(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = Catalog.load(())
    rs = catalog.rulesets[catalog.default]
    app = create_app(catalog, Settings())
    bodies = [{"id": c.stem, "values": values_of(c)} for c in CASES] * 5
    written = 0
    write = CompactWriter.write_orjson

    def fails_third(self: CompactWriter, est: Any) -> bytes:
        nonlocal written
        written += 1
        if written == 3:
            raise orjson.JSONEncodeError("a value only the standard library writes")
        return write(self, est)

    monkeypatch.setattr(CompactWriter, "write_orjson", fails_third)
    expected = dumps(
        [result_of_doc(b, rs, f"request[{i}]").to_json("compact") for i, b in enumerate(bodies)]
    )
    assert post(app, bodies) == (200, expected)
    assert written == 3  # the rest written as documents
