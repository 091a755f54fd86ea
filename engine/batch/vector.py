"""The vectorised resolver: a ruleset's resolution done on columns, many rows at once.

Each field is resolved for every row of a chunk at once, in the order its rules are
tried: masks say, per row, which rule is tried, which one applies, which ones are skipped
(an input missing, a condition false, a table row missing). Look-ups run once per distinct
key in the chunk and are spread back by index. A second pass, from the outputs down,
marks which fields each row's resolution actually asks for (a rule's inputs are resolved
only when the rule is tried, and only up to the first that cannot be), so each row's
provenance is the one the per-disclosure resolver records.

The engine is exact where it answers and says where it does not: any row whose resolution
would raise (an evaluation error, a value outside its field's bounds, a rule that fails on
the values given), or whose outputs cannot be resolved, is marked for the per-disclosure
resolver, which gives that row's exact result or error. Property-based tests check, row
by row, that both give the same values and the same provenance.
"""

from __future__ import annotations

import ast
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np

from ..core.functions import FUNCTIONS
from ..core.model import Expression, FieldSpec, Rule, Ruleset, Table
from ..core.tables import NotApplicable, has_row, lookup, lookup_year
from ..core.values import NUMBER_TYPES, ValueProblem, coerce
from .arrays import zeroed

NUM, TEXT, DATE, BOOL = "num", "text", "date", "bool"
EPOCH_YEAR = 1970  # numpy's datetime64 counts from the start of 1970
EPOCH = datetime(EPOCH_YEAR, 1, 1)
MICROSECONDS_PER_SECOND = 1_000_000
SECONDS_PER_DAY = 86_400
MICROSECONDS_PER_HOUR = 3_600 * MICROSECONDS_PER_SECOND
MICROSECONDS_PER_DAY = 24 * MICROSECONDS_PER_HOUR
DENSE_KEYS = 4_000_000  # combined key range looked up through a dense array; beyond, unique()
DENSE_FACTOR = 4  # ... and at most this many times the chunk's rows
FAILED, DISCLOSED = -1, -2  # rule index of a field's row: no rule applied; disclosed


def rule_codes(rules: int) -> type[np.signedinteger[Any]]:
    """The integer type of a field's rule indices and provenance codes (2 (k + 1) + 1 for
    its last rule k): a byte for a field of up to 63 rules (every shipped one), so that
    the codes are made and copied a byte a row, without a cast."""
    return np.int8 if 2 * rules + 1 <= np.iinfo(np.int8).max else np.int16


class Interner:
    """Text values as integer codes, shared by every column of a run, so that equal texts
    have equal codes whichever column they come from."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.texts: list[str] = []

    def code(self, text: str) -> int:
        """The code of a text (made on first sight)."""
        found = self.codes.get(text)
        if found is None:
            found = self.codes[text] = len(self.texts)
            self.texts.append(text)
        return found

    def codes_of(self, texts: Sequence[str]) -> np.ndarray:
        """Codes of many texts."""
        return np.fromiter((self.code(t) for t in texts), dtype=np.int64, count=len(texts))


@dataclass
class Vec:
    """A column of values of one kind: numbers (float64), text codes (int64), date-times
    (int64 microseconds since 1970) or true/false. Where a row holds no value the content
    is undefined; masks say which rows count."""

    kind: str
    data: np.ndarray


def to_micros(value: datetime) -> int:
    """A date-time as microseconds since 1970, exactly (an aware one in UTC; rows holding
    those take the per-disclosure path, which keeps their zone)."""
    offset = value.utcoffset()
    naive = value.replace(tzinfo=None) - offset if offset is not None else value
    delta = naive - EPOCH
    seconds = delta.days * SECONDS_PER_DAY + delta.seconds
    return seconds * MICROSECONDS_PER_SECOND + delta.microseconds


FIRST_MICROS = to_micros(datetime.min)  # the range of Python's date-times
LAST_MICROS = to_micros(datetime.max)
MAX_HOURS = 1e9  # more than that range (88 million hours), and within int64 microseconds


def from_micros(micros: int) -> datetime:
    """Microseconds since 1970 as a naive date-time."""
    from datetime import timedelta

    return EPOCH + timedelta(microseconds=int(micros))


@dataclass
class Outcome:
    """One field resolved for every row of a chunk."""

    vec: Vec
    ok: np.ndarray  # resolved
    err: np.ndarray  # its resolution would raise: the row takes the exact path
    rule: np.ndarray  # index of the rule that applied, FAILED or DISCLOSED
    warned: np.ndarray | None = None  # the applied rule's warning holds
    tried: list[np.ndarray] = field(default_factory=list)  # per rule: rows it is tried in
    reach: list[list[tuple[str, np.ndarray]]] = field(default_factory=list)  # per rule:
    # (input, rows in which gathering reaches it)


class Chunk:
    """The disclosed columns of a chunk of rows: values and presence per field."""

    def __init__(self, n: int, interner: Interner) -> None:
        self.n = n
        self.interner = interner
        self.values: dict[str, Vec] = {}
        self.present: dict[str, np.ndarray] = {}
        self.steady: set[str] = set()  # number columns whose rows are grouped by value

    def disclose(self, name: str, vec: Vec, present: np.ndarray) -> None:
        """Add a disclosed column (``present`` False where the row does not disclose it),
        its values stored as its kind's (a rule's values are copied into them: numbers in
        whole numbers would be cut to whole numbers)."""
        if vec.data.dtype != _DTYPES[vec.kind]:
            vec = Vec(vec.kind, vec.data.astype(_DTYPES[vec.kind]))
        self.values[name] = vec
        self.present[name] = present

    def disclosed(self, name: str) -> np.ndarray:
        """Rows that disclose a field (read, never written: a field no row discloses
        gives one shared read-only mask)."""
        mask = self.present.get(name)
        return mask if mask is not None else self.nowhere

    @cached_property
    def nowhere(self) -> np.ndarray:
        """No row: one read-only mask of the chunk, shared by whatever has no row."""
        mask = np.zeros(self.n, dtype=bool)
        mask.flags.writeable = False
        return mask


def fits_number(spec: FieldSpec, data: np.ndarray) -> np.ndarray:
    """The rows of a number column within the field's bounds (``coerce`` on a column)."""
    with np.errstate(invalid="ignore"):
        good: np.ndarray = np.isfinite(data)
        if spec.minimum is not None:
            good &= data >= spec.minimum
        if spec.exclusive_minimum is not None:
            good &= data > spec.exclusive_minimum
        if spec.maximum is not None:
            good &= data <= spec.maximum
        if spec.type == "integer":
            good &= data == np.floor(data)
    return good


