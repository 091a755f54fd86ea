"""The real service in a subprocess for the tests: ``tuneprint serve`` on a free port of
127.0.0.1, called with httpx, always stopped at the end (SIGTERM, then SIGKILL), even when
a test fails."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
START_SECONDS = 60.0  # the most a server may take to answer its first request
STOP_SECONDS = 15.0  # the most it may take to stop after SIGTERM
STARTS = 3  # tries, each on a new free port (another process may take one first)

_running: set[subprocess.Popen[bytes]] = set()


def _kill_all() -> None:  # a last resort if the test process itself is interrupted
    for process in list(_running):
        if process.poll() is None:
            process.kill()


atexit.register(_kill_all)


def service_extra() -> None:
    """Skip when the service extra is not installed, except in CI, which must run them."""
    if os.environ.get("CI"):
        import fastapi  # noqa: F401
        import httpx  # noqa: F401
        import uvicorn  # noqa: F401
    else:
        pytest.importorskip("fastapi")
        pytest.importorskip("uvicorn")
        pytest.importorskip("httpx")


def free_port() -> int:
    """A port no one listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Service:
    """A running ``tuneprint serve``."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = Path(tempfile.mkstemp(prefix="tuneprint-service-", suffix=".log")[1])
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        for _ in range(STARTS):
            if self._start():
                return
        raise RuntimeError(f"the service did not start:\n{self.log()}")

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://{HOST}:{self.port}"

    def _start(self) -> bool:
        import httpx

        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tuneprint",
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        _running.add(self.process)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _running.discard(self.process)
                return False
            try:
                if httpx.get(f"{self.url}/v1/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        return False

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the server; its exit code (None if it had to be killed)."""
        process = self.process
        if process is None:
            return None
        code: int | None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                code = process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
        else:
            code = process.returncode
        _running.discard(process)
        return code

    def log(self) -> str:
        """Everything the server wrote."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        """The server's log, one JSON object per line."""
        return [json.loads(line) for line in self.log().splitlines() if line.strip()]


@contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[Service]:
    """A server for the length of a ``with`` block (or a fixture)."""
    service = Service(*args, env=env)
    try:
        yield service
    finally:
        service.stop()
        service.log_path.unlink(missing_ok=True)
