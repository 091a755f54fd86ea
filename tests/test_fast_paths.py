"""The fast paths never lie: a field's generated value test accepts only values the full
check (``coerce``) returns unchanged, a document the quick shape test passes is one the
JSON Schema of disclosures accepts, and a year series found by the keys as written is the
one found by their folded form, with the memory it takes bounded."""

from __future__ import annotations

import contextlib
import math
from datetime import datetime
from typing import Any

import pytest
import tuneprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tuneprint.core import tables
from tuneprint.core.model import Ruleset
from tuneprint.core.values import ValueProblem, coerce
from tuneprint.load.disclosures import disclosure_from_mapping, well_formed
from tuneprint.load.schemas import check

from tests.conftest import RULES, VERSIONS

RULESETS: dict[str, Ruleset] = {}


def ruleset(version: str) -> Ruleset:
    if version not in RULESETS:
        RULESETS[version] = tuneprint.load_ruleset(RULES / version)
    return RULESETS[version]


def near_values(rs: Ruleset, name: str) -> st.SearchStrategy[Any]:
    """Values at and around what a field allows: its bounds and their neighbours, whole
    floats for integers, row keys and their look-alikes for names, choices in other cases."""
    spec = rs.fields[name]
    edges: list[Any] = [0, 1, -1, 0.5, 1e308, 2**70, math.nan, math.inf, True, False, ""]
    for bound in (spec.minimum, spec.exclusive_minimum, spec.maximum):
        if bound is not None:
            up, down = math.nextafter(bound, math.inf), math.nextafter(bound, -math.inf)
            edges += [bound, float(bound), up, down, int(bound) + 1, int(bound) - 1]
    if spec.type == "name":
        keys = [row.key[0] for row in rs.tables[spec.table or ""].rows]
        edges += keys[:20] + [k.lower() for k in keys[:5]] + [k + "\u200b" for k in keys[:3]]
    if spec.choices:
        edges += list(spec.choices) + [c.upper() for c in spec.choices]
    edges += ["2024-07-06", datetime(2024, 7, 6), "x" * 5000]
    containers = st.one_of(  # (a typed batch column can hold them: the check refuses them)
        st.lists(st.sampled_from(edges), max_size=2),
        st.dictionaries(st.text(max_size=3), st.sampled_from(edges), max_size=2),
    )
    return st.one_of(
        st.sampled_from(edges), st.floats(), st.integers(), st.text(max_size=8), containers
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_a_value_test_accepts_only_what_the_check_returns_unchanged(version: str) -> None:
    rs = ruleset(version)
    assert rs.accepts, "value tests are generated"
    names = sorted(rs.accepts)

    @settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(names).flatmap(lambda n: st.tuples(st.just(n), near_values(rs, n))))
    def holds(case: tuple[str, Any]) -> None:
        name, value = case
        if not rs.accepts[name](value):  # type: ignore[index]
            return
        try:
            checked = coerce(rs.fields[name], value, rs.tables)
        except ValueProblem as exc:
            message = f"{name}: accepted {value!r}, the check refuses it: {exc}"
            raise AssertionError(message) from None
        assert checked == value and type(checked) is type(value), (name, value, checked)

    holds()


def test_the_value_tests_see_a_difference() -> None:
    """The property above is not vacuous: the tests accept common values and refuse bad ones."""
    rs = ruleset(VERSIONS[-1])
    accepts = rs.accepts or {}
    assert accepts["gpu_count"](8) and not accepts["gpu_count"](-8)
    assert not accepts["gpu_count"](8.0), "a float integer is converted by the check"
    assert not accepts["pue"](math.nan) and not accepts["pue"](True)
    name = rs.tables[rs.fields["gpu_model"].table or ""].rows[0].key[0]
    assert accepts["gpu_model"](name) and not accepts["gpu_model"]([name])  # (no TypeError)


scalars = st.one_of(st.text(max_size=5), st.integers(), st.floats(), st.booleans(), st.none())
entries = st.one_of(
    scalars,
    st.dictionaries(st.sampled_from(["value", "source", "unit"]), scalars, max_size=3),
    st.lists(scalars, max_size=2),
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"values": st.dictionaries(st.text(max_size=6), entries, max_size=4)},
        optional={"id": scalars, "source": scalars, "extra": scalars},
    ),
    st.dictionaries(st.text(max_size=4), entries, max_size=3),
    scalars,
)


