"""Batch estimation at scale: rows per second and peak memory for 10^4, 10^5 and 10^6
partial disclosures, with the per-disclosure engine, the vectorised engine on one core
and on two, and Dask with two workers.

The disclosures are generated like the methodology's cases: some give the hardware and
the time, some only the model, the service and the tokens, some the region by its provider
name, its code or its country; names are written in several ways ("A100 80GB", "Nvidia
A100 80GB", "nvidia-a100-sxm4-80gb"); one row in a hundred is corrupt (a count of "four",
a negative time, an unknown GPU).

Every size is also read from Parquet (columns typed as pyarrow reads the CSV: the counts
and names stay text where a corrupt cell is) by the one-core engine. Machines differ, and a
shared one from minute to minute, so each size first measures a baseline in the same run:
plain Python estimating the same rows with a simple formula (GPU TDP, hours, utilisation,
PUE and grid intensity, from dicts made of the shipped ruleset's tables), no checks, no
provenance, the rows already parsed into dicts; and the same plain Python from file to
file (the CSV read with the csv module, each row's results written to a CSV), which has the
costs of reading and writing that the first leaves out. Each engine's time is printed as a
multiple of both. With ``--repeat N`` each engine runs N times, the engines in turn, and
its median time is printed with the range.

    python bench/batch_scale.py [--sizes 10000 100000 1000000] [--engines rows vector vector2 dask]
        [--inputs csv parquet] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = [
    "id", "base_model", "gpu_model", "gpu_count", "server_model", "cloud_region", "country",
    "reserved_hours", "gpu_utilization", "managed_service", "start_time", "training_tokens",
]  # fmt: skip
MODELS = ["Llama 2", "Llama 2 7B", "llama-2-13b", "Llama-2-70b", "Mistral 7B", "Llama 3 8B", ""]
GPUS = ["A100 80GB", "Nvidia A100 80GB", "nvidia-a100-sxm4-80gb", "H100", "V100", "", ""]
REGIONS = ["us-west-2", "US West (Oregon)", "europe-west4", "eu-west-1", "", ""]
COUNTRIES = ["France", "USA", "DEU", "", "", "", ""]


def disclosure(rng: random.Random, i: int) -> list[str]:
    """One row: a case like the methodology's, with names written in several ways."""
    row = {h: "" for h in HEADER}
    row["id"] = f"r{i}"
    shape = rng.random()
    row["start_time"] = rng.choice(["", "2023-07-18", "2024-07-06T17:01", "2022-03"])
    if shape < 0.55:  # hardware and time, as the seed's disclosure
        row["base_model"] = rng.choice(MODELS)
        row["gpu_model"] = rng.choice(GPUS)
        row["gpu_count"] = rng.choice(["1", "2", "4", "8", ""])
        row["cloud_region"] = rng.choice(REGIONS)
        row["reserved_hours"] = f"{rng.uniform(0.5, 200):.3f}"
        if rng.random() < 0.3:
            row["gpu_utilization"] = f"{rng.uniform(0.2, 0.95):.2f}"
    elif shape < 0.8:  # a managed service and tokens, as the seed's Bedrock case
        row["base_model"] = rng.choice(["Llama 2", "Llama 2 13B"])
        row["managed_service"] = "AWS Bedrock"
        row["cloud_region"] = rng.choice(["us-west-2", "US West (Oregon)"])
        row["training_tokens"] = str(rng.randint(10_000, 50_000_000))
    else:  # a model and a country only, with tokens
        row["base_model"] = rng.choice(MODELS[:-1])
        row["country"] = rng.choice(COUNTRIES[:3])
        row["gpu_model"] = rng.choice(GPUS[:5])
        row["training_tokens"] = str(rng.randint(10_000, 500_000_000))
    if rng.random() < 0.01:  # corrupt
        spoil = rng.choice(["gpu_count", "reserved_hours", "gpu_model"])
        row[spoil] = {"gpu_count": "four", "reserved_hours": "-3", "gpu_model": "GPX 9000"}[spoil]
    return [row[h] for h in HEADER]


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        out.write(",".join(HEADER) + "\n")
        for i in range(rows):
            out.write(",".join(disclosure(rng, i)) + "\n")


