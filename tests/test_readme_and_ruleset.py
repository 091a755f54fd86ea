"""What the README promises, and the shipped ruleset's own integrity."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from tuneprint.core.model import Ruleset

from tests.conftest import FIXTURES, NEWEST, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
Cli = Callable[..., tuple[int, str, str]]


def sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = sh_blocks()[1].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_readme_quick_start_command_runs_estimate_on_a_fixture(cli: Cli) -> None:
    command = sh_blocks()[0].strip()
    tail = command.split("&& .venv/bin/tuneprint ")[-1].split()
    assert tail[0] == "estimate" and (ROOT / tail[1]).is_file()
    code, out, err = cli(*tail[:1], ROOT / tail[1])
    assert code == 0, err
    assert "emissions_per_inference_gco2e" in out


def _runnable(line: str) -> bool:
    """A command line of the README that needs no file or folder named by the reader."""
    words = [w for w in line.split("#")[0].split()[1:] if not w.startswith("[")]
    return line.startswith("tuneprint") and all(w == "TABLE" or not w.isupper() for w in words)


@pytest.mark.parametrize(
    "line",
    [line.split("#")[0].strip() for line in sh_blocks()[2].splitlines() if _runnable(line)],
)
def test_readme_commands_without_files_run(cli: Cli, line: str) -> None:
    args = [a for a in line.split()[1:] if not a.startswith("[")]
    args = [a if a not in ("TABLE",) else "gpus" for a in args]
    code, out, err = cli(*args)
    assert code == 0, err
    assert out


def test_readme_explain_example_runs(cli: Cli) -> None:
    match = re.search(r"`tuneprint explain (\S+) (\S+)`", README)
    assert match
    code, out, _ = cli("explain", ROOT / match.group(1), match.group(2))
    assert code == 0
    for fragment in (
        "grid_intensity_gco2e_per_kwh.egrid_subregion",
        "grid_egrid_subregion[NWPP/2022]",
        "start_time.base_model_release",
        "ASSUMPTION",
        "skipped start_time.published_minus_reserved",
        "[epa-egrid2022-subregion]",
    ):
        assert fragment in out


def test_explain_case_c_shows_rule_inputs_and_source_for_every_filled_value(cli: Cli) -> None:
    # the whole tree (--all): the default depth shows two levels and says what it hides
    code, out, _ = cli(
        "explain", FIXTURES / "case_c_seed_disclosure.yaml", "--rules", NEWEST, "--all"
    )
    assert code == 0
    out = " ".join(out.split())  # lines are folded to 80 columns: compare the words
    from tuneprint import load_ruleset
    from tuneprint.core.resolve import estimate
    from tuneprint.load.disclosures import load_disclosure

    rs = load_ruleset(NEWEST)
    est = estimate(rs, load_disclosure(FIXTURES / "case_c_seed_disclosure.yaml", rs))
    for name, r in est.fields.items():
        if r.rule is None:
            assert f"{name} = " in out and "[input: " in out
            continue
        assert f"[{r.status}: {r.rule.id}" in out, name
        for key in r.rule.sources:
            assert f"[{key}]" in out, (name, key)


def test_estimate_json_is_deterministic_across_processes() -> None:
    case = str(FIXTURES / "case_d_seed_bedrock.yaml")
    command = [sys.executable, "-m", "tuneprint", "estimate", case, "--format", "json"]
    runs = [subprocess.run(command, capture_output=True, check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1]
    doc = json.loads(runs[0])
    assert doc["ruleset"]["content_hash"] and doc["tuneprint_version"]
    assert set(doc["outputs"]) == {
        "total_emissions_kgco2e",
        "total_water_l",
        "emissions_per_inference_gco2e",
        "water_per_inference_ml",
    }


def test_every_rule_and_row_cites_a_known_source(ruleset: Ruleset) -> None:
    for rules in ruleset.rules.values():
        for rule in rules:
            assert rule.sources and all(k in ruleset.sources for k in rule.sources), rule.id
            assert rule.reason.strip(), rule.id
    for table in ruleset.tables.values():
        for row in table.rows:
            assert row.sources and all(k in ruleset.sources for k in row.sources), row.key


def test_every_methodology_formula_is_a_rule(ruleset: Ruleset) -> None:
    """Sections 3 to 6 of the methodology, each by its rule id."""
    expected = [
        "cluster_power_w.utilization_model",
        "it_energy_kwh.cluster_model",
        "it_energy_kwh.gpu_hours",
        "it_energy_kwh.measured",
        "facility_energy_kwh.pue",
        "energy_per_gpu_hour_kwh.pue",
        "operational_emissions_kgco2e.grid",
        "embodied_per_reserved_hour_kgco2e.cluster",
        "embodied_emissions_kgco2e.reserved_time",
        "total_emissions_kgco2e.sum",
        "datacenter_water_l.it_energy",
        "electricity_water_l.it_energy",
        "embodied_water_per_reserved_hour_l.cluster",
        "gpu_manufacturing_water_l.wafer_layers",
        "manufacturing_water_l.final_run_time",
        "emissions_per_inference_gco2e.amortised",
        "water_per_inference_ml.amortised",
        "use_life_days.continuous_fine_tuning",
        "rebased_emissions_per_inference_gco2e.actual_rate",
        # section 2: the seed's normalisation table
        "gpu_model.most_common_for_year",
        "server_model.most_common_for_year",
        "server_count.one",
        "country.us_default",
        "pue.location_average",
        "wue_l_per_kwh.location_average",
        "reserved_hours.predicted_from_tokens",
        "start_time.published_minus_reserved",
        "gpu_utilization.seed_reference",
        "cpu_utilization.seed_reference",
        "server_model.managed_service_instance",
    ]
    for rule_id in expected:
        assert ruleset.rule(rule_id) is not None, rule_id


SMALL_NUMBERS = set(range(-1, 17))  # indexes, counts of arguments, widths of text


def _named_limits(tree: ast.Module) -> set[int]:
    """ids of the constants that are the value of a module-level UPPER_CASE name (a named
    limit, documented where it is defined)."""
    found: set[int] = set()
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if targets and all(isinstance(t, ast.Name) and t.id.isupper() for t in targets):
            found.update(id(n) for n in ast.walk(value))
    return found


def test_engine_holds_no_methodology_number() -> None:
    """The design's promise: delete rules/ and no number of the method is left in engine/.
    Every number literal in every module is a small count or the value of a named limit."""
    offenders = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        limits = _named_limits(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, (int, float))
                and not isinstance(node.value, bool)
                and node.value not in SMALL_NUMBERS
                and id(node) not in limits
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


@pytest.mark.parametrize("case", sorted(p.name for p in FIXTURES.glob("case_*.yaml")))
def test_json_results_match_the_result_schema(cli: Cli, case: str) -> None:
    from tuneprint.load.schemas import validator

    code, out, _ = cli("estimate", FIXTURES / case, "--format", "json")
    assert code == 0
    errors = list(validator("result").iter_errors(json.loads(out)))
    assert not errors, errors[0].message
