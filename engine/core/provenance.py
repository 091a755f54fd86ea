"""What an estimate records about each field: its value and where it came from.

Provenance is kept as compact facts while resolving (the rule that applied, the rows it
read, the rules skipped with a code and the fields involved); text is made only when a
view asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from .model import Disclosure, Rule
from .tables import NotApplicable, TableUse

SKIP_CODES: dict[str, str] = {
    "not-disclosed": "the rule reads a field only as disclosed, and it was not disclosed",
    "input-missing": "an input of the rule is not disclosed and no rule sets it",
    "input-unresolved": "an input of the rule could not be resolved by any rule",
    "condition-false": "the rule's condition is false",
    "no-row": "a table row, or a value in it, that the rule needs does not exist",
    "no-rule": "the field is not disclosed and no rule sets it",
}


class Skip(NamedTuple):
    """A rule that was tried and did not apply: a code, the fields involved, and for a
    missing row or a false condition what was missing or false."""

    rule: str  # rule id, or "-" when the field has no rule
    code: str
    fields: tuple[str, ...] = ()
    detail: NotApplicable | str | None = None

    @property
    def reason(self) -> str:
        """The reason in words."""
        code = self.code
        if code == "not-disclosed":
            return f"{self.fields[0]} is not disclosed"
        if code == "input-missing":
            return f"needs {self.fields[0]}, which is not disclosed (no rule sets it)"
        if code == "input-unresolved":
            return f"needs {self.fields[0]}, which no rule could resolve"
        if code == "condition-false":
            return f"condition is false: {self.detail}"
        if code == "no-rule":
            return "not disclosed, and no rule sets it"
        return str(self.detail)

    def as_dict(self) -> dict[str, Any]:
        """JSON form: rule, code, fields involved and the reason in words."""
        return {
            "rule": self.rule,
            "code": self.code,
            "fields": list(self.fields),
            "reason": self.reason,
        }


@dataclass(slots=True, eq=False)
class Resolved:
    """A field's value and where it came from. Created once per field per estimate and
    never changed after its estimate is made."""

    field: str
    value: Any
    unit: str
    status: str  # input, rule or table
    rule: Rule | None
    tables: tuple[TableUse, ...]
    skipped: tuple[Skip, ...]
    warning: str | None
    env: dict[str, Any]  # the estimate's values: the rule's inputs are read from it
    disclosure: Disclosure | None  # for disclosed values

    @property
    def inputs(self) -> dict[str, Any]:
        """The values of the fields the rule read (disclosed-only reads excluded)."""
        rule = self.rule
        if rule is None:
            return {}
        env = self.env
        return {k: env[k] for k in rule.inputs if k in env}

    @property
    def disclosed_inputs(self) -> tuple[str, ...]:
        """Fields the rule read only as disclosed."""
        return () if self.rule is None else self.rule.disclosed_inputs

    @property
    def disclosed_at(self) -> str | None:
        """Where a disclosed value is written (``name:line``)."""
        if self.status != "input" or self.disclosure is None:
            return None
        return self.disclosure.at(self.field)

    @property
    def disclosed_source(self) -> str | None:
        """Where the discloser says the value was published, if they said."""
        if self.status != "input" or self.disclosure is None:
            return None
        return self.disclosure.sources.get(self.field)


Fact = tuple[Any, ...]  # (rule or None, table rows read, rules skipped, warning or None)
INPUT: Fact = (None, (), (), None)  # the fact of every disclosed value


class Failure(NamedTuple):
    """A field no rule could resolve, with every rule tried."""

    field: str
    tried: tuple[Skip, ...]


def plain(value: Any) -> Any:
    """A value as JSON holds it (date-times as ISO 8601 text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value
