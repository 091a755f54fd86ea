"""Reference data coverage of the newest ruleset: a test for each count the data issue
names, and the checks every table gets (schema, units, bounds, sources: at load)."""

from __future__ import annotations

from collections import Counter

import pytest
from tuneprint import load_ruleset
from tuneprint.core.model import Ruleset
from tuneprint.core.names import canonical_name
from tuneprint.core.resolve import estimate
from tuneprint.load.disclosures import disclosure_from_document

from tests.conftest import LATEST


@pytest.fixture(scope="module")
def newest() -> Ruleset:
    return load_ruleset(LATEST)


def keys(rs: Ruleset, table: str) -> list[str]:
    return [str(r.key[0]) for r in rs.tables[table].rows]


def test_accelerators(newest: Ruleset) -> None:
    gpus = keys(newest, "gpus")
    assert len(gpus) >= 25
    for name in (
        "V100",
        "T4",
        "A10G",
        "L4",
        "L40S",
        "A100 80GB",
        "H100 SXM",
        "H200",
        "B200",
        "MI300X",
    ):
        assert canonical_name(newest.tables["gpus"], name), name


def test_servers_and_instances(newest: Ruleset) -> None:
    servers = keys(newest, "servers")
    assert len(servers) >= 30
    providers = Counter(s.split("-")[0] for s in servers)
    assert providers["aws"] >= 5 and providers["gcp"] >= 3 and providers["azure"] >= 3
    for name in ("HPE Apollo 6500 Gen10 Plus", "p4d.24xlarge", "p5.48xlarge"):
        assert canonical_name(newest.tables["servers"], name), name
    gpus = set(keys(newest, "gpus"))
    cpus = set(keys(newest, "cpus"))
    for row in newest.tables["servers"].rows:
        assert row.values["gpu_model"] in gpus, row.key
        assert row.values.get("cpu_model") is None or row.values["cpu_model"] in cpus, row.key


def test_cloud_regions_resolve_the_names_people_write(newest: Ruleset) -> None:
    regions = newest.tables["cloud_regions"]
    by_provider = Counter(str(r.values["provider"]) for r in regions.rows)
    assert by_provider["aws"] >= 25 and by_provider["gcp"] >= 30 and by_provider["azure"] >= 40
    for written in ("US West (Oregon)", "us-west-2", "Oregon", "AWS US West (Oregon)"):
        assert canonical_name(regions, written) == "aws-us-west-2", written
    for row in regions.rows:
        assert row.values["country"] in newest.tables[
            "countries"
        ].names.values() or canonical_name(
            newest.tables["countries"], str(row.values["country"])
        ), row.key
        if row.values["country"] == "USA":
            assert row.values.get("us_state") or row.note, row.key


def test_grid_intensity_by_country_and_year(newest: Ruleset) -> None:
    grid = newest.tables["grid_country"]
    countries = {r.key[0] for r in grid.rows}
    assert len(countries) >= 150
    years = Counter(r.key[0] for r in grid.rows if r.key[1] >= 2015)
    assert sum(1 for c in countries if years[c] >= 7) >= 150
    states = {r.key[0] for r in newest.tables["grid_us_state"].rows}
    assert len(states) >= 51


def test_egrid_subregion_grid(newest: Ruleset) -> None:
    """The 27 eGRID subregions for every eGRID edition 2018-2022, each row citing its own
    edition, and every US cloud region's subregion covered."""
    table = newest.tables["grid_egrid_subregion"]
    by_year = Counter(int(r.key[1]) for r in table.rows)
    assert set(by_year) >= {2018, 2019, 2020, 2021, 2022}
    assert by_year[2018] >= 26 and all(by_year[y] >= 27 for y in range(2019, 2023))
    for row in table.rows:
        assert row.sources == (f"epa-egrid{row.key[1]}-subregion",), row.key
    subregions = {r.key[0] for r in table.rows}
    for row in newest.tables["cloud_regions"].rows:
        if row.values.get("egrid_subregion"):
            assert row.values["egrid_subregion"] in subregions, row.key


def test_us_grid_from_subregion_then_state(newest: Ruleset) -> None:
    """A US cloud region takes its eGRID subregion's rate for the start year (or the
    latest year before it); a disclosure naming only a state falls back to the state."""

    def grid(values: dict[str, object]) -> tuple[float, str | None]:
        doc = {"id": "t", "values": {"gpu_model": "A100 80GB", "gpu_count": 1, **values}}
        est = estimate(
            newest,
            disclosure_from_document(doc, "t.yaml", newest),
            extra=("grid_intensity_gco2e_per_kwh",),
        )
        field = est.fields["grid_intensity_gco2e_per_kwh"]
        return float(field.value), field.rule.id if field.rule else None

    lb = 0.45359237  # kg per lb: lb/MWh x 0.45359237 = g/kWh
    value, rule = grid(
        {"cloud_region": "us-west-2", "start_time": "2021-03-01", "reserved_hours": 1}
    )
    assert rule == "grid_intensity_gco2e_per_kwh.egrid_subregion"
    assert value == pytest.approx(638.523 * lb)  # NWPP, eGRID2021
    value, rule = grid(
        {"cloud_region": "us-east-1", "start_time": "2025-01-01", "reserved_hours": 1}
    )
    assert rule == "grid_intensity_gco2e_per_kwh.egrid_subregion"
    assert value == pytest.approx(
        596.326 * lb
    )  # SRVC, eGRID2023 rev2: the latest year before 2025
    value, rule = grid(
        {"cloud_region": "us-west-2", "start_time": "2023-06-01", "reserved_hours": 1}
    )
    assert value == pytest.approx(635.267 * lb)  # NWPP, eGRID2023 rev2 (rev1: 632.308)
    value, rule = grid(
        {"country": "USA", "us_state": "OR", "start_time": "2023-05-01", "reserved_hours": 1}
    )
    assert rule == "grid_intensity_gco2e_per_kwh.us_state"
    assert value == pytest.approx(364.963 * lb)


def test_water_intensity(newest: Ruleset) -> None:
    levels = Counter(
        str(r.values["level"]) for r in newest.tables["electricity_water_intensity"].rows
    )
    assert levels["country"] >= 40 and levels["egrid_subregion"] >= 20


def test_base_models(newest: Ruleset) -> None:
    models = newest.tables["base_models"]
    assert len(models.rows) >= 40
    for written in (
        "Llama 2",
        "meta-llama/Llama-2-7b-hf",
        "Mistral 7B",
        "Mixtral 8x7B",
        "BERT base",
        "gpt-4o-mini",
    ):
        assert canonical_name(models, written), written
    moe = [r for r in models.rows if r.values.get("architecture") == "moe"]
    assert moe and all(r.values.get("active_params") for r in moe)


def test_most_common_hardware_every_year(newest: Ruleset) -> None:
    years = {r.key[0] for r in newest.tables["most_common_hardware"].rows}
    assert set(range(2016, 2027)) <= years


def test_managed_services(newest: Ruleset) -> None:
    services = newest.tables["managed_services"]
    for written in (
        "AWS Bedrock",
        "SageMaker JumpStart",
        "OpenAI",
        "Azure OpenAI",
        "Vertex AI",
        "Together AI",
        "Fireworks",
    ):
        assert canonical_name(services, written), written
    for row in services.rows:
        assert row.note, f"{row.key}: an assumed instance needs its reasoning"


def test_every_row_cites_a_source(newest: Ruleset) -> None:
    for table in newest.tables.values():
        for row in table.rows:
            assert row.sources and all(k in newest.sources for k in row.sources), (
                table.name,
                row.key,
            )
