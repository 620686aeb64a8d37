"""One patient's predictors (:class:`PatientProfile`) and their encoding as the analysis
covariates.

:func:`encode_profile` gives the ``x_<name>`` columns exactly as ``analysis.design`` computes them
in SQL for the analysis table (the same centring constants, indicator coding, reference diagnosis
and missing-indicator method; see that module's docstring: the centring constants only keep the
numbers well scaled and are not clinical reference values). ``tests/predict`` checks the two
encodings against each other on a snapshot and on hand-made rows with missing values, and
:func:`encode_profile` refuses to run if ``analysis.design`` gains a covariate it does not know.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from spinetrack.domain.diagnosis import DiagnosisGroup
from spinetrack.errors import ValidationError
from spinetrack.predict.spec import COVARIATES

if TYPE_CHECKING:
    from spinetrack.domain.pathway import EpisodeRecord, PatientRecord

__all__ = ["ASSUMED_WHEN_MISSING", "BASELINE_SCORES", "PatientProfile", "baseline_date", "encode_profile"]

#: The profile fields that are the patient's own baseline questionnaire scores.
BASELINE_SCORES = ("odi_pct", "nrs_back", "nrs_leg")

# (centre, scale) of the numeric covariates: x = (value - centre) / scale, as analysis.design
_CENTRES = {"age_years": (60.0, 10.0), "bmi": (28.0, 5.0), "asa_grade": (2.0, 1.0), "odi_pct": (45.0, 10.0),
            "nrs_back": (6.0, 1.0), "nrs_leg": (6.0, 1.0)}
_SYMPTOM_WEEKS_WHEN_MISSING = 26.0

#: What the encoding assumes for a predictor that is unknown when the model has no term for
#: an unknown value (no training patient lacked it): the encoding's reference value, in words.
ASSUMED_WHEN_MISSING = {
    "age_years": f"age {_CENTRES['age_years'][0]:g}", "bmi": f"a BMI of {_CENTRES['bmi'][0]:g}",
    "smoking": "never smoked", "diabetes": "no diabetes", "asa_grade": f"ASA grade {_CENTRES['asa_grade'][0]:g}",
    "odi_pct": f"a baseline ODI of {_CENTRES['odi_pct'][0]:g}",
    "nrs_back": f"a baseline back pain of {_CENTRES['nrs_back'][0]:g}",
    "nrs_leg": f"a baseline leg pain of {_CENTRES['nrs_leg'][0]:g}",
    "symptom_duration_weeks": f"symptoms for {_SYMPTOM_WEEKS_WHEN_MISSING:g} weeks",
    "prior_spine_surgery": "no earlier spine surgery"}


def baseline_date(episode: EpisodeRecord) -> dt.date:
    """The date an episode's predictors describe: its index date (start of treatment), or its
    enrolment date while treatment has not started."""
    return episode.index_date or episode.enrolled_on

_SEXES = ("female", "male", "other", "unknown")
_SMOKING = ("never", "former", "current")


def _check(name: str, value: Any, low: float, high: float, *, integer: bool = False) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok or not low <= value <= high:
        raise ValidationError(field=f"profile.{name}", value=value,
                              allowed=f"{'an integer' if integer else 'a number'} from {low:g} to {high:g}, or empty")


@dataclass(frozen=True, slots=True)
class PatientProfile:
    """The predictors of one patient before the treatment decision. Every value but the
    diagnosis group and the number of levels may be ``None`` (unknown)."""

    diagnosis_group: str
    n_levels: int
    age_years: float | None = None
    sex: str | None = None
    bmi: float | None = None
    smoking: str | None = None
    diabetes: bool | None = None
    asa_grade: int | None = None
    odi_pct: float | None = None
    nrs_back: float | None = None
    nrs_leg: float | None = None
    symptom_duration_weeks: float | None = None
    prior_spine_surgery: bool | None = None

    def __post_init__(self) -> None:
        groups = [g.value for g in DiagnosisGroup]
        if self.diagnosis_group not in groups:
            raise ValidationError(field="profile.diagnosis_group", value=self.diagnosis_group, allowed=groups)
        if self.n_levels is None:
            raise ValidationError(field="profile.n_levels", value=None, allowed="1 to 5")
        _check("n_levels", self.n_levels, 1, 5, integer=True)
        _check("age_years", self.age_years, 0, 120)
        _check("bmi", self.bmi, 10, 90)
        _check("asa_grade", self.asa_grade, 1, 5, integer=True)
        _check("odi_pct", self.odi_pct, 0, 100)
        _check("nrs_back", self.nrs_back, 0, 10)
        _check("nrs_leg", self.nrs_leg, 0, 10)
        _check("symptom_duration_weeks", self.symptom_duration_weeks, 0, 5200)
        if self.sex is not None and self.sex not in _SEXES:
            raise ValidationError(field="profile.sex", value=self.sex, allowed=_SEXES)
        if self.smoking is not None and self.smoking not in _SMOKING:
            raise ValidationError(field="profile.smoking", value=self.smoking, allowed=_SMOKING)
        for name in ("diabetes", "prior_spine_surgery"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, bool):
                raise ValidationError(field=f"profile.{name}", value=v, allowed="true, false, or empty")

    @classmethod
    def from_records(cls, patient: PatientRecord, episode: EpisodeRecord, baseline_scores: Mapping[str, float]
                     ) -> PatientProfile:
        """The profile of a patient and episode as stored, with the baseline scores by
        instrument code (``odi``, ``nrs_back``, ``nrs_leg``; missing keys are unknown).

        Every predictor is taken at the episode's baseline, the time its baseline scores
        describe: age is the year of the episode's index date (the start of treatment; the
        enrolment date while treatment has not started) minus the birth year — the rule the
        snapshot uses for ``age_at_index`` — never today's age (an old episode's
        scores with today's age describe no patient)."""
        return cls(
            diagnosis_group=episode.diagnosis.group.value,
            n_levels=len(episode.levels),
            age_years=float(baseline_date(episode).year - patient.birth_year),
            sex=patient.sex.value,
            bmi=patient.bmi,
            smoking=None if patient.smoking is None else patient.smoking.value,
            diabetes=patient.diabetes,
            asa_grade=None if patient.asa_grade is None else int(patient.asa_grade),
            odi_pct=baseline_scores.get("odi"),
            nrs_back=baseline_scores.get("nrs_back"),
            nrs_leg=baseline_scores.get("nrs_leg"),
            symptom_duration_weeks=patient.symptom_duration_weeks,
            prior_spine_surgery=patient.prior_spine_surgery,
        )

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def missing(self) -> tuple[str, ...]:
        """The names of the unknown values."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is None)


def _centred(value: float | None, field: str) -> tuple[float, float]:
    """(value, missing indicator) as ``(COALESCE(v, centre) - centre) / scale``."""
    if value is None:
        return 0.0, 1.0
    centre, scale = _CENTRES[field]
    return (float(value) - centre) / scale, 0.0


def encode_profile(profile: PatientProfile) -> dict[str, float]:
    """The ``x_<name>`` covariates of ``analysis.design.covariate_columns`` for this patient
    (module docstring).

    Examples
    --------
    >>> x = encode_profile(PatientProfile("degenerative_spondylolisthesis", 2, age_years=70.0, bmi=None))
    >>> x["x_age10"], x["x_extra_levels"], x["x_bmi5"], x["x_bmi5_missing"], x["x_dx_degenerative_spondylolisthesis"]
    (1.0, 1.0, 0.0, 1.0, 1.0)
    """
    p = profile
    x: dict[str, float] = {}
    x["x_age10"], x["x_age10_missing"] = _centred(p.age_years, "age_years")
    x["x_male"] = 1.0 if p.sex == "male" else 0.0
    x["x_bmi5"], x["x_bmi5_missing"] = _centred(p.bmi, "bmi")
    x["x_smoker_current"] = 1.0 if p.smoking == "current" else 0.0
    x["x_smoker_current_missing"] = 1.0 if p.smoking is None else 0.0
    x["x_smoker_former"] = 1.0 if p.smoking == "former" else 0.0
    x["x_diabetes"] = 1.0 if p.diabetes is True else 0.0
    x["x_diabetes_missing"] = 1.0 if p.diabetes is None else 0.0
    x["x_asa"], x["x_asa_missing"] = _centred(None if p.asa_grade is None else float(p.asa_grade), "asa_grade")
    for g in DiagnosisGroup:
        if g is not DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY:  # the reference group
            x[f"x_dx_{g.value}"] = 1.0 if p.diagnosis_group == g.value else 0.0
    x["x_extra_levels"] = float(p.n_levels) - 1.0
    x["x_odi0"], x["x_odi0_missing"] = _centred(p.odi_pct, "odi_pct")
    x["x_back0"], x["x_back0_missing"] = _centred(p.nrs_back, "nrs_back")
    x["x_leg0"], x["x_leg0_missing"] = _centred(p.nrs_leg, "nrs_leg")
    weeks = _SYMPTOM_WEEKS_WHEN_MISSING if p.symptom_duration_weeks is None else float(p.symptom_duration_weeks)
    x["x_log_symptom_weeks"] = math.log(1.0 + weeks)
    x["x_log_symptom_weeks_missing"] = 1.0 if p.symptom_duration_weeks is None else 0.0
    x["x_prior_surgery"] = 1.0 if p.prior_spine_surgery is True else 0.0
    x["x_prior_surgery_missing"] = 1.0 if p.prior_spine_surgery is None else 0.0
    if set(x) != set(COVARIATES):
        unknown = sorted(set(COVARIATES) - set(x))
        extra = sorted(set(x) - set(COVARIATES))
        raise RuntimeError(f"analysis.design covariates changed: not encoded here {unknown}, no longer used {extra}; "
                           "update predict.profile.encode_profile")
    return {k: x[k] for k in COVARIATES}
