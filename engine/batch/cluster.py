"""``--engine dask``: a batch split across the workers of a Dask cluster.

The input is read as one process reads it, and cut where one process cuts it into chunks,
so that each worker estimates the very chunks a single process would (a CSV file's time
columns, for one, are written as the values of their chunk need): a CSV file Arrow reads
and a Parquet file are read here, chunk by chunk, each chunk's rows handed to the workers
as an Arrow file; JSON Lines are cut at lines into parts of whole chunks, each read by a
worker; a CSV file that needs Python's reader (quoted cells may hold line breaks) is one
part. Parts go to the workers as they are cut; each worker estimates its chunks with the
vectorised engine, loading the ruleset itself from the same folder (so every worker must
see that folder, and the parts beside the output, at the same paths), and writes each
chunk's output rows to an Arrow file, which are then written into the output in the
input's order. The output is the file a single process writes, byte for byte.

The input is checked (missing, a folder, its header) before the cluster is started or
reached; a scheduler's address is checked with a connection of a few seconds, and any
failure to reach a Dask scheduler there is one message naming the address.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..core.model import Ruleset
from ..core.problems import InputError, TuneprintError
from ..load.files import BOM, MAX_FILE_BYTES
from .formats import NotPlain, Piece, chunk_of, format_of, read_chunks, read_pieces
from .run import (
    CHUNK_ROWS,
    Counts,
    _not_empty,
    _writer,
    children_deaf_to_ctrl_c,
    temporary_folder,
)

PART_ROWS = 250_000  # rows per part sent to a worker (whole chunks: at least one)
LOCAL_WORKERS = 2  # workers of the local cluster started when no scheduler is given
CONNECT_SECONDS = 3.0  # a scheduler's address: to connect, then as long again to answer

PieceSpec = tuple[str, str, str, str, tuple[str, ...], int, bool]
# (input rows' Arrow file, output rows' Arrow file, kind, name, header, done, a table)


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
    when no scheduler address is given); the output is the one ``run_batch`` writes."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InputError.one(
            "--engine", None, "", 'dask is not installed: pip install "tuneprint[dask]"', "option"
        ) from None
    if scheduler is not None and not scheduler.strip():
        raise _not_reached(scheduler, "an empty address: give a Dask scheduler's address "
                           "(tcp://HOST:PORT), or no --scheduler for a local cluster")  # fmt: skip
    shown = str(source) if name is None else name
    folder = Path(temporary_folder(target))
    cluster = _Cluster(scheduler)
    try:
        spread = _Spread(source, target, ruleset, chunk_rows, progress, shown, rows_per_part)
        try:
            return spread.run(cluster, folder, True)
        except NotPlain:  # (a CSV file Arrow began: a line of other cells than its header's)
            return spread.run(cluster, folder, False)
    finally:
        try:
            cluster.close()
        finally:  # (even when the run is stopped while the cluster closes)
            shutil.rmtree(folder, ignore_errors=True)


class _Spread:
    """One run's input, output and options."""

    def __init__(
        self,
        source: Path,
        target: Path,
        ruleset: Ruleset,
        chunk_rows: int,
        progress: Callable[[int], None] | None,
        shown: str,
        rows_per_part: int,
    ) -> None:
        self.source, self.target, self.ruleset = source, target, ruleset
        self.chunk_rows, self.progress, self.shown = chunk_rows, progress, shown
        self.rows_per_part = max(1, rows_per_part)

    def run(self, cluster: _Cluster, folder: Path, arrow_csv: bool) -> Counts:
        """As ``run._run``: the input checked as one process checks it (missing, a folder,
        its header) and the output opened, before the cluster is reached; then the parts
        estimated and their rows written in order. ``NotPlain`` as ``run._run`` raises it:
        the run is begun again with Python's reader."""
        from .engine import Layout

        source, shown, ruleset = self.source, self.shown, self.ruleset
        found = read_pieces(source, ruleset, self.chunk_rows, shown, 0, arrow_csv)
        if found is None:
            fields = read_chunks(source, ruleset, self.chunk_rows, shown, 0, arrow_csv)[0]
        else:
            fields = found[0]
        layout = Layout.of(ruleset, fields)
        writer = _writer(self.target, layout)
        counts = Counts()
        futures: list[Any] = []
        client: Any = None
        try:
            client = cluster.client()
            rules, digest = str(ruleset.folder.resolve()), ruleset.content_hash
            # a run's error found while reading (a page of Parquet that cannot be read, a
            # line that is not a plain record) comes after the chunks before it, as in one
            # process: those may hold an error of their own, told first
            stopped: BaseException | None = None
            try:
                if found is not None:
                    for specs in self._arrow_parts(found[1], folder):
                        futures.append(
                            client.submit(
                                _estimate_pieces, specs, rules, digest, fields, pure=False
                            )
                        )
                else:
                    for part, offset in self._line_parts(folder):
                        futures.append(
                            client.submit(
                                _estimate_lines,
                                part,
                                str(folder / f"out-{len(futures):05d}"),
                                rules,
                                digest,
                                self.chunk_rows,
                                shown,
                                offset,
                                pure=False,
                            )
                        )
            except (TuneprintError, NotPlain) as exc:
                stopped = exc
            for batch in _not_empty(self._results(futures, stopped), shown):
                writer.write(batch)
                counts.add(batch)
            writer.close()  # (in its place before the cluster stops)
        except BaseException:
            if futures and client is not None:
                client.cancel(futures)  # (the parts still running: stopped, not awaited)
            writer.discard()  # (an earlier file of that name: left as it was)
            if self.progress is not None and counts.rows:  # (read again: NotPlain)
                self.progress(-counts.rows)
            raise
        return counts

    def _results(
        self, futures: list[Any], stopped: BaseException | None
    ) -> Iterator[pa.RecordBatch]:
        """Each part's output rows, in order; then the error reading stopped at."""
        for future in futures:
            got = future.result()
            if "failed" in got:
                raise got["failed"]
            rows = 0
            for out in got["outs"]:
                for batch in _mapped(out):
                    rows += batch.num_rows
                    yield batch
            if rows != got["rows"]:  # never: a part lost on the way
                raise RuntimeError(f"a part of {got['rows']} rows read back as {rows}")
            if self.progress is not None:
                self.progress(rows)
        if stopped is not None:
            raise stopped

    def _arrow_parts(self, pieces: Iterator[Piece], folder: Path) -> Iterator[list[PieceSpec]]:
        """The chunks of an input Arrow reads, each written to an Arrow file as it is read,
        in parts of whole chunks (up to ``rows_per_part`` rows, at least one chunk)."""
        part: list[PieceSpec] = []
        rows = 0
        for count, piece in enumerate(pieces):
            size = piece.table.num_rows
            if part and rows + size > self.rows_per_part:
                yield part
                part, rows = [], 0
            path = folder / f"in-{count:06d}.arrow"
            whole = isinstance(piece.table, pa.Table)
            _write_arrow(piece.table, path)
            out = str(folder / f"out-{count:06d}.arrow")
            part.append((str(path), out, piece.kind, piece.name, piece.header, piece.done, whole))
            rows += size
            del piece  # (not held while the next is read)
        if part:
            yield part

    def _line_parts(self, folder: Path) -> Iterator[tuple[str, int]]:
        """(file, lines before it) of each part of an input Python's reader reads: JSON
        Lines cut at lines into parts of whole chunks (the rows of a chunk: the lines
        the reader takes as rows, blank lines aside); a CSV file, whole."""
        if format_of(self.source) != "jsonl":
            yield str(self.source), 0
            return
        per_part = self.chunk_rows * max(1, self.rows_per_part // self.chunk_rows)
        count = 0
        out = open(folder / "in-00000.jsonl", "wb")  # noqa: SIM115 (closed below)
        offset, rows = 0, 0
        try:
            with open(self.source, "rb") as handle:
                lines = 0
                while raw := handle.readline(MAX_FILE_BYTES):
                    longer = not raw.endswith(b"\n") and len(raw) == MAX_FILE_BYTES
                    if longer or _holds_row(raw, lines == 0):
                        if rows == per_part:  # a new part from this line
                            out.close()
                            yield str(folder / f"in-{count:05d}.jsonl"), offset
                            count += 1
                            out = open(folder / f"in-{count:05d}.jsonl", "wb")  # noqa: SIM115
                            # a blank line first: the reader takes a byte-order mark off a
                            # part's first line, which this line, in the file, keeps
                            out.write(b"\n")
                            offset, rows = lines - 1, 0
                        rows += 1
                    out.write(raw)
                    while longer and (raw := handle.readline(MAX_FILE_BYTES)):
                        out.write(raw)  # (the rest of a line over the limit: one row)
                        longer = not raw.endswith(b"\n")
                    lines += 1
        finally:
            out.close()
        yield str(folder / f"in-{count:05d}.jsonl"), offset


def _holds_row(raw: bytes, first: bool) -> bool:
    """Whether a line of JSON Lines is a row to the reader (not blank), as
    ``formats._jsonl_items`` tells (a line that is not UTF-8 stops the run either way)."""
    stripped = raw.strip()
    if not stripped:
        return False
    if stripped[:1] == b"{":
        return True
    line = raw.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")
    if first:
        line = line.removeprefix(BOM)
    return bool(line.strip())


def _write_arrow(table: pa.Table | pa.RecordBatch, path: Path | str) -> None:
    """Rows to an Arrow file, batch for batch (a table's chunks kept as they are)."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        if isinstance(table, pa.Table):
            writer.write_table(table)
        else:
            writer.write_batch(table)


def _mapped(path: str) -> Iterator[pa.RecordBatch]:
    """The rows of a worker's Arrow file, mapped; the file is gone once they are used."""
    source = pa.memory_map(path)
    try:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)
    finally:
        source.close()
        os.unlink(path)


