"""The one place the command line loads rulesets: the library's loader, plus a one-line
warning on standard error when the ruleset is a draft (a version without a release
manifest, used only when named). The library itself never prints: it marks the ruleset
(``Ruleset.draft``) and the command line says so."""

from __future__ import annotations

import sys
from pathlib import Path

from ..api import load_ruleset as _load
from ..core.model import Ruleset
from ..core.problems import RulesetError
from ..load.layers import find_ruleset, is_released
from ..load.paths import display_path

_WARNED: set[Path] = set()  # draft folders already named by the running command


def forget_warnings() -> None:
    """Start a command: no draft has been named yet."""
    _WARNED.clear()


def draft_warning(folder: Path) -> str:
    """The warning a draft ruleset folder gets."""
    return f"warning: {display_path(folder)} is a draft (not released): results may change"


def warn_if_draft(ruleset: Ruleset) -> Ruleset:
    """Print the draft warning once per folder and command; return the ruleset."""
    folder = ruleset.folder.resolve()
    if ruleset.draft and folder not in _WARNED:
        _WARNED.add(folder)
        print(draft_warning(ruleset.folder), file=sys.stderr)
    return ruleset


def load_ruleset(spec: str | Path | None = None) -> Ruleset:
    """A checked ruleset, as ``tuneprint.load_ruleset`` gives it, warning when it is a
    draft (only a named ruleset can be: the default is the newest released version)."""
    return warn_if_draft(_load(spec))


def warn_if_drafts(specs: list[str]) -> None:
    """The draft warning for each named ruleset that is a draft, without loading it (for
    commands that load their rulesets elsewhere, as the service does in its workers)."""
    for spec in specs:
        try:
            folder = find_ruleset(spec)
        except RulesetError:  # the loader itself reports a bad name, with its problems
            continue
        resolved = folder.resolve()
        if not is_released(folder) and resolved not in _WARNED:
            _WARNED.add(resolved)
            print(draft_warning(folder), file=sys.stderr)
