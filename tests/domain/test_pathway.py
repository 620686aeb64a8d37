"""The care pathway: follow-up timepoints and the validation of every record's ``create``.

Reference values: the timepoints are spinetrack's schedule: baseline, 2 weeks, 6 weeks, 3 months,
6 months, 12 months, 24 months and 5 years after the index date (the start of treatment, from which
the ICHOM Low Back Pain Standard Set, Clement RC et al., Acta Orthop 2015;86(5):523-533, counts its
follow-ups: 6, 12 and 24 months, with 3 months and 5 years optional; /work/shared/STANDARDS.md,
"Registries and timepoints"). ICHOM gives no windows; the window rule tested here is the one
``Timepoint``'s docstring documents (baseline up to 180 days before the index date; 2 weeks to
half-way to 6 weeks; 6 weeks to 9 weeks; 3 months to half-way to 6 months; 6 months to 9 months;
12 months to half-way to 24 months; 24 months to 30 months; 5 years from 4 to 6 years).
Enumerated values (ICD-10-CM codes, levels, procedure families, Clavien-Dindo grades, ...) come
from the sources named in tests/domain/test_vocabularies.py.
"""

from __future__ import annotations

import datetime as dt
import math
from itertools import pairwise
from typing import Any

import pytest

from spinetrack.domain.complications import ClavienDindo, ComplicationCategory, ReoperationReason
from spinetrack.domain.diagnosis import Level
from spinetrack.domain.pathway import (
    DEFAULT_REMINDER_OFFSETS,
    DEFAULT_SCHEDULE,
    TIMEPOINTS,
    AsaGrade,
    ComplicationRecord,
    EpisodeRecord,
    PatientRecord,
    ProcedureRecord,
    PromResponseRecord,
    ReadmissionRecord,
    ReoperationRecord,
    Sex,
    Timepoint,
    TreatmentArm,
    check_response_timing,
    get_timepoint,
)
from spinetrack.domain.procedure import ConservativeOption, ProcedureFamily
from spinetrack.errors import ValidationError

TODAY = dt.date(2025, 6, 1)
D = dt.date.fromisoformat

# spinetrack's schedule: (code, weeks or months after the index date)
REFERENCE_TIMEPOINTS = [("baseline", 0, "d"), ("2w", 2, "w"), ("6w", 6, "w"), ("3m", 3, "m"),
                        ("6m", 6, "m"), ("12m", 12, "m"), ("24m", 24, "m"), ("5y", 5, "y")]
# ICHOM's default follow-ups (6, 12, 24 months) plus its optional 3 months (Clement 2015)
DEFAULT_SCHEDULE_REFERENCE = ("baseline", "3m", "6m", "12m", "24m")
LEVELS = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
FAMILIES = ["discectomy", "decompression", "fusion"]
ARMS = ["conservative", "mis", "open"]  # conservative care, or surgery by approach mis or open
CONSERVATIVE = ["physiotherapy", "medication", "injection"]
CLAVIEN_DINDO = ["I", "II", "IIIa", "IIIb", "IVa", "IVb", "V"]


def _raises(fn: Any, data: Any, field: str, allowed: list[str] | tuple[str, ...] = (),
            **kwargs: Any) -> ValidationError:
    """Call ``fn(data)``; it must raise a ValidationError for ``field`` whose message lists ``allowed``."""
    with pytest.raises(ValidationError) as exc:
        fn(data, **kwargs)
    err = exc.value
    assert err.field == field, str(err)
    assert err.allowed, str(err)
    assert f"allowed: {err.allowed}" in str(err)
    for value in allowed:
        assert value in str(err), (value, str(err))
    return err


# ---------------------------------------------------------------------------------------------
# timepoints


def test_timepoints_are_the_standards_schedule() -> None:
    """spinetrack's schedule: baseline, 2 weeks, 6 weeks, 3, 6, 12 and 24 months, 5 years."""
    assert [tp.code for tp in TIMEPOINTS] == [code for code, _, _ in REFERENCE_TIMEPOINTS]
    for tp, (code, n, unit) in zip(TIMEPOINTS, REFERENCE_TIMEPOINTS, strict=True):
        expected = {"d": n, "w": 7 * n, "m": n * 365.25 / 12, "y": n * 365.25}[unit]
        assert abs(tp.target_days - expected) <= 1, (code, tp.target_days, expected)


