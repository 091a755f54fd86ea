"""One output row of a batch, rebuilt: its disclosed values and its ruleset give its whole
derivation, which must agree with everything the row records: the provenance, every value
(outputs, reported fields, disclosed values as checked), the warnings; of an error row, its
error and nothing else.

The row is read as its file holds it and checked cell by cell before anything is rebuilt:
a cell no batch writes (a provenance cut short, a count written as text, an error without
its keys, a column of another unit) is one error naming the file, the row, the column and
what was expected, never an internal error, and a value that differs from the rebuilt one
is an error, never a silently different explanation."""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..api import Result, estimate, load_ruleset
from ..core.model import Ruleset
from ..core.problems import CODES, InputError, Problem, RulesetError, TuneprintError
from ..core.provenance import plain
from ..core.text import given, printable
from ..core.values import DATE_TYPES, DEFAULT_REL_TOL, NUMBER_TYPES, parse_datetime, parse_number
from ..load.disclosures import unknown_field
from ..load.layers import available_rulesets
from ..load.yamlio import DuplicateKey, no_duplicates
from ..views.json import compact_record
from .engine import ERROR, HASH, ID, PROVENANCE, ROW, RULESET, WARNINGS, Layout
from .formats import SHOWN_CHARS, _check_file, _header, format_of, output_batches

META = (ROW, ID, PROVENANCE, WARNINGS, ERROR, RULESET, HASH)
# the keys of a JSON Lines output line (formats.jsonl_text), and of each problem of an
# error (Problem.as_dict)
LINE_KEYS = (ROW, ID, "values", PROVENANCE, WARNINGS, RULESET, HASH, ERROR)
PROBLEM_KEYS = ("code", "file", "line", "where", "field", "rule", "message")
_ROW_FIRST = re.compile(r'\{"row": (-?[0-9]+), ')  # a JSON Lines output line's start
HASH_DIGITS = 12  # of a content hash shown, unless two hashes shown share more


@dataclass(frozen=True)
class Found:
    """One output row as its file holds it: each cell as read (a CSV's as text, a
    Parquet file's typed, a JSON Lines line's as JSON gives it, its values by field), the
    unit the file gives each value column (None: it gives none), and the file's columns
    (None for JSON Lines: a line holds only the values its row has)."""

    kind: str
    cells: dict[str, Any]
    units: dict[str, str | None]
    columns: tuple[str, ...] | None


@dataclass(frozen=True)
class Recorded:
    """One output row, checked: its values as Python values (None: empty), provenance,
    warnings and error (None for an estimated row)."""

    id: str | None
    values: dict[str, Any]
    provenance: dict[str, str]
    warnings: dict[str, str]
    error: list[Problem] | None


class _NotA(ValueError):
    """A cell that is not what its column holds: ``what`` says what was expected."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def explain_output_row(
    path: Path, number: int, field: str | None, ruleset: Ruleset | None = None
) -> Result:
    """The estimate of the output row whose ``row`` is ``number`` (the input's line, for
    CSV and JSON Lines; its row from 1, for Parquet and tables), re-run and checked: its
    provenance, values and warnings must be the rebuilt ones. ``field``, when given, must
    be one of the row's derivation."""
    name = str(path)
    source = f"{name}#row={number}"
    _check_file(path, name)
    found = output_row(path, number)
    rs = _ruleset_of(found, ruleset, source)
    if field is not None and field not in rs.fields:
        raise InputError([unknown_field(name, None, field, rs)])
    _check_columns(found, rs, name)
    row = _checked(found, rs, source)
    if row.error is not None:  # the row's derivation is its error, as recorded
        _error_alone(row, source)
        raise InputError(row.error)
    if not row.provenance:
        raise InputError.one(
            source, None, PROVENANCE, "the row holds neither a provenance nor an error", "schema"
        )
    result = _rebuilt(row, rs, source)
    _same(row, result, source)
    if field is not None and field not in result.fields:
        raise InputError.one(
            source,
            None,
            field,
            "not part of this row's derivation: no rule resolved it for the row's outputs "
            "(its provenance does not name it)",
            "unresolved",
            field=field,
        )
    return result


