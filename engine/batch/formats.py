"""Batch files in and out, chunk by chunk: CSV, JSON Lines and Parquet.

Reading never holds more than a chunk of rows (and a block of the file) in memory:

- a CSV file whose every line is a plain record (no quotes, no carriage returns, one cell
  per column) is read by Arrow's streaming reader, columns at a time, and line N of the
  file is record N - 1 (a scan of the file checks it first, in blocks); any other CSV file
  is read by Python's reader, row by row, exactly as ``tuneprint estimate`` reads it;
- JSON Lines, one line at a time;
- Parquet, one row group slice at a time, its columns typed.

Each chunk carries, for every row, how to read that row again on its own (``fallback``):
rows the columnar reading cannot take exactly go through the per-disclosure reader, which
gives their exact disclosure or error.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.model import Disclosure, Ruleset
from ..core.problems import InputError, Problem, TuneprintError
from ..core.text import given, one_line
from ..core.values import ValueProblem
from ..load.disclosures import (
    MAX_CELL_CHARS,
    blank_header,
    capped,
    cell,
    csv_header,
    csv_row,
    jsonl_row,
    long_cell,
    values_row,
)
from ..load.files import BOM, MAX_FILE_BYTES
from . import arrays
from .columns import (
    Columns,
    Refused,
    Unreadable,
    default_ids,
    disclosure_columns,
    hashable,
    id_column,
    plain_typed,
    refusal_text,
    scalar_value,
    text_column,
    text_type,
    typed_column,
    utf8_checked,
    values_of,
)
from .vector import MICROSECONDS_PER_DAY, MICROSECONDS_PER_SECOND, NUM, Interner, kind_of

SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
MAX_LINKS = 40  # links followed to an output's file (as the system follows them)
OUTPUT_NULLS = [""]  # a CSV output's empty cell: text "NA" or "null" is a value, as written
DEFAULT_MODE = 0o666  # a new output's permissions, before the umask
SCAN_BLOCK = 1 << 20  # bytes of a CSV file checked at a time
CHUNK_BYTES = 1 << 26  # bytes of cells in one chunk, whatever the number of rows
WRITE_BATCH = 1 << 16  # values Parquet's writer encodes at a time (1,024 by default)
CODED_BYTES = pa.dictionary(pa.int32(), pa.binary())  # cells as indices into distinct ones
CODED_TEXT = pa.dictionary(pa.int32(), pa.string())
READ_BLOCK = 1 << 22  # bytes Arrow's CSV reader parses at a time
JSONL_LINES = 4096  # JSON Lines read at a time by the per-row reader
SHOWN_CHARS = 60  # of a cell or an argument quoted in a batch's messages
PATTERN_BYTES = 1 << 28  # a Parquet dictionary page holds them all (or rows repeat them)
COMMA, NEWLINE = ord(","), ord("\n")


def format_of(path: Path | str) -> str:
    """csv, jsonl or parquet, by the file's name."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError.one(
            str(path), None, "", "expected a .csv, .jsonl or .parquet file", "option"
        )
    return SUFFIXES[suffix]


@dataclass
class Chunk:
    """Rows read: their disclosed columns, their numbers in the file, and how to read
    any one of them again on its own."""

    columns: Columns
    rows: np.ndarray
    fallback: Callable[[int], Disclosure | TuneprintError | Refused]


@dataclass(frozen=True)
class Piece:
    """Rows as Arrow read them, before any is checked: what a worker process is sent (it
    pickles), and turns into a Chunk with ``chunk_of``."""

    kind: str  # "csv" (every cell text, a table) or "parquet" (typed columns, a batch)
    table: pa.Table | pa.RecordBatch
    name: str
    header: tuple[str, ...]  # (checked: no column unknown, unnamed or twice)
    done: int  # rows (Parquet) or lines after the header (CSV) before these

    @property
    def fields(self) -> list[str]:
        return [h for h in self.header if h != "id"]


def chunk_of(piece: Piece, ruleset: Ruleset) -> Chunk:
    """A piece's rows checked into columns."""
    if piece.kind == "csv":
        return _arrow_chunk(
            piece.table, piece.name, list(piece.header), piece.fields, ruleset, piece.done
        )
    return _parquet_chunk(
        piece.table, piece.name, list(piece.header), piece.fields, ruleset, piece.done
    )


def _stem(name: str) -> str:
    return Path(name).stem


def read_chunks(
    path: Path,
    ruleset: Ruleset,
    chunk_rows: int,
    name: str | None = None,
    offset: int = 0,
    arrow_csv: bool = True,
) -> tuple[list[str], Iterator[Chunk]]:
    """The fields the input discloses and its chunks. Raises InputError when the file as
    a whole cannot be read (missing, not a regular file). ``offset``: lines (rows, for
    Parquet) of the whole file before this part of it, when a cluster reads parts.
    ``arrow_csv``: whether Arrow may read a CSV file (else Python's reader reads it); the
    chunks raise ``NotPlain`` where Arrow finds a line that is not a plain record."""
    shown = str(path) if name is None else name
    fields, chunks = _read_chunks(path, shown, ruleset, chunk_rows, offset, arrow_csv)
    return fields, _not_empty(chunks, shown, offset)


def _not_empty(chunks: Iterator[Chunk], name: str, offset: int) -> Iterator[Chunk]:
    """The chunks; an input with no rows (blank lines only, or a header alone) is an
    error, as it is for ``tuneprint estimate`` (a part of a file may be empty)."""
    rows = 0
    for chunk in chunks:
        rows += len(chunk.rows)
        yield chunk
        del chunk  # (freed before the next is read: see ``_chunks_of``)
    if not rows and not offset:
        raise InputError.one(name, None, "", "the batch holds no rows", "syntax")


def read_pieces(
    path: Path,
    ruleset: Ruleset,
    chunk_rows: int,
    name: str | None = None,
    offset: int = 0,
    arrow_csv: bool = True,
) -> tuple[list[str], Iterator[Piece]] | None:
    """The fields and the pieces of an input Arrow reads (Parquet, and CSV files of plain
    text: see ``plain_text``), or None when the input needs Python's reader (JSON Lines,
    other CSV, any CSV when not ``arrow_csv``). The pieces of a CSV file raise
    ``NotPlain`` at a line that is not a plain record (other cells than the header's)."""
    shown = str(path) if name is None else name
    kind = format_of(path)
    _check_file(path, shown)
    if kind == "parquet":
        return _parquet(path, shown, ruleset, chunk_rows, offset)
    if kind == "jsonl":
        return None
    header = _csv_header_line(path, shown)
    if header is not None:
        _check_header(shown, header, ruleset)
    if not arrow_csv:
        return None
    if (
        header is not None
        and len(header) > 1  # (a line of one cell is a record whatever it holds: Arrow
        # would take a line of tabs as a cell, Python's reader as a blank line)
        and plain_text(path)
    ):
        return _arrow_csv(path, shown, header, chunk_rows, offset, _coded_fields(header, ruleset))
    return None


