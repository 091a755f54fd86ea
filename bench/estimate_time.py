"""Time one estimate: cold (a new `tuneprint estimate` process) and warm (in-process, ruleset
already loaded), plus the ruleset load. Prints medians; run with the project installed:

    python bench/estimate_time.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").glob("case_*.yaml"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from tuneprint import load_ruleset
    from tuneprint.core.resolve import estimate
    from tuneprint.load.disclosures import load_disclosure

    loads = []
    for _ in range(max(3, args.repeat // 4)):
        start = time.perf_counter()
        ruleset = load_ruleset()
        loads.append(time.perf_counter() - start)
    print(f"ruleset load ({ruleset.label}): median {statistics.median(loads) * 1000:.1f} ms")

    for path in FIXTURES:
        disclosure = load_disclosure(path, ruleset)
        times = []
        for _ in range(args.repeat * 10):
            start = time.perf_counter()
            result = estimate(ruleset, disclosure)
            times.append(time.perf_counter() - start)
        print(
            f"warm estimate {path.name}: median {statistics.median(times) * 1e6:.0f} us "
            f"({len(result.fields)} fields resolved)"
        )

    command = [sys.executable, "-m", "tuneprint", "estimate", str(FIXTURES[0])]
    cold = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        cold.append(time.perf_counter() - start)
    print(
        f"cold CLI estimate {FIXTURES[0].name}: median {statistics.median(cold) * 1000:.0f} ms, "
        f"min {min(cold) * 1000:.0f} ms over {len(cold)} runs"
    )


if __name__ == "__main__":
    main()
