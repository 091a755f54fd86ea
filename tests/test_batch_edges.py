"""tuneprint batch on odd and hostile input: headers of the whole file, number columns as
categories or decimals, JSON Lines lines with carriage returns or beyond the size limit,
empty ids, long whole numbers, outputs explained whatever their first row, times with a
zone, text fields that look like numbers, cells that are structs, files that are not
UTF-8, outputs that cannot be written, options that do not go together."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import tuneprint  # noqa: E402
from tuneprint.batch import (  # noqa: E402
    estimate_table,
    explain_row,
    formats,
)
from tuneprint.batch.run import run_batch  # noqa: E402
from tuneprint.core.model import Ruleset  # noqa: E402
from tuneprint.core.problems import InputError  # noqa: E402

from tests.conftest import run_interrupted  # noqa: E402

RUN = {"base_model": "Llama 2 13B", "gpu_model": "A100 80GB", "cloud_region": "us-west-2"}
RUN_VALUES = {**RUN, "gpu_count": 8, "reserved_hours": 10}


@pytest.fixture(scope="module")
def rs() -> Ruleset:
    return tuneprint.load_ruleset(None)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuneprint", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def rows_of(path: Path) -> list[dict[str, Any]]:
    return list(formats.read_output(path).to_pylist())


def write_jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def doc(row_id: str, **values: Any) -> bytes:
    return json.dumps({"id": row_id, "values": {**RUN_VALUES, **values}}).encode() + b"\n"


# -- the header: an error of the whole input -------------------------------------------------


@pytest.mark.parametrize(
    ("header", "told"),
    [
        ("id,gpu_model,gpu_count,bogus", "bogus: unknown field"),
        ("id,gpu_model,gpu_count,gpu_count", "gpu_count: the column appears twice"),
        ("id,gpu_model,,gpu_count", "a column of the header has no name"),
        ("id,id,gpu_model,gpu_count", "id: the column appears twice"),
    ],
)
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])  # (Arrow's reader, Python's)
def test_a_bad_header_is_one_error_of_the_whole_csv_file(
    header: str, told: str, bom: bytes, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(bom + f"{header}\na,A100,8,1\nb,A100,4,2\n".encode())
    target = tmp_path / "out.csv"
    done = cli("batch", source, target, "-q")
    assert done.returncode == 2, done.stderr
    assert f"in.csv:1: {told}" in done.stderr
    assert "Traceback" not in done.stderr and not target.exists()


@pytest.mark.parametrize(
    ("columns", "told"),
    [
        ({"gpu_model": ["A100"], "bogus": [1]}, "bogus: unknown field"),
        ({"id": ["a"], "gpu_model": ["A100"], "": [1]}, "a column of the header has no name"),
        ({"id": ["a"], "gpu_model": ["A100"], "row": [1]}, "row: unknown field"),
    ],
)
def test_a_bad_header_is_one_error_of_a_parquet_file_and_of_a_table(
    columns: dict[str, list[Any]], told: str, rs: Ruleset, tmp_path: Path
) -> None:
    table = pa.table(columns)
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    done = cli("batch", source, tmp_path / "out.parquet", "-q")
    assert done.returncode == 2 and f"in.parquet:1: {told}" in done.stderr, done.stderr
    with pytest.raises(InputError, match=told):
        estimate_table(table, rs)


def test_a_parquet_file_with_its_id_column_twice_is_one_error(tmp_path: Path) -> None:
    arrays = [pa.array(["a"]), pa.array(["b"]), pa.array(["A100"])]
    table = pa.Table.from_arrays(arrays, names=["id", "id", "gpu_model"])
    pq.write_table(table, tmp_path / "in.parquet")
    done = cli("batch", tmp_path / "in.parquet", tmp_path / "out.parquet", "-q")
    assert done.returncode == 2 and "id: the column appears twice" in done.stderr, done.stderr


# -- typed columns of a table ----------------------------------------------------------------


@pytest.mark.parametrize("engine", ["vector", "rows"])
def test_number_columns_as_categories_or_decimals_give_their_values(
    engine: str, rs: Ruleset
) -> None:
    """A data frame's categorical of numbers (an Arrow dictionary) and a decimal column
    (pandas, Spark) are their numbers, in both engines: not zero, not refused."""
    n = 3
    table = pa.table(
        {
            **{k: [v] * n for k, v in RUN.items()},
            "pue": pa.array([1.5, 1.2, 1.5]).dictionary_encode(),
            "reserved_hours": pa.array(
                [Decimal("10.5"), Decimal("5"), Decimal("3")], pa.decimal128(10, 2)
            ),
            "gpu_count": pa.array([Decimal(8), Decimal(4), Decimal(2)], pa.decimal128(10, 0)),
        }
    )
    out = estimate_table(table, rs, engine=engine)
    assert out.column("error").to_pylist() == [None] * n
    assert out.column("pue").to_pylist() == [1.5, 1.2, 1.5]
    assert out.column("reserved_hours").to_pylist() == [10.5, 5.0, 3.0]
    assert out.column("gpu_count").to_pylist() == [8, 4, 2]
    one = tuneprint.estimate(
        {"id": "x", "values": {**RUN, "pue": 1.2, "reserved_hours": 5, "gpu_count": 4}}, rs
    )
    total = out.column("total_emissions_kgco2e").to_pylist()[1]
    assert total == pytest.approx(one.value("total_emissions_kgco2e"), rel=1e-12)


def test_a_column_of_no_type_discloses_nothing_whatever_its_field(rs: Ruleset) -> None:
    """A column whose every cell is empty (Arrow's type null: pandas' column of None) is
    a field not disclosed: every field's rows are those of the same table without it.
    (A number field's values were once kept as whole numbers, and a rule's values for
    it, copied into them, cut: pue 1.13 written 1.0, exit 0.)"""
    base = pa.table({k: [v] * 2 for k, v in {**RUN_VALUES, "start_time": "2023-07-18"}.items()})
    expected = estimate_table(base, rs).drop_columns(["provenance"]).to_pylist()
    for name in sorted(set(rs.fields) - set(base.column_names)):
        table = base.append_column(pa.field(name, pa.null()), pa.nulls(2))
        got = estimate_table(table, rs).drop_columns(["provenance"]).to_pylist()
        assert [{k: row[k] for k in expected[0]} for row in got] == expected, name


def test_a_struct_cell_is_refused_as_a_mapping(rs: Ruleset) -> None:
    """A cell holding a mapping is not a value (docs/batch.md), whatever its keys."""
    cells = [{"value": 4, "source": "card"}, {"a": 4}]
    table = pa.table(
        {**{k: [v] * 2 for k, v in RUN.items()}, "reserved_hours": [10, 10], "gpu_count": cells}
    )
    for engine in ("vector", "rows"):
        errors = estimate_table(table, rs, engine=engine).column("error").to_pylist()
        for text in errors:
            assert text is not None
            problem = json.loads(text)[0]
            assert problem["field"] == "gpu_count" and problem["code"] == "type"
            assert "a mapping is not a value" in problem["message"]


@pytest.mark.parametrize(
    ("field", "cells", "told"),
    [
        ("start_time", pa.array([dt.time(0, 16, 40)] * 2), "got 00:16:40 (a time of day)"),
        ("country", pa.array([b"1", b"FR"], pa.binary()), "got binary data (1 byte)"),
        ("gpu_count", pa.array([True, False]), "got true"),
    ],
)
def test_a_cell_of_the_wrong_type_is_shown_as_written_not_as_python(
    rs: Ruleset, field: str, cells: Any, told: str
) -> None:
    """A refused cell is shown in the input's terms (a time of day, binary data, true),
    by either engine, never as a Python form (datetime.time(...), b'1', True)."""
    columns = {**{k: [v] * 2 for k, v in RUN_VALUES.items()}, field: cells}
    for engine in ("vector", "rows"):
        errors = estimate_table(pa.table(columns), rs, engine=engine).column("error")
        problem = json.loads(errors[0].as_py())[0]
        assert problem["field"] == field and problem["message"].endswith(told), problem


def test_json_values_of_the_wrong_shape_are_shown_as_json(tmp_path: Path) -> None:
    """null, true, lists and mappings are named as the JSON line wrote them."""
    lines = [doc(str(i), gpu_count=v) for i, v in enumerate([None, True, [1], {"a": 1}])]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    done = cli("estimate", source)
    assert done.returncode == 2
    for shown in ("null is not", "got true", "[1] is not", '{"a": 1} is not'):
        assert shown in done.stderr, done.stderr
    assert "None" not in done.stderr and "True" not in done.stderr


@pytest.mark.parametrize("kind", ["parquet", "table"])
def test_an_empty_id_cell_gives_file_and_row_for_rows_estimated_or_not(
    kind: str, rs: Ruleset, tmp_path: Path
) -> None:
    table = pa.table(
        {
            "id": pa.array(["a", None, None], pa.string()),
            "gpu_model": ["A100 80GB", "A100 80GB", "GPX 9000"],
            "gpu_count": [8, 8, 8],
            "reserved_hours": [10, 10, 10],
        }
    )
    if kind == "table":
        ids = estimate_table(table, rs).column("id").to_pylist()
        assert ids == ["a", "table:2", "table:3"]
        return
    pq.write_table(table, tmp_path / "nullid.parquet")
    run_batch(tmp_path / "nullid.parquet", tmp_path / "out.csv", rs)
    assert [r["id"] for r in rows_of(tmp_path / "out.csv")] == ["a", "nullid:2", "nullid:3"]


# -- JSON Lines lines --------------------------------------------------------------------------


def test_a_carriage_return_within_a_json_line_is_whitespace(rs: Ruleset, tmp_path: Path) -> None:
    """Lines end at a line feed alone, as ``tuneprint estimate`` reads them."""
    first = doc("a").replace(b'"values"', b'\r"values"')
    source = write_jsonl(tmp_path / "cr.jsonl", [first, doc("b").replace(b"\n", b"\r\n")])
    counts = run_batch(source, tmp_path / "out.csv", rs)
    assert (counts.rows, counts.ok) == (2, 2)
    out = rows_of(tmp_path / "out.csv")
    assert [(r["row"], r["id"]) for r in out] == [(1, "a"), (2, "b")]
    assert [d.id for d in tuneprint.read_batch(source, rs)] == ["a", "b"]


def test_a_json_line_over_the_limit_is_one_row_refused(
    rs: Ruleset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not split into rows (the limit made small here: the shipped one is 32 MiB)."""
    limit = 4096
    monkeypatch.setattr(formats, "MAX_FILE_BYTES", limit)
    long = doc("long", description="x" * (3 * limit))
    source = write_jsonl(tmp_path / "long.jsonl", [doc("first"), long, doc("last")])
    counts = run_batch(source, tmp_path / "out.csv", rs)
    assert (counts.rows, counts.ok, counts.errors) == (3, 2, 1)
    out = rows_of(tmp_path / "out.csv")
    assert [(r["row"], r["id"]) for r in out] == [(1, "first"), (2, "long:2"), (3, "last")]
    problem = json.loads(out[1]["error"])[0]
    assert problem["line"] == 2 and f"bytes; the limit is {limit}" in problem["message"]