def test_only_baseline_is_baseline() -> None:
    assert [tp.code for tp in TIMEPOINTS if tp.is_baseline] == ["baseline"]


@pytest.mark.parametrize("tp", TIMEPOINTS, ids=lambda tp: tp.code)
def test_each_window_contains_its_target(tp: Timepoint) -> None:
    assert tp.window_from_days <= tp.target_days <= tp.window_to_days


def test_baseline_window_is_up_to_180_days_before_index() -> None:
    """Timepoint docstring: baseline up to 180 days before the index date, never after it."""
    baseline = get_timepoint("baseline")
    assert (baseline.window_from_days, baseline.window_to_days) == (-180, 0)


def test_follow_up_windows_start_after_index_and_do_not_overlap() -> None:
    follow_ups = [tp for tp in TIMEPOINTS if not tp.is_baseline]
    assert follow_ups[0].window_from_days >= 1
    for a, b in pairwise(follow_ups):
        assert a.window_to_days < b.window_from_days, (a.code, b.code)


def test_follow_up_windows_follow_the_documented_rule() -> None:
    """Timepoint docstring (spinetrack's rule; ICHOM gives timepoints, not windows):
    2w ends half-way to 6w, 3m ends half-way to 6m, 6m ends at 9 months and 12m starts the day
    after, 12m ends half-way to 24m, 24m ends at 30 months and 5y runs from 4 to 6 years, so a
    response at 7 months is a 6-month response and one at 3 years fits no timepoint."""
    tp = {t.code: t for t in TIMEPOINTS}
    assert tp["2w"].window_to_days == math.floor((14 + 42) / 2)
    assert tp["3m"].window_to_days == math.floor((91 + 182) / 2) == 136
    assert tp["6m"].window_from_days == 137
    assert tp["6m"].window_to_days == math.floor(9 * 365.25 / 12) == 273 and tp["12m"].window_from_days == 274
    assert tp["12m"].window_to_days == math.floor((365 + 730) / 2)
    assert tp["24m"].window_to_days == 912  # 30 months (913.1 days), rounded down as documented: 912
    assert (tp["5y"].window_from_days, tp["5y"].window_to_days) == (math.floor(4 * 365.25), math.floor(6 * 365.25))
    seven_months = INDEX + dt.timedelta(days=213)
    assert [t.code for t in TIMEPOINTS if _fits(t, seven_months)] == ["6m"]
    three_years = INDEX + dt.timedelta(days=3 * 365)
    assert not [t.code for t in TIMEPOINTS if _fits(t, three_years)]
    for t in TIMEPOINTS:
        if t.code != "6m":
            with pytest.raises(ValidationError):
                check_response_timing(t, seven_months, INDEX)


def _fits(tp: Timepoint, on: dt.date) -> bool:
    try:
        check_response_timing(tp, on, INDEX)
    except ValidationError:
        return False
    return True


def test_default_schedule_is_ichoms_with_3_months() -> None:
    """The default site schedule: baseline and ICHOM's 6, 12, 24 months with its optional 3 months;
    5 years (ICHOM optional), 2 and 6 weeks are a site's choice; reminders when the window opens,
    +7 and +14 days (``pathway.DEFAULT_REMINDER_OFFSETS``' documented default)."""
    assert DEFAULT_SCHEDULE == DEFAULT_SCHEDULE_REFERENCE
    assert set(DEFAULT_SCHEDULE) <= {t.code for t in TIMEPOINTS}
    assert DEFAULT_REMINDER_OFFSETS == (0, 7, 14)


def test_get_timepoint_unknown_code_lists_allowed() -> None:
    _raises(get_timepoint, "9m", "timepoint", [code for code, _, _ in REFERENCE_TIMEPOINTS])
    custom = (Timepoint("baseline", "b", 0, -30, 0), Timepoint("6m", "6 months", 182, 120, 240))
    assert get_timepoint("6m", custom).target_days == 182
    _raises(get_timepoint, "3m", "timepoint", ["baseline", "6m"], schedule=custom)


INDEX = D("2024-03-01")


@pytest.mark.parametrize("tp", TIMEPOINTS, ids=lambda tp: tp.code)
def test_response_inside_window_returns_days_from_index(tp: Timepoint) -> None:
    for days in (tp.window_from_days, tp.target_days, tp.window_to_days):
        assert check_response_timing(tp, INDEX + dt.timedelta(days=days), INDEX) == days