def kind_of(spec: FieldSpec) -> str:
    """The column kind a field's values take."""
    if spec.type in NUMBER_TYPES:
        return NUM
    if spec.type in ("date", "datetime"):
        return DATE
    if spec.type == "boolean":
        return BOOL
    return TEXT


_DTYPES = {NUM: np.float64, TEXT: np.int64, DATE: np.int64, BOOL: np.bool_}


def empty(kind: str, n: int) -> Vec:
    """A column of n undefined values of a kind."""
    return Vec(kind, np.zeros(n, dtype=_DTYPES[kind]))


def unset(kind: str, n: int) -> Vec:
    """The values of a rule applying in no row: one zero seen as n (read-only)."""
    return Vec(kind, np.broadcast_to(np.zeros(1, dtype=_DTYPES[kind]), (n,)))


Evaluated = tuple[Vec, np.ndarray, np.ndarray]  # values, rows with a missing row, rows failing


class Resolver:
    """The vectorised resolution of one chunk under one ruleset."""

    def __init__(self, ruleset: Ruleset, chunk: Chunk) -> None:
        self.rs = ruleset
        self.chunk = chunk
        self.n = chunk.n
        self.interner = chunk.interner
        self.outcomes: dict[str, Outcome] = {}
        self.order: list[str] = []
        self.nothing = chunk.nowhere  # no row (shared: never written)
        self.released = False  # (``release``: the values alone are kept)
        self.constants: dict[tuple[type, Any], Vec] = {}

    # -- expressions ------------------------------------------------------------------

    def constant(self, value: Any) -> Vec:
        """A constant as a column: one value seen as n (a read-only view, no memory of
        its own), made once per chunk."""
        key = (type(value), value)
        found = self.constants.get(key)
        if found is None:
            found = self.constants[key] = self._constant(value)
        return found

    def _constant(self, value: Any) -> Vec:
        if isinstance(value, bool):
            kind, one = BOOL, np.array(value, dtype=np.bool_)
        elif isinstance(value, str):
            kind, one = TEXT, np.array(self.interner.code(value), dtype=np.int64)
        else:
            kind, one = NUM, np.array(float(value))
        return Vec(kind, np.broadcast_to(one, (self.n,)))

    def eval(self, node: ast.expr, active: np.ndarray, env: Callable[[str], Vec]) -> Evaluated:
        """Values of an expression in the rows of ``active``, the rows where a table row it
        needs is missing, and the rows where it fails. Short-circuits as Python does: the
        parts Python would not evaluate for a row are not counted for it."""
        none = self.nothing
        if isinstance(node, ast.Constant):
            return self.constant(node.value), none, none
        if isinstance(node, ast.Name):
            return env(node.id), none, none
        if isinstance(node, ast.UnaryOp):
            inner, na, err = self.eval(node.operand, active, env)
            if isinstance(node.op, ast.Not):
                return Vec(BOOL, ~inner.data), na, err
            data = -inner.data if isinstance(node.op, ast.USub) else inner.data
            return Vec(NUM, data), na, err
        if isinstance(node, ast.BinOp):
            return self.binop(node, active, env)
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            result = np.full(self.n, is_and)
            pending = active.copy()
            na, err = none.copy(), none.copy()
            for value in node.values:
                part, part_na, part_err = self.eval(value, pending, env)
                na |= part_na & pending
                err |= part_err & pending
                settled = pending & (~part.data if is_and else part.data)
                result = _choose(pending, part.data, result)
                pending = pending & ~settled & ~part_na & ~part_err
            return Vec(BOOL, result), na, err
        if isinstance(node, ast.Compare):
            left, na, err = self.eval(node.left, active, env)
            result = np.ones(self.n, dtype=bool)
            pending = active.copy()
            na, err = na & active, err & active
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right, r_na, r_err = self.eval(comparator, pending, env)
                na |= r_na & pending
                err |= r_err & pending
                holds = _COMPARE[type(op)](left.data, right.data)
                result = _choose(pending, holds, result)
                pending = pending & holds & ~r_na & ~r_err
                left = right
            return Vec(BOOL, result), na, err
        if isinstance(node, ast.IfExp):
            test, na, err = self.eval(node.test, active, env)
            go = active & ~na & ~err
            yes, y_na, y_err = self.eval(node.body, go & test.data, env)
            no, n_na, n_err = self.eval(node.orelse, go & ~test.data, env)
            pick = test.data
            data = np.where(pick, yes.data, no.data)
            return (
                Vec(yes.kind, data),
                (na | (go & pick & y_na) | (go & ~pick & n_na)) & active,
                (err | (go & pick & y_err) | (go & ~pick & n_err)) & active,
            )
        if isinstance(node, ast.Call):
            return self.call(node, active, env)
        raise TypeError(f"cannot vectorise {type(node).__name__}")

    def binop(self, node: ast.BinOp, active: np.ndarray, env: Callable[[str], Vec]) -> Evaluated:
        left, l_na, l_err = self.eval(node.left, active, env)
        right, r_na, r_err = self.eval(node.right, active, env)
        a, b = _f64(left.data), _f64(right.data)
        none = self.nothing  # (most operands miss and fail in no row: no masks to make)
        na = none if l_na is none and r_na is none else (l_na | r_na) & active
        err = none if l_err is none and r_err is none else (l_err | r_err) & active
        with np.errstate(all="ignore"):
            op = type(node.op)
            if op is ast.Add:
                data = a + b
            elif op is ast.Sub:
                data = a - b
            elif op is ast.Mult:
                data = a * b
            elif op is ast.Pow:
                data = np.power(a, b)
                # math.pow raises where numpy gives inf or nan (the operation runs only
                # where both operands exist)
                err = err | (active & ~na & ~err & ~np.isfinite(data))
            else:  # division, floor division and remainder raise on zero in Python
                safe = b
                if not (_constant(b) and b[0] != 0):  # (a constant divisor, not zero)
                    zero = b == 0
                    err = err | (active & ~na & ~err & zero)
                    safe = np.where(zero, 1.0, b)
                if op is ast.Div:
                    data = a / safe
                elif op is ast.FloorDiv:
                    data = np.floor_divide(a, safe)
                else:
                    data = np.remainder(a, safe)
        return Vec(NUM, data), na, err

    def call(self, node: ast.Call, active: np.ndarray, env: Callable[[str], Vec]) -> Evaluated:
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        none = self.nothing
        if name == "disclosed":
            arg = node.args[0]
            assert isinstance(arg, ast.Name)
            found = self.chunk.values.get(arg.id)
            if found is None:  # no row discloses it: the rule is tried in none
                found = empty(kind_of(self.rs.fields[arg.id]), self.n)
            return found, none, none
        if name in ("lookup", "lookup_year", "has_row"):
            return self.table_call(name, node, active, env)
        args = []
        na, err = none.copy(), none.copy()
        for arg in node.args:
            vec, a_na, a_err = self.eval(arg, active, env)
            args.append(vec)
            na |= a_na
            err |= a_err
        na &= active
        err &= active
        with np.errstate(all="ignore"):
            if name in ("min", "max"):
                combine = np.minimum if name == "min" else np.maximum
                data = _f64(args[0].data)
                for vec in args[1:]:
                    data = combine(data, _f64(vec.data))
                return Vec(NUM, data), na, err
            if name in ("ceil", "floor", "abs"):
                fn = {"ceil": np.ceil, "floor": np.floor, "abs": np.abs}[name]
                return Vec(NUM, fn(_f64(args[0].data))), na, err
            if name == "year":
                years = args[0].data.astype("datetime64[us]").astype("datetime64[Y]")
                return Vec(NUM, years.astype(np.int64).astype(np.float64) + EPOCH_YEAR), na, err
            if name == "minus_hours":
                micros, beyond = _minus_hours(args[0].data, _f64(args[1].data))
                return Vec(DATE, micros), na, err | (active & ~na & beyond)
            if name == "hours_between":
                return Vec(NUM, (args[1].data - args[0].data) / MICROSECONDS_PER_HOUR), na, err
        return self.elementwise(name, args, active, na, err)

    def elementwise(
        self, name: str, args: list[Vec], active: np.ndarray, na: np.ndarray, err: np.ndarray
    ) -> Evaluated:
        """Any other function, called as Python calls it, once per distinct arguments."""
        impl = FUNCTIONS[name].impl
        assert impl is not None
        rows = np.flatnonzero(active & ~na & ~err)
        out = np.zeros(self.n, dtype=np.float64)
        failed = err.copy()
        cache: dict[tuple[Any, ...], float | None] = {}
        for i in rows:
            key = tuple(self.python(a, int(i)) for a in args)
            if key not in cache:
                try:
                    cache[key] = float(impl(*key))
                except (ArithmeticError, TypeError, ValueError):
                    cache[key] = None
            value = cache[key]
            if value is None:
                failed[i] = True
            else:
                out[i] = value
        return Vec(NUM, out), na, failed

    def python(self, vec: Vec, i: int) -> Any:
        """Row i of a column as the per-disclosure resolver holds it."""
        value = vec.data[i]
        if vec.kind == TEXT:
            return self.interner.texts[int(value)]
        if vec.kind == DATE:
            return from_micros(int(value))
        if vec.kind == BOOL:
            return bool(value)
        number = float(value)
        return int(number) if number.is_integer() else number

    def table_call(
        self, name: str, node: ast.Call, active: np.ndarray, env: Callable[[str], Vec]
    ) -> Evaluated:
        first, *rest = node.args
        assert isinstance(first, ast.Constant)
        table = self.rs.tables[str(first.value)]
        keys_nodes = rest if name == "has_row" else rest[:-1]
        column: str | None = None
        if name != "has_row":
            last = rest[-1]
            assert isinstance(last, ast.Constant)
            column = str(last.value)
        keys: list[Vec] = []
        na = np.zeros(self.n, dtype=bool)
        err = np.zeros(self.n, dtype=bool)
        for arg in keys_nodes:
            vec, a_na, a_err = self.eval(arg, active, env)
            keys.append(vec)
            na |= a_na
            err |= a_err
        live = active & ~na & ~err
        combined, decode = self.combine(keys, live)
        found = self.distinct(combined, live)
        kind = (
            BOOL
            if column is None
            else {"string": TEXT, "date": DATE}.get(table.columns[column].type, NUM)
        )
        results = np.zeros(len(found), dtype=np.float64 if kind == NUM else np.int64)
        missing = np.zeros(len(found), dtype=bool)
        for j, combo in enumerate(found):
            args = decode(int(combo))
            try:
                if name == "has_row":
                    results[j] = has_row(table, args)
                elif name == "lookup":
                    results[j] = self.encode(kind, lookup(table, args, column or "", []))
                else:
                    results[j] = self.encode(kind, lookup_year(table, args, column or "", []))
            except NotApplicable:
                missing[j] = True
        data, row_missing = self.spread(found, combined, results, missing)
        if kind == BOOL:
            return Vec(BOOL, data.astype(bool)), na & active, err & active
        return Vec(kind, data), (na | (live & row_missing)) & active, err & active

    def spread(
        self, found: np.ndarray, combined: np.ndarray, results: np.ndarray, missing: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's result and missing flag, from those of the distinct keys (rows that
        are not live get those of some key; masks ignore them)."""
        if not len(found):
            return np.zeros(self.n, dtype=results.dtype), np.zeros(self.n, dtype=bool)
        top = int(found[-1])
        if top < max(DENSE_FACTOR * self.n, len(found)) and top < DENSE_KEYS:
            dense = np.zeros(top + 1, dtype=results.dtype)
            dense[found] = results
            gone = np.ones(top + 1, dtype=bool)
            gone[found] = missing
            return np.take(dense, combined), np.take(gone, combined)  # not live: key 0
        position = np.searchsorted(found, combined)
        position = np.clip(position, 0, len(found) - 1)
        return results[position], missing[position]

    def encode(self, kind: str, value: Any) -> float | int:
        if kind == TEXT:
            return self.interner.code(str(value))
        if kind == DATE:
            return to_micros(value)
        return float(value)

    def combine(
        self, keys: list[Vec], live: np.ndarray
    ) -> tuple[np.ndarray, Callable[[int], tuple[Any, ...]]]:
        """One int64 key per row from several key columns, and the way back to the key
        values as the per-disclosure look-up takes them."""
        parts = []
        for vec in keys:
            if vec.kind == NUM:
                with np.errstate(invalid="ignore"):
                    whole = bool(np.all((vec.data == np.floor(vec.data)) | ~live))
                parts.append(("int" if whole else "float", vec))
            else:
                parts.append((vec.kind, vec))
        if any(kind == "float" for kind, _ in parts):  # rare: a non-whole number as key
            return self.combine_slow(keys, live)
        offsets, strides, total = [], [], 1
        for kind, vec in parts:
            if kind == TEXT:  # codes of the run's interner: 0 to its size, known
                low, high = 0, max(len(self.interner.texts) - 1, 0)
            elif kind == BOOL:
                low, high = 0, 1
            elif live.any():
                low = int(np.min(vec.data, where=live, initial=np.inf))
                high = int(np.max(vec.data, where=live, initial=-np.inf))
            else:
                low = high = 0
            offsets.append(low)
            strides.append(total)
            total *= high - low + 1
        if total > np.iinfo(np.int64).max // 4:
            return self.combine_slow(keys, live)
        if len(parts) == 1 and parts[0][0] == TEXT:
            combined = zeroed(parts[0][1].data, live)
        else:
            combined = np.zeros(self.n, dtype=np.int64)
            for (_, vec), low, stride in zip(parts, offsets, strides, strict=True):
                part = vec.data if vec.data.dtype == np.int64 else vec.data.astype(np.int64)
                combined += (part - low) * stride if low or stride != 1 else part
            combined *= live

        def decode(code: int) -> tuple[Any, ...]:
            out: list[Any] = []
            for (kind, _), low, stride, size in zip(
                parts, offsets, strides, [*strides[1:], total], strict=True
            ):
                value = (code % size) // stride + low
                if kind == TEXT:
                    out.append(self.interner.texts[value])
                elif kind == DATE:
                    out.append(from_micros(value))
                elif kind == BOOL:
                    out.append(bool(value))
                else:
                    out.append(int(value))
            return tuple(out)

        return combined, decode

    def combine_slow(
        self, keys: list[Vec], live: np.ndarray
    ) -> tuple[np.ndarray, Callable[[int], tuple[Any, ...]]]:
        tuples: dict[tuple[Any, ...], int] = {}
        combined = np.zeros(self.n, dtype=np.int64)
        for i in np.flatnonzero(live):
            key = tuple(self.python(vec, int(i)) for vec in keys)
            combined[i] = tuples.setdefault(key, len(tuples))
        back = list(tuples)
        return combined, lambda code: back[code]

    def distinct(self, combined: np.ndarray, live: np.ndarray) -> np.ndarray:
        """The distinct keys among the live rows, sorted."""
        if not live.any():
            return np.zeros(0, dtype=np.int64)
        top = int(combined.max())  # rows not live hold 0
        if top < DENSE_KEYS:
            seen = np.zeros(top + 1, dtype=bool)
            seen[combined] = True
            seen[0] = bool((live & (combined == 0)).any())
            return np.flatnonzero(seen).astype(np.int64)
        return np.unique(combined[live])

    # -- fields -----------------------------------------------------------------------

    def outcome(self, name: str) -> Outcome:
        """A field resolved for every row (memoised)."""
        found = self.outcomes.get(name)
        if found is not None:
            return found
        self.held()
        spec = self.rs.fields[name]
        kind = kind_of(spec)
        n = self.n
        disclosed = self.chunk.disclosed(name)
        given = self.chunk.values.get(name)
        vec = empty(kind, n) if given is None else Vec(given.kind, given.data.copy())
        ok = disclosed.copy()
        err = np.zeros(n, dtype=bool)
        rules = self.rs.rules.get(name, ())
        rule_of = np.full(n, FAILED, dtype=rule_codes(len(rules)))
        if given is not None:
            np.copyto(rule_of, DISCLOSED, where=disclosed)
        warned = np.zeros(n, dtype=bool)
        remaining = ~disclosed
        result = Outcome(vec, ok, err, rule_of, warned)
        for k, rule in enumerate(rules):
            tried = remaining  # (no row of it fails: those are taken out below, as err grows)
            result.tried.append(tried)
            reach: list[tuple[str, np.ndarray]] = []
            result.reach.append(reach)
            if not tried.any():
                continue
            applies, value, warns = self.rule(rule, spec, tried, err, reach)
            if applies.any():  # (a rule tried applies in no row a third of the time)
                np.copyto(vec.data, value.data, casting="unsafe", where=applies)
                ok |= applies
                np.copyto(rule_of, k, where=applies)
                if warns is not self.nothing:
                    warned |= applies & warns
                remaining = remaining & ~applies
            if err.any():  # (most rules fail in no row)
                remaining = remaining & ~err
        self.outcomes[name] = result
        self.order.append(name)
        return result

    def rule(
        self,
        rule: Rule,
        spec: FieldSpec,
        tried: np.ndarray,
        err: np.ndarray,
        reach: list[tuple[str, np.ndarray]],
    ) -> tuple[np.ndarray, Vec, np.ndarray]:
        """Rows where a rule applies, its values, and rows where its warning holds; rows
        where it fails are added to ``err`` (in place)."""
        cond = tried.copy()
        for dep in rule.disclosed_inputs:
            cond &= self.chunk.disclosed(dep)
        gathered: set[str] = set()

        def gather(inputs: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
            for dep in inputs:
                if not rows.any():  # no row reaches it: not resolved for this rule
                    break
                if dep in gathered:
                    continue
                gathered.add(dep)
                reach.append((dep, rows))  # (no one writes to a mask once made: no copy)
                got = self.outcome(dep)
                if got.err.any():
                    err[:] |= rows & got.err
                    rows = rows & got.ok & ~got.err
                elif not got.ok.all():  # (most inputs: every row has it, the mask stays)
                    rows = rows & got.ok
            return rows

        env = self.env
        nothing = self.nothing  # (read-only, as every mask given back: none is written)

        def nowhere() -> tuple[np.ndarray, Vec, np.ndarray]:  # (the rule applies in no row)
            return nothing, unset(kind_of(spec), self.n), nothing

        if not cond.any():
            return nowhere()
        if rule.when is not None:
            cond = gather(rule.when.inputs, cond)
            if not cond.any():  # (evaluating it would resolve what no row reaches)
                return nowhere()
            holds, na, fails = self.eval(rule.when.node, cond, env)
            err[:] |= cond & fails
            cond = cond & ~na & ~fails & holds.data
        cond = gather(rule.value.inputs, cond)
        if not cond.any():
            return nowhere()
        value, na, fails = self.eval(rule.value.node, cond, env)
        err[:] |= cond & fails
        cond = cond & ~na & ~fails
        value, bad = self.checked(spec, value, cond)
        err[:] |= cond & bad
        applies = cond & ~bad
        warns = nothing
        if rule.warning is not None:
            if rule.warn_when is None:
                warns = applies
            else:
                rows = applies
                for dep in rule.warn_when.disclosed_inputs:  # not disclosed: no warning
                    rows = rows & self.chunk.disclosed(dep)
                rows = gather(rule.warn_when.inputs, rows)
                if rows.any():
                    holds, na, fails = self.eval(rule.warn_when.node, rows, env)
                    err[:] |= rows & fails
                    warns = rows & ~na & ~fails & holds.data
        return applies, value, warns

    def env(self, name: str) -> Vec:
        return self.outcomes[name].vec if name in self.outcomes else self.outcome(name).vec

    def checked(self, spec: FieldSpec, value: Vec, rows: np.ndarray) -> tuple[Vec, np.ndarray]:
        """``coerce`` on a column: the values as the field holds them, and the rows where
        a value does not fit the field (the per-disclosure resolver would raise)."""
        kind = kind_of(spec)
        if kind == NUM:
            data = _f64(value.data)
            return Vec(NUM, data), rows & ~fits_number(spec, data)
        if kind != TEXT or not rows.any():
            return value, self.nothing
        size = len(self.interner.texts)
        codes = zeroed(value.data, rows)  # (other rows may hold anything)
        seen = np.zeros(size, dtype=bool)
        seen[codes] = True
        seen[0] = bool((rows & (value.data == 0)).any())
        refused = np.zeros(size, dtype=bool)  # per text code
        fitted_code = np.arange(size, dtype=np.int64)
        for code in np.flatnonzero(seen).tolist():
            text = self.interner.texts[code]
            fitted = self.fitted(spec, text)
            if fitted is None:
                refused[code] = True
            elif fitted != text:
                fitted_code[code] = self.interner.code(fitted)
        bad = rows & refused.take(codes)
        if (fitted_code == np.arange(size)).all():
            return value, bad
        return Vec(TEXT, np.where(rows, fitted_code.take(codes), value.data)), bad

    def fitted(self, spec: FieldSpec, text: str) -> str | None:
        """``coerce`` of a text for a field, as text, or None where it does not fit; kept
        for the ruleset (every chunk of a run asks for the same few)."""
        cache = _FITTED.get(id(self.rs))
        if cache is None:
            cache = _FITTED[id(self.rs)] = {}
            weakref.finalize(self.rs, _FITTED.pop, id(self.rs), None)
        key = (spec.name, text)
        if key not in cache:
            try:
                cache[key] = str(coerce(spec, text, self.rs.tables))
            except ValueProblem:
                cache[key] = None
        return cache[key]

    # -- what each row asks for ----------------------------------------------------------

    def demand(self, outputs: Sequence[str]) -> dict[str, np.ndarray]:
        """Per field, the rows whose resolution asks for it (outputs: every row). A field
        no row asks for is left out, and the fields every row asks for share one mask
        that no one writes to (about half the fields of a chunk: no mask of their own)."""
        self.held()
        every = np.ones(self.n, dtype=bool)
        every.flags.writeable = False
        asked = dict.fromkeys(outputs, every)
        for name in reversed(self.order):  # consumers come after what they read
            rows = asked.get(name)
            if rows is None or not rows.any():
                continue
            result, widen = self.tries(name)
            for tried, reach in zip(result.tried, result.reach, strict=True):
                here = rows & widen(tried)
                if not here.any():
                    continue
                for dep, reached in reach:
                    have = asked.get(dep)
                    if have is every:
                        continue
                    more = here & widen(reached)  # (a new array: the field's own)
                    if have is None:
                        asked[dep] = every if more.all() else more
                    else:
                        have |= more
        return asked

    def tries(self, name: str) -> tuple[Outcome, Callable[[np.ndarray], np.ndarray]]:
        """The outcome whose per rule masks (tried, reached) say a field's rules, and how
        they become masks of this chunk's rows."""
        self.held()
        return self.outcomes[name], _same

    def release(self) -> None:
        """Free what only the resolution, ``demand`` and ``provenance_codes`` read (each
        rule's masks, the rules that applied, the errors): the output reads the values
        alone, and the next chunk is resolved with less held. Asking for those after
        this is an error, not a silently empty answer."""
        self.released = True
        released = np.zeros(0, dtype=bool)
        for out in self.outcomes.values():
            out.tried.clear()
            out.reach.clear()
            out.ok = out.err = released
            if not isinstance(out, _Spread):  # (its rules are the first rows')
                out.rule, out.warned = released, None

    def held(self) -> None:
        """Raise if ``release`` freed the masks and rules of this resolution."""
        if self.released:
            raise RuntimeError("the resolution's rules were released: its values alone remain")

    def values_at(self, name: str, rows: np.ndarray) -> np.ndarray:
        """A resolved field's values in ``rows`` (indices of this chunk's rows)."""
        return take_rows(self.outcomes[name].vec.data, rows)

    def values_in(self, name: str, rows: np.ndarray, places: np.ndarray) -> np.ndarray:
        """A resolved field's values in ``rows``, an order of all this chunk's rows whose
        inverse is ``places`` (see ``moved``)."""
        return moved(self.outcomes[name].vec.data, rows, places)

    def drop_spread(self) -> None:
        """Free the values of the first rows of runs spread to every row for the formulas
        that read them, once the fields are resolved (only a resolution by runs has any):
        the output takes them from the first rows."""

    def forget(self, name: str) -> None:
        """Drop a field's outcome once the output holds its values: its arrays are freed
        (unless another field's outcome shares them) before the next column is made."""
        self.outcomes.pop(name, None)

    def provenance_codes(self, name: str) -> np.ndarray:
        """Per row, the code of a resolved field's provenance: 0 disclosed, 2 (k + 1) given
        by rule k, plus 1 where that rule's warning holds (where the field is not
        resolved: 0)."""
        self.held()
        out = self.outcomes[name]
        code: np.ndarray = np.maximum(out.rule, -1)  # DISCLOSED and FAILED alike: -1
        code += 1
        code <<= 1
        if out.warned is not None:
            code |= out.warned
        return code


