"""BoAmps 1.1 reports (Boavizta's format for the energy of AI tasks): import one as a
disclosure, and write an estimate as one.

A report is validated against the BoAmps JSON Schemas shipped in ``schemas/boamps/``
(CC BY 4.0, unchanged) before anything is read from it. ``measures[].powerConsumption`` is
an energy in kWh despite its name, ``measurementDuration`` is in seconds,
``algorithms[].parametersNumber`` in billions, utilisations are 0 to 1; these units are in
``formats.yaml`` (section ``boamps``).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..api import RulesetLike
from ..core.model import Ruleset
from ..core.problems import InputError, Problem
from ..core.resolve import Estimate
from ..load.files import read_text
from ..load.paths import shipped
from ..load.yamlio import line_of, parse_json, parse_yaml
from .exports import need, source_text, table_value, value_in
from .mapping import (
    CellProblem,
    Collector,
    ImportedDisclosure,
    checked,
    convert,
    disclosure_document,
    fail,
    formats,
    name_problem,
    read_value,
    ruleset_of,
    unit_change,
)

MAX_PROBLEMS = 50  # schema problems reported for one report


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = formats()["boamps"]
    return spec


@cache
def validator() -> Any:
    """A validator of BoAmps reports: the report schema with its four sub-schemas
    registered under the ids they are referenced by."""
    import jsonschema
    from referencing import Registry, Resource

    spec = _spec()
    folder = shipped("schemas") / spec["schema_folder"]

    def load(name: str) -> Any:
        return json.loads((folder / name).read_text(encoding="utf-8"))

    resources = [
        (spec["schema_id_base"] + name, Resource.from_contents(load(name)))
        for name in (spec["report_schema"], *spec["sub_schemas"])
    ]
    report = load(spec["report_schema"])
    cls = jsonschema.validators.validator_for(report)
    cls.check_schema(report)
    return cls(report, registry=Registry().with_resources(resources))


def _where(path: list[Any]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def schema_problems(document: Any, name: str, located: Any = None) -> list[Problem]:
    """Every way a document fails the BoAmps report schema, each at its key path and line."""
    errors = sorted(validator().iter_errors(document), key=lambda e: list(map(str, e.path)))
    out = []
    for error in errors[:MAX_PROBLEMS]:
        path = list(error.absolute_path)
        message = str(error.message)
        if error.validator == "required":
            message = message.replace("is a required property", "is required")
        out.append(
            Problem(name, line_of(located, path), _where(path) or "report", message, "schema")
        )
    return out


def read_report(path: str | Path, name: str | None = None) -> tuple[dict[str, Any], Any]:
    """A BoAmps report checked against its schema, and its line map."""
    shown = str(path) if name is None else name
    text = read_text(Path(path), InputError, shown)
    doc = parse_json(text, shown)
    try:
        located = parse_yaml(text, shown)
    except InputError:
        located = None
    if isinstance(doc, dict) and "log_history" in doc and "measures" not in doc:
        raise InputError.one(
            shown,
            None,
            "",
            "this is a Transformers trainer_state.json, not a BoAmps report: tuneprint import "
            "trainer-state",
            "schema",
        )
    fail(schema_problems(doc, shown, located))
    problems = []
    bounds: dict[str, Any] = _spec()["bounds"]

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in bounds and isinstance(value, (int, float)):
                    try:
                        read_value({"type": "number", **bounds[key]}, value)
                    except CellProblem as exc:
                        where = [*path, key]
                        problems.append(
                            Problem(
                                shown, line_of(located, where), _where(where), str(exc), "bounds"
                            )
                        )
                walk(value, [*path, key])
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, [*path, i])

    walk(doc, [])
    fail(problems)
    return doc, located


# -- import ----------------------------------------------------------------------------------


class _Reader:
    """Adds report values as disclosed fields, converted and checked, at their key path."""

    def __init__(self, rs: Ruleset, name: str, located: Any) -> None:
        self.rs = rs
        self.name = name
        self.located = located
        self.out = Collector(rs)
        self.problems: list[Problem] = []

    def number(self, field_name: str, value: Any, path: list[Any], key: str, why: str) -> None:
        if value is None:
            return
        if field_name not in self.rs.fields:
            self.out.note(f"{_where(path)} not disclosed: ruleset has no {field_name}")
            return
        unit = _spec()["units"].get(key, "1")
        target = self.rs.fields[field_name].unit
        number = convert(self.rs, float(value), unit, target)
        if float(number).is_integer() and self.rs.fields[field_name].type == "integer":
            number = int(number)
        self.add(field_name, number, path, f"{why}{unit_change(unit, target)}")

    def add(self, field_name: str, value: Any, path: list[Any], why: str) -> None:
        where = _where(path)
        _, problem = checked(
            self.rs, field_name, value, self.name, line_of(self.located, path), where
        )
        if problem:
            self.problems.append(problem)
            return
        self.out.add(field_name, value, f"{self.name}, {where}: {why}")

    def name_value(self, field_name: str, value: Any, path: list[Any], why: str) -> None:
        if not value:
            return
        problem = name_problem(self.rs, field_name, str(value))
        if problem:
            self.out.note(
                f"{field_name} {value!r} not disclosed ({_where(path)}): {problem}; disclose "
                "it by hand"
            )
            return
        self.add(field_name, str(value), path, why)


def _choose(items: list[Any], index: int | None, what: str, name: str) -> int | None:
    if not items:
        return None
    if index is None:
        if len(items) == 1:
            return 0
        raise InputError.one(
            name,
            None,
            what,
            f"{len(items)} {what} in the report: choose one with --measure N (1 to {len(items)})",
            "option",
        )
    if not 1 <= index <= len(items):
        raise InputError.one(
            name, None, what, f"no measure {index}: the report has {len(items)}", "option"
        )
    return index - 1


def import_boamps(
    path: str | Path,
    ruleset: RulesetLike = None,
    measure: int | None = None,
    name: str | None = None,
) -> ImportedDisclosure:
    """A disclosure from a BoAmps report (``measure``: which of its measures, from 1; None
    when it has one). The report is validated against the BoAmps schema first."""
    spec = _spec()
    rs = ruleset_of(ruleset)
    shown = str(path) if name is None else name
    doc, located = read_report(path, shown)
    reader = _Reader(rs, shown, located)
    out = reader.out
    task = doc["task"]
    stage = str(task.get("taskStage", ""))
    if spec["fine_tuning_stage"] not in stage.split("+"):
        out.note(f"task.taskStage is {stage!r}, not {spec['fine_tuning_stage']!r}: read as one")
    measures = doc["measures"]
    chosen = _choose(measures, measure, "measures", shown)
    if chosen is not None:
        m = measures[chosen]
        base: list[Any] = ["measures", chosen]
        method = m.get("measurementMethod")
        reader.number(
            "measured_energy_kwh",
            m.get("powerConsumption"),
            [*base, "powerConsumption"],
            "powerConsumption",
            f"energy measured by {method}",
        )
        reader.number(
            "reserved_hours",
            m.get("measurementDuration"),
            [*base, "measurementDuration"],
            "measurementDuration",
            "duration of the measure",
        )
        for key, field_name, what in (
            ("averageUtilizationGpu", "gpu_utilization", "average GPU load"),
            ("averageUtilizationCpu", "cpu_utilization", "average CPU load"),
        ):
            reader.number(field_name, m.get(key), [*base, key], key, what)
        if str(method).strip().lower() == "codecarbon":
            out.note(
                "measured by CodeCarbon, whose energy includes the PUE it was given (1 unless "
                "set): read as IT energy"
            )
        when = m.get("measurementDateTime")
        if when:
            try:
                start = datetime.strptime(when, spec["datetime_format"])
            except ValueError:
                reader.problems.append(
                    Problem(
                        shown,
                        line_of(located, [*base, "measurementDateTime"]),
                        _where([*base, "measurementDateTime"]),
                        f"expected a date like YYYY-MM-DD HH:MM:SS, got {when!r}",
                        "type",
                    )
                )
            else:
                reader.add(
                    "start_time",
                    start.isoformat(),
                    [*base, "measurementDateTime"],
                    "when the measure began (no time zone given)",
                )
        if m.get("powerCalibrationMeasurement"):
            out.note("powerCalibrationMeasurement not subtracted: disclosed energy is as measured")
    _algorithm(reader, task.get("algorithms", []), spec)
    _infrastructure(reader, doc["infrastructure"])
    environment = doc.get("environment") or {}
    reader.name_value("country", environment.get("country"), ["environment", "country"], "country")
    reader.number(
        "grid_intensity_gco2e_per_kwh",
        environment.get("powerSourceCarbonIntensity"),
        ["environment", "powerSourceCarbonIntensity"],
        "powerSourceCarbonIntensity",
        "carbon intensity of the electricity used, as the report gives it",
    )
    if environment.get("location"):
        out.note(f"environment.location {environment['location']!r}: not a tuneprint field")
    for i, data in enumerate(task.get("dataset", [])):
        if data.get("dataQuantity") is not None:
            out.note(
                f"task.dataset[{i}].dataQuantity {data['dataQuantity']} ({data.get('dataType')}):"
                " the size of the data set, not the tokens processed: not disclosed"
            )
    if doc.get("quality"):
        out.note(f"quality {doc['quality']!r}: the report's own judgement, not read")
    fail(reader.problems)
    header = doc.get("header") or {}
    report_id = str(header.get("reportId") or Path(shown).stem)
    document = disclosure_document(
        f"boamps-{report_id}",
        f"BoAmps report {report_id} ({stage or 'stage not given'}), imported by tuneprint "
        f"{__version__}",
        f"{shown}, BoAmps report (format version {header.get('formatVersion', 'not given')})",
        out.entries,
    )
    notes = [
        f"imported by tuneprint {__version__} from {shown} for ruleset {rs.label}",
        *out.notes,
    ]
    return ImportedDisclosure(document, notes)


def _algorithm(reader: _Reader, algorithms: list[Any], spec: dict[str, Any]) -> None:
    named = [i for i, a in enumerate(algorithms) if a.get("foundationModelName")]
    if len(algorithms) == 1:
        index: int | None = 0
    elif len(named) == 1:
        index = named[0]
    else:
        index = None
        reader.out.note(f"{len(algorithms)} algorithms and none singled out: no model read")
    if index is None:
        return
    a = algorithms[index]
    base = ["task", "algorithms", index]
    reader.name_value(
        "base_model",
        a.get("foundationModelName"),
        [*base, "foundationModelName"],
        "the foundation model fine-tuned",
    )
    reader.number(
        "base_model_params",
        a.get("parametersNumber"),
        [*base, "parametersNumber"],
        "parametersNumber",
        "total parameters of the model",
    )
    reader.number(
        "epochs",
        a.get("epochsNumber"),
        [*base, "epochsNumber"],
        "epochsNumber",
        "passes over the training data",
    )
    optimizer = str(a.get("optimizer") or "").strip().lower()
    method = spec["methods"].get(optimizer)
    if method:
        reader.add("fine_tuning_method", method, [*base, "optimizer"], "the fine-tuning method")
    elif optimizer:
        reader.out.note(
            f"optimizer {optimizer!r} names no fine-tuning method: method not disclosed"
        )


def _kinds(components: list[Any], kind: str) -> list[int]:
    return [i for i, c in enumerate(components) if str(c.get("componentType", "")).lower() == kind]


def _infrastructure(reader: _Reader, infrastructure: dict[str, Any]) -> None:
    components = infrastructure["components"]
    base = ["infrastructure", "components"]
    pattern = re.compile(f"({formats()['codecarbon']['gpu_count_token']})(.+)")
    gpus = _kinds(components, "gpu")
    if len(gpus) == 1:
        i = gpus[0]
        c = components[i]
        reader.number(
            "gpu_count", c["nbComponent"], [*base, i, "nbComponent"], "nbComponent", "GPUs"
        )
        name = str(c.get("componentName") or "")
        match = pattern.fullmatch(name)
        reader.name_value(
            "gpu_model",
            match.group(2).strip() if match else name,
            [*base, i, "componentName"],
            "the GPU model",
        )
        if c.get("share") is not None and c["share"] < 1:
            reader.out.note(f"GPU share {c['share']}: tuneprint counts whole GPUs reserved")
    elif len(gpus) > 1:
        reader.out.note(f"{len(gpus)} GPU components: GPUs not disclosed, give them by hand")
    cpus = _kinds(components, "cpu")
    if len(cpus) == 1:
        i = cpus[0]
        c = components[i]
        reader.number(
            "cpu_count", c["nbComponent"], [*base, i, "nbComponent"], "nbComponent", "CPUs"
        )
        reader.name_value(
            "cpu_model", c.get("componentName"), [*base, i, "componentName"], "the CPU model"
        )
    rams = _kinds(components, "ram")
    if len(rams) == 1 and components[rams[0]].get("memorySize") is not None:
        i = rams[0]
        c = components[i]
        reader.number(
            "memory_gb_per_server",
            c["memorySize"] * c["nbComponent"],
            [*base, i, "memorySize"],
            "memorySize",
            "memorySize x nbComponent, the memory of the machine",
        )
    reader.name_value(
        "cloud_provider",
        infrastructure.get("cloudProvider"),
        ["infrastructure", "cloudProvider"],
        "the cloud provider",
    )
    reader.name_value(
        "server_model",
        infrastructure.get("cloudInstance"),
        ["infrastructure", "cloudInstance"],
        "the cloud instance",
    )


# -- export ----------------------------------------------------------------------------------


def _component(name: str | None, kind: str, count: Any, memory: float | None = None) -> Any:
    out: dict[str, Any] = {"componentType": kind, "nbComponent": int(count)}
    if name:
        out["componentName"] = str(name)
    if memory is not None:
        out["memorySize"] = memory
    return out


def boamps_report(
    est: Estimate, task_family: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The estimate as a BoAmps 1.1 report: a finetuning task, its energy as a measure
    (IT energy in kWh, the reserved time in seconds) and its hardware and place. BoAmps has
    no field for emissions or water: the task description states them."""
    spec = _spec()
    export = spec["export"]
    need(est, "it_energy_kwh", "reserved_hours", "total_emissions_kgco2e", "total_water_l")
    fields = est.fields
    rs = est.ruleset
    when = (now or datetime.now(timezone.utc)).strftime(spec["datetime_format"])
    report_id = uuid.uuid5(uuid.NAMESPACE_URL, f"tuneprint:{rs.content_hash}:{est.disclosure.id}")
    algorithm: dict[str, Any] = {"framework": "tuneprint", "frameworkVersion": __version__}
    model = fields.get("base_model_variant") or fields.get("base_model")
    if model is not None:
        algorithm["foundationModelName"] = str(model.value)
    if "base_model_params" in fields:
        algorithm["parametersNumber"] = value_in(
            est, "base_model_params", spec["units"]["parametersNumber"]
        )
    method = fields.get("fine_tuning_method")
    if method is not None and method.value in spec["methods"].values():
        algorithm["optimizer"] = str(method.value)
    if "epochs" in fields:
        algorithm["epochsNumber"] = float(fields["epochs"].value)
    measure: dict[str, Any] = {
        "measurementMethod": "tuneprint estimate",
        "version": __version__,
        "powerConsumption": value_in(est, "it_energy_kwh", spec["units"]["powerConsumption"]),
        "measurementDuration": value_in(
            est, "reserved_hours", spec["units"]["measurementDuration"]
        ),
    }
    energy = fields["it_energy_kwh"]
    if energy.rule is not None and "measured_energy_kwh" in energy.rule.inputs:
        measured = fields["measured_energy_kwh"]
        measure["measurementMethod"] = measured.disclosed_source or "disclosed measurement"
        measure.pop("version")
    for name, key in (
        ("gpu_utilization", "averageUtilizationGpu"),
        ("cpu_utilization", "averageUtilizationCpu"),
    ):
        if name in fields:
            measure[key] = float(fields[name].value)
    if "start_time" in fields:
        measure["measurementDateTime"] = fields["start_time"].value.strftime(
            spec["datetime_format"]
        )
    components = []
    if "gpu_count" in fields:
        gpu = fields.get("gpu_model")
        components.append(_component(gpu.value if gpu else None, "gpu", fields["gpu_count"].value))
    if "cpu_count" in fields and fields["cpu_count"].value:
        cpu = fields.get("cpu_model")
        components.append(_component(cpu.value if cpu else None, "cpu", fields["cpu_count"].value))
    if "memory_gb_per_server" in fields and "server_count" in fields:
        components.append(
            _component(
                None,
                "ram",
                fields["server_count"].value,
                value_in(est, "memory_gb_per_server", spec["units"]["memorySize"]),
            )
        )
    if not components:
        need(est, "gpu_count")
    infrastructure: dict[str, Any] = {"infraType": "other", "components": components}
    provider = fields.get("cloud_provider")
    if provider is not None:
        infrastructure["infraType"] = "publicCloud"
        infrastructure["cloudProvider"] = str(provider.value)
    if "server_model" in fields:
        infrastructure["cloudInstance"] = str(fields["server_model"].value)
    environment: dict[str, Any] = {}
    if "country" in fields:
        name = table_value(est, "country", formats()["hf_card"]["location"]["country"])
        environment["country"] = str(name or fields["country"].value)
    if "cloud_region" in fields:
        environment["location"] = str(fields["cloud_region"].value)
    if "grid_intensity_gco2e_per_kwh" in fields:
        environment["powerSourceCarbonIntensity"] = value_in(
            est, "grid_intensity_gco2e_per_kwh", spec["units"]["powerSourceCarbonIntensity"]
        )
    totals = ", ".join(
        f"{fields[n].value:.6g} {fields[n].unit} {n}"
        for n in ("total_emissions_kgco2e", "total_water_l")
    )
    report: dict[str, Any] = {
        "header": {
            "formatVersion": spec["format_version"],
            "formatVersionSpecificationUri": spec["specification_uri"],
            "reportId": str(report_id),
            "reportDatetime": when,
            "reportStatus": export["report_status"],
            "publisher": {"confidentialityLevel": export["confidentiality"]},
        },
        "task": {
            "taskStage": export["task_stage"],
            "taskFamily": task_family or export["task_family"],
            "algorithms": [algorithm],
            "dataset": [{"dataUsage": export["data_usage"], "dataType": export["data_type"]}],
            "taskDescription": (
                f"fine-tuning estimated by {source_text(est)} for disclosure "
                f"{est.disclosure.id}: {totals} (BoAmps has no field for emissions or water). "
                "powerConsumption is the IT energy (without datacenter overhead) and "
                "measurementDuration the reserved time."
            ),
        },
        "measures": [measure],
        "software": {"language": export["language"]},
        "infrastructure": infrastructure,
    }
    if environment:
        report["environment"] = environment
    return report


def export_boamps(
    est: Estimate, task_family: str | None = None, now: datetime | None = None
) -> str:
    """The BoAmps report as JSON text."""
    return json.dumps(boamps_report(est, task_family, now), indent=2, ensure_ascii=False) + "\n"
