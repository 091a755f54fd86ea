"""The JSON views of an estimate: the full result with provenance, and the compact one.

Views never compute: every number shown is a resolved field's value. Locations are
(ruleset version, file inside it, line) and disclosures are named as their caller named
them, so the same estimate gives the same bytes on any machine.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.model import Ruleset
from ..core.provenance import Failure, Resolved, plain
from ..core.resolve import Estimate
from ..core.tables import TableUse
from ..core.text import json_safe

COMPACT, FULL, NONE = "compact", "full", "none"
PROVENANCE_LEVELS = (FULL, COMPACT, NONE)


def _text(text: str) -> str:
    return " ".join(text.split())


def table_use_record(use: TableUse) -> dict[str, Any]:
    """The JSON form of one table value read."""
    out: dict[str, Any] = {
        "table": use.table.name,
        "key": [plain(k) for k in use.key],
        "column": use.column,
        "value": plain(use.value),
        "unit": use.unit,
        "at": use.at.as_dict(),
        "sources": list(use.sources),
    }
    note = use.note
    if note:
        out["note"] = note
    return out


def field_record(r: Resolved) -> dict[str, Any]:
    """The JSON form of one resolved field with its provenance."""
    out: dict[str, Any] = {"value": plain(r.value), "unit": r.unit, "status": r.status}
    if r.status == "input":
        assert r.disclosure is not None
        out["disclosed_at"] = {
            "disclosure": r.disclosure.name,
            "line": r.disclosure.lines.get(r.field),
        }
        if r.disclosed_source:
            out["disclosed_source"] = r.disclosed_source
    rule = r.rule
    if rule is not None:
        out["rule"] = rule.id
        out["rule_at"] = rule.at.as_dict()
        out["expression"] = _text(rule.value.text)
        if rule.when is not None:
            out["when"] = _text(rule.when.text)
        out["reason"] = _text(rule.reason)
        out["assumption"] = rule.assumption
        out["sources"] = list(rule.sources)
        out["inputs"] = {k: plain(v) for k, v in r.inputs.items()}
        if rule.disclosed_inputs:
            out["disclosed_inputs"] = list(rule.disclosed_inputs)
        if r.tables:
            out["table_rows"] = [table_use_record(t) for t in r.tables]
    if r.skipped:
        out["skipped"] = [s.as_dict() for s in r.skipped]
    if r.warning:
        out["warning"] = r.warning
    return out


def ruleset_record(rs: Ruleset) -> dict[str, str]:
    """The ruleset a result was computed with: id, version and content hash."""
    return {"id": rs.id, "version": rs.version, "content_hash": rs.content_hash}


def compact_record(r: Resolved) -> str:
    """A field's provenance in one word: ``input``, or its status and rule id
    (``table:pue.provider_region``)."""
    return "input" if r.rule is None else f"{r.status}:{r.rule.id}"


def cited_sources(est: Estimate) -> list[str]:
    """The source keys every resolved field rests on, sorted."""
    keys: set[str] = set()
    for r in est.fields.values():
        if r.rule is not None:
            keys.update(r.rule.sources)
        for use in r.tables:
            keys.update(use.sources)
    return sorted(k for k in keys if k in est.ruleset.sources)


def result_json(est: Estimate, provenance: str = FULL) -> dict[str, Any]:
    """The result: outputs, every resolved field (with full or compact provenance, or
    none), and for full provenance the sources cited.

    Compact and none read the estimate's facts directly: making the ``Resolved`` view of
    every field costs more than the estimate itself, and only full provenance needs them.
    """
    from .. import __version__

    rs = est.ruleset
    env, specs = est.env, rs.fields
    doc: dict[str, Any] = {
        "tuneprint_version": __version__,
        "ruleset": ruleset_record(rs),
        "rounding": _text(rs.rounding),
        "disclosure": {"id": est.disclosure.id, "name": est.disclosure.name},
        "outputs": {
            name: {"value": plain(env[name]), "unit": specs[name].unit} for name in rs.outputs
        },
    }
    if provenance == FULL:
        doc["fields"] = {name: field_record(r) for name, r in est.fields.items()}
        doc["sources"] = {k: rs.sources[k].text() for k in cited_sources(est)}
        return doc
    facts = [(name, fact) for name, fact in est.memo.items() if not isinstance(fact, Failure)]
    if provenance == COMPACT:
        doc["fields"] = {
            name: {
                "value": plain(env[name]),
                "unit": specs[name].unit,
                "provenance": "input" if rule is None else f"{rule.status}:{rule.id}",
            }
            for name, (rule, _, _, _) in facts
        }
    warnings = {name: warning for name, (_, _, _, warning) in facts if warning}
    if warnings:
        doc["warnings"] = warnings
    return doc


def dumps(document: Any) -> str:
    """Deterministic JSON text: the same result always gives the same bytes."""
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    return json_safe(text) + "\n"  # (printed as it is: no control character in it)


def dumps_line(document: Any) -> str:
    """Deterministic compact JSON on one line (batches: fast, and streamable)."""
    return json_safe(
        json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    )
