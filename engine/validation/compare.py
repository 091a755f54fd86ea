"""The validation suite under two rulesets: for each case the estimate and error under
each, and the changed rules and table rows on the derivation path of the compared field
(following only inputs that moved); per group the medians under each; per change of the
newer ruleset's changelog, the cases it moved and their errors before and after."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from ..core.model import Ruleset
from ..core.resolve import Estimate
from ..core.values import DEFAULT_REL_TOL
from ..versions.diff import derivation, ruleset_diff
from .report import Outcome, estimate_case
from .suite import Suite

WORDING = "wording"  # a change of text only moves no number


@dataclass(frozen=True)
class CaseChange:
    """One case under rulesets A and B."""

    old: Outcome
    new: Outcome
    causes: tuple[str, ...]  # changed subjects on the path of the compared field

    @property
    def moved(self) -> bool:
        """Whether the compared figure changed (or became estimable, or stopped being)."""
        a, b = self.old.estimate, self.new.estimate
        if a is None or b is None:
            return a is not b
        return not math.isclose(a, b, rel_tol=DEFAULT_REL_TOL)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "case": self.new.case.id,
            "group": self.new.case.group,
            "field": self.new.field,
            "measured": self.new.case.measured,
            "old": {
                "estimate": self.old.estimate,
                "error": self.old.error,
                "problem": self.old.problem,
            },
            "new": {
                "estimate": self.new.estimate,
                "error": self.new.error,
                "problem": self.new.problem,
            },
            "moved": self.moved,
            "causes": list(self.causes),
        }


def _moved_between(a: Estimate, b: Estimate) -> Any:
    def moved(name: str) -> bool:
        ra, rb = a.fields.get(name), b.fields.get(name)
        if ra is None or rb is None:
            return ra is not rb
        if isinstance(ra.value, (int, float)) and isinstance(rb.value, (int, float)):
            return not math.isclose(ra.value, rb.value, rel_tol=DEFAULT_REL_TOL)
        return bool(ra.value != rb.value)

    return moved


def compare(suite: Suite, old: Ruleset, new: Ruleset) -> list[CaseChange]:
    """Every case of the suite under both rulesets, in suite order."""
    changed = {c.subject for c in ruleset_diff(old, new) if c.category != WORDING}
    out = []
    for case in suite.cases:
        oa, ea = estimate_case(suite, old, case)
        ob, eb = estimate_case(suite, new, case)
        causes: set[str] = set()
        if ea is not None and eb is not None and ob.field is not None:
            moved = _moved_between(ea, eb)
            causes = (derivation(ea, ob.field, moved) | derivation(eb, ob.field, moved)) & changed
        elif eb is not None and ob.field is not None:
            # estimable only under the newer ruleset: everything on its path it added or changed
            causes = derivation(eb, ob.field, lambda _: True) & changed
        out.append(CaseChange(oa, ob, tuple(sorted(causes))))
    return out


def _median_abs(values: list[float | None]) -> float | None:
    done = [abs(v) for v in values if v is not None]
    return statistics.median(done) if done else None


def by_group(suite: Suite, changes: list[CaseChange]) -> dict[str, dict[str, Any]]:
    """Per group: cases estimated and the median |error| under each ruleset, over all cases
    each estimates and over the cases both estimate."""
    out = {}
    for key, group in suite.groups.items():
        mine = [c for c in changes if c.new.case.group == key]
        both = [c for c in mine if c.old.error is not None and c.new.error is not None]
        out[key] = {
            "title": group.title,
            "cases": len(mine),
            "old_estimated": sum(1 for c in mine if c.old.error is not None),
            "new_estimated": sum(1 for c in mine if c.new.error is not None),
            "old_median_abs_error": _median_abs([c.old.error for c in mine]),
            "new_median_abs_error": _median_abs([c.new.error for c in mine]),
            "both_estimated": len(both),
            "both_old_median_abs_error": _median_abs([c.old.error for c in both]),
            "both_new_median_abs_error": _median_abs([c.new.error for c in both]),
        }
    return out


def by_change(new: Ruleset, changes: list[CaseChange]) -> list[dict[str, Any]]:
    """Per entry of the newer ruleset's changelog: the cases whose compared figure it moved
    (one of its rules is among the case's causes; for an entry of data alone, a row of one of
    its tables), and their median |error| before and after. A case moved by several entries
    counts under each; a row counts as changed whatever cell changed, so data entries are
    credited coarsely."""
    out = []
    for entry in new.changelog:
        rules = {f"rule {r}" for r in entry.get("rules", [])}
        tables = () if rules else tuple(f"row {t}[" for t in entry.get("tables", []))
        hit = [
            c
            for c in changes
            if c.moved and any(s in rules or s.startswith(tables) for s in c.causes)
        ]
        out.append(
            {
                "change": " ".join(str(entry["change"]).split()),
                "cases_moved": len(hit),
                "cases": [c.new.case.id for c in hit],
                "old_median_abs_error": _median_abs([c.old.error for c in hit]),
                "new_median_abs_error": _median_abs([c.new.error for c in hit]),
            }
        )
    return out


def newly_estimated(changes: list[CaseChange]) -> list[str]:
    """The cases only the newer ruleset estimates (the older refused a name or a field)."""
    return [c.new.case.id for c in changes if c.old.error is None and c.new.error is not None]


def comparison(suite: Suite, old: Ruleset, new: Ruleset) -> dict[str, Any]:
    """The JSON document of a comparison."""
    changes = compare(suite, old, new)
    return {
        "old": {"id": old.id, "version": old.version, "content_hash": old.content_hash},
        "new": {"id": new.id, "version": new.version, "content_hash": new.content_hash},
        "groups": by_group(suite, changes),
        "changes": by_change(new, changes),
        "newly_estimated": newly_estimated(changes),
        "cases": [c.as_dict() for c in changes],
    }
