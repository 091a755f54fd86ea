"""The result at a glance: what ``tuneprint estimate`` prints as a table, Markdown or CSV.

Every value is marked by what it rests on:

- **disclosed**: given in the disclosure;
- **assumed**: set by a rule marked as an assumption, or computed from at least one value
  that is (followed down through every input);
- **derived**: computed by rules from disclosed values and reference data only.

The share of the total emissions that rests on assumptions is read off the additive parts
of the total (for these rulesets, operational + embodied emissions): a part that is
assumed counts in full, a derived or disclosed part not at all, and a part that is itself
a plain sum of fields is split the same way. Numbers are shown to the ruleset's
significant digits (``display: significant_digits`` in its ruleset.yaml, 3 when absent),
and to 2 when more than half of the total emissions rests on assumptions. Views never
compute a result: every number is a resolved field's value, rounded only for display.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..core.model import Ruleset
from ..core.provenance import Resolved, plain
from ..core.resolve import Estimate
from ..core.text import printable

DISCLOSED, DERIVED, ASSUMED = "disclosed", "derived", "assumed"
MARKS = (DISCLOSED, DERIVED, ASSUMED)
DEFAULT_DIGITS = 3  # significant digits when the ruleset declares none
ASSUMED_DIGITS = 2  # digits shown when the result rests mostly on assumptions
MOSTLY = 0.5  # "mostly": more than this share of the total emissions is assumed
PERCENT = 100  # a share as a percentage
WIDTH = 80  # columns of the text when the output is not a terminal
MIN_WIDTH = 40  # narrower terminals are written as if this wide
TOTAL = "total_emissions_kgco2e"
PER_INFERENCE = ("emissions_per_inference_gco2e", "water_per_inference_ml")
USE_FIELDS = ("inferences_per_day", "use_life_days")
KEY = (
    "key: disclosed = given in the disclosure; derived = computed by rules from "
    "disclosed values and reference data; assumed = rests on a rule marked as an "
    "assumption ('tuneprint explain' shows which)"
)

_digits_by_hash: dict[str, int] = {}


def ruleset_digits(rs: Ruleset) -> int:
    """The significant digits the ruleset declares for display (``display:
    significant_digits`` in ruleset.yaml, the newest version that sets it winning, as for
    every manifest key), or 3. Read from the manifests the load has already checked
    against schemas/ruleset.schema.json."""
    known = _digits_by_hash.get(rs.content_hash)
    if known is not None:
        return known
    import yaml

    digits = DEFAULT_DIGITS
    for layer in rs.layers:
        try:
            manifest = yaml.safe_load((layer.folder / "ruleset.yaml").read_text("utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue  # checked at load: only a file removed since can fail here
        display = manifest.get("display") if isinstance(manifest, dict) else None
        if isinstance(display, dict) and isinstance(display.get("significant_digits"), int):
            digits = display["significant_digits"]
    _digits_by_hash[rs.content_hash] = digits
    return digits


def marks(est: Estimate) -> dict[str, str]:
    """disclosed, derived or assumed for every resolved field."""
    fields = est.fields
    out: dict[str, str] = {}

    def mark(name: str) -> str:
        known = out.get(name)
        if known is not None:
            return known
        r = fields[name]
        rule = r.rule
        if rule is None:
            out[name] = DISCLOSED
            return DISCLOSED
        out[name] = DERIVED  # a cycle is impossible (checked at load); this guards recursion
        deps = [d for d in (*rule.disclosed_inputs, *r.inputs) if d in fields]
        assumed = rule.assumption or any(mark(d) == ASSUMED for d in deps)
        out[name] = ASSUMED if assumed else DERIVED
        return out[name]

    for name in fields:
        mark(name)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _sum_parts(r: Resolved) -> list[str] | None:
    """The fields a rule adds up, when its value is a plain sum of fields."""
    if r.rule is None:
        return None
    names: list[str] = []

    def collect(node: ast.expr) -> bool:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return collect(node.left) and collect(node.right)
        if isinstance(node, ast.Name):
            names.append(node.id)
            return True
        return False

    return names if collect(r.rule.value.node) else None


def assumed_share(est: Estimate, field: str = TOTAL) -> float | None:
    """The share (0 to 1) of a field's value that rests on assumed values: the sum of its
    assumed additive parts over the whole; None when the field is not resolved or is not
    a number, or its parts do not add up to it."""
    fields = est.fields
    if field not in fields:
        return None
    status = marks(est)
    total = _number(fields[field].value)
    if total is None:
        return None
    if total == 0:
        return 1.0 if status[field] == ASSUMED else 0.0

    def assumed_part(name: str) -> float | None:
        value = _number(fields[name].value)
        if value is None:
            return None
        if status[name] != ASSUMED:
            return 0.0
        parts = _sum_parts(fields[name])
        if parts is None or not all(p in fields for p in parts) or fields[name].rule is None:
            return value
        if fields[name].rule.assumption:  # type: ignore[union-attr]
            return value
        shares = [assumed_part(p) for p in parts]
        if any(s is None for s in shares):
            return value
        return sum(s for s in shares if s is not None)

    part = assumed_part(field)
    if part is None:
        return None
    return min(1.0, max(0.0, part / total))


def display_digits(est: Estimate) -> int:
    """The significant digits the table shows: the ruleset's, or 2 when more than half of
    the total emissions rests on assumptions (never more than the ruleset's)."""
    digits = ruleset_digits(est.ruleset)
    share = assumed_share(est)
    if share is not None and share > MOSTLY:
        return min(digits, ASSUMED_DIGITS)
    return digits


def number_text(value: float, digits: int) -> str:
    """A number to ``digits`` significant digits with thousands separators; scientific
    notation when it is very large or very small."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    from .text import SCIENTIFIC_ABOVE, SCIENTIFIC_BELOW

    if abs(value) >= SCIENTIFIC_ABOVE or abs(value) < SCIENTIFIC_BELOW:
        return f"{value:.{max(digits - 1, 0)}e}"
    rounded = float(f"{value:.{digits}g}")
    exponent = math.floor(math.log10(abs(rounded)))
    decimals = max(digits - 1 - exponent, 0)
    return f"{rounded:,.{decimals}f}"


def value_text(value: Any, unit: str, digits: int) -> str:
    """A value with its unit, numbers to ``digits`` significant digits (whole numbers
    exactly)."""
    from .text import shown

    if isinstance(value, float) and not isinstance(value, bool):
        text = number_text(value, digits)
        return f"{text} {unit}" if unit not in ("", "-", "1", "year") else text
    return shown(value, digits, unit)


def header_lines(est: Estimate) -> list[str]:
    """The disclosure, and the ruleset in words: id, version, short content hash."""
    rs = est.ruleset
    state = ", a draft" if rs.draft else ""
    return [
        f"{printable(est.disclosure.id)}  ({printable(est.disclosure.name)})",
        f"ruleset {rs.id} {rs.version}{state}, content hash {rs.content_hash[:12]} "
        "(SHA-256 of its files and those of the versions it extends)",
    ]


@dataclass(frozen=True)
class Row:
    """One value of the result as the table shows it."""

    field: str
    value: Any  # full precision
    unit: str
    shown: str  # rounded, with its unit
    status: str
    rule: str  # rule id, or "" for a disclosed value
    total: bool  # an output (totals and per-inference figures)


def rows(est: Estimate) -> list[Row]:
    """The outputs, then the reported values the estimate resolved, in ruleset order."""
    rs = est.ruleset
    status = marks(est)
    digits = display_digits(est)
    out: list[Row] = []
    for name in dict.fromkeys((*rs.outputs, *rs.report)):
        r = est.fields.get(name)
        if r is None:
            continue
        out.append(
            Row(
                name,
                r.value,
                r.unit,
                value_text(r.value, r.unit, digits),
                status[name],
                "" if r.rule is None else r.rule.id,
                name in rs.outputs,
            )
        )
    return out


def per_inference_note(est: Estimate) -> str | None:
    """What the per-inference figures rest on: the inferences a day and the use life, each
    marked when assumed."""
    fields = est.fields
    if not any(n in fields for n in PER_INFERENCE):
        return None
    status = marks(est)
    parts = []
    for name in USE_FIELDS:
        r = fields.get(name)
        if r is None:
            continue
        mark = " (assumed)" if status[name] == ASSUMED else f" ({status[name]})"
        if name == "inferences_per_day":
            count = _number(r.value)
            text = value_text(r.value, "", 6) if count is None else f"{count:,.6g}"
            parts.append(f"{text} inferences a day{mark}")
        else:
            parts.append(f"a use life of {value_text(r.value, r.unit, 6)}{mark}")
    if not parts:
        return None
    return "per-inference figures rest on " + " over ".join(parts)


def share_note(est: Estimate) -> str | None:
    """The line saying how much of the total emissions rests on assumed values."""
    share = assumed_share(est)
    if share is None:
        return None
    r = est.fields[TOTAL]
    digits = display_digits(est)
    total = _number(r.value) or 0.0
    amount = value_text(share * total, r.unit, digits)
    text = (
        f"{share * PERCENT:.1f}% of the total emissions ({amount}) rests on assumed values "
        "(the assumed parts of operational + embodied emissions)"
    )
    if share > MOSTLY:
        text += f"; shown to {digits} significant digits"
    return text


def warnings(est: Estimate) -> list[tuple[str, str]]:
    """Each resolved field's warning, in resolution order."""
    return [(name, r.warning) for name, r in est.fields.items() if r.warning]


def fold(text: str, width: int, indent: str = "", first: str | None = None) -> list[str]:
    """A line folded at word boundaries to ``width`` columns; continuation lines take
    ``indent`` (the first line ``first``, default ``indent``). A word longer than the
    width is broken."""
    lead = indent if first is None else first
    lines = textwrap.wrap(
        text,
        width=max(width, len(indent) + 10),
        initial_indent=lead,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    )
    return lines or [lead.rstrip()]


def table_text(est: Estimate, width: int = WIDTH) -> str:
    """The result as a table for people, every line at most ``width`` columns: totals
    first, then the values they are derived from, each marked; what the per-inference
    figures and the total rest on, the key to the marks, then the warnings."""
    width = max(width, MIN_WIDTH)
    lines = [ln for head in header_lines(est) for ln in fold(head, width, "    ", "")]
    table = rows(est)
    name_w = max((len(r.field) for r in table), default=0)
    value_w = max((len(r.shown) for r in table), default=0)
    mark_w = max(len(m) for m in MARKS)
    name_w = min(name_w, width - 2 - 2 - 2 - mark_w - 12)
    value_w = min(value_w, width - 2 - name_w - 2 - 2 - mark_w)

    def row_lines(r: Row) -> list[str]:
        if len(r.field) <= name_w and len(r.shown) <= value_w:
            return [f"  {r.field:<{name_w}}  {r.shown:>{value_w}}  {r.status}"]
        out = fold(r.field, width, "    ", "  ")
        value = fold(r.shown, width - 2 - mark_w, "    ", "    ")
        value[-1] = f"{value[-1]}  {r.status}"
        return out + value

    totals = [r for r in table if r.total]
    rest = [r for r in table if not r.total]
    for r in totals:
        lines.extend(row_lines(r))
    if rest:
        lines.append("  " + "-" * min(name_w + value_w + mark_w + 4, width - 2))
        for r in rest:
            lines.extend(row_lines(r))
    lines.append("")
    for note in (per_inference_note(est), share_note(est)):
        if note:
            lines.extend(fold(note, width, "  "))
    lines.extend(fold(KEY, width, "       ", "  "))
    found = warnings(est)
    if found:
        lines.append("warnings:")
        for name, text in found:
            lines.extend(fold(f"{name}: {' '.join(text.split())}", width, "    ", "  "))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return printable(text).replace("|", "\\|")


def markdown_text(est: Estimate) -> str:
    """The result as a Markdown table for a report, with the same notes as the text."""
    head, ruleset_line = header_lines(est)
    lines = [f"**{_cell(head)}**", "", _cell(ruleset_line), ""]
    lines.append("| Value | Amount | Status | Rule |")
    lines.append("|---|---:|---|---|")
    for r in rows(est):
        name = f"**{r.field}**" if r.total else r.field
        rule = f"`{r.rule}`" if r.rule else ""
        lines.append(f"| {name} | {_cell(r.shown)} | {r.status} | {rule} |")
    lines.append("")
    for note in (per_inference_note(est), share_note(est)):
        if note:
            lines.append(f"- {_cell(note)}")
    lines.append(f"- {_cell(KEY)}")
    found = warnings(est)
    if found:
        lines.append("")
        lines.append("Warnings:")
        lines.append("")
        for name, text in found:
            lines.append(f"- `{name}`: {_cell(' '.join(text.split()))}")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("disclosure", "field", "value", "unit", "status", "rule")


def csv_header() -> str:
    """The header line of the CSV form."""
    return ",".join(CSV_COLUMNS) + "\n"


def csv_rows(est: Estimate) -> Iterator[list[str]]:
    """One row per value: disclosure, field, value (full precision), unit, status, rule."""
    for r in rows(est):
        value = plain(r.value)
        if value is None:
            text = ""
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
        yield [printable(est.disclosure.id), r.field, text, r.unit, r.status, r.rule]


def csv_text(est: Estimate) -> str:
    """The CSV rows of one result (no header)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(csv_rows(est))
    return buffer.getvalue()


def what_if_text(
    before: Estimate,
    after: Estimate,
    changes: str,
    moved: list[tuple[str, Any, Any, list[str]]],
    width: int = WIDTH,
) -> str:
    """What moved when disclosed values change, numbers as ``estimate`` shows them (the
    fewer significant digits of the two results), changes in percent to one decimal."""
    width = max(width, MIN_WIDTH)
    rs = after.ruleset
    digits = min(display_digits(before), display_digits(after))
    head = (
        f"{printable(after.disclosure.id)} with {changes}  (ruleset {rs.id} {rs.version}, "
        f"content hash {rs.content_hash[:12]})"
    )
    lines = fold(head, width, "    ", "")
    if not moved:
        lines.append("  nothing moved")
    for name, old, new, reasons in moved:
        unit = rs.fields[name].unit
        old_text = "not resolved" if old is None else value_text(old, unit, digits)
        new_text = "not resolved" if new is None else value_text(new, unit, digits)
        rel = ""
        a, b = _number(old), _number(new)
        if a is not None and b is not None and a:
            rel = f" ({(b - a) / abs(a) * PERCENT:+.1f}%)"
        lines.extend(fold(f"{name}: {old_text} -> {new_text}{rel}", width, "      ", "  "))
        for reason in reasons:
            lines.extend(fold(reason, width, "          ", "      "))
    return "\n".join(lines)
