"""Request and response bodies of the REST API (``/api/v1``), separate from the ORM tables.

Naming follows the house style: ``<Resource>Create`` for a request body, ``<Resource>Public``
for what the API returns, ``<Resources>Public`` for a list envelope.

The ``*Create`` models are deliberately permissive in their Python types: each field accepts
any JSON value and the domain validation (:mod:`spinetrack.domain`) decides, so that a wrong
value is refused with the same field-named message everywhere (``procedure.ebl_ml: -5 is not
allowed; allowed: 0 to 20000 mL``). Their OpenAPI schema still documents the intended type,
unit and allowed values of every field. Unknown fields are refused (``additionalProperties:
false``).
"""

import datetime as dt
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from spinetrack import instruments
from spinetrack.domain import check_text_tree
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
from spinetrack.domain.pathway import TIMEPOINTS, AsaGrade, Sex, SmokingStatus, TreatmentArm, WorkStatus
from spinetrack.domain.procedure import CATALOGUE, ConservativeOption, ProcedureFamily
from spinetrack.domain.screening import QUESTIONS, Answer, CriterionStatus, RedFlag, RedFlagStatus
from spinetrack.errors import ValidationError
from spinetrack.store.access import INVITATION_DAYS

__all__ = [
    "ComplicationCreate",
    "ComplicationPublic",
    "ComplicationsPublic",
    "DraftCreate",
    "DraftPublic",
    "EpisodeCreate",
    "EpisodePublic",
    "EpisodesPublic",
    "IdentityCreate",
    "IdentityPublic",
    "InvitationCreate",
    "InvitationCreatedPublic",
    "InvitationPublic",
    "InvitationsPublic",
    "InstrumentScalePublic",
    "OutcomeAggregatesPublic",
    "OutcomeCellPublic",
    "PatientCreate",
    "ProblemPublic",
    "PatientPublic",
    "PatientSummaryPublic",
    "PatientsPublic",
    "ProcedureCreate",
    "ProcedurePublic",
    "ProceduresPublic",
    "PromResponseCreate",
    "PromResponsePublic",
    "PromResponsesPublic",
    "QuestionnairePublic",
    "ReadmissionCreate",
    "ReadmissionPublic",
    "ReoperationCreate",
    "ReoperationPublic",
    "ScreeningCreate",
    "ScreeningCriterionPublic",
    "ScreeningPublic",
    "ScreeningRedFlagPublic",
    "StatusPublic",
    "TrajectoryPointPublic",
    "TrajectoryPublic",
    "VisitPublic",
    "VisitQuestionnairePublic",
    "VisitResponseCreate",
    "VisitSubmissionPublic",
]


# ------------------------------------------------------------------------------ permissive field types


def _values(enum_cls: Any) -> list[Any]:
    return [m.value for m in enum_cls]


def _doc(schema: dict[str, Any]) -> Any:
    """``Any`` at validation time (the domain checks it), ``schema`` in the OpenAPI document."""
    return Annotated[Any, WithJsonSchema(schema)]


Integer = _doc({"type": "integer"})
Number = _doc({"type": "number"})
Text = _doc({"type": "string"})
Boolean = _doc({"type": "boolean"})
Date = _doc({"type": "string", "format": "date"})
Answers = _doc({"type": "object", "additionalProperties": {"type": ["integer", "number", "string", "null"]},
                "description": "item code → answer (the item's option value, a number or a date)"})
LEVELS = _doc({"anyOf": [{"type": "string", "examples": ["L4-L5,L5-S1"]},
                         {"type": "array", "items": {"type": "string", "enum": _values(Level)}}]})


_INSTRUMENT_CODES = [i.NAME for i in instruments.all()]
_TIMEPOINT_CODES = [tp.code for tp in TIMEPOINTS]


def _enum(enum_cls: Any) -> Any:
    return _doc({"type": "string", "enum": _values(enum_cls)})


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


