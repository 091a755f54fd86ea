"""Fit the MFU tables on the calibration cases, and report in-sample and leave-one-out error.

For each case of <ruleset>/calibration/throughput.yaml the ruleset itself resolves the
training operations, the GPUs' peak throughput at the run's precision and (from 2.4) the
optimiser steps.

* Cases of models inside the domain of tables/mfu_reference.yaml (6.6 billion parameters and
  more): the utilisation a case implies is operations / (GPUs x peak x measured seconds), and
  a (method, GPU) row is the median of its cases.
* Smaller dense models with a known number of steps (2.4's tables/mfu_small_dense.yaml): the
  measured time is taken as operations / (GPUs x peak x MFU) + steps x seconds per step, and
  the two unknowns (1 / MFU and the seconds per step) are fitted per method by least squares
  on the relative time error, over every GPU the cases ran on. The MFU is held at most at the
  highest utilisation the large-model cases imply (no small model computes more efficiently
  than the best benchmark), and the seconds per step at least at zero.
* From 2.6, small dense models trained on one GPU (tables/mfu_one_gpu.yaml, for rulesets
  that hold it): the MFU alone, per method, minimising the relative time error
  sum((x / MFU) / T - 1)^2 over those cases (1 / MFU = sum(x / T) / sum((x / T)^2)); they
  leave the step fit, which keeps the runs on several GPUs.

Prints the rows to paste into the tables and the errors of predicting each case from a fit
on the *other* cases.

    python bench/fit_mfu.py [--rules rules/2.4]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from tuneprint import load_ruleset
from tuneprint.calibration.cases import load_cases
from tuneprint.core.problems import UnresolvedError
from tuneprint.core.resolve import estimate
from tuneprint.load.disclosures import disclosure_from_document

# The smallest model of the MFU table's domain (rule mfu.calibrated): below it, the step fit.
CALIBRATED_MIN_PARAMS = 6.6e9

# One case of the step fit: (id, GPU, seconds at MFU 1, optimiser steps, measured seconds).
StepCase = tuple[str, str, float, float, float]


def fit_steps(cases: list[StepCase], mfu_cap: float) -> tuple[float, float]:
    """(MFU, seconds per step) minimising sum(((x / MFU + steps x t) / T - 1)^2)."""
    rows = [(x / t_meas, s / t_meas) for _, _, x, s, t_meas in cases]
    sxx = sum(u * u for u, _ in rows)
    sxy = sum(u * v for u, v in rows)
    syy = sum(v * v for _, v in rows)
    bx = sum(u for u, _ in rows)
    by = sum(v for _, v in rows)
    det = sxx * syy - sxy * sxy
    if len(rows) >= 2 and det > 0:
        a = (bx * syy - by * sxy) / det
        t = (sxx * by - sxy * bx) / det
    else:
        a, t = 1 / mfu_cap, -1.0
    if t < 0:  # no time per step: the MFU alone
        t, a = 0.0, bx / sxx
    if a < 1 / mfu_cap:  # MFU above the cap: hold it there and refit the time per step
        a = 1 / mfu_cap
        t = max(0.0, (by - a * sxy) / syy)
    return 1 / a, t


def fit_mfu_only(cases: list[StepCase]) -> float:
    """The MFU minimising sum(((x / MFU) / T - 1)^2): no time per step."""
    rows = [x / t_meas for _, _, x, _, t_meas in cases]
    return sum(u * u for u in rows) / sum(rows)


def predicted(case: StepCase, mfu: float, step_s: float) -> float:
    """Predicted over measured time, minus one."""
    _, _, x, s, t_meas = case
    return (x / mfu + s * step_s) / t_meas - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=Path, default=None)
    args = parser.parse_args()
    rs = load_ruleset(args.rules)
    has_steps = "training_steps" in rs.fields
    extra = ("training_flops", "gpu_peak_flops", "gpu_count", "base_model_active_params")
    if has_steps:
        extra = (*extra, "evaluation_flops")
    implied: dict[tuple[str, str], list[tuple[str, float]]] = {}
    small: dict[str, list[StepCase]] = {}
    one_gpu: dict[str, list[StepCase]] = {}
    has_one_gpu = "mfu_one_gpu" in rs.tables
    for file, case in load_cases(rs):
        if "compute_hours" not in case["measured"]:
            continue  # a case for another predictor (e.g. GPU utilisation)
        d = disclosure_from_document({"values": case["values"]}, file, rs)
        f = estimate(rs, d, extra=extra).fields
        steps = None
        if has_steps:
            try:  # steps need a batch and a sequence length, which a benchmark may not give
                steps = estimate(rs, d, extra=("training_steps",)).fields["training_steps"].value
            except UnresolvedError:
                steps = None
        seconds = case["measured"]["compute_hours"] * 3600
        method, gpu = str(f["fine_tuning_method"].value), str(f["gpu_model"].value)
        flops = f["training_flops"].value + (f["evaluation_flops"].value if has_steps else 0)
        at_peak = flops / (f["gpu_count"].value * f["gpu_peak_flops"].value)
        small_model = f["base_model_active_params"].value < CALIBRATED_MIN_PARAMS
        if small_model and has_one_gpu and f["gpu_count"].value == 1:
            one_gpu.setdefault(method, []).append(
                (case["id"], gpu, at_peak, steps or 0.0, seconds)
            )
            continue
        if small_model and steps is not None:
            small.setdefault(method, []).append((case["id"], gpu, at_peak, steps, seconds))
            continue
        implied.setdefault((method, gpu), []).append((case["id"], at_peak / seconds))
    print("fitted rows (median per method and GPU):")
    for (method, gpu), items in sorted(implied.items()):
        detail = ", ".join(f"{cid} {u:.3f}" for cid, u in items)
        print(f"  {method} {gpu}: mfu {statistics.median(u for _, u in items):.3f} ({detail})")
    loo = []
    for (method, gpu), items in sorted(implied.items()):
        for i, (cid, u) in enumerate(items):
            others = [v for j, (_, v) in enumerate(items) if j != i]
            if not others:
                print(f"  leave-one-out {cid}: no other case for {method} on {gpu}")
                continue
            # time scales as 1 / MFU: predicted / measured = u / median(others)
            error = u / statistics.median(others) - 1
            loo.append((abs(error), cid))
            print(f"  leave-one-out {cid}: time error {error:+.1%}")
    if loo:
        worst = max(loo)
        print(
            f"leave-one-out time error over {len(loo)} cases: median "
            f"{statistics.median(e for e, _ in loo):.1%}, worst {worst[0]:.1%} ({worst[1]})"
        )
    for method, cases in sorted(one_gpu.items()):
        mfu = fit_mfu_only(cases)
        print(f"one-GPU fit: {method} mfu {mfu:.3f} ({', '.join(c[0] for c in cases)})")
        for case in cases:
            implied_mfu = case[2] / case[4]
            error = predicted(case, mfu, 0.0)
            print(
                f"  in sample {case[0]} ({case[1]}): implied mfu {implied_mfu:.3f}, "
                f"time error {error:+.1%}"
            )
        for i, case in enumerate(cases):
            others = cases[:i] + cases[i + 1 :]
            if others:
                error = predicted(case, fit_mfu_only(others), 0.0)
                print(f"  leave-one-out {case[0]}: time error {error:+.1%}")
    if not small:
        return
    cap = max(u for items in implied.values() for _, u in items)
    print(f"step fit (MFU at most {cap:.3f}, the highest the large-model cases imply):")
    small_loo = []
    for method, cases in sorted(small.items()):
        mfu, step_s = fit_steps(cases, cap)
        ids = ", ".join(c[0] for c in cases)
        for gpu in sorted({c[1] for c in cases}):
            print(f"  small {method} {gpu}: mfu {mfu:.3f} step_overhead_s {step_s:.3f} ({ids})")
        for case in cases:
            print(f"  in sample {case[0]}: time error {predicted(case, mfu, step_s):+.1%}")
        for i, case in enumerate(cases):
            others = cases[:i] + cases[i + 1 :]
            error = predicted(case, *fit_steps(others, cap))
            small_loo.append((abs(error), case[0]))
            print(f"  leave-one-out {case[0]}: time error {error:+.1%}")
    worst = max(small_loo)
    print(
        f"step fit leave-one-out time error over {len(small_loo)} cases: median "
        f"{statistics.median(e for e, _ in small_loo):.1%}, worst {worst[0]:.1%} ({worst[1]})"
    )


if __name__ == "__main__":
    main()
