"""A chunk of rows estimated: the vectorised resolver where it is exact, the
per-disclosure resolver for every other row, and the output table.

An output row holds: the input's row number and id; the value of every output, every
reported field and every disclosed field, in its unit (the units are in the schema); the
compact provenance of every field the row's resolution resolved (field -> ``input`` or
``<status>:<rule id>``); the warnings that hold (field -> text); the ruleset's id, version
and hash; and the error, if the row could not be estimated. The disclosed values and the
ruleset are all it takes to rebuild the row's whole derivation
(``tuneprint explain OUT --row N``).

A row's provenance is its pattern: for each field, the rule that set it (or input, or not
resolved) and whether the rule's warning holds. Rows share few patterns, so a chunk holds
each pattern's JSON once (a dictionary column) and each row its pattern's number: a
row's complete provenance costs four bytes. CSV and JSON Lines outputs write the JSON in
full on every row.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..api import Result, estimate
from ..core.model import Disclosure, Ruleset
from ..core.problems import Problem, TuneprintError, UnresolvedError
from ..core.provenance import plain
from ..core.text import one_line
from . import arrays
from .columns import Columns, Refused
from .vector import (
    DATE,
    NUM,
    TEXT,
    Interner,
    Resolver,
    inverse_of,
    moved,
    resolver_of,
    rule_codes,
    to_micros,
)
from .vector import Chunk as VChunk

ROW, ID, PROVENANCE, WARNINGS, ERROR, RULESET, HASH = (
    "row", "id", "provenance", "warnings", "error", "ruleset", "ruleset_hash",
)  # fmt: skip
CODED = pa.dictionary(pa.int32(), pa.string())  # text columns: few distinct values each


def asked_for(rs: Ruleset) -> list[str]:
    """The fields every row's estimate resolves: the outputs, then each reported field
    that is not one (``tuneprint estimate`` reports them: a reported field no rule can
    give is left empty, never an error of the row)."""
    return list(dict.fromkeys([*rs.outputs, *rs.report]))


def reachable(rs: Ruleset) -> list[str]:
    """Every field a resolution of the outputs and reported fields may ask for, in the
    ruleset's order."""
    seen: set[str] = set()
    stack = asked_for(rs)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for rule in rs.rules.get(name, ()):
            stack.extend(rule.inputs)
    return [name for name in rs.fields if name in seen]


@dataclass(frozen=True)
class Layout:
    """The columns of a batch's output, fixed before the first row is read."""

    ruleset: Ruleset
    inputs: tuple[str, ...]  # the disclosed fields the input holds
    values: tuple[str, ...]  # fields whose value is a column: outputs, reported, inputs
    provenance: tuple[str, ...]  # fields whose provenance is a column

    @classmethod
    def of(cls, rs: Ruleset, inputs: Sequence[str]) -> Layout:
        """The layout for an input holding these fields."""
        values = list(dict.fromkeys([*rs.outputs, *rs.report, *inputs]))
        provenance = list(dict.fromkeys([*reachable(rs), *inputs]))
        return cls(rs, tuple(inputs), tuple(values), tuple(provenance))

    @cached_property
    def fragments(self) -> tuple[list[list[str]], list[list[str | None]]]:
        """Per provenance field and rule code (0: disclosed, k + 1: rule k), its member of
        a pattern's JSON object, and of the warnings' object when the rule warns."""
        dumps = json.dumps
        fragments: list[list[str]] = []
        notes: list[list[str | None]] = []
        for name in self.provenance:
            key = dumps(name, ensure_ascii=False) + ": "
            rules = self.ruleset.rules.get(name, ())
            fragments.append(
                [key + '"input"']
                + [key + dumps(f"{r.status}:{r.id}", ensure_ascii=False) for r in rules]
            )
            warns: list[str | None] = [None]  # a disclosed value does not warn
            for r in rules:
                text = one_line(r.warning) if r.warning else None
                warns.append(key + dumps(text, ensure_ascii=False) if text else None)
            notes.append(warns)
        return fragments, notes

    @cached_property
    def texts(self) -> dict[bytes, tuple[str, str | None]]:
        """The provenance and warnings of the patterns met so far (by their codes): rows
        of every chunk share them."""
        return {}

    def pattern_texts(self, codes: np.ndarray) -> tuple[str, str | None]:
        """A pattern's provenance and warnings as JSON, from its code for each field (the
        fields not resolved, most of them, skipped at once)."""
        fragments, notes = self.fragments
        pairs = [(k, code) for k, code in enumerate(codes.tolist()) if code >= 0]
        parts = [fragments[k][code >> 1] for k, code in pairs]
        warned = [notes[k][code >> 1] for k, code in pairs if code & 1 and notes[k][code >> 1]]
        return "{" + ", ".join(parts) + "}", "{" + ", ".join(warned) + "}" if warned else None

    def schema(self) -> pa.Schema:
        """The output schema, each value column's unit in its metadata."""
        return self._schema

    @cached_property
    def _schema(self) -> pa.Schema:
        rs = self.ruleset
        # a column every row has (its number, its ruleset) is required: Parquet then writes
        # no definition levels for it (a third to three fifths of its writing)
        cols = [pa.field(ROW, pa.int64(), nullable=False), pa.field(ID, pa.string())]
        for name in self.values:
            spec = rs.fields[name]
            meta = {
                b"unit": spec.unit.encode(),
                b"type": spec.type.encode(),
                b"description": spec.description.encode(),
            }
            cols.append(pa.field(name, _arrow_type(spec.type), metadata=meta))
        cols += [pa.field(n, CODED) for n in (PROVENANCE, WARNINGS)]
        cols += [pa.field(n, CODED, nullable=False) for n in (RULESET, HASH)]
        cols.append(pa.field(ERROR, pa.string()))
        meta = {
            b"tuneprint.ruleset": f"{rs.id}@{rs.version}".encode(),
            b"tuneprint.ruleset_hash": rs.content_hash.encode(),
            b"tuneprint.inputs": json.dumps(list(self.inputs)).encode(),
        }
        return pa.schema(cols, metadata=meta)


# splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
# OOPSLA 2014): its increment, then its two multipliers and three shifts
SPLITMIX64 = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 30, 27, 31)


def _odd_constants(count: int) -> np.ndarray:
    """Fixed odd 64-bit multipliers (splitmix64's sequence), for hashing."""
    step, first, second, s1, s2, s3 = (np.uint64(c) for c in SPLITMIX64)
    with np.errstate(over="ignore"):
        z = np.arange(1, count + 1, dtype=np.uint64) * step
        z = (z ^ (z >> s1)) * first
        z = (z ^ (z >> s2)) * second
    return (z ^ (z >> s3)) | np.uint64(1)


def _distinct_columns(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct columns of a small-integer matrix (fields x rows): the first row of
    each, and each row's number. Each row's codes are packed into a few 64-bit words,
    hashed, and the rows sharing a hash checked word by word to be equal (a collision
    falls back to sorting the words themselves), so the answer is exact."""
    fields, n = codes.shape
    per_word = 8 // codes.itemsize
    width = -(-fields // per_word) * per_word
    packed = np.zeros((n, width), dtype=codes.dtype)
    packed[:, :fields] = codes.T
    words = packed.view(np.uint64)  # rows x words
    weights = _odd_constants(words.shape[1])
    digest = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            digest = (digest ^ words[:, j]) * weights[j]
    _, first, number = np.unique(digest, return_index=True, return_inverse=True)
    number = number.reshape(-1)
    same = all(np.array_equal(words[:, j], words[first[number], j]) for j in range(words.shape[1]))
    if not same:  # two patterns, one hash
        _, first, number = np.unique(words, axis=0, return_index=True, return_inverse=True)
        number = number.reshape(-1)
    return first, number


def _coded(number: np.ndarray, texts: Sequence[str | None], hidden: np.ndarray) -> pa.Array:
    """Each row's text, given its pattern's number and each pattern's text (None: no
    text), as a dictionary column. Patterns may share a text (their codes differ where
    the text does not show, as a warning bit on the provenance): the dictionary holds each
    text once, as Parquet needs to keep it a dictionary."""
    unique: dict[str, int] = {}
    index = np.full(len(texts) + 1, -1, dtype=np.int32)
    for j, text in enumerate(texts):
        if text is not None:
            index[j] = unique.setdefault(text, len(unique))
    row = index.take(number) if len(texts) else np.zeros(len(number), dtype=np.int32)
    return arrays.coded(np.maximum(row, 0), list(unique), (row < 0) | hidden)


def _text_column(
    codes: np.ndarray, bits: arrays.Validity, valid: np.ndarray, texts: Sequence[str]
) -> pa.Array:
    """A text column (the chunk's text codes, valid where ``valid`` holds) as a dictionary
    of the texts its rows hold, in the order of their codes: not every text of the chunk,
    so that a reader sees a column's own values as its categories (countries, not GPUs).
    The codes are counted as they are, those of the rows without a value taken out after
    (few rows: the rows that fail): half the time of masking every row first."""
    size = len(texts)
    if len(codes) and not (int(codes.min()) >= 0 and int(codes.max()) < size):
        # (other rows may hold anything: a code of no text)
        codes = arrays.zeroed(codes, valid)
    counts = np.bincount(codes, minlength=size)
    off = np.flatnonzero(~valid)
    if len(off):
        counts -= np.bincount(codes.take(off), minlength=size)
    kept = np.flatnonzero(counts)
    index = np.zeros(max(size, 1), dtype=np.int32)  # (no text: every row null, code 0)
    index[kept] = np.arange(len(kept), dtype=np.int32)
    indices = arrays.numbers(index.take(codes), pa.int32(), valid=bits)
    return pa.DictionaryArray.from_arrays(indices, arrays.texts([texts[k] for k in kept.tolist()]))


def _uniform(array: np.ndarray) -> bool:
    """Whether every row holds the same value (NaN never does)."""
    if not len(array):
        return True
    first = array[0]
    if array[-1] != first:  # most columns that are not tell at once
        return False
    return bool((array == first).all())


def _arrow_type(kind: str) -> pa.DataType:
    if kind == "integer":
        return pa.int64()
    if kind == "number":
        return pa.float64()
    if kind in ("date", "datetime"):
        return pa.timestamp("us")
    if kind == "boolean":
        return pa.bool_()
    return CODED


Fallback = Callable[[int], Disclosure | TuneprintError | Refused]
PATTERNS_KEPT = 1 << 16  # provenance patterns of a run whose texts are kept
UNRESOLVED_KEPT = 4096  # distinct unresolved disclosures of a chunk whose problems are kept


def estimate_chunk(
    layout: Layout,
    columns: Columns,
    rows: np.ndarray,
    fallback: Fallback,
    vectorised: bool = True,
) -> pa.RecordBatch:
    """The output rows of a chunk. ``rows`` are the input's row numbers; ``fallback(i)``
    reads row i again one by one, for the per-disclosure resolver.

    The rows are resolved grouped by what they disclose (``grouping``), so that every
    mask of the resolution is made of long runs, and put back in their order at the end:
    NumPy selects by a mask of random bits many times slower than by one of runs, and
    each row's resolution depends on that row alone."""
    rs = layout.ruleset
    order = grouping(columns) if vectorised else None
    places = None if order is None else inverse_of(order)
    # (the rows in their own order are read again one by one from the input, not from
    # these columns: their values move to the grouped ones)
    grouped = columns if order is None else columns.taken(order, places, ids=False)
    n = grouped.chunk.n
    exact = ~grouped.bad
    resolver = resolver_of(rs, grouped.chunk) if order is not None else Resolver(rs, grouped.chunk)
    if vectorised and exact.any():
        for name in rs.outputs:
            out = resolver.outcome(name)
            exact &= out.ok & ~out.err
        asking = asked_for(rs)
        for name in asking[len(rs.outputs) :]:  # reported: where no rule applies, empty
            resolver.outcome(name)
        resolver.drop_spread()
        asked = resolver.demand(asking)
        for name, rows_asked in asked.items():
            err = resolver.outcomes[name].err
            if err.any():  # (most fields fail in no row: three passes saved)
                exact &= ~(rows_asked & err)
    else:
        exact[:] = False
        asked = {}
    builder = _Builder(layout, n, grouped.chunk.interner, order, places)
    builder.vector(resolver, asked, exact, grouped)
    resolver.release()
    del asked
    builder.ids = columns.ids
    unresolved: dict[tuple[Any, ...], list[Problem]] = {}
    for i in np.flatnonzero(~exact):
        item = fallback(int(i) if order is None else int(order[i]))
        if isinstance(item, Refused):
            builder.refused(int(i), item.text)
            continue
        if isinstance(item, TuneprintError):
            builder.error(int(i), item)
            continue
        same = _unresolved_as(unresolved, item)
        if same is not None:
            builder.error(int(i), UnresolvedError(same))
            continue
        try:
            builder.result(int(i), estimate(item, rs, report=True))
        except UnresolvedError as exc:
            builder.error(int(i), exc)
            _remember(unresolved, item, exc)
        except TuneprintError as exc:
            builder.error(int(i), exc)
    return builder.batch(rows)


UNRESOLVED = -2  # a field's provenance code where it is not resolved (-1, times 2)
GROUPED_ROWS = 2  # a chunk of one row keeps its order
KEY_BITS = 64  # of a row's grouping key (uint64)
PRESENCE_BITS = 32  # of those, for what the row discloses; the rest tell its names apart


def grouping(columns: Columns) -> np.ndarray | None:
    """An order of the rows that puts together the rows disclosing the same fields (and,
    among those, the same names, dates and flags), or None for a chunk of one row. Any order
    gives the same rows: this one makes the resolution's masks long runs."""
    chunk = columns.chunk
    if chunk.n < GROUPED_ROWS:
        return None
    high = np.zeros(chunk.n, dtype=np.uint64)
    low = np.zeros(chunk.n, dtype=np.uint64)
    chunk.steady = steady_numbers(chunk)
    weights = iter(_odd_constants(2 * len(chunk.values) + 1).tolist())
    with np.errstate(over="ignore"):
        high = (high ^ columns.bad.view(np.uint8)) * np.uint64(next(weights))
        for name, vec in chunk.values.items():
            present = chunk.present[name]
            high = (high ^ present.view(np.uint8)) * np.uint64(next(weights))
            # each value, 0 where not present (the high bits tell those rows apart), made
            # without np.where: in the input's order its mask is of random bits (a fifth
            # to a twentieth of the time)
            if vec.kind != NUM:
                code = np.multiply(vec.data, present, dtype=np.int64).view(np.uint64)
                low = (low ^ code) * np.uint64(next(weights))
            elif name in chunk.steady:
                code = arrays.zeroed(vec.data, present).view(np.uint64)
                low = (low ^ code) * np.uint64(next(weights))
    shift = np.uint64(KEY_BITS - PRESENCE_BITS)
    key = (high >> shift << shift) | (low >> np.uint64(PRESENCE_BITS))
    return together(key)


def together(key: np.ndarray) -> np.ndarray:
    """An order of the rows by key, the rows of each key in their own order. The keys are
    numbered by a hash table (linear), in the order of the keys themselves (a sort of the
    distinct keys alone), so that the keys sharing their high bits (what rows disclose)
    stay side by side; where they take at most 65,536 values (a chunk of the benchmark's
    rows: about 6,000) the numbers sort by radix, also linear: of a chunk of 262,144 rows,
    6.0 ms against 15.8 ms for sorting the keys themselves."""
    coded = pc.dictionary_encode(arrays.numbers(key, pa.uint64()))
    distinct = arrays.numpy(coded.dictionary)
    rank = np.empty(len(distinct), dtype=np.min_scalar_type(max(len(distinct) - 1, 0)))
    rank[np.argsort(distinct)] = np.arange(len(distinct))
    numbers = np.take(rank, arrays.numpy(coded.indices))
    order: np.ndarray = np.argsort(numbers, kind="stable")
    return order


STEADY_SAMPLE = 1024  # values of a number column counted, among the rows disclosing it
# A number column of at most this many distinct values has its rows grouped by value.
# Grouping by a column of d values makes up to d times the runs: on the benchmark's
# disclosures, shares of the GPU given to two digits (76 values) made 6.6 times the first
# rows of runs (6,059 to 40,291 in a chunk of 262,144 rows) and the run an eighth slower
# (2.39 s of processor time against 2.12, best of twelve), where GPU counts (4 values)
# save more than their runs cost.
STEADY_MOST = 16


def steady_numbers(chunk: VChunk) -> set[str]:
    """The number columns taking few values in a chunk (counts, flags, settings of a few
    sizes): grouping rows by them too makes what is computed from them alone the same for
    every row of a run. Counted on a sample of the rows that disclose the column (a column
    few rows disclose would be judged on a handful of values, as of every row): the choice
    changes the speed, not the result."""
    found = set()
    for name, vec in chunk.values.items():
        if vec.kind != NUM:
            continue
        rows = np.flatnonzero(chunk.present[name])
        sample = np.sort(vec.data.take(rows[:: max(len(rows) // STEADY_SAMPLE, 1)]))
        # (counted in order: np.unique would import numpy.ma, 18 ms of every start-up)
        if np.count_nonzero(sample[1:] != sample[:-1]) < STEADY_MOST:
            found.add(name)
    return found


def _values_key(disclosure: Disclosure) -> tuple[Any, ...]:
    """The values a row discloses, each as its type and exact form: Python's equality
    would take values that give other outcomes as one (times of the same instant in two
    zones, of two local years; 1 and 1.0 and True; 0.0 and -0.0)."""
    return tuple(sorted((k, type(v).__name__, repr(v)) for k, v in disclosure.values.items()))


def _remember(
    seen: dict[tuple[Any, ...], list[Problem]], item: Disclosure, exc: UnresolvedError
) -> None:
    """An unresolved row's problems, kept for rows disclosing the same values: finding
    the smallest sets of fields to disclose is the costly part of a row that fails, and
    it depends only on the values (the problems name the row only by its file and line)."""
    key = _values_key(item)
    if (
        item.row is not None
        and len(seen) < UNRESOLVED_KEPT
        and all((p.file, p.line) == item.row for p in exc.problems)
    ):
        seen[key] = exc.problems


def _unresolved_as(
    seen: dict[tuple[Any, ...], list[Problem]], item: Disclosure
) -> list[Problem] | None:
    """The problems of an earlier row that disclosed the same values, at this row."""
    if not seen or item.row is None:
        return None
    problems = seen.get(_values_key(item))
    if problems is None:
        return None
    file, line = item.row
    return [dataclasses.replace(p, file=file, line=line) for p in problems]


class _Builder:
    """Output columns as arrays, filled by the vectorised rows, then row by row."""

    def __init__(
        self,
        layout: Layout,
        n: int,
        interner: Interner,
        order: np.ndarray | None = None,
        places: np.ndarray | None = None,
    ) -> None:
        self.layout = layout
        self.n = n
        self.order = order  # row i of the arrays is row order[i] of the chunk
        self.places = places  # ... and row i of the chunk, row places[i] of the arrays
        self.interner = interner
        rs = layout.ruleset
        self.kinds: dict[str, str] = {}
        self.dtypes: dict[str, Any] = {}
        for name in layout.values:
            kind = rs.fields[name].type
            self.kinds[name] = kind
            dtype: Any = np.float64 if kind in ("number", "integer") else np.int64
            self.dtypes[name] = np.bool_ if kind == "boolean" else dtype
        # per value column, the rows of the vectorised resolution: its values (the
        # resolver's own array, not a copy: it is read, never written) and where they count
        self.data: dict[str, np.ndarray] = {}
        self.valid: dict[str, np.ndarray] = {}
        # ... or, in place of the values, the resolver that gives them in any order
        self.sources: dict[str, Resolver] = {}
        # ... and the values of rows estimated one by one, put in after the reordering
        self.written: dict[str, dict[int, Any]] = {name: {} for name in layout.values}
        self.index = {name: k for k, name in enumerate(layout.provenance)}
        # per field and row: -1 not resolved, 0 disclosed, k + 1 rule k; times 2, plus 1
        # when the rule's warning holds (UNRESOLVED: -1 times 2)
        most = max((len(rs.rules.get(f, ())) for f in layout.provenance), default=0)
        self.codes = np.full((len(layout.provenance), n), UNRESOLVED, dtype=rule_codes(most))
        self.ids: list[str | None] | pa.Array = [None] * n
        self.named: dict[int, str | None] = {}  # ids of rows read again one by one
        self.errors: dict[int, str] = {}  # by row of the chunk
        self.failed = np.zeros(n, dtype=bool)

    def vector(
        self,
        resolver: Resolver,
        asked: dict[str, np.ndarray],
        exact: np.ndarray,
        columns: Columns,
    ) -> None:
        chunk = columns.chunk
        for name in self.layout.values:
            out = resolver.outcomes.get(name) if name in asked else None
            given = chunk.values.get(name)
            if out is None:
                if given is not None:  # disclosed, and nothing asked for it
                    self.data[name], self.valid[name] = given.data, exact & chunk.present[name]
                continue
            both = asked[name] & out.ok
            resolved = exact if both.all() else exact & both  # (one array: reordered once)
            self.sources[name], self.valid[name] = resolver, resolved
            if given is not None:  # disclosed, even in rows where nothing asked for it
                shown = exact & chunk.present[name] & ~resolved
                if shown.any():
                    del self.sources[name]
                    self.data[name] = np.where(resolved, out.vec.data, given.data)
                    self.valid[name] = resolved | shown
        for name, k in self.index.items():
            out = resolver.outcomes.get(name)
            if out is None or name not in asked:
                continue
            rows = asked[name] & out.ok  # (a rule applied, or disclosed)
            if not rows.any():
                continue
            code = resolver.provenance_codes(name)
            if rows.all():  # (most fields: every row, or none)
                np.copyto(self.codes[k], code, casting="unsafe")
            else:
                np.copyto(self.codes[k], code, casting="unsafe", where=rows)
        if not exact.all():  # the rows not estimated here: their codes, if any, come later
            self.codes[:, np.flatnonzero(~exact)] = UNRESOLVED

    def result(self, i: int, result: Result) -> None:
        self.named[self.row(i)] = result.disclosure.id
        row = self.row(i)
        for name in self.layout.values:
            r = result.fields.get(name)
            value = r.value if r is not None else result.disclosure.values.get(name)
            if value is None:
                continue
            self.written[name][row] = self._encode(self.kinds[name], value)
        for name, r in result.fields.items():
            k = self.index.get(name)
            if k is None:
                continue
            if r.rule is None:
                code = 0
            else:
                rules = self.layout.ruleset.rules.get(name, ())
                code = 1 + next(j for j, rule in enumerate(rules) if rule is r.rule)
            self.codes[k][i] = code * 2 + (1 if r.warning else 0)

    def row(self, i: int) -> int:
        """The chunk's row that row i of the arrays holds."""
        return i if self.order is None else int(self.order[i])

    def error(self, i: int, exc: TuneprintError) -> None:
        self.refused(i, json.dumps([p.as_dict() for p in exc.problems], ensure_ascii=False))

    def refused(self, i: int, text: str) -> None:
        """Row i is an error: its problems, as JSON text."""
        self.errors[self.row(i)] = text
        self.failed[i] = True

    def patterns(self) -> tuple[np.ndarray, list[str], list[str | None]]:
        """Each row's pattern number, and each pattern's provenance and warnings as JSON."""
        codes = self.codes  # fields x rows
        if self.n == 0:
            return np.zeros(0, dtype=np.int32), [], []
        # rows come grouped: the distinct patterns are found among the first row of each
        # run of rows sharing one
        change = np.zeros(self.n, dtype=bool)
        change[:1] = True
        later = change[1:]
        for field in codes:  # (a field at a time: no fields x rows array of comparisons)
            later |= field[1:] != field[:-1]
        heads = np.flatnonzero(change)
        first, number = _distinct_columns(codes.take(heads, axis=1))  # (take: 4x indexing)
        first = heads.take(first)
        number = number.take(np.cumsum(change) - 1)
        known = self.layout.texts
        provenance: list[str] = []
        warnings: list[str | None] = []
        for pattern in np.ascontiguousarray(codes.take(first, axis=1).T):  # one pattern's codes
            key = pattern.tobytes()
            texts = known.get(key)
            if texts is None:
                texts = self.layout.pattern_texts(pattern)
                if len(known) < PATTERNS_KEPT:
                    known[key] = texts
            provenance.append(texts[0])
            warnings.append(texts[1])
        return number.astype(np.int32), provenance, warnings

    def _encode(self, kind: str, value: Any) -> Any:
        if kind in ("number", "integer"):
            return float(value)
        if kind in ("date", "datetime"):  # a time with its zone: its time there (what the
            # estimate took its year and month from: the row is rebuilt from it)
            return to_micros(value.replace(tzinfo=None)) if isinstance(value, datetime) else 0
        if kind == "boolean":
            return bool(value)
        return self.interner.code(str(plain(value)))

    def id_column(self) -> pa.Array:
        """The rows' ids: those read with the columns, and those of rows read again."""
        ids = self.ids
        if isinstance(ids, pa.Array):
            if not any(ids[i].as_py() != v for i, v in self.named.items()):
                return ids
            ids = ids.to_pylist()
        else:
            ids = list(ids)
        for i, value in self.named.items():
            ids[i] = value
        return arrays.texts(ids)

    def batch(self, rows: np.ndarray) -> pa.RecordBatch:
        """The output rows, in the chunk's order (``rows``: their numbers)."""
        rs = self.layout.ruleset
        order, places = self.order, self.places
        if order is not None and places is None:
            places = inverse_of(order)

        # by id, each array kept with what was made of it: columns share arrays (masks
        # above all), and each is reordered and made a bitmap once
        reordered: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        validities: dict[int, tuple[np.ndarray, arrays.Validity]] = {}

        def back(array: np.ndarray) -> np.ndarray:
            if order is None or places is None:
                return array
            found = reordered.get(id(array))
            if found is not None:
                return found[1]
            # the same in any order (most masks: every row, or none; a constant)
            put = array if _uniform(array) else moved(array, places, order)
            reordered[id(array)] = array, put
            return put

        # the masks of the rows each column holds, one array for each distinct content:
        # the columns' masks are made field by field, and a chunk of the benchmark's rows
        # has 26 arrays of 7 contents (each other array would be reordered and packed)
        masks: dict[int, list[np.ndarray]] = {}  # by the count of rows each holds

        def canonical(valid: np.ndarray) -> np.ndarray:
            same = masks.setdefault(int(np.count_nonzero(valid)), [])
            for seen in same:
                if seen is valid or np.array_equal(seen, valid):
                    return seen
            same.append(valid)
            return valid

        def validity(valid: np.ndarray) -> arrays.Validity:
            found = validities.get(id(valid))
            if found is None:
                found = validities[id(valid)] = valid, arrays.validity(valid)
            return found[1]

        columns: list[pa.Array] = [arrays.numbers(rows, pa.int64()), self.id_column()]
        for name in self.layout.values:
            kind, dtype = self.kinds[name], self.dtypes[name]
            valid = self.valid.get(name)
            if valid is not None:
                valid = canonical(valid)
            if valid is None or not valid.any():  # (all null)
                data, valid = np.zeros(self.n, dtype=dtype), np.zeros(self.n, dtype=bool)
            elif name in self.sources:  # the resolver's values, taken in the chunk's order
                source = self.sources[name]
                if order is None or places is None:
                    data = source.outcomes[name].vec.data
                else:
                    data, valid = source.values_in(name, places, order), back(valid)
            else:
                data = self.data.pop(name)
                if order is not None:
                    data, valid = back(data), back(valid)
            if name in self.sources:  # (its arrays freed before the next column is made)
                self.sources.pop(name).forget(name)
            data = np.asarray(data, dtype=dtype)
            written = self.written[name]
            if written:  # rows estimated one by one: into copies (the arrays may be shared)
                data, valid = data.copy(), valid.copy()
                where = np.fromiter(written, dtype=np.int64, count=len(written))
                data[where] = np.fromiter(written.values(), dtype=dtype, count=len(written))
                valid[where] = True
            bits = validity(valid)
            if kind == "integer":
                columns.append(arrays.numbers(arrays.zeroed(data, valid), pa.int64(), valid=bits))
            elif kind == "number":
                columns.append(arrays.numbers(data, pa.float64(), valid=bits))
            elif kind in ("date", "datetime"):
                columns.append(arrays.numbers(data, pa.timestamp("us"), valid=bits))
            elif kind == "boolean":
                columns.append(arrays.booleans(data, valid=bits))
            else:
                columns.append(_text_column(data, bits, valid, self.interner.texts))
        number, provenance, warnings = self.patterns()
        number, failed = back(number), back(self.failed)
        columns.append(_coded(number, provenance, failed))
        columns.append(_coded(number, warnings, failed))
        zeros = np.zeros(self.n, dtype=np.int32)
        columns.append(arrays.coded(zeros, [f"{rs.id}@{rs.version}"]))
        columns.append(arrays.coded(zeros, [rs.content_hash]))
        columns.append(arrays.sparse_texts(self.n, self.errors))
        return pa.RecordBatch.from_arrays(columns, schema=self.layout.schema())


__all__ = ["DATE", "NUM", "TEXT", "Layout", "estimate_chunk", "reachable"]
