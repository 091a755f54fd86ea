"""tuneprint explain OUT --row N on outputs as a batch writes them and as a user may have
edited them: every row of unedited outputs of every format and ruleset explained (values,
provenance and warnings equal to the rebuilt ones); an edited value, a row given twice, a
changed unit, a removed column, a malformed cell, an unknown field, a cut hash each one
error naming the file, the row and the column, never an internal error."""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import tuneprint  # noqa: E402
from tuneprint.api import estimate  # noqa: E402
from tuneprint.batch import explain_row  # noqa: E402
from tuneprint.batch.formats import read_output  # noqa: E402
from tuneprint.batch.run import run_batch  # noqa: E402
from tuneprint.core.model import Ruleset  # noqa: E402
from tuneprint.core.problems import InputError, Problem, TuneprintError  # noqa: E402
from tuneprint.views.json import compact_record  # noqa: E402

from tests.conftest import FIXTURES, ROOT, RULES  # noqa: E402

KINDS = ("csv", "jsonl", "parquet")
VERSIONS = ("2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6")
GENERATED = 200  # rows of the benchmark's generator, with its corrupt rows
HEADER = "id,base_model,gpu_model,gpu_count,cloud_region,reserved_hours,gpu_utilization,start_time"
SEED = "seed,Llama 2 13B,A100 80GB,8,us-west-2,48.5,,2023-07-18"
OWN_ROWS = [  # times with a zone and a fraction of a second (written without the zone)
    "zoned,Llama 2 13B,A100 80GB,8,us-west-2,10,0.6,2024-01-01T10:00:00.25+14:00",
    "late,Llama 2 7B,H100,4,europe-west4,3.25,,2023-12-31T23:30-05:00",
]
RULESETS: dict[str, Ruleset] = {}


def ruleset(version: str = "2.6") -> Ruleset:
    if version not in RULESETS:
        RULESETS[version] = tuneprint.load_ruleset(RULES / version)
    return RULESETS[version]


