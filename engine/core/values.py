"""The one check of a value against its declared field or column: type, bounds, names.

Disclosed values, values rules compute, table cells and ``--set`` overrides all go through
``coerce``, so a value is accepted or refused the same way wherever it comes from.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from .model import FieldSpec, Table
from .names import ambiguous, canonical_name, did_you_mean
from .text import WHOLE_BITS_SHOWN, given, has_control, whole_digits

MAX_TEXT_LENGTH = 200  # characters in a disclosed name or text value
SHOWN_CHARS = 40  # characters of a refused number shown in its message
DEFAULT_REL_TOL = 1e-9  # relative difference taken as equal: rounding noise of doubles
NUMBER_TYPES = ("number", "integer")
DATE_TYPES = ("date", "datetime")

_YEAR_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
# a date and time in the ISO form, its parts taken apart to tell which is out of range
_ISO_PARTS = re.compile(
    r"([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?.*",
    re.S,
)
MONTHS = 12  # of a year
HOURS = 24  # of a day
MINUTES = 60  # of an hour
SECONDS = 60  # of a minute
MAX_DIGITS = 30  # digits of a written whole number: more is no physical quantity
_NUMBER = re.compile(
    r"(?P<sign>[-+]?)(?P<int>[0-9](?:_?[0-9])*)?(?P<frac>\.(?:[0-9](?:_?[0-9])*)?)?"
    r"(?P<exp>[eE][-+]?[0-9]+)?"
)


def parse_number(text: str) -> int | float | None:
    """A number written as text ("12", "-0.5", "1e-3", "10_000_000"), or None when the text
    is not written as a number. Raises ValueProblem for a whole number with a leading zero
    (ambiguous: octal in some readers) and for a whole number of more digits than any
    quantity needs (Python's int of a long text takes time growing with its square); a
    fraction or an exponent is read as a float whatever its length ("0.500000..." is 0.5)."""
    written = text.strip()
    match = _NUMBER.fullmatch(written)
    if not written or match is None or not (match["int"] or match["frac"] not in (None, ".")):
        return None
    whole = (match["int"] or "").replace("_", "")
    if match["frac"] is None and match["exp"] is None:
        if len(whole) > MAX_DIGITS:
            raise ValueProblem(
                "bounds",
                f"a whole number of {len(whole)} digits is out of range (at most {MAX_DIGITS})",
            )
        if len(whole) > 1 and whole.startswith("0"):
            raise ValueProblem(
                "type",
                f"{written} has a leading zero (octal in some readers): write {int(whole)}",
            )
        return int(match["sign"] + whole)
    return read_float(written.replace("_", ""))


_NONZERO_DIGIT = re.compile(r"[1-9]")


def read_float(text: str) -> float:
    """A number written with a fraction or an exponent, as the nearest float; where no
    float holds it (``1e999``: infinite) or it is nearer zero than any other
    (``1e-400``: zero), a ``Written`` float, shown as written in a message about it."""
    number = float(text)
    if math.isinf(number):
        return Written(text, number)
    if number == 0 and _NONZERO_DIGIT.search(text.partition("e")[0].partition("E")[0]):
        return Written(text, number)
    return number


class Written(float):
    """A float read from text that the text shows better than the float does: infinite
    (``1e999``, no float holds it) or zero (``1e-400``, nearer zero than any other). Its
    value is the float's, as any reader reads it; a message that tells it shows it as
    written (not as ``inf`` or ``0.0``), and a field that takes it keeps a plain float
    (disclosures' values alone are read so: a rule's numbers stay plain floats)."""

    written: str

    def __new__(cls, written: str, number: float) -> Written:
        self = super().__new__(cls, number)
        self.written = written
        return self

    def __repr__(self) -> str:
        return self.written

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, tuple[str, float]]:
        return Written, (self.written, float(self))


def python_value(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (a date-time to the microsecond, NaT
    as None); anything else as it is (an array stays, and is refused as a value). NumPy
    is imported only when the value is one of its own."""
    if type(value).__module__ != "numpy":
        return value
    import numpy as np

    if not isinstance(value, np.generic):
        return value
    if isinstance(value, np.datetime64 | np.timedelta64):
        if np.isnat(value):
            return None
        unit = "datetime64[us]" if isinstance(value, np.datetime64) else "timedelta64[us]"
        return value.astype(unit).item()
    return value.item()


class ValueProblem(ValueError):
    """A value does not fit its field; ``code`` is a problem code (type, bounds...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def unit_text(unit: str) -> str:
    """A unit as a message shows it: a pure number is "a pure number", not "1"."""
    return "a pure number" if unit == "1" else unit


def _in_unit(spec: FieldSpec) -> str:
    return "" if spec.unit in ("1", "-") else f" in {spec.unit}"


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 date or date-time ("2024-07-06", "2024-07-06T17:01", with a space too),
    or a year and month ("2024-07", taken as its first day)."""
    text = text.strip()
    if _YEAR_MONTH.fullmatch(text):
        text += "-01"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())


