"""Every case of tests/corpus/bad_inputs.yaml: a clear error, exit code 2, no traceback,
within a time bound; and the library raises the documented error class."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tuneprint import load_ruleset
from tuneprint.core import problems as errors
from tuneprint.core.resolve import estimate
from tuneprint.load.disclosures import load_batch, load_disclosure
from tuneprint.versions.whatif import override

from tests.conftest import FAITHFUL, FIXTURES
from tests.minirules import build

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus" / "bad_inputs.yaml").read_text())
SECONDS = 10.0  # the most one hostile case may take, command line and library together
Cli = Callable[..., tuple[int, str, str]]


def generated(kind: str) -> bytes:
    if kind == "billion_laughs":
        lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
        return ("\n".join(lines) + "\nid: x\nvalues: {}\n").encode()
    if kind == "deep_yaml":
        return ("id: x\nvalues:\n  gpu_count: " + "[" * 5000 + "]" * 5000 + "\n").encode()
    if kind == "deep_json":
        return ('{"values": {"gpu_count": ' + "[" * 100_000 + "]" * 100_000 + "}}").encode()
    if kind == "large_file":
        return b"id: x\nvalues: {}\n" + b"#" * (33 * 1024 * 1024) + b"\n"
    if kind == "latin1":
        return "id: caf\u00e9\nvalues: {}\n".encode("latin-1")
    raise AssertionError(kind)


def write_input(tmp_path: Path, case: dict[str, Any]) -> Path:
    suffix = {"disclosure_json": ".json", "batch_csv": ".csv", "batch_jsonl": ".jsonl"}.get(
        case["target"], ".yaml"
    )
    path = tmp_path / f"input{suffix}"
    if "generate" in case:
        path.write_bytes(generated(case["generate"]))
    else:
        path.write_text(case["input"], encoding="utf-8")
    return path


def mini_ruleset(tmp_path: Path, case: dict[str, Any]) -> Path:
    target = case["target"]
    rule: dict[str, Any] = {"id": "c.x", "sets": "c", "priority": 10, "value": "a"}
    if target == "rule_value":
        rule["value"] = case["input"]
    elif target == "rule_when":
        rule["when"] = case["input"]
    folder = build(tmp_path / "rs", [rule])
    replaced = {
        "rules_file": "normalize/rules.yaml",
        "table_file": "tables/things.yaml",
        "fields_file": "fields.yaml",
    }.get(target)
    if replaced:
        (folder / replaced).write_text(case["input"], encoding="utf-8")
    return folder


def library_error(tmp_path: Path, case: dict[str, Any], path: Path | None) -> Exception:
    """The exception the library raises for the case (it must raise one)."""
    target = case["target"]
    try:
        if target in ("rule_value", "rule_when", "rules_file", "table_file", "fields_file"):
            load_ruleset(mini_ruleset(tmp_path / "lib", case))
        else:
            rs = load_ruleset(FAITHFUL)
            if target == "what_if":
                override(
                    load_disclosure(FIXTURES / "case_c_seed_disclosure.yaml", rs),
                    [case["input"]],
                    rs,
                )
            elif target.startswith("batch"):
                assert path is not None
                items = list(load_batch(path, rs))
                assert len(items) == case["rows"], "rows in != rows out"
                for item in items:
                    if isinstance(item, Exception):
                        raise item
            else:
                assert path is not None
                estimate(rs, load_disclosure(path, rs))
    except errors.TuneprintError as exc:
        return exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_hostile_input(cli: Cli, tmp_path: Path, case: dict[str, Any]) -> None:
    start = time.perf_counter()
    target = case["target"]
    path = None
    if target in ("rule_value", "rule_when", "rules_file", "table_file", "fields_file"):
        code, out, err = cli("rules", "check", mini_ruleset(tmp_path, case))
    elif target == "what_if":
        code, out, err = cli(
            "what-if",
            FIXTURES / "case_c_seed_disclosure.yaml",
            "--set",
            case["input"],
            "--rules",
            FAITHFUL,
        )
    else:
        path = write_input(tmp_path, case)
        code, out, err = cli("estimate", path, "--rules", FAITHFUL, "--format", "json")
        if target.startswith("batch"):
            assert len(json.loads(out)) == case["rows"], "rows in != rows out"
    assert code == 2, (out, err)
    assert "Traceback" not in err and err.startswith("error: "), err
    assert case["expect"] in err, err
    exc = library_error(tmp_path, case, path)
    assert type(exc).__name__ == case["error"], exc
    assert case["expect"] in str(exc)
    assert time.perf_counter() - start < SECONDS


def test_corpus_size_and_kinds() -> None:
    assert len(CORPUS) >= 100
    assert len({c["id"] for c in CORPUS}) == len(CORPUS)
    kinds = {c["kind"] for c in CORPUS}
    for kind in (
        "malformed-yaml",
        "malformed-json",
        "wrong-type",
        "nan-infinity",
        "negative-quantity",
        "absurd-quantity",
        "unknown-unit",
        "duplicate-keys",
        "alias-bomb",
        "large-file",
        "deep-nesting",
        "unicode-lookalike",
        "cyclic-rules",
        "unknown-field",
        "expression-attack",
        "batch",
    ):
        assert kind in kinds, kind
