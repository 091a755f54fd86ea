"""The validation suite of measured runs and ``tuneprint validate``: the suite's data is
well-formed, each case is compared at its own boundary, cases far off are reported with
their warnings, and no group's median gets worse than the figure docs/validation.md states."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tuneprint import load_ruleset
from tuneprint.core.problems import InputError
from tuneprint.load.disclosures import disclosure_from_document
from tuneprint.validation import (
    Suite,
    load_suite,
    load_thresholds,
    run,
    summary,
    threshold_failures,
)
from tuneprint.validation.report import FAR_OFF, run_case

from tests.conftest import LATEST, ROOT, RULES, write

Cli = Callable[..., tuple[int, str, str]]
SUITE = ROOT / "validation"


@pytest.fixture(scope="module")
def suite() -> Suite:
    return load_suite(SUITE)


def test_suite_holds_at_least_thirty_sourced_cases(suite: Suite) -> None:
    assert len(suite.cases) >= 30
    for case in suite.cases:
        assert case.quote and case.where and case.source in suite.sources
        src = suite.sources[case.source]
        assert src["citation"] and src["url"] and src["licence"]
        assert case.role in ("fit", "validation")
        assert case.held_out == (not case.fitted_in)
    for key, group in suite.groups.items():
        assert suite.in_group(key) or group.empty_because


def test_every_case_is_a_valid_disclosure_of_the_newest_ruleset(suite: Suite) -> None:
    rs = load_ruleset(LATEST)
    for case in suite.cases:
        disclosure_from_document({"values": case.values}, case.id, rs)
        assert suite.boundaries[case.boundary].field in rs.fields


def test_held_out_cases_exist_in_every_group_with_cases(suite: Suite) -> None:
    for key in suite.groups:
        cases = suite.in_group(key)
        if cases:
            assert any(c.held_out for c in cases), key


def _mini_suite(tmp_path: Path, boundary: str, measured: float, values: str) -> Path:
    (tmp_path / "cases").mkdir(parents=True)
    write(
        tmp_path / "suite.yaml",
        """groups:
  g: {title: a group, description: cases}
  empty: {title: none yet, description: nothing, empty_because: no source}
boundaries:
  gpu_only: {field: gpu_energy_kwh, description: GPUs alone}
  gpu_cpu_ram: {field: it_energy_kwh, description: GPU CPU RAM}
  facility: {field: facility_energy_kwh, description: with PUE}
