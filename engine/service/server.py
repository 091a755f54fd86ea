"""Running the service: settings checked and rulesets loaded before the port opens, then
uvicorn (uvloop and httptools when installed), with graceful shutdown on SIGTERM."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import signal
from typing import Any

from ..core.problems import InputError
from .app import create_app, freeze
from .catalog import Catalog
from .logs import SERVICE_LOGGER, log_config
from .settings import SETTINGS_VARIABLE, Settings, read_token

FACTORY = "tuneprint.service.app:app_from_environment"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document the service serves (it does not depend on the settings)."""
    settings = Settings()
    return create_app(Catalog.load(()), settings).openapi()


def openapi_text() -> str:
    """The OpenAPI document as committed in docs/openapi.json."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def serve(settings: Settings) -> None:
    """Check the settings, load the rulesets and serve until SIGTERM or SIGINT; requests in
    flight then get ``settings.grace`` seconds to finish. Raises InputError or
    RulesetError (before listening) for bad settings, tokens or rulesets."""
    import uvicorn

    problems = settings.problems()
    if problems:
        raise InputError(problems)
    token = read_token(settings)
    catalog = Catalog.load(settings.rulesets, settings.default)
    config = log_config()
    logging.config.dictConfig(config)
    logging.getLogger(SERVICE_LOGGER).info(
        "starting",
        extra={
            "fields": {
                "host": settings.host,
                "port": settings.port,
                "workers": settings.workers,
                "rulesets": list(catalog.rulesets),
                "default_ruleset": catalog.default,
                "authentication": token is not None,
                "max_body_bytes": settings.max_body_bytes,
                "max_items": settings.max_items,
                "timeout": settings.timeout,
            }
        },
    )
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": config,
        "access_log": False,  # the service writes its own line per request
        "server_header": False,
        "timeout_graceful_shutdown": settings.grace,
        "lifespan": "off",
    }
    # uvicorn stops gracefully on SIGTERM, then raises the signal again for the handler it
    # found: this one, so that a requested stop ends the command with exit code 0.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        if settings.workers == 1:
            app = create_app(catalog, settings, token)
            freeze()
            uvicorn.run(app, **common)
        else:
            # Workers start afresh: each loads the rulesets (from the cache) itself.
            os.environ[SETTINGS_VARIABLE] = settings.to_environment()
            del catalog
            uvicorn.run(FACTORY, factory=True, workers=settings.workers, **common)
    finally:
        signal.signal(signal.SIGTERM, previous)
    logging.getLogger(SERVICE_LOGGER).info("stopped")


def _stopped(signum: int, frame: Any) -> None:
    """SIGTERM after uvicorn's graceful shutdown: nothing more to do."""