def test_a_json_line_not_utf8_names_its_line_and_byte(rs: Ruleset, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "bad.jsonl", [doc("a"), b'{"id": "b\xff"}\n'])
    with pytest.raises(InputError, match=r"bad.jsonl:2: not UTF-8 text \(invalid start byte at"):
        run_batch(source, tmp_path / "out.csv", rs)


def test_a_csv_file_not_utf8_names_its_line_and_byte(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(b"id,gpu_model,reserved_hours\na,A100,3\nb,A\xff100,4\n")
    done = cli("batch", source, tmp_path / "out.csv", "-q")
    assert done.returncode == 2
    assert "bad.csv:3: not UTF-8 text (invalid start byte at byte 4 of the line)" in done.stderr


# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize(
    "tokens", ["10000000000000001", "9999999999999999", "10000000000000000", "1000000000000000.5"]
)
def test_long_whole_numbers_are_read_as_the_per_disclosure_engine_reads_them(
    tokens: str, bom: bytes, rs: Ruleset, tmp_path: Path
) -> None:
    """A whole number past 2**53 is not a float: compared with its bounds (training
    tokens at most 1e16) exactly, as Python's int, by every reader and engine."""
    source = tmp_path / "big.csv"
    header = "id,base_model,gpu_model,gpu_count,cloud_region,reserved_hours,training_tokens"
    source.write_bytes(
        bom + f"{header}\na,Llama 2 13B,A100 80GB,8,us-west-2,10,{tokens}\n".encode()
    )
    outs = []
    for engine in ("vector", "rows"):
        run_batch(source, tmp_path / f"{engine}.csv", rs, engine=engine)
        outs.append(rows_of(tmp_path / f"{engine}.csv")[0])
    assert outs[0] == outs[1]
    refused = tokens == "10000000000000001"
    assert bool(outs[0]["error"]) == refused, outs[0]["error"]


OUT_OF_RANGE = "cannot evaluate 'minus_hours(published_date, reserved_hours)'"


@pytest.mark.parametrize(
    ("published", "hours", "told"),
    [
        ("0001-01-01", "10", OUT_OF_RANGE),  # (the year 0)
        ("0001-01-01T05:00", "10", OUT_OF_RANGE),
        ("0001-01-01T10:00", "10", None),  # (the first moment there is)
        ("0001-01-01T00:00+14:00", "1", OUT_OF_RANGE),  # (in UTC, the year 0)
        ("0001-01-01", "1000000", OUT_OF_RANGE),  # (the year -114)
        ("9999-12-31T23:59", "10", None),
        ("2023-06-01", "999999999999", "is above the maximum 1000000 h"),
    ],
)
def test_a_start_time_before_the_year_1_is_the_rows_error_in_both_engines(
    published: str, hours: str, told: str | None, rs: Ruleset, tmp_path: Path
) -> None:
    """``minus_hours`` of a date-time Python's date-times cannot hold raises, and its
    row is refused; the vectorised engine counts in microseconds, which go on past the
    year 1: it refuses the same rows (a start time in the year 0 was estimated, and
    JSON Lines output or ``explain`` of it failed), with the same error."""
    source = tmp_path / "dates.csv"
    source.write_text(
        "id,gpu_model,gpu_count,cloud_region,published_date,reserved_hours,start_year,"
        f"hardware_year\na,A100 80GB,8,us-west-2,{published},{hours},2023,2023\n"
    )
    outs = []
    for engine in ("vector", "rows"):
        for suffix in ("csv", "jsonl"):
            run_batch(source, tmp_path / f"{engine}.{suffix}", rs, engine=engine)
            outs.append(rows_of(tmp_path / f"{engine}.{suffix}")[0])
    assert outs[0] == outs[2] and outs[1] == outs[3]
    if told is None:
        assert outs[0]["error"] is None and outs[0]["total_emissions_kgco2e"] > 0
    else:
        assert told in outs[0]["error"]


@pytest.mark.parametrize(
    "hours", [10.0, -10.0, 0.5, 1e6, -1e6, 8.8e7, -8.8e7, 1e9, -1e12, 1e300, math.inf, math.nan]
)
@pytest.mark.parametrize(
    "start", [dt.datetime(1, 1, 1, 10), dt.datetime(2023, 6, 1), dt.datetime(9999, 12, 31, 23)]
)
def test_minus_hours_of_columns_refuses_what_python_refuses(
    start: dt.datetime, hours: float
) -> None:
    """Past the range of Python's date-times either way, and hours beyond what a
    date-time's microseconds count (which would wrap around as integers), by rules of any
    bounds (an edited ruleset's): refused where ``minus_hours`` raises, else its value."""
    from tuneprint.batch.vector import _minus_hours, from_micros, to_micros
    from tuneprint.core.functions import FUNCTIONS

    try:
        expected: dt.datetime | None = FUNCTIONS["minus_hours"].impl(start, hours)
    except (ArithmeticError, ValueError):
        expected = None
    micros, beyond = _minus_hours(np.array([to_micros(start)]), np.array([hours]))
    assert bool(beyond[0]) == (expected is None)
    if expected is not None:
        assert from_micros(int(micros[0])) == expected


