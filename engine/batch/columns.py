"""Input columns as disclosed columns: each value checked as a disclosure's would be.

A column of text (a CSV file's cells, or strings in Parquet) or of numbers becomes the
disclosed column of its field: numbers in the plain decimal form by Arrow in one pass (a
million cells take milliseconds), everything else once per distinct value through
``cell`` and ``coerce`` themselves. A row holding a value that does not fit is marked:
the per-disclosure reader reads that row again and gives its exact error, naming line
and column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.model import FieldSpec, Ruleset
from ..core.problems import Problem
from ..core.values import MAX_DIGITS, ValueProblem, coerce
from ..load.disclosures import MAX_CELL_CHARS, cell
from . import arrays
from .vector import (
    BOOL,
    DATE,
    NUM,
    Chunk,
    Interner,
    Vec,
    fits_number,
    kind_of,
    moved,
    take_rows,
    to_micros,
)

# The plain decimal form, which Arrow's cast reads exactly as Python's float() does (both
# correctly rounded); every other form (signs, exponents, "_", spaces, leading zeros...)
# goes through ``cell`` once per distinct cell. Up to MAX_DIGITS characters, so a whole
# number's digits are within the bound too.
PLAIN_NUMBER = r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$"
PRINTABLE = r"^[ -~]*$"  # printable ASCII: Python's strip() takes only spaces off it
EXACT_INTEGERS = 2.0**53  # below it in size, every integer is exact as a float64
# so is every whole number written with this many characters or fewer (15)
EXACT_DIGITS = len(str(int(EXACT_INTEGERS))) - 1


@dataclass(frozen=True)
class Refused:
    """A row refused for the same cells as an earlier one: its problems (the earlier row's,
    at this row's line) as the JSON text of the output's error column."""

    text: str


LINE_MARK = -(2**62) + 7  # a line no file has, marking where a row's line goes


def refusal_text(problems: list[Problem]) -> Callable[[int], Refused]:
    """How to give, at any line, the JSON text of problems that are all at one row's line:
    the text of ``json.dumps`` made once, each row's line put in its place."""
    import dataclasses
    import json

    marked = [dataclasses.replace(p, line=LINE_MARK).as_dict() for p in problems]
    pieces = json.dumps(marked, ensure_ascii=False).split(f'"line": {LINE_MARK}')

    def at(row_line: int) -> Refused:
        return Refused(f'"line": {row_line}'.join(pieces))

    return at


class Columns:
    """A chunk's disclosed columns, the rows that need the per-disclosure reader, and ids."""

    def __init__(self, n: int, interner: Interner) -> None:
        self.chunk = Chunk(n, interner)
        self.bad = np.zeros(n, dtype=bool)
        self.ids: list[str | None] | pa.Array = [None] * n  # text, or an Arrow string column
        self.filled = np.zeros(n, dtype=bool)  # rows with a cell that is not blank
        self.flagged: dict[str, np.ndarray] = {}  # per column: rows whose cell is why

    def flag(self, column: str, rows: np.ndarray) -> None:
        """Mark rows for the per-disclosure reader because of their cell in a column."""
        if not rows.any():
            return
        self.bad |= rows
        found = self.flagged.get(column)
        self.flagged[column] = rows.copy() if found is None else found | rows

    def taken(
        self, where: np.ndarray, places: np.ndarray | None = None, ids: bool = True
    ) -> Columns:
        """These columns with only the rows ``where`` lists, in its order (without the
        ids when ``ids`` is False). ``places``: ``where`` is an order of all the rows,
        and this its inverse; the values are then moved (``moved``), each column dropped
        from these ones once taken (the columns in their own order are read no more), so
        that the two are never held whole together."""
        new = Columns(len(where), self.chunk.interner)
        for name in list(self.chunk.values):
            vec, present = self.chunk.values[name], self.chunk.present[name]
            if places is None:
                data = take_rows(vec.data, where)
            else:
                del self.chunk.values[name], self.chunk.present[name]
                data = moved(vec.data, where, places)
            rows = present.take(where)
            new.chunk.disclose(name, Vec(vec.kind, data), rows)
        new.chunk.steady = self.chunk.steady
        new.bad = self.bad.take(where)
        new.filled = self.filled.take(where)
        new.flagged = {name: rows.take(where) for name, rows in self.flagged.items()}
        if not ids:
            return new
        given = self.ids
        new.ids = (
            given.take(arrays.numbers(where, pa.int64()))
            if isinstance(given, pa.Array)
            else [given[i] for i in where]
        )
        return new


def text_column(columns: Columns, spec: FieldSpec, array: pa.Array, ruleset: Ruleset) -> None:
    """A column of cells written as text (CSV), read as ``cell`` and ``coerce`` read them:
    numbers in the plain decimal form in one pass over the column, every other cell once
    per distinct cell. Cells given as indices into their distinct values (a dictionary, as
    Parquet stores them) are judged once per distinct value."""
    if pa.types.is_dictionary(array.type):
        if len(array.dictionary) <= len(array):
            return _dictionary_column(columns, spec, array, ruleset)
        array = pc.fill_null(array.cast(pa.string()), arrays.texts([""])[0])  # (too many)
    n = columns.chunk.n
    array = array.cast(pa.string())
    kind = kind_of(spec)
    if kind == NUM:
        lengths = arrays.numpy(pc.binary_length(array))
        plain_rows = (lengths <= MAX_DIGITS) & _matches(array, PLAIN_NUMBER)
        whole = np.flatnonzero(plain_rows & (lengths > EXACT_DIGITS))
        if len(whole):  # whole numbers of more digits may not be exact as floats: Python's
            # int (the per-disclosure reader's) is compared with the field's bounds
            point = arrays.numpy(pc.match_substring(array.take(whole), "."))
            plain_rows[whole[~point]] = False
        plain = arrays.booleans(plain_rows)
        data = np.zeros(n, dtype=np.float64)
        if plain_rows.any():
            # (by the rows' numbers: assigning through a mask of random bits takes four
            # times as long)
            data[np.flatnonzero(plain_rows)] = arrays.numpy(
                pc.cast(array.filter(plain), pa.float64())
            )
        rest = ~plain_rows & (lengths > 0)
        present = plain_rows.copy()
        unfit = np.zeros(n, dtype=bool)
        if rest.any():  # other forms, once per distinct cell
            where = np.flatnonzero(rest)
            encoded = pc.dictionary_encode(array.take(arrays.numbers(where, pa.int64())))
            read = _cells(encoded.dictionary.to_pylist(), spec, ruleset)
            index = arrays.numpy(encoded.indices)
            state = np.array([v[0] for v in read], dtype=np.int8)[index]
            number = np.array([v[1] for v in read], dtype=np.float64)[index]
            data[where] = number
            present[where] = state != BLANK
            unfit[where] = state == UNFIT
        np.add(data, 0.0, out=data)  # (-0.0 is zero, as the per-disclosure reader has it)
        columns.filled |= present
        good = present & ~unfit & fits_number(spec, data)
        columns.flag(spec.name, present & ~good)
        columns.chunk.disclose(spec.name, Vec(NUM, data), good)
        return
    encoded = pc.dictionary_encode(array)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    indices = arrays.numpy(encoded.indices)
    distinct = encoded.dictionary.to_pylist()
    blank = np.array([not v.strip() for v in distinct], dtype=bool)
    long = np.array([len(v) > MAX_CELL_CHARS for v in distinct], dtype=bool)
    if not blank.all():
        columns.filled |= ~blank.take(indices)
    values = [None if b or t else v for v, b, t in zip(distinct, blank, long, strict=True)]
    _coded(columns, spec, kind, indices, values, ruleset, lambda v: cell(v, spec), long)


def _dictionary_column(
    columns: Columns, spec: FieldSpec, array: pa.DictionaryArray, ruleset: Ruleset
) -> None:
    """A text column given as indices into its distinct cells: the distinct cells (and a
    blank one, for the empty cells) judged as a column of their own, and each row given
    the judgment of its cell."""
    empty = arrays.texts([""])  # (Arrow's own scalars from Python values import pandas)
    values = pc.fill_null(array.dictionary.cast(pa.string()), empty[0])
    distinct = pa.concat_arrays([values, empty])
    given = array.indices
    indices = arrays.numpy(given)
    if given.null_count:
        indices = np.where(arrays.numpy(given.is_valid()), indices, len(values))
    judged = Columns(len(distinct), columns.chunk.interner)
    text_column(judged, spec, distinct, ruleset)
    if judged.filled.any():
        columns.filled |= judged.filled.take(indices)
    flagged = judged.flagged.get(spec.name)
    if flagged is not None:
        columns.flag(spec.name, flagged.take(indices))
    vec = judged.chunk.values[spec.name]
    present = judged.chunk.present[spec.name]
    columns.chunk.disclose(spec.name, Vec(vec.kind, vec.data.take(indices)), present.take(indices))


BLANK, FIT, UNFIT = 0, 1, 2
_BYTES = {PLAIN_NUMBER: arrays.plain_numbers, PRINTABLE: arrays.printable}


def _matches(array: pa.Array, pattern: str) -> np.ndarray:
    """The cells a pattern matches: read byte by byte with NumPy (several times faster
    than Arrow's regular expressions), or by Arrow where a cell is null."""
    if array.null_count or isinstance(array, pa.ChunkedArray):
        return arrays.numpy(pc.match_substring_regex(array, pattern))
    return _BYTES[pattern](array)


def id_column(columns: Columns, array: pa.Array, default: Callable[[], pa.Array]) -> None:
    """Row ids from the ``id`` column, as the per-disclosure reader makes them: the cell
    without its spaces, or ``default()``'s (the file and line) where it is blank. Cells that
    are not printable ASCII are left to that reader (it checks them for control
    characters)."""
    array = array.cast(pa.string())
    plain = _matches(array, PRINTABLE)
    long = arrays.numpy(pc.binary_length(array)) > MAX_CELL_CHARS  # (bytes: chars if plain)
    columns.flag("id", ~plain | long)
    trimmed = arrays.trimmed(array)
    blank = (arrays.numpy(pc.binary_length(trimmed)) == 0) & plain
    # the others without their spaces as Python's strip() sees them (a row that is an
    # error keeps that id, as it does when Python's reader takes the file)
    other: dict[int, str] = {}
    for i in np.flatnonzero(~plain):
        text = str(trimmed[int(i)].as_py()).strip()
        blank[i] = not text
        if text:
            other[int(i)] = text
    columns.filled |= ~blank
    if other:
        mask = np.zeros(len(array), dtype=bool)
        mask[list(other)] = True
        trimmed = pc.if_else(
            arrays.booleans(mask), arrays.sparse_texts(len(array), other), trimmed
        )
    if blank.any():
        trimmed = pc.if_else(arrays.booleans(blank), default(), trimmed)
    columns.ids = trimmed


def default_ids(stem: str, lines: np.ndarray) -> pa.Array:
    """``STEM:LINE`` for each line, the id of a row without one."""
    text = arrays.texts([stem, ":"])
    numbers = pc.cast(arrays.numbers(lines, pa.int64()), pa.string())
    joined: pa.Array = pc.binary_join_element_wise(text[0], numbers, text[1])
    return joined


def _cells(distinct: list[str], spec: FieldSpec, ruleset: Ruleset) -> list[tuple[int, float]]:
    """Cells of a number field not in the plain form, each read by ``cell`` and checked by
    ``coerce``: (BLANK, FIT or UNFIT, the number)."""
    out: list[tuple[int, float]] = []
    for text in distinct:
        if not text.strip():
            out.append((BLANK, 0.0))
            continue
        if len(text) > MAX_CELL_CHARS:
            out.append((UNFIT, 0.0))
            continue
        try:
            value = coerce(spec, cell(text, spec), ruleset.tables)
        except ValueProblem:
            out.append((UNFIT, 0.0))
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.append((UNFIT, 0.0))
            continue
        out.append((FIT, float(value)))
    return out


def _coded(
    columns: Columns,
    spec: FieldSpec,
    kind: str,
    indices: np.ndarray,
    distinct: list[Any],
    ruleset: Ruleset,
    read: Any = None,
    flagged: np.ndarray | None = None,
) -> None:
    """Disclose a column given as indices into its distinct values, None for an empty cell
    (each checked once; ``read`` turns a written cell into a value first, as the CSV reader
    does; the rows of the distinct values ``flagged`` marks go to the per-disclosure
    reader, as those of values that do not fit)."""
    interner = columns.chunk.interner
    codes = np.zeros(len(distinct), dtype=np.int64)
    fits = np.zeros(len(distinct), dtype=bool)
    for j, value in enumerate(distinct):
        if value is None:
            continue
        try:
            fitted = coerce(spec, read(value) if read else value, ruleset.tables)
        except ValueProblem:
            continue
        if kind == DATE:
            if not isinstance(fitted, datetime) or fitted.tzinfo is not None:
                continue  # a time zone: read by the per-disclosure path
            codes[j] = to_micros(fitted)
        elif kind == BOOL:
            codes[j] = int(bool(fitted))
        elif kind == NUM:  # (not a number type: read by the per-disclosure reader)
            continue
        else:
            codes[j] = interner.code(str(fitted))
        fits[j] = True
    unfit = np.array([v is not None for v in distinct], dtype=bool) & ~fits
    if flagged is not None:
        unfit |= flagged
    if unfit.any():
        columns.flag(spec.name, unfit.take(indices))
    ok = fits.take(indices)
    data = codes.take(indices)
    vec = Vec(kind, data.astype(np.bool_) if kind == BOOL else data)
    columns.chunk.disclose(spec.name, vec, ok)


def plain_typed(column: Any) -> Any:
    """A column of a type Arrow's kernels do not all take (``take`` among them) as the
    same values in one they do: views of text or bytes (as Polars gives them) as text or
    bytes, a run-end encoded column decoded; any other column as it is."""
    kind = column.type
    if pa.types.is_run_end_encoded(kind):
        return plain_typed(pc.run_end_decode(column))
    if _view(kind):
        return column.cast(pa.large_string() if _text_view(kind) else pa.large_binary())
    return column


def typed_column(columns: Columns, spec: FieldSpec, array: pa.Array, ruleset: Ruleset) -> None:
    """A typed column (Parquet, Arrow, a data frame): numbers as they are, text as cells."""
    if text_type(array.type) or (
        pa.types.is_dictionary(array.type) and text_type(array.type.value_type)
    ):
        array = utf8_checked(columns, spec.name, array)
    if text_type(array.type):
        filled = pc.fill_null(array, arrays.texts([""])[0])
        return text_column(columns, spec, filled, ruleset)
    if pa.types.is_dictionary(array.type) and text_type(array.type.value_type):
        return text_column(columns, spec, array, ruleset)  # (empty cells: blank)
    if pa.types.is_dictionary(array.type):  # (of numbers, dates: a data frame's categories)
        array = array.cast(array.type.value_type)
    kind = kind_of(spec)
    if kind == NUM and (
        pa.types.is_integer(array.type)
        or pa.types.is_floating(array.type)
        or pa.types.is_decimal(array.type)  # (as the per-disclosure reader reads them)
    ):
        present = arrays.numpy(array.is_valid())
        numbers = array
        if pa.types.is_decimal(array.type):  # by its digits: Arrow's cast of a decimal to a
            # float is not correctly rounded (2.675 as 2.6750000000000003), float() is
            numbers = pc.cast(array, pa.string())
        data = arrays.numpy(numbers.cast(pa.float64(), safe=False))  # zero where null
        good = present & fits_number(spec, data)
        if pa.types.is_integer(array.type) or (
            pa.types.is_decimal(array.type) and array.type.scale <= 0
        ):  # beyond 2**53 not exact: the per-row reader's
            good &= np.abs(data) < EXACT_INTEGERS
        columns.flag(spec.name, present & ~good)
        data = np.add(data, 0.0, dtype=np.float64)  # (a copy; -0.0 is zero)
        columns.chunk.disclose(spec.name, Vec(NUM, data), good)
        return
    # Booleans, dates and other types: each distinct value as the per-disclosure path reads it.
    indices, distinct = _distinct(array)
    _coded(columns, spec, kind, indices, distinct, ruleset)


def _view(kind: pa.DataType) -> bool:
    return bool(_text_view(kind) or getattr(pa.types, "is_binary_view", _never)(kind))


def _text_view(kind: pa.DataType) -> bool:
    return bool(getattr(pa.types, "is_string_view", _never)(kind))  # (pyarrow 16 and on)


def _never(kind: pa.DataType) -> bool:
    return False


def text_type(kind: pa.DataType) -> bool:
    """Whether an Arrow type is text (of 32- or 64-bit offsets)."""
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _distinct(array: pa.Array) -> tuple[np.ndarray, list[Any]]:
    """Each cell's index among the column's distinct values (0 for an empty cell, j + 1
    for the j-th), and those values, None first: found by Arrow, or by Python for the types
    Arrow does not encode (lists, structs: each a key of its type and text)."""
    if array.null_count == len(array):  # (a column of no type: every cell empty)
        return np.zeros(len(array), dtype=np.int64), [None]
    try:
        encoded = pc.dictionary_encode(array)
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        found: dict[Any, int] = {}
        distinct: list[Any] = [None]
        indices = np.zeros(len(array), dtype=np.int64)
        for i, value in enumerate(values_of(array)):
            if value is not None:
                indices[i] = found.setdefault(hashable(_plain(value)), len(found) + 1)
                if indices[i] == len(distinct):
                    distinct.append(_plain(value))
        return indices, distinct
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    indices = arrays.numpy(pc.fill_null(encoded.indices, -1)).astype(np.int64) + 1
    return indices, [None, *(_plain(v) for v in values_of(encoded.dictionary))]


@dataclass(frozen=True)
class Unreadable:
    """A cell Arrow holds that has no Python value: a date or a time beyond the years 1
    to 9999, a duration beyond a Python timedelta, a time in a zone of no known name,
    text that is not UTF-8. The row is an error saying why (``reason``)."""

    reason: str


def scalar_value(scalar: pa.Scalar) -> Any:
    """A cell as Python holds it, or ``Unreadable`` where it cannot be."""
    try:
        return scalar.as_py()
    except (ArithmeticError, ValueError, pa.ArrowException) as exc:
        return Unreadable(_unreadable(scalar.type, exc))


def values_of(array: pa.Array) -> list[Any]:
    """A column's cells as Python holds them (``Unreadable`` where a cell cannot be):
    at once, or cell by cell where one cannot."""
    try:
        return list(array.to_pylist())
    except (ArithmeticError, ValueError, pa.ArrowException):
        return [scalar_value(array[i]) for i in range(len(array))]


def _unreadable(kind: pa.DataType, exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at byte {exc.start + 1})"
    if (
        pa.types.is_timestamp(kind)
        and kind.tz is not None
        and not isinstance(exc, ArithmeticError)
    ):
        return f"a time in {kind.tz!r}, a time zone of no known name"
    if pa.types.is_duration(kind):
        return "a duration beyond what a duration can hold (about 2.7 million years)"
    if pa.types.is_temporal(kind):
        return "a date or time outside the years 1 to 9999"
    return f"a {kind} value that cannot be read ({exc})"


def utf8_checked(columns: Columns, name: str, array: pa.Array) -> pa.Array:
    """A text column whose cells are all UTF-8 (Arrow trusts a Parquet file's text): as
    it is, or with each cell that is not made null and its row flagged (the row is then
    read again one by one, and says why)."""
    try:
        array.validate(full=True)
        return array
    except pa.ArrowInvalid:
        pass
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    raw = array.cast(pa.large_binary())
    bad = np.zeros(len(array), dtype=bool)
    for i, value in enumerate(raw.to_pylist()):
        if value is not None:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                bad[i] = True
    columns.flag(name, bad)
    kept = pc.if_else(arrays.booleans(~bad), raw, pa.nulls(len(raw), pa.large_binary()))
    return kept.cast(pa.large_string())


def hashable(value: Any) -> Any:
    """A value as a dict key: itself, or its type and text for a list or a mapping."""
    try:
        hash(value)
    except TypeError:
        return (type(value).__name__, repr(value))
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def disclosure_columns(
    disclosures: list[Any], ruleset: Ruleset, interner: Interner, fields: list[str]
) -> Columns:
    """Columns from disclosures already read and checked one by one (JSON Lines, or CSV
    that needs Python's reader); rows that are errors are marked."""
    from ..core.model import Disclosure

    n = len(disclosures)
    columns = Columns(n, interner)
    for name in fields:
        spec = ruleset.fields[name]
        kind = kind_of(spec)
        present = np.zeros(n, dtype=bool)
        data = np.zeros(n, dtype=np.float64 if kind == NUM else np.int64)
        for i, item in enumerate(disclosures):
            if not isinstance(item, Disclosure) or name not in item.values:
                continue
            value = item.values[name]
            if kind == NUM:
                data[i] = float(value)
            elif kind == DATE:
                if value.tzinfo is not None:
                    columns.bad[i] = True
                    continue
                data[i] = to_micros(value)
            elif kind == BOOL:
                data[i] = int(bool(value))
            else:
                data[i] = interner.code(str(value))
            present[i] = True
        vec = Vec(kind, data.astype(np.bool_) if kind == BOOL else data)
        columns.chunk.disclose(name, vec, present)
    for i, item in enumerate(disclosures):
        if isinstance(item, Disclosure):
            columns.ids[i] = item.id
        else:
            columns.bad[i] = True
    return columns