@pytest.mark.parametrize("tp", TIMEPOINTS, ids=lambda tp: tp.code)
def test_response_one_day_outside_window_is_refused(tp: Timepoint) -> None:
    for days in (tp.window_from_days - 1, tp.window_to_days + 1):
        on = INDEX + dt.timedelta(days=days)
        with pytest.raises(ValidationError) as exc:
            check_response_timing(tp, on, INDEX, field="response.collected_on")
        err = exc.value
        assert err.field == "response.collected_on"
        assert err.value == on.isoformat()
        lo = INDEX + dt.timedelta(days=tp.window_from_days)
        hi = INDEX + dt.timedelta(days=tp.window_to_days)
        assert lo.isoformat() in str(err) and hi.isoformat() in str(err)


def test_follow_up_before_index_date_is_refused_with_reason() -> None:
    with pytest.raises(ValidationError) as exc:
        check_response_timing(get_timepoint("12m"), INDEX - dt.timedelta(days=1), INDEX)
    assert exc.value.reason is not None and "before" in exc.value.reason


def test_baseline_after_index_date_is_refused() -> None:
    with pytest.raises(ValidationError):
        check_response_timing(get_timepoint("baseline"), INDEX + dt.timedelta(days=1), INDEX)


def test_without_index_date_only_baseline_is_accepted() -> None:
    assert check_response_timing(get_timepoint("baseline"), INDEX, None) is None
    for tp in TIMEPOINTS:
        if tp.is_baseline:
            continue
        with pytest.raises(ValidationError) as exc:
            check_response_timing(tp, INDEX, None)
        assert exc.value.field.endswith("timepoint")
        assert "baseline" in str(exc.value)


# ---------------------------------------------------------------------------------------------
# PatientRecord

GOOD_PATIENT = {
    "pseudo_id": "SPX-0001",
    "birth_year": 1961,
    "sex": "female",
    "bmi": 27.4,
    "smoking": "former",
    "diabetes": False,
    "asa_grade": 2,
    "work_status": "employed",
    "symptom_duration_weeks": 30,
    "prior_spine_surgery": False,
}


def _patient(data: dict) -> PatientRecord:
    return PatientRecord.create(data, today=TODAY)


def test_good_patient_is_created() -> None:
    p = _patient(GOOD_PATIENT)
    assert p.pseudo_id == "SPX-0001"
    assert p.birth_year == 1961
    assert p.sex is Sex.FEMALE
    assert p.asa_grade is AsaGrade.II
    assert p.bmi == pytest.approx(27.4)
    assert p.diabetes is False


def test_minimal_patient_leaves_optional_fields_empty() -> None:
    p = _patient({"pseudo_id": "abc", "birth_year": 1950, "sex": "unknown"})
    assert (p.bmi, p.smoking, p.diabetes, p.asa_grade, p.work_status) == (None, None, None, None, None)


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"sex": "f"}, "sex", ["female", "male", "other", "unknown"]),
        ({"sex": None}, "sex", ["female", "male"]),  # missing
        ({"smoking": "sometimes"}, "smoking", ["never", "former", "current"]),
        ({"work_status": "working"}, "work_status", ["employed", "sick_leave", "retired"]),
        ({"bmi": 5}, "bmi", ["10 to 90"]),
        ({"bmi": 95.5}, "bmi", ["10 to 90"]),
        ({"bmi": "27"}, "bmi", ["10 to 90"]),  # wrong type
        ({"bmi": float("nan")}, "bmi", ["10 to 90"]),
        ({"birth_year": None}, "birth_year", [f"{TODAY.year - 120} to {TODAY.year}"]),  # missing
        ({"birth_year": TODAY.year + 1}, "birth_year", [f"{TODAY.year - 120} to {TODAY.year}"]),
        ({"birth_year": 1890}, "birth_year", [f"{TODAY.year - 120} to {TODAY.year}"]),
        ({"birth_year": 1961.5}, "birth_year", ["whole numbers"]),
        ({"birth_year": "1961"}, "birth_year", [f"{TODAY.year - 120} to {TODAY.year}"]),
        ({"asa_grade": 6}, "asa_grade", ["1 to 5"]),
        ({"asa_grade": 0}, "asa_grade", ["1 to 5"]),
        ({"asa_grade": "III"}, "asa_grade", ["1 to 5"]),
        ({"diabetes": "yes"}, "diabetes", ["true", "false"]),
        ({"prior_spine_surgery": 1}, "prior_spine_surgery", ["true", "false"]),
        ({"symptom_duration_weeks": -1}, "symptom_duration_weeks", ["0 to 5200"]),
        ({"pseudo_id": "ab"}, "pseudo_id", ["3 to 64"]),
        ({"pseudo_id": "has space"}, "pseudo_id", ["3 to 64"]),
        ({"pseudo_id": None}, "pseudo_id", ["3 to 64"]),
        ({"pseudo_id": 12345}, "pseudo_id", ["3 to 64"]),
        ({"name": "Jane Doe"}, "name", ["pseudo_id", "birth_year", "sex"]),  # no identifying fields
    ],
)
def test_bad_patient_field(change: dict, field: str, allowed: list[str]) -> None:
    _raises(_patient, {**GOOD_PATIENT, **change}, f"patient.{field}", allowed)


