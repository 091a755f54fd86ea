"""What a disclosure may hold: the ruleset's fields by the methodology's groups, each with
its unit, meaning and an example value, and the starter disclosures ``tuneprint init``
writes.

Groups, examples and aliases are data of the ruleset (``group``, ``example``, ``aliases``
of a field). A ruleset without them still works: an ungrouped field is in ``other``, and
a field without an example gets one from its type, bounds, choices or table.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from ..core.model import Disclosure, FieldSpec, Ruleset
from ..core.problems import Problem, TuneprintError, UnresolvedError
from ..core.resolve import estimate

GROUPS = ("infrastructure", "operational", "usage")  # the methodology's, in its order
OTHER = "other"  # fields no group names: mostly derived by the rules
WIDTH = 80  # columns of the text forms
DATE_EXAMPLE = "2024-07-06"  # a date written as the disclosure schema reads it
STARTERS = ("seed", "bedrock", "minimal")
MAX_WHOLE_FLOAT = 1e16  # a float below this written as a whole number is exact
YAML_LINE = 1000  # characters PyYAML may put on one line of a quoted value


def group_of(spec: FieldSpec) -> str:
    """The group a field is listed under."""
    return spec.group or OTHER


def example_of(spec: FieldSpec, ruleset: Ruleset) -> Any:
    """The field's declared example, or one from its type: a choice, a table's first
    name, a number inside its bounds; None for free text."""
    if spec.example is not None:
        return spec.example
    if spec.type == "enum":
        return spec.choices[0]
    if spec.type == "name":
        table = ruleset.tables.get(spec.table or "")
        if table is not None and table.rows:
            row = table.rows[0]
            return row.aliases[0] if row.aliases else str(row.key[0])
        return None
    if spec.type in ("number", "integer"):
        value: float = 1
        if spec.minimum is not None and value < spec.minimum:
            value = spec.minimum
        if spec.maximum is not None and value > spec.maximum:
            value = spec.maximum
        return int(value) if spec.type == "integer" or float(value).is_integer() else value
    if spec.type in ("date", "datetime"):
        return DATE_EXAMPLE
    if spec.type == "boolean":
        return False
    return None


def grouped(ruleset: Ruleset) -> dict[str, list[FieldSpec]]:
    """Every field by group: the methodology's groups first (those the ruleset uses), then
    ``other``; fields in the order the ruleset declares them."""
    out: dict[str, list[FieldSpec]] = {g: [] for g in (*GROUPS, OTHER)}
    for spec in ruleset.fields.values():
        out.setdefault(group_of(spec), []).append(spec)
    return {g: specs for g, specs in out.items() if specs}


def disclosure_groups(ruleset: Ruleset) -> list[str]:
    """The groups a newcomer discloses from: the methodology's, or ``other`` alone when the
    ruleset groups no field."""
    found = [g for g in grouped(ruleset) if g != OTHER]
    return found or [OTHER]


def written(value: Any) -> str:
    """A value as YAML and the field list show it (text quoted only where YAML needs it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value.is_integer() and abs(value) < MAX_WHOLE_FLOAT:
            return str(int(value))
        return repr(value)
    text = str(value)
    plain = yaml.safe_dump(text, default_flow_style=True, width=YAML_LINE).strip()
    plain = plain.removesuffix("...").strip()
    return plain if yaml.safe_load(plain) == text else json.dumps(text)


def kind_text(spec: FieldSpec) -> str:
    """What a value of the field looks like: its unit, choices or table."""
    if spec.type == "enum":
        return "one of " + ", ".join(spec.choices)
    if spec.type == "name":
        return f"a name from 'tuneprint data show {spec.table}'"
    if spec.type in ("date", "datetime"):
        return "a date, YYYY-MM-DD (or YYYY-MM)" + (
            ", with a time" if spec.type == "datetime" else ""
        )
    if spec.unit == "1":
        return "a pure number" if spec.type == "number" else "a whole number"
    if spec.unit == "-":
        return "text"
    return f"in {spec.unit}"


# -- tuneprint fields ------------------------------------------------------------------------


def fields_record(ruleset: Ruleset, groups: list[str]) -> dict[str, Any]:
    """The JSON form of ``tuneprint fields``."""
    by_group = grouped(ruleset)
    out = []
    for g in groups:
        rows = []
        for spec in by_group.get(g, []):
            row: dict[str, Any] = {
                "name": spec.name,
                "type": spec.type,
                "unit": spec.unit,
                "description": spec.description,
                "example": example_of(spec, ruleset),
                "aliases": list(spec.aliases),
            }
            if spec.choices:
                row["choices"] = list(spec.choices)
            if spec.table:
                row["table"] = spec.table
            for key, bound in (
                ("min", spec.minimum),
                ("exclusive_min", spec.exclusive_minimum),
                ("max", spec.maximum),
            ):
                if bound is not None:
                    row[key] = bound
            rows.append(row)
        out.append({"group": g, "fields": rows})
    return {"ruleset": ruleset.label, "groups": out}


def fields_text(ruleset: Ruleset, groups: list[str], hidden: dict[str, int]) -> str:
    """``tuneprint fields`` as text of at most WIDTH columns; ``hidden``: groups left out
    and their field counts, named at the end."""
    by_group = grouped(ruleset)
    lines = [f"Fields a disclosure may hold (ruleset {ruleset.label})"]
    wrap = textwrap.TextWrapper(
        width=WIDTH, initial_indent="      ", subsequent_indent="      ", break_on_hyphens=False
    )
    for g in groups:
        specs = by_group.get(g, [])
        lines += ["", f"{g} ({len(specs)} fields)"]
        for spec in specs:
            example = example_of(spec, ruleset)
            head = f"  {spec.name}"
            if example is not None:
                tail = f"e.g. {written(example)}"
                gap = max(2, WIDTH - len(head) - len(tail))
                head = head + " " * gap + tail if len(head) + 2 + len(tail) <= WIDTH else head
                if len(head) > WIDTH or not head.endswith(tail):
                    lines.append(head)
                    head = wrap.fill(tail)
            lines.append(head)
            lines += wrap.wrap(f"{spec.description}; {kind_text(spec)}")
            if spec.aliases:
                lines += wrap.wrap("also written: " + ", ".join(spec.aliases))
    for g, n in hidden.items():
        lines += [
            "",
            f"and {n} {g} fields the rules derive (a disclosure may give them too, to "
            f"replace the rule): tuneprint fields --group {g}",
        ]
    lines += ["", "Start a disclosure with: tuneprint init > my-run.yaml"]
    out: list[str] = []
    for line in lines:  # a name longer than the width is the only line wrapped here
        out += (
            textwrap.wrap(line, WIDTH, subsequent_indent="      ") if len(line) > WIDTH else [line]
        )
    return "\n".join(out) + "\n"


# -- tuneprint init --------------------------------------------------------------------------


@dataclass(frozen=True)
class Starter:
    """A starter disclosure: what it is, and its document (id, description, values)."""

    name: str
    summary: str
    document: dict[str, Any]


def shipped_starters() -> dict[str, dict[str, Any]]:
    """The starters kept as package data (the methodology's seed disclosures)."""
    text = resources.files("tuneprint").joinpath("starters.yaml").read_text(encoding="utf-8")
    doc: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return doc


def minimal_values(ruleset: Ruleset) -> dict[str, Any]:
    """The fewest disclosable fields (each at its example value) with which every output of
    the ruleset resolves: tried by size from what an empty disclosure says is missing."""
    empty = Disclosure("minimal", "minimal", {}, {}, {}, {})
    try:
        estimate(ruleset, empty)
        return {}
    except UnresolvedError as exc:
        options = list(dict.fromkeys(o for u in exc.failures for o in u.options))
    # each field of those sets alone too: one field may resolve several outputs that the
    # analysis, output by output, pairs with another
    options += [(name,) for name in dict.fromkeys(n for o in options for n in o)]
    preferred = set(disclosure_groups(ruleset))
    options.sort(
        key=lambda o: (len(o), not all(group_of(ruleset.fields[n]) in preferred for n in o))
    )
    for option in options:
        values = {n: example_of(ruleset.fields[n], ruleset) for n in option}
        if any(v is None for v in values.values()):
            continue
        try:
            estimate(ruleset, _disclosure(values, ruleset))
        except TuneprintError:
            continue
        return values
    raise TuneprintError(
        [
            Problem(
                "init",
                None,
                "minimal",
                f"no small set of fields resolves every output of ruleset {ruleset.label}",
                "unresolved",
            )
        ]
    )


def _disclosure(values: dict[str, Any], ruleset: Ruleset) -> Disclosure:
    from .disclosures import disclosure_from_mapping

    return disclosure_from_mapping(values, "minimal", ruleset)


def starter(name: str, ruleset: Ruleset) -> Starter:
    """The starter of that name for this ruleset."""
    if name == "minimal":
        values = minimal_values(ruleset)
        return Starter(
            name,
            "the fewest fields that give an estimate; every other value comes from the "
            "rules' defaults, so add what you know",
            {"id": "my-fine-tuning", "description": "a fine-tuning run", "values": values},
        )
    raw = shipped_starters()[name]
    return Starter(name, " ".join(raw["summary"].split()), raw["document"])


def _comment(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}# ",
        break_on_hyphens=False,
    )  # fmt: skip


