"""Arrow arrays made straight from NumPy buffers and Python texts.

``pyarrow.array`` checks whether its argument is a pandas object, and that check imports
pandas (a quarter of a second) the first time, whether or not the caller uses it. The
batch engine builds every output column here instead, from buffers: no check, no copy
of the numbers, and pandas stays unimported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_TEXT_BYTES = 2**31 - 1  # of a string column: its offsets are 32-bit
SPACE, TILDE = ord(" "), ord("~")  # the printable ASCII characters, from and to
ASCII_LAST = 0x7F  # bytes above it are parts of other UTF-8 characters
_NUMPY = {
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint64(): np.uint64,
    pa.float64(): np.float64,
    pa.timestamp("us"): np.int64,
}


def _validity(null: np.ndarray | None) -> tuple[pa.Buffer | None, int]:
    """Arrow's validity bitmap (least significant bit first) and the null count."""
    if null is None:
        return None, 0
    count = int(np.count_nonzero(null))
    if not count:
        return None, 0
    return pa.py_buffer(np.packbits(~null, bitorder="little")), count


Validity = tuple[pa.Buffer | None, int]  # Arrow's validity bitmap and null count


def validity(valid: np.ndarray) -> Validity:
    """The validity of a column whose rows hold a value where ``valid`` holds (made once,
    it serves every column with these rows)."""
    count = len(valid) - int(np.count_nonzero(valid))
    if not count:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), count


def numbers(
    data: np.ndarray,
    kind: pa.DataType,
    null: np.ndarray | None = None,
    valid: Validity | None = None,
) -> pa.Array:
    """A fixed-width column (int32, int64, uint64, float64, timestamp[us]) from a NumPy array,
    null where ``null`` holds (or as ``valid`` says)."""
    values = np.ascontiguousarray(data, dtype=_NUMPY[kind])
    bitmap, count = _validity(null) if valid is None else valid
    return pa.Array.from_buffers(kind, len(values), [bitmap, pa.py_buffer(values)], count)


def booleans(
    data: np.ndarray, null: np.ndarray | None = None, valid: Validity | None = None
) -> pa.Array:
    """A boolean column from a NumPy array, null where ``null`` holds (or as ``valid``
    says)."""
    bits = np.packbits(np.asarray(data, dtype=bool), bitorder="little")
    bitmap, count = _validity(null) if valid is None else valid
    return pa.Array.from_buffers(pa.bool_(), len(data), [bitmap, pa.py_buffer(bits)], count)


def texts(values: Sequence[str | None]) -> pa.Array:
    """A string column from Python texts (None: null)."""
    return sparse_texts(len(values), {i: v for i, v in enumerate(values) if v is not None})


def sparse_texts(n: int, values: dict[int, str]) -> pa.Array:
    """A string column of n rows, null but where ``values`` gives row -> text."""
    where = np.fromiter(values, dtype=np.int64, count=len(values))
    encoded = [v.encode("utf-8") for v in values.values()]
    lengths = np.zeros(n, dtype=np.int64)
    lengths[where] = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    if n and int(lengths.sum()) > MAX_TEXT_BYTES:
        raise OverflowError("texts over 2 GiB in one column")
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    null = np.ones(n, dtype=bool)
    null[where] = False
    order = np.argsort(where, kind="stable")
    data = pa.py_buffer(b"".join([encoded[j] for j in order.tolist()]))
    bitmap, count = _validity(null)
    return pa.Array.from_buffers(pa.string(), n, [bitmap, pa.py_buffer(offsets), data], count)


def coded(
    indices: np.ndarray, dictionary: Sequence[str], null: np.ndarray | None = None
) -> pa.Array:
    """A dictionary column (int32 indices into ``dictionary``), null where ``null`` holds."""
    return pa.DictionaryArray.from_arrays(
        numbers(indices, pa.int32(), null), texts(list(dictionary))
    )


__all__ = [
    "Validity", "as_text", "booleans", "coded", "first_not_utf8", "numbers", "numpy",
    "sparse_texts", "texts", "validity", "zeroed",
]  # fmt: skip


