"""PROM instruments: one module per instrument, scoring and validation (pure)."""

from spinetrack.instruments.base import Score
from spinetrack.instruments.registry import all, get  # noqa: A004

__all__ = ["Score", "all", "get"]
