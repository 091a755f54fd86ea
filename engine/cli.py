"""The ``tuneprint`` command: parsing arguments and printing, nothing else."""

from __future__ import annotations

import difflib
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .disclosure import BATCH_SUFFIXES, Disclosure, load_batch, load_disclosure
from .errors import InputError, Problem, TuneprintError
from .loader import available_rulesets, display_path, load_ruleset
from .model import Ruleset
from .report import dumps, dumps_line, explain_text, result_json, shown, table_text
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

FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]
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


def _check_format(format: str) -> None:
    if format not in ("table", "json"):
        _fail([Problem("--format", None, "", f"expected table or json, got {format!r}")])


def _ruleset_id(rs: Ruleset) -> dict[str, str]:
    return {"id": rs.id, "version": rs.version, "content_hash": rs.content_hash}


def _short(value: object, width: int = 90) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 3] + "..."


@app.command("estimate")
def estimate_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(help="Disclosure files (YAML, JSON), or batches (CSV, JSON Lines)."),
    ],
    rules: RulesOption = None,
    format: FormatOption = "table",
) -> None:
    """Estimate carbon and water of each disclosure (each row of a batch)."""
    _check_format(format)
    ruleset = _ruleset(rules)
    failed: list[Problem] = []
    batch = any(p.suffix.lower() in BATCH_SUFFIXES for p in files) or len(files) > 1
    if format == "json" and batch:
        typer.echo("[")
    first = True
    for path in files:
        items: Iterable[Disclosure | InputError]
        if path.suffix.lower() in BATCH_SUFFIXES:
            items = load_batch(path, ruleset)
        else:
            try:
                items = [load_disclosure(path, ruleset)]
            except InputError as exc:
                items = [exc]
        for item in items:
            where = item.name if isinstance(item, Disclosure) else _place(item, path)
            document: dict[str, object]
            try:
                if isinstance(item, InputError):
                    raise item
                est = estimate(ruleset, item)
                document = result_json(est) if format == "json" else {}
                text = table_text(est) if format == "table" else ""
            except TuneprintError as exc:
                failed.extend(exc.problems)
                document = {"file": where, "errors": [str(p) for p in exc.problems]}
                text = f"{where}: not estimated (errors below)"
            if format == "table":
                typer.echo(text + "\n")
            elif batch:
                typer.echo(("" if first else ",\n") + dumps_line(document), nl=False)
            else:
                typer.echo(dumps(document), nl=False)
            first = False
    if format == "json" and batch:
        typer.echo("\n]")
    if failed:
        _fail(failed)


def _place(error: InputError, path: Path) -> str:
    problem = error.problems[0] if error.problems else None
    if problem is not None and problem.line is not None:
        return f"{problem.file}:{problem.line}"
    return display_path(path)


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