def _coded_fields(header: list[str], ruleset: Ruleset) -> set[str]:
    """The columns of a CSV file Arrow reads as indices into their distinct cells: those
    of fields other than numbers (names, dates, flags: few distinct cells, each judged
    once). Numbers and ids are mostly distinct: read as they are."""
    fields = ruleset.fields
    return {h for h in header if h in fields and kind_of(fields[h]) != NUM}


def _read_chunks(
    path: Path, shown: str, ruleset: Ruleset, chunk_rows: int, offset: int, arrow_csv: bool
) -> tuple[list[str], Iterator[Chunk]]:
    found = read_pieces(path, ruleset, chunk_rows, shown, offset, arrow_csv)
    if found is not None:
        fields, pieces = found
        return fields, _chunks_of(pieces, ruleset)
    if format_of(path) == "jsonl":
        return _python_rows(_jsonl_items(path, shown, ruleset, offset), ruleset, chunk_rows)
    # the columns of the header's fields, as when Arrow reads the file (any field, where
    # the header cannot be read: every row is then an error of it)
    header = _csv_header_line(path, shown)
    named = [h for h in header if h in ruleset.fields] if header is not None else None
    return _python_rows(_csv_items(path, shown, ruleset), ruleset, chunk_rows, named)


def _check_header(name: str, header: list[str], ruleset: Ruleset) -> None:
    """Raise one error naming each column of a header (of a CSV file, a Parquet file, a
    table) that is unknown, unnamed or given twice: an error of the whole input, whose
    rows would all be refused for it (the output would hold no estimate)."""
    problems = csv_header(name, header, ruleset)
    if problems:
        raise InputError(problems)


def _chunks_of(pieces: Iterator[Piece], ruleset: Ruleset) -> Iterator[Chunk]:
    """Each piece checked into columns. Neither a piece nor its chunk is held once the
    next is asked for: the rows of one chunk are freed before the next is read (so are
    they in every step of a run, down to the output rows), not held through it."""
    for piece in pieces:
        chunk = chunk_of(piece, ruleset)
        del piece
        yield chunk
        del chunk


def _check_file(path: Path, name: str) -> None:
    import os
    import stat

    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputError.one(name, None, "", f"cannot read file: {exc.strerror}", "file") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError.one(name, None, "", "is a folder, not a file", "file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError.one(
            name, None, "", "is not a regular file (a device, pipe or socket)", "file"
        )


def _csv_header_line(path: Path, name: str) -> list[str] | None:
    with open(path, encoding="utf-8", newline="", errors="strict") as handle:
        try:
            first = handle.readline(MAX_FILE_BYTES)
        except UnicodeDecodeError:
            return None
    if not first:
        return None  # (an empty file: no rows, told as such)
    if not first.removeprefix(BOM).strip():
        raise InputError([blank_header(name)])
    try:
        return next(csv.reader([first.removeprefix(BOM)]))
    except (csv.Error, StopIteration):
        return None


class NotPlain(Exception):
    """A CSV file that Arrow began to read holds a line that is not a plain record (other
    cells than its header's): it is read again, whole, by Python's reader, which tells
    such a line as its row's error (the run's output so far is dropped)."""


def plain_text(path: Path) -> bool:
    """Whether Arrow's reader may take a CSV file: UTF-8 without a byte-order mark, quotes
    or carriage returns, and a line after its header (a header alone is told as Python's
    reader tells it). Each line a record of the header's cells is not checked here: Arrow
    counts the cells of every line as it reads (``NotPlain``), and takes a blank line as a
    row of blank cells, which the batch skips, as Python's reader does."""
    newline = False
    try:
        for block in _text_blocks(path):
            newline = newline or block.find(b"\n") >= 0
    except _NotText:
        return False
    return newline


class _NotText(Exception):
    """A block of a file that is not plain text (see ``_text_blocks``)."""


def _text_blocks(path: Path) -> Iterator[bytearray]:
    """A file's blocks, in order, while they are plain text: UTF-8 without a byte-order
    mark, quotes or carriage returns (``_NotText`` at the first that is not, or at the end
    when a character is cut there). Each block is the same buffer, read into again: each
    block of its own would be memory touched for the first time (a block of 16 MiB: 10
    ms); 1 MiB is read and checked in cache."""
    import codecs

    buffer = bytearray(SCAN_BLOCK)
    utf8 = codecs.getincrementaldecoder("utf-8")()  # (a character may span two blocks)
    with open(path, "rb", buffering=0) as handle:
        if handle.read(len(BOM.encode())) == BOM.encode():
            raise _NotText
        handle.seek(0)
        while size := handle.readinto(buffer):
            block = buffer if size == len(buffer) else buffer[:size]
            if not block.isascii() or utf8.getstate()[0]:
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    raise _NotText from None
            if block.find(b'"') >= 0 or block.find(b"\r") >= 0:
                raise _NotText
            yield block
    if utf8.getstate()[0]:
        raise _NotText


def plain_csv(path: Path, columns: int) -> bool:
    """Whether every line of a CSV file is a plain record of ``columns`` cells: no quote,
    no carriage return, no byte-order mark, no empty line, and valid UTF-8; and whether a
    row follows its header. Such a file may be cut at any line into parts, each read by
    Arrow (``--engine dask``); the local engines need ``plain_text`` alone."""
    if columns < 2:
        return False
    commas = columns - 1
    carry = 0  # commas of the line the previous block ended in
    tail = 0  # its bytes (after the last newline)
    lines = 0  # ended by a newline
    try:
        for block in _text_blocks(path):
            size = len(block)
            # the separators in order: each line's commas, then its newline (a blank line
            # has none, a line of other cells too few or too many: a newline out of place)
            data = np.frombuffer(block, dtype=np.uint8)
            separators = np.compress((data == COMMA) | (data == NEWLINE), data)
            at = np.flatnonzero(separators == NEWLINE)
            if at.size:
                if at[0] != commas - carry or (np.diff(at) != commas + 1).any():
                    return False
                carry = int(separators.size - at[-1] - 1)
                tail = size - block.rfind(b"\n") - 1
                lines += at.size
            else:
                carry += int(separators.size)
                tail += size
            if carry > commas:
                return False
    except _NotText:
        return False
    rows = lines + (tail > 0) - 1  # a last line without its newline is a whole record
    return rows > 0 and (tail == 0 or carry == commas)


