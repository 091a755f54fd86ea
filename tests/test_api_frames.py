"""estimate_table on data frames of Python objects and on arguments it does not take:
times of several zones, columns mixing kinds of cells, whole numbers beyond 64 bits,
pandas' empty cells, frames without columns, tables of other kinds and unknown engines,
Polars' 128-bit and object columns, pandas periods. Each cell is read as its own value,
as ``tuneprint.estimate`` reads it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

import tuneprint  # noqa: E402
from tuneprint.batch import estimate_table  # noqa: E402
from tuneprint.core.model import Ruleset  # noqa: E402
from tuneprint.core.problems import InputError  # noqa: E402

RUN = {
    "base_model": "Llama 2 13B",
    "gpu_model": "A100 80GB",
    "gpu_count": 8,
    "cloud_region": "us-west-2",
    "reserved_hours": 48.5,
}
TOTAL = "total_emissions_kgco2e"


@pytest.fixture(scope="module")
def rs() -> Ruleset:
    return tuneprint.load_ruleset(None)


def frame(column: str, cells: list[Any]) -> Any:
    """A pandas frame of one row per cell, ``column`` an object column of those cells."""
    df = pd.DataFrame([RUN] * len(cells))
    df[column] = pd.Series(cells, dtype=object)
    return df


def problems(out: Any) -> list[list[dict[str, Any]] | None]:
    return [json.loads(e) if e else None for e in out.column("error").to_pylist()]


def estimated(values: dict[str, Any], rs: Ruleset) -> float:
    return float(tuneprint.estimate({"values": values}, rs).value(TOTAL))


def test_times_of_several_zones_are_each_their_own_local_time(rs: Ruleset) -> None:
    """A naive time then times of two zones: each read as the time it was there (not all
    moved to the first one's zone), as the per-disclosure reader reads its ISO text."""
    plus1 = dt.timezone(dt.timedelta(hours=1))
    minus5 = dt.timezone(dt.timedelta(hours=-5))
    cells = [
        dt.datetime(2023, 7, 18),
        dt.datetime(2024, 1, 1, 0, 30, tzinfo=plus1),
        dt.datetime(2023, 12, 31, 22, 0, tzinfo=minus5),
    ]
    out = estimate_table(frame("start_time", cells), rs).to_pylist()
    assert [r["error"] for r in out] == [None] * 3
    assert [r["start_year"] for r in out] == [2023, 2024, 2023]
    assert out[1]["start_time"] == dt.datetime(2024, 1, 1, 0, 30)
    for row, cell in zip(out, cells, strict=True):
        assert row[TOTAL] == estimated({**RUN, "start_time": cell.isoformat()}, rs)


def test_a_column_mixing_kinds_reads_each_cell_as_its_own_value(rs: Ruleset) -> None:
    """Not as Arrow's guess from the first cell: a number after a time, after a duration;
    text after binary data; a time after a date (not cut to midnight)."""
    fine = estimated(RUN, rs)
    out = estimate_table(frame("gpu_count", [dt.datetime(2020, 1, 1), 8]), rs)
    first, second = problems(out)
    assert first is not None and "got '2020-01-01T00:00:00'" in first[0]["message"]
    assert second is None and out.column(TOTAL)[1].as_py() == fine
    hours = {**RUN, "reserved_hours": 3}
    out = estimate_table(frame("reserved_hours", [dt.timedelta(hours=1), 3]), rs)
    first, second = problems(out)
    assert first is not None and first[0]["field"] == "reserved_hours"
    assert second is None and out.column(TOTAL)[1].as_py() == estimated(hours, rs)
    out = estimate_table(frame("cloud_region", [b"us-west-2", "us-west-2"]), rs)
    first, second = problems(out)
    assert first is not None and "binary data (9 bytes)" in first[0]["message"]
    assert second is None and out.column(TOTAL)[1].as_py() == fine
    cells = [dt.date(2023, 7, 18), dt.datetime(2024, 1, 1, 0, 30)]
    out = estimate_table(frame("start_time", cells), rs)
    assert out.column("start_time").to_pylist() == [dt.datetime(2023, 7, 18), cells[1]]
    assert problems(out) == [None, None]


def test_whole_numbers_beyond_64_bits_are_a_bounds_error_of_their_row(rs: Ruleset) -> None:
    for big in (2**64, 10**30):
        out = estimate_table(frame("gpu_count", [8, big]), rs)
        first, second = problems(out)
        assert first is None
        with pytest.raises(tuneprint.TuneprintError) as raised:
            tuneprint.estimate({"values": {**RUN, "gpu_count": big}}, rs)
        assert second is not None and second[0]["code"] == "bounds"
        assert second[0]["message"] == raised.value.problems[0].message
        assert second[0]["line"] == 2


def test_pandas_empty_cells_are_not_disclosed_in_mixed_columns(rs: Ruleset) -> None:
    """pd.NA and pd.NaT mean what None means, in a column mixing kinds too."""
    for column, cells in [
        ("gpu_count", [8, "8", pd.NA]),
        ("start_time", [pd.NaT, "2023-07-18", 5]),
        ("cloud_region", [pd.NA, "us-west-2", 5]),
    ]:
        with_none = [None if c is pd.NA or c is pd.NaT else c for c in cells]
        got = estimate_table(frame(column, cells), rs).drop_columns(["provenance"])
        expected = estimate_table(frame(column, with_none), rs).drop_columns(["provenance"])
        assert got.to_pylist() == expected.to_pylist()
        missing = [c is pd.NA or c is pd.NaT for c in cells].index(True)
        row = got.to_pylist()[missing]
        assert row["error"] is None or ("<NA>" not in row["error"] and "NaT" not in row["error"])


def test_a_pandas_frame_of_no_columns_keeps_its_rows(rs: Ruleset) -> None:
    out = estimate_table(pd.DataFrame(index=range(3)), rs)
    arrow = estimate_table(pa.table({"a": [1, 2, 3]}).drop_columns(["a"]), rs)
    assert out.num_rows == 3 and out.equals(arrow)
    assert all(e is not None for e in out.column("error").to_pylist())


def test_a_record_batch_is_a_table_and_other_arguments_are_refused(rs: Ruleset) -> None:
    batch = pa.RecordBatch.from_pylist([RUN, RUN])
    assert estimate_table(batch, rs).equals(estimate_table(pa.Table.from_batches([batch]), rs))
    for engine in ("vectr", "dask", None):
        with pytest.raises(InputError, match="expected 'vector' or 'rows'") as raised:
            estimate_table(pd.DataFrame([RUN]), rs, engine=engine)  # type: ignore[arg-type]
        assert raised.value.problems[0].code == "option"
    for odd in ([RUN], RUN, pd.Series([8]), pl.DataFrame([RUN]).lazy(), pl.Series([8]), 5):
        with pytest.raises(InputError, match="expected a pyarrow Table or RecordBatch, or a"):
            estimate_table(odd, rs)
    with pytest.raises(InputError, match="chunk_rows: expected a whole number >= 1"):
        estimate_table(pa.Table.from_batches([batch]), rs, chunk_rows=0)


def test_polars_128_bit_and_object_columns_and_pandas_periods(rs: Ruleset) -> None:
    fine = estimated(RUN, rs)
    wide = pl.DataFrame([RUN, {**RUN, "gpu_count": 2**64}])
    wide = wide.with_columns(pl.col("gpu_count").cast(pl.Int128))
    out = estimate_table(wide, rs)
    first, second = problems(out)
    assert first is None and out.column(TOTAL)[0].as_py() == fine
    assert second is not None and second[0]["code"] == "bounds"
    narrow = estimate_table(
        pl.DataFrame([RUN]).with_columns(pl.col("gpu_count").cast(pl.Int128)), rs
    )
    assert narrow.column(TOTAL).to_pylist() == [fine]
    objects = pl.DataFrame([RUN]).with_columns(pl.Series("gpu_count", [8], dtype=pl.Object))
    assert estimate_table(objects, rs).column(TOTAL).to_pylist() == [fine]
    for period, freq in [("2023-07", "M"), ("2023-07-18", "D")]:  # (as their text reads)
        periods = pd.period_range(period, periods=2, freq=freq).insert(1, pd.NaT)
        out = estimate_table(pd.DataFrame([RUN] * 3).assign(start_time=periods), rs)
        assert problems(out) == [None] * 3
        assert out.column(TOTAL)[0].as_py() == estimated({**RUN, "start_time": period}, rs)
        assert out.column(TOTAL)[1].as_py() == fine


def test_explain_row_takes_a_path_as_text_and_refuses_other_arguments_plainly(
    rs: Ruleset, tmp_path: Any
) -> None:
    """explain_row rebuilds a row from a path given as text or Path, with the ruleset as
    a Ruleset or a version; a row given as text, a float or a bool, and arguments of other
    kinds, are one InputError each naming the argument; a missing file is "cannot read"."""
    from pathlib import Path

    from tuneprint.batch import explain_row, run_batch

    source = tmp_path / "in.csv"
    source.write_text("id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,2,10\n")
    out = tmp_path / "out.csv"
    run_batch(source, out, rs)
    total = "total_emissions_kgco2e"
    expected = tuneprint.estimate(
        {"gpu_model": "A100 80GB", "gpu_count": 2, "reserved_hours": 10}, rs
    ).value(total)
    assert explain_row(str(out), 2, total).value(total) == expected
    assert explain_row(out, 2, None, rs.version).value(total) == expected
    for args, named in [
        ((out, "2"), "row: expected a whole number"),
        ((out, 2.0), "row: expected a whole number"),
        ((out, True), "row: expected a whole number"),
        ((5, 2), "path: expected the path"),
        ((out, 2, 3), "field: expected a field's name"),
        ((out, 2, None, 3), "ruleset: expected a Ruleset"),
        ((Path(tmp_path / "none.csv"), 2), "cannot read file: No such file"),
        ((tmp_path, 2), "is a folder, not a file"),
    ]:
        with pytest.raises(InputError, match=named):
            explain_row(*args)  # type: ignore[arg-type]


def test_a_pandas_index_named_id_is_the_id_column(rs: Ruleset) -> None:
    """A frame indexed by its ids (``set_index("id")``) keeps them; another index is not
    read."""
    pd = pytest.importorskip("pandas")
    cells = {"id": ["a", "b"], "gpu_model": ["A100 80GB"] * 2, "gpu_count": [2, 4],
             "reserved_hours": [10.0, 20.0]}  # fmt: skip
    indexed = estimate_table(pd.DataFrame(cells).set_index("id"), rs)
    assert indexed.column("id").to_pylist() == ["a", "b"]
    other = pd.DataFrame(cells).drop(columns="id").set_index(pd.Index(["x", "y"], name="run"))
    assert estimate_table(other, rs).column("id").to_pylist() == ["table:1", "table:2"]


def test_a_pandas_index_of_fields_is_read_as_their_columns(rs: Ruleset) -> None:
    """Levels of the index named as fields are read as columns are (before, they were
    left out without a word: an indexed V100 was estimated as the assumed A100), with an
    id level or without; a level named as a column too is refused, naming it."""
    pd = pytest.importorskip("pandas")
    cells = {"id": ["a", "b"], "gpu_model": ["V100", "H100"], "gpu_count": [2, 4],
             "reserved_hours": [48.5, 20.0]}  # fmt: skip
    frame = pd.DataFrame(cells)
    plain = estimate_table(frame, rs).to_pylist()
    assert [r["gpu_model"] for r in plain] == ["nvidia-v100-sxm2-16gb", "nvidia-h100-sxm5-80gb"]
    for levels in ("gpu_model", "gpu_count", ["id", "gpu_model"], ["gpu_model", "gpu_count"]):
        indexed = estimate_table(frame.set_index(levels), rs).to_pylist()
        for row, want in zip(indexed, plain, strict=True):
            assert {k: row[k] for k in want if k != "row"} == {
                k: v for k, v in want.items() if k != "row"
            }, levels
    twice = frame.set_index("gpu_model")
    twice["gpu_model"] = ["A100 80GB", "A100 80GB"]
    with pytest.raises(InputError, match="gpu_model: is both a level of the index and a column"):
        estimate_table(twice, rs)
    levels = frame.set_index(["gpu_model", "gpu_count"])
    levels.index = levels.index.set_names(["gpu_model", "gpu_model"])  # (and no such column)
    with pytest.raises(InputError, match="gpu_model: names 2 levels of the index"):
        estimate_table(levels, rs)


def test_an_id_is_text_or_a_number_in_every_typed_column(rs: Ruleset, tmp_path: Any) -> None:
    """Typed id cells (Parquet, frames): text, bytes of UTF-8, numbers (a whole float
    written whole, NaN blank) and times are ids; a flag, a list, a mapping, bytes that are
    not UTF-8 are their rows' errors, by both engines (before: Python's printed form, or
    U+FFFD for the bytes, and no error), in typed and in object columns alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tuneprint.batch.run import run_batch

    pd = pytest.importorskip("pandas")
    MAP = pa.map_(pa.string(), pa.string())  # (a map of text to text)
    ok = {"gpu_model": ["V100", "V100"], "reserved_hours": [3.0, 4.0]}
    cases = [
        (pa.array([["a"], ["b"]]), [None, None], "not a list"),
        (pa.array([{"x": 1}, {"x": 2}]), [None, None], "not a mapping"),
        (pa.array([[("k", "v")], [("k", "w")]], MAP), [None, None], "not a mapping"),
        (pa.array([b"\xff", b"ok"], pa.binary()), [None, "ok"], "not UTF-8 text"),
        (pa.array([True, False]), [None, None], "not a flag"),
        (pa.array([1.0, float("nan")]), ["1", None], None),
        (pa.array([1.5, 7.0]), ["1.5", "7"], None),
        (pa.array([dt.date(2024, 1, 2), None]), ["2024-01-02", None], None),
        (pa.array([7, 8]), ["7", "8"], None),
    ]
    for ids, want, refused in cases:
        table = pa.table({"id": ids, **ok})
        pq.write_table(table, tmp_path / "in.parquet")
        outs = [estimate_table(table, rs, engine=e).to_pylist() for e in ("vector", "rows")]
        for engine in ("vector", "rows"):
            run_batch(tmp_path / "in.parquet", tmp_path / "out.parquet", rs, engine=engine)
            outs.append(pq.read_table(tmp_path / "out.parquet").to_pylist())
        assert outs[0] == outs[1] and outs[2] == outs[3]  # (each engine: the same rows)
        assert [r["id"].replace("in:", "table:") for r in outs[2]] == [r["id"] for r in outs[0]]
        for k, (row, text) in enumerate(zip(outs[0], want, strict=True)):
            blank = row["id"] in (f"table:{k + 1}", f"in:{k + 1}")
            assert row["id"] == text or (text is None and blank), (ids, row["id"])
            if refused is not None and text is None:
                assert refused in json.loads(row["error"])[0]["message"], row["error"]
                assert json.loads(row["error"])[0]["field"] == "id"
            else:
                assert row["error"] is None, row["error"]
    cells = {"id": ["a"], "gpu_model": pa.array([[("k", "v")]], MAP), "reserved_hours": [3.0]}
    mapped = pa.table(cells)
    for engine in ("vector", "rows"):  # (a map column's cell is a mapping, not a list)
        (row,) = estimate_table(mapped, rs, engine=engine).to_pylist()
        assert "a mapping is not a value" in json.loads(row["error"])[0]["message"]
    mixed = pd.DataFrame({"id": pd.Series([["a"], "b", True, b"\xff", 2.0], dtype=object),
                          "gpu_model": ["V100"] * 5, "reserved_hours": [3.0] * 5})  # fmt: skip
    for engine in ("vector", "rows"):
        rows = estimate_table(mixed, rs, engine=engine).to_pylist()
        assert [r["id"] for r in rows] == ["table:1", "b", "table:3", "table:4", "2"]
        assert [r["error"] is not None for r in rows] == [True, False, True, True, False]
