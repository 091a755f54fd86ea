"""Drafts (versions without a release manifest) are used only when named, and then every
command that estimates says so on standard error; the library never prints. ``rules new``
writes an ``extends`` that resolves from where the new folder is, and never writes into
the installed package."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tuneprint import load_ruleset
from tuneprint.load.layers import available_rulesets, is_released, newest_released
from tuneprint.load.paths import display_path

from tests.conftest import FIXTURES, RULES

Cli = Callable[..., tuple[int, str, str]]
CASE_C = FIXTURES / "case_c_seed_disclosure.yaml"
DRAFTS = [v for v, p in available_rulesets() if not is_released(p)]  # may be none
RELEASED = [v for v, p in available_rulesets() if is_released(p)]


def _warning(err: str) -> list[str]:
    return [line for line in err.splitlines() if "is a draft (not released)" in line]


@pytest.fixture(scope="module")
def draft(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The newest shipped draft; when every shipped version is released, a copy of the
    newest released one without its manifest (a draft by definition)."""
    if DRAFTS:
        return DRAFTS[-1]
    copy = tmp_path_factory.mktemp("drafts") / RELEASED[-1]
    shutil.copytree(RULES / RELEASED[-1], copy)
    (copy / "MANIFEST.sha256").unlink()
    return str(copy)


def test_the_default_is_the_newest_released_and_a_draft_is_not(draft: str) -> None:
    assert newest_released().name == RELEASED[-1]
    assert load_ruleset().version == RELEASED[-1] and not load_ruleset().draft
    assert load_ruleset(draft).draft


@pytest.mark.parametrize(
    "args",
    [
        ("estimate", CASE_C),
        ("estimate", CASE_C, "--format", "json"),
        ("explain", CASE_C, "pue"),
        ("what-if", CASE_C, "--set", "pue=1.2"),
        ("data", "list"),
        ("export", "markdown", CASE_C),
        (
            "import",
            "trainer-state",
            FIXTURES / "interop" / "trainer_state.json",
            "--tokens",
            "all",
        ),
    ],
    ids=lambda a: " ".join(str(w) for w in a[:2]) if isinstance(a, tuple) else str(a),
)
def test_every_estimating_command_warns_of_a_named_draft_once(
    cli: Cli, args: tuple, draft: str
) -> None:
    code, out, err = cli(*args)
    assert _warning(err) == [], "the default ruleset is released: no warning"
    code, out, err = cli(*args, "--rules", draft)
    assert code == 0, err
    (line,) = _warning(err)
    folder = load_ruleset(draft).folder
    assert line == f"warning: {display_path(folder)} is a draft (not released): results may change"
    assert "is a draft" not in out, "the warning goes to standard error only"


def test_diff_warns_once_per_draft_and_not_for_released(cli: Cli, draft: str) -> None:
    code, _, err = cli("diff", "--rules", RELEASED[-2], "--rules", RELEASED[-1], CASE_C)
    assert code == 0 and _warning(err) == []
    code, _, err = cli("diff", "--rules", RELEASED[-1], "--rules", draft, CASE_C)
    assert code == 0 and len(_warning(err)) == 1
    _, _, err = cli("diff", "--rules", draft, "--rules", draft, CASE_C)
    assert len(_warning(err)) == 1, "the same draft twice: one warning"


def test_a_draft_folder_named_by_path_warns(cli: Cli, tmp_path: Path) -> None:
    copy = tmp_path / "mine"
    shutil.copytree(RULES / RELEASED[-1], copy)
    code, _, err = cli("estimate", CASE_C, "--rules", copy)
    assert code == 0 and _warning(err) == [], "a released copy is released"
    (copy / "MANIFEST.sha256").unlink()
    code, _, err = cli("estimate", CASE_C, "--rules", copy)
    assert code == 0 and _warning(err) == [f"warning: {copy} is a draft (not released): "
                                           "results may change"]  # fmt: skip


def test_rules_commands_on_drafts_do_not_warn(cli: Cli, draft: str) -> None:
    """check, lint and diff of rules work on drafts by nature: no warning there."""
    for args in (("rules", "check", draft), ("rules", "diff", RELEASED[-1], draft)):
        code, _, err = cli(*args)
        assert code == 0 and _warning(err) == [], args


def test_the_library_never_prints(capsys: pytest.CaptureFixture[str], draft: str) -> None:
    import tuneprint

    rules = tuneprint.load_ruleset(draft)
    tuneprint.estimate(CASE_C, rules)
    out, err = capsys.readouterr()
    assert out == "" and err == "" and rules.draft


