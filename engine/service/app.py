"""The application: the routes, the problem documents of refused requests, the bearer
token check, request ids and one log line per request; FastAPI routes what the gate does
not call itself."""

from __future__ import annotations

import gc
import hmac
import inspect
import logging
import os
import re
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from .. import __version__
from ..core.problems import Problem
from .body import BODY
from .catalog import Catalog
from .logs import SERVICE_LOGGER, AccessLog
from .openapi import document
from .problem import PROBLEM_MEDIA_TYPE, HTTPProblem
from .routes import Endpoint, Service
from .settings import Settings, read_token

OPEN_PATHS = frozenset({"/v1/healthz", "/openapi.json"})  # answered without a token
REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")  # a request id a client may choose
REQUEST_ID_BYTES = 8  # random bytes of a request id the service makes
MS = 1000.0  # milliseconds in a second

# (operation, method, path, summary); the endpoint is the Service method of that name
ROUTES = (
    ("estimate", "POST", "/v1/estimate", "Estimate one disclosure or a list"),
    ("explain", "POST", "/v1/explain", "The derivation tree of a field"),
    ("what_if", "POST", "/v1/what-if", "Re-estimate with values set: what moved and why"),
    ("diff", "POST", "/v1/diff", "The same disclosures under two rulesets"),
    ("rulesets", "GET", "/v1/rulesets", "The loaded rulesets: versions and hashes"),
    ("fields", "GET", "/v1/rulesets/{version}/fields", "What a disclosure may hold"),
    ("rule", "GET", "/v1/rulesets/{version}/rules/{rule_id}", "One rule"),
    ("row", "GET", "/v1/rulesets/{version}/tables/{table}/{key:path}", "One table row"),
    ("healthz", "GET", "/v1/healthz", "Liveness (open without a token)"),
    ("version", "GET", "/v1/version", "The tuneprint version and the loaded rulesets"),
)

log = logging.getLogger(SERVICE_LOGGER)


def request_id_of(request: Request) -> str | None:
    """The id the gate gave this request."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def problem_response(problem: HTTPProblem, request_id: str | None) -> Response:
    """The problem document as a response."""
    return Response(
        problem.body(request_id),
        problem.status,
        headers=problem.headers or None,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def on_problem(request: Request, exc: Exception) -> Response:
    """A refused request."""
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc, request_id_of(request))


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (no such path, a method the path does not take) as problems."""
    assert isinstance(exc, StarletteHTTPException)
    allowed = exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    kind = "method-not-allowed" if allowed else "not-found"
    path = request.url.path
    message = (
        f"no endpoint {path} (see /openapi.json)"
        if kind == "not-found"
        else f"{request.method} is not allowed on {path}"
    )
    headers = dict(exc.headers or {})
    problem = HTTPProblem(kind, [Problem(BODY, None, path, message, "reference")], headers=headers)
    return problem_response(problem, request_id_of(request))


async def on_internal(request: Request, exc: Exception) -> Response:
    """An unexpected error on a path FastAPI routes: its problem document (the gate logs
    the error when it comes back up)."""
    return problem_response(internal_problem(), request_id_of(request))


def internal_problem() -> HTTPProblem:
    """The problem of an unexpected error: a defect of tuneprint, never of the request."""
    return HTTPProblem(
        "internal", detail="an internal error of tuneprint; please report it with the request id"
    )


def fastapi_options() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry instrumentation off (releases that have it turn it on by
    default; with no exporter it still cost about 30 us per request, measured): the
    service's line per request is its telemetry."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {
        "telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    }


def create_app(catalog: Catalog, settings: Settings, token: bytes | None = None) -> Gate:
    """The application over a catalog of loaded rulesets: the gate, in front of everything.

    The endpoints take the raw request: they declare nothing for FastAPI's dependency
    solving to do, which still cost about 50 us per request (measured), a tenth of a whole
    estimate request. The gate calls the endpoints of fixed paths itself; FastAPI's router
    (and its middleware) is left the paths with parameters, /openapi.json and the paths and
    methods that are not served, where it cost about 15 us per request (measured). The
    OpenAPI document is written from the same table of routes (see openapi.py)."""
    service = Service(catalog, settings)
    app = FastAPI(
        title="tuneprint",
        version=__version__,
        docs_url=None,  # the interactive pages load scripts from a CDN: not served
        redoc_url=None,
        openapi_url="/openapi.json",
        **fastapi_options(),
    )
    for name, method, path, _ in ROUTES:
        app.add_route(path, getattr(service, name), methods=[method], include_in_schema=False)
    app.add_exception_handler(HTTPProblem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_internal)
    contract = document(
        [
            (name, method, path, summary, getattr(service, name))
            for name, method, path, summary in ROUTES
        ]
    )
    app.openapi = lambda: contract  # type: ignore[method-assign]
    direct = {
        (method, path): getattr(service, name)
        for name, method, path, _ in ROUTES
        if "{" not in path
    }
    return Gate(app, token, AccessLog() if settings.access_log else None, direct)


