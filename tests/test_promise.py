"""The promise, on every hostile case of the corpus (tests/corpus/bad_inputs.yaml and
tests/corpus/attacks.yaml), through the command line and the library, each in a new
process under a memory cap and a time limit:

- no traceback and no internal error, from the command line or the library;
- bad input exits non-zero (2, or 1 for a gate) and good input exits 0;
- nothing hangs past 10 s and nothing takes more than 1 GiB;
- a batch never loses a row, through ``estimate`` and through ``tuneprint batch`` (whose
  error rows are the rows ``estimate`` failed); no emission or water is negative or not finite;
- nothing the input holds reaches the terminal as control characters;
- no file is read outside the folders asked for.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import FIXTURES, ROOT, RULES
from tests.test_corpus import mini_ruleset

CORPUS = Path(__file__).parent / "corpus"
RUNNER = CORPUS / "runner.py"
SECONDS = 10  # the most one case may take
MEMORY = 1 << 30  # bytes of address space one case may use
MEMORY_KIB = MEMORY // 1024
OLD = yaml.safe_load((CORPUS / "bad_inputs.yaml").read_text(encoding="utf-8"))
NEW = yaml.safe_load((CORPUS / "attacks.yaml").read_text(encoding="utf-8"))
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\ud800-\udfff]")
SECRET = "table: secret\ndescription: a file outside every ruleset\nrows: []\n"
FIXTURE_NAMES = {
    "case_a": "case_a_seed_amortisation.yaml",
    "case_b": "case_b_bloom_training_page.yaml",
    "case_c": "case_c_seed_disclosure.yaml",
    "case_d": "case_d_seed_bedrock.yaml",
}


def _old_case(case: dict[str, Any]) -> dict[str, Any]:
    """A case of the first corpus in the form of the second."""
    target = case["target"]
    suffix = {"disclosure_json": ".json", "batch_csv": ".csv", "batch_jsonl": ".jsonl"}
    new: dict[str, Any] = {"id": case["id"], "family": case["kind"], "stderr": case["expect"]}
    new["error"] = case["error"]
    if target in ("rule_value", "rule_when", "rules_file", "table_file", "fields_file"):
        new["mini"] = case
        new["run"] = ["rules", "check", "{rs}"]
        new["library"] = ["ruleset", "{rs}"]
    elif target == "what_if":
        new["run"] = ["what-if", "{case_c}", "--set", case["input"], "--rules", "{shipped:1.0}"]
        new["library"] = ["what-if", "{case_c}", case["input"], "{shipped:1.0}"]
    else:
        name = "input" + suffix.get(target, ".yaml")
        new["files"] = {
            name: {"generate": case["generate"]} if "generate" in case else case["input"]
        }
        new["run"] = ["estimate", "{" + name + "}", "--rules", "{shipped:1.0}", "--format", "json"]
        kind = "batch" if target.startswith("batch") else "estimate"
        new["library"] = [kind, "{" + name + "}", "{shipped:1.0}"]
        if "rows" in case:
            new["rows"] = case["rows"]
    return new


CASES = [_old_case(c) for c in OLD] + NEW


def _generated(kind: str, path: Path) -> None:
    """Inputs too large, deep or special to keep as text."""
    name, _, arg = kind.partition(":")
    count = int(arg) if arg else 0
    if path.is_file() and not path.is_symlink():
        path.unlink()  # a file of a copied ruleset, replaced by the generated input
    if name in ("dev_zero", "dev_urandom", "dev_null", "dev_full"):
        path.symlink_to("/dev/" + name.removeprefix("dev_"))
    elif name == "fifo":
        os.mkfifo(path)
    elif name == "folder":
        path.mkdir()
    elif name == "billion_laughs":
        lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
        path.write_text("\n".join(lines) + "\nid: x\nvalues: {}\n")
    elif name == "deep_yaml":
        path.write_text("id: x\nvalues:\n  gpu_count: " + "[" * 5000 + "]" * 5000 + "\n")
    elif name == "deep_json":
        path.write_text('{"values": {"gpu_count": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    elif name == "large_file":
        path.write_bytes(b"id: x\nvalues: {}\n" + b"#" * (33 * 1024 * 1024) + b"\n")
    elif name == "latin1":
        path.write_bytes("id: caf\u00e9\nvalues: {}\n".encode("latin-1"))
    elif name == "unknown_keys":
        path.write_text("values:\n" + "".join(f"  k{i}: 1\n" for i in range(count)))
    elif name == "unknown_columns":
        path.write_text(
            ",".join(f"c{i}" for i in range(count)) + "\n" + ",".join("1" * count) + "\n"
        )
    elif name == "long_cell":
        path.write_text("id,base_model\nx," + "a" * count + "\n")
    elif name == "bad_rows":
        path.write_text("id,gpu_count\n" + "".join(f"r{i},-{i + 1}\n" for i in range(count)))
    elif name == "many_rows":
        rows = "".join(f"r{i},A100 80GB,4,12,us-west-2\n" for i in range(count))
        path.write_text("id,gpu_model,gpu_count,reserved_hours,cloud_region\n" + rows)
    elif name == "huge_int_json":
        path.write_text('{"values": {"gpu_count": ' + "9" * count + "}}")
    else:
        raise AssertionError(f"unknown generated input {kind}")


def _placeholder(word: str, case_dir: Path, contents: bool = False) -> str:
    """A word of a case with ``{...}`` resolved; in a file's contents only the ruleset
    references (``{shipped:V}``, ``{rel:V@folder}``), as braces there are YAML."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if contents and not key.startswith(("shipped:", "rel:")):
            return match.group(0)
        if key.startswith("shipped:"):
            return str(RULES / key.split(":", 1)[1])
        if key in FIXTURE_NAMES:
            return str(FIXTURES / FIXTURE_NAMES[key])
        if key == "outside":
            return str(case_dir / "outside")
        if key.startswith("rel:"):  # a shipped version's path relative to a case folder
            target, _, start = key[4:].partition("@")
            return os.path.relpath(RULES / target, case_dir / start)
        return str(case_dir / key)

    return re.sub(r"\{([^{}]+)\}", one, word)


