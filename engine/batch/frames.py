"""Data frames as the Arrow tables ``estimate_table`` reads, each cell as its own value.

A column of one type is as Arrow converts it. A column of Python objects (a pandas
``object`` column, a Polars ``Object`` one) is looked at cell by cell first: of one kind
(all text, all whole numbers, all times of one zone...) it is that kind's Arrow column;
mixing kinds it is the text a CSV file would hold (each cell then checked as a CSV cell
is), and a cell that no text stands for (binary data, a duration, a list) is kept aside
and read on its own, its row checked with the cell as a column of its own type holds it.
Empty cells (None, NaN, ``pd.NA``, ``pd.NaT``) are not disclosed.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from ..core.model import Disclosure, Ruleset
from ..core.problems import InputError, Problem, TuneprintError
from ..core.text import WHOLE_BITS_SHOWN, given
from ..core.values import python_value
from .columns import Refused, hashable, refusal_text
from .formats import ERRORS_KEPT, SHOWN_CHARS, Chunk, _check_header, _parquet_chunk, id_value

ENGINES = ("vector", "rows")  # (Dask runs files: ``run_batch``)
ACCEPTED = "a pyarrow Table or RecordBatch, or a pandas or Polars DataFrame"
INT64 = (-(2**63), 2**63 - 1)
ARROW_ERRORS = (pa.ArrowException, OverflowError, TypeError, ValueError)

# Kinds of cells
MISSING, TEXT, BOOL, INT, FLOAT, DECIMAL, DATETIME, DATE, TIME, PERIOD = range(10)
BYTES, DURATION, OTHER = range(10, 13)  # (no text stands for them: read on their own)
OWN = (BYTES, DURATION, OTHER)


@dataclass
class Frame:
    """A table to estimate, and the cells read on their own: by row (from 0), each
    row's cells by column."""

    table: pa.Table
    own: dict[int, dict[str, Any]] = field(default_factory=dict)
    _sorted: list[int] = field(default_factory=list, repr=False)

    def rows_in(self, start: int, stop: int) -> dict[int, dict[str, Any]]:
        """The rows of ``own`` from ``start`` to before ``stop``, numbered from ``start``."""
        if len(self._sorted) != len(self.own):
            self._sorted = sorted(self.own)
        at, end = bisect_left(self._sorted, start), bisect_left(self._sorted, stop)
        return {row - start: self.own[row] for row in self._sorted[at:end]}


def check_arguments(engine: Any, chunk_rows: Any) -> None:
    """Refuse an engine ``estimate_table`` has not, or chunks of no rows."""
    if not isinstance(engine, str) or engine not in ENGINES:
        message = f"expected {' or '.join(repr(e) for e in ENGINES)}, got {engine!r}"
        if engine == "dask":
            message += " (Dask estimates files: run_batch(..., engine='dask'))"
        raise InputError.one("engine", None, "", message, "option")
    if (
        isinstance(chunk_rows, bool)
        or not isinstance(chunk_rows, int | np.integer)
        or (chunk_rows < 1)
    ):
        message = f"expected a whole number >= 1, got {chunk_rows!r}"
        raise InputError.one("chunk_rows", None, "", message, "option")


def arrow_frame(table: Any, ruleset: Ruleset) -> Frame:
    """Any table ``estimate_table`` takes as an Arrow table (and its cells read on their
    own); anything else refused, saying what is taken."""
    if isinstance(table, pa.Table):
        return Frame(table)
    if isinstance(table, pa.RecordBatch):
        return Frame(pa.Table.from_batches([table]))
    pd, pl = sys.modules.get("pandas"), sys.modules.get("polars")  # (a frame: imported)
    if pd is not None and isinstance(table, pd.DataFrame):
        return from_pandas(table, ruleset)
    if pl is not None and isinstance(table, pl.DataFrame):
        return from_polars(table, ruleset)
    raise InputError.one("table", None, "", _refusal(table, pd, pl), "option")


