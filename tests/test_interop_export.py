"""Exporting results: the model card block (grams, a plain decimal, the five keys), Scope3
ImpactMetrics per run and per inference, a BoAmps report valid against the BoAmps schema,
Markdown, the share of each total resting on disclosed, derived and assumed values, and
the editor schema association of disclosure files."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import tuneprint
import yaml
from tuneprint import interop
from tuneprint.interop.basis import Basis
from tuneprint.interop.boamps import validator
from tuneprint.views.text import shown

from tests.conftest import FIXTURES, NEWEST, ROOT

INTEROP = FIXTURES / "interop"
CC3 = INTEROP / "codecarbon_3.2.8_emissions.csv"
BOAMPS = INTEROP / "boamps_report.json"
STATE = INTEROP / "trainer_state.json"
WITH_SCHEMA = INTEROP / "disclosure_with_schema.yaml"
GRAMS_PER_KG = 1000
ML_PER_L = 1000
WH_PER_KWH = 1000
IMPACT_METRICS = {  # the Scope3 AI API's ImpactMetrics: five required numbers
    "usage_energy_wh",
    "usage_emissions_gco2e",
    "usage_water_ml",
    "embodied_emissions_gco2e",
    "embodied_water_ml",
}
HF_KEYS = {"emissions", "source", "training_type", "geographical_location", "hardware_used"}
HUB_NUMBER = re.compile(r"\d+\.\d+|\d+")  # how the Hub reads co2_eq_emissions

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def rs() -> tuneprint.Ruleset:
    return tuneprint.load_ruleset(NEWEST)


@pytest.fixture(scope="module")
def results(rs: tuneprint.Ruleset) -> dict[str, tuneprint.Result]:
    """An estimate of each imported fixture."""
    return {
        "codecarbon": tuneprint.estimate(interop.import_codecarbon(CC3, rs, run="1"), rs),
        "trainer-state": tuneprint.estimate(
            interop.import_trainer_state(STATE, rs, tokens="all"), rs
        ),
        "boamps": tuneprint.estimate(interop.import_boamps(BOAMPS, rs), rs),
        "schema": tuneprint.estimate(WITH_SCHEMA, rs),
    }


def v(result: tuneprint.Result, name: str) -> float:
    return float(result[name].value)


@pytest.mark.parametrize("case", ["codecarbon", "trainer-state", "boamps", "schema"])
def test_hf_card_block(
    results: dict[str, tuneprint.Result], rs: tuneprint.Ruleset, case: str
) -> None:
    result = results[case]
    text = interop.export_hf_card(result)
    meta = yaml.safe_load(text)["co2_eq_emissions"]
    assert set(meta) == HF_KEYS
    grams = v(result, "total_emissions_kgco2e") * GRAMS_PER_KG
    assert meta["emissions"] == pytest.approx(grams, abs=1e-6)
    (line,) = [x for x in text.splitlines() if x.startswith("  emissions: ")]
    assert re.fullmatch(r"  emissions: [0-9]+\.[0-9]{6}", line)  # never an exponent
    assert float(HUB_NUMBER.search(line.split(": ")[1]).group(0)) == meta["emissions"]
    assert meta["training_type"] == "fine-tuning"
    assert f"tuneprint {tuneprint.__version__}" in meta["source"]
    assert f"ruleset {rs.id} {rs.version}" in meta["source"] and rs.content_hash in meta["source"]
    count, model = result["gpu_count"].value, result["gpu_model"].value
    assert meta["hardware_used"].startswith(f"{count} x {model}")


def test_hf_card_places_and_assumptions(
    results: dict[str, tuneprint.Result], rs: tuneprint.Ruleset
) -> None:
    card = interop.hf_card_metadata(results["codecarbon"])
    assert card["geographical_location"] == "Northern Virginia (aws-us-east-1), United States"
    assert card["hardware_used"] == "8 x nvidia-a100-sxm4-40gb"
    guessed = tuneprint.estimate({"reserved_hours": 2, "measured_energy_kwh": 0.00002}, rs)
    card = interop.hf_card_metadata(guessed)
    assert card["geographical_location"] == "United States (not disclosed: tuneprint's fallback)"
    assert card["hardware_used"].endswith("(assumed by tuneprint)")
    tiny = tuneprint.estimate(
        {
            "reserved_hours": 0.001,
            "measured_energy_kwh": 1e-7,
            "gpu_model": "A100 80GB",
            "gpu_count": 1,
            "country": "FRA",
        },
        rs,
    )
    assert v(tiny, "total_emissions_kgco2e") < 1e-4  # kg: would print with an exponent
    text = interop.export_hf_card(tiny)
    assert "e-" not in text.split("source")[0]


@pytest.mark.parametrize("case", ["codecarbon", "trainer-state", "boamps", "schema"])
def test_scope3_impact_metrics(results: dict[str, tuneprint.Result], case: str) -> None:
    r = results[case]
    doc = json.loads(interop.export_scope3(r))
    run, one = doc["per_run"], doc["per_inference"]
    assert set(run) == IMPACT_METRICS and set(one) == IMPACT_METRICS
    assert all(isinstance(x, float) for x in (*run.values(), *one.values()))
    assert run["usage_energy_wh"] == pytest.approx(v(r, "facility_energy_kwh") * WH_PER_KWH)
    assert run["usage_emissions_gco2e"] == pytest.approx(
        v(r, "operational_emissions_kgco2e") * GRAMS_PER_KG
    )
    assert run["usage_water_ml"] == pytest.approx(
        (v(r, "datacenter_water_l") + v(r, "electricity_water_l")) * ML_PER_L
    )
    assert run["embodied_emissions_gco2e"] == pytest.approx(
        v(r, "embodied_emissions_kgco2e") * GRAMS_PER_KG
    )
    assert run["embodied_water_ml"] == pytest.approx(v(r, "manufacturing_water_l") * ML_PER_L)
    inferences = v(r, "lifetime_inferences")
    for key in IMPACT_METRICS:
        assert one[key] == pytest.approx(run[key] / inferences)
    assert one["usage_emissions_gco2e"] + one["embodied_emissions_gco2e"] == pytest.approx(
        v(r, "emissions_per_inference_gco2e")
    )
    assert one["usage_water_ml"] + one["embodied_water_ml"] == pytest.approx(
        v(r, "water_per_inference_ml")
    )
    assert doc["source"]["ruleset"]["content_hash"] == r.ruleset.content_hash


@pytest.mark.parametrize("case", ["codecarbon", "trainer-state", "boamps", "schema"])
def test_boamps_export_validates_and_imports_back(
    results: dict[str, tuneprint.Result], rs: tuneprint.Ruleset, tmp_path: Path, case: str
) -> None:
    r = results[case]
    when = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
    text = interop.export_boamps(r, task_family="textGeneration", now=when)
    report = json.loads(text)
    problems = sorted(e.message for e in validator().iter_errors(report))
    assert problems == []
    assert report["header"]["reportDatetime"] == "2026-07-01 12:00:00"
    assert report["task"]["taskStage"] == "finetuning"
    assert report["task"]["taskFamily"] == "textGeneration"
    (measure,) = report["measures"]
    assert measure["powerConsumption"] == pytest.approx(v(r, "it_energy_kwh"))
    assert measure["measurementDuration"] == pytest.approx(v(r, "reserved_hours") * 3600)
    assert interop.export_boamps(r, "textGeneration", when) == text  # deterministic
    path = tmp_path / "report.json"
    path.write_text(text)
    back = interop.import_boamps(path, rs)
    assert back["values"]["measured_energy_kwh"]["value"] == pytest.approx(v(r, "it_energy_kwh"))
    assert back["values"]["gpu_count"]["value"] == r["gpu_count"].value
    if "base_model_params" in r.fields:
        assert back["values"]["base_model_params"]["value"] == pytest.approx(
            v(r, "base_model_params")
        )


def test_boamps_measure_names_a_disclosed_measurement(results: dict[str, Any]) -> None:
    report = interop.boamps_report(results["codecarbon"])
    (measure,) = report["measures"]
    assert measure["measurementMethod"].startswith(str(CC3))  # the disclosed source
    predicted = interop.boamps_report(results["schema"])
    assert predicted["measures"][0]["measurementMethod"] == "tuneprint estimate"


def test_markdown_report(results: dict[str, tuneprint.Result]) -> None:
    r = results["codecarbon"]
    text = interop.export_markdown(r)
    total = r["total_emissions_kgco2e"]
    digits = r.ruleset.fields["total_emissions_kgco2e"].digits
    assert f"| Carbon | {shown(total.value, digits)} kgCO2e |" in text
    assert "## Carbon by scope" in text and "## Water by scope" in text
    assert "## What the totals rest on" in text and "use_life_days.one_year" in text
    assert "| measured_energy_kwh |" in text


# -- what the totals rest on ---------------------------------------------------------------


def test_shares_follow_the_provenance(results: dict[str, tuneprint.Result]) -> None:
    r = results["codecarbon"]
    basis = Basis(r)
    assert basis.of("measured_energy_kwh") == "disclosed"
    # a formula over disclosed values only stays disclosed,
    assert basis.of("it_energy_kwh") == "disclosed"
    assert basis.of("facility_energy_kwh") == "disclosed"
    # a table row makes it derived, an assumption assumed, and both propagate.
    assert basis.of("grid_intensity_gco2e_per_kwh") == "derived"
    assert basis.of("operational_emissions_kgco2e") == "derived"
    assert basis.of("use_life_days") == "assumed"
    assert basis.of("emissions_per_inference_gco2e") == "assumed"
    assert "use_life_days" in basis.assumptions("emissions_per_inference_gco2e")
    water = basis.shares("total_water_l")
    total = v(r, "total_water_l")
    assert water["disclosed"] == pytest.approx(v(r, "datacenter_water_l") / total)
    assert sum(s for s in water.values() if s) == pytest.approx(1)
    terms = [t.field for t in basis.terms("total_water_l")]
    assert terms == ["datacenter_water_l", "electricity_water_l", "manufacturing_water_l"]


def test_shares_of_hand_made_cases(rs: tuneprint.Ruleset) -> None:
    both = tuneprint.estimate(
        {
            "operational_emissions_kgco2e": 3.0,
            "embodied_emissions_kgco2e": 1.0,
            "reserved_hours": 1,
            "gpu_model": "A100 80GB",
            "gpu_count": 1,
            "country": "FRA",
        },
        rs,
    )
    assert interop.basis_shares(both)["total_emissions_kgco2e"] == {
        "disclosed": 1.0,
        "derived": 0.0,
        "assumed": 0.0,
    }
    one = tuneprint.estimate(
        {
            "operational_emissions_kgco2e": 3.0,
            "reserved_hours": 1,
            "gpu_model": "A100 80GB",
            "gpu_count": 1,
            "country": "FRA",
        },
        rs,
    )
    shares = interop.basis_shares(one)["total_emissions_kgco2e"]
    embodied = v(one, "embodied_emissions_kgco2e")
    assert shares["disclosed"] == pytest.approx(3.0 / (3.0 + embodied))
    assert shares["disclosed"] + shares["derived"] + shares["assumed"] == pytest.approx(1)
    nothing = tuneprint.estimate({"reserved_hours": 1, "measured_energy_kwh": 0.5}, rs)
    basis = Basis(nothing)
    assert basis.of("country") == "derived"  # the methodology's fallback, not an assumption
    assert not basis.rooted("country") and basis.rooted("it_energy_kwh")
    assert interop.basis_shares(nothing)["total_emissions_kgco2e"]["assumed"] > 0
    zero = tuneprint.estimate(
        {
            "operational_emissions_kgco2e": 0.0,
            "embodied_emissions_kgco2e": 0.0,
            "reserved_hours": 1,
            "gpu_model": "A100 80GB",
            "gpu_count": 1,
            "country": "FRA",
        },
        rs,
    )
    assert set(interop.basis_shares(zero)["total_emissions_kgco2e"].values()) == {None}


# -- the commands ----------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["hf-card", "scope3", "boamps", "html", "markdown"])
def test_export_commands(cli: Cli, tmp_path: Path, format: str) -> None:
    code, out, err = cli("export", format, WITH_SCHEMA)
    assert code == 0, err
    path = tmp_path / "out"
    code, _, err = cli("export", format, WITH_SCHEMA, "-o", path, "--rules", NEWEST)
    assert code == 0 and f"wrote {path}" in err
    written = path.read_text(encoding="utf-8")
    if format == "boamps":  # the report time is the time of the export
        assert json.loads(written)["task"] == json.loads(out)["task"]
    else:
        assert written == out


def test_export_of_a_bad_disclosure_exits_2(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("values:\n  gpu_count: -1\n")
    code, _, err = cli("export", "html", bad)
    assert code == 2 and "gpu_count" in err and "Traceback" not in err
    unresolved = tmp_path / "unresolved.yaml"
    unresolved.write_text("values:\n  base_model: Llama 2 7B\n")
    code, _, err = cli("export", "scope3", unresolved)
    assert code == 2 and "disclose reserved_hours" in err
    code, _, err = cli("export", "hf-card", tmp_path / "missing.yaml")
    assert code == 2 and "cannot read file" in err


# -- editors ---------------------------------------------------------------------------------


def test_a_disclosure_with_a_schema_key_and_modeline_is_accepted(cli: Cli) -> None:
    from tuneprint.load.schemas import validator as schema_validator

    lines = WITH_SCHEMA.read_text().splitlines()
    modeline = re.fullmatch(r"#\s+yaml-language-server\s*:\s*\$schema=(\S+)", lines[0])
    assert modeline is not None  # line 1, as the language server wants it
    doc = yaml.safe_load(WITH_SCHEMA.read_text())
    for ref in (modeline.group(1), doc["$schema"]):  # relative to the file's own folder
        assert (WITH_SCHEMA.parent / ref).resolve() == ROOT / "schemas" / "disclosure.schema.json"
    assert list(schema_validator("disclosure").iter_errors(doc)) == []
    code, out, err = cli("estimate", WITH_SCHEMA)
    assert code == 0, err and "lora-4xa100-oregon" in out
    docs = (ROOT / "docs" / "interop.md").read_text()
    assert lines[0] in docs and lines[1] in docs