def app_from_environment() -> Gate:
    """The application of a worker process: the settings its parent left in the
    environment, the rulesets loaded once, then frozen out of the garbage collector's
    sight (they live as long as the process, and a full collection would walk them)."""
    settings = Settings.from_environment()
    catalog = Catalog.load(settings.rulesets, settings.default)
    app = create_app(catalog, settings, read_token(settings))
    freeze()
    log.info(
        "worker ready",
        extra={"fields": {"pid": os.getpid(), "rulesets": list(catalog.rulesets)}},
    )
    return app


def freeze() -> None:
    """Move everything alive now (the rulesets above all) out of the collector's reach."""
    gc.collect()
    gc.freeze()


class Gate:
    """The ASGI application the server runs, pure ASGI: around every request a request id
    (the client's ``X-Request-ID`` when well formed), the bearer token check (constant
    time), a last problem document for an unexpected error, and one JSON log line. The
    endpoints of ``direct`` ((method, path) -> endpoint) are called here; every other
    request goes to ``app``, the FastAPI application."""

    def __init__(
        self,
        app: FastAPI,
        token: bytes | None,
        access: AccessLog | None,
        direct: Mapping[tuple[str, str], Endpoint] | None = None,
    ):
        self.app = app
        self.token = token
        self.access = access
        self.direct = dict(direct or {})

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document served at /openapi.json."""
        return self.app.openapi()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given_id = authorization = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given_id = value
            elif name == b"authorization":
                authorization = value
        rid = (
            given_id
            if given_id is not None and REQUEST_ID.fullmatch(given_id)
            else os.urandom(REQUEST_ID_BYTES).hex().encode()
        )
        request_id = rid.decode()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid)]
            await send(message)

        try:
            if (
                self.token is not None
                and scope["path"] not in OPEN_PATHS
                and not self.authorized(authorization)
            ):
                await self.refuse(tagged, request_id)
                return
            endpoint = (
                None
                if scope.get("root_path")
                else self.direct.get((scope["method"], scope["path"]))
            )
            if endpoint is None:
                await self.app(scope, receive, tagged)
            else:
                await self.call(endpoint, scope, receive, tagged, request_id)
        except Exception:
            log.exception(
                "internal error",
                extra={"fields": {"request_id": request_id, "path": scope["path"]}},
            )
            if status == 0:
                await self.send(tagged, internal_problem(), request_id)
        finally:
            if self.access is not None:
                self.access.write(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * MS, 3),
                        "request_id": request_id,
                    }
                )

    @staticmethod
    async def call(
        endpoint: Endpoint, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        """An endpoint as Starlette's router would call it: a refused request gets its
        problem document."""
        try:
            response = await endpoint(Request(scope, receive, send))
        except HTTPProblem as exc:
            response = problem_response(exc, request_id)
        await response(scope, receive, send)

    def authorized(self, header: bytes | None) -> bool:
        """Whether the Authorization header carries the token."""
        assert self.token is not None
        if header is None:
            return False
        scheme, _, credentials = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)

    async def refuse(self, send: Send, request_id: str) -> None:
        """401 with the scheme to use."""
        problem = HTTPProblem(
            "unauthorized",
            [
                Problem(
                    BODY,
                    None,
                    "Authorization",
                    "send the header Authorization: Bearer <token>",
                    "option",
                )
            ],
            headers={"WWW-Authenticate": 'Bearer realm="tuneprint"'},
        )
        await self.send(send, problem, request_id)

    async def send(self, send: Send, problem: HTTPProblem, request_id: str) -> None:
        """Send a problem document without the application."""
        body = problem.body(request_id)
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in problem.headers.items()),
        ]
        await send({"type": "http.response.start", "status": problem.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
