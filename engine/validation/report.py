"""Estimating every case of a validation suite and comparing it with what was measured.

Each case is estimated from its disclosure alone, and its measured figure compared with the
estimate's field for the same equipment (the boundary's field): a GPU-only meter with the
GPUs' energy, CodeCarbon's total with the IT energy, a wall meter with the IT energy, a
figure that includes PUE with the facility energy. Per group: every case's signed error,
the median and worst |error|, for the held-out cases apart from those a ruleset was fitted
on, and for each case more than a factor of two off, whether its estimate carries a warning
that says why.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..api import estimate
from ..core.model import Ruleset
from ..core.problems import TuneprintError
from ..core.resolve import Estimate
from .suite import Case, Suite

FAR_OFF = 2.0  # estimate / measured beyond this factor (either way) must carry a warning


@dataclass(frozen=True)
class Component:
    """A measured part inside a case's boundary (such as the GPUs of a CodeCarbon total)."""

    boundary: str
    field: str | None
    measured: float
    estimate: float | None

    @property
    def error(self) -> float | None:
        """(estimate - measured) / measured."""
        return None if self.estimate is None else (self.estimate - self.measured) / self.measured


@dataclass(frozen=True)
class Outcome:
    """One case under one ruleset."""

    case: Case
    field: str | None
    estimate: float | None
    problem: str | None = None  # why it was not estimated
    warnings: tuple[tuple[str, str], ...] = ()  # (field, warning) on the derivation path
    components: tuple[Component, ...] = ()
    in_range: bool | None = None  # None: the estimate has no range

    @property
    def error(self) -> float | None:
        """Signed relative error: (estimate - measured) / measured."""
        if self.estimate is None:
            return None
        return (self.estimate - self.case.measured) / self.case.measured

    @property
    def far_off(self) -> bool:
        """Whether the estimate is more than a factor of two from the measured figure."""
        if self.estimate is None:
            return False
        ratio = self.estimate / self.case.measured
        return ratio > FAR_OFF or ratio < 1 / FAR_OFF

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        c = self.case
        return {
            "case": c.id,
            "group": c.group,
            "source": c.source,
            "role": c.role,
            "fitted_in": list(c.fitted_in),
            "confidence": c.confidence,
            "boundary": c.boundary,
            "field": self.field,
            "unit": c.unit,
            "measured": c.measured,
            "estimate": self.estimate,
            "error": self.error,
            "in_range": "no range" if self.in_range is None else self.in_range,
            "far_off": self.far_off,
            "warnings": [{"field": f, "warning": w} for f, w in self.warnings],
            "components": [
                {
                    "boundary": p.boundary,
                    "field": p.field,
                    "measured": p.measured,
                    "estimate": p.estimate,
                    "error": p.error,
                }
                for p in self.components
            ],
            "problem": self.problem,
        }


def derivation_warnings(est: Estimate, name: str) -> tuple[tuple[str, str], ...]:
    """Every warning on the derivation of one field: its own and its inputs', depth first."""
    fields = est.fields
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen or current not in fields:
            continue
        seen.add(current)
        resolved = fields[current]
        if resolved.warning:
            out.append((current, resolved.warning))
        if resolved.rule is not None:
            stack.extend(reversed(resolved.rule.inputs))
    return tuple(out)


def _value(est: Estimate, name: str | None) -> float | None:
    if name is None or name not in est.fields:
        return None
    return float(est.fields[name].value)