def _arrow_csv(
    path: Path, name: str, header: list[str], chunk_rows: int, offset: int, coded: set[str]
) -> tuple[list[str], Iterator[Piece]]:
    import pyarrow.csv as pcsv

    fields = [h for h in header if h != "id"]

    def piece(table: pa.Table, done: int) -> Piece:
        # the cells are read as bytes, then seen as text: plain_text has checked that the
        # file is UTF-8, so Arrow need not check each cell (a quarter of its reading time);
        # a column with other bytes than ASCII is checked again (the file may have changed)
        texts = []
        for h in header:  # (piece by piece: seen without a copy, the column whole made once)
            try:
                column = table.column(h)
                if h in coded:  # one array, of one dictionary (each block read has its own)
                    seen = pa.chunked_array(map(arrays.as_text, column.chunks), CODED_TEXT)
                    texts.append(pa.chunked_array([seen.combine_chunks()]))
                else:
                    texts.append(pa.chunked_array(map(arrays.as_text, column.chunks), pa.string()))
            except pa.ArrowInvalid:
                cells = column.cast(pa.binary()).combine_chunks()  # (by row: coded or not)
                at = done + 2 + arrays.first_not_utf8(cells)
                raise InputError.one(
                    name,
                    at,
                    h,
                    "not UTF-8 text (the file changed since it was first read)",
                    "syntax",
                ) from None
        table = pa.Table.from_arrays(texts, names=header)
        return Piece("csv", table, name, tuple(header), done)

    uneven: list[int | None] = []  # a line of other cells than the header's, when met

    def not_a_record(row: Any) -> str:
        uneven.append(row.number)
        return "error"

    def batches() -> Iterator[pa.RecordBatch]:
        reader: Any = None
        while True:
            try:
                if reader is None:  # (opening it reads its first block)
                    reader = pcsv.open_csv(
                        path,
                        read_options=pcsv.ReadOptions(block_size=READ_BLOCK, use_threads=False),
                        parse_options=pcsv.ParseOptions(
                            newlines_in_values=False,
                            # a blank line is a row, of blank cells: the lines and rows of
                            # the file stay one for one (the batch skips such rows)
                            ignore_empty_lines=False,
                            invalid_row_handler=not_a_record,
                        ),
                        convert_options=pcsv.ConvertOptions(
                            column_types={
                                h: CODED_BYTES if h in coded else pa.binary() for h in header
                            },
                            strings_can_be_null=False,
                        ),
                    )
                batch = next(reader, None)
            except pa.ArrowException:
                # a line of other cells than the header's, or one longer than a block
                # Arrow parses at a time (twice READ_BLOCK): Python's reader tells that
                # line as its row's error (a cell over the limit), or what else it is
                raise NotPlain(
                    f"{name}: row {uneven[0] if uneven else '?'} is not a plain record"
                ) from None
            except OSError as exc:
                raise InputError.one(name, None, "", f"cannot read it: {exc}", "syntax") from None
            if batch is None:
                return
            try:
                names = batch.schema.names
            except UnicodeDecodeError:  # (a header no longer UTF-8)
                raise InputError.one(
                    name, 1, "", "its header changed since it was first read: it is not "
                    "UTF-8 text", "syntax",
                ) from None  # fmt: skip
            if names != header:  # (the file's first line is not the one checked)
                raise InputError.one(name, 1, "", _header_change(header, names), "syntax")
            yield batch

    def chunks() -> Iterator[Piece]:
        done = offset
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in batches():
            pending.append(batch)
            size += batch.num_rows
            if sum(b.nbytes for b in pending) > CHUNK_BYTES and size < chunk_rows:
                table = pa.Table.from_batches(pending)  # long rows: a chunk of fewer rows
                yield piece(table, done)
                done += table.num_rows
                pending, size = [], 0
                continue
            while size >= chunk_rows:
                table = pa.Table.from_batches(pending)
                head, rest = table.slice(0, chunk_rows), table.slice(chunk_rows)
                yield piece(head, done)
                done += head.num_rows
                pending, size = rest.to_batches(), rest.num_rows
        if size:
            yield piece(pa.Table.from_batches(pending), done)

    return fields, chunks()


def _header_change(was: list[str], now: list[str]) -> str:
    """The first difference between a CSV file's header as first read and as read again."""
    for k, (before, after) in enumerate(zip(was, now, strict=False)):  # (counts told after)
        if before != after:
            return (
                f"its header changed since it was first read: column {k + 1} is now "
                f"{after!r}, was {before!r}"
            )
    return f"its header changed since it was first read: {len(now)} columns, were {len(was)}"


def _arrow_chunk(
    table: pa.Table, name: str, header: list[str], fields: list[str], ruleset: Ruleset, done: int
) -> Chunk:
    interner = Interner()
    n = table.num_rows
    columns = Columns(n, interner)
    for column in fields:
        text_column(
            columns, ruleset.fields[column], table.column(column).combine_chunks(), ruleset
        )
    lines = np.arange(done + 2, done + 2 + n, dtype=np.int64)
    stem = _stem(name)
    if "id" in header:
        id_column(columns, table.column("id").combine_chunks(), lambda: default_ids(stem, lines))
    else:
        columns.ids = default_ids(stem, lines)
    blank = ~columns.filled  # rows of blank cells only: the reader skips them
    cells_of = [table.column(h) for h in header]

    def fallback(i: int) -> Disclosure | TuneprintError:
        cells = [str(column[i].as_py()) for column in cells_of]
        try:
            return csv_row(name, int(lines[i]), header, cells, ruleset)
        except InputError as exc:
            return exc.with_traceback(None)  # no cycle through this frame

    chunk = Chunk(
        columns, lines, _remembering(fallback, _flagged_cells(columns, header, table), lines)
    )
    if blank.any():
        chunk = _without(chunk, ~blank)
    return chunk


ERRORS_KEPT = 4096  # distinct refused cells of a chunk whose problems are kept


def _flagged_cells(
    columns: Columns, header: list[str], table: pa.Table | pa.RecordBatch
) -> Callable[[int], tuple[Any, ...]]:
    """Row i's cells that the columns refused or left to the per-disclosure reader, with
    their columns: all that the reader's problems with the row depend on."""
    flagged: list[tuple[int, dict[int, Any]]] = []  # per column, its flagged rows' cells
    for k, h in enumerate(header):
        rows = columns.flagged.get(h)
        if rows is None or not rows.any():
            continue
        where = np.flatnonzero(rows)
        cells = values_of(table.column(h).take(arrays.numbers(where, pa.int64())))
        flagged.append((k, dict(zip(where.tolist(), map(_cell_key, cells), strict=True))))

    def key_of(i: int) -> tuple[Any, ...]:
        return tuple((k, cells[i]) for k, cells in flagged if i in cells)

    return key_of


