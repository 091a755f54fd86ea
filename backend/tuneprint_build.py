"""tuneprint's build backend: setuptools', and an editable install compiles the modules.

pip compiles the modules of a package it installs (their ``.pyc`` files, written once,
beside them). An editable install (``pip install -e .``) runs the modules of the checkout
instead, which nothing compiles: where Python does not write bytecode as it imports
(``PYTHONDONTWRITEBYTECODE``, set in many containers), every run of ``tuneprint``
compiled its own modules again, 0.12-0.15 s a command (measured on one core: a one-row
batch took 0.50 s against 0.36 s, a tenth of a batch of 10^6 rows). Compiled here, once,
they are read as pip's are; a module edited later is compiled again as it is imported
(Python compares each file's time and size with its bytecode's), as without them.

Everything else is setuptools' own (wheels, source archives, metadata)."""

from __future__ import annotations

import compileall
from pathlib import Path

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403 (the hooks this module does not change)

__all__ = [*build_meta.__all__, "compiled"]

PACKAGE = Path("engine")  # tuneprint's modules, relative to the project (the build's folder)


def build_editable(
    wheel_directory: str,
    config_settings: dict[str, list[str] | str] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """setuptools' editable wheel, the checkout's modules compiled (see the module)."""
    name: str = build_meta.build_editable(wheel_directory, config_settings, metadata_directory)
    compiled(PACKAGE)
    return name


def compiled(folder: Path) -> bool:
    """Compile the modules under ``folder`` into their ``__pycache__`` folders, whether or
    not Python writes bytecode on import; whether every one compiled (one that does not
    is told when it is imported, as without this)."""
    if not folder.is_dir():
        return False
    return bool(compileall.compile_dir(str(folder), quiet=2, workers=1))
