"""Compact result documents written straight to JSON bytes: the bytes ``dumps`` makes of
``result.to_json("compact")``, without building the document first. What does not change
from one estimate to the next (the head of the document, each field's key, unit and
provenance) is encoded once per ruleset; an estimate adds its values. Building the
per-field objects cost several times what encoding them does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from ..core.model import Ruleset
from ..core.provenance import Failure, plain
from ..core.resolve import Estimate
from ..views.json import COMPACT, result_json
from .encoding import dumps

VALUE = b':{"value":'


class CompactWriter:
    """The compact documents of estimates under one ruleset."""

    def __init__(self, rs: Ruleset) -> None:
        self.rs = rs
        self.head = b""  # the members before the disclosure: from the first document
        self.outputs = [
            (orjson.dumps(name) + VALUE, b',"unit":' + orjson.dumps(rs.fields[name].unit) + b"}")
            for name in rs.outputs
        ]
        # pieces of the fields: of each rule (by id), and of each disclosed field
        self.by_rule: dict[str, tuple[str, bytes, bytes]] = {}
        self.disclosed: dict[str, tuple[str, bytes, bytes]] = {}

    def pieces(self, name: str, rule: Any) -> tuple[str, bytes, bytes]:
        """The pieces of field ``name`` set by ``rule`` (None: disclosed): the name, the
        key and the start of the field's object, and what follows its value."""
        provenance = "input" if rule is None else f"{rule.status}:{rule.id}"
        unit = orjson.dumps(self.rs.fields[name].unit)
        found = (
            name,
            orjson.dumps(name) + VALUE,
            b',"unit":' + unit + b',"provenance":' + orjson.dumps(provenance) + b"}",
        )
        if rule is None:
            self.disclosed[name] = found
        else:
            self.by_rule[rule.id] = found
        return found

    def write(self, est: Estimate) -> bytes:
        """The bytes ``dumps(result_json(est, "compact"))`` gives."""
        try:
            return self.write_orjson(est)
        except orjson.JSONEncodeError:  # a value only the standard library writes
            return dumps(result_json(est, COMPACT))

    def write_orjson(self, est: Estimate) -> bytes:
        """The bytes ``orjson.dumps(result_json(est, "compact"))`` gives, or its error."""
        if est.ruleset is not self.rs:
            raise ValueError("an estimate under another ruleset")
        if not self.head:
            return self.first(est)
        env, encode = est.env, orjson.dumps
        by_rule, disclosed = self.by_rule, self.disclosed
        warnings = {}
        parts = [self.head, encode({"id": est.disclosure.id, "name": est.disclosure.name})]
        parts.append(b',"outputs":{')
        for (start, end), name in zip(self.outputs, self.rs.outputs, strict=True):
            value = env[name]
            if isinstance(value, datetime):
                value = plain(value)
            parts += (start, encode(value), end, COMMA)
        _close(parts)
        parts.append(b',"fields":{')
        for name, fact in est.memo.items():
            if isinstance(fact, Failure):
                continue
            rule = fact[0]
            pieces = disclosed.get(name) if rule is None else by_rule.get(rule.id)
            if pieces is None or pieces[0] != name:
                pieces = self.pieces(name, rule)
            value = env[name]
            if isinstance(value, datetime):
                value = plain(value)
            parts += (pieces[1], encode(value), pieces[2], COMMA)
            if fact[3]:
                warnings[name] = fact[3]
        _close(parts)
        if warnings:
            parts += (b',"warnings":', encode(warnings))
        parts.append(b"}")
        return b"".join(parts)

    def first(self, est: Estimate) -> bytes:
        """The first document, written from the view's: its head is kept."""
        doc = result_json(est, COMPACT)
        head = {}
        for key, value in doc.items():
            if key == "disclosure":
                break
            head[key] = value
        self.head = orjson.dumps(head)[:-1] + b',"disclosure":'
        return orjson.dumps(doc)


COMMA = b","


def _close(parts: list[bytes]) -> None:
    """End an object whose members each end with COMMA."""
    if parts[-1] is COMMA:
        parts[-1] = b"}"
    else:
        parts.append(b"}")
