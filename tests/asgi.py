"""Calling the service's application in process, as an ASGI server calls it: one request,
its body in one message or several, and what the application sent back."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any
from urllib.parse import urlencode

Headers = tuple[tuple[bytes, bytes], ...]


def call(
    app: Any,
    method: str,
    path: str,
    query: bytes | dict[str, str] = b"",
    body: bytes = b"",
    headers: Headers = (),
    parts: int = 1,
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers and body of one request, its body sent in ``parts`` messages."""
    if isinstance(query, dict):
        query = urlencode(query).encode()
    cuts = [len(body) * i // parts for i in range(parts + 1)]
    messages = [
        {"type": "http.request", "body": body[a:b], "more_body": i < parts - 1}
        for i, (a, b) in enumerate(itertools.pairwise(cuts))
    ]
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1"), *headers],
    }

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    assert start["type"] == "http.response.start"
    content = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), content