def generator() -> Callable[[random.Random, int], list[str]]:
    """bench/batch_scale.py's ``disclosure``: rows like the methodology's cases."""
    spec = importlib.util.spec_from_file_location("batch_scale", ROOT / "bench" / "batch_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.disclosure, module.HEADER  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("inputs")
    disclosure, header = generator()
    rng = random.Random(11)
    generated = folder / "generated.csv"
    lines = [",".join(header)] + [",".join(disclosure(rng, i)) for i in range(GENERATED)]
    generated.write_text("\n".join(lines) + "\n", encoding="utf-8")
    own = folder / "own.csv"
    own.write_text("\n".join([HEADER, SEED, *OWN_ROWS]) + "\n", encoding="utf-8")
    return [*sorted((FIXTURES / "batch").glob("*.csv")), generated, own]


def one_row(tmp_path: Path, kind: str, version: str = "2.6") -> Path:
    """An output of the seed's row (row 2) and a row in error (row 3)."""
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{SEED}\nbad,Llama 2 13B,A100 80GB,four,us-west-2,1,,\n")
    target = tmp_path / f"out.{kind}"
    run_batch(source, target, ruleset(version))
    return target


def refused(path: Path, row: int = 2, field: str | None = None) -> str:
    """The one message of explaining the row, which must fail as a user's error."""
    with pytest.raises(TuneprintError) as caught:
        explain_row(path, row, field, ruleset())
    return str(caught.value)


# -- editing an output as a user would -----------------------------------------------------


def edit_csv(path: Path, target: Path, change: Callable[[list[list[str]]], None]) -> Path:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    change(rows)
    with open(target, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return target


def column(rows: list[list[str]], name: str) -> int:
    return next(k for k, h in enumerate(rows[0]) if h.split(" [")[0] == name)


def set_csv(path: Path, name: str, value: str, line: int = 1) -> Path:
    def change(rows: list[list[str]]) -> None:
        rows[line][column(rows, name)] = value

    return edit_csv(path, path.with_name(f"edited-{name}.csv"), change)


def edit_jsonl(path: Path, change: Callable[[dict[str, Any]], None], line: int = 0) -> Path:
    docs = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    change(docs[line])
    target = path.with_name("edited.jsonl")
    target.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return target


def set_jsonl(path: Path, name: str, value: Any) -> Path:
    def change(doc: dict[str, Any]) -> None:
        if value is None:
            del doc["values"][name]
        else:
            doc["values"][name]["value"] = value

    return edit_jsonl(path, change)


def set_parquet(path: Path, name: str, value: Any, index: int = 0) -> Path:
    table = pq.read_table(path)
    at = table.schema.get_field_index(name)
    cells = table.column(name).to_pylist()
    cells[index] = value
    kind = table.schema.field(at).type
    array = pa.array(cells).dictionary_encode() if pa.types.is_dictionary(kind) else None
    array = array if array is not None else pa.array(cells, type=kind)
    target = path.with_name("edited.parquet")
    pq.write_table(table.set_column(at, table.schema.field(at), array), target)
    return target


# -- unedited outputs ----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_every_row_of_unedited_outputs_is_explained(
    version: str, inputs: list[Path], tmp_path: Path
) -> None:
    """Each estimated row's values, provenance and warnings compare equal to its rebuilt
    estimate in every format (columns left empty, CSV's floats as text, times without
    their zone, JSON's own types); an error row gives its recorded error."""
    rs = ruleset(version)
    for source in inputs:
        outputs = {}
        for kind in KINDS:
            outputs[kind] = tmp_path / f"{source.stem}-{version}.{kind}"
            run_batch(source, outputs[kind], rs, chunk_rows=64)  # (rows of several chunks)
        rows = read_output(outputs["parquet"]).to_pylist()
        estimated = 0
        for kind, path in outputs.items():
            for row in rows:
                if row["error"] is None:
                    result = explain_row(path, row["row"], None, rs)
                    provenance = {k: compact_record(r) for k, r in result.fields.items()}
                    assert provenance == json.loads(row["provenance"]), (kind, row["row"])
                    estimated += 1
                    continue
                with pytest.raises(InputError) as caught:
                    explain_row(path, row["row"], None, rs)
                recorded = [Problem.from_dict(p) for p in json.loads(row["error"])]
                assert caught.value.problems == recorded, (kind, row["row"])
        assert estimated >= len(rows) // 3 * len(KINDS)  # (most rows are estimated)


def test_a_csv_output_gives_its_numbers_exactly(inputs: list[Path], tmp_path: Path) -> None:
    """A CSV output's numbers read back as the very doubles a Parquet output holds (the
    comparison's tolerance covers the engines' arithmetic, not the text)."""
    rs = ruleset()
    run_batch(inputs[-2], tmp_path / "out.csv", rs)
    run_batch(inputs[-2], tmp_path / "out.parquet", rs)
    typed = read_output(tmp_path / "out.parquet").to_pylist()
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as handle:
        texts = list(csv.DictReader(handle))
    numbers = [n for n, f in rs.fields.items() if f.type in ("number", "integer")]
    checked = 0
    for row, text in zip(typed, texts, strict=True):
        cells = {k.split(" [")[0]: v for k, v in text.items()}
        for name in numbers:
            if row.get(name) is not None:
                assert float(cells[name]) == row[name], (name, cells[name], row[name])
                checked += 1
    assert checked > 1000


# -- edited values -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("total_emissions_kgco2e", 999.0, "total_emissions_kgco2e: recorded 999"),  # an output
        ("pue", 1.5, "pue: recorded 1.5, rebuilt 1.13"),  # a reported value
        ("reserved_hours", 50.0, "rebuilt 42.92"),  # a disclosed one: the outputs differ
        ("total_water_l", None, "total_water_l: recorded empty, rebuilt 1211.26"),
    ],
)
def test_an_edited_value_is_refused_naming_each_column_that_differs(
    kind: str, name: str, value: float | None, shown: str, tmp_path: Path
) -> None:
    out = one_row(tmp_path, kind)
    if kind == "csv":
        edited = set_csv(out, name, "" if value is None else repr(value).removesuffix(".0"))
    elif kind == "jsonl":
        edited = set_jsonl(out, name, value)
    else:
        edited = set_parquet(out, name, value)
    message = refused(edited)
    assert f"{edited}#row=2" in message and "values differ" in message
    assert shown in message