# per ruleset (by id, for as long as it lives): the texts of each field as ``coerce``
# gives them, or None where they do not fit
_FITTED: dict[int, dict[tuple[str, str], str | None]] = {}


RUN_SHARE = 4  # resolve by runs when a chunk has at most a quarter as many runs as rows


def runs_of(chunk: Chunk) -> np.ndarray:
    """The first row of each run of rows disclosing the same fields, and the same value
    of every field that is not a number (rows grouped for resolution come in such runs)."""
    change = np.zeros(chunk.n, dtype=bool)
    change[:1] = True
    for name, vec in chunk.values.items():
        present = chunk.present[name]
        change[1:] |= present[1:] != present[:-1]
        if vec.kind != NUM or name in chunk.steady:
            change[1:] |= present[1:] & (vec.data[1:] != vec.data[:-1])
    heads: np.ndarray = np.flatnonzero(change)
    return heads


def varying(rs: Ruleset, chunk: Chunk) -> set[str]:
    """The fields whose resolution may differ between rows of one run: the disclosed
    numbers, and every field a rule that can run computes from one of them. A rule runs
    no further than its first input that no row can have (not disclosed by any row, and
    no rule able to give it), so what it would read beyond that does not count."""
    disclosed = {name for name, rows in chunk.present.items() if rows.any()}
    possible = set(disclosed)
    grown = True
    while grown:  # the fields some row may have: disclosed, or given by a rule that can
        grown = False
        for name, rules in rs.rules.items():
            if name in possible:
                continue
            for rule in rules:
                if set(rule.disclosed_inputs) <= disclosed and _gathered(rule) <= possible:
                    possible.add(name)
                    grown = True
                    break
    moving = {
        name for name, vec in chunk.values.items() if vec.kind == NUM and name not in chunk.steady
    }
    grown = True
    while grown:
        grown = False
        for name, rules in rs.rules.items():
            if name in moving:
                continue
            if any(_reads(rule, disclosed, possible) & moving for rule in rules):
                moving.add(name)
                grown = True
    return moving


