"""Demand-driven resolution: every field the outputs need, with full provenance.

For one field: a disclosed value wins (status ``input``). Otherwise its rules are tried in
priority order (lower number first). A rule is skipped, with a code and the fields
involved, when a field it reads cannot be resolved, when a field it reads only as
``disclosed(...)`` was not disclosed, when its condition is false, or when a table row it
needs does not exist. The first rule that applies gives the value (status ``table`` when
the value is a single table look-up, ``rule`` otherwise). A field no rule can resolve is a
failure that records every rule tried. The ruleset is acyclic (checked at load), so the
recursion ends and every result, success or failure, is memoised.

Two executors do this: the compiled resolver (``compiler``, one generated function per
field, the default) and the reference interpreter here, which evaluates expressions with
simpleeval. Both record the same compact facts per field: ``(rule, table rows read, rules
skipped, warning)``, or a ``Failure``; the ``Resolved`` views are made from them only when
asked for.

The ruleset is shared and never changed; all state of one estimate lives in its own
``Resolution``, so any number of threads can estimate on one loaded ruleset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .expressions import EVALUATION_ERRORS, reference_run
from .model import Disclosure, Expression, FieldSpec, Rule, Ruleset
from .problems import Problem, RulesetError, UnresolvedError
from .provenance import INPUT, Fact, Failure, Resolved, Skip
from .tables import NotApplicable, TableUse
from .text import given, one_line
from .values import ValueProblem, coerce

MAX_OPTIONS = 5  # sets of fields offered to resolve an output that cannot be resolved
MAX_OPTION_SIZE = 3  # fields in one such set
SHOWN_CHARS = 60  # characters of an input value shown in an error


class Estimate:
    """The outcome for one disclosure: the value and the facts of every field resolved,
    in resolution order. ``fields`` gives them as ``Resolved`` views."""

    __slots__ = ("_fields", "disclosure", "env", "memo", "ruleset")

    def __init__(
        self,
        ruleset: Ruleset,
        disclosure: Disclosure,
        env: dict[str, Any],
        memo: dict[str, Fact | Failure],
    ) -> None:
        self.ruleset = ruleset
        self.disclosure = disclosure
        self.env = env
        self.memo = memo
        self._fields: dict[str, Resolved] | None = None

    @property
    def fields(self) -> dict[str, Resolved]:
        """Every resolved field with its provenance, in resolution order."""
        if self._fields is None:
            specs = self.ruleset.fields
            env = self.env
            out = {}
            for name, fact in self.memo.items():
                if isinstance(fact, Failure):
                    continue
                rule, trace, tried, warning = fact
                status = "input" if rule is None else rule.status
                uses = tuple(TableUse(*use) for use in trace)
                out[name] = Resolved(
                    name, env[name], specs[name].unit, status, rule, uses, tried, warning,
                    env, self.disclosure if rule is None else None,
                )  # fmt: skip
            self._fields = out
        return self._fields

    @property
    def failures(self) -> dict[str, Failure]:
        """Fields tried and not resolved (a lower-priority rule may still have applied)."""
        return {k: v for k, v in self.memo.items() if isinstance(v, Failure)}


@dataclass(frozen=True)
class Unresolved:
    """An output that cannot be resolved: the smallest sets of fields whose disclosure
    would let a rule apply, and the failure with every rule tried, for the tree."""

    field: str
    options: tuple[tuple[str, ...], ...]
    failure: Failure
    blocked_by: tuple[str, ...] = ()  # earlier outputs whose failure is the whole cause
    failures: dict[str, Failure] = dataclasses.field(default_factory=dict)  # for the tree


def show_value(value: Any) -> str:
    """A value as an error message shows it."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, float):
        return f"{value:.6g}"
    return given(value, SHOWN_CHARS)


