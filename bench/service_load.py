"""Load on the estimation service over loopback: requests per second and p50 / p99 latency
with 1 and 2 worker processes, for a single estimate (compact and full provenance) and a
100-disclosure list, each also with 10% malformed requests mixed in (every request must be
answered, each malformed one with its 4xx, none with a 5xx); and, as a baseline measured
in the same run, GET /v1/healthz (the HTTP stack alone).

    python bench/service_load.py [--seconds S] [--requests N] [--concurrency C]
                                 [--workers 1,2] [--client raw|httpx]

The load generator is an asyncio HTTP/1.1 client on keep-alive connections (``raw``: it
writes prepared requests and reads each response by its Content-Length, tens of
microseconds of CPU per request), or httpx's AsyncClient (``httpx``: several times that).
It runs on the same machine as the server and takes CPU from it, so the script also
reports the server's own CPU time per request (from /proc: its process and workers) and
what that CPU time allows on a core of its own, and, measured in this process, the
engine's share of it (checking and estimating the disclosures of one request) and that of
the service's reading and writing of the bodies (parsing the JSON, writing the results).
Each scenario is bounded by a number of requests and by time; the server listens on
127.0.0.1 only and is stopped (SIGTERM) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").glob("case_*.yaml"))
SINGLE = ROOT / "fixtures" / "case_c_seed_disclosure.yaml"  # the methodology's example
BATCH = 100  # disclosures in the list scenario
MALFORMED_SHARE = 10  # one request in this many is malformed, in the mixed scenarios
WARMUP = 200  # requests sent before measuring
ENGINE_ROUNDS, ENGINE_REPEAT = 7, 50  # in-process engine timing: best of rounds
START_SECONDS = 60.0  # the most the server may take to answer its first request
HOST = "127.0.0.1"

# malformed requests, each with the status it must get: broken JSON, a wrong type, an
# unknown field, a media type the service does not read
MALFORMED: list[tuple[bytes, str, int]] = [
    (b'{"values": {"gpu_count": 4,', "application/json", 400),
    (b'{"values": {"gpu_count": "four"}}', "application/json", 422),
    (b'{"values": {"gpu_cnt": 4}}', "application/json", 422),
    (b"gpu_count=4", "application/x-www-form-urlencoded", 415),
]


def json_document(path: Path) -> dict[str, object]:
    """A fixture as a client would send it: its id and values, as JSON."""
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {"id": doc.get("id", path.stem), "values": dict(doc["values"])}


@dataclass(frozen=True)
class Call:
    """One prepared request and the status it must get."""

    method: str
    path: str
    body: bytes
    content_type: str
    expected: int

    @property
    def wire(self) -> bytes:
        head = f"{self.method} {self.path} HTTP/1.1\r\nHost: {HOST}\r\n"
        if self.method == "POST":
            head += f"Content-Type: {self.content_type}\r\nContent-Length: {len(self.body)}\r\n"
        return (head + "\r\n").encode() + self.body


def post(
    path: str, body: bytes, content_type: str = "application/json", status: int = 200
) -> Call:
    return Call("POST", path, body, content_type, status)


@dataclass
class Tally:
    """What came back."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wrong: int = 0  # answered with a status other than the one expected
    errors: list[str] = field(default_factory=list)  # requests that got no answer

    def add(self, status: int, expected: int, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != expected:
            self.wrong += 1


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (Content-Length or chunked)."""
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
        raise ValueError("a response with neither Content-Length nor chunked encoding")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        parts.append((await reader.readexactly(size + 2))[:-2])
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

    async def _raw(self, next_call: Callable[[], Call | None], tally: Tally) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        wires: dict[int, bytes] = {}
        try:
            while (call := next_call()) is not None:
                wire = wires.get(id(call))
                if wire is None:
                    wire = wires[id(call)] = call.wire
                sent = time.perf_counter()
                writer.write(wire)
                try:
                    status, _ = await read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
                    tally.errors.append(f"{type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, self.port)
                    continue
                tally.add(status, call.expected, time.perf_counter() - sent)
        finally:
            writer.close()

    async def _httpx(
        self, concurrency: int, next_call: Callable[[], Call | None], tally: Tally
    ) -> None:
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{self.port}", limits=limits) as c:

            async def worker() -> None:
                while (call := next_call()) is not None:
                    sent = time.perf_counter()
                    headers = {"content-type": call.content_type} if call.body else {}
                    try:
                        response = await c.request(
                            call.method, call.path, content=call.body, headers=headers
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


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and of its children (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Server:
    """``tuneprint serve`` in a subprocess on a free loopback port, its log in a file."""

    def __init__(self, workers: int, log: Path) -> None:
        self.port = free_port()
        self.workers = workers
        self.log = log.open("wb")
        env = {**os.environ}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: with compiled bytecode
        command = [sys.executable, "-m", "tuneprint", "serve", "--port", str(self.port)]
        command += ["--workers", str(workers)]
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + START_SECONDS
        while not self.answers() or not self.workers_ready(log):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the server did not start; see {log}")
            time.sleep(0.1)

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/v1/healthz", timeout=1):
                return True
        except OSError:
            return False

    def workers_ready(self, log: Path) -> bool:
        if self.workers == 1:
            return True
        text = log.read_text(encoding="utf-8", errors="replace")
        return text.count('"worker ready"') >= self.workers

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def engine_micros(body: bytes, provenance: str) -> tuple[float, float]:
    """In this process, best of several rounds (microseconds): what the engine spends on
    one request's body (check and estimate each disclosure, with the reported fields, as
    the service asks), and what the service's own reading and writing of the bodies
    cost (the JSON body parsed, the result documents written as JSON bytes)."""
    import gc

    import tuneprint
    from tuneprint.load.disclosures import disclosure_from_document
    from tuneprint.service.body import JSON, parse_body
    from tuneprint.service.compact import CompactWriter
    from tuneprint.service.encoding import dumps

    rs = tuneprint.load_ruleset()
    writer = CompactWriter(rs)
    gc.collect()
    gc.freeze()  # as the service does after loading
    document = parse_body(body, JSON)
    items = document if isinstance(document, list) else [document]

    def check_and_estimate() -> list[tuneprint.Result]:
        return [
            tuneprint.estimate(
                disclosure_from_document(item, f"request[{i}]", rs), rs, report=True
            )
            for i, item in enumerate(items)
        ]

    results = check_and_estimate()

    def read_and_write() -> None:
        parse_body(body, JSON)
        if provenance == "compact":
            written = [writer.write(r) for r in results]
        else:
            written = [dumps(r.to_json(provenance)) for r in results]
        b"".join(written)

    repeat = max(1, ENGINE_REPEAT // max(1, body.count(b'"values"') // 10))

    def best(step: Callable[[], object]) -> float:
        step()
        rounds = []
        for _ in range(ENGINE_ROUNDS):
            start = time.perf_counter()
            for _ in range(repeat):
                step()
            rounds.append((time.perf_counter() - start) / repeat)
        return min(rounds) * 1e6

    return best(check_and_estimate), best(read_and_write)


@dataclass(frozen=True)
class Scenario:
    name: str
    calls: list[Call]
    engine_body: bytes = b""  # the valid body, for the engine's in-process share
    provenance: str = "compact"


def scenarios() -> list[Scenario]:
    single = json.dumps(json_document(SINGLE)).encode()
    docs = [json_document(p) for p in FIXTURES]
    batch = json.dumps([docs[i % len(docs)] for i in range(BATCH)]).encode()
    compact = post("/v1/estimate?provenance=compact", single)
    full = post("/v1/estimate?provenance=full", single)
    listed = post("/v1/estimate?provenance=compact", batch)
    bad = [post("/v1/estimate?provenance=compact", b, t, s) for b, t, s in MALFORMED]

    def mixed(good: Call) -> list[Call]:
        return [
            bad[i // MALFORMED_SHARE] if i % MALFORMED_SHARE == 0 else good
            for i in range(MALFORMED_SHARE * len(bad))
        ]

    return [
        Scenario("baseline: GET /v1/healthz", [Call("GET", "/v1/healthz", b"", "", 200)]),
        Scenario("single estimate, compact", [compact], single),
        Scenario("single estimate, full", [full], single, "full"),
        Scenario(f"{BATCH}-disclosure list, compact", [listed], batch),
        Scenario("single compact + 10% malformed", mixed(compact)),
        Scenario("single full + 10% malformed", mixed(full)),
        Scenario(f"{BATCH}-list + 10% malformed", mixed(listed)),
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
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(
        f"load generator: {args.client} client on {loop_name}, {args.concurrency} connections, "
        f"at most {args.requests} requests or {args.seconds:g} s per scenario; "
        f"{os.cpu_count()} CPUs for generator and server together (load average {load} "
        "before starting)"
    )
    print(
        f"{'scenario':<33}{'workers':>8}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'server CPU':>12}{'req/s per':>11}  statuses"
    )
    print(f"{'':<33}{'':>8}{'':>9}{'':>8}{'':>8}{'':>8}{'us/req':>12}{'srv core':>11}")
    failures = []
    engine: dict[str, float] = {}
    measured: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (int(w) for w in args.workers.split(",")):
            log = Path(tmp) / f"server-{workers}.log"
            server = Server(workers, log)
            try:
                for scenario in scenarios():
                    generator = Generator(server.port, scenario.calls, args.client)
                    asyncio.run(generator.run(args.concurrency, WARMUP, args.seconds))
                    cpu_before = server.cpu()
                    tally, elapsed = asyncio.run(
                        generator.run(args.concurrency, args.requests, args.seconds)
                    )
                    cpu = server.cpu() - cpu_before
                    n = len(tally.latencies)
                    server_errors = sum(c for s, c in tally.statuses.items() if s >= 500)
                    statuses = " ".join(f"{s}:{c}" for s, c in sorted(tally.statuses.items()))
                    per_request = cpu / n if n and cpu else float("nan")
                    measured[(scenario.name, workers)] = per_request
                    print(
                        f"{scenario.name:<33}{workers:>8}{n:>9}{n / elapsed:>8.0f}"
                        f"{percentile(tally.latencies, 0.50) * 1e3:>8.2f}"
                        f"{percentile(tally.latencies, 0.99) * 1e3:>8.2f}"
                        f"{per_request * 1e6:>12.0f}{1 / per_request:>11.0f}  {statuses}",
                        flush=True,
                    )
                    if server_errors or tally.wrong or tally.errors or not n:
                        failures.append(
                            f"{scenario.name}, {workers} workers: {n} answers, "
                            f"{server_errors} 5xx, {tally.wrong} unexpected statuses, "
                            f"{len(tally.errors)} unanswered {tally.errors[:3]}"
                        )
            finally:
                server.stop()
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
            logged = sum(1 for line in lines if '"tuneprint.access"' in line)
            print(
                f"  ({workers} worker{'s' if workers > 1 else ''}: {logged} request lines logged)"
            )
    print(
        "\nwhere the server's CPU goes (1 worker), measured in this process: the engine "
        "(check, estimate) and the service's reading and writing of the bodies"
    )
    for scenario in scenarios():
        if scenario.engine_body:
            micros, io = engine_micros(scenario.engine_body, scenario.provenance)
            engine[scenario.name] = micros
            total = measured.get((scenario.name, 1), float("nan")) * 1e6
            print(
                f"  {scenario.name:<33} engine {micros:>8.0f} us, bodies {io:>7.0f} us, "
                f"of {total:>8.0f} us server CPU per request"
            )
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        raise SystemExit(1)
    print("every request answered; none with a 5xx; every malformed request got its 4xx")


if __name__ == "__main__":
    main()
