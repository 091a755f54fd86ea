"""Reading YAML and JSON safely, keeping line numbers so every error can point at a line.

YAML is read with YAML 1.2 scalars: only true/false are booleans (``no`` stays the string
"no", a country code), ``1e3`` is a float, dates stay strings until a field's type parses
them. Duplicate keys, aliases and merge keys are errors: a repeated key would silently hide
a value, and aliases invite exponential "billion laughs" documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from ..core.problems import InputError, Problem, TuneprintError

MAX_FILE_BYTES = 32 * 1024 * 1024  # largest rule table or disclosure file read
MAX_DEPTH = 64  # deepest nesting of mappings and lists in one document


class LineDict(dict[str, Any]):
    """A mapping read from YAML that remembers the line of itself and of each key."""

    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class LineList(list[Any]):
    """A sequence read from YAML that remembers the line of itself and of each item."""

    line: int | None = None
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


def _yaml12_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    dropped = {
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:timestamp",
        "tag:yaml.org,2002:merge",
        "tag:yaml.org,2002:value",
    }
    return {
        first: [(tag, rx) for tag, rx in entries if tag not in dropped]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present


class _Loader(_BASE):  # type: ignore[misc]
    """A safe loader with YAML 1.2 core-schema scalars, line tracking and hard limits.

    Aliases are refused when a node is constructed a second time (an alias is the same
    node reached twice), which works with both the C and the pure-Python parser.
    """

    yaml_implicit_resolvers = _yaml12_resolvers()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._seen: set[int] = set()

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if id(node) in self._seen:
            raise yaml.MarkedYAMLError(
                None, None, "aliases (*name) are not allowed", node.start_mark
            )
        self._seen.add(id(node))
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", node.start_mark
                )
            return super().construct_object(node, deep=deep)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> LineDict:
        result = LineDict()
        result.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                raise yaml.MarkedYAMLError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {result.key_lines[key]})",
                    key_node.start_mark,
                )
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: SequenceNode, deep: bool = False) -> LineList:
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


def read_text(
    path: Path, error: type[TuneprintError] = InputError, name: str | None = None
) -> str:
    """Read a UTF-8 text file within the size limit, or raise one clear error naming the
    file as ``name`` (default: the path as given)."""
    shown = str(path) if name is None else name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise error.one(shown, None, "", f"cannot read file: {exc.strerror}", "file") from None
    if size > MAX_FILE_BYTES:
        raise error.one(
            shown, None, "", f"file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes", "limit"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error.one(
            shown,
            None,
            "",
            f"not UTF-8 text (byte {exc.start}): save the file as UTF-8",
            "syntax",
        ) from None
    except OSError as exc:
        raise error.one(shown, None, "", f"cannot read file: {exc.strerror}", "file") from None


def parse_yaml(text: str, name: str, error: type[TuneprintError] = InputError) -> Any:
    """Parse one YAML document; syntax errors become one message with file and line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = exc.problem or exc.context or "malformed YAML"
        raise error.one(name, line, "", f"invalid YAML: {message}", "syntax") from None
    except yaml.YAMLError as exc:
        raise error.one(name, None, "", f"invalid YAML: {exc}", "syntax") from None
    except RecursionError:
        raise error.one(name, None, "", "invalid YAML: nesting too deep", "limit") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not a number JSON allows")


def parse_json(text: str, name: str, error: type[TuneprintError] = InputError) -> Any:
    """Parse a JSON document strictly: duplicate keys and NaN/Infinity are errors."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise error.one(name, exc.lineno, "", f"invalid JSON: {exc.msg}", "syntax") from None
    except ValueError as exc:
        raise error.one(name, None, "", f"invalid JSON: {exc}", "syntax") from None
    except RecursionError:
        raise error.one(name, None, "", "invalid JSON: nesting too deep", "limit") from None


def load_file(
    path: Path, error: type[TuneprintError] = InputError, name: str | None = None
) -> Any:
    """Read a YAML or JSON file (by extension) within the limits."""
    shown = str(path) if name is None else name
    text = read_text(path, error, shown)
    if path.suffix.lower() == ".json":
        return parse_json(text, shown, error)
    return parse_yaml(text, shown, error)


def line_of(document: Any, path: Sequence[str | int]) -> int | None:
    """The line of the deepest element of ``path`` that the document still holds."""
    line: int | None = getattr(document, "line", None)
    node = document
    for step in path:
        if isinstance(node, LineDict) and isinstance(step, str) and step in node:
            line = node.key_lines.get(step, line)
            node = node[step]
        elif isinstance(node, LineList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line


def problem_at(
    name: str,
    document: Any,
    path: Sequence[str | int],
    message: str,
    code: str = "schema",
    **about: str | None,
) -> Problem:
    """A Problem located at ``path`` inside a document read by this module."""
    where = ".".join(str(p) for p in path)
    return Problem(name, line_of(document, path), where, message, code, **about)
