"""The care pathway: patients, episodes of care, procedures, complications, follow-up
timepoints and PROM responses, each with the validation that every write goes through.

Each record type has a ``create(data)`` class method that takes raw input (for example parsed
JSON), validates every field and returns a frozen value object, or raises
:class:`~spinetrack.errors.ValidationError` naming the field and the allowed values.

The plausibility ranges below are data-entry limits (to catch typing errors such as a blood
loss of -5 mL or an operative time of 9000 minutes), not clinical reference values.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spinetrack import clock
from spinetrack.domain._validate import PLANNED_DAYS, check_date, check_number, check_text, check_text_tree, coerce_enum
from spinetrack.domain.complications import ClavienDindo, ComplicationCategory, ReoperationReason
from spinetrack.domain.diagnosis import (
    Diagnosis,
    ImagingFinding,
    Level,
    get_diagnosis,
    parse_levels,
)
from spinetrack.domain.procedure import (
    CATALOGUE,
    Approach,
    ConservativeOption,
    ProcedureEntry,
    ProcedureFamily,
    get_procedure,
)
from spinetrack.errors import ValidationError
from spinetrack.i18n import N_

__all__ = [
    "DEFAULT_REMINDER_OFFSETS",
    "DEFAULT_SCHEDULE",
    "TIMEPOINTS",
    "AsaGrade",
    "ComplicationRecord",
    "EpisodeEnd",
    "EpisodeEndReason",
    "EpisodeRecord",
    "PatientRecord",
    "ProcedureRecord",
    "PromResponseRecord",
    "ReadmissionRecord",
    "ReoperationRecord",
    "Sex",
    "SmokingStatus",
    "Timepoint",
    "TreatmentArm",
    "WorkStatus",
    "check_episode_end",
    "check_response_timing",
    "get_timepoint",
]


class Sex(enum.Enum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class SmokingStatus(enum.Enum):
    NEVER = "never"
    FORMER = "former"
    CURRENT = "current"


class AsaGrade(enum.IntEnum):
    """ASA physical status I-V (VI, the organ donor, does not apply)."""

    I = 1  # noqa: E741
    II = 2
    III = 3
    IV = 4
    V = 5


class WorkStatus(enum.Enum):
    EMPLOYED = "employed"
    SICK_LEAVE = "sick_leave"
    UNEMPLOYED = "unemployed"
    RETIRED = "retired"
    STUDENT = "student"
    HOMEMAKER = "homemaker"
    DISABILITY_PENSION = "disability_pension"


class TreatmentArm(enum.Enum):
    """The treatment chosen for an episode."""

    CONSERVATIVE = "conservative"
    MIS = "mis"
    OPEN = "open"

    @property
    def is_surgical(self) -> bool:
        return self is not TreatmentArm.CONSERVATIVE


class EpisodeEndReason(enum.Enum):
    """Why an episode's follow-up ended. spinetrack's own short list for stopping the follow-up
    scheduler, not a clinical or registry standard; ``other`` covers the rest (no free text)."""

    DIED = "died"
    WITHDREW = "withdrew"
    MOVED_AWAY = "moved_away"
    CARE_TRANSFERRED = "care_transferred"
    OTHER = "other"

    @property
    def label(self) -> str:
        return _END_LABELS[self]


_END_LABELS = {
    EpisodeEndReason.DIED: "the patient died",
    EpisodeEndReason.WITHDREW: "the patient withdrew from follow-up",
    EpisodeEndReason.MOVED_AWAY: "the patient moved away",
    EpisodeEndReason.CARE_TRANSFERRED: "care transferred elsewhere",
    EpisodeEndReason.OTHER: "other reason",
}


@dataclass(frozen=True, slots=True)
class EpisodeEnd:
    """The end of an episode's follow-up: the date and why (:func:`check_episode_end`)."""

    ended_on: dt.date
    reason: EpisodeEndReason


def check_episode_end(ended_on: Any, reason: Any, *, enrolled_on: dt.date) -> EpisodeEnd:
    """Validate the end of an episode's follow-up: ``episode.ended_on`` a date from the
    enrolment date to today; ``episode.end_reason`` one of :class:`EpisodeEndReason`."""
    why = coerce_enum(EpisodeEndReason, reason, "episode.end_reason")
    if ended_on is None or ended_on == "":
        raise ValidationError(field="episode.ended_on", value=None, allowed="a date, from the enrolment date to today")
    day = _date(ended_on, "episode.ended_on")
    assert day is not None
    if day < enrolled_on:
        raise ValidationError(field="episode.ended_on", value=day.isoformat(),
                              allowed=f"on or after the enrolment date {enrolled_on.isoformat()}, up to today")
    return EpisodeEnd(day, why)


