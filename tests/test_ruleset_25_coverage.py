"""Ruleset 2.5: the GPU and CPU names measured CodeCarbon runs print resolve to their
rows, the rows are complete where 2.4's rows are, and a small disclosure naming each estimates."""

from __future__ import annotations

from typing import Any

import pytest
from tuneprint import load_ruleset
from tuneprint.core.model import Ruleset
from tuneprint.core.names import canonical_name

from tests.conftest import RULES, est

V24, V25 = load_ruleset(RULES / "2.4"), load_ruleset(RULES / "2.5")

PRINTED_GPUS = [
    ("NVIDIA GeForce RTX 2080 Ti", "nvidia-geforce-rtx-2080-ti"),
    ("GeForce RTX 2080 Ti", "nvidia-geforce-rtx-2080-ti"),
    ("NVIDIA TITAN RTX", "nvidia-titan-rtx"),
    ("TITAN RTX", "nvidia-titan-rtx"),
    ("NVIDIA RTX 5000 Ada Generation", "nvidia-rtx-5000-ada"),
    ("NVIDIA GeForce RTX 4060 Ti", "nvidia-geforce-rtx-4060-ti-8gb"),
    ("Tesla V100-PCIE-32GB", "nvidia-v100-pcie-32gb"),
    ("Tesla V100-PCIE-16GB", "nvidia-v100-pcie-16gb"),
]

PRINTED_CPUS = [
    ("AMD Ryzen 7 7800X3D 8-Core Processor", "amd-ryzen-7-7800x3d"),
    ("AMD EPYC 7642 48-Core Processor", "amd-epyc-7642"),
    ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "intel-xeon-gold-6248r"),
    ("AMD EPYC 7V12 64-Core Processor", "amd-epyc-7v12"),
    ("AMD EPYC 7V12", "amd-epyc-7v12"),
]


def row(rs: Ruleset, table: str, key: str) -> Any:
    return next(r for r in rs.tables[table].rows if r.key == (key,))


@pytest.mark.parametrize(("name", "key"), PRINTED_GPUS)
def test_printed_gpu_names_resolve_under_25(name: str, key: str) -> None:
    assert canonical_name(V25.tables["gpus"], name) == key


@pytest.mark.parametrize(("name", "key"), PRINTED_CPUS)
def test_printed_cpu_names_resolve_under_25(name: str, key: str) -> None:
    assert canonical_name(V25.tables["cpus"], name) == key


def test_the_names_were_refused_by_24() -> None:
    new = [n for n, k in PRINTED_GPUS if k != "nvidia-v100-pcie-16gb"]
    assert all(canonical_name(V24.tables["gpus"], n) is None for n in new)
    assert canonical_name(V24.tables["cpus"], "AMD EPYC 7V12 64-Core Processor") is None


@pytest.mark.parametrize("key", sorted({k for _, k in PRINTED_GPUS}))
def test_new_gpu_rows_have_the_columns_time_and_power_need(key: str) -> None:
    values = row(V25, "gpus", key).values
    for column in ("tdp_w", "memory_gb", "mem_bandwidth_gb_s", "bf16_dense_tflops"):
        assert values.get(column) is not None, column
    assert values["process_node"] in {r.key[0] for r in V25.tables["process_nodes"].rows}


def test_geforce_rows_use_the_fp32_accumulate_rate() -> None:
    # NVIDIA's Turing table: 2080 Ti (reference) 53.8 with FP32 accumulate, 107.6 with FP16
    assert row(V25, "gpus", "nvidia-geforce-rtx-2080-ti").values["bf16_dense_tflops"] == 53.8
    assert row(V25, "gpus", "nvidia-titan-rtx").values["bf16_dense_tflops"] == 130.5
    # 34 SMs x 2.535 GHz x 512 FP16 operations per SM per clock
    assert row(V25, "gpus", "nvidia-geforce-rtx-4060-ti-8gb").values[
        "bf16_dense_tflops"
    ] == pytest.approx(34 * 2.535 * 512 / 1000, abs=0.05)


def test_restated_7v12_keeps_every_inherited_value() -> None:
    old, new = row(V24, "cpus", "amd-epyc-7v12"), row(V25, "cpus", "amd-epyc-7v12")
    assert old.values == new.values
    assert set(old.aliases) < set(new.aliases)
    assert new.at.version == "2.5"


@pytest.mark.parametrize(("name", "key"), PRINTED_GPUS)
def test_a_disclosure_naming_each_gpu_estimates(name: str, key: str) -> None:
    e = est(V25, gpu_model=name, gpu_count=1, reserved_hours=1, country="USA")
    assert e.fields["gpu_model"].value == key
    assert e.fields["total_emissions_kgco2e"].value > 0


@pytest.mark.parametrize(("name", "key"), PRINTED_CPUS)
def test_a_disclosure_naming_each_cpu_estimates(name: str, key: str) -> None:
    e = est(
        V25,
        gpu_model="NVIDIA GeForce RTX 4090",
        gpu_count=1,
        cpu_model=name,
        reserved_hours=1,
        country="USA",
    )
    assert e.fields["cpu_model"].value == key
    assert e.fields["cpu_idle_w"].value > 0
    assert e.fields["total_emissions_kgco2e"].value > 0
