"""Loading a ruleset folder: YAML -> JSON Schema -> checked model, every problem located.

A ruleset folder holds ``ruleset.yaml``, ``fields.yaml``, ``sources.yaml``, rule files
under ``normalize/`` and ``formulas/`` and tables under ``tables/``. Loading checks every
file against its schema, parses every expression, and rejects unknown names, unknown
tables, columns and sources, duplicate rule ids, two rules of one field with the same
priority, and dependency cycles. All problems are reported together.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from pathlib import Path
from typing import Any

from .errors import Problem, RulesetError
from .expressions import ExpressionProblem, compile_expression
from .model import Column, Expression, FieldSpec, Row, Rule, Ruleset, Source, Table
from .paths import shipped
from .schemas import check
from .tables import key_part, normalise, parse_datetime, written_form
from .yamlio import line_of, load_file, problem_at

RULE_DIRS = ("normalize", "formulas")
TABLE_DIR = "tables"
UNITS_FILE = "units.txt"


def display_path(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


MANIFEST_FILE = "MANIFEST.sha256"


def ruleset_files(folder: Path) -> list[Path]:
    """The files that make up a ruleset version (its release manifest excluded), sorted."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST_FILE and "__pycache__" not in p.parts
    )


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def content_hash(folder: Path, parent_hash: str = "") -> str:
    """SHA-256 over a version's files (relative path and bytes) and its parent's hash."""
    digest = hashlib.sha256(parent_hash.encode())
    for path in ruleset_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def manifest_problems(folder: Path) -> list[Problem]:
    """Differences between a released version's files and its manifest (empty if it has
    no manifest, i.e. is not released)."""
    manifest = folder / MANIFEST_FILE
    if not manifest.is_file():
        return []
    listed: dict[str, str] = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, _, rel = line.partition("  ")
            listed[rel] = digest
    name = display_path(manifest)
    problems = []
    present = {p.relative_to(folder).as_posix(): p for p in ruleset_files(folder)}
    for rel, digest in sorted(listed.items()):
        if rel not in present:
            problems.append(Problem(name, None, rel, "released file is missing"))
        elif file_hash(present[rel]) != digest:
            problems.append(
                Problem(
                    name,
                    None,
                    rel,
                    "released file was changed: a released "
                    "version is immutable; make a new version instead",
                )
            )
    for rel in sorted(set(present) - set(listed)):
        problems.append(Problem(name, None, rel, "file added to a released version"))
    return problems


def write_manifest(folder: Path) -> Path:
    """Release a version: record the hash of each of its files."""
    lines = [f"{file_hash(p)}  {p.relative_to(folder).as_posix()}" for p in ruleset_files(folder)]
    path = folder / MANIFEST_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def available_rulesets(root: Path | None = None) -> list[tuple[str, Path]]:
    """(version, folder) of every ruleset under ``root`` (default: the shipped rules/),
    oldest first."""
    root = root or shipped("rules")
    found = []
    for manifest in sorted(root.glob("*/ruleset.yaml")):
        try:
            doc = load_file(manifest, RulesetError)
        except RulesetError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("version"), str):
            found.append((doc["version"], manifest.parent))
    return sorted(found, key=lambda item: _version_key(item[0]))


def default_ruleset_path() -> Path:
    """The newest shipped ruleset."""
    found = available_rulesets()
    if not found:
        raise RulesetError.one(str(shipped("rules")), None, "", "no ruleset found")
    return found[-1][1]


def _manifest(folder: Path) -> Any:
    path = folder / "ruleset.yaml"
    if not path.is_file():
        raise RulesetError.one(
            display_path(folder), None, "", "not a ruleset folder: ruleset.yaml is missing"
        )
    return load_file(path, RulesetError)


def find_parent(folder: Path, extends: str) -> Path:
    """The folder of the version a ruleset extends: a sibling folder holding that version,
    or a folder path relative to this one."""
    by_path = (folder / extends).resolve()
    if (by_path / "ruleset.yaml").is_file():
        return by_path
    for version, path in available_rulesets(folder.resolve().parent):
        if version == extends and path.resolve() != folder.resolve():
            return path
    raise RulesetError.one(
        display_path(folder / "ruleset.yaml"),
        None,
        "extends",
        f"no ruleset version {extends!r} beside this folder (nor a folder of that path)",
    )


