"""The OpenAPI contract: request and response schemas written out, since endpoints parse
their bodies themselves. The disclosure and result schemas are the shipped JSON Schemas
(schemas/), so the contract cannot drift from what the library checks and writes.

``docs/openapi.json`` holds a copy; a test fails when it differs from what is served.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from .. import __version__
from ..core.problems import CODES
from ..load.paths import shipped
from .options import Option
from .problem import KINDS, PROBLEM_MEDIA_TYPE, TYPE_PREFIX
from .routes import (
    DIFF_OPTIONS,
    ESTIMATE_OPTIONS,
    EXPLAIN_OPTIONS,
    PROVENANCE,
    WHAT_IF_OPTIONS,
    WHAT_IF_PROVENANCE,
)

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/"
SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}
TEXT: dict[str, Any] = {"type": "string"}
MAYBE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
MAYBE_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
TEXTS: dict[str, Any] = {"type": "array", "items": TEXT}


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": REF + name}


def obj(
    properties: dict[str, Any], required: tuple[str, ...] | None = None, **more: Any
) -> dict[str, Any]:
    """A closed object schema (every property required unless ``required`` says which)."""
    out: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(properties if required is None else required),
    }
    out.update(more)
    return out


def _shipped_schema(name: str, defs: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A shipped JSON Schema with its $defs moved to components (``defs``: def -> name)."""
    schema = json.loads((shipped("schemas") / f"{name}.schema.json").read_text("utf-8"))
    text = json.dumps(schema)
    for local, component in defs.items():
        text = text.replace(f'"#/$defs/{local}"', f'"{REF}{component}"')
    schema = json.loads(text)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    moved = {defs[k]: v for k, v in schema.pop("$defs", {}).items()}
    return schema, moved