# ---------------------------------------------------------------------------------------------
# EpisodeRecord

GOOD_EPISODE = {
    "diagnosis_code": "M51.16",
    "levels": "L4-L5",
    "imaging_findings": [{"level": "L4-L5", "kind": "disc_herniation", "morphology": "extrusion",
                          "zone": "subarticular"}],
    "conservative_care": ["physiotherapy", "medication"],
    "conservative_care_weeks": 8,
    "treatment": "mis",
    "treatment_family": "discectomy",
    "enrolled_on": "2024-01-10",
    "index_date": "2024-02-01",
}


def test_good_episode_is_created() -> None:
    e = EpisodeRecord.create(GOOD_EPISODE)
    assert e.diagnosis.code == "M51.16"
    assert e.levels == (Level.L4_L5,)
    assert len(e.imaging_findings) == 1
    assert e.conservative_care == (ConservativeOption.PHYSIOTHERAPY, ConservativeOption.MEDICATION)
    assert e.treatment is TreatmentArm.MIS
    assert e.treatment_family is ProcedureFamily.DISCECTOMY
    assert (e.enrolled_on, e.index_date) == (D("2024-01-10"), D("2024-02-01"))


def test_conservative_episode_without_index_date_is_created() -> None:
    e = EpisodeRecord.create({
        "diagnosis_code": "m54.50", "levels": ["L5-S1", "L4-L5"], "conservative_care": "physiotherapy, injection",
        "treatment": "conservative", "enrolled_on": "2024-01-10",
    })
    assert e.treatment is TreatmentArm.CONSERVATIVE
    assert not e.treatment.is_surgical
    assert e.conservative_care == (ConservativeOption.PHYSIOTHERAPY, ConservativeOption.INJECTION)
    assert [lvl.value for lvl in e.levels] == ["L4-L5", "L5-S1"]
    assert e.index_date is None


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"diagnosis_code": "M54.5"}, "diagnosis_code", ["M51.16", "M48.062", "M54.50"]),
        ({"diagnosis_code": None}, "diagnosis_code", ["M51.16"]),
        ({"levels": "L6-S1"}, "levels", LEVELS),
        ({"levels": None}, "levels", LEVELS),
        ({"levels": 4}, "levels", LEVELS),
        ({"treatment": "surgery"}, "treatment", ARMS),
        ({"treatment_family": "laminectomy"}, "treatment_family", FAMILIES),
        ({"treatment_family": None}, "treatment_family", FAMILIES),  # surgical needs a family
        ({"treatment": "conservative", "index_date": None}, "treatment_family", ["empty"]),
        ({"treatment": None, "treatment_family": None}, "treatment", ARMS),  # index date needs a treatment
        ({"conservative_care": ["massage"]}, "conservative_care", CONSERVATIVE),
        ({"conservative_care": ["injection", "injection"]}, "conservative_care", CONSERVATIVE),
        ({"conservative_care": 5}, "conservative_care", CONSERVATIVE),  # wrong type
        ({"conservative_care_weeks": -1}, "conservative_care_weeks", ["0 to 5200"]),
        ({"conservative_care_weeks": 2.5}, "conservative_care_weeks", ["0 to 5200"]),
        ({"conservative_care_weeks": "8"}, "conservative_care_weeks", ["0 to 5200"]),
        ({"enrolled_on": None}, "enrolled_on", ["YYYY-MM-DD"]),
        ({"enrolled_on": "2024-02-30"}, "enrolled_on", ["YYYY-MM-DD"]),
        ({"enrolled_on": 20240110}, "enrolled_on", ["YYYY-MM-DD"]),
        ({"index_date": "2024-01-09"}, "index_date", ["2024-01-10"]),  # before enrolment
        ({"imaging_findings": "disc"}, "imaging_findings", ["a list of findings"]),
        (
            {"imaging_findings": [{"level": "L4-L5", "kind": "disc_herniation", "morphology": "prolapse",
                                   "zone": "central"}]},
            "imaging_findings[0].morphology",
            ["bulge", "protrusion", "extrusion", "sequestration"],
        ),
        (
            {"imaging_findings": [{"level": "L5-S1", "kind": "disc_degeneration", "pfirrmann": "IV"}]},
            "imaging_findings.level",
            ["L4-L5"],
        ),
        ({"surgeon": "Dr X"}, "surgeon", ["diagnosis_code", "levels"]),
    ],
)
def test_bad_episode_field(change: dict, field: str, allowed: list[str]) -> None:
    _raises(EpisodeRecord.create, {**GOOD_EPISODE, **change}, f"episode.{field}", allowed)