def _cell_key(value: Any) -> Any:
    """A cell as a key of the problems it gives: -0.0 is not 0.0 there (each is shown as
    written), nor 1.0 the whole number 1."""
    return ("float", repr(value)) if isinstance(value, float) else hashable(value)


def _remembering(
    read: Callable[[int], Disclosure | TuneprintError],
    key_of: Callable[[int], tuple[Any, ...]],
    lines: np.ndarray,
) -> Callable[[int], Disclosure | TuneprintError | Refused]:
    """The per-disclosure reader, remembering the problems of the rows it refuses: a row
    refused for the same cells as an earlier one (a value of the same column that does
    not fit, a name in no table row) has the same problems at its own line. Each problem
    is a cell's (the reader checks each cell alone, in the header's order), so the
    refused cells say them all; the first such row is read in full, the others get its
    problems' text at their line. A row of more problems than are told ("and 6 more
    fields not checked") is not remembered: that count rests on its other cells too."""
    seen: dict[tuple[Any, ...], Callable[[int], Refused]] = {}

    def fallback(i: int) -> Disclosure | TuneprintError | Refused:
        key = key_of(i)
        line = int(lines[i])
        known = seen.get(key) if key else None
        if known is not None:
            return known(line)
        item = read(i)
        if (
            key
            and isinstance(item, InputError)
            and len(seen) < ERRORS_KEPT
            and all(p.line == line and p.code != "limit" for p in item.problems)
        ):
            seen[key] = refusal_text(item.problems)
        return item

    return fallback


def _without(chunk: Chunk, keep: np.ndarray) -> Chunk:
    """A chunk with only the rows of ``keep``."""
    where = np.flatnonzero(keep)
    back = chunk.fallback
    return Chunk(chunk.columns.taken(where), chunk.rows[where], lambda i: back(int(where[i])))


Item = tuple[int, Disclosure | InputError, str | None]  # line, the row, an error's id


def _csv_items(path: Path, name: str, ruleset: Ruleset) -> Iterator[Item]:
    """(line, disclosure or error, the id of an error) of each row, read by Python as
    ``estimate`` reads them, the file streamed (a batch of any size in bounded memory).
    A row that is an error keeps the id its cells give, or its FILE:LINE, as the rows
    Arrow reads do."""
    from ..load.disclosures import csv_records

    stem = _stem(name)
    with open(path, encoding="utf-8", newline="", errors="strict") as handle:
        lines = (line.removeprefix(BOM) if n == 0 else line for n, line in enumerate(handle))
        try:
            for item, written in csv_records(name, lines, ruleset):
                line = _line_of(item)
                error_id = None if isinstance(item, Disclosure) else written or f"{stem}:{line}"
                yield line, item, error_id
        except UnicodeDecodeError:
            raise _not_utf8(path, name) from None


def _not_utf8(path: Path, name: str) -> InputError:
    """The error of a text file that is not UTF-8, at the line and byte of its first
    bytes that are not (found again line by line: a decoder reads ahead of the lines)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return _not_utf8_at(name, number, exc)
    return InputError.one(name, None, "", "not UTF-8 text: save it as UTF-8", "syntax")


def _not_utf8_at(name: str, line: int, exc: UnicodeDecodeError) -> InputError:
    """The error of a line that is not UTF-8, naming the line and the byte in it."""
    message = f"not UTF-8 text ({exc.reason} at byte {exc.start + 1} of the line)"
    return InputError.one(name, line, "", message + ": save it as UTF-8", "syntax")


def _jsonl_items(path: Path, name: str, ruleset: Ruleset, offset: int = 0) -> Iterator[Item]:
    """(line, disclosure or error, the id of an error) of each line of a JSON Lines file,
    streamed. Lines end at a line feed alone, as ``estimate`` reads them: a carriage return
    is whitespace within a line's JSON (one before the line feed is taken off). A line of
    more than ``MAX_FILE_BYTES`` is its row's error, read past, not split into rows."""
    from ..load.disclosures import jsonl_id

    stem = _stem(name)
    with open(path, "rb") as handle:
        number = offset
        while True:
            raw = handle.readline(MAX_FILE_BYTES)
            if not raw:
                break
            number += 1
            if not raw.endswith(b"\n") and len(raw) == MAX_FILE_BYTES:  # (a longer line)
                size = len(raw) + _skip_line(handle)
                message = f"the line is {size} bytes; the limit is {MAX_FILE_BYTES}"
                refused = InputError.one(name, number, "", message, "limit")
                yield number, refused, f"{stem}:{number}"
                continue
            try:
                line = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError as exc:  # the file as a whole, as estimate says
                raise _not_utf8_at(name, number, exc) from None
            if number == offset + 1:
                line = line.removeprefix(BOM)
            if not line.strip():
                continue
            try:
                yield number, jsonl_row(name, number, line, ruleset), None
            except InputError as exc:
                yield number, exc.with_traceback(None), jsonl_id(line) or f"{stem}:{number}"


def _skip_line(handle: Any) -> int:
    """Read past the rest of a line (to its line feed, or the file's end): its bytes."""
    size = 0
    while True:
        part = handle.readline(MAX_FILE_BYTES)
        size += len(part)
        if not part or part.endswith(b"\n"):
            return size


def _line_of(item: Disclosure | InputError) -> int:
    if isinstance(item, Disclosure):
        return int(item.name.rsplit(":", 1)[-1])
    problem = item.problems[0] if item.problems else None
    return problem.line if problem is not None and problem.line is not None else 0


def _python_rows(
    items: Iterator[Item], ruleset: Ruleset, chunk_rows: int, fields: list[str] | None = None
) -> tuple[list[str], Iterator[Chunk]]:
    """Chunks of the rows Python's reader read, with a column for each of ``fields`` (the
    fields of a CSV header; by default any field, which a JSON Lines row may hold)."""
    fields = sorted(ruleset.fields) if fields is None else list(dict.fromkeys(fields))

    def chunks() -> Iterator[Chunk]:
        batch: list[Item] = []
        for item in items:
            batch.append(item)
            if len(batch) >= chunk_rows:
                yield _items_chunk(batch, ruleset, fields)
                batch = []
        if batch:
            yield _items_chunk(batch, ruleset, fields)

    return fields, chunks()


def _items_chunk(batch: list[Item], ruleset: Ruleset, fields: list[str]) -> Chunk:
    items = [item for _, item, _ in batch]
    present = [
        f for f in fields if any(isinstance(i, Disclosure) and f in i.values for i in items)
    ]
    columns = disclosure_columns(items, ruleset, Interner(), present)
    for i, (_, _, error_id) in enumerate(batch):
        if error_id is not None:
            columns.ids[i] = error_id
    rows = np.array([line for line, _, _ in batch], dtype=np.int64)
    return Chunk(columns, rows, lambda i: items[i])