# -- reading the row ------------------------------------------------------------------------


def output_row(path: Path, number: int) -> Found:
    """The output row whose ``row`` is ``number``, the file read a chunk at a time (of a
    Parquet file, its ``row`` column and the row group that holds the row). Every row is
    looked at: a row number given twice is an error, not the first row taken."""
    kind = format_of(path)
    if kind == "jsonl":
        return _jsonl_row(path, number)
    count, first = 0, None
    found: list[tuple[int, dict[str, Any]]] = []  # each row's place (from 1) and cells
    schema: pa.Schema | None = None
    for numbers, load in output_batches(path):
        if numbers.dtype.kind not in "iu":  # (NumPy's floats where a cell is empty)
            raise _not_output(str(path), None, f"a {ROW} cell that is not a row's number")
        if first is None and len(numbers):
            first = int(numbers[0])
        places = np.flatnonzero(numbers == number)
        if len(places):
            table = load()
            schema = table.schema
            for k in places.tolist():
                found.append((count + k + 1, dict(table.slice(k, 1).to_pylist()[0])))
        count += len(numbers)
    if not found:
        raise _no_row(path, number, first, count)
    # (a CSV file's line: its header is line 1, and a batch writes no line break in a cell)
    _once(path, number, [p + 1 if kind == "csv" else p for p, _ in found], kind)
    assert schema is not None
    units: dict[str, str | None] = {}
    if kind == "csv":
        header = _csv_header(path)
        names = tuple(h.split(" [", 1)[0] for h in header)
        units.update(zip(names, map(_header_unit, header), strict=True))
    else:
        names = tuple(schema.names)
        for item in schema:
            unit = (item.metadata or {}).get(b"unit")
            units[item.name] = None if unit is None else unit.decode(errors="replace")
    return Found(kind, found[0][1], units, names)


def _csv_header(path: Path) -> list[str]:
    """A CSV output's header, as written (each value column with its unit)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader([handle.readline()]), [])
    except (OSError, ValueError) as exc:  # (read whole just before: seldom)
        raise _not_output(str(path), None, str(exc)) from None


def _header_unit(header: str) -> str:
    """The unit a CSV header gives its column ("pue": none, "gpu_hours [h]": h)."""
    _, bracket, unit = header.partition(" [")
    return unit[:-1] if bracket and unit.endswith("]") else ""


def _jsonl_row(path: Path, number: int) -> Found:
    """The output line of row ``number`` of a JSON Lines output. Every line is read: one
    that is not an output line (not JSON, no row number) leaves the file's rows unknown."""
    name = str(path)
    count, first = 0, None
    found: list[tuple[int, dict[str, Any]]] = []  # each line's number and document
    try:
        with open(path, encoding="utf-8-sig", newline="\n") as handle:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                written = _ROW_FIRST.match(text)  # (as a batch writes it: no parse)
                if written is not None and int(written[1]) != number:
                    at: Any = int(written[1])
                else:
                    try:
                        doc = json.loads(text, object_pairs_hook=no_duplicates)
                    except DuplicateKey as exc:
                        raise _not_output(name, line, _twice(exc)) from None
                    except ValueError as exc:
                        raise _not_output(name, line, f"the line is not JSON ({exc})") from None
                    at = doc.get(ROW) if isinstance(doc, dict) else None
                    if isinstance(at, bool) or not isinstance(at, int):
                        raise _not_output(name, line, "expected an object with the row's number")
                    if at == number:
                        found.append((line, doc))
                first = at if first is None else first
                count += 1
    except (OSError, UnicodeDecodeError) as exc:
        raise _not_output(name, None, str(exc)) from None
    if not found:
        raise _no_row(path, number, first, count)
    _once(path, number, [line for line, _ in found], "jsonl")
    doc = found[0][1]
    source = f"{name}#row={number}"
    missing = [key for key in LINE_KEYS if key not in doc]
    if missing:
        raise InputError.one(
            source, None, missing[0], f"no {missing[0]!r}: an output line holds "
            f"{', '.join(LINE_KEYS)}", "schema",
        )  # fmt: skip
    values = doc["values"]
    if not isinstance(values, dict):
        raise _bad(source, "values", "an object of the row's values by field", values)
    cells = {key: doc[key] for key in LINE_KEYS if key != "values"}
    units: dict[str, str | None] = {}
    for key, item in values.items():
        if key in META or not isinstance(item, dict) or set(item) != {"value", "unit"}:
            raise _bad(source, key, 'a value as {"value": ..., "unit": ...}', item)
        cells[key], units[key] = item["value"], item["unit"]
    return Found("jsonl", cells, units, None)


