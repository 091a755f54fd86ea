"""The benchmark commands the README gives run, on small sizes, and print their figures.
Their figures are not checked (they depend on the machine); that each one runs, finishes
and says what it measured is."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def bench(tmp_path: Path, script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_batch_scale(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    out = bench(tmp_path, "batch_scale.py", "--sizes", "400", "--engines", "vector")
    lines = out.splitlines()
    assert lines[0].startswith("start-up: one row, from a new process to its output, in ")
    assert lines[1].startswith("400 disclosures")
    assert "baseline plain Python" in lines[2]
    assert "from CSV file to CSV file" in lines[3]
    runs = [line for line in lines if "x baseline" in line]
    assert all("x file to file" in line for line in runs)
    assert len(runs) == 2 and "(Parquet in)" in runs[1]  # CSV in, then Parquet in
    assert all("400 rows in" in line for line in runs)
    again = bench(tmp_path, "batch_scale.py", "--sizes", "300", "--engines", "vector",
                  "--inputs", "parquet", "--repeat", "2").splitlines()  # fmt: skip
    runs = [line for line in again if "x baseline" in line]
    assert len(runs) == 1 and "(Parquet in)" in runs[0] and ", 2 runs)" in runs[0], again
    low, high = re.search(r"\(([0-9.]+)-([0-9.]+) s, 2 runs\)", runs[0]).groups()
    median = float(runs[0].split()[3])
    assert float(low) <= median <= float(high)


def test_estimate_time(tmp_path: Path) -> None:
    out = bench(tmp_path, "estimate_time.py", "--repeat", "1")
    assert "load, cached" in out and "warm estimate" in out
    assert "case_c_seed_disclosure.yaml" in out and "(new process)" in out


def test_service_load(tmp_path: Path) -> None:
    if importlib.util.find_spec("uvicorn") is None:
        pytest.skip("the service extra is not installed")
    out = bench(
        tmp_path, "service_load.py", "--seconds", "0.3", "--requests", "100",
        "--workers", "1", "--concurrency", "2",
    )  # fmt: skip
    assert "every request answered; none with a 5xx" in out
