"""Problems a user can act on, and the errors that carry them.

Every problem names where it is (a file as the caller named it, and a line), what it is
about (a field, a rule or a key path), a stable code a program can branch on, and a
message for people. Errors carry a list of problems and survive pickling, so a worker
process can hand them back to its parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from .text import printable

CODES: dict[str, str] = {
    "syntax": "the file is not valid YAML, JSON, CSV or text",
    "file": "the file cannot be read (missing, unreadable, too large, not a regular file)",
    "limit": "a size, depth or count limit was exceeded",
    "schema": "the document does not have the shape its JSON Schema requires",
    "unknown-field": "a field the ruleset does not declare",
    "unknown-name": "a name no row of the field's table has",
    "ambiguous-name": "a name that fits several rows of the field's table",
    "type": "a value of the wrong type",
    "bounds": "a number outside the bounds its field or column declares",
    "unresolved": "a field no rule could resolve from what was disclosed",
    "rule-error": "a rule failed on the values it was given",
    "expression": "a rule expression that is not allowed or does not parse",
    "units": "a rule whose units or kinds do not agree",
    "reference": "a reference to an unknown field, table, column, source or version",
    "duplicate": "a duplicate rule id, table key or name",
    "priority": "two rules of one field with the same priority",
    "cycle": "rules that depend on each other in a circle",
    "released": "a released ruleset version whose files changed",
    "option": "a command-line option or API argument that is not valid",
}


@dataclass(frozen=True)
class Problem:
    """One problem: where it is, what it is about, its code and its message."""

    file: str
    line: int | None
    where: str
    message: str
    code: str = "schema"
    field: str | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown problem code {self.code!r}")

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        subject = f"{self.where}: " if self.where else ""
        return printable(f"{place}: {subject}{self.message}")

    def as_dict(self) -> dict[str, Any]:
        """JSON form: every part, None where not known."""
        return {
            "code": self.code,
            "file": self.file,
            "line": self.line,
            "where": self.where,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Problem:
        """A problem from its JSON form (``as_dict``)."""
        return cls(
            doc["file"],
            doc["line"],
            doc["where"],
            doc["message"],
            doc["code"],
            doc.get("field"),
            doc.get("rule"),
        )


class TuneprintError(Exception):
    """Base of every error tuneprint reports to a user (exit code 2, no traceback)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,))

    @classmethod
    def one(
        cls: type[_E],
        file: str,
        line: int | None,
        where: str,
        message: str,
        code: str = "schema",
        **about: str | None,
    ) -> _E:
        """The error of a single problem."""
        return cls([Problem(file, line, where, message, code, **about)])


_E = TypeVar("_E", bound=TuneprintError)


class InputError(TuneprintError):
    """A disclosure (or other input) is malformed or holds a value out of bounds."""


class RulesetError(TuneprintError):
    """A ruleset is malformed: schema, expression, unit, priority or dependency problems."""


class UnresolvedError(TuneprintError):
    """A field the outputs need could not be resolved by any rule.

    ``failures`` holds, per unresolved output, the smallest sets of fields whose disclosure
    would resolve it and the tree of rules tried; ``problems`` says the same in text.
    """

    def __init__(self, problems: list[Problem], failures: tuple[Any, ...] = ()) -> None:
        super().__init__(problems)
        self.failures = tuple(failures)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems, self.failures))
