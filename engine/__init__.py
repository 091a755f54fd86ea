"""tuneprint: carbon and water estimates for fine-tuning AI models, from declarative rules.

The package knows nothing about GPUs, grids or water: it loads rule files, checks them,
and evaluates them with full provenance. All domain knowledge lives in ``rules/``.

    import tuneprint
    rs = tuneprint.load_ruleset()                      # newest released, or "2.3", or a folder
    result = tuneprint.estimate({"gpu_model": "A100 80GB", "gpu_count": 4,
                                 "reserved_hours": 12}, rs)
    total = result["total_emissions_kgco2e"]           # .value, .unit, .status, .rule ...
    print(result.explain("pue"))

The names below are imported on first use, so ``import tuneprint`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_API = {
    "Disclosure": "api",
    "Result": "api",
    "diff": "api",
    "estimate": "api",
    "estimate_many": "api",
    "explain": "api",
    "is_batch": "api",
    "load_ruleset": "api",
    "read_batch": "api",
    "read_disclosure": "api",
    "why_unresolved": "api",
    "Ruleset": "core.model",
    "Resolved": "core.provenance",
    "Problem": "core.problems",
    "TuneprintError": "core.problems",
    "InputError": "core.problems",
    "RulesetError": "core.problems",
    "UnresolvedError": "core.problems",
}

if TYPE_CHECKING:
    from .api import (
        Disclosure,
        Result,
        diff,
        estimate,
        estimate_many,
        explain,
        is_batch,
        load_ruleset,
        read_batch,
        read_disclosure,
        why_unresolved,
    )
    from .core.model import Ruleset
    from .core.problems import InputError, Problem, RulesetError, TuneprintError, UnresolvedError
    from .core.provenance import Resolved


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'tuneprint' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Disclosure",
    "InputError",
    "Problem",
    "Resolved",
    "Result",
    "Ruleset",
    "RulesetError",
    "TuneprintError",
    "UnresolvedError",
    "__version__",
    "diff",
    "estimate",
    "estimate_many",
    "explain",
    "is_batch",
    "load_ruleset",
    "read_batch",
    "read_disclosure",
    "why_unresolved",
]
