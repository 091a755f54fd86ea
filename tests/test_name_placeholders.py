"""A name written for "not known" never becomes a real place or product (docs/data.md).

Names match punctuation- and Unicode-insensitively, and short codes (ISO alpha-2 and
alpha-3, "T4", "A10") once matched after folding too: "N/A" and "n/a" became Namibia (its
alpha-2 code "NA"), "ß" (casefolded "ss") South Sudan, in ``tuneprint estimate`` and both
batch engines, with no error. Now a placeholder matches no row, and a short name matches
only written exactly as a key or alias (ASCII, any case, spaces around it)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tuneprint import load_ruleset
from tuneprint.core.model import Ruleset, Table
from tuneprint.core.names import ambiguous, canonical_name, did_you_mean, normalise
from tuneprint.core.values import ValueProblem, match_name

from tests.conftest import LATEST, RULES, VERSIONS, write

PLACEHOLDERS = [
    "N/A",
    "n/a",
    "NA",
    "na",
    " NA ",
    "N.A.",
    "#N/A",
    "<NA>",
    "NaN",
    "none",
    "None",
    "NULL",
    "nil",
    "unknown",
    "Unknown",
    "TBD",
    "not applicable",
    "Not known",
    "undisclosed",
    "-",
    "--",
    "?",
    "...",
    "—",
]


@pytest.fixture(scope="module")
def every() -> dict[str, Ruleset]:
    return {v: load_ruleset(RULES / v) for v in VERSIONS}


@pytest.fixture(scope="module")
def latest() -> Ruleset:
    return load_ruleset(LATEST)


def name_tables(rs: Ruleset) -> dict[str, Table]:
    return {n: t for n, t in rs.tables.items() if t.names}


def refusal(table: Table, written: str) -> ValueProblem:
    with pytest.raises(ValueProblem) as caught:
        match_name(table, written)
    return caught.value


@pytest.mark.parametrize("written", ["N/A", "n/a", "#N/A", "<NA>"])
def test_n_slash_a_is_a_placeholder_not_namibia(latest: Ruleset, written: str) -> None:
    """The review's case: "N/A" folded to "na", Namibia's alpha-2 code."""
    countries = latest.tables["countries"]
    assert canonical_name(countries, written) is None
    problem = refusal(countries, written)
    assert problem.code == "unknown-name"
    assert "reads as a placeholder, not a name: leave the value out" in str(problem)
    assert "NAM" not in str(problem)  # no nudge towards Namibia


@pytest.mark.parametrize("written", ["ß", "ẞ", " ß ", "ﬆ"])
def test_unicode_folded_into_a_code_matches_nothing(latest: Ruleset, written: str) -> None:
    """ "ß" casefolds to "ss", South Sudan's alpha-2 code; "ﬆ" (a ligature) to "st"."""
    countries = latest.tables["countries"]
    assert canonical_name(countries, written) is None
    assert refusal(countries, written).code == "unknown-name"


def test_na_written_exactly_is_refused_with_namibias_names(latest: Ruleset) -> None:
    """ "NA" is Namibia's alpha-2 code but data files write it for a missing value (R,
    pandas): refused, the message naming the row it would have been; Namibia is written
    NAM or Namibia."""
    countries = latest.tables["countries"]
    for written in ("NA", "na", " Na ", "N.A.", "n.a."):  # (an abbreviation's dots: "NA")
        assert canonical_name(countries, written) is None, written
        message = str(refusal(countries, written))
        assert "reads as a placeholder" in message and "or write 'NAM'" in message, message
    for written in ("NAM", "nam", "Namibia", " namibia "):
        assert match_name(countries, written) == "NAM", written


def test_no_placeholder_matches_a_row_of_any_table(every: dict[str, Ruleset]) -> None:
    for version, rs in every.items():
        for name, table in name_tables(rs).items():
            for written in PLACEHOLDERS:
                assert canonical_name(table, written) is None, (version, name, written)
                assert ambiguous(table, written) == (), (version, name, written)
                message = str(refusal(table, written))
                assert "reads as a placeholder" in message, (version, name, message)


def test_placeholders_get_no_suggestions_by_spelling(latest: Ruleset) -> None:
    folded = latest.tables["countries"].folded
    assert did_you_mean("N/A", folded).startswith("; it reads as a placeholder")
    assert "did you mean" not in did_you_mean("unknown", folded)
    assert did_you_mean("Franse", folded).startswith("; did you mean 'FRA'")


