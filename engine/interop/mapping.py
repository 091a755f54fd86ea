"""What the importers and exporters share: the format data (formats.yaml), unit
conversions worked out by pint, imported values that keep their source, and the problems
of a foreign or malformed file.

Every unit, factor and bound of another tool's format is in ``formats.yaml`` beside this
module; conversions to a field's unit use the unit declared there and the unit the ruleset
declares for the field, so no conversion factor is written in code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from ..api import RulesetLike, load_ruleset
from ..core.model import Ruleset
from ..core.problems import InputError, Problem
from ..core.values import ValueProblem, coerce
from ..load.files import read_text
from ..load.yamlio import load_file

FORMATS_FILE = Path(__file__).with_name("formats.yaml")
UNITS_FILE = "units.txt"  # a ruleset version's own unit definitions
YAML_WIDTH = 1_000_000  # characters before YAML folds a line: a source stays on one line
SAME = 1e-12  # relative difference below which a conversion factor's inverse is whole


@cache
def formats() -> dict[str, Any]:
    """The format data of every tool tuneprint reads or writes (formats.yaml)."""
    doc = load_file(FORMATS_FILE)
    if not isinstance(doc, dict):  # pragma: no cover - the shipped file is a mapping
        raise TypeError("formats.yaml is not a mapping")
    return dict(doc)


def ruleset_of(ruleset: RulesetLike) -> Ruleset:
    """A loaded ruleset from a Ruleset, a version name, a folder or None (the newest)."""
    return ruleset if isinstance(ruleset, Ruleset) else load_ruleset(ruleset)


@cache
def _registry(definitions: str) -> Any:
    from ..load.units import registry_from_text

    return registry_from_text(definitions)


def registry(rs: Ruleset) -> Any:
    """The pint registry of a ruleset's units plus the formats' own definitions."""
    texts = [
        read_text(layer.folder / UNITS_FILE)
        for layer in rs.layers
        if (layer.folder / UNITS_FILE).is_file()
    ]
    texts.extend(formats().get("units", []))
    return _registry("\n".join(texts))


def factor(rs: Ruleset, from_unit: str, to_unit: str) -> float:
    """The number a value in ``from_unit`` is multiplied by to be in ``to_unit``; raises
    ValueError when the two are not of one dimension."""
    from ..load.units import parse_unit

    ureg = registry(rs)
    source, target = parse_unit(ureg, from_unit), parse_unit(ureg, to_unit)
    if source is None or target is None:
        raise ValueError(f"{from_unit!r} or {to_unit!r} is not a unit")
    try:
        return float(source.to(target.units).magnitude)
    except Exception as exc:  # pint's DimensionalityError and undefined units
        raise ValueError(f"cannot convert {from_unit} to {to_unit}: {exc}") from None


def convert(rs: Ruleset, value: float, from_unit: str, to_unit: str) -> float:
    """``value`` in ``from_unit``, expressed in ``to_unit``. A factor below 1 whose inverse
    is whole (s -> h, percent -> 1) divides by that inverse, so 11.7 percent is 0.117 and
    not 0.11699999999999999."""
    scale = factor(rs, from_unit, to_unit)
    if 0 < scale < 1:
        inverse = 1 / scale
        whole = round(inverse)
        if abs(inverse - whole) <= SAME * inverse:
            return value / whole
    return value * scale


@dataclass(frozen=True)
class Entry:
    """An imported value: the field it discloses, the value in the field's unit, and where
    it comes from (file, row, column, and how it was converted)."""

    field: str
    value: Any
    source: str


class ImportedDisclosure(dict[str, Any]):
    """A disclosure document (id, description, source, values: {field: {value, source}})
    as an import made it; ``notes`` says what the file held that was not disclosed, and
    why. It is a plain mapping: ``tuneprint.estimate`` takes it as it is."""

    notes: list[str]

    def __init__(self, document: dict[str, Any], notes: list[str]) -> None:
        super().__init__(document)
        self.notes = list(notes)

    def to_yaml(self) -> str:
        """The document as a YAML disclosure file, the notes as comments above it."""
        return disclosure_yaml(self, self.notes)


def disclosure_document(
    id: str, description: str, source: str, entries: list[Entry]
) -> dict[str, Any]:
    """A disclosure document whose every value carries its source."""
    return {
        "id": id,
        "description": description,
        "source": source,
        "values": {e.field: {"value": _plain(e.value), "source": e.source} for e in entries},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def disclosure_yaml(document: dict[str, Any], notes: list[str]) -> str:
    """A disclosure document as YAML, with notes as comments (plain, stable text)."""
    import yaml

    lines = []
    for note in notes:
        text = " ".join(note.split())
        lines.append(f"# {text}")
    body = yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=YAML_WIDTH)
    return "\n".join(lines) + ("\n" if lines else "") + body


def checked(
    rs: Ruleset, field_name: str, value: Any, file: str, line: int | None, where: str
) -> tuple[Any, Problem | None]:
    """A value checked against its field, as the disclosure loader will check it: the
    value as the field takes it, or the problem located at the source cell."""
    spec = rs.fields[field_name]
    try:
        coerce(spec, value, rs.tables)
    except ValueProblem as exc:
        return None, Problem(file, line, where, f"{field_name}: {exc}", exc.code, field=field_name)
    return value, None


def name_problem(rs: Ruleset, field_name: str, value: str) -> str | None:
    """Why a name would be refused by its field's table (unknown or ambiguous), or None."""
    spec = rs.fields[field_name]
    try:
        coerce(spec, value, rs.tables)
    except ValueProblem as exc:
        return str(exc)
    return None