def _refusal(table: Any, pd: Any, pl: Any) -> str:
    kind = type(table)
    message = f"expected {ACCEPTED}, got {kind.__module__.split('.')[0]}.{kind.__name__}"
    if kind.__module__ == "builtins":
        message = f"expected {ACCEPTED}, got a {kind.__name__}"
    if pl is not None and isinstance(table, pl.LazyFrame):
        message += " (collect() it first)"
    elif (pd is not None and isinstance(table, pd.Series)) or (
        pl is not None and isinstance(table, pl.Series)
    ):
        message += " (a column: give a frame of it, to_frame())"
    return message


def from_pandas(frame: Any, ruleset: Ruleset) -> Frame:
    """A pandas frame as an Arrow table, column by column (every row kept, even of a
    frame without columns). A level of its index named ``id`` or a field
    (``set_index("id")``, ``set_index(["id", "gpu_model"])``) is a column too, before the
    others; an index of other names, or of none, is the frame's own labels, not read. A
    level named as a column is that name given twice: refused as a header would be."""
    levels = [
        (k, str(name))
        for k, name in enumerate(frame.index.names)
        if name is not None and (str(name) == "id" or str(name) in ruleset.fields)
    ]
    header = [name for _, name in levels] + [str(name) for name in frame.columns]
    names = [name for _, name in levels]
    for name in names:
        if names.count(name) > 1:  # (two levels of one name, and maybe a column too)
            raise InputError.one(
                "table", None, name, f"names {names.count(name)} levels of the index: "
                "rename one (frame.index.set_names) or drop it (reset_index)", "duplicate",
            )  # fmt: skip
        if header.count(name) > 1:
            raise InputError.one(
                "table", None, name, "is both a level of the index and a column: keep one "
                f"(reset_index({name!r}, drop=True) drops the level)", "duplicate",
            )  # fmt: skip
    _check_header("table", header, ruleset)  # (a name twice: one message, not Arrow's)
    cells = [frame.index.get_level_values(k) for k, _ in levels]
    cells += [frame.iloc[:, at] for at in range(len(frame.columns))]
    built = Frame(pa.table({}))
    columns = [
        _kept(built, name, _pandas_column(column), name != "id")
        for name, column in zip(header, cells, strict=True)
    ]
    built.table = pa.table(columns, names=header) if columns else _no_columns(len(frame))
    return built


def _no_columns(rows: int) -> pa.Table:
    return pa.table({"": pa.nulls(rows)}).drop_columns([""])


def _pandas_column(cells: Any) -> pa.Array | list[Any]:
    """A pandas column as Arrow converts it, or its cells (as Python holds them) when
    they are to be looked at one by one."""
    infer_dtype = sys.modules["pandas"].api.types.infer_dtype

    if cells.dtype == object and infer_dtype(cells, skipna=True) not in (
        "string", "boolean", "floating", "integer", "empty"
    ):  # fmt: skip
        return list(cells)
    try:
        array = pa.array(cells, from_pandas=True)
    except ARROW_ERRORS:  # (whole numbers beyond 64 bits, categories of mixed kinds)
        return list(cells)
    if isinstance(array.type, pa.ExtensionType):  # (periods, intervals: pandas' own)
        return list(cells)
    return array


def from_polars(frame: Any, ruleset: Ruleset) -> Frame:
    """A Polars frame as an Arrow table: as Polars converts it, but for its columns of
    128-bit whole numbers and of Python objects, which Arrow has not."""
    import polars as pl

    odd = (pl.Int128, pl.UInt128, pl.Object)
    if not any(frame.schema[name] in odd for name in frame.columns):
        return Frame(frame.to_arrow())
    built = Frame(pa.table({}))
    columns = []
    for name in frame.columns:
        cells = frame.get_column(name)
        column = _polars_column(cells, pl) if cells.dtype in odd else cells.to_arrow()
        columns.append(_kept(built, name, column, name != "id"))
    built.table = pa.table(columns, names=list(frame.columns))
    return built


def _polars_column(cells: Any, pl: Any) -> pa.Array | list[Any]:
    """A column of 128-bit whole numbers as 64-bit ones when they fit; else, and a column
    of Python objects, its cells."""
    if cells.dtype != pl.Object:
        low, high = cells.min(), cells.max()
        if low is None or (INT64[0] <= low and high <= INT64[1]):
            return cells.cast(pl.Int64).to_arrow()
    return list(cells.to_list())