@pytest.mark.parametrize("finding", ["L4-L5", None, 7, ["L4-L5", "disc_herniation"]])
def test_imaging_finding_of_wrong_type_is_a_validation_error(finding: object) -> None:
    with pytest.raises(ValidationError) as exc:
        EpisodeRecord.create({**GOOD_EPISODE, "imaging_findings": [finding]})
    assert exc.value.field.startswith("episode.imaging_findings[0]")


# ---------------------------------------------------------------------------------------------
# ProcedureRecord

GOOD_PROCEDURE = {
    "procedure_code": "discectomy_tubular",
    "performed_on": "2024-02-01",
    "levels": "L4-L5",
    "incision_mm": 18,
    "ebl_ml": 25,
    "op_time_min": 65.5,
    "fluoro_s": 30,
    "fluoro_dose_mgy": 4.2,
    "los_days": 1,
    "transfusion": False,
}


def test_good_procedure_is_created() -> None:
    r = ProcedureRecord.create(GOOD_PROCEDURE)
    assert r.entry.code == "discectomy_tubular"
    assert r.performed_on == D("2024-02-01")
    assert r.levels == (Level.L4_L5,)
    assert (r.ebl_ml, r.op_time_min, r.transfusion) == (25, 65.5, False)


def test_procedure_measures_are_optional() -> None:
    r = ProcedureRecord.create({"procedure_code": "fusion_open_tlif", "performed_on": "2024-02-01",
                                "levels": ["L4-L5", "L5-S1"]})
    assert (r.incision_mm, r.ebl_ml, r.op_time_min, r.fluoro_s, r.los_days, r.transfusion) == (None,) * 6


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"procedure_code": "microdiscectomy"}, "procedure_code",
         ["discectomy_open", "discectomy_tubular", "fusion_mis_tlif"]),
        ({"procedure_code": None}, "procedure_code", ["discectomy_open"]),
        ({"performed_on": None}, "performed_on", ["YYYY-MM-DD"]),
        ({"performed_on": "01/02/2024"}, "performed_on", ["YYYY-MM-DD"]),
        ({"levels": None}, "levels", LEVELS),
        ({"levels": "L4-L5,L5-L6"}, "levels", LEVELS),
        ({"ebl_ml": -5}, "ebl_ml", ["0 to 20000 mL"]),
        ({"ebl_ml": "25"}, "ebl_ml", ["0 to 20000 mL"]),
        ({"ebl_ml": float("inf")}, "ebl_ml", ["0 to 20000 mL"]),
        ({"op_time_min": 9000}, "op_time_min", ["0 to 1440 min"]),
        ({"incision_mm": -1}, "incision_mm", ["0 to 1000 mm"]),
        ({"fluoro_s": float("nan")}, "fluoro_s", ["0 to 36000 s"]),
        ({"fluoro_dose_mgy": 1e6}, "fluoro_dose_mgy", ["0 to 100000 mGy"]),
        ({"los_days": True}, "los_days", ["0 to 365 days"]),
        ({"los_days": 400}, "los_days", ["0 to 365 days"]),
        ({"transfusion": "no"}, "transfusion", ["true", "false"]),
        ({"assistant": "Dr X"}, "assistant", ["procedure_code", "ebl_ml"]),
    ],
)
def test_bad_procedure_field(change: dict, field: str, allowed: list[str]) -> None:
    _raises(ProcedureRecord.create, {**GOOD_PROCEDURE, **change}, f"procedure.{field}", allowed)


