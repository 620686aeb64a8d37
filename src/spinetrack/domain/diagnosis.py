"""Diagnoses (ICD-10-CM, kept as data with its edition), spinal levels and imaging findings.

References
----------
- ICD-10-CM FY2025 tabular list (CDC/NCHS). The code table ships as
  ``domain/data/icd10cm_lbp.csv`` whose header records the edition.
- Fardon DF, Williams AL, Dohring EJ, et al. Lumbar disc nomenclature: version 2.0.
  Spine J 2014;14(11):2525-45 (NASS/ASSR/ASNR): morphology and zones.
- Pfirrmann CW, Metzdorf A, Zanetti M, et al. Magnetic resonance classification of lumbar
  intervertebral disc degeneration. Spine 2001;26(17):1873-8: grades I-V.
- Meyerding HW. Spondylolisthesis. Surg Gynecol Obstet 1932;54:371-7: grades I-V.
- Schizas C, Theumann N, Burn A, et al. Qualitative grading of severity of lumbar spinal
  stenosis based on the morphology of the dural sac on magnetic resonance images.
  Spine 2010;35(21):1919-24: grades A-D. No standard fixes the central stenosis grade; we
  chose Schizas A-D because it is morphological, needs no measurement and is reported in
  surgical cohorts.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from spinetrack.domain._validate import coerce_enum
from spinetrack.errors import ValidationError

__all__ = [
    "DIAGNOSES",
    "ICD10CM_EDITION",
    "CentralStenosisGrade",
    "Diagnosis",
    "DiagnosisGroup",
    "FindingKind",
    "HerniationMorphology",
    "HerniationZone",
    "ImagingFinding",
    "Level",
    "MeyerdingGrade",
    "PfirrmannGrade",
    "get_diagnosis",
    "parse_levels",
]


class DiagnosisGroup(enum.Enum):
    """Clinical condition a diagnosis code belongs to."""

    DISC_HERNIATION_RADICULOPATHY = "disc_herniation_radiculopathy"
    STENOSIS_WITHOUT_CLAUDICATION = "stenosis_without_claudication"
    STENOSIS_WITH_CLAUDICATION = "stenosis_with_claudication"
    DEGENERATIVE_DISC_DISEASE = "degenerative_disc_disease"
    DEGENERATIVE_SPONDYLOLISTHESIS = "degenerative_spondylolisthesis"
    NONSPECIFIC_LOW_BACK_PAIN = "nonspecific_low_back_pain"

    @property
    def is_stenosis(self) -> bool:
        return self in (DiagnosisGroup.STENOSIS_WITH_CLAUDICATION, DiagnosisGroup.STENOSIS_WITHOUT_CLAUDICATION)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One ICD-10-CM code with the condition group it belongs to."""

    code: str
    group: DiagnosisGroup
    region: str
    label: str


def _load_diagnoses() -> tuple[str, dict[str, Diagnosis]]:
    text = resources.files("spinetrack.domain").joinpath("data/icd10cm_lbp.csv").read_text("utf-8")
    edition = ""
    data_lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            if line.startswith("# edition:"):
                edition = line.split(":", 1)[1].strip().split(" (")[0]
            continue
        data_lines.append(line)
    rows = csv.DictReader(io.StringIO("\n".join(data_lines)))
    table = {
        r["code"]: Diagnosis(r["code"], DiagnosisGroup(r["group"]), r["region"], r["label"]) for r in rows
    }
    return edition, table


ICD10CM_EDITION, DIAGNOSES = _load_diagnoses()
"""The ICD-10-CM edition of the code table, and the table itself (code → Diagnosis)."""


def get_diagnosis(code: Any, field: str = "diagnosis_code") -> Diagnosis:
    """Return the :class:`Diagnosis` for an ICD-10-CM code, or raise naming the allowed codes.

    Examples
    --------
    >>> get_diagnosis("M48.062").group.value
    'stenosis_with_claudication'
    """
    if isinstance(code, str) and code.strip().upper() in DIAGNOSES:
        return DIAGNOSES[code.strip().upper()]
    raise ValidationError(field=field, value=code, allowed=sorted(DIAGNOSES))


class Level(enum.Enum):
    """A lumbar motion segment, cranial to caudal."""

    L1_L2 = "L1-L2"
    L2_L3 = "L2-L3"
    L3_L4 = "L3-L4"
    L4_L5 = "L4-L5"
    L5_S1 = "L5-S1"

    @property
    def index(self) -> int:
        return _LEVEL_ORDER[self]


_LEVEL_ORDER = {lvl: i for i, lvl in enumerate(Level)}


