"""Structured logs: one JSON object per line on standard error, for the service's own
lines (one per request) and uvicorn's alike, so a log collector needs no parser."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime, timezone
from typing import Any

import orjson

ACCESS_LOGGER = "tuneprint.access"
SERVICE_LOGGER = "tuneprint.service"
MS_PER_SECOND = 1000


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...}``: the record's ``fields`` (a dict
    given as ``extra={"fields": ...}``) are added as they are."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        doc: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def timestamp(seconds: float) -> str:
    """ISO 8601 UTC time to the millisecond."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


class AccessLog:
    """The line of each request, written with one ``write`` call to a file descriptor
    (standard error): lines of several workers never interleave (writes to a pipe of less
    than 4 KiB are atomic), and it costs a few microseconds where a ``logging`` record costs
    tens. The lines have the shape JsonFormatter gives."""

    def __init__(self, fd: int = 2) -> None:
        self.fd = fd
        self.second = -1
        self.prefix = ""

    def now(self) -> str:
        """The time as ``timestamp`` gives it, the date and time formatted once a second."""
        seconds = time.time()
        whole = int(seconds)
        if whole != self.second:
            self.second, self.prefix = (
                whole,
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)),
            )
        return f"{self.prefix}.{int((seconds - whole) * MS_PER_SECOND):03d}+00:00"

    def write(self, fields: dict[str, Any]) -> None:
        """Log one request; a log that cannot be written never fails the request."""
        doc = {
            "time": self.now(),
            "level": "info",
            "logger": ACCESS_LOGGER,
            "message": "request",
            **fields,
        }
        with contextlib.suppress(OSError):
            os.write(self.fd, orjson.dumps(doc, default=str) + b"\n")


def log_config(level: str = "info") -> dict[str, Any]:
    """The logging configuration of the service and of uvicorn (for ``dictConfig``)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "tuneprint": {"handlers": ["json"], "level": upper, "propagate": False},
        },
    }
