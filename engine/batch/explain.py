"""One output row of a batch, rebuilt: its disclosed values and its ruleset give its whole
derivation, which must agree with the provenance the row records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..api import Result, estimate, load_ruleset
from ..core.model import Ruleset
from ..core.problems import InputError, Problem, RulesetError
from ..load.disclosures import cell
from ..views.json import compact_record
from .engine import ERROR, HASH, ID, PROVENANCE, ROW, RULESET, WARNINGS
from .formats import output_batches
from .formats import recorded as as_recorded

META = (ROW, ID, PROVENANCE, WARNINGS, ERROR, RULESET, HASH)


def explain_output_row(
    path: Path, number: int, field: str | None, ruleset: Ruleset | None = None
) -> Result:
    """The estimate of the output row whose ``row`` is ``number`` (the input's line, for
    CSV and JSON Lines; its row from 1, for Parquet and tables), re-run and checked."""
    row = output_row(path, number)
    name = str(path)
    position = number
    if RULESET not in row or HASH not in row:
        raise InputError.one(name, None, "", "not an output of tuneprint batch", "schema")
    label, digest = str(row[RULESET]), str(row[HASH])
    rs = ruleset or load_ruleset(label.split("@", 1)[-1])
    if rs.content_hash != digest:
        raise RulesetError.one(
            name,
            position,
            RULESET,
            f"the row was estimated with {label} ({digest[:12]}), not with {rs.label}: give "
            "that ruleset with --rules",
            "reference",
        )
    recorded = as_recorded(row.get(PROVENANCE))
    values = {
        key: value
        for key, value in row.items()
        if key not in META
        and value is not None
        and recorded.get(key, "input") == "input"
        and key in rs.fields
    }
    if row.get(ERROR):  # the row's derivation is its error, as recorded
        raise InputError([Problem.from_dict(p) for p in json.loads(row[ERROR])])
    source = f"{name}#row={position}"
    disclosed = _plain(values, rs)
    result = estimate({"id": str(row[ID] or source), "values": disclosed}, rs, name=source)
    again = {key: compact_record(r) for key, r in result.fields.items()}
    changed = [key for key in {*recorded, *again} if again.get(key) != recorded.get(key)]
    if changed:
        shown = ", ".join(f"{k}: {recorded.get(k)} then {again.get(k)}" for k in changed[:5])
        raise RulesetError.one(
            name,
            position,
            changed[0],
            f"the row's provenance differs from its estimate rebuilt now ({shown})",
            "released",
        )
    return result


def output_row(path: Path, number: int) -> dict[str, Any]:
    """The output row whose ``row`` is ``number``, the file read a chunk at a time (of a
    Parquet file, its ``row`` column and the row group that holds the row)."""
    count, first = 0, None
    for numbers, load in output_batches(path):
        if first is None and len(numbers):
            first = int(numbers[0])
        found = np.flatnonzero(numbers == number)
        if len(found):
            return dict(load().slice(int(found[0]), 1).to_pylist()[0])
        count += len(numbers)
    raise _no_row(path, number, first, count)


def _no_row(path: Path, number: int, first: int | None, count: int) -> InputError:
    if first is None:
        shown = "it holds no rows"
    else:
        shown = f"its {count} rows are numbered from {first} (the input's lines or rows)"
    return InputError.one("--row", None, "", f"no row {number} in {path}: {shown}", "option")


NUMBERS = ("number", "integer")  # types of the fields a CSV output gives as text


def _plain(values: dict[str, Any], rs: Ruleset) -> dict[str, Any]:
    """Values as a disclosure holds them: times as ISO text, numbers written as text (a
    CSV output's) read as the batch reader reads them, and text as it is (a name may
    look like a number: "12" is a state's code)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[key] = cell(value) if rs.fields[key].type in NUMBERS else value
        else:
            out[key] = value.isoformat() if hasattr(value, "isoformat") else value
    return out