def _once(path: Path, number: int, places: list[int], kind: str) -> None:
    """Refuse a row number the file gives more than once: which row it means is unknown."""
    if len(places) < 2:
        return
    where = "rows" if kind == "parquet" else "lines"  # (a Parquet file's rows from 1)
    shown = ", ".join(str(p) for p in places[:5]) + (", ..." if len(places) > 5 else "")
    raise InputError.one(
        str(path),
        None,
        ROW,
        f"row {number} is there {len(places)} times (its {where} {shown}): a batch writes "
        "each row once",
        "duplicate",
    )


def _no_row(path: Path, number: int, first: int | None, count: int) -> InputError:
    if first is None:
        shown = "it holds no rows"
    else:
        shown = f"its {count} rows are numbered from {first} (the input's lines or rows)"
    return InputError.one("--row", None, "", f"no row {number} in {path}: {shown}", "option")


def _not_output(name: str, line: int | None, why: str) -> InputError:
    return InputError.one(name, line, "", f"not an output of tuneprint batch: {why}", "syntax")


# -- checking it --------------------------------------------------------------------------


def _ruleset_of(found: Found, given: Ruleset | None, source: str) -> Ruleset:
    """The ruleset the row was estimated with (``given``, or the shipped version the row
    names), its hash the one the row records."""
    label, digest = found.cells.get(RULESET), found.cells.get(HASH)
    if not isinstance(label, str) or "@" not in label:
        raise _bad(source, RULESET, "the ruleset's name and version (id@version)", label)
    if not isinstance(digest, str) or not digest:
        raise _bad(source, HASH, "the ruleset's content hash", digest)
    named, _, version = label.partition("@")
    if given is None:  # a shipped version alone, by its name: never a folder the file names
        shipped = dict(available_rulesets())
        if version not in shipped:
            raise RulesetError.one(
                source,
                None,
                RULESET,
                f"the row was estimated with {printable(label)}, not a shipped version "
                f"(shipped: {', '.join(shipped)}): give that ruleset with --rules",
                "reference",
            )
        rs = load_ruleset(shipped[version])
    else:
        rs = given
    if named != rs.id:
        raise _bad(source, RULESET, f"the ruleset's name and version ({rs.id}@...)", label)
    full = len(rs.content_hash)
    if len(digest) != full:  # (cut to the 12 digits messages show, say)
        raise _bad(source, HASH, f"the full content hash of {label} ({full} digits)", digest)
    if rs.content_hash != digest:
        # as many digits as tell the two hashes apart
        pairs = zip(digest, rs.content_hash, strict=True)
        same = next((k for k, (a, b) in enumerate(pairs) if a != b), 0)
        digits = max(HASH_DIGITS, same + 1)
        here = f"{rs.id}@{rs.version}"
        shown = printable(digest[:digits])
        if label == here:  # (the name the row records is this ruleset's: its hash is not)
            other = _shipped_with(digest)
            why = (
                f"the hash of the shipped {other}: the row's ruleset cell was edited"
                if other is not None and other != rs.version
                else "the ruleset changed since, or the row was edited"
            )
            message = (
                f"the row records {printable(label)} ({shown}), and {here} here is "
                f"({rs.content_hash[:digits]}): {why}; give the ruleset it was estimated "
                "with with --rules"
            )
        else:
            message = (
                f"the row was estimated with {printable(label)} ({shown}), not with {here} "
                f"({rs.content_hash[:digits]}): give that ruleset with --rules"
            )
        raise RulesetError.one(source, None, RULESET, message, "reference")
    return rs


