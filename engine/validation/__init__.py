"""Validation against measured runs: the suite (data kept in ``validation/``), estimating
each case and comparing it at its measurement boundary."""

from __future__ import annotations

from .report import Outcome, report, run, summary, threshold_failures
from .suite import Case, Suite, load_suite, load_thresholds

__all__ = [
    "Case",
    "Outcome",
    "Suite",
    "load_suite",
    "load_thresholds",
    "report",
    "run",
    "summary",
    "threshold_failures",
]
