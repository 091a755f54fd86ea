"""What a newcomer may disclose: tuneprint fields, tuneprint init, suggestions by meaning,
lenient but exact input, the tokens-with-hours check and data show."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, ROOT, VERSIONS, write
from tuneprint import load_ruleset, read_disclosure
from tuneprint.core.problems import InputError, RulesetError
from tuneprint.load.guidance import GROUPS, example_of, shipped_starters

Cli = Callable[..., tuple[int, str, str]]
DRAFT = "2.4"


# -- tuneprint fields ------------------------------------------------------------------------


def test_fields_lists_the_groups_of_the_draft_with_unit_meaning_and_example(cli: Cli) -> None:
    code, out, err = cli("fields", "--rules", DRAFT)
    assert code == 0, err
    lines = out.splitlines()
    heads = [line.split(" (")[0] for line in lines if line and not line.startswith(" ")]
    assert [h for h in heads if h in GROUPS] == list(GROUPS)
    assert max(len(line) for line in lines) <= 80
    at = next(i for i, line in enumerate(lines) if line.startswith("  gpu_tdp_w "))
    assert lines[at].endswith("e.g. 400")
    assert "maximum (TDP) power of one GPU; in W" in lines[at + 1]
    assert "tuneprint fields --group other" in out  # derived fields named, not listed


def test_fields_json_holds_every_field_of_a_group(cli: Cli) -> None:
    code, out, _ = cli("fields", "--rules", DRAFT, "--format", "json", "--group", "usage")
    assert code == 0
    doc = json.loads(out)
    (group,) = doc["groups"]
    names = [f["name"] for f in group["fields"]]
    assert group["group"] == "usage" and "use_life_days" in names
    use_life = next(f for f in group["fields"] if f["name"] == "use_life_days")
    assert use_life["unit"] == "d" and use_life["example"] == 365


@pytest.mark.parametrize("version", VERSIONS)
def test_fields_works_on_every_shipped_ruleset(cli: Cli, version: str) -> None:
    code, out, err = cli("fields", "--rules", version, "--format", "json")
    assert code == 0, err
    listed = [f["name"] for g in json.loads(out)["groups"] for f in g["fields"]]
    assert sorted(listed) == sorted(load_ruleset(version).fields)


def test_a_ruleset_without_guidance_falls_back_to_other_and_typed_examples() -> None:
    rs = load_ruleset("2.3")
    assert {s.group for s in rs.fields.values()} == {None}
    assert example_of(rs.fields["fine_tuning_method"], rs) == "full"
    assert example_of(rs.fields["gpu_count"], rs) == 1
    assert example_of(rs.fields["start_time"], rs) == "2024-07-06"
    gpu = example_of(rs.fields["gpu_model"], rs)
    assert rs.tables["gpus"].names  # the first row's name, which matches a row
    from tuneprint.core.names import canonical_name

    assert canonical_name(rs.tables["gpus"], gpu) is not None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--group", "infra"), "no group of that name; did you mean infrastructure?"),
        (("--format", "yaml"), "expected text or json"),
    ],
)
def test_fields_refuses_bad_options(cli: Cli, args: tuple[str, ...], expected: str) -> None:
    code, _, err = cli("fields", "--rules", DRAFT, *args)
    assert code == 2 and expected in err and "Traceback" not in err


def test_draft_examples_are_valid_values() -> None:
    from tuneprint.core.values import coerce

    rs = load_ruleset(DRAFT)
    grouped = [s for s in rs.fields.values() if s.group]
    assert len(grouped) > 40
    for spec in grouped:
        assert spec.example is not None, spec.name
        coerce(spec, spec.example, rs.tables)


def test_guidance_alone_needs_an_inherited_field(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "2.4"
    shutil.copytree(ROOT / "rules" / DRAFT, folder)
    (folder / "MANIFEST.sha256").unlink(missing_ok=True)
    text = (folder / "fields.yaml").read_text(encoding="utf-8")
    text += "  no_such_field: {group: usage, example: 1}\n"
    write(
        folder / "fields.yaml",
        text.replace("example: 4, aliases: [gpus,", "example: 0, aliases: [gpus,"),
    )
    (folder / "ruleset.yaml").write_text(
        (folder / "ruleset.yaml")
        .read_text(encoding="utf-8")
        .replace('extends: "2.3"', f'extends: "{ROOT / "rules" / "2.3"}"'),
        encoding="utf-8",
    )
    with pytest.raises(RulesetError) as caught:
        load_ruleset(folder)
    messages = [str(p) for p in caught.value.problems]
    assert any("no_such_field is not declared by a version this one extends" in m
               for m in messages), messages  # fmt: skip
    assert any("gpu_count.example: example: 0 is below the minimum 1" in m for m in messages), (
        messages
    )


# -- tuneprint init --------------------------------------------------------------------------


@pytest.mark.parametrize("example", ["seed", "bedrock", "minimal"])
@pytest.mark.parametrize("version", ["2.3", DRAFT])
def test_init_writes_a_disclosure_that_estimates(
    cli: Cli, tmp_path: Path, example: str, version: str
) -> None:
    target = tmp_path / f"{example}.yaml"
    code, out, err = cli("init", "--example", example, "--rules", version, "-o", target)
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# A tuneprint disclosure")
    code, out, err = cli("estimate", target, "--rules", version)
    assert code == 0, err
    assert "total_emissions_kgco2e" in out


@pytest.mark.parametrize("example", ["seed", "bedrock"])
def test_init_starters_restate_their_fixtures(cli: Cli, example: str) -> None:
    starter = shipped_starters()[example]
    fixture = yaml.safe_load((ROOT / starter["fixture"]).read_text(encoding="utf-8"))
    code, out, _ = cli("init", "--example", example, "--rules", DRAFT)
    assert code == 0
    written = yaml.safe_load(out)
    assert written == fixture == starter["document"]


def test_init_comments_each_field_and_lists_the_others(cli: Cli) -> None:
    code, out, _ = cli("init", "--rules", DRAFT)
    assert code == 0
    lines = out.splitlines()
    at = lines.index("  reserved_hours: 12")
    assert "total reserved (wall-clock) time" in lines[at - 1] and "(in h)" in lines[at - 1]
    assert "  # training_tokens: 48123" in lines
    assert "  # use_life_days: 365" in lines


def test_init_minimal_is_one_field_and_refuses_to_overwrite(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("init", "--example", "minimal", "--rules", DRAFT)
    assert code == 0 and list(yaml.safe_load(out)["values"]) == ["reserved_hours"]
    target = write(tmp_path / "mine.yaml", "kept\n")
    code, _, err = cli("init", "-o", target)
    assert code == 2 and "the file exists: give --force" in err and str(target) in err
    assert target.read_text(encoding="utf-8") == "kept\n"
    code, _, _ = cli("init", "-o", target, "--force")
    assert code == 0 and target.read_text(encoding="utf-8").startswith("# A tuneprint")


def test_init_refuses_an_unknown_example(cli: Cli) -> None:
    code, _, err = cli("init", "--example", "nope")
    assert code == 2 and "expected one of seed, bedrock, minimal" in err


def test_init_works_from_a_wheel_install(wheel_python: str, tmp_path: Path) -> None:
    script = "import sys; from tuneprint.cli import run; sys.exit(run(sys.argv[1:]))"
    for example in ("seed", "bedrock", "minimal"):
        target = tmp_path / f"{example}.yaml"
        for args in (["init", "--example", example, "-o", str(target)], ["estimate", str(target)]):
            done = subprocess.run(
                [wheel_python, "-c", script, *args], cwd=tmp_path, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr


def test_fixtures_are_where_the_starters_say() -> None:
    for starter in shipped_starters().values():
        assert (ROOT / starter["fixture"]).is_file()
    assert sys.version_info >= (3, 10)
    assert FIXTURES.is_dir()


# -- suggestions by meaning as well as spelling ----------------------------------------------


@pytest.mark.parametrize(
    ("written", "line", "expected"),
    [
        ("tokens", 2, "did you mean training_tokens (tokens processed in training"),
        ("gpu_type", 3, "did you mean gpu_model (GPU model), or by spelling"),
        ("gpu", 4, "did you mean gpu_model (GPU model)"),
        ("region", 5, "did you mean cloud_region (cloud region of the datacenter)"),
        ("hours", 6, "reserved_hours (total reserved (wall-clock) time of the fine-tuning)"),
    ],
)
def test_unknown_fields_suggest_by_meaning_first(
    cli: Cli, tmp_path: Path, written: str, line: int, expected: str
) -> None:
    path = write(
        tmp_path / "d.yaml",
        "values:\n  tokens: 5\n  gpu_type: A100\n  gpu: A100\n  region: x\n  hours: 2\n",
    )
    code, _, err = cli("estimate", path, "--rules", DRAFT)
    assert code == 2 and "Traceback" not in err
    mine = [e for e in err.splitlines() if e.startswith(f"error: {path}:{line}: {written}:")]
    assert len(mine) == 1, err
    assert "unknown field" in mine[0] and expected in mine[0]


def test_hours_names_every_kind_of_hours_with_its_meaning(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", "values:\n  hours: 2\n")
    _, _, err = cli("estimate", path, "--rules", DRAFT)
    for name in ("reserved_hours (", "gpu_hours (", "compute_hours ("):
        assert name in err


def test_spelling_still_suggests_without_aliases(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", "values:\n  reserved_hour: 2\n")
    _, _, err = cli("estimate", path, "--rules", "2.3")
    assert "unknown field; did you mean reserved_hours" in err


def test_an_alias_may_not_be_another_fields_name(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "2.4"
    shutil.copytree(ROOT / "rules" / DRAFT, folder)
    (folder / "MANIFEST.sha256").unlink(missing_ok=True)
    text = (folder / "fields.yaml").read_text(encoding="utf-8")
    write(folder / "fields.yaml", text.replace("aliases: [gpus, n_gpus", "aliases: [gpu_model"))
    manifest = (folder / "ruleset.yaml").read_text(encoding="utf-8")
    write(folder / "ruleset.yaml", manifest.replace('"2.3"', f'"{ROOT / "rules" / "2.3"}"'))
    with pytest.raises(RulesetError, match="alias 'gpu_model' is the name of another field"):
        load_ruleset(folder)


# -- lenient input that stays exact ---------------------------------------------------------


def test_an_enumeration_matches_whatever_its_case(cli: Cli, tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.yaml",
        "values:\n  base_model_params: 8.03e+9\n  gpu_model: H100 SXM5 80GB\n"
        "  fine_tuning_method: LoRA\n  training_tokens: 1_000_000_000\n",
    )
    code, out, err = cli("explain", path, "mfu", "--rules", DRAFT)
    assert code == 0, err
    assert "mfu.calibrated" in out and "0.358" in out  # the LoRA row of mfu_reference
    rs = load_ruleset(DRAFT)
    for written, canonical in (("LoRA", "lora"), ("QLORA", "qlora"), (" Full ", "full")):
        got = read_disclosure({"fine_tuning_method": written}, rs)
        assert got.values["fine_tuning_method"] == canonical


def test_numbers_take_separators_and_dates_take_year_month() -> None:
    rs = load_ruleset(DRAFT)
    got = read_disclosure(
        {"training_tokens": "10_000_000", "start_time": "2025-03", "published_date": "2025-04"},
        rs,
    )
    assert got.values["training_tokens"] == 10_000_000
    assert got.values["start_time"] == datetime(2025, 3, 1)
    assert got.values["published_date"] == datetime(2025, 4, 1)
    with pytest.raises(InputError, match="expected an ISO date"):
        read_disclosure({"start_time": "2025-13"}, rs)


def test_an_unknown_gpu_names_the_fields_to_disclose_instead(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", "values:\n  reserved_hours: 2\n  gpu_model: Z9000\n")
    code, _, err = cli("estimate", path, "--rules", DRAFT)
    assert code == 2 and f"{path}:3: gpu_model: unknown gpus name 'Z9000'" in err
    assert "or leave it out and disclose what its row would give: gpu_tdp_w (W)" in err
    for name in ("gpu_idle_w (W)", "gpu_memory_gb (GB)", "gpu_embodied_kgco2e (kgCO2e)"):
        assert name in err
    assert "start_year" not in err  # read from the row, but not the row's own figure


def test_estimate_reads_a_disclosure_from_standard_input() -> None:
    text = (FIXTURES / "case_c_seed_disclosure.yaml").read_text(encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tuneprint", "estimate", "-", "--format", "json"],
        input=text, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["disclosure"]["id"] == "case-c-seed-disclosure"


# -- data show -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "row"),
    [
        (("gpus", "H100"), "gpu=nvidia-h100-sxm5-80gb,"),
        (("cloud_regions", "europe-west4"), "region=gcp-europe-west4,"),
        (("grid_country", "France"), "country=FRA, year=2015,"),
        (("grid_country", "france", "2015"), "country=FRA, year=2015,"),
    ],
)
def test_data_show_finds_rows_by_the_names_a_disclosure_uses(
    cli: Cli, args: tuple[str, ...], row: str
) -> None:
    code, out, err = cli("data", "show", *args, "--rules", DRAFT)
    assert code == 0, err
    assert row in out


def test_data_show_names_the_layer_file_of_each_row(cli: Cli) -> None:
    rs = load_ruleset(DRAFT)
    code, out, _ = cli("data", "show", "grid_country", "FRA", "2015", "--rules", DRAFT)
    assert code == 0
    row = next(r for r in rs.tables["grid_country"].rows if r.key == ("FRA", 2015))
    assert row.at.version != DRAFT  # inherited: its file is an older layer's
    assert f"{row.at.version}/{row.at.path}:{row.at.line}: country=FRA" in out


def test_data_show_limits_long_tables(cli: Cli) -> None:
    rows = len(load_ruleset(DRAFT).tables["gpus"].rows)
    code, out, _ = cli("data", "show", "gpus", "--rules", DRAFT)
    assert code == 0
    assert sum(1 for line in out.splitlines() if line.startswith("  ") and "gpu=" in line) == 20
    assert f"... and {rows - 20} more rows of {rows} (--all shows every row" in out
    _, out, _ = cli("data", "show", "gpus", "--rules", DRAFT, "--limit", "3")
    assert sum(1 for line in out.splitlines() if "gpu=" in line and line.startswith("  ")) == 3
    _, out, _ = cli("data", "show", "gpus", "--rules", DRAFT, "--all")
    assert sum(1 for line in out.splitlines() if "gpu=" in line and line.startswith("  ")) == rows
    assert "more rows" not in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("gpus", "Z9000"), "unknown gpus name 'Z9000'; did you mean"),
        (("grid_country", "Narnia"), "no row Narnia (key: country, year"),
        (("gpus", "H100", "2020"), "give at most 1 key parts (gpu)"),
    ],
)
def test_data_show_refuses_what_no_row_has(cli: Cli, args: tuple[str, ...], expected: str) -> None:
    code, _, err = cli("data", "show", *args, "--rules", DRAFT)
    assert code == 2 and expected in err and "Traceback" not in err


# -- tokens with hours: the throughput they imply --------------------------------------------

SEED_7B = "values:\n  base_model: Llama 2\n  gpu_model: Nvidia A100 80GB\n  gpu_count: 4\n"


@pytest.mark.parametrize(
    ("extra", "warns"),
    [
        ("  training_tokens: 48123\n  reserved_hours: 12\n", True),  # far too slow
        ("  training_tokens: 6.0e+8\n  reserved_hours: 12\n", False),  # an MFU of about 0.45
        ("  training_tokens: 1.0e+10\n  reserved_hours: 12\n", True),  # faster than any case
        ("  training_tokens: 48123\n  gpu_hours: 48\n", True),
        ("  training_tokens: 6.0e+8\n  gpu_hours: 48\n", False),
        ("  reserved_hours: 12\n", False),  # hours alone: nothing to check
    ],
)
@pytest.mark.parametrize("reference", [False, True])
def test_tokens_with_hours_warn_outside_the_calibrated_mfu(
    tmp_path: Path, extra: str, warns: bool, reference: bool
) -> None:
    from tuneprint.core.resolve import estimate

    rs = load_ruleset(DRAFT)
    disclosure = read_disclosure(write(tmp_path / "d.yaml", SEED_7B + extra), rs)
    got = estimate(rs, disclosure, reference=reference).fields["it_energy_kwh"]
    assert (got.warning is not None) == warns
    if warns:
        assert "imply a model FLOPs utilisation outside 29.9% to 59.4%" in got.warning


def test_the_tokens_check_leaves_released_rulesets_alone(tmp_path: Path) -> None:
    from tuneprint.core.resolve import estimate

    rs = load_ruleset("2.3")
    text = SEED_7B + "  training_tokens: 48123\n  reserved_hours: 12\n"
    disclosure = read_disclosure(write(tmp_path / "d.yaml", text), rs)
    assert estimate(rs, disclosure).fields["it_energy_kwh"].warning is None
