"""Long fuzz run for a scheduled job: the properties of tests/test_fuzz.py with the "long"
Hypothesis profile (20,000 examples each unless --examples says otherwise).

    python bench/fuzz.py [--examples N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=None)
    args = parser.parse_args()
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        str(ROOT / "tests" / "test_fuzz.py"),
        "--hypothesis-profile=long",
        "--hypothesis-show-statistics",
        "-p",
        "no:cacheprovider",
    ]
    env = None
    if args.examples:
        import os

        env = {**os.environ, "TUNEPRINT_FUZZ_EXAMPLES": str(args.examples)}
    sys.exit(subprocess.call(command, cwd=ROOT, env=env))


if __name__ == "__main__":
    main()