@dataclass(frozen=True, slots=True)
class Timepoint:
    """A follow-up timepoint: target day from the index date and the accepted window.

    The index date is the procedure date for surgery and the start of conservative care
    otherwise. The windows are spinetrack's choice (the ICHOM Low Back Pain Standard Set, Clement
    et al., Acta Orthop 2015;86(5):523-533, gives the timepoints, not the windows); they do not
    overlap and leave no gap up to 30 months: baseline up to 180 days before the index date;
    2 weeks to day 28 (half-way to 6 weeks); 6 weeks to day 63 (9 weeks); 3 months from day 64 to
    day 136 (half-way to 6 months); 6 months from day 137 to day 273 (9 months); 12 months from
    day 274 to day 547 (half-way to 24 months); 24 months to day 912 (30 months); 5 years from
    day 1461 (4 years) to day 2191 (6 years). A response between 30 months and 4 years fits no
    timepoint and is refused rather than counted as 24 months or 5 years. A site chooses which
    timepoints it uses and may narrow their windows (``site_schedules``).
    """

    code: str
    label: str
    target_days: int
    window_from_days: int
    window_to_days: int

    @property
    def is_baseline(self) -> bool:
        return self.target_days == 0 and self.window_to_days == 0


TIMEPOINTS: tuple[Timepoint, ...] = (
    Timepoint("baseline", N_("Before treatment"), 0, -180, 0),
    Timepoint("2w", N_("2 weeks"), 14, 1, 28),
    Timepoint("6w", N_("6 weeks"), 42, 29, 63),
    Timepoint("3m", N_("3 months"), 91, 64, 136),
    Timepoint("6m", N_("6 months"), 182, 137, 273),
    Timepoint("12m", N_("12 months"), 365, 274, 547),
    Timepoint("24m", N_("24 months"), 730, 548, 912),
    Timepoint("5y", N_("5 years"), 1826, 1461, 2191),
)

# The schedule a site follows until an admin chooses its own: the ICHOM Low Back Pain Standard
# Set's timepoints (Clement et al., Acta Orthop 2015;86(5):523-533: baseline, 6, 12 and 24 months,
# with 3 months optional) — 5 years (optional in ICHOM) and 2 and 6 weeks (site options) are off.
DEFAULT_SCHEDULE: tuple[str, ...] = ("baseline", "3m", "6m", "12m", "24m")
# Days after a window opens on which a message goes out: when it opens, then +7 and +14 days.
DEFAULT_REMINDER_OFFSETS: tuple[int, ...] = (0, 7, 14)


def get_timepoint(code: Any, schedule: Sequence[Timepoint] = TIMEPOINTS, field: str = "timepoint") -> Timepoint:
    """Return the timepoint with this code or raise naming the allowed codes."""
    for tp in schedule:
        if tp.code == code:
            return tp
    raise ValidationError(field=field, value=code, allowed=[tp.code for tp in schedule])


def check_response_timing(
    timepoint: Timepoint, collected_on: dt.date, index_date: dt.date | None, field: str = "collected_on",
    timepoint_field: str = "timepoint",
) -> int | None:
    """Check that a response collected on ``collected_on`` fits ``timepoint``.

    Returns the days from the index date (``None`` when the index date is not known yet).
    A follow-up needs an index date and must fall inside its window, never before the
    index date; a baseline must not be after it.
    """
    if index_date is None:
        if not timepoint.is_baseline:
            raise ValidationError(
                field=timepoint_field, value=timepoint.code, allowed="baseline",
                reason="the episode has no procedure or treatment start date yet",
            )
        return None
    days = (collected_on - index_date).days
    if not timepoint.window_from_days <= days <= timepoint.window_to_days:
        try:
            lo = index_date + dt.timedelta(days=timepoint.window_from_days)
            hi = index_date + dt.timedelta(days=timepoint.window_to_days)
        except OverflowError:  # an index date near year 1 or 9999, stored before dates were bounded
            raise ValidationError(field=field, value=collected_on.isoformat(), allowed="none",
                                  reason=f"the episode's index date {index_date.isoformat()} is out of range; "
                                         "correct it first") from None
        reason = (
            "a follow-up cannot be before the procedure / treatment start date"
            if days < 0 and not timepoint.is_baseline
            else f"outside the {timepoint.code} window ({timepoint.window_from_days} to "
            f"{timepoint.window_to_days} days from the index date {index_date.isoformat()})"
        )
        raise ValidationError(field=field, value=collected_on.isoformat(),
                              allowed=f"{lo.isoformat()} to {hi.isoformat()}", reason=reason)
    return days


