"""The one patient identifier staff see: ``patients.pseudo_id`` (``ST-`` and 10 characters
without look-alike letters, :func:`spinetrack.store.repositories.new_pseudo_id`).

Pages, the API and the CLI show it and nothing else: not the database row number (which stays
in URLs only) and not the pseudonymised snapshot's keys (``P…``, which stay in the snapshot).
Where a patient is named by hand (``spinetrack predict --patient``) either the pseudonymous id or
the row number is accepted (:func:`parse_patient_ref`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PSEUDO_ID", "parse_patient_ref", "patient_label"]

PSEUDO_ID = re.compile(r"ST-[ABCDEFGHJKMNPQRSTVWXYZ2-9]{10}")


def patient_label(patient: Mapping[str, Any] | Any | None) -> str:
    """The identifier to show for a patient (a row mapping, an object with ``pseudo_id``, or the
    id itself); an em dash when there is none."""
    if patient is None:
        return "—"
    if isinstance(patient, str):
        return patient or "—"
    value = patient.get("pseudo_id") if isinstance(patient, Mapping) else getattr(patient, "pseudo_id", None)
    return str(value) if value else "—"


def parse_patient_ref(text: str) -> int | str:
    """A patient as typed: the row number (digits) → ``int``; anything else is a pseudonymous
    id, returned trimmed (``st-fcvm6pax68`` → ``ST-FCVM6PAX68``; other ids as typed)."""
    value = text.strip()
    if re.fullmatch(r"\d{1,12}", value):
        return int(value)
    return value.upper() if PSEUDO_ID.fullmatch(value.upper()) else value
