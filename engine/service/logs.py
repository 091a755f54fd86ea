"""Structured logs: one JSON object per line on standard error, for the service's own
lines (one per request) and uvicorn's alike, so a log collector needs no parser."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import orjson

ACCESS_LOGGER = "tuneprint.access"
SERVICE_LOGGER = "tuneprint.service"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...}``: the record's ``fields`` (a dict
    given as ``extra={"fields": ...}``) are added as they are."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
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
