"""Fit the GPU utilisation table on the calibration cases, with in-sample and
leave-one-out error of the GPU energy.

For a case of <ruleset>/calibration/ that measured `gpu_energy_kwh`, the ruleset itself
gives the GPU energy at utilisation 0 and 1 (rule gpu_energy_kwh.*, linear in the
utilisation), so the measured energy implies the utilisation (E - E0) / (E1 - E0); a case
that measured `gpu_utilization` gives it directly. The ruleset also says which size band
each case falls in (rule model_size_band.from_params), and a band's row of
gpu_utilization_reference is the median of its cases. A case marked ``used_in_fit: false``
is left out. Prints the rows to paste into
tables/gpu_utilization_reference.yaml, and the energy error of each measured run when its
utilisation is the median of its band (in sample) or of the *other* cases of its band
(leave one out), the energy again computed by the ruleset.

    python bench/fit_gpu_utilization.py [--rules rules/2.3]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuneprint import load_ruleset
from tuneprint.calibration.cases import load_cases
from tuneprint.core.resolve import estimate
from tuneprint.load.disclosures import disclosure_from_document


@dataclass(frozen=True)
class Case:
    id: str
    utilisation: float  # implied by the measured energy, or measured
    measured_energy: float | None  # kWh, if the GPU energy was measured
    energy_at: Callable[[float], float]  # GPU energy (kWh) the ruleset gives at a utilisation


def cases_by_band(rules: Path | None) -> dict[str, list[Case]]:
    rs = load_ruleset(rules)
    bands: dict[str, list[Case]] = {}
    for file, case in load_cases(rs):
        measured = case["measured"]
        if "gpu_energy_kwh" not in measured and "gpu_utilization" not in measured:
            continue
        if not case.get("used_in_fit", True):
            continue

        def energy_at(u: float, values: dict = case["values"], file: str = file) -> float:
            d = disclosure_from_document({"values": {**values, "gpu_utilization": u}}, file, rs)
            return float(estimate(rs, d, extra=("gpu_energy_kwh",)).fields["gpu_energy_kwh"].value)

        d = disclosure_from_document({"values": case["values"]}, file, rs)
        band = str(estimate(rs, d, extra=("model_size_band",)).fields["model_size_band"].value)
        energy = measured.get("gpu_energy_kwh")
        if energy is not None:
            e0, e1 = energy_at(0.0), energy_at(1.0)
            u = (energy - e0) / (e1 - e0)
        else:
            u = measured["gpu_utilization"]
        bands.setdefault(band, []).append(Case(case["id"], u, energy, energy_at))
    return bands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=Path, default=None)
    args = parser.parse_args()
    bands = cases_by_band(args.rules)
    print("fitted rows (median per size band):")
    for band, items in sorted(bands.items()):
        detail = ", ".join(f"{c.id} {c.utilisation:.3f}" for c in items)
        fitted = statistics.median(c.utilisation for c in items)
        print(f"  {band}: gpu_utilization {fitted:.3f} ({detail})")
    for label, leave_out in (("in sample", False), ("leave-one-out", True)):
        errors = []
        for _, items in sorted(bands.items()):
            for case in items:
                pool = [c.utilisation for c in items if not (leave_out and c is case)]
                if not pool or case.measured_energy is None:
                    continue
                error = case.energy_at(statistics.median(pool)) / case.measured_energy - 1
                errors.append((abs(error), case.id))
                if leave_out:
                    print(f"  leave-one-out {case.id}: energy error {error:+.1%}")
        worst = max(errors)
        print(
            f"{label} GPU energy error over the {len(errors)} measured runs: median "
            f"{statistics.median(e for e, _ in errors):.1%}, worst {worst[0]:.1%} ({worst[1]})"
        )


if __name__ == "__main__":
    main()
