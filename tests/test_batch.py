"""tuneprint batch: the vectorised engine gives, row by row, what the per-disclosure engine
gives (values to 1e-12, the same provenance and warnings, the same errors), in every
format; no row is ever lost; counts, --fail-on-error, explain --row, units, the Python
API and the progress bar."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pc = pytest.importorskip("pyarrow.compute")

import tuneprint  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tuneprint.batch import estimate_table  # noqa: E402
from tuneprint.batch.formats import read_output, recorded  # noqa: E402
from tuneprint.batch.run import run_batch  # noqa: E402
from tuneprint.batch.vector import inverse_of  # noqa: E402
from tuneprint.core.model import Disclosure, Ruleset  # noqa: E402
from tuneprint.load.disclosures import load_batch  # noqa: E402
from tuneprint.load.yamlio import load_file  # noqa: E402
from tuneprint.views.json import compact_record  # noqa: E402

from tests.conftest import FIXTURES, NEWEST, RULES, VERSIONS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RULESETS: dict[str, Ruleset] = {}
FIXTURE_VALUES = [load_file(p)["values"] for p in sorted(FIXTURES.glob("case_*.yaml"))]
REL = 1e-12


def ruleset(version: str) -> Ruleset:
    if version not in RULESETS:
        RULESETS[version] = tuneprint.load_ruleset(RULES / version)
    return RULESETS[version]


# -- generated batches -------------------------------------------------------------------


def spellings(rs: Ruleset, name: str) -> list[str]:
    """Cells a disclosure might hold for a field: the fixtures' values, table names and
    their aliases in other cases, numbers written in every form the reader takes or
    refuses, dates, blanks and junk."""
    spec = rs.fields[name]
    out: list[str] = []
    for values in FIXTURE_VALUES:
        value = values.get(name)
        if isinstance(value, dict):
            value = value.get("value")
        if value is not None:
            out.append(str(value).lower() if isinstance(value, bool) else str(value))
    if spec.type == "name" and spec.table:
        table = rs.tables[spec.table]
        for row in table.rows[:5]:
            key = str(row.key[0])
            out += [key, key.upper(), key.replace("-", " ")]
        out.append("no such thing 9000")
    elif spec.type == "enum":
        out += [*map(str, spec.choices), str(spec.choices[0]).upper(), "not-a-choice"]
    elif spec.type in ("number", "integer"):
        low = spec.minimum if spec.minimum is not None else spec.exclusive_minimum or 0
        high = spec.maximum if spec.maximum is not None else 1e6
        out += [str(low), str(high), str((low + high) / 2), "1", "8", "0.5", "12.25"]
        out += ["1_000", " 4 ", "+3", "2e3", "1E-2", ".5", "5.", "007", "0", "-1", "-0.0"]
        out += ["four", "1,5", "inf", "nan", "1" * 40, "0x10", str(high * 10)]
    elif spec.type in ("date", "datetime"):
        out += ["2019-03-01", "2023-07-18T10:00", "2024-07-06 17:01", "2022-03", "2026-01-01"]
        out += ["2023-13-01", "yesterday", "2023-07-18T10:00+02:00"]
    elif spec.type == "boolean":
        out += ["true", "false", "yes"]
    else:
        out += ["some text", "x" * 1200]
    return list(dict.fromkeys(out)) or ["x"]


def columns_of(rs: Ruleset) -> list[str]:
    """The disclosed fields a batch of this ruleset may carry."""
    seen: dict[str, None] = {}
    for values in FIXTURE_VALUES:
        for key in values:
            if key in rs.fields:
                seen[key] = None
    for name in ("gpu_utilization", "training_tokens", "managed_service", "country"):
        if name in rs.fields:
            seen[name] = None
    return list(seen)


@st.composite
def batches(draw: st.DrawFn, rs: Ruleset) -> tuple[list[str], list[list[str]]]:
    """A CSV batch: a header of some fields (and maybe id), rows of partial disclosures."""
    fields = columns_of(rs)
    chosen = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=len(fields), unique=True))
    header = (["id"] if draw(st.booleans()) else []) + chosen
    base = st.sampled_from(FIXTURE_VALUES)
    rows = []
    for _ in range(draw(st.integers(1, 24))):
        fixture = draw(base)
        row = []
        for name in header:
            if name == "id":
                row.append(draw(st.sampled_from(["", "job-1", " job 2 ", "j\u00e9", "dup"])))
                continue
            value = fixture.get(name)
            if isinstance(value, dict):
                value = value.get("value")
            choice = draw(st.integers(0, 9))
            if choice < 3 and value is not None:
                row.append(str(value).lower() if isinstance(value, bool) else str(value))
            elif choice < 5:
                row.append("")
            else:
                row.append(draw(st.sampled_from(spellings(rs, name))))
        rows.append(row)
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


# -- comparison ----------------------------------------------------------------------------


def scalar_rows(path: Path, rs: Ruleset) -> list[dict[str, Any]]:
    """Each row as the per-disclosure reader and resolver give it (``tuneprint estimate``
    on the batch): values, compact provenance and warnings, or the error's problems."""
    out = []
    for item in load_batch(path, rs):
        if not isinstance(item, Disclosure):
            out.append({"error": [p.as_dict() for p in item.problems], "read": True})
            continue
        try:
            result = tuneprint.estimate(item, rs, report=True)  # as the command reports
        except tuneprint.TuneprintError as exc:
            out.append({"id": item.id, "error": [p.as_dict() for p in exc.problems]})
            continue
        values = {k: r.value for k, r in result.fields.items()}
        for key, value in item.values.items():
            values.setdefault(key, value)
        out.append(
            {
                "id": item.id,
                "values": values,
                "provenance": {k: compact_record(r) for k, r in result.fields.items()},
                "warnings": {
                    k: " ".join(r.warning.split()) for k, r in result.fields.items() if r.warning
                },
            }
        )
    return out


def batch_rows(path: Path) -> list[dict[str, Any]]:
    table = read_output(path)
    return table.to_pylist()


def same_number(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) or math.isnan(b):
            return False
        return math.isclose(a, b, rel_tol=REL, abs_tol=0.0) or a == b
    return bool(a == b)


def plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.replace(tzinfo=None).isoformat() if hasattr(value, "tzinfo") else value
    return value


OUTPUT_META = {"row", "id", "provenance", "warnings", "error", "ruleset", "ruleset_hash"}


def assert_rows_agree(batch: list[dict[str, Any]], scalar: list[dict[str, Any]]) -> None:
    assert len(batch) == len(scalar), "a row was lost or made up"
    for position, (got, want) in enumerate(zip(batch, scalar, strict=True), start=1):
        where = f"row {position} ({got.get('row')})"
        if want.get("error"):
            assert got["error"], f"{where}: the scalar path fails ({want['error']}), batch not"
            assert json.loads(got["error"]) == want["error"], where
            continue
        assert not got["error"], f"{where}: batch failed: {got['error']}"
        assert got["id"] == want["id"], where
        assert recorded(got["provenance"]) == want["provenance"], where
        assert recorded(got["warnings"]) == want["warnings"], where
        for key, value in want["values"].items():
            if key not in got:
                continue
            shown = got[key]
            expected = value
            if getattr(expected, "tzinfo", None) is not None:  # written as the time there
                expected = expected.replace(tzinfo=None)
            assert same_number(plain(shown), plain(expected)), (
                f"{where}: {key}: {shown} != {value}"
            )
        for key, shown in got.items():  # and nothing estimate does not give
            if key not in OUTPUT_META and key not in want["values"]:
                assert shown is None, f"{where}: {key} is {shown}; estimate gives nothing"


def whole_file_error(scalar: list[dict[str, Any]]) -> bool:
    first = scalar[0] if len(scalar) == 1 else {}
    return bool(first.get("read")) and first["error"][0]["line"] is None


def run_both(tmp_path: Path, source: Path, rs: Ruleset, out: str = "parquet") -> None:
    scalar = scalar_rows(source, rs)
    for engine in ("vector", "rows"):
        target = tmp_path / f"out-{engine}.{out}"
        target.unlink(missing_ok=True)  # (an earlier example's: a failed run leaves it)
        if whole_file_error(scalar):  # the file as a whole: the command fails, no output
            with pytest.raises(tuneprint.TuneprintError) as caught:
                run_batch(source, target, rs, engine=engine, chunk_rows=7)
            assert [p.as_dict() for p in caught.value.problems] == scalar[0]["error"]
            assert not target.exists()
            continue
        counts = run_batch(source, target, rs, engine=engine, chunk_rows=7)
        rows = batch_rows(target)
        assert counts.rows == len(rows) == len(scalar)
        assert counts.errors == sum(1 for r in rows if r["error"])
        assert_rows_agree(rows, scalar)


