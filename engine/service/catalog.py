"""The rulesets a service serves, loaded once at start, and the JSON records of what they
hold: versions and hashes, fields, rules and table rows with their sources."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..api import load_ruleset
from ..core.model import FieldSpec, Location, Row, Rule, Ruleset, Source, Table
from ..core.names import ambiguous, did_you_mean
from ..core.problems import Problem, RulesetError
from ..core.provenance import plain
from ..core.tables import find_row
from ..core.text import one_line
from ..core.values import ValueProblem
from ..load.disclosures import cell
from .problem import HTTPProblem, parameter_problem


class Catalog:
    """Loaded rulesets by version name, and the default one. Immutable once made."""

    def __init__(self, rulesets: Iterable[Ruleset], default: str) -> None:
        self.rulesets: dict[str, Ruleset] = {}
        for rs in rulesets:
            known = self.rulesets.get(rs.version)
            if known is not None and known.content_hash != rs.content_hash:
                raise RulesetError.one(
                    str(rs.folder),
                    None,
                    "",
                    f"two different rulesets of version {rs.version}: serve one of them",
                    "duplicate",
                )
            self.rulesets[rs.version] = rs
        if default not in self.rulesets:
            raise RulesetError.one(
                "--default",
                None,
                "",
                f"version {default} is not loaded{did_you_mean(default, list(self.rulesets))}",
                "reference",
            )
        self.default = default

    @classmethod
    def load(cls, names: Iterable[str], default: str | None = None) -> Catalog:
        """The newest released shipped ruleset and those named (folders or versions);
        ``default`` picks the one used when a request names none."""
        newest = load_ruleset(None)
        loaded = [newest, *(load_ruleset(name) for name in names)]
        return cls(loaded, default or newest.version)

    def get(self, version: str | None, parameter: str = "ruleset") -> Ruleset:
        """The ruleset of a version (the default for None); 422 naming the loaded ones."""
        if version is None:
            return self.rulesets[self.default]
        rs = self.rulesets.get(version)
        if rs is None:
            raise parameter_problem(parameter, self.unknown(version), "reference")
        return rs

    def in_path(self, version: str) -> Ruleset:
        """The ruleset of a version named in a URL path; 404 when it is not loaded."""
        rs = self.rulesets.get(version)
        if rs is None:
            raise not_found("ruleset", version, self.unknown(version))
        return rs

    def unknown(self, version: str) -> str:
        """The message for a version that is not loaded."""
        hint = did_you_mean(version, list(self.rulesets))
        loaded = ", ".join(self.rulesets)
        return f"ruleset {version!r} is not loaded{hint} (loaded: {loaded})"

    def records(self) -> dict[str, Any]:
        """Every loaded ruleset and the default one."""
        return {
            "default": self.default,
            "rulesets": [
                ruleset_info(rs, rs.version == self.default) for rs in self.rulesets.values()
            ],
        }


def not_found(what: str, name: str, message: str, code: str = "reference") -> HTTPProblem:
    """404 for a ruleset, field, rule, table or row a URL names."""
    return HTTPProblem("not-found", [Problem(what, None, name, message, code)])


def location(at: Location | None) -> dict[str, Any] | None:
    """A location as JSON: ruleset version, file inside it and line."""
    return None if at is None else at.as_dict()


def ruleset_record(rs: Ruleset) -> dict[str, str]:
    """The ruleset as results cite it: id, version and content hash."""
    return {"id": rs.id, "version": rs.version, "content_hash": rs.content_hash}


def ruleset_info(rs: Ruleset, default: bool) -> dict[str, Any]:
    """A ruleset: what results cite, its chain of versions, outputs and sizes."""
    return {
        **ruleset_record(rs),
        "label": rs.label,
        "description": " ".join(rs.description.split()),
        "default": default,
        "released": rs.released,
        "draft": rs.draft,
        "extends": rs.extends,
        "layers": [layer.version for layer in rs.layers],
        "outputs": list(rs.outputs),
        "counts": {
            "fields": len(rs.fields),
            "rules": sum(len(r) for r in rs.rules.values()),
            "tables": len(rs.tables),
            "rows": sum(len(t.rows) for t in rs.tables.values()),
            "sources": len(rs.sources),
        },
    }


def field_info(rs: Ruleset, spec: FieldSpec) -> dict[str, Any]:
    """A field a disclosure may hold: type, unit, bounds, meaning, and the rules that set
    it when it is not disclosed."""
    return {
        "name": spec.name,
        "type": spec.type,
        "unit": spec.unit,
        "description": " ".join(spec.description.split()),
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "exclusive_minimum": spec.exclusive_minimum,
        "choices": list(spec.choices),
        "table": spec.table,
        "digits": spec.digits,
        "group": spec.group,
        "example": plain(spec.example),
        "aliases": list(spec.aliases),
        "output": spec.name in rs.outputs,
        "rules": [rule.id for rule in rs.rules.get(spec.name, ())],
        "at": location(spec.at),
    }


def fields_info(rs: Ruleset) -> dict[str, Any]:
    """Every field of a ruleset."""
    return {
        "ruleset": ruleset_record(rs),
        "fields": {name: field_info(rs, spec) for name, spec in rs.fields.items()},
    }


def source_info(rs: Ruleset, key: str) -> dict[str, Any]:
    """A source by its key, with its citation."""
    src: Source | None = rs.sources.get(key)
    if src is None:
        return {"key": key, "text": key}
    return {
        "key": key,
        "text": src.text(),
        "citation": src.citation,
        "url": src.url,
        "licence": src.licence,
        "vintage": src.vintage,
    }


def _text(expr: Any) -> str | None:
    return None if expr is None else " ".join(expr.text.split())


def rule_info(rs: Ruleset, rule: Rule) -> dict[str, Any]:
    """A rule: what it sets, when, how, why, from which sources and where it is written."""
    return {
        "ruleset": ruleset_record(rs),
        "id": rule.id,
        "sets": rule.sets,
        "priority": rule.priority,
        "status": rule.status,
        "value": _text(rule.value),
        "when": _text(rule.when),
        "reason": " ".join(rule.reason.split()),
        "assumption": rule.assumption,
        "warning": None if rule.warning is None else one_line(rule.warning),
        "warn_when": _text(rule.warn_when),
        "inputs": list(rule.inputs),
        "disclosed_inputs": list(rule.disclosed_inputs),
        "sources": [source_info(rs, key) for key in rule.sources],
        "at": location(rule.at),
    }


def find_rule(rs: Ruleset, rule_id: str) -> Rule:
    """The rule with this id; 404 with the closest ids."""
    rule = rs.rule(rule_id)
    if rule is None:
        hint = did_you_mean(rule_id, list(rs.by_id))
        raise not_found("rule", rule_id, f"no rule {rule_id!r} in ruleset {rs.version}{hint}")
    return rule


def row_info(rs: Ruleset, table: Table, row: Row) -> dict[str, Any]:
    """A table row: its key, values with their units, aliases, note and sources."""
    return {
        "ruleset": ruleset_record(rs),
        "table": table.name,
        "key_columns": list(table.key),
        "key": [plain(k) for k in row.key],
        "values": {name: plain(v) for name, v in row.values.items()},
        "units": {name: table.columns[name].unit for name in row.values if name in table.columns},
        "aliases": list(row.aliases),
        "note": None if row.note is None else " ".join(row.note.split()),
        "sources": [source_info(rs, key) for key in row.sources],
        "at": location(row.at),
    }


def find_table(rs: Ruleset, name: str) -> Table:
    """The table of this name; 404 with the closest names."""
    table = rs.tables.get(name)
    if table is None:
        hint = did_you_mean(name, list(rs.tables), quote=False)
        raise not_found("table", name, f"no table {name!r} in ruleset {rs.version}{hint}")
    return table


def find_table_row(table: Table, key: str) -> Row:
    """The row a key names (parts separated by ``/`` for a key of several columns), matched
    as disclosed names are: case, spaces and punctuation forgiven, aliases followed."""
    parts = key.split("/")
    if len(parts) != len(table.key):
        expected = "/".join(table.key)
        raise not_found(
            "row",
            key,
            f"table {table.name} is keyed by {expected}: give {len(table.key)} "
            f"part{'s' if len(table.key) > 1 else ''} separated by '/', got {len(parts)}",
        )
    read, refused = [], []
    for part in parts:  # (each as a CSV cell reads: a number where it is one)
        try:
            read.append(cell(part))
        except ValueProblem as exc:  # (a leading zero, too many digits: no number)
            read.append(part)
            refused.append(f"{part!r}: {exc}")
    for wanted in (tuple(read), tuple(parts)):
        row = find_row(table, wanted)
        if row is not None:
            return row
    if refused:
        raise not_found("row", key, f"no row {key!r} in table {table.name}: {'; '.join(refused)}")
    hint = ""
    if len(parts) == 1:
        options = ambiguous(table, parts[0])
        if options:
            shown = ", ".join(repr(k) for k in options)
            raise not_found(
                "row",
                key,
                f"ambiguous {table.name} key {key!r}: it could be {shown}; write one of them",
                "ambiguous-name",
            )
        hint = did_you_mean(parts[0], table.folded)
    raise not_found("row", key, f"no row {key!r} in table {table.name}{hint}", "unknown-name")