def plain_tables() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """The baseline's look-ups, from the shipped ruleset's tables, by each name as the rows
    write it (lower case): GPU TDP (W), PUE and grid intensity (kg/kWh, latest year)."""
    from tuneprint import load_ruleset
    from tuneprint.core.tables import find_row
    from tuneprint.core.values import match_name

    rs = load_ruleset(None)
    tdp = {}
    for name in filter(None, GPUS):
        row = find_row(rs.tables["gpus"], (match_name(rs.tables["gpus"], name),))
        tdp[name.lower()] = float(row.values["tdp_w"]) if row else 0.0

    def latest(table: str, key: str) -> dict[str, float] | None:
        rows = [r for r in rs.tables[table].rows if r.key[0] == key]
        return max(rows, key=lambda r: r.key[1]).values if rows else None

    pue, grid = {}, {}
    for name in filter(None, REGIONS):
        region = match_name(rs.tables["cloud_regions"], name)
        place = find_row(rs.tables["cloud_regions"], (region,)).values
        rate = latest("grid_cloud_region", region) or latest("grid_country", place["country"])
        grid[name.lower()] = rate["gco2e_per_kwh"] / 1000  # the region's, else its country's
        pue[name.lower()] = latest("datacenter_efficiency", place["provider"])["pue"]
    return tdp, pue, grid


def plain_row(
    row: dict[str, str], tables: tuple[dict[str, float], dict[str, float], dict[str, float]]
) -> tuple[float | None, float | None, str | None]:
    """One row by a simple formula, no checks beyond Python's own, no provenance: the GPUs'
    TDP at the disclosed utilisation (or the seed's 0.47) over the hours, times the PUE,
    then the grid's intensity (without a region, the IT energy only). A row it cannot compute
    gets the error, as a batch would."""
    tdp_w, pue, grid = tables
    try:
        power = tdp_w[row["gpu_model"].strip().lower()]
        gpus = int(row["gpu_count"] or 1)
        hours = float(row["reserved_hours"])
        if hours < 0:
            raise ValueError(hours)
        utilisation = float(row["gpu_utilization"] or 0.47)
        kwh = gpus * power * utilisation * hours / 1000
        region = row["cloud_region"].strip().lower()
        if region not in pue:  # no region: the IT energy, and no carbon
            return kwh, None, None
        kwh *= pue[region]
        return kwh, kwh * grid[region], None
    except (KeyError, ValueError) as exc:
        return None, None, repr(exc)


