"""Importing other tools' files: CodeCarbon emissions.csv (every release layout), a
Transformers trainer_state.json and a BoAmps report, on files shaped as those tools write
them (fixtures/interop/), with each unit convention checked against the file's own cells,
and every malformed or foreign file refused with one problem per fault."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tuneprint
import yaml
from tuneprint import interop
from tuneprint.interop.mapping import formats

from tests.conftest import FIXTURES, NEWEST

INTEROP = FIXTURES / "interop"
CC3 = INTEROP / "codecarbon_3.2.8_emissions.csv"
CC2 = INTEROP / "codecarbon_2.5.0_emissions.csv"
SHIFTED = INTEROP / "codecarbon_3.3.0_shifted_append.csv"
STATE = INTEROP / "trainer_state.json"
BOAMPS = INTEROP / "boamps_report.json"
GIB_IN_GB = 1024**3 / 1e9
SECONDS_PER_HOUR = 3600

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def rs() -> tuneprint.Ruleset:
    return tuneprint.load_ruleset(NEWEST)


def cells(path: Path, row: int = 1) -> dict[str, str]:
    """A data row of a CSV as the test reads it, by header name (row 1 = first)."""
    with path.open(newline="") as f:
        return list(csv.DictReader(f))[row - 1]


def values(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v["value"] for k, v in doc["values"].items()}


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def table(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def errors(cli: Cli, *args: Any) -> list[str]:
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines, err
    return lines


# -- CodeCarbon ----------------------------------------------------------------------------


def test_codecarbon_3x_row_round_trip(rs: tuneprint.Ruleset, cli: Cli, tmp_path: Path) -> None:
    """Every value of row 1 of a 3.2.8 file, each unit convention checked on the file's own
    cells, then the written YAML estimated by the command line as it is."""
    c = cells(CC3, 1)
    doc = interop.import_codecarbon(CC3, rs, run="1", name="emissions.csv")
    got = values(doc)
    pue, wue = float(c["pue"]), float(c["wue"])
    assert pue != 1 and wue != 0  # the conventions are exercised
    assert got["measured_energy_kwh"] == pytest.approx(float(c["energy_consumed"]) / pue)
    assert got["gpu_energy_kwh"] == pytest.approx(float(c["gpu_energy"]) / pue)
    assert got["pue"] == pue
    assert got["wue_l_per_kwh"] == pytest.approx(wue * pue)
    assert got["reserved_hours"] == pytest.approx(float(c["duration"]) / SECONDS_PER_HOUR)
    assert got["memory_gb_per_server"] == pytest.approx(float(c["ram_total_size"]) * GIB_IN_GB)
    assert got["gpu_utilization"] == pytest.approx(float(c["gpu_utilization_percent"]) / 100)
    assert got["cpu_utilization"] == pytest.approx(float(c["cpu_utilization_percent"]) / 100)
    end = datetime.fromisoformat(c["timestamp"])
    start = end - timedelta(seconds=float(c["duration"]))
    assert datetime.fromisoformat(got["start_time"]) == start
    assert got["gpu_count"] == 8 and got["gpu_model"] == "NVIDIA A100-SXM4-40GB"
    assert got["country"] == "USA" and got["cloud_region"] == "aws-us-east-1"
    assert got["cloud_provider"] == "aws"
    assert "cpu_model" not in got and "cpu_count" not in got  # unknown name; threads
    assert "training_flops" not in got and "operational_emissions_kgco2e" not in got
    src = doc["values"]["measured_energy_kwh"]["source"]
    assert src.startswith("emissions.csv row 1 (line 2), column energy_consumed / column pue")
    assert "column duration" in doc["values"]["reserved_hours"]["source"]
    assert "(s -> h)" in doc["values"]["reserved_hours"]["source"]
    assert any("cpu_model" in n and "disclose it by hand" in n for n in doc.notes)
    assert any(n.startswith("column cpu_count") and "threads" in n for n in doc.notes)

    path = tmp_path / "run.yaml"
    path.write_text(doc.to_yaml(), encoding="utf-8")
    assert yaml.safe_load(path.read_text()) == dict(doc)
    code, out, err = cli("estimate", path, "--format", "json", "--rules", NEWEST)
    assert code == 0, err
    fields = json.loads(out)["fields"]
    assert fields["it_energy_kwh"]["value"] == pytest.approx(got["measured_energy_kwh"])
    assert fields["it_energy_kwh"]["rule"] == "it_energy_kwh.measured"
    # IT energy x the file's own pue is CodeCarbon's energy_consumed again,
    assert fields["facility_energy_kwh"]["value"] == pytest.approx(float(c["energy_consumed"]))
    # and IT energy x WUE per IT kWh is CodeCarbon's water_consumed.
    assert fields["datacenter_water_l"]["value"] == pytest.approx(float(c["water_consumed"]))
    assert fields["pue"]["status"] == "input"
    assert fields["gpu_model"]["value"] == "nvidia-a100-sxm4-40gb"
    assert fields["start_time"]["value"] == start.isoformat()


def test_codecarbon_default_pue_and_wue_are_not_disclosed(rs: tuneprint.Ruleset) -> None:
    c = cells(CC3, 2)
    assert float(c["pue"]) == 1 and float(c["wue"]) == 0
    doc = interop.import_codecarbon(CC3, rs, run="b71e94c0-25d8-4f3a-9e62-d04a7f3c8b15")
    got = values(doc)
    assert "pue" not in got and "wue_l_per_kwh" not in got
    assert got["measured_energy_kwh"] == float(c["energy_consumed"])  # divided by 1
    assert any("column pue = 1.0" in n and "ruleset's PUE applies" in n for n in doc.notes)
    result = tuneprint.estimate(doc, rs)
    assert result["pue"].status != "input"  # the ruleset's own PUE for AWS us-east-1
    assert result["facility_energy_kwh"].value == pytest.approx(
        got["measured_energy_kwh"] * result["pue"].value
    )


def test_codecarbon_2x_file(rs: tuneprint.Ruleset, tmp_path: Path, cli: Cli) -> None:
    """31 columns (2.2.3 to 2.6): an int column pandas rewrote as floats ("2.0"), a
    CPU-only run with empty GPU cells, on-premise with no cloud columns filled."""
    header, _ = table(CC2)
    assert len(header) == 31
    c = cells(CC2, 1)
    assert c["gpu_count"] == "2.0"
    doc = interop.import_codecarbon(CC2, rs, run="1")
    got = values(doc)
    assert got["gpu_count"] == 2 and isinstance(got["gpu_count"], int)
    assert got["gpu_model"] == "NVIDIA A100-SXM4-80GB"
    assert got["country"] == "DEU" and "cloud_region" not in got
    assert got["measured_energy_kwh"] == float(c["energy_consumed"])  # pue 1.0
    assert "2.2.3 to 2.6.x" in doc["source"]
    assert "gpu_utilization" not in got  # no such column before 3.2.1
    cpu_only = interop.import_codecarbon(CC2, rs, run="2")
    assert "gpu_count" not in cpu_only["values"] and "gpu_model" not in cpu_only["values"]
    assert any(n.startswith("no GPU tracked") for n in cpu_only.notes)
    path = tmp_path / "all.jsonl"
    code, _, err = cli("import", "codecarbon", CC2, "--run", "all", "-o", path)
    assert code == 0 and "2 runs" in err
    code, out, err = cli("estimate", path, "--format", "json")
    assert code == 0, err
    results = json.loads(out)
    assert [r["disclosure"]["id"] for r in results] == [
        "codecarbon-f0a4c2e9-6b1d-4d7e-8a35-91c7e2b4d608",
        "codecarbon-27c9e1b3-8f40-4a62-b5d7-0e3a6c9f1d24",
    ]


@pytest.mark.parametrize("layout", range(len(formats()["codecarbon"]["layouts"])))
def test_every_release_layout_is_read_by_name(
    rs: tuneprint.Ruleset, tmp_path: Path, layout: int
) -> None:
    """29, 30, 31, 32, 34 and 38 columns: a row of each layout, made from the 3.2.8 row's
    cells by name, imports with the layout named; without a pue column (before 2.2.3) the
    energy is taken as CodeCarbon's default pue of 1, and the source says so."""
    spec = formats()["codecarbon"]["layouts"][layout]
    columns = list(spec["columns"])
    c = cells(CC3, 1)
    path = write_csv(tmp_path / "emissions.csv", columns, [[c[k] for k in columns]])
    doc = interop.import_codecarbon(path, rs)
    got = values(doc)
    assert spec["versions"] in doc["source"]
    if "pue" in columns:
        assert got["measured_energy_kwh"] == pytest.approx(
            float(c["energy_consumed"]) / float(c["pue"])
        )
    else:
        assert got["measured_energy_kwh"] == float(c["energy_consumed"])
        assert (
            "no pue in this file: CodeCarbon's default 1"
            in (doc["values"]["measured_energy_kwh"]["source"])
        )
    assert ("gpu_utilization" in got) == ("gpu_utilization_percent" in columns)
    assert ("wue_l_per_kwh" in got) == ("wue" in columns)