# --------------------------------------------------------------------------------------------
# helpers



def _reject_unknown(data: Mapping[str, Any], allowed_fields: Sequence[str], prefix: str) -> None:
    """Refuse unknown fields, and text that cannot be stored (a NUL character or a lone
    surrogate) in any field: the first check of every record, from a form or the API alike."""
    if not isinstance(data, Mapping):
        raise ValidationError(field=prefix, value=type(data).__name__,
                              allowed=f"an object with {', '.join(allowed_fields)}")
    check_text_tree(data, prefix)
    unknown = [k for k in data if k not in allowed_fields]
    if unknown:
        raise ValidationError(
            field=f"{prefix}.{unknown[0]}", value=data[unknown[0]], allowed=list(allowed_fields), reason="unknown field"
        )


def _date(value: Any, field: str, *, optional: bool = False, planned: bool = False) -> dt.date | None:
    """A date from 1900-01-01 up to today, or with ``planned`` up to two years ahead (an index
    date may be a planned operation date). Data-entry limits, not clinical ones: they catch
    typing errors such as year 0001 or 9999 before any date arithmetic."""
    today = clock.today()
    if planned:
        return check_date(value, field, latest=today + dt.timedelta(days=PLANNED_DAYS), optional=optional,
                          latest_text="today + 2 years, for a planned date")
    return check_date(value, field, latest=today, optional=optional, latest_text="today: not in the future")


def _bool(value: Any, field: str, *, optional: bool = False) -> bool | None:
    if value is None and optional:
        return None
    if isinstance(value, bool):
        return value
    raise ValidationError(field=field, value=value, allowed="true, false")


# --------------------------------------------------------------------------------------------
# records

