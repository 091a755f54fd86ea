"""Reading disclosures: what is known about one fine-tuning run, checked field by field.

A disclosure document (YAML, JSON, or a mapping from Python) holds ``values``: field name
-> value in the field's declared unit, or ``{value, source}`` to say where the value was
published. Names (GPU, server, region, model...) are matched against the ruleset's tables,
forgiving case, spaces and punctuation; an unknown name is an error that suggests the
closest known ones. A disclosure is located by the name its caller gave it (a file as
written on the command line, a batch row as ``file:line``), never by a machine path.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..core.model import Disclosure, FieldSpec, Ruleset
from ..core.names import did_you_mean, normalise
from ..core.problems import InputError, Problem
from ..core.values import NUMBER_TYPES, ValueProblem, coerce, parse_number, python_value
from .files import read_text
from .schemas import check
from .yamlio import MAX_DISCLOSURE_NODES, LineDict, load_file, parse_json

MAX_PROBLEMS = 50  # problems reported for one document, row or header; then a count
DOCUMENT_KEYS = frozenset({"id", "description", "source", "values", "$schema"})


def field_names(ruleset: Ruleset) -> dict[str, list[str]]:
    """Folded forms of every field name and declared alias -> the fields they stand for,
    for suggestions by spelling."""
    out: dict[str, list[str]] = {}
    for spec in ruleset.fields.values():
        for word in (spec.name, *spec.aliases):
            names = out.setdefault(normalise(word), [])
            if spec.name not in names:
                names.append(spec.name)
    return out


def field_aliases(ruleset: Ruleset) -> dict[str, list[str]]:
    """Folded forms of every declared alias -> the fields it means, for suggestions by
    meaning ("hours" -> reserved_hours, gpu_hours, compute_hours)."""
    out: dict[str, list[str]] = {}
    for spec in ruleset.fields.values():
        for word in spec.aliases:
            names = out.setdefault(normalise(word), [])
            if spec.name not in names:
                names.append(spec.name)
    return out


def unknown_field(name: str, line: int | None, key: str, ruleset: Ruleset) -> Problem:
    """The problem of a field name the ruleset does not declare: the fields its declared
    aliases mean first, each with its meaning, then the closest by spelling."""
    if not key.strip():  # (an empty name: nothing to show, nor any name near it)
        message = f"no field is named {key!r}: give the name of one"
        return Problem(name, line, key, message, "unknown-field", field=key)
    meaning = field_aliases(ruleset)
    describe = {k: ruleset.fields[k].description for names in meaning.values() for k in names}
    hint = did_you_mean(key, field_names(ruleset), False, meaning, describe)
    return Problem(name, line, key, f"unknown field{hint}", "unknown-field", field=key)


MAX_STAND_INS = 6  # fields named as stand-ins for a table row that is not there


def stand_ins(field: str, ruleset: Ruleset) -> list[str]:
    """The fields the rules look up in the table of a name field (keyed by it): what a
    disclosure can give instead when its name is in no row (gpu_model -> gpu_tdp_w...)."""
    table = ruleset.fields[field].table
    found: set[str] = set()
    for name, rules in ruleset.rules.items():
        for rule in rules:
            reads = rule.value.inputs == (field,)  # a look-up keyed by the name alone
            if reads and any(t == table for t, _ in rule.value.table_refs):
                found.add(name)
    numeric = ("number", "integer")
    return [n for n, s in ruleset.fields.items() if n in found and s.type in numeric]


def stand_ins_text(field: str, ruleset: Ruleset) -> str:
    """ "; or leave it out and disclose what its row would give: a (unit), b (unit)" for a
    name in no row."""
    names = stand_ins(field, ruleset)
    if not names:
        return ""
    shown = ", ".join(f"{n} ({ruleset.fields[n].unit})" for n in names[:MAX_STAND_INS])
    more = len(names) - MAX_STAND_INS
    tail = f" and {more} more (tuneprint fields)" if more > 0 else ""
    return f"; or leave it out and disclose what its row would give: {shown}{tail}"


def read_values(
    name: str, raw: Mapping[str, Any], ruleset: Ruleset, line: int | None = None
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any], dict[str, int | None], list[Problem]]:
    """Check ``field: value`` pairs; returns values, sources, written forms, the line of
    each value (from YAML, or ``line`` for all of them) and the problems."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    written: dict[str, Any] = {}
    lines: dict[str, int | None] = {}
    problems: list[Problem] = []
    fields = ruleset.fields
    tables = ruleset.tables
    key_lines = raw.key_lines if isinstance(raw, LineDict) else {}
    accepts = ruleset.accepts or {}
    refused = 0
    for key, entry in raw.items():
        if len(problems) >= MAX_PROBLEMS:  # counted, not described: a flood stays cheap
            refused += 1
            continue
        at = key_lines.get(key, line)
        spec = fields.get(key)
        if spec is None:
            problems.append(unknown_field(name, at, str(key), ruleset))
            continue
        value = entry
        if isinstance(entry, dict):
            value = entry.get("value")
            if entry.get("source"):
                sources[key] = str(entry["source"])
        fast = accepts.get(key)
        if fast is not None and fast(value):  # certainly what the check would return
            values[key] = written[key] = value
            lines[key] = at
            continue
        try:
            values[key] = coerce(spec, value, tables)
        except ValueProblem as exc:
            message = str(exc)
            if exc.code == "unknown-name":
                message += stand_ins_text(spec.name, ruleset)
            problems.append(Problem(name, at, key, message, exc.code, field=key))
            continue
        written[key] = value
        lines[key] = at
    if refused:
        problems.append(Problem(name, line, "", f"and {refused} more fields not checked", "limit"))
    return values, sources, written, lines, problems