def test_an_edited_value_exits_2_with_one_message(tmp_path: Path) -> None:
    edited = set_csv(one_row(tmp_path, "csv"), "pue", "1.5")
    done = subprocess.run(
        [sys.executable, "-m", "tuneprint", "explain", str(edited), "--row", "2", "pue"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("error:") == 1 and "pue: recorded 1.5, rebuilt 1.13" in done.stderr


def test_an_edited_warning_is_refused(tmp_path: Path) -> None:
    message = refused(set_csv(one_row(tmp_path, "csv"), "warnings", ""))
    assert "warnings of gpu_utilization: recorded empty, rebuilt" in message


def test_a_time_with_a_zone_is_not_the_time_written(tmp_path: Path) -> None:
    out = one_row(tmp_path, "jsonl")
    assert "start_time: recorded" in refused(
        set_jsonl(out, "start_time", "2023-07-18T00:00+02:00")
    )


# -- the file ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_row_number_given_twice_is_refused(kind: str, tmp_path: Path) -> None:
    out = one_row(tmp_path, kind)
    if kind == "csv":
        edited = set_csv(out, "row", "2", line=2)
    elif kind == "jsonl":
        edited = edit_jsonl(out, lambda doc: doc.update(row=2), line=1)
    else:
        edited = set_parquet(out, "row", 2, index=1)
    message = refused(edited)
    assert "row 2 is there 2 times" in message and str(edited) in message


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_row_cell_that_is_not_a_number_is_refused(kind: str, tmp_path: Path) -> None:
    out = one_row(tmp_path, kind)
    if kind == "csv":
        edited = set_csv(out, "row", "", line=2)  # (read as a column of floats, NaN there)
    else:
        table = pq.read_table(out)
        numbers = pa.array([str(n) for n in table.column("row").to_pylist()])
        edited = tmp_path / "text.parquet"
        pq.write_table(table.set_column(0, "row", numbers), edited)
    assert "a row cell that is not a row's number" in refused(edited)


def test_a_json_lines_unit_that_is_not_text_is_refused(tmp_path: Path) -> None:
    out = one_row(tmp_path, "jsonl")
    edited = edit_jsonl(out, lambda doc: doc["values"]["pue"].update(unit=1))
    assert "pue: the file gives the unit 1, where" in refused(edited)


@pytest.mark.parametrize("kind", KINDS)
def test_a_changed_unit_is_refused(kind: str, tmp_path: Path) -> None:
    out = one_row(tmp_path, kind)
    if kind == "csv":

        def change(rows: list[list[str]]) -> None:
            rows[0] = [h.replace("total_water_l [L]", "total_water_l [mL]") for h in rows[0]]

        edited = edit_csv(out, tmp_path / "unit.csv", change)
    elif kind == "jsonl":
        edited = edit_jsonl(out, lambda doc: doc["values"]["total_water_l"].update(unit="mL"))
    else:
        table = pq.read_table(out)
        at = table.schema.get_field_index("total_water_l")
        field = table.schema.field(at).with_metadata({b"unit": b"mL"})
        edited = tmp_path / "unit.parquet"
        pq.write_table(table.set_column(at, field, table.column(at)), edited)
    message = refused(edited)
    assert "total_water_l" in message and "'mL'" in message and "'L'" in message


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_removed_column_is_refused(kind: str, tmp_path: Path) -> None:
    out = one_row(tmp_path, kind)
    if kind == "csv":

        def change(rows: list[list[str]]) -> None:
            at = column(rows, "total_emissions_kgco2e")
            rows[:] = [r[:at] + r[at + 1 :] for r in rows]

        edited = edit_csv(out, tmp_path / "dropped.csv", change)
    else:
        edited = tmp_path / "dropped.parquet"
        pq.write_table(pq.read_table(out).drop(["total_emissions_kgco2e"]), edited)
    assert "total_emissions_kgco2e: the file has no such column" in refused(edited)


# -- malformed cells -----------------------------------------------------------------------


def jsonl_edits() -> dict[str, tuple[Callable[[dict[str, Any]], None], str]]:
    def values_list(doc: dict[str, Any]) -> None:
        doc["values"] = []

    def count_text(doc: dict[str, Any]) -> None:
        doc["values"]["gpu_count"]["value"] = "8"

    def provenance_text(doc: dict[str, Any]) -> None:
        doc["provenance"] = "input"

    def value_bare(doc: dict[str, Any]) -> None:
        doc["values"]["pue"] = 1.13

    def no_error_key(doc: dict[str, Any]) -> None:
        del doc["error"]

    return {
        "values": (values_list, "values: expected an object of the row's values"),
        "count": (count_text, "gpu_count: expected a whole number, got '8'"),
        "provenance": (provenance_text, "provenance: expected a JSON object"),
        "bare": (value_bare, 'pue: expected a value as {"value": ..., "unit": ...}, got 1.13'),
        "keys": (no_error_key, "error: no 'error'"),
    }


@pytest.mark.parametrize("edit", sorted(jsonl_edits()))
def test_a_malformed_json_lines_cell_is_one_error(edit: str, tmp_path: Path) -> None:
    change, shown = jsonl_edits()[edit]
    edited = edit_jsonl(one_row(tmp_path, "jsonl"), change)
    message = refused(edited)
    assert message.startswith(f"{edited}#row=2: ") and shown in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "change", "shown"),
    [
        ("provenance", lambda cell: cell[:-5], "provenance: expected a JSON object"),
        ("warnings", lambda cell: "[]", "warnings: expected a JSON object"),
        ("gpu_count", lambda cell: "eight", "gpu_count: expected a whole number, got 'eight'"),
        ("start_time", lambda cell: "July", "start_time: expected a date and time"),
        ("ruleset", lambda cell: "garbage", "ruleset: expected the ruleset's name and version"),
    ],
)
def test_a_malformed_csv_cell_is_one_error(
    name: str, change: Callable[[str], str], shown: str, tmp_path: Path
) -> None:
    out = one_row(tmp_path, "csv")

    def edit(rows: list[list[str]]) -> None:
        rows[1][column(rows, name)] = change(rows[1][column(rows, name)])

    edited = edit_csv(out, tmp_path / "malformed.csv", edit)
    message = refused(edited)
    assert message.startswith(f"{edited}#row=2: ") and shown in message