_PATIENT_FIELDS = (
    "pseudo_id", "birth_year", "sex", "bmi", "smoking", "diabetes", "asa_grade", "work_status",
    "symptom_duration_weeks", "prior_spine_surgery",
)


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A patient as spinetrack stores them: pseudonymous, no name or contact details."""

    pseudo_id: str
    birth_year: int
    sex: Sex
    bmi: float | None
    smoking: SmokingStatus | None
    diabetes: bool | None
    asa_grade: AsaGrade | None
    work_status: WorkStatus | None
    symptom_duration_weeks: int | None
    prior_spine_surgery: bool | None

    @classmethod
    def create(cls, data: Mapping[str, Any], *, today: dt.date | None = None) -> PatientRecord:
        p = "patient"
        _reject_unknown(data, _PATIENT_FIELDS, p)
        year = (today or clock.today()).year
        pseudo_id = data.get("pseudo_id")
        if (not isinstance(pseudo_id, str) or not 3 <= len(pseudo_id) <= 64
                or not pseudo_id.replace("-", "").replace("_", "").isalnum()):
            raise ValidationError(field=f"{p}.pseudo_id", value=pseudo_id,
                                  allowed="3 to 64 letters, digits, '-' or '_'")
        asa = data.get("asa_grade")
        if asa is not None:
            check_number(asa, f"{p}.asa_grade", low=1, high=5, integer=True)
            asa = AsaGrade(int(asa))
        return cls(
            pseudo_id=pseudo_id,
            birth_year=int(check_number(data.get("birth_year"), f"{p}.birth_year", low=year - 120, high=year,
                                        integer=True)),
            sex=coerce_enum(Sex, data.get("sex"), f"{p}.sex"),
            bmi=check_number(data.get("bmi"), f"{p}.bmi", low=10, high=90, optional=True, unit="kg/m2"),
            smoking=(None if data.get("smoking") is None
                     else coerce_enum(SmokingStatus, data["smoking"], f"{p}.smoking")),
            diabetes=_bool(data.get("diabetes"), f"{p}.diabetes", optional=True),
            asa_grade=asa,
            work_status=(None if data.get("work_status") is None
                         else coerce_enum(WorkStatus, data["work_status"], f"{p}.work_status")),
            symptom_duration_weeks=check_number(
                data.get("symptom_duration_weeks"), f"{p}.symptom_duration_weeks", low=0, high=5200, integer=True,
                optional=True, unit="weeks",
            ),
            prior_spine_surgery=_bool(data.get("prior_spine_surgery"), f"{p}.prior_spine_surgery", optional=True),
        )


_EPISODE_FIELDS = (
    "diagnosis_code", "levels", "imaging_findings", "conservative_care", "conservative_care_weeks",
    "treatment", "treatment_family", "index_date", "enrolled_on",
)


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """One episode of care: a diagnosis at one or more levels and the treatment chosen."""

    diagnosis: Diagnosis
    levels: tuple[Level, ...]
    enrolled_on: dt.date
    imaging_findings: tuple[ImagingFinding, ...] = ()
    conservative_care: tuple[ConservativeOption, ...] = ()
    conservative_care_weeks: int | None = None
    treatment: TreatmentArm | None = None
    treatment_family: ProcedureFamily | None = None
    index_date: dt.date | None = None

    @classmethod
    def create(cls, data: Mapping[str, Any]) -> EpisodeRecord:
        p = "episode"
        _reject_unknown(data, _EPISODE_FIELDS, p)
        diagnosis = get_diagnosis(data.get("diagnosis_code"), f"{p}.diagnosis_code")
        levels = parse_levels(data.get("levels"), f"{p}.levels")
        findings_raw = data.get("imaging_findings") or []
        if not isinstance(findings_raw, (list, tuple)):
            raise ValidationError(field=f"{p}.imaging_findings", value=findings_raw, allowed="a list of findings")
        findings = tuple(ImagingFinding.create(f, f"{p}.imaging_findings[{i}]") for i, f in enumerate(findings_raw))
        care_raw = data.get("conservative_care") or []
        if isinstance(care_raw, str):
            care_raw = [c.strip() for c in care_raw.split(",") if c.strip()]
        if not isinstance(care_raw, (list, tuple)):
            raise ValidationError(field=f"{p}.conservative_care", value=care_raw,
                                  allowed=[o.value for o in ConservativeOption], reason="expected a list of options")
        care = tuple(coerce_enum(ConservativeOption, c, f"{p}.conservative_care") for c in care_raw)
        if len(set(care)) != len(care):
            raise ValidationError(field=f"{p}.conservative_care", value=care_raw,
                                  allowed=[o.value for o in ConservativeOption], reason="an option is repeated")
        weeks = check_number(data.get("conservative_care_weeks"), f"{p}.conservative_care_weeks", low=0, high=5200,
                             integer=True, optional=True, unit="weeks")
        treatment = None if data.get("treatment") is None else coerce_enum(
            TreatmentArm, data["treatment"], f"{p}.treatment")
        family = None if data.get("treatment_family") is None else coerce_enum(
            ProcedureFamily, data["treatment_family"], f"{p}.treatment_family")
        if treatment is not None and treatment.is_surgical and family is None:
            raise ValidationError(field=f"{p}.treatment_family", value=None, allowed=[f.value for f in ProcedureFamily],
                                  reason="required for surgical treatment")
        if treatment is TreatmentArm.CONSERVATIVE and family is not None:
            raise ValidationError(field=f"{p}.treatment_family", value=family.value, allowed="empty",
                                  reason="conservative care has no procedure family")
        enrolled_on = _date(data.get("enrolled_on"), f"{p}.enrolled_on")
        index_date = _date(data.get("index_date"), f"{p}.index_date", optional=True, planned=True)
        if index_date is not None and treatment is None:
            raise ValidationError(field=f"{p}.treatment", value=None, allowed=[t.value for t in TreatmentArm],
                                  reason="an index date needs a treatment")
        assert enrolled_on is not None
        if index_date is not None and index_date < enrolled_on:
            raise ValidationError(field=f"{p}.index_date", value=index_date.isoformat(),
                                  allowed=f"on or after the enrolment date {enrolled_on.isoformat()}")
        for f in findings:
            if f.level not in levels:
                raise ValidationError(field=f"{p}.imaging_findings.level", value=f.level.value,
                                      allowed=[lvl.value for lvl in levels],
                                      reason="a finding must be at one of the episode's levels")
        return cls(diagnosis, levels, enrolled_on, findings, care, weeks, treatment, family, index_date)


_PROCEDURE_FIELDS = (
    "procedure_code", "performed_on", "levels", "incision_mm", "ebl_ml", "op_time_min", "fluoro_s",
    "fluoro_dose_mgy", "los_days", "transfusion", "converted_to_open", "surgeon",
)


@dataclass(frozen=True, slots=True)
class ProcedureRecord:
    """A surgical procedure with the measures behind the MISS claims."""

    entry: ProcedureEntry
    performed_on: dt.date
    levels: tuple[Level, ...]
    incision_mm: float | None = None
    ebl_ml: float | None = None
    op_time_min: float | None = None
    fluoro_s: float | None = None
    fluoro_dose_mgy: float | None = None
    los_days: float | None = None
    transfusion: bool | None = None
    # an MIS procedure converted to open during the operation; analysed as MIS (intention to treat)
    converted_to_open: bool | None = None
    # the operating surgeon as the clinic identifies its staff (a staff number or initials); used
    # only for surgeon-level benchmarking, where the site opts in
    surgeon: str | None = None

    @classmethod
    def create(cls, data: Mapping[str, Any]) -> ProcedureRecord:
        p = "procedure"
        _reject_unknown(data, _PROCEDURE_FIELDS, p)
        entry = get_procedure(data.get("procedure_code"), f"{p}.procedure_code")
        performed_on = _date(data.get("performed_on"), f"{p}.performed_on")
        assert performed_on is not None

        def num(name: str, high: float, unit: str) -> Any:
            return check_number(data.get(name), f"{p}.{name}", low=0, high=high, optional=True, unit=unit)

        return cls(
            entry=entry,
            performed_on=performed_on,
            levels=parse_levels(data.get("levels"), f"{p}.levels"),
            incision_mm=num("incision_mm", 1000, "mm"),
            ebl_ml=num("ebl_ml", 20000, "mL"),
            op_time_min=num("op_time_min", 1440, "min"),
            fluoro_s=num("fluoro_s", 36000, "s"),
            fluoro_dose_mgy=num("fluoro_dose_mgy", 100000, "mGy"),
            los_days=num("los_days", 365, "days"),
            transfusion=_bool(data.get("transfusion"), f"{p}.transfusion", optional=True),
            converted_to_open=_conversion(entry, data.get("converted_to_open"), f"{p}.converted_to_open"),
            surgeon=check_text(data.get("surgeon"), f"{p}.surgeon", max_length=64) or None,
        )

    def check_against_episode(self, episode: EpisodeRecord) -> None:
        """A procedure must match the episode's chosen treatment and family and its levels."""
        p = "procedure"
        if episode.treatment is None or not episode.treatment.is_surgical:
            raise ValidationError(field=f"{p}.procedure_code", value=self.entry.code, allowed="none",
                                  reason="the episode's treatment is not surgical")
        want = Approach.MIS if episode.treatment is TreatmentArm.MIS else Approach.OPEN
        if self.entry.approach is not want or self.entry.family is not episode.treatment_family:
            allowed = sorted(c for c, e in CATALOGUE.items()
                             if e.approach is want and e.family is episode.treatment_family)
            family = episode.treatment_family.value if episode.treatment_family else ""
            raise ValidationError(field=f"{p}.procedure_code", value=self.entry.code, allowed=allowed,
                                  reason=f"the episode's treatment is {episode.treatment.value} {family}".strip())
        if self.performed_on < episode.enrolled_on:
            raise ValidationError(field=f"{p}.performed_on", value=self.performed_on.isoformat(),
                                  allowed=f"on or after the enrolment date {episode.enrolled_on.isoformat()}")
        extra = [lvl.value for lvl in self.levels if lvl not in episode.levels]
        if extra:
            raise ValidationError(field=f"{p}.levels", value=extra[0], allowed=[lvl.value for lvl in episode.levels],
                                  reason="operated levels must be among the episode's levels")


