"""``--engine dask``: a batch split across the workers of a Dask cluster.

The input is cut into parts at row boundaries (lines of CSV and JSON Lines, row slices of
Parquet); each worker estimates its parts with the vectorised engine, loading the ruleset
itself from the same folder (so every worker must see that folder at the same path), and
writes a Parquet part; the parts are then written into the output in the input's order.
Row numbers and error locations are those of the whole input, so the output is the one a
single process writes, byte for byte in its values.

A CSV file that is not plain (quoted cells may hold line breaks) is not cut: it is one part.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..core.model import Ruleset
from ..core.problems import InputError, TuneprintError
from .formats import (
    NotPlain,
    Writer,
    _csv_header_line,
    format_of,
    parquet_batches,
    parquet_file,
    plain_csv,
)
from .run import CHUNK_ROWS, Counts, temporary_folder

PART_ROWS = 250_000  # rows per part sent to a worker
LOCAL_WORKERS = 2  # workers of the local cluster started when no scheduler is given


def _parts(source: Path, folder: Path, rows_per_part: int) -> list[tuple[Path, int, bool]]:
    """(part file, offset, whether Arrow may read it) for each part: the offset is the
    lines (or rows) of the input before the part, as the readers count them. A CSV file
    that is not plain records is one part, read whole by Python's reader (as one process
    reads it: a short line is its row's error)."""
    kind = format_of(source)
    if kind == "parquet":
        import pyarrow.parquet as pq

        parts: list[tuple[Path, int, bool]] = []
        start = 0
        file = parquet_file(source, str(source))
        for batch in parquet_batches(file, str(source), rows_per_part):
            path = folder / f"in-{len(parts):05d}.parquet"
            pq.write_table(pa.Table.from_batches([batch]), path)
            parts.append((path, start, True))
            start += batch.num_rows
        return parts or [(source, 0, True)]
    header_line = b""
    if kind == "csv":
        header = _csv_header_line(source, str(source))
        if header is None or not plain_csv(source, len(header)):
            return [(source, 0, False)]  # read whole, as Python's reader reads it
        with open(source, "rb") as handle:
            header_line = handle.readline()
    parts = []
    with open(source, "rb") as handle:
        lines_before = 1 if kind == "csv" else 0
        if kind == "csv":
            handle.readline()
        while True:
            block = b"".join(handle.readline() for _ in range(rows_per_part))
            if not block:
                break
            path = folder / f"in-{len(parts):05d}{source.suffix}"
            path.write_bytes(header_line + block)
            offset = lines_before - 1 if kind == "csv" else lines_before
            parts.append((path, offset, True))
            lines_before += int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10))
    return parts or [(source, 0, True)]


def _estimate_part(
    part: str, out: str, rules: str, chunk_rows: int, name: str, offset: int, arrow: bool
) -> dict[str, Any]:
    """On a worker: one part estimated into a Parquet file; its counts, or the error that
    stops the batch (returned, not raised: it is the input's, not a failure of the task,
    which the worker would log with its traceback)."""
    try:
        return _estimated_part(part, out, rules, chunk_rows, name, offset, arrow)
    except TuneprintError as exc:
        return {"failed": exc.with_traceback(None)}


def _estimated_part(
    part: str, out: str, rules: str, chunk_rows: int, name: str, offset: int, arrow: bool
) -> dict[str, Any]:
    from ..api import load_ruleset
    from .engine import Layout
    from .formats import read_chunks
    from .run import _estimated

    ruleset = load_ruleset(rules)
    fields, chunks = read_chunks(Path(part), ruleset, chunk_rows, name, offset, arrow)
    layout = Layout.of(ruleset, fields)
    counts = Counts()
    writer = Writer(Path(out), layout.schema())
    try:
        for chunk in chunks:
            batch = _estimated(layout, chunk, True)
            writer.write(batch)
            counts.add(batch)
    except NotPlain:  # (a part is cut from a file checked line by line: it has changed)
        writer.discard()
        raise InputError.one(
            name, None, "", "cannot read it as CSV any more: a line is no longer a plain "
            "record (the file changed while it was read)", "syntax",
        ) from None  # fmt: skip
    except BaseException:
        writer.discard()
        raise
    writer.close()
    return {"rows": counts.rows, "ok": counts.ok, "errors": counts.errors}


def run_on_dask(
    source: Path,
    target: Path,
    ruleset: Ruleset,
    chunk_rows: int = CHUNK_ROWS,
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
    name: str | None = None,
    rows_per_part: int = PART_ROWS,
) -> Counts:
    """Estimate ``source`` into ``target`` on a Dask cluster (a local one of two workers
    when no scheduler address is given)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError.one(
            "--engine", None, "", 'dask is not installed: pip install "tuneprint[dask]"', "option"
        ) from None
    import pyarrow.parquet as pq

    folder = Path(temporary_folder(target))
    cluster: Any = None
    try:
        parts = _parts(source, folder, rows_per_part)
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(
                n_workers=LOCAL_WORKERS,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # a run's own errors are reported as one message: not also the workers'
                # warnings as the cluster stops (tasks cancelled, heartbeats missed)
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        rules = str(ruleset.folder.resolve())
        shown = str(source) if name is None else name
        outs = [folder / f"out-{i:05d}.parquet" for i in range(len(parts))]
        futures = [
            client.submit(
                _estimate_part, str(p), str(o), rules, chunk_rows, shown, offset, arrow, pure=False
            )
            for (p, offset, arrow), o in zip(parts, outs, strict=True)
        ]
        counts = Counts()
        writer: Writer | None = None
        try:
            for future, out in zip(futures, outs, strict=True):
                got = future.result()
                if "failed" in got:
                    raise got["failed"]
                part = pq.ParquetFile(out)
                if writer is None:
                    writer = Writer(target, part.schema_arrow)
                before = counts.rows
                for batch in part.iter_batches():
                    writer.write(batch)
                    counts.add(batch)
                if counts.rows - before != got["rows"]:  # never: a part lost on the way
                    raise RuntimeError(f"part {out.name}: {got['rows']} rows written, read back "
                                       f"{counts.rows - before}")  # fmt: skip
                if progress is not None:
                    progress(got["rows"])
            if writer is not None:
                writer.close()  # (in its place before the cluster stops)
        except BaseException:
            client.cancel(futures)  # (the parts still running: stopped, not awaited)
            if writer is not None:
                writer.discard()  # (an earlier file of that name: left as it was)
            raise
        finally:
            client.close()
        return counts
    finally:
        try:
            if cluster is not None:
                cluster.close()
        finally:  # (even when the run is stopped while the cluster closes)
            shutil.rmtree(folder, ignore_errors=True)
