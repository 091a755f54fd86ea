"""The ``tuneprint`` commands: each parses its arguments, calls the API and prints."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from .. import __version__
from ..api import (
    diff,
    estimate,
    read_disclosure,
)
from ..api import load_ruleset as load_quietly
from ..core.names import did_you_mean
from ..core.problems import Problem
from ..core.text import printable
from ..core.values import DEFAULT_REL_TOL
from ..load.layers import available_rulesets, manifest_problems, write_manifest
from ..load.paths import display_path
from ..views.json import dumps, ruleset_record
from ..views.text import shown, where
from .commands import (
    DEFAULT_DEPTH,
    bad_format,
    echo,
    echo_problems,
    estimate_command,
    explain_command,
)
from .options import RulesOption
from .rulesets import load_ruleset

EXIT_USER_ERROR = 2
MIB = 1024 * 1024  # bytes in a mebibyte
SHORT_WIDTH = 90  # characters of a changed value shown by rules diff

# -h as well as --help on every command (sub-commands inherit the setting), help folded
# to 80 columns at most, in plain text: the same help with or without rich installed.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 80}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
    help="Carbon and water of fine-tuning AI models, with every number explained.",
)
rules_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Check and list rulesets."
)
data_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Browse the reference tables."
)
app.add_typer(rules_app, name="rules")
app.add_typer(data_app, name="data")

FormatOption = Annotated[str, typer.Option("--format", metavar="FORMAT", help="table or json.")]


def _version(value: bool) -> None:
    if value:
        echo(__version__)
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the tuneprint version and exit.",
        ),
    ] = False,
) -> None:
    """Carbon and water of fine-tuning AI models, with every number explained."""


def _fail(problems: list[Problem]) -> None:
    echo_problems(problems)
    raise typer.Exit(EXIT_USER_ERROR)


def _check_format(format: str) -> None:
    problems = bad_format(format)
    if problems:
        _fail(problems)


def _short(value: object, width: int = SHORT_WIDTH) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _done(code: int) -> None:
    if code:
        raise typer.Exit(code)


@app.command("estimate")
def estimate_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE",
            help="Disclosure files (YAML, JSON), or batches (CSV, JSON Lines).",
        ),
    ],
    rules: RulesOption = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="table (for people, folded to the terminal or 80 columns), json (full "
            "precision and provenance), markdown (a table for a report) or csv (one row "
            "per value: disclosure, field, value, unit, status, rule).",
        ),
    ] = "table",
    why: Annotated[
        bool,
        typer.Option("--why", help="For an output that cannot be resolved, every rule tried."),
    ] = False,
) -> None:
    """Estimate carbon and water of each disclosure (each row of a batch)."""
    _done(estimate_command(files, rules, format, why))


@app.command("explain")
def explain_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A disclosure file.")],
    field: Annotated[
        str | None,
        typer.Argument(metavar="[FIELD]", help="Field to explain (default: every output)."),
    ] = None,
    rules: RulesOption = None,
    row: Annotated[
        int | None,
        typer.Option(
            "--row",
            metavar="N",
            help="FILE is an output of 'tuneprint batch': explain its row N.",
        ),
    ] = None,
    depth: Annotated[
        int,
        typer.Option(
            "--depth",
            metavar="N",
            help="Levels of inputs shown below each field; the text says how many deeper "
            "steps it hides.",
        ),
    ] = DEFAULT_DEPTH,
    every: Annotated[
        bool, typer.Option("--all", help="The whole tree, down to every disclosed value.")
    ] = False,
) -> None:
    """Show how a value was derived: rules, inputs, table rows, sources, skipped rules."""
    _done(explain_command(file, field, rules, row, depth, every))


@app.command("diff")
def diff_cmd(
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[FILE]...", help="Disclosure files (YAML or JSON)."),
    ] = None,
    rules: Annotated[
        list[str] | None, typer.Option("--rules", help="Give twice: ruleset A, then ruleset B.")
    ] = None,
    suite: Annotated[
        Path | None,
        typer.Option(
            "--suite",
            help="Compare on a validation suite (a folder; 'validation' for the shipped one) "
            "instead of disclosure files: each case's error under A and B and what moved it.",
        ),
    ] = None,
    rel_tol: Annotated[
        float, typer.Option(help="Relative difference taken as equal.")
    ] = DEFAULT_REL_TOL,
    abs_tol: Annotated[float, typer.Option(help="Absolute difference taken as equal.")] = 0.0,
    fail_above: Annotated[
        float | None,
        typer.Option(help="Exit 1 if any output changes by more than this relative amount."),
    ] = None,
    format: FormatOption = "table",
) -> None:
    """The same disclosures under two rulesets: each output's old and new value, its
    relative change, and the changed rules and table rows on its derivation path."""
    from ..versions.diff import check_tolerances

    _check_format(format)
    check_tolerances(rel_tol, abs_tol, fail_above)
    rules = rules or []
    if len(rules) != 2:
        _fail(
            [
                Problem(
                    "--rules", None, "", f"give exactly two rulesets, got {len(rules)}", "option"
                )
            ]
        )
    a, b = load_ruleset(rules[0]), load_ruleset(rules[1])
    if suite is not None:
        from .validation import suite_diff

        _done(suite_diff(a, b, suite, format))
        return
    if not files:
        _fail([Problem("diff", None, "", "give disclosure files, or --suite", "option")])
    report = diff(a, b, files or [], rel_tol, abs_tol)
    if format == "json":
        echo(dumps(report.as_dict()), nl=False)
    else:
        for result in report.results:
            echo(f"{result.id}: {a.label} -> {b.label}")
            for o in result.outputs:
                digits = b.fields[o.field].digits
                if not o.changed:
                    echo(f"  = {o.field}  {shown(o.new, digits, o.unit)}")
                    continue
                rel = "" if o.relative is None else f" ({o.relative:+.1%})"
                echo(
                    f"  ~ {o.field}  {shown(o.old, digits, o.unit)} -> "
                    f"{shown(o.new, digits, o.unit)}{rel}"
                )
                for cause in o.causes:
                    echo(f"      because {cause}")
            echo("")
    if fail_above is not None and report.exceeds(fail_above):
        echo(
            f"an output changed by {report.largest:.2%}, more than --fail-above {fail_above:.2%}",
            err=True,
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
    from ..versions.whatif import moved_fields, override

    rs = load_ruleset(rules)
    disclosure = read_disclosure(file, rs)
    changed = override(disclosure, set_, rs)
    before, after = estimate(disclosure, rs), estimate(changed, rs)
    changes = printable(", ".join(set_))
    from ..views.summary import what_if_text
    from .commands import text_width

    echo(what_if_text(before, after, changes, moved_fields(before, after), text_width()))


@app.command("validate-predictions")
def validate_predictions_cmd(rules: RulesOption = None, format: FormatOption = "table") -> None:
    """Compare the ruleset's predictions with the measured calibration cases kept next to
    its rules: per case, predicted and measured, and the error summary."""
    from ..calibration.cases import report, run_checks, summary

    _check_format(format)
    rs = load_ruleset(rules)
    checks = run_checks(rs)
    if format == "json":
        echo(dumps(report(rs, checks)), nl=False)
        return
    echo(f"{rs.label}: {len(checks)} measured values")
    for c in checks:
        if c.relative_error is None:
            echo(f"  {c.case}  {c.field}: not predicted: {c.error}")
            continue
        echo(
            f"  {c.case}  {c.field}: predicted {shown(c.predicted, 4, c.unit)}, "
            f"measured {shown(c.measured, 4, c.unit)} ({c.relative_error:+.1%})"
        )
    for name, t in summary(checks).items():
        if t["cases"]:
            echo(
                f"{name}: {t['cases']} cases, median |error| "
                f"{t['median_abs_error']:.1%}, worst {t['worst_abs_error']:.1%} "
                f"({t['worst_case']}); {t['failed']} not predicted"
            )


RulesetArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[RULESET]", help="Ruleset folder or shipped version (default: newest released)."
    ),
]


@rules_app.command("check")
def rules_check(ruleset: RulesetArgument = None) -> None:
    """Validate a ruleset and report every problem with file and line."""
    rs = load_quietly(ruleset)
    problems = [p for layer in rs.layers for p in manifest_problems(layer.folder)]
    if problems:
        _fail(problems)
    n_rules = sum(len(r) for r in rs.rules.values())
    n_rows = sum(len(t.rows) for t in rs.tables.values())
    echo(
        f"ok: {rs.label}: {len(rs.fields)} fields, {n_rules} rules, {len(rs.tables)} tables "
        f"({n_rows} rows), {len(rs.sources)} sources"
    )


@rules_app.command("lint")
def rules_lint(
    ruleset: RulesetArgument = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when there is any finding.")] = False,
) -> None:
    """Report rules that never fire, unused fields and tables, rows without a source,
    fields with no fallback and stale data (units are checked by every load)."""
    from ..versions.lint import lint

    rs = load_quietly(ruleset)
    findings = lint(rs)
    for finding in findings:
        echo(str(finding))
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no findings"
    echo(f"{rs.label}: {summary}")
    if strict and findings:
        raise typer.Exit(1)


@rules_app.command("diff")
def rules_diff(
    old: Annotated[str, typer.Argument(help="Ruleset A (folder or shipped version).")],
    new: Annotated[str, typer.Argument(help="Ruleset B (folder or shipped version).")],
    format: FormatOption = "table",
) -> None:
    """Rules, fields, table rows and sources added, removed and changed from A to B:
    logic apart from data and wording."""
    from ..versions.diff import ruleset_diff

    _check_format(format)
    a, b = load_quietly(old), load_quietly(new)
    changes = ruleset_diff(a, b)
    if format == "json":
        echo(
            dumps(
                {
                    "old": ruleset_record(a),
                    "new": ruleset_record(b),
                    "changes": [c.as_dict() for c in changes],
                }
            ),
            nl=False,
        )
        return
    echo(f"{a.label} -> {b.label}")
    for category in ("logic", "data", "wording"):
        group = [c for c in changes if c.category == category]
        echo(f"{category} ({len(group)}):")
        for change in group:
            mark = {"added": "+", "removed": "-", "changed": "~"}[change.kind]
            echo(f"  {mark} {change.subject}")
            for attr, before, after in change.details:
                if change.kind == "changed":
                    echo(f"      {attr}: {_short(before)} -> {_short(after)}")
                else:
                    echo(f"      {attr}: {_short(after if change.kind == 'added' else before)}")


@rules_app.command("new")
def rules_new(
    folder: Annotated[Path, typer.Argument(help="Folder of the new version (must not exist).")],
    base: Annotated[
        str | None,
        typer.Option("--from", help="Version to extend: folder or shipped version name."),
    ] = None,
    version: Annotated[str | None, typer.Option(help="New version number.")] = None,
) -> None:
    """Start a new ruleset version that extends another and holds only what changes."""
    from ..versions.new import new_version

    path = new_version(folder, base, version)
    echo(
        f"created {display_path(path)}: add rules, table rows or fields there, then "
        f"'tuneprint rules check {display_path(folder)}'"
    )


@rules_app.command("release")
def rules_release(
    folder: Annotated[Path, typer.Argument(help="Ruleset folder to release.")],
) -> None:
    """Freeze a version: record each file's hash in its MANIFEST.sha256. A released version
    must never change again; checks fail if it does."""
    rs = load_quietly(folder)
    path, before = write_manifest(folder)
    state = "already released, unchanged" if before else "released"
    echo(f"{state} {rs.label}: {display_path(path)}")


@rules_app.command("cache")
def rules_cache(
    clear: Annotated[bool, typer.Option(help="Delete every cached ruleset.")] = False,
) -> None:
    """Where checked rulesets are cached (safe to delete; TUNEPRINT_NO_CACHE=1 turns the
    cache off, TUNEPRINT_CACHE_DIR moves it)."""
    from ..load import cache

    folder = cache.cache_dir()
    if folder is None:
        echo("the cache is off (TUNEPRINT_NO_CACHE is set)")
        return
    if clear:
        echo(f"deleted {cache.clear()} cached rulesets from {folder}")
        return
    entries = sorted(folder.glob("ruleset-*.bin")) if folder.is_dir() else []
    size = sum(p.stat().st_size for p in entries)
    echo(f"{folder}: {len(entries)} cached rulesets, {size / MIB:.1f} MiB")


@rules_app.command("list")
def rules_list() -> None:
    """List the shipped ruleset versions, newest last."""
    from ..load.layers import is_released

    for version, path in available_rulesets():
        state = "" if is_released(path) else "\t(draft)"
        echo(f"{version}\t{display_path(path)}{state}")


@data_app.command("list")
def data_list(rules: RulesOption = None) -> None:
    """List the reference tables with their row counts."""
    rs = load_ruleset(rules)
    for table in rs.tables.values():
        echo(f"{table.name:<32} {len(table.rows):>6} rows  {' '.join(table.description.split())}")


DEFAULT_ROWS = 20  # rows data show prints unless told otherwise


@data_app.command("show")
def data_show(
    table: Annotated[str, typer.Argument(help="Table name.")],
    key: Annotated[
        list[str] | None,
        typer.Argument(help="Row key(s) to show, written as a disclosure writes them."),
    ] = None,
    rules: RulesOption = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help=f"Show at most N rows (default {DEFAULT_ROWS})."),
    ] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Show every row.")] = False,
) -> None:
    """Show a table's rows (or those of one key) with their sources and the layer file each
    row comes from."""
    from ..core.values import ValueProblem
    from ..load.guidance import matching_rows

    rs = load_ruleset(rules)
    if table not in rs.tables:
        hint = did_you_mean(table, list(rs.tables), quote=False)
        _fail([Problem("data show", None, table, f"unknown table{hint}", "reference")])
    t = rs.tables[table]
    rows = t.rows
    if key:
        if len(key) > len(t.key):
            _fail(
                [
                    Problem(
                        "data show", None, table,
                        f"give at most {len(t.key)} key parts ({', '.join(t.key)})", "option",
                    )
                ]
            )  # fmt: skip
        try:
            rows = tuple(matching_rows(rs, table, key))
        except ValueProblem as exc:
            _fail([Problem("data show", None, table, str(exc), exc.code)])
        if not rows:
            _fail(
                [
                    Problem(
                        "data show", None, table,
                        f"no row {'/'.join(key)} (key: {', '.join(t.key)}; every row: "
                        f"tuneprint data show {table} --all)", "reference",
                    )
                ]
            )  # fmt: skip
    shown_rows = rows if all_rows else rows[: limit or DEFAULT_ROWS]
    echo(f"{t.name}: {' '.join(t.description.split())}")
    for row in shown_rows:
        cells = ", ".join(
            f"{name}={shown(value, 6, t.columns[name].unit)}"
            for name, value in row.values.items()
            if value is not None
        )
        echo(f"  {where(rs, row.at)}: {cells}")
        if row.aliases:
            echo(f"    aliases: {', '.join(row.aliases)}")
        if row.note:
            echo(f"    note: {' '.join(row.note.split())}")
        for k in row.sources:
            src = rs.sources.get(k)
            echo(f"    source: {src.text() if src else k}")
    more = len(rows) - len(shown_rows)
    if more:
        echo(
            f"... and {more} more rows of {len(rows)} (--all shows every row, --limit N the "
            "first N)"
        )


@app.command("fields", short_help="What a disclosure may hold, by group.")
def fields_cmd(
    rules: RulesOption = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group", help="Only this group: infrastructure, operational, usage or other."
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Every field a disclosure may hold, by group, with its unit, meaning and an example."""
    from ..load.guidance import disclosure_groups, fields_record, fields_text, grouped

    if format not in ("text", "json"):
        _fail([Problem("--format", None, "", f"expected text or json, got {format!r}", "option")])
    rs = load_ruleset(rules)
    by_group = grouped(rs)
    if group is not None and group not in by_group:
        hint = did_you_mean(group, list(by_group), quote=False)
        _fail(
            [
                Problem(
                    "--group", None, group,
                    f"ruleset {rs.label} has no group of that name{hint} "
                    f"(groups: {', '.join(by_group)})", "option",
                )
            ]
        )  # fmt: skip
    groups = [group] if group else (disclosure_groups(rs) if format == "text" else list(by_group))
    if format == "json":
        echo(dumps(fields_record(rs, groups)), nl=False)
        return
    hidden = {g: len(by_group[g]) for g in by_group if g not in groups and not group}
    echo(fields_text(rs, groups, hidden), nl=False)


