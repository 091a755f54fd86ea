"""Creating a new ruleset version that extends an existing one."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..core.problems import RulesetError
from ..load.layers import find_parent, find_ruleset, read_ruleset_manifest
from ..load.paths import display_path


def _bump(version: str) -> str:
    parts = version.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def new_version(folder: Path, base: str | Path | None = None, version: str | None = None) -> Path:
    """Write a folder holding a ruleset.yaml that extends ``base`` (a folder or a shipped
    version name; default the newest released); nothing else changes.

    ``extends`` names the version when that name finds ``base`` from the new folder, and
    is ``base``'s relative path otherwise, so it always resolves to the version asked for.
    """
    base_folder = find_ruleset(base)
    parent = read_ruleset_manifest(base_folder)
    if not isinstance(parent, dict) or not isinstance(parent.get("version"), str):
        raise RulesetError.one(display_path(base_folder), None, "", "not a ruleset", "schema")
    if folder.exists():
        raise RulesetError.one(
            display_path(folder), None, "", "already exists: choose a new folder", "file"
        )
    version = version or _bump(parent["version"])
    if not re.fullmatch(r"[0-9]+\.[0-9]+(\.[0-9]+)?", version):
        raise RulesetError.one(
            "--version", None, "", f"expected a version like 2.1, got {version!r}", "option"
        )
    if version == parent["version"]:
        raise RulesetError.one(
            "--version", None, "", f"the new version must differ from {version}", "option"
        )
    extends = parent["version"]
    try:
        folder.mkdir(parents=True)
        for sub in ("normalize", "formulas", "tables"):
            (folder / sub).mkdir()
        manifest = folder / "ruleset.yaml"
        _write(manifest, parent["id"], version, extends, parent["version"])
        try:
            found = find_parent(folder, extends)
        except RulesetError:
            found = None
        if found is None or found.resolve() != base_folder.resolve():
            extends = os.path.relpath(base_folder.resolve(), folder.resolve())
            _write(manifest, parent["id"], version, extends, parent["version"])
    except OSError as exc:
        raise RulesetError.one(
            display_path(folder), None, "", f"cannot create the version: {exc.strerror}", "file"
        ) from None
    return folder


def _write(path: Path, rid: str, version: str, extends: str, parent: str) -> None:
    path.write_text(
        f"# Version {version} extends {parent}: put here only what changes.\n"
        "# A rule with an inherited id replaces it; a table file with an inherited name adds\n"
        "# or replaces rows by key; remove_rules drops inherited rules.\n"
        f"id: {rid}\n"
        f'version: "{version}"\n'
        f'extends: "{extends}"\n'
        f"description: {rid} {version}, extending {parent}\n"
        "changelog: []\n",
        encoding="utf-8",
    )
