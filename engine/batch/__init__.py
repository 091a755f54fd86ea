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
    table: Any, ruleset: Ruleset, engine: str = "vector", chunk_rows: int = CHUNK_ROWS
) -> Any:
    """Estimate every row of a table of disclosures: a pyarrow Table, or a pandas or
    Polars data frame (columns named after fields, an optional ``id``). Returns a pyarrow
    Table with one row per input row (see ``tuneprint batch`` for its columns)."""
    import pyarrow as pa

    from .formats import Chunk, _check_header, _parquet_chunk

    if not isinstance(table, pa.Table):
        table = table.to_arrow() if hasattr(table, "to_arrow") else _from_pandas(table, ruleset)
    header = table.column_names
    _check_header("table", header, ruleset)  # (an unknown column: InputError)
    fields = [h for h in header if h != "id"]
    layout = Layout.of(ruleset, fields)
    batches = []
    done = 0
    for batch in table.to_batches(max_chunksize=chunk_rows):
        chunk: Chunk = _parquet_chunk(batch, "table", header, fields, ruleset, done)
        done += batch.num_rows
        batches.append(
            estimate_chunk(layout, chunk.columns, chunk.rows, chunk.fallback, engine == "vector")
        )
    return pa.Table.from_batches(batches, schema=layout.schema())


def _from_pandas(frame: Any, ruleset: Ruleset) -> Any:
    """A pandas frame as an Arrow table, column by column: a column of one type as Arrow
    converts it; an ``object`` column mixing types (text and numbers: a sheet read as
    it came) as the text a CSV file would hold, each cell then checked as a CSV cell is
    (empty and NaN cells: not disclosed)."""
    import pyarrow as pa

    from .formats import _check_header

    header = [str(name) for name in frame.columns]
    _check_header("table", header, ruleset)  # (a name twice: one message, not Arrow's)
    columns = []
    for position in range(len(header)):
        cells = frame.iloc[:, position]
        try:
            columns.append(pa.array(cells, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            columns.append(pa.array([_cell_text(v) for v in cells], pa.string()))
    return pa.table(columns, names=header)


def _cell_text(value: Any) -> str | None:
    """A cell of a mixed column as a CSV file writes it."""
    import math

    if type(value).__module__ == "numpy":  # (a NumPy scalar: the Python value it holds)
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "isoformat"):  # dates and times
        return str(value.isoformat())
    return str(value)


def explain_row(path: Path, row: int, field: str | None, ruleset: Ruleset | None = None) -> Any:
    """The whole derivation of one output row of ``tuneprint batch`` (its position, from
    1), rebuilt from the row's disclosed values and the ruleset it names, and checked
    against the provenance the row records. Returns the estimate (a Result)."""
    from .explain import explain_output_row

    return explain_output_row(path, row, field, ruleset)