def _gathered(rule: Rule) -> set[str]:
    """The inputs a rule needs to apply (its warning's are not)."""
    found = set(rule.value.inputs)
    if rule.when is not None:
        found.update(rule.when.inputs)
    return found


def _reads(rule: Rule, disclosed: set[str], possible: set[str]) -> set[str]:
    """The fields a rule's resolution reads in a chunk (see ``Resolver.rule``)."""
    if not set(rule.disclosed_inputs) <= disclosed:
        return set()  # tried in no row
    order: list[str] = []
    for expression in (rule.when, rule.value):
        if expression is not None:
            order += [name for name in expression.inputs if name not in order]
    read: set[str] = set()
    for name in order:  # gathered in this order, up to the first no row can have
        read.add(name)
        if name not in possible:
            break
    for expression in (rule.when, rule.value, rule.warn_when):
        if expression is not None:
            read.update(expression.disclosed_inputs)  # disclosed(x) reads x's values
    if rule.warn_when is not None and set(order) <= possible:
        read.update(rule.warn_when.inputs)
    return read


class RunResolver(Resolver):
    """The resolution of a chunk whose rows come in runs (``runs_of``): a field that no
    disclosed number reaches is the same for every row of a run, so it is resolved for
    the first row of each run alone and spread to the others; the rest row by row."""

    def __init__(self, ruleset: Ruleset, chunk: Chunk, heads: np.ndarray) -> None:
        super().__init__(ruleset, chunk)
        self.lengths = np.diff(np.append(heads, chunk.n))
        firsts = Chunk(len(heads), chunk.interner)
        for name, vec in chunk.values.items():
            firsts.disclose(
                name, Vec(vec.kind, vec.data.take(heads)), chunk.present[name].take(heads)
            )
        self.runs = resolver_of(ruleset, firsts)  # (by runs of names alone, if steady)
        self.moving = varying(ruleset, chunk)
        self._owners: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.spread_runs = _Spreader(self.lengths, chunk.n)  # (no cycle: freed at once)

    def outcome(self, name: str) -> Outcome:
        found = self.outcomes.get(name)
        if found is not None:
            return found
        if name in self.moving:
            return super().outcome(name)
        first = self.runs.outcome(name)
        for reach in self.runs.tries(name)[0].reach:  # what it read first, as the row by
            for dep, _ in reach:  # row resolution does
                self.outcome(dep)
        # its values, spread when read (the output takes them from the first rows), its
        # rules and their masks when asked for (``provenance_codes``, ``tries``)
        result = _Spread(first, self.spread_runs)
        self.outcomes[name] = result
        self.order.append(name)
        return result

    def tries(self, name: str) -> tuple[Outcome, Callable[[np.ndarray], np.ndarray]]:
        self.held()
        if name in self.moving:
            return self.outcomes[name], _same
        source, widen = self.runs.tries(name)
        if widen is _same:
            return source, self.spread_runs
        return source, lambda rows: self.spread_runs(widen(rows))

    def drop_spread(self) -> None:
        for out in self.outcomes.values():
            if isinstance(out, _Spread):
                out.vec.drop()  # (spread again if anything reads it: not the output)

    def release(self) -> None:
        super().release()
        self.runs.release()  # (the first rows' resolution, whose rules the spread fields have)

    def values_at(self, name: str, rows: np.ndarray) -> np.ndarray:
        if name in self.moving:
            return super().values_at(name, rows)
        return self.runs.values_at(name, self._owners_at(rows))  # from the first rows

    def values_in(self, name: str, rows: np.ndarray, places: np.ndarray) -> np.ndarray:
        if name in self.moving:
            return super().values_in(name, rows, places)
        return self.runs.values_at(name, self._owners_at(rows, places))

    def _owners_at(self, rows: np.ndarray, places: np.ndarray | None = None) -> np.ndarray:
        """The run of each of ``rows``, as rows of the first rows' resolution (made once
        for each array of rows: the output asks with one); ``places``: the inverse of
        ``rows`` where they are an order of all rows (see ``moved``)."""
        found = self._owners.get(id(rows))
        if found is None:
            owner = np.repeat(np.arange(len(self.lengths), dtype=np.int64), self.lengths)
            runs = take_rows(owner, rows) if places is None else moved(owner, rows, places)
            found = self._owners[id(rows)] = rows, runs
        return found[1]

    def provenance_codes(self, name: str) -> np.ndarray:
        if name in self.moving:
            return super().provenance_codes(name)
        return self.spread_runs(self.runs.provenance_codes(name))  # made for the first rows