def plain_python(source: Path, repeats: int = 3) -> float:
    """Seconds a row of the plain-Python baseline (best of ``repeats``), this process on one
    core."""
    import csv

    with open(source, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    tables = plain_tables()
    best = float("inf")
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cores:  # on one core, as the one-core engine; the engines' runs get every core back
        os.sched_setaffinity(0, {min(cores)})
    for _ in range(repeats):
        start = time.process_time()
        results = [plain_row(r, tables) for r in rows]
        best = min(best, time.process_time() - start)
    if cores:
        os.sched_setaffinity(0, cores)
    assert len(results) == len(rows)
    return best / len(rows)


def plain_files(source: Path, target: Path, repeats: int = 2) -> float:
    """Seconds a row of plain Python from file to file (best of ``repeats``), this process
    on one core: the CSV read with the csv module, each row by ``plain_row`` and written at
    once to a CSV of its id, its two numbers and its error. It is what a batch does, without
    its checks and its provenance, and comes with every cost the first baseline leaves out
    (reading, parsing, writing), so it slows with the machine as the batch does."""
    import csv

    tables = plain_tables()
    best = float("inf")
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cores:
        os.sched_setaffinity(0, {min(cores)})
    for _ in range(repeats):
        start = time.process_time()
        count = 0
        with (
            open(source, encoding="utf-8", newline="") as handle,
            open(target, "w", encoding="utf-8", newline="") as out,
        ):
            writer = csv.writer(out)
            writer.writerow(["id", "it_energy_kwh", "total_emissions_kgco2e", "error"])
            for row in csv.DictReader(handle):
                writer.writerow([row["id"], *plain_row(row, tables)])
                count += 1
        best = min(best, time.process_time() - start)
    if cores:
        os.sched_setaffinity(0, cores)
    return best / count


def write_parquet(csv_path: Path, path: Path) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    pq.write_table(pcsv.read_csv(csv_path), path)


def run(engine: str, source: Path, target: Path) -> tuple[float, float, str]:
    """Seconds and peak memory (MiB) of one batch run in a new process."""
    env = {**os.environ}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled bytecode, also of an older install
    extra = []
    if engine == "vector":  # one core: the engine's own thread pools pinned to one thread
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", ARROW_NUM_THREADS="1")
        cmd = ["taskset", "-c", "0"] if shutil_which("taskset") else []
    else:
        cmd = []
    if engine == "vector2":  # two processes, each with its own share of the chunks
        extra = ["--workers", "2"]
    name = {"rows": "rows", "vector": "vector", "vector2": "vector", "dask": "dask"}[engine]
    cmd += [sys.executable, "-m", "tuneprint", "batch", str(source), str(target)]
    cmd += ["--engine", name, "-q", *extra]
    # a fresh parent for each run, so the peak is this run's: the largest resident set of
    # one process of its tree (the batch or one of its workers)
    cmd = [sys.executable, "-c", MEASURE, *cmd]
    # each run writes a new file, as the first does: every run of an engine is made alike
    target.unlink(missing_ok=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 2):
        raise SystemExit(done.stderr)
    out, _, peak = done.stdout.rpartition("PEAK ")
    return seconds, int(peak) / 1024, out.strip() or done.stderr.strip()


MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print("PEAK", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=["rows", "vector", "vector2", "dask"])
    parser.add_argument("--inputs", nargs="+", default=["csv", "parquet"])
    parser.add_argument(
        "--rows-limit", type=int, default=100_000, help="largest size for the rows engine"
    )
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="runs of each engine, alternating (the median is shown, and the range)",
    )  # fmt: skip
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tuneprint-bench-"))
    one = folder / "in-1.csv"
    write_csv(one, 1)
    run("vector", one, folder / "out-1.parquet")  # bytecode written, the ruleset cached
    start_up = min(run("vector", one, folder / "out-1.parquet")[0] for _ in range(3))
    print(f"start-up: one row, from a new process to its output, in {start_up:.2f} s")
    for size in args.sizes:
        source = folder / f"in-{size}.csv"
        write_csv(source, size)
        mib = source.stat().st_size / 2**20
        per_row = plain_python(source)
        base = per_row * size
        files = plain_files(source, folder / f"plain-{size}.csv") * size
        print(f"{size:,} disclosures ({mib:.1f} MiB of CSV):")
        print(f"  baseline plain Python, no checks, no provenance: {per_row * 1e6:.2f} us a row "
              f"({base:.2f} s for these rows)")  # fmt: skip
        print(f"  the same from CSV file to CSV file: {files / size * 1e6:.2f} us a row "
              f"({files:.2f} s)")  # fmt: skip
        runs = [("csv", e) for e in args.engines if "csv" in args.inputs]
        if "parquet" in args.inputs and "vector" in args.engines:
            parquet = folder / f"in-{size}.parquet"
            write_parquet(source, parquet)
            runs.append(("parquet", "vector"))
        if size > args.rows_limit and ("csv", "rows") in runs:
            print(f"  {'rows':<21} skipped (over --rows-limit)")
            runs.remove(("csv", "rows"))
        # each engine in turn, then again: a slower minute of a shared machine falls on
        # one run of each, not on all the runs of one
        measured: dict[tuple[str, str], list[tuple[float, float, str]]] = {r: [] for r in runs}
        for _ in range(max(1, args.repeat)):
            for kind, engine in runs:
                target = folder / f"out-{size}-{engine}-{kind}.parquet"
                measured[kind, engine].append(
                    run(engine, source if kind == "csv" else parquet, target)
                )
        for (kind, engine), found in measured.items():
            label = f"{engine}{'' if kind == 'csv' else ' (Parquet in)'}"
            times = sorted(seconds for seconds, _, _ in found)
            seconds = statistics.median(times)
            peak, summary = max(p for _, p, _ in found), found[-1][2]
            spread = f" ({times[0]:.2f}-{times[-1]:.2f} s, {len(times)} runs)"
            spread = spread if len(times) > 1 else ""
            print(f"  {label:<21} {seconds:7.2f} s  {size / seconds:10,.0f} rows/s  "
                  f"{seconds / base:5.1f} x baseline  {seconds / files:5.2f} x file to file  "
                  f"peak {peak:7.0f} MiB{spread}  ({summary})")  # fmt: skip


if __name__ == "__main__":
    main()
