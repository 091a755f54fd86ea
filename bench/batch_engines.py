"""Which column library to build the vectorised batch engine on: the same work, done with
NumPy and with Polars (one thread each), on one million rows.

The work is what a ruleset's resolution does for each field: a table look-up by a coded
key, arithmetic, a condition choosing between two rules in priority order, a bounds check
that marks rows for the exact per-row path, and bookkeeping of which rule applied.

    python bench/batch_engines.py [--rows N] [--fields K]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("POLARS_MAX_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fields", type=int, default=60)
    args = parser.parse_args()
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(1)
    n, k = args.rows, args.fields
    keys = rng.integers(0, 40, n).astype(np.int32)  # a name column, coded
    hours = rng.uniform(0.5, 100, n)
    hours[rng.random(n) < 0.3] = np.nan  # not disclosed in 30% of rows
    table = rng.uniform(100, 700, 40)  # a table column by key

    start = time.perf_counter()
    value = hours
    for _ in range(k):
        looked = table[keys]
        fallback = looked * 0.47 + 12.5
        has = ~np.isnan(value)
        chosen = np.where(has, value * looked / 1000.0, fallback)
        rule = np.where(has, np.int8(0), np.int8(1))
        bad = ~((chosen >= 0) & (chosen <= 1e9))
        value = chosen
    numpy_seconds = time.perf_counter() - start
    del rule, bad

    frame = pl.DataFrame({"key": keys, "hours": hours}).with_columns(
        pl.col("hours").fill_nan(None)
    )
    lookup = pl.DataFrame({"key": np.arange(40, dtype=np.int32), "looked": table})
    start = time.perf_counter()
    lazy = frame.lazy().join(lookup.lazy(), on="key", how="left")
    current = "hours"
    for i in range(k):
        name = f"v{i}"
        lazy = lazy.with_columns(
            pl.when(pl.col(current).is_not_null())
            .then(pl.col(current) * pl.col("looked") / 1000.0)
            .otherwise(pl.col("looked") * 0.47 + 12.5)
            .alias(name),
            pl.when(pl.col(current).is_not_null())
            .then(0)
            .otherwise(1)
            .cast(pl.Int8)
            .alias(f"r{i}"),
        ).with_columns(((pl.col(name) < 0) | (pl.col(name) > 1e9)).alias(f"b{i}"))
        current = name
    result = lazy.collect()
    polars_seconds = time.perf_counter() - start
    del result
    print(f"{n:,} rows x {k} fields, one thread")
    print(f"  numpy : {numpy_seconds:.2f} s")
    print(f"  polars: {polars_seconds:.2f} s ({polars_seconds / numpy_seconds:.2f}x numpy)")


if __name__ == "__main__":
    main()
