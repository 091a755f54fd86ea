"""The public API: load a ruleset, estimate disclosures, explain and compare results.

Everything here is also what the command line, the HTTP service and the batch engine use;
they only parse their input and print.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.model import Disclosure, Ruleset
from .core.problems import InputError, RulesetError, TuneprintError, UnresolvedError
from .core.provenance import Resolved
from .core.resolve import Estimate
from .core.resolve import estimate as _estimate
from .core.values import DEFAULT_REL_TOL
from .load.disclosures import (
    BATCH_SUFFIXES,
    disclosure_from_mapping,
    load_batch,
    load_disclosure,
)
from .load.layers import find_ruleset
from .load.ruleset import load_folder

if TYPE_CHECKING:
    from .versions.diff import ResultDiff

DisclosureLike = Disclosure | Mapping[str, Any] | str | Path
RulesetLike = Ruleset | str | Path | None


def load_ruleset(ruleset: str | Path | None = None) -> Ruleset:
    """A checked ruleset: a folder, the name of a shipped version ("2.3"), or (None) the
    newest released shipped version. Raises RulesetError listing every problem."""
    return load_folder(find_ruleset(ruleset))


def _ruleset(ruleset: RulesetLike) -> Ruleset:
    if isinstance(ruleset, Ruleset):
        return ruleset
    if ruleset is not None and not isinstance(ruleset, (str, os.PathLike)):
        raise _wrong("ruleset", ruleset, "a Ruleset, a folder, a shipped version's name or None")
    return load_ruleset(ruleset)


def _wrong(argument: str, value: Any, expected: str) -> InputError:
    """An argument of the wrong kind, as one ``option`` problem naming it."""
    return InputError.one(
        argument, None, "", f"expected {expected}, got {type(value).__name__}", "option"
    )


def _table_like(value: Any) -> bool:
    """A data frame or an Arrow table (iterating one gives its column names, not rows)."""
    return (hasattr(value, "columns") and hasattr(value, "shape")) or type(
        value
    ).__module__ == "pyarrow.lib"


def read_disclosure(
    disclosure: DisclosureLike, ruleset: RulesetLike = None, name: str | None = None
) -> Disclosure:
    """A checked disclosure from a file (YAML or JSON), a mapping (a document with
    ``values``, or the values alone) or an already read one. ``name`` is how results and
    errors name it (default: the path as given, or "disclosure" for a mapping)."""
    if isinstance(disclosure, Disclosure):
        return disclosure
    rs = _ruleset(ruleset)
    if isinstance(disclosure, Mapping):
        return disclosure_from_mapping(disclosure, name or "disclosure", rs)
    if not isinstance(disclosure, (str, os.PathLike)):  # (a row of a frame: to_dict() it)
        raise _wrong(
            name or "disclosure", disclosure, "a file's path, a mapping of values or a Disclosure"
        )
    return load_disclosure(Path(disclosure), rs, name)


class Result(Estimate):
    """An estimate: every resolved field with its value, unit and provenance."""

    __slots__ = ()

    def __getitem__(self, name: str) -> Resolved:
        """The resolved field (value, unit, status, rule, inputs, table rows, skipped)."""
        return self.fields[name]

    def value(self, name: str) -> Any:
        """A field's value, in the unit ``self[name].unit`` gives."""
        return self.fields[name].value

    @property
    def outputs(self) -> dict[str, Resolved]:
        """The ruleset's outputs (totals and per-inference figures)."""
        return {name: self.fields[name] for name in self.ruleset.outputs}

    def to_json(self, provenance: str = "full") -> dict[str, Any]:
        """The JSON document of the result (``provenance``: full, compact or none)."""
        from .views.json import PROVENANCE_LEVELS, result_json

        if provenance not in PROVENANCE_LEVELS:
            raise InputError.one(
                "provenance", None, "", f"expected full, compact or none, got {provenance!r}",
                "option",
            )  # fmt: skip
        return result_json(self, provenance)

    def explain(self, field: str | None = None) -> str:
        """The derivation tree of one field (default: every output), as text."""
        return explain(self, field)

    def table(self) -> str:
        """The summary table, as text."""
        from .views.text import table_text

        return table_text(self)


