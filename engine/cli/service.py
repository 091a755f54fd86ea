"""``tuneprint serve``: the estimation service over HTTP (the ``service`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..service.settings import (  # the standard library only: no optional dependency
    DEFAULT_HOST,
    DEFAULT_PORT,
    GRACE_SECONDS,
    MAX_BODY_BYTES,
    MAX_ITEMS,
    TIMEOUT_SECONDS,
    TOKEN_VARIABLE,
)
from .commands import EXIT_USER_ERROR, err


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the command line."""

    @app.command("serve")
    def serve_cmd(
        host: Annotated[
            str, typer.Option(help="Address to listen on (loopback unless told otherwise).")
        ] = DEFAULT_HOST,
        port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
        rules: Annotated[
            list[str] | None,
            typer.Option(
                "--rules",
                help="A ruleset folder or shipped version to serve besides the newest "
                "released one (repeatable).",
            ),
        ] = None,
        default: Annotated[
            str | None,
            typer.Option(help="Version used when a request names none (default: newest)."),
        ] = None,
        workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
        token_file: Annotated[
            Path | None,
            typer.Option(
                help=f"File holding the bearer token requests must carry (else "
                f"{TOKEN_VARIABLE}; neither: no authentication)."
            ),
        ] = None,
        max_body_bytes: Annotated[
            int, typer.Option(help="Largest request body, in bytes.")
        ] = MAX_BODY_BYTES,
        max_items: Annotated[
            int, typer.Option(help="Most disclosures in one request.")
        ] = MAX_ITEMS,
        timeout: Annotated[
            float, typer.Option(help="Seconds one request may take.")
        ] = TIMEOUT_SECONDS,
        grace: Annotated[
            int, typer.Option(help="Seconds requests in flight get to finish on SIGTERM.")
        ] = GRACE_SECONDS,
        access_log: Annotated[
            bool, typer.Option(help="One JSON line per request on standard error.")
        ] = True,
        print_openapi: Annotated[
            bool, typer.Option(help="Print the OpenAPI document and exit.")
        ] = False,
    ) -> None:
        """Serve estimates over HTTP (FastAPI under uvicorn; endpoints under /v1, the
        contract at /openapi.json). Stops gracefully on SIGTERM."""
        try:
            from ..service.server import openapi_text, serve
            from ..service.settings import Settings
        except ImportError as exc:
            err(
                f"error: the service needs its extra (missing {exc.name}): "
                "pip install 'tuneprint[service]'"
            )
            raise typer.Exit(EXIT_USER_ERROR) from None
        if print_openapi:
            typer.echo(openapi_text(), nl=False)
            return
        from .rulesets import warn_if_drafts

        warn_if_drafts(list(rules or ()))
        serve(
            Settings(
                host=host,
                port=port,
                rulesets=tuple(rules or ()),
                default=default,
                workers=workers,
                token_file=None if token_file is None else str(token_file),
                max_body_bytes=max_body_bytes,
                max_items=max_items,
                timeout=timeout,
                grace=grace,
                access_log=access_log,
            )
        )