@pytest.mark.parametrize("engine", ["vector", "rows"])
@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_rows_of_the_same_instant_in_two_zones_each_get_their_own_outcome(
    engine: str, suffix: str, rs: Ruleset, tmp_path: Path
) -> None:
    """A row that cannot be resolved is remembered by the values it discloses, for later
    rows disclosing the same: equal by Python's equality, two times of one instant in two
    zones were the same values, yet their local years differ (2015 and 2016: the second
    is estimated), and the second row got the first's error."""
    times = ["2015-12-31T10:30+00:00", "2016-01-01T00:30+14:00", "2015-12-31T10:30+00:00"]
    source = tmp_path / f"zones.{suffix}"
    rows = [
        {"id": f"r{k}", "cloud_region": "us-west-2", "start_time": t, "reserved_hours": 10}
        for k, t in enumerate(times)
    ]
    if suffix == "csv":
        source.write_text(
            "id,cloud_region,start_time,reserved_hours\n"
            + "".join(f"{r['id']},us-west-2,{r['start_time']},10\n" for r in rows)
        )
    elif suffix == "jsonl":
        source.write_text(
            "".join(json.dumps({"id": r.pop("id"), "values": r}) + "\n" for r in rows)
        )
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), source)
    run_batch(source, tmp_path / "out.csv", rs, engine=engine)
    out = rows_of(tmp_path / "out.csv")
    assert [r["error"] is None for r in out] == [False, True, False]
    assert "cannot resolve total_emissions_kgco2e" in out[2]["error"]
    assert out[1]["total_emissions_kgco2e"] > 0


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_row_of_more_problems_than_told_gets_its_own_count(
    suffix: str, rs: Ruleset, tmp_path: Path
) -> None:
    """Rows refused for the same cells share their problems (one row is read in full),
    but past 50 problems the rest are counted ("and 6 more fields not checked"), and that
    count rests on the row's other cells: the second row, of the same refused cells and
    no others, got the first's count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    numbers = [n for n, f in rs.fields.items() if f.type == "number" and not f.table][:56]
    assert len(numbers) == 56
    first = {n: ("x" if k < 50 else "1") for k, n in enumerate(numbers)}
    second = {n: ("x" if k < 50 else "") for k, n in enumerate(numbers)}
    table = pa.Table.from_pylist([{"id": "a", **first}, {"id": "b", **second}])
    source = tmp_path / f"flood.{suffix}"
    if suffix == "csv":
        source.write_text(
            ",".join(["id", *numbers]) + "\n"
            + "".join(
                ",".join([i, *(row[n] for n in numbers)]) + "\n"
                for i, row in (("a", first), ("b", second))
            )
        )  # fmt: skip
    else:
        pq.write_table(table, source)
    run_batch(source, tmp_path / "out.jsonl", rs)
    told = [json.loads(r["error"]) for r in rows_of(tmp_path / "out.jsonl")]
    assert [len(t) for t in told] == [51, 50]
    assert told[0][-1]["message"] == "and 6 more fields not checked"
    assert "more" not in told[1][-1]["message"]


# -- dask -------------------------------------------------------------------------------------


def test_dask_reads_a_csv_file_of_uneven_lines_as_one_process_does(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    source = tmp_path / "short.csv"
    source.write_text("id,gpu_model,reserved_hours\na,A100,3\nb,A100\n   \nc,A100,4,5\n")
    single = cli("batch", source, tmp_path / "single.csv", "-q")
    spread = cli("batch", source, tmp_path / "dask.csv", "--engine", "dask", "-q")
    assert single.returncode == spread.returncode == 0, spread.stderr
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "single.csv").read_bytes()


def test_a_scheduler_without_dask_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model\na,A100\n")
    done = cli("batch", source, tmp_path / "out.csv", "--scheduler", "tcp://127.0.0.1:1")
    assert (
        done.returncode == 2 and "--scheduler:" in done.stderr and "--engine dask" in done.stderr
    )


# -- explain -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_explain_rebuilds_rows_after_an_error_row_and_rows_of_other_fields(
    kind: str, rs: Ruleset, tmp_path: Path
) -> None:
    """A JSON Lines output line holds only its row's values: the first line an error,
    or a line without a field later lines hold, takes none from the others."""
    lines = [
        json.dumps({"id": "bad", "values": {"gpu_count": "four"}}).encode() + b"\n",
        doc("plain"),
        doc("tokens", training_tokens=2e9, managed_service="AWS Bedrock"),
        doc("utilised", gpu_utilization=0.6),
    ]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    target = tmp_path / f"out.{kind}"
    run_batch(source, target, rs)
    for row in (2, 3, 4):
        result = explain_row(target, row, None, rs)
        assert result.disclosure.values  # (rebuilt, and agreeing with the provenance)


def test_explain_rebuilds_a_row_whose_time_had_a_zone(rs: Ruleset, tmp_path: Path) -> None:
    """A start time with its zone, whose UTC date is another year: the output holds the
    time there, from which the estimate took its year, and the row is rebuilt from it."""
    source = tmp_path / "in-tz.csv"
    header = "id,base_model,gpu_model,gpu_count,cloud_region,reserved_hours,start_time"
    source.write_text(f"{header}\np,Llama 2 13B,A100 80GB,8,us-west-2,10,2024-01-01T10:00+14:00\n")
    for kind in ("parquet", "csv", "jsonl"):
        target = tmp_path / f"tz.{kind}"
        run_batch(source, target, rs)
        row = rows_of(target)[0]
        assert row["start_year"] == 2024
        assert str(row["start_time"]).replace(" ", "T").startswith("2024-01-01T10:00:00")
        explain_row(target, 2, "start_year", rs)


def test_a_date_given_with_its_time_of_day_keeps_it_in_every_output(
    rs: Ruleset, tmp_path: Path
) -> None:
    """A date field disclosed with a time: the estimate counts back from that time (the
    start a few hours before noon, not the evening before), so the CSV output writes the
    time as JSON Lines and Parquet keep it, a date alone where it is midnight, and each
    row is rebuilt."""
    if "published_date" not in rs.fields:
        pytest.skip("the ruleset has no published_date")
    source = tmp_path / "in-date.csv"
    header = "id,base_model,gpu_model,gpu_count,country,reserved_hours,published_date"
    source.write_text(
        f"{header}\nnoon,Llama 2 13B,A100 80GB,8,FRA,10,2024-01-01T12:00\n"
        "day,Llama 2 13B,A100 80GB,8,FRA,10,2024-01-01\n"
    )
    totals = {}
    for kind in ("parquet", "csv", "jsonl"):
        target = tmp_path / f"date.{kind}"
        run_batch(source, target, rs)
        noon, day = rows_of(target)
        assert (noon["start_year"], day["start_year"]) == (2024, 2023)
        totals[kind] = (noon["total_emissions_kgco2e"], day["total_emissions_kgco2e"])
        for row in (2, 3):
            explain_row(target, row, "total_emissions_kgco2e", rs)
    assert len(set(totals.values())) == 1
    text = (tmp_path / "date.csv").read_text()
    assert '"2024-01-01T12:00:00"' in text and '"2024-01-01"' in text


def test_explain_keeps_a_text_field_that_looks_like_a_number(rs: Ruleset, tmp_path: Path) -> None:
    if "us_state" not in rs.fields:
        pytest.skip("the ruleset has no us_state")
    source = write_jsonl(tmp_path / "in-txt.jsonl", [doc("c", us_state="12")])
    for kind in ("parquet", "csv", "jsonl"):
        target = tmp_path / f"txt.{kind}"
        counts = run_batch(source, target, rs)
        assert counts.ok == 1
        explain_row(target, 1, "total_emissions_kgco2e", rs)


# -- outputs -----------------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_an_output_that_cannot_be_written_is_named(kind: str, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "id,gpu_model,reserved_hours\n" + "".join(f"r{i},A100,3\n" for i in range(3000))
    )
    target = tmp_path / f"full.{kind}"
    target.symlink_to("/dev/full")
    done = cli("batch", source, target, "-q")
    assert done.returncode == 2, done.stderr
    assert f"full.{kind}: cannot write: No space left on device" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_csv_output_times_are_written_as_disclosures_write_them(
    rs: Ruleset, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    header = "id,base_model,gpu_model,gpu_count,cloud_region,reserved_hours,start_time"
    body = "".join(
        f"{i},Llama 2 13B,A100 80GB,8,us-west-2,10,{t}\n"
        for i, t in enumerate(["2024-02-01T08:00", "2022-03", ""])
    )
    source.write_text(header + "\n" + body)
    run_batch(source, tmp_path / "out.csv", rs)
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as handle:
        times = [r["start_time"] for r in csv.DictReader(handle)]
    assert times == ["2024-02-01T08:00:00", "2022-03-01T00:00:00", ""]
    source.write_text(header + "\n" + body.replace("08:00", "08:00:00.25"))
    run_batch(source, tmp_path / "out2.csv", rs)
    with open(tmp_path / "out2.csv", encoding="utf-8", newline="") as handle:
        assert next(csv.DictReader(handle))["start_time"] == "2024-02-01T08:00:00.250000"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("header.csv", b"id,gpu_model,gpu_count\n"),  # no rows
        ("latin.csv", b"id,country\na,Fran\xe7e\n"),  # not UTF-8
        ("bad.csv", b"id,bogus\na,1\n"),  # a bad header
        ("empty.jsonl", b""),
    ],
)
def test_a_failed_run_leaves_an_earlier_output_as_it_was(
    name: str, body: bytes, tmp_path: Path
) -> None:
    """The output is written beside its place and put there when the run ends well: a
    run refused leaves last month's file of that name, and nothing of its own."""
    source = tmp_path / name
    source.write_bytes(body)
    target = tmp_path / "results.csv"
    target.write_text("last month's results\n")
    done = cli("batch", source, target, "-q")
    assert done.returncode == 2, done.stderr
    assert target.read_text() == "last month's results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "results.csv"])


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_an_output_replaced_keeps_its_permissions_and_a_new_one_takes_the_umask(
    kind: str, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,8,10\n")
    old = tmp_path / f"old.{kind}"
    old.write_text("before\n")
    old.chmod(0o640)
    for target in (old, tmp_path / f"new.{kind}"):
        done = cli("batch", source, target, "-q")
        assert done.returncode == 0, done.stderr
        assert len(formats.read_output(target)) == 1
    assert old.stat().st_mode & 0o777 == 0o640
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / f"new.{kind}").stat().st_mode & 0o777 == 0o666 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_data_frame_of_mixed_columns_views_or_a_name_twice(rs: Ruleset) -> None:
    """An object column mixing text and numbers is read as a CSV file would hold it; a
    column of text views as text; a name twice is one message, not Arrow's."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({**{k: [v] * 2 for k, v in RUN_VALUES.items()}})
    expected = estimate_table(frame, rs).column("total_emissions_kgco2e").to_pylist()
    mixed = frame.copy()
    mixed["gpu_count"] = pd.Series(["8", 8], dtype=object)
    mixed["reserved_hours"] = pd.Series([np.float64(10.0), "10"], dtype=object)
    got = estimate_table(mixed, rs).column("total_emissions_kgco2e").to_pylist()
    assert got == expected and None not in got
    named = frame.copy()
    named["gpu_model"] = pd.Series(["A100 80GB", 100], dtype=object)
    errors = estimate_table(named, rs).column("error").to_pylist()
    assert errors[0] is None and "unknown gpus name '100'" in errors[1]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if hasattr(pa, "string_view"):
        at = table.schema.get_field_index("reserved_hours")
        text = table.column(at).cast(pa.string()).cast(pa.string_view())
        viewed = estimate_table(table.set_column(at, "reserved_hours", text), rs)
        assert viewed.column("total_emissions_kgco2e").to_pylist() == expected
    twice = frame.copy()
    twice.columns = [*frame.columns[:-1], "gpu_count"]
    with pytest.raises(InputError, match="gpu_count: the column appears twice"):
        estimate_table(twice, rs)


def test_an_output_through_a_link_replaces_the_file_linked_to(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,8,10\n")
    (tmp_path / "real").mkdir()
    linked = tmp_path / "real" / "results.csv"
    linked.write_text("before\n")
    link = tmp_path / "results.csv"
    link.symlink_to(linked)
    done = cli("batch", source, link, "-q")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and len(formats.read_output(linked)) == 1
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["results.csv"]


# -- cells read as their field reads them, whatever the format -------------------------------


def errors_of(target: Path) -> list[Any]:
    return [json.loads(e) if isinstance(e, str) else e for e in
            formats.read_output(target).column("error").to_pylist()]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("start_time", "2024"),  # a number to a CSV reader, text to the field
        ("start_time", "20240201"),  # an ISO date of the basic form
        ("gpu_model", "8"),
        ("country", "12"),
        ("gpu_count", "true"),
        ("reserved_hours", "0.5000000000000000000000000000000000"),  # 34 digits, 0.5
        ("gpu_utilization", "0.00000000000000000000000000000000005"),
        ("gpu_model", "A100 80GB\t"),  # a tab around the name, as a CSV cell's
    ],
)
def test_a_cell_reads_as_its_field_in_csv_json_lines_and_parquet_text(
    field: str, text: str, rs: Ruleset, tmp_path: Path
) -> None:
    """A text cell is read by its field's type, whatever the format: a date or a name
    that looks like a number stays text, a true of a number field is text refused as a
    number, a fraction of any length is a number; each format and engine gives the same
    value or the same error."""
    values = {**RUN_VALUES, "start_time": "2023-07-18", field: text}
    sources = {
        "csv": tmp_path / "in.csv",
        "jsonl": write_jsonl(tmp_path / "in.jsonl", [doc("a", **values)]),
        "parquet": tmp_path / "in.parquet",
    }
    with open(sources["csv"], "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *values])
        writer.writerow(["a", *values.values()])
    pq.write_table(pa.table({"id": ["a"], **{k: [str(v)] for k, v in values.items()}}),
                   sources["parquet"])  # fmt: skip
    seen = []
    for kind, source in sources.items():
        for engine in ("vector", "rows"):
            target = tmp_path / f"out-{kind}-{engine}.jsonl"
            run_batch(source, target, rs, engine=engine)
            row = formats.read_output(target).to_pylist()[0]
            error = row["error"]
            problems = (
                [] if not error else (json.loads(error) if isinstance(error, str) else error)
            )
            seen.append(
                (row.get("total_emissions_kgco2e"), [(p["code"], p["message"]) for p in problems])
            )
    assert all(s == seen[0] for s in seen), seen
    problems = seen[0][1]
    assert "expected text" not in str(problems) and "digits is out of range" not in str(problems)


@pytest.mark.parametrize("engine", ["vector", "rows"])
def test_minus_zero_and_zero_each_name_their_own_cell(
    engine: str, rs: Ruleset, tmp_path: Path
) -> None:
    source = tmp_path / "z.parquet"
    hours = pa.array([0.0, -0.0, 48.5, -0.0], pa.float64())
    columns = {**{k: [v] * 4 for k, v in RUN_VALUES.items()}, "reserved_hours": hours}
    pq.write_table(pa.table(columns), source)
    for chunk in (1, 4):
        target = tmp_path / f"z-{chunk}.jsonl"
        run_batch(source, target, rs, engine=engine, chunk_rows=chunk)
        messages = [e and e[0]["message"] for e in errors_of(target)]
        assert messages == [
            "0.0 must be greater than 0 h", "-0.0 must be greater than 0 h", None,
            "-0.0 must be greater than 0 h",
        ]  # fmt: skip


def test_a_rule_error_of_a_batch_row_names_its_file_and_line_apart(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "id,gpu_model,gpu_count,reserved_hours,start_time\n"
        "a,A100 80GB,8,10,2023-07-18\nb,A100 80GB,8,10,9999-12-31\n"
    )
    done = cli("estimate", "--format", "json", source)
    problem = json.loads(done.stdout)[1]["errors"][0]
    assert problem["code"] == "rule-error"
    assert (problem["file"], problem["line"]) == (str(source), 3), problem
    assert f"{source}:3:3" not in done.stderr and "(in.csv:3)" in done.stderr.replace(
        str(tmp_path) + os.sep, ""
    ), done.stderr


def test_a_control_character_is_shown_escaped_once(rs: Ruleset) -> None:
    with pytest.raises(InputError) as caught:
        tuneprint.estimate({"values": {**RUN_VALUES, "gpu_model": "A100\t80GB"}}, rs)
    assert "the text 'A100\\t80GB' holds a control" in str(caught.value), caught.value


def test_a_folder_named_as_an_input_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue.csv"
    folder.mkdir()
    done = cli("batch", folder, tmp_path / "out.csv")
    assert done.returncode == 2 and "is a folder, not a file" in done.stderr, done.stderr


def test_explain_reads_text_na_or_null_in_a_csv_output_as_text(
    rs: Ruleset, tmp_path: Path
) -> None:
    """A CSV output's empty cell alone is empty: "NA" or "null" of a text field is the
    value the row was estimated with (not Arrow's nulls)."""
    if "us_state" not in rs.fields:
        pytest.skip("the ruleset has no us_state")
    source = write_jsonl(tmp_path / "in.jsonl", [doc(t, us_state=t) for t in ("NA", "null")])
    target = tmp_path / "out.csv"
    assert run_batch(source, target, rs).ok == 2
    for row in (1, 2):
        explain_row(target, row, "total_emissions_kgco2e", rs)


def test_an_output_through_dev_stdout_is_written_there(tmp_path: Path) -> None:
    """A name of an open file (a link to /dev/stdout, for the suffix) is written to, not
    replaced: a redirection's file keeps what it had."""
    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,8,10\n")
    link = tmp_path / "so.csv"
    link.symlink_to("/dev/stdout")
    log = tmp_path / "log.txt"
    log.write_text("before\n")
    with open(log, "a") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "tuneprint", "batch", str(source), str(link), "-q"],
            stdout=handle, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert text.startswith('before\n"row","id",') and "1 rows in, 1 estimated" in text, text


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_read_only_output_is_refused_and_one_in_a_read_only_folder_written_in_place(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,8,10\n")
    kept = tmp_path / "kept.csv"
    kept.write_text("before\n")
    kept.chmod(0o444)
    done = cli("batch", source, kept, "-q")
    assert done.returncode == 2 and "cannot write: Permission denied" in done.stderr
    assert kept.read_text() == "before\n"
    folder = tmp_path / "ro"
    folder.mkdir()
    inside = folder / "out.csv"
    inside.write_text("before\n")
    folder.chmod(0o555)
    try:
        done = cli("batch", source, inside, "-q")
        assert done.returncode == 0, done.stderr
        assert len(formats.read_output(inside)) == 1
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_run_sent_sigterm_or_sighup_stops_as_ctrl_c_does(tmp_path: Path, name: str) -> None:
    """kill, timeout and a stopped service send SIGTERM, a closed terminal SIGHUP: the run
    stops, its file beside the output removed, the earlier output left as it was."""
    import signal
    import time

    source = tmp_path / "in.csv"
    with open(source, "w") as handle:
        handle.write("id,gpu_model,gpu_count,reserved_hours\n")
        handle.writelines(f"r{i},A100 80GB,{1 + i % 8},{1 + i % 97}\n" for i in range(300_000))
    target = tmp_path / "out.parquet"
    target.write_text("last month's results\n")
    run = subprocess.Popen(
        [sys.executable, "-m", "tuneprint", "batch", str(source), str(target), "-q",
         "--chunk-rows", "20000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for _ in range(600):  # (until the file beside it is being written)
        if any(p.name.endswith(".part") for p in tmp_path.iterdir()) or run.poll() is not None:
            break
        time.sleep(0.01)
    run.send_signal(getattr(signal, name))
    _, stderr = run.communicate(timeout=120)
    if target.read_text(errors="replace") != "last month's results\n":  # (it ended first)
        left = sorted(p.name for p in tmp_path.iterdir())
        assert run.returncode in (0, -getattr(signal, name)), stderr
        assert left == ["in.csv", "out.parquet"], (run.returncode, stderr, left)
        pytest.skip("the run ended before the signal")
    assert run.returncode == 130 and stderr == "aborted\n", stderr
    assert target.read_text() == "last month's results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.parquet"]


def test_estimate_names_each_row_of_a_file_with_a_bad_header_by_its_line(
    tmp_path: Path,
) -> None:
    """Each row is refused for the header, named by its own line, not all by line 1."""
    source = tmp_path / "bh.csv"
    source.write_text("id,gpu_model,bogus\na,A100,1\nb,V100,2\n")
    done = cli("estimate", "--format", "json", source)
    assert done.returncode == 2
    names = [entry["name"] for entry in json.loads(done.stdout)]
    assert names == [f"{source}:2", f"{source}:3"], names
    assert f"{source}:2: not estimated" in cli("estimate", source).stdout


def test_the_placement_refuses_an_unwritable_file_and_falls_back_to_writing_in_place(
    rs: Ruleset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two cases the test above checks as an ordinary user, here as any user (root
    may write any file): the system says no to the file, or to a file beside it."""
    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,8,10\n")
    kept = tmp_path / "kept.csv"
    kept.write_text("before\n")
    monkeypatch.setattr(formats.os, "access", lambda path, mode: Path(path) != kept)
    with pytest.raises(InputError, match=r"kept\.csv: cannot write: Permission denied"):
        run_batch(source, kept, rs)
    assert kept.read_text() == "before\n"

    def no_room(**_: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(formats.tempfile, "mkstemp", no_room)
    inside = tmp_path / "inside.csv"
    inside.write_text("before\n")
    assert run_batch(source, inside, rs).ok == 1  # (written in place)
    assert len(formats.read_output(inside)) == 1
    with pytest.raises(InputError, match=r"new\.csv: cannot write: Permission denied"):
        run_batch(source, tmp_path / "new.csv", rs)  # (no file to write in place)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "inside.csv", "kept.csv"]


@pytest.mark.parametrize(
    ("codes", "valid", "texts", "want"),
    [
        ([2, 0, 2, 1], [True, True, True, False], ["a", "b", "c"], ["c", "a", "c", None]),
        # a row without a value may hold a code of no text (out of range either way)
        ([7, 1, -3], [False, True, False], ["a", "b"], [None, "b", None]),
        ([5, 5], [False, False], [], [None, None]),  # no text at all
        ([], [], ["a"], []),
    ],
)
def test_a_text_column_holds_the_texts_of_its_rows_with_a_value(
    codes: list[int], valid: list[bool], texts: list[str], want: list[str | None]
) -> None:
    """The output's text columns: each row's text, null where it has none, the dictionary
    the texts of the rows with a value alone (a failed row's name is not a category)."""
    from tuneprint.batch import arrays
    from tuneprint.batch.engine import _text_column

    mask = np.array(valid, dtype=bool)
    got = _text_column(np.array(codes, dtype=np.int64), arrays.validity(mask), mask, texts)
    assert got.to_pylist() == want
    assert sorted(got.dictionary.to_pylist()) == sorted({w for w in want if w is not None})


def _utf8_broken(cells: list[bytes]) -> Any:
    """A string column holding the bytes given (Arrow does not check a file's text)."""
    offsets = np.cumsum([0, *map(len, cells)]).astype(np.int32)
    buffers = [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(cells))]
    return pa.Array.from_buffers(pa.string(), len(cells), buffers)


@pytest.mark.parametrize("engine", ["vector", "rows"])
@pytest.mark.parametrize(
    ("column", "cells", "told"),
    [
        ("start_time", pa.array([1690000000, 253402300800], pa.timestamp("s")), "years 1 to 9999"),
        ("published_date", pa.array([19000, 3_000_000], pa.date32()), "years 1 to 9999"),
        ("start_time", pa.array([0, 1690000000], pa.timestamp("s", tz="Mars/Olympus")), "zone"),
        ("id", pa.array([1, 10**17], pa.duration("s")), "duration"),
        ("id", _utf8_broken([b"a", b"b\xff"]), "not UTF-8 text (byte 0xff at byte 2)"),
        ("gpu_model", _utf8_broken([b"A100 80GB", b"H1\xc000"]), "not UTF-8 text (byte 0xc0"),
    ],
)
def test_a_typed_cell_python_cannot_hold_is_an_error_of_its_row(
    rs: Ruleset, column: str, cells: Any, told: str, engine: str
) -> None:
    """A Parquet or Arrow cell with no Python value (a time beyond the year 9999, a zone
    of no known name, text that is not UTF-8) is its row's error, saying why; the other
    rows are estimated (it stopped the whole batch)."""
    if column not in rs.fields and column != "id":
        pytest.skip(f"the ruleset has no {column}")
    base = {k: [v, v] for k, v in RUN_VALUES.items()}
    table = pa.table({"id": ["a", "b"], **base, column: cells})
    out = estimate_table(table, rs, engine=engine)
    errors = out.column("error").to_pylist()
    if column == "start_time" and "zone" in told:
        assert all(told in (e or "") for e in errors)
        return
    assert errors[0] is None and told in (errors[1] or ""), errors
    assert out.num_rows == 2


def test_a_line_of_separators_alone_of_the_wrong_count_is_an_error_not_skipped(
    rs: Ruleset, tmp_path: Path
) -> None:
    """An empty line, a line of spaces and a row of the header's count of blank cells hold
    no row (skipped, by both readers); ``,,`` under four columns is a short row and
    ``,,,,,,,,,`` a long one, each its line's error (they vanished, uncounted)."""
    source = tmp_path / "blanks.csv"
    source.write_text(
        "id,base_model,gpu_model,reserved_hours\na,Llama 2 13B,A100 80GB,10\n"
        ",,\n,,,,,,,,,\n,,,\n   \n\nb,Llama 2 13B,A100 80GB,10\n"
    )
    for chunk_rows in (2, 1000):
        counts = run_batch(source, tmp_path / "out.jsonl", rs, chunk_rows=chunk_rows)
        assert (counts.rows, counts.ok, counts.errors) == (4, 2, 2)
        rows = rows_of(tmp_path / "out.jsonl")
        assert [r["row"] for r in rows] == [2, 3, 4, 8]
        assert "fewer than the 4 columns" in rows[1]["error"]
        assert "more than the 4 columns" in rows[2]["error"]


def test_the_count_of_problems_not_shown_is_the_count_left_out(
    rs: Ruleset, tmp_path: Path
) -> None:
    """A header of 5,000 unknown columns: 50 told, "and 4950 more problems" (it said 1);
    a JSON Lines row of 20,000 unknown keys keeps its own count of the fields not
    checked (it was replaced by "and 1 more problems")."""
    wide = tmp_path / "wide.csv"
    wide.write_text(
        "reserved_hours," + ",".join(f"x{i}" for i in range(5000)) + "\n10" + ",1" * 5000 + "\n"
    )
    with pytest.raises(InputError) as caught:
        run_batch(wide, tmp_path / "out.jsonl", rs)
    problems = caught.value.problems
    assert len(problems) == 51 and problems[-1].message == "and 4950 more problems"
    keys = tmp_path / "keys.jsonl"
    keys.write_text(json.dumps({"id": "a", "values": {f"x{i}": 1 for i in range(20000)}}) + "\n")
    run_batch(keys, tmp_path / "keys-out.jsonl", rs)
    (row,) = rows_of(tmp_path / "keys-out.jsonl")
    told = row["error"] if isinstance(row["error"], list) else json.loads(row["error"])
    assert [p["message"] for p in told[-1:]] == ["and 19950 more fields not checked"]
    assert len(told) == 51


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_an_output_saved_again_with_a_byte_order_mark_is_explained(
    kind: str, rs: Ruleset, tmp_path: Path
) -> None:
    """A spreadsheet's "CSV UTF-8" (pandas' utf-8-sig) puts a byte-order mark first: the
    output is explained as before (its first column was read as "\\ufeffrow")."""
    source = write_jsonl(tmp_path / "in.jsonl", [doc("plain"), doc("more", gpu_count=4)])
    target = tmp_path / f"out.{kind}"
    run_batch(source, target, rs)
    marked = tmp_path / f"marked.{kind}"
    marked.write_bytes(b"\xef\xbb\xbf" + target.read_bytes())
    for row in (1, 2):
        assert explain_row(marked, row, "pue", rs).disclosure.id == ("plain", "more")[row - 1]


@pytest.mark.parametrize("label", ["{folder}", "my-own-rules@{version}", "{id}@9.9"])
def test_explain_takes_the_ruleset_a_row_names_only_among_the_shipped_versions(
    label: str, rs: Ruleset, tmp_path: Path
) -> None:
    """A row's ruleset cell names a shipped version: a folder written there (a draft the
    file's author chose, loaded with no warning) or another ruleset's name is refused;
    a draft is explained only when given (``--rules``)."""
    source = write_jsonl(tmp_path / "in.jsonl", [doc("plain")])
    target = tmp_path / "out.csv"
    run_batch(source, target, rs)
    text = target.read_text()
    shipped = f"{rs.id}@{rs.version}"
    assert explain_row(target, 1, "pue").disclosure.id == "plain"
    from tuneprint.load.layers import find_ruleset

    folder = f"{rs.id}@{find_ruleset(rs.version).resolve()}"
    edited = label.format(folder=folder, version=rs.version, id=rs.id)
    (tmp_path / "edited.csv").write_text(text.replace(shipped, edited))
    with pytest.raises((InputError, tuneprint.RulesetError)) as caught:
        explain_row(tmp_path / "edited.csv", 1, "pue")
    assert "ruleset" in str(caught.value)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_explain_refuses_a_provenance_holding_a_field_twice(
    kind: str, rs: Ruleset, tmp_path: Path
) -> None:
    """A JSON object keeps the last of a key written twice: an edit put before the real
    entry ("pue": "rule:bogus", ..., "pue": ...) passed; it is refused."""
    source = write_jsonl(tmp_path / "in.jsonl", [doc("plain")])
    target = tmp_path / f"out.{kind}"
    run_batch(source, target, rs)
    text = target.read_text()
    # the provenance's object (a CSV's first JSON cell), with a field put in front
    old, new = (
        ('"{""', '"{""pue"": ""rule:bogus"", ""')
        if kind == "csv"
        else ('"provenance": {"', '"provenance": {"pue": "rule:bogus", "')
    )
    assert old in text
    edited = tmp_path / f"edited.{kind}"
    edited.write_text(text.replace(old, new, 1))
    with pytest.raises(InputError, match="appears twice"):
        explain_row(edited, 1, "pue", rs)


def test_estimate_as_json_is_json_whatever_control_characters_an_id_holds(
    tmp_path: Path,
) -> None:
    """An id holding a C1 control (U+0085) or DEL: the JSON written is still JSON, each
    written as JSON's own escape (it was ``\\x85``, which no JSON reader takes), and read
    back it is the id given."""
    source = tmp_path / "c1.jsonl"
    source.write_text(json.dumps({"id": "a\u0085b\u007fc\u202ed", "values": RUN_VALUES}) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "tuneprint", "estimate", str(source), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "\u0085" not in done.stdout and "\x7f" not in done.stdout  # (escaped, not raw)
    (result,) = json.loads(done.stdout)
    assert result["disclosure"]["id"] == "a\u0085b\u007fc\u202ed"


def test_a_line_longer_than_arrows_block_is_its_rows_error(rs: Ruleset, tmp_path: Path) -> None:
    """A plain line of 9 MB (more than twice the block Arrow's reader parses at a time):
    the row's error says its cell is over the limit, the other rows are estimated (the
    whole file failed, with Arrow's own words)."""
    source = tmp_path / "long.csv"
    source.write_text(
        "id,base_model,gpu_model,reserved_hours\na,Llama 2 13B,A100 80GB,10\n"
        f"big,Llama 2 13B,{'A' * (2 * formats.READ_BLOCK + 1000)},10\nc,Llama 2 13B,A100 80GB,10\n"
    )
    counts = run_batch(source, tmp_path / "out.jsonl", rs)
    assert (counts.rows, counts.ok, counts.errors) == (3, 2, 1)
    told = rows_of(tmp_path / "out.jsonl")[1]["error"]
    told = json.loads(told) if isinstance(told, str) else told
    assert any("the limit is" in p["message"] for p in told), told
    assert {p["line"] for p in told} == {3}


def test_a_header_name_off_by_what_does_not_show_says_what_it_meant(
    rs: Ruleset, tmp_path: Path
) -> None:
    """``ID``, ``PUE``, a name with a space after it or a zero-width space in it: each
    said which column it meant (``ID`` was offered egrid_subregion), the invisible
    character written as an escape."""
    source = tmp_path / "header.csv"
    source.write_text(
        "ID,base_model,gpu_model,reserved_hours ,PUE,gpu\u200b_count\n"
        "a,Llama 2 13B,A100,10,1.1,8\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        run_batch(source, tmp_path / "out.jsonl", rs)
    told = {p.where: p.message for p in caught.value.problems}
    assert told["ID"].endswith("did you mean 'id'?")
    assert told["PUE"].endswith("did you mean 'pue'?")
    assert told["reserved_hours "].endswith("did you mean 'reserved_hours'?")
    assert told["gpu\u200b_count"].endswith("did you mean 'gpu_count'?")
    assert "\\u200b" in tuneprint.core.text.printable("gpu\u200b_count")


def test_the_signals_are_taken_while_a_run_writes_and_given_back_after() -> None:
    """SIGTERM and SIGHUP stop a run as Ctrl-C does while it writes; after, they are the
    process's own again; a SIGHUP ignored (nohup) stays ignored."""
    import signal

    from engine.cli.batch import _stopped_on_terminate

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        term = signal.getsignal(signal.SIGTERM)
        with _stopped_on_terminate():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is term
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        with pytest.raises(KeyboardInterrupt), _stopped_on_terminate():
            signal.raise_signal(signal.SIGHUP)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_flat_disclosure_a_late_byte_order_mark_and_utf16_text_are_told_plainly(
    tmp_path: Path,
) -> None:
    """A JSON Lines disclosure written flat is told where its fields go; a byte-order mark
    at the start of a later line is named as such (not in a Python codec's words); a CSV
    file of UTF-16 text without its mark is told once, not as names of NUL bytes."""
    lines = tmp_path / "in.jsonl"
    flat = '{"id": "a", "gpu_model": "A100 80GB", "gpu_count": 2}\n'
    nested = '{"id": "b", "values": {"gpu_model": "A100 80GB", "gpu_count": 2}}\n'
    lines.write_text(nested + flat + "\ufeff" + nested, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    done = cli("batch", lines, out, "-q")
    assert done.returncode == 0, done.stderr
    errors = formats.read_output(out).column("error").to_pylist()
    assert "unknown key" not in str(errors[0]) and "JSON" not in str(errors[0])
    told = [" ".join(p["message"] for p in json.loads(str(e))) for e in errors[1:]]
    assert 'disclosed fields go under "values": {"values": {"gpu_count": ...}}' in told[0]
    assert "a byte-order mark (U+FEFF) starts it" in told[1] and "utf-8-sig" not in told[1]
    wide = tmp_path / "wide.csv"
    wide.write_bytes("id,gpu_model\na,A100 80GB\n".encode("utf-16-le"))
    for args in (("batch", wide, tmp_path / "o.csv", "-q"), ("estimate", wide)):
        done = cli(*args)
        assert done.returncode == 2
        assert f"{wide}:1: the header holds NUL bytes, as UTF-16 text does" in done.stderr
        assert "\\x00" not in done.stderr, done.stderr


def test_a_disclosed_negative_zero_is_zero_in_every_output(tmp_path: Path) -> None:
    """-0.0 is within a bound of minimum 0: it is read as zero, never shown as "-0"."""
    import math

    import pyarrow as pa
    import pyarrow.parquet as pq

    cells = {"id": "z", "gpu_model": "A100 80GB", "gpu_count": 2, "reserved_hours": 10.0,
             "country": "FR", "gpu_energy_kwh": -0.0}  # fmt: skip
    written = tmp_path / "in.csv"
    written.write_text(",".join(cells) + "\n" + ",".join(map(str, cells.values())) + "\n")
    typed = tmp_path / "in.parquet"
    pq.write_table(pa.table({k: [v] for k, v in cells.items()}), typed)
    for source in (written, typed):
        out = tmp_path / f"out-{source.suffix[1:]}.csv"
        assert cli("batch", source, out, "-q").returncode == 0
        assert ",-0" not in out.read_text(), out.read_text()
        (row,) = formats.read_output(out).to_pylist()
        assert math.copysign(1, row["gpu_energy_kwh"]) == 1
    done = cli("estimate", "--format", "json", written)
    (result,) = json.loads(done.stdout)
    shown = result["fields"]["gpu_energy_kwh"]["value"]
    assert shown == 0 and math.copysign(1, shown) == 1, shown


def test_a_line_that_is_not_json_is_told_where_and_why(tmp_path: Path) -> None:
    """JSON's reader's words, with the column and what is written there; a line cut short
    said so; a number beginning with 0 and one beyond a double's range named as written
    (1e999 was 'got inf'), in its field."""
    lines = [
        '{"id": "a", "values": {"gpu_model": "A100 80GB", "gpu_count": 2,}}',
        '{"id": "b", "values": {"gpu_model": "A100 80GB" "gpu_count": 2}}',
        '{"id": "c", "values": {"gpu_energy_kwh": 1e999}}',
        '{"id": "d"',
        '{"id": "e", "values": {"gpu_count": 00012}}',
        '{"id": "f", "values": {"gpu_count": -0.5.5}}',
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert cli("batch", source, out, "-q").returncode == 0
    told = [
        json.loads(e)[0]["message"] for e in formats.read_output(out).column("error").to_pylist()
    ]
    assert told == [
        "invalid JSON: Expecting property name enclosed in double quotes at column 65, "
        "near 'u_count\": 2,}}'",
        "invalid JSON: Expecting ',' delimiter at column 49, near '\"A100 80GB\" \"gpu_count\":'",
        "expected a finite number in kWh, got 1e999",
        "invalid JSON: Expecting ',' delimiter: the document ends before it is complete",
        "invalid JSON: the number 00012 begins with 0, which JSON does not allow",
        "invalid JSON: Expecting ',' delimiter at column 41, near 'count\": -0.5.5}}'",
    ], told
    document = tmp_path / "big.json"
    document.write_text('{"id": "x",\n "values": {"reserved_hours": -1e999}}\n')
    done = cli("estimate", document)
    assert done.returncode == 2
    assert f"{document}: reserved_hours: expected a finite number in h, got -1e999" in (
        done.stderr
    )


def test_a_number_no_float_holds_is_told_as_written_in_every_reader(tmp_path: Path) -> None:
    """A number beyond every float (1e309) or nearer zero than any but zero (1e-400) is
    named as written, not as the float it reads as ('got inf', '0.0 must be greater than
    0'): in a CSV cell (Arrow's path and Python's), a JSON Lines value, a JSON or YAML
    document and a what-if setting; a rule's numbers stay plain floats. Where a field
    takes zero, the value is zero."""
    rows = [
        ["id", "gpu_model", "gpu_count", "reserved_hours", "gpu_utilization"],
        ["a", "H100", "8", "1e309", "0.5"],
        ["b", "H100", "8", "1e-400", "0.5"],
        ["c", "H100", "-1E+400", "10", "0.5"],
        ["d", "H100", "8", "10", "2.5e-999"],
        ["e", "H100", "1e-400", "10", "0.5"],  # (a whole number: its bounds, as written)
    ]
    source = tmp_path / "in.csv"
    source.write_text("\n".join(",".join(r) for r in rows) + "\n")
    quoted = tmp_path / "quoted.csv"  # (a quote: Python's reader takes the file)
    quoted.write_text(source.read_text().replace("H100", '"H100"'))
    told = [
        "reserved_hours: expected a finite number in h, got 1e309",
        "reserved_hours: 1e-400 must be greater than 0 h",
        "gpu_count: expected a finite number, got -1E+400",
        "gpu_count: 1e-400 is below the minimum 1",
    ]
    for given_file in (source, quoted):
        out = tmp_path / f"{given_file.stem}.parquet"
        assert cli("batch", given_file, out, "-q").returncode == 0
        table = formats.read_output(out)
        errors = [json.loads(e)[0] if e else None for e in table.column("error").to_pylist()]
        assert [f"{e['field']}: {e['message']}" for e in errors if e] == told
        assert errors[3] is None
        utilization = table.column("gpu_utilization").to_pylist()[3]
        assert utilization == 0 and math.copysign(1, utilization) == 1
        done = cli("estimate", given_file)
        assert done.returncode == 2
        for line in told:
            assert line in done.stderr, done.stderr
        assert "inf" not in done.stderr and "0.0" not in done.stderr
    lines = tmp_path / "in.jsonl"
    lines.write_text(
        '{"id": "a", "values": {"gpu_model": "H100", "gpu_count": 8, "reserved_hours": 1e-400}}\n'
    )
    done = cli("estimate", lines)
    assert f"{lines}:1: reserved_hours: 1e-400 must be greater than 0 h" in done.stderr
    document = tmp_path / "doc.json"
    document.write_text(
        '{"values": {"gpu_model": "H100", "gpu_count": 8, "reserved_hours": 1.0e-400},\n'
        ' "source": "1e-400 as written"}'
    )
    done = cli("estimate", document)
    assert done.returncode == 2
    assert "reserved_hours: 1.0e-400 must be greater than 0 h" in done.stderr, done.stderr
    document = tmp_path / "doc.yaml"
    document.write_text("values:\n  gpu_model: H100\n  gpu_count: 8\n  reserved_hours: 1.0e-400\n")
    done = cli("estimate", document)
    assert done.returncode == 2
    assert "reserved_hours: 1.0e-400 must be greater than 0 h" in done.stderr, done.stderr
    document.write_text("values:\n  gpu_model: H100\n  gpu_count: -1e-400\n  reserved_hours: 10\n")
    done = cli("estimate", document)
    assert "gpu_count: -1e-400 is below the minimum 1" in done.stderr, done.stderr
    case = Path(__file__).parent.parent / "fixtures" / "case_c_seed_disclosure.yaml"
    done = cli("what-if", case, "--set", "reserved_hours=3e-500")
    assert done.returncode == 2
    assert "reserved_hours: 3e-500 must be greater than 0 h" in done.stderr, done.stderr


def test_a_float_read_from_text_keeps_its_text_only_where_no_float_shows_it() -> None:
    """``read_float``: the nearest float, plain, for every number a float holds (a
    subnormal one too, and zero written as zero); a ``Written`` float for the others."""
    import pickle

    from tuneprint.core.values import Written, parse_number, read_float

    for text in ("0.5", "1e-310", "0e5", "0.000", "-0.0", "1.7976931348623157e308"):
        assert type(read_float(text)) is float and read_float(text) == float(text)
    for text, number in (("1e309", math.inf), ("-2E400", -math.inf), ("1e-400", 0.0),
                         ("-0.5e-999", -0.0), ("0.00001e-330", 0.0)):  # fmt: skip
        read = read_float(text)
        assert isinstance(read, Written) and read == number and repr(read) == text
        assert repr(pickle.loads(pickle.dumps(read))) == text  # (to a worker and back)
    assert repr(parse_number("1_0e-400")) == "10e-400"  # (as the reader reads it)
    from tuneprint.load.yamlio import parse_json, parse_yaml

    for parse in (parse_json, parse_yaml):
        assert type(parse('{"n": 1e-400}', "x")["n"]) is float  # (a rule's: plain)
        assert repr(parse('{"n": 1e-400}', "x", written_numbers=True)["n"]) == "1e-400"


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("2016-12-31T23:59:60Z", "(a leap second, :60, is not a time here: write :59)"),
        ("2024-03-01T24:00", "(the end of a day is written as the next day's 00:00, not 24:00)"),
        ("2023-02-29", "(February 2023 has 28 days)"),
        ("2024-04-31", "(April 2024 has 30 days)"),
        ("2024-13", "(a month is 01 to 12)"),
        ("2024-01-01T10:61", "(a minute is 00 to 59)"),
        ("2024-01-01 25:00", "(an hour is 00 to 23)"),
        ("0000-01-01", "(a year is 0001 to 9999)"),
    ],
)
def test_a_date_out_of_range_is_told_which_part(tmp_path: Path, written: str, why: str) -> None:
    """A date written in the ISO form that is no date says which part is out of range, in
    the per-disclosure reader and the batch alike."""
    source = tmp_path / "in.csv"
    source.write_text(f"id,gpu_model,gpu_count,reserved_hours,start_time\na,A100,2,10,{written}\n")
    expected = (
        "start_time: expected an ISO date like 2024-07-06 or 2024-07-06T17:01, "
        f"got '{written}' {why}"
    )
    assert expected in cli("estimate", source).stderr
    out = tmp_path / "out.jsonl"
    assert cli("batch", source, out, "-q").returncode == 0
    (error,) = formats.read_output(out).column("error").to_pylist()
    assert json.loads(error)[0]["message"] == expected.split(": ", 1)[1]


def test_an_id_is_read_alike_in_every_format(tmp_path: Path) -> None:
    """An id without its spaces, and one longer than a cell may be refused, whether the
    rows come as CSV, JSON Lines or Parquet (JSON Lines kept the spaces and took any
    length; Parquet took any length)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [" spaced ", "x" * 1500, "plain"]
    values = {"gpu_model": "A100 80GB", "gpu_count": 2, "reserved_hours": 10}
    written = tmp_path / "in.csv"
    written.write_text(
        "id,gpu_model,gpu_count,reserved_hours\n" + "".join(f'"{i}",A100 80GB,2,10\n' for i in ids)
    )
    lines = tmp_path / "in.jsonl"
    lines.write_text("".join(json.dumps({"id": i, "values": values}) + "\n" for i in ids))
    typed = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ids, **{k: [v] * 3 for k, v in values.items()}}), typed)
    seen = []
    for source in (written, lines, typed):
        out = tmp_path / f"out-{source.suffix[1:]}.jsonl"
        assert cli("batch", source, out, "-q").returncode == 0
        rows = formats.read_output(out).to_pylist()
        seen.append([(r["id"], r["error"] is None) for r in rows])
        assert "the limit is 1000" in str(rows[1]["error"])
    assert (
        seen[0] == seen[1] == seen[2] == [("spaced", True), ("x" * 1500, False), ("plain", True)]
    )


def test_explain_tells_a_row_cell_that_is_not_a_number_at_its_line(tmp_path: Path) -> None:
    """A CSV output whose row cell was edited to "2.5" or "x": one message at the cell's
    line, in the words of the other refusals of an output (it was Arrow's own)."""
    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100,2,10\nb,A100,4,10\n")
    out = tmp_path / "out.csv"
    assert cli("batch", source, out, "-q").returncode == 0
    lines = out.read_text().splitlines(keepends=True)
    for cell in ("2.5", "x"):
        edited = tmp_path / f"edited-{cell}.csv"
        edited.write_text(lines[0] + lines[1] + cell + lines[2][1:])
        done = cli("explain", edited, "--row", "2")
        assert done.returncode == 2
        assert done.stderr == (
            f"error: {edited}:3: row: not an output of tuneprint batch: a row cell "
            f"'{cell}' that is not a row's number\n"
        ), done.stderr


def test_ctrl_c_while_the_command_loads_is_aborted_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C before the command takes it (while its modules load) ends as one taken later
    does: "aborted", exit 130."""
    import tuneprint.cli as command

    def interrupted(argv: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run", interrupted)
    with pytest.raises(SystemExit) as ended:
        command.main()
    assert ended.value.code == 130
    assert capsys.readouterr().err == "aborted\n"


INTERRUPTED_WORKERS = """
import os, signal, sys, threading
import concurrent.futures

Pool = concurrent.futures.ProcessPoolExecutor


class Interrupted(Pool):  # Ctrl-C at a terminal while the workers load their modules
    def submit(self, *args, **options):
        future = super().submit(*args, **options)
        if not getattr(self, "interrupting", False):
            self.interrupting = True
            threading.Timer(0.05, os.killpg, (os.getpgid(0), signal.SIGINT)).start()
        return future


concurrent.futures.ProcessPoolExecutor = Interrupted
from tuneprint.cli import run

if __name__ == "__main__":  # (not in the workers' processes, which import this file)
    sys.exit(run(["batch", sys.argv[1], sys.argv[2], "--workers", "2", "-q"]))
"""


def test_ctrl_c_to_the_whole_group_while_workers_start_is_one_aborted(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches `--workers` processes too, even while they load their
    modules (each printed a traceback then): they are started ignoring it, and the run
    stops with "aborted" alone."""
    source = tmp_path / "in.csv"
    with open(source, "w") as handle:
        handle.write("id,gpu_model,gpu_count,reserved_hours\n")
        handle.writelines(f"r{i},A100 80GB,{1 + i % 8},{1 + i % 97}\n" for i in range(300_000))
    stderr = run_interrupted(INTERRUPTED_WORKERS, source, tmp_path / "out.parquet")
    assert stderr == "aborted\n", stderr


def test_more_workers_than_processors_and_an_empty_ruleset_name_are_refused(
    rs: Ruleset, tmp_path: Path
) -> None:
    """--workers beyond the processors the run may use would only wait, each holding its
    chunks (1,000 held 2,000 chunks in memory); --rules "" named the working folder."""
    from tuneprint.batch.run import usable_processors

    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,2,10\n")
    many = usable_processors() + 1
    with pytest.raises(InputError, match=f"expected at most {many - 1}, the processors"):
        run_batch(source, tmp_path / "out.csv", rs, workers=many)
    done = cli("batch", source, tmp_path / "out.csv", "--workers", str(many))
    assert done.returncode == 2 and "error: --workers: expected at most" in done.stderr
    assert not (tmp_path / "out.csv").exists()
    for args in (("batch", source, tmp_path / "o.csv"), ("estimate", source)):
        done = cli(*args, "--rules", "")
        assert done.returncode == 2
        assert "error: ruleset: expected a version or a folder, got ''" in done.stderr


def test_a_stop_as_the_part_beside_the_output_is_made_leaves_no_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM) the moment the file beside the output is made: it is held back
    until the writer knows that file, then stops it, and the file is removed (it was left
    behind when the stop came before the writer held its name)."""
    import signal
    import tempfile

    import pyarrow as pa

    made = tempfile.mkstemp

    def stopped(*args: Any, **options: Any) -> tuple[int, str]:
        found = made(*args, **options)
        signal.raise_signal(signal.SIGINT)
        return found

    monkeypatch.setattr(formats.tempfile, "mkstemp", stopped)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            formats.Writer(tmp_path / "out.csv", pa.schema([("row", pa.int64())]))
    finally:
        signal.signal(signal.SIGINT, before)
    assert list(tmp_path.iterdir()) == []


def test_a_quote_left_open_takes_no_line_after_it(rs: Ruleset, tmp_path: Path) -> None:
    """A cell that opens a quote and does not close it on its line took every line after
    it into one row (20,000 rows lost, the counts saying 2 rows in): its line is now the
    error, naming where the quoted cell runs to, and each line after it is its own row;
    so with a quote closed lines later, past lines that read as rows. A quoted cell
    holding a line break (and no line that reads as a row) is one row, as CSV has it,
    refused by its field."""
    lines = ["id,gpu_model,reserved_hours", "r1,V100,3", 'r2,"V100,3']
    lines += [f"r{i},V100,{i % 9 + 1}" for i in range(3, 20_003)]
    source = tmp_path / "quote.csv"
    source.write_text("\n".join(lines) + "\n")
    counts = run_batch(source, tmp_path / "out.csv", rs)
    assert (counts.rows, counts.ok, counts.errors) == (20_002, 20_001, 1)
    told = rows_of(tmp_path / "out.csv")
    assert [r["id"] for r in told[:4]] == ["r1", "quote:3", "r3", "r4"]
    (problem,) = json.loads(told[1]["error"])
    assert problem["line"] == 3 and "runs on to line 20003" in problem["message"]
    assert "closing quote missing" in problem["message"]
    closed = tmp_path / "closed.csv"  # a quote closed two lines on; a quoted line break
    closed.write_text(
        'id,gpu_model,reserved_hours\nr1,"V100,3\nr2,V100,3\nr3,"V100",3\nr4,"V1\n00",3\n'
    )
    counts = run_batch(closed, tmp_path / "closed.jsonl", rs)
    assert (counts.rows, counts.ok, counts.errors) == (4, 2, 2)
    errors = [r["error"] for r in rows_of(tmp_path / "closed.jsonl")]
    lines_told = [(e if isinstance(e, list) else json.loads(e))[0]["line"] for e in errors if e]
    assert lines_told == [2, 5]  # (the quoted line break: one row, its cell refused)
    assert "control or invisible" in json.dumps(errors[-1])
    read = list(tuneprint.read_batch(closed, rs))  # (the library reads it so too)
    assert [isinstance(r, InputError) for r in read] == [True, False, False, True]


@pytest.mark.parametrize("first", ["\n", "   \n", "\ufeff\r\n", "\t,\n"])
def test_a_blank_first_line_is_the_headers_error(first: str, rs: Ruleset, tmp_path: Path) -> None:
    """A blank first line (or one of spaces, a byte-order mark, blank cells) made the
    header a row and the batch wrote its rows: it is one message naming line 1, exit 2,
    no output."""
    source = tmp_path / "blank.csv"
    source.write_text(first + "id,gpu_model,reserved_hours\nr1,V100,3\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tuneprint", "batch", str(source), str(tmp_path / "o.csv")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{source}:1: " in done.stderr and "Traceback" not in done.stderr
    assert "first line is blank" in done.stderr or "has no name" in done.stderr
    assert not (tmp_path / "o.csv").exists()


def test_a_damaged_parquet_page_is_told_on_one_line(rs: Ruleset, tmp_path: Path) -> None:
    """A page header that cannot be read: Arrow's words (several lines) are one line of
    the message, not line feeds written as escapes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "damaged.parquet"
    rows = 5000
    table = pa.table({"id": [f"r{i}" for i in range(rows)], "gpu_model": ["V100"] * rows,
                      "reserved_hours": [float(i % 9 + 1) for i in range(rows)]})  # fmt: skip
    pq.write_table(table, source, row_group_size=1000, compression="none")
    data = bytearray(source.read_bytes())
    data[4:10] = b"\xff" * 6  # (the first page's header)
    source.write_bytes(bytes(data))
    done = subprocess.run(
        [sys.executable, "-m", "tuneprint", "batch", str(source), str(tmp_path / "o.csv")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "\\x0a" not in done.stderr, done.stderr
    assert f"{source}: cannot read its rows after row 0: " in done.stderr


DECIMALS = [
    (pa.decimal128(38, 10), ["2.675", "0.7", "10.5", "3"]),
    (pa.decimal256(60, 30), ["0.3", "0.7", "48.5", "1.1"]),
    (pa.decimal128(12, 3), ["2.675", "0.001", "99999.999", "7"]),
]


@pytest.mark.parametrize(("kind", "texts"), DECIMALS, ids=lambda v: str(v))
def test_decimal_columns_are_read_as_float_reads_their_digits(
    kind: Any, texts: list[str], rs: Ruleset, tmp_path: Path
) -> None:
    """A decimal column (Parquet, pandas from SQL) gives each number as ``float()`` reads
    its decimal digits, correctly rounded, as the per-disclosure engine and a CSV cell
    do: Arrow's cast of decimals to floats is not correctly rounded (2.675 became
    2.6750000000000003, 0.3 of 30 places 0.30000000000000004)."""
    n = len(texts)
    table = pa.table(
        {
            **{k: [v] * n for k, v in RUN.items()},
            "gpu_count": [8] * n,
            "reserved_hours": pa.array([Decimal(t) for t in texts], kind),
        }
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    outs = {}
    for engine in ("vector", "rows"):
        run_batch(path, tmp_path / f"{engine}.parquet", rs, engine=engine)
        outs[engine] = pq.read_table(tmp_path / f"{engine}.parquet")
        hours = outs[engine].column("reserved_hours").to_pylist()
        assert hours == [float(Decimal(t)) for t in texts], engine
    assert outs["vector"].drop_columns(["row"]).equals(outs["rows"].drop_columns(["row"]))
    framed = estimate_table(table, rs)
    assert framed.column("reserved_hours").to_pylist() == [float(Decimal(t)) for t in texts]


VIEWS = {"string_view": pa.string(), "binary_view": pa.binary()}


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("engine", ["vector", "rows"])
def test_view_columns_with_a_cell_refused_give_that_row_its_error(
    view: str, engine: str, rs: Ruleset, tmp_path: Path
) -> None:
    """Text or bytes as views (Polars' types, kept in a Parquet file's schema) with a cell
    refused: that row is an error, and every row as the same cells of text (or bytes, a
    name's every row refused) give it. Taking the refused cells from a view column
    stopped the whole batch ('array_take' has no kernel for views)."""
    kind = getattr(pa, view)()

    def table_of(kind: Any) -> Any:
        return pa.table(
            {
                "id": pa.array(["a", "b", "c"]).cast(kind),
                "gpu_model": pa.array(["A100 80GB", "GPX 9000", "H100"]).cast(kind),
                "gpu_count": [8, 8, 2],
                "reserved_hours": [10.0, 10.0, 5.0],
                "cloud_region": ["us-west-2"] * 3,
            }
        )

    for given, name in ((kind, "view"), (VIEWS[view], "plain")):
        pq.write_table(table_of(given), tmp_path / f"{name}.parquet")
    assert pq.read_table(tmp_path / "view.parquet").schema.field("gpu_model").type == kind
    counts = {}
    for name in ("view", "plain"):
        counts[name] = run_batch(
            tmp_path / f"{name}.parquet", tmp_path / f"{name}-out.parquet", rs, engine=engine
        )
    out = pq.read_table(tmp_path / "view-out.parquet")
    same = pq.read_table(tmp_path / "plain-out.parquet")
    tallies = {k: (c.rows, c.ok, c.errors) for k, c in counts.items()}
    assert tallies["view"] == tallies["plain"] and counts["view"].rows == 3
    assert out.column("id").to_pylist() == ["a", "b", "c"]
    errors = [None if e is None else json.loads(e)[0]["message"] for e in out["error"].to_pylist()]
    assert errors == [
        None if e is None else json.loads(e)[0]["message"] for e in same["error"].to_pylist()
    ]
    if view == "string_view":
        assert (counts["view"].ok, counts["view"].errors) == (2, 1)
        assert "unknown gpus name 'GPX 9000'" in errors[1]
    framed = estimate_table(table_of(kind), rs, engine=engine).column("error").to_pylist()
    assert [None if e is None else json.loads(e)[0]["message"] for e in framed] == errors


@pytest.mark.parametrize("engine", ["vector", "rows"])
def test_run_end_encoded_columns_are_their_values(engine: str, rs: Ruleset) -> None:
    """Run-end encoded columns (of numbers or of text) give the values they encode, as
    the same plain columns do; a run-end encoded column raised Arrow's own error."""
    counts = pa.RunEndEncodedArray.from_arrays(pa.array([2, 3], pa.int32()), pa.array([8, 4]))
    gpus = pa.RunEndEncodedArray.from_arrays(
        pa.array([1, 3], pa.int32()), pa.array(["A100 80GB", "GPX 9000"])
    )
    encoded = pa.table(
        {"gpu_model": gpus, "gpu_count": counts, "reserved_hours": [10.0, 20.0, 5.0],
         "cloud_region": ["us-west-2"] * 3}
    )  # fmt: skip
    plain = pa.table(
        {"gpu_model": ["A100 80GB", "GPX 9000", "GPX 9000"], "gpu_count": [8, 8, 4],
         "reserved_hours": [10.0, 20.0, 5.0], "cloud_region": ["us-west-2"] * 3}
    )  # fmt: skip
    got = estimate_table(encoded, rs, engine=engine)
    assert got.equals(estimate_table(plain, rs, engine=engine))
    assert got.column("gpu_count").to_pylist()[0] == 8 and got.column("error").null_count == 1


ID_KINDS = {
    "dictionary": lambda ids: pa.array(ids).dictionary_encode(),
    "binary": lambda ids: pa.array([i.encode() for i in ids], pa.binary()),
    "large_binary": lambda ids: pa.array([i.encode() for i in ids], pa.large_binary()),
    "string_view": lambda ids: pa.array(ids).cast(pa.string_view()),
    "large_string": lambda ids: pa.array(ids, pa.large_string()),
}


@pytest.mark.parametrize("kind", sorted(ID_KINDS))
@pytest.mark.parametrize("engine", ["vector", "rows"])
def test_an_id_over_the_limit_is_its_rows_error_whatever_its_column_type(
    kind: str, engine: str, rs: Ruleset, tmp_path: Path
) -> None:
    """An id of more than 1,000 characters is its row's error in every format and every
    column type, in both engines: as dictionary text (a pandas categorical), bytes or
    views the vectorised engine took it, and the two engines' counts differed."""
    ids = ["a", "b" * 2000, "c"]
    table = pa.table({"id": ID_KINDS[kind](ids), **{k: [v] * 3 for k, v in RUN_VALUES.items()}})
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    counts = run_batch(path, tmp_path / "out.parquet", rs, engine=engine)
    assert (counts.rows, counts.ok, counts.errors) == (3, 2, 1)
    error = pq.read_table(tmp_path / "out.parquet").column("error").to_pylist()[1]
    assert "an id of 2000 characters; the limit is 1000" in error
    framed = estimate_table(table, rs, engine=engine)
    assert framed.column("error").null_count == 2


@pytest.mark.parametrize("engine", ["vector", "rows", "dask"])
def test_a_page_whose_checksum_fails_is_one_error_and_no_output(
    engine: str, rs: Ruleset, tmp_path: Path
) -> None:
    """A file written with its pages' checksums, one data page damaged: the batch stops
    with one error naming the file, and writes nothing. Unchecked, the damaged page's
    numbers were read as others (73 rows of 50,000 with another time, exit 0); the
    checksums are checked as the pages are read."""
    if engine == "dask":
        pytest.importorskip("distributed")
    n = 5000
    hours = [float(i % 100 + 1) for i in range(n)]
    table = pa.table({"id": [f"r{i}" for i in range(n)], "gpu_model": ["A100 80GB"] * n,
                      "gpu_count": [8] * n, "reserved_hours": hours})  # fmt: skip
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole, row_group_size=1000, compression="none", write_page_checksum=True)
    data = bytearray(whole.read_bytes())
    at = pq.read_metadata(whole).row_group(2).column(3).data_page_offset
    data[at + 200 : at + 264] = b"\x00" * 64  # (within the page's values)
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(data))
    target = tmp_path / "out.parquet"
    with pytest.raises(InputError) as caught:
        run_batch(damaged, target, rs, engine=engine)
    assert "CRC checksum verification failed" in str(caught.value)
    # the rows before the damaged row group's, though the batch of rows that failed
    # began at the first (a chunk spans groups)
    assert "cannot read its rows after row 2000: " in str(caught.value)
    assert str(damaged) in str(caught.value) and not target.exists()
    counts = run_batch(whole, target, rs, engine=engine)  # (the file as written: read whole)
    assert (counts.rows, counts.errors) == (n, 0)


@pytest.mark.parametrize("end", ["", "\n"])
@pytest.mark.parametrize("engine", ["vector", "rows"])
def test_a_quote_the_files_end_closes_is_its_rows_error(
    end: str, engine: str, rs: Ruleset, tmp_path: Path
) -> None:
    """A quote opened on the last line and never closed: Python's reader takes the cell
    as it stands at the file's end (the row was estimated with 10 hours, no error); the
    row is now its line's error, as a quote left open on an earlier line is. A quote
    closed, and a doubled quote within a quoted cell, are read as CSV has them."""
    source = tmp_path / "open.csv"
    source.write_text(
        'id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,8,10\nc,A100 80GB,8,"10' + end
    )
    counts = run_batch(source, tmp_path / "out.csv", rs, engine=engine)
    assert (counts.rows, counts.ok, counts.errors) == (2, 1, 1)
    (problem,) = json.loads(rows_of(tmp_path / "out.csv")[1]["error"])
    assert problem["line"] == 3
    assert "the file ends before its closing quote" in problem["message"]
    closed = tmp_path / "closed.csv"
    closed.write_text(
        'id,gpu_model,gpu_count,reserved_hours\na,"A100 80GB",8,"10"\nb,x""y,8,10' + end
    )
    counts = run_batch(closed, tmp_path / "closed.jsonl", rs, engine=engine)
    assert (counts.rows, counts.ok) == (2, 1)
    (problem,) = json.loads(rows_of(tmp_path / "closed.jsonl")[1]["error"])
    assert "unknown gpus name 'x\"\"y'" in problem["message"]  # (an unquoted cell: as written)


def test_an_output_that_is_a_loop_of_links_is_refused_and_left(
    rs: Ruleset, tmp_path: Path
) -> None:
    """An output named through links that lead round to themselves is one error naming
    it, and the links stay: it was replaced by a regular file, without a word."""
    first, second = tmp_path / "loop1.csv", tmp_path / "loop2.csv"
    first.symlink_to(second.name)
    second.symlink_to(first.name)
    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,8,10\n")
    done = cli("batch", source, first)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "cannot write" in done.stderr
    assert str(first) in done.stderr and "symbolic links" in done.stderr
    assert first.is_symlink() and second.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "loop1.csv", "loop2.csv"]


def test_a_quoted_cell_that_goes_on_after_its_quote_is_its_rows_error(tmp_path: Path) -> None:
    """A cell written "8"0 (read as 80 by a lenient reader) or "A100" ,8 (a space after the
    quote: "A100 ") is not as it was meant: its row is an error naming its line, its id
    kept (as its cells read); a quote written as two inside a quoted cell is a quote; the
    other rows go on, in the batch and in estimate alike."""
    source = tmp_path / "in.csv"
    source.write_text(
        "id,gpu_model,gpu_count,reserved_hours\n"
        'a,"H100"x,8,10\n'
        'b,H100,"8"0,10\n'
        'c,"A100 80GB" ,8,10\n'
        'd,"H100",8,"1""0"\n'
        'e,"H100",8,10\n'
        '"f"g,H100,8,10\n'
    )
    out = tmp_path / "out.jsonl"
    assert cli("batch", source, out, "-q").returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d", "e", "fg"]  # (as the cells read)
    stray = [r["row"] for r in rows if r["error"] and "goes on after its closing quote" in (
        r["error"][0]["message"])]  # fmt: skip
    assert stray == [2, 3, 4, 7], rows  # (a row's number is its line)
    assert [r["error"][0]["line"] for r in rows if r["row"] in stray] == stray
    assert rows[3]["error"][0]["field"] == "reserved_hours"  # 1"0: not a number
    assert rows[4]["error"] is None and rows[4]["values"]["gpu_count"]["value"] == 8
    done = cli("estimate", source)
    assert done.returncode == 2
    assert f"{source}:3: a quoted cell goes on after its closing quote" in done.stderr