def _stem(name: str) -> str:
    return os.path.splitext(os.path.basename(name))[0]


_SCALARS = (str, int, float)  # bool is an int: true/false pass too
_ENTRY_KEYS = frozenset({"value", "source"})  # the keys of a ``{value, source}`` entry


def well_formed(doc: Any) -> bool:
    """True when a document certainly has the shape of ``schemas/disclosure.schema.json``
    (the common case, checked in a few microseconds); when False, the schema itself is run
    and reports every problem with its line. A test checks the first never lies."""
    if not isinstance(doc, dict):
        return False
    for key, value in doc.items():
        if key != "values" and (key not in DOCUMENT_KEYS or not isinstance(value, str)):
            return False
    values = doc.get("values")
    if not isinstance(values, dict):
        return False
    for key, value in values.items():
        if not isinstance(key, str):
            return False
        if isinstance(value, _SCALARS):
            continue
        if not (
            isinstance(value, dict)
            and isinstance(value.get("value"), _SCALARS)
            and value.keys() <= _ENTRY_KEYS
            and isinstance(value.get("source", ""), str)
        ):
            return False
    return True


def disclosure_from_document(doc: Any, name: str, ruleset: Ruleset) -> Disclosure:
    """Check a parsed disclosure document (YAML, JSON or a mapping) against the schema and
    the ruleset's fields; every problem in it is reported together."""
    if not well_formed(doc):
        problems = check("disclosure", doc, name)
        if problems:
            raise InputError(problems)
    values, sources, written, lines, problems = read_values(name, doc["values"], ruleset)
    identity = _doc_id(doc)
    line = doc.key_lines.get("id") if isinstance(doc, LineDict) else None
    problems[:0] = _id_problems(identity, name, line)
    if problems:
        raise InputError(problems)
    return Disclosure(name, identity or _stem(name), values, sources, lines, written)


def disclosure_from_mapping(values: Mapping[str, Any], name: str, ruleset: Ruleset) -> Disclosure:
    """A disclosure from Python: a document (with ``values``) or the values alone. Values
    as Python holds them are read as a file writes them: a date or a time (``datetime``,
    pandas' ``Timestamp``) in ISO form, a NumPy number as the number it holds."""
    if "values" in values and set(values) <= DOCUMENT_KEYS:
        document = dict(values)
        if isinstance(document["values"], Mapping):
            document["values"] = _as_written(document["values"])
        return disclosure_from_document(document, name, ruleset)
    return disclosure_from_document({"id": name, "values": _as_written(values)}, name, ruleset)