def fail(problems: list[Problem]) -> None:
    """Raise the problems, if any, as one InputError."""
    if problems:
        raise InputError(problems)


@dataclass
class Collector:
    """Entries and notes as an importer makes them, for one ruleset: a field the ruleset
    does not declare is noted, never written."""

    rs: Ruleset
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, field_name: str, value: Any, source: str) -> None:
        """Disclose a value (when the ruleset has the field)."""
        if field_name not in self.rs.fields:
            self.notes.append(
                f"not disclosed: {field_name} = {value!r} ({source}): ruleset "
                f"{self.rs.version} has no such field"
            )
            return
        self.entries.append(Entry(field_name, value, source))

    def note(self, text: str) -> None:
        """Say what was read and not disclosed, and why."""
        self.notes.append(text)


__all__ = [
    "Collector",
    "Entry",
    "ImportedDisclosure",
    "convert",
    "disclosure_document",
    "disclosure_yaml",
    "factor",
    "formats",
    "ruleset_of",
]


class CellProblem(ValueError):
    """A cell or key whose text does not fit what its format declares for it."""


def read_value(spec: dict[str, Any], raw: Any, timestamp_format: str | None = None) -> Any:
    """A cell's text (or a JSON value) as its declared type, within its declared bounds;
    None for an empty cell. Raises CellProblem saying what was expected."""
    kind = spec.get("type", "text")
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if kind in ("number", "integer"):
        number = _number(raw, kind)
        unit = spec.get("unit")
        shown = "" if unit in (None, "1") else f" {unit}"
        low, high = spec.get("min"), spec.get("max")
        if low is not None and number < low:
            raise CellProblem(f"{raw!r}{shown} is below the minimum {low}{shown}")
        if high is not None and number > high:
            raise CellProblem(f"{raw!r}{shown} is above the maximum {high}{shown}")
        return number
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise CellProblem(f"expected true or false, got {raw!r}")
        return raw
    if kind == "list":
        if not isinstance(raw, list):
            raise CellProblem(f"expected a list, got {type(raw).__name__}")
        return raw
    if not isinstance(raw, str):
        raise CellProblem(f"expected text, got {raw!r}")
    text = raw.strip()
    if kind == "timestamp":
        try:
            return datetime.strptime(text, timestamp_format or "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise CellProblem(
                f"expected a date and time like {timestamp_format}, got {raw!r}"
            ) from None
    if kind == "choice":
        choices = [str(c) for c in spec.get("choices", [])]
        if text not in choices:
            raise CellProblem(f"expected one of {', '.join(choices)}, got {raw!r}")
        return text
    if kind == "code":
        import re

        if not re.fullmatch(spec["pattern"], text):
            raise CellProblem(f"{raw!r} does not have the form {spec['pattern']}")
        return text
    return raw


def _number(raw: Any, kind: str) -> float | int:
    if isinstance(raw, bool):
        raise CellProblem(f"expected a number, got {raw!r}")
    if isinstance(raw, (int, float)):
        number: float | int = raw
    elif isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            raise CellProblem(f"expected a number, got {raw!r}") from None
    else:
        raise CellProblem(f"expected a number, got {raw!r}")
    if not math.isfinite(number):
        raise CellProblem(f"expected a finite number, got {raw!r}")
    if kind == "integer":
        if not float(number).is_integer():
            raise CellProblem(f"expected a whole number, got {raw!r}")
        return int(number)
    return number


def unit_change(from_unit: str, to_unit: str) -> str:
    """How a conversion is shown in a source: "(s -> h)", or nothing for the same unit."""
    return "" if from_unit == to_unit else f" ({_unit(from_unit)} -> {_unit(to_unit)})"


def _unit(unit: str) -> str:
    return "a pure number" if unit == "1" else unit
