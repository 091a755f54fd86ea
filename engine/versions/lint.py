"""Warnings about a ruleset that loads: things an auditor should look at, not errors.

- a rule that can never fire: a rule of higher priority always applies (no condition, no
  table look-up, and inputs that always resolve);
- fields nothing reads, no output or report shows and no calibration case measures;
  tables no rule reads;
- rows without a source;
- fields rules read but nothing can set: they must be disclosed (no fallback);
- stale data: a year-keyed table whose latest year is more than ``STALE_YEARS`` before
  the ruleset's release year.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from ..calibration.cases import load_cases
from ..core.model import Location, Rule, Ruleset
from ..load.paths import display_path

STALE_YEARS = 2  # data older than this many years before the release is flagged


@dataclass(frozen=True)
class Finding:
    """One lint finding: its kind, where it can be fixed, what it is about, and why."""

    kind: str
    file: str
    line: int | None
    subject: str  # the rule, field or table the finding is about
    message: str

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{self.kind}: {place}: {self.subject}: {self.message}"


def _finding(rs: Ruleset, kind: str, at: Location | None, subject: str, message: str) -> Finding:
    file = display_path(rs.path_of(at)) if at is not None else rs.version
    return Finding(kind, file, None if at is None else at.line, subject, message)


def _reads(rule: Rule) -> set[str]:
    return set(rule.inputs) | set(rule.disclosed_inputs)


def lint(rs: Ruleset, today: date | None = None) -> list[Finding]:
    """Every finding for a loaded ruleset, in a stable order."""
    findings: list[Finding] = []
    always: dict[str, bool] = {}

    def always_applies(rule: Rule) -> bool:
        return (
            rule.when is None
            and not rule.value.table_refs
            and not rule.disclosed_inputs
            and all(resolves(f) for f in rule.inputs)
        )

    def resolves(name: str) -> bool:
        if name not in always:
            always[name] = False  # the graph is acyclic; this only guards the recursion
            always[name] = any(always_applies(r) for r in rs.rules.get(name, ()))
        return always[name]

    for rules in rs.rules.values():
        for i, rule in enumerate(rules):
            if always_applies(rule):
                for shadowed in rules[i + 1 :]:
                    findings.append(
                        _finding(
                            rs,
                            "never-fires",
                            shadowed.at,
                            shadowed.id,
                            f"{rule.id} (priority {rule.priority}) always applies first",
                        )
                    )
                break

    read: set[str] = set()
    tables_read: set[str] = set()
    for rules in rs.rules.values():
        for rule in rules:
            read |= _reads(rule)
            tables_read |= {t for t, _ in rule.value.table_refs}
            if rule.when is not None:
                tables_read |= {t for t, _ in rule.when.table_refs}
    measured = {name for _, case in load_cases(rs) for name in case["measured"]}
    shown = set(rs.outputs) | set(rs.report) | measured
    for spec in rs.fields.values():
        if spec.table:
            tables_read.add(spec.table)
        if spec.name not in read and spec.name not in shown:
            findings.append(
                _finding(
                    rs,
                    "unused-field",
                    spec.at,
                    spec.name,
                    "no rule reads it, no output or report shows it,"
                    " no calibration case measures it",
                )
            )
        elif spec.name in read and spec.name not in rs.rules:
            findings.append(
                _finding(
                    rs,
                    "no-fallback",
                    spec.at,
                    spec.name,
                    "rules read it but none sets it: it must be disclosed",
                )
            )
    for table in rs.tables.values():
        if table.name not in tables_read:
            findings.append(
                _finding(rs, "unused-table", table.at, table.name, "no rule reads this table")
            )
        for row in table.rows:
            if not row.sources:
                findings.append(
                    _finding(
                        rs,
                        "no-source",
                        row.at,
                        table.name,
                        f"row {'/'.join(map(str, row.key))} has no source",
                    )
                )
    year = int(rs.released[:4]) if rs.released else (today or date.today()).year
    for table in rs.tables.values():
        if not table.years or table.columns[table.key[-1]].type != "integer":
            continue
        latest = Counter(rows[-1][0] for rows in table.years.values())
        stale = {y: n for y, n in latest.items() if y < year - STALE_YEARS}
        if stale:
            spread = ", ".join(f"{n} end in {y}" for y, n in sorted(stale.items()))
            findings.append(
                _finding(
                    rs,
                    "stale-data",
                    table.at,
                    table.name,
                    f"{sum(stale.values())} of {len(table.years)} series end "
                    f"more than {STALE_YEARS} years before {year} ({spread})",
                )
            )
    return sorted(
        findings,
        key=lambda f: (f.kind, f.file, f.line or 0, f.subject),
    )