class _Spreader:
    """Columns of the first rows of runs, for every row. A mask the same for every run
    is a shared array no one writes to (most are: no row fails, every row applies);
    another column the same for every run is its one value seen as a column (a read-only
    view), not repeated."""

    def __init__(self, lengths: np.ndarray, n: int) -> None:
        self.lengths = lengths
        self.n = n
        self.every = np.ones(n, dtype=bool)
        self.none = np.zeros(n, dtype=bool)
        self.every.flags.writeable = self.none.flags.writeable = False
        # masks spread so far, by their bits: most masks are spread more than once (what
        # each row asks for widens the same rules' masks again), and shared like the two
        # above, never written
        self.masks: dict[bytes, np.ndarray] = {}

    def __call__(self, data: np.ndarray) -> np.ndarray:
        if len(data) and (data == data[0]).all() and data[0] == data[0]:  # (NaN: repeat)
            if data.dtype == np.bool_:
                return self.every if data[0] else self.none
            return np.broadcast_to(data[:1], (self.n,))
        if data.dtype != np.bool_:
            return np.repeat(data, self.lengths)
        key = data.tobytes()
        found = self.masks.get(key)
        if found is None:
            found = self.masks[key] = np.repeat(data, self.lengths)
            found.flags.writeable = False
        return found