def test_batch_warns_of_a_named_draft(tmp_path: Path, draft: str) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("rich")
    import subprocess
    import sys

    source = FIXTURES / "batch" / "catalogue.csv"
    done = subprocess.run(
        [sys.executable, "-m", "tuneprint", "batch", str(source), str(tmp_path / "o.csv"),
         "-q", "--rules", draft],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(_warning(done.stderr)) == 1


# -- rules new ------------------------------------------------------------------------------


def test_new_from_a_shipped_version_extends_it_by_name_and_survives_moving(
    cli: Cli, tmp_path: Path
) -> None:
    new = tmp_path / "audit" / "9.1"
    code, out, err = cli("rules", "new", new, "--from", RELEASED[-2], "--version", "9.1")
    assert code == 0, err
    doc = yaml.safe_load((new / "ruleset.yaml").read_text(encoding="utf-8"))
    assert doc["extends"] == RELEASED[-2]
    moved = tmp_path / "elsewhere" / "deeper" / "9.1"
    moved.parent.mkdir(parents=True)
    new.rename(moved)
    rs = load_ruleset(moved)
    assert rs.version == "9.1" and rs.draft
    assert rs.layers[-2].folder.resolve() == (RULES / RELEASED[-2]).resolve()
    code, out, err = cli("estimate", CASE_C, "--rules", moved)
    assert code == 0 and len(_warning(err)) == 1 and "9.1" in out


def test_new_from_an_unshipped_folder_extends_its_absolute_path(cli: Cli, tmp_path: Path) -> None:
    base = tmp_path / "team" / "base"
    shutil.copytree(RULES / RELEASED[-1], base)
    (base / "MANIFEST.sha256").unlink()
    (base / "README.md").write_text("the team's own copy\n", encoding="utf-8")
    new = tmp_path / "audit" / "new"
    code, _, err = cli("rules", "new", new, "--from", base, "--version", "9.2")
    assert code == 0, err
    doc = yaml.safe_load((new / "ruleset.yaml").read_text(encoding="utf-8"))
    assert doc["extends"] == base.resolve().as_posix()
    moved = tmp_path / "moved"
    new.rename(moved)
    assert load_ruleset(moved).layers[-2].folder.resolve() == base.resolve()


def test_new_never_writes_into_the_installed_package(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tuneprint.load import paths

    package = paths.installed_package()
    code, _, err = cli("rules", "new", package / "_bundled" / "rules" / "9.3")
    assert code == 2 and "inside the installed tuneprint package" in err
    assert not (package / "_bundled" / "rules" / "9.3").exists()
    monkeypatch.chdir(package)
    code, _, err = cli("rules", "new", "9.3")
    assert code == 2 and "inside the installed tuneprint package" in err
    assert not (package / "9.3").exists()


def test_new_without_a_version_takes_the_next_one_no_shipped_ruleset_holds(
    cli: Cli, tmp_path: Path
) -> None:
    """From the newest released version, the next number a draft already holds is skipped:
    two rulesets of one version would be told apart only by their hash."""
    code, _, err = cli("rules", "new", tmp_path / "next")
    assert code == 0, err
    doc = yaml.safe_load((tmp_path / "next" / "ruleset.yaml").read_text(encoding="utf-8"))
    shipped = {v for v, _ in available_rulesets()}
    assert doc["extends"] == RELEASED[-1] and doc["version"] not in shipped
    major, minor = RELEASED[-1].split(".")
    nexts = [f"{major}.{int(minor) + n}" for n in range(1, 10)]
    assert doc["version"] == next(v for v in nexts if v not in shipped)


def test_a_version_name_finds_the_shipped_version_beside_a_folder_of_that_name(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder named like a version that holds no ruleset (an audit's notes, say) does
    not hide the shipped version; a ruleset folder of that name does, as a path should."""
    (tmp_path / RELEASED[-2]).mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_ruleset(RELEASED[-2]).version == RELEASED[-2]
    code, _, err = cli("rules", "new", "mine", "--from", RELEASED[-2], "--version", "9.4")
    assert code == 0, err
    (tmp_path / RELEASED[-2]).rmdir()
    (tmp_path / "mine").rename(tmp_path / RELEASED[-2])
    assert load_ruleset(RELEASED[-2]).version == "9.4"
