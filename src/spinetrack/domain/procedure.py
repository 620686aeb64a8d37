"""The procedure catalogue and the conservative care options.

Each surgical procedure has a family (discectomy, decompression, fusion) and an approach:
``mis`` with a technique (tubular, full-endoscopic transforaminal or interlaminar,
percutaneous) or ``open``. Codes are stable strings stored in the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from spinetrack.errors import ValidationError

__all__ = [
    "CATALOGUE",
    "CONSERVATIVE_OPTIONS",
    "Approach",
    "ConservativeOption",
    "ProcedureEntry",
    "ProcedureFamily",
    "Technique",
    "get_procedure",
]


class ProcedureFamily(enum.Enum):
    DISCECTOMY = "discectomy"
    DECOMPRESSION = "decompression"
    FUSION = "fusion"


class Approach(enum.Enum):
    MIS = "mis"
    OPEN = "open"


class Technique(enum.Enum):
    """How a minimally invasive procedure reaches the spine (open procedures have none)."""

    TUBULAR = "tubular"
    FULL_ENDOSCOPIC_TRANSFORAMINAL = "full_endoscopic_transforaminal"
    FULL_ENDOSCOPIC_INTERLAMINAR = "full_endoscopic_interlaminar"
    PERCUTANEOUS = "percutaneous"

    @property
    def is_full_endoscopic(self) -> bool:
        return self in (Technique.FULL_ENDOSCOPIC_TRANSFORAMINAL, Technique.FULL_ENDOSCOPIC_INTERLAMINAR)


@dataclass(frozen=True, slots=True)
class ProcedureEntry:
    """One entry of the procedure catalogue."""

    code: str
    family: ProcedureFamily
    approach: Approach
    technique: Technique | None
    label: str

    def __post_init__(self) -> None:
        if (self.approach is Approach.MIS) != (self.technique is not None):
            raise ValueError(f"{self.code}: a MIS procedure needs a technique and an open one none")


def _entry(code: str, family: ProcedureFamily, approach: Approach, technique: Technique | None,
           label: str) -> ProcedureEntry:
    return ProcedureEntry(code, family, approach, technique, label)


_F, _A, _T = ProcedureFamily, Approach, Technique
CATALOGUE: dict[str, ProcedureEntry] = {
    e.code: e
    for e in (
        _entry("discectomy_open", _F.DISCECTOMY, _A.OPEN, None, "Open (micro)discectomy"),
        _entry("discectomy_tubular", _F.DISCECTOMY, _A.MIS, _T.TUBULAR, "Tubular / microendoscopic discectomy"),
        _entry("discectomy_endoscopic_tf", _F.DISCECTOMY, _A.MIS, _T.FULL_ENDOSCOPIC_TRANSFORAMINAL,
               "Full-endoscopic transforaminal discectomy"),
        _entry("discectomy_endoscopic_il", _F.DISCECTOMY, _A.MIS, _T.FULL_ENDOSCOPIC_INTERLAMINAR,
               "Full-endoscopic interlaminar discectomy"),
        _entry("decompression_open", _F.DECOMPRESSION, _A.OPEN, None, "Open laminectomy"),
        _entry("decompression_tubular", _F.DECOMPRESSION, _A.MIS, _T.TUBULAR,
               "Tubular unilateral laminotomy for bilateral decompression"),
        _entry("decompression_endoscopic_il", _F.DECOMPRESSION, _A.MIS, _T.FULL_ENDOSCOPIC_INTERLAMINAR,
               "Full-endoscopic interlaminar decompression"),
        _entry("fusion_open_tlif", _F.FUSION, _A.OPEN, None, "Open transforaminal lumbar interbody fusion"),
        _entry("fusion_open_plif", _F.FUSION, _A.OPEN, None, "Open posterior lumbar interbody fusion"),
        _entry("fusion_open_plf", _F.FUSION, _A.OPEN, None, "Open posterolateral fusion"),
        _entry("fusion_mis_tlif", _F.FUSION, _A.MIS, _T.PERCUTANEOUS,
               "MIS TLIF (tubular/expandable retractor, percutaneous pedicle screws)"),
        _entry("fusion_endoscopic_tlif", _F.FUSION, _A.MIS, _T.FULL_ENDOSCOPIC_TRANSFORAMINAL,
               "Full-endoscopic TLIF with percutaneous screws"),
    )
}


def get_procedure(code: Any, field: str = "procedure_code") -> ProcedureEntry:
    """Return the catalogue entry for ``code`` or raise naming the allowed codes.

    Examples
    --------
    >>> e = get_procedure("fusion_mis_tlif")
    >>> (e.family.value, e.approach.value, e.technique.value)
    ('fusion', 'mis', 'percutaneous')
    """
    if isinstance(code, str) and code in CATALOGUE:
        return CATALOGUE[code]
    raise ValidationError(field=field, value=code, allowed=sorted(CATALOGUE))


class ConservativeOption(enum.Enum):
    """Conservative (non-surgical) care."""

    PHYSIOTHERAPY = "physiotherapy"
    MEDICATION = "medication"
    INJECTION = "injection"  # epidural or selective nerve-root injection


CONSERVATIVE_OPTIONS: tuple[ConservativeOption, ...] = tuple(ConservativeOption)
