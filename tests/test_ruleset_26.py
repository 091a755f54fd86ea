"""Ruleset 2.6: the one-GPU time prediction of small dense models, tested on the rules
themselves (the measured effect on real runs is in tests/test_validation.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tuneprint import load_ruleset

from tests.conftest import RULES, est, value

V25, V26 = load_ruleset(RULES / "2.5"), load_ruleset(RULES / "2.6")
ROOT = Path(__file__).resolve().parent.parent

# A 355M model fine-tuned in full on one A100 from its tokens, batch known (as Aira's cards).
ONE_GPU = {
    "base_model_params": 354825216,
    "fine_tuning_method": "full",
    "gpu_model": "NVIDIA A100-SXM4-40GB",
    "gpu_count": 1,
    "training_tokens": 75_000_000,
    "batch_size": 16,
    "max_sequence_tokens": 600,
    "padding": "max_length",
    "training_precision": "bf16",
}


def test_every_rule_of_26_is_in_its_changelog() -> None:
    assert V26.extends == "2.5"
    logged = {r for entry in V26.changelog for r in entry.get("rules", [])}
    own = {r.id for rules in V26.rules.values() for r in rules if r.at.version == "2.6"}
    assert own == logged == {"mfu.one_gpu_small", "step_overhead_s.one_gpu_small"}


def test_one_gpu_small_model_takes_the_one_gpu_mfu_and_no_step_time() -> None:
    old, new = est(V25, "compute_hours", **ONE_GPU), est(V26, "compute_hours", **ONE_GPU)
    assert old.fields["mfu"].rule.id == "mfu.small_dense"
    assert new.fields["mfu"].rule.id == "mfu.one_gpu_small"
    assert value(new, "mfu") == V26.tables["mfu_one_gpu"].rows[0].values["mfu"]
    assert value(new, "step_overhead_s") == 0
    # the time is the operations over the GPU's peak at that MFU, nothing added
    ops = 6 * ONE_GPU["base_model_params"] * ONE_GPU["training_tokens"]
    hours = ops / (value(new, "gpu_peak_flops") * value(new, "mfu")) / 3600
    assert value(new, "compute_hours") == pytest.approx(hours, rel=0.02)  # + evaluation, if any
    assert value(new, "compute_hours") > 1.4 * value(
        old, "compute_hours"
    )  # 0.107 vs 0.594 + 0.298 s a step


def test_the_one_gpu_time_needs_no_batch() -> None:
    """2.5's step fit needs the steps; without a batch it fell to the uncalibrated 35%."""
    tokens_only = {k: v for k, v in ONE_GPU.items() if k not in ("batch_size", "padding")}
    old, new = est(V25, "compute_hours", **tokens_only), est(V26, "compute_hours", **tokens_only)
    assert old.fields["mfu"].rule.id == "mfu.reference"
    assert new.fields["mfu"].rule.id == "mfu.one_gpu_small"
    assert "uncalibrated" in (old.fields["mfu"].warning or "")
    assert "two runs only" in (new.fields["mfu"].warning or "")  # the fit's own limit


@pytest.mark.parametrize(
    "change",
    [
        {"gpu_count": 8},  # several GPUs: the step fit of multi-GPU runs
        {"base_model_params": 7.0e9},  # outside 0.1-2.5 billion
        {"base_model_params": 5.0e7},
        {"fine_tuning_method": "lora"},
    ],
)
def test_outside_its_domain_the_one_gpu_fit_is_not_taken(change: dict[str, object]) -> None:
    e = est(V26, "compute_hours", **{**ONE_GPU, **change})
    assert e.fields["mfu"].rule.id != "mfu.one_gpu_small"
    step = e.fields.get("step_overhead_s")  # resolved only where the step fit applies
    assert step is None or step.rule.id != "step_overhead_s.one_gpu_small"


def test_multi_gpu_step_fit_is_refitted_without_the_one_gpu_run() -> None:
    e = est(V26, "compute_hours", **{**ONE_GPU, "gpu_count": 8})
    assert e.fields["mfu"].rule.id == "mfu.small_dense"
    assert value(e, "step_overhead_s") == 0.228
    row = V26.tables["mfu_small_dense"].rows[0]
    assert "teenytinyllama" not in (row.note or "") and "tucano" in (row.note or "")


def test_a_disclosed_mfu_or_step_time_still_wins() -> None:
    mine = est(V26, "compute_hours", **ONE_GPU, mfu=0.3, step_overhead_s=0.1)
    assert value(mine, "mfu") == 0.3 and value(mine, "step_overhead_s") == 0.1


def test_the_fit_script_reproduces_the_table() -> None:
    """bench/fit_mfu.py prints the one-GPU MFU the table holds and the step fit's time."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fit_mfu.py"), "--rules", str(RULES / "2.6")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    mfu = V26.tables["mfu_one_gpu"].rows[0].values["mfu"]
    assert f"one-GPU fit: full mfu {mfu:.3f}" in out
    assert "step_overhead_s 0.228" in out