def _kept(frame: Frame, name: str, column: pa.Array | list[Any], own: bool) -> pa.Array:
    """A column as Arrow holds it; the cells of a list looked at one by one, those read
    on their own kept in ``frame`` (in an ``id`` column, those that are no id's text)."""
    if isinstance(column, pa.Array | pa.ChunkedArray):
        return column
    array, aside = cells_array(column, own)
    for row, value in aside.items():
        frame.own.setdefault(row, {})[name] = value
    return array


def cells_array(cells: Sequence[Any], own: bool = True) -> tuple[pa.Array, dict[int, Any]]:
    """Cells of Python objects as one Arrow column: of their kind if all of one, else
    their text; and the cells read on their own (by row), left empty in the column."""
    values = [python_value(v) for v in cells]
    kinds = [_kind(v) for v in values]
    found = set(kinds) - {MISSING}
    if len(found) == 1:
        array = _of_one_kind(found.pop(), values, kinds)
        if array is not None:
            return array, {}
    aside = {i: v for i, (v, k) in enumerate(zip(values, kinds, strict=True)) if k in OWN}
    if not own:  # (an id column: text, but for the cells no id is, each its row's error)
        aside = {i: v for i, v in enumerate(values) if id_value(v)[1] is not None}
    text_of = cell_text if own else lambda v: id_value(v)[0]  # (an id: as a typed one's)
    texts = [
        None if k == MISSING or i in aside else text_of(v)
        for i, (v, k) in enumerate(zip(values, kinds, strict=True))
    ]
    return pa.array(texts, pa.string()), aside


def _of_one_kind(kind: int, values: list[Any], kinds: list[int]) -> pa.Array | None:
    """Cells all of one kind as Arrow holds that kind, or None where it would not hold
    them as they are (times of several zones, periods) or cannot."""
    cells = [None if k == MISSING else v for v, k in zip(values, kinds, strict=True)]
    zones = {v.tzinfo for v in cells if v is not None} if kind == DATETIME else set()
    if kind == PERIOD or len(zones) > 1:
        return None  # (Arrow puts every time in the first one's zone)
    try:
        return pa.array(cells)
    except ARROW_ERRORS:
        pass
    if kind == INT:  # beyond 64 bits: as decimals of no fraction (76 digits at most)
        try:
            return pa.array([None if v is None else Decimal(v) for v in cells])
        except ARROW_ERRORS:
            return None
    return None


def _kind(value: Any) -> int:
    """What a cell is (booleans apart from numbers, times apart from dates)."""
    if _missing(value):
        return MISSING
    if type(value) is int and value.bit_length() > WHOLE_BITS_SHOWN:  # (no text holds it:
        return OTHER  # Python writes no whole number of more than 4,300 digits)
    for kinds, kind in _KINDS:
        if isinstance(value, kinds):
            return kind
    if type(value).__name__ == "Period" and type(value).__module__.startswith("pandas"):
        return PERIOD
    return OTHER


_KINDS: list[tuple[type | tuple[type, ...], int]] = [
    (str, TEXT),
    (bool, BOOL),
    (int, INT),
    (float, FLOAT),
    (Decimal, DECIMAL),
    (datetime, DATETIME),  # (before dates: a datetime is a date)
    (date, DATE),
    (time, TIME),
    (timedelta, DURATION),
    ((bytes, bytearray, memoryview), BYTES),
]


def _missing(value: Any) -> bool:
    """None, NaN, and pandas' empty cells (``pd.NA``, ``pd.NaT``): nothing disclosed."""
    if value is None:
        return True
    if isinstance(value, float | Decimal):
        return bool(value.is_nan()) if isinstance(value, Decimal) else math.isnan(value)
    kind = type(value)
    return kind.__name__ in ("NAType", "NaTType") and kind.__module__.startswith("pandas")


