"""Interoperability: read what other tools write, write what they read.

Imports give disclosure documents (mappings ``tuneprint.estimate`` takes as they are) in
which every value keeps its source, the file, row and column it comes from:

    from tuneprint import interop
    doc = interop.import_codecarbon("emissions.csv")            # CodeCarbon 2.x and 3.x
    doc = interop.import_trainer_state("trainer_state.json", tokens="all")
    doc = interop.import_boamps("report.json")                  # BoAmps 1.1
    result = tuneprint.estimate(doc)

Exports take a result:

    interop.export_hf_card(result)     # the model card's co2_eq_emissions block (grams)
    interop.export_scope3(result)      # Scope3 ImpactMetrics per run and per inference
    interop.export_boamps(result)      # a BoAmps 1.1 report
    interop.export_html(result)        # a self-contained report with SVG charts
    interop.export_markdown(result)

The formats' columns, units, bounds and conventions are data, in ``formats.yaml`` here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..core.resolve import Estimate
from .basis import Basis
from .boamps import boamps_report, export_boamps, import_boamps
from .codecarbon import import_codecarbon, import_codecarbon_runs
from .exports import export_hf_card, hf_card_metadata, impact_metrics, scope3_document
from .mapping import ImportedDisclosure
from .report import export_html, export_markdown
from .trainer_state import import_trainer_state


def export_scope3(result: Estimate) -> str:
    """Scope3 ImpactMetrics per run and per inference, as JSON text."""
    return json.dumps(scope3_document(result), indent=2, ensure_ascii=False) + "\n"


def basis_shares(result: Estimate) -> dict[str, dict[str, float | None]]:
    """For each total the report shows, the share resting on disclosed, derived and
    assumed values (see ``basis``)."""
    from .mapping import formats

    basis = Basis(result)
    return {t["field"]: basis.shares(t["field"]) for t in formats()["report"]["totals"]}


def export(result: Estimate, format: str, **options: Any) -> str:
    """A result in one of the formats of ``EXPORTS`` (``options``: task_family and now for
    boamps)."""
    if format == "boamps":
        now: datetime | None = options.get("now")
        return export_boamps(result, options.get("task_family"), now)
    return EXPORTS[format](result)


EXPORTS = {
    "hf-card": export_hf_card,
    "scope3": export_scope3,
    "boamps": export_boamps,
    "html": export_html,
    "markdown": export_markdown,
}

__all__ = [
    "EXPORTS",
    "ImportedDisclosure",
    "basis_shares",
    "boamps_report",
    "export",
    "export_boamps",
    "export_hf_card",
    "export_html",
    "export_markdown",
    "export_scope3",
    "hf_card_metadata",
    "impact_metrics",
    "import_boamps",
    "import_codecarbon",
    "import_codecarbon_runs",
    "import_trainer_state",
    "scope3_document",
]
