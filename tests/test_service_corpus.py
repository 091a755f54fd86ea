"""The hostile corpora through the estimation service: every case that is one disclosure
file given to ``tuneprint estimate`` is also sent, as its bytes, to ``POST /v1/estimate``
(in process, the application the server runs). Bad input gets a 4xx problem document
naming what is wrong, good input a 200, and nothing a 5xx."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.asgi import call
from tests.liveserver import service_extra
from tests.test_promise import CASES, _prepare

service_extra()
from tuneprint.service.app import create_app  # noqa: E402
from tuneprint.service.catalog import Catalog  # noqa: E402
from tuneprint.service.settings import Settings  # noqa: E402

MEDIA = {".json": "application/json", ".yaml": "application/yaml", ".yml": "application/yaml"}
SETUP = ("mini", "copy", "links", "modes", "stdin", "remove", "expand")  # not one plain file
SENT = (
    "billion_laughs",
    "deep_yaml",
    "deep_json",
    "large_file",
    "latin1",
    "unknown_keys",
    "huge_int_json",
)  # fmt: skip  (generated inputs that are bytes one could send)


def _request(case: dict[str, Any]) -> tuple[str, str | None] | None:
    """(file name, ruleset version) when the case is one disclosure file for estimate."""
    run = case.get("run", [])
    if len(run) < 2 or run[0] != "estimate" or any(k in case for k in SETUP):
        return None
    name = run[1].strip("{}")
    content = case.get("files", {}).get(name)
    if content is None or Path(name).suffix not in MEDIA:
        return None
    if isinstance(content, dict) and content["generate"].partition(":")[0] not in SENT:
        return None
    options = run[2:]
    version = None
    while options:
        option, *options = options
        if option == "--format":
            options = options[1:]
        elif option == "--rules" and options and options[0].startswith("{shipped:"):
            version, options = options[0][len("{shipped:") : -1], options[1:]
        else:
            return None  # an option the service has no counterpart of here
    return name, version


SENDABLE = [(c, r) for c in CASES if (r := _request(c)) is not None]


@pytest.fixture(scope="module")
def client() -> Any:
    versions = sorted({v for _, (_, v) in SENDABLE if v})
    return create_app(Catalog.load(versions), Settings())


def test_many_cases_are_sent() -> None:
    assert len(SENDABLE) >= 60
    assert sum(1 for c, _ in SENDABLE if c.get("ok")) >= 3  # and good ones among them


@pytest.mark.parametrize(("case", "request_"), SENDABLE, ids=[c["id"] for c, _ in SENDABLE])
def test_the_service_refuses_bad_input_with_a_4xx(
    case: dict[str, Any], request_: tuple[str, str | None], client: Any, tmp_path: Path
) -> None:
    name, version = request_
    folder = tmp_path / "case"
    folder.mkdir()
    try:
        _prepare(case, folder)
        body = (folder / name).read_bytes()
    finally:
        shutil.rmtree(folder / "outside", ignore_errors=True)
    params = {"ruleset": version} if version else {}
    media = MEDIA[Path(name).suffix].encode()
    status, _, content = call(
        client, "POST", "/v1/estimate", params, body, ((b"content-type", media),)
    )
    assert status < 500, content[:800]
    if case.get("ok"):
        assert status == 200, content[:800]
        return
    assert 400 <= status < 500, content[:800]
    problem = json.loads(content)
    assert problem["status"] == status and problem["problems"]
    assert all(p["message"] for p in problem["problems"])
