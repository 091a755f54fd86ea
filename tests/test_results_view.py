"""The result at a glance (estimate's table, Markdown and CSV), explain's depth, what-if,
and the help: every line fits 80 columns, marks follow the assumptions, digits follow
the ruleset."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from tuneprint import estimate, load_ruleset
from tuneprint.cli import run
from tuneprint.core.problems import TuneprintError
from tuneprint.views import summary

from tests.conftest import FIXTURES, RULES, VERSIONS

CASES = sorted(FIXTURES.glob("case_*.yaml"))
CASE_C = str(FIXTURES / "case_c_seed_disclosure.yaml")
PAIRS = [(v, c) for v in VERSIONS for c in CASES]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(argv)
    got = capsys.readouterr()
    return code, got.out, got.err


@pytest.mark.parametrize(("version", "case"), PAIRS, ids=[f"{v}/{c.stem}" for v, c in PAIRS])
@pytest.mark.parametrize("command", ["estimate", "explain"])
def test_every_line_fits_80_columns(
    version: str, case: object, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run([command, str(case), "--rules", str(RULES / version)], capsys)
    if code == 2 and "cannot resolve" in (out + err):
        pytest.skip("a fixture this ruleset cannot resolve")
    assert code == 0, err
    assert out.strip()
    # a word longer than a line (a URL, a file path) is kept whole, on a line of its own
    long = [line for line in out.splitlines() if len(line) > 80 and len(line.split()) > 1]
    assert not long, long


def test_a_long_rule_path_stays_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A rule's file path longer than a line is printed whole, on a line of its own, so
    that it can be copied (folding it would break it in two)."""
    folder = tmp_path / ("a-folder-with-a-long-name-" * 3) / "rules"
    shutil.copytree(RULES / "1.0", folder)
    code, out, err = _run(["explain", CASE_C, "use_life_days", "--rules", str(folder)], capsys)
    assert code == 0, err
    path = f"{folder / 'normalize' / 'usage.yaml'}:"
    assert len(path) > 80
    assert any(line.strip().startswith(path) for line in out.splitlines()), out


def test_marks_follow_assumptions_through_inputs() -> None:
    rs = load_ruleset(RULES / "2.4")
    result = estimate(CASE_C, rs)
    marks = summary.marks(result)
    for name, r in result.fields.items():
        if r.rule is None:
            assert marks[name] == "disclosed"
        elif r.rule.assumption:
            assert marks[name] == "assumed"
        else:
            deps = [d for d in (*r.inputs, *r.rule.disclosed_inputs) if d in result.fields]
            want = "assumed" if any(marks[d] == "assumed" for d in deps) else "derived"
            assert marks[name] == want, name
    assert marks["inferences_per_day"] == "assumed"
    assert marks["gpu_count"] == "disclosed"
    assert marks["country"] == "derived"


def test_assumed_share_is_the_assumed_additive_parts() -> None:
    rs = load_ruleset(RULES / "2.4")
    b = estimate(FIXTURES / "case_b_bloom_training_page.yaml", rs)
    marks = summary.marks(b)
    assert marks["operational_emissions_kgco2e"] == "derived"
    assert marks["embodied_emissions_kgco2e"] == "assumed"
    share = summary.assumed_share(b)
    total = b.value("total_emissions_kgco2e")
    assert share == pytest.approx(b.value("embodied_emissions_kgco2e") / total)
    a = estimate(FIXTURES / "case_a_seed_amortisation.yaml", rs)  # totals disclosed
    assert summary.assumed_share(a) == 0.0
    text = summary.table_text(b)
    assert f"{share * 100:.1f}% of the total emissions" in text


def test_digits_come_from_the_ruleset_and_drop_when_mostly_assumed() -> None:
    assert summary.ruleset_digits(load_ruleset(RULES / "2.4")) == 3  # display: in 2.4
    assert summary.ruleset_digits(load_ruleset(RULES / "2.3")) == summary.DEFAULT_DIGITS
    rs = load_ruleset(RULES / "2.4")
    b = estimate(FIXTURES / "case_b_bloom_training_page.yaml", rs)  # 41.5% assumed
    d = estimate(FIXTURES / "case_d_seed_bedrock.yaml", rs)  # all assumed
    assert summary.display_digits(b) == 3 and summary.display_digits(d) == 2
    total = b.value("total_emissions_kgco2e")
    assert summary.number_text(total, 3) in summary.table_text(b)
    assert summary.number_text(d.value("total_emissions_kgco2e"), 2) in summary.table_text(d)
    assert summary.number_text(1234.5, 3) == "1,230"
    assert summary.number_text(0.012616, 2) == "0.013"
    assert summary.number_text(1.0, 3) == "1.00"
    # JSON keeps every digit
    doc = b.to_json()
    assert doc["outputs"]["total_emissions_kgco2e"]["value"] == total