def test_huge_integer_measure_is_a_validation_error() -> None:
    """JSON integers have no size limit; an absurd one is out of range, not a crash."""
    _raises(ProcedureRecord.create, {**GOOD_PROCEDURE, "ebl_ml": 10**400}, "procedure.ebl_ml", ["0 to 20000 mL"])


def _episode(**change: Any) -> EpisodeRecord:
    return EpisodeRecord.create({**GOOD_EPISODE, "levels": "L4-L5,L5-S1", "imaging_findings": [], **change})


def test_matching_procedure_passes_episode_check() -> None:
    ProcedureRecord.create(GOOD_PROCEDURE).check_against_episode(_episode())
    ProcedureRecord.create(
        {**GOOD_PROCEDURE, "procedure_code": "discectomy_open", "levels": "L4-L5,L5-S1"}
    ).check_against_episode(_episode(treatment="open"))


@pytest.mark.parametrize(
    ("episode_change", "field"),
    [
        ({"treatment": "conservative", "treatment_family": None, "index_date": None}, "procedure_code"),
        ({"treatment": None, "treatment_family": None, "index_date": None}, "procedure_code"),
    ],
)
def test_procedure_refused_when_episode_is_not_surgical(episode_change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ProcedureRecord.create(GOOD_PROCEDURE).check_against_episode(_episode(**episode_change))
    assert exc.value.field == f"procedure.{field}"


def test_procedure_refused_when_approach_differs_from_episode() -> None:
    """An open-discectomy episode only accepts open discectomy procedures."""
    with pytest.raises(ValidationError) as exc:
        ProcedureRecord.create(GOOD_PROCEDURE).check_against_episode(_episode(treatment="open"))
    err = exc.value
    assert err.field == "procedure.procedure_code"
    assert err.value == "discectomy_tubular"
    assert "discectomy_open" in err.allowed
    assert "discectomy_tubular" not in err.allowed


def test_procedure_refused_when_family_differs_from_episode() -> None:
    with pytest.raises(ValidationError) as exc:
        ProcedureRecord.create(GOOD_PROCEDURE).check_against_episode(_episode(treatment_family="decompression"))
    err = exc.value
    assert err.field == "procedure.procedure_code"
    assert "decompression_tubular" in err.allowed
    assert "discectomy" not in err.allowed
    assert "fusion" not in err.allowed


def test_procedure_refused_before_enrolment() -> None:
    with pytest.raises(ValidationError) as exc:
        ProcedureRecord.create({**GOOD_PROCEDURE, "performed_on": "2024-01-09"}).check_against_episode(_episode())
    assert exc.value.field == "procedure.performed_on"
    assert "2024-01-10" in str(exc.value)


def test_procedure_refused_at_a_level_outside_the_episode() -> None:
    with pytest.raises(ValidationError) as exc:
        ProcedureRecord.create({**GOOD_PROCEDURE, "levels": "L3-L4,L4-L5"}).check_against_episode(_episode())
    err = exc.value
    assert err.field == "procedure.levels"
    assert err.value == "L3-L4"
    assert "L4-L5" in str(err) and "L5-S1" in str(err)


# ---------------------------------------------------------------------------------------------
# complications, readmissions, reoperations

GOOD_COMPLICATION = {"category": "dural_tear", "clavien_dindo": "I", "occurred_on": "2024-02-01", "detail": "repaired"}


def test_good_complication_is_created() -> None:
    c = ComplicationRecord.create(GOOD_COMPLICATION, performed_on=D("2024-02-01"))
    assert c.category is ComplicationCategory.DURAL_TEAR
    assert c.clavien_dindo is ClavienDindo.I
    assert c.occurred_on == D("2024-02-01")


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"category": "infection"}, "category", ["ssi_superficial", "ssi_deep", "ssi_organ_space", "dural_tear"]),
        ({"category": None}, "category", ["dural_tear"]),
        ({"clavien_dindo": "III"}, "clavien_dindo", CLAVIEN_DINDO),
        ({"clavien_dindo": 3}, "clavien_dindo", CLAVIEN_DINDO),
        ({"clavien_dindo": None}, "clavien_dindo", CLAVIEN_DINDO),
        ({"occurred_on": "2024-01-31"}, "occurred_on", ["2024-02-01"]),  # before the procedure
        ({"occurred_on": None}, "occurred_on", ["YYYY-MM-DD"]),
        ({"detail": "x" * 2001}, "detail", ["2000 characters"]),
        ({"detail": 42}, "detail", ["2000 characters"]),
        ({"reporter": "x"}, "reporter", ["category", "clavien_dindo"]),
    ],
)
def test_bad_complication_field(change: dict, field: str, allowed: list[str]) -> None:
    _raises(ComplicationRecord.create, {**GOOD_COMPLICATION, **change}, f"complication.{field}", allowed,
            performed_on=D("2024-02-01"))


