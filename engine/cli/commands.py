"""The most used commands, apart from the argument parser: the typer command and the
quick path of ``run`` (which spares the parser's start-up when the arguments are plain)
both call these, so the two cannot differ."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from ..api import (
    Result,
    estimate,
    estimate_many,
    is_batch,
    read_batch,
    read_disclosure,
    why_unresolved,
)
from ..core.model import Disclosure, Ruleset
from ..core.problems import InputError, Problem, TuneprintError, UnresolvedError
from ..core.text import printable, terminal_safe
from ..load.disclosures import unknown_field
from .rulesets import load_ruleset

EXIT_OK = 0
EXIT_USER_ERROR = 2
FORMATS = ("table", "json")
ESTIMATE_FORMATS = ("table", "json", "markdown", "csv")
DEFAULT_DEPTH = 2  # levels of inputs explain shows unless told
TEXT_WIDTH = 80  # columns of text written to anything but a terminal
TERMINAL_LINES = 24  # lines of a terminal whose size is unknown


def out(text: str, end: str = "\n") -> None:
    """Write to standard output (control characters from the input written as escapes)."""
    sys.stdout.write(terminal_safe(text) + end)


def err(text: str) -> None:
    """Write a line to standard error (control characters written as escapes)."""
    sys.stderr.write(terminal_safe(text) + "\n")


def echo(text: object = "", err: bool = False, nl: bool = True) -> None:
    """``typer.echo``'s signature over ``out`` and ``err``."""
    if err:
        sys.stderr.write(terminal_safe(str(text)) + ("\n" if nl else ""))
    else:
        out(str(text), end="\n" if nl else "")


def echo_problems(problems: Iterable[Problem]) -> None:
    """One ``error:`` line (or block) per problem, on standard error."""
    for problem in problems:
        err(f"error: {problem}")


def fail(problems: list[Problem]) -> int:
    """Print the problems; the exit code of a user error."""
    echo_problems(problems)
    return EXIT_USER_ERROR


def bad_format(format: str, formats: tuple[str, ...] = FORMATS) -> list[Problem]:
    """The problem of an output format that is not known, if it is not."""
    if format in formats:
        return []
    expected = ", ".join(formats[:-1]) + f" or {formats[-1]}"
    return [Problem("--format", None, "", f"expected {expected}, got {format!r}", "option")]


def bad_depth(depth: int) -> list[Problem]:
    """The problem of an explain depth below 0, if it is."""
    if depth >= 0:
        return []
    return [Problem("--depth", None, "", f"expected 0 or more levels, got {depth}", "option")]


def text_width() -> int:
    """The columns text is folded to: the terminal's when standard output is one, else 80."""
    import shutil

    isatty = getattr(sys.stdout, "isatty", None)
    if isatty is not None and isatty():
        return shutil.get_terminal_size((TEXT_WIDTH, TERMINAL_LINES)).columns
    return TEXT_WIDTH


def _items(files: list[Path], ruleset: Ruleset) -> Iterable[Disclosure | InputError]:
    for path in files:
        if is_batch(path):
            yield from read_batch(path, ruleset)
            continue
        try:
            yield read_disclosure(path, ruleset)
        except InputError as exc:
            yield exc


def _place(error: TuneprintError) -> str:
    problem = error.problems[0] if error.problems else None
    if problem is not None and problem.line is not None:
        return f"{problem.file}:{problem.line}"
    return problem.file if problem is not None else ""


def estimate_command(files: list[Path], rules: str | None, format: str, why: bool) -> int:
    """``tuneprint estimate``: each disclosure (each row of a batch), in order."""
    from ..views.json import dumps, dumps_line, result_json
    from ..views.summary import csv_header, csv_text, markdown_text, table_text

    problems = bad_format(format, ESTIMATE_FORMATS)
    if problems:
        return fail(problems)
    ruleset = load_ruleset(rules)
    width = text_width()
    failed: list[Problem] = []
    trees: list[str] = []
    batch = any(is_batch(p) for p in files) or len(files) > 1
    if format == "json" and batch:
        out("[")
    if format == "csv":
        out(csv_header(), end="")
    first = True
    for item in estimate_many(_items(files, ruleset), ruleset, report=True):
        document: dict[str, object]
        if isinstance(item, Result):
            document = result_json(item) if format == "json" else {}
            if format == "table":
                text = table_text(item, width)
            elif format == "markdown":
                text = markdown_text(item)
            elif format == "csv":
                text = csv_text(item)
            else:
                text = ""
        else:
            failed.extend(item.problems)
            if why and isinstance(item, UnresolvedError):
                trees.append(why_unresolved(item, ruleset))
            place = _place(item)
            document = {"name": place, "errors": [p.as_dict() for p in item.problems]}
            text = f"{place}: not estimated (errors below)"
        if format == "table":
            out(text + "\n")
        elif format == "markdown":
            out(("" if first else "\n") + text, end="")
        elif format == "csv":
            if isinstance(item, Result):
                out(text, end="")
        elif batch:
            out(("" if first else ",\n") + dumps_line(document), end="")
        else:
            out(dumps(document), end="")
        first = False
    if format == "json" and batch:
        out("\n]")
    if failed:
        for tree in trees:
            err(tree)
        return fail(failed)
    return EXIT_OK