def _as_written(values: Mapping[Any, Any]) -> dict[Any, Any]:
    def written(value: Any) -> Any:
        value = python_value(value)  # (a NumPy scalar: as a frame's cell holds it)
        if isinstance(value, (date, time)):
            return value.isoformat()
        if isinstance(value, Decimal):  # (as a frame's decimal column is read: by its digits)
            return str(value)
        return value

    out: dict[Any, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and "value" in value:
            value = {**value, "value": written(value["value"])}
        out[key] = written(value)
    return out


def load_disclosure(path: Path, ruleset: Ruleset, name: str | None = None) -> Disclosure:
    """Read and check one disclosure file, named as the caller wrote it (or ``name``)."""
    shown = str(path) if name is None else name
    document = load_file(
        path, InputError, shown, max_nodes=MAX_DISCLOSURE_NODES, written_numbers=True
    )
    return disclosure_from_document(document, shown, ruleset)


BATCH_SUFFIXES = (".csv", ".jsonl")
MAX_CELL_CHARS = 1000  # characters in one CSV cell: no field needs more
# characters of a cell Python's CSV reader takes whole (its default, 131,072, stops inside
# a longer cell, and what follows it in the cell would be read as rows): the cell is then
# its row's error, as any cell over MAX_CELL_CHARS; beyond this the file cannot be read
CSV_FIELD_CHARS = 1 << 26


def capped(problems: list[Problem], name: str, line: int | None, more: int = 0) -> list[Problem]:
    """At most MAX_PROBLEMS problems, then one saying how many more there were (``more``:
    those counted and not made); a count made already ("and 12 more fields not
    checked") is kept after them."""
    counts = [p for p in problems if p.code == "limit"]
    told = [p for p in problems if p.code != "limit"]
    more += max(len(told) - MAX_PROBLEMS, 0)
    if not more:
        return problems
    return [
        *told[:MAX_PROBLEMS],
        Problem(name, line, "", f"and {more} more problems", "limit"),
        *counts,
    ]


def cell(text: str, spec: FieldSpec | None = None) -> Any:
    """A CSV cell as a value of its field: of a number field a number (with the one
    bounded parser), of a true-or-false field true or false, of any other the text itself
    (a name "8" or a date "20240201" stays text, as a JSON document gives it); of no field
    (``spec`` None) whichever it reads as. Raises ValueProblem for a number written
    ambiguously or out of range."""
    text = text.strip()
    kind = None if spec is None else spec.type
    if kind is None or kind in NUMBER_TYPES:
        number = parse_number(text)
        if number is not None:
            return number
    if (kind is None or kind == "boolean") and text in ("true", "false"):
        return text == "true"
    return text


def load_batch(
    path: Path | str, ruleset: Ruleset, name: str | None = None
) -> Iterator[Disclosure | InputError]:
    """Each row of a CSV (header: field names, optional id) or JSON Lines file (one
    disclosure document per line), checked on its own: a bad row yields its error and the
    batch goes on, so rows out always equals rows in. A file with no rows is an error."""
    shown = str(path) if name is None else name
    text = read_text(path, InputError, shown)
    suffix = Path(shown if str(path) == "-" else path).suffix.lower()
    rows = (
        _jsonl_rows(shown, text, ruleset)
        if suffix == ".jsonl"
        else _csv_rows(shown, text, ruleset)
    )
    empty = True
    for row in rows:
        empty = False
        yield row
    if empty:
        yield InputError.one(shown, None, "", "the batch holds no rows", "syntax")


def _jsonl_rows(name: str, text: str, ruleset: Ruleset) -> Iterator[Disclosure | InputError]:
    # Lines end at "\n" only: other Unicode line breaks (U+2028, U+0085...) are text
    # inside a JSON string, and splitting on them would make rows out of halves of rows.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        try:
            yield jsonl_row(name, number, line, ruleset)
        except InputError as exc:
            yield exc


def jsonl_row(name: str, number: int, line: str, ruleset: Ruleset) -> Disclosure:
    """One line of a JSON Lines batch (a disclosure document) as a checked disclosure, or
    the InputError naming its line."""
    try:
        doc = parse_json(line, name, InputError, written_numbers=True)
    except InputError as exc:  # the row is one line: say which
        raise InputError([_at(p, name, number) for p in exc.problems]) from None
    problems = [] if well_formed(doc) else check("disclosure", doc, name)
    if problems:
        raise InputError(capped([_at(p, name, number) for p in problems], name, number))
    row_id = _doc_id(doc) or f"{_stem(name)}:{number}"
    return values_row(name, number, row_id, doc["values"], ruleset)


def jsonl_id(line: str) -> str | None:
    """The id a JSON Lines row gives, as ``jsonl_row`` reads it, for a row that is an
    error (None where it gives none: not JSON, or see ``_doc_id``)."""
    try:
        doc = parse_json(line, "", InputError, written_numbers=True)
    except InputError:
        return None
    return _doc_id(doc)


def _doc_id(doc: Any) -> str | None:
    """A disclosure document's id: its ``id`` without its spaces, as a CSV cell's and a
    Parquet cell's are read; None where it has none, a blank one, or one that is not text
    (which the schema refuses)."""
    found = doc.get("id") if isinstance(doc, dict) else None
    return found.strip() or None if isinstance(found, str) else None


def _id_problems(identity: str | None, name: str, line: int | None) -> list[Problem]:
    """An id longer than any cell may be (a CSV file's) is refused in every format."""
    if identity is None or len(identity) <= MAX_CELL_CHARS:
        return []
    message = f"an id of {len(identity)} characters; the limit is {MAX_CELL_CHARS}"
    return [Problem(name, line, "id", message, "limit")]


def _at(problem: Problem, name: str, line: int) -> Problem:
    return Problem(name, line, problem.where, problem.message, problem.code, problem.field)


def csv_header(name: str, header: list[str], ruleset: Ruleset) -> list[Problem]:
    if any("\x00" in column for column in header):  # (UTF-16 without its byte-order mark)
        message = "the header holds NUL bytes, as UTF-16 text does: save the file as UTF-8"
        return [Problem(name, 1, "", message, "syntax")]
    problems: list[Problem] = []
    seen: set[str] = set()
    more = 0  # beyond those described: counted alone (a flood of columns stays cheap)
    for column in header:
        found = []
        if column in seen:
            found.append(("duplicate", column))
        seen.add(column)
        if not column.strip():
            found.append(("schema", ""))
        elif column != "id" and column not in ruleset.fields:
            found.append(("unknown", column))
        for code, where in found:
            if len(problems) >= MAX_PROBLEMS:
                more += 1
            elif code == "duplicate":
                message = "the column appears twice in the header"
                problems.append(Problem(name, 1, where, message, "duplicate"))
            elif code == "schema":
                problems.append(Problem(name, 1, "", "a column of the header has no name", code))
            else:
                slip = _header_slip(where, ruleset)
                problems.append(
                    unknown_field(name, 1, where, ruleset)
                    if slip is None
                    else Problem(name, 1, where, slip, "unknown-field", field=where)
                )
    return capped(problems, name, 1, more)


def _header_slip(column: str, ruleset: Ruleset) -> str | None:
    """The message for a header's name that is a column's name but for what does not show:
    spaces or invisible characters around or in it, or capitals (``ID``, ``PUE``)."""
    import unicodedata

    names = ["id", *ruleset.fields]
    seen = "".join(ch for ch in column if unicodedata.category(ch) not in ("Cf", "Cc")).strip()
    if seen != column and seen in names:
        return (
            f"unknown field: the name holds spaces or invisible characters; did you mean '{seen}'?"
        )
    lower = {n.lower(): n for n in names}
    meant = lower.get(seen.lower())
    if meant is not None and meant != column:
        return f"unknown field: names are written in lower case; did you mean '{meant}'?"
    return None


def _csv_rows(
    name: str, text: str | Iterable[str], ruleset: Ruleset
) -> Iterator[Disclosure | InputError]:
    """The rows of a CSV text, or of its lines as they are read (a file opened with
    ``newline=""``, read as it goes: a batch of any size)."""
    return (item for item, _ in csv_records(name, text, ruleset))


def csv_records(
    name: str, text: str | Iterable[str], ruleset: Ruleset
) -> Iterator[tuple[Disclosure | InputError, str | None]]:
    """Each row of a CSV text as ``_csv_rows`` reads it, with the id its cells give (None
    where they give none: no id column, a blank id, cells that do not match the header),
    so that a row that is an error keeps its id in a batch's output."""
    lines = _Lines(io.StringIO(text, newline="") if isinstance(text, str) else text)
    reader = csv.reader(lines)
    try:
        header = _record(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield InputError.one(name, 1, "", f"the header is not valid CSV: {exc}", "syntax"), None
        return
    where = header.index("id") if "id" in header else None
    header_problems = csv_header(name, header, ruleset)
    if not any(c.strip() for c in header):  # (not a header of unnamed columns)
        header_problems = [blank_header(name)]
    if len(lines.taken) > 1:  # (a header's cell holding a line break: no field's name)
        header_problems = [_runs_on(name, 1, len(lines.taken)), *header_problems]
        lines.again(1)
    lines.taken.clear()
    number = 1  # lines read into records
    if header_problems:
        # Every row still gets its line: rows out equals rows in.
        message = "the header is invalid (see line 1): " + "; ".join(
            p.message if not p.where else f"{p.where}: {p.message}" for p in header_problems[:3]
        )
    while True:
        start = number + 1
        try:
            cells = _record(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # (the line is the error, the lines after read again)
            spanned = len(lines.taken)
            lines.again(1)
            number = start
            problems = [_runs_on(name, start, spanned)] if spanned > 1 else []
            if str(exc).startswith("field larger than field limit"):
                message = f"a cell of more than {CSV_FIELD_CHARS} characters (the limit)"
                problems.insert(0, Problem(name, start, "", message, "limit"))
            elif not problems:
                problems.append(Problem(name, start, "", f"not valid CSV: {exc}", "syntax"))
            yield InputError(problems), None
            continue
        taken = lines.taken
        spanned = len(taken)
        left_open = None
        if spanned > 1 and _left_open(taken, len(cells), len(header)):
            # a quote left open took the lines after it into one row
            left_open = _runs_on(name, start, spanned)
        elif len(cells) == len(header) and sum(line.count('"') for line in taken) % 2:
            # closed by the file's end alone, and read as a whole row (of other cells: that
            # row's error, below)
            left_open = _open_at_end(name, start, spanned)
        if left_open is not None:  # its line is the error, the lines after it read again
            lines.again(1)
            number = start
            yield InputError([left_open]), None
            continue
        stray = any('"' in line for line in taken) and _goes_on_after_quote(taken)
        lines.taken.clear()  # (a quoted cell holding a line break: one row, as CSV has it)
        number = start + spanned - 1
        line = start
        if stray:  # ("1"0 read as 10, "A100" ,8 as "A100 ": a cell not as it was written)
            problem = Problem(name, line, "", GOES_ON_AFTER_QUOTE, "syntax")
            yield InputError([problem]), _written_id(cells, where, len(header))
            continue
        if not any(c.strip() for c in cells) and len(cells) in (0, 1, len(header)):
            continue  # a blank line, or a row of blank cells (of another count: an error)
        if header_problems:
            problem = Problem(name, line, "", message, "schema")
            yield InputError([problem, *header_problems]), None  # (the row named first)
            continue
        written = _written_id(cells, where, len(header))
        try:
            yield csv_row(name, line, header, cells, ruleset), written
        except InputError as exc:
            yield exc, written


GOES_ON_AFTER_QUOTE = (
    'a quoted cell goes on after its closing quote (as "1"0 or "A100" ,8 do): put the '
    'whole cell inside the quotes, and write a quote inside a cell as two ("")'
)


def _goes_on_after_quote(lines: list[str]) -> bool:
    """Whether a record's lines hold a quoted cell that goes on after its closing quote:
    Python's reader joins what follows to the cell (``"1"0`` is ``10``), its strict form
    refuses it."""
    try:
        for _ in csv.reader(lines, strict=True):
            pass
    except csv.Error as exc:
        return "expected after" in str(exc)
    return False


def _written_id(cells: list[str], where: int | None, columns: int) -> str | None:
    """The id a row's cells give: None where there is no id column, the id is blank, or
    the cells do not match the header."""
    if where is None or len(cells) != columns:
        return None
    return cells[where].strip() or None


def long_cell(name: str, line: int, column: str, text: str) -> Problem:
    """The problem of a cell longer than a cell may be (its spaces counted: a cell is
    limited as written), in a CSV file or a text column of any table."""
    message = f"a cell of {len(text)} characters; the limit is {MAX_CELL_CHARS}"
    return Problem(name, line, column, message, "limit", field=column)


def blank_header(name: str) -> Problem:
    """The problem of a CSV file whose first line is blank: it is the header."""
    message = "the first line is blank: a CSV file's first line is its header, the names "
    return Problem(name, 1, "", message + "of its columns", "syntax")


class _Lines:
    """The lines of a CSV text, handed to a CSV reader one by one and kept until its record
    is read, so that a record of several lines (a quoted cell holding a line break) can
    be read again from its second line."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.source = iter(lines)
        self.back: list[str] = []  # lines to hand out again, the next last
        self.taken: list[str] = []  # handed out for the record being read

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.back.pop() if self.back else next(self.source)
        self.taken.append(line)
        return line

    def again(self, kept: int) -> None:
        """The lines of the last record after its first ``kept`` are to be read again."""
        self.back.extend(reversed(self.taken[kept:]))
        self.taken.clear()


def _left_open(taken: list[str], cells: int, columns: int) -> bool:
    """Whether a record of several lines is a quote left open rather than a quoted cell
    holding a line break (which CSV allows, and the cell's field then refuses): it has
    other cells than the header's, or a line after its first reads as a row on its own
    (no quote, the header's count of cells)."""
    if cells != columns:
        return True
    return any('"' not in line and line.count(",") == columns - 1 for line in taken[1:])


def _runs_on(name: str, line: int, spanned: int) -> Problem:
    """The problem of a record of ``spanned`` lines from ``line``: a quote left open."""
    last = line + spanned - 1
    return Problem(
        name, line, "",
        f"a quoted cell begins on this line and runs on to line {last}, taking in lines "
        "that are rows (is its closing quote missing?): the lines after it are read as "
        "rows of their own", "syntax",
    )  # fmt: skip


def _open_at_end(name: str, line: int, spanned: int) -> Problem:
    """The problem of a record whose quote the file's end closed (Python's reader takes
    the cell as it stands): a quote left open on its last rows."""
    after = (
        f", taking in the {spanned - 1} lines after it: they are read as rows of their own"
        if spanned > 1
        else ""
    )
    return Problem(
        name, line, "",
        "a quoted cell begins on this line and the file ends before its closing quote (is "
        f"it missing?){after}", "syntax",
    )  # fmt: skip


def _record(reader: Any) -> list[str]:
    """The next record of a CSV reader, its cells taken whole up to CSV_FIELD_CHARS (the
    module's limit is its own, set back at once: other readers keep theirs)."""
    kept = csv.field_size_limit(CSV_FIELD_CHARS)
    try:
        cells: list[str] = next(reader)
    finally:
        csv.field_size_limit(kept)
    return cells


def csv_row(
    name: str, line: int, header: list[str], cells: list[str], ruleset: Ruleset
) -> Disclosure:
    """One CSV row (its cells under a valid header) as a checked disclosure, or the
    InputError naming its line and columns."""
    if len(cells) != len(header):
        side = "more" if len(cells) > len(header) else "fewer"
        raise InputError.one(
            name,
            line,
            "",
            f"the row has {len(cells)} cells, {side} than the {len(header)} columns of "
            "the header: every row needs one cell per column (empty for undisclosed)",
            "syntax",
        )
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    row_id = ""
    for column, text_cell in zip(header, cells, strict=True):
        if len(text_cell) > MAX_CELL_CHARS:
            problems.append(long_cell(name, line, column, text_cell))
        elif column == "id":
            row_id = text_cell.strip()
        elif text_cell.strip():
            try:
                values[column] = cell(text_cell, ruleset.fields.get(column))
            except ValueProblem as exc:
                problems.append(Problem(name, line, column, str(exc), exc.code, column))
    if problems:
        raise InputError(capped(problems, name, line))
    return values_row(name, line, row_id or f"{_stem(name)}:{line}", values, ruleset)


def values_row(name: str, line: int, row_id: str, values_doc: Any, ruleset: Ruleset) -> Disclosure:
    """A batch row (of any format) as a checked disclosure, or the InputError naming its
    line; its id as long as a cell may be."""
    values, sources, written, lines, problems = read_values(name, values_doc, ruleset, line)
    problems[:0] = _id_problems(row_id, name, line)
    if problems:
        raise InputError(capped([_at(p, name, line) for p in problems], name, line))
    return Disclosure(f"{name}:{line}", row_id, values, sources, lines, written, (name, line))
