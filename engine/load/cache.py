"""A cache of checked rulesets, keyed by their content hash, in the user's cache folder.

Checking a ruleset (YAML, JSON Schema, expressions, units, the generated resolver) takes
most of a second; reading it back from the cache takes a few tens of milliseconds. The
cache is safe to delete and is never trusted:

- an entry is found by the ruleset's content hash (every byte of every file of every
  version it extends), the folders it was loaded from, and the engine that wrote it (its
  version, and the size and time of its own files), so an entry of other files or other
  code is never used;
- every entry is signed (HMAC-SHA256) with a key made on first use and readable by the
  user alone; an entry whose signature does not match (corrupt, truncated, written by
  someone else) is rebuilt, and nothing in it is read before the signature is checked,
  so reading the cache can never run code of anyone but the user;
- any failure to read or write the cache falls back to a checked load.

An entry holds the compiled resolver (marshal), the tables as plain data (marshal, the
bulk of a ruleset, loaded several times faster than pickled records) and the rest of the
checked model (pickle, the tables referred to by name).

``TUNEPRINT_CACHE_DIR`` sets the folder; ``TUNEPRINT_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import hmac
import io
import marshal
import os
import pickle
import stat
import sys
from datetime import datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

from ..core.compiler import build_plan, compile_source, generate_plan
from ..core.model import FieldSpec, Layer, Location, Row, Ruleset, Table

FORMAT = b"TPRS0005"  # changes whenever what is stored changes
KEY_FILE = "signing.key"
KEY_BYTES = 32
DIGEST = hashlib.sha256
SIZE_BYTES = 8  # length prefix of each part of an entry
PRIVATE_FOLDER = 0o700  # the cache folder: the user's alone
PRIVATE_FILE = 0o600  # the signing key: read and written by the user alone
SHARED_BITS = 0o077  # permission bits that would let others read or write
NAME_CHARS = 40  # hexadecimal characters of an entry's file name


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is off."""
    if os.environ.get("TUNEPRINT_NO_CACHE"):
        return None
    chosen = os.environ.get("TUNEPRINT_CACHE_DIR")
    if chosen:
        return Path(chosen)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tuneprint", appauthor=False))


def _key(folder: Path) -> bytes | None:
    """The signing key, made on first use; None when it cannot be kept private."""
    path = folder / KEY_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        except FileExistsError:
            pass
        else:
            import secrets

            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(KEY_BYTES))
        info = path.lstat()
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_mode & SHARED_BITS
            or (hasattr(os, "getuid") and info.st_uid != os.getuid())
        ):
            return None  # readable or writable by others: not a secret
        key = path.read_bytes()
    except OSError:
        return None
    return key if len(key) == KEY_BYTES else None


@cache
def _engine_fingerprint() -> str:
    """The engine: its version, Python's, and the size and time of each of its source and
    schema files, so an entry written by other code (an edited checkout) is not used."""
    from .. import __version__
    from .paths import shipped

    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{__version__}\0{sys.version}".encode())
    for path in sorted([*package.rglob("*.py"), *shipped("schemas").glob("*.json")]):
        info = path.stat()
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _entry(folder: Path, ruleset_hash: str, layers: list[Path]) -> Path:
    folders = [str(p.resolve()) for p in layers]
    identity = "\0".join([ruleset_hash, *folders, _engine_fingerprint()])
    return folder / f"ruleset-{hashlib.sha256(identity.encode()).hexdigest()[:NAME_CHARS]}.bin"


# -- tables as plain data -------------------------------------------------------------------

_SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(FieldSpec))


def _plain_spec(spec: FieldSpec) -> tuple[Any, ...]:
    return tuple(
        tuple(v) if name == "at" and v is not None else v
        for name, v in ((n, getattr(spec, n)) for n in _SPEC_FIELDS)
    )


def _spec(plain: tuple[Any, ...]) -> FieldSpec:
    values = dict(zip(_SPEC_FIELDS, plain, strict=True))
    if values["at"] is not None:
        values["at"] = Location(*values["at"])
    return FieldSpec(**values)


def _plain_table(table: Table) -> tuple[Any, ...]:
    """A table as columns of plain values (marshal holds them; rows are rebuilt in C
    loops)."""
    norm = {id(row): key for key, row in table.index.items()}
    position = {id(row): i for i, row in enumerate(table.rows)}
    dates = {c for c, spec in table.columns.items() if spec.type == "date"}
    rows = table.rows
    values = tuple(
        {k: v.isoformat() if k in dates and v is not None else v for k, v in r.values.items()}
        if dates
        else r.values
        for r in rows
    )
    years = {
        prefix: tuple((year, position[id(row)]) for year, row in series)
        for prefix, series in table.years.items()
    }
    columns = {c: _plain_spec(s) for c, s in table.columns.items()}
    return (
        table.name, table.description, tuple(table.at), table.key, columns,
        tuple(norm[id(r)] for r in rows), tuple(r.key for r in rows), values,
        tuple(r.sources for r in rows), tuple(tuple(r.at) for r in rows),
        tuple(r.aliases for r in rows), tuple(r.note for r in rows),
        years, table.names, table.folded,
    )  # fmt: skip


