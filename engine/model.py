"""The ruleset as loaded: frozen records, no behaviour beyond simple look-ups."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("input", "rule", "table")


@dataclass(frozen=True)
class Source:
    """A citation a rule or table row points at by key."""

    key: str
    citation: str
    url: str | None = None
    licence: str | None = None
    vintage: str | None = None

    def text(self) -> str:
        """The citation as one line, with URL, vintage and licence where known."""
        parts = [self.citation]
        if self.vintage:
            parts.append(f"vintage {self.vintage}")
        if self.licence:
            parts.append(self.licence)
        if self.url:
            parts.append(self.url)
        return "; ".join(parts)


@dataclass(frozen=True)
class FieldSpec:
    """A declared quantity: its type, unit, bounds and meaning."""

    name: str
    type: str
    unit: str
    description: str
    file: str
    line: int | None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    choices: tuple[str, ...] = ()
    table: str | None = None
    digits: int = 4


@dataclass(frozen=True)
class Expression:
    """A rule expression, parsed and checked once at load."""

    text: str
    node: ast.expr
    inputs: frozenset[str]
    disclosed_inputs: frozenset[str]
    table_refs: tuple[tuple[str, str | None], ...]

    @property
    def is_lookup(self) -> bool:
        """True when the expression is a single table look-up (its value comes from a row)."""
        return (
            isinstance(self.node, ast.Call)
            and isinstance(self.node.func, ast.Name)
            and self.node.func.id in ("lookup", "lookup_year")
        )


@dataclass(frozen=True)
class Rule:
    """One way to set a field: tried in priority order (lower number first)."""

    id: str
    sets: str
    priority: int
    value: Expression
    when: Expression | None
    reason: str
    sources: tuple[str, ...]
    file: str
    line: int | None
    assumption: bool = False
    warning: str | None = None
    warn_when: Expression | None = None

    @property
    def expressions(self) -> tuple[Expression, ...]:
        """The rule's expressions: value, and condition and warning condition if any."""
        return tuple(e for e in (self.value, self.when, self.warn_when) if e is not None)

    @property
    def inputs(self) -> frozenset[str]:
        """Fields this rule needs resolved before it can apply."""
        return frozenset(name for e in self.expressions for name in e.inputs)

    @property
    def disclosed_inputs(self) -> frozenset[str]:
        """Fields this rule reads only as disclosed, never through their own rules."""
        return frozenset(name for e in self.expressions for name in e.disclosed_inputs)


@dataclass(frozen=True)
class Column:
    """A table column: its type, unit and meaning."""

    name: str
    type: str
    unit: str
    description: str
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Row:
    """A table row with its values, aliases and sources."""

    key: tuple[Any, ...]
    values: dict[str, Any]
    sources: tuple[str, ...]
    line: int | None
    aliases: tuple[str, ...] = ()
    note: str | None = None
    file: str = ""


@dataclass(frozen=True)
class Table:
    """Reference data: rows indexed by their (normalised) key columns."""

    name: str
    description: str
    file: str
    key: tuple[str, ...]
    columns: dict[str, Column]
    rows: tuple[Row, ...]
    index: dict[tuple[Any, ...], Row] = field(repr=False)
    names: dict[str, str] = field(repr=False)  # exact written form (casefolded) -> key
    years: dict[tuple[Any, ...], tuple[tuple[Any, Row], ...]] = field(repr=False)
    folded: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Ruleset:
    """A loaded, validated ruleset version."""

    id: str
    version: str
    description: str
    path: Path
    content_hash: str
    fields: dict[str, FieldSpec]
    rules: dict[str, tuple[Rule, ...]]
    tables: dict[str, Table]
    sources: dict[str, Source]
    outputs: tuple[str, ...]
    report: tuple[str, ...]
    rounding: str
    extends: str | None = None
    layers: tuple[Path, ...] = ()
    changelog: tuple[dict[str, Any], ...] = ()
    released: str | None = None

    @property
    def label(self) -> str:
        """``id@version`` with a short content hash, as results cite it."""
        return f"{self.id}@{self.version} ({self.content_hash[:12]})"

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id, if any."""
        for rules in self.rules.values():
            for rule in rules:
                if rule.id == rule_id:
                    return rule
        return None
