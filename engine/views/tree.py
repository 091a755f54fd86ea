"""The derivation tree of fields as data: what ``explain`` prints, for programs.

Each node is the field's JSON record (value, unit, status, rule, expression, reason,
sources, table rows, skipped rules) with ``field`` and ``children``: the fields it read
only as disclosed, then its inputs, in the order the text shows them. A field already
derived higher up is a short node with ``derived_above``, as the text says
"derived above", so the tree stays as large as the text.
"""

from __future__ import annotations

from typing import Any

from ..core.provenance import plain
from ..core.resolve import Estimate
from .json import field_record
from .text import MAX_EXPLAIN_DEPTH


def explain_tree(
    est: Estimate, names: list[str], depth_limit: int = MAX_EXPLAIN_DEPTH
) -> dict[str, Any]:
    """The tree of each named field, and the sources cited, in the order first cited."""
    rs = est.ruleset
    shown_once: set[str] = set()
    cited: list[str] = []

    def cite(keys: tuple[str, ...]) -> None:
        for key in keys:
            if key not in cited:
                cited.append(key)

    def node(name: str, indent: int) -> dict[str, Any]:
        r = est.fields[name]
        rule = r.rule
        if rule is not None and name in shown_once:
            return {
                "field": name,
                "value": plain(r.value),
                "unit": r.unit,
                "status": r.status,
                "rule": rule.id,
                "derived_above": True,
            }
        out: dict[str, Any] = {"field": name, **field_record(r)}
        if rule is None:
            return out
        shown_once.add(name)
        cite(rule.sources)
        for use in r.tables:
            cite(use.sources)
        children = [node(dep, indent + 1) for dep in rule.disclosed_inputs if dep in est.fields]
        if indent < depth_limit:
            children += [node(dep, indent + 1) for dep in r.inputs if dep in est.fields]
        out["children"] = children
        return out

    fields = [node(name, 0) for name in names]
    return {
        "fields": fields,
        "sources": {key: rs.sources[key].text() if key in rs.sources else key for key in cited},
    }