# -- on a worker ---------------------------------------------------------------------------

_RULESETS: dict[tuple[str, str], Ruleset] = {}  # a worker's rulesets, by folder and hash


def _ruleset_of(folder: str, digest: str) -> Ruleset:
    ruleset = _RULESETS.get((folder, digest))
    if ruleset is None:
        from ..api import load_ruleset

        ruleset = load_ruleset(folder)
        if ruleset.content_hash != digest:  # the folder changed since the run began
            raise InputError.one(folder, None, "", "the ruleset changed during the run", "file")
        _RULESETS[folder, digest] = ruleset
    return ruleset


def _estimate_pieces(
    specs: list[PieceSpec], rules: str, digest: str, fields: list[str]
) -> dict[str, Any]:
    """On a worker: each chunk of a part estimated into an Arrow file; its rows, or the
    error that stops the batch (returned, not raised: it is the input's, not a failure of
    the task, which the worker would log with its traceback)."""
    from .engine import Layout
    from .run import _estimated

    try:
        ruleset = _ruleset_of(rules, digest)
        layout = Layout.of(ruleset, fields)
        rows = 0
        for rows_in, rows_out, kind, name, header, done, whole in specs:
            source = pa.memory_map(rows_in)
            try:
                reader = pa.ipc.open_file(source)
                table = reader.read_all() if whole else reader.get_batch(0)
                chunk = chunk_of(Piece(kind, table, name, tuple(header), done), ruleset)
                batch = _estimated(layout, chunk, True)
                _write_arrow(batch, rows_out)
                rows += batch.num_rows
                del table, chunk, batch
            finally:
                source.close()
                os.unlink(rows_in)
        return {"outs": [s[1] for s in specs], "rows": rows}
    except TuneprintError as exc:
        return {"failed": exc.with_traceback(None)}


