"""Build small synthetic rulesets in a temporary folder, to test the engine apart from the
shipped domain rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

FIELDS: dict[str, Any] = {
    "a": {"type": "number", "unit": "W", "min": 0, "description": "a"},
    "b": {"type": "number", "unit": "W", "min": 0, "description": "b"},
    "c": {"type": "number", "unit": "W", "min": 0, "max": 100, "description": "c"},
    "n": {"type": "name", "table": "things", "unit": "-", "description": "a thing"},
    "y": {"type": "integer", "unit": "year", "description": "a year"},
}
TABLES: dict[str, Any] = {
    "things": {
        "table": "things",
        "description": "things",
        "key": ["thing"],
        "columns": {
            "thing": {"type": "string", "unit": "-", "description": "id"},
            "power": {"type": "number", "unit": "W", "description": "power"},
        },
        "rows": [
            {"thing": "big-one", "aliases": ["Big One (tm)"], "power": 50, "source": "s"},
            {"thing": "small-one", "power": 5, "source": "s"},
        ],
    },
    "yearly": {
        "table": "yearly",
        "description": "per year",
        "key": ["thing", "year"],
        "columns": {
            "thing": {"type": "string", "unit": "-", "description": "id"},
            "year": {"type": "integer", "unit": "year", "description": "year"},
            "power": {"type": "number", "unit": "W", "description": "power"},
        },
        "rows": [
            {"thing": "big-one", "year": 2020, "power": 20, "source": "s"},
            {"thing": "big-one", "year": 2022, "power": 22, "source": "s"},
        ],
    },
}


def build(
    root: Path,
    rules: list[dict[str, Any]],
    fields: dict[str, Any] | None = None,
    tables: dict[str, Any] | None = None,
    outputs: tuple[str, ...] = ("c",),
) -> Path:
    """Write a ruleset folder and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "normalize").mkdir(exist_ok=True)
    (root / "tables").mkdir(exist_ok=True)

    def dump(path: Path, doc: Any) -> None:
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    dump(
        root / "ruleset.yaml",
        {
            "id": "mini",
            "version": "0.1",
            "description": "test",
            "outputs": list(outputs),
            "rounding": "none",
        },
    )
    dump(root / "fields.yaml", {"fields": fields if fields is not None else FIELDS})
    dump(root / "sources.yaml", {"sources": {"s": {"citation": "a source"}}})
    for name, table in (tables if tables is not None else TABLES).items():
        dump(root / "tables" / f"{name}.yaml", table)
    dump(
        root / "normalize" / "rules.yaml",
        {"rules": [{"source": "s", "reason": "r", **r} for r in rules]},
    )
    return root


def disclose(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"id": "t", "values": values}), encoding="utf-8")
    return path
