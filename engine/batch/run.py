"""``tuneprint batch IN OUT``: every row of a batch file estimated, chunk by chunk, on one
process or on a Dask cluster, every row accounted for."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..core.model import Ruleset
from ..core.problems import InputError, Problem
from .engine import ERROR, Layout, estimate_chunk
from .formats import (
    SCAN_BLOCK,
    Chunk,
    NotPlain,
    Piece,
    Writer,
    chunk_of,
    format_of,
    not_written,
    read_chunks,
    read_pieces,
)

CHUNK_ROWS = 262_144  # rows estimated at once: bounds memory, keeps columns long
ENGINES = ("vector", "rows", "dask")


NEWLINE = ord("\n")
SHOWN_ERRORS = 3  # errors a run shows at its end (every one is in the output)


@dataclass
class Counts:
    """Rows in, estimated and refused, and the first errors."""

    rows: int = 0
    ok: int = 0
    errors: int = 0
    first: list[Problem] = field(default_factory=list)

    def add(self, batch: pa.RecordBatch) -> None:
        """Count a chunk of output rows."""
        column = batch.column(ERROR)
        errors = batch.num_rows - column.null_count
        self.rows += batch.num_rows
        self.errors += errors
        self.ok += batch.num_rows - errors
        if errors and len(self.first) < SHOWN_ERRORS:
            for text in column.drop_null().to_pylist()[: SHOWN_ERRORS - len(self.first)]:
                self.first.append(Problem.from_dict(json.loads(text)[0]))

    def merge(self, other: Counts) -> None:
        """Add the counts of another part of the input, after this one."""
        self.rows += other.rows
        self.ok += other.ok
        self.errors += other.errors
        self.first = (self.first + other.first)[:SHOWN_ERRORS]


def estimated_batches(
    source: Path,
    ruleset: Ruleset,
    chunk_rows: int = CHUNK_ROWS,
    engine: str = "vector",
    name: str | None = None,
    workers: int = 1,
    arrow_csv: bool = True,
) -> tuple[Layout, Iterator[pa.RecordBatch]]:
    """The layout of the output and its chunks, in the input's order. With ``workers``
    above one, chunks of an input Arrow reads are estimated by that many processes while
    this one reads and writes. The chunks of a CSV file Arrow reads raise ``NotPlain``
    at a line that is not a plain record (``arrow_csv``: see ``read_chunks``)."""
    if engine not in ("vector", "rows"):
        raise InputError.one(
            "--engine", None, "", f"expected vector or rows, got {engine!r}", "option"
        )
    vectorised = engine == "vector"
    pieces = read_pieces(source, ruleset, chunk_rows, name, 0, arrow_csv) if workers > 1 else None
    if pieces is not None:
        fields, parts = pieces
        layout = Layout.of(ruleset, fields)
        return layout, _not_empty(
            _in_workers(parts, ruleset, fields, vectorised, workers), str(source)
        )
    fields, chunks = read_chunks(source, ruleset, chunk_rows, name, 0, arrow_csv)
    layout = Layout.of(ruleset, fields)

    def batches() -> Iterator[pa.RecordBatch]:
        for chunk in chunks:
            batch = _estimated(layout, chunk, vectorised)
            del chunk  # (its rows are freed once written: see ``formats._chunks_of``)
            yield batch
            del batch

    return layout, batches()


def _estimated(layout: Layout, chunk: Chunk, vectorised: bool) -> pa.RecordBatch:
    return estimate_chunk(layout, chunk.columns, chunk.rows, chunk.fallback, vectorised)


# -- worker processes ----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # in a worker: its ruleset and layout


@contextmanager
def children_deaf_to_ctrl_c() -> Iterator[None]:
    """While worker processes are started: SIGINT ignored, which they keep (an ignored
    signal stays ignored in a process started from this one), so they never take Ctrl-C,
    not even while they load their modules: a terminal sends it to every process of its
    group, and each worker printed a traceback. The run itself takes it again once they
    are started (a Ctrl-C in the moment they take to start is not seen), stops, and its
    workers with it."""
    import signal

    try:
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # (not the main thread: its signals are the caller's)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _start_worker(folder: str, digest: str, fields: list[str]) -> None:
    import signal

    from ..api import load_ruleset
    from .memory import keep_freed_memory

    # Ctrl-C reaches the whole process group: the parent stops the run and its workers
    # (no worker's own traceback on the terminal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()
    ruleset = load_ruleset(folder)
    if ruleset.content_hash != digest:  # the folder changed since the run began
        raise RuntimeError(f"{folder}: the ruleset changed during the run")
    _WORKER.update(ruleset=ruleset, layout=Layout.of(ruleset, fields))


def _estimate_piece(piece: Piece, vectorised: bool, parts: str) -> str:
    """Estimate a piece and write its output rows to an Arrow file in ``parts``: the
    parent maps that file instead of receiving the rows through a pipe (pickling a chunk's
    columns and copying them between processes cost more than estimating them)."""
    import uuid

    chunk = chunk_of(piece, _WORKER["ruleset"])
    batch = _estimated(_WORKER["layout"], chunk, vectorised)
    path = str(Path(parts) / f"part-{uuid.uuid4().hex}.arrow")
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return path


def _mapped(path: str) -> Iterator[pa.RecordBatch]:
    """The output rows of a worker's Arrow file, mapped; the file is gone once they are
    consumed."""
    import os

    source = pa.memory_map(path)
    try:
        yield pa.ipc.open_file(source).get_batch(0)
    finally:
        source.close()
        os.unlink(path)


def check_workers(workers: int, named: str = "workers") -> None:
    """Refuse more workers than the processors this process may use (``named``: the
    argument, or the command line's option)."""
    processors = usable_processors()
    if workers > processors:
        raise InputError.one(
            named, None, "", f"expected at most {processors}, the processors this "
            f"process may use, got {workers}", "option",
        )  # fmt: skip


def usable_processors() -> int:
    """The processors this process may run on (its affinity, where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _in_workers(
    pieces: Iterator[Piece], ruleset: Ruleset, fields: list[str], vectorised: bool, workers: int
) -> Iterator[pa.RecordBatch]:
    """Each piece estimated in a pool of processes (each loads the ruleset from the
    cache), results in the input's order, at most two pieces per worker in flight; each
    result comes back as an Arrow file in a temporary folder, removed at the end."""
    import multiprocessing
    import shutil
    from concurrent.futures import Future, ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    folder = str(ruleset.folder.resolve())
    parts = tempfile.mkdtemp(prefix="tuneprint-parts-")
    try:
        with ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(folder, ruleset.content_hash, fields),
        ) as pool:
            pending: deque[Future[str]] = deque()
            for k, piece in enumerate(pieces):
                # (the pool starts a process at each of its first submissions: started
                # ignoring Ctrl-C, they are deaf to it before they have loaded anything)
                with children_deaf_to_ctrl_c() if k < workers else nullcontext():
                    future = pool.submit(_estimate_piece, piece, vectorised, parts)
                pending.append(future)
                if len(pending) >= 2 * workers:
                    yield from _mapped(pending.popleft().result())
            while pending:
                yield from _mapped(pending.popleft().result())
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _not_empty(batches: Iterator[pa.RecordBatch], name: str) -> Iterator[pa.RecordBatch]:
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        yield batch
        del batch  # (not held while the next chunk is estimated)
    if not rows:
        raise InputError.one(name, None, "", "the batch holds no rows", "syntax")


def run_batch(
    source: Path | str,
    target: Path | str,
    ruleset: Ruleset | str | Path | None = None,
    engine: str = "vector",
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    scheduler: str | None = None,
    name: str | None = None,
    workers: int = 1,
) -> Counts:
    """Estimate every row of ``source`` into ``target``; the counts. ``ruleset``: a
    Ruleset, a shipped version, a folder, or None (the newest shipped). ``workers``: processes
    estimating chunks at once (the vector and rows engines), at most the processors this
    process may use (more would only wait, each holding its chunks in memory)."""
    from ..api import _ruleset, _wrong

    for argument, path in (("source", source), ("target", target)):
        if not isinstance(path, (str, os.PathLike)):
            raise _wrong(argument, path, "a file's path")
    source, target, ruleset = Path(source), Path(target), _ruleset(ruleset)
    check_workers(workers)
    format_of(target)
    if _same_file(source, target):  # written over while it is read: lost, and no output
        raise InputError.one(
            str(target), None, "", f"is the input ({source}): write the output elsewhere", "file"
        )
    if engine == "dask":
        from .cluster import run_on_dask

        return run_on_dask(source, target, ruleset, chunk_rows, scheduler, progress, name)
    try:
        return _run(source, target, ruleset, engine, chunk_rows, progress, name, workers, True)
    except NotPlain:  # (a CSV file Arrow took holds a line of other cells than its header's)
        return _run(source, target, ruleset, engine, chunk_rows, progress, name, workers, False)


def _run(
    source: Path,
    target: Path,
    ruleset: Ruleset,
    engine: str,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
    name: str | None,
    workers: int,
    arrow_csv: bool,
) -> Counts:
    layout, batches = estimated_batches(
        source, ruleset, chunk_rows, engine, name, workers, arrow_csv
    )
    counts = Counts()
    writer = _writer(target, layout)
    try:
        for batch in batches:
            writer.write(batch)
            counts.add(batch)
            if progress is not None:
                progress(batch.num_rows)
            del batch  # (the next chunk is estimated with no earlier output rows held)
    except BaseException:  # the input as a whole is bad, or the run stopped: no output
        writer.discard()  # (an earlier file of that name: left as it was)
        if progress is not None and counts.rows:  # (read again from its start: NotPlain)
            progress(-counts.rows)
        raise
    writer.close()
    return counts


def _same_file(source: Path, target: Path) -> bool:
    """Whether the output would be the input itself (through any link or path)."""
    try:
        return os.path.samefile(source, target)
    except (OSError, ValueError):  # (an output not made yet: not the input)
        return False


def _writer(target: Path, layout: Layout) -> Writer:
    try:
        return Writer(target, layout.schema())
    except OSError as exc:
        raise not_written(target, exc) from None


def count_rows(source: Path) -> int | None:
    """Rows of an input, cheaply, for a progress bar (None when not cheap to know)."""
    kind = format_of(source)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(source).metadata.num_rows)
    lines = 0
    try:
        with open(source, "rb") as handle:
            while block := handle.read(SCAN_BLOCK):
                lines += int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == NEWLINE))
    except OSError:
        return None
    return lines - (1 if kind == "csv" else 0)


def temporary_folder(near: Path) -> str:
    """A folder for partial outputs, beside the output when possible."""
    try:
        return tempfile.mkdtemp(prefix=".tuneprint-", dir=near.parent)
    except OSError:
        return tempfile.mkdtemp(prefix="tuneprint-")


__all__ = ["CHUNK_ROWS", "ENGINES", "Counts", "estimated_batches", "run_batch", "sys"]
