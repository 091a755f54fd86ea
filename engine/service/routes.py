"""The endpoints under /v1: each reads its request, calls the public API and answers with
the JSON the command line prints.

Endpoints take the raw request and parse the body themselves (the library's JSON and YAML
readers, then its disclosure check): the library already checks every value, so a second
validation layer would only cost time and word the same problems differently. Estimates
take microseconds, so they run on the event loop; only long lists go to a thread, so a
big request does not hold up small ones.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from time import monotonic
from typing import Any, cast

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .. import __version__
from ..api import Result, estimate
from ..core.model import Disclosure, Ruleset
from ..core.problems import Problem, TuneprintError
from ..core.provenance import plain
from ..core.resolve import Estimate
from ..core.values import DEFAULT_REL_TOL
from ..load.disclosures import (
    disclosure_from_document,
    read_values,
    unknown_field,
    well_formed,
)
from ..load.schemas import check
from ..versions.diff import DisclosureDiff, ResultDiff, relative_change, result_diff, ruleset_diff
from ..versions.whatif import moved_fields
from ..views.json import COMPACT, PROVENANCE_LEVELS, ruleset_record
from ..views.text import explain_text
from ..views.tree import explain_tree
from .body import BODY, body_format, content_type, parse_body, query_items, read_body
from .catalog import (
    Catalog,
    fields_info,
    find_rule,
    find_table,
    find_table_row,
    row_info,
    rule_info,
)
from .compact import CompactWriter
from .encoding import dumps
from .options import Option, read_options, split_envelope
from .problem import HTTPProblem, error_record, from_error, parameter_problem
from .settings import Settings

INLINE_ITEMS = 16  # lists longer than this are estimated on a thread
JSON_MEDIA_TYPE = "application/json"
JSON_CONTENT_TYPE = JSON_MEDIA_TYPE.encode()

RULESET = Option("ruleset", "Version of a loaded ruleset (default: the service's default).")
PROVENANCE = Option(
    "provenance",
    "full: every field with its rule, inputs, table rows and sources; compact: each field's "
    "value and status:rule id; none: outputs only (and warnings).",
    PROVENANCE_LEVELS,
    default="full",
)
FIELD = Option("field", "The field to explain (default: every output).")
WHAT_IF_PROVENANCE = dataclasses.replace(PROVENANCE, default="none")
OLD = Option("old", "Version of the loaded ruleset to compare from.")
NEW = Option("new", "Version of the loaded ruleset to compare to (default: the default one).")
REL_TOL = Option(
    "rel_tol", "Relative difference taken as equal.", number=True, default=DEFAULT_REL_TOL
)
ABS_TOL = Option("abs_tol", "Absolute difference taken as equal.", number=True, default=0.0)

SET = Option("set", "Fields to disclose instead, or in addition: field: value.")  # body only

ESTIMATE_OPTIONS = (RULESET, PROVENANCE)
EXPLAIN_OPTIONS = (RULESET, FIELD)
WHAT_IF_OPTIONS = (RULESET, WHAT_IF_PROVENANCE)
DIFF_OPTIONS = (OLD, NEW, REL_TOL, ABS_TOL)
NO_OPTIONS: tuple[Option, ...] = ()


class Deadline:
    """The time a request may still take; checked between the disclosures of a list."""

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.end - monotonic())

    def check(self) -> None:
        """503 once the time is up."""
        if monotonic() > self.end:
            raise HTTPProblem(
                "timeout",
                [
                    Problem(
                        BODY,
                        None,
                        "",
                        f"the request took more than {self.seconds:g} s, the service's limit",
                        "limit",
                    )
                ],
                headers={"Retry-After": "1"},
            )


if sys.version_info >= (3, 11):
    import asyncio

    async def within(step: Awaitable[bytes], seconds: float) -> bytes:
        """``step`` if it ends within ``seconds``, else TimeoutError."""
        async with asyncio.timeout(seconds):
            return await step

else:  # pragma: no cover - Python 3.10
    import asyncio

    async def within(step: Coroutine[Any, Any, bytes], seconds: float) -> bytes:
        """``step`` if it ends within ``seconds``, else TimeoutError."""
        return await asyncio.wait_for(step, seconds)


class JSONBytes(Response):
    """A response of JSON bytes, its two headers made directly (Starlette's generic header
    set-up costs as much again)."""

    media_type = JSON_MEDIA_TYPE

    def __init__(self, body: bytes, status: int = HTTPStatus.OK) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", JSON_CONTENT_TYPE),
        ]


def json_response(document: Any, status: int = HTTPStatus.OK) -> Response:
    """A JSON response (orjson)."""
    return JSONBytes(dumps(document), status)


Endpoint = Callable[[Request], Awaitable[Response]]


class Service:
    """The endpoints over one catalog of rulesets and one set of limits; nothing else is
    kept, and nothing changes after start."""

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.compact = {v: CompactWriter(rs) for v, rs in catalog.rulesets.items()}

    # -- reading requests -----------------------------------------------------------------

    async def document(self, request: Request, deadline: Deadline) -> Any:
        """The request body, parsed (JSON, or YAML by its Content-Type)."""
        form = body_format(content_type(request.scope))
        try:
            data = await within(
                read_body(request.scope, request.receive, self.settings.max_body_bytes),
                deadline.remaining(),
            )
        except TimeoutError:
            raise HTTPProblem(
                "body-timeout",
                [
                    Problem(
                        BODY,
                        None,
                        "",
                        f"the body did not arrive within {deadline.seconds:g} s",
                        "limit",
                    )
                ],
                headers={"Connection": "close"},
            ) from None
        return parse_body(data, form)

    def disclosure(self, document: Any, name: str, rs: Ruleset) -> Disclosure:
        """A checked disclosure; 422 with every problem of it."""
        try:
            return disclosure_from_document(document, name, rs)
        except TuneprintError as exc:
            raise from_error(exc, rs) from None

    def list_of(self, payload: Any, what: str) -> list[Any]:
        """A list of disclosures within the limit on its length."""
        if not isinstance(payload, list):
            raise HTTPProblem(
                "invalid-input",
                [Problem(BODY, None, what, "expected a list of disclosures", "schema")],
            )
        if not payload:  # (nothing to estimate: an empty answer would hide it, as the
            # command line's empty batch would)
            raise HTTPProblem(
                "invalid-input",
                [Problem(BODY, None, what, "the list holds no disclosures", "schema")],
            )
        if len(payload) > self.settings.max_items:
            raise HTTPProblem(
                "invalid-input",
                [
                    Problem(
                        BODY,
                        None,
                        what,
                        f"{len(payload)} disclosures; the limit is {self.settings.max_items} "
                        "in one request",
                        "limit",
                    )
                ],
            )
        return payload

    # -- POST /v1/estimate ------------------------------------------------------------------

    async def estimate(self, request: Request) -> Response:
        """One disclosure, or a list of them."""
        deadline = Deadline(self.settings.timeout)
        document = await self.document(request, deadline)
        payload, body_options, key = split_envelope(
            document, ("disclosure", "disclosures"), ESTIMATE_OPTIONS, False
        )
        options = read_options(query_items(request.scope), body_options, ESTIMATE_OPTIONS)
        rs = self.catalog.get(options["ruleset"])
        provenance = options["provenance"]
        if key == "disclosures" or (key is None and isinstance(payload, list)):
            items = self.list_of(payload, key or "")
            if len(items) > INLINE_ITEMS:
                return await run_in_threadpool(self.estimate_list, items, rs, provenance, deadline)
            return self.estimate_list(items, rs, provenance, deadline)
        result = self.result(self.disclosure(payload, BODY, rs), rs)
        if provenance == COMPACT:
            return JSONBytes(self.compact[rs.version].write(result))
        return json_response(result.to_json(provenance))

    def result(self, disclosure: Disclosure, rs: Ruleset, extra: tuple[str, ...] = ()) -> Result:
        """The estimate; 422 when an output cannot be resolved or a rule fails."""
        try:
            return estimate(disclosure, rs, extra=extra, report=True)
        except TuneprintError as exc:
            raise from_error(exc, rs) from None

    def estimate_list(
        self, items: list[Any], rs: Ruleset, provenance: str, deadline: Deadline
    ) -> Response:
        """Each disclosure on its own, in order: 200 with the results when every one was
        estimated, else 422 with every problem and ``results`` holding each result or the
        errors of each disclosure (none is dropped). Compact results are written to JSON
        as they come (bytes are no work for the garbage collector, a result is)."""
        writer = self.compact[rs.version] if provenance == COMPACT else None
        results: list[bytes | dict[str, Any]] = []  # each result, or a disclosure's errors
        problems: list[Problem] = []
        for i, item in enumerate(items):
            deadline.check()
            name = f"{BODY}[{i}]"
            try:
                result = estimate(disclosure_from_document(item, name, rs), rs, report=True)
            except TuneprintError as exc:
                problems.extend(exc.problems)
                results.append(
                    {
                        "name": name,
                        "errors": [p.as_dict() for p in exc.problems],
                        **error_record(exc, rs),
                    }
                )
                continue
            if writer is not None:
                try:
                    results.append(writer.write_orjson(result))
                    continue
                except orjson.JSONEncodeError:  # the standard library writes this list
                    writer, results = None, documents(results)
            results.append(result.to_json(provenance))
        if problems:
            raise HTTPProblem(
                "some-items-failed",
                problems,
                extra={"ruleset": ruleset_record(rs), "results": documents(results)},
            )
        if writer is not None:
            return JSONBytes(b"[" + b",".join(cast(list[bytes], results)) + b"]")
        return json_response(results)

    # -- POST /v1/explain -------------------------------------------------------------------

    async def explain(self, request: Request) -> Response:
        """The derivation tree of a field (default: every output), as text and as data."""
        deadline = Deadline(self.settings.timeout)
        document = await self.document(request, deadline)
        payload, body_options, _ = split_envelope(
            document, ("disclosure",), EXPLAIN_OPTIONS, False
        )
        options = read_options(query_items(request.scope), body_options, EXPLAIN_OPTIONS)
        rs = self.catalog.get(options["ruleset"])
        field = options["field"]
        if field is not None and field not in rs.fields:
            known = unknown_field(BODY, None, field, rs)
            problem = Problem(BODY, None, "field", f"{field!r}: {known.message}", known.code)
            raise HTTPProblem("invalid-parameter", [problem])
        disclosure = self.disclosure(payload, BODY, rs)
        result = self.result(disclosure, rs, () if field is None else (field,))
        names = [field] if field is not None else list(rs.outputs)
        return json_response(
            {
                "ruleset": ruleset_record(rs),
                "disclosure": {"id": disclosure.id, "name": disclosure.name},
                "fields": names,
                "text": explain_text(result, names, portable=True),
                "tree": explain_tree(result, names),
            }
        )

    # -- POST /v1/what-if -------------------------------------------------------------------

    async def what_if(self, request: Request) -> Response:
        """The disclosure re-estimated with values set or added: what moved and why."""
        deadline = Deadline(self.settings.timeout)
        document = await self.document(request, deadline)
        payload, body_options, _ = split_envelope(
            document, ("disclosure",), (*WHAT_IF_OPTIONS, SET), True
        )
        changes = body_options.pop("set", None)
        options = read_options(query_items(request.scope), body_options, WHAT_IF_OPTIONS)
        rs = self.catalog.get(options["ruleset"])
        if not isinstance(changes, dict):
            raise HTTPProblem(
                "invalid-input",
                [
                    Problem(
                        BODY,
                        getattr(document, "key_lines", {}).get("set"),
                        "set",
                        "expected an object of field: value to set",
                        "schema",
                    )
                ],
            )
        disclosure = self.disclosure(payload, BODY, rs)
        probe = {"values": changes}  # (each entry as a disclosed value's: the same schema)
        if not well_formed(probe) and (shape := check("disclosure", probe, BODY)):
            told = [
                dataclasses.replace(p, where="set" + p.where.removeprefix("values")) for p in shape
            ]
            raise HTTPProblem("invalid-input", told)
        values, sources, written, lines, problems = read_values(BODY, changes, rs)
        if problems:
            raise HTTPProblem(
                "invalid-input",
                [
                    Problem(p.file, p.line, f"set.{p.where}", p.message, p.code, p.field)
                    for p in problems
                ],
            )
        changed = dataclasses.replace(
            disclosure,
            name=f"{disclosure.name} (what-if)",
            values={**disclosure.values, **values},
            sources={**disclosure.sources, **sources},
            written={**disclosure.written, **written},
            lines={**disclosure.lines, **lines},
        )
        before, after = self.result(disclosure, rs), self.result(changed, rs)
        provenance = options["provenance"]
        return json_response(
            {
                "ruleset": ruleset_record(rs),
                "disclosure": {"id": disclosure.id, "name": disclosure.name},
                "set": {k: plain(v) for k, v in values.items()},
                "moved": moved_record(rs, before, after),
                "before": before.to_json(provenance),
                "after": after.to_json(provenance),
            }
        )

    # -- POST /v1/diff ----------------------------------------------------------------------

    async def diff(self, request: Request) -> Response:
        """The same disclosures under two loaded rulesets: each output's old and new value
        and the changed rules and rows on its derivation path."""
        deadline = Deadline(self.settings.timeout)
        document = await self.document(request, deadline)
        payload, body_options, key = split_envelope(
            document, ("disclosure", "disclosures"), DIFF_OPTIONS, True
        )
        options = read_options(query_items(request.scope), body_options, DIFF_OPTIONS)
        if options["old"] is None:
            raise parameter_problem("old", "give old: the version to compare from")
        old = self.catalog.get(options["old"], "old")
        new = self.catalog.get(options["new"], "new")
        listed = key == "disclosures"
        items = self.list_of(payload, "disclosures") if listed else [payload]
        report = await run_in_threadpool(self.diff_of, items, listed, old, new, options, deadline)
        out = report.as_dict()
        out["largest_relative_change"] = report.largest
        return json_response(out)

    def diff_of(
        self,
        items: list[Any],
        listed: bool,
        old: Ruleset,
        new: Ruleset,
        options: dict[str, Any],
        deadline: Deadline,
    ) -> ResultDiff:
        """The result diff of each disclosure (each read under each ruleset)."""
        changes = ruleset_diff(old, new)
        results = []
        for i, item in enumerate(items):
            deadline.check()
            name = f"{BODY}[{i}]" if listed else BODY
            a = self.result(self.disclosure(item, name, old), old)
            b = self.result(self.disclosure(item, name, new), new)
            outputs = result_diff(a, b, changes, options["rel_tol"], options["abs_tol"])
            results.append(DisclosureDiff(b.disclosure.id, b.disclosure.name, outputs))
        return ResultDiff(old, new, changes, results)

    # -- GET endpoints ----------------------------------------------------------------------

    async def rulesets(self, request: Request) -> Response:
        """The loaded rulesets with their versions and hashes."""
        read_options(query_items(request.scope), {}, NO_OPTIONS)
        return json_response(self.catalog.records())

    async def fields(self, request: Request) -> Response:
        """What a disclosure may hold: every field with its type, unit and meaning."""
        read_options(query_items(request.scope), {}, NO_OPTIONS)
        rs = self.catalog.in_path(request.path_params["version"])
        return json_response(fields_info(rs))

    async def rule(self, request: Request) -> Response:
        """One rule."""
        read_options(query_items(request.scope), {}, NO_OPTIONS)
        rs = self.catalog.in_path(request.path_params["version"])
        return json_response(rule_info(rs, find_rule(rs, request.path_params["rule_id"])))

    async def row(self, request: Request) -> Response:
        """One table row with its sources."""
        read_options(query_items(request.scope), {}, NO_OPTIONS)
        rs = self.catalog.in_path(request.path_params["version"])
        table = find_table(rs, request.path_params["table"])
        return json_response(
            row_info(rs, table, find_table_row(table, request.path_params["key"]))
        )

    async def healthz(self, request: Request) -> Response:
        """Whether the service is up (open without a token, for load balancers)."""
        return json_response({"status": "ok", "rulesets": len(self.catalog.rulesets)})

    async def version(self, request: Request) -> Response:
        """The tuneprint version and the loaded rulesets."""
        read_options(query_items(request.scope), {}, NO_OPTIONS)
        return json_response(
            {
                "tuneprint_version": __version__,
                "api": "v1",
                "default_ruleset": self.catalog.default,
                "rulesets": [ruleset_record(rs) for rs in self.catalog.rulesets.values()],
            }
        )


def documents(results: list[bytes | dict[str, Any]]) -> list[Any]:
    """The documents of results some of which are written already (orjson reads back
    exactly what it wrote)."""
    return [orjson.loads(r) if isinstance(r, bytes) else r for r in results]


def moved_record(rs: Ruleset, before: Estimate, after: Estimate) -> list[dict[str, Any]]:
    """Each field that moved: old and new value, unit, relative change and why."""
    out = []
    for name, old, new, reasons in moved_fields(before, after, "the request"):
        out.append(
            {
                "field": name,
                "unit": rs.fields[name].unit,
                "old": plain(old),
                "new": plain(new),
                "relative_change": relative_change(old, new),
                "reasons": reasons,
            }
        )
    return out
