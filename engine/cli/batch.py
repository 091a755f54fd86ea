"""``tuneprint batch``: its command, registered on the application."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from .commands import echo, err
from .options import RulesOption

CHUNK_ROWS = 262_144  # tuneprint.batch.run.CHUNK_ROWS, which needs pyarrow to import


def register(app: typer.Typer) -> None:
    """Add the batch command."""

    @app.command("batch")
    def batch_cmd(
        source: Annotated[Path, typer.Argument(help="Input: .csv, .jsonl or .parquet.")],
        target: Annotated[Path, typer.Argument(help="Output: .csv, .jsonl or .parquet.")],
        rules: RulesOption = None,
        engine: Annotated[
            str, typer.Option(help="vector (columns at once), rows (one by one) or dask.")
        ] = "vector",
        scheduler: Annotated[
            str | None, typer.Option(help="Dask scheduler address (default: a local cluster).")
        ] = None,
        chunk_rows: Annotated[int, typer.Option(help="Rows estimated at once.")] = CHUNK_ROWS,
        workers: Annotated[
            int,
            typer.Option(
                help="Processes estimating chunks at once (vector and rows engines; CSV of "
                "plain records and Parquet)."
            ),
        ] = 1,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
        fail_on_error: Annotated[
            bool, typer.Option(help="Exit 2 when any row could not be estimated.")
        ] = False,
    ) -> None:
        """Estimate every row of a batch file into an output file, one output row per
        input row: outputs, reported and disclosed values (units in the schema or
        header), compact provenance, the ruleset, and the error of each row that could
        not be estimated."""
        from importlib.util import find_spec

        from ..core.problems import InputError
        from .rulesets import load_ruleset

        try:
            if find_spec("rich") is None:  # the progress bar: imported only when shown
                raise ImportError("rich", name="rich")
            from ..batch.run import check_workers, count_rows, run_batch
        except ImportError as exc:
            missing = exc.name or "pyarrow"
            raise InputError.one(
                "batch",
                None,
                "",
                f'{missing} is not installed: pip install "tuneprint[batch]"',
                "option",
            ) from None

        if chunk_rows < 1:
            raise InputError.one("--chunk-rows", None, "", "expected a number >= 1", "option")
        if workers < 1:
            raise InputError.one("--workers", None, "", "expected a number >= 1", "option")
        check_workers(workers, "--workers")
        if engine not in ("vector", "rows", "dask"):
            raise InputError.one(
                "--engine", None, "", f"expected vector, rows or dask, got {engine!r}", "option"
            )
        if scheduler is not None and engine != "dask":
            raise InputError.one(
                "--scheduler", None, "", "a Dask scheduler is for --engine dask alone", "option"
            )
        ruleset = load_ruleset(rules)
        with _stopped_on_terminate():
            from ..batch.memory import keep_freed_memory

            keep_freed_memory()  # (this process runs the batch alone: see batch/memory.py)
            show = not quiet and sys.stderr.isatty()
            if show:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                )

                bar = Progress(
                    TextColumn("[progress.description]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} rows/s"),
                    TimeRemainingColumn(),
                    transient=True,
                )
                with bar:
                    task = bar.add_task(str(source), total=count_rows(source), rate="-")
                    started = time.perf_counter()

                    def advance(rows: int) -> None:
                        bar.advance(task, rows)
                        spent = time.perf_counter() - started
                        done = bar.tasks[0].completed
                        bar.update(task, rate=f"{done / spent:,.0f}" if spent else "-")

                    counts = run_batch(
                        source, target, ruleset, engine, chunk_rows, advance, scheduler,
                        str(source), workers,
                    )  # fmt: skip
            else:
                counts = run_batch(
                    source, target, ruleset, engine, chunk_rows, None, scheduler, str(source),
                    workers,
                )  # fmt: skip
        for problem in counts.first:
            err(f"error: {problem}")
        if counts.errors > len(counts.first):
            more = counts.errors - len(counts.first)
            err(f"... and {more} more rows with errors (the error column of {target})")
        echo(f"{counts.rows} rows in, {counts.ok} estimated, {counts.errors} errors -> {target}")
        if fail_on_error and counts.errors:
            raise typer.Exit(2)


@contextmanager
def _stopped_on_terminate() -> Iterator[None]:
    """While a run writes: SIGTERM (``kill``, ``timeout``, a service or a CI job stopped)
    or SIGHUP (its terminal closed; unless ignored, as ``nohup`` does) stops it as Ctrl-C
    does: its output file beside the target and its temporary parts removed, an earlier
    output left as it was, exit 130 with "aborted". Once its output is in place the
    signals are the process's own again (a run then ends as any process does)."""
    import signal

    def interrupted(number: int, frame: object) -> None:
        raise KeyboardInterrupt

    taken = [signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        taken.append(signal.SIGHUP)
    try:
        before = {number: signal.signal(number, interrupted) for number in taken}
    except ValueError:  # (not the main thread: the caller's choice)
        before = {}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
