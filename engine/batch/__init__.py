"""Batch estimation: many disclosures as columns in, one output row per input row out.

    from tuneprint.batch import estimate_table, run_batch
    out = estimate_table(table, ruleset)  # an Arrow table or data frame: a row per disclosure
    counts = run_batch(Path("in.csv"), Path("out.parquet"), ruleset)

Install with ``pip install "tuneprint[batch]"`` (pyarrow and NumPy; Dask for
``engine="dask"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.model import Ruleset
from .engine import Layout, estimate_chunk
from .run import CHUNK_ROWS, Counts, run_batch

__all__ = ["CHUNK_ROWS", "Counts", "estimate_table", "explain_row", "run_batch"]


def estimate_table(
    table: Any, ruleset: Ruleset | str | Path | None = None, engine: str = "vector",
    chunk_rows: int = CHUNK_ROWS,
) -> Any:  # fmt: skip
    """Estimate every row of a table of disclosures: a pyarrow Table or RecordBatch, or a
    pandas or Polars data frame (columns named after fields, an optional ``id``). Returns
    a pyarrow Table with one row per input row (see ``tuneprint batch`` for its columns).
    A column of Python objects is read cell by cell, each as its own value (see
    ``frames``). ``ruleset``: a Ruleset, a shipped version, a folder, or None (the newest
    shipped). ``engine``: "vector" or "rows"; anything else, and a ``table`` of another
    kind, is an InputError (code "option")."""
    import pyarrow as pa

    from ..api import _ruleset
    from .formats import _check_header, _parquet_chunk
    from .frames import arrow_frame, check_arguments, own_cells

    check_arguments(engine, chunk_rows)
    ruleset = _ruleset(ruleset)
    frame = arrow_frame(table, ruleset)
    header = frame.table.column_names
    _check_header("table", header, ruleset)  # (an unknown column: InputError)
    fields = [h for h in header if h != "id"]
    layout = Layout.of(ruleset, fields)
    batches = []
    done = 0
    for batch in frame.table.to_batches(max_chunksize=chunk_rows):
        chunk = _parquet_chunk(batch, "table", header, fields, ruleset, done)
        if frame.own:  # (cells of object columns read on their own)
            chunk = own_cells(frame, done, batch, chunk, header, fields, ruleset)
        done += batch.num_rows
        batches.append(
            estimate_chunk(layout, chunk.columns, chunk.rows, chunk.fallback, engine == "vector")
        )
    return pa.Table.from_batches(batches, schema=layout.schema())


def _from_pandas(frame: Any, ruleset: Ruleset) -> Any:
    """A pandas frame as an Arrow table (see ``frames.from_pandas``; cells read on their
    own are left empty there)."""
    from .frames import from_pandas

    return from_pandas(frame, ruleset).table


def _cell_text(value: Any) -> str | None:
    """A cell of a mixed column as a CSV file writes it (see ``frames.cell_text``)."""
    from .frames import cell_text

    return cell_text(value)


def explain_row(
    path: str | Path, row: int, field: str | None = None, ruleset: Ruleset | str | None = None
) -> Any:
    """The whole derivation of one output row of ``tuneprint batch``: the row whose ``row``
    column is ``row`` (the input's line, for CSV and JSON Lines; its position from 1, for
    Parquet and tables), rebuilt from the row's disclosed values and the ruleset it names
    (or ``ruleset``: a Ruleset, a shipped version or a folder), and checked against the
    provenance the row records. Returns the estimate (a Result); a bad argument is an
    InputError (code "option")."""
    import os

    from ..core.problems import InputError
    from ..core.text import given
    from .explain import explain_output_row
    from .formats import SHOWN_CHARS

    def refused(name: str, expected: str, value: object) -> InputError:
        shown = f"{type(value).__name__} {given(value, SHOWN_CHARS)}"
        return InputError.one(name, None, "", f"expected {expected}, got {shown}", "option")

    if not isinstance(path, (str, os.PathLike)):
        raise refused("path", "the path of a batch output", path)
    if isinstance(row, bool) or not isinstance(row, int):
        raise refused("row", "a whole number (the row column's value)", row)
    if field is not None and not isinstance(field, str):
        raise refused("field", "a field's name, or None", field)
    if ruleset is not None and not isinstance(ruleset, Ruleset):
        if not isinstance(ruleset, (str, os.PathLike)):
            raise refused("ruleset", "a Ruleset, a version or a folder, or None", ruleset)
        from ..api import load_ruleset

        ruleset = load_ruleset(ruleset)
    return explain_output_row(Path(path), row, field, ruleset)