def parse_levels(value: Any, field: str = "levels") -> tuple[Level, ...]:
    """Parse levels given as ``"L4-L5,L5-S1"`` or a sequence; return them sorted, without repeats.

    Raises a :class:`ValidationError` for an empty list, a repeated level or a level outside
    L1-L2 … L5-S1.

    Examples
    --------
    >>> [lvl.value for lvl in parse_levels("L5-S1, L4-L5")]
    ['L4-L5', 'L5-S1']
    """
    allowed = [lvl.value for lvl in Level]
    if isinstance(value, str):
        parts = [p.strip().upper() for p in value.replace(";", ",").split(",") if p.strip()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        parts = [p.value if isinstance(p, Level) else str(p).strip().upper() for p in value]
    else:
        raise ValidationError(field=field, value=value, allowed=allowed, reason="give one or more levels")
    if not parts:
        raise ValidationError(field=field, value=value, allowed=allowed, reason="at least one level is required")
    levels = []
    for p in parts:
        try:
            levels.append(Level(p))
        except ValueError:
            raise ValidationError(field=field, value=p, allowed=allowed) from None
    if len(set(levels)) != len(levels):
        raise ValidationError(field=field, value=value, allowed=allowed, reason="a level is repeated")
    return tuple(sorted(levels, key=lambda lvl: lvl.index))


def format_levels(levels: tuple[Level, ...]) -> str:
    """Canonical text form of a set of levels, e.g. ``"L4-L5,L5-S1"``."""
    return ",".join(lvl.value for lvl in levels)


class FindingKind(enum.Enum):
    """What an imaging finding describes."""

    DISC_HERNIATION = "disc_herniation"
    DISC_DEGENERATION = "disc_degeneration"
    CENTRAL_STENOSIS = "central_stenosis"
    SPONDYLOLISTHESIS = "spondylolisthesis"


class HerniationMorphology(enum.Enum):
    """Disc contour per lumbar disc nomenclature 2.0 (Fardon 2014)."""

    BULGE = "bulge"
    PROTRUSION = "protrusion"
    EXTRUSION = "extrusion"
    SEQUESTRATION = "sequestration"


class HerniationZone(enum.Enum):
    """Axial location per lumbar disc nomenclature 2.0 (Fardon 2014)."""

    CENTRAL = "central"
    SUBARTICULAR = "subarticular"
    FORAMINAL = "foraminal"
    EXTRAFORAMINAL = "extraforaminal"


class PfirrmannGrade(enum.Enum):
    """Disc degeneration on T2-weighted MRI (Pfirrmann 2001), I (normal) to V (collapsed)."""

    I = "I"  # noqa: E741
    II = "II"
    III = "III"
    IV = "IV"
    V = "V"


class CentralStenosisGrade(enum.Enum):
    """Morphological grade of central stenosis (Schizas 2010), A (none/mild) to D (extreme)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class MeyerdingGrade(enum.Enum):
    """Slip grade (Meyerding 1932): I <25%, II 25-50%, III 50-75%, IV 75-100%, V spondyloptosis."""

    I = "I"  # noqa: E741
    II = "II"
    III = "III"
    IV = "IV"
    V = "V"


# Which grading field each finding kind requires; other grading fields must stay empty.
_FINDING_FIELDS: dict[FindingKind, tuple[str, ...]] = {
    FindingKind.DISC_HERNIATION: ("morphology", "zone"),
    FindingKind.DISC_DEGENERATION: ("pfirrmann",),
    FindingKind.CENTRAL_STENOSIS: ("stenosis_grade",),
    FindingKind.SPONDYLOLISTHESIS: ("meyerding",),
}
_GRADE_ENUMS: dict[str, type[enum.Enum]] = {
    "morphology": HerniationMorphology,
    "zone": HerniationZone,
    "pfirrmann": PfirrmannGrade,
    "stenosis_grade": CentralStenosisGrade,
    "meyerding": MeyerdingGrade,
}


@dataclass(frozen=True, slots=True)
class ImagingFinding:
    """One finding at one level. Build it with :meth:`create` to validate raw input."""

    level: Level
    kind: FindingKind
    morphology: HerniationMorphology | None = None
    zone: HerniationZone | None = None
    pfirrmann: PfirrmannGrade | None = None
    stenosis_grade: CentralStenosisGrade | None = None
    meyerding: MeyerdingGrade | None = None

    @classmethod
    def create(cls, data: dict[str, Any], field: str = "imaging_finding") -> ImagingFinding:
        """Validate a mapping such as ``{"level": "L4-L5", "kind": "disc_herniation",
        "morphology": "extrusion", "zone": "subarticular"}``."""
        if not isinstance(data, Mapping):
            raise ValidationError(field=field, value=data, allowed=["level", "kind", *_GRADE_ENUMS],
                                  reason="expected a finding with these fields")
        unknown = set(data) - {"level", "kind", *_GRADE_ENUMS}
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(
                field=f"{field}.{name}", value=data[name], allowed=["level", "kind", *_GRADE_ENUMS],
                reason="unknown field"
            )
        levels = parse_levels([data.get("level")] if data.get("level") is not None else [], f"{field}.level")
        if len(levels) != 1:
            raise ValidationError(field=f"{field}.level", value=data.get("level"), allowed=[lvl.value for lvl in Level])
        kind = coerce_enum(FindingKind, data.get("kind"), f"{field}.kind")
        values: dict[str, Any] = {}
        for name, enum_cls in _GRADE_ENUMS.items():
            raw = data.get(name)
            if name in _FINDING_FIELDS[kind]:
                values[name] = coerce_enum(enum_cls, raw, f"{field}.{name}")
            elif raw is not None:
                raise ValidationError(
                    field=f"{field}.{name}",
                    value=raw,
                    allowed="empty",
                    reason=f"a {kind.value} finding takes only {', '.join(_FINDING_FIELDS[kind])}",
                )
        return cls(level=levels[0], kind=kind, **values)
