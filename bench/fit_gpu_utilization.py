"""Fit the GPU utilisation table on the calibration cases, with in-sample and
leave-one-out error of the GPU energy.

A case of <ruleset>/calibration/ that measured `gpu_energy_kwh` implies the utilisation
(kWh / (GPUs x hours) - idle) / (TDP - idle), with the GPU figures the ruleset resolves; a
case that measured `gpu_utilization` gives it directly. The ruleset also says which size
band each case falls in (rule model_size_band.from_params), and a band's row of
gpu_utilization_reference is the median of its cases. Prints the rows to paste into
tables/gpu_utilization_reference.yaml and the energy errors of predicting each case from
the median of the *other* cases of its band.

    python bench/fit_gpu_utilization.py [--rules rules/2.3]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from engine.calibration import load_cases
from engine.disclosure import disclosure_from_document
from engine.loader import load_ruleset
from engine.resolve import estimate

NEEDED = ("model_size_band", "gpu_idle_w", "gpu_tdp_w", "gpu_count", "reserved_hours")


Implied = tuple[str, float, float, bool]


def implied_utilisations(rules: Path | None) -> dict[str, list[Implied]]:
    """Per band, for every case: (case, implied utilisation, idle power as a share of the
    idle-to-TDP span, whether the GPU energy was measured)."""
    rs = load_ruleset(rules)
    bands: dict[str, list[Implied]] = {}
    for file, case in load_cases(rs):
        measured = case["measured"]
        if "gpu_energy_kwh" not in measured and "gpu_utilization" not in measured:
            continue
        d = disclosure_from_document({"values": case["values"]}, file, rs)
        f = estimate(rs, d, extra=NEEDED).fields
        idle, span = f["gpu_idle_w"].value, f["gpu_tdp_w"].value - f["gpu_idle_w"].value
        if "gpu_energy_kwh" in measured:
            watts = (
                measured["gpu_energy_kwh"]
                * 1000
                / (f["gpu_count"].value * f["reserved_hours"].value)
            )
            u = (watts - idle) / span
        else:
            u = measured["gpu_utilization"]
        bands.setdefault(str(f["model_size_band"].value), []).append(
            (case["id"], u, idle / span, "gpu_energy_kwh" in measured)
        )
    return bands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=Path, default=None)
    args = parser.parse_args()
    bands = implied_utilisations(args.rules)
    print("fitted rows (median per size band):")
    for band, items in sorted(bands.items()):
        detail = ", ".join(f"{cid} {u:.3f}" for cid, u, _, _ in items)
        fitted = statistics.median(u for _, u, _, _ in items)
        print(f"  {band}: gpu_utilization {fitted:.3f} ({detail})")
    for label, leave_out in (("in sample", False), ("leave-one-out", True)):
        errors = []
        for _, items in sorted(bands.items()):
            for i, (cid, u, idle, energy_measured) in enumerate(items):
                pool = [v for j, (_, v, _, _) in enumerate(items) if not (leave_out and j == i)]
                if not pool or not energy_measured:
                    continue
                # GPU energy scales as idle + u x span: predicted / measured - 1
                error = (idle + statistics.median(pool)) / (idle + u) - 1
                errors.append((abs(error), cid))
                if leave_out:
                    print(f"  leave-one-out {cid}: energy error {error:+.1%}")
        worst = max(errors)
        print(
            f"{label} GPU energy error over the {len(errors)} measured runs: median "
            f"{statistics.median(e for e, _ in errors):.1%}, worst {worst[0]:.1%} ({worst[1]})"
        )


if __name__ == "__main__":
    main()
