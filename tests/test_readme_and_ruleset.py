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


def _block_with(*words: str) -> str:
    """The README's one shell block that holds every one of ``words``."""
    (block,) = [b for b in sh_blocks() if all(w in b for w in words)]
    return block.strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = _block_with("venv", "pytest")
    assert test_command == (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
        ".venv/bin/ruff check . && .venv/bin/mypy && .venv/bin/python -m pytest"
    )
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_readme_quick_start_command_runs_estimate_on_a_fixture(cli: Cli) -> None:
    command = _block_with("venv", ".venv/bin/tuneprint estimate")
    assert command == (
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
        ".venv/bin/tuneprint estimate fixtures/case_c_seed_disclosure.yaml"
    )
    tail = command.split("&& .venv/bin/tuneprint ")[-1].split()
    assert tail[0] == "estimate" and (ROOT / tail[1]).is_file()
    code, out, err = cli(*tail[:1], ROOT / tail[1])
    assert code == 0, err
    assert "emissions_per_inference_gco2e" in out


def test_readme_lists_every_command_of_the_command_line() -> None:
    """The README's command table names every command the command line has (a command
    group by its name, e.g. ``tuneprint rules list / check ...``)."""
    import typer.main
    from tuneprint.cli.app import app

    group = typer.main.get_command(app)
    names = sorted(group.commands)  # type: ignore[attr-defined]
    table = [line for line in README.splitlines() if line.startswith("| `tuneprint ")]
    for name in names:
        assert any(line.startswith(f"| `tuneprint {name}") for line in table), name


def test_readme_links_only_to_files_that_exist_or_will() -> None:
    """Every relative link of the README reaches a file; docs/disclosures.md and
    docs/results.md belong to the fields/init and results commands, checked once the
    command line has them."""
    import typer.main
    from tuneprint.cli.app import app

    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    pending = {"docs/disclosures.md": "init", "docs/results.md": "init"}
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        if target in pending and pending[target] not in commands:
            continue
        assert (ROOT / target).exists(), target


RULES_DOC = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")


def test_the_explain_example_runs(cli: Cli) -> None:
    match = re.search(r"`tuneprint explain (\S+) (\S+)`", RULES_DOC)
    assert match
    code, out, _ = cli("explain", ROOT / match.group(1), match.group(2))
    assert code == 0
    for fragment in (
        "grid_intensity_gco2e_per_kwh.egrid_subregion",
        "grid_egrid_subregion[NWPP/2023]",  # the default is 2.4: eGRID2023
        "start_year.latest_of_model_gpu_and_reference",  # 2.4: no date made up
        "ASSUMPTION",
        "skipped start_year.from_start_time",
        "[epa-egrid2023-subregion]",
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


def test_the_readme_links_every_guide_of_docs() -> None:
    """Every guide in docs/ is reachable from the README (the deep material lives there)."""
    for guide in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{guide.name})" in README, guide.name
    performance = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert "| measure | figure |" in performance and "ms median" in performance
