"""The Transformers callback: ``from tuneprint.hf import TuneprintCallback`` (needs the
``hf`` extra: ``pip install "tuneprint[hf]"``)."""

from __future__ import annotations

from .interop.hf import TuneprintCallback

__all__ = ["TuneprintCallback"]