def _parquet(
    path: Path, name: str, ruleset: Ruleset, chunk_rows: int, offset: int = 0
) -> tuple[list[str], Iterator[Piece]]:
    # a file of its own is read where it lies (mapped): a copy of each column's bytes
    # made first would be memory touched for the first time (10^6 rows: 0.24 s of system
    # time against 0.30 s, median 1.88 s against 1.93 s, sixteen runs each alternating)
    mapped = path.is_file()
    file = parquet_file(path, name, memory_map=mapped)
    header = file.schema_arrow.names
    _check_header(name, header, ruleset)
    fields = [h for h in header if h != "id"]
    coded = _coded_columns(file, path, fields, chunk_rows, mapped)
    if coded:
        file = parquet_file(path, name, read_dictionary=coded, memory_map=mapped)

    def chunks() -> Iterator[Piece]:
        done = offset
        for batch in parquet_batches(file, name, chunk_rows, offset):
            rows = batch.num_rows
            yield Piece("parquet", batch, name, tuple(header), done)
            del batch  # (freed before the next is read: see ``_chunks_of``)
            done += rows

    return fields, chunks()


def parquet_file(path: Path, name: str, **options: Any) -> Any:
    """A Parquet file opened (``options``: pyarrow's), or one error naming it. The pages
    of a file written with their checksums are checked against them as they are read: a
    damaged page is an error, not numbers silently other than the file's."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, page_checksum_verification=True, **options)
    except (pa.ArrowException, OSError) as exc:
        message = f"not a Parquet file: {one_line(str(exc))}"
        raise InputError.one(name, None, "", message, "syntax") from None


def parquet_batches(file: Any, name: str, rows: int, offset: int = 0) -> Iterator[pa.RecordBatch]:
    """A Parquet file's rows, ``rows`` at a time; a page that cannot be read (its footer
    promised it) is one error naming the file and the rows read before it (``offset``:
    rows of the whole file before this part)."""
    batches = file.iter_batches(batch_size=rows)
    done = offset
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as exc:
            done = offset + _rows_readable(file, done - offset)
            raise InputError.one(
                name,
                None,
                "",
                f"cannot read its rows after row {done}: {one_line(str(exc))}",
                "syntax",
            ) from None
        if batch is None:
            return
        done += batch.num_rows
        yield batch


def _rows_readable(file: Any, done: int) -> int:
    """The rows of a Parquet file before its first row group that cannot be read, at
    least ``done`` (read already): a batch of rows spans row groups, so the one that
    failed may begin rows after the batch's first."""
    metadata = file.metadata
    start = 0
    for group in range(metadata.num_row_groups):
        size = metadata.row_group(group).num_rows
        if start + size > done:  # (a group read whole already is not read again)
            try:
                file.read_row_group(group)
            except (pa.ArrowException, OSError):
                return max(start, done)
        start += size
    return done


DICTIONARY_MOST = 4096  # distinct values of a text column read as a dictionary
# rows read to tell them: twice that, so that a column of distinct values tells (a whole
# chunk's text columns decoded once more cost a run of 10^6 rows about 40 MiB of memory
# touched for the first time; a dictionary the file stores is read whole either way)
PROBED = 2 * DICTIONARY_MOST


