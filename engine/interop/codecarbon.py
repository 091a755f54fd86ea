"""CodeCarbon's ``emissions.csv`` as tuneprint disclosures.

Columns are matched by header name, every row is checked (cells per row, each cell's type
and bounds), and each value is converted to its field's unit explicitly: the energies
include the file's ``pue`` (IT energy is ``energy_consumed / pue``), ``duration`` is in
seconds, ``timestamp`` is the end of the run, ``ram_total_size`` is GiB and utilisations
are percentages. Rows that CodeCarbon 3.2.9 and 3.3.0 appended without their empty cells
are refused, never realigned. What the format and its conventions are lives in
``formats.yaml`` (section ``codecarbon``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .. import __version__
from ..api import RulesetLike
from ..core.model import Ruleset
from ..core.problems import InputError, Problem
from ..load.files import read_text
from .mapping import (
    CellProblem,
    Collector,
    ImportedDisclosure,
    checked,
    convert,
    disclosure_document,
    factor,
    fail,
    formats,
    name_problem,
    read_value,
    ruleset_of,
    unit_change,
)

MAX_ROWS = 100_000  # data rows read from one emissions.csv
MAX_LISTED = 5  # run ids listed when a file has several runs


@dataclass(frozen=True)
class Row:
    """A checked data row: its number (1 for the first under the header), its line in the
    file, and each known column's value (None for an empty cell)."""

    number: int
    line: int
    values: dict[str, Any]

    @property
    def version(self) -> str:
        """The CodeCarbon release that wrote the row, as it says ("" if it does not)."""
        version = self.values.get("codecarbon_version")
        return str(version) if version else ""


@dataclass(frozen=True)
class EmissionsFile:
    """A checked emissions.csv: its header, the release range its layout comes from, and
    every row."""

    name: str
    header: tuple[str, ...]
    layout: str  # "3.2.1 and later", or a description of a header no release writes
    rows: tuple[Row, ...]
    notes: tuple[str, ...]


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = formats()["codecarbon"]
    return spec


def read_emissions_csv(path: str | Path, name: str | None = None) -> EmissionsFile:
    """Read and check every row of an emissions.csv; raises InputError with one problem
    per bad header, row or cell, each naming the file, row and column."""
    spec = _spec()
    shown = str(path) if name is None else name
    text = read_text(Path(path), InputError, shown)
    if text.lstrip().startswith(("{", "[")):
        raise InputError.one(
            shown,
            None,
            "",
            "this is JSON, not a CodeCarbon emissions.csv (a trainer_state.json: tuneprint "
            "import trainer-state; a BoAmps report: tuneprint import boamps)",
            "syntax",
        )
    try:
        records = _records(text, shown)
    except csv.Error as exc:
        raise InputError.one(shown, None, "", f"not a CSV file: {exc}", "syntax") from None
    if not records:
        raise InputError.one(
            shown, None, "", "empty file: expected a CodeCarbon emissions.csv header", "syntax"
        )
    header_line, header = records[0]
    header = [h.strip() for h in header]
    problems, notes, layout, order = _check_header(shown, header_line, header, spec)
    fail(problems)
    columns: dict[str, Any] = spec["columns"]
    rows: list[Row] = []
    shifting = {str(v) for v in spec["shifting_releases"]}
    for number, (line, cells) in enumerate(records[1:], start=1):
        if number > MAX_ROWS:
            problems.append(
                Problem(shown, line, "", f"more than {MAX_ROWS} rows: split the file", "limit")
            )
            break
        if not any(c.strip() for c in cells):
            continue  # a blank line
        if len(cells) != len(header):
            problems.append(_shifted(shown, line, number, header, cells, spec))
            continue
        values: dict[str, Any] = {}
        row_problems = []
        for column, cell in zip(header, cells, strict=True):
            if column not in columns:
                continue
            try:
                values[column] = read_value(columns[column], cell, spec["timestamp_format"])
            except CellProblem as exc:
                row_problems.append(
                    Problem(shown, line, f"row {number}, column {column}", str(exc), "type")
                )
        version = str(values.get("codecarbon_version") or "")
        if not order and version in shifting:
            row_problems = [
                Problem(
                    shown,
                    line,
                    f"row {number}",
                    f"written by CodeCarbon {version}, which appends each row in its own "
                    "column order without a header, under a header whose columns are in "
                    f"another order ({spec['shift_issue']}): its cells cannot be matched to "
                    "columns",
                    "schema",
                )
            ]
        problems.extend(row_problems)
        if not row_problems:
            rows.append(Row(number, line, values))
    fail(problems)
    if not rows:
        raise InputError.one(shown, header_line, "", "no data row under the header", "schema")
    return EmissionsFile(shown, tuple(header), layout, tuple(rows), tuple(notes))


