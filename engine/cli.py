"""The ``tuneprint`` command: parsing arguments and printing, nothing else."""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .disclosure import load_disclosure
from .errors import Problem, TuneprintError
from .loader import available_rulesets, display_path, load_ruleset
from .model import Ruleset
from .report import dumps, explain_text, result_json, shown, table_text
from .resolve import estimate

EXIT_USER_ERROR = 2  # bad input, bad rules, or a field nothing can resolve
EXIT_INTERNAL = 3  # a defect of tuneprint itself

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Carbon and water of fine-tuning AI models, with every number explained.",
)
rules_app = typer.Typer(no_args_is_help=True, help="Check and list rulesets.")
data_app = typer.Typer(no_args_is_help=True, help="Browse the reference tables.")
app.add_typer(rules_app, name="rules")
app.add_typer(data_app, name="data")

RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Ruleset folder (default: the newest shipped version)."),
]


def _fail(problems: list[Problem]) -> None:
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    raise typer.Exit(EXIT_USER_ERROR)


def _ruleset(path: Path | None) -> Ruleset:
    return load_ruleset(path)


@app.command("estimate")
def estimate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Disclosure files (YAML or JSON).")],
    rules: RulesOption = None,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Estimate carbon and water of each disclosure."""
    if format not in ("table", "json"):
        _fail([Problem("--format", None, "", f"expected table or json, got {format!r}")])
    ruleset = _ruleset(rules)
    documents = []
    failed: list[Problem] = []
    for path in files:
        try:
            est = estimate(ruleset, load_disclosure(path, ruleset))
        except TuneprintError as exc:
            failed.extend(exc.problems)
            documents.append(
                {"file": display_path(path), "errors": [str(p) for p in exc.problems]}
            )
            continue
        if format == "json":
            documents.append(result_json(est))
        else:
            typer.echo(table_text(est) + "\n")
    if format == "json":
        typer.echo(dumps(documents[0] if len(documents) == 1 else documents), nl=False)
    if failed:
        _fail(failed)


@app.command("explain")
def explain_cmd(
    file: Annotated[Path, typer.Argument(help="A disclosure file.")],
    field: Annotated[
        str | None, typer.Argument(help="Field to explain (default: every output).")
    ] = None,
    rules: RulesOption = None,
) -> None:
    """Show how a value was derived: rules, inputs, table rows, sources, skipped rules."""
    ruleset = _ruleset(rules)
    disclosure = load_disclosure(file, ruleset)
    extra: tuple[str, ...] = ()
    if field is not None:
        if field not in ruleset.fields:
            near = difflib.get_close_matches(field, list(ruleset.fields), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            _fail([Problem(display_path(file), None, field, f"unknown field{hint}")])
        extra = (field,)
    est = estimate(ruleset, disclosure, extra=extra)
    names = [field] if field else list(ruleset.outputs)
    typer.echo(f"{disclosure.id}  (ruleset {ruleset.label})\n")
    typer.echo(explain_text(est, names), nl=False)


@rules_app.command("check")
def rules_check(
    ruleset: Annotated[
        Path | None, typer.Argument(help="Ruleset folder (default: newest shipped).")
    ] = None,
) -> None:
    """Validate a ruleset and report every problem with file and line."""
    rs = load_ruleset(ruleset)
    n_rules = sum(len(r) for r in rs.rules.values())
    n_rows = sum(len(t.rows) for t in rs.tables.values())
    typer.echo(
        f"ok: {rs.label}: {len(rs.fields)} fields, {n_rules} rules, {len(rs.tables)} tables "
        f"({n_rows} rows), {len(rs.sources)} sources"
    )


@rules_app.command("list")
def rules_list() -> None:
    """List the shipped ruleset versions, newest last."""
    for version, path in available_rulesets():
        typer.echo(f"{version}\t{display_path(path)}")


@data_app.command("list")
def data_list(rules: RulesOption = None) -> None:
    """List the reference tables with their row counts."""
    rs = _ruleset(rules)
    for table in rs.tables.values():
        typer.echo(
            f"{table.name:<32} {len(table.rows):>6} rows  {' '.join(table.description.split())}"
        )


@data_app.command("show")
def data_show(
    table: Annotated[str, typer.Argument(help="Table name.")],
    key: Annotated[list[str] | None, typer.Argument(help="Row key(s) to show.")] = None,
    rules: RulesOption = None,
) -> None:
    """Show a table's rows (or one row) with their sources."""
    rs = _ruleset(rules)
    if table not in rs.tables:
        near = difflib.get_close_matches(table, list(rs.tables), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        _fail([Problem("data show", None, table, f"unknown table{hint}")])
    t = rs.tables[table]
    rows = t.rows
    if key:
        from .tables import key_part

        wanted = tuple(key_part(k) for k in key)
        rows = tuple(
            r for r in t.rows if tuple(key_part(k) for k in r.key)[: len(wanted)] == wanted
        )
        if not rows:
            _fail([Problem(t.file, None, table, f"no row {'/'.join(key)}")])
    typer.echo(f"{t.name}: {' '.join(t.description.split())}  ({t.file})")
    for row in rows:
        cells = ", ".join(
            f"{name}={shown(value, 6, t.columns[name].unit)}"
            for name, value in row.values.items()
            if value is not None
        )
        typer.echo(f"  line {row.line}: {cells}")
        if row.aliases:
            typer.echo(f"    aliases: {', '.join(row.aliases)}")
        if row.note:
            typer.echo(f"    note: {' '.join(row.note.split())}")
        for k in row.sources:
            src = rs.sources.get(k)
            typer.echo(f"    source: {src.text() if src else k}")


@app.command("version")
def version_cmd() -> None:
    """Print the tuneprint version."""
    typer.echo(__version__)


def run(argv: list[str]) -> int:
    """Run the command line and return its exit code: user errors give 2 and one message
    each, never a traceback."""
    try:
        app(args=argv, prog_name="tuneprint", standalone_mode=True)
    except SystemExit as exc:  # click's own exit, usage errors included (code 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except TuneprintError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:  # last line of defence: no traceback reaches a user
        if os.environ.get("TUNEPRINT_DEBUG"):
            raise
        typer.echo(
            f"internal error: {type(exc).__name__}: {exc} (set TUNEPRINT_DEBUG=1 "
            "for details, and please report it)",
            err=True,
        )
        return EXIT_INTERNAL
    return 0


def main() -> None:
    """Console entry point."""
    sys.exit(run(sys.argv[1:]))


__all__ = ["app", "main", "run"]
