"""The service's application in process, called as an ASGI server calls it: the gate calls
the endpoints of fixed paths itself and leaves the others to FastAPI's router, and both
ways give the same problem documents, headers and log lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.asgi import call
from tests.conftest import FIXTURES
from tests.liveserver import service_extra

service_extra()
from tuneprint.service.app import ROUTES, create_app  # noqa: E402
from tuneprint.service.catalog import Catalog  # noqa: E402
from tuneprint.service.routes import Service  # noqa: E402
from tuneprint.service.settings import Settings  # noqa: E402

CASE = FIXTURES / "case_c_seed_disclosure.yaml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(())


def body_of(path: Path) -> bytes:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return json.dumps({"id": doc["id"], "values": doc["values"]}).encode()


def test_the_fixed_paths_are_called_directly_and_the_others_routed(catalog: Catalog) -> None:
    app = create_app(catalog, Settings())
    fixed = {(method, path) for _, method, path, _ in ROUTES if "{" not in path}
    assert set(app.direct) == fixed and ("POST", "/v1/estimate") in fixed
    assert not any("{" in path for _, path in app.direct)
    # what only the router does still happens
    status, headers, content = call(app, "HEAD", "/v1/healthz")
    assert status == 200 and headers[b"content-type"] == b"application/json"
    status, headers, _ = call(app, "POST", "/v1/estimate/")
    assert status == 307 and headers[b"location"].endswith(b"/v1/estimate")
    status, headers, content = call(app, "DELETE", "/v1/healthz")
    assert status == 405 and b"GET" in headers[b"allow"]
    assert json.loads(content)["type"].endswith("method-not-allowed")
    version = catalog.default
    status, _, content = call(app, "GET", f"/v1/rulesets/{version}/fields")
    assert status == 200 and "gpu_count" in json.loads(content)["fields"]


def test_a_body_in_several_messages_gives_the_same_answer(catalog: Catalog) -> None:
    app = create_app(catalog, Settings())
    body = body_of(CASE)
    rid = (b"x-request-id", b"same-id")
    whole = call(app, "POST", "/v1/estimate", b"provenance=compact", body, (rid,))
    assert whole[0] == 200 and json.loads(whole[2])["fields"]["pue"]["provenance"]
    for parts in (2, 5):
        assert (
            call(app, "POST", "/v1/estimate", b"provenance=compact", body, (rid,), parts) == whole
        )
    small = create_app(catalog, Settings(max_body_bytes=len(body) - 1))
    for parts in (1, 3):
        status, _, content = call(small, "POST", "/v1/estimate", body=body, parts=parts)
        assert status == 413 and b"more than" in content


def test_query_strings_read_again_give_the_same_options(catalog: Catalog) -> None:
    app = create_app(catalog, Settings())
    body = body_of(CASE)
    for _ in range(3):  # the second and third time from the parsed query strings kept
        compact = call(app, "POST", "/v1/estimate", b"provenance=compact", body)
        none = call(app, "POST", "/v1/estimate", b"provenance=none", body)
        twice = call(app, "POST", "/v1/estimate", b"provenance=none&provenance=none", body)
        assert "provenance" in json.loads(compact[2])["fields"]["pue"]
        assert "fields" not in json.loads(none[2])
        assert twice[0] == 422 and b"more than once" in twice[2]
    long = b"provenance=compact&" + b"&".join(b"x%d=1" % i for i in range(100))
    status, _, content = call(app, "POST", "/v1/estimate", long, body)
    assert status == 422 and b"unknown query parameter" in content


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [("POST", "/v1/estimate", "estimate"), ("GET", "/v1/rulesets/{version}/fields", "fields")],
)
def test_an_unexpected_error_is_a_logged_500_problem_either_way(
    catalog: Catalog,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    name: str,
) -> None:
    async def broken(self: Service, request: Any) -> Any:
        raise RuntimeError("a defect")

    monkeypatch.setattr(Service, name, broken)
    app = create_app(catalog, Settings())
    path = path.format(version=catalog.default)
    body = body_of(CASE) if method == "POST" else b""
    status, headers, content = call(app, method, path, body=body)
    assert status == 500 and headers[b"content-type"] == b"application/problem+json"
    doc = json.loads(content)
    assert (
        doc["type"].endswith(":internal")
        and doc["request_id"] == headers[b"x-request-id"].decode()
    )
    errors = [r for r in caplog.records if r.getMessage() == "internal error"]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == "a defect"
    assert getattr(errors[0], "fields", {})["request_id"] == doc["request_id"]
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if '"logger"' in line
    ]
    access = [line for line in lines if line["logger"] == "tuneprint.access"]
    assert len(access) == 1 and access[0]["status"] == 500 and access[0]["path"] == path
    assert access[0]["request_id"] == doc["request_id"]
