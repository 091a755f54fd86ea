"""Creating a new ruleset version that extends an existing one."""

from __future__ import annotations

import re
from pathlib import Path

from ..core.problems import RulesetError
from ..load.layers import available_rulesets, find_parent, find_ruleset, read_ruleset_manifest
from ..load.paths import display_path, installed_package, is_inside


def _bump(version: str) -> str:
    """The next version after ``version`` that no shipped ruleset (released or draft) holds."""
    taken = {v for v, _ in available_rulesets()}
    parts = version.split(".")
    while True:
        parts[-1] = str(int(parts[-1]) + 1)
        if ".".join(parts) not in taken:
            return ".".join(parts)


def new_version(folder: Path, base: str | Path | None = None, version: str | None = None) -> Path:
    """Write a folder holding a ruleset.yaml that extends ``base`` (a folder or a shipped
    version name; default the newest released); nothing else changes.

    ``extends`` is the version's name when that name finds ``base`` from the new folder (a
    shipped version, or a folder beside the new one holding it): a name survives moving
    the new folder (and a shipped version moving with a new install of tuneprint), and
    keeps the ruleset's content hash the same on every machine. Otherwise it is ``base``'s
    absolute path, which survives moving the new folder on this machine. The new folder is
    never inside the installed package (site-packages, for a wheel).
    """
    base_folder = find_ruleset(base)
    if is_inside(folder, installed_package()):
        raise RulesetError.one(
            display_path(folder),
            None,
            "",
            "is inside the installed tuneprint package: create the version in a folder of "
            "your own (e.g. ~/audit/2.5); it can extend a shipped version by its name",
            "file",
        )
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
    extends = _extends(folder, base_folder, parent["version"])
    try:
        folder.mkdir(parents=True)
        for sub in ("normalize", "formulas", "tables"):
            (folder / sub).mkdir()
        _write(folder / "ruleset.yaml", parent["id"], version, extends, parent["version"])
    except OSError as exc:
        raise RulesetError.one(
            display_path(folder), None, "", f"cannot create the version: {exc.strerror}", "file"
        ) from None
    return folder


def _extends(folder: Path, base_folder: Path, name: str) -> str:
    """What the new folder's ``extends`` says: the version name when it finds the base
    from the new folder (before the folder exists: the same siblings and shipped rules),
    else the base's absolute path."""
    try:
        found: Path | None = find_parent(folder, name)
    except RulesetError:
        found = None
    if found is not None and found.resolve() == base_folder.resolve():
        return name
    if is_inside(base_folder, installed_package()):
        raise RulesetError.one(
            display_path(folder),
            None,
            "",
            f"a folder beside it holds version {name!r} too, so that name would not find "
            "the shipped version: create the new version in another folder",
            "duplicate",
        )
    return base_folder.resolve().as_posix()


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
