"""The clinical pathway of lower back pain care as pure code: vocabularies, value objects
and their invariants. Imports only the standard library.

Modules
-------
``diagnosis``      ICD-10-CM code table (as data, with its edition), diagnosis groups, spinal
                   levels and imaging findings.
``procedure``      the procedure catalogue (family × approach × technique) and conservative care.
``complications``  complication categories and the Clavien–Dindo grade.
``claims``         the claims made for MIS, each as a measurable metric (the scorecard's catalogue).
``comparisons``    the scorecard's comparisons, the treatment codes and the procedure families.
``pathway``        patients, episodes, procedures, PROM responses, follow-up timepoints and the
                   validation every store write goes through.
``check_text``, ``check_text_tree``  the one text check of every write, form or API: no NUL
                   character, no lone surrogate, a length limit (:mod:`spinetrack.domain._validate`).
"""

from spinetrack.domain._validate import check_text, check_text_tree
from spinetrack.domain.complications import ClavienDindo, ComplicationCategory, ReoperationReason
from spinetrack.domain.diagnosis import (
    DIAGNOSES,
    ICD10CM_EDITION,
    CentralStenosisGrade,
    Diagnosis,
    DiagnosisGroup,
    FindingKind,
    HerniationMorphology,
    HerniationZone,
    Level,
    MeyerdingGrade,
    PfirrmannGrade,
    get_diagnosis,
    parse_levels,
)
from spinetrack.domain.pathway import (
    TIMEPOINTS,
    AsaGrade,
    Sex,
    SmokingStatus,
    Timepoint,
    TreatmentArm,
    WorkStatus,
    get_timepoint,
)
from spinetrack.domain.procedure import (
    CATALOGUE,
    CONSERVATIVE_OPTIONS,
    Approach,
    ConservativeOption,
    ProcedureEntry,
    ProcedureFamily,
    Technique,
    get_procedure,
)

__all__ = [
    "CATALOGUE",
    "CONSERVATIVE_OPTIONS",
    "DIAGNOSES",
    "ICD10CM_EDITION",
    "TIMEPOINTS",
    "Approach",
    "AsaGrade",
    "CentralStenosisGrade",
    "ClavienDindo",
    "ComplicationCategory",
    "ConservativeOption",
    "Diagnosis",
    "DiagnosisGroup",
    "FindingKind",
    "HerniationMorphology",
    "HerniationZone",
    "Level",
    "MeyerdingGrade",
    "PfirrmannGrade",
    "ProcedureEntry",
    "ProcedureFamily",
    "ReoperationReason",
    "Sex",
    "SmokingStatus",
    "Technique",
    "Timepoint",
    "TreatmentArm",
    "WorkStatus",
    "check_text",
    "check_text_tree",
    "get_diagnosis",
    "get_procedure",
    "get_timepoint",
    "parse_levels",
]
