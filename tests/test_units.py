"""Unit checking at load: a formula must give exactly its field's unit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tuneprint import load_ruleset
from tuneprint.core.problems import RulesetError

from tests.minirules import FIELDS, build

Cli = Callable[..., tuple[int, str, str]]


def edit(rules: Path, file: str, old: str, new: str) -> None:
    path = rules / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        pytest.param(  # the methodology's BLOOM example writes 57 kgCO2e/kWh for 57 g
            "formulas/carbon.yaml",
            'convert(facility_energy_kwh * grid_intensity_gco2e_per_kwh, "kgCO2e")',
            "facility_energy_kwh * grid_intensity_gco2e_per_kwh",
            "operational_emissions_kgco2e.grid: units: gives gCO2e, but "
            "operational_emissions_kgco2e is in kgCO2e (1 gCO2e = 0.001 kgCO2e): wrap it in "
            'convert(..., "kgCO2e")',
            id="grams-where-the-field-says-kilograms",
        ),
        pytest.param(
            "formulas/energy.yaml",
            'convert(cluster_power_w * reserved_hours, "kWh")',
            "cluster_power_w",
            "it_energy_kwh.cluster_model: units: gives W, but it_energy_kwh is in kWh",
            id="power-where-the-field-says-energy",
        ),
        pytest.param(
            "formulas/energy.yaml",
            'convert(cluster_power_w * reserved_hours, "kWh")',
            "cluster_power_w * reserved_hours / 1000",
            "it_energy_kwh.cluster_model: units: gives h * W, but it_energy_kwh is in kWh",
            id="a-hidden-factor-of-1000",
        ),
    ],
)
def test_a_wrong_unit_in_a_copied_rule_is_rejected_at_load(
    cli: Cli, copied_rules: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(copied_rules, file, old, new)
    code, _, err = cli("rules", "check", copied_rules)
    assert code == 2
    assert f"{file.split('/')[-1]}:" in err and expected in err


def test_convert_factor_is_applied_at_evaluation(tmp_path: Path) -> None:
    from tuneprint.core.resolve import estimate
    from tuneprint.load.disclosures import load_disclosure

    from tests.minirules import disclose

    fields = {**FIELDS, "c": {"type": "number", "unit": "kW", "description": "c"}}
    rs = load_ruleset(
        build(
            tmp_path / "rs",
            [{"id": "c.kw", "sets": "c", "priority": 10, "value": 'convert(a + b, "kW")'}],
            fields=fields,
        )
    )
    est = estimate(rs, load_disclosure(disclose(tmp_path / "d.yaml", {"a": 1500, "b": 500}), rs))
    assert est.fields["c"].value == pytest.approx(2.0)
    assert est.fields["c"].rule is not None
    assert est.fields["c"].rule.value.text == 'convert(a + b, "kW")'


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("a + y", "a sum mixes W and a"),
        ('convert(a, "kWh")', "cannot convert W to kWh"),
        ('convert(a, "wats")', "unknown unit"),
        ("min(a, y)", "min() mixes W and a"),
        ("a if a > y else b", "a comparison mixes W and a"),
        ("n * 2", "arithmetic on a text"),
    ],
)
def test_inconsistent_expressions(tmp_path: Path, value: str, fragment: str) -> None:
    with pytest.raises(RulesetError) as info:
        load_ruleset(
            build(tmp_path / "rs", [{"id": "c.x", "sets": "c", "priority": 10, "value": value}])
        )
    assert fragment in str(info.value)


def test_unknown_declared_unit(tmp_path: Path) -> None:
    fields = {**FIELDS, "a": {**FIELDS["a"], "unit": "wats"}}
    with pytest.raises(RulesetError) as info:
        load_ruleset(
            build(
                tmp_path / "rs",
                [{"id": "c.x", "sets": "c", "priority": 10, "value": "a"}],
                fields=fields,
            )
        )
    assert "unknown unit 'wats'" in str(info.value)