def test_an_error_needs_the_keys_the_batch_writes(tmp_path: Path) -> None:
    """A problem as docs/batch.md once listed its keys (no ``where``, no ``rule``)."""
    out = one_row(tmp_path, "csv")
    problem = {"code": "type", "file": "in.csv", "line": 3, "field": "gpu_count", "message": "no"}
    edited = set_csv(out, "error", json.dumps([problem]), line=2)
    message = refused(edited, 3)
    assert f"{edited}#row=3: error: expected a JSON list of problems" in message
    assert "where" in message and "rule" in message
    whole = {**problem, "where": "gpu_count", "rule": None}
    again = set_csv(out, "error", json.dumps([whole]), line=2)
    assert refused(again, 3) == "in.csv:3: gpu_count: no"  # (the row's error, as recorded)


def test_an_error_row_holds_its_error_alone(tmp_path: Path) -> None:
    out = one_row(tmp_path, "csv")
    assert "gpu_count: expected a number, got 'four'" in refused(out, 3)
    message = refused(set_csv(out, "pue", "1.13", line=2), 3)
    assert "the row is an error, yet holds pue" in message
    cleared = set_csv(out, "error", "", line=2)
    assert "neither a provenance nor an error" in refused(cleared, 3)


def test_a_row_whose_edited_provenance_no_longer_rebuilds_says_so_first(tmp_path: Path) -> None:
    """A disclosed value's provenance edited to a rule: rebuilt, the row is no longer
    estimated, and that was told as the rebuild's own error ("cannot resolve ..."), as if
    the row were an error row; the row's record is named first now."""
    source = tmp_path / "in.csv"
    source.write_text(
        "id,gpu_model,gpu_count,cloud_region,gpu_hours\nr,A100 80GB,8,us-west-2,10\n"
    )
    out = tmp_path / "out.csv"
    run_batch(source, out, ruleset())
    rule = "gpu_hours.from_reserved_hours"  # (no such rule: as a hand would write one)

    def change(rows: list[list[str]]) -> None:
        at = column(rows, "provenance")
        record = json.loads(rows[1][at])
        assert record["gpu_hours"] == "input"
        rows[1][at] = json.dumps({**record, "gpu_hours": f"rule:{rule}"})

    edited = edit_csv(out, tmp_path / "edited.csv", change)
    with pytest.raises(InputError) as caught:
        explain_row(edited, 2, None, ruleset())
    first, *rest = caught.value.problems
    assert (first.where, first.code) == ("provenance", "schema")
    assert first.message.startswith("the row records an estimate, which its values no longer")
    assert any("cannot resolve" in p.message for p in rest)


# -- fields and hashes ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_field_is_refused_as_for_one_disclosure(kind: str, tmp_path: Path) -> None:
    out = one_row(tmp_path, kind)
    with pytest.raises(InputError) as caught:
        explain_row(out, 2, "nosuchfield", ruleset())
    (problem,) = caught.value.problems
    assert (problem.file, problem.where, problem.code) == (
        str(out),
        "nosuchfield",
        "unknown-field",
    )
    assert problem.message.startswith("unknown field")


