"""The compiled resolver: each field of a ruleset becomes one Python function.

At load, every field's rules are turned into straight-line code that tries them in
priority order, with the expressions inlined, the inputs' look-ups unrolled and every
skip that can be known in advance made once. The code is generated from the checked
model only (identifiers are declared field names, every constant is a literal of a rule
or a bound object), has no builtins in reach, and keeps no state: a field's function
reads and writes the ``Resolution`` it is given.

It must do exactly what the reference interpreter in ``resolve`` does, value for value,
rule for rule and skip for skip; property-based tests keep the two in agreement.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import CodeType
from typing import Any, NamedTuple

from .expressions import EVALUATION_ERRORS, Generator
from .model import Expression, FieldSpec, Rule, Ruleset
from .provenance import INPUT, Failure, Skip
from .tables import NotApplicable
from .text import has_control, one_line
from .values import MAX_TEXT_LENGTH, NUMBER_TYPES, ValueProblem, coerce

Plan = dict[str, Callable[[Any], Any]]
Accepts = dict[str, Callable[[Any], bool]]


class Compiled(NamedTuple):
    """A ruleset's generated code, run: the resolver of each field, and for each field with
    one, a test true when a value certainly passes the field's check (``coerce``)
    unchanged, which lets a disclosure's common values skip the full check."""

    plan: Plan
    accepts: Accepts


