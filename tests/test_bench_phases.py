"""bench/batch_phases.py: the parts of a batch run add up to the run, each is counted
once, and the engine is left as it was."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import ROOT, bench_script

pytest.importorskip("pyarrow")

batch_phases = bench_script("batch_phases")


def test_the_parts_add_up_to_the_run_and_the_engine_is_restored(tmp_path: Path) -> None:
    from tuneprint.batch import engine, formats
    from tuneprint.batch.vector import RunResolver

    before = (engine.estimate, engine._Builder.batch, formats._remembering, formats.chunk_of,
              RunResolver.__init__)  # fmt: skip
    source = tmp_path / "in.csv"
    batch_phases.batch_scale.write_csv(source, 20_000)  # in runs; one row in a hundred corrupt
    total, parts, heads = batch_phases.phases(source, str(ROOT / "rules" / "2.6"))
    assert math.isclose(sum(parts.values()), total, rel_tol=1e-9)
    named = set(parts) - {batch_phases.REST}
    assert named == {p for *_, p in batch_phases.TIMED} | {"the resolution"}
    assert all(spent >= 0 for name, spent in parts.items() if name != batch_phases.REST)
    assert parts["the resolution"] > 0 and parts[batch_phases.AGAIN] > 0
    assert 0 < heads < parts["the resolution"]  # the rows come in runs: counted within it
    after = (engine.estimate, engine._Builder.batch, formats._remembering, formats.chunk_of,
             RunResolver.__init__)  # fmt: skip
    assert after == before


def test_the_script_prints_each_part(tmp_path: Path) -> None:
    """``python bench/batch_phases.py`` as the docs give it, on a small input."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "batch_phases.py"), "--rows", "2000",
         "--input", "csv", "--rules", str(ROOT / "rules" / "2.6")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, *lines = done.stdout.splitlines()
    assert first.startswith("2,000 rows, csv in, Parquet out:")
    assert {line.split("  ")[1].strip() for line in lines} >= {
        "the resolution",
        "grouping the rows",
    }