def test_a_field_the_row_does_not_reach_is_refused(tmp_path: Path) -> None:
    out = one_row(tmp_path, "parquet")
    rs = ruleset()
    result = explain_row(out, 2, None, rs)
    unreached = next(n for n in rs.fields if n not in result.fields)
    message = refused(out, 2, unreached)
    assert f"{unreached}: not part of this row's derivation" in message


def test_the_cli_gives_one_message_for_an_unknown_field(tmp_path: Path) -> None:
    out = one_row(tmp_path, "csv")
    done = subprocess.run(
        [sys.executable, "-m", "tuneprint", "explain", str(out), "--row", "2", "nosuchfield"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "internal error" not in done.stderr
    assert f"error: {out}: nosuchfield: unknown field" in done.stderr


def test_a_cut_hash_is_not_shown_as_the_ruleset_s_own(tmp_path: Path) -> None:
    out = one_row(tmp_path, "csv")
    digest = ruleset().content_hash
    message = refused(set_csv(out, "ruleset_hash", digest[:12]))
    assert "ruleset_hash: expected the full content hash" in message and digest[:12] in message
    other = digest[:20] + ("0" if digest[20] != "0" else "1") + digest[21:]
    message = refused(set_csv(out, "ruleset_hash", other))
    assert f"({other[:21]})" in message and f"({digest[:21]})" in message
    assert "the ruleset changed since, or the row was edited" in message


def test_a_ruleset_cell_naming_another_version_than_its_hash_is_told_as_edited(
    tmp_path: Path,
) -> None:
    """The name 2.2 with 2.6's hash: the row was said to be "estimated with 2.2 (...),
    not with 2.2 (...)", the same name both sides, and to need --rules."""
    out = one_row(tmp_path, "csv")
    rs = ruleset()
    edited = set_csv(out, "ruleset", f"{rs.id}@2.2")
    with pytest.raises(TuneprintError) as caught:
        explain_row(edited, 2, None)  # (the shipped version the row names)
    message = str(caught.value)
    assert f"the row records {rs.id}@2.2 ({rs.content_hash[:12]})" in message, message
    assert "the hash of the shipped 2.6: the row's ruleset cell was edited" in message


# -- a batch that records the reported fields too ------------------------------------------


@pytest.mark.parametrize("reports", [False, True])
def test_rows_recording_the_reported_fields_or_not_are_both_explained(
    reports: bool, tmp_path: Path
) -> None:
    """A batch records the outputs' derivation, or (resolving the reported fields too, as
    `tuneprint estimate` shows them) the reported fields' as well: a row of either kind is
    rebuilt as it was made, and its reported values are compared too. Both kinds are made
    here from the estimates themselves, whichever the batch writes."""
    out = one_row(tmp_path, "jsonl")
    rs = ruleset()
    doc = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    provenance = doc["provenance"]
    disclosed = {k: v["value"] for k, v in doc["values"].items() if provenance.get(k) == "input"}
    outputs_only = estimate({"id": "x", "values": disclosed}, rs)
    full = estimate({"id": "x", "values": disclosed}, rs, report=True)
    reported = [k for k in rs.report if k in full.fields and k not in outputs_only.fields]
    assert reported  # (gpu_energy_kwh, energy_per_gpu_hour_kwh)
    made = full if reports else outputs_only

    def record(line: dict[str, Any]) -> None:
        line["provenance"] = {k: compact_record(r) for k, r in made.fields.items()}
        warned = {k: " ".join(r.rule.warning.split()) for k, r in made.fields.items()
                  if r.warning and r.rule is not None and r.rule.warning}  # fmt: skip
        line["warnings"] = warned or None
        for key in reported:
            line["values"].pop(key, None)
            if reports:
                value = full.fields[key].value
                line["values"][key] = {"value": value, "unit": rs.fields[key].unit}

    edited = edit_jsonl(out, record)
    result = explain_row(edited, 2, None, rs)
    assert set(result.fields) == set(made.fields)
    if not reports:
        assert "not part of this row's derivation" in refused(edited, 2, reported[0])
        return
    assert explain_row(edited, 2, reported[0], rs).fields[reported[0]].value
    wrong = json.loads(edited.read_text(encoding="utf-8").splitlines()[0])
    wrong["values"][reported[0]]["value"] *= 2
    edited.write_text(json.dumps(wrong) + "\n", encoding="utf-8")
    assert f"{reported[0]}: recorded" in refused(edited)