# generated batches per property test (more with TUNEPRINT_BATCH_EXAMPLES)
BATCH_EXAMPLES = settings(
    deadline=None,
    max_examples=int(os.environ.get("TUNEPRINT_BATCH_EXAMPLES", "25")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("version", VERSIONS)
def test_vector_engine_equals_the_per_disclosure_engine(version: str, tmp_path: Path) -> None:
    """Over generated partial disclosures of every shipped ruleset, including rows that
    fail: both batch engines give, row by row, what ``estimate`` gives the same row."""
    rs = ruleset(version)

    @BATCH_EXAMPLES
    @given(batches(rs))
    def check(batch: tuple[list[str], list[list[str]]]) -> None:
        header, rows = batch
        source = write_csv(tmp_path / "in.csv", header, rows)
        run_both(tmp_path, source, rs)

    check()


@pytest.mark.parametrize("steady", ["numbers grouped by value", "numbers varying"])
@pytest.mark.parametrize("version", VERSIONS)
def test_resolution_by_runs_equals_the_per_disclosure_engine(
    version: str, steady: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows disclosing the same fields and names but other numbers (each generated row
    four times, numbers written anew): the engine resolves what no number reaches once
    per run of such rows, and still gives, row by row, what ``estimate`` gives. Number
    columns of few values grouped by value too (``steady_numbers``: every number column
    of a chunk of 7 rows, or none), the first rows of runs are resolved by runs in turn:
    the same rows again."""
    from tuneprint.batch import engine, vector

    monkeypatch.setattr(vector, "RUN_SHARE", 1)  # by runs, however many runs there are
    monkeypatch.setattr(engine, "STEADY_MOST", 10**6 if steady.endswith("value") else -1)
    rs = ruleset(version)
    numbers = {n for n in columns_of(rs) if rs.fields[n].type in ("number", "integer")}

    @BATCH_EXAMPLES
    @given(batches(rs), st.randoms(use_true_random=False))
    def check(batch: tuple[list[str], list[list[str]]], rng: Any) -> None:
        header, rows = batch
        repeated = []
        for row in rows:
            for copy in range(4):
                cells = list(row)
                for k, name in enumerate(header):
                    if copy and name in numbers and cells[k].strip() and rng.random() < 0.7:
                        cells[k] = rng.choice(["1", "2.5", "8", "48.5", "0.25", "-1", "four"])
                repeated.append(cells)
        source = write_csv(tmp_path / "in.csv", header, repeated)
        run_both(tmp_path, source, rs)

    check()


@pytest.mark.parametrize(
    "layout", ["dictionaries", "plain text", "dictionary columns", "few read as dictionaries"]
)
def test_parquet_text_stored_any_way_gives_the_per_disclosure_results(
    layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text columns of a Parquet file, stored with dictionaries (read as dictionaries, row
    group by row group, chunks across them), as plain text, or typed as dictionaries with
    empty cells null, and columns of more values than are read as dictionaries: the
    vectorised engine gives, row by row, what the per-disclosure engine gives."""
    import pyarrow.compute as pc
    from tuneprint.batch import formats

    rs = ruleset(VERSIONS[-1])
    if layout == "few read as dictionaries":
        monkeypatch.setattr(formats, "DICTIONARY_MOST", 3)

    @BATCH_EXAMPLES
    @given(batches(rs))
    def check(batch: tuple[list[str], list[list[str]]]) -> None:
        header, rows = batch
        cells = {name: [row[k] for row in rows] for k, name in enumerate(header)}
        if layout == "dictionary columns":
            table = pa.table(
                {
                    name: pc.dictionary_encode(pa.array([v or None for v in values], pa.string()))
                    for name, values in cells.items()
                }
            )
        else:
            table = pa.table({name: pa.array(v, pa.string()) for name, v in cells.items()})
        source = tmp_path / "in.parquet"
        pq.write_table(table, source, use_dictionary=layout != "plain text", row_group_size=10)
        out = {}
        for engine in ("vector", "rows"):
            target = tmp_path / f"out-{engine}.parquet"
            try:
                counts = run_batch(source, target, rs, engine=engine, chunk_rows=7)
            except tuneprint.TuneprintError as exc:  # the file as a whole (its header)
                out[engine] = [p.as_dict() for p in exc.problems]
                continue
            out[engine] = pq.read_table(target).to_pylist()
            assert counts.rows == len(out[engine]) == len(rows)
        if isinstance(out["vector"], list) and out["vector"] and "row" in out["vector"][0]:
            for got, want in zip(out["vector"], out["rows"], strict=True):
                assert got.keys() == want.keys()
                for key, value in want.items():
                    assert same_number(got[key], value) or got[key] is value is None, key
        else:
            assert out["vector"] == out["rows"]

    check()


def test_parquet_text_of_few_values_is_read_as_dictionaries_and_of_many_as_text(
    newest: Ruleset, tmp_path: Path
) -> None:
    """A text column of few values is read as a dictionary, whether the file stores it with
    one or as plain text; one of more values than ``DICTIONARY_MOST`` is read as text, as
    is the id; and either way the rows are the same."""
    import pyarrow.compute as pc
    from tuneprint.batch import formats

    n = 3 * formats.DICTIONARY_MOST
    table = pa.table(
        {
            "id": [f"job-{i}" for i in range(n)],
            "gpu_model": ["A100 80GB", "H100", "", "GPX 9000"] * (n // 4),
            "gpu_count": ["8", "four", "", "2"] * (n // 4),
            "reserved_hours": [f"{1 + i * 0.001:.3f}" for i in range(n)],
            "cloud_region": ["us-west-2"] * n,
        }
    )
    (tmp_path / "coded").mkdir()
    (tmp_path / "plain").mkdir()
    coded, plain = tmp_path / "coded" / "in.parquet", tmp_path / "plain" / "in.parquet"
    pq.write_table(table, coded)
    pq.write_table(table, plain, use_dictionary=False)
    for source in (coded, plain):
        fields = table.column_names[1:]
        for rows in (1000, n):  # (a chunk of more rows than are read to tell: the same)
            assert formats._coded_columns(pq.ParquetFile(source), source, fields, rows) == [
                "gpu_model", "gpu_count", "cloud_region"
            ]  # fmt: skip
    outputs = []
    for source in (coded, plain):
        run_batch(source, source.with_suffix(".out.parquet"), newest, chunk_rows=1000)
        outputs.append(pq.read_table(source.with_suffix(".out.parquet")))
    named = [t.to_pylist() for t in outputs]
    for rows, source in zip(named, (coded, plain), strict=True):
        for row in rows:
            row["error"] = row["error"] and row["error"].replace(str(source), "in.parquet")
    assert named[0] == named[1]
    errors = outputs[0].column("error")
    assert pc.sum(pc.is_valid(errors)).as_py() == n // 2  # GPX 9000, and four GPUs


def test_rows_estimated_one_by_one_land_in_their_place_among_the_others(
    tmp_path: Path, newest: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start time with a zone takes the per-disclosure path; in a chunk whose other rows
    are resolved grouped and put back in order, each such row's values are its own."""
    from tuneprint.batch import engine

    estimated: list[int] = []
    result = engine._Builder.result
    monkeypatch.setattr(
        engine._Builder, "result", lambda self, i, r: (estimated.append(i), result(self, i, r))
    )
    header = ["id", "base_model", "gpu_model", "gpu_count", "cloud_region", "reserved_hours",
              "start_time"]  # fmt: skip
    rows = []
    for k in range(40):
        zone = "+02:00" if k % 5 == 3 else ""
        model, gpu = ["Llama 2 13B", "Mistral 7B"][k % 2], ["A100 80GB", "H100"][k % 3 % 2]
        region = ["us-west-2", "europe-west4"][k % 3 % 2]
        rows.append([f"r{k}", model, gpu, str(1 + k % 4), region, f"{1 + k * 1.5}",
                     f"2024-02-01T10:00{zone}"])  # fmt: skip
    source = write_csv(tmp_path / "mixed.csv", header, rows)
    scalar = scalar_rows(source, newest)
    counts = run_batch(source, tmp_path / "out.parquet", newest, engine="vector", chunk_rows=40)
    assert counts.errors == 0 and len(estimated) == 8
    assert_rows_agree(batch_rows(tmp_path / "out.parquet"), scalar)


def test_the_seed_cases_as_one_batch(tmp_path: Path) -> None:
    """The methodology's cases, every field given, in one batch: each row as alone."""
    rs = ruleset(NEWEST.name)
    header = columns_of(rs)
    rows = []
    for values in FIXTURE_VALUES:
        row = []
        for name in header:
            value = values.get(name)
            if isinstance(value, dict):
                value = value.get("value")
            row.append(
                ""
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
        rows.append(row)
    source = write_csv(tmp_path / "seed.csv", header, rows)
    run_both(tmp_path, source, rs)
    out = batch_rows(tmp_path / "out-vector.parquet")
    assert sum(1 for r in out if not r["error"]) >= 3


# -- formats -------------------------------------------------------------------------------


def as_jsonl(header: list[str], rows: list[list[str]], path: Path) -> Path:
    """The same rows as JSON Lines documents (blank cells left out)."""
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            cells = dict(zip(header, row, strict=True))
            doc: dict[str, Any] = {"values": {k: v for k, v in cells.items() if k != "id" and v}}
            if cells.get("id", "").strip():
                doc["id"] = cells["id"].strip()
            handle.write(json.dumps(doc) + "\n")
    return path


SAMPLE_HEADER = ["id", "base_model", "gpu_model", "gpu_count", "cloud_region", "reserved_hours",
                 "start_time", "training_tokens", "managed_service"]  # fmt: skip
SAMPLE_ROWS = [
    ["a", "Llama 2 13B", "A100 80GB", "8", "us-west-2", "48.5", "2023-07-18", "", ""],
    ["b", "llama-2-7b", "", "", "us-west-2", "", "2023-09-01", "25000000", "AWS Bedrock"],
    ["c", "Llama 2 13B", "A100 80GB", "four", "us-west-2", "10", "", "", ""],
    ["", "Mistral 7B", "H100", "2", "europe-west4", "3.25", "2024-02-01T09:00", "", ""],
    ["e", "Llama 2 13B", "GPX 9000", "1", "us-west-2", "-3", "", "", ""],
    ["f", "", "", "", "", "", "", "", ""],  # nothing disclosed: the id alone
]


@pytest.fixture(scope="module")
def newest() -> Ruleset:
    return ruleset(NEWEST.name)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "sample.csv", SAMPLE_HEADER, SAMPLE_ROWS)


def to_parquet(source: Path, target: Path) -> Path:
    import pyarrow.csv as pcsv

    with open(source, encoding="utf-8") as handle:
        names = next(csv.reader(handle))
    table = pcsv.read_csv(
        source,
        convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )
    pq.write_table(table, target)
    return target


@pytest.mark.parametrize("source_kind", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("target_kind", ["csv", "jsonl", "parquet"])
def test_every_format_in_and_out_gives_the_same_rows(
    source_kind: str, target_kind: str, sample: Path, newest: Ruleset, tmp_path: Path
) -> None:
    if source_kind == "jsonl":
        source = as_jsonl(SAMPLE_HEADER, SAMPLE_ROWS, tmp_path / "sample.jsonl")
    elif source_kind == "parquet":
        source = to_parquet(sample, tmp_path / "sample.parquet")
    else:
        source = sample
    target = tmp_path / f"out.{target_kind}"
    counts = run_batch(source, target, newest)
    assert (counts.rows, counts.ok, counts.errors) == (6, 3, 3)
    reference = tmp_path / "reference.parquet"
    run_batch(sample, reference, newest, engine="rows")
    got, want = read_output(target).to_pylist(), read_output(reference).to_pylist()
    assert [r["row"] for r in got] == (
        [1, 2, 3, 4, 5, 6] if source_kind != "csv" else [2, 3, 4, 5, 6, 7]
    )
    for a, b in zip(got, want, strict=True):
        assert recorded(a["provenance"]) == recorded(b["provenance"])
        assert recorded(a["warnings"]) == recorded(b["warnings"])
        assert bool(a["error"]) == bool(b["error"])
        for key in ("total_emissions_kgco2e", "total_water_l", "emissions_per_inference_gco2e"):
            assert same_number(a[key], b[key]) or a[key] is b[key] is None, key
    if source_kind != "jsonl":  # the id column, or the file and line where it is blank
        assert [r["id"] for r in got][:4] == ["a", "b", "c", f"{source.stem}:{got[3]['row']}"]


def test_units_are_in_the_parquet_schema_and_the_csv_header(
    sample: Path, newest: Ruleset, tmp_path: Path
) -> None:
    run_batch(sample, tmp_path / "out.parquet", newest)
    run_batch(sample, tmp_path / "out.csv", newest)
    schema = pq.read_schema(tmp_path / "out.parquet")
    meta = schema.field("total_emissions_kgco2e").metadata
    assert meta[b"unit"] == newest.fields["total_emissions_kgco2e"].unit.encode() == b"kgCO2e"
    assert schema.field("reserved_hours").metadata[b"unit"] == b"h"
    assert schema.metadata[b"tuneprint.ruleset_hash"] == newest.content_hash.encode()
    header = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[0]
    assert '"total_emissions_kgco2e [kgCO2e]"' in header and '"total_water_l [L]"' in header
    lines = tmp_path / "out.jsonl"
    run_batch(sample, lines, newest)
    first = json.loads(lines.read_text(encoding="utf-8").splitlines()[0])
    assert first["values"]["total_emissions_kgco2e"]["unit"] == "kgCO2e"
    assert first["ruleset"] == newest.label.split(" ")[0] or "@" in first["ruleset"]


def test_the_parquet_row_numbers_are_written_as_differences(
    newest: Ruleset, tmp_path: Path
) -> None:
    """Row numbers count up by one: Parquet stores them delta-encoded (a few bytes a
    chunk), and they read back as written, across chunks."""
    source = tmp_path / "in.csv"
    source.write_text(
        "id,gpu_model,gpu_count,reserved_hours,country\n"
        + "".join(f"r{i},A100 80GB,{1 + i % 8},{10 + i},FR\n" for i in range(300)),
        encoding="utf-8",
    )
    out = tmp_path / "out.parquet"
    run_batch(source, out, newest, chunk_rows=128)
    meta = pq.ParquetFile(out).metadata
    assert meta.num_row_groups == 3
    for group in range(meta.num_row_groups):
        column = meta.row_group(group).column(0)
        assert column.path_in_schema == "row"
        assert "DELTA_BINARY_PACKED" in column.encodings
    assert read_output(out).column("row").to_pylist() == list(range(2, 302))


@pytest.mark.parametrize("engine", ["vector", "rows"])
def test_a_parquet_text_columns_dictionary_holds_its_own_values(
    newest: Ruleset, tmp_path: Path, engine: str
) -> None:
    """Each text column is a dictionary of the values its rows hold, not of every text
    of the chunk: a reader (pandas: a categorical) sees countries as the country's
    categories, not GPU names; a row in error adds none of its own."""
    source = tmp_path / "in.csv"
    source.write_text(
        "id,gpu_model,gpu_count,reserved_hours,country\n"
        + "".join(
            f"r{i},{('V100', 'A100 80GB')[i % 2]},{1 + i % 4},{10 + i},{('FR', 'FR', 'DE')[i % 3]}"
            "\n"
            for i in range(40)
        )
        + "bad,H100,four,10,IE\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.parquet"
    run_batch(source, out, newest, engine=engine)
    table = pq.read_table(out)
    (countries,) = table.column("country").chunks
    (gpus,) = table.column("gpu_model").chunks
    assert sorted(countries.dictionary.to_pylist()) == ["DEU", "FRA"]  # (not Ireland's)
    assert sorted(gpus.dictionary.to_pylist()) == [
        "nvidia-a100-sxm4-80gb", "nvidia-v100-sxm2-16gb"
    ]  # fmt: skip
    rows = table.to_pylist()
    assert [r["country"] for r in rows[:4]] == ["FRA", "FRA", "DEU", "FRA"]
    assert [r["gpu_model"] for r in rows[:2]] == ["nvidia-v100-sxm2-16gb", "nvidia-a100-sxm4-80gb"]
    assert rows[-1]["error"] and rows[-1]["country"] is rows[-1]["gpu_model"] is None


def test_a_bad_row_keeps_its_place_and_its_error(
    sample: Path, newest: Ruleset, tmp_path: Path
) -> None:
    run_batch(sample, tmp_path / "out.parquet", newest)
    rows = read_output(tmp_path / "out.parquet").to_pylist()
    bad = rows[2]
    assert bad["id"] == "c" and bad["row"] == 4 and bad["provenance"] is None
    problem = json.loads(bad["error"])[0]
    assert problem["field"] == "gpu_count" and problem["line"] == 4
    assert problem["file"] == str(sample)
    assert "four" in problem["message"]
    assert bad["ruleset_hash"] == newest.content_hash


def test_the_rows_engine_and_the_vector_engine_write_the_same_file(
    sample: Path, newest: Ruleset, tmp_path: Path
) -> None:
    run_batch(sample, tmp_path / "v.parquet", newest, engine="vector")
    run_batch(sample, tmp_path / "r.parquet", newest, engine="rows")
    a, b = pq.read_table(tmp_path / "v.parquet"), pq.read_table(tmp_path / "r.parquet")
    assert a.schema == b.schema
    assert a.to_pylist() == b.to_pylist()


def both_engines(table: pa.Table, source: Path, rs: Ruleset) -> pa.Table:
    """A table written to Parquet at ``source`` and run by both engines, which must give
    the same rows: the vectorised engine's output."""
    pq.write_table(table, source)
    vector, rows = source.with_suffix(".vector.parquet"), source.with_suffix(".rows.parquet")
    run_batch(source, vector, rs, engine="vector")
    run_batch(source, rows, rs, engine="rows")
    out = pq.read_table(vector)
    assert out.to_pylist() == pq.read_table(rows).to_pylist()
    return out


def test_csv_names_are_read_as_their_distinct_cells_across_blocks_and_chunks(
    newest: Ruleset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrow reads a CSV file's names, dates and flags as indices into each block's
    distinct cells (numbers and ids as they are); blocks and chunks of other cells give
    the same rows as the per-disclosure engine: names written in several ways, blank,
    padded, unknown, met first in a later block, and a chunk cut inside a block."""
    from tuneprint.batch import formats

    monkeypatch.setattr(formats, "READ_BLOCK", 1 << 10)  # blocks of some 25 lines
    gpus = ["A100 80GB", " nvidia-a100-sxm4-80gb ", "", "H100", "V100", "GPX 9000"]
    regions = ["us-west-2", "US West (Oregon)", "", "europe-west4"]
    lines = ["id,gpu_model,gpu_count,reserved_hours,cloud_region,start_time"]
    for i in range(400):
        gpu = gpus[(i * 7) % len(gpus)] if i > 40 else gpus[i % 2]  # the rest met later
        start = ["", "2023-07-18", "2024-07-06T17:01", "2024-02-30"][i % 4]
        lines.append(f"r{i},{gpu},{1 + i % 8},{1 + i % 50}.5,{regions[i % 4]},{start}")
    source = tmp_path / "names.csv"
    source.write_text("\n".join(lines) + "\n")
    assert formats.plain_text(source)
    _, pieces = formats.read_pieces(source, newest, 97, str(source))  # type: ignore[misc]
    first = next(pieces)
    types = {h: first.table.column(h).type for h in first.table.column_names}
    assert types["gpu_model"] == types["cloud_region"] == types["start_time"]
    assert pa.types.is_dictionary(types["gpu_model"])
    assert types["reserved_hours"] == types["gpu_count"] == types["id"] == pa.string()
    for chunk_rows in (97, 100_000):
        run_batch(source, tmp_path / "v.parquet", newest, engine="vector", chunk_rows=chunk_rows)
        run_batch(source, tmp_path / "r.parquet", newest, engine="rows")
        vector, rows = pq.read_table(tmp_path / "v.parquet"), pq.read_table(tmp_path / "r.parquet")
        assert vector.to_pylist() == rows.to_pylist()
    told = vector.to_pylist()
    unknown = [i for i, line in enumerate(lines[1:]) if ",GPX 9000," in line]
    impossible = [i for i, line in enumerate(lines[1:]) if "2024-02-30" in line]
    assert unknown and all("GPX 9000" in (told[i]["error"] or "") for i in unknown)
    assert impossible and all("start_time" in (told[i]["error"] or "") for i in impossible)
    fine = set(range(400)) - set(unknown) - set(impossible)
    assert all(told[i]["error"] is None for i in fine)
    assert told[1]["gpu_model"] == told[0]["gpu_model"] == "nvidia-a100-sxm4-80gb"


# -- the command -----------------------------------------------------------------------------


def tuneprint_cli(*args: str | Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuneprint", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_counts_and_fail_on_error(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    done = tuneprint_cli("batch", sample, out)
    assert done.returncode == 0, done.stderr
    assert "6 rows in, 3 estimated, 3 errors" in done.stdout
    assert "rows/s" not in done.stdout + done.stderr  # no progress bar off a terminal
    assert f"error: {sample}:4: gpu_count:" in done.stderr  # the first errors shown
    failing = tuneprint_cli("batch", sample, out, "--fail-on-error")
    assert failing.returncode == 2
    assert out.exists() and pq.read_metadata(out).num_rows == 6  # written all the same
    quiet = tuneprint_cli("batch", sample, tmp_path / "q.csv", "-q")
    assert quiet.returncode == 0 and "6 rows in" in quiet.stdout


def test_bad_command_lines_are_one_clear_message(sample: Path, tmp_path: Path) -> None:
    cases = [
        (["batch", tmp_path / "missing.csv", tmp_path / "o.parquet"], "missing.csv"),
        (["batch", sample, tmp_path / "o.xlsx"], "o.xlsx"),
        (["batch", sample, tmp_path / "o.parquet", "--engine", "gpu"], "--engine"),
        (["batch", sample, tmp_path / "o.parquet", "--chunk-rows", "0"], "--chunk-rows"),
        (["batch", sample, tmp_path / "no" / "such" / "o.parquet"], "o.parquet"),
        (["explain", tmp_path / "missing.parquet", "--row", "2"], "missing.parquet"),
        (["explain", sample, "--row", "2"], "not an output"),
        (["batch", sample, tmp_path / "o.parquet", "--workers", "1000"], "--workers: expected"),
    ]
    out = tmp_path / "made.parquet"
    assert tuneprint_cli("batch", sample, out).returncode == 0
    cases.append((["explain", out, "--row", "2", ""], "no field is named ''"))
    for args, named in cases:
        done = tuneprint_cli(*args)
        assert done.returncode != 0, args
        assert named in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(
    kind: str, sample: Path, newest: Ruleset, tmp_path: Path
) -> None:
    source = tmp_path / f"in.{kind}"
    if kind == "csv":
        source.write_bytes(sample.read_bytes())
    else:
        run_batch(sample, tmp_path / "first.parquet", newest)  # an output read as an input
        source = tmp_path / "first.parquet"
    before = source.read_bytes()
    (tmp_path / f"link.{kind}").symlink_to(source)
    for target in (source, tmp_path / f"link.{kind}", tmp_path / "." / source.name):
        done = tuneprint_cli("batch", source, target)
        assert done.returncode == 2, done.stderr
        assert f"{target}: is the input ({source})" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
        assert source.read_bytes() == before  # neither truncated nor removed
    with pytest.raises(tuneprint.InputError, match="is the input"):
        run_batch(source, source, newest)


@pytest.mark.parametrize("how", [[], ["--workers", "2"], ["--engine", "dask"]])
def test_a_parquet_file_with_a_bad_page_or_no_footer_is_one_message(
    how: list[str], sample: Path, tmp_path: Path
) -> None:
    parquet = to_parquet(sample, tmp_path / "good.parquet")
    data = bytearray(parquet.read_bytes())
    column = pq.read_metadata(parquet).row_group(0).column(0)
    start = column.data_page_offset  # the first page's header: no longer one
    data[start : start + 8] = b"\xff" * 8
    bad_page = tmp_path / "bad_page.parquet"
    bad_page.write_bytes(bytes(data))
    no_footer = tmp_path / "no_footer.parquet"
    no_footer.write_bytes(parquet.read_bytes()[:-12])
    for source, said in ((bad_page, "cannot read its rows after row 0"), (no_footer, "not a")):
        out = tmp_path / "out.parquet"
        done = tuneprint_cli("batch", source, out, *how)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: {source}: {said}"), done.stderr
        assert "cannot write" not in done.stderr and "Traceback" not in done.stderr
        assert not out.exists()


def test_an_empty_batch_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    empty = write_csv(tmp_path / "empty.csv", ["gpu_model", "reserved_hours"], [["", ""]])
    done = tuneprint_cli("batch", empty, tmp_path / "out.parquet")
    assert done.returncode == 2 and "holds no rows" in done.stderr
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("text", [b"id,gpu_model", b"id,gpu_model\n", b"id,gpu_model\n\n"])
def test_a_header_alone_is_a_batch_of_no_rows(text: bytes, tmp_path: Path) -> None:
    """A CSV header alone, with or without its newline, or with blank lines, is told as
    it is: no rows (a header without its newline is not given to Arrow, which fails on a
    file of no line but the header)."""
    from tuneprint.batch.formats import plain_csv, plain_text

    source = tmp_path / "header.csv"
    source.write_bytes(text)
    assert not plain_csv(source, 2) and plain_text(source) == text.endswith(b"\n")
    done = tuneprint_cli("batch", source, tmp_path / "out.parquet")
    assert done.returncode == 2 and f"error: {source}: the batch holds no rows" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("kind", ["parquet", "csv", "jsonl"])
def test_explain_row_rebuilds_the_whole_derivation(
    kind: str, sample: Path, newest: Ruleset, tmp_path: Path
) -> None:
    out = tmp_path / f"out.{kind}"
    run_batch(sample, out, newest)
    cells = dict(zip(SAMPLE_HEADER, SAMPLE_ROWS[0], strict=True))
    alone = tmp_path / "alone.json"
    values = {k: v for k, v in cells.items() if k != "id" and v}
    alone.write_text(json.dumps({"id": "a", "values": values}), encoding="utf-8")
    want = tuneprint_cli("explain", alone, "total_emissions_kgco2e", "--all")
    got = tuneprint_cli("explain", out, "total_emissions_kgco2e", "--row", "2", "--all")
    assert got.returncode == 0, got.stderr

    def body(text: str) -> str:  # the words of the tree, but where inputs came from
        words = " ".join(" ".join(text.splitlines()[2:]).split())
        return re.sub(r"\[input: [^\]]*\]", "[input]", words)

    assert body(got.stdout) == body(want.stdout)
    assert body(got.stdout).count("[input]") >= 3
    assert f"{out}#row=2" in "".join(got.stdout.split())  # the path may be folded
    failed = tuneprint_cli("explain", out, "--row", "4")
    assert failed.returncode == 2 and "gpu_count" in failed.stderr and "four" in failed.stderr
    missing = tuneprint_cli("explain", out, "--row", "99")
    assert missing.returncode != 0 and "no row 99" in missing.stderr


def test_explain_row_refuses_a_row_whose_provenance_was_changed(
    sample: Path, newest: Ruleset, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    run_batch(sample, out, newest)
    lines = out.read_text(encoding="utf-8").splitlines()
    doc = json.loads(lines[0])
    field = next(k for k, v in doc["provenance"].items() if v != "input")
    doc["provenance"][field] = "rule:not.this.one"
    lines[0] = json.dumps(doc)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = tuneprint_cli("explain", out, "--row", "2")
    assert done.returncode != 0 and "provenance differs" in done.stderr


def test_explain_row_names_the_ruleset_the_row_needs(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    run_batch(sample, out, ruleset("2.2"))
    done = tuneprint_cli("explain", out, "--row", "2", "--rules", str(NEWEST))
    assert done.returncode != 0 and "2.2" in done.stderr and "--rules" in done.stderr
    again = tuneprint_cli("explain", out, "--row", "2")  # the row names its own version
    assert again.returncode == 0, again.stderr


# -- the Python API ------------------------------------------------------------------------


def test_estimate_table_takes_an_arrow_table(newest: Ruleset) -> None:
    table = pa.table(
        {name: [row[i] for row in SAMPLE_ROWS] for i, name in enumerate(SAMPLE_HEADER)}
    )
    out = estimate_table(table, newest)
    assert out.num_rows == 6
    assert out.column("id").to_pylist()[:3] == ["a", "b", "c"]
    rows = out.to_pylist()
    assert rows[2]["error"] and rows[4]["error"] and not rows[0]["error"]
    values = {"gpu_model": "A100 80GB", "gpu_count": 8, "reserved_hours": 48.5,
              "cloud_region": "us-west-2", "base_model": "Llama 2 13B"}  # fmt: skip
    typed = pa.table({k: [v] for k, v in values.items()})  # numeric columns, not text
    first = estimate_table(typed, newest).to_pylist()[0]
    assert first["error"] is None
    alone = tuneprint.estimate({"values": values}, newest)
    assert same_number(first["total_emissions_kgco2e"], alone.value("total_emissions_kgco2e"))
    assert same_number(rows[0]["total_emissions_kgco2e"], tuneprint.estimate(
        {"values": {**values, "start_time": "2023-07-18"}}, newest
    ).value("total_emissions_kgco2e"))  # fmt: skip


def test_rows_grouped_for_the_resolution_come_back_in_their_order(
    newest: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vectorised engine resolves a chunk's rows grouped by what they disclose and
    puts them back: the output is the one of the rows resolved in their own order."""
    import random

    from tuneprint.batch import engine

    rng = random.Random(7)
    rows = [rng.choice(SAMPLE_ROWS) for _ in range(300)]
    rows = [[f"r{i}", *row[1:]] if i % 3 else ["", *row[1:]] for i, row in enumerate(rows)]
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(SAMPLE_HEADER)})
    order = engine.grouping(_columns(table, newest))
    assert order is not None and list(order) != sorted(order)  # the grouping moves rows
    grouped = estimate_table(table, newest, chunk_rows=128)
    monkeypatch.setattr(engine, "grouping", lambda columns: None)
    in_order = estimate_table(table, newest, chunk_rows=128)
    assert grouped.equals(in_order)
    assert grouped.column("id").to_pylist()[:3] == ["table:1", "r1", "r2"]


def test_columns_moved_into_an_order_are_the_columns_taken_and_leave_none_behind(
    newest: Ruleset,
) -> None:
    rng = np.random.default_rng(3)
    rows = [list(SAMPLE_ROWS[int(k)]) for k in rng.integers(0, len(SAMPLE_ROWS), 200)]
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(SAMPLE_HEADER)})
    order = rng.permutation(len(rows))
    kept, moving = _columns(table, newest), _columns(table, newest)
    taken, moved = kept.taken(order), moving.taken(order, inverse_of(order))
    assert moving.chunk.values == {} and moving.chunk.present == {}  # nothing held twice
    assert kept.chunk.values  # (taking alone leaves them)
    assert set(moved.chunk.values) == set(taken.chunk.values)
    for name, vec in taken.chunk.values.items():
        assert np.array_equal(moved.chunk.values[name].data, vec.data)
        assert np.array_equal(moved.chunk.present[name], taken.chunk.present[name])
    assert np.array_equal(moved.bad, taken.bad) and moved.ids == taken.ids


def _check_together(keys: np.ndarray) -> None:
    from tuneprint.batch.engine import together

    order = together(keys)
    assert sorted(order.tolist()) == list(range(len(keys)))  # every row, once
    grouped = keys[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    assert len(starts) == len(np.unique(keys))  # each key's rows side by side
    assert list(grouped) == sorted(grouped.tolist())  # in the order of the keys
    for a, b in zip(starts, [*starts[1:], len(keys)], strict=True):
        assert list(order[a:b]) == sorted(order[a:b])  # a group's rows in their order


KEYS = st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 2**63])  # few values, often


@given(st.lists(KEYS, min_size=1, max_size=300))
@settings(max_examples=150, deadline=None)
def test_rows_are_put_together_by_key(keys: list[int]) -> None:
    _check_together(np.array(keys, dtype=np.uint64))


def test_rows_are_put_together_when_keys_take_more_values_than_sixteen_bits_count() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**64 - 1, size=70_000, dtype=np.uint64, endpoint=True)
    _check_together(np.concatenate([keys, keys[::-1], keys[:5]]))


def _columns(table: pa.Table, rs: Ruleset) -> Any:
    from tuneprint.batch.formats import _parquet_chunk

    header = table.column_names
    batch = table.combine_chunks().to_batches()[0]
    return _parquet_chunk(batch, "table", header, header[1:], rs, 0).columns


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_estimate_table_takes_a_data_frame(library: str, newest: Ruleset) -> None:
    frames = pytest.importorskip(library)
    columns = {name: [row[i] for row in SAMPLE_ROWS] for i, name in enumerate(SAMPLE_HEADER)}
    frame = frames.DataFrame(columns)
    from_frame = estimate_table(frame, newest)
    from_arrow = estimate_table(pa.table(columns), newest)
    assert from_frame.equals(from_arrow)


# -- progress, memory, cluster -------------------------------------------------------------


def test_a_progress_bar_on_a_terminal_only(sample: Path, tmp_path: Path) -> None:
    import pty

    big = write_csv(tmp_path / "big.csv", SAMPLE_HEADER, SAMPLE_ROWS * 1000)
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "tuneprint", "batch", str(big), str(tmp_path / "o.parquet"),
         "--chunk-rows", "1000"],
        stdin=follower, stdout=follower, stderr=follower,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )  # fmt: skip
    os.close(follower)
    shown = b""
    while True:  # read while it runs: a full terminal buffer would block the child
        try:
            part = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not part:
            break
        shown += part
    os.close(leader)
    done = subprocess.CompletedProcess(child.args, child.wait(timeout=120))
    assert done.returncode == 0
    text = shown.decode("utf-8", "replace")
    assert "rows/s" in text and "6000 rows in" in text
    quiet = tuneprint_cli("batch", big, tmp_path / "o2.parquet", "--quiet")
    assert "rows/s" not in quiet.stdout + quiet.stderr


def mixed_batch(tmp_path: Path, copies: int) -> Path:
    """The sample rows many times over, ids made unique: good rows and bad ones."""
    rows = []
    for k in range(copies):
        for row in SAMPLE_ROWS:
            rows.append([f"{row[0]}{k}" if row[0] else "", *row[1:]])
    return write_csv(tmp_path / "mixed.csv", SAMPLE_HEADER, rows)


def test_worker_processes_give_the_single_process_file(newest: Ruleset, tmp_path: Path) -> None:
    source = mixed_batch(tmp_path, 700)
    one = run_batch(source, tmp_path / "one.parquet", newest, chunk_rows=500)
    two = run_batch(source, tmp_path / "two.parquet", newest, chunk_rows=500, workers=2)
    assert (one.rows, one.ok, one.errors) == (two.rows, two.ok, two.errors) == (4200, 2100, 2100)
    a, b = pq.read_table(tmp_path / "one.parquet"), pq.read_table(tmp_path / "two.parquet")
    assert a.schema == b.schema and a.to_pylist() == b.to_pylist()


def test_worker_processes_run_from_any_folder_and_leave_no_part_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers load the ruleset from its folder and hand their rows back as Arrow files in
    a temporary folder: from a working folder outside the checkout (where a cached
    ruleset once held its folders relative to another one) the run gives the one-process
    file, and the temporary folder is removed."""
    import tempfile

    from tuneprint import load_ruleset

    source = mixed_batch(tmp_path, 100)
    parts = tmp_path / "tmp"
    parts.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(parts))
    monkeypatch.setenv("TUNEPRINT_CACHE_DIR", str(tmp_path / "cache"))  # workers inherit it
    monkeypatch.chdir(RULES.parent)
    load_ruleset(Path("rules") / NEWEST.name)  # a cache entry written with relative folders
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rs = load_ruleset()
    one = run_batch(source, tmp_path / "one.parquet", rs, chunk_rows=100)
    two = run_batch(source, tmp_path / "two.parquet", rs, chunk_rows=100, workers=2)
    assert (one.rows, one.ok, one.errors) == (two.rows, two.ok, two.errors) == (600, 300, 300)
    a, b = pq.read_table(tmp_path / "one.parquet"), pq.read_table(tmp_path / "two.parquet")
    assert a.to_pylist() == b.to_pylist()
    assert list(parts.iterdir()) == []


def test_dask_on_a_local_cluster_of_two_workers_gives_the_single_process_file(
    newest: Ruleset, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    from tuneprint.batch.cluster import run_on_dask

    source = mixed_batch(tmp_path, 300)
    single = run_batch(source, tmp_path / "single.parquet", newest, chunk_rows=256)
    spread = run_on_dask(
        source, tmp_path / "dask.parquet", newest, chunk_rows=256, rows_per_part=500
    )
    assert (spread.rows, spread.ok, spread.errors) == (single.rows, single.ok, single.errors)
    a, b = pq.read_table(tmp_path / "single.parquet"), pq.read_table(tmp_path / "dask.parquet")
    assert a.schema == b.schema
    assert a.to_pylist() == b.to_pylist()  # rows, lines, values, provenance, errors
    assert json.loads(b.column("error")[2].as_py())[0]["line"] == 4  # lines of the whole file
    # and to CSV out, through the command, on a cluster given by its address
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, processes=True,
                      # (its HTTP server on a free port: not 8787, which a cluster of
                      # another test running at once may hold)
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                      ) as cluster:  # fmt: skip
        done = tuneprint_cli(
            "batch", source, tmp_path / "dask.csv", "--engine", "dask",
            "--scheduler", cluster.scheduler_address, "-q",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1800 rows in, 900 estimated, 900 errors" in done.stdout
    # an error of the whole input is one message, not a log of a worker's traceback (the
    # local cluster's workers write to the command's standard error)
    header = tmp_path / "header.csv"
    header.write_text("id,gpu_model\n")
    done = tuneprint_cli("batch", header, tmp_path / "header.parquet", "--engine", "dask", "-q")
    said = done.stderr.strip()
    assert done.returncode == 2 and said == f"error: {header}: the batch holds no rows", said
    run_batch(source, tmp_path / "single.csv", newest)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "single.csv").read_bytes()


# -- memory --------------------------------------------------------------------------------

MEMORY_RUN = r"""
import resource, sys
if len(sys.argv) > 3:
    cap = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from tuneprint.cli import run
if sys.argv[1] == "read-all":  # the small run, then the big file held whole as text
    run(["batch", sys.argv[4], sys.argv[4] + ".parquet", "--chunk-rows", "4096", "-q"])
    data = open(sys.argv[2], encoding="utf-8").read()
    sys.exit(0)
code = run(["batch", sys.argv[1], sys.argv[2], "--chunk-rows", "4096", "-q"])
status = open("/proc/self/status").read()
print("VMPEAK", int(status.split("VmPeak:")[1].split()[0]) * 1024)
sys.exit(code)
"""
HEADROOM = 300 * 2**20  # address space above the same run on a small file


def padded_rows(kind: str, path: Path, size: int) -> Path:
    """A file of ``size`` bytes whose rows are padded with spaces (cells of text stay under
    the cell limit, JSON with spaces between its tokens): many bytes, few rows."""
    pad = " " * 440
    if kind == "csv":
        head = "id,base_model,gpu_model,gpu_count,cloud_region,reserved_hours,start_time\n"
        rows = [
            f"x,{pad}Llama 2 13B{pad},{pad}A100 80GB{pad},8,{pad}us-west-2{pad},48.5,2023-07-18\n",
            f"y,{pad}Mistral 7B{pad},{pad}H100{pad},2,{pad}europe-west4{pad},3.25,2024-02-01\n",
        ]
    else:
        head = ""
        rows = [f'{{"id": "x",{pad * 100}"values": {{"base_model": "Llama 2 13B",{pad}'
                f'"gpu_model": "A100 80GB", "gpu_count": 8, "cloud_region": "us-west-2",{pad}'
                '"reserved_hours": 48.5, "start_time": "2023-07-18"}}\n']  # fmt: skip
    block = "".join(rows) * (400 if kind == "csv" else 20)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head)
        written = len(head)
        while written < size:
            handle.write(block)
            written += len(block)
    return path


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
@pytest.mark.parametrize(("kind", "size"), [("csv", 330 * 2**20), ("jsonl", 330 * 2**20)])
def test_a_file_larger_than_the_memory_cap_runs_in_bounded_memory(
    kind: str, size: int, tmp_path: Path
) -> None:
    """The run's address space is capped at that of the same run on a small file plus
    300 MiB, and the file is larger than that headroom: reading it whole would fail (the
    test checks), streaming it does not."""
    big = padded_rows(kind, tmp_path / f"big.{kind}", size)
    small = padded_rows(kind, tmp_path / f"small.{kind}", 2**20)

    def child(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", MEMORY_RUN, *map(str, args)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    base = child(small, tmp_path / "small.parquet")
    assert base.returncode == 0, base.stderr
    cap = int(base.stdout.split("VMPEAK")[1].split()[0]) + HEADROOM
    assert big.stat().st_size > HEADROOM
    holding = child("read-all", big, str(cap), small)
    assert holding.returncode != 0 and "MemoryError" in holding.stderr  # the cap binds
    done = child(big, tmp_path / "big.parquet", str(cap))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = pq.read_metadata(tmp_path / "big.parquet").num_rows
    with open(big, encoding="utf-8") as handle:
        expected = sum(1 for line in handle if line.strip())
    assert rows == expected - (1 if kind == "csv" else 0)
    errors = pq.read_table(tmp_path / "big.parquet", columns=["error"]).column("error")
    assert errors.null_count == rows  # every row estimated


def test_without_the_batch_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    """pyarrow missing (as without ``tuneprint[batch]``): one line naming the extra, exit 2."""
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from tuneprint.cli import run\n"
        f"sys.exit(run(['batch', {str(SEED_CSV)!r}, {str(tmp_path / 'out.csv')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert 'pip install "tuneprint[batch]"' in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.csv").exists()


SEED_CSV = Path(__file__).resolve().parent.parent / "fixtures" / "batch" / "catalogue.csv"


def test_the_shipped_catalogue_keeps_every_row_and_places_each_error(tmp_path: Path) -> None:
    """The README's batch example: eight rows out, each error with its file and line as
    separate fields (a row no rule could resolve included)."""
    done = tuneprint_cli("batch", SEED_CSV, tmp_path / "out.jsonl", "-q")
    assert done.returncode == 0, done.stderr
    assert "8 rows in, 5 estimated, 3 errors" in done.stdout
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(2, 10))
    errors = {r["id"]: r["error"] for r in rows if r["error"]}
    assert {i: (e[0]["code"], e[0]["line"]) for i, e in errors.items()} == {
        "bad-count": ("type", 7),
        "unknown-gpu": ("unknown-name", 8),
        "model-only": ("unresolved", 9),
    }
    assert all(p["file"] == str(SEED_CSV) or p["file"].endswith("catalogue.csv")
               for e in errors.values() for p in e)  # fmt: skip


def test_the_command_default_chunk_is_the_engine_default() -> None:
    from tuneprint.batch.run import CHUNK_ROWS
    from tuneprint.cli import batch as command

    assert command.CHUNK_ROWS == CHUNK_ROWS


def test_rows_failing_alike_each_name_their_own_line(tmp_path: Path, newest: Ruleset) -> None:
    """Unresolved rows disclosing the same values share their analysis: each still names
    its own line, with the message the per-disclosure engine gives."""
    source = write_csv(tmp_path / "same.csv", ["id", "base_model"],
                       [["a", "Llama 2 13B"], ["b", "Mistral 7B"], ["c", "Llama 2 13B"],
                        ["d", "Llama 2 13B"]])  # fmt: skip
    run_batch(source, tmp_path / "out.jsonl", newest)
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    alone = tuneprint_cli("estimate", source, "--format", "json")
    expected = [e["errors"] for e in json.loads(alone.stdout)]
    assert [r["error"] for r in rows] == expected
    assert [{p["line"] for p in r["error"]} for r in rows] == [{2}, {3}, {4}, {5}]


def test_a_batch_run_imports_neither_pandas_nor_rich(sample: Path, tmp_path: Path) -> None:
    """Start-up counts in a batch's time: pyarrow's ``array`` imports pandas when it is
    installed (as it is here), and rich is for the progress bar alone. A quiet run from a
    CSV file to Parquet (and a Parquet file in) imports neither."""
    parquet_in = to_parquet(sample, tmp_path / "in.parquet")
    code = (
        "import sys\n"
        "from tuneprint.cli import run\n"
        f"run(['batch', {str(sample)!r}, {str(tmp_path / 'a.parquet')!r}, '-q'])\n"
        f"run(['batch', {str(parquet_in)!r}, {str(tmp_path / 'b.parquet')!r}, '-q'])\n"
        "print(sorted(m for m in ('pandas', 'rich') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert pq.read_table(tmp_path / "a.parquet").num_rows == len(SAMPLE_ROWS)


def test_rows_refused_for_the_same_cells_each_name_their_own_line(
    tmp_path: Path, newest: Ruleset
) -> None:
    """Rows refused for the same cells (a count of "four", an unknown GPU, a long id)
    share the reader's problems: each names its own line, with the problems the
    per-disclosure reader gives that row, other cells of the row notwithstanding."""
    header = ["id", "gpu_model", "gpu_count", "reserved_hours", "cloud_region"]
    rows = [
        ["a", "A100 80GB", "four", "10", "us-west-2"],
        ["b", "GPX 9000", "four", "12.5", ""],
        ["c", "H100", "four", "-3", "us-west-2"],
        ["d", "GPX 9000", "2", "7", "us-west-2"],
        ["e", "GPX 9000", "four", "1", "europe-west4"],
        ["x" * 1200, "H100", "four", "2", ""],
        ["g", "A100 80GB", "four", "3", "no such region"],
        ["h", "A100 80GB", "8", "3", "us-west-2"],
    ] * 3
    source = write_csv(tmp_path / "refused.csv", header, rows)
    alone = tuneprint_cli("estimate", source, "--format", "json")
    want = [e.get("errors") for e in json.loads(alone.stdout)]
    assert all(want[i] for i, row in enumerate(rows) if row[0] != "h")
    run_batch(source, tmp_path / "out.jsonl", newest, chunk_rows=64)
    got = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["error"] for r in got] == want
    # a Parquet file: the same problems, each at its row's position (its line less one)
    parquet = to_parquet(source, tmp_path / "refused.parquet")
    run_batch(parquet, tmp_path / "out.jsonl", newest, chunk_rows=64)
    got = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    for row, expected in zip(got, want, strict=True):
        if len(row["id"]) > 1000:  # a Parquet cell's length is not a problem
            continue
        shifted = [{**p, "file": str(parquet), "line": p["line"] - 1} for p in expected or []]
        assert (row["error"] or []) == shifted, row["row"]


@settings(deadline=None, max_examples=200)
@given(st.lists(st.text(alphabet="0123456789.-+e _\n\t\x7f\u00e9\u3000", max_size=7), max_size=40))
def test_cell_forms_read_byte_by_byte_are_the_patterns(texts: list[str]) -> None:
    """The plain number form and the printable cells, read byte by byte with NumPy, are
    what Arrow's regular expressions match, at any offset of a column."""
    from tuneprint.batch import arrays
    from tuneprint.batch.columns import PLAIN_NUMBER, PRINTABLE

    column = pa.array(["12.5", "x", *texts], pa.string()).slice(1)
    for pattern, by_bytes in ((PLAIN_NUMBER, arrays.plain_numbers), (PRINTABLE, arrays.printable)):
        expected = pc.match_substring_regex(column, pattern).to_pylist()
        assert by_bytes(column).tolist() == expected, pattern
    # spaces taken off both ends, as Arrow's trim does (the column itself when it has none)
    for part in (column, column.slice(1), pa.array(texts, pa.string())):
        assert arrays.trimmed(part).to_pylist() == pc.utf8_trim(part, " ").to_pylist()


def plain_lines(data: bytes, columns: int) -> bool:
    """What ``plain_csv`` tells, line by line: UTF-8 without a byte-order mark, quotes or
    carriage returns, every line (the last may lack its newline) of ``columns`` cells, and
    a line after the first (the header)."""
    if columns < 2 or data.startswith(b"\xef\xbb\xbf"):
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if '"' in text or "\r" in text:
        return False
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # (the file ends with a newline)
    return len(lines) > 1 and all(line.count(",") == columns - 1 for line in lines)


# pieces of CSV files: cells, separators, what makes a record not plain, characters of two
# and three bytes (and the byte-order mark), and bytes that are not UTF-8 where they stand
PIECES = [b"a", b"b", b",", b"\n", b"\r", b'"', *(c.encode() for c in "\u00e9\u20ac\ufeff")]
PIECES += [b"\xff", b"\xc3", b"\x80"]


@settings(deadline=None, max_examples=300)
@given(
    st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join),
    st.integers(2, 4),
    st.integers(1, 9),
)
def test_a_plain_csv_is_told_as_line_by_line(data: bytes, columns: int, block: int) -> None:
    """The scan that lets a CSV file be cut at any line into parts Arrow reads (Dask), in
    blocks of any size, tells what reading it line by line tells (also of a character, or
    the byte-order mark, cut at a block's end)."""
    from tuneprint.batch import formats

    told = told_in_blocks(lambda path: formats.plain_csv(path, columns), data, block)
    assert told == plain_lines(data, columns)


