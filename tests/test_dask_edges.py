"""tuneprint batch --engine dask at its edges: parts cut where one process cuts chunks
(the same bytes for any sizes), a scheduler's address that is wrong in any way told at
once, an input that cannot be read told as the default engine tells it, and a run stopped
while its local cluster starts stopping quietly."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pcsv = pytest.importorskip("pyarrow.csv")

import tuneprint  # noqa: E402
from tuneprint.batch.cluster import run_on_dask  # noqa: E402
from tuneprint.batch.run import run_batch  # noqa: E402
from tuneprint.core.model import Ruleset  # noqa: E402

from tests.conftest import run_interrupted  # noqa: E402

HEADER = "id,base_model,gpu_model,gpu_count,cloud_region,reserved_hours,start_time"


def cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuneprint", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def rs() -> Ruleset:
    return tuneprint.load_ruleset(None)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, processes=True,
                      # (its HTTP server on a free port: not 8787, which a cluster of
                      # another test running at once may hold)
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                      ) as cluster:  # fmt: skip
        yield cluster.scheduler_address


def twenty_rows(folder: Path) -> list[Path]:
    """20 rows, one of them at a fraction of a second (a CSV output writes the times of
    that row's chunk with microseconds), as CSV, Parquet and JSON Lines (blank lines,
    one beginning with a byte-order mark's character, which is no row's)."""
    lines = []
    for i in range(20):
        when = "2024-02-01T10:00:00" + (".5" if i == 5 else "")
        hours = "four" if i == 11 else str(i + 1)  # (an error row: its line in the file)
        lines.append(f"r{i},Llama 2 13B,H100,2,europe-west4,{hours},{when}")
    csv_in = folder / "in.csv"
    csv_in.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    table = pcsv.read_csv(
        csv_in,
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(HEADER.split(","), pa.string())
        ),
    )
    parquet_in = folder / "in.parquet"
    pq.write_table(table, parquet_in, row_group_size=3)
    jsonl = []
    for i, row in enumerate(table.to_pylist()):
        if i in (3, 9):
            jsonl.append("")
        if i == 10:
            jsonl.append("\ufeff ")
        values = {k: v for k, v in row.items() if v and k != "id"}
        jsonl.append(json.dumps({"id": row["id"], "values": values}))
    jsonl_in = folder / "in.jsonl"
    jsonl_in.write_text("\n".join(jsonl) + "\n", encoding="utf-8")
    return [csv_in, parquet_in, jsonl_in]


def test_dask_parts_are_whole_chunks_so_every_output_is_the_single_process_bytes(
    rs: Ruleset, scheduler: str, tmp_path: Path
) -> None:
    """Parts of 7 rows, chunks of 5: the parts are cut at the chunks' boundaries (a part
    of 7 rows was two chunks, of 5 and 2, where one process has one of 5 and then 5)."""
    for source in twenty_rows(tmp_path):
        for kind in ("csv", "parquet", "jsonl"):
            for chunk_rows, rows_per_part in ((5, 7), (3, 10), (4, 1)):
                single, spread = tmp_path / f"single.{kind}", tmp_path / f"dask.{kind}"
                one = run_batch(source, single, rs, chunk_rows=chunk_rows)
                two = run_on_dask(
                    source, spread, rs, chunk_rows=chunk_rows, scheduler=scheduler,
                    rows_per_part=rows_per_part,
                )  # fmt: skip
                assert (one.rows, one.ok, one.errors) == (two.rows, two.ok, two.errors)
                assert one.rows >= 20 and one.errors >= 1
                assert spread.read_bytes() == single.read_bytes(), (
                    source.name,
                    kind,
                    chunk_rows,
                    rows_per_part,
                )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_dask_run_of_chunks_of_several_blocks_is_the_single_process_bytes(
    rs: Ruleset, scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CSV chunks read in many blocks of Arrow's reader, each block's names coded by its
    own distinct cells (its dictionary): a part's Arrow file holds them in one, and the
    output is the single process's, byte for byte."""
    from tuneprint.batch import formats

    monkeypatch.setattr(formats, "READ_BLOCK", 1 << 10)  # blocks of some 20 lines
    gpus = ["H100", "A100 80GB", "V100", "GPX 9000", " h100 "]
    lines = [f"r{i},Llama 2 13B,{gpus[(i * 7) % 5]},2,europe-west4,{i + 1},2024-02-01T10:00:00"
             for i in range(300)]  # fmt: skip
    source = tmp_path / "in.csv"
    source.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    for kind in ("parquet", "csv"):
        single, spread = tmp_path / f"single.{kind}", tmp_path / f"dask.{kind}"
        one = run_batch(source, single, rs, chunk_rows=120)
        two = run_on_dask(source, spread, rs, chunk_rows=120, scheduler=scheduler,
                          rows_per_part=250)  # fmt: skip
        assert (one.rows, one.ok, one.errors) == (two.rows, two.ok, two.errors) == (300, 240, 60)
        assert spread.read_bytes() == single.read_bytes(), kind


