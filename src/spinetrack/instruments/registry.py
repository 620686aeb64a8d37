"""Instrument code → instrument; the one entry point the store and web use."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.instruments import eq5d5l, odi
from spinetrack.instruments.followup import GLOBAL_OUTCOME, RETURN_TO_ACTIVITY
from spinetrack.instruments.nrs import NRS_BACK, NRS_LEG

__all__ = ["all", "get"]

_REGISTRY: dict[str, Any] = {
    "odi": odi,
    "nrs_back": NRS_BACK,
    "nrs_leg": NRS_LEG,
    "eq5d5l": eq5d5l,
    "global_outcome": GLOBAL_OUTCOME,
    "return_to_activity": RETURN_TO_ACTIVITY,
}


def get(code: Any, field: str = "instrument") -> ModuleType | Any:
    """Return the instrument with this code or raise naming the allowed codes."""
    if isinstance(code, str) and code in _REGISTRY:
        return _REGISTRY[code]
    raise ValidationError(field=field, value=code, allowed=sorted(_REGISTRY))


def all() -> list[str]:  # noqa: A001 - the interface name the issues give
    """Codes of every registered instrument."""
    return list(_REGISTRY)