def cell_text(value: Any) -> str | None:
    """A cell of a mixed column as a CSV file writes it (a time with its zone as it was
    there, with its offset)."""
    value = python_value(value)
    if _missing(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):  # (an id: the text it holds)
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, date | time):  # dates and times
        return value.isoformat()
    return str(value)


Read = Callable[[int], Disclosure | TuneprintError | Refused]


def own_cells(
    frame: Frame,
    start: int,
    batch: pa.RecordBatch,
    chunk: Chunk,
    header: list[str],
    fields: list[str],
    ruleset: Ruleset,
) -> Chunk:
    """A chunk of ``frame``'s rows from ``start`` whose rows with cells read on their own
    go to the per-disclosure reader, each reading its cells as columns of their own type
    hold them. A row refused for the same such cells as an earlier one, and for no other
    cell, has the earlier row's problems at its own line (as ``formats._remembering``)."""
    rows = frame.rows_in(start, start + batch.num_rows)
    if not rows:
        return chunk
    alone = ~chunk.columns.bad  # (rows of no other cell refused or left to the reader)
    for name in {name for cells in rows.values() for name in cells}:
        flagged = np.zeros(batch.num_rows, dtype=bool)
        flagged[[i for i, cells in rows.items() if name in cells]] = True
        chunk.columns.flag(name, flagged)
    read: Read = chunk.fallback
    seen: dict[tuple[Any, ...], Callable[[int], Refused]] = {}

    def fallback(i: int) -> Disclosure | TuneprintError | Refused:
        cells = rows.get(i)
        if cells is None:
            return read(i)
        line = start + i + 1
        key = _key(cells) if alone[i] else None
        known = seen.get(key) if key is not None else None
        if known is not None:
            return known(line)
        item = _own_row(batch, i, cells, start, header, fields, ruleset)
        if (
            key is not None
            and isinstance(item, InputError)
            and len(seen) < ERRORS_KEPT
            and all(p.line == line for p in item.problems)
        ):
            seen[key] = refusal_text(item.problems)
        return item

    return Chunk(chunk.columns, chunk.rows, fallback)


def _key(cells: dict[str, Any]) -> tuple[Any, ...]:
    """Cells as a key of the problems they give (1, 1.0 and True apart)."""
    return tuple((name, type(v).__name__, hashable(v)) for name, v in sorted(cells.items()))


def _own_row(
    batch: pa.RecordBatch,
    i: int,
    cells: dict[str, Any],
    start: int,
    header: list[str],
    fields: list[str],
    ruleset: Ruleset,
) -> Disclosure | TuneprintError | Refused:
    """Row i of a batch read with its cells ``cells`` as columns of their type hold them.
    A cell no column holds (a complex number, a whole number of 5,000 digits) is checked
    as the per-disclosure reader checks a value, and the row's other cells are read
    without it: the row's error tells every problem, as ``estimate`` tells them."""
    from ..core.values import ValueProblem, coerce
    from .formats import _row_error

    line = start + i + 1
    one = pa.Table.from_batches([batch.slice(i, 1)])
    unread: list[Problem] = []
    for name, value in cells.items():
        try:
            array = pa.array([value])
        except ARROW_ERRORS:
            array = pa.nulls(1)  # (the row read without it)
            shown = f"{type(value).__name__} {given(value, SHOWN_CHARS)}"
            message, code = f"expected a number, text, a date or a time, got {shown}", "type"
            spec = ruleset.fields.get(name)
            if spec is None:  # the id: as an id column's cell is told
                message = id_value(value)[1] or message
            else:
                try:
                    coerce(spec, value, ruleset.tables)
                except ValueProblem as exc:
                    message, code = str(exc), exc.code
            unread.append(Problem("table", line, name, message, code, field=name))
        one = one.set_column(one.schema.get_field_index(name), name, array)
    row = pa.RecordBatch.from_arrays(  # (a batch: each column one array, as a file's are)
        [c.combine_chunks() for c in one.columns], names=one.column_names
    )
    item = _parquet_chunk(row, "table", header, fields, ruleset, start + i).fallback(0)
    if not unread:
        return item
    told = item.problems if isinstance(item, InputError) else []
    return _row_error("table", line, fields, unread, told)