def told_in_blocks(check: Callable[[Path], bool], data: bytes, block: int) -> bool:
    """What a check of a file's bytes tells, the file scanned in blocks of ``block`` bytes
    (a hypothesis test's own folder: a pytest fixture would be shared by its examples)."""
    import tempfile

    from tuneprint.batch import formats

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.csv"
        path.write_bytes(data)
        saved = formats.SCAN_BLOCK
        formats.SCAN_BLOCK = block
        try:
            return bool(check(path))
        finally:
            formats.SCAN_BLOCK = saved


def test_a_last_line_without_its_newline_is_a_row_whole_or_short(
    newest: Ruleset, tmp_path: Path
) -> None:
    """A CSV file whose last line has no newline: a whole record is estimated, a short one
    is that row's error, as every other short row is (not a failure of the batch)."""
    header = "id,gpu_model,gpu_count,reserved_hours,cloud_region\n"
    rows = "a,H100,8,10,us-west-2\nb,H100,8,20,us-west-2"
    whole = write_bytes(tmp_path / "whole.csv", header + rows)
    short = write_bytes(tmp_path / "short.csv", header + "a,H100,8,10,us-west-2\nb")
    counts = run_batch(whole, tmp_path / "whole.parquet", newest)
    assert (counts.rows, counts.ok, counts.errors) == (2, 2, 0)
    counts = run_batch(short, tmp_path / "short.parquet", newest)
    assert (counts.rows, counts.ok, counts.errors) == (2, 1, 1)
    (problem,) = json.loads(read_output(tmp_path / "short.parquet").column("error")[1].as_py())
    assert problem["line"] == 3 and "fewer than" in problem["message"]