def layers_of(folder: Path) -> list[Path]:
    """The folders of a ruleset version and its ancestors, root first."""
    chain = [folder]
    while True:
        doc = _manifest(chain[-1])
        extends = doc.get("extends") if isinstance(doc, dict) else None
        if not isinstance(extends, str):
            break
        parent = find_parent(chain[-1], extends)
        if parent.resolve() in {p.resolve() for p in chain}:
            raise RulesetError.one(
                display_path(folder / "ruleset.yaml"),
                None,
                "extends",
                "versions extend each other in a circle",
            )
        chain.append(parent)
    return list(reversed(chain))


class _Loader:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.layers = layers_of(folder)
        self.problems: list[Problem] = []

    def name(self, path: Path) -> str:
        return display_path(path)

    def read(self, path: Path, schema: str) -> Any:
        try:
            doc = load_file(path, RulesetError)
        except RulesetError as exc:
            self.problems.extend(exc.problems)
            return None
        found = check(schema, doc, self.name(path))
        if found:
            self.problems.extend(found)
            return None
        return doc

    def problem(self, file: str, doc: Any, path: list[str | int], message: str) -> None:
        self.problems.append(problem_at(file, doc, path, message))

    def layer_files(self, name: str) -> list[Path]:
        return [layer / name for layer in self.layers if (layer / name).is_file()]

    # -- parts -------------------------------------------------------------------------

    def sources(self) -> dict[str, Source]:
        out: dict[str, Source] = {}
        paths = []
        for layer in self.layers:
            paths += [p for p in [layer / "sources.yaml"] if p.is_file()]
            paths += sorted((layer / "sources").glob("*.yaml"))
        for path in paths:
            doc = self.read(path, "sources")
            if doc is None:
                continue
            for key, s in doc["sources"].items():
                out[key] = Source(
                    key, s["citation"], s.get("url"), s.get("licence"), s.get("vintage")
                )
        return out

    def fields(self) -> dict[str, FieldSpec]:
        out: dict[str, FieldSpec] = {}
        for path in self.layer_files("fields.yaml"):
            doc = self.read(path, "fields")
            if doc is None:
                continue
            file = self.name(path)
            for name, spec in doc["fields"].items():
                out[name] = FieldSpec(
                    name=name,
                    type=spec["type"],
                    unit=spec["unit"],
                    description=spec["description"],
                    file=file,
                    line=line_of(doc, ["fields", name]),
                    minimum=spec.get("min"),
                    maximum=spec.get("max"),
                    exclusive_minimum=spec.get("exclusive_min"),
                    choices=tuple(spec.get("choices", ())),
                    table=spec.get("table"),
                    digits=spec.get("digits", 4),
                )
        return out

    def check_sources(
        self,
        file: str,
        doc: Any,
        path: list[str | int],
        keys: tuple[str, ...],
        sources: dict[str, Source],
    ) -> None:
        for key in keys:
            if key not in sources:
                self.problem(file, doc, path, f"unknown source {key!r}: add it to sources.yaml")

    def table(self, name: str, sources: dict[str, Source]) -> Table | None:
        """A table merged over the layers: later layers add columns and add or replace rows
        (by key)."""
        paths = self.layer_files(f"{TABLE_DIR}/{name}.yaml")
        description: str | None = None
        key: tuple[str, ...] = ()
        columns: dict[str, Column] = {}
        base_file = ""
        merged: dict[tuple[Any, ...], Row] = {}
        for path in paths:
            doc = self.read(path, "table")
            if doc is None:
                continue
            file = self.name(path)
            if doc["table"] != name:
                self.problem(
                    file,
                    doc,
                    ["table"],
                    f"table name {doc['table']!r} must match the file name {name!r}",
                )
            for part in ("description", "key", "columns"):
                if not columns and part not in doc:
                    self.problem(file, doc, [], f"{part!r} is required where a table starts")
            if "key" in doc:
                if key and tuple(doc["key"]) != key:
                    self.problem(
                        file, doc, ["key"], f"a later version cannot change the key {list(key)}"
                    )
                key = tuple(doc["key"])
            description = doc.get("description", description)
            base_file = base_file or file
            for col, c in doc.get("columns", {}).items():
                columns[col] = Column(
                    col, c["type"], c["unit"], c["description"], c.get("min"), c.get("max")
                )
            for k in key:
                if k not in columns:
                    self.problem(file, doc, ["key"], f"key column {k!r} is not a declared column")
            seen: dict[tuple[Any, ...], Row] = {}
            for i, raw in enumerate(doc["rows"]):
                row = self.row(file, doc, i, raw, key, columns, sources)
                if row is None:
                    continue
                norm = tuple(key_part(k) for k in row.key)
                if norm in seen:
                    self.problem(
                        file,
                        doc,
                        ["rows", i],
                        f"duplicate key {row.key!r} (first on line {seen[norm].line})",
                    )
                    continue
                seen[norm] = row
                merged[norm] = row
        if description is None:
            return None
        rows = tuple(merged.values())
        names: dict[str, str] = {}
        folded: dict[str, set[str]] = {}
        if len(key) == 1 and key[0] in columns and columns[key[0]].type == "string":
            for row in rows:
                canonical = str(row.key[0])
                for written in (canonical, *row.aliases):
                    exact = written_form(written)
                    if exact in names and names[exact] != canonical:
                        self.problems.append(
                            Problem(
                                row.file,
                                row.line,
                                name,
                                f"name {written!r} already names row {names[exact]!r}",
                            )
                        )
                    names[exact] = canonical
                    folded.setdefault(normalise(written), set()).add(canonical)
        years: dict[tuple[Any, ...], list[tuple[Any, Row]]] = {}
        if len(key) > 1 or (key and key[0] in columns and columns[key[0]].type == "integer"):
            for norm, row in merged.items():
                years.setdefault(norm[:-1], []).append((norm[-1], row))
        by_prefix = {k: tuple(sorted(v, key=lambda item: item[0])) for k, v in years.items()}
        return Table(
            name,
            description,
            base_file,
            key,
            columns,
            rows,
            merged,
            names,
            by_prefix,
            {k: tuple(sorted(v)) for k, v in folded.items()},
        )

    def row(
        self,
        file: str,
        doc: Any,
        i: int,
        raw: dict[str, Any],
        key: tuple[str, ...],
        columns: dict[str, Column],
        sources: dict[str, Source],
    ) -> Row | None:
        meta = {"source", "aliases", "note"}
        ok = True
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name in meta:
                continue
            if name not in columns:
                self.problem(
                    file,
                    doc,
                    ["rows", i, name],
                    f"unknown column {name!r}; columns: {', '.join(columns)}",
                )
                ok = False
                continue
            problem = _check_cell(columns[name], value)
            if problem:
                self.problem(file, doc, ["rows", i, name], problem)
                ok = False
            elif columns[name].type == "date" and value is not None:
                value = parse_datetime(value)
            values[name] = value
        for k in key:
            if values.get(k) is None:
                self.problem(file, doc, ["rows", i], f"key column {k!r} is missing")
                ok = False
        src = raw["source"]
        refs = (src,) if isinstance(src, str) else tuple(src)
        self.check_sources(file, doc, ["rows", i, "source"], refs, sources)
        if not ok:
            return None
        return Row(
            key=tuple(values[k] for k in key),
            values=values,
            sources=refs,
            line=line_of(doc, ["rows", i]),
            aliases=tuple(raw.get("aliases", ())),
            note=raw.get("note"),
            file=file,
        )

    def rule_file(
        self,
        path: Path,
        fields: dict[str, FieldSpec],
        tables: dict[str, Table],
        sources: dict[str, Source],
    ) -> list[Rule]:
        doc = self.read(path, "rules")
        if doc is None:
            return []
        file = self.name(path)
        out = []
        for i, raw in enumerate(doc["rules"]):
            where: list[str | int] = ["rules", i]
            rid = raw["id"]
            sets = raw["sets"]
            if sets not in fields:
                self.problem(
                    file,
                    doc,
                    [*where, "sets"],
                    f"rule {rid}: sets unknown field {sets!r}; declare it in fields.yaml",
                )
                continue
            if rid.split(".")[0] != sets:
                self.problem(
                    file,
                    doc,
                    [*where, "id"],
                    f"rule {rid}: id must start with the field it sets ({sets}.)",
                )
            value = self.expression(
                file, doc, [*where, "value"], rid, raw["value"], fields, tables
            )
            when = warn_when = None
            if "when" in raw:
                when = self.expression(
                    file, doc, [*where, "when"], rid, raw["when"], fields, tables
                )
            if "warn_when" in raw:
                warn_when = self.expression(
                    file, doc, [*where, "warn_when"], rid, raw["warn_when"], fields, tables
                )
            if "warn_when" in raw and "warning" not in raw:
                self.problem(
                    file, doc, [*where, "warn_when"], f"rule {rid}: warn_when needs a warning text"
                )
            src = raw["source"]
            refs = (src,) if isinstance(src, str) else tuple(src)
            self.check_sources(file, doc, [*where, "source"], refs, sources)
            broken = (
                value is None
                or ("when" in raw and when is None)
                or ("warn_when" in raw and warn_when is None)
            )
            if broken:
                continue
            assert value is not None
            out.append(
                Rule(
                    rid,
                    sets,
                    raw["priority"],
                    value,
                    when,
                    raw["reason"],
                    refs,
                    file,
                    line_of(doc, where),
                    bool(raw.get("assumption", False)),
                    raw.get("warning"),
                    warn_when,
                )
            )
        return out

    def expression(
        self,
        file: str,
        doc: Any,
        where: list[str | int],
        rid: str,
        text: Any,
        fields: dict[str, FieldSpec],
        tables: dict[str, Table],
    ) -> Expression | None:
        if isinstance(text, float) and not math.isfinite(text):
            self.problem(file, doc, where, f"rule {rid}: number {text} is out of range")
            return None
        text = str(text).lower() if isinstance(text, bool) else str(text)
        if text in ("true", "false"):
            text = text.capitalize()
        try:
            expr = compile_expression(text, fields)
        except ExpressionProblem as exc:
            self.problem(file, doc, where, f"rule {rid}: {exc}")
            return None
        for table, column in expr.table_refs:
            if table not in tables:
                self.problem(
                    file,
                    doc,
                    where,
                    f"rule {rid}: unknown table {table!r}; tables: {', '.join(sorted(tables))}",
                )
            elif column is not None and column not in tables[table].columns:
                self.problem(
                    file,
                    doc,
                    where,
                    f"rule {rid}: table {table} has no column "
                    f"{column!r}; columns: {', '.join(tables[table].columns)}",
                )
        return expr

    # -- whole -------------------------------------------------------------------------

    def load(self) -> Ruleset:
        manifests = []
        for layer in self.layers:
            manifests.append(
                (layer / "ruleset.yaml", self.read(layer / "ruleset.yaml", "ruleset"))
            )
        sources = self.sources()
        fields = self.fields()
        if self.problems:
            # Everything else refers to fields and sources: report their problems alone.
            raise RulesetError(self.problems)
        tables: dict[str, Table] = {}
        names = sorted(
            {p.stem for layer in self.layers for p in (layer / TABLE_DIR).glob("*.yaml")}
        )
        for name in names:
            table = self.table(name, sources)
            if table is not None:
                tables[table.name] = table
        for spec in fields.values():
            if spec.type == "name":
                t = tables.get(spec.table or "")
                if t is None:
                    self.problems.append(
                        Problem(spec.file, spec.line, spec.name, f"unknown table {spec.table!r}")
                    )
                elif not t.names:
                    self.problems.append(
                        Problem(
                            spec.file,
                            spec.line,
                            spec.name,
                            f"table {spec.table} has no single name key",
                        )
                    )
        by_id: dict[str, Rule] = {}
        for layer, (manifest_path, manifest) in zip(self.layers, manifests, strict=True):
            layer_rules: list[Rule] = []
            for sub in RULE_DIRS:
                for path in sorted((layer / sub).glob("*.yaml")):
                    layer_rules.extend(self.rule_file(path, fields, tables, sources))
            self.check_duplicates(layer_rules)
            for rule in layer_rules:
                by_id[rule.id] = rule
            if manifest is not None:
                for i, rid in enumerate(manifest.get("remove_rules", [])):
                    if by_id.pop(rid, None) is None:
                        self.problem(
                            self.name(manifest_path),
                            manifest,
                            ["remove_rules", i],
                            f"no inherited rule {rid!r} to remove",
                        )
        rules = self.check_units(fields, tables, list(by_id.values()))
        by_field = self.group(rules)
        self.check_cycles(by_field)
        merged: dict[str, Any] = {}
        for manifest_path, manifest in manifests:
            if manifest is None:
                continue
            merged.update(manifest)
            file = self.name(manifest_path)
            for key in ("outputs", "report"):
                for i, name in enumerate(manifest.get(key, [])):
                    if name not in fields:
                        self.problem(file, manifest, [key, i], f"unknown field {name!r}")
        for required in ("outputs", "rounding"):
            if manifests[-1][1] is not None and required not in merged:
                self.problems.append(
                    Problem(
                        self.name(manifests[-1][0]),
                        None,
                        required,
                        "is required (here or in the version extended)",
                    )
                )
        if self.problems:
            raise RulesetError(self.problems)
        digest = ""
        for layer in self.layers:
            digest = content_hash(layer, digest)
        own = manifests[-1][1]
        return Ruleset(
            id=merged["id"],
            version=merged["version"],
            description=merged["description"],
            path=self.folder,
            content_hash=digest,
            fields=fields,
            rules=by_field,
            tables=tables,
            sources=sources,
            outputs=tuple(merged["outputs"]),
            report=tuple(merged.get("report", [])),
            rounding=merged["rounding"],
            extends=own.get("extends"),
            layers=tuple(self.layers),
            changelog=tuple(own.get("changelog", [])),
            released=own.get("released"),
        )

    def check_duplicates(self, rules: list[Rule]) -> None:
        seen: dict[str, Rule] = {}
        for rule in rules:
            if rule.id in seen:
                first = seen[rule.id]
                self.problems.append(
                    Problem(
                        rule.file,
                        rule.line,
                        rule.id,
                        f"duplicate rule id (first at {first.file}:{first.line})",
                    )
                )
            seen[rule.id] = rule

    def check_units(
        self, fields: dict[str, FieldSpec], tables: dict[str, Table], rules: list[Rule]
    ) -> list[Rule]:
        """Every declared unit must parse; every rule's result must be in its field's unit."""
        from .units import UnitProblem, check_declared_unit, check_rule, registry_from_text

        text = "\n".join(p.read_text(encoding="utf-8") for p in self.layer_files(UNITS_FILE))
        ureg = registry_from_text(text)
        for spec in fields.values():
            problem = check_declared_unit(ureg, spec.unit)
            if problem:
                self.problems.append(Problem(spec.file, spec.line, spec.name, problem))
        for table in tables.values():
            for column in table.columns.values():
                problem = check_declared_unit(ureg, column.unit)
                if problem:
                    self.problems.append(
                        Problem(table.file, None, f"{table.name}.{column.name}", problem)
                    )
        if self.problems:
            return rules
        checked = []
        for rule in rules:
            try:
                checked.append(check_rule(ureg, rule, fields, tables))
            except UnitProblem as exc:
                self.problems.append(Problem(rule.file, rule.line, rule.id, f"units: {exc}"))
        return checked

    def group(self, rules: list[Rule]) -> dict[str, tuple[Rule, ...]]:
        by_field: dict[str, list[Rule]] = {}
        for rule in rules:
            by_field.setdefault(rule.sets, []).append(rule)
        out = {}
        for name, group in by_field.items():
            group.sort(key=lambda r: r.priority)
            for a, b in itertools.pairwise(group):
                if a.priority == b.priority:
                    self.problems.append(
                        Problem(
                            b.file,
                            b.line,
                            b.id,
                            f"priority {b.priority} is also the priority of {a.id} "
                            f"({a.file}:{a.line}); two rules of {name} need different priorities",
                        )
                    )
            out[name] = tuple(group)
        return out

    def check_cycles(self, by_field: dict[str, tuple[Rule, ...]]) -> None:
        state: dict[str, int] = {}  # 1 = on the path, 2 = done
        stack: list[tuple[str, str]] = []

        def visit(name: str) -> None:
            state[name] = 1
            for rule in by_field.get(name, ()):
                for dep in sorted(rule.inputs):
                    stack.append((dep, rule.id))
                    if state.get(dep) == 1:
                        start = next(i for i, (f, _) in enumerate(stack) if f == dep)
                        chain = " -> ".join(f"{f} (via {r})" for f, r in stack[start:])
                        self.problems.append(
                            Problem(
                                rule.file,
                                rule.line,
                                rule.id,
                                f"dependency cycle: {dep} -> {chain}",
                            )
                        )
                    elif state.get(dep) is None:
                        visit(dep)
                    stack.pop()
            state[name] = 2

        for name in sorted(by_field):
            if state.get(name) is None:
                stack.append((name, "-"))
                visit(name)
                stack.pop()


def _check_cell(column: Column, value: Any) -> str | None:
    if value is None:
        return None
    if column.type in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number ({column.unit}), got {value!r}"
        if value != value or value in (float("inf"), float("-inf")):
            return f"expected a finite number, got {value!r}"
        if column.type == "integer" and not float(value).is_integer():
            return f"expected a whole number, got {value!r}"
        if column.minimum is not None and value < column.minimum:
            return f"{value!r} is below the physical minimum {column.minimum} {column.unit}"
        if column.maximum is not None and value > column.maximum:
            return f"{value!r} is above the physical maximum {column.maximum} {column.unit}"
    elif not isinstance(value, str):
        return f"expected text, got {value!r}"
    elif column.type == "date":
        try:
            parse_datetime(value)
        except ValueError:
            return f"expected an ISO date like 2023-07-18, got {value!r}"
    return None


def load_ruleset(folder: Path | None = None) -> Ruleset:
    """Load and check a ruleset folder (default: the newest shipped one)."""
    folder = folder or default_ruleset_path()
    if not folder.is_dir():
        raise RulesetError.one(display_path(folder), None, "", "ruleset folder not found")
    return _Loader(folder).load()
