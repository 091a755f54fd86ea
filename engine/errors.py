"""Errors a user can act on: each names where the problem is and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in a file: where it is and what is wrong."""

    file: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        subject = f"{self.where}: " if self.where else ""
        return f"{place}: {subject}{self.message}"


class TuneprintError(Exception):
    """Base of every error tuneprint reports to a user (exit code 2, no traceback)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def one(cls, file: str, line: int | None, where: str, message: str) -> TuneprintError:
        """Build the error from a single problem."""
        return cls([Problem(file, line, where, message)])


class InputError(TuneprintError):
    """A disclosure (or other input file) is malformed or holds a value out of bounds."""


class RulesetError(TuneprintError):
    """A ruleset is malformed: schema, expression, priority or dependency problems."""


class UnresolvedError(TuneprintError):
    """A field the outputs need could not be resolved by any rule."""
