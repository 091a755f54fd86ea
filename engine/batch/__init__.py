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
        if hasattr(table, "to_arrow"):  # Polars
            table = table.to_arrow()
        else:  # pandas
            table = pa.Table.from_pandas(table, preserve_index=False)
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


def explain_row(path: Path, row: int, field: str | None, ruleset: Ruleset | None = None) -> Any:
    """The whole derivation of one output row of ``tuneprint batch`` (its position, from
    1), rebuilt from the row's disclosed values and the ruleset it names, and checked
    against the provenance the row records. Returns the estimate (a Result)."""
    from .explain import explain_output_row

    return explain_output_row(path, row, field, ruleset)
