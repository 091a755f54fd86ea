"""The estimation service, tested as clients use it: the real server in a subprocess on
127.0.0.1, called with httpx. The four fixtures give the CLI's numbers and documents; every
bad disclosure of the corpus gets a problem document with the library's problems; limits,
the token, request ids, logs, several workers and SIGTERM behave as documented."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import FAITHFUL, FIXTURES, NEWEST, ROOT
from tests.liveserver import HOST, Service, running, service_extra
from tests.test_corpus import CORPUS, generated

service_extra()
import httpx  # noqa: E402
from tuneprint import load_ruleset  # noqa: E402
from tuneprint.core.problems import CODES, TuneprintError  # noqa: E402
from tuneprint.core.resolve import estimate  # noqa: E402
from tuneprint.load.disclosures import load_disclosure  # noqa: E402

CASES = sorted(FIXTURES.glob("case_*.yaml"))
PROBLEM = "application/problem+json"
YAML = {"content-type": "application/yaml"}
JSON = {"content-type": "application/json"}
TOKEN = "s3cret-token-for-tests"
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    """The default ruleset plus 1.0 (the corpus's) and 2.2 (for diffs)."""
    with running("--rules", str(FAITHFUL), "--rules", "2.2") as s:
        yield s


@pytest.fixture(scope="module")
def client(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as c:
        yield c


def values_of(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8"))["values"])


def is_problem(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The problem document of a refused request, checked against RFC 9457's members."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if status is not None:
        assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM
    doc = response.json()
    assert doc["status"] == response.status_code
    assert doc["type"].startswith("urn:tuneprint:problem:") and doc["title"] and doc["detail"]
    assert doc["request_id"] == response.headers["x-request-id"]
    for problem in doc["problems"]:
        assert set(problem) == {"code", "file", "line", "where", "field", "rule", "message"}
        assert problem["code"] in CODES and problem["message"]
    return dict(doc)


def cli_document(cli: Cli, case: Path, *rules: str) -> dict[str, Any]:
    code, out, err = cli("estimate", case, "--format", "json", *rules)
    assert code == 0, err
    return dict(json.loads(out))


def renamed(doc: Any, old: str, new: str) -> Any:
    """The document with a disclosure's name replaced (the CLI names it by its path)."""
    text = json.dumps(doc).replace(json.dumps(old), json.dumps(new))
    return json.loads(text)


# -- the fixtures give the CLI's results -------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_a_yaml_body_gives_the_cli_document(client: httpx.Client, cli: Cli, case: Path) -> None:
    response = client.post("/v1/estimate", content=case.read_bytes(), headers=YAML)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    expected = renamed(cli_document(cli, case), str(case), "request")
    assert response.json() == expected  # every field, rule, row, line and source
    assert response.json()["ruleset"]["version"] == NEWEST.name


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_a_json_body_gives_the_cli_numbers_under_each_ruleset(
    client: httpx.Client, cli: Cli, case: Path
) -> None:
    body = {"id": case.stem, "values": values_of(case)}
    for version in ("1.0", "2.2", NEWEST.name):
        got = client.post("/v1/estimate", json=body, params={"ruleset": version}).json()
        want = cli_document(cli, case, "--rules", version)
        assert got["ruleset"] == want["ruleset"]
        assert got["outputs"] == want["outputs"]
        assert {k: f["value"] for k, f in got["fields"].items()} == {
            k: f["value"] for k, f in want["fields"].items()
        }


def test_provenance_levels_and_the_envelope(client: httpx.Client) -> None:
    body = {"values": values_of(CASES[2])}
    docs = {
        level: client.post("/v1/estimate", json=body, params={"provenance": level}).json()
        for level in ("full", "compact", "none")
    }
    assert "sources" in docs["full"] and "rule_at" in docs["full"]["fields"]["pue"]
    assert docs["compact"]["fields"]["pue"]["provenance"].startswith("table:pue.")
    assert "fields" not in docs["none"]
    assert docs["full"]["outputs"] == docs["compact"]["outputs"] == docs["none"]["outputs"]
    enveloped = client.post(
        "/v1/estimate", json={"disclosure": body, "provenance": "compact", "ruleset": "2.2"}
    ).json()
    assert enveloped["ruleset"]["version"] == "2.2" and "provenance" in enveloped["fields"]["pue"]


def test_a_list_gives_the_results_in_order(client: httpx.Client, cli: Cli) -> None:
    bodies = [{"id": c.stem, "values": values_of(c)} for c in CASES]
    response = client.post("/v1/estimate", json=bodies, params={"provenance": "none"})
    assert response.status_code == 200
    got = response.json()
    assert [d["disclosure"]["id"] for d in got] == [c.stem for c in CASES]
    for doc, case in zip(got, CASES, strict=True):
        assert doc["outputs"] == cli_document(cli, case)["outputs"]
    long = client.post("/v1/estimate", json=bodies * 10, params={"provenance": "compact"})
    assert long.status_code == 200 and len(long.json()) == 40  # estimated on a thread


def test_a_list_with_bad_items_keeps_every_item(client: httpx.Client) -> None:
    good = {"values": values_of(CASES[2])}
    items = [good, {"values": {"gpu_count": -1}}, good, {"values": {"base_model": "Llama 2"}}]
    doc = is_problem(client.post("/v1/estimate", json=items), 422)
    assert doc["type"].endswith("some-items-failed")
    results = doc["results"]
    assert len(results) == 4 and "outputs" in results[0] and "outputs" in results[2]
    assert results[1]["name"] == "request[1]" and results[1]["errors"][0]["field"] == "gpu_count"
    assert results[3]["unresolved"][0]["field"] == "total_emissions_kgco2e"
    assert {p["file"] for p in doc["problems"]} == {"request[1]", "request[3]"}


def test_an_unresolvable_disclosure_says_what_to_disclose(client: httpx.Client) -> None:
    doc = is_problem(client.post("/v1/estimate", json={"values": {"base_model": "Llama 2"}}), 422)
    assert doc["type"].endswith(":unresolved")
    assert "disclose reserved_hours, or gpu_hours" in doc["problems"][0]["message"]
    first = doc["unresolved"][0]
    assert first["field"] == "total_emissions_kgco2e" and ["reserved_hours"] in first["disclose"]
    assert "cannot resolve total_emissions_kgco2e" in doc["why"]


# -- the corpus of bad disclosures --------------------------------------------------------

DISCLOSURE_CASES = [c for c in CORPUS if c["target"] in ("disclosure", "disclosure_json")]
# A body that is a list is a list of disclosures to the service (a file must hold one).
LISTS = {"yaml-top-level-list", "json-top-level-array"}
# Over the service's body limit (1 MiB by default) long before the file limit.
TOO_LARGE = {"file-too-large"}


def corpus_body(case: dict[str, Any]) -> bytes:
    if "generate" in case:
        return generated(case["generate"])
    return str(case["input"]).encode("utf-8")


def library_problems(tmp_path: Path, case: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What the library reports for the same input read from a file (file names aside)."""
    suffix = ".json" if case["target"] == "disclosure_json" else ".yaml"
    path = tmp_path / f"input{suffix}"
    path.write_bytes(corpus_body(case))
    rs = load_ruleset(FAITHFUL)
    with pytest.raises(TuneprintError) as info:
        estimate(rs, load_disclosure(path, rs))
    return [(p.code, p.line, p.where, p.field, p.rule, p.message) for p in info.value.problems]


def raw_exchange(port: int, head: bytes, body: bytes = b"", wait: float = 10.0) -> bytes:
    """Send bytes on a raw connection and read what comes back until it closes."""
    with socket.create_connection((HOST, port), timeout=wait) as s:
        s.sendall(head + body)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


@pytest.mark.parametrize("case", DISCLOSURE_CASES, ids=[c["id"] for c in DISCLOSURE_CASES])
def test_every_bad_disclosure_of_the_corpus_gets_a_problem_document(
    service: Service, client: httpx.Client, tmp_path: Path, case: dict[str, Any]
) -> None:
    body = corpus_body(case)
    headers = JSON if case["target"] == "disclosure_json" else YAML
    if case["id"] in TOO_LARGE:  # refused from its Content-Length, before it is read
        head = (
            f"POST /v1/estimate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/yaml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        reply = raw_exchange(service.port, head)
        assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
        assert b"the limit is 1048576 bytes" in reply
        return
    start = time.perf_counter()
    response = client.post(
        "/v1/estimate", content=body, headers=headers, params={"ruleset": "1.0"}
    )
    assert time.perf_counter() - start < 10
    doc = is_problem(response)
    messages = " ".join(p["message"] for p in doc["problems"])
    if case["id"] in LISTS:
        assert doc["type"].endswith("some-items-failed") and len(doc["results"]) == 1
        return
    assert case["expect"] in messages, messages
    assert {p["file"] for p in doc["problems"]} == {"request"}
    got = [
        (p["code"], p["line"], p["where"], p["field"], p["rule"], p["message"])
        for p in doc["problems"]
    ]
    want = library_problems(tmp_path, case)
    if case["id"] == "file-not-utf8":  # the same byte; the advice is for a body, not a file
        assert [g[:5] for g in got] == [w[:5] for w in want]
        return
    assert got == want  # the same codes, lines, fields and messages as the library
    unreadable = all(p["code"] in ("syntax", "limit") for p in doc["problems"])
    assert doc["type"].endswith("unreadable-body") == unreadable
    assert response.status_code == (400 if unreadable else 422)


def test_bad_bodies_other_than_disclosures(client: httpx.Client) -> None:
    form = client.post(
        "/v1/estimate", content=b"gpu_count=4", headers={"content-type": "text/plain"}
    )
    assert is_problem(form, 415)["problems"][0]["where"] == "Content-Type"
    latin = client.post(
        "/v1/estimate",
        content=b"{}",
        headers={"content-type": "application/json; charset=latin-1"},
    )
    is_problem(latin, 415)
    import gzip

    body = json.dumps({"values": values_of(CASES[2])}).encode()
    for content, coding in ((gzip.compress(body), "gzip"), (body, "gzip"), (body, "br, gzip")):
        # (read as it is: a gzip body was "not UTF-8", a plain one said to be gzip passed)
        coded = client.post(
            "/v1/estimate", content=content, headers={**JSON, "content-encoding": coding}
        )
        told = is_problem(coded, 415)["problems"][0]
        assert told["where"] == "Content-Encoding" and "is not taken" in told["message"]
    plain = {**JSON, "content-encoding": "identity"}
    assert client.post("/v1/estimate", content=body, headers=plain).status_code == 200
    two = client.post(
        "/v1/estimate",
        content=body,
        headers=[("content-type", "application/json"), ("content-type", "text/html")],
    )
    assert "2 Content-Type headers" in is_problem(two, 415)["detail"]
    empty = client.post("/v1/estimate", content=b"", headers=JSON)
    assert is_problem(empty, 400)["problems"][0]["code"] == "syntax"
    envelope = client.post("/v1/estimate", json={"disclosure": {"values": {}}, "provenanse": "x"})
    assert "unknown key 'provenanse'" in is_problem(envelope, 422)["detail"]
    both = client.post("/v1/estimate", json={"disclosure": {}, "disclosures": []})
    is_problem(both, 422)
    for path, body in (("/v1/estimate", []), ("/v1/estimate", {"disclosures": []}),
                       ("/v1/diff", {"disclosures": [], "old": "2.2"})):  # fmt: skip
        # nothing to estimate: told, as the command line tells an empty batch
        nothing = client.post(path, json=body)
        assert "the list holds no disclosures" in is_problem(nothing, 422)["detail"], path
    big = client.post("/v1/estimate", json={"values": {"gpu_count": 10**30}})
    assert "31 digits is out of range" in is_problem(big, 400)["problems"][0]["message"]


def test_bad_parameters(client: httpx.Client) -> None:
    body = {"values": values_of(CASES[2])}
    typo = is_problem(client.post("/v1/estimate", json=body, params={"provenence": "none"}), 422)
    assert "did you mean provenance" in typo["detail"]
    level = is_problem(client.post("/v1/estimate", json=body, params={"provenance": "all"}), 422)
    assert "expected one of full, compact, none" in level["detail"]
    ruleset = is_problem(client.post("/v1/estimate", json=body, params={"ruleset": "9.9"}), 422)
    assert ruleset["problems"][0]["code"] == "reference" and "loaded: " in ruleset["detail"]
    twice = client.post("/v1/estimate?provenance=none&provenance=full", json=body)
    assert "more than once" in is_problem(twice, 422)["detail"]
    clash = client.post(
        "/v1/estimate",
        json={"disclosure": body, "provenance": "full"},
        params={"provenance": "none"},
    )
    assert "give it once" in is_problem(clash, 422)["detail"]


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    assert is_problem(client.get("/v2/estimate"), 404)["type"].endswith("not-found")
    assert is_problem(client.get("/v1/estimate"), 405)["type"].endswith("method-not-allowed")


# -- explain, what-if, diff ---------------------------------------------------------------


def test_explain_gives_the_cli_text_and_a_tree(client: httpx.Client, cli: Cli) -> None:
    case = CASES[2]
    response = client.post(
        "/v1/explain", content=case.read_bytes(), headers=YAML, params={"field": "pue"}
    )
    assert response.status_code == 200
    doc = response.json()
    code, out, _ = cli("explain", case, "pue", "--all")  # the whole tree, folded to 80
    assert code == 0
    cli_text = out.split("\n", 2)[2].replace(str(case), "request")
    no_path = re.sub(r"\S*rules/(\d+\.\d+)/", r"\1/", cli_text)  # no server path
    assert "".join(doc["text"].split()) == "".join(no_path.split())
    assert "rules/" not in doc["text"]
    root = doc["tree"]["fields"][0]
    assert root["field"] == "pue" and root["rule"] in doc["text"]
    assert [c["field"] for c in root["children"]] == ["cloud_region", "start_year"]
    assert root["children"][0]["disclosed_at"] == {"disclosure": "request", "line": 12}
    assert set(doc["tree"]["sources"]) <= set(re.findall(r"\[([a-z0-9-]+)\]", doc["text"]))
    every = client.post("/v1/explain", json={"disclosure": {"values": values_of(case)}}).json()
    assert every["fields"] == list(load_ruleset(NEWEST).outputs)
    unknown = client.post("/v1/explain", json={"values": {}}, params={"field": "pue_"})
    assert "did you mean" in is_problem(unknown, 422)["detail"]


def test_what_if_says_what_moved_and_why(client: httpx.Client) -> None:
    body = {"disclosure": {"values": values_of(CASES[2])}, "set": {"gpu_count": 8}}
    doc = client.post("/v1/what-if", json=body).json()
    moved = {m["field"]: m for m in doc["moved"]}
    assert moved["gpu_count"]["reasons"] == ["set by the request"]
    assert moved["gpu_count"]["old"] == 4 and moved["gpu_count"]["new"] == 8
    total = moved["total_emissions_kgco2e"]
    assert total["new"] == doc["after"]["outputs"]["total_emissions_kgco2e"]["value"]
    assert total["old"] == doc["before"]["outputs"]["total_emissions_kgco2e"]["value"]
    assert doc["after"]["disclosure"]["name"] == "request (what-if)"
    bad = client.post("/v1/what-if", json={**body, "set": {"gpu_count": -2, "gpu_cnt": 1}})
    problems = is_problem(bad, 422)["problems"]
    assert {p["where"] for p in problems} == {"set.gpu_count", "set.gpu_cnt"}
    missing = client.post("/v1/what-if", json={"disclosure": body["disclosure"]})
    assert is_problem(missing, 422)["problems"][0]["where"] == "set"
    for entry in ({"value": 8, "source": [1, 2]}, {"value": 8, "bogus": 1}, {"foo": 1}):
        # each entry as a disclosed value is checked (a list as its source was taken as
        # the text "[1, 2]", an unknown key passed)
        shaped = client.post("/v1/what-if", json={**body, "set": {"gpu_count": entry}})
        told = is_problem(shaped, 422)["problems"]
        assert {p["where"] for p in told} == {"set.gpu_count"}, told
        same = client.post("/v1/estimate", json={"values": {"gpu_count": entry}})
        assert [p["message"] for p in told] == [
            p["message"] for p in is_problem(same, 422)["problems"]
        ]
    sourced = {**body, "set": {"gpu_count": {"value": 8, "source": "the job's log"}}}
    assert client.post("/v1/what-if", json=sourced).status_code == 200


def test_diff_gives_the_cli_document(client: httpx.Client, cli: Cli) -> None:
    case = CASES[2]
    body = {"disclosures": [{"id": case.stem, "values": values_of(case)}], "old": "2.2"}
    response = client.post("/v1/diff", json=body)
    assert response.status_code == 200, response.text
    doc = response.json()
    code, out, _ = cli("diff", "--rules", "2.2", "--rules", NEWEST.name, case, "--format", "json")
    assert code == 0
    want = json.loads(out)
    assert doc["old"] == want["old"] and doc["new"] == want["new"]
    assert doc["results"][0]["outputs"] == want["results"][0]["outputs"]
    assert doc["largest_relative_change"] == pytest.approx(
        max(abs(o["relative_change"]) for o in want["results"][0]["outputs"])
    )
    no_old = client.post("/v1/diff", json={"disclosure": {"values": values_of(case)}})
    assert is_problem(no_old, 422)["problems"][0]["where"] == "old"
    for given, told in (("%D9%A1", "expected a number"), ("1e400", "got '1e400'"),
                        ("007", "leading zero"), ("nan", "expected a number")):  # fmt: skip
        # a number in the query reads as a disclosure's number written as text (Python's
        # float took an Arabic-Indic digit as 1, and told 1e400 as inf)
        refused = client.post(f"/v1/diff?rel_tol={given}", json=body)
        assert told in is_problem(refused, 422)["detail"], (given, refused.text)
    assert client.post("/v1/diff?rel_tol=0.001", json=body).status_code == 200


# -- rulesets, fields, rules, rows ----------------------------------------------------------


def test_rulesets_fields_rules_and_rows(client: httpx.Client) -> None:
    listed = client.get("/v1/rulesets").json()
    versions = {r["version"]: r for r in listed["rulesets"]}
    assert listed["default"] == NEWEST.name and set(versions) == {"1.0", "2.2", NEWEST.name}
    rs = load_ruleset(NEWEST)
    assert versions[NEWEST.name]["content_hash"] == rs.content_hash
    fields = client.get(f"/v1/rulesets/{NEWEST.name}/fields").json()["fields"]
    assert set(fields) == set(rs.fields)
    assert fields["reserved_hours"]["unit"] == "h" and fields["total_water_l"]["output"]
    rule_id = rs.rules["pue"][0].id
    rule = client.get(f"/v1/rulesets/{NEWEST.name}/rules/{rule_id}").json()
    assert rule["sets"] == "pue" and rule["sources"][0]["text"]
    near = client.get(f"/v1/rulesets/{NEWEST.name}/rules/{rule_id[:-1]}")
    assert rule_id in is_problem(near, 404)["detail"]
    row = client.get(f"/v1/rulesets/{NEWEST.name}/tables/gpus/Nvidia A100 80GB").json()
    assert row["key"] == ["nvidia-a100-sxm4-80gb"] and row["sources"]
    year = client.get(f"/v1/rulesets/{NEWEST.name}/tables/grid_egrid_subregion/nwpp/2022").json()
    assert year["key"] == ["NWPP", 2022] and year["at"]["line"]
    assert year["units"]["lb_co2e_per_mwh"] == "lbCO2e/MWh"
    typo = client.get(f"/v1/rulesets/{NEWEST.name}/tables/gpus/Nvidia A100 80G")
    assert "did you mean" in is_problem(typo, 404)["detail"]
    parts = client.get(f"/v1/rulesets/{NEWEST.name}/tables/grid_egrid_subregion/NWPP")
    assert "give 2 parts" in is_problem(parts, 404)["detail"]
    for key in ("gpus/007", "grid_egrid_subregion/NWPP/02022", "gpus/" + "9" * 31):
        # (no number is read from such a part: it is told, where it was a 500)
        told = is_problem(client.get(f"/v1/rulesets/{NEWEST.name}/tables/{key}"), 404)
        assert f"no row {key.split('/', 1)[1]!r}" in told["detail"], told
    assert is_problem(client.get("/v1/rulesets/9.9/fields"), 404)["problems"][0]["where"] == "9.9"
    assert is_problem(client.get(f"/v1/rulesets/{NEWEST.name}/tables/nope/x"), 404)


def test_health_and_version(client: httpx.Client) -> None:
    assert client.get("/v1/healthz").json() == {"status": "ok", "rulesets": 3}
    version = client.get("/v1/version").json()
    assert version["default_ruleset"] == NEWEST.name and version["api"] == "v1"


# -- the contract ------------------------------------------------------------------------


def test_the_served_openapi_is_the_committed_one(client: httpx.Client) -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    served = client.get("/openapi.json").json()
    assert served == committed, "regenerate: tuneprint serve --print-openapi > docs/openapi.json"


def test_the_guide_python_example_runs_against_the_service(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    section = guide.split("## The estimation service", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```py\n(.*?)```", section, flags=re.S)
    assert "http://127.0.0.1:8000" in code
    exec(compile(code.replace("http://127.0.0.1:8000", service.url), "README", "exec"), {})
    out = capsys.readouterr().out
    assert "kgCO2e" in out and "disclose" in out


# -- requests ids, logs, statelessness ---------------------------------------------------


def test_request_ids_and_one_log_line_per_request(service: Service, client: httpx.Client) -> None:
    chosen = client.get("/v1/version", headers={"x-request-id": "client-chosen.id-1"})
    assert chosen.headers["x-request-id"] == "client-chosen.id-1"
    refused = client.get("/v1/version", headers={"x-request-id": "bad id with spaces"})
    made = refused.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", made)
    bad = client.post("/v1/estimate", json={"values": {"gpu_count": 0}})
    time.sleep(0.2)
    lines = {
        line["request_id"]: line
        for line in service.log_lines()
        if line.get("logger") == "tuneprint.access"
    }
    for rid, status in (("client-chosen.id-1", 200), (made, 200)):
        assert lines[rid]["status"] == status and lines[rid]["path"] == "/v1/version"
    line = lines[bad.headers["x-request-id"]]
    assert line["method"] == "POST" and line["status"] == 422 and line["duration_ms"] >= 0
    assert {"time", "level", "message"} <= set(line)


def test_answers_do_not_depend_on_earlier_requests(client: httpx.Client) -> None:
    body = {"values": values_of(CASES[3])}
    first = client.post("/v1/estimate", json=body).content
    for case in CASES:
        client.post("/v1/estimate", content=case.read_bytes(), headers=YAML)
        client.post("/v1/what-if", json={"disclosure": body, "set": {"gpu_count": 16}})
        client.post("/v1/estimate", json={"values": {"gpu_count": "x"}})
    assert client.post("/v1/estimate", json=body).content == first


# -- the token ---------------------------------------------------------------------------


def test_a_token_is_required_when_configured(tmp_path: Path, cli: Cli) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    with running("--token-file", str(token_file)) as s, httpx.Client(base_url=s.url) as c:
        assert c.get("/v1/healthz").status_code == 200  # open, for load balancers
        assert c.get("/openapi.json").status_code == 200
        bare = c.get("/v1/rulesets")
        assert is_problem(bare, 401)["type"].endswith("unauthorized")
        assert bare.headers["www-authenticate"].startswith("Bearer")
        wrong = c.get("/v1/rulesets", headers={"authorization": "Bearer " + TOKEN[:-1]})
        is_problem(wrong, 401)
        basic = c.get("/v1/rulesets", headers={"authorization": "Basic " + TOKEN})
        is_problem(basic, 401)
        for scheme in ("Bearer", "bearer"):
            ok = c.get("/v1/rulesets", headers={"authorization": f"{scheme} {TOKEN}"})
            assert ok.status_code == 200
        estimate_ok = c.post(
            "/v1/estimate",
            json={"values": values_of(CASES[2])},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert estimate_ok.status_code == 200
    with running(env={"TUNEPRINT_TOKEN": TOKEN}) as s, httpx.Client(base_url=s.url) as c:
        assert c.get("/v1/version").status_code == 401
        assert c.get("/v1/version", headers={"authorization": f"Bearer {TOKEN}"}).is_success
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    code, _, err = cli("serve", "--token-file", empty)
    assert code == 2 and "one token without spaces" in err


# -- limits --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited() -> Iterator[Service]:
    with running("--max-body-bytes", "450000", "--max-items", "1000", "--timeout", "0.1") as s:
        yield s


def test_the_body_limit(limited: Service) -> None:
    head = (
        f"POST /v1/estimate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        "Content-Length: 450001\r\n\r\n"
    ).encode()
    reply = raw_exchange(limited.port, head)
    assert reply.startswith(b"HTTP/1.1 413 ") and b"the limit is 450000 bytes" in reply
    chunk = b"x" * 50_000
    chunked = (
        f"POST /v1/estimate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10))
    reply = raw_exchange(limited.port, chunked, body)
    assert reply.startswith(b"HTTP/1.1 413 ") and b"more than 450000" in reply


def test_the_list_limit(limited: Service) -> None:
    items = [{"values": {}}] * 1001
    response = httpx.post(f"{limited.url}/v1/estimate", json=items, timeout=30)
    doc = is_problem(response, 422)
    assert doc["problems"][0]["code"] == "limit" and "the limit is 1000" in doc["detail"]


def test_the_time_limit(limited: Service) -> None:
    case = {"values": values_of(CASES[3])}
    response = httpx.post(
        f"{limited.url}/v1/estimate", json=[case] * 1000, params={"provenance": "full"}, timeout=30
    )
    assert response.status_code == 503, response.text[:300]
    assert response.headers["content-type"] == PROBLEM and response.headers["retry-after"]
    assert "the service's limit" in response.json()["detail"]
    head = (
        f"POST /v1/estimate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    start = time.monotonic()
    reply = raw_exchange(limited.port, head, b'{"values": ')  # and nothing more
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert time.monotonic() - start < 5


# -- processes ---------------------------------------------------------------------------


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    service = Service()
    try:
        body = json.dumps({"values": values_of(CASES[2])}).encode()
        with socket.create_connection((HOST, service.port), timeout=10) as s:
            s.sendall(
                (
                    f"POST /v1/estimate HTTP/1.1\r\nHost: {HOST}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                + body[:10]
            )
            time.sleep(0.3)  # the request is in flight: its body has not all arrived
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            with pytest.raises(httpx.HTTPError):  # no new connection is taken
                httpx.get(f"{service.url}/v1/healthz", timeout=2)
            s.sendall(body[10:])
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert b"total_emissions_kgco2e" in reply
        assert service.process.wait(timeout=15) == 0
    finally:
        service.stop()
    assert "Shutting down" in service.log() or "shutdown" in service.log().lower()


def test_two_workers_serve_and_stop(tmp_path: Path) -> None:
    with running("--workers", "2") as s, httpx.Client(base_url=s.url) as c:
        body = {"values": values_of(CASES[2])}
        answers = {c.post("/v1/estimate", json=body).content for _ in range(20)}
        assert len(answers) == 1  # identical from either worker
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = {line["pid"] for line in s.log_lines() if line["message"] == "worker ready"}
            if len(ready) == 2:
                break
            time.sleep(0.1)
        assert len(ready) == 2
    assert s.process is not None and s.process.returncode == 0


def test_serve_refuses_bad_settings_before_listening(cli: Cli) -> None:
    code, _, err = cli("serve", "--workers", "0")
    assert code == 2 and "--workers" in err
    code, _, err = cli("serve", "--rules", "9.9")
    assert code == 2 and "9.9" in err
    code, _, err = cli("serve", "--rules", "2.2", "--default", "7.0")
    assert code == 2 and "not loaded" in err


def test_serve_without_the_extra_says_how_to_install_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    for name in list(sys.modules):
        if name.startswith("tuneprint.service.") and name != "tuneprint.service.settings":
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)
    code, _, err = cli("serve")
    assert code == 2 and "pip install 'tuneprint[service]'" in err


# -- the documentation says what the code does ---------------------------------------------


def test_the_docs_list_every_problem_kind_and_the_limits() -> None:
    from tuneprint.service import settings
    from tuneprint.service.problem import KINDS

    docs = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    for kind, (status, _) in KINDS.items():
        assert f"| {status} | `{kind}` |" in docs, kind
    assert f"({settings.MAX_BODY_BYTES:,} bytes) | `--max-body-bytes`" in docs
    assert f"| {settings.MAX_ITEMS:,} | `--max-items`" in docs
    assert f"| {settings.TIMEOUT_SECONDS:g} s | `--timeout`" in docs
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/service.md" in readme


def test_the_guide_curl_example_runs_against_the_service(service: Service) -> None:
    import shlex
    import shutil
    import subprocess

    guide = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    section = guide.split("## The estimation service", 1)[1].split("\n## ", 1)[0]
    (block,) = [b for b in re.findall(r"```sh\n(.*?)```", section, flags=re.S) if "\ncurl" in b]
    command = block.split("\ncurl", 1)[1].replace("\\\n", " ")
    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")
    args = shlex.split("curl" + command.replace("http://127.0.0.1:8000", service.url))
    run = subprocess.run(args, capture_output=True, cwd=ROOT, timeout=30, check=True)
    doc = json.loads(run.stdout)
    assert doc["fields"]["pue"]["provenance"].startswith("table:")
    assert doc["disclosure"]["id"] == "case-c-seed-disclosure"