""",
    )
    write(
        tmp_path / "cases" / "src.yaml",
        f"""source: {{citation: a paper, url: https://example.org, licence: CC BY 4.0}}
cases:
  - id: one
    group: g
    role: validation
    confidence: high
    description: one run
    where: table 1
    quote: ["1 x A100 80GB, 10 h"]
    values: {{{values}}}
    measured: {{value: {measured}, unit: kWh, boundary: {boundary}, components: {{gpu_only: 2.0}}}}
""",
    )
    return tmp_path


BASE = "gpu_model: A100 80GB, gpu_count: 1, reserved_hours: 10, base_model_params: 7.0e+9"


def test_each_boundary_compares_its_own_field(tmp_path: Path) -> None:
    rs = load_ruleset("2.3")
    for boundary, field in (
        ("gpu_only", "gpu_energy_kwh"),
        ("gpu_cpu_ram", "it_energy_kwh"),
        ("facility", "facility_energy_kwh"),
    ):
        folder = _mini_suite(tmp_path / boundary, boundary, 3.0, BASE)
        s = load_suite(folder)
        (outcome,) = run(s, rs)
        assert outcome.field == field
        from tuneprint import estimate

        est = estimate({"values": s.cases[0].values}, rs, extra=(field, "gpu_energy_kwh"))
        assert outcome.estimate == pytest.approx(est[field].value)
        assert outcome.error == pytest.approx((est[field].value - 3.0) / 3.0)
        (part,) = outcome.components
        assert part.field == "gpu_energy_kwh"
        assert part.estimate == pytest.approx(est["gpu_energy_kwh"].value)
        assert outcome.in_range is None  # no estimate has a range yet


def test_far_off_cases_carry_their_warnings(tmp_path: Path) -> None:
    rs = load_ruleset("2.3")
    # a 70B model is outside the 2.3 utilisation fit, which warns; a tiny measured figure
    # makes the estimate more than a factor of two too high
    values = BASE.replace("7.0e+9", "7.0e+10")
    s = load_suite(_mini_suite(tmp_path, "gpu_only", 0.01, values))
    outcome = run_case(s, rs, s.cases[0])
    assert outcome.far_off and outcome.estimate / 0.01 > FAR_OFF
    assert any(f == "gpu_utilization" for f, _ in outcome.warnings)
    group = summary(s, [outcome])["g"]
    assert group["far_off"] == [{"case": "one", "error": outcome.error, "warned": True}]
    assert summary(s, [outcome])["empty"]["empty_because"] == "no source"


def test_a_case_the_ruleset_cannot_estimate_is_reported_not_dropped(tmp_path: Path) -> None:
    rs = load_ruleset("2.3")
    s = load_suite(_mini_suite(tmp_path, "gpu_only", 1.0, BASE + ", gpu_tdp_w: -5"))
    (outcome,) = run(s, rs)
    assert outcome.estimate is None and "gpu_tdp_w" in (outcome.problem or "")
    g = summary(s, [outcome])["g"]
    assert g["not_estimated"] == ["one"] and g["median_abs_error"] is None
    # a ruleset without the boundary's field says so
    s = load_suite(_mini_suite(tmp_path / "old", "gpu_only", 1.0, BASE))
    (outcome,) = run(s, load_ruleset("1.0"))
    assert outcome.problem == "the ruleset has no field gpu_energy_kwh for boundary gpu_only"


def test_bad_suites_name_file_and_line(tmp_path: Path) -> None:
    folder = _mini_suite(tmp_path, "no_such_boundary", 1.0, BASE)
    with pytest.raises(InputError) as info:
        load_suite(folder)
    (problem,) = info.value.problems
    assert problem.file.endswith("src.yaml") and problem.line == 3
    assert "unknown boundary 'no_such_boundary'" in problem.message
    text = (folder / "suite.yaml").read_text(encoding="utf-8")
    write(folder / "suite.yaml", text.replace(", empty_because: no source", ""))
    (folder / "cases" / "src.yaml").unlink()
    write(
        folder / "cases" / "src.yaml",
        "source: {citation: a, url: b, licence: c}\ncases:\n  - {id: x}\n",
    )
    with pytest.raises(InputError) as info:
        load_suite(folder)
    assert "is required" in str(info.value)


def test_validate_command(cli: Cli, tmp_path: Path) -> None:
    folder = _mini_suite(tmp_path, "gpu_only", 3.0, BASE)
    code, out, _ = cli("validate", "--rules", "2.3", "--suite", folder)
    assert code == 0
    assert "a group (1 cases, 0 used in fitting)" in out
    assert "gpu_only" in out and "no range" in out and "median |error|" in out
    assert "no case: no source" in out
    code, out, _ = cli("validate", "--rules", "2.3", "--suite", folder, "--format", "json")
    doc = json.loads(out)
    assert doc["cases"][0]["boundary"] == "gpu_only"
    assert doc["cases"][0]["in_range"] == "no range"
    assert doc["groups"]["g"]["estimated"] == 1
    code, _, err = cli("validate", "--rules", "2.3", "--suite", folder, "--group", "nope")
    assert code == 2 and "unknown group" in err
    code, _, err = cli("validate", "--suite", tmp_path / "missing")
    assert code == 2 and "no validation suite here" in err


def test_diff_on_the_suite_names_what_moved_each_case(cli: Cli, tmp_path: Path) -> None:
    from tuneprint.validation.compare import by_change, by_group, compare

    shared = str(RULES / "2.4")  # the version whose changelog entry is checked

    folder = _mini_suite(tmp_path, "gpu_cpu_ram", 3.0, BASE)
    s = load_suite(folder)
    old, new = load_ruleset("2.3"), load_ruleset(shared)
    (change,) = compare(s, old, new)
    assert change.moved and "rule server_share.gpus_over_slots" in change.causes
    assert change.old.error is not None and change.new.error is not None
    group = by_group(s, [change])["g"]
    assert group["both_estimated"] == 1
    assert group["new_median_abs_error"] == pytest.approx(abs(change.new.error))
    entries = {e["change"]: e for e in by_change(new, [change])}
    share = next(e for k, e in entries.items() if k.startswith("a job on fewer GPUs"))
    assert share["cases"] == ["one"]
    code, out, _ = cli("diff", "--rules", "2.3", "--rules", shared, "--suite", folder)
    assert code == 0 and "~ one" in out and "because rule server_share.gpus_over_slots" in out
    code, out, _ = cli(
        "diff", "--rules", "2.3", "--rules", shared, "--suite", folder, "--format", "json"
    )
    assert json.loads(out)["cases"][0]["moved"] is True
    code, _, err = cli("diff", "--rules", "2.3", "--rules", shared)
    assert code == 2 and "give disclosure files, or --suite" in err


THRESHOLDS = load_thresholds(SUITE)
STATING = [ROOT / "docs" / "validation.md", ROOT / "README.md"]


@pytest.mark.parametrize("version", sorted(THRESHOLDS))
def test_no_group_median_gets_worse_than_the_docs_state(suite: Suite, version: str) -> None:
    """The suite under each ruleset the thresholds name: every group's median |error| is
    at most its threshold, and docs/validation.md and the README state exactly those
    thresholds."""
    groups = summary(suite, run(suite, load_ruleset(ROOT / "rules" / version)))
    assert threshold_failures(groups, THRESHOLDS[version]) == []
    for doc in STATING:
        lines = doc.read_text(encoding="utf-8").splitlines()
        header = next(line for line in lines if line.startswith("| group (cases)"))
        names = [c.strip().removesuffix(" (draft)") for c in header.strip("|").split("|")]
        column = names.index(f"ruleset {version}")
        for group, limit in THRESHOLDS[version].items():
            title = suite.groups[group].title
            row = next(x for x in lines if x.startswith(f"| {title} ("))
            cell = [c.strip() for c in row.strip("|").split("|")][column]
            assert cell.startswith(f"{limit:.1%}"), (doc.name, version, group, cell)


def test_a_worse_median_fails_the_threshold() -> None:
    groups = {"g": {"median_abs_error": 0.31}, "h": {"median_abs_error": None}}
    assert threshold_failures(groups, {"g": 0.30}) == [
        "g: median |error| 31.0% is worse than 30.0%"
    ]
    assert threshold_failures(groups, {"g": 0.31, "h": 0.1}) == [
        "h: no case estimated (threshold 10.0%)"
    ]


def test_an_earlier_version_leaves_out_fields_it_does_not_declare(tmp_path: Path) -> None:
    """A case stating a field a later version added (2.4's training_precision) is still
    estimated by 2.3, without it; the field is checked against the newest ruleset."""
    case = next(c for c in load_suite(SUITE).cases if "training_precision" in c.values)
    v23 = load_ruleset(ROOT / "rules" / "2.3")
    assert "training_precision" not in v23.fields
    outcome = run_case(load_suite(SUITE), v23, case)
    assert outcome.problem is None and outcome.estimate is not None
