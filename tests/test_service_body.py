"""Request bodies read quickly: a JSON body orjson reads is taken only when it is what the
library's strict reader gives, so every body gets the same document, or the same problem,
as from the command line's reader."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES
from tests.liveserver import service_extra

service_extra()
from tuneprint.core.problems import InputError, TuneprintError  # noqa: E402
from tuneprint.load.files import decode  # noqa: E402
from tuneprint.load.yamlio import MAX_DEPTH, parse_json  # noqa: E402
from tuneprint.service.body import JSON, UNSURE, parse_body, quick_json  # noqa: E402
from tuneprint.service.problem import HTTPProblem  # noqa: E402


def strict(data: bytes) -> Any:
    """What the library's reader gives (or the error it raises)."""
    try:
        return parse_json(
            decode(data, InputError, "request"), "request", InputError, written_numbers=True
        )
    except TuneprintError as exc:
        return exc


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types throughout (1 is not 1.0, -0.0 is not 0.0), keys in the
    same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def agrees(data: bytes) -> bool:
    """quick_json leaves the body to the strict reader, or gives what it gives."""
    quick = quick_json(data)
    if quick is UNSURE:
        return True
    expected = strict(data)
    assert not isinstance(expected, TuneprintError), (data[:200], expected)
    assert same(quick, expected), (data[:200], quick, expected)
    return True


# -- JSON texts written by hand, so that they may hold what json.dumps never writes ------

NUMBER = st.from_regex(r"\A-?(0|[1-9][0-9]{0,34})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,3})?\Z")
ESCAPES = st.sampled_from(
    ["\\u003a", "\\ud800", "\\udc00", "\\ud83d\\ude00", '\\"', "\\\\", "\\n", "\\/", "\\u00e9"]
)
TEXT = st.lists(
    st.one_of(st.text(max_size=6), ESCAPES, st.sampled_from([":", '"', "\\", "\x01", "é"])),
    max_size=4,
)
SPACE = st.sampled_from(["", " ", "\n", "\t ", "\r\n"])


def text_token(parts: list[str]) -> str:
    """A JSON string token of parts: plain text escaped as json.dumps does, escapes as
    they are (some of them not valid: unpaired surrogates), a lone quote or backslash
    left raw now and then (not valid either)."""
    out = []
    for part in parts:
        escape = part.startswith("\\") and len(part) > 1
        if escape or (part in ('"', "\\") and len(out) % 3 == 2):
            out.append(part)
        else:
            out.append(json.dumps(part, ensure_ascii=len(out) % 2 == 0)[1:-1])
    return '"' + "".join(out) + '"'


values = st.recursive(
    st.one_of(
        st.sampled_from(["null", "true", "false", "NaN", "Infinity"]),
        NUMBER,
        st.integers().map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        TEXT.map(text_token),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(TEXT.map(text_token), SPACE, inner), max_size=4).map(
            lambda pairs: "{" + ",".join(f"{k}{s}:{s}{v}" for k, s, v in pairs) + "}"
        ),
    ),
    max_leaves=20,
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A JSON-like text: often valid, sometimes with a duplicate key, deep nesting, a
    byte-order mark, bytes that are not UTF-8 or a cut."""
    text = draw(values)
    if draw(st.booleans()):  # a duplicate key, maybe written another way
        key = draw(TEXT.map(text_token))
        again = draw(st.sampled_from([key, key.replace(":", "\\u003a")]))
        text = "{" + f"{key}:{text},{again}:{draw(values)}" + "}"
    depth = draw(st.sampled_from([0, 0, 0, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1]))
    text = "[" * depth + text + "]" * depth
    data = draw(SPACE).encode() + text.encode("utf-8", "surrogatepass") + draw(SPACE).encode()
    mutation = draw(st.sampled_from(["none", "none", "bom", "latin", "cut"]))
    if mutation == "bom":
        data = b"\xef\xbb\xbf" + data
    elif mutation == "latin":
        data = data.replace(b"\xc3\xa9", b"\xe9")
    elif mutation == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


@settings(max_examples=1500, deadline=None)
@given(documents())
@example(b'{"a": 1, "a": 2}')
@example(b'{"a": "b:c", "a": 2}')
@example(b'{"x": "1:2", "y": {"x": 3}}')
@example(b'{"a\\u003a": 1, "a:": 2}')
@example(b'{"values": {"gpu_count": 123456789012345678901234567890}}')
@example(b'{"values": {"gpu_count": 18446744073709551616}}')
@example(b'{"n": 1.00000000000000000000000000000000000000001}')
@example(b'{"n": 1e400}')
@example(b'{"n": 1e-400}')
@example(b'{"n": [0.5e-330, -2E-999, 1e-300]}')
@example(b'"\\ud800"')
@example(b"\xef\xbb\xbf{}")
def test_quick_json_gives_what_the_strict_reader_gives(data: bytes) -> None:
    assert agrees(data)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
))  # fmt: skip
@settings(max_examples=500, deadline=None)
def test_documents_as_clients_write_them(document: Any) -> None:
    for text in (json.dumps(document), json.dumps(document, ensure_ascii=False, indent=1)):
        assert agrees(text.encode("utf-8", "surrogatepass"))


def nested(depth: int, inner: str) -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


@pytest.mark.parametrize("inner", ["", "1", '{"a": 1}', "{}"])
def test_the_nesting_limit_is_the_strict_readers(inner: str) -> None:
    for depth in range(MAX_DEPTH - 2, MAX_DEPTH + 3):
        data = nested(depth, inner)
        refused = isinstance(strict(data), TuneprintError)
        assert (quick_json(data) is UNSURE) if refused else same(quick_json(data), strict(data))
    assert quick_json(nested(MAX_DEPTH - 2, inner)) is not UNSURE  # taken when it may be


def test_disclosures_are_read_quickly_and_as_the_strict_reader_reads_them() -> None:
    for case in sorted(FIXTURES.glob("case_*.yaml")):
        doc = yaml.safe_load(case.read_text(encoding="utf-8"))
        for data in (
            json.dumps({"id": doc["id"], "values": doc["values"]}).encode(),
            json.dumps([{"values": doc["values"]}] * 3, indent=2, ensure_ascii=False).encode(),
        ):
            quick = quick_json(data)
            assert quick is not UNSURE and same(quick, strict(data)), case.name
            assert same(parse_body(data, JSON), quick)


def test_bodies_the_strict_reader_refuses_get_its_problems() -> None:
    cases = {
        b'{"values": {"gpu_count": 4, "gpu_count": 8}}': "duplicate key 'gpu_count'",
        b'{"values": {"gpu_count": ' + b"9" * 31 + b"}}": "31 digits is out of range",
        b'{"values": {"gpu_count": NaN}}': "NaN is not a number JSON allows",
        b'"\\ud800"': "unpaired surrogate",
        nested(MAX_DEPTH + 1, "1"): f"nesting deeper than {MAX_DEPTH} levels",
        b"\xff": "not UTF-8",
    }
    for data, message in cases.items():
        with pytest.raises(HTTPProblem) as refused:
            parse_body(data, JSON)
        assert refused.value.kind == "unreadable-body"
        assert message in refused.value.problems[0].message, refused.value.problems[0]
    assert math.isinf(parse_body(b"1e400", JSON))  # as the strict reader reads it
