"""Speed and memory of one estimate, in one run: ruleset load (checked and cached), warm
estimate per fixture (median and p99, the disclosure's checks included) with the compiled
resolver and with the reference interpreter (simpleeval), a cold ``tuneprint estimate``
process, ``import tuneprint``, and the memory of one loaded ruleset.

    python bench/estimate_time.py [--repeat N]

Timings on a shared machine vary from run to run; each figure is the best median of
several rounds, and the reference path is given as a ratio to the compiled one measured
in the same run.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").glob("case_*.yaml"))
ROUNDS = 5  # rounds of warm estimates; the best median is reported


def _env(cache: str) -> dict[str, str]:
    env = {**os.environ, "TUNEPRINT_CACHE_DIR": cache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a normal install has compiled bytecode
    return env


def _processes(command: list[str], env: dict[str, str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def _warm(estimate: object, doc: object, rs: object, n: int, reference: bool) -> list[float]:
    from tuneprint.core.resolve import estimate as core_estimate
    from tuneprint.load.disclosures import disclosure_from_mapping

    times = []
    for _ in range(n):
        start = time.perf_counter()
        if reference:
            core_estimate(rs, disclosure_from_mapping(doc, "bench", rs), reference=True)  # type: ignore[arg-type]
        else:
            estimate(doc, rs)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return times


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="cold processes per figure")
    parser.add_argument("--estimates", type=int, default=2000, help="warm estimates per round")
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="tuneprint-bench-cache-")
    os.environ["TUNEPRINT_CACHE_DIR"] = cache
    env = _env(cache)

    rss_before = _rss_kib()
    import tuneprint
    from tuneprint.load.layers import find_ruleset
    from tuneprint.load.ruleset import load_folder
    from tuneprint.load.yamlio import load_file

    folder = find_ruleset()
    rss_imported = _rss_kib()
    checked = []
    for _ in range(3):
        start = time.perf_counter()
        rs = load_folder(folder, cached=False)
        checked.append(time.perf_counter() - start)
    load_folder(folder)  # writes the cache entry
    cached = []
    for _ in range(10):
        start = time.perf_counter()
        rs = load_folder(folder)
        cached.append(time.perf_counter() - start)
    n_rules = sum(len(r) for r in rs.rules.values())
    n_rows = sum(len(t.rows) for t in rs.tables.values())
    print(f"ruleset {rs.label}: {len(rs.layers)} layers, {n_rules} rules, {n_rows} table rows")
    print(f"  load, checked (YAML, schemas, expressions, units, resolver): "
          f"{statistics.median(checked) * 1e3:.0f} ms median")  # fmt: skip
    median, best = statistics.median(cached) * 1e3, min(cached) * 1e3
    print(f"  load, cached (hash of every file, signed entry): {median:.1f} ms median, "
          f"{best:.1f} ms best")  # fmt: skip
    one = [
        sys.executable,
        "-c",
        "import gc, tuneprint\nfrom tuneprint.load.ruleset import load_folder\n"
        "from tuneprint.load.layers import find_ruleset\n"
        "def rss():\n"
        "    for l in open('/proc/self/status'):\n"
        "        if l.startswith('VmRSS:'): return int(l.split()[1])\n"
        "a = rss(); rs = load_folder(find_ruleset()); gc.collect(); print(rss() - a)",
    ]
    resident = int(subprocess.run(one, env=env, capture_output=True, text=True).stdout)
    print(f"  memory of one loaded ruleset: {resident / 1024:.1f} MiB resident "
          f"(process with tuneprint imported: {rss_imported / 1024:.1f} MiB, "
          f"python alone {rss_before / 1024:.1f} MiB)")  # fmt: skip

    gc.freeze()  # the ruleset lives as long as the process: keep it out of collections
    print(f"warm estimate, disclosure checks included ({args.estimates} x {ROUNDS} rounds):")
    for path in FIXTURES:
        doc = load_file(path)
        best: dict[bool, tuple[float, float]] = {}
        for reference in (False, True):
            n = args.estimates if not reference else max(100, args.estimates // 10)
            _warm(tuneprint.estimate, doc, rs, n // 10, reference)
            rounds = []
            for _ in range(ROUNDS):
                times = sorted(_warm(tuneprint.estimate, doc, rs, n, reference))
                rounds.append((statistics.median(times), times[int(len(times) * 0.99)]))
            best[reference] = min(rounds)
        (median, p99), (ref_median, _) = best[False], best[True]
        fields = len(tuneprint.estimate(doc, rs).fields)
        print(f"  {path.name:<34} {median * 1e6:6.1f} us median, p99 {p99 * 1e6:6.1f} us "
              f"({fields} fields); simpleeval reference {ref_median * 1e6:7.1f} us "
              f"= {ref_median / median:.1f}x")  # fmt: skip

    nothing = _processes([sys.executable, "-c", "pass"], env, args.repeat)
    imported = _processes([sys.executable, "-c", "import tuneprint"], env, args.repeat)
    cli = [sys.executable, "-m", "tuneprint", "estimate", str(FIXTURES[-1])]
    _processes(cli, env, 2)  # bytecode and the cache entry written
    cold = _processes(cli, env, args.repeat)
    for label, times in (
        ("python -c pass (this machine's floor)", nothing),
        ("import tuneprint (new process)", imported),
        (f"tuneprint estimate {FIXTURES[-1].name} (new process)", cold),
    ):
        print(f"{label:<52} {statistics.median(times) * 1e3:5.0f} ms median, "
              f"{min(times) * 1e3:4.0f} ms best")  # fmt: skip


if __name__ == "__main__":
    main()
