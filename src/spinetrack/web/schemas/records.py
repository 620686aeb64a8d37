"""Bodies of the clinical record: patients (with their identity kept apart), episodes of care,
procedures, complications, readmissions and reoperations."""

import datetime as dt
from typing import Annotated, Any

from pydantic import Field

from spinetrack.domain.complications import ClavienDindo, ComplicationCategory, ReoperationReason
from spinetrack.domain.diagnosis import (
    CentralStenosisGrade,
    DiagnosisGroup,
    FindingKind,
    HerniationMorphology,
    HerniationZone,
    Level,
    MeyerdingGrade,
    PfirrmannGrade,
)
from spinetrack.domain.pathway import AsaGrade, EpisodeEndReason, Sex, SmokingStatus, TreatmentArm, WorkStatus
from spinetrack.domain.procedure import CATALOGUE, ConservativeOption, ProcedureFamily
from spinetrack.web.schemas._base import (
    LEVELS,
    Boolean,
    Date,
    Integer,
    Number,
    Text,
    _Create,
    _doc,
    _enum,
    _Public,
    _requires,
    _values,
)

__all__ = [
    "ComplicationCreate",
    "ComplicationPublic",
    "ComplicationsPublic",
    "EpisodeCreate",
    "EpisodeEndCreate",
    "EpisodePublic",
    "EpisodesPublic",
    "IdentityCreate",
    "IdentityPublic",
    "ImagingFindingPublic",
    "PatientCreate",
    "PatientPublic",
    "PatientSummaryPublic",
    "PatientsPublic",
    "ProcedureCreate",
    "ProcedurePublic",
    "ProceduresPublic",
    "ReadmissionCreate",
    "ReadmissionPublic",
    "ReoperationCreate",
    "ReoperationPublic",
]

_FINDING_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["level", "kind"],
    "properties": {
        "level": {"type": "string", "enum": _values(Level)},
        "kind": {"type": "string", "enum": _values(FindingKind)},
        "morphology": {"type": "string", "enum": _values(HerniationMorphology),
                       "description": "disc herniation only (nomenclature 2.0)"},
        "zone": {"type": "string", "enum": _values(HerniationZone), "description": "disc herniation only"},
        "pfirrmann": {"type": "string", "enum": _values(PfirrmannGrade), "description": "disc degeneration only"},
        "stenosis_grade": {"type": "string", "enum": _values(CentralStenosisGrade),
                           "description": "central stenosis only (Schizas A-D)"},
        "meyerding": {"type": "string", "enum": _values(MeyerdingGrade), "description": "spondylolisthesis only"},
    },
}


# ------------------------------------------------------------------------------ patients


class IdentityCreate(_Create):
    """Identifying details, kept apart from the clinical record and shown only to the
    patient's own clinic."""

    model_config = _requires("full_name")
    _prefix = "identity"

    full_name: Text = Field(None, description="The patient's name (required, up to 200 characters).",
                            examples=["Jane Example"])
    mrn: Text = Field(None, description="Hospital number, unique within the site (up to 64 characters).")
    email: Text = Field(None, description="E-mail address (optional).")
    phone: Text = Field(None, description="Telephone number (optional, up to 40 characters).")
    language: Annotated[Any, _doc({"type": ["string", "null"], "enum": ["en", "es", None]})] = Field(
        None, description="The patient's language for pages and messages (optional): en (English) or "
                          "es (Español); when absent, the browser's language is used.")


class IdentityPublic(_Public):
    full_name: str | None
    mrn: str | None
    email: str | None
    phone: str | None


class PatientCreate(_Create):
    """Enrol a patient at the signed-in clinician's site: pseudonymous clinical fields plus the
    identity kept apart. The pseudonymous id is drawn by the store (``ST-`` and 10 random
    characters), never chosen by the client: a typed value (a hospital number, say) would
    otherwise travel as if it were pseudonymous."""

    model_config = _requires("birth_year", "sex")
    _prefix = "patient"
    _nested = frozenset({"identity"})

    birth_year: Integer = Field(None, description="Year of birth (required).", examples=[1968])
    sex: Annotated[Any, _enum(Sex)] = Field(None, description="Required.")
    bmi: Number = Field(None, description="Body-mass index, kg/m² (10 to 90).", examples=[27.4])
    smoking: Annotated[Any, _enum(SmokingStatus)] = Field(None)
    diabetes: Boolean = Field(None)
    asa_grade: Annotated[Any, _doc({"type": "integer", "enum": _values(AsaGrade)})] = Field(
        None, description="ASA physical status 1-5.")
    work_status: Annotated[Any, _enum(WorkStatus)] = Field(None)
    symptom_duration_weeks: Integer = Field(None, description="Duration of symptoms, weeks (0 to 5200).")
    prior_spine_surgery: Boolean = Field(None)
    identity: IdentityCreate | None = Field(
        None, description="Name, hospital number and contact; stored apart from the clinical record.")



