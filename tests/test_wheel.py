"""The wheel, installed alone in a fresh virtual environment (its dependencies from the
package index, nothing from this environment or the checkout), run from a folder outside
the repository: the shipped rulesets are found by version name, a named draft warns,
``rules new`` writes where it is told and extends a shipped version by name, and the
package metadata carries its home page, authors and licence.

It needs a package index (marked ``network``; CI has one): deselect it with
``-m 'not network'`` where there is none."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import venv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from email.parser import Parser
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, ROOT, copied_sources

pytestmark = pytest.mark.network

HOME = "https://github.com/tuneprint/tuneprint"
PIP_TIMEOUT = 300  # seconds for one pip run (a slow index)
RUN_TIMEOUT = 120  # seconds for one command of the installed package


def _setuptools_builds_wheels() -> bool:
    """Whether this environment can build the wheel without an isolated build (setuptools
    70.1 or newer has bdist_wheel built in; older ones need the wheel package)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("setuptools")
    except PackageNotFoundError:
        return False
    parts = tuple(int(p) for p in found.split(".")[:2] if p.isdigit())
    return parts >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (the build leaves nothing in the
    checkout)."""
    source = copied_sources(tmp_path_factory)
    out = tmp_path_factory.mktemp("wheel")
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(source),
        "--no-deps",
        "-q",
        "-w",
        str(out),
    ]
    if _setuptools_builds_wheels():  # else pip builds it in isolation, setuptools from the index
        command.append("--no-build-isolation")
    _run(command, PIP_TIMEOUT)
    (built,) = out.glob("tuneprint-*.whl")
    return built


def _dependencies() -> list[str]:
    """The package's dependencies, as pyproject.toml declares them."""
    if sys.version_info < (3, 11):
        return []  # no tomllib: pip installs them with the wheel
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def _environment(folder: Path, env: dict[str, str]) -> Path:
    """A fresh virtual environment (no system site-packages) with the package's
    dependencies from the index; returns its bin folder."""
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(folder)
    bindir = folder / ("Scripts" if os.name == "nt" else "bin")
    requirements = _dependencies()
    if requirements:
        _run(
            [str(bindir / "python"), "-m", "pip", "install", "-q", *requirements], PIP_TIMEOUT, env
        )
    return bindir


def _run(command: list[str], timeout: int, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel_and_environment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel, and a fresh environment with it installed (the environment and its
    dependencies are made while the wheel builds)."""
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed in this environment")
    env = _env(tmp_path_factory)
    folder = tmp_path_factory.mktemp("venv")
    with ThreadPoolExecutor(max_workers=1) as pool:
        making = pool.submit(_environment, folder, env)
        built = _build(tmp_path_factory)
        bindir = making.result()
    _run([str(bindir / "python"), "-m", "pip", "install", "-q", str(built)], PIP_TIMEOUT, env)
    return built, bindir


@pytest.fixture(scope="module")
def wheel(wheel_and_environment: tuple[Path, Path]) -> Path:
    return wheel_and_environment[0]


@pytest.fixture(scope="module")
def installed(wheel_and_environment: tuple[Path, Path]) -> Path:
    """The bin folder of the fresh environment holding the wheel."""
    return wheel_and_environment[1]


def _env(factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["TUNEPRINT_CACHE_DIR"] = str(factory.getbasetemp() / "wheel-cache")
    return env


@pytest.fixture
def tuneprint(installed: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Run the installed ``tuneprint`` in a folder outside the repository."""
    assert not tmp_path.resolve().is_relative_to(ROOT.resolve())
    env = _env(tmp_path_factory)

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(installed / "tuneprint"), *map(str, args)],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path, env=env,
        )  # fmt: skip

    return run