def _meaning(spec: FieldSpec) -> str:
    return f"{spec.description} ({kind_text(spec)})"


def starter_text(item: Starter, ruleset: Ruleset) -> str:
    """The commented YAML of a starter: each given field with its unit and meaning, then
    the other fields of the disclosure groups, commented out with an example."""
    doc = item.document
    values: dict[str, Any] = doc["values"]
    unknown = [k for k in values if k not in ruleset.fields]
    if unknown:
        raise TuneprintError(
            [Problem("init", None, item.name, f"ruleset {ruleset.label} has no field "
                     f"{', '.join(unknown)}: choose another ruleset with --rules", "reference")]
        )  # fmt: skip
    lines = _comment(f"A tuneprint disclosure: {item.summary}.", "")
    lines += _comment(
        "The comment above each value names its meaning and unit. Remove a '# ' to "
        "disclose one of the other fields listed below; leave out what you do not know "
        "(the rules fill it "
        "in, and say so). Check it with: tuneprint estimate THIS-FILE. "
        f"Fields of ruleset {ruleset.label}; all of them: tuneprint fields.",
        "",
    )
    for key in ("id", "description", "source"):
        if doc.get(key):
            lines.append(f"{key}: {written(doc[key])}")
    lines.append("values:")
    groups = disclosure_groups(ruleset)
    by_group = grouped(ruleset)
    for g in [*groups, *(x for x in by_group if x not in groups)]:
        given = [s for s in by_group.get(g, []) if s.name in values]
        if not given:
            continue
        lines.append(f"  # --- {g} ---")
        for spec in given:
            lines += _comment(_meaning(spec), "  ")
            lines.append(f"  {spec.name}: {written(values[spec.name])}")
    others = [
        s for g in groups for s in by_group.get(g, [])
        if s.name not in values and example_of(s, ruleset) is not None
    ]  # fmt: skip
    if groups == [OTHER]:  # an ungrouped ruleset: offer the fields no rule sets
        others = [s for s in others if not ruleset.rules.get(s.name)]
    if others:
        lines.append("")
        lines += _comment("Other fields you may add:", "  ")
        for spec in others:
            lines += _comment(_meaning(spec), "  ")
            lines.append(f"  # {spec.name}: {written(example_of(spec, ruleset))}")
    return "\n".join(lines) + "\n"