def estimate(
    disclosure: DisclosureLike,
    ruleset: RulesetLike = None,
    *,
    name: str | None = None,
    extra: tuple[str, ...] = (),
    report: bool = False,
) -> Result:
    """Estimate one disclosure (``report``: also every reported field that resolves, as
    ``tuneprint estimate`` shows them). Raises InputError for a bad disclosure, UnresolvedError
    when an output cannot be resolved (each names what to disclose), RulesetError when a
    rule fails on the values given."""
    rs = _ruleset(ruleset)
    for field in extra:
        if field not in rs.fields:
            raise InputError.one("extra", None, field, "unknown field", "option", field=field)
    est = _estimate(rs, read_disclosure(disclosure, rs, name), extra, report=report)
    return Result(est.ruleset, est.disclosure, est.env, est.memo)


def estimate_many(
    disclosures: Iterable[DisclosureLike | InputError],
    ruleset: RulesetLike = None,
    report: bool = False,
) -> Iterator[Result | TuneprintError]:
    """Estimate each disclosure on its own: yields a result or the error of each, in order,
    so items out always equals items in. Never raises for one item's problem."""
    rs = _ruleset(ruleset)
    if isinstance(disclosures, (str, bytes, os.PathLike, Mapping)) or _table_like(disclosures):
        raise _wrong(
            "disclosures", disclosures, "disclosures one by one (paths, mappings or "
            "Disclosures): one goes to estimate, a table to tuneprint.batch.estimate_table",
        )  # fmt: skip
    for i, item in enumerate(disclosures, start=1):
        if isinstance(item, TuneprintError):
            yield item
            continue
        try:
            name = None if not isinstance(item, Mapping) else f"#{i}"
            yield estimate(item, rs, name=name, report=report)
        except TuneprintError as exc:
            yield exc


def read_batch(path: str | Path, ruleset: RulesetLike = None) -> Iterator[Disclosure | InputError]:
    """Each row of a CSV or JSON Lines batch file, checked on its own (a bad row yields its
    error, and the batch goes on)."""
    return load_batch(Path(path), _ruleset(ruleset))


def is_batch(path: str | Path) -> bool:
    """Whether a file is a batch (CSV or JSON Lines) by its name."""
    return Path(path).suffix.lower() in BATCH_SUFFIXES


def explain(result: Estimate, field: str | None = None) -> str:
    """The derivation tree of one field of a result (default: every output)."""
    from .views.text import explain_text

    if field and field not in result.ruleset.fields:
        raise InputError.one("field", None, field, "unknown field", "option", field=field)

    return explain_text(result, [field] if field else list(result.ruleset.outputs))


def why_unresolved(error: UnresolvedError, ruleset: Ruleset) -> str:
    """For an UnresolvedError: per output, what would resolve it, then every rule tried
    and why it did not apply, down to the fields really missing."""
    from .views.text import failure_text

    return "\n\n".join(failure_text(ruleset, u) for u in error.failures) + "\n"


def diff(
    old: RulesetLike,
    new: RulesetLike,
    disclosures: Iterable[DisclosureLike],
    rel_tol: float = DEFAULT_REL_TOL,
    abs_tol: float = 0.0,
) -> ResultDiff:
    """The same disclosures under two rulesets: each output's old and new value and the
    changed rules and table rows on its derivation path (``rel_tol``: the relative
    difference taken as equal)."""
    from .versions.diff import DisclosureDiff, ResultDiff, result_diff, ruleset_diff

    for argument, tolerance in (("rel_tol", rel_tol), ("abs_tol", abs_tol)):
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
            raise _wrong(argument, tolerance, "a number")
        if not 0 <= tolerance < float("inf"):
            raise InputError.one(
                argument, None, "", f"expected a finite number >= 0, got {tolerance!r}", "option"
            )
    a, b = _ruleset(old), _ruleset(new)
    changes = ruleset_diff(a, b)
    results = []
    for item in disclosures:
        est_a = estimate(item, a)
        est_b = estimate(item, b)
        outputs = result_diff(est_a, est_b, changes, rel_tol, abs_tol)
        results.append(DisclosureDiff(est_b.disclosure.id, est_b.disclosure.name, outputs))
    return ResultDiff(a, b, changes, results)


__all__ = [
    "Disclosure",
    "InputError",
    "Result",
    "RulesetError",
    "TuneprintError",
    "UnresolvedError",
    "diff",
    "estimate",
    "estimate_many",
    "explain",
    "is_batch",
    "load_ruleset",
    "read_batch",
    "read_disclosure",
    "why_unresolved",
]