@app.command("init", short_help="Write a commented starter disclosure.")
def init_cmd(
    example: Annotated[
        str,
        typer.Option(
            "--example",
            help="seed (the methodology's example disclosure), bedrock (its managed-service "
            "example) or minimal (the fewest fields that give an estimate).",
        ),
    ] = "seed",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file (default: stdout).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    rules: RulesOption = None,
) -> None:
    """Write a commented starter disclosure (YAML) to edit and estimate."""
    from ..load.guidance import STARTERS, starter, starter_text

    if example not in STARTERS:
        _fail(
            [
                Problem(
                    "--example", None, example,
                    f"expected one of {', '.join(STARTERS)}", "option",
                )
            ]
        )  # fmt: skip
    rs = load_ruleset(rules)
    text = starter_text(starter(example, rs), rs)
    if output is None:
        echo(text, nl=False)
        return
    if output.exists() and not force:
        _fail(
            [
                Problem(
                    display_path(output), None, "",
                    "the file exists: give --force to overwrite it, or another -o FILE",
                    "file",
                )
            ]
        )  # fmt: skip
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail([Problem(display_path(output), None, "", f"cannot write: {exc.strerror}", "file")])
    echo(
        f"wrote {display_path(output)}: edit it, then 'tuneprint estimate {display_path(output)}'",
        err=True,
    )