class _Module:
    """The source of the resolver module and the objects its code refers to."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.rs = ruleset
        self.expressions = Generator(ruleset.tables)
        self.lines: list[str] = []

    def bind(self, value: Any) -> str:
        return self.expressions.bind(value)

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    # -- one field --------------------------------------------------------------------

    def field(self, spec: FieldSpec) -> None:
        name = spec.name
        rules = self.rs.rules.get(name, ())
        emit = self.emit
        emit(0, f"def _f_{name}(st):")
        emit(1, "memo = st.memo")
        emit(1, f"if {name!r} in st.disclosed:")
        emit(2, f"memo[{name!r}] = _INPUT")
        emit(2, "return _INPUT")
        if not rules:
            fact = self.bind(Failure(name, (Skip("-", "no-rule"),)))
            emit(1, f"memo[{name!r}] = {fact}")
            emit(1, f"return {fact}")
            return
        emit(1, "_e = st.env")
        emit(1, "tried = []")
        for i, rule in enumerate(rules):
            self.rule(spec, rule, first=i == 0)
        emit(1, f"fact = _Failure({name!r}, tuple(tried))")
        emit(1, f"memo[{name!r}] = fact")
        emit(1, "return fact")

    def skip(self, rule: Rule, code: str, dep: str | None = None) -> str:
        return self.bind(Skip(rule.id, code, () if dep is None else (dep,)))

    def gather(self, indent: int, rule: Rule, inputs: tuple[str, ...], done: set[str]) -> None:
        """Resolve inputs not yet resolved by this rule; skip the rule at the first that
        cannot be resolved."""
        for dep in inputs:
            if dep in done:
                continue
            done.add(dep)
            code = "input-unresolved" if self.rs.rules.get(dep) else "input-missing"
            self.emit(indent, f"d = memo.get({dep!r})")
            self.emit(indent, "if d is None:")
            self.emit(indent + 1, f"d = _f_{dep}(st)")
            self.emit(indent, "if d.__class__ is _Failure:")
            self.emit(indent + 1, f"tried.append({self.skip(rule, code, dep)})")
            self.emit(indent + 1, "break")

    def evaluate(self, indent: int, rule: Rule, expr: Expression, target: str, trace: str) -> None:
        """``target = expression``; a missing row skips the rule, an error fails it."""
        emit = self.emit
        r = self.bind(rule)
        text = self.bind(expr.text)
        self.expressions.trace = trace
        body = self.expressions.code(expr.node)
        emit(indent, "try:")
        emit(indent + 1, f"{target} = {body}")
        emit(indent, "except _NotApplicable as exc:")
        # the skip keeps the exception, not its traceback: frames would hold the estimate's
        # state in a cycle the garbage collector must find
        skip = f"({rule.id!r}, 'no-row', (), exc.with_traceback(None))"
        emit(indent + 1, f"tried.append(_tnew(_Skip, {skip}))")
        emit(indent + 1, "break")
        emit(indent, "except _ERRORS as exc:")
        emit(indent + 1, f"raise st.rule_error({r}, _cannot({text}, exc)) from None")

    def rule(self, spec: FieldSpec, rule: Rule, first: bool) -> None:
        emit = self.emit
        r = self.bind(rule)
        emit(1, f"while True:  # {rule.id}")
        for dep in rule.disclosed_inputs:
            emit(2, f"if {dep!r} not in st.disclosed:")
            emit(3, f"tried.append({self.skip(rule, 'not-disclosed', dep)})")
            emit(3, "break")
        reads_tables = any(
            name in ("lookup", "lookup_year")
            for e in (rule.value, rule.when)
            if e is not None
            for name in _calls(e)
        )
        emit(2, "_t = []" if reads_tables else "_t = _NO_TRACE")
        done: set[str] = set()
        if rule.when is not None:
            self.gather(2, rule, rule.when.inputs, done)
            self.evaluate(2, rule, rule.when, "ok", "_t")
            emit(2, "if not ok:")
            condition = Skip(rule.id, "condition-false", (), " ".join(rule.when.text.split()))
            emit(3, f"tried.append({self.bind(condition)})")
            emit(3, "break")
        self.gather(2, rule, rule.value.inputs, done)
        self.evaluate(2, rule, rule.value, "v", "_t")
        self.check(2, spec, rule)
        warning = "None"
        if rule.warning is not None:
            text = self.bind(one_line(rule.warning))
            if rule.warn_when is None:
                warning = text
            else:
                warning = "w"
                emit(2, "w = None")
                emit(2, "while True:")
                # an input that cannot be resolved, or a missing row, means no warning
                inner: set[str] = set()
                for dep in rule.warn_when.disclosed_inputs:  # not disclosed: no warning
                    emit(3, f"if {dep!r} not in st.disclosed:")
                    emit(4, "break")
                for dep in rule.warn_when.inputs:
                    if dep in inner:
                        continue
                    inner.add(dep)
                    emit(3, f"d = memo.get({dep!r})")
                    emit(3, "if d is None:")
                    emit(4, f"d = _f_{dep}(st)")
                    emit(3, "if d.__class__ is _Failure:")
                    emit(4, "break")
                self.expressions.trace = "[]"
                body = self.expressions.code(rule.warn_when.node)
                emit(3, "try:")
                emit(4, f"if {body}:")
                emit(5, f"w = {text}")
                emit(3, "except _NotApplicable:")
                emit(4, "pass")
                emit(3, "except _ERRORS as exc:")
                emit(
                    4,
                    f"raise st.rule_error({r}, _cannot({self.bind(rule.warn_when.text)}, exc))"
                    " from None",
                )
                emit(3, "break")
        trace = "tuple(_t)" if reads_tables else "()"
        skipped = "()" if first else "tuple(tried)"  # nothing is tried before the first rule
        emit(2, f"fact = ({r}, {trace}, {skipped}, {warning})")
        emit(2, f"memo[{spec.name!r}] = fact")
        emit(2, f"_e[{spec.name!r}] = v")
        emit(2, "return fact")

    def check(self, indent: int, spec: FieldSpec, rule: Rule) -> None:
        """The value check of ``coerce``, with the common case tested inline."""
        fast = self.fast_check(spec)
        emit = self.emit
        s, r = self.bind(spec), self.bind(rule)
        emit(indent, f"if not ({fast}):" if fast else "if True:")
        emit(indent + 1, "try:")
        emit(indent + 2, f"v = _coerce({s}, v, _TABLES)")
        emit(indent + 1, "except _ValueProblem as exc:")
        emit(indent + 2, f"raise st.rule_error({r}, _gave(v, {spec.name!r}, exc)) from None")

    def fast_check(self, spec: FieldSpec) -> str:
        """An expression true when ``v`` certainly passes ``coerce`` unchanged, or ""."""
        bounds = []
        if spec.minimum is not None:
            bounds.append(f"v >= {spec.minimum!r}")
        if spec.exclusive_minimum is not None:
            bounds.append(f"v > {spec.exclusive_minimum!r}")
        if spec.maximum is not None:
            bounds.append(f"v <= {spec.maximum!r}")
        if spec.type in NUMBER_TYPES:
            limits = " and ".join(bounds) or "True"
            bounded = spec.maximum is not None and (
                spec.minimum is not None or spec.exclusive_minimum is not None
            )
            kinds = ["v.__class__ is int"] if bounded else []
            if spec.type == "number":
                # (zero goes to ``coerce``, which makes -0.0 zero)
                kinds.insert(0, "(v.__class__ is float and v - v == 0.0 and v != 0.0)")
            if not kinds:
                return ""
            return f"({' or '.join(kinds)}) and {limits}"
        if spec.type in ("name", "enum"):
            keys = (
                frozenset(r.key[0] for r in self.rs.tables[spec.table or ""].rows)
                if spec.type == "name"
                else frozenset(spec.choices)
            )
            # of the keys' own types only: a list or a mapping is not looked up (it would
            # raise), and goes to ``coerce``, which refuses it
            names = " or ".join(f"v.__class__ is {t.__name__}" for t in _key_types(keys))
            return f"({names or 'False'}) and v in {self.bind(keys)}"
        if spec.type in ("date", "datetime"):
            return "v.__class__ is _datetime"
        if spec.type == "boolean":
            return "v is True or v is False"
        return (
            f"v.__class__ is str and len(v) <= {MAX_TEXT_LENGTH} and v == v.strip() "
            "and not _has_control(v)"
        )  # (spaces around it: ``coerce`` takes them off)


def _key_types(keys: frozenset[Any]) -> list[type]:
    """The types of a table's keys or a field's choices, those the generated code names."""
    found = {type(k) for k in keys}
    return [t for t in (str, int, float, bool) if t in found]


def _calls(expr: Expression) -> list[str]:
    import ast

    return [
        n.func.id
        for n in ast.walk(expr.node)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    ]


def _cannot(text: str, exc: BaseException) -> str:
    return f"cannot evaluate {text!r}: {exc}"


def _gave(value: Any, field: str, exc: BaseException) -> str:
    from .resolve import show_value

    return f"gave {show_value(value)} for {field}: {exc}"


def generate_plan(ruleset: Ruleset) -> tuple[str, dict[str, Any]]:
    """The source of the resolver module of a ruleset and the names its code refers to."""
    module = _Module(ruleset)
    for spec in ruleset.fields.values():
        module.field(spec)
        module.lines.append("")
    for spec in ruleset.fields.values():
        fast = module.fast_check(spec)
        if fast:
            module.emit(0, f"def _a_{spec.name}(v):")
            module.emit(1, f"return {fast}")
            module.lines.append("")
    source = "\n".join(module.lines) + "\n"
    namespace: dict[str, Any] = {
        **module.expressions.namespace(),
        "tuple": tuple,
        "_tnew": tuple.__new__,
        "int": int,
        "float": float,
        "str": str,
        "len": len,
        "_INPUT": INPUT,
        "_Failure": Failure,
        "_Skip": Skip,
        "_NotApplicable": NotApplicable,
        "_ERRORS": EVALUATION_ERRORS,
        "_NO_TRACE": (),
        "_ValueProblem": ValueProblem,
        "_coerce": coerce,
        "_TABLES": ruleset.tables,
        "_datetime": datetime,
        "_cannot": _cannot,
        "_gave": _gave,
        "_has_control": has_control,
    }
    return source, namespace


def compile_source(ruleset: Ruleset, source: str) -> CodeType:
    """The generated module, compiled."""
    return compile(source, f"<resolver of {ruleset.id}@{ruleset.version}>", "exec")


def build_plan(ruleset: Ruleset, code: CodeType, bound: dict[str, Any]) -> Compiled:
    """The resolver functions of every field and the value tests, from the compiled module
    and its names."""
    namespace = dict(bound)
    exec(code, namespace)
    plan = {name: namespace[f"_f_{name}"] for name in ruleset.fields}
    accepts = {n: namespace[f"_a_{n}"] for n in ruleset.fields if f"_a_{n}" in namespace}
    return Compiled(plan, accepts)


def compile_plan(ruleset: Ruleset) -> tuple[Compiled, str]:
    """The resolver functions and value tests of every field, and the generated source
    (for inspection)."""
    source, bound = generate_plan(ruleset)
    return build_plan(ruleset, compile_source(ruleset, source), bound), source
