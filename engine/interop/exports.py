"""What a result becomes in other tools' formats: the Hugging Face model card's
``co2_eq_emissions`` block and the Scope3 AI API's ``ImpactMetrics``.

Exports read resolved fields only; the one thing they work out is a unit conversion (by
pint, from the units the ruleset declares to the units formats.yaml gives for the format)
and, per inference, each scope's share of the amortised total (see ``amortised``).
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..core.problems import InputError, Problem
from ..core.resolve import Estimate
from .basis import ASSUMED, Basis
from .mapping import convert, formats


def need(est: Estimate, *names: str) -> None:
    """InputError naming every field an export needs that the result does not hold."""
    missing = [n for n in names if n not in est.fields]
    if missing:
        raise InputError(
            [
                Problem(
                    est.disclosure.name,
                    None,
                    n,
                    f"the export needs {n}, which ruleset {est.ruleset.version} did not resolve "
                    "for this disclosure",
                    "reference",
                    field=n,
                )
                for n in missing
            ]
        )


def value_in(est: Estimate, name: str, unit: str) -> float:
    """A resolved number in ``unit``."""
    r = est.fields[name]
    return convert(est.ruleset, float(r.value), r.unit, unit)


def amortised(est: Estimate, kind: str) -> float | None:
    """The share of a run's total one inference carries, for ``kind`` carbon or water:
    the per-inference total (in the run total's unit) over the run total; None for a run
    total of 0. Each scope per inference is the scope times this share, so the scopes per
    inference add up to the ruleset's per-inference total."""
    per_inference, total = formats()["amortisation"][kind]
    need(est, per_inference, total)
    run = float(est.fields[total].value)
    if not run:
        return None
    return value_in(est, per_inference, est.fields[total].unit) / run


def source_text(est: Estimate) -> str:
    """How an export names where its numbers come from: tuneprint, its version and the
    ruleset's id, version and content hash."""
    rs = est.ruleset
    return (
        f"tuneprint {__version__} estimate (ruleset {rs.id} {rs.version}, content hash "
        f"{rs.content_hash})"
    )


# -- Hugging Face model card ---------------------------------------------------------------


def table_value(est: Estimate, field_name: str, column: str) -> Any:
    """A column of the table row a resolved name field points at (None if none)."""
    spec = est.ruleset.fields.get(field_name)
    if spec is None or spec.table is None or field_name not in est.fields:
        return None
    table = est.ruleset.tables.get(spec.table)
    if table is None:
        return None
    row = table.exact.get((est.fields[field_name].value,))
    return None if row is None else row.values.get(column)


def _location(est: Estimate, basis: Basis) -> str | None:
    names = formats()["hf_card"]["location"]
    parts = []
    region = est.fields.get("cloud_region")
    if region is not None:
        place = table_value(est, "cloud_region", names["cloud_region"])
        parts.append(f"{place} ({region.value})" if place else str(region.value))
    country = est.fields.get("country")
    if country is not None:
        name = table_value(est, "country", names["country"])
        parts.append(str(name or country.value))
    if not parts:
        return None
    return ", ".join(parts) + _caveat(basis, ("cloud_region", "country"))


def _caveat(basis: Basis, names: tuple[str, ...]) -> str:
    """What a text made of fields must say when it rests on no disclosure or on an
    assumption (nothing when the fields come from what was disclosed)."""
    present = [n for n in names if n in basis.fields]
    if any(basis.of(n) == ASSUMED for n in present):
        return " (assumed by tuneprint)"
    if not any(basis.rooted(n) for n in present):
        return " (not disclosed: tuneprint's fallback)"
    return ""


def _hardware(est: Estimate, basis: Basis) -> str | None:
    if "gpu_model" not in est.fields:
        return None
    model = est.fields["gpu_model"].value
    count = est.fields["gpu_count"].value if "gpu_count" in est.fields else None
    text = f"{count} x {model}" if count is not None else str(model)
    return text + _caveat(basis, ("gpu_model", "gpu_count"))


def hf_card_metadata(est: Estimate) -> dict[str, Any]:
    """The ``co2_eq_emissions`` mapping: emissions in grams, source, training type,
    geographical location and hardware used (the last two when the result knows them)."""
    spec = formats()["hf_card"]
    need(est, spec["emissions"]["field"])
    basis = Basis(est)
    out: dict[str, Any] = {
        "emissions": value_in(est, spec["emissions"]["field"], spec["emissions"]["unit"]),
        "source": source_text(est),
        "training_type": spec["training_type"],
    }
    location = _location(est, basis)
    if location:
        out["geographical_location"] = location
    hardware = _hardware(est, basis)
    if hardware:
        out["hardware_used"] = hardware
    return out


def export_hf_card(est: Estimate) -> str:
    """The model card metadata block, ready to paste into a README's YAML front matter:
    emissions as a plain decimal number of grams (the Hub reads the first number of the
    value, so never an exponent)."""
    meta = hf_card_metadata(est)
    decimals = int(formats()["hf_card"]["decimals"])
    lines = ["co2_eq_emissions:", f"  emissions: {meta['emissions']:.{decimals}f}"]
    for key in ("source", "training_type", "geographical_location", "hardware_used"):
        if key in meta:
            lines.append(f"  {key}: {json.dumps(meta[key], ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


# -- Scope3 ImpactMetrics ------------------------------------------------------------------


def impact_metrics(est: Estimate, per_inference: bool = False) -> dict[str, float]:
    """The five ImpactMetrics numbers of the run (or of one inference)."""
    metrics: dict[str, Any] = formats()["scope3"]["metrics"]
    need(est, *(f for m in metrics.values() for f in m["fields"]))
    out = {}
    for name, how in metrics.items():
        value = sum(value_in(est, f, how["unit"]) for f in how["fields"])
        if per_inference:
            share = amortised(est, how["amortised_as"])
            value = 0.0 if share is None else value * share
        out[name] = value
    return out


def scope3_document(est: Estimate) -> dict[str, Any]:
    """ImpactMetrics per run and per inference (the per-inference one is what a Scope3
    ModeledRow's ``fine_tuning_impact`` holds), with the source of the numbers."""
    return {
        "per_run": impact_metrics(est),
        "per_inference": impact_metrics(est, per_inference=True),
        "source": {
            "estimate": source_text(est),
            "disclosure": est.disclosure.id,
            "ruleset": {
                "id": est.ruleset.id,
                "version": est.ruleset.version,
                "content_hash": est.ruleset.content_hash,
            },
        },
    }