class Resolution:
    """The state of one estimate (values and facts resolved so far), and the reference
    interpreter that fills it."""

    __slots__ = ("disclosed", "disclosure", "env", "memo", "plan", "rules", "ruleset")

    def __init__(self, ruleset: Ruleset, disclosure: Disclosure, reference: bool = False):
        self.ruleset = ruleset
        self.rules = ruleset.rules
        self.disclosure = disclosure
        self.disclosed = disclosure.values
        self.env: dict[str, Any] = dict(disclosure.values)
        self.memo: dict[str, Fact | Failure] = {}
        self.plan = None if reference else ruleset.plan

    def resolve(self, name: str) -> Fact | Failure:
        """The facts of ``name`` (its value is then in ``env``), or its failure."""
        found = self.memo.get(name)
        if found is not None:
            return found
        if self.plan is not None:
            result: Fact | Failure = self.plan[name](self)
            return result
        if name in self.disclosed:
            self.memo[name] = INPUT
            return INPUT
        spec = self.ruleset.fields[name]
        tried: list[Skip] = []
        rules = self.rules.get(name, ())
        for rule in rules:
            outcome = self.apply(rule, spec, tried)
            if isinstance(outcome, Skip):
                tried.append(outcome)
                continue
            self.memo[name] = outcome
            return outcome
        if not rules:
            tried.append(Skip("-", "no-rule"))
        failure = Failure(name, tuple(tried))
        self.memo[name] = failure
        return failure

    def gather(self, rule: Rule, inputs: tuple[str, ...]) -> Skip | None:
        """Resolve a rule's inputs; the skip of the first that cannot be resolved."""
        for dep in inputs:
            if isinstance(self.resolve(dep), Failure):
                code = "input-unresolved" if self.rules.get(dep) else "input-missing"
                return Skip(rule.id, code, (dep,))
        return None

    def run(self, rule: Rule, expr: Expression, trace: list[Any]) -> Any:
        try:
            return reference_run(expr, self.env, trace, self.ruleset.tables)
        except NotApplicable:
            raise
        except EVALUATION_ERRORS as exc:
            raise self.rule_error(rule, f"cannot evaluate {expr.text!r}: {exc}") from None

    def apply(self, rule: Rule, spec: FieldSpec, tried: list[Skip]) -> Fact | Skip:
        """The field's facts from this rule (its value put in ``env``), or why the rule
        does not apply."""
        for dep in rule.disclosed_inputs:
            if dep not in self.disclosed:
                return Skip(rule.id, "not-disclosed", (dep,))
        trace: list[Any] = []
        when = rule.when
        if when is not None:
            skip = self.gather(rule, when.inputs)
            if skip is not None:
                return skip
            try:
                holds = self.run(rule, when, trace)
            except NotApplicable as exc:
                return Skip(rule.id, "no-row", (), exc.with_traceback(None))
            if not holds:
                return Skip(rule.id, "condition-false", (), " ".join(when.text.split()))
        skip = self.gather(rule, rule.value.inputs)
        if skip is not None:
            return skip
        try:
            value = self.run(rule, rule.value, trace)
        except NotApplicable as exc:
            return Skip(rule.id, "no-row", (), exc.with_traceback(None))  # no frames kept
        try:
            value = coerce(spec, value, self.ruleset.tables)
        except ValueProblem as exc:
            raise self.rule_error(
                rule, f"gave {show_value(value)} for {spec.name}: {exc}"
            ) from None
        warning = None
        if rule.warning is not None:
            warns: Any = True
            if rule.warn_when is not None:
                warns = False
                shown = all(d in self.disclosed for d in rule.warn_when.disclosed_inputs)
                if shown and self.gather(rule, rule.warn_when.inputs) is None:
                    try:
                        warns = self.run(rule, rule.warn_when, [])
                    except NotApplicable:
                        warns = False
            warning = one_line(rule.warning) if warns else None
        self.env[spec.name] = value
        return (rule, tuple(trace), tuple(tried), warning)

    def disclosed_sources(self, rule: Rule) -> list[str]:
        """The disclosed fields a rule's value rests on, directly or through other rules."""
        found: list[str] = []
        stack = list(reversed((*rule.inputs, *rule.disclosed_inputs)))
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in self.disclosed:
                found.append(name)
                continue
            fact = self.memo.get(name)
            if fact is not None and not isinstance(fact, Failure) and fact[0] is not None:
                stack.extend(reversed((*fact[0].inputs, *fact[0].disclosed_inputs)))
        return found

    def rule_error(self, rule: Rule, message: str) -> RulesetError:
        """An error of a rule on this disclosure's values: located at the disclosure (the
        line of the disclosed value it rests on, when one), naming the rule, its inputs and
        the disclosed values behind them."""
        names = (*rule.inputs, *rule.disclosed_inputs)
        shown = ", ".join(f"{k}={show_value(self.env[k])}" for k in names if k in self.env)
        behind = self.disclosed_sources(rule)
        file, line = self.disclosure.row or (self.disclosure.name, None)
        if len(behind) == 1:
            file, line = self.disclosure.place(behind[0])
        origin = ""
        if behind:
            origin = "; it rests on the disclosed " + ", ".join(
                f"{k} ({self.disclosure.at(k)})" for k in behind
            )
        return RulesetError(
            [
                Problem(
                    file,
                    line,
                    rule.sets,
                    f"rule {rule.id} ({rule.at}) {message} (inputs: {shown or 'none'}){origin}",
                    "rule-error",
                    field=rule.sets,
                    rule=rule.id,
                )
            ]
        )

    # -- what would resolve a field that cannot be resolved ------------------------------

    def options(
        self, name: str, top: bool, seen: dict[str, list[frozenset[str]]]
    ) -> list[frozenset[str]]:
        """The smallest sets of fields whose disclosure would let a rule of ``name`` apply
        (given what is disclosed), smallest first; ``name`` itself is one unless ``top``."""
        got = self.resolve(name)
        if not isinstance(got, Failure):
            return [frozenset()]
        if name in seen:
            return seen[name]
        seen[name] = [frozenset({name})]  # the graph is acyclic; this only guards recursion
        found: list[frozenset[str]] = [] if top else [frozenset({name})]
        for skip in got.tried:
            if skip.code not in ("not-disclosed", "input-missing", "input-unresolved"):
                continue
            rule = self.ruleset.by_id[skip.rule]
            combos = [frozenset(d for d in rule.disclosed_inputs if d not in self.disclosed)]
            for dep in rule.inputs:
                sub = self.options(dep, False, seen)
                combos = _smallest([c | s for c in combos for s in sub])
            found.extend(combos)
        result = _smallest(found)
        seen[name] = result
        return result