@app.command("version")
def version_cmd() -> None:
    """Print the tuneprint version."""
    echo(__version__)


__all__ = ["app", "echo_problems"]


# Features in packages of their own register their commands here; each imports its
# optional dependencies only when one of its commands runs.

from . import batch, interop, service, validation  # noqa: E402

batch.register(app)
service.register(app)
interop.register(app)
validation.register(app)

# What the command list says of each command: whole phrases that fit 80 columns, where
# click would cut the first sentence of the help short with "...".
SHORT_HELP = {
    "estimate": "Carbon and water of each disclosure.",
    "explain": "How a value was derived, rule by rule.",
    "diff": "The same disclosures under two rulesets.",
    "what-if": "Re-estimate with values changed; what moved.",
    "validate-predictions": "Predictions against measured calibration cases.",
    "version": "Print the tuneprint version.",
    "batch": "Estimate every row of a batch file.",
    "serve": "Serve estimates over HTTP.",
    "validate": "Estimate the measured runs of a validation suite.",
}
for _info in app.registered_commands:
    if _info.name in SHORT_HELP and _info.short_help is None:
        _info.short_help = SHORT_HELP[_info.name]
for _group in app.registered_groups:
    if _group.name == "export":
        _group.short_help = "Write an estimate in another tool's format."

# Metavars in words, not Python types ("<str>", "<list[Path]>"), for every option and
# argument that does not name its own.
METAVARS = {
    "path": "PATH",
    "integer": "N",
    "int": "N",
    "float": "NUMBER",
    "text": "TEXT",
    "str": "TEXT",
}


def command(only: str | None = None) -> Any:
    """The click command of the app, every parameter with a metavar in words. With
    ``only``, the name of a command (not a group), the app holds that command alone: its
    parsing, help and errors are the same, and the others are not built (building all
    of them takes about as long as a one-row batch)."""
    source = app
    infos = [info for info in app.registered_commands if only and info.name == only]
    if infos:
        source = copy.copy(app)  # (the copy's lists are its own; the rest is shared)
        source.registered_commands = infos
        source.registered_groups = []
    cmd = typer.main.get_command(source)

    def visit(c: Any) -> None:
        for param in c.params:
            if param.metavar is None and not getattr(param, "is_flag", False):
                kind = getattr(param.type, "name", "text")
                word = METAVARS.get(kind, "VALUE")
                if param.param_type_name == "argument":
                    word = (param.name or word).upper()
                param.metavar = word
        for sub in getattr(c, "commands", {}).values():
            visit(sub)

    visit(cmd)
    return cmd
