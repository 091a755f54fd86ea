"""Reference-table look-ups, recorded for provenance; nothing domain-specific."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, NamedTuple

from .model import Location, Row, Table
from .names import canonical_name, normalise

MAX_SERIES = 4096  # year series a table keeps, by key prefix and column
WRITTEN = "written"  # marks a series found by the keys as written, before folding


def key_part(value: Any) -> Any:
    """A key value as the index stores it: names folded, whole floats as integers."""
    if isinstance(value, str):
        return normalise(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def show_key(key: tuple[Any, ...]) -> str:
    """A row key as people read it: ``NWPP/2022``."""
    return "/".join(str(k) for k in key)


class NotApplicable(Exception):
    """A rule cannot apply to this disclosure: a table row or value it needs is missing."""

    def __init__(self, table: str, key: tuple[Any, ...], column: str | None, no_value: bool):
        super().__init__()
        self.table = table
        self.key = key
        self.column = column
        self.no_value = no_value

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.table, self.key, self.column, self.no_value))

    def _facts(self) -> tuple[Any, ...]:
        return (self.table, self.key, self.column, self.no_value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotApplicable) and self._facts() == other._facts()

    def __hash__(self) -> int:
        return hash(self._facts())

    def __str__(self) -> str:
        if self.no_value:
            return f"table {self.table} row {show_key(self.key)} has no value for {self.column}"
        if self.column is not None:
            return f"no row {show_key(self.key)} with {self.column} in table {self.table}"
        return f"no row {show_key(self.key)} in table {self.table}"


class TableUse(NamedTuple):
    """One value read from a table during an evaluation: the row itself, the column, and
    the year asked for when another year's row was used."""

    table: Table
    row: Row
    column: str
    asked: Any = None  # lookup_year: the year wanted, when the row is of another year

    @property
    def value(self) -> Any:
        """The cell read."""
        return self.row.values[self.column]

    @property
    def unit(self) -> str:
        """The column's unit."""
        return self.table.columns[self.column].unit

    @property
    def key(self) -> tuple[Any, ...]:
        """The row's key."""
        return self.row.key

    @property
    def at(self) -> Location:
        """Where the row is written."""
        return self.row.at

    @property
    def sources(self) -> tuple[str, ...]:
        """The row's sources."""
        return self.row.sources

    @property
    def note(self) -> str | None:
        """Why another year's row was used, when it was."""
        if self.asked is None:
            return None
        found = self.row.key[-1]
        side = "latest year before" if found < self.asked else "earliest year after"
        return f"{found} is the {side} {self.asked} with data"


def _read(table: Table, row: Row, column: str, asked: Any, trace: list[Any]) -> Any:
    """The cell, recorded in ``trace`` as a plain ``(table, row, column, asked)`` tuple (the
    fields of a ``TableUse``, made only when a view asks)."""
    value = row.values.get(column)
    if value is None:
        raise NotApplicable(table.name, row.key, column, True)
    trace.append((table, row, column, asked))
    return value


def find_row(table: Table, keys: tuple[Any, ...]) -> Row | None:
    """The row with exactly these keys (a single name key also through its aliases)."""
    row = table.exact.get(keys)
    if row is not None:
        return row
    row = table.index.get(tuple(key_part(k) for k in keys))
    if row is None and len(keys) == 1 and isinstance(keys[0], str):
        canonical = canonical_name(table, keys[0])
        row = table.index.get((key_part(canonical),)) if canonical else None
    return row


def lookup(table: Table, keys: tuple[Any, ...], column: str, trace: list[Any]) -> Any:
    """The value of ``column`` in the row with exactly these keys."""
    row = table.exact.get(keys)  # keys as rules hold them: canonical names, whole years
    if row is None:
        row = find_row(table, keys)
        if row is None:
            raise NotApplicable(table.name, keys, None, False)
    value = row.values.get(column)
    if value is None:
        raise NotApplicable(table.name, row.key, column, True)
    trace.append((table, row, column, None))
    return value


def lookup_year(table: Table, keys: tuple[Any, ...], column: str, trace: list[Any]) -> Any:
    """Like ``lookup``, but the last key is a year: the row of that year if it has a value
    in ``column``; else the latest earlier year; else the earliest later one. The row used
    and why are recorded, so a result always says which year's data it rests on."""
    lead, wanted = keys[:-1], keys[-1]
    series = table.series.get((lead, column, WRITTEN))  # the keys as the rule gave them
    if series is None:
        prefix = tuple(key_part(k) for k in lead)
        series = table.series.get((prefix, column))
        if series is None:
            years = table.years.get(prefix, ())
            with_value = [(y, row) for y, row in years if row.values.get(column) is not None]
            series = (tuple(y for y, _ in with_value), tuple(row for _, row in with_value))
            if len(table.series) < MAX_SERIES:  # bounded, whatever keys a service is sent
                table.series[(prefix, column)] = series  # the same every time: no lock
        if len(table.series) < MAX_SERIES:
            table.series[(lead, column, WRITTEN)] = series
    found, rows = series
    if not found:
        raise NotApplicable(table.name, lead, column, False)
    i = bisect_right(found, wanted)
    row = rows[i - 1] if i else rows[0]
    found_year = found[i - 1] if i else found[0]
    return _read(table, row, column, None if found_year == wanted else wanted, trace)


def has_row(table: Table, keys: tuple[Any, ...]) -> bool:
    """Whether a row with exactly these keys exists."""
    return tuple(key_part(k) for k in keys) in table.index
