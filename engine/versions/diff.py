"""Comparing rulesets, and results under two rulesets: what changed, and why.

A rule diff sorts changes into logic (what a rule computes: value, condition, priority,
field; a field's type, unit or bounds), data (table rows, and rules whose value is a bare
constant) and wording (reasons, sources, descriptions, citations). A result diff estimates
the same disclosures under both rulesets and, for each output that moved, names the
changed rules and table rows on its derivation path.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.model import Rule, Ruleset
from ..core.problems import InputError, Problem
from ..core.resolve import Estimate

LOGIC, DATA, WORDING = "logic", "data", "wording"


@dataclass(frozen=True)
class Change:
    """One difference between two rulesets."""

    category: str  # logic, data or wording
    kind: str  # added, removed or changed
    subject: str  # "rule <id>", "row <table>[<key>]", "field <name>", "source <key>"
    details: tuple[tuple[str, Any, Any], ...] = ()  # (attribute, old, new)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "category": self.category,
            "kind": self.kind,
            "subject": self.subject,
            "details": [
                {"attribute": a, "old": _json(o), "new": _json(n)} for a, o, n in self.details
            ],
        }


def _json(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _text(expr: Any) -> str | None:
    return None if expr is None else " ".join(expr.text.split())


def _is_constant(rule: Rule) -> bool:
    node = ast.parse(rule.value.text.strip(), mode="eval").body
    return isinstance(node, ast.Constant) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant)
    )


def _rules(rs: Ruleset) -> dict[str, Rule]:
    return {r.id: r for rules in rs.rules.values() for r in rules}


def row_subject(table: str, key: tuple[Any, ...]) -> str:
    """How a table row is named in diffs and causes."""
    return f"row {table}[{'/'.join(str(k) for k in key)}]"


def ruleset_diff(a: Ruleset, b: Ruleset) -> list[Change]:
    """Every difference from ruleset ``a`` to ruleset ``b``, logic first."""
    changes: list[Change] = []
    ra, rb = _rules(a), _rules(b)
    for rid in sorted(set(ra) | set(rb)):
        old, new = ra.get(rid), rb.get(rid)
        if old is None or new is None:
            rule = new or old
            assert rule is not None
            kind = "added" if old is None else "removed"
            category = DATA if _is_constant(rule) else LOGIC
            changes.append(
                Change(
                    category,
                    kind,
                    f"rule {rid}",
                    (
                        (
                            "value",
                            _text(old.value) if old else None,
                            _text(new.value) if new else None,
                        ),
                    ),
                )
            )
            continue
        logic = [
            (attr, o, n)
            for attr, o, n in (
                ("sets", old.sets, new.sets),
                ("priority", old.priority, new.priority),
                ("when", _text(old.when), _text(new.when)),
                ("value", _text(old.value), _text(new.value)),
            )
            if o != n
        ]
        wording = [
            (attr, o, n)
            for attr, o, n in (
                ("reason", " ".join(old.reason.split()), " ".join(new.reason.split())),
                ("source", ", ".join(old.sources), ", ".join(new.sources)),
                ("assumption", old.assumption, new.assumption),
                ("warning", old.warning, new.warning),
                ("warn_when", _text(old.warn_when), _text(new.warn_when)),
            )
            if o != n
        ]
        if logic:
            only_value = [d[0] for d in logic] == ["value"]
            category = DATA if only_value and _is_constant(old) and _is_constant(new) else LOGIC
            changes.append(Change(category, "changed", f"rule {rid}", tuple(logic)))
        if wording:
            changes.append(Change(WORDING, "changed", f"rule {rid}", tuple(wording)))
    for name in sorted(set(a.fields) | set(b.fields)):
        fa, fb = a.fields.get(name), b.fields.get(name)
        if fa is None or fb is None:
            changes.append(Change(LOGIC, "added" if fa is None else "removed", f"field {name}"))
            continue
        logic = [
            (attr, getattr(fa, attr), getattr(fb, attr))
            for attr in (
                "type",
                "unit",
                "minimum",
                "maximum",
                "exclusive_minimum",
                "choices",
                "table",
            )
            if getattr(fa, attr) != getattr(fb, attr)
        ]
        if logic:
            changes.append(Change(LOGIC, "changed", f"field {name}", tuple(logic)))
        words = [
            (attr, getattr(fa, attr), getattr(fb, attr))
            for attr in ("description", "group", "example", "aliases", "digits")
            if getattr(fa, attr) != getattr(fb, attr)
        ]
        if words:
            changes.append(Change(WORDING, "changed", f"field {name}", tuple(words)))
    for name in sorted(set(a.tables) | set(b.tables)):
        ta, tb = a.tables.get(name), b.tables.get(name)
        rows_a = dict(ta.index) if ta else {}
        rows_b = dict(tb.index) if tb else {}
        key_columns = set(tb.key if tb else ta.key if ta else ())
        for row_key in sorted(set(rows_a) | set(rows_b), key=str):
            old_row, new_row = rows_a.get(row_key), rows_b.get(row_key)
            if old_row is None or new_row is None:
                row = new_row or old_row
                assert row is not None
                cells = tuple(
                    (c, None if old_row is None else v, v if old_row is None else None)
                    for c, v in row.values.items()
                    if c not in key_columns
                )
                changes.append(
                    Change(
                        DATA,
                        "added" if old_row is None else "removed",
                        row_subject(name, row.key),
                        cells,
                    )
                )
                continue
            cells = tuple(
                (c, old_row.values.get(c), new_row.values.get(c))
                for c in sorted(set(old_row.values) | set(new_row.values))
                if old_row.values.get(c) != new_row.values.get(c)
            )
            if cells:
                changes.append(Change(DATA, "changed", row_subject(name, new_row.key), cells))
            row_words = tuple(
                (attr, o, n)
                for attr, o, n in (
                    ("source", ", ".join(old_row.sources), ", ".join(new_row.sources)),
                    ("note", old_row.note, new_row.note),
                    ("aliases", ", ".join(old_row.aliases), ", ".join(new_row.aliases)),
                )
                if o != n
            )
            if row_words:
                changes.append(
                    Change(WORDING, "changed", row_subject(name, new_row.key), row_words)
                )
    for key in sorted(set(a.sources) | set(b.sources)):
        sa, sb = a.sources.get(key), b.sources.get(key)
        if sa is None or sb is None or sa.text() != sb.text():
            kind = "added" if sa is None else "removed" if sb is None else "changed"
            changes.append(
                Change(
                    WORDING,
                    kind,
                    f"source {key}",
                    (("citation", sa.text() if sa else None, sb.text() if sb else None),),
                )
            )
    order = {LOGIC: 0, DATA: 1, WORDING: 2}
    return sorted(changes, key=lambda c: order[c.category])


def derivation(est: Estimate, name: str, moved: Callable[[str], bool]) -> set[str]:
    """Subjects (rules tried, table rows read) on the derivation path of a field, following
    only inputs that moved: a rule or row under a value that did not move caused nothing."""
    found: set[str] = set()
    stack = [name]
    seen: set[str] = set()
    while stack:
        current = stack.pop()
        if current in seen or current not in est.fields:
            continue
        seen.add(current)
        r = est.fields[current]
        found.update(f"rule {s.rule}" for s in r.skipped)
        if r.rule is not None:
            found.add(f"rule {r.rule.id}")
        found.update(row_subject(use.table.name, use.key) for use in r.tables)
        stack.extend(f for f in (*r.inputs, *r.disclosed_inputs) if moved(f))
    return found


def _moved(a: Estimate, b: Estimate, name: str, rel_tol: float, abs_tol: float) -> bool:
    ra, rb = a.fields.get(name), b.fields.get(name)
    if ra is None or rb is None:
        return ra is not rb
    if isinstance(ra.value, (int, float)) and isinstance(rb.value, (int, float)):
        return not math.isclose(ra.value, rb.value, rel_tol=rel_tol, abs_tol=abs_tol)
    return bool(ra.value != rb.value)


@dataclass
class OutputChange:
    """One output of one disclosure under two rulesets."""

    field: str
    unit: str
    old: Any
    new: Any
    changed: bool
    relative: float | None
    causes: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "field": self.field,
            "unit": self.unit,
            "old": self.old,
            "new": self.new,
            "changed": self.changed,
            "relative_change": self.relative,
            "causes": self.causes,
        }


def relative_change(old: Any, new: Any) -> float | None:
    """(new - old) / |old|; None when it is not defined (text, or old is zero)."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (old, new)):
        return None
    if old == 0:
        return 0.0 if new == 0 else math.inf
    return float((new - old) / abs(old))


