"""Shared helpers: the shipped ruleset, fixtures, and running the CLI."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Rulesets checked once per test session, in a cache of the session's own (subprocesses
# inherit it), never the user's.
os.environ["TUNEPRINT_CACHE_DIR"] = tempfile.mkdtemp(prefix="tuneprint-test-cache-")
from tuneprint import load_ruleset
from tuneprint.cli import run
from tuneprint.core.model import Ruleset
from tuneprint.core.resolve import Estimate, estimate
from tuneprint.load.disclosures import disclosure_from_document, load_disclosure

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULES = ROOT / "rules"
VERSIONS = sorted(p.parent.name for p in RULES.glob("*/ruleset.yaml"))
RELEASED = [v for v in VERSIONS if (RULES / v / "MANIFEST.sha256").is_file()]


def _number(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


NEWEST = RULES / max(RELEASED, key=_number)  # the default when no ruleset is named
LATEST = RULES / max(VERSIONS, key=_number)  # the newest of all, a draft perhaps
FAITHFUL = RULES / "1.0"  # the version that follows the published method as written


@pytest.fixture(scope="session")
def ruleset() -> Ruleset:
    """The faithful first version, which the methodology's worked numbers are checked on."""
    return load_ruleset(FAITHFUL)


@pytest.fixture(scope="session")
def run_case(ruleset: Ruleset) -> Callable[..., Estimate]:
    def run(name: str, *extra: str) -> Estimate:
        return estimate(ruleset, load_disclosure(FIXTURES / name, ruleset), extra=extra)

    return run


@pytest.fixture
def copied_rules(tmp_path: Path) -> Path:
    """A private copy of the faithful shipped ruleset, to break on purpose: a draft (its
    release manifest removed, since a released version that changed does not load)."""
    target = tmp_path / "rules"
    shutil.copytree(FAITHFUL, target)
    (target / "MANIFEST.sha256").unlink()
    return target


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the command line in-process: (exit code, stdout, stderr)."""

    def invoke(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def est(rs: Ruleset, *extra: str, **values: Any) -> Estimate:
    """The estimate of a disclosure of these values (``extra``: fields to resolve too)."""
    doc = {"id": "t", "values": values}
    return estimate(rs, disclosure_from_document(doc, "t.yaml", rs), extra=extra)


def value(e: Estimate, name: str) -> Any:
    return e.fields[name].value


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        help="rewrite fixtures/golden/ from the current rules (review the diff before committing)",
    )


# Hypothesis profiles: "ci" (default, a few hundred examples per property) and "long" for
# scheduled fuzzing (python bench/fuzz.py).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", max_examples=200, derandomize=True)
_hypothesis_settings.register_profile(
    "long", max_examples=int(__import__("os").environ.get("TUNEPRINT_FUZZ_EXAMPLES", "20000"))
)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("hypothesis_profile", default=None):
        _hypothesis_settings.load_profile("ci")


# What a wheel is built from (everything the package and its bundled data come from).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "NOTICE", "MANIFEST.in")
SOURCE_DIRS = ("engine", "rules", "schemas", "validation", "backend")


def copied_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the wheel is built from: a build leaves nothing in the checkout, and
    builds in parallel do not share a build folder."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        shutil.copy2(ROOT / name, source / name)
    for name in SOURCE_DIRS:
        shutil.copytree(
            ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return source


def bench_script(name: str) -> Any:
    """A script of bench/ as a module, for its tests."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Python of a fresh virtual environment with tuneprint installed from its wheel
    (built once per test session; dependencies come from the package index)."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("wheel")
    source = copied_sources(tmp_path_factory)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = root.glob("tuneprint-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True
    )
    return python


def run_interrupted(script: str, source: Path, out: Path) -> str:
    """The standard error of ``script`` (a batch run that sends its own process group a
    signal) run on ``source`` into ``out`` in a session of its own, after checking that
    it stopped as a stopped run does (exit 130, ``out`` not written); skipped when the run
    ended before the signal."""
    import subprocess
    import sys

    path = out.parent / "interrupted.py"
    path.write_text(script)
    done = subprocess.run(
        [sys.executable, str(path), str(source), str(out)],
        capture_output=True, text=True, timeout=120, cwd=out.parent, start_new_session=True,
    )  # fmt: skip
    if done.returncode == 0:
        pytest.skip("the run ended before the signal")
    assert done.returncode == 130, done.stderr
    assert not out.exists()
    return done.stderr
