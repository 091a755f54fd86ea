"""The validation suite: published runs with a measured energy, kept as data next to the
rules (``validation/``), and reading it.

A suite folder holds ``suite.yaml`` (its groups, and for each measurement boundary the
estimate's field that covers the same equipment), ``thresholds.yaml`` (the median |error| a
group may reach under a ruleset version) and ``cases/*.yaml``, one file per source: the
source's citation and licence, then its cases. A case is a disclosure holding only what its
source states, the measured figure with its unit and boundary, where in the source the
figures are, and whether a ruleset was fitted on it (``role: fit``) or it is held out from
every fit (``role: validation``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.problems import InputError, Problem
from ..load.paths import display_path, shipped
from ..load.schemas import check
from ..load.yamlio import line_of, load_file

SUITE_FILE = "suite.yaml"
THRESHOLDS_FILE = "thresholds.yaml"
CASES_DIR = "cases"


@dataclass(frozen=True)
class Group:
    """A group of cases that share what their sources disclose."""

    key: str
    title: str
    description: str
    empty_because: str | None = None


@dataclass(frozen=True)
class Boundary:
    """What a measurement covers, and the estimate's field that covers the same."""

    key: str
    field: str
    description: str


@dataclass(frozen=True)
class Case:
    """One measured run: its disclosure, the figure measured and where it comes from."""

    id: str
    group: str
    role: str
    confidence: str
    description: str
    where: str
    quote: tuple[str, ...]
    values: dict[str, Any]
    measured: float
    unit: str
    boundary: str
    source: str  # the stem of its file: one file per source
    file: str
    line: int | None
    fitted_in: tuple[str, ...] = ()
    components: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def held_out(self) -> bool:
        """Whether no ruleset was fitted on this case."""
        return self.role == "validation"


@dataclass(frozen=True)
class Suite:
    """A loaded suite: groups, boundaries, sources (by file stem) and cases in file order."""

    folder: Path
    description: str
    groups: dict[str, Group]
    boundaries: dict[str, Boundary]
    sources: dict[str, dict[str, str]]
    cases: tuple[Case, ...]

    def in_group(self, group: str) -> list[Case]:
        """The cases of one group, in file order."""
        return [c for c in self.cases if c.group == group]


def default_folder() -> Path:
    """The suite shipped with tuneprint."""
    return shipped("validation")


def _checked(path: Path, schema: str) -> Any:
    name = display_path(path)
    doc = load_file(path, InputError, name)
    problems = check(schema, doc, name)
    if problems:
        raise InputError(problems)
    return doc


def load_suite(folder: Path | None = None) -> Suite:
    """Read and check a suite folder (default: the shipped one): every case's group,
    boundary and id, with file and line for each problem."""
    folder = default_folder() if folder is None else folder
    head = folder / SUITE_FILE
    if not head.is_file():
        raise InputError.one(display_path(head), None, "", "no validation suite here", "file")
    doc = _checked(head, "validation_suite")
    groups = {
        k: Group(k, g["title"], " ".join(g["description"].split()), g.get("empty_because"))
        for k, g in doc["groups"].items()
    }
    boundaries = {
        k: Boundary(k, b["field"], " ".join(b["description"].split()))
        for k, b in doc["boundaries"].items()
    }
    problems: list[Problem] = []
    cases: list[Case] = []
    sources: dict[str, dict[str, str]] = {}
    seen: dict[str, str] = {}
    for path in sorted((folder / CASES_DIR).glob("*.yaml")):
        name = display_path(path)
        cdoc = _checked(path, "validation_cases")
        sources[path.stem] = dict(cdoc["source"])
        for i, raw in enumerate(cdoc["cases"]):
            line = line_of(cdoc, ["cases", i])
            cid = raw["id"]
            if cid in seen:
                problems.append(
                    Problem(name, line, cid, f"case id also used in {seen[cid]}", "duplicate")
                )
            seen[cid] = name
            if raw["group"] not in groups:
                problems.append(
                    Problem(name, line, cid, f"unknown group {raw['group']!r}", "reference")
                )
            measured = raw["measured"]
            for b in (measured["boundary"], *measured.get("components", {})):
                if b not in boundaries:
                    problems.append(
                        Problem(name, line, cid, f"unknown boundary {b!r}", "reference")
                    )
            cases.append(
                Case(
                    id=cid,
                    group=raw["group"],
                    role=raw["role"],
                    confidence=raw["confidence"],
                    description=" ".join(raw["description"].split()),
                    where=" ".join(raw["where"].split()),
                    quote=tuple(raw["quote"]),
                    values=dict(raw["values"]),
                    measured=float(measured["value"]),
                    unit=measured["unit"],
                    boundary=measured["boundary"],
                    source=path.stem,
                    file=name,
                    line=line,
                    fitted_in=tuple(raw.get("fitted_in", ())),
                    components={k: float(x) for k, x in measured.get("components", {}).items()},
                    note=" ".join(str(raw.get("note", "")).split()),
                )
            )
    for key, group in groups.items():
        if group.empty_because is None and not any(c.group == key for c in cases):
            problems.append(
                Problem(display_path(head), line_of(doc, ["groups", key]), key,
                        "a group without cases must say why (empty_because)", "schema")
            )  # fmt: skip
    if problems:
        raise InputError(problems)
    return Suite(
        folder=folder,
        description=" ".join(str(doc.get("description", "")).split()),
        groups=groups,
        boundaries=boundaries,
        sources=sources,
        cases=tuple(cases),
    )


def load_thresholds(folder: Path | None = None) -> dict[str, dict[str, float]]:
    """Per ruleset version, the median |error| each group may reach."""
    folder = default_folder() if folder is None else folder
    doc = _checked(folder / THRESHOLDS_FILE, "validation_thresholds")
    return {str(v): {g: float(x) for g, x in t.items()} for v, t in doc["thresholds"].items()}
