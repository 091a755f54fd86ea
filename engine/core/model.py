"""The ruleset as loaded: frozen records shared by every estimate, never changed after load.

Locations are ``(ruleset version, path inside that version's folder, line)``, never a
path of the machine the ruleset was loaded on, so provenance means the same everywhere.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

STATUSES = ("input", "rule", "table")


class Location(NamedTuple):
    """Where a rule, field, table or row is written."""

    version: str
    path: str  # inside the version's folder, with "/" separators
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.version}/{self.path}" + ("" if self.line is None else f":{self.line}")

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"ruleset": self.version, "file": self.path, "line": self.line}


@dataclass(frozen=True)
class Source:
    """A citation a rule or table row points at by key."""

    key: str
    citation: str
    url: str | None = None
    licence: str | None = None
    vintage: str | None = None

    def text(self) -> str:
        """The citation as one line, with vintage, licence and URL where known."""
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
    """A declared quantity (a field) or table column: type, unit, bounds, meaning."""

    name: str
    type: str
    unit: str
    description: str
    at: Location | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    choices: tuple[str, ...] = ()
    table: str | None = None
    digits: int = 4
    group: str | None = None
    example: Any = None
    aliases: tuple[str, ...] = ()


Column = FieldSpec  # a table column is checked exactly like a field


@dataclass(frozen=True)
class Expression:
    """A rule expression, parsed and checked once at load.

    ``run`` is the compiled form, ``run(env, trace)``: ``env`` maps field names to values,
    table rows read are appended to ``trace``. It is set once the units are checked.
    """

    text: str
    node: ast.expr
    inputs: tuple[str, ...]  # fields it reads, sorted
    disclosed_inputs: tuple[str, ...]  # fields it reads only as disclosed, sorted
    table_refs: tuple[tuple[str, str | None], ...]
    run: Callable[[dict[str, Any], list[Any]], Any] | None = field(
        default=None, compare=False, repr=False
    )

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
    at: Location
    assumption: bool = False
    warning: str | None = None
    warn_when: Expression | None = None
    # Derived once, at construction: read on every evaluation.
    inputs: tuple[str, ...] = field(init=False, compare=False)
    disclosed_inputs: tuple[str, ...] = field(init=False, compare=False)
    status: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        exprs = self.expressions
        object.__setattr__(self, "inputs", tuple(sorted({n for e in exprs for n in e.inputs})))
        # disclosed(x) in warn_when makes the warning, not the rule, depend on x disclosed
        gating = (self.value, self.when) if self.when is not None else (self.value,)
        object.__setattr__(
            self,
            "disclosed_inputs",
            tuple(sorted({n for e in gating for n in e.disclosed_inputs})),
        )
        object.__setattr__(self, "status", "table" if self.value.is_lookup else "rule")

    @property
    def expressions(self) -> tuple[Expression, ...]:
        """The rule's expressions: value, and condition and warning condition if any."""
        return tuple(e for e in (self.value, self.when, self.warn_when) if e is not None)


class Row(NamedTuple):
    """A table row with its values, aliases and sources (a tuple: thousands of them load
    from the cache in a few milliseconds)."""

    key: tuple[Any, ...]
    values: dict[str, Any]
    sources: tuple[str, ...]
    at: Location
    aliases: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Table:
    """Reference data: rows indexed by their (normalised) key columns."""

    name: str
    description: str
    at: Location
    key: tuple[str, ...]
    columns: dict[str, FieldSpec]
    rows: tuple[Row, ...]
    index: dict[tuple[Any, ...], Row] = field(repr=False)
    names: dict[str, str] = field(repr=False)  # written form (case, spaces folded) -> key
    years: dict[tuple[Any, ...], tuple[tuple[Any, Row], ...]] = field(repr=False)
    folded: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    exact: dict[tuple[Any, ...], Row] = field(default_factory=dict, repr=False)  # keys as written
    # (year prefix, column) -> (years that have a value, their rows), filled on first use
    series: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    hints: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # by word

    def __post_init__(self) -> None:
        if not self.exact:
            self.exact.update((row.key, row) for row in self.rows)


@dataclass(frozen=True)
class Disclosure:
    """Checked disclosed values of one fine-tuning run."""

    name: str
    id: str
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int | None] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)
    row: tuple[str, int] | None = None  # file and line of a batch row; name is "file:line"

    def at(self, name: str) -> str:
        """Where a disclosed field is written: ``file:line``, or the name alone (a batch
        row's name, ``file:line``, is its place already)."""
        file, line = self.place(name)
        return file if line is None else f"{file}:{line}"

    def place(self, name: str) -> tuple[str, int | None]:
        """The file and line where a disclosed field is written (a batch row's: its file
        and line, not ``file:line`` and the line again)."""
        if self.row is not None:
            return self.row
        return self.name, self.lines.get(name)


@dataclass(frozen=True)
class Layer:
    """One version folder of a ruleset: the version itself or one it extends."""

    version: str
    folder: Path


@dataclass(frozen=True)
class Ruleset:
    """A loaded, checked ruleset version; immutable and shared by every estimate."""

    id: str
    version: str
    description: str
    content_hash: str
    fields: dict[str, FieldSpec]
    rules: dict[str, tuple[Rule, ...]]
    tables: dict[str, Table]
    sources: dict[str, Source]
    outputs: tuple[str, ...]
    report: tuple[str, ...]
    rounding: str
    layers: tuple[Layer, ...]
    extends: str | None = None
    changelog: tuple[dict[str, Any], ...] = ()
    released: str | None = None
    draft: bool = False  # no release manifest: used only when named
    plan: dict[str, Callable[[Any], Any]] | None = field(default=None, repr=False, compare=False)
    # field -> test true when a value certainly passes the field's check unchanged
    accepts: dict[str, Callable[[Any], bool]] | None = field(
        default=None, repr=False, compare=False
    )
    by_id: dict[str, Rule] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.by_id:
            index = {r.id: r for rules in self.rules.values() for r in rules}
            object.__setattr__(self, "by_id", index)

    @property
    def folder(self) -> Path:
        """The folder of this version (the last layer)."""
        return self.layers[-1].folder

    @property
    def label(self) -> str:
        """``id@version`` with a short content hash, as results cite it."""
        return f"{self.id}@{self.version} ({self.content_hash[:12]})"

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id, if any."""
        return self.by_id.get(rule_id)

    def path_of(self, at: Location) -> Path:
        """The file on this machine a location points at (for views and editors)."""
        for layer in self.layers:
            if layer.version == at.version:
                return layer.folder / at.path
        return Path(at.version) / at.path
