"""Where the time of a batch run goes: the processor time of each part of the vectorised
engine, on the rows of ``bench/batch_scale.py``.

    python bench/batch_phases.py [--rows 1000000] [--input csv|parquet] [--rules 2.6]

The run is done twice in one process and the second is measured (the first warms the
caches a long run fills once). Each part is timed by wrapping the function that does it;
a part holding another (the resolution holds the rows read again) is given with that part
taken out. Pin it to one core (``taskset -c 0``) to compare with the one-core figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, however it is loaded
import batch_scale

ESTIMATE = "estimate_chunk"  # its time, less its timed parts, is the resolution's
AGAIN = "rows read again one by one"
REST = "reading the input, and the rest"
HEADS = "the first rows of runs"  # within the resolution, given apart
# (module, object, attribute, part): each function timed, and the part it counts for
TIMED = [
    ("formats", None, "chunk_of", "checking the cells"),
    ("engine", None, "grouping", "grouping the rows"),
    ("engine", "Columns", "taken", "grouping the rows"),
    ("engine", None, "resolver_of", "the resolution"),
    ("vector", "Resolver", "demand", "what each row asks for"),
    ("engine", "_Builder", "vector", "filling and ordering the output"),
    ("engine", "_Builder", "batch", "filling and ordering the output"),
    ("engine", "_Builder", "error", AGAIN),
    ("engine", "_Builder", "refused", AGAIN),
    ("engine", "_Builder", "result", AGAIN),
    ("engine", None, "estimate", AGAIN),
    ("formats", "Writer", "write", "writing the output"),
    ("formats", "Writer", "close", "writing the output"),
]


@contextmanager
def timed_parts() -> Iterator[dict[str, float]]:
    """Processor time per part while inside; only the outermost call of a part counts."""
    from tuneprint.batch import engine, formats, run, vector

    modules = {"engine": engine, "formats": formats, "run": run, "vector": vector}
    seconds: dict[str, float] = defaultdict(float)
    active: list[str] = []
    undo: list[tuple[Any, str, Any]] = []

    def wrap(function: Callable[..., Any], part: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if active and active[-1] == part:
                return function(*args, **kwargs)
            active.append(part)
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.process_time() - start
                active.pop()
                seconds[part] += spent
                if active:  # the enclosing part does not count it again
                    seconds[active[-1]] -= spent

        return timed

    for module, holder, name, part in [*TIMED, ("run", None, ESTIMATE, ESTIMATE)]:
        owner = modules[module] if holder is None else getattr(modules[module], holder)
        undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, wrap(getattr(owner, name), part))
    remembering = formats._remembering  # makes each chunk's reader of single rows

    def timed_reader(*args: Any) -> Callable[..., Any]:
        return wrap(remembering(*args), AGAIN)

    undo.append((formats, "_remembering", remembering))
    formats._remembering = timed_reader
    starting = vector.RunResolver.__init__  # its resolver of the first rows of runs

    def start_run_resolver(resolver: Any, *args: Any) -> None:
        starting(resolver, *args)
        heads = resolver.runs
        outcome, depth = heads.outcome, [0]

        def timed_outcome(name: str) -> Any:  # part of the resolution, counted apart too
            depth[0] += 1
            start = time.process_time()
            try:
                return outcome(name)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    seconds[HEADS] += time.process_time() - start

        heads.outcome = timed_outcome  # (its own recursion goes through it: counted once)

    undo.append((vector.RunResolver, "__init__", starting))
    vector.RunResolver.__init__ = start_run_resolver
    try:
        yield seconds
    finally:
        for owner, name, function in reversed(undo):
            setattr(owner, name, function)


def phases(source: Path, rules: str | None) -> tuple[float, dict[str, float], float]:
    """The processor time of a second run on ``source``, of each part of it, and of the
    resolution of the first rows of runs (within the resolution's)."""
    import tuneprint
    from tuneprint.batch.run import run_batch

    ruleset = tuneprint.load_ruleset(rules)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "out.parquet"
        run_batch(source, target, ruleset)
        with timed_parts() as seconds:
            start = time.process_time()
            run_batch(source, target, ruleset)
            total = time.process_time() - start
    parts = dict(seconds)
    heads = parts.pop(HEADS, 0.0)
    parts["the resolution"] = parts.get("the resolution", 0.0) + parts.pop(ESTIMATE, 0.0)
    parts[REST] = total - sum(parts.values())
    return total, parts, heads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--input", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--rules", default=None, help="a ruleset (default: the newest)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.csv"
        batch_scale.write_csv(source, args.rows)
        if args.input == "parquet":
            batch_scale.write_parquet(source, source.with_suffix(".parquet"))
            source = source.with_suffix(".parquet")
        total, parts, heads = phases(source, args.rules)
    print(f"{args.rows:,} rows, {args.input} in, Parquet out: {total:.2f} s of processor time")
    for part, spent in sorted(parts.items(), key=lambda item: -item[1]):
        share = 100 * spent / total if total else 0.0
        micros = 1e6 * spent / args.rows
        print(f"  {part:34s} {spent:6.2f} s  {share:4.1f}%  {micros:5.2f} us a row")
        if part == "the resolution":
            print(f"    of it, {HEADS:26s} {heads:6.2f} s")


if __name__ == "__main__":
    main()
