"""The service's settings: where it listens, which rulesets it serves, its limits and its
token. Worker processes read them from one environment variable the parent sets."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.problems import InputError, Problem

DEFAULT_HOST = "127.0.0.1"  # loopback unless told otherwise
DEFAULT_PORT = 8000
MAX_PORT = 65535
MAX_BODY_BYTES = 1024 * 1024  # bytes of one request body
MAX_ITEMS = 1000  # disclosures in one request (a list, or a diff)
TIMEOUT_SECONDS = 10.0  # time one request may take, reading its body included
GRACE_SECONDS = 10  # time requests in flight get to finish on SIGTERM
MAX_WORKERS = 64  # worker processes

SETTINGS_VARIABLE = "TUNEPRINT_SERVICE_SETTINGS"  # the settings, for worker processes
TOKEN_VARIABLE = "TUNEPRINT_TOKEN"  # the bearer token, when it comes from the environment


@dataclass(frozen=True)
class Settings:
    """Everything the service is started with. ``rulesets`` are folders or shipped version
    names, loaded beside the default one; ``default`` names the version used when a request
    names none (default: the newest released shipped version)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    rulesets: tuple[str, ...] = ()
    default: str | None = None
    workers: int = 1
    token_file: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_items: int = MAX_ITEMS
    timeout: float = TIMEOUT_SECONDS
    grace: int = GRACE_SECONDS
    access_log: bool = True

    def problems(self) -> list[Problem]:
        """What is wrong with these settings (empty when they can be used)."""
        found = []

        def bad(option: str, message: str) -> None:
            found.append(Problem(option, None, "", message, "option"))

        if not 0 <= self.port <= MAX_PORT:
            bad("--port", f"expected a port from 0 to {MAX_PORT}, got {self.port}")
        if not 1 <= self.workers <= MAX_WORKERS:
            bad("--workers", f"expected 1 to {MAX_WORKERS} workers, got {self.workers}")
        if self.max_body_bytes < 1:
            bad("--max-body-bytes", f"expected at least 1 byte, got {self.max_body_bytes}")
        if self.max_items < 1:
            bad("--max-items", f"expected at least 1 disclosure, got {self.max_items}")
        if not self.timeout > 0:
            bad("--timeout", f"expected a time in seconds above 0, got {self.timeout}")
        if self.grace < 0:
            bad("--grace", f"expected a time in seconds of 0 or more, got {self.grace}")
        return found

    def to_environment(self) -> str:
        """The settings as the text of ``TUNEPRINT_SERVICE_SETTINGS``."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings a parent process left in ``TUNEPRINT_SERVICE_SETTINGS``."""
        raw: dict[str, Any] = json.loads(os.environ.get(SETTINGS_VARIABLE) or "{}")
        raw["rulesets"] = tuple(raw.get("rulesets", ()))
        return cls(**raw)


def read_token(settings: Settings) -> bytes | None:
    """The bearer token requests must carry: the token file's first line, else
    ``TUNEPRINT_TOKEN``; None when neither is set (no authentication)."""
    if settings.token_file is not None:
        path = Path(settings.token_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError.one(
                settings.token_file, None, "", f"cannot read the token file: {exc}", "file"
            ) from None
        token = text.strip()
        if not token or any(ch.isspace() for ch in token):
            raise InputError.one(
                settings.token_file,
                None,
                "",
                "the token file must hold one token without spaces",
                "file",
            )
        return token.encode()
    value = os.environ.get(TOKEN_VARIABLE)
    if value is None:
        return None
    if not value.strip():
        raise InputError.one(
            TOKEN_VARIABLE, None, "", "the token is empty: set a token or unset it", "option"
        )
    return value.strip().encode()
