"""Load on the estimation service over loopback: requests per second and p50 / p99 latency
with 1 and 2 worker processes, for a single estimate (compact and full provenance) and a
100-disclosure list, each also with 10% malformed requests mixed in (every request must be
answered, the malformed ones with their 4xx, and none with a 5xx).

    python bench/service_load.py [--seconds S] [--requests N] [--concurrency C]
                                 [--workers 1,2] [--client raw|httpx]

The load generator is an asyncio HTTP/1.1 client on keep-alive connections (``raw``: it
writes prepared requests and reads each response by its Content-Length, a few tens of
microseconds of CPU per request), or httpx's AsyncClient (``httpx``: several times the CPU
per request). It runs on the same machine as the server and takes CPU from it, so the
script also reports the server's own CPU time per request (from /proc), which gives what
one worker would serve on a core of its own. Each scenario is bounded by a number of
requests and by time; the server listens on 127.0.0.1 only and is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").glob("case_*.yaml"))
SINGLE = ROOT / "fixtures" / "case_c_seed_disclosure.yaml"  # the methodology's example
BATCH = 100  # disclosures in the list scenario
MALFORMED_SHARE = 10  # one request in this many is malformed, in the mixed scenarios
WARMUP = 200  # requests sent before measuring
START_SECONDS = 30.0  # the most the server may take to answer its first request
HOST = "127.0.0.1"

# malformed requests, each with the status it must get: broken JSON, a wrong type, an
# unknown field, a media type the service does not read
MALFORMED: list[tuple[bytes, str, int]] = [
    (b'{"values": {"gpu_count": 4,', "application/json", 400),
    (b'{"values": {"gpu_count": "four"}}', "application/json", 422),
    (b'{"values": {"gpu_cnt": 4}}', "application/json", 422),
    (b"gpu_count=4", "application/x-www-form-urlencoded", 415),
]


def yaml_document(path: Path) -> dict[str, object]:
    """A fixture as a JSON-ready document (values only, as a client would send them)."""
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {"id": doc.get("id", path.stem), "values": dict(doc["values"])}


@dataclass(frozen=True)
class Call:
    """One prepared request and the status it must get."""

    wire: bytes
    body: bytes
    content_type: str
    path: str
    expected: int


def prepared(path: str, body: bytes, content_type: str, expected: int) -> Call:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return Call(head + body, body, content_type, path, expected)


@dataclass
class Tally:
    """What came back."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wrong: int = 0  # answered with a status other than the one expected
    errors: list[str] = field(default_factory=list)  # connections that failed

    def add(self, status: int, expected: int, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != expected:
            self.wrong += 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        return status, await reader.readexactly(length)
    if not chunked:
        raise ValueError("a response without Content-Length or chunked encoding")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:
            return status, b"".join(parts)


class Generator:
    """C connections sending calls in turn until N requests or T seconds."""

    def __init__(self, port: int, calls: list[Call], client: str) -> None:
        self.port = port
        self.calls = calls
        self.client = client

    async def run(self, concurrency: int, requests: int, seconds: float) -> tuple[Tally, float]:
        tally = Tally()
        issued = 0
        deadline = time.perf_counter() + seconds

        def next_call() -> Call | None:
            nonlocal issued
            if issued >= requests or time.perf_counter() > deadline:
                return None
            call = self.calls[issued % len(self.calls)]
            issued += 1
            return call

        start = time.perf_counter()
        if self.client == "httpx":
            await self._httpx(concurrency, next_call, tally)
        else:
            await asyncio.gather(*(self._raw(next_call, tally) for _ in range(concurrency)))
        return tally, time.perf_counter() - start

    async def _raw(self, next_call: object, tally: Tally) -> None:
        assert callable(next_call)
        reader, writer = await asyncio.open_connection(HOST, self.port)
        try:
            while (call := next_call()) is not None:
                sent = time.perf_counter()
                writer.write(call.wire)
                try:
                    status, _ = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    tally.errors.append(f"{type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, self.port)
                    continue
                tally.add(status, call.expected, time.perf_counter() - sent)
        finally:
            writer.close()

    async def _httpx(self, concurrency: int, next_call: object, tally: Tally) -> None:
        import httpx

        assert callable(next_call)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{self.port}", limits=limits) as c:

            async def worker() -> None:
                while (call := next_call()) is not None:
                    sent = time.perf_counter()
                    try:
                        response = await c.post(
                            call.path,
                            content=call.body,
                            headers={"content-type": call.content_type},
                        )
                    except httpx.HTTPError as exc:
                        tally.errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    tally.add(response.status_code, call.expected, time.perf_counter() - sent)

            await asyncio.gather(*(worker() for _ in range(concurrency)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children still running (the workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Server:
    """``tuneprint serve`` in a subprocess on a free loopback port."""

    def __init__(self, workers: int, log: Path) -> None:
        self.port = free_port()
        self.log = log.open("wb")
        env = {**os.environ}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tuneprint",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                url = f"http://{HOST}:{self.port}/v1/healthz"
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"the server did not start; see {log}") from None
                time.sleep(0.1)

    def cpu(self) -> float:
        return _cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def scenarios() -> list[tuple[str, list[Call]]]:
    single = json.dumps(yaml_document(SINGLE)).encode()
    docs = [yaml_document(p) for p in FIXTURES]
    batch = json.dumps([docs[i % len(docs)] for i in range(BATCH)]).encode()
    compact = prepared("/v1/estimate?provenance=compact", single, "application/json", 200)
    full = prepared("/v1/estimate?provenance=full", single, "application/json", 200)
    listed = prepared("/v1/estimate?provenance=compact", batch, "application/json", 200)
    bad = [prepared("/v1/estimate?provenance=compact", b, t, s) for b, t, s in MALFORMED]

    def mixed(good: Call) -> list[Call]:
        calls = []
        for i in range(MALFORMED_SHARE * len(bad)):
            calls.append(bad[i // MALFORMED_SHARE] if i % MALFORMED_SHARE == 0 else good)
        return calls

    return [
        ("single estimate, compact", [compact]),
        ("single estimate, full", [full]),
        (f"{BATCH}-disclosure list, compact", [listed]),
        ("single compact + 10% malformed", mixed(compact)),
        ("single full + 10% malformed", mixed(full)),
        (f"{BATCH}-list + 10% malformed", mixed(listed)),
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="most time per scenario")
    parser.add_argument("--requests", type=int, default=40_000, help="most requests each")
    parser.add_argument("--concurrency", type=int, default=16, help="open connections")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    print(
        f"load generator: {args.client} client on {loop_name}, {args.concurrency} "
        f"connections, at most {args.requests} requests or {args.seconds:g} s per scenario; "
        f"{os.cpu_count()} CPUs shared by the generator and the server"
    )
    print(
        f"{'scenario':<34} {'workers':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'srv CPU ms/req':>14} {'req/s per srv core':>18}  statuses"
    )
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (int(w) for w in args.workers.split(",")):
            log = Path(tmp) / f"server-{workers}.log"
            server = Server(workers, log)
            try:
                for name, calls in scenarios():
                    generator = Generator(server.port, calls, args.client)
                    asyncio.run(generator.run(args.concurrency, WARMUP, args.seconds))
                    cpu_before = server.cpu()
                    tally, elapsed = asyncio.run(
                        generator.run(args.concurrency, args.requests, args.seconds)
                    )
                    cpu = server.cpu() - cpu_before
                    n = len(tally.latencies)
                    server_errors = sum(c for s, c in tally.statuses.items() if s >= 500)
                    statuses = " ".join(f"{s}:{c}" for s, c in sorted(tally.statuses.items()))
                    per_request = cpu / n if n else float("nan")
                    print(
                        f"{name:<34} {workers:>7} {n:>8} {n / elapsed:>8.0f} "
                        f"{percentile(tally.latencies, 0.50) * 1e3:>7.2f} "
                        f"{percentile(tally.latencies, 0.99) * 1e3:>7.2f} "
                        f"{per_request * 1e3:>14.3f} {1 / per_request:>18.0f}  {statuses}",
                        flush=True,
                    )
                    if server_errors or tally.wrong or tally.errors:
                        failures.append(
                            f"{name}, {workers} workers: {server_errors} 5xx, {tally.wrong} "
                            f"unexpected statuses, {len(tally.errors)} connection errors "
                            f"{tally.errors[:3]}"
                        )
            finally:
                server.stop()
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
            logged = sum(1 for line in lines if '"tuneprint.access"' in line)
            print(f"  ({workers} workers: {logged} request lines logged)")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        raise SystemExit(1)
    print("every request answered; no 5xx; every malformed request got its 4xx")


if __name__ == "__main__":
    main()