class _SpreadVec(Vec):
    """Values of the first rows of runs, spread to every row when first read."""

    def __init__(self, first: Vec, spread: Callable[[np.ndarray], np.ndarray]) -> None:
        self.kind = first.kind
        self._first = first
        self._spread = spread
        self._data: np.ndarray | None = None

    @property
    def data(self) -> np.ndarray:  # type: ignore[override]
        if self._data is None:
            self._data = self._spread(self._first.data)
        return self._data

    def drop(self) -> None:
        """Free the spread values (the first rows' stay)."""
        self._data = None


class _Spread(Outcome):
    """The outcome of the first rows of runs, for every row: its masks spread at once
    (most are the same in every run: shared arrays), its values when read, the rules that
    applied and their warnings when asked for."""

    vec: _SpreadVec

    def __init__(self, first: Outcome, spread: Callable[[np.ndarray], np.ndarray]) -> None:
        self.vec = _SpreadVec(first.vec, spread)
        self.ok = spread(first.ok)
        self.err = spread(first.err)
        self.tried = []
        self.reach = []
        self._first = first
        self._spread = spread

    @property
    def rule(self) -> np.ndarray:  # type: ignore[override]
        return self._spread(self._first.rule)

    @property
    def warned(self) -> np.ndarray | None:  # type: ignore[override]
        warned = self._first.warned
        return None if warned is None else self._spread(warned)


