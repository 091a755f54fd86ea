"""Views over an estimate: JSON with full provenance, a readable table, the derivation tree.

Views never compute: every number shown is a resolved field's value.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from . import __version__
from .model import Ruleset
from .resolve import Estimate, Resolved


def plain(value: Any) -> Any:
    """A value as JSON holds it (date-times as ISO 8601 text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def shown(value: Any, digits: int = 4, unit: str = "") -> str:
    """A value for people: numbers to the field's significant digits, with thousands
    separators; the unit after it."""
    if isinstance(value, datetime):
        text = (
            value.isoformat(timespec="minutes")
            if value.time() != datetime.min.time()
            else value.date().isoformat()
        )
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, int):
        text = str(value) if unit == "year" else f"{value:,}"
    elif isinstance(value, float):
        text = _significant(value, digits)
    else:
        text = str(value)
    return f"{text} {unit}" if unit not in ("", "-", "1", "year") else text


def _significant(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e15 or abs(value) < 1e-4:
        return f"{value:.{digits - 1}e}"
    text = f"{value:,.{digits}g}" if abs(value) < 10**digits else f"{round(value):,}"
    if "e" in text:
        text = f"{float(text.replace(',', '')):,.0f}"
    return text


def field_record(ruleset: Ruleset, r: Resolved) -> dict[str, Any]:
    """The JSON form of one resolved field with its provenance."""
    out: dict[str, Any] = {"value": plain(r.value), "unit": r.unit, "status": r.status}
    if r.status == "input":
        out["disclosed_at"] = r.disclosed_at
        if r.disclosed_source:
            out["disclosed_source"] = r.disclosed_source
    if r.rule is not None:
        out["rule"] = r.rule.id
        out["rule_at"] = f"{r.rule.file}:{r.rule.line}"
        out["expression"] = " ".join(r.rule.value.text.split())
        if r.rule.when is not None:
            out["when"] = " ".join(r.rule.when.text.split())
        out["reason"] = " ".join(r.rule.reason.split())
        out["assumption"] = r.rule.assumption
        out["sources"] = list(r.rule.sources)
        out["inputs"] = {k: plain(v) for k, v in r.inputs.items()}
        if r.disclosed_inputs:
            out["disclosed_inputs"] = list(r.disclosed_inputs)
        if r.tables:
            out["table_rows"] = [t.as_dict() for t in r.tables]
    if r.skipped:
        out["skipped"] = [{"rule": s.rule, "reason": s.reason} for s in r.skipped]
    if r.warning:
        out["warning"] = r.warning
    return out


def result_json(est: Estimate) -> dict[str, Any]:
    """The full result: outputs, every resolved field with provenance, cited sources."""
    rs = est.ruleset
    fields = {name: field_record(rs, r) for name, r in est.fields.items()}
    keys: set[str] = set()
    for r in est.fields.values():
        if r.rule is not None:
            keys.update(r.rule.sources)
        for use in r.tables:
            keys.update(use.sources)
    return {
        "tuneprint_version": __version__,
        "ruleset": {"id": rs.id, "version": rs.version, "content_hash": rs.content_hash},
        "rounding": " ".join(rs.rounding.split()),
        "disclosure": {"id": est.disclosure.id, "file": est.disclosure.name},
        "outputs": {
            name: {"value": plain(est.fields[name].value), "unit": est.fields[name].unit}
            for name in rs.outputs
        },
        "fields": fields,
        "sources": {k: rs.sources[k].text() for k in sorted(keys) if k in rs.sources},
    }


def dumps(document: Any) -> str:
    """Deterministic JSON text: the same result always gives the same bytes."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def dumps_line(document: Any) -> str:
    """Deterministic compact JSON on one line (batches: fast, and streamable)."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _origin(r: Resolved) -> str:
    if r.status == "input":
        return "disclosed"
    assert r.rule is not None
    mark = " (assumption)" if r.rule.assumption else ""
    if r.warning:
        mark += " (warning)"
    return f"{r.rule.id}{mark}"


def table_text(est: Estimate) -> str:
    """A readable summary: outputs first, then the reported intermediate values."""
    rs = est.ruleset
    lines = [f"{est.disclosure.id}  ({est.disclosure.name}; ruleset {rs.label})"]
    rows: list[tuple[str, str, str]] = []
    for name in (*rs.outputs, *rs.report):
        r = est.fields.get(name)
        if r is None:
            continue
        spec = rs.fields[name]
        rows.append((name, shown(r.value, spec.digits, r.unit), _origin(r)))
        if name == rs.outputs[-1]:
            rows.append(("", "", ""))
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, value, origin in rows:
        if not name:
            lines.append("  " + "-" * (width[0] + width[1] + 4))
            continue
        lines.append(f"  {name:<{width[0]}}  {value:>{width[1]}}  {origin}")
    return "\n".join(lines)


def explain_text(est: Estimate, names: list[str], depth_limit: int = 40) -> str:
    """The derivation tree of each named field, down to disclosed values and table rows;
    the sources cited are listed once at the end."""
    rs = est.ruleset
    out: list[str] = []
    shown_once: set[str] = set()
    cited: list[str] = []

    def cite(keys: tuple[str, ...]) -> str:
        for key in keys:
            if key not in cited:
                cited.append(key)
        return ", ".join(f"[{k}]" for k in keys)

    def walk(name: str, indent: int, via: str) -> None:
        r = est.fields[name]
        spec = rs.fields[name]
        pad = "  " * indent
        head = f"{pad}{via}{name} = {shown(r.value, spec.digits, r.unit)}"
        if r.status == "input":
            src = f"; source: {r.disclosed_source}" if r.disclosed_source else ""
            out.append(f"{head}   [input: {r.disclosed_at}{src}]")
            return
        assert r.rule is not None
        if name in shown_once:
            out.append(f"{head}   [{r.status}: {r.rule.id}, derived above]")
            return
        shown_once.add(name)
        flag = ", ASSUMPTION" if r.rule.assumption else ""
        out.append(f"{head}   [{r.status}: {r.rule.id}{flag}]")
        out.append(f"{pad}    = {' '.join(r.rule.value.text.split())}")
        if r.rule.when is not None:
            out.append(f"{pad}    when {' '.join(r.rule.when.text.split())}")
        out.append(f"{pad}    why: {' '.join(r.rule.reason.split())}")
        if r.warning:
            out.append(f"{pad}    WARNING: {r.warning}")
        out.append(
            f"{pad}    source: {cite(r.rule.sources)}   rule at {r.rule.file}:{r.rule.line}"
        )
        for skip in r.skipped:
            out.append(f"{pad}    skipped {skip.rule}: {skip.reason}")
        for use in r.tables:
            note = f"; {use.note}" if use.note else ""
            key = "/".join(str(k) for k in use.key)
            file = use.file
            out.append(
                f"{pad}    row {use.table}[{key}].{use.column} = "
                f"{shown(use.value, 6, use.unit)}   {cite(use.sources)} {file}:{use.line}{note}"
            )
        for dep in r.disclosed_inputs:
            walk(dep, indent + 1, "disclosed ")
        if indent < depth_limit:
            for dep in r.inputs:
                walk(dep, indent + 1, "")

    for name in names:
        walk(name, 0, "")
        out.append("")
    if cited:
        out.append("sources:")
        for key in cited:
            source = rs.sources.get(key)
            out.append(f"  [{key}] {source.text() if source else key}")
    return "\n".join(out).rstrip() + "\n"