class PatientPublic(_Public):
    id: int
    pseudo_id: str
    site_id: int
    birth_year: int
    sex: str
    bmi: float | None
    smoking: str | None
    diabetes: bool | None
    asa_grade: int | None
    work_status: str | None
    symptom_duration_weeks: int | None
    prior_spine_surgery: bool | None
    created_at: dt.datetime | None
    identity: IdentityPublic | None = Field(None, description="Present for the patient's own clinic.")


class PatientSummaryPublic(_Public):
    """One row of the patient list: a patient with one of their episodes (or none)."""

    patient_id: int
    pseudo_id: str
    full_name: str | None
    mrn: str | None
    birth_year: int
    sex: str
    episode_id: int | None
    diagnosis_code: str | None
    diagnosis_group: str | None
    treatment: str | None
    index_date: dt.date | None


class PatientsPublic(_Public):
    total: int = Field(description="Rows matching the search and filters (before limit and offset).")
    limit: int
    offset: int
    items: list[PatientSummaryPublic]


# ------------------------------------------------------------------------------ episodes


class EpisodeCreate(_Create):
    """An episode of care: diagnosis, levels, imaging findings and the treatment chosen."""

    model_config = _requires("diagnosis_code", "levels", "enrolled_on")
    _prefix = "episode"

    diagnosis_code: Text = Field(None, description="ICD-10-CM code (required).", examples=["M51.16"])
    levels: LEVELS = Field(None, description="Affected levels (required), e.g. 'L4-L5' or ['L4-L5', 'L5-S1'].")
    imaging_findings: Annotated[Any, _doc({"type": "array", "items": _FINDING_SCHEMA})] = Field(
        None, description="MRI/CT findings, each at one of the episode's levels.")
    conservative_care: Annotated[Any, _doc({"type": "array",
                                            "items": {"type": "string", "enum": _values(ConservativeOption)}})] = \
        Field(None, description="Conservative care received.")
    conservative_care_weeks: Integer = Field(None, description="Weeks of conservative care (0 to 5200).")
    treatment: Annotated[Any, _enum(TreatmentArm)] = Field(None, description="Treatment arm chosen.")
    treatment_family: Annotated[Any, _enum(ProcedureFamily)] = Field(
        None, description="Required for surgical treatment.")
    enrolled_on: Date = Field(None, description="Enrolment date (required).")
    index_date: Date = Field(None, description="Procedure date or start of conservative care.")


class ImagingFindingPublic(_Public):
    level: str
    kind: str
    morphology: str | None = None
    zone: str | None = None
    pfirrmann: str | None = None
    stenosis_grade: str | None = None
    meyerding: str | None = None


class EpisodePublic(_Public):
    id: int
    patient_id: int
    diagnosis_code: str
    diagnosis_group: str = Field(json_schema_extra={"enum": _values(DiagnosisGroup)})
    levels: str
    n_levels: int
    conservative_care: str | None
    conservative_care_weeks: int | None
    treatment: str | None
    treatment_family: str | None
    enrolled_on: dt.date
    index_date: dt.date | None
    ended_on: dt.date | None = Field(None, description="The day the episode's follow-up ended (none: it goes on).")
    end_reason: str | None = Field(None, json_schema_extra={"enum": [*_values(EpisodeEndReason), None]},
                                   description="Why it ended (spinetrack's own list, not a clinical standard).")
    created_at: dt.datetime | None
    imaging_findings: list[ImagingFindingPublic] = Field([])  # pydantic copies the default per instance


class EpisodeEndCreate(_Create):
    """The end of an episode's follow-up: the scheduler invites and reminds no more for it, its
    open and pending visits stop and their unsent messages are cancelled."""

    model_config = _requires("ended_on", "reason")
    _prefix = "episode"

    ended_on: Date = Field(None, description="The day follow-up ended (required): from enrolment to today.")
    reason: Annotated[Any, _enum(EpisodeEndReason)] = Field(
        None, description="Why (required): spinetrack's own short list, not a clinical standard.")