def _prepare(case: dict[str, Any], case_dir: Path) -> dict[str, Any]:
    outside = case_dir / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.yaml").write_text(SECRET, encoding="utf-8")
    for target, version in case.get("copy", {}).items():
        shutil.copytree(
            RULES / version, case_dir / target, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in case.get("remove", []):
        (case_dir / name).unlink()
    if "mini" in case:
        mini_ruleset(case_dir, case["mini"])  # at case_dir / "rs"
    for name, content in case.get("files", {}).items():
        path = case_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            _generated(content["generate"], path)
        else:
            text = _placeholder(content, case_dir, True) if case.get("expand") else content
            path.write_bytes(text.encode("utf-8", "surrogatepass"))
    for name, target in case.get("links", {}).items():
        link = case_dir / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink() if not link.is_dir() or link.is_symlink() else shutil.rmtree(link)
        link.symlink_to(_placeholder(target, case_dir))
    for name, mode in case.get("modes", {}).items():
        (case_dir / name).chmod(mode)
    spec = {
        "argv": [_placeholder(w, case_dir) for w in case["run"]],
        "library": [_placeholder(w, case_dir) for w in (case.get("library") or [])] or None,
        "forbidden": str(outside.resolve()),
        "stdin": None,
    }
    library = spec["library"]
    if library and library[0] == "batch":  # the same file through ``tuneprint batch``
        spec["batch"] = [library[1], library[2] if len(library) > 2 else "newest"]
    if "stdin" in case:
        (case_dir / "stdin.txt").write_text(case["stdin"], encoding="utf-8")
        spec["stdin"] = str(case_dir / "stdin.txt")
    return spec


_LIBC = ctypes.CDLL(None, use_errno=True)
PR_CAPBSET_DROP = 24  # prctl: drop a capability from the bounding set
DAC_CAPABILITIES = (1, 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: root reads anything


def _limits(unprivileged: bool) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        if unprivileged and os.geteuid() == 0:
            for capability in DAC_CAPABILITIES:
                if _LIBC.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                    raise OSError(ctypes.get_errno(), "cannot drop capabilities")

    return apply


def _run_group(
    specs: list[dict[str, Any]], folder: Path, unprivileged: bool
) -> list[dict[str, Any]]:
    """Run prepared cases in one new process; when it dies, each case again on its own,
    so one case that kills its process is reported as such."""
    spec_file = folder / f"specs-{specs[0]['id']}-{len(specs)}.json"
    spec_file.write_text(json.dumps(specs), encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, str(RUNNER), str(spec_file)],
            capture_output=True,
            timeout=SECONDS * len(specs) + SECONDS,
            preexec_fn=_limits(unprivileged),
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if done.returncode == 0 and done.stdout:
            reports: list[dict[str, Any]] = json.loads(done.stdout)
            return reports
        crash = {"crash": done.returncode, "stderr": done.stderr.decode(errors="replace")[-2000:]}
    except subprocess.TimeoutExpired:
        crash = {"hang": True}
    if len(specs) == 1:
        return [{"id": specs[0]["id"], **crash}]
    return [r for spec in specs for r in _run_group([spec], folder, unprivileged)]


def _outputs(stdout: str) -> list[float]:
    try:
        doc = json.loads(stdout)
    except ValueError:
        return []
    docs = doc if isinstance(doc, list) else [doc]
    values = []
    for d in docs:
        if isinstance(d, dict):
            for out in d.get("outputs", {}).values():
                if isinstance(out, dict) and isinstance(out.get("value"), (int, float)):
                    values.append(float(out["value"]))
    return values


def check_promise(case: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """Every way the report breaks the promise, in words (empty: kept)."""
    if "prepare" in report:
        return [f"the case could not be prepared: {report['prepare']}"]
    if report.get("hang"):
        return [f"took longer than {SECONDS} s"]
    if "crash" in report:
        return [f"the process died (exit {report['crash']}): {report['stderr']}"]
    broken = []
    out, err = report["stdout"], report["stderr"]
    good = bool(case.get("ok"))
    expected_exit = case.get("exit", 0 if good else 2)
    if "Traceback" in out + err:
        broken.append("a traceback")
    if "internal error" in err:
        broken.append(f"an internal error: {err[-500:]}")
    if report["exit"] != expected_exit:
        broken.append(f"exit {report['exit']}, expected {expected_exit}: {err[-500:]}")
    if report["library"].get("outcome") == "internal":
        broken.append(f"the library failed inside: {report['library']}")
    if CONTROL.search(out) or CONTROL.search(err.replace("\t", "")):
        broken.append("control characters reached the terminal")
    if report["opened_forbidden"]:
        broken.append(f"read outside the folders asked for: {report['opened_forbidden']}")
    if report["max_rss_kib"] > MEMORY_KIB:
        broken.append(f"used {report['max_rss_kib']} KiB")
    if "stderr" in case and case["stderr"] not in err:
        broken.append(f"{case['stderr']!r} not in the error output: {err[-800:]}")
    library = report["library"]
    if library.get("outcome") == "rows":
        if "error" in case and not library.get("errors"):
            broken.append(f"the library gave no error row: {library}")
    elif "error" in case and library.get("class") != case["error"]:
        broken.append(f"the library gave {library}, expected {case['error']}")
    if good and report["library"].get("outcome") not in ("ok", "rows", "none"):
        broken.append(f"the library refused good input: {report['library']}")
    if "rows" in case:
        try:
            rows = len(json.loads(out)) if "--format" in case["run"] else None
        except ValueError:
            rows = -1
        if rows is not None and rows != case["rows"]:
            broken.append(f"{rows} rows out of {case['rows']}")
        library_rows = report["library"].get("rows")
        if library_rows is not None and library_rows != case["rows"]:
            broken.append(f"the library gave {library_rows} rows of {case['rows']}")
    for value in _outputs(out):
        if not math.isfinite(value) or value < 0:
            broken.append(f"an output of {value}")
    if isinstance(report.get("batch"), dict) and "skipped" not in report["batch"]:
        broken += [f"tuneprint batch: {b}" for b in _batch_broken(case, report)]
    return broken


def _batch_broken(case: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """The promise for ``tuneprint batch`` on the case's batch file: as ``estimate`` on
    the same file, but a bad row is an error row of the output, not a failed run. When
    ``estimate`` gave every row, the batch gives every row, in order, and exits 0; when
    ``estimate`` refused every row for the CSV header, the batch refuses the file, with one
    message and no output."""
    batch = report["batch"]
    broken = []
    text = batch["stdout"] + batch["stderr"]
    if "Traceback" in text or "internal error" in text:
        broken.append(f"a traceback or internal error: {text[-800:]}")
    if CONTROL.search(batch["stdout"]) or CONTROL.search(batch["stderr"].replace("\t", "")):
        broken.append("control characters reached the terminal")
    if batch["exit"] not in (0, 2):
        broken.append(f"exit {batch['exit']}")
    rows = batch["rows"]
    if batch["exit"] == 2 and rows is not None:
        broken.append("a failed run left an output file")
    if batch["exit"] == 0 and rows is None:
        broken.append("no output file")
    try:
        estimated = json.loads(report["stdout"])
    except ValueError:
        estimated = None
    whole = (
        isinstance(estimated, list)
        and len(estimated) == 1
        and all(p.get("line") is None for p in estimated[0].get("errors", [{}]))
        and ":" not in str(estimated[0].get("name"))
    )  # estimate's one entry is an error of the whole file (an empty batch)
    header = (
        isinstance(estimated, list)
        and bool(estimated)
        and all(
            isinstance(e, dict)
            and any("the header is invalid" in p.get("message", "") for p in e.get("errors", []))
            for e in estimated
        )
    )  # every row refused for the CSV header: the batch refuses the file (docs/batch.md)
    if header:
        if batch["exit"] != 2 or case.get("expect", "") not in batch["stderr"]:
            broken.append(f"a bad header not refused as one error: {batch['stderr'][-500:]}")
    elif whole:
        if batch["exit"] != 2 or case.get("stderr", "") not in batch["stderr"]:
            broken.append(f"not refused as estimate refuses it: {batch['stderr'][-500:]}")
    elif isinstance(estimated, list) and "rows" in case and len(estimated) == case["rows"]:
        if rows is None or len(rows) != case["rows"]:
            broken.append(f"{None if rows is None else len(rows)} rows out of {case['rows']}")
        else:
            failed = [isinstance(e, dict) and "errors" in e for e in estimated]
            if [bool(r["error"]) for r in rows] != failed:
                broken.append("its error rows are not the rows estimate failed")
    if case.get("ok") and (batch["exit"] != 0 or any(r["error"] for r in rows or [])):
        broken.append(f"refused good input: {batch['stderr'][-500:]}")
    for row in rows or []:
        for value in row["values"].values():
            if isinstance(value, float) and (not math.isfinite(value) or value < 0):
                broken.append(f"a value of {value} in row {row['row']}")
    return broken


def test_the_corpus_is_large_and_covers_every_family() -> None:
    batches = [c for c in CASES if (c.get("library") or [""])[0] == "batch"]
    assert len(batches) >= 30  # each also runs through ``tuneprint batch``
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "case ids are unique"
    assert len(NEW) >= 150
    families = {c["family"] for c in NEW}
    for family in (
        "yaml-1.1-numbers", "big-integers", "text-breaking-output", "jsonl-line-breaks",
        "csv-reading", "not-regular-files", "problem-caps", "expressions", "layers",
        "files-outside", "release-and-new", "unreadable-parts", "units-and-manifest",
        "command-options", "near-misses", "batch-against-estimate",
    ):  # fmt: skip
        assert family in families, family


GROUP = 20  # cases run in one process


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("promise")
    prepared: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    results: dict[str, dict[str, Any]] = {}
    for case in CASES:
        folder = root / case["id"]
        folder.mkdir()
        try:
            spec = _prepare(case, folder)
        except Exception as exc:  # a broken case must fail its own test, not every test
            results[case["id"]] = {"prepare": f"{type(exc).__name__}: {exc}"}
            continue
        prepared[bool(case.get("unprivileged"))].append(
            {**spec, "id": case["id"], "cwd": str(folder)}
        )
    groups = [
        (specs[i : i + GROUP], unprivileged)
        for unprivileged, specs in prepared.items()
        for i in range(0, len(specs), GROUP)
    ]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for batch in pool.map(lambda g: _run_group(g[0], root, g[1]), groups):
            results.update((r["id"], r) for r in batch)
    return results


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_promise(case: dict[str, Any], reports: dict[str, dict[str, Any]]) -> None:
    broken = check_promise(case, reports[case["id"]])
    assert not broken, broken


def test_a_case_is_held_to_its_own_memory_not_its_parents() -> None:
    """The runner reports its own peak: a parent holding 300 MiB when it starts the
    runner's process does not count against the cases (ru_maxrss carries it over)."""
    child = "import runner; print(runner._peak_kib())"
    parent = "\n".join(
        [
            "import subprocess, sys",
            "held = bytearray(300 << 20)",
            "for i in range(0, len(held), 4096): held[i] = 1",
            f"args = [sys.executable, '-c', {child!r}]",
            "print(subprocess.run(args, capture_output=True, text=True).stdout)",
        ]
    )
    path = os.pathsep.join([str(RUNNER.parent), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-c", parent],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert int(done.stdout.strip()) < 200 * 1024, done.stderr