def explain_command(
    file: Path,
    field: str | None,
    rules: str | None,
    row: int | None = None,
    depth: int = DEFAULT_DEPTH,
    every: bool = False,
) -> int:
    """``tuneprint explain``: how a value was derived (``row``: of a batch's output), to
    ``depth`` levels of inputs, or the whole tree (``every``)."""
    from ..views.summary import fold
    from ..views.text import MAX_EXPLAIN_DEPTH, explain_text

    problems = bad_depth(depth)
    if problems:
        return fail(problems)
    limit = MAX_EXPLAIN_DEPTH if every else depth
    width = text_width()
    ruleset = load_ruleset(rules) if rules or row is None else None
    if row is not None:
        from ..batch import explain_row

        result = explain_row(file, row, field, ruleset)
        names = [field] if field else list(result.ruleset.outputs)
        head = f"{printable(result.disclosure.id)}  (row {row}; {_ruleset_words(result.ruleset)})"
        out("\n".join(fold(head, width, "    ", "")) + "\n")
        out(explain_text(result, names, limit, width=width, hint=not every), end="")
        return EXIT_OK
    assert ruleset is not None
    disclosure = read_disclosure(file, ruleset)
    extra: tuple[str, ...] = ()
    if field is not None:
        if field not in ruleset.fields:
            return fail([unknown_field(str(file), None, field, ruleset)])
        extra = (field,)
    try:
        result = estimate(disclosure, ruleset, extra=extra)
    except UnresolvedError as exc:
        out(why_unresolved(exc, ruleset), end="")
        return EXIT_USER_ERROR
    names = [field] if field else list(ruleset.outputs)
    head = f"{printable(disclosure.id)}  ({_ruleset_words(ruleset)})"
    out("\n".join(fold(head, width, "    ", "")) + "\n")
    out(explain_text(result, names, limit, width=width, hint=not every), end="")
    return EXIT_OK


def _ruleset_words(rs: Ruleset) -> str:
    return f"ruleset {rs.id} {rs.version}, content hash {rs.content_hash[:12]}"


def quick(argv: list[str]) -> int | None:
    """Run ``estimate`` or ``explain`` with plain arguments (files, ``--rules``, ``--format``,
    ``--why``) without the argument parser; None when the arguments need the parser (any
    other option, help, a mistake), which then handles them."""
    if not argv or argv[0] not in ("estimate", "explain"):
        return None
    options: dict[str, str | bool] = {}
    positional: list[str] = []
    words = iter(argv[1:])
    valued = {"--rules", "--format"} if argv[0] == "estimate" else {"--rules", "--depth"}
    for word in words:
        name, eq, value = word.partition("=")
        if name in valued and name not in options:
            if not eq:
                value = next(words, "")
                if not value or value.startswith("-"):
                    return None
            options[name] = value
        elif word == {"estimate": "--why", "explain": "--all"}[argv[0]] and word not in options:
            options[word] = True
        elif (word.startswith("-") and word != "-") or not word:
            return None
        else:
            positional.append(word)
    rules = options.get("--rules")
    rules_arg = rules if isinstance(rules, str) else None
    if argv[0] == "estimate":
        if not positional:
            return None
        format = options.get("--format", "table")
        return estimate_command(
            [Path(p) for p in positional], rules_arg, str(format), bool(options.get("--why"))
        )
    if not 1 <= len(positional) <= 2:
        return None
    field = positional[1] if len(positional) == 2 else None
    depth = str(options.get("--depth", DEFAULT_DEPTH))
    if not depth.isdigit():
        return None  # the parser says what is wrong with it
    return explain_command(
        Path(positional[0]), field, rules_arg, None, int(depth), bool(options.get("--all"))
    )