def write_bytes(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_the_plain_number_form_is_read_past_millions_of_points_and_long_cells() -> None:
    """A cell of millions of points, one of millions of digits, and cells with points,
    minus signs and other bytes in every place: each is read as the pattern reads it, at
    any offset of the column (the long cells are left to the slow path by the caller, for
    their length, not here)."""
    from tuneprint.batch import arrays
    from tuneprint.batch.columns import PLAIN_NUMBER

    cells = ["." * 3_000_000, "1.5", "-0.25", "1" * 2_100_000, "007", "-", "3", "1.2.3",
             "1-2", "--1", "-.5", "5.", "/", "1/2", "0", "-0", "0.0", "12a", ""]  # fmt: skip
    column = pa.array(cells)
    assert arrays.plain_numbers(column).tolist() == [
        False, True, True, True, False, False, True, False,
        False, False, False, False, False, False, True, True, True, False, False,
    ]  # fmt: skip
    for part in (column, column.slice(1, 2), column.slice(4), column.slice(7, 5)):
        expected = pc.match_substring_regex(part, PLAIN_NUMBER).to_pylist()
        assert arrays.plain_numbers(part).tolist() == expected


def test_the_plain_number_form_of_every_short_cell_is_the_pattern() -> None:
    """Every cell of up to four bytes of digits, points, minus signs, a slash (the byte
    between them) and a letter: read byte by byte as the pattern reads it."""
    import itertools

    from tuneprint.batch import arrays
    from tuneprint.batch.columns import PLAIN_NUMBER

    cells = ["".join(p) for k in range(5) for p in itertools.product("019.-/a", repeat=k)]
    column = pa.array(["x", *cells], pa.string()).slice(1)
    expected = pc.match_substring_regex(column, PLAIN_NUMBER).to_pylist()
    assert arrays.plain_numbers(column).tolist() == expected
    assert sum(expected) > 100  # (the form is found, not only refused)


@settings(deadline=None, max_examples=100)
@given(
    st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.booleans()),
             max_size=60),
    st.sampled_from(["<f8", "<i8", "<i4", "<u1", "bool"]),
)  # fmt: skip
def test_zeroed_is_np_where_with_zero_bit_for_bit(
    rows: list[tuple[float, bool]], kind: str
) -> None:
    """Values where a mask holds and 0 elsewhere, without a branch per row: the same bits
    as ``np.where(mask, values, 0)`` (+0.0, never -0.0 or NaN), of every width, also of a
    column seen with a stride or broadcast from one value; and the choice between two
    boolean columns is ``np.where``'s."""
    from tuneprint.batch import arrays
    from tuneprint.batch.vector import _choose

    floats = np.array([v for v, _ in rows], dtype=np.float64)
    keep = np.array([k for _, k in rows], dtype=bool)
    if kind == "<f8":
        values = floats
    elif kind == "bool":
        values = floats > 0
    else:
        with np.errstate(invalid="ignore"):
            values = np.nan_to_num(floats, posinf=7, neginf=-7).astype(kind)
    for column, mask in ((values, keep), (np.repeat(values, 2)[::2], keep)):
        expected = np.where(mask, column, np.zeros(1, dtype=column.dtype))
        got = arrays.zeroed(column, mask)
        assert got.dtype == column.dtype
        assert got.tobytes() == expected.tobytes()
    if len(values):
        one = np.broadcast_to(values[:1], values.shape)  # (stride 0, read-only)
        expected = np.where(keep, one, np.zeros(1, dtype=values.dtype))
        assert arrays.zeroed(one, keep).tobytes() == expected.tobytes()
    flags = floats > 0
    assert (_choose(keep, flags, ~flags) == np.where(keep, flags, ~flags)).all()