def zeroed(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``values`` where ``keep`` holds, and 0 elsewhere (all bits clear: +0.0, False), as
    ``np.where(keep, values, 0)`` gives them but without its branch per row: on a mask of
    random bits (a column's nulls, in the input's order) a fifth to a third of the time
    (262,144 rows: 0.2-0.35 ms against 0.9-1.2 ms). ``keep`` is boolean."""
    kind = np.dtype(f"u{values.dtype.itemsize}")
    ones = np.negative(keep.view(np.uint8), dtype=kind)  # every bit set where kept
    out: np.ndarray = np.bitwise_and(values.view(kind), ones).view(values.dtype)
    return out


def as_text(array: pa.Array) -> pa.Array:
    """A column of bytes (binary) as a string column: viewed as it is where every byte of
    its data is ASCII, which is UTF-8 cell by cell (no check to make: Arrow reads a CSV
    file's cells as strings, each checked, in a third more time than as bytes), else
    cast, which checks each cell. Raises ``pa.ArrowInvalid`` where a cell is not UTF-8.
    A column of indices into distinct cells (a dictionary) has its distinct cells seen so."""
    if isinstance(array, pa.DictionaryArray):
        return pa.DictionaryArray.from_arrays(array.indices, as_text(array.dictionary))
    data = array.buffers()[2]
    if data is None or not data.size or np.frombuffer(data, dtype=np.uint8).max() <= ASCII_LAST:
        return array.view(pa.string())
    return array.cast(pa.string())


def first_not_utf8(array: pa.Array) -> int:
    """The first cell of a column of bytes that is not UTF-8 (its length where every cell
    is): the shortest head whose cast fails, found by halving (each cast checks in C)."""
    low, high = 0, len(array)  # the head of ``low`` cells casts; of ``high + 1``, not
    while low < high:
        middle = (low + high) // 2
        try:
            array.slice(0, middle + 1).cast(pa.string())
        except pa.ArrowInvalid:
            high = middle
        else:
            low = middle + 1
    return low


def _bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    packed = np.frombuffer(buffer, dtype=np.uint8)
    return np.unpackbits(packed, count=offset + n, bitorder="little")[offset:].view(bool)


def numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A fixed-width or boolean column as a NumPy array (no copy where it has no nulls),
    zero where it is null (a null boolean is False)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    n, offset = len(array), array.offset
    buffers = array.buffers()
    if pa.types.is_boolean(array.type):
        out = _bits(buffers[1], offset, n) if n else np.zeros(0, dtype=bool)
    else:
        dtype = np.dtype(f"<{_CODES[array.type.bit_width]}")
        if pa.types.is_floating(array.type):
            dtype = np.dtype(f"<f{array.type.bit_width // 8}")
        elif pa.types.is_unsigned_integer(array.type):
            dtype = np.dtype(f"<u{array.type.bit_width // 8}")
        out = (
            np.frombuffer(buffers[1], dtype=dtype)[offset : offset + n]
            if n
            else np.zeros(0, dtype=dtype)
        )
    if array.null_count:
        out = zeroed(out, _bits(buffers[0], offset, n))
    return out


_CODES = {8: "i1", 16: "i2", 32: "i4", 64: "i8"}


def cells(array: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A string column's bytes and each cell's start and end in them (no copy): its own
    bytes only, where it is a slice of a longer column."""
    offsets_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    n = len(array)
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offsets_type)[
        array.offset : array.offset + n + 1
    ].astype(np.int64)
    if data_buffer is None or not n:  # (every cell empty)
        return np.zeros(0, dtype=np.uint8), np.zeros(n, dtype=np.int64), np.zeros(n, np.int64)
    first = int(offsets[0])
    data = np.frombuffer(data_buffer, dtype=np.uint8)[first : int(offsets[-1])]
    offsets -= first
    return data, offsets[:-1], offsets[1:]


def printable(array: pa.Array) -> np.ndarray:
    """Cells of printable ASCII only (``^[ -~]*$``), of a string column without nulls."""
    data, starts, ends = cells(array)
    good = np.ones(len(starts), dtype=bool)
    # the cell of each byte outside the range: the first that ends after it (cells lie end
    # to end), found for those bytes alone, not by counting over every byte (a chunk of
    # ids: 0.3 ms against 10 ms)
    outside = np.flatnonzero((data < SPACE) | (data > TILDE))
    if len(outside):
        good[np.searchsorted(ends, outside, side="right")] = False
    return good


def trimmed(array: pa.Array) -> pa.Array:
    """A string column, its spaces taken off both ends of each cell: the column itself
    when no cell starts or ends with one (most: a tenth of the time)."""
    data, starts, ends = cells(array)
    filled = np.flatnonzero(ends > starts)
    if not len(filled) or not (
        (data[starts[filled]] == SPACE).any() or (data[ends[filled] - 1] == SPACE).any()
    ):
        return array
    cut: pa.Array = pc.utf8_trim(array, " ")
    return cut


DIGIT_0, DIGIT_9, DOT, MINUS, SLASH = ord("0"), ord("9"), ord("."), ord("-"), ord("/")


def plain_numbers(array: pa.Array) -> np.ndarray:
    """Cells in the plain decimal form ``^-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?$``, of a
    string column without nulls: an optional minus, whole digits without a leading zero
    (or a zero alone), and maybe a point and one digit or more.

    A column of numbers has few bytes other than digits and points, and few minus signs:
    the cells holding those are found from where those bytes are (the first cell that
    ends after each), and only the points are counted cell by cell (a running count over
    the bytes). A chunk's column of 262,144 cells: 1.5-6 ms against 12-13 ms for counting
    every kind of byte in one running sum of 64-bit weights."""
    data, starts, ends = cells(array)
    n = len(starts)
    if not len(data):
        return np.zeros(n, dtype=bool)
    good: np.ndarray = ends > starts
    # bytes other than "-", "." and digits: "-" to "9" is one range, less "/"
    outside = (data - np.uint8(MINUS)) > np.uint8(DIGIT_9 - MINUS)
    other = np.flatnonzero(outside | (data == SLASH))
    if len(other):
        good[np.searchsorted(ends, other, side="right")] = False
    signed = np.zeros(n, dtype=bool)
    minus = np.flatnonzero(data == MINUS)
    if len(minus):  # a minus at the start alone
        cell = np.searchsorted(ends, minus, side="right")
        first = minus == starts[cell]
        signed[cell[first]] = True
        good[cell[~first]] = False
    points = np.zeros(len(data) + 1, dtype=np.int32 if len(data) <= MAX_TEXT_BYTES else np.int64)
    np.cumsum(data == DOT, out=points[1:])
    good &= points[ends] - points[starts] <= 1  # at most one point
    # digits, at most one point, a minus at the start alone: what remains is a digit
    # before the point, one after it, and no leading zero
    last = len(data) - 1
    begin = starts + signed  # the first digit
    good &= begin < ends
    lead = data[np.minimum(begin, last)]
    good &= lead != DOT
    good &= data[np.clip(ends - 1, 0, last)] != DOT
    after = data[np.minimum(begin + 1, last)]
    good &= ~((lead == DIGIT_0) & (begin + 1 < ends) & (after >= DIGIT_0) & (after <= DIGIT_9))
    return good