def test_a_shifted_row_is_refused_naming_file_row_and_column(cli: Cli) -> None:
    header, rows = table(SHIFTED)
    assert len(header) == 38 and [len(r) for r in rows] == [38, 35]
    (line,) = errors(cli, "import", "codecarbon", SHIFTED)
    assert line.startswith(f"error: {SHIFTED}:3: row 2, column ")
    assert "35 cells under a header of 38 columns" in line
    assert "codecarbon#1304" in line and "cannot be matched to columns" in line
    assert "the first cell out of place is" in line


def test_a_row_with_too_many_cells_is_refused(cli: Cli, tmp_path: Path) -> None:
    header, rows = table(CC3)
    rows[1].append("extra")
    path = write_csv(tmp_path / "emissions.csv", header, rows)
    (line,) = errors(cli, "import", "codecarbon", path, "--run", "1")
    assert f"{path}:3: row 2, column " in line
    assert "39 cells under a header of 38 columns" in line and "more cells" in line


def test_missing_and_duplicate_columns_are_refused(cli: Cli, tmp_path: Path) -> None:
    header, rows = table(CC3)
    keep = [i for i, h in enumerate(header) if h not in ("energy_consumed", "duration")]
    path = write_csv(
        tmp_path / "emissions.csv", [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    )
    lines = errors(cli, "import", "codecarbon", path)
    assert len(lines) == 2
    assert any(f"{path}:1: column duration: missing" in x for x in lines)
    assert any(f"{path}:1: column energy_consumed: missing" in x for x in lines)
    twice = write_csv(tmp_path / "twice.csv", [*header, "pue"], [[*r, r[-2]] for r in rows])
    (line,) = errors(cli, "import", "codecarbon", twice)
    assert "column pue: appears twice" in line


def test_columns_a_release_dropped_are_read_as_empty(
    rs: tuneprint.Ruleset, tmp_path: Path
) -> None:
    """CodeCarbon 3.1.1 to 3.2.3 drop columns empty in every row (codecarbon#1092)."""
    header, rows = table(CC3)
    keep = [i for i, h in enumerate(header) if h not in ("longitude", "latitude")]
    path = write_csv(
        tmp_path / "emissions.csv", [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    )
    doc = interop.import_codecarbon(path, rs, run="1")
    assert values(doc)["measured_energy_kwh"] > 0
    assert any("longitude, latitude" in n and "codecarbon#1092" in n for n in doc.notes)


@pytest.mark.parametrize(
    ("column", "cell", "message"),
    [
        ("gpu_utilization_percent", "150", "'150' percent is above the maximum 100 percent"),
        ("pue", "0.9", "'0.9' is below the minimum 1"),
        ("energy_consumed", "-1.5", "'-1.5' kWh is below the minimum 0 kWh"),
        ("duration", "1h", "expected a number, got '1h'"),
        ("duration", "nan", "expected a finite number"),
        ("gpu_count", "2.5", "expected a whole number, got '2.5'"),
        ("timestamp", "14/03/2026 16:42", "expected a date and time like %Y-%m-%dT%H:%M:%S"),
        ("on_cloud", "yes", "expected one of Y, N, got 'yes'"),
        ("country_iso_code", "US", "'US' does not have the form ^[A-Z]{3}$"),
        ("latitude", "91", "'91' degree is above the maximum 90 degree"),
    ],
)
def test_a_cell_out_of_range_names_its_row_and_column(
    cli: Cli, tmp_path: Path, column: str, cell: str, message: str
) -> None:
    header, rows = table(CC3)
    rows[1][header.index(column)] = cell
    path = write_csv(tmp_path / "emissions.csv", header, rows)
    (line,) = errors(cli, "import", "codecarbon", path, "--run", "1")
    assert line == f"error: {path}:3: row 2, column {column}: {message}" or line.startswith(
        f"error: {path}:3: row 2, column {column}: {message}"
    )


def test_every_bad_cell_is_one_problem(tmp_path: Path, rs: tuneprint.Ruleset) -> None:
    header, rows = table(CC3)
    rows[0][header.index("pue")] = "0.5"
    rows[1][header.index("ram_total_size")] = "-3"
    rows[1][header.index("tracking_mode")] = "gpu"
    path = write_csv(tmp_path / "emissions.csv", header, rows)
    with pytest.raises(tuneprint.InputError) as info:
        interop.import_codecarbon(path, rs, run="1")
    wheres = [(p.line, p.where) for p in info.value.problems]
    assert wheres == [
        (2, "row 1, column pue"),
        (3, "row 2, column ram_total_size"),
        (3, "row 2, column tracking_mode"),
    ]


def test_a_value_out_of_its_field_bounds_is_named_at_its_cell(cli: Cli, tmp_path: Path) -> None:
    header, rows = table(CC3)
    rows[0][header.index("duration")] = "0"
    path = write_csv(tmp_path / "emissions.csv", header, rows)
    (line,) = errors(cli, "import", "codecarbon", path, "--run", "1")
    assert f"{path}:2: row 1, column duration: reserved_hours: 0" in line
    assert "must be greater than 0" in line


def test_reordered_header_read_by_name_but_not_under_a_shifting_release(
    rs: tuneprint.Ruleset, cli: Cli, tmp_path: Path
) -> None:
    """3.2.9 and 3.3.0 compare headers sorted but append in their own order: under a
    header in another order their rows cannot be placed; other releases' rows can."""
    header, rows = table(CC3)
    order = sorted(range(len(header)), key=lambda i: header[i])
    path = write_csv(
        tmp_path / "emissions.csv",
        [header[i] for i in order],
        [[r[i] for i in order] for r in rows],
    )
    doc = interop.import_codecarbon(path, rs, run="1")
    assert values(doc) == values(interop.import_codecarbon(CC3, rs, run="1"))
    assert "in another order" in doc["source"]
    version = header.index("codecarbon_version")
    for r in rows:
        r[version] = "3.3.0"
    path = write_csv(
        tmp_path / "emissions.csv",
        [header[i] for i in order],
        [[r[i] for i in order] for r in rows],
    )
    lines = errors(cli, "import", "codecarbon", path, "--run", "1")
    assert len(lines) == 2
    assert "row 1: written by CodeCarbon 3.3.0" in lines[0] and "codecarbon#1304" in lines[0]


def test_foreign_and_empty_files_are_refused(cli: Cli, tmp_path: Path) -> None:
    task = write_csv(tmp_path / "emissions_x_y.csv", ["task_name", "timestamp"], [["a", "b"]])
    (line,) = errors(cli, "import", "codecarbon", task)
    assert "column task_name: this is a CodeCarbon task file" in line
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    (line,) = errors(cli, "import", "codecarbon", empty)
    assert "empty file" in line
    (line,) = errors(cli, "import", "codecarbon", STATE)
    assert "this is JSON, not a CodeCarbon emissions.csv" in line
    other = write_csv(tmp_path / "other.csv", ["model", "hours"], [["A100", "4"]])
    (line,) = errors(cli, "import", "codecarbon", other)
    assert "not a CodeCarbon emissions.csv: its header has none of CodeCarbon's columns" in line
    header, _ = table(CC3)
    only_header = write_csv(tmp_path / "header.csv", header, [])
    (line,) = errors(cli, "import", "codecarbon", only_header)
    assert "no data row" in line


def test_a_run_is_chosen_by_id_or_row(rs: tuneprint.Ruleset, cli: Cli, tmp_path: Path) -> None:
    (line,) = errors(cli, "import", "codecarbon", CC3)
    assert "2 runs in the file (row 1: 8d3f2a61" in line and "--run" in line
    by_id = interop.import_codecarbon(CC3, rs, run="8d3f2a61-7c4e-4b19-a0d5-3e6f9b2c1a47")
    assert by_id == interop.import_codecarbon(CC3, rs, run="1")
    (line,) = errors(cli, "import", "codecarbon", CC3, "--run", "nope")
    assert "no run 'nope'" in line
    header, rows = table(CC3)
    rows[1][header.index("run_id")] = rows[0][header.index("run_id")]
    twice = write_csv(tmp_path / "emissions.csv", header, rows)
    (line,) = errors(cli, "import", "codecarbon", twice, "--run", rows[0][2])
    assert "is in rows 1, 2" in line
    code, out, _ = cli("import", "codecarbon", twice, "--run", "2")
    assert code == 0 and "b71e94c0" not in out.split("values:")[0].split("id:")[1]


def test_mixed_gpus_disclose_the_count_only(
    rs: tuneprint.Ruleset, tmp_path: Path, cli: Cli
) -> None:
    header, rows = table(CC3)
    rows[0][header.index("gpu_model")] = "1 x NVIDIA A1001 x Tesla T4"
    rows[0][header.index("gpu_count")] = "2"
    path = write_csv(tmp_path / "emissions.csv", header, rows[:1])
    doc = interop.import_codecarbon(path, rs)
    assert values(doc)["gpu_count"] == 2 and "gpu_model" not in doc["values"]
    assert any("2 kinds of GPU" in n for n in doc.notes)
    rows[0][header.index("gpu_count")] = "3"
    path = write_csv(tmp_path / "emissions.csv", header, rows[:1])
    (line,) = errors(cli, "import", "codecarbon", path)
    assert "row 1, column gpu_count: gpu_count is 3 but gpu_model" in line
    rows[0][header.index("gpu_model")] = "NVIDIA A100"
    path = write_csv(tmp_path / "emissions.csv", header, rows[:1])
    (line,) = errors(cli, "import", "codecarbon", path)
    assert "row 1, column gpu_model: expected '<count> x <GPU name>'" in line


# -- trainer_state.json --------------------------------------------------------------------


def test_trainer_state_round_trip(rs: tuneprint.Ruleset, tmp_path: Path, cli: Cli) -> None:
    state = json.loads(STATE.read_text())
    summary = state["log_history"][-1]
    doc = interop.import_trainer_state(STATE, rs, tokens="all")
    got = values(doc)
    assert got["training_tokens"] == state["num_input_tokens_seen"]
    assert got["reserved_hours"] == pytest.approx(summary["train_runtime"] / SECONDS_PER_HOUR)
    assert got["epochs"] == state["epoch"]
    assert "training_flops" not in got
    assert any("total_flos" in n and "overstates LoRA" in n for n in doc.notes)
    src = doc["values"]["reserved_hours"]["source"]
    assert f"log_history row {len(state['log_history'])} (the final summary)" in src
    path = tmp_path / "state.yaml"
    code, _, _ = cli("import", "trainer-state", STATE, "--tokens", "all", "-o", path)
    assert code == 0
    code, out, err = cli("estimate", path, "--format", "json")
    assert code == 0, err
    fields = json.loads(out)["fields"]
    assert fields["reserved_hours"]["status"] == "input"
    assert fields["reserved_hours"]["value"] == pytest.approx(got["reserved_hours"])
    assert tuneprint.read_disclosure(path, rs).values["training_tokens"] == got["training_tokens"]
    unpadded = interop.import_trainer_state(STATE, rs, tokens="non_padding")
    assert values(unpadded)["unpadded_tokens"] == state["num_input_tokens_seen"]
    assert "training_tokens" not in unpadded["values"]


def test_trainer_state_token_mode_must_be_given(cli: Cli) -> None:
    (line,) = errors(cli, "import", "trainer-state", STATE)
    number = (
        STATE.read_text()
        .splitlines()
        .index(
            next(
                x
                for x in STATE.read_text().splitlines()
                if x.startswith('  "num_input_tokens_seen"')
            )
        )
        + 1
    )
    assert line.startswith(f"error: {STATE}:{number}: key num_input_tokens_seen: ")
    assert "--tokens all" in line and "--tokens non_padding" in line
    (line,) = errors(cli, "import", "trainer-state", STATE, "--tokens", "some")
    assert "expected one of all, non_padding" in line


def test_a_checkpoint_state_has_no_run_time(rs: tuneprint.Ruleset, tmp_path: Path) -> None:
    """A checkpoint's trainer_state.json is saved before the final summary."""
    state = json.loads(STATE.read_text())
    state["log_history"] = state["log_history"][:-1]
    state["num_input_tokens_seen"] = 0
    path = tmp_path / "checkpoint-120" / "trainer_state.json"
    path.parent.mkdir()
    path.write_text(json.dumps(state, indent=2, sort_keys=True))
    doc = interop.import_trainer_state(path, rs)
    assert "reserved_hours" not in doc["values"] and "training_tokens" not in doc["values"]
    assert doc["id"] == "trainer-state-checkpoint-120"
    assert any("no final summary" in n for n in doc.notes)
    assert any("num_input_tokens_seen is 0" in n for n in doc.notes)


def test_malformed_and_foreign_trainer_states(cli: Cli, tmp_path: Path) -> None:
    text = STATE.read_text()
    broken = tmp_path / "broken.json"
    broken.write_text(text.replace('"global_step": 120,', '"global_step": 120'))
    (line,) = errors(cli, "import", "trainer-state", broken, "--tokens", "all")
    assert "invalid JSON" in line and f"{broken}:" in line
    (line,) = errors(cli, "import", "trainer-state", BOAMPS)
    assert "not a trainer_state.json: missing key global_step, log_history" in line
    assert "BoAmps report" in line
    state = json.loads(text)
    state["log_history"][2]["train_runtime"] = -4.0
    state["total_flos"] = "many"
    bad = tmp_path / "trainer_state.json"
    bad.write_text(json.dumps(state, indent=2, sort_keys=True))
    lines = errors(cli, "import", "trainer-state", bad, "--tokens", "all")
    assert len(lines) == 2
    assert any("key total_flos: expected a number, got 'many'" in x for x in lines)
    runtime = next(x for x in lines if "train_runtime" in x)
    assert "log_history row 3, key train_runtime: -4.0 s is below the minimum 0 s" in runtime
    assert runtime.startswith(f"error: {bad}:")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    (line,) = errors(cli, "import", "trainer-state", listed)
    assert "expected a JSON object" in line


# -- BoAmps --------------------------------------------------------------------------------


def test_boamps_report_round_trip(rs: tuneprint.Ruleset, cli: Cli, tmp_path: Path) -> None:
    report = json.loads(BOAMPS.read_text())
    m = report["measures"][0]
    a = report["task"]["algorithms"][0]
    doc = interop.import_boamps(BOAMPS, rs)
    got = values(doc)
    assert got["measured_energy_kwh"] == m["powerConsumption"]  # kWh, "power" by name only
    assert got["reserved_hours"] == pytest.approx(m["measurementDuration"] / SECONDS_PER_HOUR)
    assert got["base_model_params"] == pytest.approx(a["parametersNumber"] * 1e9)  # billions
    assert got["gpu_utilization"] == m["averageUtilizationGpu"]  # 0 to 1 already
    assert got["start_time"] == "2026-05-02T08:00:41"
    assert got["fine_tuning_method"] == "lora" and got["epochs"] == 3
    assert got["gpu_count"] == 8 and got["gpu_model"] == "NVIDIA A100-SXM4-80GB"
    assert got["memory_gb_per_server"] == 1152
    assert got["grid_intensity_gco2e_per_kwh"] == 379.5
    assert doc["values"]["measured_energy_kwh"]["source"].startswith(
        f"{BOAMPS}, measures[0].powerConsumption"
    )
    assert any("dataQuantity" in n for n in doc.notes)
    path = tmp_path / "report.yaml"
    code, _, _ = cli("import", "boamps", BOAMPS, "-o", path)
    assert code == 0
    result = tuneprint.estimate(path, rs)
    assert result["it_energy_kwh"].value == m["powerConsumption"]
    assert tuneprint.read_disclosure(path, rs).values["base_model"] == "llama-2-7b"
    assert result["server_model"].value == "aws-p4de-24xlarge"
    assert result["server_model"].status == "input"
    assert result["grid_intensity_gco2e_per_kwh"].status == "input"


def test_a_report_failing_the_boamps_schema(cli: Cli, tmp_path: Path) -> None:
    report = json.loads(BOAMPS.read_text())
    del report["measures"][0]["powerConsumption"]
    report["infrastructure"]["infraType"] = "cloud"
    report["infrastructure"]["components"][0]["nbComponent"] = 8.5
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report, indent=2))
    lines = errors(cli, "import", "boamps", path)
    assert len(lines) == 3
    text = path.read_text().splitlines()

    def line_of(key: str, nth: int = 0) -> int:
        return [i for i, x in enumerate(text, 1) if f'"{key}"' in x][nth]

    shown = "\n".join(lines)
    at = f"error: {path}:{line_of('nbComponent')}: infrastructure.components[0].nbComponent: "
    assert at + "8.5 is not of type 'integer'" in shown
    at = f"error: {path}:{line_of('infraType')}: infrastructure.infraType: "
    assert at + "'cloud' is not one of" in shown
    first = line_of("measures") + 1  # the line of the object that lacks the key
    assert f":{first}: measures[0]: 'powerConsumption' is required" in shown


