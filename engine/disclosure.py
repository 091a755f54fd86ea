"""Reading a disclosure: what is known about one fine-tuning run, checked field by field.

A disclosure file (YAML or JSON) holds ``values``: field name -> value in the field's
declared unit, or ``{value, source}`` to say where the value was published. Names
(GPU, server, region, model...) are matched against the ruleset's tables, forgiving case,
spaces and punctuation; an unknown name is an error that suggests the closest known ones.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, Problem
from .loader import display_path
from .model import FieldSpec, Ruleset
from .schemas import check
from .tables import ambiguous, canonical_name, parse_datetime, suggestions
from .yamlio import line_of, load_file, parse_json, read_text

MAX_NAME_LENGTH = 200  # characters in a disclosed name or text value


@dataclass(frozen=True)
class Disclosure:
    """Checked disclosed values of one fine-tuning run."""

    name: str
    id: str
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int | None] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)


def coerce(spec: FieldSpec, value: Any, ruleset: Ruleset) -> Any:
    """A written value as the field's type, or ValueError saying what was expected."""
    kind = spec.type
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number in {spec.unit}, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number in {spec.unit}, got {value!r}")
        if kind == "integer":
            if not float(value).is_integer():
                raise ValueError(f"expected a whole number, got {value!r}")
            value = int(value)
        check_bounds(spec, value)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"text longer than {MAX_NAME_LENGTH} characters")
    if kind in ("date", "datetime"):
        try:
            return parse_datetime(value)
        except ValueError:
            raise ValueError(
                f"expected an ISO date like 2024-07-06 or 2024-07-06T17:01, got {value!r}"
            ) from None
    if kind == "enum":
        if value not in spec.choices:
            raise ValueError(f"expected one of {', '.join(spec.choices)}, got {value!r}")
        return value
    if kind == "name":
        table = ruleset.tables[spec.table or ""]
        found = canonical_name(table, value)
        if found is None and ambiguous(table, value):
            options = ", ".join(repr(k) for k in ambiguous(table, value))
            raise ValueError(
                f"ambiguous {spec.table} name {value!r}: it could be {options}; write one of them"
            )
        if found is None:
            near = suggestions(table, value)
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise ValueError(
                f"unknown {spec.table} name {value!r}{hint} "
                f"(see 'tuneprint data show {spec.table}')"
            )
        return found
    return value


def check_bounds(spec: FieldSpec, value: float) -> None:
    """ValueError when a number is outside the field's declared bounds."""
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"{value!r} is below the minimum {spec.minimum} {spec.unit}")
    if spec.exclusive_minimum is not None and value <= spec.exclusive_minimum:
        raise ValueError(f"{value!r} must be greater than {spec.exclusive_minimum} {spec.unit}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"{value!r} is above the maximum {spec.maximum} {spec.unit}")


def read_values(
    name: str, raw: dict[str, Any], ruleset: Ruleset, document: Any, path: list[str | int]
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any], list[Problem]]:
    """Check ``field: value`` pairs; returns values, sources, written forms and problems."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    written: dict[str, Any] = {}
    problems = []
    for key, entry in raw.items():
        where = [*path, key]
        line = line_of(document, where)
        spec = ruleset.fields.get(key)
        if spec is None:
            near = difflib.get_close_matches(key, list(ruleset.fields), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            problems.append(Problem(name, line, key, f"unknown field{hint}"))
            continue
        value = entry
        if isinstance(entry, dict):
            value = entry.get("value")
            if entry.get("source"):
                sources[key] = str(entry["source"])
        try:
            values[key] = coerce(spec, value, ruleset)
            written[key] = value
        except ValueError as exc:
            problems.append(Problem(name, line, key, str(exc)))
    return values, sources, written, problems


def load_disclosure(path: Path, ruleset: Ruleset) -> Disclosure:
    """Read and check one disclosure file; every problem in it is reported together."""
    return disclosure_from_document(load_file(path, InputError), display_path(path), ruleset)


def disclosure_from_document(doc: Any, name: str, ruleset: Ruleset) -> Disclosure:
    """Check a parsed disclosure document (YAML or JSON) against the schema and fields."""
    problems = check("disclosure", doc, name)
    if problems:
        raise InputError(problems)
    values, sources, written, problems = read_values(name, doc["values"], ruleset, doc, ["values"])
    if problems:
        raise InputError(problems)
    lines = {k: line_of(doc, ["values", k]) for k in values}
    return Disclosure(name, str(doc.get("id") or Path(name).stem), values, sources, lines, written)


BATCH_SUFFIXES = (".csv", ".jsonl")
MAX_BATCH_ROWS = 100_000  # rows read from one batch file
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")


def cell(text: str) -> Any:
    """A CSV cell as a value: whole numbers, decimals, true/false, or the text itself."""
    text = text.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def load_batch(path: Path, ruleset: Ruleset) -> Iterator[Disclosure | InputError]:
    """Each row of a CSV (header: field names, optional id) or JSON Lines file (one
    disclosure document per line), checked on its own: a bad row yields its error and the
    batch goes on, so rows out always equals rows in."""
    name = display_path(path)
    text = read_text(path, InputError)
    if path.suffix.lower() == ".jsonl":
        rows: Iterator[tuple[int, Any]] = (
            (n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()
        )
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = ((reader.line_num, raw) for raw in reader)
    for count, (line, raw) in enumerate(rows, start=1):
        where = f"{name}:{line}"
        if count > MAX_BATCH_ROWS:
            limit = f"more than {MAX_BATCH_ROWS} rows: split the file"
            yield InputError([Problem(name, line, "", limit)])
            return
        try:
            yield _batch_row(where, name, line, raw, ruleset, path.suffix.lower())
        except InputError as exc:
            yield exc


def _batch_row(
    where: str, name: str, line: int, raw: Any, ruleset: Ruleset, suffix: str
) -> Disclosure:
    if suffix == ".jsonl":
        doc = parse_json(raw, name, InputError)
        problems = check("disclosure", doc, name)
        if problems:
            raise InputError([Problem(name, line, p.where, p.message) for p in problems])
        values_doc = doc["values"]
        row_id = str(doc.get("id") or f"{Path(name).stem}:{line}")
    else:
        if None in raw:
            raise InputError.one(name, line, "", "more cells than the header has columns")
        row_id = str(raw.get("id") or f"{Path(name).stem}:{line}")
        values_doc = {k: cell(v) for k, v in raw.items() if k != "id" and v not in (None, "")}
    values, sources, written, problems = read_values(name, values_doc, ruleset, None, [])
    if problems:
        raise InputError([Problem(name, line, p.where, p.message) for p in problems])
    return Disclosure(where, row_id, values, sources, dict.fromkeys(values, line), written)