class Server:
    """A server on 127.0.0.1 that is not a Dask scheduler: it says a banner, or nothing."""

    def __init__(self, banner: bytes | None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.banner = banner
        self.conns: list[socket.socket] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.banner is not None:
                conn.sendall(self.banner)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_a_scheduler_address_that_is_wrong_is_one_message_naming_it_within_seconds(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(HEADER + "\nr0,Llama 2 13B,H100,2,europe-west4,3,2024-02-01\n")
    banner = Server(b"SSH-2.0-OpenSSH_9.6\r\n" + b"x" * 64)
    silent = Server(None)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))  # (bound, not listening: connections to it are refused)
    refused = f"tcp://127.0.0.1:{free.getsockname()[1]}"
    try:
        said = {
            "": "an empty address",
            "nonsense": "not a Dask scheduler address",
            "foo://x:1": "not a Dask scheduler address",
            "tcp://[::1": "not a Dask scheduler address",
            refused: "cannot connect: connection refused",
            # (TLS runs over TCP: refused at once too; Dask's configuration has no
            # certificates here, which is what a listening tls:// address is told)
            refused.replace("tcp://", "tls://"): "cannot connect: connection refused",
            silent.address.replace("tcp://", "tls://"): "a tls:// scheduler needs TLS settings",
            banner.address: "not a Dask scheduler",
            silent.address: "did not answer",
        }
        for address, message in said.items():
            started = time.monotonic()
            out = tmp_path / "out.csv"
            done = cli("batch", source, out, "--engine", "dask", "--scheduler", address, "-q",
                       timeout=30)  # fmt: skip
            spent = time.monotonic() - started
            lines = done.stderr.splitlines()
            assert done.returncode == 2, (address, done.stderr)
            assert len(lines) == 1, (address, done.stderr)
            assert lines[0].startswith(f"error: --scheduler: {address}: " if address else
                                       "error: --scheduler: an empty address"), lines  # fmt: skip
            assert message in lines[0], lines
            assert "output" not in lines[0] and "internal" not in lines[0], lines
            assert spent < 15, (address, spent)
            assert not out.exists()
    finally:
        banner.close()
        silent.close()
        free.close()


def test_dask_tells_an_input_that_cannot_be_read_as_the_default_engine_does(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    for source, said in ((tmp_path / "missing.csv", "cannot read file"),
                         (folder, "is a folder, not a file")):  # fmt: skip
        single = cli("batch", source, tmp_path / "out.csv", "-q")
        spread = cli("batch", source, tmp_path / "out.csv", "--engine", "dask", "-q")
        assert single.returncode == spread.returncode == 2, spread.stderr
        assert spread.stderr == single.stderr, spread.stderr
        assert spread.stderr.startswith(f"error: {source}: {said}"), spread.stderr
        assert "output" not in spread.stderr


STOPPED = """
import os, signal, sys, threading
import distributed

Cluster = distributed.LocalCluster


class Stopped(Cluster):  # SIGTERM while the cluster starts its workers
    def __init__(self, *args, **options):
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        super().__init__(*args, **options)


distributed.LocalCluster = Stopped
from tuneprint.cli import run

if __name__ == "__main__":  # (not in the workers' processes, which import this file)
    sys.exit(run(["batch", sys.argv[1], sys.argv[2], "--engine", "dask", "-q"]))
"""


def test_a_run_stopped_while_its_local_cluster_starts_stops_quietly(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(HEADER + "\nr0,Llama 2 13B,H100,2,europe-west4,3,2024-02-01\n")
    script = tmp_path / "stopped.py"
    script.write_text(STOPPED)
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, str(script), str(source), str(out)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 1, done.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


INTERRUPTED = """
import os, signal, sys, threading
import distributed

Cluster = distributed.LocalCluster


class Interrupted(Cluster):  # Ctrl-C at a terminal: SIGINT to every process of its group
    def __init__(self, *args, **options):
        super().__init__(*args, **options)
        group = os.getpgid(0)
        threading.Timer(0.5, os.killpg, (group, signal.SIGINT)).start()


distributed.LocalCluster = Interrupted
from tuneprint.cli import run

if __name__ == "__main__":  # (not in the workers' processes, which import this file)
    sys.exit(run(["batch", sys.argv[1], sys.argv[2], "--engine", "dask", "-q"]))
"""


def test_ctrl_c_to_the_whole_group_is_one_aborted_not_the_workers_tracebacks(
    tmp_path: Path,
) -> None:
    """A terminal's Ctrl-C reaches the local cluster's workers too: they ignore it (each
    printed a traceback), and the run stops with "aborted" alone, its cluster with it."""
    source = tmp_path / "in.csv"
    row = "Llama 2 13B,H100,2,europe-west4,3,2024-02-01"
    source.write_text(HEADER + "\n" + "".join(f"r{i},{row}\n" for i in range(400_000)))
    stderr = run_interrupted(INTERRUPTED, source, tmp_path / "out.parquet")
    assert stderr == "aborted\n", stderr