def test_table_lists_totals_first_warnings_and_what_per_inference_rests_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(["estimate", str(FIXTURES / "case_d_seed_bedrock.yaml")], capsys)
    assert code == 0
    lines = out.splitlines()
    rs = load_ruleset()
    assert f"content hash {rs.content_hash[:12]}" in out
    first = next(i for i, ln in enumerate(lines) if ln.startswith("  total_"))
    assert first <= 4  # after the disclosure and the ruleset in words
    assert [ln.split()[0] for ln in lines[first : first + 4]] == list(rs.outputs)
    flat = " ".join(out.split())
    assert "1,000 inferences a day (assumed)" in flat
    assert "use life of 365 d (assumed)" in flat
    assert "key: disclosed = given in the disclosure" in flat
    assert "\nwarnings:\n  gpu_utilization: " in out


def test_gpu_energy_is_reported_in_24(capsys: pytest.CaptureFixture[str]) -> None:
    result = estimate(CASE_C, RULES / "2.4", report=True)
    code, out, _ = _run(["estimate", CASE_C, "--rules", "2.4", "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["fields"]["gpu_energy_kwh"]["unit"] == "kWh"
    assert 0 < doc["fields"]["gpu_energy_kwh"]["value"] < result.value("it_energy_kwh")
    assert "gpu_energy_kwh" in summary.table_text(result)


def test_markdown_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["estimate", CASE_C, "--rules", "2.4", "--format", "markdown"], capsys)
    assert code == 0
    assert "| Value | Amount | Status | Rule |" in out
    assert "| **total_emissions_kgco2e** | 4.6 kgCO2e | assumed |" in out
    code, out, _ = _run(
        ["estimate", CASE_C, str(FIXTURES / "case_d_seed_bedrock.yaml"), "--format", "csv"],
        capsys,
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(summary.CSV_COLUMNS)
    by = {(r["disclosure"], r["field"]): r for r in rows}
    total = by[("case-c-seed-disclosure", "total_emissions_kgco2e")]
    want = estimate(CASE_C).value("total_emissions_kgco2e")
    assert float(total["value"]) == want and total["unit"] == "kgCO2e"
    assert by[("case-c-seed-disclosure", "gpu_count")]["status"] == "disclosed"
    assert {r["status"] for r in rows} <= set(summary.MARKS)
    assert {r["disclosure"] for r in rows} == {"case-c-seed-disclosure", "case-d-seed-bedrock"}


def test_a_bad_format_or_depth_is_one_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["estimate", CASE_C, "--format", "yaml"], capsys)
    assert (code, out) == (2, "")
    assert err.count("error:") == 1 and "markdown or csv" in err
    code, out, err = _run(["explain", CASE_C, "--depth", "-1"], capsys)
    assert (code, out) == (2, "") and err.count("error:") == 1
    code, _, err = _run(["explain", CASE_C, "--depth", "two"], capsys)
    assert code == 2 and "Traceback" not in err


def test_explain_depth_hides_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    _, shallow, _ = _run(["explain", CASE_C, "--depth", "1"], capsys)
    _, default, _ = _run(["explain", CASE_C], capsys)
    _, deep, _ = _run(["explain", CASE_C, "--all"], capsys)
    assert "deeper steps are hidden (depth 1): --depth 2 or more" in shallow
    assert "(depth 2): --depth 3 or more shows them, --all" in default
    assert "deeper step" not in deep
    assert len(shallow) < len(default) < len(deep)
    assert "facility_energy_kwh.pue" in deep and "  it_energy_kwh = " in deep
    lines = (shallow + default + deep).splitlines()
    assert all(len(ln) <= 80 or len(ln.split()) == 1 for ln in lines)  # (a long URL: whole)


def test_what_if_prints_like_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["what-if", CASE_C, "--set", "gpu_count=8", "--rules", "2.4"], capsys)
    assert code == 0
    assert "None" not in out
    assert "content hash" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("  total_emissions_kgco2e:"))
    assert re.fullmatch(
        r"  total_emissions_kgco2e: [\d.,]+ kgCO2e -> [\d.,]+ kgCO2e \([+-]\d+\.\d%\)", line
    ), line
    assert all(len(ln) <= 80 for ln in out.splitlines())


@pytest.mark.parametrize(
    "argv",
    [["-h"], ["estimate", "-h"], ["explain", "-h"], ["rules", "check", "-h"], ["batch", "-h"]],
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(argv, capsys)
    assert code == 0 and out.startswith("Usage: tuneprint")
    assert "<" not in out and "list[" not in out
    assert all(len(ln) <= 80 for ln in out.splitlines())
    assert "..." not in out.split("Commands:")[1] if "Commands:" in out else True


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from tuneprint import __version__

    assert _run(["--version"], capsys) == (0, f"{__version__}\n", "")


def test_json_result_still_matches_the_schema() -> None:
    import jsonschema

    schema = json.loads((RULES.parent / "schemas" / "result.schema.json").read_text())
    for version in ("2.3", "2.4"):
        try:
            doc = estimate(CASE_C, RULES / version).to_json()
        except TuneprintError:
            continue
        jsonschema.validate(doc, schema)