def _estimate_lines(
    part: str, out: str, rules: str, digest: str, chunk_rows: int, name: str, offset: int
) -> dict[str, Any]:
    """On a worker: a part read by Python's reader, each chunk estimated into an Arrow
    file (``out``, numbered); as ``_estimate_pieces``."""
    from .engine import Layout
    from .run import _estimated

    try:
        ruleset = _ruleset_of(rules, digest)
        fields, chunks = read_chunks(Path(part), ruleset, chunk_rows, name, offset, False)
        layout = Layout.of(ruleset, fields)
        outs: list[str] = []
        rows = 0
        for chunk in chunks:
            batch = _estimated(layout, chunk, True)
            outs.append(f"{out}-{len(outs):05d}.arrow")
            _write_arrow(batch, outs[-1])
            rows += batch.num_rows
            del chunk, batch
        return {"outs": outs, "rows": rows}
    except TuneprintError as exc:
        return {"failed": exc.with_traceback(None)}


# -- the cluster ---------------------------------------------------------------------------


class _Cluster:
    """The client of a run: connected to the scheduler at an address, or to a local
    cluster started for the run; started once, when first needed."""

    def __init__(self, scheduler: str | None) -> None:
        self.scheduler = scheduler
        self._client: Any = None
        self._local: Any = None

    def client(self) -> Any:
        if self._client is None:
            if self.scheduler is not None:
                self._client = _connected(self.scheduler)
            else:
                self._client = self._started()
        return self._client

    def _started(self) -> Any:
        from distributed import Client, LocalCluster

        try:
            with children_deaf_to_ctrl_c():  # (the second or so they take to start)
                self._local = LocalCluster(
                    n_workers=LOCAL_WORKERS,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    # its HTTP server (health, metrics) on a port of its own: not 8787, which
                    # another cluster may hold (a warning on standard error at every run)
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    # a run's own errors are reported as one message: not also the workers'
                    # logs as the cluster stops (tasks cancelled, and, when a run is stopped,
                    # a heartbeat to a scheduler already gone, logged as an error)
                    silence_logs=logging.CRITICAL,
                )
            return Client(self._local, set_as_default=False)
        except BaseException:  # stopped (SIGTERM, Ctrl-C) while the cluster started
            _quiet_stop()
            raise

    def close(self) -> None:
        """Disconnect, and stop a local cluster; stopped while it closes (or before it
        started), quietly: what is left of it is the run's, being stopped."""
        client, local = self._client, self._local
        self._client = self._local = None
        try:
            if client is not None:
                client.close()
            if local is not None:
                local.close()
        except BaseException:
            _quiet_stop()
            raise


