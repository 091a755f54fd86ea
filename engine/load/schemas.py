"""JSON Schema validation whose errors point at file, line and field.

jsonschema is imported only when a document is validated, so reading a cached ruleset
never pays for it.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from ..core.problems import Problem
from ..core.text import given
from .paths import shipped
from .yamlio import problem_at

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

MAX_PROBLEMS_PER_FILE = 50  # schema problems reported for one file before stopping
SHOWN_CHARS = 80  # characters of a refused value shown in its message


@cache
def validator(name: str) -> Any:
    """The validator for ``schemas/<name>.schema.json``."""
    import jsonschema

    path = shipped("schemas") / f"{name}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _properties(error: ValidationError) -> set[str]:
    schema = error.schema
    return set(schema.get("properties", {})) if isinstance(schema, dict) else set()


def _type_name(value: Any) -> str:
    names = {"object": "a mapping (key: value)", "array": "a list", "string": "text"}
    if isinstance(value, list):
        return " or ".join(names.get(v, f"a {v}") for v in value)
    return names.get(value, f"a {value}")


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(_properties(error))
        given = set(error.instance) if isinstance(error.instance, dict) else set()
        extra = sorted(given - set(allowed))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        names = ", ".join(repr(e) for e in extra)
        if "values" in allowed and "values" not in given and not error.absolute_path:
            # (a disclosure written flat: its fields belong in its values)
            hint += f'; disclosed fields go under "values": {{"values": {{"{extra[0]}": ...}}}}'
        return f"unknown key {names}{hint}"
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    if error.validator in ("oneOf", "anyOf"):
        return f"{_shown(error.instance)} is not a valid value here"
    if error.validator == "type":
        return (
            f"expected {error.validator_value}, got {_shown(error.instance)} "
            f"(expected {_type_name(error.validator_value)})"
        )
    if error.validator == "enum":
        choices: Any = error.validator_value
        options = ", ".join(repr(v) for v in choices)
        return f"{_shown(error.instance)} is not one of {options}"
    return str(error.message)


def _shown(value: Any) -> str:
    return given(value, SHOWN_CHARS)


def _path(error: ValidationError) -> list[str | int]:
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - _properties(error))
        if extra:
            path.append(extra[0])
    return path


def check(name: str, document: Any, file: str) -> list[Problem]:
    """Every schema problem of ``document``, each located at its line.

    Where a value fits none of several shapes (oneOf, anyOf), jsonschema's ``best_match``
    picks the most relevant of the reasons, which is the one reported.
    """
    from jsonschema.exceptions import best_match

    problems = []
    errors = sorted(validator(name).iter_errors(document), key=lambda e: list(map(str, e.path)))
    for error in errors[:MAX_PROBLEMS_PER_FILE]:
        if error.validator in ("oneOf", "anyOf") and error.context:
            best = best_match(error.context)
            if best is not None and best.validator not in ("type",):
                error = best
        problems.append(problem_at(file, document, _path(error), _message(error), "schema"))
    return problems