def test_a_number_column_of_few_values_is_grouped_by_value(newest: Ruleset) -> None:
    """A count taking four values is grouped by value, as names are: runs start where it
    changes, and within a run it no longer varies; hours, all different, still do, as do
    shares of many values, however few rows disclose them. The
    first rows of those runs are resolved by runs of names alone."""
    from tuneprint.batch.engine import steady_numbers
    from tuneprint.batch.vector import (
        NUM,
        Chunk,
        Interner,
        RunResolver,
        Vec,
        resolver_of,
        runs_of,
        varying,
    )

    n = 4096
    rows = np.arange(n)
    chunk = Chunk(n, Interner())
    every = np.ones(n, dtype=bool)
    chunk.disclose("gpu_count", Vec(NUM, np.sort(2.0 ** (rows % 4))), every)
    chunk.disclose("reserved_hours", Vec(NUM, 1.0 + rows / 7), every)
    assert steady_numbers(chunk) == {"gpu_count"}
    # a share every fourth row discloses, each different: a sample of every fourth row
    # would miss them all; it is judged on the rows that disclose it
    sparse = np.zeros(n, dtype=bool)
    sparse[1::4] = True
    chunk.disclose("gpu_utilization", Vec(NUM, rows / n), sparse)
    assert steady_numbers(chunk) == {"gpu_count"}
    # 17 shares would make up to 17 times the runs: more than grouping saves
    chunk.disclose("gpu_utilization", Vec(NUM, (rows % 17) / 17), every)
    assert steady_numbers(chunk) == {"gpu_count"}
    chunk.disclose("gpu_utilization", Vec(NUM, (rows % 16) / 16), every)
    assert steady_numbers(chunk) == {"gpu_count", "gpu_utilization"}
    del chunk.values["gpu_utilization"], chunk.present["gpu_utilization"]
    assert runs_of(chunk).tolist() == [0]  # numbers alone do not start runs
    chunk.steady = steady_numbers(chunk)
    assert runs_of(chunk).tolist() == [0, 1024, 2048, 3072]
    moving = varying(newest, chunk)
    assert "reserved_hours" in moving and "gpu_count" not in moving
    resolver = resolver_of(newest, chunk)
    assert isinstance(resolver, RunResolver) and isinstance(resolver.runs, RunResolver)
    assert "gpu_count" in resolver.runs.moving  # by the four first rows, not by the one


