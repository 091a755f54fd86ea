"""The quick path of the command line (``estimate`` and ``explain`` with plain arguments,
run without the argument parser) prints and exits exactly as the parser's commands do."""

from __future__ import annotations

import pytest
from tuneprint.cli import commands

from tests.conftest import FIXTURES, ROOT

CASE = str(FIXTURES / "case_c_seed_disclosure.yaml")
CASES = [
    ["estimate", CASE],
    ["estimate", CASE, "--format", "json"],
    ["estimate", CASE, "--format=json", "--rules", "2.2"],
    ["estimate", CASE, str(FIXTURES / "case_d_seed_bedrock.yaml"), "--rules=1.0"],
    ["estimate", CASE, "--format", "yaml"],
    ["estimate", str(ROOT / "README.md")],
    ["explain", CASE],
    ["explain", CASE, "pue", "--rules", "2.3"],
    ["explain", CASE, "no_such_field"],
    ["estimate", CASE, "--format", "markdown"],
    ["estimate", CASE, str(FIXTURES / "case_d_seed_bedrock.yaml"), "--format=csv"],
    ["explain", CASE, "--depth", "1"],
    ["explain", CASE, "pue", "--depth=0", "--rules", "2.4"],
    ["explain", CASE, "--all"],
    ["explain", CASE, "--depth", "-1"],
]


def _through_parser(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "quick", lambda argv: None)


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a).replace(str(ROOT), "."))
def test_quick_path_equals_the_parser(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tuneprint.cli import run

    assert commands.quick.__name__ == "quick"
    quick_code = run(argv)
    quick_out = capsys.readouterr()
    _through_parser(argv, monkeypatch)
    parsed_code = run(argv)
    parsed_out = capsys.readouterr()
    assert (quick_code, quick_out.out, quick_out.err) == (
        parsed_code,
        parsed_out.out,
        parsed_out.err,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["estimate"],
        ["estimate", CASE, "--help"],
        ["estimate", CASE, "--rules"],
        ["estimate", CASE, "--rules", "2.2", "--rules", "2.3"],
        ["explain", CASE, "pue", "extra"],
        ["explain", CASE, "--format", "json"],
        ["diff", CASE],
    ],
)
def test_anything_else_goes_to_the_parser(argv: list[str]) -> None:
    assert commands.quick(argv) is None


def _one_command_outputs(argv: list[str], only: str | None) -> tuple[int, str]:
    from click.testing import CliRunner
    from tuneprint.cli.app import command

    result = CliRunner().invoke(command(only), argv, prog_name="tuneprint")
    return result.exit_code, result.output


def _command_names() -> list[str]:
    from tuneprint.cli.app import app

    return sorted(str(info.name) for info in app.registered_commands)


@pytest.mark.parametrize("name", _command_names())
def test_a_command_built_alone_parses_and_helps_as_in_the_whole_app(name: str) -> None:
    """The command line builds only the command it is asked for: its help, its usage
    errors and an unknown option read the same as when every command is built."""
    for argv in ([name, "--help"], [name, "--no-such-option"], [name, "a", "b", "c", "d"]):
        assert _one_command_outputs(argv, name) == _one_command_outputs(argv, None), argv


def test_an_unknown_command_or_a_group_builds_the_whole_app() -> None:
    from tuneprint.cli.app import command

    whole = set(command().commands)
    assert {"rules", "data", "batch", "estimate"} <= whole
    assert set(command("rules").commands) == whole
    assert set(command("no-such-command").commands) == whole
    assert set(command("batch").commands) == {"batch"}
