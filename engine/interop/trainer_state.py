"""A Transformers ``trainer_state.json`` as a tuneprint disclosure.

Read from it: the tokens seen (``num_input_tokens_seen``, padded or not as the run was set
to count them, which the file does not record, so the caller says), the run time of the
final summary (``train_runtime``, seconds) and the epochs. ``total_flos`` is transformers'
estimate (6 x padded tokens x every non-embedding parameter), so it is reported, never
disclosed as measured operations. The keys, units and bounds read are in ``formats.yaml``
(section ``trainer_state``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..api import RulesetLike
from ..core.problems import InputError, Problem
from ..load.files import read_text
from ..load.yamlio import line_of, parse_json, parse_yaml
from .mapping import (
    CellProblem,
    Collector,
    ImportedDisclosure,
    checked,
    convert,
    disclosure_document,
    fail,
    formats,
    read_value,
    ruleset_of,
    unit_change,
)

STATE_FILE = "trainer_state.json"


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = formats()["trainer_state"]
    return spec


def _lines(text: str, name: str) -> Any:
    """The document as the YAML reader gives it, for the line of each key (JSON is YAML)."""
    try:
        return parse_yaml(text, name)
    except InputError:
        return None


def read_trainer_state(path: str | Path, name: str | None = None) -> tuple[dict[str, Any], Any]:
    """The checked document and its line map; InputError with one problem per bad key."""
    spec = _spec()
    shown = str(path) if name is None else name
    text = read_text(Path(path), InputError, shown)
    doc = parse_json(text, shown)
    located = _lines(text, shown)

    def problem(where: list[str | int], message: str, code: str = "schema") -> Problem:
        shown_where = ", ".join(
            f"log_history row {w + 1}" if isinstance(w, int) else f"key {w}"
            for w in where
            if w != "log_history" or where == ["log_history"]
        )
        return Problem(shown, line_of(located, where), shown_where, message, code)

    if not isinstance(doc, dict):
        raise InputError(
            [problem([], "expected a JSON object: a Transformers trainer_state.json")]
        )
    problems = []
    missing = [k for k, s in spec["keys"].items() if s.get("required") and k not in doc]
    if missing:
        hint = ""
        if "measures" in doc or "infrastructure" in doc:
            hint = " (this looks like a BoAmps report: tuneprint import boamps)"
        shown_keys = ", ".join(missing)
        raise InputError(
            [problem([], f"not a trainer_state.json: missing key {shown_keys}{hint}")]
        )
    for key, key_spec in spec["keys"].items():
        if key in doc and doc[key] is not None:
            try:
                read_value(key_spec, doc[key])
            except CellProblem as exc:
                problems.append(problem([key], str(exc), "type"))
    for index, entry in enumerate(doc.get("log_history") or []):
        if not isinstance(entry, dict):
            problems.append(problem(["log_history", index], "expected a JSON object", "type"))
            continue
        for key, key_spec in spec["log_keys"].items():
            if key in entry and entry[key] is not None:
                try:
                    read_value(key_spec, entry[key])
                except CellProblem as exc:
                    problems.append(problem(["log_history", index, key], str(exc), "type"))
    fail(problems)
    return doc, located


def _summary(history: list[dict[str, Any]], keys: list[str]) -> tuple[int, dict[str, Any]] | None:
    """The final summary: the last log entry with every summary key."""
    for index in range(len(history) - 1, -1, -1):
        if all(k in history[index] for k in keys):
            return index, history[index]
    return None


def _run_name(shown: str) -> str:
    path = Path(shown)
    if path.name == STATE_FILE and path.parent.name:
        return path.parent.name
    return path.stem


def import_trainer_state(
    path: str | Path,
    ruleset: RulesetLike = None,
    tokens: str | None = None,
    name: str | None = None,
) -> ImportedDisclosure:
    """A disclosure from a trainer_state.json. ``tokens`` says how the run counted
    ``num_input_tokens_seen``: "all" (padding included; every release before 4.57 and
    ``include_num_input_tokens_seen=True``) or "non_padding"; it is needed when the file
    holds a token count, as the file does not say."""
    spec = _spec()
    rs = ruleset_of(ruleset)
    shown = str(path) if name is None else name
    doc, located = read_trainer_state(path, shown)
    out = Collector(rs)
    modes: dict[str, str] = spec["token_modes"]
    if tokens is not None and tokens not in modes:
        raise InputError.one(
            "--tokens", None, "", f"expected one of {', '.join(modes)}, got {tokens!r}", "option"
        )
    problems: list[Problem] = []
    seen = doc.get("num_input_tokens_seen") or 0
    if seen:
        if tokens is None:
            raise InputError.one(
                shown,
                line_of(located, ["num_input_tokens_seen"]),
                "key num_input_tokens_seen",
                f"{seen} tokens, counted with or without padding as "
                "include_num_input_tokens_seen was set, which the file does not record: give "
                "--tokens all (padding included: True or 'all', and every release before 4.57) "
                "or --tokens non_padding",
                "option",
            )
        field_name = modes[tokens]
        value, problem = checked(
            rs,
            field_name,
            seen,
            shown,
            line_of(located, ["num_input_tokens_seen"]),
            "key num_input_tokens_seen",
        )
        if problem:
            problems.append(problem)
        else:
            padding = "padding included" if tokens == "all" else "padding not counted"
            out.add(
                field_name,
                value,
                f"{shown}, key num_input_tokens_seen: tokens the run's forward passes took, "
                f"{padding} (include_num_input_tokens_seen={tokens!r}), summed over processes",
            )
    else:
        out.note(
            "num_input_tokens_seen is 0 or absent (include_num_input_tokens_seen was not set): "
            "no token count disclosed"
        )
    history = list(doc.get("log_history") or [])
    found = _summary(history, list(spec["summary_keys"]))
    log_keys = spec["log_keys"]
    for field_name, how in spec["fields"].items():
        key = how["key"]
        if key == "epoch":
            value = doc.get("epoch")
            where_path: list[str | int] = ["epoch"]
            cited = f"{shown}, key epoch"
            unit = "1"
        else:
            if found is None:
                out.note(
                    f"no final summary in log_history (a checkpoint's {STATE_FILE} is saved "
                    "before train() ends; the one save_state() writes after train() has it): "
                    f"{field_name} not disclosed"
                )
                continue
            index, entry = found
            value = entry.get(key)
            where_path = ["log_history", index, key]
            cited = f"{shown}, log_history row {index + 1} (the final summary), key {key}"
            unit = log_keys[key].get("unit", "1")
        if value is None or value == 0:
            continue
        target = rs.fields[field_name].unit if field_name in rs.fields else unit
        number = convert(rs, value, unit, target)
        where = ", ".join(
            f"log_history row {w + 1}" if isinstance(w, int) else f"key {w}"
            for w in where_path
            if w != "log_history"
        )
        if field_name in rs.fields:
            _, problem = checked(
                rs, field_name, number, shown, line_of(located, where_path), where
            )
            if problem:
                problems.append(problem)
                continue
        out.add(field_name, number, f"{cited}: {how['why']}{unit_change(unit, target)}")
    flos = doc.get("total_flos")
    if flos:
        out.note(
            f"total_flos = {flos} FLOP not disclosed as training_flops: transformers estimates "
            "it as 6 x padded tokens x every non-embedding parameter (frozen ones included, so "
            "it overstates LoRA); tuneprint counts operations by its rules"
        )
    steps = doc.get("global_step")
    out.note(
        f"global_step {steps} of max_steps {doc.get('max_steps')}; train_batch_size "
        f"{doc.get('train_batch_size')} is per device, not tuneprint's batch_size (per "
        "optimiser step, all GPUs): not disclosed"
    )
    fail(problems)
    run = _run_name(shown)
    document = disclosure_document(
        f"trainer-state-{run}",
        f"Transformers trainer state of {run} ({steps} optimizer steps), imported by "
        f"tuneprint {__version__}",
        f"{shown}, Transformers trainer_state.json",
        out.entries,
    )
    notes = [
        f"imported by tuneprint {__version__} from {shown} for ruleset {rs.label}",
        *out.notes,
    ]
    return ImportedDisclosure(document, notes)