@settings(deadline=None, max_examples=200)
@given(st.lists(st.booleans(), max_size=70))
def test_a_validity_made_once_is_the_one_arrow_makes(valid: list[bool]) -> None:
    """The bitmap and null count shared by the output columns that have the same rows are
    those of an Arrow column with nulls where ``valid`` is false."""
    from tuneprint.batch import arrays

    data = np.arange(len(valid), dtype=np.float64)
    made = arrays.numbers(data, pa.float64(), valid=arrays.validity(np.array(valid, dtype=bool)))
    made.validate(full=True)
    assert made.to_pylist() == [
        x if ok else None for x, ok in zip(data.tolist(), valid, strict=True)
    ]


def test_a_column_is_uniform_only_when_every_row_holds_its_first_value() -> None:
    from tuneprint.batch.engine import _uniform

    assert _uniform(np.zeros(0)) and _uniform(np.full(5, 2.5)) and _uniform(np.ones(3, bool))
    assert not _uniform(np.array([1.0, 2.0, 1.0])) and not _uniform(np.full(3, np.nan))
    assert not _uniform(np.array([True, False, True]))


def test_a_formulas_constant_is_one_value_seen_as_a_column(newest: Ruleset) -> None:
    """A constant of a formula is made once per chunk, as a read-only view of one value
    (no column of copies), of the kind the formula reads it as."""
    from tuneprint.batch.vector import BOOL, NUM, TEXT, Chunk, Interner, Resolver

    resolver = Resolver(newest, Chunk(5, Interner()))
    for value, kind, dtype in ((2.5, NUM, np.float64), (3, NUM, np.float64),
                               (True, BOOL, np.bool_), ("FR", TEXT, np.int64)):  # fmt: skip
        vec = resolver.constant(value)
        assert vec.kind == kind and vec.data.dtype == dtype and len(vec.data) == 5
        assert vec.data.strides == (0,) and not vec.data.flags.writeable
        assert resolver.constant(value) is vec
    assert resolver.constant(3).data.tolist() == [3.0] * 5
    assert resolver.interner.texts[int(resolver.constant("FR").data[0])] == "FR"
    assert resolver.constant(True).data.all() and resolver.constant(1).kind == NUM


RUN_ROWS = 64  # of the chunk of ``_resolution_by_runs``


