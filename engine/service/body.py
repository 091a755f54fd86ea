"""Request bodies: read within the size limit, decoded as UTF-8 and parsed as JSON or YAML
by the same readers as disclosure files, so the same input gives the same problems (with
lines, for YAML) over HTTP as on the command line."""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from ..core.problems import InputError, Problem, TuneprintError
from ..load.files import decode
from ..load.yamlio import MAX_DEPTH, parse_json, parse_yaml
from .problem import HTTPProblem

JSON, YAML = "json", "yaml"
JSON_TYPES = frozenset({"application/json", "text/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
BODY = "request"  # how problems name the body (a list's items are request[0], request[1]...)
CACHED_QUERY_BYTES = 256  # query strings this long or shorter are parsed once and remembered
CACHED_QUERIES = 256  # distinct query strings remembered
QUICK_NUMBER_CHARS = 19  # a number this long is left to the library's JSON reader


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a header (``name`` in lower case, as ASGI servers give names)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def query_items(scope: Scope) -> tuple[tuple[str, str], ...]:
    """The query string's (name, value) pairs in order, repeats kept, as Starlette's
    ``QueryParams.multi_items`` gives them. Clients send the same few query strings again
    and again, so short ones are parsed once."""
    raw: bytes = scope["query_string"]
    if not raw:
        return ()
    if len(raw) <= CACHED_QUERY_BYTES:
        return _parsed_query(raw)
    return _parse_query(raw)


def _parse_query(raw: bytes) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


_parsed_query = functools.lru_cache(maxsize=CACHED_QUERIES)(_parse_query)


def content_type(scope: Scope) -> str | None:
    """The body's Content-Type; 415 for a body sent in a content coding (gzip, deflate:
    the service reads bodies as they are) and for two Content-Type headers that differ
    (the first was taken)."""
    types, codings = [], []
    for key, value in scope["headers"]:
        if key == b"content-type":
            types.append(value.decode("latin-1").strip())
        elif key == b"content-encoding":
            codings += [c.strip().lower() for c in value.decode("latin-1").split(",")]
    coded = [c for c in codings if c not in ("", "identity")]
    if coded:
        raise _unsupported(
            f"content coding {coded[0]!r} is not taken: send the body as it is (identity)",
            "Content-Encoding",
        )
    if len(set(types)) > 1:
        raise _unsupported(f"{len(types)} Content-Type headers ({', '.join(types)}): send one")
    return types[0] if types else None


def body_format(content_type: str | None) -> str:
    """JSON or YAML by the Content-Type header (JSON when there is none); 415 for any other
    media type or a charset other than UTF-8."""
    if not content_type:
        return JSON
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise _unsupported(f"charset {value.strip()!r}: send UTF-8")
    if media in JSON_TYPES or media.endswith("+json"):
        return JSON
    if media in YAML_TYPES:
        return YAML
    raise _unsupported(f"media type {media!r}: send application/json or application/yaml")


def _unsupported(message: str, header: str = "Content-Type") -> HTTPProblem:
    return HTTPProblem("unsupported-media-type", [Problem(BODY, None, header, message, "option")])


def too_large(size: int | str, limit: int) -> HTTPProblem:
    """The problem of a body over the size limit."""
    return HTTPProblem(
        "too-large",
        [
            Problem(
                BODY,
                None,
                "",
                f"the body is {size} bytes; the limit is {limit} bytes",
                "limit",
            )
        ],
        headers={"Connection": "close"},
    )


class _Unsure:
    """What ``quick_json`` gives when the library's reader must read the body."""

    def __repr__(self) -> str:
        return "UNSURE"


UNSURE: Any = _Unsure()
# Number-like runs as long as QUICK_NUMBER_CHARS may be read otherwise by orjson (whole
# numbers beyond 64 bits become floats) or refused by the library's reader (too many
# digits): the characters of numbers become N, the others a space, and a run is looked for.
_NUMBER_CHARS = bytes(b"N"[0] if chr(i) in "-+.0123456789eE" else b" "[0] for i in range(256))
_LONG_NUMBER = b"N" * QUICK_NUMBER_CHARS
# An exponent of three digits may take a number beyond every float (1e400: orjson refuses
# it) or below every one but zero (1e-400: orjson reads 0.0): the library's reader keeps
# such a number as written, for a message about it to show it so.
_LONG_EXPONENT = re.compile(rb"[eE][-+]?[0-9]{3}")


def quick_json(data: bytes) -> Any:
    """The JSON document of ``data`` read by orjson (several times faster than the
    library's strict reader, ``parse_json``), when that is sure to be what ``parse_json``
    gives; else UNSURE, and ``parse_json`` reads it (and words any problem). orjson
    itself refuses what ``parse_json`` refuses as text: bytes that are not UTF-8, a
    byte-order mark, NaN and Infinity, unpaired surrogates, control characters, trailing
    commas or content. What remains is checked here: long numbers (see _NUMBER_CHARS),
    nesting deeper than the library allows, and duplicate keys (orjson keeps the last).
    Every key written is followed by a colon, so with C colons in the text, K keys
    written and L colons written inside texts, C = K + L; with R keys read and P colons
    in the texts read, R <= K (duplicates collapse) and, when no character is written as
    a \\u escape, P <= L: C = R, or C = R + P, then proves R = K."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return UNSURE
    if _LONG_NUMBER in data.translate(_NUMBER_CHARS) or _LONG_EXPONENT.search(data):
        return UNSURE
    read = _keys_within_depth(document)
    if read is None:
        return UNSURE
    colons = data.count(b":")
    if read == colons:
        return document
    if b"\\u" in data or read + _colons_in_texts(document) != colons:
        return UNSURE
    return document


def _keys_within_depth(document: Any) -> int | None:
    """The number of keys of the objects in ``document``; None when a value lies deeper
    than MAX_DEPTH (the document is at depth 0, its members at 1...)."""
    keys = 0
    level = [document]
    for _ in range(MAX_DEPTH + 1):
        below: list[Any] = []
        for node in level:
            kind = type(node)
            if kind is dict:
                keys += len(node)
                below.extend(node.values())
            elif kind is list:
                below.extend(node)
        if not below:
            return keys
        level = below
    return None


def _colons_in_texts(document: Any) -> int:
    """The colons in the keys and texts of ``document``."""
    colons = 0
    stack = [document]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str:
            colons += node.count(":")
        elif kind is dict:
            colons += "\0".join(node).count(":")
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
    return colons


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body's bytes, read from the ASGI messages; 413 as soon as it is known to be over
    ``limit`` (from its Content-Length, or while it arrives)."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(declared, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(f"more than {limit}", limit)
        if not message.get("more_body", False):
            if not chunks:
                return chunk  # the whole body came in one message, as it mostly does
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def parse_body(data: bytes, form: str) -> Any:
    """The parsed document; 400 when it is not UTF-8 text or not valid JSON or YAML."""
    if form == JSON:
        document = quick_json(data)
        if document is not UNSURE:
            return document
    try:
        text = decode(data, InputError, BODY, "send the body as UTF-8")
    except TuneprintError as exc:
        raise HTTPProblem("unreadable-body", exc.problems) from None
    try:
        if form == YAML:
            return parse_yaml(text, BODY, InputError, written_numbers=True)
        return parse_json(text, BODY, InputError, written_numbers=True)
    except TuneprintError as exc:
        raise HTTPProblem("unreadable-body", exc.problems) from None
