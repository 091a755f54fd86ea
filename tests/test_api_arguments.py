"""The library's entry points given what they do not take, and rows of tables whose cells
no column holds: one InputError (code "option" for an argument) naming what is wrong,
never Python's own exception, and never a lost item; a row of a table tells every one of
its problems, as ``tuneprint.estimate`` tells them for the same values."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

import tuneprint  # noqa: E402
from tuneprint.batch import estimate_table, run_batch  # noqa: E402
from tuneprint.core.model import Ruleset  # noqa: E402
from tuneprint.core.problems import InputError  # noqa: E402

GOOD = {"gpu_model": "A100 80GB", "gpu_count": 8, "cloud_region": "us-west-2", "reserved_hours": 5}
TOTAL = "total_emissions_kgco2e"


@pytest.fixture(scope="module")
def rs() -> Ruleset:
    return tuneprint.load_ruleset(None)


def _problems(exc: InputError) -> list[tuple[str | None, str]]:
    return [(p.field or p.where, p.message) for p in exc.problems]


def _row_problems(table: Any, row: int) -> list[tuple[str | None, str]]:
    return [
        (p["field"] or p["where"], p["message"]) for p in json.loads(table["error"][row].as_py())
    ]


def _estimate_problems(values: dict[str, Any], rs: Ruleset) -> list[tuple[str | None, str]]:
    with pytest.raises(InputError) as info:
        tuneprint.estimate(values, rs)
    return _problems(info.value)


def test_estimate_many_yields_one_item_for_each_whatever_an_item_is(rs: Ruleset) -> None:
    """An item that is no disclosure (None, a frame's row, a number) is that item's error;
    the items after it are estimated (the iteration stopped at the first)."""
    items = [GOOD, None, GOOD, pd.DataFrame([GOOD]).iloc[0], 7, {**GOOD, "gpu_count": 10**5000}]
    out = list(tuneprint.estimate_many(items, rs))
    assert [type(i).__name__ for i in out] == [
        "Result", "InputError", "Result", "InputError", "InputError", "InputError",
    ]  # fmt: skip
    assert "expected a file's path, a mapping of values or a Disclosure, got NoneType" in str(
        out[1]
    )
    assert "got Series" in str(out[3]) and "got int" in str(out[4])
    assert "the number (about 5001 digits) is too large" in str(out[5])


@pytest.mark.parametrize("given", ["frame", "table", "text", "mapping"])
def test_estimate_many_refuses_what_is_no_sequence_of_disclosures(given: str, rs: Ruleset) -> None:
    """Iterating a frame gives its column names (each was read as a file's path), a text
    its characters, a mapping its keys: each is refused as the argument it is."""
    value = {
        "frame": pd.DataFrame([GOOD, GOOD]),
        "table": pa.Table.from_pylist([GOOD]),
        "text": "in.csv",
        "mapping": GOOD,
    }[given]
    with pytest.raises(InputError) as info:
        list(tuneprint.estimate_many(value, rs))
    (problem,) = info.value.problems
    assert problem.code == "option" and problem.file == "disclosures"
    assert "a table to tuneprint.batch.estimate_table" in problem.message


def test_arguments_of_the_wrong_kind_are_one_option_error_naming_them(rs: Ruleset) -> None:
    result = tuneprint.estimate(GOOD, rs)
    calls = {
        "extra": lambda: tuneprint.estimate(GOOD, rs, extra=("nope",)),
        "field": lambda: result.explain("nope"),
        "provenance": lambda: result.to_json("bogus"),
        "rel_tol": lambda: tuneprint.diff("2.2", "2.6", [GOOD], rel_tol="x"),  # type: ignore[arg-type]
        "abs_tol": lambda: tuneprint.diff("2.2", "2.6", [GOOD], abs_tol=-1.0),
        "ruleset": lambda: tuneprint.estimate(GOOD, 2.6),  # type: ignore[arg-type]
        "source": lambda: run_batch(None, "out.csv", rs),  # type: ignore[arg-type]
    }
    for argument, call in calls.items():
        with pytest.raises(InputError) as info:
            call()
        (problem,) = info.value.problems
        assert (problem.file, problem.code) == (argument, "option"), (argument, problem)
    assert result.explain(TOTAL).startswith(TOTAL)


def test_tables_and_files_take_a_ruleset_by_name_or_none(rs: Ruleset, tmp_path: Path) -> None:
    frame = pd.DataFrame([GOOD])
    by_object = estimate_table(frame, rs)[TOTAL].to_pylist()
    assert estimate_table(frame, "2.6")[TOTAL].to_pylist() == by_object
    assert estimate_table(frame, None)[TOTAL].to_pylist() == by_object
    source = tmp_path / "in.csv"
    source.write_text(",".join(GOOD) + "\n" + ",".join(map(str, GOOD.values())) + "\n")
    counts = run_batch(str(source), str(tmp_path / "out.csv"), "2.6")
    assert (counts.rows, counts.ok) == (1, 1)


@pytest.mark.parametrize("array", [[8], [[8]], [8, 4], []])
def test_a_numpy_array_is_no_value(array: list[Any], rs: Ruleset) -> None:
    """A NumPy scalar is the number it holds; an array of any size is refused, as a list
    is (one of one element was read as that element; others failed inside)."""
    problems = _estimate_problems({**GOOD, "gpu_count": np.array(array)}, rs)
    assert [field for field, _ in problems] == ["values.gpu_count"]  # (the schema's)
    assert "is not a valid value here" in problems[0][1]
    assert tuneprint.estimate({**GOOD, "gpu_count": np.int64(8)}, rs).value("gpu_count") == 8


def test_numpy_times_and_decimals_are_read_as_a_frames_cells_are(rs: Ruleset) -> None:
    """A NumPy date-time is the date-time it holds, to the microsecond (one of nanoseconds
    was read as a whole number), and a Decimal its digits, in a mapping as in a frame's
    object column: both read NumPy's scalars with one function."""
    for start in (
        np.datetime64("2024-01-01T10:00"),
        np.datetime64("2024-01-01T10:00:00.000001"),
        np.datetime64("2024-01-01T10:00:00.000000001"),
    ):
        result = tuneprint.estimate({**GOOD, "start_time": start}, rs, report=True)
        assert result.value("start_year") == 2024
        cells = pd.Series([start], dtype=object)
        table = estimate_table(pd.DataFrame([GOOD]).assign(start_time=cells), rs)
        assert table["start_time"].to_pylist() == [result.value("start_time")]
    decimal = tuneprint.estimate({**GOOD, "reserved_hours": Decimal("10.5")}, rs)
    assert decimal.value("reserved_hours") == 10.5
    cells = pd.Series([Decimal("10.5")], dtype=object)
    table = estimate_table(pd.DataFrame([GOOD]).assign(reserved_hours=cells), rs)
    assert table[TOTAL].to_pylist() == [pytest.approx(decimal.value(TOTAL), rel=1e-12)]


def test_a_whole_number_of_thousands_of_digits_is_its_rows_error(rs: Ruleset) -> None:
    """Python writes no whole number of more than 4,300 digits as text: its size is told
    (the message failed inside, and a frame's column of it failed the whole table)."""
    told = _estimate_problems({**GOOD, "reserved_hours": 10**5000}, rs)
    assert told == [("reserved_hours", "the number (about 5001 digits) is too large")]
    cells = pd.Series([5, 10**5000], dtype=object)
    table = estimate_table(pd.DataFrame([GOOD, GOOD]).assign(reserved_hours=cells), rs)
    assert table["error"][0].as_py() is None
    assert _row_problems(table, 1) == told


def test_a_cell_no_column_holds_is_told_with_the_rows_other_problems(rs: Ruleset) -> None:
    """A complex number in an object column: its row told one problem, "expected a
    number, text, a date or a time", and not the unknown GPU beside it."""
    row = {**GOOD, "gpu_model": "GPX 9000", "reserved_hours": 1j}
    cells = pd.Series([5.0, 1j], dtype=object)
    frame = pd.DataFrame([GOOD, {**GOOD, "gpu_model": "GPX 9000"}]).assign(reserved_hours=cells)
    table = estimate_table(frame, rs)
    assert table["error"][0].as_py() is None
    assert _row_problems(table, 1) == _estimate_problems(row, rs)
    assert [f for f, _ in _row_problems(table, 1)] == ["gpu_model", "reserved_hours"]


def test_a_categorical_column_beside_cells_read_on_their_own(rs: Ruleset) -> None:
    """A row read on its own (an object cell of bytes) beside a categorical column: its
    one-row table had chunked columns, which the categorical's reading did not take."""
    frame = pd.DataFrame(
        {
            "gpu_model": pd.Categorical(["A100 80GB", "A100 80GB"]),
            "gpu_count": [8, 8],
            "reserved_hours": pd.Series([b"10", 5.0], dtype=object),
        }
    )
    table = estimate_table(frame, rs)
    assert _row_problems(table, 0) == [
        ("reserved_hours", "expected a number in h, got binary data (2 bytes)")
    ]
    assert table[TOTAL][1].as_py() > 0


@pytest.mark.parametrize("count", ["08", "four", "9" * 31])
def test_a_text_cell_refused_leaves_the_rows_other_problems_told(count: str, rs: Ruleset) -> None:
    """A text cell no number is read from (a leading zero, more than 30 digits) stopped
    the row's reading: the unknown region beside it was not told, as it is for 'four'."""
    row = {**GOOD, "cloud_region": "mars-1", "reserved_hours": "5", "gpu_count": count}
    table = estimate_table(pd.DataFrame([row]), rs)
    assert _row_problems(table, 0) == _estimate_problems(row, rs)
    assert [f for f, _ in _row_problems(table, 0)] == ["gpu_count", "cloud_region"]
    parquet = estimate_table(pa.Table.from_pylist([row]), rs)
    assert _row_problems(parquet, 0) == _row_problems(table, 0)


def test_a_time_from_numpy_in_a_frame_is_the_same_as_from_python(rs: Ruleset) -> None:
    start = dt.datetime(2024, 1, 1, 10)
    cells = pd.Series([np.datetime64("2024-01-01T10:00")], dtype=object)
    table = estimate_table(pd.DataFrame([GOOD]).assign(start_time=cells), rs)
    result = tuneprint.estimate({**GOOD, "start_time": start}, rs, report=True)
    assert table["start_year"].to_pylist() == [result.value("start_year")]


def test_a_text_cell_over_the_limit_is_refused_in_every_format(
    rs: Ruleset, tmp_path: Path
) -> None:
    """A CSV cell holds at most 1,000 characters, its spaces counted; a text cell of a
    Parquet file or a frame is read as a CSV cell is (an id or a number padded with
    spaces was estimated there)."""
    pad = " " * 600
    rows = [
        {**GOOD, "id": pad + "abc" + pad},
        {**GOOD, "id": "b", "reserved_hours": pad + "5" + pad},
        {**GOOD, "id": "c", "reserved_hours": "5"},
    ]
    texts = [{k: str(v) for k, v in row.items()} for row in rows]
    frame = pd.DataFrame(texts)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    run_batch(source, tmp_path / "out.parquet", rs)
    import pyarrow.parquet as pq

    by_csv = pq.read_table(tmp_path / "out.parquet")
    told = [(1203, "id"), (1201, "reserved_hours")]
    for table in (
        by_csv,
        estimate_table(frame, rs),
        estimate_table(pa.Table.from_pylist(texts), rs),
    ):
        for row, (size, field) in enumerate(told):
            assert _row_problems(table, row) == [
                (field, f"a cell of {size} characters; the limit is 1000")
            ]
        assert table["error"][2].as_py() is None


def test_an_object_as_an_id_is_its_rows_error_not_its_text() -> None:
    """An id of a frame's object column that is no text and no number (an instance of a
    class, a complex number) became its text, an instance's naming its place in memory;
    a disclosure's id is text, and such a row keeps FILE:ROW, as a flag or a list does."""

    class Thing:
        pass

    rs = tuneprint.load_ruleset(None)
    ids = pd.Series(["a", Thing(), 1j, 7], dtype=object)
    table = estimate_table(pd.DataFrame([GOOD] * 4).assign(id=ids), rs)
    assert table["id"].to_pylist() == ["a", "table:2", "table:3", "7"]
    assert [e is None for e in table["error"].to_pylist()] == [True, False, False, True]
    assert _row_problems(table, 1)[0][1].startswith("an id is text (or a number), not Thing")
    assert _row_problems(table, 2) == [("id", "an id is text (or a number), not complex: 1j")]
