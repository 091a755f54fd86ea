"""Reading disclosures: what is known about one fine-tuning run, checked field by field.

A disclosure document (YAML, JSON, or a mapping from Python) holds ``values``: field name
-> value in the field's declared unit, or ``{value, source}`` to say where the value was
published. Names (GPU, server, region, model...) are matched against the ruleset's tables,
forgiving case, spaces and punctuation; an unknown name is an error that suggests the
closest known ones. A disclosure is located by the name its caller gave it (a file as
written on the command line, a batch row as ``file:line``), never by a machine path.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..core.model import Disclosure, Ruleset
from ..core.names import did_you_mean, normalise
from ..core.problems import InputError, Problem
from ..core.values import ValueProblem, coerce
from .schemas import check
from .yamlio import LineDict, load_file, parse_json, read_text

DOCUMENT_KEYS = frozenset({"id", "description", "source", "values", "$schema"})


def field_names(ruleset: Ruleset) -> dict[str, list[str]]:
    """Folded forms of every field name and declared alias -> the fields they stand for,
    for suggestions by meaning as well as by spelling."""
    out: dict[str, list[str]] = {}
    for spec in ruleset.fields.values():
        for word in (spec.name, *spec.aliases):
            names = out.setdefault(normalise(word), [])
            if spec.name not in names:
                names.append(spec.name)
    return out


def unknown_field(name: str, line: int | None, key: str, ruleset: Ruleset) -> Problem:
    """The problem of a field name the ruleset does not declare, with the closest ones."""
    hint = did_you_mean(key, field_names(ruleset), quote=False)
    return Problem(name, line, key, f"unknown field{hint}", "unknown-field", field=key)


def read_values(
    name: str, raw: Mapping[str, Any], ruleset: Ruleset, line: int | None = None
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any], dict[str, int | None], list[Problem]]:
    """Check ``field: value`` pairs; returns values, sources, written forms, the line of
    each value (from YAML, or ``line`` for all of them) and the problems."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    written: dict[str, Any] = {}
    lines: dict[str, int | None] = {}
    problems = []
    fields = ruleset.fields
    tables = ruleset.tables
    key_lines = raw.key_lines if isinstance(raw, LineDict) else {}
    for key, entry in raw.items():
        at = key_lines.get(key, line)
        spec = fields.get(key)
        if spec is None:
            problems.append(unknown_field(name, at, str(key), ruleset))
            continue
        value = entry
        if isinstance(entry, dict):
            value = entry.get("value")
            if entry.get("source"):
                sources[key] = str(entry["source"])
        try:
            values[key] = coerce(spec, value, tables)
        except ValueProblem as exc:
            problems.append(Problem(name, at, key, str(exc), exc.code, field=key))
            continue
        written[key] = value
        lines[key] = at
    return values, sources, written, lines, problems


def _stem(name: str) -> str:
    return os.path.splitext(os.path.basename(name))[0]


_SCALARS = (str, int, float)  # bool is an int: true/false pass too


def well_formed(doc: Any) -> bool:
    """True when a document certainly has the shape of ``schemas/disclosure.schema.json``
    (the common case, checked in a few microseconds); when False, the schema itself is run
    and reports every problem with its line. A test checks the first never lies."""
    if not isinstance(doc, dict):
        return False
    for key, value in doc.items():
        if key != "values" and (key not in DOCUMENT_KEYS or not isinstance(value, str)):
            return False
    values = doc.get("values")
    if not isinstance(values, dict):
        return False
    for key, value in values.items():
        if not isinstance(key, str):
            return False
        if isinstance(value, _SCALARS):
            continue
        if not (
            isinstance(value, dict)
            and "value" in value
            and isinstance(value["value"], _SCALARS)
            and all(
                k == "value" or (k == "source" and isinstance(v, str)) for k, v in value.items()
            )
        ):
            return False
    return True


def disclosure_from_document(doc: Any, name: str, ruleset: Ruleset) -> Disclosure:
    """Check a parsed disclosure document (YAML, JSON or a mapping) against the schema and
    the ruleset's fields; every problem in it is reported together."""
    if not well_formed(doc):
        problems = check("disclosure", doc, name)
        if problems:
            raise InputError(problems)
    values, sources, written, lines, problems = read_values(name, doc["values"], ruleset)
    if problems:
        raise InputError(problems)
    return Disclosure(name, str(doc.get("id") or _stem(name)), values, sources, lines, written)


def disclosure_from_mapping(values: Mapping[str, Any], name: str, ruleset: Ruleset) -> Disclosure:
    """A disclosure from Python: a document (with ``values``) or the values alone."""
    if "values" in values and set(values) <= DOCUMENT_KEYS:
        return disclosure_from_document(dict(values), name, ruleset)
    return disclosure_from_document({"id": name, "values": dict(values)}, name, ruleset)


def load_disclosure(path: Path, ruleset: Ruleset, name: str | None = None) -> Disclosure:
    """Read and check one disclosure file, named as the caller wrote it (or ``name``)."""
    shown = str(path) if name is None else name
    return disclosure_from_document(load_file(path, InputError, shown), shown, ruleset)


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


def load_batch(
    path: Path, ruleset: Ruleset, name: str | None = None
) -> Iterator[Disclosure | InputError]:
    """Each row of a CSV (header: field names, optional id) or JSON Lines file (one
    disclosure document per line), checked on its own: a bad row yields its error and the
    batch goes on, so rows out always equals rows in."""
    shown = str(path) if name is None else name
    text = read_text(path, InputError, shown)
    if path.suffix.lower() == ".jsonl":
        rows: Iterator[tuple[int, Any]] = (
            (n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()
        )
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = ((reader.line_num, raw) for raw in reader)
    for count, (line, raw) in enumerate(rows, start=1):
        if count > MAX_BATCH_ROWS:
            limit = f"more than {MAX_BATCH_ROWS} rows: split the file"
            yield InputError([Problem(shown, line, "", limit, "limit")])
            return
        try:
            yield _batch_row(shown, line, raw, ruleset, path.suffix.lower())
        except InputError as exc:
            yield exc


def _batch_row(name: str, line: int, raw: Any, ruleset: Ruleset, suffix: str) -> Disclosure:
    if suffix == ".jsonl":
        doc = parse_json(raw, name, InputError)
        problems = [] if well_formed(doc) else check("disclosure", doc, name)
        if problems:
            raise InputError(
                [Problem(name, line, p.where, p.message, p.code, p.field) for p in problems]
            )
        values_doc = doc["values"]
        row_id = str(doc.get("id") or f"{_stem(name)}:{line}")
    else:
        if None in raw:
            raise InputError.one(
                name, line, "", "more cells than the header has columns", "syntax"
            )
        row_id = str(raw.get("id") or f"{_stem(name)}:{line}")
        values_doc = {k: cell(v) for k, v in raw.items() if k != "id" and v not in (None, "")}
    values, sources, written, lines, problems = read_values(name, values_doc, ruleset, line)
    if problems:
        raise InputError(
            [Problem(name, line, p.where, p.message, p.code, p.field) for p in problems]
        )
    return Disclosure(f"{name}:{line}", row_id, values, sources, lines, written)
