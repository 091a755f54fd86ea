"""The shell commands of the documentation, as written: every ``sh`` block split into
commands (a heredoc or a line continued with a backslash is one command), each with the
exit code its comment states (``# exit 1: ...``; 0 otherwise), run in a copy of the
repository with the installed ``tuneprint`` first on the PATH."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT_OF_COPY = (".git", ".venv", "build", "*.egg-info", "__pycache__", "*.pyc", ".*_cache")
LEFT_OUT_OF_COPY += (".hypothesis", "artifacts")
COMMAND_TIMEOUT = 300  # seconds for one documented command


@dataclass(frozen=True)
class Command:
    text: str  # as written (heredoc included), comments after the command removed
    exit: int  # the exit code the documentation states


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[Command]:
    """The commands of one shell block, in order."""
    found: list[Command] = []
    lines = iter(block.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        text = line
        while text.endswith("\\"):
            text = text + "\n" + next(lines)
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", text)
        if heredoc:
            for body in lines:
                text += "\n" + body
                if body.strip() == heredoc.group(1):
                    break
        command, comment = _split_comment(text) if not heredoc else (text, "")
        stated = re.match(r"\s*exit (\d+)", comment)
        found.append(Command(command.strip(), int(stated.group(1)) if stated else 0))
    return found


def _split_comment(text: str) -> tuple[str, str]:
    """A command and its trailing comment (a ``#`` after a space, outside quotes)."""
    quote = ""
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i], text[i + 1 :]
    return text, ""


def repository_copy(target: Path) -> Path:
    """A copy of the repository's files (no virtual environment, caches or history)."""
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*LEFT_OUT_OF_COPY))
    return target


def environment() -> dict[str, str]:
    """The environment the commands run in: this interpreter's ``tuneprint`` first."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run(command: Command, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command.text],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def cli_commands() -> set[str]:
    """The commands the installed command line has (new ones are checked once present)."""
    import typer.main
    from tuneprint.cli.app import app

    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
