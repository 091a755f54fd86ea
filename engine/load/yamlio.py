"""Reading YAML and JSON safely, keeping line numbers so every error can point at a line.

YAML is read with YAML 1.2 scalars: only true/false are booleans (``no`` stays the string
"no", a country code), ``1e3`` is a float, dates stay strings until a field's type parses
them. Duplicate keys, aliases and merge keys are errors: a repeated key would silently hide
a value, and aliases invite exponential "billion laughs" documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from ..core.problems import InputError, Problem, TuneprintError
from ..core.text import given
from ..core.values import read_float
from .files import read_text

MAX_DEPTH = 64  # deepest nesting of mappings and lists in one document
LIBYAML_DEPTH = "exceeded maximum nesting depth"  # libyaml's message at its own limit
MAX_NODES = 500_000  # values (scalars, lists, mappings) in one rule file or table
MAX_DISCLOSURE_NODES = 10_000  # values in one disclosure: a run has a few dozen fields
MAX_DIGITS = 30  # digits of a written whole number: more is no physical quantity
MAX_NUMBER_CHARS = 40  # characters of a written decimal number
NEAR_CHARS = 12  # of a document, each side of where JSON's reader stopped, shown
SHOWN_CHARS = 40  # of what a message quotes

_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_OTHER_BASE = re.compile(r"0o[0-7]+|0x[0-9a-fA-F]+")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")


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

    def __init__(
        self, stream: str, max_nodes: int = MAX_NODES, written_numbers: bool = False
    ) -> None:
        super().__init__(stream)
        self._depth = 0
        self._seen: set[int] = set()
        self._max_nodes = max_nodes
        self.written_numbers = written_numbers  # (see parse_yaml)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if id(node) in self._seen:
            raise yaml.MarkedYAMLError(
                None, None, "aliases (*name) are not allowed", node.start_mark
            )
        self._seen.add(id(node))
        if len(self._seen) > self._max_nodes:
            raise yaml.MarkedYAMLError(
                None, None, f"more than {self._max_nodes} values in one document", node.start_mark
            )
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


def _refuse(loader: _Loader, node: Node, message: str) -> NoReturn:
    raise yaml.MarkedYAMLError(None, None, message, node.start_mark)


def _int(loader: _Loader, node: Node) -> int:
    """A whole number as YAML 1.2 writes it: no octal from a leading zero, no base 60,
    no digit separators, and a bounded number of digits."""
    text = str(loader.construct_scalar(node))
    if _LEADING_ZERO.fullmatch(text):
        return _refuse(
            loader,
            node,
            f"{text} has a leading zero, which YAML 1.1 reads as octal: write "
            f"{text.lstrip('+-').lstrip('0') or '0'} (or quote it to keep the text)",
        )
    digits = len(text.lstrip("+-"))
    if digits > MAX_DIGITS:
        return _refuse(loader, node, f"a whole number of {digits} digits is out of range")
    if _DECIMAL.fullmatch(text):
        return int(text)
    if _OTHER_BASE.fullmatch(text):
        return int(text, 0)
    return _refuse(loader, node, f"{text!r} is not a whole number")


def _float(loader: _Loader, node: Node) -> float:
    text = str(loader.construct_scalar(node))
    if len(text) > MAX_NUMBER_CHARS:
        return _refuse(loader, node, f"a number of {len(text)} characters is out of range")
    lowered = text.lower().lstrip("+-")
    if lowered in (".inf", ".nan"):
        return float(text.replace(".", "", 1))
    try:
        if "_" in text:
            raise ValueError(text)
        return read_float(text) if loader.written_numbers else float(text)
    except ValueError:
        _refuse(loader, node, f"{text!r} is not a number")


def _bool(loader: _Loader, node: Node) -> bool:
    text = str(loader.construct_scalar(node))
    if text.lower() not in ("true", "false"):
        _refuse(loader, node, f"{text!r} is not true or false (YAML 1.2 has no yes/no/on/off)")
    return text.lower() == "true"


def _str(loader: _Loader, node: Node) -> str:
    text = str(loader.construct_scalar(node))
    check_text(text, lambda message: _refuse(loader, node, message))
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: str, fail: Any) -> None:
    """Call ``fail(message)`` if a text holds an unpaired surrogate (which no output can
    encode)."""
    if not text.isascii() and _SURROGATE.search(text):
        fail(f"the text {text!r} holds an unpaired surrogate, which is not a character")


def _other_tag(loader: _Loader, node: Node) -> Any:
    return _refuse(loader, node, f"the tag {node.tag} is not allowed (text, numbers, "
                                 "true/false, lists and mappings only)")  # fmt: skip


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:float", _float)
_Loader.add_constructor("tag:yaml.org,2002:str", _str)
_Loader.add_constructor("tag:yaml.org,2002:bool", _bool)
for _tag in ("binary", "set", "omap", "pairs", "timestamp", "value", "merge"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _other_tag)
_Loader.add_constructor(None, _other_tag)


def _count_events(text: str, name: str, error: type[TuneprintError], max_nodes: int) -> None:
    """Refuse a document of more values than ``max_nodes`` before building any of them:
    the parser's events are counted, which stops at the limit."""
    scanner = _BASE(text)
    try:
        count = 0
        while scanner.check_event():
            event = scanner.get_event()
            if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
                count += 1
                if count > max_nodes:
                    mark = event.start_mark
                    raise error.one(
                        name,
                        None if mark is None else mark.line + 1,
                        "",
                        f"invalid YAML: more than {max_nodes} values in one document",
                        "limit",
                    )
    except yaml.YAMLError:
        return  # the parse itself reports the syntax error, with its line
    finally:
        scanner.dispose()


