"""Run hostile cases in this process and report what happened to each, as JSON.

The test starts this script in a new process with a memory cap (and, for cases about
unreadable files, without the capabilities that let root read anything) and gives it a
list of prepared cases. For each, in the case's own folder and under a time limit, it runs
the command line and the library, watches every file opened, and records: exit code,
output, errors, the library's outcome, files opened under the forbidden folder, and peak
memory so far.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

SECONDS = 10  # the most one case may take


class Hang(BaseException):
    """The time limit of a case passed (not an Exception: nothing may catch it)."""


def _peak_kib() -> int:
    """This process's own peak resident memory. ``ru_maxrss`` is not: Linux carries the
    parent's peak across fork and exec, so a runner started by a test process of 1 GiB
    reported 1 GiB whatever its cases used. VmHWM belongs to the running program alone."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


def main() -> None:
    specs = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    watched: list[str] = []
    forbidden: list[str] = [""]

    def watch(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and forbidden[0] and args:
            target = args[0]
            if isinstance(target, (str, bytes, os.PathLike)):
                path = os.fsdecode(target)
                if os.path.realpath(path).startswith(forbidden[0]):
                    watched.append(path)

    sys.addaudithook(watch)
    signal.signal(signal.SIGALRM, _alarm)
    real_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    real_stdin = sys.stdin
    from tuneprint.cli import run

    reports = []
    for spec in specs:
        os.chdir(spec["cwd"])
        forbidden[0] = spec["forbidden"]
        watched.clear()
        out, err = io.BytesIO(), io.BytesIO()
        sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
        sys.stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
        sys.stdin = real_stdin
        if spec.get("stdin") is not None:
            sys.stdin = io.TextIOWrapper(io.BytesIO(Path(spec["stdin"]).read_bytes()))
        start = time.perf_counter()
        report: dict[str, Any] = {"id": spec["id"]}
        signal.setitimer(signal.ITIMER_REAL, SECONDS)
        try:
            report["exit"] = run(spec["argv"])
            sys.stdout.flush()
            sys.stderr.flush()
            report["library"] = _library(spec.get("library"))
            if spec.get("batch"):
                report["batch"] = _batch(run, *spec["batch"])
        except Hang:
            report["hang"] = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        report.update(
            stdout=out.getvalue().decode("utf-8", "backslashreplace"),
            stderr=err.getvalue().decode("utf-8", "backslashreplace"),
            opened_forbidden=list(watched),
            max_rss_kib=_peak_kib(),
            seconds=time.perf_counter() - start,
        )
        reports.append(report)
    forbidden[0] = ""
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    real_out.write(json.dumps(reports))
    real_out.flush()


def _batch(run: Any, source: str, rules: str) -> dict[str, object]:
    """``tuneprint batch`` on the same batch file, JSON Lines out: its exit code, what it
    printed, and the rows it wrote (None when it wrote no file)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return {"skipped": "pyarrow is not installed"}
    target = Path("batch-out.jsonl")
    saved = sys.stdout, sys.stderr
    out, err = io.BytesIO(), io.BytesIO()
    wrappers = [io.TextIOWrapper(b, encoding="utf-8", write_through=True) for b in (out, err)]
    sys.stdout, sys.stderr = wrappers  # kept: a wrapper collected closes its buffer
    try:
        code = run(["batch", source, str(target), "--rules", rules, "-q"])
    finally:
        sys.stdout, sys.stderr = saved
    rows = None
    if target.exists():
        rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    report = {
        "exit": code,
        "stdout": out.getvalue().decode("utf-8", "backslashreplace"),
        "stderr": err.getvalue().decode("utf-8", "backslashreplace"),
        "rows": rows,
    }
    del wrappers
    return report


def _library(action: list[str] | None) -> dict[str, object]:
    """The library's outcome on the same input: ok, or the error class and message."""
    if not action:
        return {"outcome": "none"}
    import tuneprint

    kind, *args = action
    try:
        if kind == "estimate":
            rules = tuneprint.load_ruleset(args[1] if len(args) > 1 else None)
            tuneprint.estimate(args[0], rules)
        elif kind == "ruleset":
            rules = tuneprint.load_ruleset(args[0])
            if len(args) > 1:
                tuneprint.estimate(args[1], rules)
        elif kind == "batch":
            rules = tuneprint.load_ruleset(args[1] if len(args) > 1 else None)
            items = list(tuneprint.estimate_many(tuneprint.read_batch(args[0], rules), rules))
            errors = [i for i in items if isinstance(i, tuneprint.TuneprintError)]
            return {"outcome": "rows", "rows": len(items), "errors": len(errors)}
        elif kind == "what-if":
            from tuneprint.versions.whatif import override

            rules = tuneprint.load_ruleset(args[2] if len(args) > 2 else None)
            override(tuneprint.read_disclosure(args[0], rules), [args[1]], rules)
        else:
            raise AssertionError(kind)
    except tuneprint.TuneprintError as exc:
        return {"outcome": "error", "class": type(exc).__name__, "message": str(exc)}
    except Hang:
        raise
    except Exception as exc:  # the promise is broken: the test reports it
        return {"outcome": "internal", "class": type(exc).__name__, "message": str(exc)}
    return {"outcome": "ok"}


if __name__ == "__main__":
    main()
