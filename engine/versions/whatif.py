"""What-if: the same disclosure with some values overridden, and what moved and why."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..core.model import Disclosure, Ruleset
from ..core.problems import InputError, Problem
from ..core.resolve import Estimate
from ..core.values import ValueProblem, coerce
from ..load.disclosures import unknown_field
from ..load.yamlio import parse_yaml

SAME_VALUE = 1e-12  # relative difference below which a value did not move


def override(disclosure: Disclosure, assignments: list[str], ruleset: Ruleset) -> Disclosure:
    """The disclosure with ``FIELD=VALUE`` assignments applied (values read as YAML
    scalars and checked like disclosed ones)."""
    values = dict(disclosure.values)
    problems = []
    for text in assignments:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(Problem("--set", None, text, "expected FIELD=VALUE", "option"))
            continue
        spec = ruleset.fields.get(name)
        if spec is None:
            problems.append(unknown_field("--set", None, name, ruleset))
            continue
        if any(ch in raw for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
            problems.append(
                Problem("--set", None, name, "a value must be on one line", "syntax", field=name)
            )
            continue
        try:
            written = (
                parse_yaml(raw, "--set", InputError, written_numbers=True) if raw.strip() else None
            )
            if isinstance(written, (dict, list)):
                raise InputError([])
            values[name] = coerce(spec, written, ruleset.tables)
        except InputError as exc:
            why = exc.problems[0].message if exc.problems else "not a value"
            problems.append(
                Problem(
                    "--set", None, name, f"cannot read the value {raw!r}: {why}", "syntax",
                    field=name,
                )
            )  # fmt: skip
        except ValueProblem as exc:
            problems.append(Problem("--set", None, name, str(exc), exc.code, field=name))
    if problems:
        raise InputError(problems)
    lines = {**disclosure.lines, **{k: None for k in values if k not in disclosure.values}}
    return dataclasses.replace(
        disclosure, values=values, lines=lines, name=f"{disclosure.name} (what-if)"
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and math.isclose(a, b, rel_tol=SAME_VALUE, abs_tol=0.0)
        )
    return bool(a == b)


def moved_fields(
    before: Estimate, after: Estimate, set_by: str = "--set"
) -> list[tuple[str, Any, Any, list[str]]]:
    """Every field whose value differs, outputs first, each with why: set directly (by
    ``set_by``), a different rule, or which of its inputs moved."""
    names = list(after.ruleset.outputs) + [
        n for n in (*before.fields, *after.fields) if n not in after.ruleset.outputs
    ]
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        old, new = before.fields.get(name), after.fields.get(name)
        old_value = old.value if old else None
        new_value = new.value if new else None
        if _same(old_value, new_value):
            continue
        reasons: list[str] = []
        if (
            new is not None
            and new.status == "input"
            and (old is None or old.status != "input" or old.value != new.value)
        ):
            reasons.append(f"set by {set_by}")
        elif old is not None and new is not None and old.rule is not new.rule:
            was = old.rule.id if old.rule else "disclosed"
            now = new.rule.id if new.rule else "disclosed"
            reasons.append(f"now from {now} (was {was})")
        if new is not None:
            for dep in new.inputs:
                dep_old = before.fields.get(dep)
                if dep_old is None or not _same(dep_old.value, after.fields[dep].value):
                    reasons.append(f"because {dep} moved")
        out.append((name, old_value, new_value, reasons))
    return out
