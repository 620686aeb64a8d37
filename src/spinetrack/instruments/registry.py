"""Instrument code → instrument; the one entry point the store, web and CLI use."""

from __future__ import annotations

from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.instruments.base import Instrument
from spinetrack.instruments.comi import COMI_BACK
from spinetrack.instruments.eq5d5l import EQ5D5L
from spinetrack.instruments.followup import GLOBAL_OUTCOME, RETURN_TO_ACTIVITY
from spinetrack.instruments.nrs import NRS_BACK, NRS_LEG
from spinetrack.instruments.odi import ODI
from spinetrack.instruments.rmdq import RMDQ

__all__ = ["all", "get"]

_REGISTRY: dict[str, Instrument] = {i.definition.code: i for i in (
    ODI, NRS_BACK, NRS_LEG, EQ5D5L, RMDQ, COMI_BACK, RETURN_TO_ACTIVITY, GLOBAL_OUTCOME)}


def get(code: Any, field: str = "instrument") -> Instrument:
    """Return the instrument with this code or raise naming the allowed codes."""
    if isinstance(code, str) and code in _REGISTRY:
        return _REGISTRY[code]
    raise ValidationError(field=field, value=code, allowed=list(_REGISTRY))


def all() -> list[Instrument]:  # noqa: A001 - the interface name the issue gives
    """Every registered instrument, in a stable order."""
    return list(_REGISTRY.values())