def test_readmission_checks_date_and_fields() -> None:
    r = ReadmissionRecord.create({"admitted_on": "2024-02-10", "reason": "wound"}, performed_on=D("2024-02-01"))
    assert r.admitted_on == D("2024-02-10")
    _raises(ReadmissionRecord.create, {"admitted_on": "2024-01-31"}, "readmission.admitted_on", ["2024-02-01"],
            performed_on=D("2024-02-01"))
    _raises(ReadmissionRecord.create, {"admitted_on": None}, "readmission.admitted_on", ["YYYY-MM-DD"])
    _raises(ReadmissionRecord.create, {"admitted_on": "2024-02-10", "ward": "3"}, "readmission.ward",
            ["admitted_on", "reason"])


def test_readmission_reason_of_wrong_type_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        ReadmissionRecord.create({"admitted_on": "2024-02-10", "reason": 123}, performed_on=D("2024-02-01"))
    assert exc.value.field == "readmission.reason"


def test_reoperation_checks_date_reason_and_levels() -> None:
    r = ReoperationRecord.create({"performed_on": "2024-06-01", "reason": "recurrent_herniation", "levels": "L4-L5"},
                                 index_date=D("2024-02-01"))
    assert r.reason is ReoperationReason.RECURRENT_HERNIATION
    assert r.levels == (Level.L4_L5,)
    _raises(ReoperationRecord.create, {"performed_on": "2024-02-01", "reason": "restenosis"},
            "reoperation.performed_on", ["2024-02-01"], index_date=D("2024-02-01"))  # same day as the index procedure
    _raises(ReoperationRecord.create, {"performed_on": "2024-06-01", "reason": "bad luck"}, "reoperation.reason",
            ["recurrent_herniation", "restenosis", "complication"])
    _raises(ReoperationRecord.create, {"performed_on": "2024-06-01", "reason": "restenosis", "levels": "L9-L10"},
            "reoperation.levels", LEVELS)


# ---------------------------------------------------------------------------------------------
# PROM responses

GOOD_RESPONSE = {"instrument": "nrs_back", "timepoint": "3m", "collected_on": "2024-06-01", "answers": {"nrs_back": 3}}


def test_good_response_records_days_from_index() -> None:
    r = PromResponseRecord.create(GOOD_RESPONSE, index_date=INDEX)
    assert r.timepoint.code == "3m"
    assert r.days_from_index == (D("2024-06-01") - INDEX).days
    assert r.answers == {"nrs_back": 3}


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"timepoint": "9m"}, "timepoint", [code for code, _, _ in REFERENCE_TIMEPOINTS]),
        ({"timepoint": None}, "timepoint", ["baseline", "3m", "24m"]),
        ({"collected_on": "2025-05-01"}, "collected_on", []),  # far outside the 3-month window
        ({"collected_on": "2024-02-29"}, "collected_on", []),  # before the index date
        ({"collected_on": "yesterday"}, "collected_on", ["YYYY-MM-DD"]),
        ({"answers": [3]}, "answers", ["item code"]),
        ({"answers": None}, "answers", ["item code"]),
        ({"instrument": None}, "instrument", ["instrument code"]),
        ({"instrument": 7}, "instrument", ["instrument code"]),
        ({"score": 3}, "score", ["instrument", "timepoint", "collected_on", "answers"]),
    ],
)
def test_bad_response_field(change: dict, field: str, allowed: list[str]) -> None:
    _raises(PromResponseRecord.create, {**GOOD_RESPONSE, **change}, f"response.{field}", allowed, index_date=INDEX)


def test_follow_up_response_without_index_date_names_the_response_field() -> None:
    """Every other PromResponseRecord error is prefixed 'response.'; this one must be too."""
    _raises(PromResponseRecord.create, GOOD_RESPONSE, "response.timepoint", ["baseline"], index_date=None)
