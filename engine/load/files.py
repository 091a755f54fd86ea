"""The one way tuneprint reads a file: bounded, regular files only, never blocking, and
(for rule files) never outside the folder asked for.

Every disclosure, batch, rule file, table, units file and manifest goes through
``read_bytes``. ``-`` is standard input. A device (``/dev/zero``), a FIFO, a folder or a
file that grows without end is refused or cut at the limit instead of being read into
memory; a FIFO is opened without blocking, so it cannot hang a run; a file whose real path
lies outside the folder it must belong to (a symbolic link pointing elsewhere) is refused
before it is read.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from ..core.problems import InputError, TuneprintError

MAX_FILE_BYTES = 32 * 1024 * 1024  # largest rule table, disclosure or batch file read
CHUNK_BYTES = 1 << 20  # bytes read at a time
STDIN = "-"  # the name that means standard input
BOM = "\ufeff"  # a byte-order mark some editors put at the start of UTF-8 files


def _fail(error: type[TuneprintError], name: str, message: str, code: str) -> TuneprintError:
    return error.one(name, None, "", message, code)


def read_bytes(
    path: Path | str,
    error: type[TuneprintError] = InputError,
    name: str | None = None,
    within: Path | None = None,
    limit: int = MAX_FILE_BYTES,
) -> bytes:
    """The bytes of a regular file (or of standard input for ``-``), at most ``limit``.

    ``within``: the folder the file must really lie in (after symbolic links). Raises
    ``error`` with one problem naming the file and what is wrong.
    """
    shown = str(path) if name is None else name
    if str(path) == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise _fail(error, shown, f"input is larger than {limit} bytes", "limit")
        return data
    path = Path(path)
    if within is not None:
        try:
            real = path.resolve(strict=True)
            inside = real.is_relative_to(within.resolve(strict=True))
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            raise _fail(
                error,
                shown,
                "the file lies outside its ruleset folder (a link pointing elsewhere?): "
                "rules are read only from the folder they belong to",
                "file",
            )
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        )
    except IsADirectoryError:
        raise _fail(error, shown, "is a folder, not a file", "file") from None
    except OSError as exc:
        raise _fail(error, shown, f"cannot read file: {exc.strerror}", "file") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(error, shown, "is a folder, not a file", "file")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(error, shown, "is not a regular file (a device, pipe or socket)", "file")
        if info.st_size > limit:
            raise _fail(
                error, shown, f"file is {info.st_size} bytes; the limit is {limit} bytes", "limit"
            )
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(CHUNK_BYTES, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise _fail(error, shown, f"file is larger than {limit} bytes", "limit")
        return b"".join(chunks)
    except OSError as exc:
        raise _fail(error, shown, f"cannot read file: {exc.strerror}", "file") from None
    finally:
        os.close(fd)


def decode(
    data: bytes, error: type[TuneprintError], name: str, advice: str = "save the file as UTF-8"
) -> str:
    """UTF-8 text (a leading byte-order mark dropped), or one clear error. Every reader of
    text uses it: files, and the service's request bodies."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error.one(
            name, None, "", f"not UTF-8 text (byte {exc.start}): {advice}", "syntax"
        ) from None
    return text[1:] if text.startswith(BOM) else text


def read_text(
    path: Path | str,
    error: type[TuneprintError] = InputError,
    name: str | None = None,
    within: Path | None = None,
) -> str:
    """A UTF-8 text file read with ``read_bytes``."""
    shown = str(path) if name is None else name
    return decode(read_bytes(path, error, shown, within), error, shown)


def list_files(folder: Path, pattern: str, error: type[TuneprintError], name: str) -> list[Path]:
    """The files of ``folder`` matching ``pattern`` (sorted), or an error when the folder
    exists but cannot be read: a folder skipped for want of permission would silently
    change the result."""
    if not folder.exists():
        return []
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries)
    except OSError as exc:
        raise error.one(name, None, "", f"cannot read folder: {exc.strerror}", "file") from None
    import fnmatch

    return [folder / n for n in names if fnmatch.fnmatchcase(n, pattern)]