def _conversion(entry: ProcedureEntry, value: Any, name: str) -> bool | None:
    """Conversion to open is recorded for a minimally invasive procedure only."""
    converted = _bool(value, name, optional=True)
    if converted and entry.approach is not Approach.MIS:
        raise ValidationError(field=name, value=value, allowed="no (only a minimally invasive procedure "
                              "can be converted to open)")
    return converted


_COMPLICATION_FIELDS = ("category", "clavien_dindo", "occurred_on", "detail")


@dataclass(frozen=True, slots=True)
class ComplicationRecord:
    category: ComplicationCategory
    clavien_dindo: ClavienDindo
    occurred_on: dt.date
    detail: str | None = None

    @classmethod
    def create(cls, data: Mapping[str, Any], *, performed_on: dt.date | None = None) -> ComplicationRecord:
        p = "complication"
        _reject_unknown(data, _COMPLICATION_FIELDS, p)
        occurred_on = _date(data.get("occurred_on"), f"{p}.occurred_on")
        assert occurred_on is not None
        if performed_on is not None and occurred_on < performed_on:
            raise ValidationError(field=f"{p}.occurred_on", value=occurred_on.isoformat(),
                                  allowed=f"on or after the procedure date {performed_on.isoformat()}")
        detail = check_text(data.get("detail"), f"{p}.detail", max_length=2000)
        return cls(
            category=coerce_enum(ComplicationCategory, data.get("category"), f"{p}.category"),
            clavien_dindo=coerce_enum(ClavienDindo, data.get("clavien_dindo"), f"{p}.clavien_dindo"),
            occurred_on=occurred_on,
            detail=detail,
        )


