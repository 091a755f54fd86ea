"""Request options (``ruleset``, ``provenance``, ``field``...): given in the query string
or in the body's envelope, checked once, with a clear problem for anything unknown."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.names import did_you_mean
from ..core.problems import Problem
from ..core.resolve import show_value
from ..core.values import ValueProblem, parse_number
from .problem import HTTPProblem, parameter_problem


@dataclass(frozen=True)
class Option:
    """One option: its name, meaning, the texts it allows (any text when empty) or
    whether it is a number (finite, not negative), and its default."""

    name: str
    description: str
    choices: tuple[str, ...] = ()
    number: bool = False
    default: Any = None

    def schema(self) -> dict[str, Any]:
        """The option's JSON Schema."""
        if self.number:
            out: dict[str, Any] = {"type": "number", "minimum": 0}
        else:
            out = {"type": "string"}
            if self.choices:
                out["enum"] = list(self.choices)
        if self.default is not None:
            out["default"] = self.default
        return out

    def check(self, value: Any, given_in: str) -> Any:
        """The value, or a problem saying what is expected (``given_in``: query or body)."""

        given = value  # (shown as given: text as written, 1e400 not as inf)

        def bad(expected: str) -> HTTPProblem:
            return parameter_problem(
                self.name, f"expected {expected}, got {show_value(given)} (in the {given_in})"
            )

        if self.number:
            if isinstance(value, str):  # (as a disclosure's number written as text reads)
                try:
                    number = parse_number(value)
                except ValueProblem as exc:
                    raise bad(f"a number ({exc})") from None
                if number is None:
                    raise bad("a number")
                value = number
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad("a number")
            if not math.isfinite(value) or value < 0:
                raise bad("a finite number >= 0")
            return float(value)
        if not isinstance(value, str):
            raise bad("text")
        if self.choices and value not in self.choices:
            raise bad(f"one of {', '.join(self.choices)}")
        return value


def read_options(
    query: Sequence[tuple[str, str]],
    body: Mapping[str, Any],
    options: Sequence[Option],
) -> dict[str, Any]:
    """Each option's value: from the query string or the body (the same value if both),
    else its default. Unknown and repeated query parameters are problems, so a misspelt
    option never goes unnoticed."""
    known = {o.name: o for o in options}
    from_query: dict[str, str] = {}
    for name, value in query:
        if name not in known:
            hint = did_you_mean(name, list(known), quote=False)
            raise parameter_problem(name, f"unknown query parameter{hint}")
        if name in from_query:
            raise parameter_problem(name, "query parameter given more than once")
        from_query[name] = value
    out = {}
    for option in options:
        value = option.default
        if option.name in from_query:
            value = option.check(from_query[option.name], "query")
        if option.name in body:
            inner = option.check(body[option.name], "body")
            if option.name in from_query and inner != value:
                raise parameter_problem(
                    option.name,
                    f"given in the query ({show_value(value)}) and in the body "
                    f"({show_value(inner)}): give it once",
                )
            value = inner
        out[option.name] = value
    return out


def split_envelope(
    document: Any,
    payload_keys: Sequence[str],
    options: Sequence[Option],
    required: bool,
) -> tuple[Any, dict[str, Any], str | None]:
    """A body that may be an envelope: ``{<payload key>: ..., <option>: ...}``. Returns the
    payload, the options the body gives and the payload's key; a body without a payload key
    is itself the payload (unless ``required``)."""
    if isinstance(document, dict) and any(k in document for k in payload_keys):
        allowed = {*payload_keys, *(o.name for o in options)}
        problems = [
            Problem(
                "request",
                getattr(document, "key_lines", {}).get(key),
                key,
                f"unknown key {key!r}{did_you_mean(key, allowed, quote=True)}; "
                f"allowed keys: {', '.join(sorted(allowed))}",
                "schema",
            )
            for key in document
            if key not in allowed
        ]
        given = [k for k in payload_keys if k in document]
        if len(given) > 1:
            problems.append(
                Problem("request", None, "", f"give one of {' or '.join(given)}", "schema")
            )
        if problems:
            raise HTTPProblem("invalid-input", problems)
        key = given[0]
        return document[key], {k: v for k, v in document.items() if k != key}, key
    if required:
        raise HTTPProblem(
            "invalid-input",
            [
                Problem(
                    "request",
                    None,
                    "",
                    f"expected an object with {' or '.join(payload_keys)}",
                    "schema",
                )
            ],
        )
    return document, {}, None
