"""The ``tuneprint`` command: a thin skin over the public API that parses and prints."""

from __future__ import annotations

import gc
import os
import sys

EXIT_USER_ERROR = 2  # bad input, bad rules, or a field nothing can resolve
EXIT_INTERNAL = 3  # a defect of tuneprint itself
EXIT_INTERRUPTED = 130  # interrupted (Ctrl-C), as shells report SIGINT


def run(argv: list[str]) -> int:
    """Run the command line and return its exit code: user errors give 2 and one message
    each, never a traceback."""
    from ..core.problems import TuneprintError
    from .commands import echo_problems, quick
    from .rulesets import forget_warnings

    if sys.stdout is None or sys.stderr is None:  # started with a standard stream closed
        if sys.stderr is not None:
            print("error: standard output is closed: nothing can be written", file=sys.stderr)
        return EXIT_USER_ERROR
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # text no encoding can hold is escaped, not an error
            reconfigure(errors="backslashreplace")
    forget_warnings()  # each command warns of each draft it uses once
    try:
        try:
            code = quick(argv)
            if code is None:
                from .app import command

                command(argv[0] if argv else None)(
                    args=argv, prog_name="tuneprint", standalone_mode=True
                )
                code = 0
        except SystemExit as exc:  # click's own exit, usage errors included (code 2)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code == EXIT_INTERRUPTED:  # (the parser's own end of a Ctrl-C: silent)
                print("aborted", file=sys.stderr)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # the reader went away (``| head``): nothing more to say
        _quiet_stdout()
        return EXIT_USER_ERROR
    except OSError as exc:  # standard output could not be written (a full disk...)
        _quiet_stdout()
        print(f"error: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except TuneprintError as exc:
        echo_problems(exc.problems)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # last line of defence: no traceback reaches a user
        if os.environ.get("TUNEPRINT_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (set TUNEPRINT_DEBUG=1 "
            "for details, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _quiet_stdout() -> None:
    """Point standard output at nothing, so Python's own flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main() -> None:
    """Console entry point."""
    try:
        code = run(sys.argv[1:])
    except KeyboardInterrupt:  # (Ctrl-C while its modules load, before ``run`` takes it)
        print("aborted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    # The process ends here: what it made needs no collecting. Frozen, the objects are
    # left out of the collections at exit (a tenth of a second after a large batch);
    # finalizers registered to run at exit still run.
    gc.freeze()
    sys.exit(code)


__all__ = ["EXIT_INTERNAL", "EXIT_USER_ERROR", "main", "run"]
