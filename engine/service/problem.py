"""Problem details (RFC 9457): every request the service refuses gets one JSON document
saying what kind of problem it is, with the library's structured problems in it.

A problem document has ``type`` (a URI naming the kind), ``title``, ``status``, ``detail``
and ``request_id``, and ``problems``: each with the code, file (the part of the request,
such as ``request`` or ``request[3]``), line, where, field, rule and message the command
line would print. Bad input is always a 4xx; a 5xx would be a defect of tuneprint.
"""

from __future__ import annotations

from typing import Any

from ..api import why_unresolved
from ..core.model import Ruleset
from ..core.problems import Problem, RulesetError, TuneprintError, UnresolvedError
from .encoding import dumps

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tuneprint:problem:"
MAX_DETAIL_PROBLEMS = 1  # problems quoted in ``detail`` (all are in ``problems``)

# kind -> (HTTP status, title); docs/service.md lists them.
KINDS: dict[str, tuple[int, str]] = {
    "unreadable-body": (400, "The request body is not valid JSON or YAML"),
    "unauthorized": (401, "A valid bearer token is required"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "body-timeout": (408, "The request body did not arrive in time"),
    "too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "The request body must be JSON or YAML in UTF-8"),
    "invalid-input": (422, "The request does not hold a valid disclosure"),
    "invalid-parameter": (422, "A parameter of the request is not valid"),
    "unresolved": (422, "An output cannot be resolved from what was disclosed"),
    "rule-error": (422, "A rule failed on the values disclosed"),
    "some-items-failed": (422, "Some disclosures of the list could not be estimated"),
    "timeout": (503, "The request took longer than the service's time limit"),
    "internal": (500, "Internal error of tuneprint"),
}


class HTTPProblem(Exception):
    """A request the service refuses: its kind, what happened, the structured problems and
    any further members of the document."""

    def __init__(
        self,
        kind: str,
        problems: list[Problem] | None = None,
        detail: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown problem kind {kind!r}")
        self.kind = kind
        self.problems = list(problems or [])
        self.detail = detail if detail is not None else detail_of(self.problems, kind)
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__(self.detail)

    @property
    def status(self) -> int:
        """The HTTP status."""
        return KINDS[self.kind][0]

    def document(self, request_id: str | None) -> dict[str, Any]:
        """The problem document."""
        status, title = KINDS[self.kind]
        doc: dict[str, Any] = {
            "type": TYPE_PREFIX + self.kind,
            "title": title,
            "status": status,
            "detail": self.detail,
        }
        if request_id is not None:
            doc["request_id"] = request_id
        doc["problems"] = [p.as_dict() for p in self.problems]
        doc.update(self.extra)
        return doc

    def body(self, request_id: str | None) -> bytes:
        """The problem document as JSON bytes."""
        return dumps(self.document(request_id))


def detail_of(problems: list[Problem], kind: str) -> str:
    """The one-line detail: the first problem as the command line prints it, and how many
    more there are."""
    if not problems:
        return KINDS[kind][1]
    text = "; ".join(str(p) for p in problems[:MAX_DETAIL_PROBLEMS])
    more = len(problems) - MAX_DETAIL_PROBLEMS
    return text + (f" (and {more} more)" if more > 0 else "")


def parameter_problem(name: str, message: str, code: str = "option") -> HTTPProblem:
    """A parameter (query, path or body option) that is not valid."""
    return HTTPProblem("invalid-parameter", [Problem("request", None, name, message, code)])


def unresolved_record(error: UnresolvedError) -> list[dict[str, Any]]:
    """Per output that cannot be resolved: the smallest sets of fields whose disclosure
    would resolve it (``disclose``), or the earlier outputs it waits on (``needs``)."""
    return [
        {
            "field": u.field,
            "disclose": [list(option) for option in u.options],
            "needs": list(u.blocked_by),
        }
        for u in error.failures
    ]


def error_record(error: TuneprintError, ruleset: Ruleset) -> dict[str, Any]:
    """The members a library error adds to a problem document (or a list item)."""
    out: dict[str, Any] = {}
    if isinstance(error, UnresolvedError):
        out["unresolved"] = unresolved_record(error)
        out["why"] = why_unresolved(error, ruleset)
    return out


def from_error(error: TuneprintError, ruleset: Ruleset) -> HTTPProblem:
    """The problem of a library error raised while checking or estimating a disclosure."""
    if isinstance(error, UnresolvedError):
        kind = "unresolved"
    elif isinstance(error, RulesetError):
        kind = "rule-error"
    else:
        kind = "invalid-input"
    return HTTPProblem(kind, error.problems, extra=error_record(error, ruleset))