def test_boamps_out_of_range_foreign_and_ambiguous(cli: Cli, tmp_path: Path) -> None:
    report = json.loads(BOAMPS.read_text())
    report["measures"][0]["powerConsumption"] = -2
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report, indent=2))
    (line,) = errors(cli, "import", "boamps", path)
    assert "measures[0].powerConsumption: -2 is below the minimum 0" in line
    (line,) = errors(cli, "import", "boamps", STATE)
    assert "trainer_state.json, not a BoAmps report" in line
    (line,) = errors(cli, "import", "boamps", CC3)
    assert "invalid JSON" in line
    report["measures"] = [dict(report["measures"][0], powerConsumption=v) for v in (3.0, 4.0)]
    path.write_text(json.dumps(report, indent=2))
    (line,) = errors(cli, "import", "boamps", path)
    assert "2 measures in the report: choose one with --measure N" in line
    code, out, _ = cli("import", "boamps", path, "--measure", "2")
    assert code == 0 and "value: 4.0" in out


def test_unknown_names_are_noted_never_guessed(rs: tuneprint.Ruleset, tmp_path: Path) -> None:
    report = json.loads(BOAMPS.read_text())
    report["task"]["algorithms"][0]["foundationModelName"] = "Llama 2 7"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    doc = interop.import_boamps(path, rs)
    assert "base_model" not in doc["values"]
    assert any("base_model 'Llama 2 7' not disclosed" in n for n in doc.notes)


def test_gpu_model_strings_split_by_their_counts() -> None:
    from tuneprint.interop.codecarbon import gpu_kinds

    token = formats()["codecarbon"]["gpu_count_token"]
    assert gpu_kinds("4 x NVIDIA A100-SXM4-80GB", token) == [[(4, "NVIDIA A100-SXM4-80GB")]]
    splits = gpu_kinds("1 x NVIDIA A1001 x Tesla T4", token)
    assert [(1, "NVIDIA A100"), (1, "Tesla T4")] in splits
    assert [(1, "NVIDIA A"), (1001, "Tesla T4")] in splits
    assert gpu_kinds("NVIDIA A100", token) == []


def test_imports_run_from_a_wheel_install(wheel_python: str, tmp_path: Path) -> None:
    """formats.yaml and the BoAmps schemas ship in the wheel: the same output from it."""
    import subprocess
    import sys

    def run(python: str, *args: str) -> str:
        done = subprocess.run(
            [python, "-m", "tuneprint", "import", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    for args in (("boamps", str(BOAMPS)), ("codecarbon", str(CC3), "--run", "1")):
        assert run(wheel_python, *args) == run(sys.executable, *args)
