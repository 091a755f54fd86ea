"""The ruleset cache: used only for exactly the files it was made from, signed, never
trusted, and equal to a checked load."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import tuneprint
from tuneprint.load import cache
from tuneprint.load.layers import content_hash, layers_of
from tuneprint.load.ruleset import load_folder
from tuneprint.views.json import dumps

from tests.conftest import FIXTURES, RULES, VERSIONS

CASES = sorted(FIXTURES.glob("case_*.yaml"))


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUNEPRINT_CACHE_DIR", str(folder))
    return folder


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("ruleset-*.bin"))


def _results(rs: tuneprint.Ruleset) -> list[str]:
    return [dumps(tuneprint.estimate(case, rs).to_json()) for case in CASES]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_cached_ruleset_gives_the_results_of_a_checked_one(
    version: str, cache_dir: Path
) -> None:
    checked = load_folder(RULES / version, cached=False)
    load_folder(RULES / version)  # writes the entry
    assert len(_entries(cache_dir)) == 1
    cached = load_folder(RULES / version)  # reads it
    assert cached.content_hash == checked.content_hash
    assert _results(cached) == _results(checked)


def test_an_edited_ruleset_does_not_use_the_old_entry(tmp_path: Path, cache_dir: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES / "1.0", rules / "1.0")
    folder = rules / "1.0"
    (folder / "MANIFEST.sha256").unlink()
    before = load_folder(folder)
    usage = folder / "normalize" / "usage.yaml"
    usage.write_text(usage.read_text().replace("value: 365\n", "value: 730\n"), encoding="utf-8")
    after = load_folder(folder)
    assert after.content_hash != before.content_hash
    assert len(_entries(cache_dir)) == 2
    case = FIXTURES / "case_c_seed_disclosure.yaml"
    assert tuneprint.estimate(case, after).value("use_life_days") == 730


def _entry_of(version: str, folder: Path) -> Path:
    chain = [p for p, _ in layers_of(RULES / version)]
    digest = ""
    for layer in chain:
        digest = content_hash(layer, digest)
    return cache._entry(folder, digest, chain)


def test_a_corrupt_entry_is_rebuilt(cache_dir: Path) -> None:
    load_folder(RULES / "2.3")
    (entry,) = _entries(cache_dir)
    entry.write_bytes(entry.read_bytes()[:1000])
    rs = load_folder(RULES / "2.3")
    assert _results(rs)[3] == _results(load_folder(RULES / "2.3", cached=False))[3]
    assert entry.stat().st_size > 1000  # rewritten


class _Bomb:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("touch cache-bomb-went-off",))


def test_an_unsigned_entry_never_runs(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry written by someone without the key (here: a pickle that runs a command
    when loaded) is refused before anything in it is read."""
    load_folder(RULES / "1.0")
    entry = _entry_of("1.0", cache_dir)
    payload = pickle.dumps(_Bomb())
    body = (4).to_bytes(8, "big") + b"code" + (2).to_bytes(8, "big") + b"{}" + payload
    entry.write_bytes(cache.FORMAT + b"\0" * 32 + body)
    monkeypatch.chdir(tmp_path)
    rs = load_folder(RULES / "1.0")
    assert not (tmp_path / "cache-bomb-went-off").exists()
    assert rs.version == "1.0" and rs.plan is not None


def test_an_entry_signed_with_another_key_is_not_used(cache_dir: Path) -> None:
    load_folder(RULES / "1.0")
    (cache_dir / cache.KEY_FILE).write_bytes(b"k" * cache.KEY_BYTES)
    assert cache.read(*_hash_and_layers("1.0")) is None
    assert load_folder(RULES / "1.0").version == "1.0"


def _hash_and_layers(version: str) -> tuple[str, list[Path]]:
    chain = [p for p, _ in layers_of(RULES / version)]
    digest = ""
    for layer in chain:
        digest = content_hash(layer, digest)
    return digest, chain


def test_a_key_others_can_read_turns_the_cache_off(cache_dir: Path) -> None:
    load_folder(RULES / "1.0")
    (cache_dir / cache.KEY_FILE).chmod(0o644)
    assert cache.read(*_hash_and_layers("1.0")) is None
    assert load_folder(RULES / "1.0").version == "1.0"


def test_the_cache_can_be_turned_off_and_deleted(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_folder(RULES / "1.0")
    assert cache.clear() == 1 and not _entries(cache_dir)
    monkeypatch.setenv("TUNEPRINT_NO_CACHE", "1")
    load_folder(RULES / "1.0")
    assert not _entries(cache_dir)


def test_a_cached_ruleset_holds_its_folders_as_this_process_reached_them(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry written by a process that named the folders relative to its working folder
    is found again by the folders resolved, from anywhere: the ruleset read from it holds
    the folders as the reader gave them, not the writer's relative ones (a batch's worker
    processes, the summary and the interop units read files there)."""
    monkeypatch.chdir(RULES.parent)
    written = load_folder(Path("rules") / "2.4")
    assert written.folder == Path("rules") / "2.4" and len(_entries(cache_dir)) == 1
    monkeypatch.chdir(tmp_path)
    read = load_folder(RULES / "2.4")
    assert len(_entries(cache_dir)) == 1  # the same entry
    assert read.folder == RULES / "2.4" and (read.folder / "ruleset.yaml").is_file()
    assert [layer.folder for layer in read.layers] == [f for f, _ in layers_of(RULES / "2.4")]