@dataclass(frozen=True, slots=True)
class ReadmissionRecord:
    admitted_on: dt.date
    reason: str | None = None

    @classmethod
    def create(cls, data: Mapping[str, Any], *, performed_on: dt.date | None = None) -> ReadmissionRecord:
        p = "readmission"
        _reject_unknown(data, ("admitted_on", "reason"), p)
        admitted_on = _date(data.get("admitted_on"), f"{p}.admitted_on")
        assert admitted_on is not None
        if performed_on is not None and admitted_on < performed_on:
            raise ValidationError(field=f"{p}.admitted_on", value=admitted_on.isoformat(),
                                  allowed=f"after the procedure date {performed_on.isoformat()}")
        reason = check_text(data.get("reason"), f"{p}.reason", max_length=2000)
        return cls(admitted_on, reason)


@dataclass(frozen=True, slots=True)
class ReoperationRecord:
    performed_on: dt.date
    reason: ReoperationReason
    levels: tuple[Level, ...] = field(default=())

    @classmethod
    def create(cls, data: Mapping[str, Any], *, index_date: dt.date | None = None) -> ReoperationRecord:
        p = "reoperation"
        _reject_unknown(data, ("performed_on", "reason", "levels"), p)
        performed_on = _date(data.get("performed_on"), f"{p}.performed_on")
        assert performed_on is not None
        if index_date is not None and performed_on <= index_date:
            raise ValidationError(field=f"{p}.performed_on", value=performed_on.isoformat(),
                                  allowed=f"after the index procedure date {index_date.isoformat()}")
        levels = parse_levels(data["levels"], f"{p}.levels") if data.get("levels") else ()
        return cls(performed_on, coerce_enum(ReoperationReason, data.get("reason"), f"{p}.reason"), levels)


@dataclass(frozen=True, slots=True)
class PromResponseRecord:
    """A PROM response: answers as given, plus the timing it was checked against."""

    instrument: str
    timepoint: Timepoint
    collected_on: dt.date
    answers: Mapping[str, Any]
    days_from_index: int | None

    @classmethod
    def create(
        cls,
        data: Mapping[str, Any],
        *,
        index_date: dt.date | None,
        schedule: Sequence[Timepoint] = TIMEPOINTS,
    ) -> PromResponseRecord:
        p = "response"
        _reject_unknown(data, ("instrument", "timepoint", "collected_on", "answers"), p)
        tp = get_timepoint(data.get("timepoint"), schedule, f"{p}.timepoint")
        collected_on = _date(data.get("collected_on"), f"{p}.collected_on")
        assert collected_on is not None
        answers = data.get("answers")
        if not isinstance(answers, Mapping):
            raise ValidationError(field=f"{p}.answers", value=answers, allowed="an object of item code to answer")
        instrument = data.get("instrument")
        if not isinstance(instrument, str):
            raise ValidationError(field=f"{p}.instrument", value=instrument, allowed="an instrument code")
        days = check_response_timing(tp, collected_on, index_date, f"{p}.collected_on", f"{p}.timepoint")
        return cls(instrument, tp, collected_on, dict(answers), days)
