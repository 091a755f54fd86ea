"""Creating a new ruleset version that extends an existing one."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import RulesetError
from .loader import default_ruleset_path, display_path, load_ruleset


def _bump(version: str) -> str:
    parts = version.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def new_version(folder: Path, base: Path | None = None, version: str | None = None) -> Path:
    """Write a folder holding a ruleset.yaml that extends ``base``; nothing else changes."""
    base = base or default_ruleset_path()
    parent = load_ruleset(base)
    if folder.exists():
        raise RulesetError.one(
            display_path(folder),
            None,
            "",
            "already exists: choose a new folder for the new version",
        )
    version = version or _bump(parent.version)
    if not re.fullmatch(r"[0-9]+\.[0-9]+(\.[0-9]+)?", version):
        raise RulesetError.one(
            "--version", None, "", f"expected a version like 2.1, got {version!r}"
        )
    siblings = folder.resolve().parent == base.resolve().parent
    extends = parent.version if siblings else os.path.relpath(base.resolve(), folder.resolve())
    folder.mkdir(parents=True)
    for sub in ("normalize", "formulas", "tables"):
        (folder / sub).mkdir()
    (folder / "ruleset.yaml").write_text(
        f"# Version {version} extends {parent.version}: put here only what changes.\n"
        "# A rule with an inherited id replaces it; a table file with an inherited name adds\n"
        "# or replaces rows by key; remove_rules drops inherited rules.\n"
        f"id: {parent.id}\n"
        f'version: "{version}"\n'
        f'extends: "{extends}"\n'
        f"description: {parent.id} {version}, extending {parent.version}\n"
        "changelog: []\n",
        encoding="utf-8",
    )
    return folder
