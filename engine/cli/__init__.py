"""The ``tuneprint`` command: a thin skin over the public API that parses and prints."""

from __future__ import annotations

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

    try:
        code = quick(argv)
        if code is not None:
            return code
        from .app import app

        app(args=argv, prog_name="tuneprint", standalone_mode=True)
    except SystemExit as exc:  # click's own exit, usage errors included (code 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
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
    return 0


def main() -> None:
    """Console entry point."""
    sys.exit(run(sys.argv[1:]))


__all__ = ["EXIT_INTERNAL", "EXIT_USER_ERROR", "main", "run"]
