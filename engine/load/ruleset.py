"""Loading a ruleset folder: YAML -> JSON Schema -> checked, compiled model, every problem
located.

A ruleset folder holds ``ruleset.yaml``, ``fields.yaml``, ``sources.yaml``, rule files
under ``normalize/`` and ``formulas/`` and tables under ``tables/``; a version may extend
another and hold only what changes. Loading checks every file against its schema, parses
every expression, checks units and kinds, and rejects unknown names, tables, columns and
sources, duplicate rule ids, two rules of one field with the same priority, and dependency
cycles. All problems are reported together; the result is immutable.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.compiler import compile_plan
from ..core.expressions import ExpressionProblem, compile_expression
from ..core.model import (
    Expression,
    FieldSpec,
    Layer,
    Location,
    Row,
    Rule,
    Ruleset,
    Source,
    Table,
)
from ..core.names import normalise, written_form
from ..core.problems import Problem, RulesetError
from ..core.tables import key_part, show_key
from ..core.text import given
from ..core.values import SHOWN_CHARS, ValueProblem, coerce
from .checks import (
    check_constants,
    check_cycles,
    check_duplicates,
    check_units,
    group_by_field,
)
from .files import list_files
from .layers import RULESET_FILE, is_released, layers_of, verified_hash
from .paths import display_path
from .schemas import check
from .yamlio import line_of, load_file, problem_at

RULE_DIRS = ("normalize", "formulas")
TABLE_DIR = "tables"
SOURCES_DIR = "sources"


@dataclass
class _Context:
    """What the parts of one load share: its layers and the problems found so far."""

    layers: list[Layer]
    problems: list[Problem] = field(default_factory=list)
    # field -> the fields file (and its document) that gave its group, example, aliases
    guidance: dict[str, tuple[Path, Any]] = field(default_factory=dict)

    def within(self, path: Path) -> Path | None:
        """The layer folder a file of this ruleset belongs to."""
        for layer in self.layers:
            if path.is_relative_to(layer.folder):
                return layer.folder
        return None

    def listed(self, folder: Path, pattern: str = "*.yaml") -> list[Path]:
        """The files of a ruleset folder; an unreadable folder is a problem, not skipped."""
        try:
            return list_files(folder, pattern, RulesetError, display_path(folder))
        except RulesetError as exc:
            self.problems.extend(exc.problems)
            return []

    def read(self, path: Path, schema: str) -> Any:
        try:
            doc = load_file(path, RulesetError, display_path(path), self.within(path))
        except RulesetError as exc:
            self.problems.extend(exc.problems)
            return None
        found = check(schema, doc, display_path(path))
        if found:
            self.problems.extend(found)
            return None
        return doc

    def problem(
        self,
        path: Path,
        doc: Any,
        where: list[str | int],
        message: str,
        code: str,
        **about: str | None,
    ) -> None:
        self.problems.append(problem_at(display_path(path), doc, where, message, code, **about))

    def at(self, layer: Layer, path: Path, line: int | None) -> Location:
        return Location(layer.version, path.relative_to(layer.folder).as_posix(), line)

    def files(self, name: str) -> list[tuple[Layer, Path]]:
        return [
            (layer, layer.folder / name)
            for layer in self.layers
            if os.path.lexists(layer.folder / name)
        ]


def _sources(ctx: _Context) -> dict[str, Source]:
    out: dict[str, Source] = {}
    for layer in ctx.layers:
        paths = [p for p in [layer.folder / "sources.yaml"] if os.path.lexists(p)]
        paths += ctx.listed(layer.folder / SOURCES_DIR)
        for path in paths:
            doc = ctx.read(path, "sources")
            if doc is None:
                continue
            for key, s in doc["sources"].items():
                out[key] = Source(
                    key, s["citation"], s.get("url"), s.get("licence"), s.get("vintage")
                )
    return out


def _spec(name: str, raw: dict[str, Any], at: Location | None) -> FieldSpec:
    return FieldSpec(
        name=name,
        type=raw["type"],
        unit=raw["unit"],
        description=raw["description"],
        at=at,
        minimum=raw.get("min"),
        maximum=raw.get("max"),
        exclusive_minimum=raw.get("exclusive_min"),
        choices=tuple(raw.get("choices", ())),
        table=raw.get("table"),
        digits=raw.get("digits", 4),
        group=raw.get("group"),
        example=raw.get("example"),
        aliases=tuple(raw.get("aliases", ())),
    )


GUIDANCE = ("group", "example", "aliases")  # what a later version may add to a field alone


def _fields(ctx: _Context) -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for layer, path in ctx.files("fields.yaml"):
        doc = ctx.read(path, "fields")
        if doc is None:
            continue
        for name, raw in doc["fields"].items():
            if "type" in raw:
                out[name] = _spec(name, raw, ctx.at(layer, path, line_of(doc, ["fields", name])))
                continue
            inherited = out.get(name)
            if inherited is None:  # guidance alone needs a definition to add to
                ctx.problem(
                    path,
                    doc,
                    ["fields", name],
                    f"field {name} is not declared by a version this one extends: give its "
                    "type, unit and description",
                    "schema",
                )
                continue
            out[name] = replace(
                inherited,
                group=raw.get("group", inherited.group),
                example=raw.get("example", inherited.example),
                aliases=tuple(raw.get("aliases", inherited.aliases)),
            )
        for name, raw in doc["fields"].items():
            if name in out and any(k in raw for k in GUIDANCE):
                ctx.guidance[name] = (path, doc)
                _check_guidance(ctx, path, doc, out[name], out)
    return out


def _check_guidance(
    ctx: _Context, path: Path, doc: Any, spec: FieldSpec, fields: dict[str, FieldSpec]
) -> None:
    """An example must be a valid value of its field (names are matched once the tables
    are loaded), and an alias must not be the name of another field."""
    where: list[str | int] = ["fields", spec.name]
    if spec.example is not None and spec.type != "name":
        try:
            coerce(spec, spec.example)
        except ValueProblem as exc:
            ctx.problem(path, doc, [*where, "example"], f"example: {exc}", exc.code)
    for alias in spec.aliases:
        if alias in fields and alias != spec.name:
            ctx.problem(
                path,
                doc,
                [*where, "aliases"],
                f"alias {alias!r} is the name of another field",
                "duplicate",
            )


def _check_sources(
    ctx: _Context,
    path: Path,
    doc: Any,
    where: list[str | int],
    keys: tuple[str, ...],
    sources: dict[str, Source],
) -> None:
    for key in keys:
        if key not in sources:
            ctx.problem(
                path, doc, where, f"unknown source {key!r}: add it to sources.yaml", "reference"
            )


def _refs(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass
class _TableBuild:
    """A table as its layers are merged: later layers add columns and add or replace rows."""

    name: str
    description: str | None = None
    key: tuple[str, ...] = ()
    columns: dict[str, FieldSpec] = field(default_factory=dict)
    at: Location | None = None
    rows: dict[tuple[Any, ...], Row] = field(default_factory=dict)


def _table(ctx: _Context, name: str, sources: dict[str, Source]) -> Table | None:
    build = _TableBuild(name)
    for layer, path in ctx.files(f"{TABLE_DIR}/{name}.yaml"):
        doc = ctx.read(path, "table")
        if doc is not None:
            _table_layer(ctx, build, layer, path, doc, sources)
    if build.description is None or build.at is None:
        return None
    return _indexed(ctx, build)


def _table_layer(
    ctx: _Context,
    build: _TableBuild,
    layer: Layer,
    path: Path,
    doc: Any,
    sources: dict[str, Source],
) -> None:
    name = build.name
    if doc["table"] != name:
        ctx.problem(
            path,
            doc,
            ["table"],
            f"table name {doc['table']!r} must match the file name {name!r}",
            "schema",
        )
    for part in ("description", "key", "columns"):
        if not build.columns and part not in doc:
            ctx.problem(path, doc, [], f"{part!r} is required where a table starts", "schema")
    if "key" in doc:
        if build.key and tuple(doc["key"]) != build.key:
            ctx.problem(
                path,
                doc,
                ["key"],
                f"a later version cannot change the key {list(build.key)}",
                "schema",
            )
        build.key = tuple(doc["key"])
    build.description = doc.get("description", build.description)
    build.at = build.at or ctx.at(layer, path, None)
    for col, raw in doc.get("columns", {}).items():
        build.columns[col] = _spec(col, raw, ctx.at(layer, path, line_of(doc, ["columns", col])))
    for k in build.key:
        if k not in build.columns:
            ctx.problem(
                path, doc, ["key"], f"key column {k!r} is not a declared column", "reference"
            )
    for i, raw_key in enumerate(doc.get("remove_rows", [])):
        norm = tuple(key_part(k) for k in raw_key)
        inherited = build.rows.get(norm)
        if inherited is None or len(raw_key) != len(build.key):
            ctx.problem(
                path,
                doc,
                ["remove_rows", i],
                f"no inherited row {show_key(tuple(raw_key))} (key {list(build.key)}) to remove",
                "reference",
            )
            continue
        del build.rows[norm]
    seen: dict[tuple[Any, ...], Row] = {}
    for i, raw in enumerate(doc["rows"]):
        row = _row(ctx, build, layer, path, doc, i, raw, sources)
        if row is None:
            continue
        norm = tuple(key_part(k) for k in row.key)
        if norm in seen:
            ctx.problem(
                path,
                doc,
                ["rows", i],
                f"duplicate key {row.key!r} (first on line {seen[norm].at.line})",
                "duplicate",
            )
            continue
        inherited = build.rows.get(norm)
        if inherited is not None and inherited.key != row.key:
            ctx.problem(
                path,
                doc,
                ["rows", i],
                f"key {row.key!r} differs from the inherited {inherited.key!r} "
                f"({inherited.at}) only in case or punctuation: write it exactly as "
                "inherited to replace that row, or give a new key",
                "duplicate",
            )
            continue
        seen[norm] = row
        build.rows[norm] = row


def _row(
    ctx: _Context,
    build: _TableBuild,
    layer: Layer,
    path: Path,
    doc: Any,
    i: int,
    raw: dict[str, Any],
    sources: dict[str, Source],
) -> Row | None:
    ok = True
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ("source", "aliases", "note"):
            continue
        column = build.columns.get(name)
        if column is None:
            ctx.problem(
                path,
                doc,
                ["rows", i, name],
                f"unknown column {name!r}; columns: {', '.join(build.columns)}",
                "reference",
            )
            ok = False
            continue
        if value is None:
            values[name] = None
            continue
        if column.type == "string" and not isinstance(value, str):
            ctx.problem(
                path,
                doc,
                ["rows", i, name],
                f"expected text, got {given(value, SHOWN_CHARS)}",
                "type",
            )
            ok = False
            continue
        try:
            values[name] = coerce(column, value) if column.type != "string" else value
        except ValueProblem as exc:
            message = (
                str(exc)
                .replace("minimum", "physical minimum")
                .replace("maximum", "physical maximum")
            )
            ctx.problem(path, doc, ["rows", i, name], message, exc.code)
            ok = False
    for k in build.key:
        if values.get(k) is None:
            ctx.problem(path, doc, ["rows", i], f"key column {k!r} is missing", "schema")
            ok = False
    refs = _refs(raw["source"])
    _check_sources(ctx, path, doc, ["rows", i, "source"], refs, sources)
    if not ok:
        return None
    return Row(
        key=tuple(values[k] for k in build.key),
        values=values,
        sources=refs,
        at=ctx.at(layer, path, line_of(doc, ["rows", i])),
        aliases=tuple(raw.get("aliases", ())),
        note=raw.get("note"),
    )


def _indexed(ctx: _Context, build: _TableBuild) -> Table:
    """The merged table with its name and year indexes."""
    assert build.description is not None and build.at is not None
    key, columns = build.key, build.columns
    rows = tuple(build.rows.values())
    names: dict[str, str] = {}
    folded: dict[str, set[str]] = {}
    if len(key) == 1 and key[0] in columns and columns[key[0]].type == "string":
        for row in rows:
            canonical = str(row.key[0])
            for written in (canonical, *row.aliases):
                exact = written_form(written)
                if exact in names and names[exact] != canonical:
                    ctx.problems.append(
                        Problem(
                            display_path(_layer_path(ctx, row.at)),
                            row.at.line,
                            build.name,
                            f"name {written!r} already names row {names[exact]!r}",
                            "duplicate",
                        )
                    )
                names[exact] = canonical
                folded.setdefault(normalise(written), set()).add(canonical)
    years: dict[tuple[Any, ...], list[tuple[Any, Row]]] = {}
    if len(key) > 1 or (key and key[0] in columns and columns[key[0]].type == "integer"):
        for norm, row in build.rows.items():
            years.setdefault(norm[:-1], []).append((norm[-1], row))
    return Table(
        build.name,
        build.description,
        build.at,
        key,
        columns,
        rows,
        dict(build.rows),
        names,
        {k: tuple(sorted(v, key=lambda item: item[0])) for k, v in years.items()},
        {k: tuple(sorted(v)) for k, v in folded.items()},
    )


def _layer_path(ctx: _Context, at: Location) -> Path:
    for layer in ctx.layers:
        if layer.version == at.version:
            return layer.folder / at.path
    return Path(at.path)


def _expression(
    ctx: _Context,
    path: Path,
    doc: Any,
    where: list[str | int],
    rid: str,
    text: Any,
    fields: dict[str, FieldSpec],
    tables: dict[str, Table],
) -> Expression | None:
    if isinstance(text, float) and not math.isfinite(text):
        ctx.problem(
            path, doc, where, f"rule {rid}: number {text} is out of range", "expression", rule=rid
        )
        return None
    text = str(text).lower() if isinstance(text, bool) else str(text)
    if text in ("true", "false"):
        text = text.capitalize()
    try:
        expr = compile_expression(text, fields)
    except ExpressionProblem as exc:
        ctx.problem(path, doc, where, f"rule {rid}: {exc}", "expression", rule=rid)
        return None
    ok = True
    for table, column in expr.table_refs:
        if table not in tables:
            ctx.problem(
                path,
                doc,
                where,
                f"rule {rid}: unknown table {table!r}; tables: {', '.join(sorted(tables))}",
                "reference",
                rule=rid,
            )
            ok = False
        elif column is not None and column not in tables[table].columns:
            ctx.problem(
                path,
                doc,
                where,
                f"rule {rid}: table {table} has no column "
                f"{column!r}; columns: {', '.join(tables[table].columns)}",
                "reference",
                rule=rid,
            )
            ok = False
    return expr if ok else None


def _rule_file(
    ctx: _Context,
    layer: Layer,
    path: Path,
    fields: dict[str, FieldSpec],
    tables: dict[str, Table],
    sources: dict[str, Source],
) -> list[Rule]:
    doc = ctx.read(path, "rules")
    if doc is None:
        return []
    out = []
    for i, raw in enumerate(doc["rules"]):
        where: list[str | int] = ["rules", i]
        rid = raw["id"]
        sets = raw["sets"]
        if sets not in fields:
            ctx.problem(
                path,
                doc,
                [*where, "sets"],
                f"rule {rid}: sets unknown field {sets!r}; declare it in fields.yaml",
                "reference",
                rule=rid,
            )
            continue
        if rid.split(".")[0] != sets:
            ctx.problem(
                path,
                doc,
                [*where, "id"],
                f"rule {rid}: id must start with the field it sets ({sets}.)",
                "schema",
                rule=rid,
            )
        exprs: dict[str, Expression | None] = {}
        for part in ("value", "when", "warn_when"):
            if part in raw:
                exprs[part] = _expression(
                    ctx, path, doc, [*where, part], rid, raw[part], fields, tables
                )
        if "warn_when" in raw and "warning" not in raw:
            ctx.problem(
                path,
                doc,
                [*where, "warn_when"],
                f"rule {rid}: warn_when needs a warning text",
                "schema",
                rule=rid,
            )
        refs = _refs(raw["source"])
        _check_sources(ctx, path, doc, [*where, "source"], refs, sources)
        if any(e is None for e in exprs.values()):
            continue
        value = exprs["value"]
        assert value is not None
        rule = Rule(
            rid,
            sets,
            raw["priority"],
            value,
            exprs.get("when"),
            raw["reason"],
            refs,
            ctx.at(layer, path, line_of(doc, where)),
            bool(raw.get("assumption", False)),
            raw.get("warning"),
            exprs.get("warn_when"),
        )
        both = set(rule.inputs) & set(rule.disclosed_inputs)
        if both:
            ctx.problem(
                path,
                doc,
                where,
                f"rule {rid}: {sorted(both)[0]} is read both as disclosed() and as resolved",
                "expression",
                rule=rid,
            )
            continue
        out.append(rule)
    return out


def _name_fields(ctx: _Context, fields: dict[str, FieldSpec], tables: dict[str, Table]) -> None:
    for spec in fields.values():
        if spec.type != "name":
            continue
        assert spec.at is not None
        file = display_path(_layer_path(ctx, spec.at))
        t = tables.get(spec.table or "")
        if t is not None and t.names and isinstance(spec.example, str):
            try:
                coerce(spec, spec.example, tables)
            except ValueProblem as exc:
                path, doc = ctx.guidance[spec.name]
                ctx.problem(path, doc, ["fields", spec.name, "example"], f"example: {exc}",
                            exc.code)  # fmt: skip
        if t is None:
            ctx.problems.append(
                Problem(
                    file, spec.at.line, spec.name, f"unknown table {spec.table!r}", "reference"
                )
            )
        elif not t.names:
            ctx.problems.append(
                Problem(
                    file,
                    spec.at.line,
                    spec.name,
                    f"table {spec.table} has no single name key",
                    "reference",
                )
            )


def _manifest_fields(
    ctx: _Context, manifests: list[tuple[Path, Any]], fields: dict[str, FieldSpec]
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path, manifest in manifests:
        if manifest is None:
            continue
        merged.update(manifest)
        for key in ("outputs", "report"):
            for i, name in enumerate(manifest.get(key, [])):
                if name not in fields:
                    ctx.problem(path, manifest, [key, i], f"unknown field {name!r}", "reference")
    for required in ("outputs", "rounding"):
        if manifests[-1][1] is not None and required not in merged:
            ctx.problems.append(
                Problem(
                    display_path(manifests[-1][0]),
                    None,
                    required,
                    "is required (here or in the version extended)",
                    "schema",
                )
            )
    return merged


def load_folder(folder: Path, cached: bool = True) -> Ruleset:
    """Load one ruleset folder and the versions it extends: from the cache when a checked
    copy of exactly these files is there, else checked (and then cached)."""
    if not folder.is_dir():
        raise RulesetError.one(display_path(folder), None, "", "ruleset folder not found", "file")
    chain = layers_of(folder)
    if not cached:
        return check_folder(folder, chain)
    from . import cache

    folders = [layer for layer, _ in chain]
    digest = ""
    for layer in folders:
        digest = verified_hash(layer, digest)
    found = cache.read(digest, folders)
    if found is not None:
        draft = not is_released(folder)  # the hash leaves the manifest out: ask the folder
        return found if found.draft == draft else replace(found, draft=draft)
    ruleset = check_folder(folder, chain)
    cache.write(ruleset, folders)
    return ruleset


def check_folder(folder: Path, chain: list[tuple[Path, Any]] | None = None) -> Ruleset:
    """Load and check one ruleset folder and the versions it extends, every file."""
    chain = chain or layers_of(folder)
    ctx = _Context([])
    manifests: list[tuple[Path, Any]] = []
    for layer_folder, _ in chain:
        path = layer_folder / RULESET_FILE
        manifest = ctx.read(path, "ruleset")
        manifests.append((path, manifest))
        version = manifest["version"] if manifest is not None else layer_folder.name
        if any(layer.version == version for layer in ctx.layers):
            ctx.problem(
                path,
                manifest,
                ["version"],
                f"version {version!r} appears twice in the chain of versions it extends",
                "duplicate",
            )
        ctx.layers.append(Layer(version, layer_folder))
    if ctx.problems:
        raise RulesetError(ctx.problems)
    sources = _sources(ctx)
    fields = _fields(ctx)
    if ctx.problems:
        # Everything else refers to fields and sources: report their problems alone.
        raise RulesetError(ctx.problems)
    tables: dict[str, Table] = {}
    names = sorted({p.stem for layer in ctx.layers for p in ctx.listed(layer.folder / TABLE_DIR)})
    for name in names:
        table = _table(ctx, name, sources)
        if table is not None:
            tables[table.name] = table
    _name_fields(ctx, fields, tables)
    by_id: dict[str, Rule] = {}
    for layer, (manifest_path, manifest) in zip(ctx.layers, manifests, strict=True):
        layer_rules: list[Rule] = []
        for sub in RULE_DIRS:
            for path in ctx.listed(layer.folder / sub):
                layer_rules.extend(_rule_file(ctx, layer, path, fields, tables, sources))
        ctx.problems.extend(check_duplicates(layer_rules, ctx.layers))
        for rule in layer_rules:
            by_id[rule.id] = rule
        if manifest is not None:
            for i, rid in enumerate(manifest.get("remove_rules", [])):
                if by_id.pop(rid, None) is None:
                    ctx.problem(
                        manifest_path,
                        manifest,
                        ["remove_rules", i],
                        f"no inherited rule {rid!r} to remove",
                        "reference",
                    )
    rules, unit_problems = check_units(ctx.layers, fields, tables, list(by_id.values()))
    ctx.problems.extend(unit_problems)
    if not unit_problems:
        ctx.problems.extend(check_constants(rules, fields, tables, ctx.layers))
    by_field, priority_problems = group_by_field(rules, ctx.layers)
    ctx.problems.extend(priority_problems)
    ctx.problems.extend(check_cycles(by_field, ctx.layers))
    merged = _manifest_fields(ctx, manifests, fields)
    if ctx.problems:
        raise RulesetError(ctx.problems)
    digest = ""
    for layer in ctx.layers:
        digest = verified_hash(layer.folder, digest)
    own = manifests[-1][1]
    ruleset = Ruleset(
        id=merged["id"],
        version=merged["version"],
        description=merged["description"],
        content_hash=digest,
        fields=fields,
        rules=by_field,
        tables=tables,
        sources=sources,
        outputs=tuple(merged["outputs"]),
        report=tuple(merged.get("report", [])),
        rounding=merged["rounding"],
        layers=tuple(ctx.layers),
        extends=own.get("extends"),
        changelog=tuple(own.get("changelog", [])),
        released=own.get("released"),
        draft=not is_released(folder),
    )
    (plan, accepts), _ = compile_plan(ruleset)
    return replace(ruleset, plan=plan, accepts=accepts)
