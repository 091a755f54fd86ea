"""The functions a rule expression may call: one registry for the checker, the unit checker
and both evaluators.

Each entry says how many arguments it takes, which of them must be quoted literals, what
it gives (for the unit checker) and, for plain functions, how it is computed. Table
functions are computed in ``tables``; ``disclosed`` and ``convert`` are resolved before
evaluation (``disclosed(x)`` reads the disclosed ``x``; ``convert`` becomes a factor).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

MAX_ROUND_DIGITS = 15  # digits round() may keep: more than a double holds is a typo


@dataclass(frozen=True)
class Function:
    """One allowed function."""

    name: str
    doc: str
    min_args: int
    max_args: int | None  # None: any number
    gives: str  # for the unit checker: same | first | bool | date | year | hours | column |
    #             field | unit
    impl: Callable[..., Any] | None = None  # None for table and special functions
    literal_first: bool = False  # the first argument is a quoted table name
    literal_last: bool = False  # the last argument is a quoted column or unit name


def _number(value: Any, what: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} expects a number, got {value!r}")
    return value


def _min(*args: Any) -> Any:
    return min(_number(a, "min()") for a in args)


def _max(*args: Any) -> Any:
    return max(_number(a, "max()") for a in args)


def _abs(x: Any) -> Any:
    return abs(_number(x, "abs()"))


def _round(x: Any, digits: Any = 0) -> Any:
    digits = _number(digits, "round()")
    if not float(digits).is_integer() or abs(digits) > MAX_ROUND_DIGITS:
        raise ValueError(f"round() keeps a whole number of digits up to {MAX_ROUND_DIGITS}")
    return round(_number(x, "round()"), int(digits))


def _ceil(x: Any) -> int:
    return math.ceil(_number(x, "ceil()"))


def _floor(x: Any) -> int:
    return math.floor(_number(x, "floor()"))


def _year(value: Any) -> int:
    if not isinstance(value, datetime):
        raise TypeError(f"year() expects a date or date-time, got {value!r}")
    return value.year


def _minus_hours(value: Any, hours: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"minus_hours() expects a date-time first, got {value!r}")
    return value - timedelta(hours=float(_number(hours, "minus_hours()")))


def _hours_between(start: Any, end: Any) -> float:
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        raise TypeError("hours_between() expects two date-times")
    return (end - start) / timedelta(hours=1)


_ALL = (
    Function("min", "smallest of its arguments", 1, None, "same", _min),
    Function("max", "largest of its arguments", 1, None, "same", _max),
    Function("abs", "absolute value", 1, 1, "first", _abs),
    Function("round", "round(x, digits)", 1, 2, "first", _round),
    Function("ceil", "smallest whole number >= x", 1, 1, "first", _ceil),
    Function("floor", "largest whole number <= x", 1, 1, "first", _floor),
    Function(
        "lookup",
        'lookup("table", key..., "column"): value of a row with exactly these keys',
        3,
        None,
        "column",
        literal_first=True,
        literal_last=True,
    ),
    Function(
        "lookup_year",
        'lookup_year("table", key..., year, "column"): the row of that year, else the '
        "latest earlier year, else the earliest later year",
        3,
        None,
        "column",
        literal_first=True,
        literal_last=True,
    ),
    Function(
        "has_row",
        'has_row("table", key...): whether such a row exists (for conditions)',
        2,
        None,
        "bool",
        literal_first=True,
    ),
    Function("year", "calendar year of a date or date-time", 1, 1, "year", _year),
    Function(
        "minus_hours",
        "minus_hours(datetime, hours): the date-time that many hours earlier",
        2,
        2,
        "date",
        _minus_hours,
    ),
    Function(
        "hours_between",
        "hours_between(start, end): hours from start to end",
        2,
        2,
        "hours",
        _hours_between,
    ),
    Function(
        "disclosed",
        "disclosed(field): the disclosed value only, never one set by a rule",
        1,
        1,
        "field",
    ),
    Function(
        "convert",
        'convert(x, "unit"): x in another unit of the same dimension',
        2,
        2,
        "unit",
        literal_last=True,
    ),
)

FUNCTIONS: dict[str, Function] = {f.name: f for f in _ALL}
TABLE_FUNCTIONS = ("lookup", "lookup_year", "has_row")