def result_diff(
    a: Estimate, b: Estimate, changes: list[Change], rel_tol: float, abs_tol: float
) -> list[OutputChange]:
    """Each output under both rulesets, with the changed subjects on its derivation path."""
    kinds: dict[str, set[str]] = {}
    for c in changes:
        if c.category != WORDING:
            kinds.setdefault(c.subject, set()).add(c.kind)
    changed_subjects = set(kinds)
    out = []
    for name in b.ruleset.outputs:
        ra, rb = a.fields.get(name), b.fields.get(name)
        old = ra.value if ra else None
        new = rb.value if rb else None
        if isinstance(old, (int, float)) and isinstance(new, (int, float)):
            same = math.isclose(old, new, rel_tol=rel_tol, abs_tol=abs_tol)
        else:
            same = old == new
        causes: list[str] = []
        if not same:

            def moved(field: str) -> bool:
                return _moved(a, b, field, rel_tol, abs_tol)

            path = derivation(a, name, moved) | derivation(b, name, moved)
            causes = sorted(
                f"{subject} {'/'.join(sorted(kinds[subject]))}"
                for subject in path & changed_subjects
            )
        unit = rb.unit if rb else ra.unit if ra else ""
        out.append(OutputChange(name, unit, old, new, not same, relative_change(old, new), causes))
    return out


