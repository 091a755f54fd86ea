"""Text views of an estimate: a summary table and the derivation tree of each field.

Views never compute: every number shown is a resolved field's value.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.model import Location, Ruleset
from ..core.provenance import Failure
from ..core.resolve import Estimate, Unresolved, options_text
from ..core.text import printable
from ..load.paths import display_path

_BUNDLED = (Path(__file__).resolve().parent.parent / "_bundled").resolve()
SCIENTIFIC_ABOVE = 1e15  # numbers this large are shown in scientific notation
SCIENTIFIC_BELOW = 1e-4  # and numbers this small
MAX_EXPLAIN_DEPTH = 40  # levels of inputs explain follows


def shown(value: Any, digits: int = 4, unit: str = "") -> str:
    """A value for people: numbers to the field's significant digits, with thousands
    separators; the unit after it."""
    if value is None:
        text = "none"
    elif isinstance(value, datetime):
        text = (
            value.isoformat(timespec="minutes")
            if value.time() != datetime.min.time()
            else value.date().isoformat()
        )
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, int):
        text = str(value) if unit == "year" else f"{value:,}"
    elif isinstance(value, float):
        text = _significant(value, digits)
    else:
        text = printable(str(value))
    return f"{text} {unit}" if unit not in ("", "-", "1", "year") else text


def _significant(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    if abs(value) >= SCIENTIFIC_ABOVE or abs(value) < SCIENTIFIC_BELOW:
        return f"{value:.{digits - 1}e}"
    text = f"{value:,.{digits}g}" if abs(value) < 10**digits else f"{round(value):,}"
    if "e" in text:
        text = f"{float(text.replace(',', '')):,.0f}"
    return text


def where(rs: Ruleset, at: Location) -> str:
    """A location for people: the file a user can open (relative to the working folder
    when under it), or ``version/file:line`` for the rulesets bundled in the package."""
    path = rs.path_of(at)
    if path.resolve().is_relative_to(_BUNDLED):
        return str(at)
    line = "" if at.line is None else f":{at.line}"
    return display_path(path) + line


def table_text(est: Estimate, width: int | None = None) -> str:
    """The result at a glance, every line at most ``width`` columns (see views/summary)."""
    from .summary import WIDTH
    from .summary import table_text as summary_table

    return summary_table(est, WIDTH if width is None else width)


def explain_text(
    est: Estimate,
    names: list[str],
    depth_limit: int = MAX_EXPLAIN_DEPTH,
    portable: bool = False,
    width: int | None = None,
    hint: bool = False,
) -> str:
    """The derivation tree of each named field, down to disclosed values and table rows
    (``depth_limit`` levels of inputs); the sources cited are listed once at the end.
    ``portable`` writes locations as ``version/file:line`` (for text sent elsewhere: no
    path of this machine), else as the files a user here can open. ``width`` folds lines
    longer than it at word boundaries, keeping their indentation; ``hint`` ends the text
    with how many deeper steps the depth hid and how to show them."""
    rs = est.ruleset
    hidden: set[str] = set()

    def place(at: Location) -> str:
        return str(at) if portable else where(rs, at)

    out: list[str] = []
    shown_once: set[str] = set()
    cited: list[str] = []

    def cite(keys: tuple[str, ...]) -> str:
        for key in keys:
            if key not in cited:
                cited.append(key)
        return ", ".join(f"[{k}]" for k in keys)

    def walk(name: str, indent: int, via: str) -> None:
        r = est.fields[name]
        spec = rs.fields[name]
        pad = "  " * indent
        head = f"{pad}{via}{name} = {shown(r.value, spec.digits, r.unit)}"
        if r.status == "input":
            src = f"; source: {printable(r.disclosed_source)}" if r.disclosed_source else ""
            out.append(f"{head}   [input: {printable(r.disclosed_at or '')}{src}]")
            return
        rule = r.rule
        assert rule is not None
        if name in shown_once:
            out.append(f"{head}   [{r.status}: {rule.id}, derived above]")
            return
        shown_once.add(name)
        flag = ", ASSUMPTION" if rule.assumption else ""
        out.append(f"{head}   [{r.status}: {rule.id}{flag}]")
        out.append(f"{pad}    = {' '.join(rule.value.text.split())}")
        if rule.when is not None:
            out.append(f"{pad}    when {' '.join(rule.when.text.split())}")
        out.append(f"{pad}    why: {' '.join(rule.reason.split())}")
        if r.warning:
            out.append(f"{pad}    WARNING: {r.warning}")
        out.append(f"{pad}    source: {cite(rule.sources)}   rule at {place(rule.at)}")
        for skip in r.skipped:
            out.append(f"{pad}    skipped {skip.rule}: {skip.reason}")
        for use in r.tables:
            note = f"; {use.note}" if use.note else ""
            key = "/".join(str(k) for k in use.key)
            out.append(
                f"{pad}    row {use.table.name}[{key}].{use.column} = "
                f"{shown(use.value, 6, use.unit)}   {cite(use.sources)} "
                f"{place(use.at)}{note}"
            )
        for dep in rule.disclosed_inputs:
            if dep in est.fields:
                walk(dep, indent + 1, "disclosed ")
        deps = [dep for dep in r.inputs if dep in est.fields]
        if indent < depth_limit:
            for dep in deps:
                walk(dep, indent + 1, "")
        elif deps:
            hidden.update(deps)
            out.append(f"{pad}    from: {', '.join(deps)} (deeper)")

    for name in names:
        walk(name, 0, "")
        out.append("")
    below = _below(est, hidden) - shown_once
    below -= {n for n in below if est.fields[n].rule is None}
    if hint and below:
        steps = "step is" if len(below) == 1 else "steps are"
        out.append(
            f"{len(below)} deeper {steps} hidden (depth {depth_limit}): --depth "
            f"{depth_limit + 1} or more shows them, --all the whole tree"
        )
        out.append("")
    if cited:
        out.append("sources:")
        for key in cited:
            source = rs.sources.get(key)
            out.append(f"  [{key}] {source.text() if source else key}")
    if width is not None:
        out = [folded for line in out for folded in _fold(line, width)]
    return "\n".join(out).rstrip() + "\n"


def _below(est: Estimate, names: set[str]) -> set[str]:
    """The fields the named ones rest on, themselves included."""
    seen: set[str] = set()
    stack = list(names)
    fields = est.fields
    while stack:
        name = stack.pop()
        if name in seen or name not in fields:
            continue
        seen.add(name)
        r = fields[name]
        if r.rule is not None:
            stack.extend(r.inputs)
            stack.extend(r.rule.disclosed_inputs)
    return seen


def _fold(line: str, width: int) -> list[str]:
    """A line folded at word boundaries to ``width`` columns, continuation lines indented
    four columns past the line's own indentation. A word longer than the width (a rule's
    file path, mostly) stays whole on a line of its own, so it can be copied."""
    if len(line) <= width:
        return [line]
    import textwrap

    lead = line[: len(line) - len(line.lstrip(" "))]
    indent = lead + "    "
    if len(indent) > width // 2:
        indent = " " * (width // 2)
    return textwrap.wrap(
        line.strip(),
        width=width,
        initial_indent=lead,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line[:width]]


def failure_text(rs: Ruleset, unresolved: Unresolved) -> str:
    """Why an output cannot be resolved: what would resolve it in one line, then every
    rule tried and why it did not apply, followed down to the fields really missing."""
    spec = rs.fields[unresolved.field]
    lines = [f"cannot resolve {unresolved.field} ({spec.description})"]
    if unresolved.blocked_by:
        lines.append(f"  needs {', '.join(unresolved.blocked_by)} (above)")
        return "\n".join(lines)
    lines.append(f"  {options_text(unresolved.options)}")
    seen: set[str] = set()

    def walk(f: Failure, depth: int) -> None:
        if f.field in seen or depth > 6:
            return
        seen.add(f.field)
        for skip in f.tried:
            lines.append(f"{'  ' * depth}  - {skip.rule}: {skip.reason}")
            if skip.code == "input-unresolved":
                sub = unresolved.failures.get(skip.fields[0])
                if sub is not None:
                    walk(sub, depth + 1)

    walk(unresolved.failure, 0)
    return "\n".join(lines)
