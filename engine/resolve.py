"""Demand-driven resolution: every field the outputs need, with full provenance.

For one field: a disclosed value wins (status ``input``). Otherwise its rules are tried in
priority order (lower number first). A rule is skipped, with the reason recorded, when a
field it reads cannot be resolved, when a field it reads only as ``disclosed(...)`` was not
disclosed, when its condition is false, or when a table row it needs does not exist. The
first rule that applies gives the value (status ``table`` when the value is a single table
look-up, ``rule`` otherwise). A field no rule can resolve is a failure that lists every
rule tried and why it did not apply. The ruleset is acyclic (checked at load), so the
recursion ends and every result, success or failure, can be memoised.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .disclosure import Disclosure, check_bounds
from .errors import Problem, RulesetError, UnresolvedError
from .expressions import ExpressionRunner
from .model import Expression, FieldSpec, Rule, Ruleset
from .tables import NotApplicable, TableUse, canonical_name


@dataclass(frozen=True)
class Skip:
    """A rule that was tried and did not apply, and why."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Resolved:
    """A field's value and where it came from."""

    field: str
    value: Any
    unit: str
    status: str
    rule: Rule | None = None
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    disclosed_inputs: tuple[str, ...] = ()
    tables: tuple[TableUse, ...] = ()
    skipped: tuple[Skip, ...] = ()
    disclosed_at: str | None = None
    disclosed_source: str | None = None
    warning: str | None = None


@dataclass(frozen=True)
class Failure:
    """A field no rule could resolve, with every rule tried."""

    field: str
    tried: tuple[Skip, ...]


class Resolver:
    """Resolves fields of one disclosure under one ruleset, memoising every result."""

    def __init__(
        self, ruleset: Ruleset, disclosure: Disclosure, runner: ExpressionRunner | None = None
    ) -> None:
        self.ruleset = ruleset
        self.disclosure = disclosure
        self.runner = runner or ExpressionRunner(ruleset.tables)
        self.memo: dict[str, Resolved | Failure] = {}

    def resolve(self, name: str) -> Resolved | Failure:
        """The value of ``name`` with its provenance, or the failure with every reason."""
        found = self.memo.get(name)
        if found is not None:
            return found
        spec = self.ruleset.fields[name]
        result: Resolved | Failure
        if name in self.disclosure.values:
            line = self.disclosure.lines.get(name)
            at = self.disclosure.name if line is None else f"{self.disclosure.name}:{line}"
            result = Resolved(
                name,
                self.disclosure.values[name],
                spec.unit,
                "input",
                disclosed_at=at,
                disclosed_source=self.disclosure.sources.get(name),
            )
        else:
            result = self._from_rules(spec)
        self.memo[name] = result
        return result

    def _from_rules(self, spec: FieldSpec) -> Resolved | Failure:
        tried: list[Skip] = []
        for rule in self.ruleset.rules.get(spec.name, ()):
            outcome = self._apply(rule, spec, tuple(tried))
            if isinstance(outcome, Resolved):
                return outcome
            tried.append(Skip(rule.id, outcome))
        if not self.ruleset.rules.get(spec.name):
            tried.append(Skip("-", "not disclosed, and no rule sets it"))
        return Failure(spec.name, tuple(tried))

    def _gather(self, needed: frozenset[str], names: dict[str, Any]) -> str | None:
        for dep in sorted(needed):
            if dep in names:
                continue
            got = self.resolve(dep)
            if isinstance(got, Failure):
                if not self.ruleset.rules.get(dep):
                    return f"needs {dep}, which is not disclosed (no rule sets it)"
                return f"needs {dep}, which no rule could resolve"
            names[dep] = got.value
        return None

    def _run(
        self, rule: Rule, expr: Expression, names: dict[str, Any]
    ) -> tuple[Any, list[TableUse]]:
        try:
            return self.runner.run(expr, names)
        except NotApplicable:
            raise
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise _rule_error(rule, f"cannot evaluate {expr.text!r}: {exc}", names) from None

    def _evaluate(
        self, rule: Rule, expr: Expression, names: dict[str, Any]
    ) -> tuple[Any, list[TableUse]] | str:
        """The expression's value and the rows it read, or why the rule does not apply."""
        missing = self._gather(expr.inputs, names)
        if missing:
            return missing
        try:
            return self._run(rule, expr, names)
        except NotApplicable as exc:
            return str(exc)

    def _apply(self, rule: Rule, spec: FieldSpec, skipped: tuple[Skip, ...]) -> Resolved | str:
        names: dict[str, Any] = {}
        for dep in sorted(rule.disclosed_inputs):
            if dep not in self.disclosure.values:
                return f"{dep} is not disclosed"
            names[dep] = self.disclosure.values[dep]
        tables: list[TableUse] = []
        if rule.when is not None:
            got = self._evaluate(rule, rule.when, names)
            if isinstance(got, str):
                return got
            holds, used = got
            if not holds:
                return f"condition is false: {rule.when.text}"
            tables.extend(used)
        got = self._evaluate(rule, rule.value, names)
        if isinstance(got, str):
            return got
        value, used = got
        tables.extend(used)
        value = self._checked(rule, spec, value, names)
        warning = None
        if rule.warning is not None:
            warns: Any = True
            if rule.warn_when is not None:
                got = self._evaluate(rule, rule.warn_when, names)
                warns = got[0] if not isinstance(got, str) else False
            warning = " ".join(rule.warning.split()) if warns else None
        inputs = {k: v for k, v in names.items() if k not in rule.disclosed_inputs}
        return Resolved(
            spec.name,
            value,
            spec.unit,
            "table" if rule.value.is_lookup else "rule",
            rule=rule,
            inputs=dict(sorted(inputs.items())),
            disclosed_inputs=tuple(sorted(rule.disclosed_inputs)),
            tables=tuple(tables),
            skipped=skipped,
            warning=warning,
        )

    def _checked(self, rule: Rule, spec: FieldSpec, value: Any, names: dict[str, Any]) -> Any:
        def fail(message: str) -> RulesetError:
            return _rule_error(rule, f"gave {_show(value)} for {spec.name}: {message}", names)

        kind = spec.type
        if kind in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise fail(f"expected a number in {spec.unit}")
            if not math.isfinite(value):
                raise fail("expected a finite number")
            if kind == "integer":
                if not float(value).is_integer():
                    raise fail("expected a whole number")
                value = int(value)
            try:
                check_bounds(spec, value)
            except ValueError as exc:
                raise fail(str(exc)) from None
            return value
        if kind in ("date", "datetime"):
            if not isinstance(value, datetime):
                raise fail("expected a date-time")
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise fail("expected true or false")
            return value
        if not isinstance(value, str):
            raise fail("expected text")
        if kind == "enum" and value not in spec.choices:
            raise fail(f"expected one of {', '.join(spec.choices)}")
        if kind == "name":
            found = canonical_name(self.ruleset.tables[spec.table or ""], value)
            if found is None:
                raise fail(f"no row {value!r} in table {spec.table}")
            return found
        return value