_ROW = partial(tuple.__new__, Row)
_LOCATION = partial(tuple.__new__, Location)


def _table(plain: tuple[Any, ...]) -> Table:
    (name, description, at, key, plain_columns, norms, keys, values, sources, places,
     aliases, notes, years, names, folded) = plain  # fmt: skip
    columns = {c: _spec(s) for c, s in plain_columns.items()}
    for column, spec in columns.items():
        if spec.type == "date":
            for row_values in values:
                if row_values.get(column) is not None:
                    row_values[column] = datetime.fromisoformat(row_values[column])
    rows = tuple(
        map(_ROW, zip(keys, values, sources, map(_LOCATION, places), aliases, notes, strict=True))
    )
    by_year = {
        prefix: tuple([(year, rows[i]) for year, i in series]) for prefix, series in years.items()
    }
    return Table(
        name, description, Location(*at), key, columns, rows,
        dict(zip(norms, rows, strict=True)), names, by_year, folded,
        dict(zip(keys, rows, strict=True)),
    )  # fmt: skip


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        return ("table", obj.name) if isinstance(obj, Table) else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, tables: dict[str, Table]) -> None:
        super().__init__(io.BytesIO(data))
        self.tables = tables

    def persistent_load(self, pid: Any) -> Any:
        kind, name = pid
        if kind != "table":
            raise pickle.UnpicklingError(f"unknown reference {kind!r}")
        return self.tables[name]


# -- reading and writing ----------------------------------------------------------------------


def _parts(body: bytes, count: int) -> list[bytes]:
    parts, at = [], 0
    for _ in range(count - 1):
        size = int.from_bytes(body[at : at + SIZE_BYTES], "big")
        at += SIZE_BYTES
        parts.append(body[at : at + size])
        at += size
    parts.append(body[at:])
    return parts


def read(ruleset_hash: str, layers: list[Path]) -> Ruleset | None:
    """The cached ruleset of this content hash and these folders, or None (not cached,
    corrupt, foreign or unreadable)."""
    folder = cache_dir()
    key = None if folder is None else _key(folder)
    if folder is None or key is None:
        return None
    try:
        blob = _entry(folder, ruleset_hash, layers).read_bytes()
    except OSError:
        return None
    size = DIGEST().digest_size
    head, mac = blob[: len(FORMAT)], blob[len(FORMAT) : len(FORMAT) + size]
    body = blob[len(FORMAT) + size :]
    if head != FORMAT or not hmac.compare_digest(mac, hmac.new(key, body, DIGEST).digest()):
        return None
    collecting = gc.isenabled()
    gc.disable()  # thousands of objects are made at once, none of them garbage
    try:
        code_part, tables_part, model_part = _parts(body, 3)
        code = marshal.loads(code_part)
        tables = {plain[0]: _table(plain) for plain in marshal.loads(tables_part)}
        ruleset, bound = _Unpickler(model_part, tables).load()
        if not isinstance(ruleset, Ruleset) or ruleset.content_hash != ruleset_hash:
            return None
        plan, accepts = build_plan(ruleset, code, bound)
        # the entry is found by the folders resolved, but holds them as they were written
        # when it was made (perhaps relative to another working folder): give the caller's
        here = tuple(
            Layer(layer.version, path) for layer, path in zip(ruleset.layers, layers, strict=True)
        )
        return dataclasses.replace(ruleset, plan=plan, accepts=accepts, layers=here)
    except Exception:  # a signed entry that still does not load: rebuild it
        return None
    finally:
        if collecting:
            gc.enable()


def write(ruleset: Ruleset, layers: list[Path]) -> None:
    """Store a checked ruleset; failures to write are ignored (the cache is optional)."""
    folder = cache_dir()
    key = None if folder is None else _key(folder)
    if folder is None or key is None:
        return
    try:
        source, bound = generate_plan(ruleset)
        code = marshal.dumps(compile_source(ruleset, source))
        tables = marshal.dumps(tuple(_plain_table(t) for t in ruleset.tables.values()))
        model = io.BytesIO()
        bare = dataclasses.replace(ruleset, plan=None, accepts=None)  # code is stored apart
        _Pickler(model, protocol=5).dump((bare, bound))
        body = b"".join(
            [len(code).to_bytes(SIZE_BYTES, "big"), code,
             len(tables).to_bytes(SIZE_BYTES, "big"), tables, model.getvalue()]
        )  # fmt: skip
        mac = hmac.new(key, body, DIGEST).digest()
        target = _entry(folder, ruleset.content_hash, layers)
        import tempfile

        fd, temp = tempfile.mkstemp(dir=folder, prefix=".ruleset-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(FORMAT + mac + body)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except (OSError, pickle.PicklingError, TypeError, ValueError, AttributeError):
        return


def clear() -> int:
    """Delete every cached ruleset; the number deleted."""
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    count = 0
    for path in folder.glob("ruleset-*.bin"):
        try:
            path.unlink()
            count += 1
        except OSError:
            pass
    return count
