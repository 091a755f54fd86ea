"""Predicting time from tokens and model (rulesets 2.2 and 2.3): tokens with padding, calibrated
MFU and GPU utilisation, warnings outside the calibration domain, and the validation against
measured runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tuneprint import load_ruleset
from tuneprint.core.resolve import Estimate, estimate
from tuneprint.load.disclosures import disclosure_from_document

from tests.conftest import ROOT, RULES

Cli = Callable[..., tuple[int, str, str]]
V22 = RULES / "2.2"
RS = load_ruleset(V22)
BASE = {
    "base_model": "Llama 2 7B",
    "gpu_model": "A100 80GB",
    "gpu_count": 8,
    "cloud_region": "us-east-1",
    "start_time": "2024-03-01",
}


def run(extra: tuple[str, ...] = (), **values: Any) -> Estimate:
    doc = {"values": {**BASE, **values}}
    return estimate(
        RS,
        disclosure_from_document(doc, "t.yaml", RS),
        extra=("training_tokens", "mfu", "compute_hours", *extra),
    )


def test_tokens_padded_to_the_truncation_length() -> None:
    est = run(
        training_examples=1000,
        epochs=2,
        mean_sequence_tokens=100,
        max_sequence_tokens=512,
        padding="max_length",
    )
    assert est.fields["training_tokens"].value == 1000 * 2 * 512


def test_tokens_packed_carry_no_padding() -> None:
    est = run(training_examples=1000, epochs=2, mean_sequence_tokens=100, padding="packed")
    assert est.fields["training_tokens"].value == 1000 * 2 * 100


def test_tokens_with_dynamic_padding() -> None:
    est = run(
        training_examples=1000,
        epochs=3,
        mean_sequence_tokens=100,
        max_sequence_tokens=512,
        batch_size=16,
    )
    assert est.fields["padding"].rule is not None  # dynamic, by default
    assert est.fields["training_tokens"].value == pytest.approx(1000 * 3 * 2 * 100 * 16 / 17)


@given(
    st.integers(1, 10**7),
    st.integers(1, 20),
    st.floats(1, 4096),
    st.floats(1, 8192),
    st.integers(1, 1024),
    st.sampled_from(["dynamic", "max_length", "packed"]),
)
def test_padded_tokens_are_never_fewer_than_unpadded(
    examples: int, epochs: int, mean: float, longest: float, batch: int, padding: str
) -> None:
    longest = max(longest, mean)
    est = run(
        ("unpadded_tokens",),
        training_examples=examples,
        epochs=epochs,
        mean_sequence_tokens=mean,
        max_sequence_tokens=longest,
        batch_size=batch,
        padding=padding,
    )
    assert est.fields["training_tokens"].value >= est.fields["unpadded_tokens"].value * (1 - 1e-12)


def test_calibrated_mfu_for_a_calibrated_method_and_gpu() -> None:
    est = run(training_tokens=1e9)
    mfu = est.fields["mfu"]
    assert mfu.rule is not None and mfu.rule.id == "mfu.calibrated"
    assert mfu.value == pytest.approx(0.559) and mfu.warning is None


def test_warning_outside_the_calibrated_model_sizes() -> None:
    est = run(training_tokens=1e9, base_model="BERT base")
    assert "outside the calibration range" in (est.fields["mfu"].warning or "")


def test_uncalibrated_method_falls_back_with_a_warning(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(
        "values:\n  base_model: Llama 2 13B\n  gpu_model: A100 80GB\n"
        "  gpu_count: 1\n  fine_tuning_method: qlora\n  training_tokens: 1.0e+8\n"
        "  cloud_region: us-east-1\n",
        encoding="utf-8",
    )
    code, out, _ = cli("explain", path, "mfu", "--rules", V22)
    assert code == 0
    assert "mfu.reference" in out and "WARNING: no calibration case covers" in out
    code, out, _ = cli("estimate", path, "--rules", V22, "--format", "json")
    assert "uncalibrated" in json.loads(out)["fields"]["mfu"]["warning"]


def test_validate_predictions_reports_every_case_and_the_error(cli: Cli) -> None:
    code, out, _ = cli("validate-predictions", "--rules", V22, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert len(doc["checks"]) == 10 and all(c["predicted"] for c in doc["checks"])
    time = doc["summary"]["compute_hours"]
    assert time["cases"] == 10 and time["median_abs_error"] < 0.25


def run_fit(script: str, rules: Path) -> str:
    """What a fit script under bench/ prints for a ruleset."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--rules", str(rules)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def fitted_mfu(out: str, after: str = "") -> dict[tuple[str, str], float]:
    """The MFU per (method, GPU) lines of a fit script's output (``after``: what must follow
    the figure, a pattern)."""
    found = re.findall(r"^  (\w+) ([\w-]+): mfu ([0-9.]+)" + after, out, flags=re.M)
    return {(m, g): float(v) for m, g, v in found}


def test_the_mfu_table_is_what_the_fit_produces() -> None:
    """tables/mfu_reference.yaml must be the output of bench/fit_mfu.py on the cases."""
    out = run_fit("fit_mfu.py", V22)
    fitted = fitted_mfu(out)
    table = {tuple(r.key): r.values["mfu"] for r in RS.tables["mfu_reference"].rows}
    assert fitted == pytest.approx(table)
    assert "leave-one-out time error over 9 cases" in out


