"""``python -m tuneprint``: the same as the ``tuneprint`` command."""

from __future__ import annotations

from .cli import main

main()
