"""Checking the ruleset's predictions against measured runs kept next to the rules.

A ruleset layer may hold ``calibration/*.yaml``: cases, each with the values a disclosure
would give and the fields that were measured. Each case is estimated like any disclosure
and every measured field compared with its prediction.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from ..core.model import Ruleset
from ..core.problems import Problem, RulesetError, TuneprintError
from ..core.resolve import estimate
from ..core.values import NUMBER_TYPES, ValueProblem, coerce
from ..load.disclosures import disclosure_from_document
from ..load.files import list_files
from ..load.paths import display_path
from ..load.schemas import check
from ..load.yamlio import line_of, load_file


@dataclass(frozen=True)
class Check:
    """One measured field of one case, with its prediction."""

    case: str
    field: str
    unit: str
    measured: float
    predicted: float | None
    error: str | None = None

    @property
    def relative_error(self) -> float | None:
        """(predicted - measured) / measured."""
        if self.predicted is None or not self.measured:
            return None
        return (self.predicted - self.measured) / self.measured

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "case": self.case,
            "field": self.field,
            "unit": self.unit,
            "measured": self.measured,
            "predicted": self.predicted,
            "relative_error": self.relative_error,
            "error": self.error,
        }


def load_cases(ruleset: Ruleset) -> list[tuple[str, dict[str, Any]]]:
    """Every calibration case of the ruleset's layers (a later layer replaces by id); each
    measured field must be a numeric field of the ruleset, its value within the field's
    bounds."""
    cases: dict[str, tuple[str, dict[str, Any]]] = {}
    problems: list[Problem] = []
    for layer in ruleset.layers:
        folder = layer.folder / "calibration"
        for path in list_files(folder, "*.yaml", RulesetError, display_path(folder)):
            name = display_path(path)
            doc = load_file(path, RulesetError, name, within=layer.folder)
            found = check("calibration", doc, name)
            if found:
                raise RulesetError(found)
            for i, case in enumerate(doc["cases"]):
                for field, value in case["measured"].items():
                    where = ["cases", i, "measured", field]
                    line = line_of(doc, where)
                    spec = ruleset.fields.get(field)
                    if spec is None or spec.type not in NUMBER_TYPES:
                        problems.append(
                            Problem(
                                name, line, field, "measured field must be a numeric field",
                                "unknown-field", field=field,
                            )
                        )  # fmt: skip
                        continue
                    try:
                        coerce(spec, value)
                    except ValueProblem as exc:
                        problems.append(Problem(name, line, field, str(exc), exc.code, field))
                cases[case["id"]] = (name, case)
    if problems:
        raise RulesetError(problems)
    return list(cases.values())


def run_checks(ruleset: Ruleset) -> list[Check]:
    """Estimate every case and compare each measured field."""
    out: list[Check] = []
    for file, case in load_cases(ruleset):
        measured: dict[str, float] = case["measured"]
        try:
            disclosure = disclosure_from_document(
                {"id": case["id"], "values": case["values"]}, f"{file}#{case['id']}", ruleset
            )
            est = estimate(ruleset, disclosure, extra=tuple(measured))
        except TuneprintError as exc:
            for name, value in measured.items():
                out.append(Check(case["id"], name, "", value, None, str(exc.problems[0])))
            continue
        for name, value in measured.items():
            r = est.fields[name]
            out.append(Check(case["id"], name, r.unit, value, float(r.value)))
    return out


def summary(checks: list[Check]) -> dict[str, dict[str, Any]]:
    """Per field: cases, median and worst absolute relative error (and its case)."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted({c.field for c in checks}):
        errors = [
            (abs(c.relative_error), c.case)
            for c in checks
            if c.field == name and c.relative_error is not None
        ]
        failed = sum(1 for c in checks if c.field == name and c.relative_error is None)
        if not errors:
            out[name] = {"cases": 0, "failed": failed}
            continue
        worst = max(errors)
        out[name] = {
            "cases": len(errors),
            "failed": failed,
            "median_abs_error": statistics.median(e for e, _ in errors),
            "worst_abs_error": worst[0],
            "worst_case": worst[1],
        }
    return out


def report(ruleset: Ruleset, checks: list[Check]) -> dict[str, Any]:
    """The JSON report: the ruleset, every check and the summary per field."""
    return {
        "ruleset": {
            "id": ruleset.id,
            "version": ruleset.version,
            "content_hash": ruleset.content_hash,
        },
        "checks": [c.as_dict() for c in checks],
        "summary": summary(checks),
    }