def estimate_case(suite: Suite, ruleset: Ruleset, case: Case) -> tuple[Outcome, Estimate | None]:
    """Estimate one case and compare it at its boundary; the estimate too, when there is one."""
    name = suite.boundaries[case.boundary].field
    parts = {b: suite.boundaries[b].field for b in case.components}
    if name not in ruleset.fields:
        problem = f"the ruleset has no field {name} for boundary {case.boundary}"
        return Outcome(case, None, None, problem), None
    unit = ruleset.fields[name].unit
    if unit != case.unit:
        return Outcome(case, name, None, f"measured in {case.unit}, {name} is in {unit}"), None
    extra = tuple(dict.fromkeys([name, *(f for f in parts.values() if f in ruleset.fields)]))
    # A field an earlier version does not declare (one a later version added, such as the
    # precision of 2.4) is left out: that version has no use for it, and comparing versions
    # on the same runs must not refuse a case for what its source states. Every case is
    # checked to be a valid disclosure of the newest ruleset (tests/test_validation.py).
    values = {k: v for k, v in case.values.items() if k in ruleset.fields}
    try:
        est = estimate(
            {"id": case.id, "values": values},
            ruleset,
            name=f"{case.file}#{case.id}",
            extra=extra,
        )
    except TuneprintError as exc:
        return Outcome(case, name, None, str(exc.problems[0])), None
    components = tuple(
        Component(b, f if f in ruleset.fields else None, m, _value(est, f))
        for (b, m), f in zip(case.components.items(), parts.values(), strict=True)
    )
    warnings = derivation_warnings(est, name)
    return Outcome(case, name, _value(est, name), None, warnings, components), est


def run_case(suite: Suite, ruleset: Ruleset, case: Case) -> Outcome:
    """Estimate one case and compare it at its boundary."""
    return estimate_case(suite, ruleset, case)[0]


def run(suite: Suite, ruleset: Ruleset) -> list[Outcome]:
    """Every case of the suite under one ruleset, in suite order."""
    return [run_case(suite, ruleset, c) for c in suite.cases]


def _stats(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    done = [o for o in outcomes if o.error is not None]
    if not done:
        return {"cases": 0, "median_abs_error": None}
    median = statistics.median(abs(o.error or 0.0) for o in done)
    return {"cases": len(done), "median_abs_error": median}


def group_summary(suite: Suite, outcomes: list[Outcome], group: str) -> dict[str, Any]:
    """One group: counts, median and worst |error| (all, held out, fitted on), the cases
    more than a factor of two off and whether each carries a warning, and per source."""
    mine = [o for o in outcomes if o.case.group == group]
    done = [o for o in mine if o.error is not None]
    out: dict[str, Any] = {
        "title": suite.groups[group].title,
        "cases": len(mine),
        "estimated": len(done),
        "not_estimated": [o.case.id for o in mine if o.error is None],
        "empty_because": suite.groups[group].empty_because if not mine else None,
        "median_abs_error": None,
        "worst": None,
    }
    if done:
        worst = max(done, key=lambda o: abs(o.error or 0.0))
        out["median_abs_error"] = statistics.median(abs(o.error or 0.0) for o in done)
        out["worst"] = {"case": worst.case.id, "error": worst.error}
    out["held_out"] = _stats(o for o in mine if o.case.held_out)
    out["fitted_on"] = _stats(o for o in mine if not o.case.held_out)
    out["far_off"] = [
        {"case": o.case.id, "error": o.error, "warned": bool(o.warnings)}
        for o in done
        if o.far_off
    ]
    out["by_source"] = {
        s: _stats(o for o in mine if o.case.source == s)
        for s in dict.fromkeys(o.case.source for o in mine)
    }
    return out


def summary(suite: Suite, outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
    """Every group's summary, in the suite's order."""
    return {g: group_summary(suite, outcomes, g) for g in suite.groups}


def threshold_failures(
    groups: dict[str, dict[str, Any]], thresholds: dict[str, float]
) -> list[str]:
    """The groups whose median |error| is worse than its threshold (or not measurable)."""
    failures = []
    for group, limit in thresholds.items():
        got = groups.get(group, {}).get("median_abs_error")
        if got is None:
            failures.append(f"{group}: no case estimated (threshold {limit:.1%})")
        elif got > limit:
            failures.append(f"{group}: median |error| {got:.1%} is worse than {limit:.1%}")
    return failures


def report(suite: Suite, ruleset: Ruleset, outcomes: list[Outcome]) -> dict[str, Any]:
    """The JSON report: the ruleset, every case's outcome and the summary per group."""
    return {
        "ruleset": {
            "id": ruleset.id,
            "version": ruleset.version,
            "draft": ruleset.draft,
            "content_hash": ruleset.content_hash,
        },
        "suite": {"cases": len(suite.cases), "sources": suite.sources},
        "groups": summary(suite, outcomes),
        "cases": [o.as_dict() for o in outcomes],
    }
