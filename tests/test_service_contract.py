"""Property-based tests of the service from its OpenAPI document (schemathesis): requests
generated from each operation's schemas, valid and invalid, sent to the real server.
Nothing may get a 5xx; every response must match the status codes, media types and
schemas the document declares; data the schemas refuse must be refused; an operation
behind the token must refuse a request without it.

The operations come from the committed docs/openapi.json, which test_service.py checks
is the document the server serves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.liveserver import Service, running, service_extra

service_extra()
if not os.environ.get("CI"):
    pytest.importorskip("schemathesis")
import schemathesis  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

TOKEN = "contract-test-token"
EXAMPLES = 40  # generated requests per operation and generation mode
SCHEMA = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Negative data needs something to break: a parameter or a body.
CASES = [
    pytest.param(operation, mode, id=f"{operation.label} {mode.value}")
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or operation.definition.raw.get("parameters")
    or operation.definition.raw.get("requestBody")
]


@pytest.fixture(scope="module")
def live() -> Iterator[Service]:
    with running("--rules", "2.2", env={"TUNEPRINT_TOKEN": TOKEN}) as s:
        yield s


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_the_api_keeps_its_contract(live: Service, operation: Any, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=live.url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            # Data the schemas allow can still be refused: the disclosure schema lets any
            # field name through (the ruleset decides which exist), so a 4xx for valid-
            # looking data is right. Every other check runs.
            excluded_checks=[positive_data_acceptance],
            timeout=30,
        )

    check()