# -- tuneprint data show: a row by the names a disclosure uses --------------------------------


def key_name_tables(ruleset: Ruleset, table: str) -> dict[int, str]:
    """Per key column of a table, the table whose names a disclosure writes there: the
    table of the name field the rules look the column up with (grid_country's country is
    looked up with the field country, matched against countries: "France" -> FRA)."""
    import ast

    out: dict[int, str] = {}
    for rules in ruleset.rules.values():
        for rule in rules:
            for expr in rule.expressions:
                for node in ast.walk(expr.node):
                    if not (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Name)
                        and node.func.id in ("lookup", "lookup_year")
                        and node.args
                        and isinstance(node.args[0], ast.Constant)
                        and node.args[0].value == table
                    ):
                        continue
                    for i, arg in enumerate(node.args[1:]):
                        spec = ruleset.fields.get(arg.id) if isinstance(arg, ast.Name) else None
                        if spec is not None and spec.type == "name" and spec.table:
                            out.setdefault(i, spec.table)
    return out


def matching_rows(ruleset: Ruleset, table: str, written: list[str]) -> list[Any]:
    """The rows of a table whose key starts with the written parts, each part matched as a
    disclosure's name would be (aliases, case, punctuation), or as a number for a number
    column. Raises ValueProblem for a name no row has (with the closest ones)."""
    from ..core.names import canonical_name
    from ..core.tables import key_part
    from ..core.values import ValueProblem, match_name, parse_number

    t = ruleset.tables[table]
    names = key_name_tables(ruleset, table)
    if t.names:
        names.setdefault(0, table)
    wanted: list[Any] = []
    for i, part in enumerate(written):
        column = t.columns[t.key[i]] if i < len(t.key) else None
        if column is not None and column.type in ("number", "integer"):
            number = parse_number(part)
            wanted.append(key_part(number if number is not None else part))
            continue
        lookup = ruleset.tables.get(names.get(i, ""))
        if lookup is not None and lookup.names:
            found = canonical_name(lookup, part)
            if found is None:
                try:
                    found = match_name(lookup, part)
                except ValueProblem:
                    if lookup is t:
                        raise
                    found = part  # the column may hold keys the name table lacks
            wanted.append(key_part(found))
        else:
            wanted.append(key_part(part))
    n = len(wanted)
    return [r for r in t.rows if tuple(key_part(k) for k in r.key)[:n] == tuple(wanted)]
