"""The build backend (backend/tuneprint_build.py): an editable install compiles the
checkout's modules, even where Python writes no bytecode as it imports, so that a run does
not compile them again each time; everything else is setuptools'."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, copied_sources

BACKEND = ROOT / "backend"
TAG = sys.implementation.cache_tag


def _no_bytecode_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _compiled_modules(package: Path) -> tuple[set[str], set[str]]:
    """The package's modules, and those with bytecode of this Python beside them."""
    modules = {str(p.relative_to(package).with_suffix("")) for p in package.rglob("*.py")}
    compiled = {
        str((p.parent.parent / p.name.split(".")[0]).relative_to(package))
        for p in package.rglob(f"__pycache__/*.{TAG}.pyc")
    }
    return modules, compiled


def test_pyproject_builds_with_the_backend_and_the_source_archive_carries_it() -> None:
    tomllib = pytest.importorskip("tomllib")  # (Python 3.11 and later)
    with open(ROOT / "pyproject.toml", "rb") as file:
        system = tomllib.load(file)["build-system"]
    assert system["build-backend"] == "tuneprint_build"
    assert system["backend-path"] == ["backend"]
    assert (BACKEND / "tuneprint_build.py").is_file()
    assert "graft backend" in (ROOT / "MANIFEST.in").read_text().splitlines()


def test_compiled_writes_bytecode_where_imports_write_none(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 2\n")
    assert _compiled(package, package / "none") == ["True", "False"]  # (no folder: none)
    modules, compiled = _compiled_modules(package)
    assert modules == compiled == {"a", "sub/b"}


def test_a_module_that_does_not_compile_is_told_and_the_others_are_compiled(
    tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "good.py").write_text("X = 1\n")
    (package / "bad.py").write_text("def (:\n")
    assert _compiled(package) == ["False"]
    assert _compiled_modules(package)[1] == {"good"}


def _compiled(*folders: Path) -> list[str]:
    """``compiled`` of each folder, run where Python writes no bytecode on import (in a
    process of its own: the backend imports setuptools)."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import tuneprint_build as t; "
        "from pathlib import Path; assert sys.dont_write_bytecode; "
        "print(*(t.compiled(Path(f)) for f in sys.argv[2:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(BACKEND), *map(str, folders)],
        capture_output=True, text=True, env=_no_bytecode_env(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _setuptools_builds() -> bool:
    """Whether this environment's setuptools is one the build requires (pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version

    if importlib.util.find_spec("setuptools") is None:
        return False
    try:
        found = version("setuptools")
    except PackageNotFoundError:
        return False
    parts = tuple(int(p) for p in found.split(".")[:2] if p.isdigit())
    return parts >= (69,)


@pytest.mark.skipif(not _setuptools_builds(), reason="no setuptools 69 or later here")
def test_an_editable_build_compiles_every_module_of_the_checkout(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    source = copied_sources(tmp_path_factory)  # (copied without bytecode)
    assert not _compiled_modules(source / "engine")[1]
    out = tmp_path_factory.mktemp("editable")
    script = (
        "import sys; sys.path.insert(0, 'backend'); import tuneprint_build as t; "
        "print(t.build_editable(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=source, capture_output=True, text=True, env=_no_bytecode_env(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wheel = done.stdout.strip().splitlines()[-1]
    assert wheel.startswith("tuneprint-") and wheel.endswith(".whl")
    assert (out / wheel).is_file()
    modules, compiled = _compiled_modules(source / "engine")
    assert len(modules) > 50
    assert compiled == modules