def _coded_columns(
    file: Any, path: Path, fields: list[str], rows: int, mapped: bool = False
) -> list[str]:
    """The text columns to read as their distinct values and each row's index among them,
    as a Parquet file stores a column of few values: it saves making every cell's text,
    and each distinct value is read and checked once. Told by the first ``PROBED`` rows
    (or ``rows``, a chunk, if fewer): a column of many values is read as text (as a
    dictionary it would hold every value read so far)."""
    import pyarrow.parquet as pq

    texts = [f.name for f in file.schema_arrow if f.name in fields and text_type(f.type)]
    if not texts or not file.metadata.num_row_groups:
        return []
    try:
        probe = pq.ParquetFile(
            path, read_dictionary=texts, memory_map=mapped, page_checksum_verification=True
        )
        first = next(probe.iter_batches(batch_size=min(rows, PROBED), columns=texts), None)
    except (pa.ArrowException, OSError):  # a bad page: told when the rows are read
        return []
    if first is None:
        return []
    most = min(DICTIONARY_MOST, first.num_rows // 2)
    return [
        name
        for name, column in zip(first.schema.names, first.columns, strict=True)
        if pa.types.is_dictionary(column.type) and len(column.dictionary) <= most
    ]


def _parquet_chunk(
    batch: pa.RecordBatch | pa.Table,
    name: str,
    header: list[str],
    fields: list[str],
    ruleset: Ruleset,
    done: int,
) -> Chunk:
    """A batch of a Parquet file (or of a table) checked into columns; its header (and
    so ``fields``) is checked already (``_check_header``)."""
    plain = [plain_typed(column) for column in batch.columns]
    if any(p is not c for p, c in zip(plain, batch.columns, strict=True)):
        kind = pa.Table if isinstance(batch, pa.Table) else pa.RecordBatch
        batch = kind.from_arrays(plain, names=batch.schema.names)
    n = batch.num_rows
    columns = Columns(n, Interner())
    rows = np.arange(done + 1, done + 1 + n, dtype=np.int64)
    for column in fields:
        typed_column(columns, ruleset.fields[column], batch.column(column), ruleset)
    stem = _stem(name)
    given = batch.column("id") if "id" in header else None
    if given is not None and isinstance(given, pa.ChunkedArray):
        given = given.combine_chunks()
    raw_id = given  # (as the file holds it: text that may not be UTF-8)
    if given is None or pa.types.is_null(given.type):
        columns.ids = default_ids(stem, rows)
    elif text_type(given.type):  # as a CSV's id column (an empty cell: a blank one)
        given = utf8_checked(columns, "id", given)
        filled = pc.fill_null(given, arrays.texts([""])[0]) if given.null_count else given
        id_column(columns, filled, lambda: default_ids(stem, rows))
    else:  # bytes, numbers, times: as text (see ``id_value``); others, their rows' errors
        cells = values_of(given)
        columns.ids = [_id_text(v, stem, int(rows[i])) for i, v in enumerate(cells)]
        columns.flag("id", np.array([id_refused(v) for v in cells], dtype=bool))

    def id_of(i: int, line: int) -> str:
        return _id_text(scalar_value(given[i]) if given is not None else None, stem, line)

    def fallback(i: int) -> Disclosure | TuneprintError:
        line = int(rows[i])
        values = {}
        if raw_id is not None and (refused := id_value(scalar_value(raw_id[i]))[1]):
            if pa.types.is_map(raw_id.type):  # (its cells as Python holds them: lists)
                refused = "an id is text (or a number), not a mapping"
            return InputError.one(name, line, "id", refused, "type", field="id")
        # every cell's problem, as the per-disclosure reader tells a row's (in the order
        # of its columns): a cell no value is read from, then what the others give
        unread: list[Problem] = []
        if raw_id is not None and text_type(raw_id.type):  # (a text cell: as a CSV's)
            unread += _long_cell(name, line, "id", scalar_value(raw_id[i]))
        for column in fields:
            value = scalar_value(batch.column(column)[i])
            if long := _long_cell(name, line, column, value):
                unread += long
                continue
            if isinstance(value, Unreadable):
                unread.append(Problem(name, line, column, value.reason, "type", field=column))
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if isinstance(value, dict | list):  # (a struct, map or list column)
                mapping = isinstance(value, dict) or pa.types.is_map(batch.column(column).type)
                kind = "a mapping" if mapping else "a list"
                message = f"{kind} is not a value: give the value itself"
                unread.append(Problem(name, line, column, message, "type", field=column))
                continue
            try:
                values[column] = (
                    cell(value, ruleset.fields[column])
                    if isinstance(value, str)
                    else _parquet_value(value)
                )
            except ValueProblem as exc:  # the per-disclosure reader words it
                unread.append(Problem(name, line, column, str(exc), exc.code, field=column))
            except (ArithmeticError, ValueError) as exc:  # (a decimal beyond a float's)
                unread.append(Problem(name, line, column, str(exc), "type", field=column))
        try:
            row = values_row(name, line, id_of(i, line), values, ruleset)
        except InputError as exc:
            told = exc.problems
        else:
            if not unread:
                return row
            told = []
        return _row_error(name, line, fields, unread, told)

    return Chunk(
        columns, rows, _remembering(fallback, _flagged_cells(columns, header, batch), rows)
    )


def _long_cell(name: str, line: int, column: str, value: Any) -> list[Problem]:
    """A text cell longer than a CSV cell may be, told as the CSV reader tells it."""
    if not isinstance(value, str) or len(value) <= MAX_CELL_CHARS:
        return []
    return [long_cell(name, line, column, value)]


def _row_error(
    name: str, line: int, fields: list[str], unread: list[Problem], told: list[Problem]
) -> InputError:
    """A row's error: the problems of the cells no value was read from and those of the
    others, in the order of the row's columns (the id's first), at most as many as the
    per-disclosure reader tells."""
    if not unread:
        return InputError(told)
    place = {f: k for k, f in enumerate(fields)}
    counts = [p for p in told if p.code == "limit"]  # (counted, not told: at the end)
    problems = [p for p in told if p.code != "limit"] + unread
    problems.sort(key=lambda p: -1 if p.where == "id" else place.get(p.where, len(place)))
    return InputError(capped(problems + counts, name, line))


def _id_text(value: Any, stem: str, line: int) -> str:
    """A Parquet cell's id: its text (``id_value``), or FILE:ROW where it has none (blank,
    or a cell that is its row's error, which keeps that id)."""
    return id_value(value)[0] or f"{stem}:{line}"


def id_refused(value: Any) -> bool:
    """Whether a typed cell of an id column is its row's error: not an id (``id_value``),
    or longer than an id may be in any format (the per-disclosure reader says which)."""
    text, refused = id_value(value)
    return refused is not None or (text is not None and len(text) > MAX_CELL_CHARS)


def id_value(value: Any) -> tuple[str | None, str | None]:
    """A typed cell of an id column (Parquet, a frame) as the id's text without its
    spaces (None where blank or empty: NaN too), and why it cannot be an id (None where it
    can). Text, bytes of UTF-8 text, and numbers are ids (a whole number written whole,
    1.0 as 1: a column of whole numbers with an empty cell is one of floats); times and
    dates in ISO 8601; a flag, a list, a mapping, bytes that are not UTF-8 are not ids
    (JSON Lines refuses an id that is not text; a CSV cell is text)."""
    from datetime import date, datetime, time, timedelta
    from decimal import Decimal

    if value is None:
        return None, None
    if isinstance(value, Unreadable):
        return None, value.reason
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"not UTF-8 text (byte {value[exc.start]:#04x} at byte {exc.start + 1})"
    if isinstance(value, str):
        return value.strip() or None, None
    if isinstance(value, bool | dict | list | tuple):
        kind = {bool: "a flag", dict: "a mapping"}.get(type(value), "a list")
        return None, f"an id is text (or a number), not {kind}: {given(value, SHOWN_CHARS)}"
    if isinstance(value, float):
        if value != value:
            return None, None
        return (str(int(value)) if value.is_integer() else repr(value)), None
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral():
        return str(int(value)), None
    if isinstance(value, datetime | date | time):
        return value.isoformat(), None
    if isinstance(value, int | Decimal | timedelta):  # (a duration as Python writes it)
        return str(value).strip() or None, None
    # any other object (a complex number, a class's instance): its text is no id it was
    # given (an instance's names its place in memory), as a disclosure's id is text
    kind = type(value).__name__
    return None, f"an id is text (or a number), not {kind}: {given(value, SHOWN_CHARS)}"


def _parquet_value(value: Any) -> Any:
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(value, Decimal):  # (a decimal column: a number, whole where its scale is)
        exponent = value.as_tuple().exponent  # (a letter for NaN and infinities: floats)
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- writing ---------------------------------------------------------------------------------


class Writer:
    """Output rows, written chunk by chunk in the format of the file's name, to a file
    beside it that ``close`` puts in its place: a run that fails (``discard``) leaves a
    file of that name as it was before, and nothing of its own (see ``_placement`` for
    links, devices and folders that cannot hold that file)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.kind = format_of(path)
        self.schema = schema
        self._writer: Any = None
        self._handle: Any = None
        self._open_now = True
        self._part: Path | None = None
        try:
            with _signals_held(), self._writing():  # (the part made is known before a stop)
                placed = _placement(path)
                self._final, self._part, self._stream = placed.final, placed.part, placed.stream
            with self._writing():
                self._open(self._part or path)
        except BaseException:
            self.discard()
            raise

    def _open(self, path: Path) -> None:
        schema = self.schema
        # a stream or a device is appended to: a redirection's file keeps what it holds
        mode = "a" if self._stream else "w"
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            from .engine import ROW

            coded = [f.name for f in schema if pa.types.is_dictionary(f.type)]
            target: Any = path
            if mode == "a":
                target = self._handle = open(path, "ab")  # noqa: SIM115 (closed by close())
            self._writer = pq.ParquetWriter(
                target,
                schema,
                compression="snappy",
                use_dictionary=coded,  # numbers are mostly distinct: no dictionary to try
                # min and max of numbers, times and row numbers, for readers that skip row
                # groups; of text (ids, names, errors) they cost a third of the writing
                write_statistics=[f.name for f in schema if not _text(f.type)],
                dictionary_pagesize_limit=PATTERN_BYTES,  # each chunk's patterns, whole
                write_batch_size=WRITE_BATCH,
                # the row numbers count up by one: as differences they take a few bytes a
                # chunk and half the time of plain values compressed
                column_encoding={ROW: "DELTA_BINARY_PACKED"},
            )
        elif self.kind == "csv":
            import pyarrow.csv as pcsv

            self._handle = open(path, mode + "b")  # noqa: SIM115 (closed by close())
            names = [_header(f) for f in schema]
            self._csv_schema = pa.schema(
                [pa.field(n, _csv_type(f.type)) for n, f in zip(names, schema, strict=True)]
            )
            self._writer = pcsv.CSVWriter(self._handle, self._csv_schema)
        else:
            self._handle = open(path, mode, encoding="utf-8")  # noqa: SIM115

    def write(self, batch: pa.RecordBatch) -> None:
        """Append a chunk of output rows."""
        with self._writing():
            if self.kind == "parquet":
                self._writer.write_batch(batch)
                return
            columns = batch.columns
            if self.kind == "csv":
                columns = [
                    _iso(c, f) if pa.types.is_timestamp(f.type) else c
                    for c, f in zip(columns, batch.schema, strict=True)
                ]
                batch = pa.RecordBatch.from_arrays(columns, schema=self._csv_schema)
                self._writer.write_batch(batch)
            else:
                self._handle.write(jsonl_text(batch))

    def close(self) -> None:
        """Finish the file and put it in its place, with the mode the file it replaces
        had (a new one's: as the umask makes it); once, even when closing fails (its
        handle closed too, the part removed)."""
        if not self._open_now:
            return
        self._open_now = False
        part = self._part
        try:
            self._finish()
            if part is not None:
                with self._writing():
                    os.chmod(part, _mode_of(self._final))
                    os.replace(part, self._final)
        finally:
            if part is not None:
                part.unlink(missing_ok=True)  # (replaced: gone already)

    def discard(self) -> None:
        """Stop writing and remove what was written; the file named is left as it was."""
        if not self._open_now:
            return
        self._open_now = False
        try:
            self._finish()
        except TuneprintError:
            pass  # (a write that failed: nothing of it is kept)
        finally:
            if self._part is not None:
                self._part.unlink(missing_ok=True)

    def _finish(self) -> None:
        writer, handle = self._writer, self._handle
        self._writer = self._handle = None
        with self._writing():
            try:
                if writer is not None:
                    writer.close()
            finally:
                if handle is not None:
                    handle.close()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that fails (a full disk) as one error naming the file."""
        try:
            yield
        except OSError as exc:
            raise not_written(self.path, exc) from None


@dataclass(frozen=True)
class Placement:
    """Where an output is written: the file it replaces, the file beside it written first
    (None: written in place), and whether it is a stream (appended to, never replaced)."""

    final: Path
    part: Path | None
    stream: bool = False


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP held back while inside (delivered, and a run stopped, on
    leaving): a file made inside is known to whoever must remove it before a stop can
    come (stopped between making the part beside the output and holding its name, a run
    left the part behind)."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    try:
        before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):  # (no signal masks here)
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _placement(path: Path) -> Placement:
    """Through a link, the file linked to is replaced (the link stays). Written in place: a
    stream (a device, a pipe, an open file's name such as ``/dev/stdout``, whose file a
    redirection appends to), appended to; and a file whose folder cannot hold another
    (that file, cut short if the run fails). A file no one may write to stays so."""
    try:
        info = os.stat(path)
    except OSError as exc:  # (a new file, or a link to one; not links that lead round)
        if exc.errno == errno.ELOOP:
            raise
        info = None
    final = Path(os.path.realpath(path))
    if info is not None:
        if not stat.S_ISREG(info.st_mode) or _through_streams(path):
            return Placement(path, None, stream=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    try:
        handle, part = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    except PermissionError:
        if info is None:
            raise
        return Placement(final, None)  # (a folder no file can be added to: the file itself)
    os.close(handle)
    return Placement(final, Path(part))


def _through_streams(path: Path) -> bool:
    """Whether a name reaches its file through ``/dev`` or ``/proc`` (``/dev/stdout``,
    ``/dev/fd/1``, ``/proc/self/fd/1``): the name of an open file, not a place."""
    seen = str(path)
    for _ in range(MAX_LINKS):
        absolute = os.path.abspath(seen)
        if absolute.startswith(("/dev/", "/proc/")):
            return True
        if not os.path.islink(absolute):
            return False
        target = os.readlink(absolute)
        seen = os.path.join(os.path.dirname(absolute), target)
    return True  # (a loop of links: not a file to replace)


def _mode_of(path: Path) -> int:
    """The permissions an output takes: those of the file it replaces, or a new file's."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return DEFAULT_MODE & ~mask


def not_written(path: Path, exc: OSError) -> InputError:
    """The error of an output that cannot be written, naming it and the system's reason
    (of Arrow's errors too: "Error writing bytes to file. Detail: [errno 28] ...")."""
    found = re.search(r"\[errno (\d+)\]", str(exc))
    reason = os.strerror(int(found.group(1))) if found else exc.strerror or str(exc)
    return InputError.one(str(path), None, "", f"cannot write: {reason}", "file")


def _text(kind: pa.DataType) -> bool:
    """Whether a column holds text: names, ids, provenance, errors."""
    return bool(pa.types.is_dictionary(kind) or pa.types.is_string(kind))


def _csv_type(kind: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_timestamp(kind) else kind


def _iso(column: pa.Array, field: pa.Field) -> pa.Array:
    """Times as ISO 8601 text, as disclosures write them: a date alone for a date field
    (a date given with its time of day keeps it: the estimate took its year from that
    time), and the seconds' fraction only where a time of the column has one."""
    micros = arrays.numpy(pc.fill_null(column.cast(pa.int64()), 0))
    if not (micros % MICROSECONDS_PER_SECOND).any():
        column = column.cast(pa.timestamp("s"))  # (Arrow writes "%S" of microseconds
        # with their six digits)
    stamps = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
    if (field.metadata or {}).get(b"type") != b"date":
        return stamps
    midnight = micros % MICROSECONDS_PER_DAY == 0
    dates = pc.strftime(column, format="%Y-%m-%d")
    if midnight.all():
        return dates
    return pc.if_else(arrays.booleans(midnight), dates, stamps)


def recorded(value: Any) -> dict[str, str]:
    """A row's provenance or warnings as read back (a JSON object), as field -> text."""
    if value is None or value == "":
        return {}
    return dict(json.loads(value))


def _header(field: pa.Field) -> str:
    unit = (field.metadata or {}).get(b"unit", b"").decode()
    return f"{field.name} [{unit}]" if unit and unit not in ("-", "1") else field.name


def jsonl_text(batch: pa.RecordBatch) -> str:
    """Output rows as JSON Lines: each value with its unit, as a result's JSON holds it."""
    from .engine import ERROR, HASH, ID, PROVENANCE, ROW, RULESET, WARNINGS

    schema = batch.schema
    units = {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in schema}
    table = batch.to_pylist()
    lines = []
    for row in table:
        values = {}
        for key, value in row.items():
            if key in (ROW, ID, PROVENANCE, WARNINGS, ERROR, RULESET, HASH):
                continue
            if value is not None:
                shown = value.isoformat() if hasattr(value, "isoformat") else value
                values[key] = {"value": shown, "unit": units[key]}
        doc = {
            "row": row[ROW],
            "id": row[ID],
            "values": values,
            "provenance": json.loads(row[PROVENANCE]) if row[PROVENANCE] else None,
            "warnings": json.loads(row[WARNINGS]) if row[WARNINGS] else None,
            "ruleset": row[RULESET],
            "ruleset_hash": row[HASH],
            "error": json.loads(row[ERROR]) if row[ERROR] else None,
        }
        lines.append(json.dumps(doc, ensure_ascii=False, allow_nan=False))
    return "".join(line + "\n" for line in lines)


def _row_numbers_read(
    opened: Callable[[], Iterator[pa.RecordBatch]], path: Path, header: list[str]
) -> Iterator[pa.RecordBatch]:
    """The batches of a CSV output; a row cell that is not a whole number (Arrow's reader
    stops at it) is told at its line, in the words of the other refusals of an output."""
    try:
        yield from opened()
    except pa.ArrowInvalid as exc:
        found = re.search(r"In CSV column #([0-9]+): .* invalid value '(.*)'", str(exc), re.S)
        if found is None or not header[int(found[1]) :]:
            raise
        k, value = int(found[1]), found[2]
        line = None
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = csv.reader(handle)
            for cells in rows:
                if rows.line_num > 1 and k < len(cells) and cells[k] == value:
                    line = rows.line_num
                    break
        shown = given(value, SHOWN_CHARS)
        raise InputError.one(
            str(path), line, header[k],
            f"not an output of tuneprint batch: a {header[k]} cell {shown} that is not a "
            "row's number", "syntax",
        ) from None  # fmt: skip


def output_batches(
    path: Path,
) -> Iterator[tuple[np.ndarray, Callable[[], pa.Table]]]:
    """An output file of ``tuneprint batch`` a chunk at a time: each chunk's ``row``
    numbers and how to read the chunk whole. A file that is not such an output is an
    error naming it."""
    from .engine import ROW

    name = str(path)
    kind = format_of(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            file = pq.ParquetFile(path)
            if ROW not in file.schema_arrow.names:
                raise InputError.one(name, None, "", "not an output of tuneprint batch", "schema")
            for group in range(file.num_row_groups):
                rows = file.read_row_group(group, columns=[ROW]).column(ROW)
                yield rows.to_numpy(), lambda g=group: file.read_row_group(g)  # type: ignore[misc]
            return
        if kind == "csv":
            import pyarrow.csv as pcsv

            with open(path, encoding="utf-8-sig", newline="") as handle:
                header = next(csv.reader([handle.readline()]), [])
            types = {c: pa.int64() if c == ROW else pa.string() for c in header}
            options = pcsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, null_values=OUTPUT_NULLS
            )
            opened = partial(pcsv.open_csv, path, convert_options=options)
            for batch in _row_numbers_read(opened, path, header):
                table = pa.Table.from_batches([batch])
                table = table.rename_columns([c.split(" [", 1)[0] for c in table.column_names])
                if ROW not in table.column_names:
                    raise InputError.one(
                        name, None, "", "not an output of tuneprint batch", "schema"
                    )
                yield table.column(ROW).to_numpy(), lambda t=table: t  # type: ignore[misc]
            return
        with open(path, encoding="utf-8") as handle:
            while True:
                lines = [line for line in (handle.readline() for _ in range(JSONL_LINES)) if line]
                if not lines:
                    return
                table = _jsonl_output([line for line in lines if line.strip()], name)
                yield table.column(ROW).to_numpy(), lambda t=table: t  # type: ignore[misc]
    except (OSError, pa.ArrowException, ValueError, KeyError, TypeError) as exc:
        raise InputError.one(
            name, None, "", f"not an output of tuneprint batch: {exc}", "syntax"
        ) from None


def _jsonl_output(lines: list[str], name: str) -> pa.Table:
    """Output lines as a table with a column for every field any of them holds (a line
    holds only the values its row has: an error row, none)."""
    rows = []
    fields: dict[str, None] = {}  # in the order first met
    for line in lines:
        doc = json.loads(line)
        flat: dict[str, Any] = {"row": doc["row"], "id": doc["id"]}
        for key, value in doc["values"].items():
            flat[key] = value["value"]
            fields.setdefault(key)
        flat["provenance"] = json.dumps(doc["provenance"]) if doc["provenance"] else None
        flat["warnings"] = json.dumps(doc["warnings"]) if doc["warnings"] else None
        flat.update(ruleset=doc["ruleset"], ruleset_hash=doc["ruleset_hash"])
        flat["error"] = json.dumps(doc["error"]) if doc["error"] else None
        rows.append(flat)
    names = ["row", "id", *fields, "provenance", "warnings", "ruleset", "ruleset_hash", "error"]
    return pa.Table.from_pydict({n: [r.get(n) for r in rows] for n in names})


def read_output(path: Path) -> pa.Table:
    """An output file of ``tuneprint batch``, back as a table (CSV headers' units dropped)."""
    kind = format_of(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if kind == "csv":
        import pyarrow.csv as pcsv

        options = pcsv.ConvertOptions(strings_can_be_null=True, null_values=OUTPUT_NULLS)
        table = pcsv.read_csv(path, convert_options=options)
        return table.rename_columns([c.split(" [", 1)[0] for c in table.column_names])
    with open(path, encoding="utf-8-sig") as handle:  # (a byte-order mark: as a spreadsheet saves)
        return _jsonl_output([line for line in handle if line.strip()], str(path))


__all__ = [
    "Chunk", "Writer", "format_of", "io", "output_batches", "read_chunks", "read_output",
]  # fmt: skip