def _resolution_by_runs(rs: Ruleset) -> Any:
    """A chunk of RUN_ROWS rows of one GPU, two runs of counts and hours row by row, resolved by
    runs (its every output field resolved)."""
    from tuneprint.batch.engine import steady_numbers
    from tuneprint.batch.vector import NUM, TEXT, Chunk, Interner, RunResolver, Vec, resolver_of

    n = RUN_ROWS
    interner = Interner()
    chunk = Chunk(n, interner)
    every = np.ones(n, dtype=bool)
    gpu = interner.code("nvidia-a100-sxm4-80gb")
    chunk.disclose("gpu_model", Vec(TEXT, np.full(n, gpu, dtype=np.int64)), every)
    chunk.disclose("gpu_count", Vec(NUM, np.repeat([1.0, 8.0], n // 2)), every)
    chunk.disclose("reserved_hours", Vec(NUM, np.arange(1.0, n + 1)), every)
    chunk.steady = steady_numbers(chunk)
    resolver = resolver_of(rs, chunk)
    assert isinstance(resolver, RunResolver)  # two runs of counts; hours row by row
    for name in rs.outputs:
        resolver.outcome(name)
    return resolver


def test_a_released_resolution_keeps_its_values_and_refuses_its_rules(newest: Ruleset) -> None:
    """Once its output columns are made, a chunk's resolution frees each rule's masks,
    the rules that applied and the errors (the next chunk is resolved with less held):
    its values still read back, by runs and row by row, and asking for what was freed
    raises rather than answering with no rows."""
    n = RUN_ROWS
    resolver = _resolution_by_runs(newest)
    names = [*newest.outputs]
    resolver.demand(names)
    order = np.random.default_rng(5).permutation(n)
    places = inverse_of(order)
    before = {name: resolver.values_in(name, order, places).copy() for name in names}
    codes = resolver.provenance_codes("total_emissions_kgco2e")
    resolver.release()
    for name in names:
        assert np.array_equal(
            resolver.values_in(name, order, places), before[name], equal_nan=True
        )
        assert resolver.outcomes[name].tried == [] and resolver.outcomes[name].reach == []
    for ask in (
        lambda: resolver.demand(names),
        lambda: resolver.provenance_codes("total_emissions_kgco2e"),
        lambda: resolver.tries("total_emissions_kgco2e"),
        lambda: resolver.outcome("gpu_energy_kwh"),  # not resolved before
    ):
        with pytest.raises(RuntimeError, match="released"):
            ask()
    assert len(codes) == n


def test_a_resolution_by_runs_holds_no_spread_values_nor_a_mask_per_field(
    newest: Ruleset,
) -> None:
    """Once the fields are resolved, the values of the first rows spread to every row for
    the formulas are freed (the output reads the first rows, and a later read spreads them
    again, the same); what each row asks for holds one shared read-only mask for the
    fields every row asks for, and a mask of its own for a field only some rows ask for."""
    n = RUN_ROWS
    resolver = _resolution_by_runs(newest)
    names = [*newest.outputs]
    spread = {
        name: out.vec._data.copy()
        for name, out in resolver.outcomes.items()
        if getattr(out.vec, "_data", None) is not None
    }
    assert spread  # (the formulas read some: the GPU's power, the grid's intensity)
    order = np.random.default_rng(6).permutation(n)
    places = inverse_of(order)
    before = {name: resolver.values_in(name, order, places) for name in names}
    resolver.drop_spread()
    assert all(resolver.outcomes[name].vec._data is None for name in spread)
    for name, data in spread.items():
        assert np.array_equal(resolver.outcomes[name].vec.data, data, equal_nan=True)
    for name in names:
        assert np.array_equal(
            resolver.values_in(name, order, places), before[name], equal_nan=True
        )
    asked = resolver.demand(names)
    shared = asked[names[0]]
    assert shared.all() and not shared.flags.writeable
    assert all(asked[name] is shared for name in names)
    assert all(m is shared or (m.any() and not m.all()) for m in asked.values())
    assert set(asked) <= set(resolver.outcomes)  # (only fields resolved: none made up)


@pytest.mark.parametrize("grouped", [True, False])
def test_an_output_column_made_frees_its_fields_resolution(
    grouped: bool, newest: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making the output, each value column taken from the resolution drops that field's
    outcome at once (its arrays freed before the next column is made: the chunk's peak
    is lower), by runs or row by row, and the output is the same as the rows' engine's."""
    from tuneprint.batch import engine

    if not grouped:
        monkeypatch.setattr(engine, "grouping", lambda columns: None)
    built: list[Any] = []
    batch = engine._Builder.batch

    def watched(builder: Any, rows: Any) -> Any:
        sources = dict(builder.sources)
        assert sources and all(name in s.outcomes for name, s in sources.items())
        out = batch(builder, rows)
        built.append(sources)
        return out

    rows = [row for _ in range(20) for row in SAMPLE_ROWS]
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(SAMPLE_HEADER)})
    by_rows = estimate_table(table, newest, engine="rows")
    monkeypatch.setattr(engine._Builder, "batch", watched)
    out = estimate_table(table, newest)
    assert built and all(
        name not in source.outcomes for sources in built for name, source in sources.items()
    )
    assert out.num_rows == len(rows)
    assert out.drop_columns(["id"]).to_pylist() == by_rows.drop_columns(["id"]).to_pylist()


def test_a_column_the_same_for_every_run_is_spread_without_a_copy_per_run(newest: Ruleset) -> None:
    """Spreading the first rows of runs to every row: a mask the same for every run is
    one shared array that cannot be written to (a write would change every field that
    shares it), as is a mixed mask once spread (most masks are spread again), another
    uniform column is its one value seen as a column (a read-only
    view), and anything else (NaN included) is repeated run by run."""
    from tuneprint.batch.vector import NUM, Chunk, Interner, RunResolver, Vec

    chunk = Chunk(6, Interner())
    chunk.disclose("gpu_count", Vec(NUM, np.arange(6.0)), np.ones(6, dtype=bool))
    resolver = RunResolver(newest, chunk, np.array([0, 1, 3]))  # runs of 1, 2 and 3 rows
    every = resolver.spread_runs(np.ones(3, dtype=bool))
    assert every.tolist() == [True] * 6 and not every.flags.writeable
    assert resolver.spread_runs(np.ones(3, dtype=bool)) is every
    none = resolver.spread_runs(np.zeros(3, dtype=bool))
    assert none.tolist() == [False] * 6 and not none.flags.writeable
    with pytest.raises(ValueError):
        none[0] = True
    mixed = resolver.spread_runs(np.array([True, False, True]))
    assert mixed.tolist() == [True, False, False, True, True, True]
    assert not mixed.flags.writeable  # spread once, shared by every later same mask
    assert resolver.spread_runs(np.array([True, False, True])) is mixed
    other = resolver.spread_runs(np.array([False, True, True]))
    assert other.tolist() == [False, True, True, True, True, True] and other is not mixed
    filled = resolver.spread_runs(np.full(3, 7, dtype=np.int16))
    assert filled.tolist() == [7] * 6 and filled.dtype == np.int16
    assert filled.strides == (0,) and not filled.flags.writeable  # one value, seen six times
    nan = resolver.spread_runs(np.array([np.nan, np.nan, np.nan]))
    assert np.isnan(nan).all() and len(nan) == 6
    assert resolver.spread_runs(np.array([1.0, 2.0, 3.0])).tolist() == [1, 2, 2, 3, 3, 3]


def test_a_rule_reads_no_further_than_its_first_input_no_row_has(newest: Ruleset) -> None:
    """As the per-disclosure resolver stops at a rule's first missing input, a rule whose
    input no row has does not resolve its later inputs (it read them for every row: a
    tenth of a benchmark run), and gives the same rows."""
    from tuneprint.batch.vector import NUM, TEXT, Chunk, Interner, Resolver, Vec

    interner = Interner()
    chunk = Chunk(4, interner)
    every = np.ones(4, dtype=bool)
    chunk.disclose(
        "gpu_model", Vec(TEXT, np.full(4, interner.code("nvidia-h100-sxm5-80gb"))), every
    )
    chunk.disclose("gpu_count", Vec(NUM, np.array([8.0, 8.0, 4.0, 2.0])), every)
    chunk.disclose("reserved_hours", Vec(NUM, np.array([10.0, 20.0, 30.0, 40.0])), every)
    resolver = Resolver(newest, chunk)
    energy = resolver.outcome("it_energy_kwh")
    rules = [r.id for r in newest.rules["it_energy_kwh"]]
    k = rules.index("it_energy_kwh.gpu_hours")
    assert not resolver.outcomes["gpu_hours"].ok.any()  # (what the test is about)
    assert [dep for dep, _ in energy.reach[k]] == ["gpu_hours"]
    assert energy.ok.all() and set(energy.rule.tolist()) == {
        rules.index("it_energy_kwh.cluster_model")
    }


def test_a_resolution_by_runs_is_freed_as_soon_as_it_is_let_go(newest: Ruleset) -> None:
    """A resolver by runs, with fields spread from the first rows and values taken in
    another order, holds no reference to itself: its arrays go when its last user lets
    go, not at the next garbage collection (by then, chunk after chunk, the peak memory
    of a batch had doubled)."""
    import gc
    import weakref

    from tuneprint.batch.vector import NUM, TEXT, Chunk, Interner, RunResolver, Vec

    interner = Interner()
    chunk = Chunk(6, interner)
    chunk.disclose("gpu_count", Vec(NUM, np.arange(1.0, 7.0)), np.ones(6, dtype=bool))
    code = interner.code("nvidia-a100-sxm4-80gb")
    chunk.disclose("gpu_model", Vec(TEXT, np.full(6, code)), np.ones(6, dtype=bool))
    chunk.disclose("reserved_hours", Vec(NUM, np.full(6, 10.0)), np.ones(6, dtype=bool))
    resolver = RunResolver(newest, chunk, np.array([0, 3]))
    for name in newest.outputs:
        resolver.outcome(name)
    spread = [n for n in resolver.outcomes if n not in resolver.moving]
    assert spread  # (fields taken from the first rows of runs)
    order = np.array([5, 3, 4, 0, 2, 1])
    for name in spread:
        whole = resolver.outcomes[name].vec.data
        assert resolver.values_in(name, order, inverse_of(order)).tolist() == whole[order].tolist()
        assert resolver.values_at(name, order[:2]).tolist() == whole[order[:2]].tolist()
        first = resolver.runs.outcomes[name]  # its rules, as the first rows' spread
        assert resolver.outcomes[name].rule.tolist() == np.repeat(first.rule, [3, 3]).tolist()
    gone = weakref.ref(resolver)
    gc.disable()
    try:
        del resolver
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "ids",
    [
        pa.array([" a ", "", None, "b\x01", "c", "  "]),
        pa.array([7, None, 9, 10, 11, 12]),
        pa.nulls(6),
    ],
)
def test_parquet_ids_are_those_of_the_per_disclosure_engine(
    ids: pa.Array, newest: Ruleset, tmp_path: Path
) -> None:
    """A Parquet input's id column, read as a column (strings) or value by value (other
    types): blank ids get FILE:ROW and spaces are trimmed, as the per-disclosure reader
    makes them (a cell that is not printable ASCII is left to it); the two engines write
    the same file."""
    n = len(ids)
    table = pa.table(
        {
            "id": ids,
            "gpu_model": ["A100 80GB"] * n,
            "gpu_count": pa.array([2] * n, pa.int64()),
            "cloud_region": ["us-west-2"] * n,
            "reserved_hours": [1.5] * n,
        }
    )
    got = both_engines(table, tmp_path / "in.parquet", newest).column("id").to_pylist()
    if pa.types.is_string(ids.type):
        assert got == ["a", "in:2", "in:3", "b\x01", "c", "in:6"]
    elif pa.types.is_null(ids.type):
        assert got == [f"in:{i}" for i in range(1, n + 1)]
    else:
        assert got[0] == "7" and got[1] == "in:2"


TEXTS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
QUOTED = st.sampled_from(['"line": 3', 'x"line": -4611686018427387897', "\\", '"', "é 😀"])


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.tuples(st.one_of(TEXTS, QUOTED), st.one_of(TEXTS, QUOTED), st.one_of(TEXTS, QUOTED)),
        min_size=1,
        max_size=4,
    ),
    line=st.integers(1, 10**12),
    at=st.integers(1, 10**12),
)
def test_a_repeated_refusal_is_the_json_of_its_problems_at_the_row(
    parts: list[tuple[str, str, str]], line: int, at: int
) -> None:
    """A row refused for the same cells as an earlier one gets the earlier row's problems
    at its own line, as the same JSON text the row's own problems give, whatever the
    problems' texts hold (quotes, backslashes, a line written in a message)."""
    import dataclasses

    from tuneprint.batch.columns import refusal_text
    from tuneprint.core.problems import Problem

    problems = [
        Problem(file, line, where, message, "type", field=where or None)
        for file, where, message in parts
    ]
    moved = [dataclasses.replace(p, line=at).as_dict() for p in problems]
    assert refusal_text(problems)(at).text == json.dumps(moved, ensure_ascii=False)


def test_typed_parquet_columns_give_the_per_disclosure_results(
    newest: Ruleset, tmp_path: Path
) -> None:
    """Parquet columns of times, dates, no type at all (every cell empty), lists and
    integers too large for a float are read as the per-disclosure engine reads them: the
    two engines write the same rows (a list is not a value: its rows are refused, each
    with its own line)."""
    import datetime as dt

    n = 40
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "gpu_model": ["A100 80GB", "H100"] * (n // 2),
            "gpu_count": pa.array([1 + i % 8 for i in range(n)], pa.int32()),
            "reserved_hours": [None if i % 7 == 3 else 0.5 + i for i in range(n)],
            "cloud_region": ["us-west-2"] * n,
            "start_time": pa.array(
                [
                    None if i % 5 == 0 else dt.datetime(2023, 1 + i % 12, 2, i % 24)
                    for i in range(n)
                ],
                pa.timestamp("us"),
            ),
            "published_date": pa.array(
                [dt.date(2024, 1 + i % 12, 1) for i in range(n)], pa.date32()
            ),
            "server_model": pa.nulls(n),
            "base_model": pa.array([["Llama 2 13B"] if i == 9 else None for i in range(n)]),
            "training_tokens": pa.array(  # beyond 2**53, not exact as a float: read per row
                [{4: 2**64 - 1, 5: 2**53 + 1}.get(i, 10**9 + i) for i in range(n)], pa.uint64()
            ),
        }
    )
    out = both_engines(table, tmp_path / "typed.parquet", newest)
    errors = out.column("error").to_pylist()
    (problem,) = json.loads(errors[9])
    assert (problem["line"], problem["field"], problem["code"]) == (10, "base_model", "type")
    (problem,) = json.loads(errors[4])  # 2**64 - 1 tokens: over the field's maximum
    assert (problem["line"], problem["field"], problem["code"]) == (5, "training_tokens", "bounds")
    assert errors[5] is None and out.column("training_tokens")[5].as_py() == float(2**53 + 1)
    assert sum(e is None for e in errors) >= n - 8  # the others are estimated


FREED_MEMORY = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from tuneprint.batch.memory import keep_freed_memory
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def chunk():  # arrays of about 2 MiB, touched, then freed, as a chunk's are
    arrays = [np.ones(262144 + 4096 * k) for k in range(8)]
    del arrays
chunk()
before = faults()
for _ in range(10):
    chunk()
print(faults() - before)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc's allocator",
)
def test_a_batch_process_reuses_the_memory_it_frees() -> None:
    """Told to (``keep_freed_memory``, as the command line and its workers are), glibc
    keeps the pages of freed arrays of a few MiB and serves the next chunk's arrays from
    them: no page is touched for the first time again. Left as it is, the same ten chunks
    fault tens of thousands of fresh pages in."""
    counts = {
        mode: int(
            subprocess.run(
                [sys.executable, "-c", FREED_MEMORY, mode],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for mode in ("leave", "keep")
    }
    assert counts["leave"] > 10_000  # (the cost this saves: a fresh page faults in)
    assert counts["keep"] < counts["leave"] // 20


def test_the_batch_command_keeps_the_memory_it_frees(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line's batch asks for it before the first chunk (a library caller's
    process is left as it is: ``run_batch`` does not)."""
    from tuneprint.batch import memory
    from tuneprint.cli.app import app
    from typer.testing import CliRunner

    asked: list[bool] = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: asked.append(True) or True)
    run_batch(sample, tmp_path / "api.parquet", tuneprint.load_ruleset(None))
    assert asked == []
    result = CliRunner().invoke(app, ["batch", str(sample), str(tmp_path / "o.parquet"), "-q"])
    assert result.exit_code == 0, result.output
    assert asked == [True]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_chunk_is_freed_before_the_next_is_estimated(
    newest: Ruleset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """No step of a run (reader, checker, estimator, writer loop) holds a chunk's input
    rows or its output rows while the next chunk is estimated: the memory of one chunk is
    reused by the next, and the peak is one chunk's, not two."""
    import gc
    import weakref

    import pyarrow.csv as pcsv
    from tuneprint.batch import engine

    source = tmp_path / "in.csv"
    source.write_text(
        "id,gpu_model,gpu_count,reserved_hours,country\n"
        + "".join(f"r{i},A100 80GB,{1 + i % 8},{10 + i},FR\n" for i in range(400)),
        encoding="utf-8",
    )
    if suffix == ".parquet":
        pq.write_table(pcsv.read_csv(source), tmp_path / "in.parquet")
        source = tmp_path / "in.parquet"
    inputs: list[weakref.ref[Any]] = []
    outputs: list[weakref.ref[Any]] = []
    held: list[int] = []
    estimate = engine.estimate_chunk

    def watched(layout: Any, columns: Any, *rest: Any, **named: Any) -> Any:
        gc.collect()  # (only what a reference holds stays)
        held.append(sum(r() is not None for r in inputs + outputs))
        inputs.append(weakref.ref(columns))
        out = estimate(layout, columns, *rest, **named)
        outputs.append(weakref.ref(out))
        return out

    monkeypatch.setattr("tuneprint.batch.run.estimate_chunk", watched)
    counts = run_batch(source, tmp_path / "out.parquet", newest, chunk_rows=100)
    assert counts.rows == 400 and held == [0, 0, 0, 0]


@pytest.mark.parametrize("rules", [0, 1, 62, 63, 64, 500])
def test_rule_codes_hold_every_rules_provenance_code(rules: int) -> None:
    """A field's rule indices and provenance codes (2 (k + 1) + 1 for rule k, with a
    warning) fit their type: a byte up to 63 rules, two bytes beyond."""
    from tuneprint.batch.vector import DISCLOSED, FAILED, rule_codes

    kind = rule_codes(rules)
    top = np.iinfo(kind)
    assert 2 * rules + 1 <= top.max and min(FAILED, DISCLOSED) >= top.min
    assert kind == (np.int8 if rules <= 63 else np.int16)


@given(st.lists(st.text(max_size=6) | st.binary(max_size=6), max_size=20), st.integers(0, 3))
def test_bytes_seen_as_text_are_the_text_arrow_checks(cells: list[str | bytes], cut: int) -> None:
    """A column of bytes as text: the same strings as Arrow's checked cast, seen without a
    copy where every byte is ASCII, and an error, not a wrong text, where a cell is not
    UTF-8 (also of a column sliced from a longer one, whose buffer holds cells outside it)."""
    from tuneprint.batch import arrays

    column = pa.array(
        [c.encode("utf-8") if isinstance(c, str) else c for c in cells], pa.binary()
    ).slice(min(cut, len(cells)))
    try:
        expected = column.cast(pa.string())
    except pa.ArrowInvalid:
        with pytest.raises(pa.ArrowInvalid):
            arrays.as_text(column)
        return
    got = arrays.as_text(column)
    assert got.type == pa.string() and got.equals(expected)
    got.validate(full=True)


@given(st.lists(st.binary(max_size=4), max_size=40), st.integers(0, 3))
def test_the_first_cell_not_utf8_is_found(cells: list[bytes], cut: int) -> None:
    """The first cell of a column of bytes that is not UTF-8 (that a changed file's message
    names by its line), as a cell-by-cell check finds it, also in a sliced column."""
    from tuneprint.batch import arrays

    def text(cell: bytes) -> bool:
        try:
            cell.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    column = pa.array(cells, pa.binary()).slice(min(cut, len(cells)))
    expected = next((i for i, c in enumerate(column.to_pylist()) if not text(c)), len(column))
    assert arrays.first_not_utf8(column) == expected


@pytest.mark.parametrize(
    ("header", "said"),
    [
        (b"id,gpu_count,gpu_model,reserved_hours", "column 2 is now 'gpu_count', was 'gpu_model'"),
        (b"id,gpu_model,gpu_count", "3 columns, were 4"),
        (b"id,gpu_model\xff,gpu_count,reserved_hours", "it is not UTF-8 text"),
    ],
)
def test_a_csv_header_changed_after_its_check_is_one_message(
    header: bytes, said: str, tmp_path: Path, newest: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV file whose header is no longer the one first read (the file was replaced
    between its check and its reading) stops the batch with one message naming the file
    and its first line, not an internal error."""
    from tuneprint.batch import formats
    from tuneprint.core.problems import InputError

    source = tmp_path / "replaced.csv"
    source.write_bytes(b"id,gpu_model,gpu_count,reserved_hours\nr1,A100 80GB,8,10\n")
    checked = formats.plain_text

    def replaced_after(path: Path) -> bool:
        plain = checked(path)
        cells = header.count(b",") + 1
        path.write_bytes(header + b"\n" + b",".join([b"r1", b"A100 80GB", b"8", b"10"][:cells]))
        return plain

    monkeypatch.setattr(formats, "plain_text", replaced_after)
    with pytest.raises(InputError) as raised:
        run_batch(source, tmp_path / "out.parquet", newest)
    assert f"{source}:1: its header changed since it was first read: {said}" in str(raised.value)


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        (b"r2,A100\xff 80GB,8,10\n", ":1002: gpu_model: not UTF-8 text (the file changed"),
        (b"r2,A100 80GB,8,1\xff0\n", ":1002: reserved_hours: not UTF-8 text (the file changed"),
    ],
)
def test_a_csv_file_changed_after_its_check_is_one_message(
    changed: bytes, said: str, tmp_path: Path, newest: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV file's first check (UTF-8, no quotes) lets Arrow read its cells as bytes
    unchecked; if the file is no longer what was checked (it changed in between), the
    batch stops with one message naming the file, not a traceback or a wrong text."""
    from tuneprint.batch import formats
    from tuneprint.core.problems import InputError

    source = tmp_path / "changed.csv"  # (the bytes past its first line's reading)
    rows = b"".join(b"r%d,A100 80GB,8,10\n" % i for i in range(1000))
    source.write_bytes(b"id,gpu_model,gpu_count,reserved_hours\n" + rows + changed)
    monkeypatch.setattr(formats, "plain_text", lambda path: True)  # as if checked
    with pytest.raises(InputError) as raised:
        run_batch(source, tmp_path / "out.parquet", newest)
    assert f"{source}{said}" in str(raised.value), str(raised.value)


def test_a_row_that_is_an_error_keeps_its_id_whichever_reader_takes_the_file(
    tmp_path: Path, newest: Ruleset
) -> None:
    """The rows that are errors keep the id their cells give (or FILE:LINE), whether the
    file is read by Arrow (plain records, Parquet) or by Python's reader (a quoted cell,
    JSON Lines): the same rows give the same output whatever reads them."""
    import pyarrow.parquet as pq

    header = ["id", "gpu_model", "gpu_count", "reserved_hours"]
    rows = [["a", "A100 80GB", "8", "10"], ["bad", "A100 80GB", "four", "10"], ["", "", "x", ""]]
    rows += [["c", "A100 80GB", "8", "-3"]]
    for folder in ("plain", "quoted", "parquet", "jsonl"):
        (tmp_path / folder).mkdir()
    plain = write_csv(tmp_path / "plain" / "rows.csv", header, rows)
    quoted = tmp_path / "quoted" / "rows.csv"  # (a quoted cell: Python's reader takes it)
    quoted.write_text(plain.read_text().replace("a,A100 80GB", 'a,"A100 80GB"'))
    parquet = tmp_path / "parquet" / "rows.parquet"
    pq.write_table(pa.table({h: [r[k] for r in rows] for k, h in enumerate(header)}), parquet)
    jsonl = tmp_path / "jsonl" / "rows.jsonl"
    values = {"gpu_model": "A100 80GB", "gpu_count": 8, "reserved_hours": 10}
    lines = [{"id": "a", "values": values}]
    lines += [{"id": "bad", "values": {"gpu_model": "A100 80GB", "gpu_count": "four"}}]
    lines += [{"values": {"gpu_count": "x"}}, {"id": "c", "values": {"reserved_hours": -3}}]
    # an id that is not text is its row's error, and gives no id (FILE:LINE)
    lines += [{"id": {"not": "text"}, "values": values}, {"id": 7, "values": values}]
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ids = {}
    for source in (plain, quoted, parquet, jsonl):
        target = source.with_name("out.parquet")
        run_batch(source, target, newest)
        out = read_output(target)
        assert out.column("error").null_count == 1  # (the first row estimated, three errors)
        ids[source.parent.name] = out.column("id").to_pylist()
    assert ids["plain"] == ids["quoted"] == ["a", "bad", "rows:4", "c"]  # (line 4: its row)
    assert ids["parquet"] == ["a", "bad", "rows:3", "c"]
    # ids of other characters than printable ASCII (each read again by the row's reader)
    rows = [["caf\u00e9", "A100 80GB", "four", "10"], ["\tx\u00a0", "A100 80GB", "x", "1"]]
    write_csv(plain, header, rows)
    quoted.write_text(plain.read_text().replace("\u00e9,A100 80GB", '\u00e9,"A100 80GB"'))
    pq.write_table(pa.table({h: [r[k] for r in rows] for k, h in enumerate(header)}), parquet)
    binary = tmp_path / "parquet" / "binary.parquet"  # (ids as bytes: their text)
    pq.write_table(
        pa.table({"id": pa.array([b"caf\xc3\xa9", b"x"]), "gpu_count": ["four", "x"]}), binary
    )
    for source in (plain, quoted, parquet, binary):
        run_batch(source, source.with_name("out.parquet"), newest)
        assert read_output(source.with_name("out.parquet")).column("id").to_pylist() == [
            "caf\u00e9", "x"
        ], source  # fmt: skip
    assert ids["jsonl"] == ["a", "bad", "rows:3", "c", "rows:5", "rows:6"]


def test_a_cell_over_pythons_field_limit_is_a_cell_over_the_limit(
    tmp_path: Path, newest: Ruleset
) -> None:
    """A cell longer than Python's CSV reader takes (131,072 characters) is that row's
    `limit` problem, as a cell over the limit of a file Arrow reads is, not "not valid
    CSV": the rows around it are estimated either way."""
    rows = "id,gpu_model,gpu_count,reserved_hours\na,A100 80GB,8,10\n"
    rows += f"b,{'x' * 200_000},8,10\nc,A100 80GB,8,10\n"
    problems = {}
    for name, text in (("plain", rows), ("quoted", rows.replace("a,A100", 'a,"A100'))):
        source = tmp_path / f"{name}.csv"
        source.write_text(text.replace('"A100 80GB', '"A100 80GB"'))
        run_batch(source, tmp_path / f"{name}.parquet", newest)
        errors = read_output(tmp_path / f"{name}.parquet").column("error").to_pylist()
        assert errors[0] is None and errors[2] is None, errors
        (problems[name],) = json.loads(errors[1])
    for problem in problems.values():
        assert problem["code"] == "limit" and problem["line"] == 3
        assert problem["message"] == "a cell of 200000 characters; the limit is 1000", problem


def test_a_long_quoted_cell_over_lines_is_its_lines_error_and_the_lines_after_are_rows(
    tmp_path: Path, newest: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quoted cell longer than Python's CSV reader takes by default, holding line breaks
    and lines that look like rows: no field's cell holds a line break, and a quote left
    open would take every line after it, so the line where it opens is the error and
    each line after it is read as a row of its own (the lines and rows of the file stay
    one for one). Past the longest cell the reader takes, the line is the error of that
    limit, and the lines after it are rows all the same (before: no output at all)."""
    from tuneprint.load import disclosures

    inside = "z" * 140_000 + "\nd,A100 80GB,8,10\ne,A100 80GB,8,10\n"
    source = tmp_path / "cell.csv"
    source.write_text(
        f'id,gpu_model,gpu_count,reserved_hours\nb,"{inside}",8,10\nc,A100 80GB,8,10\n'
    )
    import csv as csv_module

    kept = csv_module.field_size_limit()
    for limit, code in ((None, "syntax"), (100_000, "limit")):
        if limit is not None:
            monkeypatch.setattr(disclosures, "CSV_FIELD_CHARS", limit)
        counts = run_batch(source, tmp_path / "out.parquet", newest)
        assert csv_module.field_size_limit() == kept  # (other readers keep theirs)
        out = read_output(tmp_path / "out.parquet")
        assert (counts.rows, counts.ok, counts.errors) == (5, 3, 2)
        assert out.column("id").to_pylist() == ["cell:2", "d", "e", "cell:5", "c"]
        assert out.column("row").to_pylist() == [2, 3, 4, 5, 6]
        first = json.loads(out.column("error")[0].as_py())[0]
        assert first["code"] == code and first["line"] == 2, first
        if limit is not None:
            assert f"a cell of more than {limit} characters" in first["message"]
        else:
            assert "runs on to line 5" in first["message"]


def plain_bytes(data: bytes) -> bool:
    """What ``plain_text`` tells: UTF-8 without a byte-order mark, quotes or carriage
    returns, and a newline (a line may follow the header)."""
    if data.startswith(b"\xef\xbb\xbf") or b'"' in data or b"\r" in data or b"\n" not in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join), st.integers(1, 9))
def test_plain_text_is_told_as_a_whole_reading_tells_it(data: bytes, block: int) -> None:
    """The first check of a CSV file Arrow may read, in blocks of any size, tells what a
    reading of the whole file tells (also of a character cut at a block's end)."""
    from tuneprint.batch import formats

    assert told_in_blocks(formats.plain_text, data, block) == plain_bytes(data)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(
    "change",
    ["a short row", "a long row", "blank lines", "a line of spaces", "a short last line", None],
)
def test_a_csv_file_arrow_reads_gives_what_pythons_reader_gives(
    change: str | None, workers: int, tmp_path: Path, newest: Ruleset
) -> None:
    """Arrow reads a CSV file of plain text (UTF-8, no quotes), counting the cells of each
    line as it goes: a line of other cells than the header's, met in any chunk, has the
    file read again, whole, by Python's reader, and a blank line is a row of blank cells,
    skipped. Either way the rows out are Python's reader's, value for value, line for
    line, in the same columns, and the progress counts each row once."""
    from tuneprint.batch import formats

    header = "id,gpu_model,gpu_count,reserved_hours,cloud_region"
    lines = [f"r{i},A100 80GB,{1 + i % 8},{10 + i},us-west-2" for i in range(2500)]
    if change == "a short row":
        lines[2100] = "r2100,A100 80GB,8"
    elif change == "a long row":
        lines[1500] += ",7"
    elif change == "blank lines":
        lines[10:10] = ["", ""]
        lines.insert(2300, "")
    elif change == "a line of spaces":
        lines.insert(1800, "   ")
    elif change == "a short last line":
        lines[-1] = "r2499,A100"
    source = tmp_path / "in.csv"
    source.write_text(
        "\n".join([header, *lines]) + ("" if change == "a short last line" else "\n")
    )
    seen: list[int] = []
    fast = tmp_path / "fast.parquet"
    counts = run_batch(
        source, fast, newest, chunk_rows=1000, progress=seen.append, workers=workers
    )
    saved = formats.plain_text
    formats.plain_text = lambda path: False  # Python's reader, from the start
    try:
        run_batch(source, tmp_path / "python.parquet", newest, chunk_rows=1000)
    finally:
        formats.plain_text = saved
    got, want = read_output(fast), read_output(tmp_path / "python.parquet")
    assert counts.rows == got.num_rows == want.num_rows == sum(seen)
    assert got.num_rows == len([line for line in lines if line.strip()])
    assert got.schema == want.schema  # (the header's fields, whichever reader reads them)
    for column in got.column_names:
        assert got.column(column).to_pylist() == want.column(column).to_pylist(), column


MOVED_TYPES = ["float64", "int64", "int32", "uint16", "int8", "bool", "datetime64[us]"]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=300).flatmap(
        lambda n: st.tuples(st.permutations(range(n)), st.sampled_from(MOVED_TYPES))
    )
)
def test_values_moved_to_an_order_are_the_values_taken_in_it(case: tuple[list[int], str]) -> None:
    """Values moved to an order of all rows by writing each to its place (the wider
    values) or by reading each from its own (bytes) are what taking them gives."""
    from tuneprint.batch.vector import moved, take_rows

    rows, kind = case
    order = np.array(rows, dtype=np.int64)
    data = (np.arange(len(rows)) * 7 % 11).astype(kind)
    got = moved(data, order, inverse_of(order))
    assert got.dtype == data.dtype
    assert got.tolist() == take_rows(data, order).tolist() == data[order].tolist()
    back = moved(got, inverse_of(order), order)
    assert back.tolist() == data.tolist()


def test_a_batch_imports_no_module_its_start_up_need_not_pay_for(tmp_path: Path) -> None:
    """A run of the batch command leaves numpy.ma unimported: NumPy's ``unique`` of one
    array imports it (18 ms of each start-up), and the engine counts distinct values
    without it."""
    source = tmp_path / "in.csv"
    rows = [SAMPLE_HEADER, *SAMPLE_ROWS]
    source.write_text("\n".join(",".join(str(c) for c in row) for row in rows) + "\n")
    script = (
        "import sys\nfrom tuneprint.cli import main\n"
        f"sys.argv = ['tuneprint', 'batch', {str(source)!r}, {str(tmp_path / 'out.parquet')!r},"
        " '--quiet']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "assert 'numpy.ma' not in sys.modules, 'numpy.ma imported'\n"
        "assert 'numpy' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "6 rows in, 3 estimated, 3 errors" in done.stdout