@app.command("diff")
def diff_cmd(
    files: Annotated[list[Path], typer.Argument(help="Disclosure files (YAML or JSON).")],
    rules: Annotated[
        list[Path], typer.Option("--rules", help="Give twice: ruleset A, then ruleset B.")
    ],
    rel_tol: Annotated[float, typer.Option(help="Relative difference taken as equal.")] = 1e-9,
    abs_tol: Annotated[float, typer.Option(help="Absolute difference taken as equal.")] = 0.0,
    fail_above: Annotated[
        float | None,
        typer.Option(help="Exit 1 if any output changes by more than this relative amount."),
    ] = None,
    format: FormatOption = "table",
) -> None:
    """The same disclosures under two rulesets: each output's old and new value, its
    relative change, and the changed rules and table rows on its derivation path."""
    from .diff import result_diff, ruleset_diff

    _check_format(format)
    if len(rules) != 2:
        _fail([Problem("--rules", None, "", f"give exactly two rulesets, got {len(rules)}")])
    a, b = load_ruleset(rules[0]), load_ruleset(rules[1])
    changes = ruleset_diff(a, b)
    documents = []
    worst = 0.0
    for path in files:
        est_a = estimate(a, load_disclosure(path, a))
        est_b = estimate(b, load_disclosure(path, b))
        outputs = result_diff(est_a, est_b, changes, rel_tol, abs_tol)
        for o in outputs:
            if o.changed:
                worst = max(worst, abs(o.relative) if o.relative is not None else math.inf)
        documents.append(
            {
                "disclosure": est_b.disclosure.id,
                "file": display_path(path),
                "outputs": [o.as_dict() for o in outputs],
            }
        )
        if format == "table":
            typer.echo(f"{est_b.disclosure.id}: {a.label} -> {b.label}")
            for o in outputs:
                digits = b.fields[o.field].digits
                if not o.changed:
                    typer.echo(f"  = {o.field}  {shown(o.new, digits, o.unit)}")
                    continue
                rel = "" if o.relative is None else f" ({o.relative:+.4%})"
                typer.echo(
                    f"  ~ {o.field}  {shown(o.old, digits, o.unit)} -> "
                    f"{shown(o.new, digits, o.unit)}{rel}"
                )
                for cause in o.causes:
                    typer.echo(f"      because {cause}")
            typer.echo("")
    if format == "json":
        typer.echo(
            dumps({"old": _ruleset_id(a), "new": _ruleset_id(b), "results": documents}), nl=False
        )
    if fail_above is not None and worst > fail_above:
        typer.echo(
            f"an output changed by {worst:.4%}, more than --fail-above {fail_above:.4%}", err=True
        )
        raise typer.Exit(1)


@app.command("what-if")
def what_if_cmd(
    file: Annotated[Path, typer.Argument(help="A disclosure file.")],
    set_: Annotated[
        list[str], typer.Option("--set", help="FIELD=VALUE to disclose instead (repeatable).")
    ],
    rules: RulesOption = None,
) -> None:
    """Re-estimate with disclosed values overridden or added; show what moved and why."""
    from .whatif import moved_fields, override

    rs = _ruleset(rules)
    disclosure = load_disclosure(file, rs)
    changed = override(disclosure, set_, rs)
    before, after = estimate(rs, disclosure), estimate(rs, changed)
    typer.echo(f"{disclosure.id} with {', '.join(set_)}  (ruleset {rs.label})")
    moved = moved_fields(before, after)
    if not moved:
        typer.echo("  nothing moved")
    for name, old, new, reasons in moved:
        spec = rs.fields[name]
        rel = ""
        if isinstance(old, (int, float)) and isinstance(new, (int, float)) and old:
            rel = f" ({(new - old) / abs(old):+.4%})"
        typer.echo(
            f"  {name}: {shown(old, spec.digits, spec.unit)} -> "
            f"{shown(new, spec.digits, spec.unit)}{rel}"
        )
        for reason in reasons:
            typer.echo(f"      {reason}")


@app.command("validate-predictions")
def validate_predictions_cmd(rules: RulesOption = None, format: FormatOption = "table") -> None:
    """Compare the ruleset's predictions with the measured calibration cases kept next to
    its rules: per case, predicted and measured, and the error summary."""
    from .calibration import run_checks, summary

    _check_format(format)
    rs = _ruleset(rules)
    checks = run_checks(rs)
    totals = summary(checks)
    if format == "json":
        typer.echo(
            dumps(
                {
                    "ruleset": _ruleset_id(rs),
                    "checks": [
                        {
                            "case": c.case,
                            "field": c.field,
                            "unit": c.unit,
                            "measured": c.measured,
                            "predicted": c.predicted,
                            "relative_error": c.relative_error,
                            "error": c.error,
                        }
                        for c in checks
                    ],
                    "summary": totals,
                }
            ),
            nl=False,
        )
        return
    typer.echo(f"{rs.label}: {len(checks)} measured values")
    for c in checks:
        if c.relative_error is None:
            typer.echo(f"  {c.case}  {c.field}: not predicted: {c.error}")
            continue
        typer.echo(
            f"  {c.case}  {c.field}: predicted {shown(c.predicted, 4, c.unit)}, "
            f"measured {shown(c.measured, 4, c.unit)} ({c.relative_error:+.1%})"
        )
    for name, t in totals.items():
        if t["cases"]:
            typer.echo(
                f"{name}: {t['cases']} cases, median |error| "
                f"{t['median_abs_error']:.1%}, worst {t['worst_abs_error']:.1%} "
                f"({t['worst_case']}); {t['failed']} not predicted"
            )