def test_evaluation_adds_forward_operations_to_the_time() -> None:
    """Ruleset 2.3: evaluated tokens cost 2 operations per parameter (forward only), added
    to training's 6 at the same throughput; undisclosed evaluation counts as none."""
    rs = load_ruleset(RULES / "2.3")

    def hours(**values: Any) -> Estimate:
        doc = {"values": {**BASE, "fine_tuning_method": "full", "training_tokens": 6e8, **values}}
        return estimate(rs, disclosure_from_document(doc, "t.yaml", rs), extra=("compute_hours",))

    plain = hours()
    assert plain.fields["evaluation_tokens"].rule.id == "evaluation_tokens.none_disclosed"
    assert plain.fields["evaluation_tokens"].rule.assumption
    with_eval = hours(evaluation_tokens=3e8)
    ratio = with_eval.fields["compute_hours"].value / plain.fields["compute_hours"].value
    assert ratio == pytest.approx((6 * 6e8 + 2 * 3e8) / (6 * 6e8))
    assert with_eval.fields["evaluation_tokens"].status == "input"


V23 = RULES / "2.3"
RS23 = load_ruleset(V23)


def test_the_gpu_utilisation_table_is_what_the_fit_produces() -> None:
    """tables/gpu_utilization_reference.yaml must be the output of
    bench/fit_gpu_utilization.py on the cases of calibration/gpu_power.yaml."""
    out = run_fit("fit_gpu_utilization.py", V23)
    fitted = {
        band: float(v)
        for band, v in re.findall(r"^  ([\w-]+): gpu_utilization ([0-9.]+)", out, flags=re.M)
    }
    table = {
        r.key[0]: r.values["gpu_utilization"]
        for r in RS23.tables["gpu_utilization_reference"].rows
    }
    assert fitted == pytest.approx(table)
    assert "leave-one-out GPU energy error over the 8 measured runs" in out


@pytest.mark.parametrize(
    ("values", "band", "rule", "warned"),
    [
        ({"base_model": "BERT base"}, "50m-to-1b", "gpu_utilization.by_model_size", False),
        ({"base_model": "Llama 2 7B"}, "over-1b", "gpu_utilization.by_model_size", False),
        ({"base_model": "Llama 2 70B"}, "over-1b", "gpu_utilization.by_model_size", True),
        ({"base_model_params": 3.0e7}, "under-50m", "gpu_utilization.by_model_size", False),
        ({}, None, "gpu_utilization.seed_reference", False),
    ],
)
def test_gpu_utilisation_by_model_size(
    values: dict[str, Any], band: str | None, rule: str, warned: bool
) -> None:
    doc = {"values": {"gpu_model": "A100 80GB", "gpu_count": 4, "reserved_hours": 10, **values}}
    est = estimate(RS23, disclosure_from_document(doc, "t.yaml", RS23), extra=("gpu_energy_kwh",))
    util = est.fields["gpu_utilization"]
    assert util.rule is not None and util.rule.id == rule
    assert (util.warning is not None) is warned
    if band is None:
        assert util.value == 0.47 and "model_size_band" not in est.fields
        return
    assert est.fields["model_size_band"].value == band
    rows = {r.key[0]: r for r in RS23.tables["gpu_utilization_reference"].rows}
    assert util.value == rows[band].values["gpu_utilization"]
    # the GPU energy is the GPU terms of the cluster power model over the hours
    assert est.fields["gpu_energy_kwh"].value == pytest.approx(
        4 * (46 + 354 * util.value) * 10 / 1000
    )


def test_validate_predictions_reports_measured_gpu_energy(cli: Cli) -> None:
    code, out, _ = cli("validate-predictions", "--rules", V23, "--format", "json")
    assert code == 0
    energy = json.loads(out)["summary"]["gpu_energy_kwh"]
    assert energy["cases"] == 8 and energy["failed"] == 0
    assert energy["median_abs_error"] < 0.10  # 5.8% when fitted; 33% with one figure for all


def test_the_step_fit_table_is_what_the_fit_produces() -> None:
    """Ruleset 2.4: tables/mfu_small_dense.yaml is the output of bench/fit_mfu.py, and the
    large-model rows of the inherited table are unchanged by the new fit."""
    v24 = RULES / "2.4"
    out = run_fit("fit_mfu.py", v24)
    fitted = {
        (m, g): (float(u), float(t))
        for m, g, u, t in re.findall(
            r"^  small (\w+) ([\w-]+): mfu ([0-9.]+) step_overhead_s ([0-9.]+)", out, flags=re.M
        )
    }
    rs = load_ruleset(v24)
    table = {
        tuple(r.key): (r.values["mfu"], r.values["step_overhead_s"])
        for r in rs.tables["mfu_small_dense"].rows
    }
    assert fitted and fitted.keys() == table.keys()
    for key, (mfu, step_s) in table.items():
        assert fitted[key] == (pytest.approx(mfu), pytest.approx(step_s)), key
    large = fitted_mfu(out, r" \(")
    inherited = {tuple(r.key): r.values["mfu"] for r in rs.tables["mfu_reference"].rows}
    assert large == pytest.approx(inherited)
    assert "step fit leave-one-out time error over 6 cases" in out
