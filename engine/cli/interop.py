"""``tuneprint import`` and ``tuneprint export``: other tools' files as disclosures, and
estimates in other tools' formats."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.model import Ruleset
from ..core.problems import InputError
from .options import RulesOption

OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
]
FileArgument = Annotated[Path, typer.Argument(help="The file to import.")]
DisclosureArgument = Annotated[Path, typer.Argument(help="A disclosure file (YAML or JSON).")]
ALL_RUNS = "all"


def _write(text: str, output: Path | None, summary: str = "") -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError.one(
            str(output), None, "", f"cannot write: {exc.strerror}", "file"
        ) from None
    if summary:
        typer.echo(f"wrote {output}: {summary}", err=True)


def _imported(doc: object, output: Path | None) -> None:
    from ..interop import ImportedDisclosure

    assert isinstance(doc, ImportedDisclosure)
    values = len(doc["values"])
    notes = len(doc.notes)
    _write(
        doc.to_yaml(),
        output,
        f"{values} values disclosed; {notes} notes on what was not (comments at its top)",
    )


def _named(rules: str | None) -> Ruleset | None:
    """The ruleset an option names, loaded (with the draft warning), or None: the default."""
    if rules is None:
        return None
    from .rulesets import load_ruleset

    return load_ruleset(rules)


def register(app: typer.Typer) -> None:
    """Add the ``import`` and ``export`` command groups to the ``tuneprint`` command."""
    import_app = typer.Typer(
        no_args_is_help=True, help="Read another tool's file as a disclosure (YAML)."
    )
    export_app = typer.Typer(
        no_args_is_help=True, help="Estimate a disclosure and write it in another tool's format."
    )
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")

    @import_app.command("codecarbon")
    def import_codecarbon_cmd(
        file: FileArgument,
        output: OutputOption = None,
        rules: RulesOption = None,
        run: Annotated[
            str | None,
            typer.Option(
                "--run",
                help="The run: its run_id or row number (needed when the file holds several); "
                "'all' writes every run as JSON Lines.",
            ),
        ] = None,
    ) -> None:
        """A disclosure from a CodeCarbon emissions.csv (2.x and 3.x): every row checked,
        columns matched by name, units converted (IT energy = energy_consumed / pue)."""
        from ..interop import import_codecarbon, import_codecarbon_runs

        if run == ALL_RUNS:
            docs = import_codecarbon_runs(file, _named(rules))
            if output is not None and output.suffix.lower() != ".jsonl":
                raise InputError.one(
                    str(output), None, "", "--run all writes JSON Lines: name it .jsonl", "option"
                )
            lines = "".join(json.dumps(dict(d), ensure_ascii=False) + "\n" for d in docs)
            _write(lines, output, f"{len(docs)} runs (a batch 'tuneprint estimate' takes)")
            return
        _imported(import_codecarbon(file, _named(rules), run), output)

    @import_app.command("trainer-state")
    def import_trainer_state_cmd(
        file: FileArgument,
        output: OutputOption = None,
        rules: RulesOption = None,
        tokens: Annotated[
            str | None,
            typer.Option(
                "--tokens",
                help="How the run counted num_input_tokens_seen: 'all' (padding included; "
                "always so before transformers 4.57) or 'non_padding'.",
            ),
        ] = None,
    ) -> None:
        """A disclosure from a Transformers trainer_state.json: tokens seen, run time of the
        final summary, epochs (total_flos is reported, never disclosed as measured)."""
        from ..interop import import_trainer_state

        _imported(import_trainer_state(file, _named(rules), tokens), output)

    @import_app.command("boamps")
    def import_boamps_cmd(
        file: FileArgument,
        output: OutputOption = None,
        rules: RulesOption = None,
        measure: Annotated[
            int | None,
            typer.Option("--measure", help="Which measure (from 1), when it has several."),
        ] = None,
    ) -> None:
        """A disclosure from a BoAmps 1.1 report, validated against the BoAmps schema."""
        from ..interop import import_boamps

        _imported(import_boamps(file, _named(rules), measure), output)

    def _export(
        format: str, file: Path, output: Path | None, rules: str | None, **options: object
    ) -> None:
        from ..api import estimate
        from ..interop import export
        from .rulesets import load_ruleset

        result = estimate(file, load_ruleset(rules))
        _write(export(result, format, **options), output, f"{format} of {result.disclosure.id}")

    @export_app.command("hf-card")
    def export_hf_card_cmd(
        file: DisclosureArgument, output: OutputOption = None, rules: RulesOption = None
    ) -> None:
        """The Hugging Face model card co2_eq_emissions block (grams), to paste into the
        README's YAML front matter."""
        _export("hf-card", file, output, rules)

    @export_app.command("scope3")
    def export_scope3_cmd(
        file: DisclosureArgument, output: OutputOption = None, rules: RulesOption = None
    ) -> None:
        """Scope3 AI API ImpactMetrics (Wh, gCO2e, mL) per run and per inference (JSON)."""
        _export("scope3", file, output, rules)

    @export_app.command("boamps")
    def export_boamps_cmd(
        file: DisclosureArgument,
        output: OutputOption = None,
        rules: RulesOption = None,
        task_family: Annotated[
            str | None,
            typer.Option(help="BoAmps taskFamily, e.g. textGeneration (default: other)."),
        ] = None,
    ) -> None:
        """A BoAmps 1.1 report (JSON) of the estimate."""
        _export("boamps", file, output, rules, task_family=task_family)

    @export_app.command("html")
    def export_html_cmd(
        file: DisclosureArgument, output: OutputOption = None, rules: RulesOption = None
    ) -> None:
        """A self-contained HTML report with inline SVG charts (opens offline)."""
        _export("html", file, output, rules)

    @export_app.command("markdown")
    def export_markdown_cmd(
        file: DisclosureArgument, output: OutputOption = None, rules: RulesOption = None
    ) -> None:
        """The report in Markdown."""
        _export("markdown", file, output, rules)