@rules_app.command("check")
def rules_check(
    ruleset: Annotated[
        Path | None, typer.Argument(help="Ruleset folder (default: newest shipped).")
    ] = None,
) -> None:
    """Validate a ruleset and report every problem with file and line."""
    from .loader import manifest_problems

    rs = load_ruleset(ruleset)
    problems = [p for layer in rs.layers for p in manifest_problems(layer)]
    if problems:
        _fail(problems)
    n_rules = sum(len(r) for r in rs.rules.values())
    n_rows = sum(len(t.rows) for t in rs.tables.values())
    typer.echo(
        f"ok: {rs.label}: {len(rs.fields)} fields, {n_rules} rules, {len(rs.tables)} tables "
        f"({n_rows} rows), {len(rs.sources)} sources"
    )


@rules_app.command("lint")
def rules_lint(
    ruleset: Annotated[
        Path | None, typer.Argument(help="Ruleset folder (default: newest shipped).")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when there is any finding.")] = False,
) -> None:
    """Report rules that never fire, unused fields and tables, rows without a source,
    fields with no fallback and stale data (units are checked by every load)."""
    from .lint import lint

    rs = load_ruleset(ruleset)
    findings = lint(rs)
    for finding in findings:
        typer.echo(str(finding))
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no findings"
    typer.echo(f"{rs.label}: {summary}")
    if strict and findings:
        raise typer.Exit(1)


@rules_app.command("diff")
def rules_diff(
    old: Annotated[Path, typer.Argument(help="Ruleset folder A.")],
    new: Annotated[Path, typer.Argument(help="Ruleset folder B.")],
    format: FormatOption = "table",
) -> None:
    """Rules, fields, table rows and sources added, removed and changed from A to B:
    logic apart from data and wording."""
    from .diff import ruleset_diff

    _check_format(format)
    a, b = load_ruleset(old), load_ruleset(new)
    changes = ruleset_diff(a, b)
    if format == "json":
        typer.echo(
            dumps(
                {
                    "old": _ruleset_id(a),
                    "new": _ruleset_id(b),
                    "changes": [c.as_dict() for c in changes],
                }
            ),
            nl=False,
        )
        return
    typer.echo(f"{a.label} -> {b.label}")
    for category in ("logic", "data", "wording"):
        group = [c for c in changes if c.category == category]
        typer.echo(f"{category} ({len(group)}):")
        for change in group:
            mark = {"added": "+", "removed": "-", "changed": "~"}[change.kind]
            typer.echo(f"  {mark} {change.subject}")
            for attr, before, after in change.details:
                if change.kind == "changed":
                    typer.echo(f"      {attr}: {_short(before)} -> {_short(after)}")
                else:
                    typer.echo(
                        f"      {attr}: {_short(after if change.kind == 'added' else before)}"
                    )


@rules_app.command("new")
def rules_new(
    folder: Annotated[Path, typer.Argument(help="Folder of the new version (must not exist).")],
    base: Annotated[
        Path | None, typer.Option("--from", help="Version to extend (default: newest shipped).")
    ] = None,
    version: Annotated[str | None, typer.Option(help="New version number.")] = None,
) -> None:
    """Start a new ruleset version that extends another and holds only what changes."""
    from .versions import new_version

    path = new_version(folder, base, version)
    typer.echo(
        f"created {display_path(path)}: add rules, table rows or fields there, then "
        f"'tuneprint rules check {display_path(folder)}'"
    )


@rules_app.command("release")
def rules_release(
    folder: Annotated[Path, typer.Argument(help="Ruleset folder to release.")],
) -> None:
    """Freeze a version: record each file's hash in its MANIFEST.sha256. A released version
    must never change again; checks fail if it does."""
    from .loader import write_manifest

    rs = load_ruleset(folder)
    path = write_manifest(folder)
    typer.echo(f"released {rs.label}: {display_path(path)}")


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