class EpisodesPublic(_Public):
    total: int
    items: list[EpisodePublic]


# ------------------------------------------------------------------------------ procedures and events


class ProcedureCreate(_Create):
    """A procedure with the measures behind the MISS claims (units in the names)."""

    model_config = _requires("procedure_code", "performed_on", "levels")
    _prefix = "procedure"

    procedure_code: Annotated[Any, _doc({"type": "string", "enum": sorted(CATALOGUE)})] = Field(
        None, description="Catalogue code (required); must match the episode's treatment and family.",
        examples=["discectomy_tubular"])
    performed_on: Date = Field(None, description="Date of surgery (required; the episode's index date).")
    levels: LEVELS = Field(None, description="Operated levels (required), among the episode's levels.")
    incision_mm: Number = Field(None, description="Total skin incision length, mm (0 to 1000).", examples=[20])
    ebl_ml: Number = Field(None, description="Estimated blood loss, mL (0 to 20000).", examples=[30])
    op_time_min: Number = Field(None, description="Operative time skin to skin, minutes (0 to 1440).")
    fluoro_s: Number = Field(None, description="Fluoroscopy time, seconds (0 to 36000).")
    fluoro_dose_mgy: Number = Field(None, description="Fluoroscopy dose, mGy (0 to 100000).")
    los_days: Number = Field(None, description="Length of stay, days (0 to 365).")
    transfusion: Boolean = Field(None, description="Blood transfusion given.")
    converted_to_open: Boolean = Field(
        None, description="A minimally invasive procedure converted to open during the operation (MIS only; "
                          "analysed as MIS: intention to treat).")
    surgeon: Text = Field(None, description="The operating surgeon as the clinic identifies its staff (a staff "
                                            "number or initials, up to 64 characters); used for surgeon-level "
                                            "benchmarking where the site takes part.", examples=["SURG-2"])


class ProcedurePublic(_Public):
    id: int
    episode_id: int
    procedure_code: str
    family: str
    approach: str = Field(description="mis or open")
    technique: str | None
    performed_on: dt.date
    levels: str
    n_levels: int
    incision_mm: float | None
    ebl_ml: float | None
    op_time_min: float | None
    fluoro_s: float | None
    fluoro_dose_mgy: float | None
    los_days: float | None
    transfusion: bool | None
    converted_to_open: bool | None = None
    surgeon: str | None = None
    created_at: dt.datetime | None


class ProceduresPublic(_Public):
    total: int
    items: list[ProcedurePublic]


class ComplicationCreate(_Create):
    model_config = _requires("category", "clavien_dindo", "occurred_on")
    _prefix = "complication"

    category: Annotated[Any, _enum(ComplicationCategory)] = Field(None, description="Required.")
    clavien_dindo: Annotated[Any, _enum(ClavienDindo)] = Field(None, description="Clavien–Dindo grade (required).")
    occurred_on: Date = Field(None, description="Date (required), on or after the procedure.")
    detail: Text = Field(None, description="Free text (up to 2000 characters); never exported.")


class ComplicationPublic(_Public):
    id: int
    episode_id: int
    procedure_id: int | None
    category: str
    clavien_dindo: str
    occurred_on: dt.date
    detail: str | None
    created_at: dt.datetime | None


class ComplicationsPublic(_Public):
    total: int
    items: list[ComplicationPublic]


class ReadmissionCreate(_Create):
    model_config = _requires("admitted_on")
    _prefix = "readmission"

    admitted_on: Date = Field(None, description="Admission date (required), after the procedure.")
    reason: Text = Field(None, description="Free text (up to 2000 characters); never exported.")


class ReadmissionPublic(_Public):
    id: int
    episode_id: int
    admitted_on: dt.date
    reason: str | None
    created_at: dt.datetime | None


class ReoperationCreate(_Create):
    model_config = _requires("performed_on", "reason")
    _prefix = "reoperation"

    performed_on: Date = Field(None, description="Date (required), after the index procedure.")
    reason: Annotated[Any, _enum(ReoperationReason)] = Field(None, description="Required.")
    levels: LEVELS = Field(None, description="Levels operated (optional).")


class ReoperationPublic(_Public):
    id: int
    episode_id: int
    performed_on: dt.date
    reason: str
    levels: str | None
    created_at: dt.datetime | None