def _records(text: str, name: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out = []
    start = 1
    for cells in reader:
        out.append((start, cells))
        start = reader.line_num + 1
    return out


def _check_header(
    name: str, line: int, header: list[str], spec: dict[str, Any]
) -> tuple[list[Problem], list[str], str, bool]:
    """Problems and notes of the header, the release range of its layout, and whether its
    order is one CodeCarbon writes."""
    problems: list[Problem] = []
    notes: list[str] = []
    if header and header[0] == spec["task_file_first_column"]:
        problems.append(
            Problem(
                name,
                line,
                f"column {header[0]}",
                "this is a CodeCarbon task file (emissions_<experiment>_<run>.csv, first "
                "column task_name), not the tracker's emissions.csv: import the emissions.csv "
                "of the run",
                "schema",
            )
        )
        return problems, notes, "", True
    if not set(header) & set(spec["columns"]):
        problems.append(
            Problem(
                name,
                line,
                "",
                "not a CodeCarbon emissions.csv: its header has none of CodeCarbon's columns "
                f"({', '.join(spec['required'])}, ...)",
                "schema",
            )
        )
        return problems, notes, "", True
    seen: set[str] = set()
    for column in header:
        if column in seen:
            problems.append(Problem(name, line, f"column {column}", "appears twice", "duplicate"))
        seen.add(column)
    for column in spec["required"]:
        if column not in seen:
            problems.append(
                Problem(
                    name,
                    line,
                    f"column {column}",
                    "missing: every CodeCarbon emissions.csv has it (is this a CodeCarbon file?)",
                    "schema",
                )
            )
    if problems:
        return problems, notes, "", True
    layouts = spec["layouts"]
    for layout in layouts:
        if list(layout["columns"]) == header:
            return problems, notes, str(layout["versions"]), True
    known = set(spec["columns"])
    unknown = [c for c in header if c not in known]
    best = max(layouts, key=lambda lay: len(set(lay["columns"]) & seen))
    absent = [c for c in best["columns"] if c not in seen]
    same_set = [lay for lay in layouts if set(lay["columns"]) == seen]
    order = False
    if same_set:
        description = f"the columns of CodeCarbon {same_set[0]['versions']} in another order"
    else:
        description = f"closest to CodeCarbon {best['versions']}"
        order = not unknown and header == [c for c in best["columns"] if c in seen]
    if unknown:
        notes.append(f"columns no CodeCarbon release writes, not read: {', '.join(unknown)}")
    if absent:
        notes.append(
            f"columns of CodeCarbon {best['versions']} absent from the header: "
            f"{', '.join(absent)} (CodeCarbon 3.1.1 to 3.2.3 drop the columns empty in every "
            f"row, {spec['dropped_columns_issue']}); read as empty"
        )
    return problems, notes, description, order


def _shifted(
    name: str, line: int, number: int, header: list[str], cells: list[str], spec: dict[str, Any]
) -> Problem:
    columns = spec["columns"]
    first = None
    for column, cell in zip(header, cells, strict=False):
        if column not in columns:
            continue
        try:
            read_value(columns[column], cell, spec["timestamp_format"])
        except CellProblem:
            first = (column, cell)
            break
    if len(cells) < len(header):
        why = (
            f"{len(cells)} cells under a header of {len(header)} columns: the row is shifted "
            f"(CodeCarbon {' and '.join(spec['shifting_releases'])} append a row without its "
            f"empty cells, {spec['shift_issue']}), so its cells cannot be matched to columns"
        )
    else:
        why = (
            f"{len(cells)} cells under a header of {len(header)} columns: the row has more "
            "cells than the header names, so its cells cannot be matched to columns"
        )
    if first is not None:
        column, cell = first
        return Problem(
            name,
            line,
            f"row {number}, column {column}",
            f"{why}; the first cell out of place is {cell!r} under column {column}",
            "schema",
        )
    column = header[min(len(cells), len(header) - 1)]
    return Problem(name, line, f"row {number}, column {column}", why, "schema")


# -- one row as a disclosure -------------------------------------------------------------


def _where(file: EmissionsFile, row: Row, columns: str) -> str:
    return f"{file.name} row {row.number} (line {row.line}), {columns}"


def row_disclosure(file: EmissionsFile, row: Row, rs: Ruleset) -> ImportedDisclosure:
    """One checked row as a disclosure: every value with its source, and notes on what
    was read and not disclosed. Raises InputError when a converted value does not fit its
    field (named at its source cell)."""
    spec = _spec()
    columns: dict[str, Any] = spec["columns"]
    out = Collector(rs)
    problems: list[Problem] = []
    values = row.values
    gpus = _gpus(file, row, rs, out, problems, spec)
    for field_name, how in spec["fields"].items():
        column = how["column"]
        value = values.get(column)
        if value is None or (how.get("gpus_only") and not gpus):
            continue
        if "skip_if" in how and value == how["skip_if"]:
            out.note(f"column {column} = {value!r}: not disclosed as {field_name}: {how['why']}")
            continue
        if field_name not in rs.fields:
            out.note(f"column {column} not disclosed: ruleset {rs.version} has no {field_name}")
            continue
        unit = columns[column].get("unit", "1")
        target = rs.fields[field_name].unit
        number = convert(rs, value, unit, target)
        cited = f"column {column}"
        for op in ("divide_by", "multiply_by"):
            other = how.get(op)
            if other is None:
                continue
            by, by_note = values.get(other), ""
            if by is None:
                by = columns[other]["default"]
                by_note = f" (no {other} in this file: CodeCarbon's default {by})"
            by_factor = factor(rs, columns[other].get("unit", "1"), "1")
            number = number / (by * by_factor) if op == "divide_by" else number * by * by_factor
            cited += f" {'/' if op == 'divide_by' else 'x'} column {other}{by_note}"
        source = _where(file, row, cited) + f": {how['why']}{unit_change(unit, target)}"
        where = f"row {row.number}, column {column}"
        _, problem = _check(rs, field_name, number, file, row, where)
        if problem:
            problems.append(problem)
            continue
        out.add(field_name, number, source)
    _start_time(file, row, rs, out, problems)
    _location(file, row, rs, out)
    cpu = values.get("cpu_model")
    if cpu:
        _name(rs, out, "cpu_model", str(cpu), _where(file, row, "column cpu_model"))
    for column, why in spec["not_disclosed"].items():
        if values.get(column) not in (None, ""):
            out.note(f"column {column} = {values[column]!r} not disclosed: {why}")
    fail(problems)
    version = row.version or "(version not written)"
    run_id = str(values.get("run_id") or f"row-{row.number}")
    document = disclosure_document(
        f"codecarbon-{run_id}",
        f"CodeCarbon {version} run {run_id}"
        + (f" of project {values['project_name']}" if values.get("project_name") else "")
        + f", imported by tuneprint {__version__}",
        f"{file.name} row {row.number} (line {row.line}), CodeCarbon emissions.csv "
        f"({file.layout} layout)",
        out.entries,
    )
    notes = [
        f"imported by tuneprint {__version__} from {file.name} row {row.number} "
        f"(CodeCarbon {version}, {file.layout} layout) for ruleset {rs.label}",
        *file.notes,
        *out.notes,
    ]
    return ImportedDisclosure(document, notes)


def _check(
    rs: Ruleset, field_name: str, value: Any, file: EmissionsFile, row: Row, where: str
) -> tuple[Any, Problem | None]:
    return checked(rs, field_name, value, file.name, row.line, where)


def _name(rs: Ruleset, out: Collector, field_name: str, value: str, source: str) -> bool:
    problem = name_problem(rs, field_name, value)
    if problem is None:
        out.add(field_name, value, source)
        return True
    out.note(f"{field_name} {value!r} not disclosed ({source}): {problem}; disclose it by hand")
    return False


def _gpus(
    file: EmissionsFile,
    row: Row,
    rs: Ruleset,
    out: Collector,
    problems: list[Problem],
    spec: dict[str, Any],
) -> bool:
    """Disclose the GPUs the run tracked; True when it tracked any."""
    count, model = row.values.get("gpu_count"), row.values.get("gpu_model")
    if not model and not count:
        out.note(
            "no GPU tracked (gpu_count empty or 0): gpu_count and gpu_model not disclosed, so "
            "the ruleset's own rules fill them"
        )
        return False
    kinds: list[tuple[int, str]] = []
    if model:
        splits = gpu_kinds(str(model), spec["gpu_count_token"])
        fitting = [s for s in splits if count is None or sum(n for n, _ in s) == count]
        where = f"row {row.number}, column gpu_model"
        if not splits:
            message = f"expected '<count> x <GPU name>' for each kind of GPU, got {model!r}"
        elif not fitting:
            totals = " or ".join(sorted({str(sum(n for n, _ in s)) for s in splits}))
            message = f"gpu_count is {count} but gpu_model {model!r} counts {totals} GPUs"
            where = f"row {row.number}, column gpu_count"
        elif len(fitting) > 1:
            message = f"gpu_model {model!r} can be read {len(fitting)} ways: give gpu_count"
        else:
            kinds = fitting[0]
        if not kinds:
            problems.append(Problem(file.name, row.line, where, message, "schema"))
            return True
    total = sum(n for n, _ in kinds)
    number = count if count is not None else total
    source = _where(file, row, "column gpu_count" if count is not None else "column gpu_model")
    _, problem = _check(rs, "gpu_count", number, file, row, f"row {row.number}, column gpu_count")
    if problem:
        problems.append(problem)
        return True
    out.add("gpu_count", number, source + ": GPUs tracked")
    if len(kinds) == 1:
        _name(rs, out, "gpu_model", kinds[0][1], _where(file, row, "column gpu_model"))
    elif len(kinds) > 1:
        out.note(
            f"gpu_model {model!r} names {len(kinds)} kinds of GPU: tuneprint takes one GPU "
            "model, so gpu_model is not disclosed; disclose the main one by hand"
        )
    return True


def gpu_kinds(text: str, token: str) -> list[list[tuple[int, str]]]:
    """Every way to read CodeCarbon's gpu_model as kinds of GPU, each "<count> x <name>"
    with the kinds joined by nothing: "1 x NVIDIA A1001 x Tesla T4" is 1 A100 and 1 T4, or
    1 "A" and 1001 T4 (the count tells them apart)."""
    count = re.compile(token)
    starts = [m.start() for i in range(len(text)) if (m := count.match(text, i))]
    out: list[list[tuple[int, str]]] = []

    def walk(at: int, kinds: list[tuple[int, str]]) -> None:
        head = count.match(text, at)
        if head is None or len(out) > MAX_LISTED:
            return
        name_at = head.end()
        for end in [s for s in starts if s > name_at] + [len(text)]:
            name = text[name_at:end].strip()
            if not name:
                continue
            kind = (int(head.group(0).split()[0]), name)
            if end == len(text):
                out.append([*kinds, kind])
            else:
                walk(end, [*kinds, kind])

    walk(0, [])
    return out


def _start_time(
    file: EmissionsFile, row: Row, rs: Ruleset, out: Collector, problems: list[Problem]
) -> None:
    end, duration = row.values.get("timestamp"), row.values.get("duration")
    if not isinstance(end, datetime) or duration is None:
        return
    seconds = factor(rs, _spec()["columns"]["duration"]["unit"], "s")
    start = end - timedelta(seconds=duration * seconds)
    source = _where(file, row, "column timestamp - column duration") + (
        ": the start of the run (timestamp is when the row was written, at its end), in the "
        "tracking machine's local time (the file gives no time zone)"
    )
    _, problem = _check(
        rs, "start_time", start.isoformat(), file, row, f"row {row.number}, column timestamp"
    )
    if problem:
        problems.append(problem)
        return
    out.add("start_time", start, source)


def _location(file: EmissionsFile, row: Row, rs: Ruleset, out: Collector) -> None:
    values = row.values
    iso = values.get("country_iso_code")
    if iso:
        _name(rs, out, "country", str(iso), _where(file, row, "column country_iso_code"))
    provider, region = values.get("cloud_provider"), values.get("cloud_region")
    if not provider:
        return
    prefix = _spec()["cloud_providers"].get(str(provider).strip().lower())
    if prefix is None:
        out.note(f"cloud_provider {provider!r} is not one CodeCarbon names (aws, gcp, azure)")
        return
    _name(rs, out, "cloud_provider", prefix, _where(file, row, "column cloud_provider"))
    if region:
        _name(
            rs,
            out,
            "cloud_region",
            f"{prefix}-{str(region).strip()}",
            _where(file, row, "columns cloud_provider and cloud_region"),
        )


# -- the public functions ----------------------------------------------------------------


def select_row(file: EmissionsFile, run: str | None) -> Row:
    """The row of a run: by run_id or row number; the only row when ``run`` is None."""
    rows = file.rows
    if run is None:
        if len(rows) == 1:
            return rows[0]
        listed = ", ".join(f"row {r.number}: {r.values.get('run_id')}" for r in rows[:MAX_LISTED])
        more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
        raise InputError.one(
            file.name,
            None,
            "",
            f"{len(rows)} runs in the file ({listed}{more}): choose one with --run RUN_ID "
            "or --run ROW, or import them all with --run all",
            "option",
        )
    found = [r for r in rows if str(r.values.get("run_id")) == run]
    if not found and run.isdigit():
        found = [r for r in rows if r.number == int(run)]
    if len(found) == 1:
        return found[0]
    if found:
        numbers = ", ".join(str(r.number) for r in found)
        raise InputError.one(
            file.name,
            None,
            "",
            f"run {run} is in rows {numbers} (CodeCarbon's update mode can write a run "
            "twice): choose a row with --run ROW",
            "option",
        )
    raise InputError.one(file.name, None, "", f"no run {run!r} in the file", "option")


def import_codecarbon(
    path: str | Path,
    ruleset: RulesetLike = None,
    run: str | None = None,
    name: str | None = None,
) -> ImportedDisclosure:
    """A disclosure from one run of a CodeCarbon emissions.csv (``run``: its run_id or row
    number; None when the file holds one run). Every row of the file is checked."""
    rs = ruleset_of(ruleset)
    file = read_emissions_csv(path, name)
    return row_disclosure(file, select_row(file, run), rs)


def import_codecarbon_runs(
    path: str | Path, ruleset: RulesetLike = None, name: str | None = None
) -> list[ImportedDisclosure]:
    """A disclosure from every run (row) of a CodeCarbon emissions.csv, in file order."""
    rs = ruleset_of(ruleset)
    file = read_emissions_csv(path, name)
    out: list[ImportedDisclosure] = []
    problems: list[Problem] = []
    for row in file.rows:
        try:
            out.append(row_disclosure(file, row, rs))
        except InputError as exc:
            problems.extend(exc.problems)
    fail(problems)
    return out
