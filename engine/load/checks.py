"""Checks of a ruleset's rules as a whole: duplicate ids, priorities, cycles and units."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

from ..core.model import FieldSpec, Layer, Location, Rule, Table
from ..core.problems import Problem, RulesetError
from .paths import display_path

UNITS_FILE = "units.txt"


def file_of(at: Location, layers: Sequence[Layer]) -> str:
    """The file a location points at, as a user would type it."""
    for layer in layers:
        if layer.version == at.version:
            return display_path(layer.folder / at.path)
    return at.path


def _problem(rule: Rule, layers: Sequence[Layer], message: str, code: str) -> Problem:
    return Problem(file_of(rule.at, layers), rule.at.line, rule.id, message, code, rule=rule.id)


def check_duplicates(rules: list[Rule], layers: Sequence[Layer]) -> list[Problem]:
    """Two rules of one version with the same id."""
    seen: dict[str, Rule] = {}
    problems = []
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id]
            problems.append(
                _problem(
                    rule,
                    layers,
                    f"duplicate rule id (first at {file_of(first.at, layers)}:{first.at.line})",
                    "duplicate",
                )
            )
        seen[rule.id] = rule
    return problems


def group_by_field(
    rules: list[Rule], layers: Sequence[Layer]
) -> tuple[dict[str, tuple[Rule, ...]], list[Problem]]:
    """Rules by the field they set, in priority order; equal priorities are problems."""
    by_field: dict[str, list[Rule]] = {}
    for rule in rules:
        by_field.setdefault(rule.sets, []).append(rule)
    out = {}
    problems = []
    for name, group in by_field.items():
        group.sort(key=lambda r: r.priority)
        for a, b in itertools.pairwise(group):
            if a.priority == b.priority:
                problems.append(
                    _problem(
                        b,
                        layers,
                        f"priority {b.priority} is also the priority of {a.id} "
                        f"({file_of(a.at, layers)}:{a.at.line}); two rules of {name} need "
                        "different priorities",
                        "priority",
                    )
                )
        out[name] = tuple(group)
    return out, problems


def check_cycles(by_field: dict[str, tuple[Rule, ...]], layers: Sequence[Layer]) -> list[Problem]:
    """Rules whose inputs lead back to the field they set. Iterative, so a long chain of
    rules cannot exhaust the interpreter's stack."""
    problems: list[Problem] = []
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    for start in sorted(by_field):
        if start in state:
            continue
        # Each frame: the field, the (rule, input) pairs still to visit, the edge taken.
        path: list[tuple[str, str]] = [(start, "-")]
        stack = [(start, iter([(r, d) for r in by_field.get(start, ()) for d in r.inputs]))]
        state[start] = 1
        while stack:
            name, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[name] = 2
                stack.pop()
                path.pop()
                continue
            rule, dep = step
            if state.get(dep) == 1:
                first = next(i for i, (f, _) in enumerate(path) if f == dep)
                chain = " -> ".join(f"{f} (via {r})" for f, r in [*path[first:], (dep, rule.id)])
                problems.append(
                    _problem(rule, layers, f"dependency cycle: {dep} -> {chain}", "cycle")
                )
            elif dep not in state:
                state[dep] = 1
                path.append((dep, rule.id))
                stack.append(
                    (dep, iter([(r, d) for r in by_field.get(dep, ()) for d in r.inputs]))
                )
    return problems


def check_units(
    layers: Sequence[Layer],
    fields: dict[str, FieldSpec],
    tables: dict[str, Table],
    rules: list[Rule],
) -> tuple[list[Rule], list[Problem]]:
    """Every declared unit must parse; every rule's result must be in its field's unit and
    of its kind. Returns the rules with conversions compiled to factors, and the problems."""
    from .files import read_text
    from .units import (
        UnitDefinitionProblem,
        UnitProblem,
        check_declared_unit,
        check_rule,
        registry_from_text,
    )

    problems: list[Problem] = []
    texts = []
    for layer in layers:
        path = layer.folder / UNITS_FILE
        if os.path.lexists(path):
            texts.append((path, read_text(path, RulesetError, display_path(path), layer.folder)))
    try:
        ureg = registry_from_text("\n".join(text for _, text in texts))
    except UnitDefinitionProblem as exc:
        shown = ", ".join(display_path(p) for p, _ in texts)
        return rules, [Problem(shown, None, "", f"unit definitions: {exc}", "units")]
    for spec in fields.values():
        problem = check_declared_unit(ureg, spec.unit)
        if problem and spec.at is not None:
            problems.append(
                Problem(file_of(spec.at, layers), spec.at.line, spec.name, problem, "units")
            )
    for table in tables.values():
        for column in table.columns.values():
            problem = check_declared_unit(ureg, column.unit)
            if problem:
                problems.append(
                    Problem(
                        file_of(table.at, layers),
                        None,
                        f"{table.name}.{column.name}",
                        problem,
                        "units",
                    )
                )
    if problems:
        return rules, problems
    checked = []
    for rule in rules:
        try:
            checked.append(check_rule(ureg, rule, fields, tables))
        except UnitProblem as exc:
            problems.append(_problem(rule, layers, f"units: {exc}", "units"))
    return checked, problems


def check_constants(
    rules: list[Rule],
    fields: dict[str, FieldSpec],
    tables: dict[str, Table],
    layers: Sequence[Layer],
) -> list[Problem]:
    """Expressions that read no field are evaluated once, here: one that can only fail
    (an overflow, a division by zero, a value outside its field's bounds) is refused at
    load, with its file and line, instead of failing every estimate."""
    from ..core.expressions import EVALUATION_ERRORS, reference_run
    from ..core.tables import NotApplicable
    from ..core.values import ValueProblem, coerce

    problems = []
    for rule in rules:
        for part, expr in (
            ("value", rule.value),
            ("when", rule.when),
            ("warn_when", rule.warn_when),
        ):
            if expr is None or expr.inputs or expr.disclosed_inputs or expr.table_refs:
                continue
            try:
                value = reference_run(expr, {}, [], tables)
                if part == "value":
                    coerce(fields[rule.sets], value, tables)
            except (*EVALUATION_ERRORS, NotApplicable) as exc:
                message = f"{part} {expr.text!r} cannot be evaluated: {exc}"
                problems.append(_problem(rule, layers, message, "rule-error"))
            except ValueProblem as exc:
                message = (
                    f"{part} {expr.text!r} gives {value!r}, not a value of {rule.sets}: {exc}"
                )
                problems.append(_problem(rule, layers, message, "bounds"))
    return problems
