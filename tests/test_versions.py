"""Versions an auditor can change and compare: extension, release manifests, rule and
result diffs, what-if, lint, and the auditor's workflow end to end."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tuneprint import load_ruleset
from tuneprint.core.problems import RulesetError
from tuneprint.core.resolve import estimate
from tuneprint.load.disclosures import load_disclosure
from tuneprint.load.layers import manifest_problems, write_manifest
from tuneprint.versions.diff import ruleset_diff
from tuneprint.versions.lint import lint

from tests.conftest import FIXTURES, RULES
from tests.minirules import build

Cli = Callable[..., tuple[int, str, str]]
CASES = sorted(FIXTURES.glob("case_*.yaml"))


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def child(tmp_path: Path, parent: Path, manifest: dict, files: dict[str, object]) -> Path:
    folder = tmp_path / "child"
    folder.mkdir()
    doc = {"id": "mini", "version": "0.2", "description": "child", "extends": "../rs", **manifest}
    (folder / "ruleset.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return folder


BASE = [
    {"id": "c.from_a", "sets": "c", "priority": 10, "value": "a * 2"},
    {"id": "c.row", "sets": "c", "priority": 20, "value": 'lookup("things", n, "power")'},
]


def test_a_version_holds_only_what_changes(tmp_path: Path) -> None:
    build(tmp_path / "rs", BASE)
    folder = child(
        tmp_path,
        tmp_path / "rs",
        {"remove_rules": ["c.from_a"]},
        {
            "normalize/more.yaml": {
                "rules": [
                    {
                        "id": "c.row",
                        "sets": "c",
                        "priority": 20,
                        "reason": "r",
                        "source": "s",
                        "value": 'lookup("things", n, "power") + 1',
                    },
                ]
            },
            "tables/things.yaml": {
                "table": "things",
                "rows": [
                    {"thing": "small-one", "power": 6, "source": "s"},
                    {"thing": "new-one", "power": 9, "source": "s"},
                ],
            },
        },
    )
    rs = load_ruleset(folder)
    assert rs.version == "0.2" and rs.extends == "../rs"
    assert [r.id for r in rs.rules["c"]] == ["c.row"]
    assert rs.rules["c"][0].value.text.endswith("+ 1")
    assert str(rs.rules["c"][0].at).startswith("0.2/normalize/more.yaml:")
    rows = {r.key[0]: r.values["power"] for r in rs.tables["things"].rows}
    assert rows == {"big-one": 50, "small-one": 6, "new-one": 9}
    assert rs.outputs == ("c",)  # inherited


def test_content_hash_covers_the_parent(tmp_path: Path) -> None:
    build(tmp_path / "rs", BASE)
    folder = child(tmp_path, tmp_path / "rs", {}, {})
    before = load_ruleset(folder).content_hash
    sources = tmp_path / "rs" / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert load_ruleset(folder).content_hash != before


def test_removing_an_unknown_rule_is_an_error(tmp_path: Path) -> None:
    build(tmp_path / "rs", BASE)
    folder = child(tmp_path, tmp_path / "rs", {"remove_rules": ["c.nope"]}, {})
    with pytest.raises(RulesetError, match=r"no inherited rule 'c\.nope'"):
        load_ruleset(folder)


def test_a_version_drops_inherited_rows_by_key(tmp_path: Path) -> None:
    build(tmp_path / "rs", BASE)
    folder = child(
        tmp_path,
        tmp_path / "rs",
        {},
        {
            "tables/things.yaml": {"table": "things", "remove_rows": [["small-one"]], "rows": []},
            "tables/yearly.yaml": {
                "table": "yearly",
                "remove_rows": [["big-one", 2022]],
                "rows": [{"thing": "big-one", "year": 2024, "power": 24, "source": "s"}],
            },
        },
    )
    rs = load_ruleset(folder)
    assert [r.key for r in rs.tables["things"].rows] == [("big-one",)]
    assert [r.key for r in rs.tables["yearly"].rows] == [("big-one", 2020), ("big-one", 2024)]
    changes = {c.subject: c.kind for c in ruleset_diff(load_ruleset(tmp_path / "rs"), rs)}
    assert changes["row things[small-one]"] == "removed"
    # an unknown key, or one of the wrong length, names the file and line
    (folder / "tables" / "things.yaml").write_text(
        "table: things\nrows: []\nremove_rows:\n  - [no-such-one]\n  - [big-one, 2020]\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesetError) as info:
        load_ruleset(folder)
    problems = info.value.problems
    assert [p.line for p in problems] == [4, 5]
    assert "no inherited row no-such-one (key ['thing']) to remove" in problems[0].message


def test_shipped_versions_extend_and_differ_as_the_changelog_says() -> None:
    v1, v2 = load_ruleset(RULES / "1.0"), load_ruleset(RULES / "2.0")
    assert v2.extends == "1.0" and v1.extends is None
    changed = {c.subject for c in ruleset_diff(v1, v2) if c.category == "logic"}
    assert changed == {
        "rule electricity_water_l.it_energy",
        "rule electricity_water_l.facility_energy",
        "rule manufacturing_water_l.final_run_time",
        "rule manufacturing_water_l.reserved_time",
    }
    logged = {r for entry in v2.changelog for r in entry["rules"]}
    assert {c.split()[1] for c in changed} <= logged
    own = {p.name for p in (RULES / "2.0").rglob("*.yaml")}
    assert "fields.yaml" not in own and "gpus.yaml" not in own  # only what changed


def test_released_versions_are_unchanged() -> None:
    released = [p.parent for p in RULES.glob("*/MANIFEST.sha256")]
    assert released, "no released ruleset version"
    for folder in released:
        assert manifest_problems(folder) == [], folder


def test_editing_a_released_version_fails_the_check(cli: Cli, rules_copy: Path) -> None:
    folder = rules_copy / "1.0"
    if not (folder / "MANIFEST.sha256").is_file():
        write_manifest(folder)
    fields = folder / "fields.yaml"
    fields.write_text(fields.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    code, _, err = cli("rules", "check", folder)
    assert code == 2
    assert "fields.yaml: released file was changed" in err


def test_rules_diff_separates_logic_data_and_wording(cli: Cli) -> None:
    code, out, _ = cli("rules", "diff", RULES / "1.0", RULES / "2.0")
    assert code == 0
    logic, rest = out.split("data (")
    data, wording = rest.split("wording (")
    assert "+ rule electricity_water_l.facility_energy" in logic
    assert "- rule manufacturing_water_l.final_run_time" in logic
    assert "~ row datacenter_efficiency[USA/2014]" in data and "1.8 -> 0.36" in data
    assert "+ source lbnl2024-datacenters" in wording
    code, out, _ = cli("rules", "diff", RULES / "1.0", RULES / "2.0", "--format", "json")
    doc = json.loads(out)
    assert {c["category"] for c in doc["changes"]} == {"logic", "data", "wording"}


def test_result_diff_names_every_changed_output_and_its_cause(cli: Cli) -> None:
    code, out, _ = cli(
        "diff", "--rules", RULES / "1.0", "--rules", RULES / "2.0", *CASES, "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["old"]["version"] == "1.0" and doc["new"]["version"] == "2.0"
    moved = {
        (r["disclosure"], o["field"]): o
        for r in doc["results"]
        for o in r["outputs"]
        if o["changed"]
    }
    assert set(moved) == {
        (case, field)
        for case in ("case-b-bloom-training-page", "case-c-seed-disclosure", "case-d-seed-bedrock")
        for field in ("total_water_l", "water_per_inference_ml")
    }
    for output in moved.values():
        assert output["causes"], output
        assert "rule electricity_water_l.facility_energy added" in output["causes"]
    bloom = moved[("case-b-bloom-training-page", "total_water_l")]
    assert "rule manufacturing_water_l.reserved_time added" in bloom["causes"]
    # the old and new values follow from the changed rules alone (IT -> facility energy)
    it_water = 4_167_738.0
    assert bloom["new"] - bloom["old"] == pytest.approx(
        it_water * 0.1 + 4.7527 * (6936 - 2832), rel=1e-4
    )


def test_diff_2_2_to_2_3_names_the_subregion_grid_and_the_utilisation(cli: Cli) -> None:
    """2.2 -> 2.3 on the fixtures: case C (utilisation disclosed) moves only in carbon, by
    the ratio of the rates (WECC Northwest 2022 over Oregon 2023: 605.872 / 364.963 lb/MWh);
    case D (utilisation not disclosed) also moves in energy, so in water, through the GPU
    utilisation of its model size. A and B do not move."""
    code, out, _ = cli(
        "diff", "--rules", RULES / "2.2", "--rules", RULES / "2.3", *CASES, "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    moved = {
        (r["disclosure"], o["field"]): o
        for r in doc["results"]
        for o in r["outputs"]
        if o["changed"]
    }
    carbon = ("total_emissions_kgco2e", "emissions_per_inference_gco2e")
    water = ("total_water_l", "water_per_inference_ml")
    assert set(moved) == {("case-c-seed-disclosure", f) for f in carbon} | {
        ("case-d-seed-bedrock", f) for f in carbon + water
    }
    for (case, field), output in moved.items():
        if field in carbon:
            assert "rule grid_intensity_gco2e_per_kwh.egrid_subregion added" in output["causes"]
            assert "row grid_egrid_subregion[NWPP/2022] added" in output["causes"]
        if case == "case-d-seed-bedrock":
            assert "rule gpu_utilization.by_model_size added" in output["causes"]
            assert "row gpu_utilization_reference[over-1b] added" in output["causes"]
        # the evaluation rules are on case D's path but add 0 operations: no value under
        # them moved, so they are not causes
        assert not [c for c in output["causes"] if "evaluation" in c or "compute_hours" in c]
    old = load_ruleset(RULES / "2.2")
    est = estimate(old, load_disclosure(FIXTURES / "case_c_seed_disclosure.yaml", old))
    operational = est.fields["operational_emissions_kgco2e"].value
    total = moved[("case-c-seed-disclosure", "total_emissions_kgco2e")]
    assert total["new"] - total["old"] == pytest.approx(
        operational * (605.872 / 364.963 - 1), rel=1e-9
    )


def test_result_diff_gates_on_a_threshold(cli: Cli) -> None:
    args = (
        "diff",
        "--rules",
        RULES / "1.0",
        "--rules",
        RULES / "2.0",
        FIXTURES / "case_c_seed_disclosure.yaml",
    )
    assert cli(*args, "--fail-above", "0.20")[0] == 0
    code, _, err = cli(*args, "--fail-above", "0.10")
    assert code == 1 and "more than --fail-above" in err
    assert cli(*args, "--rel-tol", "0.5", "--fail-above", "0.0")[0] == 0


def test_what_if_shows_what_moved_and_why(cli: Cli) -> None:
    code, out, _ = cli(
        "what-if", FIXTURES / "case_c_seed_disclosure.yaml", "--set", "gpu_utilization=0.94"
    )
    assert code == 0
    assert "gpu_utilization: 0.47 -> 0.94" in out and "set by --set" in out
    assert "cluster_power_w:" in out and "because gpu_utilization moved" in out
    assert "total_emissions_kgco2e:" in out
    code, _, err = cli(
        "what-if", FIXTURES / "case_c_seed_disclosure.yaml", "--set", "gpu_utilisation=2"
    )
    assert code == 2 and "did you mean gpu_utilization" in err


def test_lint_finds_shadowed_rules_and_unused_fields(tmp_path: Path) -> None:
    rules = [
        {"id": "c.constant", "sets": "c", "priority": 5, "value": 3},
        {"id": "c.from_a", "sets": "c", "priority": 10, "value": "a * 2"},
    ]
    findings = lint(load_ruleset(build(tmp_path / "rs", rules)))
    kinds = {(f.kind, f.subject) for f in findings}
    assert ("never-fires", "c.from_a") in kinds
    assert ("unused-field", "b") in kinds and ("unused-table", "yearly") in kinds


def test_lint_on_shipped_rulesets(cli: Cli) -> None:
    code, out, _ = cli("rules", "lint", RULES / "2.0")
    assert code == 0
    assert "unused-field" in out and "final_run_reserved_hours" in out  # dropped by 2.0
    assert "no-fallback" in out and "measured_energy_kwh" in out
    assert cli("rules", "lint", RULES / "2.0", "--strict")[0] == 1


def test_lint_counts_a_field_calibration_measures_as_used(rules_copy: Path) -> None:
    """gpu_energy_kwh is read by no rule and shown in no report: it exists to be compared
    with measured GPU energy, so lint flags it only once no calibration case measures it."""
    unused = {
        f.subject for f in lint(load_ruleset(rules_copy / "2.3")) if f.kind == "unused-field"
    }
    assert "gpu_energy_kwh" not in unused
    (rules_copy / "2.3" / "calibration" / "gpu_power.yaml").unlink()
    (rules_copy / "2.3" / "MANIFEST.sha256").unlink()  # changed on purpose: now a draft
    unused = {
        f.subject for f in lint(load_ruleset(rules_copy / "2.3")) if f.kind == "unused-field"
    }
    assert "gpu_energy_kwh" in unused


def test_a_new_version_beside_its_base_extends_it_by_name(cli: Cli, rules_copy: Path) -> None:
    """The auditor's workflow (docs/auditor-workflow.md, run as written by
    test_auditor_workflow.py) with the new version beside its base, in a temporary copy
    of rules/: it extends the base by its version name."""
    new = rules_copy / "audit-trial"
    code, out, err = cli("rules", "new", new, "--from", rules_copy / "2.0", "--version", "99.1")
    assert code == 0, err
    assert yaml.safe_load((new / "ruleset.yaml").read_text())["extends"] == "2.0"
    (new / "normalize" / "usage.yaml").write_text(
        "rules:\n"
        "  - id: use_life_days.one_year\n"
        "    sets: use_life_days\n"
        "    priority: 20\n"
        "    value: 730\n"
        "    reason: two years of use, as our client's models are replaced every two years\n"
        "    source: tuneprint-assumption\n"
        "    assumption: true\n",
        encoding="utf-8",
    )
    code, out, err = cli("rules", "check", new)
    assert code == 0 and "scope3-fine-tuning@99.1" in out, err
    code, out, _ = cli("rules", "lint", new)
    assert code == 0
    code, out, _ = cli("rules", "diff", rules_copy / "2.0", new)
    assert "~ rule use_life_days.one_year" in out and "value: 365 -> 730" in out
    code, out, _ = cli(
        "diff",
        "--rules",
        rules_copy / "2.0",
        "--rules",
        new,
        FIXTURES / "case_c_seed_disclosure.yaml",
    )
    assert code == 0
    assert "~ emissions_per_inference_gco2e" in out and "(-50.0%)" in out
    assert "because rule use_life_days.one_year changed" in out
    code, out, _ = cli(
        "explain", FIXTURES / "case_c_seed_disclosure.yaml", "use_life_days", "--rules", new
    )
    assert "use_life_days = 730 d" in out and "audit-trial/normalize/usage.yaml" in out