def _shipped_with(digest: str) -> str | None:
    """The shipped version whose content hash is ``digest``, if any."""
    for version, folder in available_rulesets():
        try:
            if load_ruleset(folder).content_hash == digest:
                return version
        except RulesetError:  # (a draft that does not load: not the one)
            continue
    return None


def _check_columns(found: Found, rs: Ruleset, name: str) -> None:
    """The file's columns are those a batch writes for its inputs (a CSV's or Parquet
    file's: every output and reported field, each column once), each value in its field's
    unit: a file whose columns changed is refused whole."""
    columns = found.columns
    if columns is None:  # JSON Lines: each value names its field and unit
        given = list(found.units)
    else:
        given = [c for c in columns if c not in META]
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise InputError.one(name, None, twice[0], "the column is there twice", "duplicate")
    unknown = [c for c in given if c not in rs.fields]
    if unknown:
        raise InputError.one(
            name, None, unknown[0], f"not a field of {rs.id}@{rs.version}", "unknown-field"
        )
    layout = Layout.of(rs, given)
    if columns is not None:
        missing = [c for c in (*layout.schema().names, *META) if c not in columns]
        if missing:
            raise InputError.one(
                name, None, missing[0], "the file has no such column, where a batch's output "
                f"has one for every output and reported field (and {', '.join(META)})", "schema",
            )  # fmt: skip
    for key in given:
        unit, want = found.units.get(key), rs.fields[key].unit
        if found.kind == "csv":  # the header shows no unit of a pure number, or of none
            want = _header_unit(_header(layout.schema().field(key)))
        if unit is not None and unit != want:
            raise InputError.one(
                name, None, key, f"the file gives {_unit_words(unit)}, where {rs.id}@"
                f"{rs.version} gives {_unit_words(want)}: not as tuneprint batch wrote it",
                "schema",
            )  # fmt: skip


def _unit_words(unit: Any) -> str:
    return "no unit" if unit == "" else f"the unit {_shown(unit)}"


def _checked(found: Found, rs: Ruleset, source: str) -> Recorded:
    """The row's cells as values, each checked to be what its column holds."""
    cells = found.cells
    values = {}
    for key, cell in cells.items():
        if key in META:
            continue
        try:
            values[key] = _value(cell, rs.fields[key].type, found.kind == "csv")
        except _NotA as exc:
            raise _bad(source, key, exc.what, cell) from None
    if found.columns is None:  # a JSON Lines line leaves out its empty values
        values = {**dict.fromkeys((*rs.outputs, *rs.report)), **values}
    ident = cells.get(ID)
    if ident is not None and not isinstance(ident, str):
        raise _bad(source, ID, "text", ident)
    texts = found.kind != "jsonl"  # the provenance, warnings and error as JSON text
    provenance = _mapping(
        cells.get(PROVENANCE),
        texts,
        source,
        PROVENANCE,
        "each field's rule (input, rule:ID, table:ID)",
    )
    warnings = _mapping(cells.get(WARNINGS), texts, source, WARNINGS, "each field's warning text")
    return Recorded(
        ident, values, provenance, warnings, _problems(cells.get(ERROR), texts, source)
    )


