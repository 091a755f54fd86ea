"""JSON Schema validation whose errors point at file, line and field."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from .errors import Problem
from .paths import shipped
from .yamlio import problem_at

MAX_PROBLEMS_PER_FILE = 50  # schema problems reported for one file before stopping


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """The validator for ``schemas/<name>.schema.json``."""
    path = shipped("schemas") / f"{name}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _properties(error: ValidationError) -> set[str]:
    schema = error.schema
    return set(schema.get("properties", {})) if isinstance(schema, dict) else set()


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(_properties(error))
        given = set(error.instance) if isinstance(error.instance, dict) else set()
        extra = sorted(given - set(allowed))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        names = ", ".join(repr(e) for e in extra)
        return f"unknown key {names}{hint}"
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    if error.validator in ("oneOf", "anyOf"):
        return f"{error.instance!r} is not a valid value here"
    if error.validator == "type":
        return f"expected {error.validator_value}, got {error.instance!r}"
    return str(error.message)


def check(name: str, document: Any, file: str) -> list[Problem]:
    """Every schema problem of ``document``, each located at its line."""
    problems = []
    errors = sorted(validator(name).iter_errors(document), key=lambda e: list(map(str, e.path)))
    for error in errors[:MAX_PROBLEMS_PER_FILE]:
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = _properties(error)
            extra = sorted(set(error.instance) - allowed)
            if extra:
                path.append(extra[0])
        problems.append(problem_at(file, document, path, _message(error)))
    return problems