@cache
def components() -> dict[str, Any]:
    """Every schema the operations refer to."""
    disclosure, _ = _shipped_schema("disclosure", {})
    result, result_defs = _shipped_schema(
        "result",
        {"field": "ResultField", "compact_field": "CompactField", "location": "Location"},
    )
    problem = obj(
        {
            "code": {"enum": sorted(CODES)},
            "file": TEXT,
            "line": {"type": ["integer", "null"]},
            "where": TEXT,
            "field": MAYBE_TEXT,
            "rule": MAYBE_TEXT,
            "message": TEXT,
        },
        description="one problem, as the library reports it: the part of the request "
        "(request, request[3]), the line (YAML bodies), what it is about and a stable code",
    )
    unresolved = obj(
        {
            "field": TEXT,
            "disclose": {"type": "array", "items": TEXTS},
            "needs": TEXTS,
        },
        description="an output no rule could resolve: the smallest sets of fields whose "
        "disclosure would resolve it, or the earlier outputs it waits on",
    )
    item_error = obj(
        {
            "name": TEXT,
            "errors": {"type": "array", "items": ref("Problem")},
            "unresolved": {"type": "array", "items": ref("Unresolved")},
            "why": TEXT,
        },
        ("name", "errors"),
        description="a disclosure of a list that could not be estimated",
    )
    record = obj(
        {
            "id": TEXT,
            "version": TEXT,
            "content_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        }
    )
    problem_document = obj(
        {
            "type": {"type": "string", "enum": [TYPE_PREFIX + k for k in KINDS]},
            "title": TEXT,
            "status": {
                "type": "integer",
                "minimum": min(status for status, _ in KINDS.values()),
                "maximum": max(status for status, _ in KINDS.values()),
            },
            "detail": TEXT,
            "request_id": TEXT,
            "problems": {"type": "array", "items": ref("Problem")},
            "ruleset": ref("RulesetRecord"),
            "unresolved": {"type": "array", "items": ref("Unresolved")},
            "why": {"type": "string", "description": "every rule tried, as text"},
            "results": {
                "type": "array",
                "items": {"oneOf": [ref("Result"), ref("ItemError")]},
                "description": "for a list: each disclosure's result or errors, in order",
            },
        },
        ("type", "title", "status", "detail", "problems"),
        description="RFC 9457 problem details, with the library's structured problems",
    )
    field_props = copy.deepcopy(result_defs["ResultField"]["properties"])
    explain_node = {
        "type": "object",
        "additionalProperties": False,
        "required": ["field", "value", "unit", "status"],
        "properties": {
            "field": TEXT,
            **field_props,
            "derived_above": {"const": True},
            "children": {"type": "array", "items": ref("ExplainNode")},
        },
        "description": "a field's record with the fields it was derived from (children); a "
        "field already derived higher up is a short node with derived_above",
    }
    location = ref("Location")
    maybe_location = {"oneOf": [location, {"type": "null"}]}
    source = obj(
        {
            "key": TEXT,
            "text": TEXT,
            "citation": TEXT,
            "url": MAYBE_TEXT,
            "licence": MAYBE_TEXT,
            "vintage": MAYBE_TEXT,
        },
        ("key", "text"),
    )
    field_info = obj(
        {
            "name": TEXT,
            "type": TEXT,
            "unit": TEXT,
            "description": TEXT,
            "minimum": MAYBE_NUMBER,
            "maximum": MAYBE_NUMBER,
            "exclusive_minimum": MAYBE_NUMBER,
            "choices": TEXTS,
            "table": MAYBE_TEXT,
            "digits": {"type": "integer"},
            "group": MAYBE_TEXT,
            "example": {"type": ["string", "number", "boolean", "null"]},
            "aliases": TEXTS,
            "output": {"type": "boolean"},
            "rules": TEXTS,
            "at": maybe_location,
        },
        description="a field a disclosure may hold, in its unit; rules set it when it is "
        "not disclosed",
    )
    ruleset_info = obj(
        {
            **record["properties"],
            "label": TEXT,
            "description": TEXT,
            "default": {"type": "boolean"},
            "released": MAYBE_TEXT,
            "draft": {"type": "boolean"},
            "extends": MAYBE_TEXT,
            "layers": TEXTS,
            "outputs": TEXTS,
            "counts": obj(
                {k: {"type": "integer"} for k in ("fields", "rules", "tables", "rows", "sources")}
            ),
        }
    )
    output_change = obj(
        {
            "field": TEXT,
            "unit": TEXT,
            "old": {"type": ["string", "number", "boolean", "null"]},
            "new": {"type": ["string", "number", "boolean", "null"]},
            "changed": {"type": "boolean"},
            "relative_change": MAYBE_NUMBER,
            "causes": TEXTS,
        }
    )
    moved = obj(
        {
            "field": TEXT,
            "unit": TEXT,
            "old": {"type": ["string", "number", "boolean", "null"]},
            "new": {"type": ["string", "number", "boolean", "null"]},
            "relative_change": MAYBE_NUMBER,
            "reasons": TEXTS,
        }
    )
    disclosure_id = obj({"id": TEXT, "name": TEXT})
    provenance = PROVENANCE.schema()
    what_if_provenance = WHAT_IF_PROVENANCE.schema()
    return {
        "Disclosure": disclosure,
        "Result": result,
        **result_defs,
        "Problem": problem,
        "Unresolved": unresolved,
        "ItemError": item_error,
        "ProblemDocument": problem_document,
        "RulesetRecord": record,
        "EstimateRequest": obj(
            {
                "disclosure": ref("Disclosure"),
                "disclosures": {"type": "array", "items": ref("Disclosure"), "minItems": 1},
                "ruleset": TEXT,
                "provenance": provenance,
            },
            (),
            oneOf=[{"required": ["disclosure"]}, {"required": ["disclosures"]}],
            description="an envelope: the disclosure (or list) with the options in the body",
        ),
        "ExplainRequest": obj(
            {"disclosure": ref("Disclosure"), "ruleset": TEXT, "field": TEXT}, ("disclosure",)
        ),
        "ExplainNode": explain_node,
        "Explanation": obj(
            {
                "ruleset": ref("RulesetRecord"),
                "disclosure": disclosure_id,
                "fields": TEXTS,
                "text": {"type": "string", "description": "what tuneprint explain prints"},
                "tree": obj(
                    {
                        "fields": {"type": "array", "items": ref("ExplainNode")},
                        "sources": {"type": "object", "additionalProperties": TEXT},
                    }
                ),
            }
        ),
        "WhatIfRequest": obj(
            {
                "disclosure": ref("Disclosure"),
                "set": {
                    "type": "object",
                    "additionalProperties": disclosure["properties"]["values"][
                        "additionalProperties"
                    ],
                    "description": "field: value to disclose instead (or in addition)",
                },
                "ruleset": TEXT,
                "provenance": what_if_provenance,
            },
            ("disclosure", "set"),
        ),
        "MovedField": moved,
        "WhatIf": obj(
            {
                "ruleset": ref("RulesetRecord"),
                "disclosure": disclosure_id,
                "set": {"type": "object", "additionalProperties": SCALAR},
                "moved": {"type": "array", "items": ref("MovedField")},
                "before": ref("Result"),
                "after": ref("Result"),
            }
        ),
        "DiffRequest": obj(
            {
                "disclosure": ref("Disclosure"),
                "disclosures": {"type": "array", "items": ref("Disclosure"), "minItems": 1},
                "old": TEXT,
                "new": TEXT,
                "rel_tol": {"type": "number", "minimum": 0},
                "abs_tol": {"type": "number", "minimum": 0},
            },
            (),
            oneOf=[{"required": ["disclosure"]}, {"required": ["disclosures"]}],
        ),
        "OutputChange": output_change,
        "Diff": obj(
            {
                "old": ref("RulesetRecord"),
                "new": ref("RulesetRecord"),
                "results": {
                    "type": "array",
                    "items": obj(
                        {
                            "disclosure": TEXT,
                            "name": TEXT,
                            "outputs": {"type": "array", "items": ref("OutputChange")},
                        }
                    ),
                },
                "largest_relative_change": {
                    "type": ["number", "null"],
                    "description": "null when an output moved from zero",
                },
            }
        ),
        "RulesetInfo": ruleset_info,
        "Rulesets": obj(
            {"default": TEXT, "rulesets": {"type": "array", "items": ref("RulesetInfo")}}
        ),
        "FieldInfo": field_info,
        "Fields": obj(
            {
                "ruleset": ref("RulesetRecord"),
                "fields": {"type": "object", "additionalProperties": ref("FieldInfo")},
            }
        ),
        "Source": source,
        "Rule": obj(
            {
                "ruleset": ref("RulesetRecord"),
                "id": TEXT,
                "sets": TEXT,
                "priority": {"type": "integer"},
                "status": {"enum": ["rule", "table"]},
                "value": TEXT,
                "when": MAYBE_TEXT,
                "reason": TEXT,
                "assumption": {"type": "boolean"},
                "warning": MAYBE_TEXT,
                "warn_when": MAYBE_TEXT,
                "inputs": TEXTS,
                "disclosed_inputs": TEXTS,
                "sources": {"type": "array", "items": ref("Source")},
                "at": location,
            }
        ),
        "Row": obj(
            {
                "ruleset": ref("RulesetRecord"),
                "table": TEXT,
                "key_columns": TEXTS,
                "key": {"type": "array", "items": SCALAR},
                "values": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                },
                "units": {"type": "object", "additionalProperties": TEXT},
                "aliases": TEXTS,
                "note": MAYBE_TEXT,
                "sources": {"type": "array", "items": ref("Source")},
                "at": location,
            }
        ),
        "Health": obj({"status": {"const": "ok"}, "rulesets": {"type": "integer"}}),
        "Version": obj(
            {
                "tuneprint_version": TEXT,
                "api": {"const": "v1"},
                "default_ruleset": TEXT,
                "rulesets": {"type": "array", "items": ref("RulesetRecord")},
            }
        ),
    }


