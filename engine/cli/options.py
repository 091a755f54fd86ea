"""Options several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

RulesOption = Annotated[
    str | None,
    typer.Option(
        "--rules",
        metavar="VERSION",
        help="Ruleset folder or shipped version (default: newest released).",
    ),
]
