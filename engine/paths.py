"""Where the shipped rules/ and schemas/ are: beside the package in a checkout, inside it
when installed from a wheel."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """The shipped folder ``rules`` or ``schemas``."""
    beside = _HERE.parent / name
    if beside.is_dir():
        return beside
    return _HERE / "_bundled" / name
