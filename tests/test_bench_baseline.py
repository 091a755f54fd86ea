"""The plain-Python baseline of bench/batch_scale.py: its look-ups come from the shipped
ruleset's tables and its formula gives the energy it states."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import bench_script

batch_scale = bench_script("batch_scale")


def test_every_name_the_bench_writes_has_its_look_ups() -> None:
    tdp, pue, grid = batch_scale.plain_tables()
    assert set(tdp) == {g.lower() for g in batch_scale.GPUS if g}
    assert set(pue) == set(grid) == {r.lower() for r in batch_scale.REGIONS if r}
    assert tdp["nvidia a100 80gb"] == tdp["a100 80gb"] == 400  # one row, two spellings
    assert all(1 < v < 2 for v in pue.values()) and all(0 < v < 1 for v in grid.values())


def test_the_formula_and_the_rows_it_refuses() -> None:
    tables = batch_scale.plain_tables()
    tdp, pue, grid = tables
    row = {"gpu_model": "H100", "gpu_count": "2", "reserved_hours": "10",
           "gpu_utilization": "0.5", "cloud_region": "eu-west-1"}  # fmt: skip
    kwh, kg, error = batch_scale.plain_row(row, tables)
    assert error is None
    assert kwh == pytest.approx(2 * tdp["h100"] * 0.5 * 10 / 1000 * pue["eu-west-1"])
    assert kg == pytest.approx(kwh * grid["eu-west-1"])
    assert batch_scale.plain_row({**row, "cloud_region": ""}, tables)[1] is None
    assert batch_scale.plain_row({**row, "reserved_hours": "-3"}, tables)[2] is not None
    assert batch_scale.plain_row({**row, "gpu_count": "four"}, tables)[2] is not None


def test_the_baseline_times_a_generated_file(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    batch_scale.write_csv(source, 300)
    assert 0 < batch_scale.plain_python(source, repeats=1) < 1e-3  # seconds a row


def test_the_file_to_file_baseline_writes_a_row_for_every_row(tmp_path: Path) -> None:
    import csv

    source, target = tmp_path / "in.csv", tmp_path / "plain.csv"
    batch_scale.write_csv(source, 300)
    assert 0 < batch_scale.plain_files(source, target, repeats=1) < 1e-3  # seconds a row
    with open(target, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(300)]
    tables = batch_scale.plain_tables()
    with open(source, encoding="utf-8", newline="") as handle:
        expected = [batch_scale.plain_row(r, tables) for r in csv.DictReader(handle)]
    assert [r["error"] != "" for r in rows] == [e[2] is not None for e in expected]
    assert any(r["error"] for r in rows) and any(r["total_emissions_kgco2e"] for r in rows)