def resolver_of(ruleset: Ruleset, chunk: Chunk) -> Resolver:
    """The resolver for a chunk: by runs when its rows come in few runs. Where number
    columns of few values are grouped by value too (``Chunk.steady``), the first rows of
    those runs are resolved by runs of names alone in turn: what no number reaches, once
    per run of names; what those numbers alone reach, once per run of them; the rest row
    by row."""
    heads = runs_of(chunk)
    if len(heads) < chunk.n and len(heads) * RUN_SHARE <= chunk.n:
        return RunResolver(ruleset, chunk, heads)
    return Resolver(ruleset, chunk)


def take_rows(data: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``data`` at ``rows``, rows the engine made (an order of the chunk, the run of each
    row): each in range by construction, so not checked one by one (``mode="clip"``, the
    same values; for 8-byte values a sixth less time than the checked take)."""
    taken: np.ndarray = np.take(data, rows, mode="clip")
    return taken


def inverse_of(order: np.ndarray) -> np.ndarray:
    """The places of an order of all rows: ``inverse_of(order)[order[j]] == j``."""
    places = np.empty_like(order)
    places[order] = np.arange(len(order), dtype=order.dtype)
    return places


# Values of this many bytes or more are moved to an order of all rows by writing each to
# its place, not by reading each from its own (``moved``): the random reads of a gather
# wait on memory one after another, where the writes of a scatter are buffered. On a
# chunk of the benchmark's rows (262,144, grouped), 30 columns of floats take 19 ms
# against 55 ms, 10 of 4-byte integers 4.0 ms against 14.2; of bytes (masks), 2.3 ms
# against 2.5 and 4.2 against 3.3: about as fast, so they are read.
SCATTERED_BYTES = 4


def moved(data: np.ndarray, rows: np.ndarray, places: np.ndarray) -> np.ndarray:
    """``data`` at ``rows`` (as ``take_rows``), where ``rows`` is an order of all of
    data's rows and ``places`` its inverse (``inverse_of(rows)``)."""
    if data.dtype.itemsize < SCATTERED_BYTES:
        return take_rows(data, rows)
    out = np.empty(len(rows), dtype=data.dtype)
    out[places] = data
    return out


def _choose(mask: np.ndarray, then: np.ndarray, otherwise: np.ndarray) -> np.ndarray:
    """``np.where(mask, then, otherwise)``; of two boolean columns, by their bits (a
    fifth of the time on a mask of runs, less still on one of random bits)."""
    if then.dtype == np.bool_ and otherwise.dtype == np.bool_:
        chosen: np.ndarray = (then & mask) | (otherwise & ~mask)
        return chosen
    return np.where(mask, then, otherwise)


def _constant(data: np.ndarray) -> bool:
    """Whether a column is one value seen as many (``Resolver.constant``)."""
    return data.ndim == 1 and len(data) > 0 and data.strides == (0,)


def _same(rows: np.ndarray) -> np.ndarray:
    return rows


def _f64(data: np.ndarray) -> np.ndarray:
    """Numbers as float64, without a copy when they already are."""
    return data if data.dtype == np.float64 else data.astype(np.float64)


def _minus_hours(start: np.ndarray, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``minus_hours`` of date-times (microseconds since 1970) and hours: the date-times,
    and the rows where Python's date-times cannot hold the answer (before the year 1 or
    after 9999: ``minus_hours`` raises there, and the row is refused). Hours beyond
    what the microseconds of a date-time can count are told apart before they are turned
    into them (as integers they would wrap around)."""
    far = ~(np.abs(hours) < MAX_HOURS)  # (NaN too)
    micros = start - _hours_as_micros(np.where(far, 0.0, hours))
    return micros, far | (micros < FIRST_MICROS) | (micros > LAST_MICROS)


def _hours_as_micros(hours: np.ndarray) -> np.ndarray:
    """``timedelta(hours=h)`` in microseconds, as CPython computes it: the whole hours
    exactly, the fraction rounded half to even."""
    whole = np.trunc(hours)
    fraction = hours - whole
    micros: np.ndarray = whole.astype(np.int64) * MICROSECONDS_PER_HOUR + np.rint(
        fraction * MICROSECONDS_PER_HOUR
    ).astype(np.int64)
    return micros


_COMPARE: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}


def expression_kinds(expr: Expression) -> None:  # pragma: no cover - documentation aid
    """Expressions reach this module already checked for kinds and units at load."""


__all__ = [
    "Chunk",
    "Interner",
    "Outcome",
    "Resolver",
    "RunResolver",
    "Table",
    "Vec",
    "inverse_of",
    "moved",
    "resolver_of",
    "take_rows",
]