def _rule_error(rule: Rule, message: str, names: dict[str, Any]) -> RulesetError:
    """An error located at a rule, with the input values it was evaluated with."""
    shown = ", ".join(f"{k}={_show(v)}" for k, v in sorted(names.items()))
    return RulesetError(
        [Problem(rule.file, rule.line, rule.id, f"{message} (inputs: {shown or 'none'})")]
    )


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Estimate:
    """The outcome for one disclosure: every resolved field, in resolution order."""

    ruleset: Ruleset
    disclosure: Disclosure
    fields: dict[str, Resolved]
    failures: dict[str, Failure]


def failure_problem(
    ruleset: Ruleset, resolver: Resolver, failure: Failure, disclosure: Disclosure
) -> Problem:
    """One readable problem for an unresolved field, with each rule tried and its reason,
    following unresolved inputs down to the fields that are really missing."""
    lines = [f"cannot resolve {failure.field} ({ruleset.fields[failure.field].description})"]
    seen: set[str] = set()

    def walk(f: Failure, depth: int) -> None:
        if f.field in seen or depth > 6:
            return
        seen.add(f.field)
        for skip in f.tried:
            lines.append(f"{'  ' * depth}  - {skip.rule}: {skip.reason}")
            if skip.reason.startswith("needs "):
                dep = skip.reason.split()[1].rstrip(",")
                sub = resolver.memo.get(dep)
                if isinstance(sub, Failure) and ruleset.rules.get(dep):
                    walk(sub, depth + 1)

    walk(failure, 0)
    lines.append(f"  disclose {failure.field} or one of the inputs above")
    return Problem(disclosure.name, None, failure.field, "\n".join(lines))


def estimate(
    ruleset: Ruleset,
    disclosure: Disclosure,
    runner: ExpressionRunner | None = None,
    extra: tuple[str, ...] = (),
) -> Estimate:
    """Resolve every output of the ruleset (and any ``extra`` fields) for one disclosure.

    Raises UnresolvedError listing, for each field no rule could resolve, every rule
    tried and why it did not apply.
    """
    resolver = Resolver(ruleset, disclosure, runner)
    problems = []
    failed: list[str] = []
    for name in (*ruleset.outputs, *extra):
        got = resolver.resolve(name)
        if not isinstance(got, Failure):
            continue
        blockers = [
            f for f in failed if any(s.reason.startswith(f"needs {f},") for s in got.tried)
        ]
        if blockers and len(blockers) == len(got.tried):
            problems.append(
                Problem(
                    disclosure.name,
                    None,
                    name,
                    f"cannot resolve {name}: needs {', '.join(blockers)} (above)",
                )
            )
        else:
            problems.append(failure_problem(ruleset, resolver, got, disclosure))
        failed.append(name)
    if problems:
        raise UnresolvedError(problems)
    resolved = {k: v for k, v in resolver.memo.items() if isinstance(v, Resolved)}
    failures = {k: v for k, v in resolver.memo.items() if isinstance(v, Failure)}
    return Estimate(ruleset, disclosure, resolved, failures)