def query(options: tuple[Option, ...]) -> list[dict[str, Any]]:
    """The query parameters of options."""
    return [
        {
            "name": o.name,
            "in": "query",
            "required": False,
            "description": o.description,
            "schema": o.schema(),
        }
        for o in options
    ]


def path(*names: tuple[str, str]) -> list[dict[str, Any]]:
    """Path parameters: (name, description)."""
    return [
        {"name": n, "in": "path", "required": True, "description": d, "schema": TEXT}
        for n, d in names
    ]


def problems(*statuses: int) -> dict[str, Any]:
    """Problem responses for these statuses."""
    out = {}
    for status in statuses:
        kinds = [k for k, (s, _) in KINDS.items() if s == status]
        titles = "; ".join(KINDS[k][1] for k in kinds)
        out[str(status)] = {
            "description": titles,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": ref("ProblemDocument")}},
        }
    return out


def ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """The 200 response."""
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A request body, as JSON or YAML."""
    return {
        "required": True,
        "description": description,
        "content": {
            "application/json": {"schema": schema},
            "application/yaml": {"schema": schema},
        },
    }


SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
POST_PROBLEMS = (400, 401, 408, 413, 415, 422, 503)
GET_PROBLEMS = (401, 404, 422)
INFO_PROBLEMS = (401, 422)
VERSION_PATH = ("version", "Version of a loaded ruleset (GET /v1/rulesets lists them).")


@cache
def operations() -> dict[str, dict[str, Any]]:
    """The OpenAPI of each endpoint (merged into what FastAPI writes)."""
    return {
        "estimate": {
            "parameters": query(ESTIMATE_OPTIONS),
            "requestBody": body(
                {
                    "oneOf": [
                        ref("Disclosure"),
                        {"type": "array", "items": ref("Disclosure"), "minItems": 1},
                        ref("EstimateRequest"),
                    ]
                },
                "A disclosure document (as a disclosure file holds it), a list of them, or an "
                "envelope with the options. YAML bodies (application/yaml) give problems "
                "with lines.",
            ),
            "responses": {
                **ok(
                    {"oneOf": [ref("Result"), {"type": "array", "items": ref("Result")}]},
                    "The result (for a list: the results, in order), as tuneprint estimate "
                    "--format json writes it.",
                ),
                **problems(*POST_PROBLEMS),
            },
        },
        "explain": {
            "parameters": query(EXPLAIN_OPTIONS),
            "requestBody": body(
                {"oneOf": [ref("Disclosure"), ref("ExplainRequest")]},
                "A disclosure document, or an envelope with the options.",
            ),
            "responses": {
                **ok(ref("Explanation"), "The derivation tree, as text and as data."),
                **problems(*POST_PROBLEMS),
            },
        },
        "what_if": {
            "parameters": query(WHAT_IF_OPTIONS),
            "requestBody": body(ref("WhatIfRequest"), "The disclosure and the values to set."),
            "responses": {**ok(ref("WhatIf"), "What moved, and why."), **problems(*POST_PROBLEMS)},
        },
        "diff": {
            "parameters": query(DIFF_OPTIONS),
            "requestBody": body(ref("DiffRequest"), "The disclosures and the two rulesets."),
            "responses": {
                **ok(ref("Diff"), "Each output under both rulesets, with the causes."),
                **problems(*POST_PROBLEMS),
            },
        },
        "rulesets": {
            "responses": {
                **ok(ref("Rulesets"), "The loaded rulesets."),
                **problems(*INFO_PROBLEMS),
            }
        },
        "fields": {
            "parameters": path(VERSION_PATH),
            "responses": {
                **ok(ref("Fields"), "Every field of the ruleset."),
                **problems(*GET_PROBLEMS),
            },
        },
        "rule": {
            "parameters": path(VERSION_PATH, ("rule_id", "A rule id, e.g. pue.provider_region.")),
            "responses": {**ok(ref("Rule"), "The rule."), **problems(*GET_PROBLEMS)},
        },
        "row": {
            "parameters": path(
                VERSION_PATH,
                ("table", "A table name (tuneprint data list)."),
                (
                    "key",
                    "The row's key, matched like a disclosed name (case, spaces and "
                    "punctuation forgiven, aliases followed); the parts of a key of several "
                    "columns separated by '/', e.g. NWPP/2022.",
                ),
            ),
            "responses": {
                **ok(ref("Row"), "The row, with its sources."),
                **problems(*GET_PROBLEMS),
            },
        },
        "healthz": {"security": [], "responses": ok(ref("Health"), "The service is up.")},
        "version": {"responses": {**ok(ref("Version"), "Versions."), **problems(*INFO_PROBLEMS)}},
    }


DESCRIPTION = """Carbon and water estimates of fine-tuning AI models from partial
disclosures, with every number explained by declarative rules. Bodies and results are the
JSON of the tuneprint command line; refused requests get RFC 9457 problem details
(application/problem+json) with the library's structured problems."""


def document(routes: list[tuple[str, str, str, str, Callable[..., Any]]]) -> dict[str, Any]:
    """The OpenAPI document of these routes: (operation, method, path, summary, endpoint);
    each endpoint's docstring is its description."""
    paths: dict[str, dict[str, Any]] = {}
    for name, method, route, summary, endpoint in routes:
        template = re.sub(r"{(\w+):\w+}", r"{\1}", route)  # {key:path} -> {key}
        paths.setdefault(template, {})[method.lower()] = {
            "operationId": name,
            "summary": summary,
            "description": " ".join((endpoint.__doc__ or "").split()),
            **operations()[name],
        }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "tuneprint", "version": __version__, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Required when the service is started with a token "
                    "(TUNEPRINT_TOKEN or --token-file); GET /v1/healthz stays open.",
                }
            },
        },
        "security": SECURITY,
    }