def _value(cell: Any, kind: str, csv_text: bool) -> Any:
    """A value cell as its field's value (None: empty). A CSV's cells are text, read as
    the batch reader reads them; a Parquet file's are typed, and JSON's as JSON types
    them (times as ISO 8601 text). Raises _NotA for a cell that is not such a value."""
    if cell is None:
        return None
    if kind in NUMBER_TYPES:
        what = "a whole number" if kind == "integer" else "a number"
        if csv_text and isinstance(cell, str):
            try:
                cell = parse_number(cell)
            except ValueError:
                raise _NotA(what) from None
        if isinstance(cell, bool) or not isinstance(cell, (int, float)):
            raise _NotA(what)
        if not math.isfinite(cell) or (kind == "integer" and not float(cell).is_integer()):
            raise _NotA(what)
        return cell
    if kind in DATE_TYPES:
        if isinstance(cell, str):
            try:
                return parse_datetime(cell)
            except ValueError:
                pass
        if not isinstance(cell, datetime):
            raise _NotA("a date" if kind == "date" else "a date and time (ISO 8601)")
        return cell
    if kind == "boolean":
        if csv_text and cell in ("true", "false"):
            return cell == "true"
        if not isinstance(cell, bool):
            raise _NotA("true or false")
        return cell
    if not isinstance(cell, str):
        raise _NotA("text")
    return cell


def _json_cell(cell: Any, text: bool, source: str, column: str, what: str) -> Any:
    """A cell holding JSON (a CSV's or Parquet file's: as text), None when empty."""
    if not text or cell is None:
        return cell
    if not isinstance(cell, str):
        raise _bad(source, column, what, cell)
    if not cell:
        return None
    try:
        return json.loads(cell, object_pairs_hook=no_duplicates)
    except DuplicateKey as exc:
        raise InputError.one(source, None, column, _twice(exc), "duplicate") from None
    except ValueError:
        raise _bad(source, column, what, cell) from None


def _twice(exc: DuplicateKey) -> str:
    return f"the key {printable(json.dumps(exc.key))} appears twice in one object"


def _mapping(cell: Any, text: bool, source: str, column: str, of: str) -> dict[str, str]:
    """The provenance or warnings of a row: an object of text by field ({}: empty)."""
    what = f"a JSON object of {of}"
    doc = _json_cell(cell, text, source, column, what)
    if doc is None:
        return {}
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise _bad(source, column, what, cell)
    return doc


def _problems(cell: Any, text: bool, source: str) -> list[Problem] | None:
    """The problems of an error row, as the batch wrote them (Problem.as_dict), or None."""
    what = "a JSON list of problems, each an object of " + ", ".join(PROBLEM_KEYS)
    doc = _json_cell(cell, text, source, ERROR, what)
    if doc is None:
        return None
    if not isinstance(doc, list) or not doc:
        raise _bad(source, ERROR, what, cell)
    problems = []
    for item in doc:
        if not isinstance(item, dict) or set(item) != set(PROBLEM_KEYS):
            raise _bad(source, ERROR, what, cell)
        texts = [item[k] for k in ("file", "where", "message")]
        maybe = [item[k] for k in ("field", "rule")]
        line = item["line"]
        if (
            item["code"] not in CODES
            or not all(isinstance(t, str) for t in texts)
            or not all(m is None or isinstance(m, str) for m in maybe)
            or not (line is None or (isinstance(line, int) and not isinstance(line, bool)))
        ):
            raise _bad(source, ERROR, what, cell)
        problems.append(Problem.from_dict(item))
    return problems


def _error_alone(row: Recorded, source: str) -> None:
    """An error row holds its error alone: no value, no provenance, no warnings."""
    held = [k for k, v in row.values.items() if v is not None]
    held += [k for k, v in ((PROVENANCE, row.provenance), (WARNINGS, row.warnings)) if v]
    if held:
        raise InputError.one(
            source, None, ERROR, f"the row is an error, yet holds {', '.join(held[:5])}: a batch "
            "writes an error row with its error alone", "schema",
        )  # fmt: skip


def _bad(source: str, column: str, what: str, cell: Any) -> InputError:
    return InputError.one(source, None, column, f"expected {what}, got {_shown(cell)}", "type")


# -- rebuilding it -----------------------------------------------------------------------


