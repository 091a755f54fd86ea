"""Fit the MFU table on the calibration cases, and report in-sample and leave-one-out error.

For each case of <ruleset>/calibration/throughput.yaml the ruleset itself resolves the
training operations and the GPUs' peak throughput; the utilisation the case implies is
operations / (GPUs x peak x measured seconds). A (method, GPU) row of mfu_reference is the
median of its cases. Prints the rows to paste into tables/mfu_reference.yaml and the
errors of predicting each case from the median of the *other* cases of its group.

    python bench/fit_mfu.py [--rules rules/2.3]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from tuneprint import load_ruleset
from tuneprint.calibration.cases import load_cases
from tuneprint.core.resolve import estimate
from tuneprint.load.disclosures import disclosure_from_document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=Path, default=None)
    args = parser.parse_args()
    rs = load_ruleset(args.rules)
    implied: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for file, case in load_cases(rs):
        if "compute_hours" not in case["measured"]:
            continue  # a case for another predictor (e.g. GPU utilisation)
        d = disclosure_from_document({"values": case["values"]}, file, rs)
        est = estimate(rs, d, extra=("training_flops", "gpu_peak_flops", "gpu_count"))
        f = est.fields
        seconds = case["measured"]["compute_hours"] * 3600
        u = f["training_flops"].value / (
            f["gpu_count"].value * f["gpu_peak_flops"].value * seconds
        )
        key = (str(f["fine_tuning_method"].value), str(f["gpu_model"].value))
        implied.setdefault(key, []).append((case["id"], u))
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


if __name__ == "__main__":
    main()