def _site_packages(installed: Path) -> Path:
    done = subprocess.run(
        [str(installed / "python"), "-c", "import tuneprint, pathlib; "
         "print(pathlib.Path(tuneprint.__file__).resolve().parent)"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=True, cwd="/",
    )  # fmt: skip
    return Path(done.stdout.strip())


def test_the_wheel_carries_the_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(archive.read(name).decode())
        names = archive.namelist()
    assert meta["Author"] == "The tuneprint authors"
    assert meta["License"] == "Apache-2.0" or meta["License-Expression"] == "Apache-2.0"
    assert f"Homepage, {HOME}" in meta.get_all("Project-URL")
    labels = {u.split(",", 1)[0] for u in meta.get_all("Project-URL")}
    assert {"Repository", "Documentation"} <= labels
    assert "License :: OSI Approved :: Apache Software License" in meta.get_all("Classifier")
    assert meta["Keywords"] and meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().startswith("# tuneprint")  # the README
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert any(n.endswith("licenses/NOTICE") for n in names)
    for version in ("1.0", "2.2", "2.3"):
        assert f"tuneprint/_bundled/rules/{version}/MANIFEST.sha256" in names


def test_pip_show_gives_home_page_author_and_licence(installed: Path) -> None:
    done = subprocess.run(
        [str(installed / "python"), "-m", "pip", "show", "-v", "tuneprint"],
        capture_output=True, text=True, timeout=PIP_TIMEOUT, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert "Author: The tuneprint authors" in lines
    assert "License: Apache-2.0" in lines or "License-Expression: Apache-2.0" in lines
    # pip 24.1 and newer show the Homepage project URL as the home page; older ones list it
    # among the project URLs only.
    assert f"Home-page: {HOME}" in lines or f"  Homepage, {HOME}" in lines


def test_the_installed_command_runs_outside_the_repository(
    tuneprint,
    installed: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    done = tuneprint("--help")
    assert done.returncode == 0, done.stderr
    assert "estimate" in done.stdout and "rules" in done.stdout

    listed = tuneprint("rules", "list")
    assert listed.returncode == 0, listed.stderr
    versions = {line.split("\t")[0]: line for line in listed.stdout.splitlines()}
    assert {"1.0", "2.0", "2.1", "2.2", "2.3"} <= set(versions)
    drafts = [v for v, line in versions.items() if line.endswith("(draft)")]
    assert all("_bundled" in line for line in versions.values())

    disclosure = tmp_path / "run.yaml"
    disclosure.write_text(
        (FIXTURES / "case_c_seed_disclosure.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    done = tuneprint("estimate", "run.yaml")
    assert done.returncode == 0, done.stderr
    assert "total_emissions_kgco2e" in done.stdout and "is a draft" not in done.stderr

    done = tuneprint("estimate", "run.yaml", "--rules", "2.2", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert '"version": "2.2"' in done.stdout

    done = tuneprint("diff", "--rules", "2.2", "--rules", "2.3", "run.yaml")
    assert done.returncode == 0, done.stderr
    assert "@2.2" in done.stdout and "@2.3" in done.stdout

    for draft in drafts:
        done = tuneprint("estimate", "run.yaml", "--rules", draft)
        assert done.returncode == 0, done.stderr
        assert "is a draft (not released): results may change" in done.stderr, draft

    package = _site_packages(installed)
    before = sorted(p.relative_to(package) for p in package.rglob("*") if p.suffix != ".pyc")
    done = tuneprint("rules", "new", "audit/2.5", "--from", "2.2", "--version", "2.5")
    assert done.returncode == 0, done.stderr
    manifest = yaml.safe_load((tmp_path / "audit" / "2.5" / "ruleset.yaml").read_text())
    assert manifest["extends"] == "2.2", "a shipped version is extended by its name"
    (tmp_path / "audit" / "2.5").rename(tmp_path / "moved")
    done = tuneprint("rules", "check", "moved")
    assert done.returncode == 0, done.stderr
    done = tuneprint("estimate", "run.yaml", "--rules", "moved")
    assert done.returncode == 0, done.stderr
    assert "is a draft (not released)" in done.stderr and "scope3-fine-tuning 2.5" in done.stdout
    done = tuneprint("rules", "new", package / "_bundled" / "rules" / "2.6")
    assert done.returncode == 2 and "inside the installed tuneprint package" in done.stderr
    after = sorted(p.relative_to(package) for p in package.rglob("*") if p.suffix != ".pyc")
    assert after == before, "nothing was written into the installed package"


def test_fields_and_init_once_the_command_line_has_them(tuneprint, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``tuneprint fields`` and ``tuneprint init`` are checked when the installed command
    line lists them."""
    commands = tuneprint("--help").stdout
    present = [c for c in ("fields", "init") if f" {c} " in commands or f"│ {c}" in commands]
    if not present:
        pytest.skip("this command line has neither fields nor init")
    if "fields" in present:
        done = tuneprint("fields")
        assert done.returncode == 0 and "gpu_model" in done.stdout, done.stderr
    if "init" in present:
        done = tuneprint("init", "--example", "seed", "-o", "seed.yaml")
        assert done.returncode == 0, done.stderr
        done = tuneprint("estimate", "seed.yaml")
        assert done.returncode == 0, done.stderr
        assert "total_emissions_kgco2e" in done.stdout


def test_the_library_finds_shipped_versions_by_name(installed: Path, tmp_path: Path) -> None:
    code = (
        "import tuneprint; r = tuneprint.load_ruleset('2.2'); "
        "print(r.version, r.draft, tuneprint.load_ruleset().draft)"
    )
    done = subprocess.run(
        [str(installed / "python"), "-c", code],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2.2", "False", "False"] and done.stderr == ""
