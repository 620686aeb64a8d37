"""Instrument code → instrument; the one entry point the store, web and CLI use.

The lists of instruments that the analysis and the pages show (:class:`~spinetrack.instruments.base.Listing`)
and the names the pages give them are read from each instrument's definition here, in registry
order: adding an instrument is its module and one entry below.
"""

from __future__ import annotations

from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.instruments.analgesics import ANALGESICS
from spinetrack.instruments.base import Display, Instrument, Listing
from spinetrack.instruments.comi import COMI_BACK
from spinetrack.instruments.eq5d5l import EQ5D5L
from spinetrack.instruments.followup import GLOBAL_OUTCOME, RETURN_TO_ACTIVITY
from spinetrack.instruments.nrs import NRS_BACK, NRS_LEG
from spinetrack.instruments.odi import ODI
from spinetrack.instruments.rmdq import RMDQ
from spinetrack.instruments.work_status import WORK_STATUS

__all__ = ["all", "display_field", "get", "listed"]

_REGISTRY: dict[str, Instrument] = {i.definition.code: i for i in (
    ODI, NRS_BACK, NRS_LEG, EQ5D5L, RMDQ, COMI_BACK, RETURN_TO_ACTIVITY, GLOBAL_OUTCOME, WORK_STATUS, ANALGESICS)}


def get(code: Any, field: str = "instrument") -> Instrument:
    """Return the instrument with this code or raise naming the allowed codes."""
    if isinstance(code, str) and code in _REGISTRY:
        return _REGISTRY[code]
    raise ValidationError(field=field, value=code, allowed=list(_REGISTRY))


def all() -> list[Instrument]:  # shadows the builtin inside this module only
    """Every registered instrument, in a stable order."""
    return list(_REGISTRY.values())


def listed(listing: Listing) -> tuple[str, ...]:
    """The codes of the instruments whose definition lists them in ``listing``, in registry order.

    >>> listed(Listing.PATIENT_RESULTS)
    ('odi', 'nrs_back', 'nrs_leg')
    """
    return tuple(code for code, inst in _REGISTRY.items() if listing in inst.definition.lists)


def display_field(name: str) -> dict[str, Any]:
    """Instrument code → the :class:`~spinetrack.instruments.base.Display` field ``name`` of
    every instrument that sets it, in registry order.

    >>> display_field("report_short")["nrs_leg"]
    'leg pain NRS'
    """
    if name not in Display.__dataclass_fields__:
        raise ValueError(f"Display has no field {name!r}")
    return {code: getattr(inst.definition.display, name) for code, inst in _REGISTRY.items()
            if getattr(inst.definition.display, name) is not None}