def _smallest(sets: list[frozenset[str]]) -> list[frozenset[str]]:
    """The sets no other set is contained in, smallest first (ties: first found), capped."""
    unique = list(dict.fromkeys(s for s in sets if len(s) <= MAX_OPTION_SIZE))
    unique.sort(key=len)
    kept: list[frozenset[str]] = []
    for s in unique:
        if not any(k <= s for k in kept):
            kept.append(s)
    return kept[: MAX_OPTIONS * 2]


def options_text(options: tuple[tuple[str, ...], ...]) -> str:
    """ "disclose a, or b and c" for the sets of fields that would resolve a field."""
    if not options:
        return "no disclosure of its inputs would let a rule apply"
    return "disclose " + ", or ".join(" and ".join(o) for o in options)


def estimate(
    ruleset: Ruleset,
    disclosure: Disclosure,
    extra: tuple[str, ...] = (),
    reference: bool = False,
    report: bool = False,
) -> Estimate:
    """Resolve every output of the ruleset (and any ``extra`` fields) for one disclosure;
    with ``report``, also every reported field that can be resolved (a reported field no
    rule applies to is left out, never an error).

    ``reference`` uses the reference interpreter (simpleeval) instead of the compiled
    resolver; the two agree. Raises UnresolvedError naming, for each output no rule could
    resolve, the smallest sets of fields that would resolve it, with every rule tried.
    """
    resolution = Resolution(ruleset, disclosure, reference)
    failed: list[Unresolved] = []
    for name in (*ruleset.outputs, *extra):
        got = resolution.resolve(name)
        if isinstance(got, Failure):
            failed.append(_unresolved(resolution, got, failed))
    if failed:
        raise UnresolvedError([_problem(ruleset, disclosure, u) for u in failed], tuple(failed))
    if report:
        for name in ruleset.report:
            if name not in resolution.memo:
                resolution.resolve(name)
    return Estimate(ruleset, disclosure, resolution.env, resolution.memo)


def _unresolved(resolution: Resolution, failure: Failure, earlier: list[Unresolved]) -> Unresolved:
    names = {u.field for u in earlier}
    blockers = tuple(
        sorted({s.fields[0] for s in failure.tried if s.fields and s.fields[0] in names})
    )
    if blockers and all(s.fields and s.fields[0] in names for s in failure.tried):
        return Unresolved(failure.field, (), failure, blockers)
    sets = resolution.options(failure.field, True, {})
    options = tuple(tuple(sorted(s)) for s in sets[:MAX_OPTIONS])
    failures = {k: v for k, v in resolution.memo.items() if isinstance(v, Failure)}
    return Unresolved(failure.field, options, failure, (), failures)


def _problem(ruleset: Ruleset, disclosure: Disclosure, u: Unresolved) -> Problem:
    description = ruleset.fields[u.field].description
    if u.blocked_by:
        message = f"cannot resolve {u.field}: needs {', '.join(u.blocked_by)} (above)"
    else:
        message = f"cannot resolve {u.field} ({description}): {options_text(u.options)}"
    file, line = disclosure.row or (disclosure.name, None)
    return Problem(file, line, u.field, message, "unresolved", field=u.field)