def parse_yaml(
    text: str,
    name: str,
    error: type[TuneprintError] = InputError,
    max_nodes: int = MAX_NODES,
    written_numbers: bool = False,
) -> Any:
    """Parse one YAML document; syntax errors become one message with file and line.
    ``written_numbers``: a number no float shows (``1e-400``, ``1e999``) is read as a
    ``Written`` float, told as written where a field's check refuses it (a disclosure's
    values, whose checks give plain floats); else every number is a plain float (a
    rule's, kept in the cache and written as JSON)."""
    if max_nodes < MAX_NODES:
        _count_events(text, name, error, max_nodes)
    loader = _Loader(text, max_nodes, written_numbers)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = exc.problem or exc.context or "malformed YAML"
        if message == LIBYAML_DEPTH:  # (the parser's own limit, deeper than ours: ours told)
            message = f"nesting deeper than {MAX_DEPTH} levels"
        raise error.one(name, line, "", f"invalid YAML: {message}", "syntax") from None
    except yaml.YAMLError as exc:
        raise error.one(name, None, "", f"invalid YAML: {exc}", "syntax") from None
    except RecursionError:
        raise error.one(name, None, "", "invalid YAML: nesting too deep", "limit") from None
    finally:
        loader.dispose()


class DuplicateKey(ValueError):
    """A JSON object holding a key twice (a reader keeps the last: an edit hidden)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s ``object_pairs_hook``: an object, or DuplicateKey."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not a number JSON allows")


class _Number(ValueError):
    """A number a JSON document writes that no field can hold (``written``: as written)."""

    def __init__(self, message: str, written: str) -> None:
        super().__init__(message)
        self.written = written


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        digits = len(text.lstrip("-"))
        raise _Number(f"a whole number of {digits} digits is out of range", text)
    return int(text)


def _json_float(text: str, read: Callable[[str], float] = float) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Number(f"a number of {len(text)} characters is out of range", text)
    return read(text)


# (1e999 and 1e-400 shown as written in a message: see parse_yaml's written_numbers)
_json_written = partial(_json_float, read=read_float)


def _decode_problem(text: str, exc: json.JSONDecodeError) -> str:
    """What JSON's reader stopped at, said where: the column and what is written there."""
    if text.startswith("\ufeff"):  # (json's own words name a Python codec)
        return "a byte-order mark (U+FEFF) starts it (only a file may begin with one)"
    if not text[exc.pos :].strip():
        return f"{exc.msg}: the document ends before it is complete"
    at = exc.pos
    if at and text[at - 1] == "0" and text[at].isdigit() and not text[at - 2 : at - 1].isdigit():
        start = at - 1 - (text[at - 2 : at - 1] == "-")
        written = re.match(r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?", text[start:])
        number = (written[0] if written else text[start : at + 1])[:SHOWN_CHARS]
        return f"the number {number} begins with 0, which JSON does not allow"
    near = text[max(at - NEAR_CHARS, 0) : at + NEAR_CHARS].splitlines()
    shown = " ".join(near).strip()
    return f"{exc.msg} at column {exc.colno}, near {given(shown, SHOWN_CHARS)}"


def _unpaired(document: Any) -> str | None:
    """What is wrong with a parsed JSON document that YAML's reader would have refused: a
    text (key or value) holding an unpaired surrogate, or nesting deeper than the limit."""
    stack = [(document, 0)]
    found: list[str] = []
    while stack and not found:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nesting deeper than {MAX_DEPTH} levels"
        if isinstance(node, str):
            check_text(node, found.append)
        elif isinstance(node, dict):
            stack.extend((k, depth + 1) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return found[0] if found else None


def parse_json(
    text: str, name: str, error: type[TuneprintError] = InputError, written_numbers: bool = False
) -> Any:
    """Parse a JSON document strictly: duplicate keys, NaN/Infinity, numbers of absurd
    length and unpaired surrogates are errors. ``written_numbers``: as ``parse_yaml``'s."""
    try:
        document = json.loads(
            text,
            object_pairs_hook=no_duplicates,
            parse_constant=_reject_constant,
            parse_int=_json_int,
            parse_float=_json_written if written_numbers else _json_float,
        )
        problem = _unpaired(document)
        if problem:
            raise ValueError(problem)
        return document
    except json.JSONDecodeError as exc:
        message = _decode_problem(text, exc)
        raise error.one(name, exc.lineno, "", f"invalid JSON: {message}", "syntax") from None
    except ValueError as exc:
        line = None
        if isinstance(exc, _Number):  # where the number is
            found = text.find(exc.written)
            line = text.count("\n", 0, found) + 1 if found >= 0 else None
        raise error.one(name, line, "", f"invalid JSON: {exc}", "syntax") from None
    except RecursionError:
        raise error.one(name, None, "", "invalid JSON: nesting too deep", "limit") from None


def load_file(
    path: Path,
    error: type[TuneprintError] = InputError,
    name: str | None = None,
    within: Path | None = None,
    max_nodes: int = MAX_NODES,
    written_numbers: bool = False,
) -> Any:
    """Read a YAML or JSON file (by extension) within the limits (``written_numbers``: as
    ``parse_yaml``'s)."""
    shown = str(path) if name is None else name
    text = read_text(path, error, shown, within)
    if Path(shown).suffix.lower() == ".json" or path.suffix.lower() == ".json":
        return parse_json(text, shown, error, written_numbers)
    return parse_yaml(text, shown, error, max_nodes, written_numbers)


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
