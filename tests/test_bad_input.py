"""Bad input: one clear message naming file, line, field or rule; exit code 2; no traceback.

One test per kind of mistake the engine issue lists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, RULES, write

Cli = Callable[..., tuple[int, str, str]]


def disclosure(tmp_path: Path, values: str) -> Path:
    return write(tmp_path / "d.yaml", f"id: t\nvalues:\n{values}")


def assert_clean_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def test_malformed_yaml(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", "id: t\nvalues:\n  gpu_count: [4\n")
    code, _, err = cli("estimate", path)
    assert_clean_error(code, err, "d.yaml:4", "invalid YAML")


def test_malformed_json(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "d.json", '{"values": {"gpu_count": 4,}}')
    code, _, err = cli("estimate", path)
    assert_clean_error(code, err, "d.json:1", "invalid JSON")


def test_wrong_type(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("estimate", disclosure(tmp_path, "  gpu_utilization: high\n"))
    assert_clean_error(code, err, "d.yaml:3", "gpu_utilization", "expected a number, got")


def test_negative_quantity(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("estimate", disclosure(tmp_path, "  reserved_hours: -12\n"))
    assert_clean_error(code, err, "d.yaml:3", "reserved_hours", "must be greater than 0")


def test_non_numeric_quantity(cli: Cli, tmp_path: Path) -> None:
    """The seed writes "48,123 tokens": a string, not a number."""
    code, _, err = cli("estimate", disclosure(tmp_path, '  training_tokens: "48,123"\n'))
    assert_clean_error(code, err, "training_tokens", "expected a number", "'48,123'")


def test_fraction_out_of_bounds(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("estimate", disclosure(tmp_path, "  gpu_utilization: 47\n"))
    assert_clean_error(code, err, "gpu_utilization", "above the maximum 1")


def test_unknown_field(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("estimate", disclosure(tmp_path, "  gpu_utilisation: 0.4\n"))
    assert_clean_error(
        code, err, "d.yaml:3", "gpu_utilisation", "unknown field", "did you mean gpu_utilization"
    )


def test_unknown_top_level_key(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", "id: t\nvalue:\n  gpu_count: 4\n")
    code, _, err = cli("estimate", path)
    assert_clean_error(code, err, "d.yaml", "values")


@pytest.mark.parametrize(
    ("field", "written", "suggested"),
    [
        ("gpu_model", "Nvidia A100 80G", "nvidia-a100-sxm4-80gb"),
        ("server_model", "HPE Apollo 6500 Gen11", "hpe-apollo-6500-gen10-plus"),
        ("cloud_region", "us-west-9", "aws-us-west-2"),
        ("base_model", "Llama 2 7", "llama-2-7b"),  # 2.4 added LLaMA 1 and Llama 4
    ],
)
def test_unknown_name_suggests_closest(
    cli: Cli, tmp_path: Path, field: str, written: str, suggested: str
) -> None:
    code, _, err = cli("estimate", disclosure(tmp_path, f"  {field}: {written}\n"))
    assert_clean_error(code, err, "d.yaml:3", field, f"{written!r}", "did you mean", suggested)


def test_missing_file(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("estimate", tmp_path / "nope.yaml")
    assert_clean_error(code, err, "nope.yaml", "cannot read file")


def test_batch_reports_every_bad_file_and_keeps_good_ones(cli: Cli, tmp_path: Path) -> None:
    bad = disclosure(tmp_path, "  gpu_count: zero\n")
    good = FIXTURES / "case_a_seed_amortisation.yaml"
    code, out, err = cli("estimate", good, bad, "--format", "json")
    assert code == 2
    assert "case-a-seed-amortisation" in out and '"errors"' in out
    assert "gpu_count" in err


def break_rule(rules: Path, old: str, new: str) -> None:
    path = rules / "formulas" / "energy.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_rule_with_unknown_name(cli: Cli, copied_rules: Path) -> None:
    break_rule(copied_rules, "value: it_energy_kwh * pue", "value: it_energy_kwh * pue_factor")
    code, _, err = cli("rules", "check", copied_rules)
    assert_clean_error(
        code, err, "energy.yaml:", "facility_energy_kwh.pue", "unknown name 'pue_factor'"
    )


def test_rule_with_attribute_access(cli: Cli, copied_rules: Path) -> None:
    break_rule(copied_rules, "value: it_energy_kwh * pue", "value: it_energy_kwh.__class__")
    code, _, err = cli("rules", "check", copied_rules)
    assert_clean_error(code, err, "energy.yaml:", "facility_energy_kwh.pue", "attribute access")


def test_rule_with_disallowed_function(cli: Cli, copied_rules: Path) -> None:
    break_rule(copied_rules, "value: it_energy_kwh * pue", "value: eval('it_energy_kwh')")
    code, _, err = cli("rules", "check", copied_rules)
    assert_clean_error(code, err, "energy.yaml:", "function 'eval' is not allowed")


def test_rule_shown_at_its_line(cli: Cli, copied_rules: Path) -> None:
    text = (copied_rules / "formulas" / "energy.yaml").read_text(encoding="utf-8")
    line = text.splitlines().index("    value: it_energy_kwh * pue") + 1
    break_rule(copied_rules, "value: it_energy_kwh * pue", "value: it_energy_kwh * pue_factor")
    _code, _, err = cli("rules", "check", copied_rules)
    assert f"energy.yaml:{line}:" in err


def test_estimate_with_broken_rules_fails_cleanly(cli: Cli, copied_rules: Path) -> None:
    break_rule(copied_rules, "value: it_energy_kwh * pue", "value: it_energy_kwh * pue_factor")
    code, _, err = cli(
        "estimate", FIXTURES / "case_c_seed_disclosure.yaml", "--rules", copied_rules
    )
    assert_clean_error(code, err, "pue_factor")


def test_console_script_has_no_traceback(tmp_path: Path) -> None:
    """The installed entry point itself, as a user runs it."""
    import subprocess
    import sys

    path = disclosure(tmp_path, "  gpu_count: -1\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from tuneprint.cli import main; main()", "estimate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "gpu_count" in proc.stderr


def test_disclosed_text_is_never_evaluated(cli: Cli, tmp_path: Path) -> None:
    """Trust boundary: a disclosure holds values, never rules or expressions; text that
    looks like code stays text (here it names no state, so the state rule does not apply)."""
    attack = "__import__('os').system('touch pwned')"
    path = write(
        tmp_path / "d.yaml",
        (FIXTURES / "case_c_seed_disclosure.yaml").read_text() + f'  us_state: "{attack}"\n',
    )
    code, out, err = cli(
        "explain",
        path,
        "grid_intensity_gco2e_per_kwh",
        "--rules",
        FIXTURES.parent / "rules" / "1.0",
    )
    assert code == 0, err
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert "grid_intensity_gco2e_per_kwh.country" in out
    assert "skipped grid_intensity_gco2e_per_kwh.us_state" in out


def test_a_disclosure_cannot_name_rules(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "d.yaml", "rules: ../elsewhere\nvalues:\n  gpu_count: 4\n")
    code, _, err = cli("estimate", path)
    assert_clean_error(code, err, "unknown key 'rules'")


def test_a_full_disk_is_a_clean_error() -> None:
    with open("/dev/full", "wb") as full:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "tuneprint",
                "estimate",
                str(FIXTURES / "case_c_seed_disclosure.yaml"),
                "--format",
                "json",
            ],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    err = run.stderr.decode()
    assert run.returncode == 2, err
    assert "cannot write the output: No space left on device" in err and "Traceback" not in err


def test_a_closed_output_is_a_clean_error() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuneprint",
            "estimate",
            str(FIXTURES / "case_c_seed_disclosure.yaml"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
        preexec_fn=lambda: os.close(1),
    )
    err = run.stderr.decode()
    assert run.returncode == 2, err
    assert "standard output is closed" in err and "Traceback" not in err


def test_a_reader_that_goes_away_ends_the_output_quietly() -> None:
    run = subprocess.run(
        f"{sys.executable} -m tuneprint estimate "
        f"{FIXTURES / 'case_c_seed_disclosure.yaml'} --format json | head -c 10",
        shell=True,
        capture_output=True,
        timeout=60,
    )
    assert "Traceback" not in run.stderr.decode() and "internal error" not in run.stderr.decode()


def test_new_from_a_folder_extends_that_folder_not_a_sibling_of_the_same_version(
    tmp_path: Path, cli: Cli
) -> None:
    shutil.copytree(RULES / "2.0", tmp_path / "rules" / "a")
    other = tmp_path / "other" / "b"
    shutil.copytree(RULES / "2.0", other)
    (other / "MANIFEST.sha256").unlink()
    (other / "README.md").write_text("a different 2.0\n", encoding="utf-8")
    new = tmp_path / "rules" / "new"
    code, _, err = cli("rules", "new", new, "--from", other, "--version", "9.0")
    assert code == 0, err
    from tuneprint import load_ruleset

    assert load_ruleset(new).layers[-2].folder.resolve() == other.resolve()