@settings(deadline=None, max_examples=400)
@given(documents)
def test_the_quick_shape_test_passes_only_what_the_schema_accepts(doc: Any) -> None:
    if well_formed(doc):
        assert check("disclosure", doc, "generated") == []


def test_values_taken_by_the_value_test_are_the_values_the_check_gives() -> None:
    """A disclosure read through the fast path equals one read through the full check."""
    rs = ruleset(VERSIONS[-1])
    values = {"gpu_count": 8, "pue": 1.2, "gpu_model": "H100 SXM5 80GB", "reserved_hours": 10}
    values = {k: v for k, v in values.items() if k in rs.fields}
    fast = disclosure_from_mapping(values, "x", rs)
    slow = {k: coerce(rs.fields[k], v, rs.tables) for k, v in values.items()}
    assert fast.values == slow


def test_a_year_series_is_the_same_by_written_and_folded_keys() -> None:
    rs = ruleset(VERSIONS[-1])
    table = next(t for t in rs.tables.values() if t.years)
    prefix, years = next(iter(table.years.items()))
    column = next(c for c in table.columns if years[0][1].values.get(c) is not None)
    written = tuple(k.upper() + " " if isinstance(k, str) else k for k in prefix)
    year = years[0][0]
    folded: list[object] = []
    as_written: list[object] = []
    first = tables.lookup_year(table, (*prefix, year), column, folded)
    again = tables.lookup_year(table, (*written, year), column, as_written)
    assert first == again and folded == as_written


def test_the_series_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    rs = tuneprint.load_ruleset(RULES / VERSIONS[-1])  # its own copy: the bound is global
    table = next(t for t in rs.tables.values() if t.years and len(next(iter(t.years))) == 1)
    prefix = next(iter(table.years))
    column = next(iter(table.columns))
    monkeypatch.setattr(tables, "MAX_SERIES", len(table.series) + 10)
    for i in range(200):
        key = prefix[0] + " " * (i % 7) if isinstance(prefix[0], str) else prefix[0]
        with contextlib.suppress(tables.NotApplicable):
            tables.lookup_year(table, (key.upper() if i % 2 else key, 2020 + i), column, [])
        with contextlib.suppress(tables.NotApplicable):
            tables.lookup_year(table, (f"no such {i}", 2020), column, [])
    assert len(table.series) <= tables.MAX_SERIES + 1


@pytest.mark.parametrize("reference", [False, True])
def test_an_estimate_leaves_no_cyclic_garbage(reference: bool) -> None:
    """A skipped rule keeps the exception that says why, not its traceback, whose frames
    would tie the estimate's state in cycles only the garbage collector frees."""
    import gc

    from tuneprint.core.resolve import estimate

    from tests.conftest import FIXTURES

    rs = ruleset(VERSIONS[-1])
    for path in sorted(FIXTURES.glob("case_*.yaml")):
        disclosure = tuneprint.read_disclosure(path, rs)
        estimate(rs, disclosure, reference=reference)
        gc.collect()
        gc.disable()
        try:
            for _ in range(5):
                estimate(rs, disclosure, reference=reference)
            assert gc.collect() == 0, path.name
        finally:
            gc.enable()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet="abcxyz-019 _", max_size=14),
    st.lists(st.text(alphabet="abcdxyz-0129 ", max_size=18), max_size=40, unique=True),
    st.integers(1, 9),
    st.sampled_from([0.0, 0.3, 0.5, 0.6, 0.9, 1.0]),
)
def test_close_matches_are_difflibs(word: str, names: list[str], n: int, cutoff: float) -> None:
    """The suggestions' matcher gives difflib's get_close_matches list, order and ties
    included, for any word, names, count and cutoff (its bounds are difflib's own)."""
    import difflib

    from tuneprint.core.names import close_matches

    assert close_matches(word, tuple(names), n, cutoff) == difflib.get_close_matches(
        word, names, n, cutoff
    )
