"""What each value of an estimate rests on: disclosed, derived or assumed values, and the
share of a total resting on each.

The rule (documented in docs/interop.md):

1. A field's **basis** is worked out from its provenance. A disclosed field (status
   ``input``) is *disclosed*. A field set by a rule flagged ``assumption`` is *assumed*,
   whatever its inputs. A field set by a rule that reads a table or reads no field at all
   (a sourced constant) is at least *derived*. A field set by a plain formula over other
   fields is as strong as its weakest input. Weakest first: assumed, derived, disclosed;
   a field takes the weakest basis among its own rule and every field its rule reads
   (condition included), so a value resting on one assumption is assumed.
2. A **total is split into terms** wherever it is a plain sum of fields (for example
   total emissions = operational + embodied; total water = datacenter + electricity +
   manufacturing), recursively; each term keeps its own value.
3. The **share** of a total resting on a basis is the sum of the terms of that basis over
   the total. A term under a sum whose condition reads an assumed field is assumed.

So "60% disclosed" means 60% of the total is computed from disclosed values by formulas
alone, with no reference table, fallback constant or assumption on its way.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from ..core.resolve import Estimate

DISCLOSED, DERIVED, ASSUMED = "disclosed", "derived", "assumed"
BASES = (DISCLOSED, DERIVED, ASSUMED)
_RANK = {name: rank for rank, name in enumerate(BASES)}


def _weakest(*bases: str) -> str:
    return max(bases, key=_RANK.__getitem__, default=DISCLOSED)


class Basis:
    """The basis of every field of one estimate, worked out on demand and memoised."""

    def __init__(self, est: Estimate) -> None:
        self.est = est
        self.fields = est.fields
        self._memo: dict[str, str] = {}
        self._assumptions: dict[str, frozenset[str]] = {}

    def of(self, name: str) -> str:
        """The basis of a resolved field: disclosed, derived or assumed."""
        if name in self._memo:
            return self._memo[name]
        r = self.fields[name]
        rule = r.rule
        if rule is None:
            basis = DISCLOSED
        elif rule.assumption:
            basis = ASSUMED
        else:
            floor = (
                DERIVED if (r.tables or rule.status == "table" or not rule.inputs) else DISCLOSED
            )
            reads = [i for i in (*rule.inputs, *rule.disclosed_inputs) if i in self.fields]
            basis = _weakest(floor, *(self.of(i) for i in reads))
        self._memo[name] = basis
        return basis

    def assumptions(self, name: str) -> frozenset[str]:
        """The fields set by assumptions that a field rests on (itself included)."""
        if name in self._assumptions:
            return self._assumptions[name]
        rule = self.fields[name].rule
        found: frozenset[str] = frozenset()
        if rule is not None:
            if rule.assumption:
                found = frozenset({name})
            else:
                reads = [i for i in rule.inputs if i in self.fields]
                found = frozenset().union(*(self.assumptions(i) for i in reads))
        self._assumptions[name] = found
        return found

    def rooted(self, name: str) -> bool:
        """True when a field is disclosed or computed from at least one disclosed field
        (False for a fallback that reads nothing disclosed, such as a default country)."""
        r = self.fields[name]
        if r.rule is None:
            return True
        reads = [i for i in (*r.rule.inputs, *r.rule.disclosed_inputs) if i in self.fields]
        return any(self.rooted(i) for i in reads)

    def terms(self, name: str) -> list[Term]:
        """A field split into the terms of the plain sums it is made of, each with its
        value and basis (the field itself when it is no plain sum)."""
        r = self.fields[name]
        rule = r.rule
        parts = _sum_names(rule.value.node) if rule is not None and not rule.assumption else None
        if rule is None or parts is None or not all(p in self.fields for p in parts):
            return [Term(name, r.value, self.of(name))]
        condition = DISCLOSED
        if rule.when is not None:
            reads = [i for i in rule.when.inputs if i in self.fields]
            condition = _weakest(*(self.of(i) for i in reads))
        out = []
        for part in parts:
            for term in self.terms(part):
                out.append(Term(term.field, term.value, _weakest(term.basis, condition)))
        return out

    def shares(self, name: str) -> dict[str, float | None]:
        """The share of a total resting on each basis (None for a total of 0)."""
        terms = self.terms(name)
        total = sum(float(t.value) for t in terms)
        if not total:
            return dict.fromkeys(BASES)
        return {b: sum(float(t.value) for t in terms if t.basis == b) / total for b in BASES}


@dataclass(frozen=True)
class Term:
    """One term of a total: the field, its value and its basis."""

    field: str
    value: Any
    basis: str


def _sum_names(node: ast.expr) -> list[str] | None:
    """The field names of an expression that is a plain sum of fields, else None."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sum_names(node.left), _sum_names(node.right)
        if left is not None and right is not None:
            return left + right
    return None
