"""Where the shipped rules/ and schemas/ are: beside the package in a checkout, inside it
when installed from a wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def shipped(name: str) -> Path:
    """The shipped folder ``rules`` or ``schemas``: the checkout's own when the package runs
    from a checkout (an editable install), else the copy bundled in the wheel."""
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / name).is_dir():
        return checkout / name
    return _PACKAGE / "_bundled" / name


def installed_package() -> Path:
    """The folder of the installed package (in a wheel install, inside site-packages):
    nothing of a user's is ever written there."""
    return _PACKAGE


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or inside it (both resolved)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def display_path(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