def _quiet_stop() -> None:
    """A run stopped while its local cluster starts or stops: the cluster's loggers and
    the closing of clusters at exit are silenced (a worker that did not start, a task
    cancelled, a cluster half made: tracebacks of a run that is being stopped)."""
    import atexit

    for logger in ("distributed", "tornado", "asyncio"):
        logging.getLogger(logger).setLevel(logging.CRITICAL + 1)
    try:
        from distributed.deploy.spec import close_clusters

        atexit.unregister(close_clusters)
    except ImportError:  # (a version of distributed without it)
        pass


def _connected(address: str) -> Any:
    """A client of the scheduler at ``address``, or one error naming the address and what
    is wrong there, within a few seconds (``CONNECT_SECONDS``)."""
    from distributed import Client

    _check_scheduler(address)
    try:
        return Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except Exception as exc:  # (it answered the check: it went away since)
        raise _not_reached(address, f"cannot connect to its Dask scheduler: {exc}") from None


def _not_reached(address: str, message: str) -> InputError:
    return InputError.one("--scheduler", None, address, message, "option")


def _check_scheduler(address: str) -> None:
    """Connect to ``address`` and ask who answers, in a thread of its own (the caller may
    be running an event loop), for at most twice ``CONNECT_SECONDS``: a Dask scheduler,
    or an error saying what is there instead."""
    import asyncio

    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.core import connect
    from distributed.security import Security

    async def identity() -> Any:
        scheme, where = parse_address(address)
        if scheme in ("tcp", "tls"):  # refused: told at once (Dask tries again until its
            # timeout); TLS runs over such a connection
            host, port = parse_host_port(where)
            _, opened = await asyncio.wait_for(asyncio.open_connection(host, port),
                                               CONNECT_SECONDS)  # fmt: skip
            opened.close()
        # (TLS: the certificates Dask's configuration names, as the client takes them)
        comm = await connect(
            address, timeout=CONNECT_SECONDS, **Security().get_connection_args("client")
        )
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    async def asked() -> Any:
        return await asyncio.wait_for(identity(), 2 * CONNECT_SECONDS)

    outcome: list[Any] = []

    def ask() -> None:
        try:
            outcome.append(("answer", asyncio.run(asked())))
        except BaseException as exc:  # (told to the caller, below)
            outcome.append(("error", exc))

    thread = threading.Thread(target=ask, name="tuneprint-scheduler-check", daemon=True)
    thread.start()
    thread.join(2 * CONNECT_SECONDS + 1)
    if not outcome:
        raise _not_reached(address, f"no answer within {2 * CONNECT_SECONDS:g} s")
    what, got = outcome[0]
    if what == "answer":
        if isinstance(got, dict) and got.get("type") == "Scheduler":
            return
        if isinstance(got, dict) and isinstance(got.get("type"), str):
            raise _not_reached(address, f"a Dask {got['type']} answers there, not a scheduler")
        raise _not_reached(address, "what answers there is not a Dask scheduler")
    raise _not_reached(address, _why_not(got))


def _why_not(exc: BaseException) -> str:
    """What a failed connection to a scheduler's address says to a user."""
    if isinstance(exc, ValueError):
        return f"not a Dask scheduler address ({exc}): expected tcp://HOST:PORT"
    if isinstance(exc, TypeError) and "TLS" in str(exc):  # (no certificates configured)
        return (
            "a tls:// scheduler needs TLS settings, and Dask's configuration has none: set "
            "distributed.comm.tls.ca-file and distributed.comm.tls.client.cert and .key "
            "(or their DASK_DISTRIBUTED__COMM__TLS__ variables)"
        )
    if isinstance(exc, TimeoutError):  # (connected, and then nothing said)
        return (
            f"it accepted the connection and did not answer within {2 * CONNECT_SECONDS:g} s: "
            "not a Dask scheduler"
        )
    if isinstance(exc, OSError):  # no connection within CONNECT_SECONDS
        reason = f"no connection within {CONNECT_SECONDS:g} s"
        cause: BaseException | None = exc
        while cause is not None:  # (distributed's error, the system's error under it)
            if isinstance(cause, ConnectionRefusedError):
                reason = "connection refused (nothing listens there)"
                break
            if isinstance(cause, OSError) and cause.strerror:
                reason = cause.strerror
                break
            cause = cause.__cause__ or cause.__context__
        return f"cannot connect: {reason}"
    # (what answered is no Dask: its first bytes read as a message, or as its length)
    return "what answers there is not a Dask scheduler (it does not speak Dask's protocol)"
