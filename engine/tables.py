"""Reference-table look-ups, name matching and suggestions; nothing domain-specific."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from .model import Row, Table

MAX_SUGGESTIONS = 3  # closest known names offered for an unknown name


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 date or date-time ("2024-07-06", "2024-07-06T17:01", with a space too)."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())


@lru_cache(maxsize=65536)
def normalise(name: str) -> str:
    """Case-, space- and punctuation-insensitive form of a name ("US West (Oregon)" ->
    "uswestoregon"); NFKC folds compatibility look-alikes (full-width letters) first."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def key_part(value: Any) -> Any:
    """A key value as the index stores it: names normalised, numbers as they are."""
    if isinstance(value, str):
        return normalise(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class NotApplicable(Exception):
    """A rule cannot apply to this disclosure (a row or value it needs is missing)."""


@dataclass(frozen=True)
class TableUse:
    """One value read from a table during an evaluation, for provenance."""

    table: str
    key: tuple[Any, ...]
    column: str
    value: Any
    unit: str
    line: int | None
    sources: tuple[str, ...]
    note: str | None = None
    file: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "table": self.table,
            "key": list(self.key),
            "column": self.column,
            "value": self.value.isoformat() if isinstance(self.value, datetime) else self.value,
            "unit": self.unit,
            "file": self.file,
            "line": self.line,
            "sources": list(self.sources),
        }
        if self.note:
            out["note"] = self.note
        return out


@lru_cache(maxsize=65536)
def written_form(name: str) -> str:
    """A name as written, only case and spacing folded ("US West (Oregon)" ->
    "us west (oregon)"): it tells "us-west-2" from "us-west2"."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def canonical_name(table: Table, name: str) -> str | None:
    """The row key a written name refers to (through aliases), or None. A name written
    exactly as a key or alias (up to case and spacing) wins; otherwise the name also
    matches when only punctuation differs, if that points at a single row."""
    exact = table.names.get(written_form(name))
    if exact is not None:
        return exact
    keys = table.folded.get(normalise(name), ())
    return keys[0] if len(keys) == 1 else None


def ambiguous(table: Table, name: str) -> tuple[str, ...]:
    """The rows a name could mean when, without punctuation, it fits several."""
    keys = table.folded.get(normalise(name), ())
    return keys if len(keys) > 1 and written_form(name) not in table.names else ()


def suggestions(table: Table, name: str) -> list[str]:
    """Known names closest to an unknown one, best first."""
    wanted = normalise(name)
    found = difflib.get_close_matches(
        wanted, list(table.folded), n=MAX_SUGGESTIONS * 3, cutoff=0.5
    )
    out: list[str] = []
    for match in found:
        for canonical in table.folded[match]:
            if canonical not in out:
                out.append(canonical)
    if not out:
        out = [
            k
            for n, keys in table.folded.items()
            if wanted and (wanted in n or n in wanted)
            for k in keys
        ]
    return out[:MAX_SUGGESTIONS]


def _value(
    table: Table,
    row: Row,
    column: str,
    key: tuple[Any, ...],
    note: str | None,
    trace: list[TableUse],
) -> Any:
    value = row.values.get(column)
    if value is None:
        raise NotApplicable(f"table {table.name} row {_show(key)} has no value for {column}")
    trace.append(
        TableUse(
            table.name,
            row.key,
            column,
            value,
            table.columns[column].unit,
            row.line,
            row.sources,
            note,
            row.file,
        )
    )
    return value


def _show(key: tuple[Any, ...]) -> str:
    return "/".join(str(k) for k in key)


def lookup(table: Table, keys: tuple[Any, ...], column: str, trace: list[TableUse]) -> Any:
    """The value of ``column`` in the row with exactly these keys."""
    row = table.index.get(tuple(key_part(k) for k in keys))
    if row is None and len(keys) == 1 and isinstance(keys[0], str):
        canonical = canonical_name(table, keys[0])
        row = table.index.get((key_part(canonical),)) if canonical else None
    if row is None:
        raise NotApplicable(f"no row {_show(keys)} in table {table.name}")
    return _value(table, row, column, keys, None, trace)


def lookup_year(table: Table, keys: tuple[Any, ...], column: str, trace: list[TableUse]) -> Any:
    """Like ``lookup``, but the last key is a year: the row of that year if it has a value
    in ``column``; else the latest earlier year; else the earliest later one. The row used
    and why are recorded, so a result always says which year's data it rests on."""
    *lead, wanted = keys
    prefix = tuple(key_part(k) for k in lead)
    years = table.years.get(prefix, ())
    candidates = [(y, row) for y, row in years if row.values.get(column) is not None]
    if not candidates:
        raise NotApplicable(f"no row {_show(tuple(lead))} with {column} in table {table.name}")
    before = [c for c in candidates if c[0] <= wanted]
    found_year, row = before[-1] if before else candidates[0]
    note = None
    if found_year != wanted:
        side = "latest year before" if before else "earliest year after"
        note = f"{found_year} is the {side} {wanted} with data"
    return _value(table, row, column, keys, note, trace)


def has_row(table: Table, keys: tuple[Any, ...]) -> bool:
    """Whether a row with exactly these keys exists."""
    return tuple(key_part(k) for k in keys) in table.index
