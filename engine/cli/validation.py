"""``tuneprint validate``: the ruleset against the validation suite of measured runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .options import RulesOption

if TYPE_CHECKING:
    from ..core.model import Ruleset

CASE_WIDTH = 46  # characters of a case id in the table
FIELD_WIDTH = 20  # characters of a boundary's field name


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def _abs_pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""

    @app.command("validate")
    def validate_cmd(
        rules: RulesOption = None,
        format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
        suite: Annotated[
            Path | None,
            typer.Option("--suite", help="A validation suite folder (default: the shipped one)."),
        ] = None,
        group: Annotated[
            str | None, typer.Option("--group", help="Only this group of the suite.")
        ] = None,
    ) -> None:
        """Estimate every measured run of the validation suite and compare it at its own
        boundary (GPUs only, CodeCarbon's GPU+CPU+RAM, the servers at the wall, or with
        PUE): per group each case's signed error, the median and worst |error|, held-out
        cases apart from those a ruleset was fitted on, and whether a case more than a
        factor of two off carries a warning that says why."""
        from ..core.problems import Problem
        from ..validation import load_suite, report, run, summary
        from ..views.json import dumps
        from .commands import bad_format, fail
        from .rulesets import load_ruleset

        problems = bad_format(format)
        if problems:
            raise typer.Exit(fail(problems))
        rs = load_ruleset(rules)
        loaded = load_suite(suite)
        if group is not None and group not in loaded.groups:
            known = ", ".join(loaded.groups)
            raise typer.Exit(
                fail([Problem("--group", None, group, f"unknown group; known: {known}", "option")])
            )
        outcomes = [o for o in run(loaded, rs) if group is None or o.case.group == group]
        if format == "json":
            typer.echo(dumps(report(loaded, rs, outcomes)), nl=False)
            return
        groups = summary(loaded, outcomes)
        typer.echo(f"{rs.label} on {len(outcomes)} measured runs")
        for key, g in groups.items():
            if group is not None and key != group:
                continue
            fitted = sum(1 for o in outcomes if o.case.group == key and not o.case.held_out)
            typer.echo("")
            typer.echo(f"{g['title']} ({g['cases']} cases, {fitted} used in fitting)")
            if not g["cases"]:
                typer.echo(f"  no case: {g['empty_because']}")
                continue
            for o in (o for o in outcomes if o.case.group == key):
                c = o.case
                mark = "" if c.held_out else " (fit)"
                if o.estimate is None:
                    typer.echo(f"  {c.id[:CASE_WIDTH]:<{CASE_WIDTH}} not estimated: {o.problem}")
                    continue
                warn = ""
                if o.far_off:
                    warn = "  warned" if o.warnings else "  NOT WARNED"
                typer.echo(
                    f"  {c.id[:CASE_WIDTH]:<{CASE_WIDTH}} {c.boundary:<11} "
                    f"{o.field or '':<{FIELD_WIDTH}} {c.measured:>11.4g} {o.estimate:>11.4g} "
                    f"{c.unit:<4} {_pct(o.error):>8}  no range{mark}{warn}"
                )
            worst, held, fit = g["worst"], g["held_out"], g["fitted_on"]
            typer.echo(
                f"  median |error| {_abs_pct(g['median_abs_error'])} over {g['estimated']} "
                f"(held out {_abs_pct(held['median_abs_error'])} over {held['cases']}, "
                f"fitted on {_abs_pct(fit['median_abs_error'])} over {fit['cases']}); worst "
                + (f"{_pct(worst['error'])} ({worst['case']})" if worst else "-")
            )
            by_source = ", ".join(
                f"{s} {_abs_pct(t['median_abs_error'])} ({t['cases']})"
                for s, t in g["by_source"].items()
            )
            typer.echo(f"  by source: {by_source}")
            if g["far_off"]:
                warned = sum(1 for f in g["far_off"] if f["warned"])
                typer.echo(
                    f"  more than a factor of 2 off: {len(g['far_off'])}, "
                    f"{warned} with a warning that says why"
                )


def suite_diff(a: Ruleset, b: Ruleset, folder: Path, format: str) -> int:
    """``tuneprint diff --suite``: the validation suite under two rulesets."""
    from ..validation import load_suite
    from ..validation.compare import by_change, by_group, compare, comparison, newly_estimated
    from ..validation.suite import default_folder
    from ..views.json import dumps

    loaded = load_suite(default_folder() if str(folder) == "validation" else folder)
    if format == "json":
        typer.echo(dumps(comparison(loaded, a, b)), nl=False)
        return 0
    changes = compare(loaded, a, b)
    typer.echo(f"{a.label} -> {b.label} on {len(changes)} measured runs")
    for key, g in by_group(loaded, changes).items():
        typer.echo("")
        typer.echo(
            f"{g['title']}: estimated {g['old_estimated']} -> {g['new_estimated']} of "
            f"{g['cases']}; median |error| {_abs_pct(g['old_median_abs_error'])} -> "
            f"{_abs_pct(g['new_median_abs_error'])} (on the {g['both_estimated']} both estimate: "
            f"{_abs_pct(g['both_old_median_abs_error'])} -> "
            f"{_abs_pct(g['both_new_median_abs_error'])})"
        )
        for c in (c for c in changes if c.new.case.group == key):
            old = _pct(c.old.error) if c.old.error is not None else "not estimated"
            new = _pct(c.new.error) if c.new.error is not None else "not estimated"
            mark = "~" if c.moved else "="
            typer.echo(f"  {mark} {c.new.case.id[:CASE_WIDTH]:<{CASE_WIDTH}} {old:>14} -> {new}")
            for cause in c.causes if c.moved else ():
                typer.echo(f"      because {cause}")
    typer.echo("")
    fresh = newly_estimated(changes)
    typer.echo(f"estimated by {b.label} only: {len(fresh)} cases")
    typer.echo(f"changes of {b.label} and the cases each moved:")
    for entry in by_change(b, changes):
        typer.echo(
            f"  {entry['cases_moved']:>3} cases, median |error| "
            f"{_abs_pct(entry['old_median_abs_error'])} -> "
            f"{_abs_pct(entry['new_median_abs_error'])}: {entry['change']}"
        )
    return 0
