"""Ruleset folders: finding versions, the chain of versions one extends, content hashes and
release manifests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..core.problems import Problem, RulesetError
from .files import read_bytes, read_text
from .paths import display_path, shipped
from .yamlio import load_file

MANIFEST_FILE = "MANIFEST.sha256"
RULESET_FILE = "ruleset.yaml"
MAX_LAYERS = 32  # versions in one chain of extends


def _unreadable(error: OSError) -> None:
    name = display_path(Path(error.filename)) if error.filename else "ruleset"
    raise RulesetError.one(name, None, "", f"cannot read folder: {error.strerror}", "file")


def ruleset_files(folder: Path) -> list[Path]:
    """The files that make up a ruleset version (its release manifest excluded), sorted
    by their path inside the folder. A folder that cannot be read is an error: its files
    would silently be missing from the ruleset and its hash."""
    found: list[tuple[str, Path]] = []
    for top, dirs, files in os.walk(folder, onerror=_unreadable):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(top, folder)
        for name in files:
            if rel == "." and name == MANIFEST_FILE:
                continue
            path = Path(top, name)
            if not path.is_dir() or path.is_symlink():  # a device or FIFO is read, and refused
                found.append((name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"), path))
    return [path for _, path in sorted(found, key=lambda item: Path(item[0]).parts)]


def _bytes(path: Path, folder: Path) -> bytes:
    return read_bytes(path, RulesetError, display_path(path), within=folder)


def file_hash(path: Path, folder: Path | None = None) -> str:
    """SHA-256 of a file's bytes (a file of ``folder``: never one outside it)."""
    return hashlib.sha256(_bytes(path, folder or path.parent)).hexdigest()


def content_hash(folder: Path, parent_hash: str = "") -> str:
    """SHA-256 over a version's files (relative path and bytes) and its parent's hash."""
    return hashed(folder, parent_hash)[0]


def hashed(folder: Path, parent_hash: str = "") -> tuple[str, dict[str, str]]:
    """The content hash of a version and the SHA-256 of each of its files (by path inside
    the folder), from one read of each file."""
    digest = hashlib.sha256(parent_hash.encode())
    files: dict[str, str] = {}
    for path in ruleset_files(folder):
        rel = path.relative_to(folder).as_posix()
        data = _bytes(path, folder)
        digest.update(rel.encode() + b"\0")
        digest.update(data + b"\0")
        files[rel] = hashlib.sha256(data).hexdigest()
    return digest.hexdigest(), files


def verified_hash(folder: Path, parent_hash: str = "") -> str:
    """The content hash of a version; a released version whose files differ from its
    manifest is an error: it would give results under a released version's name that the
    release never gave."""
    digest, files = hashed(folder, parent_hash)
    listed = read_manifest(folder)
    if listed is not None and listed != files:
        problems = manifest_problems(folder)
        raise RulesetError(
            problems
            or [
                Problem(
                    display_path(folder / MANIFEST_FILE), None, "", "does not match", "released"
                )
            ]
        )
    return digest


def read_manifest(folder: Path) -> dict[str, str] | None:
    """The release manifest (relative path -> SHA-256), or None if the version is not
    released."""
    manifest = folder / MANIFEST_FILE
    if not os.path.lexists(manifest):
        return None
    listed: dict[str, str] = {}
    text = read_text(manifest, RulesetError, display_path(manifest), within=folder)
    for line in text.splitlines():
        if line.strip():
            digest, _, rel = line.partition("  ")
            listed[rel] = digest
    return listed


def manifest_problems(folder: Path) -> list[Problem]:
    """Differences between a released version's files and its manifest (empty if it has
    no manifest, i.e. is not released)."""
    listed = read_manifest(folder)
    if listed is None:
        return []
    name = display_path(folder / MANIFEST_FILE)
    problems = []
    present = {p.relative_to(folder).as_posix(): p for p in ruleset_files(folder)}
    for rel, digest in sorted(listed.items()):
        if rel not in present:
            problems.append(Problem(name, None, rel, "released file is missing", "released"))
        elif file_hash(present[rel], folder) != digest:
            problems.append(
                Problem(
                    name,
                    None,
                    rel,
                    "released file was changed: a released "
                    "version is immutable; make a new version instead",
                    "released",
                )
            )
    for rel in sorted(set(present) - set(listed)):
        problems.append(Problem(name, None, rel, "file added to a released version", "released"))
    return problems


