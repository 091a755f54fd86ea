"""Every shell command of the README, run as written in a copy of the repository (the
README's commands are run from the repository's root), with the exit code it states.

Left out, each for its reason: commands that create a virtual environment or install
packages (CI runs the README's install-and-test command itself, .ci/run, and the test of
the quick start runs its estimate), and commands that start a server (the service's tests
run it). A command of ``tuneprint fields`` or ``tuneprint init`` is run once the command
line has that command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doc_commands import (
    ROOT,
    Command,
    cli_commands,
    commands,
    repository_copy,
    run,
    sh_blocks,
)

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = [c for block in sh_blocks(README) for c in commands(block)]
NEW_COMMANDS = ("fields", "init")  # checked once the command line has them


def _left_out(command: Command) -> str | None:
    """Why a command is not run here, or None."""
    if "pip install" in command.text or "python3 -m venv" in command.text:
        return "creates a virtual environment or installs packages (CI runs it: .ci/run)"
    if "tuneprint serve" in command.text:
        return "starts a server (the service's tests run one)"
    missing = [n for n in NEW_COMMANDS if f"tuneprint {n}" in command.text]
    missing = [n for n in missing if n not in cli_commands()]
    if missing:
        return f"this command line has no {', '.join(missing)} command yet"
    return None


def test_the_readme_has_commands_to_run() -> None:
    runnable = [c for c in COMMANDS if _left_out(c) is None]
    assert len(runnable) >= 8, runnable
    assert any(c.exit for c in COMMANDS), "a stated exit code is read"


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return repository_copy(tmp_path_factory.mktemp("readme") / "repository")


@pytest.mark.parametrize("command", COMMANDS, ids=[c.text.split("\n")[0] for c in COMMANDS])
def test_each_readme_command_runs_as_written(command: Command, repository: Path) -> None:
    reason = _left_out(command)
    if reason:
        pytest.skip(reason)
    done = run(command, repository)
    assert done.returncode == command.exit, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip(), "every README command prints something"
    assert "Traceback" not in done.stderr