def _rebuilt(row: Recorded, rs: Ruleset, source: str) -> Result:
    """The row estimated again from its disclosed values (those its provenance names as
    input, and values it gives no provenance: disclosed, and asked for by no rule)."""
    absent = [k for k, v in row.provenance.items() if v == "input" and row.values.get(k) is None]
    if absent:
        raise InputError.one(
            source, None, absent[0], "the provenance says it was disclosed, but the row holds "
            "no value for it", "schema",
        )  # fmt: skip
    disclosed = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row.values.items()
        if value is not None and row.provenance.get(key, "input") == "input"
    }
    doc = {"id": row.id or source, "values": disclosed}
    # the outputs' derivation and the reported fields', as the batch resolves them (and
    # `tuneprint estimate` shows them); a row whose provenance names the outputs' alone
    # (of a batch before it resolved the reported fields) is rebuilt with those: outputs
    # of either kind are explained, and checked against what they record
    try:
        result = estimate(doc, rs, name=source, report=True)
        if any(key not in row.provenance for key in result.fields):
            result = estimate(doc, rs, name=source)
    except TuneprintError as exc:  # (the row records an estimate: told first, then why not)
        first = Problem(
            source, None, PROVENANCE, "the row records an estimate, which its values no "
            "longer give (its values or provenance were edited): rebuilt, it is refused",
            "schema",
        )  # fmt: skip
        raise InputError([first, *exc.problems]) from None
    return result


def _same(row: Recorded, result: Result, source: str) -> None:
    """The row's provenance, then its values and warnings, are the rebuilt ones."""
    recorded = row.provenance
    again = {key: compact_record(r) for key, r in result.fields.items()}
    changed = [key for key in {*recorded, *again} if again.get(key) != recorded.get(key)]
    if changed:
        shown = ", ".join(f"{k}: {recorded.get(k)} then {again.get(k)}" for k in changed[:5])
        raise RulesetError.one(
            source,
            None,
            changed[0],
            f"the row's provenance differs from its estimate rebuilt now ({shown})",
            "released",
        )
    differ = []
    for key, value in row.values.items():
        want = _expected(result, key)
        if not _equal(value, want):
            differ.append(f"{key}: recorded {_shown(value)}, rebuilt {_shown(want)}")
    warned = _warnings(result)
    for key in sorted({*row.warnings, *warned}):
        if row.warnings.get(key) != warned.get(key):
            was, now = row.warnings.get(key), warned.get(key)
            differ.append(f"{WARNINGS} of {key}: recorded {_shown(was)}, rebuilt {_shown(now)}")
    if differ:
        raise RulesetError.one(
            source,
            None,
            "",
            "the row's values differ from its estimate rebuilt now: " + "; ".join(differ),
            "released",
        )


def _expected(result: Result, key: str) -> Any:
    """A column's value as a batch writes the result (engine._Builder): a field's value,
    else the disclosed value; a time with its zone as the time it was there; a name as
    its text."""
    r = result.fields.get(key)
    value = r.value if r is not None else result.disclosure.values.get(key)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return str(plain(value))


def _warnings(result: Result) -> dict[str, str]:
    """The warnings a batch writes of a result: each warning rule's text, in one line."""
    return {key: r.warning for key, r in result.fields.items() if r.warning}  # (one line)


def _equal(recorded: Any, rebuilt: Any) -> bool:
    """Numbers to a relative tolerance (a value may take another path through the
    vectorised engine's arithmetic), everything else exactly; empty only as empty."""
    if recorded is None or rebuilt is None:
        return recorded is None and rebuilt is None
    numbers = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in (recorded, rebuilt)
    )
    if numbers:
        return math.isclose(recorded, rebuilt, rel_tol=DEFAULT_REL_TOL)
    # (each cell was read as its field's kind: text, a time, a flag; a time with a zone
    # is never the time without one a batch writes)
    return bool(recorded == rebuilt)


def _shown(value: Any) -> str:
    """A cell or value for a message: empty, or as the input would write it (``given``)."""
    return "empty" if value is None else given(value, SHOWN_CHARS)