def write_manifest(folder: Path) -> tuple[Path, bool]:
    """Release a version: record the hash of each of its files. Returns the manifest and
    whether the version was released before (then nothing is written: a release that
    already exists is never rewritten, so a changed file cannot be re-blessed)."""
    path = folder / MANIFEST_FILE
    if path.exists():
        problems = manifest_problems(folder)
        if problems:
            raise RulesetError(
                [
                    *problems,
                    Problem(
                        display_path(path), None, "",
                        "this version is already released and its files changed: restore "
                        "them, or make a new version for the changes", "released",
                    ),
                ]
            )  # fmt: skip
        return path, True
    lines = [
        f"{file_hash(p, folder)}  {p.relative_to(folder).as_posix()}"
        for p in ruleset_files(folder)
    ]
    try:
        with open(path, "x", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    except OSError as exc:
        raise RulesetError.one(
            display_path(path), None, "", f"cannot write the manifest: {exc.strerror}", "file"
        ) from None
    return path, False


def version_key(version: str) -> tuple[int, ...]:
    """A version as numbers, for ordering ("2.10" after "2.9")."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def read_ruleset_manifest(folder: Path) -> Any:
    """The parsed ``ruleset.yaml`` of a version folder."""
    path = folder / RULESET_FILE
    if not os.path.lexists(path):
        raise RulesetError.one(
            display_path(folder),
            None,
            "",
            "not a ruleset folder: ruleset.yaml is missing",
            "file",
        )
    return load_file(path, RulesetError, display_path(path), within=folder)


_VERSIONS: dict[tuple[Path, int, int], str | None] = {}  # ruleset.yaml (and its stat) -> version


def _version_of(manifest: Path) -> str | None:
    """The version a ruleset.yaml declares (read once per process while it is unchanged)."""
    try:
        info = manifest.stat()
    except OSError:
        return None
    key = (manifest, info.st_mtime_ns, info.st_size)
    if key not in _VERSIONS:
        try:
            doc = load_file(manifest, RulesetError)
        except RulesetError:
            doc = None
        version = doc.get("version") if isinstance(doc, dict) else None
        _VERSIONS[key] = version if isinstance(version, str) else None
    return _VERSIONS[key]


def available_rulesets(root: Path | None = None) -> list[tuple[str, Path]]:
    """(version, folder) of every ruleset under ``root`` (default: the shipped rules/),
    oldest first."""
    root = root or shipped("rules")
    found = []
    for manifest in sorted(root.glob(f"*/{RULESET_FILE}")):
        version = _version_of(manifest)
        if version is not None:
            found.append((version, manifest.parent))
    return sorted(found, key=lambda item: version_key(item[0]))


def is_released(folder: Path) -> bool:
    """Whether a version folder is released (it has a release manifest)."""
    return os.path.lexists(folder / MANIFEST_FILE)


def find_parent(folder: Path, extends: str) -> Path:
    """The folder of the version a ruleset extends: a folder path relative to this one, or
    a sibling folder holding that version, or the shipped ruleset of that version."""
    here = folder.resolve()
    by_path = (folder / extends).resolve()
    if "/" in extends and (by_path / RULESET_FILE).is_file() and by_path != here:
        return by_path
    siblings = [
        path
        for version, path in available_rulesets(here.parent)
        if version == extends and path.resolve() != here
    ]
    if len(siblings) > 1:
        shown = ", ".join(display_path(p) for p in siblings)
        raise RulesetError.one(
            display_path(folder / RULESET_FILE),
            None,
            "extends",
            f"several folders beside this one hold version {extends!r} ({shown}): write "
            "the folder's relative path instead",
            "duplicate",
        )
    if siblings:
        return siblings[0]
    if (by_path / RULESET_FILE).is_file() and by_path != here:
        return by_path
    for version, path in available_rulesets():
        if version == extends and path.resolve() != here:
            return path
    raise RulesetError.one(
        display_path(folder / RULESET_FILE),
        None,
        "extends",
        f"no ruleset version {extends!r} beside this folder, nor shipped (nor a folder of "
        "that path)",
        "reference",
    )


def layers_of(folder: Path) -> list[tuple[Path, Any]]:
    """The folders of a ruleset version and its ancestors with their parsed ruleset.yaml,
    root first."""
    chain = [(folder, read_ruleset_manifest(folder))]
    while True:
        doc = chain[-1][1]
        extends = doc.get("extends") if isinstance(doc, dict) else None
        if not isinstance(extends, str):
            break
        if len(chain) >= MAX_LAYERS:
            raise RulesetError.one(
                display_path(folder / RULESET_FILE),
                None,
                "extends",
                f"more than {MAX_LAYERS} versions extend each other",
                "limit",
            )
        parent = find_parent(chain[-1][0], extends)
        if parent.resolve() in {p.resolve() for p, _ in chain}:
            raise RulesetError.one(
                display_path(folder / RULESET_FILE),
                None,
                "extends",
                "versions extend each other in a circle",
                "cycle",
            )
        chain.append((parent, read_ruleset_manifest(parent)))
    return list(reversed(chain))


def newest_released(root: Path | None = None) -> Path:
    """The newest released version under ``root`` (default: the shipped rules/); drafts
    (versions without a release manifest) are used only when named."""
    found = [(v, p) for v, p in available_rulesets(root) if is_released(p)]
    if not found:
        where = display_path(root or shipped("rules"))
        raise RulesetError.one(where, None, "", "no released ruleset found", "file")
    return found[-1][1]


def find_ruleset(spec: str | Path | None = None) -> Path:
    """The folder of a ruleset: a ruleset folder's path, or the name of a shipped version
    ("2.3"), or (None) the newest released shipped version."""
    if spec is None:
        return newest_released()
    if not str(spec).strip():  # ("" would be the working folder)
        shown = ", ".join(v for v, _ in available_rulesets())
        raise RulesetError.one(
            "ruleset", None, "", f"expected a version or a folder, got {str(spec)!r} "
            f"(shipped: {shown})", "reference",
        )  # fmt: skip
    path = Path(spec)
    if path.is_dir() and os.path.lexists(path / RULESET_FILE):
        return path
    versions = available_rulesets()
    for version, folder in versions:
        if version == str(spec):
            return folder  # a version name, even where a folder of that name is no ruleset
    if path.is_dir():
        return path  # loading it says what it lacks
    shown = ", ".join(v for v, _ in versions)
    raise RulesetError.one(
        str(spec),
        None,
        "",
        f"no ruleset folder of that name, nor a shipped version (shipped: {shown})",
        "reference",
    )
