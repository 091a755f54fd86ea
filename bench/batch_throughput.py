"""Throughput of a batch estimate: N CSV rows (the seed's disclosure with varied hours and
utilisation, every tenth row broken on purpose) through `tuneprint estimate --format json`
in one process. Prints rows per second and peak memory.

    python bench/batch_throughput.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    "id,base_model,gpu_model,gpu_count,server_count,cloud_region,reserved_hours,"
    "gpu_utilization,cpu_utilization\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.csv"
        lines = [HEADER]
        for i in range(args.rows):
            hours = "broken" if i % 10 == 9 else str(1 + i % 48)
            util = f"{0.2 + (i % 7) / 10:.2f}"
            lines.append(f"row-{i},Llama 2,A100 80GB,4,1,us-west-2,{hours},{util},0.12\n")
        path.write_text("".join(lines), encoding="utf-8")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "tuneprint", "estimate", str(path), "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        rows = json.loads(proc.stdout)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        errors = sum(1 for r in rows if "errors" in r)
        print(
            f"{args.rows} rows in, {len(rows)} rows out ({errors} with errors, exit "
            f"{proc.returncode}): {elapsed:.2f} s, {args.rows / elapsed:,.0f} rows/s, "
            f"peak memory {peak:.0f} MiB"
        )


if __name__ == "__main__":
    main()