@pytest.mark.parametrize(
    ("table", "written", "key"),
    [
        ("countries", "FR", "FRA"),
        ("countries", " fr ", "FRA"),
        ("countries", "fra", "FRA"),
        ("countries", "SS", "SSD"),
        ("countries", "ss", "SSD"),
        ("countries", "US", "USA"),
        ("gpus", "T4", "nvidia-t4"),
        ("gpus", "t4", "nvidia-t4"),
        ("gpus", "A10", "nvidia-a10"),
        ("base_models", "T5", "t5"),
        ("process_nodes", "N7", "7nm"),
        ("servers", "v4-8", "gcp-tpu-v4-host"),
        ("servers", "V4-8", "gcp-tpu-v4-host"),
        ("cloud_providers", "AWS", "aws"),
        ("countries", "U.S.", "USA"),  # an abbreviation's dots
        ("countries", "u.s.a.", "USA"),
        ("countries", "F.R.", "FRA"),
        ("countries", "U. S.", "USA"),  # separators between its letters, a dot after
        ("countries", "USA.", "USA"),
        ("countries", "Fr.", "FRA"),
        ("gpus", "T-4", "nvidia-t4"),
        ("gpus", "a-10", "nvidia-a10"),
        ("gpus", "T 4", "nvidia-t4"),
        ("base_models", "T-5", "t5"),
        ("servers", "v48", "gcp-tpu-v4-host"),
    ],
)
def test_a_short_code_written_exactly_matches(
    latest: Ruleset, table: str, written: str, key: str
) -> None:
    assert match_name(latest.tables[table], written) == key


@pytest.mark.parametrize(
    ("table", "written"),
    [
        ("countries", "U/S"),
        ("countries", "(US)"),
        ("countries", "ＦＲ"),  # full-width
        ("gpus", "Ｔ４"),
        ("gpus", "T4+"),
        ("process_nodes", "n#7"),
    ],
)
def test_a_short_code_is_not_matched_after_folding(
    latest: Ruleset, table: str, written: str
) -> None:
    """Refused as unknown, the code offered by spelling."""
    t = latest.tables[table]
    assert canonical_name(t, written) is None
    assert ambiguous(t, written) == ()
    message = str(refusal(t, written))
    assert "did you mean" in message, message


def test_long_names_still_match_folded(latest: Ruleset) -> None:
    assert match_name(latest.tables["gpus"], "a100-80gb") == match_name(
        latest.tables["gpus"], "A100 80GB"
    )
    assert match_name(latest.tables["countries"], "Ｆｒａｎｃｅ") == "FRA"
    assert match_name(latest.tables["countries"], "cote d'ivoire") == "CIV"
    regions = latest.tables["cloud_regions"]
    assert match_name(regions, "US West (Oregon)") == "aws-us-west-2"
    assert match_name(regions, "us west oregon") == "aws-us-west-2"


def test_every_key_and_alias_written_as_declared_still_matches(
    every: dict[str, Ruleset],
) -> None:
    """No table's written form stops matching (in any case, spaces around it), save the
    placeholder "NA"; every one that does not match any more after folding is short."""
    for version, rs in every.items():
        for name, table in name_tables(rs).items():
            for row in table.rows:
                key = str(row.key[0])
                for alias in (key, *row.aliases):
                    for written in (alias, alias.lower(), alias.upper(), f" {alias} "):
                        if normalise(alias) == "na":
                            assert canonical_name(table, written) is None
                            continue
                        found = canonical_name(table, written)
                        assert found == key, (version, name, alias, written, found)


def test_the_commands_refuse_placeholders_in_every_engine(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    """The review's reproduction: ``estimate`` and ``batch`` with both engines."""
    head = "id,base_model,gpu_model,country,training_tokens,start_time\n"
    cells = "Llama 3 8B,A100 80GB,{},50000000,2024-07-06\n"
    countries = {"france": "France", "na": "N/A", "sharp-s": "ß", "slash": "n/a", "bare": "NA"}
    source = write(
        tmp_path / "in.csv",
        head + "".join(f"{i}," + cells.format(c) for i, c in countries.items()),
    )
    seen = {}
    for engine in ("vector", "rows"):
        out = tmp_path / f"out-{engine}.csv"
        cli("batch", "--engine", engine, source, out)  # rows with errors: exit 0
        with out.open(encoding="utf-8") as f:
            rows = {r["id"]: r for r in csv.DictReader(f)}
        assert rows["france"]["country"] == "FRA"
        for i in ("na", "sharp-s", "slash", "bare"):
            assert rows[i]["country"] == "", (engine, i, rows[i]["country"])
            problem = json.loads(rows[i]["error"])[0]
            assert (problem["field"], problem["code"]) == ("country", "unknown-name")
        seen[engine] = {i: (r["country"], r["error"]) for i, r in rows.items()}
    assert seen["vector"] == seen["rows"]
    code, out, err = cli("estimate", source)
    assert code != 0
    assert "NAM" not in out and "SSD" not in out
    assert err.count("reads as a placeholder") == 3, err