def _requires(*names: str) -> ConfigDict:
    """Config of a request body: unknown fields refused; ``names`` documented as required
    (the domain validation enforces them, naming the field)."""
    return ConfigDict(extra="forbid", json_schema_extra={"required": list(names)})


class _Create(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _prefix: ClassVar[str] = ""          # the record name the domain uses in field names
    _nested: ClassVar[frozenset[str]] = frozenset()  # nested bodies that have their own data()

    def data(self) -> dict[str, Any]:
        """The fields the client sent, as the mapping the domain ``create`` methods take. Text
        that cannot be stored (a NUL character, a lone surrogate) is refused naming the field,
        by the same check the domain applies to form input (:func:`spinetrack.domain.check_text_tree`)."""
        out = self.model_dump(exclude_unset=True, exclude=set(self._nested))
        for k, v in out.items():
            check_text_tree(v, f"{self._prefix}.{k}" if self._prefix else k)
        return out


def _check_answers(data: dict[str, Any], field: str) -> dict[str, Any]:
    if "answers" in data and not isinstance(data["answers"], dict):
        raise ValidationError(field=field, value=data["answers"], allowed="an object of item code → answer")
    return data


class _Public(BaseModel):
    """A response body. The store keeps timestamps as naive UTC; they leave with their offset
    (``2026-01-31T09:30:00Z``), as the OpenAPI ``date-time`` format (RFC 3339) requires — without
    one a client reads them as its own local time."""

    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class ProblemPublic(BaseModel):
    """The body of every error response: which field was wrong and what would be accepted."""

    error: str = Field(description="Error class, e.g. ValidationError, NotFoundError, PermissionDeniedError.")
    message: str = Field(description="Human-readable message naming the field.")
    field: str | None = Field(None, description="Dotted name of the offending field, e.g. procedure.ebl_ml.")
    allowed: str | None = Field(None, description="What would have been accepted.")


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
    sex: _enum(Sex) = Field(None, description="Required.")
    bmi: Number = Field(None, description="Body-mass index, kg/m² (10 to 90).", examples=[27.4])
    smoking: _enum(SmokingStatus) = Field(None)
    diabetes: Boolean = Field(None)
    asa_grade: _doc({"type": "integer", "enum": _values(AsaGrade)}) = Field(
        None, description="ASA physical status 1-5.")
    work_status: _enum(WorkStatus) = Field(None)
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
    imaging_findings: _doc({"type": "array", "items": _FINDING_SCHEMA}) = Field(
        None, description="MRI/CT findings, each at one of the episode's levels.")
    conservative_care: _doc({"type": "array", "items": {"type": "string", "enum": _values(ConservativeOption)}}) = \
        Field(None, description="Conservative care received.")
    conservative_care_weeks: Integer = Field(None, description="Weeks of conservative care (0 to 5200).")
    treatment: _enum(TreatmentArm) = Field(None, description="Treatment arm chosen.")
    treatment_family: _enum(ProcedureFamily) = Field(None, description="Required for surgical treatment.")
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
    created_at: dt.datetime | None
    imaging_findings: list[ImagingFindingPublic] = []


class EpisodesPublic(_Public):
    total: int
    items: list[EpisodePublic]


# ------------------------------------------------------------------------------ procedures and events


class ProcedureCreate(_Create):
    """A procedure with the measures behind the MISS claims (units in the names)."""

    model_config = _requires("procedure_code", "performed_on", "levels")
    _prefix = "procedure"

    procedure_code: _doc({"type": "string", "enum": sorted(CATALOGUE)}) = Field(
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
    created_at: dt.datetime | None


class ProceduresPublic(_Public):
    total: int
    items: list[ProcedurePublic]


class ComplicationCreate(_Create):
    model_config = _requires("category", "clavien_dindo", "occurred_on")
    _prefix = "complication"

    category: _enum(ComplicationCategory) = Field(None, description="Required.")
    clavien_dindo: _enum(ClavienDindo) = Field(None, description="Clavien–Dindo grade (required).")
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
    reason: _enum(ReoperationReason) = Field(None, description="Required.")
    levels: LEVELS = Field(None, description="Levels operated (optional).")


class ReoperationPublic(_Public):
    id: int
    episode_id: int
    performed_on: dt.date
    reason: str
    levels: str | None
    created_at: dt.datetime | None


# ------------------------------------------------------------------------------ invitations


class InvitationCreate(_Create):
    """A personal questionnaire link for one visit (timepoint) of an episode."""

    model_config = _requires("timepoint", "instruments")
    _prefix = "invitation"

    timepoint: _doc({"type": "string", "enum": _TIMEPOINT_CODES}) = Field(
        None, description="Timepoint code of the visit (required).", examples=["6w"])
    instruments: _doc({"type": "array", "items": {"type": "string", "enum": _INSTRUMENT_CODES}}) = \
        Field(None, description="Questionnaires to fill in (required, at least one).", examples=[["odi", "nrs_back"]])
    valid_days: Integer = Field(None, description="Days until the link expires (1 to 90; default 14).")

    def data(self) -> dict[str, Any]:
        """``timepoint``, ``instruments`` (a list) and ``valid_days`` (default 14), shape-checked
        here; the values are checked by :meth:`Access.create_invitation`."""
        d = super().data()
        timepoint, codes = d.get("timepoint"), d.get("instruments") or []
        if not isinstance(timepoint, str):
            raise ValidationError(field="invitation.timepoint", value=timepoint, allowed=_TIMEPOINT_CODES)
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ValidationError(field="invitation.instruments", value=codes, allowed=_INSTRUMENT_CODES,
                                  reason="a list of instrument codes")
        days = d.get("valid_days", INVITATION_DAYS)
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValidationError(field="invitation.valid_days", value=days, allowed="1 to 90")
        return {"timepoint": timepoint, "instruments": codes, "valid_days": days}


class InvitationPublic(_Public):
    id: int
    episode_id: int
    timepoint: str
    instruments: list[str]
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    opened_at: dt.datetime | None
    completed_at: dt.datetime | None
    revoked: bool
    status: str = Field(description="open, opened, completed, expired or revoked")


class InvitationCreatedPublic(InvitationPublic):
    token: str = Field(description="The secret token: shown only in this response (only its hash is stored).")
    link: str = Field(description="The patient's link path, /p/{token}; give it to the patient once.")


class InvitationsPublic(_Public):
    total: int
    items: list[InvitationPublic]


# ------------------------------------------------------------------------------ PROM responses


class PromResponseCreate(_Create):
    """A completed questionnaire entered by clinic staff; validated and scored on write."""

    model_config = _requires("instrument", "timepoint", "collected_on", "answers")
    _prefix = "response"

    instrument: _doc({"type": "string", "enum": _INSTRUMENT_CODES}) = Field(
        None, description="Instrument code (required).", examples=["odi"])
    timepoint: _doc({"type": "string", "enum": _TIMEPOINT_CODES}) = Field(
        None, description="Timepoint code (required); the date must fall in its window.")
    collected_on: Date = Field(None, description="Date the questionnaire was filled in (required).")
    answers: Answers = Field(None, description="Item code → answer (required).")

    def data(self) -> dict[str, Any]:
        return _check_answers(super().data(), "response.answers")


class PromResponsePublic(_Public):
    id: int
    episode_id: int
    timepoint: str
    instrument: str
    instrument_version: str
    collected_on: dt.date
    days_from_index: int | None
    answers: dict[str, Any]
    score: float | None = Field(description="The instrument's main score on its own scale; null when not valid.")
    score_detail: dict[str, Any] | None
    valid: bool
    source: str
    created_at: dt.datetime | None


class PromResponsesPublic(_Public):
    total: int
    items: list[PromResponsePublic]


# ------------------------------------------------------------------------------ red-flag screening

ScreeningAnswer = _doc({"anyOf": [{"type": "string", "enum": _values(Answer)}, {"type": "null"}],
                        "description": "yes, no or unknown (null or left out: unknown; true and false are "
                                       "refused)"})


def _question(name: str) -> Any:
    return Field(None, description=QUESTIONS[name])


class ScreeningCreate(_Create):
    """One red-flag screening of an episode by a clinician: eight red-flag questions and three
    candidacy facts, each yes / no / unknown. Validated by
    :meth:`spinetrack.domain.screening.ScreeningAnswers.create`.

    An unknown field reaches the domain too (``extra="allow"``), so that the problem names it
    as ``screening.<field>`` with the list of allowed fields; the OpenAPI document still says
    ``additionalProperties: false``."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})
    _prefix = "screening"

    assessed_on: Date = Field(None, description="Date of the assessment (default today; not later than today).")
    saddle_anaesthesia: ScreeningAnswer = _question("saddle_anaesthesia")
    bladder_bowel_dysfunction: ScreeningAnswer = _question("bladder_bowel_dysfunction")
    bilateral_leg_symptoms: ScreeningAnswer = _question("bilateral_leg_symptoms")
    suspected_infection: ScreeningAnswer = _question("suspected_infection")
    suspected_malignancy: ScreeningAnswer = _question("suspected_malignancy")
    suspected_fracture: ScreeningAnswer = _question("suspected_fracture")
    progressive_motor_deficit: ScreeningAnswer = _question("progressive_motor_deficit")
    severe_motor_deficit: ScreeningAnswer = _question("severe_motor_deficit")
    imaging_concordant: ScreeningAnswer = _question("imaging_concordant")
    persistent_after_conservative: ScreeningAnswer = _question("persistent_after_conservative")
    symptoms_limit_function: ScreeningAnswer = _question("symptoms_limit_function")


class ScreeningRedFlagPublic(_Public):
    flag: str = Field(json_schema_extra={"enum": _values(RedFlag)})
    label: str
    status: str = Field(json_schema_extra={"enum": _values(RedFlagStatus)},
                        description="present (any of its questions answered yes), absent (all no) or unknown")
    raised_by: list[str] = Field(description="The questions answered yes that raised the flag.")
    questions: list[str] = Field(description="The questions that raise this flag.")
    citation: str


class ScreeningCriterionPublic(_Public):
    key: str
    question: str = Field(description="A question for the clinician (spinetrack's words, not a guideline's rule).")
    status: str = Field(json_schema_extra={"enum": _values(CriterionStatus)})
    detail: str = Field(description="What the answers and the episode record show (e.g. the recorded weeks of "
                                    "conservative care).")
    citation: str


class ScreeningPublic(_Public):
    """The current red-flag screening of an episode. With any red flag present ``urgent`` is
    true, ``message`` says so and ``criteria`` is empty: no treatment comparison is shown."""

    episode_id: int
    recorded: bool = Field(description="False when no screening is recorded for the episode yet.")
    urgent: bool
    assessed_on: dt.date | None
    answers: dict[str, str] | None = Field(description="question → yes / no / unknown, plus assessed_on.")
    red_flags: list[ScreeningRedFlagPublic]
    unanswered: list[str] = Field(description="Red-flag questions still unknown.")
    message: str | None = Field(description="The urgent-referral message when a red flag is present.")
    criteria: list[ScreeningCriterionPublic]
    diagnosis_group: str = Field(json_schema_extra={"enum": _values(DiagnosisGroup)})


# ------------------------------------------------------------------------------ status and aggregates


class CompletenessPublic(_Public):
    timepoint: str
    eligible: int
    completed: int
    completeness: float | None


class StatusPublic(_Public):
    """Counts of the operational store and follow-up completeness (no patient-level data)."""

    database: str
    schema_revision: str | None
    as_of: dt.date
    sites: int
    patients: int
    episodes: int
    episodes_by_treatment: dict[str, int]
    episodes_by_diagnosis_group: dict[str, int]
    procedures: int
    procedures_by_approach: dict[str, int]
    procedures_by_family: dict[str, int]
    complications: int
    readmissions: int
    reoperations: int
    prom_responses: int
    prom_responses_by_instrument: dict[str, int]
    followup_completeness: list[CompletenessPublic]


class OutcomeCellPublic(_Public):
    treatment: str
    timepoint: str
    instrument: str
    suppressed: bool = Field(description="True when fewer than min_cell_size responses: no count or statistics.")
    n: int | None
    mean: float | None
    median: float | None
    q1: float | None = Field(description="25th percentile (linear interpolation, R quantile type 7).")
    q3: float | None = Field(description="75th percentile.")


class OutcomeAggregatesPublic(_Public):
    scope: str = Field(description="'site' (a clinician's own site) or 'all_sites' (researchers).")
    site_id: int | None
    min_cell_size: int
    cells: list[OutcomeCellPublic]


# ------------------------------------------------------------------------------ patient visit (phone)


class VisitQuestionnairePublic(_Public):
    instrument: str
    title: str
    status: str = Field(description="due or completed")


class VisitPublic(_Public):
    timepoint: str
    timepoint_label: str
    expires_at: dt.datetime
    questionnaires: list[VisitQuestionnairePublic]
    due: list[str]
    completed: list[str]
    done: bool
    csrf_token: str | None = Field(description="Send as the X-CSRF-Token header on PUT and POST.")


class QuestionnairePublic(_Public):
    instrument: str
    status: str
    definition: dict[str, Any] = Field(description="Items, options and scale (neutral labels; licensed wording "
                                                   "is loaded by the site).")
    draft: dict[str, Any] = Field(description="Answers saved so far (pause and resume).")


class DraftCreate(_Create):
    model_config = _requires("answers")

    answers: Answers = Field(None, description="The answers given so far (any subset of the items).")

    def data(self) -> dict[str, Any]:
        return _check_answers({"answers": {}, **super().data()}, "answers")


class DraftPublic(_Public):
    instrument: str
    answers: dict[str, Any]


class VisitResponseCreate(_Create):
    model_config = _requires("instrument", "answers")

    instrument: Text = Field(None, description="A questionnaire of this visit (required).", examples=["odi"])
    answers: Answers = Field(None, description="Item code → answer (required).")

    def data(self) -> dict[str, Any]:
        return _check_answers(super().data(), "answers")


class VisitSubmissionPublic(_Public):
    response_id: int
    instrument: str
    timepoint: str
    due: list[str] = Field(description="Questionnaires of this visit still to fill in.")
    done: bool = Field(description="True when every questionnaire of the visit is in.")


class InstrumentScalePublic(_Public):
    instrument: str
    title: str
    low: float
    high: float
    unit: str
    higher_is_better: bool
    mcid: float | None = Field(None, description="Minimal clinically important change, in points, where known.")
    mcid_source: str | None = None

    @classmethod
    def for_instrument(cls, code: str) -> "InstrumentScalePublic":
        from spinetrack.instruments import thresholds

        d = instruments.get(code).definition
        try:
            t = thresholds.get(code)
            mcid, source = t.absolute, t.source
        except ValidationError:
            mcid, source = None, None
        return cls(instrument=code, title=d.title, low=d.score_low, high=d.score_high, unit=d.score_unit,
                   higher_is_better=d.higher_is_better, mcid=mcid, mcid_source=source)


class TrajectoryPointPublic(_Public):
    episode_id: int
    instrument: str
    timepoint: str
    timepoint_label: str
    collected_on: dt.date
    days_from_index: int | None
    score: float | None
    valid: bool


class TrajectoryPublic(_Public):
    points: list[TrajectoryPointPublic]
    scales: list[InstrumentScalePublic] = Field(description="Scale and MCID of each instrument in points.")