def check_tolerances(rel_tol: float, abs_tol: float, fail_above: float | None) -> None:
    """InputError unless the tolerances are finite and not negative (a NaN gate would let
    every change pass)."""
    problems = []
    for option, value in (
        ("--rel-tol", rel_tol),
        ("--abs-tol", abs_tol),
        ("--fail-above", fail_above),
    ):
        if value is None:
            continue
        if not math.isfinite(value) or value < 0:
            problems.append(
                Problem(
                    option, None, "", f"expected a finite number >= 0, got {value!r}", "option"
                )
            )
    if problems:
        raise InputError(problems)


@dataclass(frozen=True)
class DisclosureDiff:
    """One disclosure's outputs under two rulesets."""

    id: str
    name: str
    outputs: list[OutputChange]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "disclosure": self.id,
            "name": self.name,
            "outputs": [o.as_dict() for o in self.outputs],
        }


@dataclass(frozen=True)
class ResultDiff:
    """Disclosures under two rulesets: the rule changes and what they did to each output."""

    old: Ruleset
    new: Ruleset
    changes: list[Change]
    results: list[DisclosureDiff]

    @property
    def largest(self) -> float:
        """The largest relative change of any output (infinite when an output appears,
        disappears or moves from zero)."""
        worst = 0.0
        for result in self.results:
            for o in result.outputs:
                if o.changed:
                    worst = max(worst, abs(o.relative) if o.relative is not None else math.inf)
        return worst

    def exceeds(self, fail_above: float) -> bool:
        """Whether some output moved by more than ``fail_above`` (relative)."""
        return self.largest > fail_above

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "old": _ruleset(self.old),
            "new": _ruleset(self.new),
            "results": [r.as_dict() for r in self.results],
        }


def _ruleset(rs: Ruleset) -> dict[str, str]:
    return {"id": rs.id, "version": rs.version, "content_hash": rs.content_hash}
