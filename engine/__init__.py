"""tuneprint: carbon and water estimates for fine-tuning, from declarative rules.

The package knows nothing about GPUs, grids or water: it loads rule files, checks them,
and evaluates them with full provenance. All domain knowledge lives in ``rules/``.
"""

from __future__ import annotations

__version__ = "0.1.0"