def _out_of_range(text: str) -> str:
    """Of a date written in the ISO form that is no date, the part that is out of range
    (" (February 2023 has 28 days)"), or ""."""
    import calendar

    parts = _ISO_PARTS.fullmatch(text.strip())
    if parts is None:
        return ""
    numbers = (None if p is None else int(p) for p in parts.groups())
    year, month, day, hour, minute, second = numbers
    assert year is not None and month is not None
    if year < 1:
        return " (a year is 0001 to 9999)"
    if not 1 <= month <= MONTHS:
        return f" (a month is 01 to {MONTHS})"
    if day is not None:
        days = calendar.monthrange(max(year, 1), month)[1]
        if not 1 <= day <= days:
            return f" ({calendar.month_name[month]} {year} has {days} days)"
    if hour == HOURS and not minute and not second:
        return f" (the end of a day is written as the next day's 00:00, not {HOURS}:00)"
    if hour is not None and hour >= HOURS:
        return f" (an hour is 00 to {HOURS - 1})"
    if minute is not None and minute >= MINUTES:
        return f" (a minute is 00 to {MINUTES - 1})"
    if second == SECONDS:
        return f" (a leap second, :{SECONDS}, is not a time here: write :{SECONDS - 1})"
    if second is not None and second > SECONDS:
        return f" (a second is 00 to {SECONDS - 1})"
    return ""


def check_number(spec: FieldSpec, value: Any) -> int | float:
    """A finite number within the spec's bounds (whole for integers), or ValueProblem. A
    number may be written as text with ``_`` separators ("10_000_000")."""
    if isinstance(value, str):
        parsed = parse_number(value)
        value = value if parsed is None else parsed
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueProblem(
            "type", f"expected a number{_in_unit(spec)}, got {given(value, SHOWN_CHARS)}"
        )
    try:
        as_float = float(value)
    except OverflowError:
        raise ValueProblem("bounds", f"the number {_short(value)} is too large") from None
    if not math.isfinite(as_float):
        raise ValueProblem(
            "type", f"expected a finite number{_in_unit(spec)}, got {given(value, SHOWN_CHARS)}"
        )
    if spec.type == "integer":
        if not as_float.is_integer():
            raise ValueProblem("type", f"expected a whole number, got {given(value, SHOWN_CHARS)}")
        if isinstance(value, Written):  # (1e-400: its bounds told as written, not as 0)
            check_bounds(spec, value)
        value = int(value)
    check_bounds(spec, value)
    number: int | float = value
    if number == 0:  # -0.0 is zero: no output may show it as "-0" (nor 1e-400 as written)
        number = 0 if isinstance(number, int) else 0.0
    return number


def check_bounds(spec: FieldSpec, value: float) -> None:
    """ValueProblem when a number is outside the spec's declared bounds."""
    unit = "" if spec.unit in ("1", "-") else f" {spec.unit}"
    if spec.minimum is not None and value < spec.minimum:
        raise ValueProblem("bounds", f"{_short(value)} is below the minimum {spec.minimum}{unit}")
    if spec.exclusive_minimum is not None and value <= spec.exclusive_minimum:
        raise ValueProblem(
            "bounds", f"{_short(value)} must be greater than {spec.exclusive_minimum}{unit}"
        )
    if spec.maximum is not None and value > spec.maximum:
        raise ValueProblem("bounds", f"{_short(value)} is above the maximum {spec.maximum}{unit}")


def _short(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > WHOLE_BITS_SHOWN:  # (Python writes no
        # whole number of more than 4,300 digits as text, and reading so many is not needed)
        return f"({whole_digits(value)} digits)"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:12]}...({len(text)} digits)"


def coerce(spec: FieldSpec, value: Any, tables: dict[str, Table] | None = None) -> Any:
    """A value as the spec's type: numbers checked, dates parsed, names matched to their
    table's row key. Raises ValueProblem saying what was expected."""
    kind = spec.type
    if kind in NUMBER_TYPES:
        return check_number(spec, value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueProblem("type", f"expected true or false, got {given(value, SHOWN_CHARS)}")
        return value
    if kind in DATE_TYPES and isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueProblem("type", f"expected text, got {given(value, SHOWN_CHARS)}")
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueProblem("bounds", f"text longer than {MAX_TEXT_LENGTH} characters")
    value = value.strip()  # (a tab or line feed around it, as a CSV cell's: not the text)
    if has_control(value):
        raise ValueProblem(
            "type",
            f"the text {given(value, MAX_TEXT_LENGTH)} holds a control or invisible "
            "formatting character; write the name as it reads",
        )
    if kind in DATE_TYPES:
        try:
            return parse_datetime(value)
        except ValueError:
            raise ValueProblem(
                "type",
                f"expected an ISO date like 2024-07-06 or 2024-07-06T17:01, got {value!r}"
                + _out_of_range(value),
            ) from None
    if kind == "enum":
        for choice in spec.choices:
            if choice.casefold() == value.strip().casefold():
                return choice
        raise ValueProblem(
            "type", f"expected one of {', '.join(spec.choices)}, got {given(value, SHOWN_CHARS)}"
        )
    if kind == "name":
        if tables is None or spec.table not in tables:
            raise ValueProblem("type", f"no table {spec.table!r} to match names against")
        return match_name(tables[spec.table or ""], value)
    return value


def match_name(table: Table, value: str) -> str:
    """The row key of a written name, or ValueProblem with the closest known names."""
    found = canonical_name(table, value)
    if found is not None:
        return found
    options = ambiguous(table, value)
    if options:
        shown = ", ".join(repr(k) for k in options)
        raise ValueProblem(
            "ambiguous-name",
            f"ambiguous {table.name} name {value!r}: it could be {shown}; write one of them",
        )
    hint = table.hints.get(value)
    if hint is None:  # the closest names take milliseconds: once per word and table
        hint = table.hints[value] = did_you_mean(value, table.folded)
    raise ValueProblem(
        "unknown-name",
        f"unknown {table.name} name {value!r}{hint} (see 'tuneprint data show {table.name}')",
    )
