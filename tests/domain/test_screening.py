"""Red-flag screening and guideline candidacy criteria (``spinetrack.domain.screening``).

Oracle: the red flags of NICE NG59 and the NASS guidelines, written out here by hand: suspected cauda
equina syndrome (saddle anaesthesia, new bladder or bowel dysfunction, bilateral leg
symptoms), suspected spinal infection, malignancy or fracture, progressive or severe motor
deficit → urgent referral, overriding any comparison; the sources are NICE NG59 and the NASS
guidelines for lumbar disc herniation with radiculopathy and for degenerative lumbar spinal
stenosis; a criterion that cannot be quoted exactly is a question for the clinician.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import doctest
import io
import json
import re
import subprocess
import sys
from dataclasses import FrozenInstanceError
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from spinetrack.domain import guideline_criteria, screening, screening_questions
from spinetrack.domain.diagnosis import DiagnosisGroup, ImagingFinding, Level, get_diagnosis
from spinetrack.domain.pathway import EpisodeRecord, TreatmentArm
from spinetrack.domain.procedure import ConservativeOption, ProcedureFamily
from spinetrack.domain.screening import (
    ANSWER_FIELDS,
    CANDIDACY_FIELDS,
    GUIDELINE_CRITERIA,
    GUIDELINE_SOURCES,
    QUESTIONS,
    RED_FLAG_FIELDS,
    Answer,
    CriterionStatus,
    RedFlag,
    RedFlagStatus,
    ScreeningAnswers,
    criteria_for,
    evaluate_criteria,
    screen,
)
from spinetrack.errors import ValidationError

# The screening modules: the questions, the criteria and the result that combines them.
_MODULES = (screening_questions, guideline_criteria, screening)

DAY = dt.date(2025, 3, 10)

# Red flags (NICE NG59; NASS guidelines): flag → the answers that raise it.
REFERENCE_RED_FLAGS = {
    RedFlag.CAUDA_EQUINA: ("saddle_anaesthesia", "bladder_bowel_dysfunction", "bilateral_leg_symptoms"),
    RedFlag.INFECTION: ("suspected_infection",),
    RedFlag.MALIGNANCY: ("suspected_malignancy",),
    RedFlag.FRACTURE: ("suspected_fracture",),
    RedFlag.MOTOR_DEFICIT: ("progressive_motor_deficit", "severe_motor_deficit"),
}
TRIGGERS = [(flag, q) for flag, qs in REFERENCE_RED_FLAGS.items() for q in qs]
# The guidelines' titles, as the screening module cites them.
NICE = "NICE NG59: Low back pain and sciatica in over 16s: assessment and management"
NASS_LDH = ("NASS evidence-based clinical guideline: "
            "diagnosis and treatment of lumbar disc herniation with radiculopathy")
NASS_DLSS = "NASS evidence-based clinical guideline: diagnosis and treatment of degenerative lumbar spinal stenosis"
# One ICD-10-CM FY2025 code per diagnosis group.
CODE_OF_GROUP = {
    DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY: "M51.16",
    DiagnosisGroup.STENOSIS_WITHOUT_CLAUDICATION: "M48.061",
    DiagnosisGroup.STENOSIS_WITH_CLAUDICATION: "M48.062",
    DiagnosisGroup.DEGENERATIVE_DISC_DISEASE: "M51.362",
    DiagnosisGroup.DEGENERATIVE_SPONDYLOLISTHESIS: "M43.16",
    DiagnosisGroup.NONSPECIFIC_LOW_BACK_PAIN: "M54.50",
}
STENOSIS_GROUPS = (DiagnosisGroup.STENOSIS_WITHOUT_CLAUDICATION, DiagnosisGroup.STENOSIS_WITH_CLAUDICATION)
FUSION_QUESTION_GROUPS = (DiagnosisGroup.DEGENERATIVE_DISC_DISEASE, DiagnosisGroup.DEGENERATIVE_SPONDYLOLISTHESIS,
                          DiagnosisGroup.NONSPECIFIC_LOW_BACK_PAIN)


def episode(code: str = "M51.16", **kwargs: Any) -> EpisodeRecord:
    return EpisodeRecord(get_diagnosis(code), (Level.L4_L5,), DAY - dt.timedelta(days=30), **kwargs)


def full_episode(code: str) -> EpisodeRecord:
    """An episode whose record meets every record-based criterion (care and imaging recorded)."""
    kind = "central_stenosis" if get_diagnosis(code).group.is_stenosis else "disc_herniation"
    finding = {"level": "L4-L5", "kind": kind, **({"stenosis_grade": "C"} if kind == "central_stenosis" else
                                                  {"morphology": "extrusion", "zone": "subarticular"})}
    return episode(code, imaging_findings=(ImagingFinding.create(finding),),
                   conservative_care=(ConservativeOption.PHYSIOTHERAPY, ConservativeOption.MEDICATION),
                   conservative_care_weeks=8)


def answers(**given: str) -> ScreeningAnswers:
    return ScreeningAnswers.create({"assessed_on": DAY.isoformat(), **given})


ALL_NO_FLAGS = dict.fromkeys(RED_FLAG_FIELDS, "no")
ALL_YES_CANDIDACY = dict.fromkeys(CANDIDACY_FIELDS, "yes")


# ------------------------------------------------------------------------------------ questions


def test_screening_questions_are_those_standards_names() -> None:
    assert set(screening.RED_FLAG_TRIGGERS) == set(RedFlag)
    assert screening.RED_FLAG_TRIGGERS == REFERENCE_RED_FLAGS
    assert set(ANSWER_FIELDS) == set(RED_FLAG_FIELDS) | {"imaging_concordant", "persistent_after_conservative",
                                                         "symptoms_limit_function"}
    assert set(CANDIDACY_FIELDS) == {"imaging_concordant", "persistent_after_conservative", "symptoms_limit_function"}
    assert set(QUESTIONS) == set(ANSWER_FIELDS) == set(screening.LABELS)
    assert all(text.endswith("?") for text in QUESTIONS.values())
    assert [f.value for f in RedFlag] == ["cauda_equina", "infection", "malignancy", "fracture", "motor_deficit"]
    assert all(f.label and f.label[0].isupper() for f in RedFlag)


# ------------------------------------------------------------------------------------ red flags override


@pytest.mark.parametrize("group", list(CODE_OF_GROUP))
@pytest.mark.parametrize(("flag", "question"), TRIGGERS, ids=[q for _, q in TRIGGERS])
def test_screening_every_red_flag_answer_overrides_the_criteria(flag: RedFlag, question: str,
                                                                group: DiagnosisGroup) -> None:
    """Each answer that raises a flag, alone, makes the result urgent with the message and no
    criteria, even when every candidacy criterion would otherwise be met."""
    ep = full_episode(CODE_OF_GROUP[group])
    clean = answers(**ALL_NO_FLAGS, **ALL_YES_CANDIDACY)
    if group in (DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY, *STENOSIS_GROUPS):
        # without the red flag every criterion of the group is met
        assert {r.status for r in screen(clean, ep).criteria} == {CriterionStatus.MET}
    flagged = answers(**{**ALL_NO_FLAGS, question: "yes"}, **ALL_YES_CANDIDACY)
    result = screen(flagged, ep)
    assert result.recorded and result.urgent
    assert result.criteria == ()
    assert result.message is not None and flag.label.lower() in result.message
    assert "urgent" in result.message and "no treatment comparison" in result.message.lower()
    by_flag = {f.flag: f for f in result.red_flags}
    assert by_flag[flag].status is RedFlagStatus.PRESENT and by_flag[flag].raised_by == (question,)
    assert all(f.status is RedFlagStatus.ABSENT for f in result.red_flags if f.flag is not flag)
    assert [f.flag for f in result.present] == [flag]
    assert result.unanswered == ()
    assert all(f.citation == NICE for f in result.red_flags)


def test_screening_lists_every_present_flag_and_every_answer_that_raised_it() -> None:
    result = screen(answers(saddle_anaesthesia="yes", bilateral_leg_symptoms="yes", suspected_fracture="yes"),
                    episode())
    assert result.urgent and result.criteria == ()
    present = {f.flag: f.raised_by for f in result.present}
    assert present == {RedFlag.CAUDA_EQUINA: ("saddle_anaesthesia", "bilateral_leg_symptoms"),
                       RedFlag.FRACTURE: ("suspected_fracture",)}
    assert result.message is not None
    assert "suspected cauda equina syndrome" in result.message and "suspected spinal fracture" in result.message


def test_screening_without_a_red_flag_is_not_urgent() -> None:
    result = screen(answers(**ALL_NO_FLAGS), full_episode("M51.16"))
    assert result.recorded and not result.urgent and result.message is None
    assert all(f.status is RedFlagStatus.ABSENT and f.raised_by == () for f in result.red_flags)
    assert result.unanswered == ()
    assert [c.key for c in result.criteria] == ["disc_imaging_concordant", "disc_persistent_after_conservative"]


def test_screening_lists_unanswered_red_flag_questions_and_flags_them_unknown() -> None:
    result = screen(answers(saddle_anaesthesia="no", bladder_bowel_dysfunction="no", suspected_infection="no",
                            suspected_malignancy="unknown", progressive_motor_deficit="no"), episode())
    assert not result.urgent and result.message is None
    assert result.unanswered == ("bilateral_leg_symptoms", "suspected_malignancy", "suspected_fracture",
                                 "severe_motor_deficit")
    status = {f.flag: f.status for f in result.red_flags}
    assert status == {RedFlag.CAUDA_EQUINA: RedFlagStatus.UNKNOWN, RedFlag.INFECTION: RedFlagStatus.ABSENT,
                      RedFlag.MALIGNANCY: RedFlagStatus.UNKNOWN, RedFlag.FRACTURE: RedFlagStatus.UNKNOWN,
                      RedFlag.MOTOR_DEFICIT: RedFlagStatus.UNKNOWN}
    assert len(result.criteria) == 2  # criteria still shown: no flag is present


def test_screening_one_yes_raises_the_flag_even_when_its_other_questions_are_unknown() -> None:
    result = screen(answers(bladder_bowel_dysfunction="yes"), episode())
    assert result.urgent
    assert {f.flag: f.status for f in result.red_flags}[RedFlag.CAUDA_EQUINA] is RedFlagStatus.PRESENT
    assert "saddle_anaesthesia" in result.unanswered


def test_screening_with_no_answers_recorded_evaluates_what_the_episode_allows() -> None:
    ep = episode("M48.062", conservative_care=(ConservativeOption.INJECTION,), conservative_care_weeks=12)
    result = screen(None, ep)
    assert (result.recorded, result.urgent, result.message, result.answers) == (False, False, None, None)
    assert all(f.status is RedFlagStatus.UNKNOWN for f in result.red_flags)
    assert result.unanswered == RED_FLAG_FIELDS
    assert result.diagnosis_group is DiagnosisGroup.STENOSIS_WITH_CLAUDICATION
    status = {c.key: c.status for c in result.criteria}
    assert status == {"stenosis_imaging_concordant": CriterionStatus.UNKNOWN,
                      "stenosis_function_limited": CriterionStatus.UNKNOWN,
                      "stenosis_conservative_care_tried": CriterionStatus.MET}
    care = next(c for c in result.criteria if c.key == "stenosis_conservative_care_tried")
    assert "injection" in care.detail and "12 weeks" in care.detail
    d = result.as_dict()
    assert d["recorded"] is False and d["assessed_on"] is None and d["answers"] is None


def test_screening_result_as_dict_is_json_with_enum_values_as_strings() -> None:
    result = screen(answers(suspected_infection="yes", imaging_concordant="yes"), full_episode("M51.16"))
    d = json.loads(json.dumps(result.as_dict()))
    assert d["urgent"] is True and d["criteria"] == [] and d["diagnosis_group"] == "disc_herniation_radiculopathy"
    assert d["assessed_on"] == DAY.isoformat()
    assert d["answers"]["suspected_infection"] == "yes" and d["answers"]["saddle_anaesthesia"] == "unknown"
    infection = next(f for f in d["red_flags"] if f["flag"] == "infection")
    assert infection == {"flag": "infection", "label": "Suspected spinal infection", "status": "present",
                         "raised_by": ["suspected_infection"], "questions": ["suspected_infection"],
                         "citation": NICE}
    ok = screen(answers(**ALL_NO_FLAGS, imaging_concordant="yes"), full_episode("M51.16")).as_dict()
    assert ok["criteria"][0]["status"] == "met" and ok["criteria"][0]["citation"] == f"{NASS_LDH}; {NICE}"


# ------------------------------------------------------------------------------------ validation


def test_screening_answers_accept_strings_and_none_and_default_to_unknown() -> None:
    a = ScreeningAnswers.create({"assessed_on": "2025-03-10", "saddle_anaesthesia": "yes",
                                 "suspected_fracture": "no", "suspected_infection": None,
                                 "imaging_concordant": " Yes ", "symptoms_limit_function": Answer.NO})
    assert (a.saddle_anaesthesia, a.suspected_fracture, a.suspected_infection, a.imaging_concordant,
            a.symptoms_limit_function, a.severe_motor_deficit) == (
        Answer.YES, Answer.NO, Answer.UNKNOWN, Answer.YES, Answer.NO, Answer.UNKNOWN)
    assert a.assessed_on == dt.date(2025, 3, 10)
    assert ScreeningAnswers.create(a.as_dict()) == a
    assert ScreeningAnswers.create({}, today=DAY).assessed_on == DAY  # the caller's today by default
    with pytest.raises(FrozenInstanceError):
        a.saddle_anaesthesia = Answer.NO  # type: ignore[misc]


@pytest.mark.parametrize("value", [True, False, 1, 0])
def test_screening_answers_refuse_booleans_and_numbers(value: object) -> None:
    """RFC 8259 types, strict: the answers are the strings yes, no, unknown; JSON true was
    read as "yes" by an earlier version, a red flag the sender may not have meant."""
    with pytest.raises(ValidationError, match=r"screening\.saddle_anaesthesia.*allowed: yes, no, unknown"):
        ScreeningAnswers.create({"assessed_on": "2025-03-10", "saddle_anaesthesia": value})


@pytest.mark.parametrize(("data", "field", "allowed"), [
    ({"saddle_anaesthesia": "maybe"}, "screening.saddle_anaesthesia", "yes, no, unknown"),
    ({"severe_motor_deficit": 1}, "screening.severe_motor_deficit", "yes, no, unknown"),
    ({"imaging_concordant": ["yes"]}, "screening.imaging_concordant", "yes, no, unknown"),
    ({"sciatica": "yes"}, "screening.sciatica", "saddle_anaesthesia"),
    ({"assessed_on": "10/03/2025"}, "screening.assessed_on", "YYYY-MM-DD"),
    ({"assessed_on": 20250310}, "screening.assessed_on", "YYYY-MM-DD"),
    ({"assessed_on": "2025-03-11"}, "screening.assessed_on", "1900-01-01 to 2025-03-10 (today)"),
    ({"assessed_on": "0001-01-01"}, "screening.assessed_on", "a date from 1900-01-01"),
    ({"saddle_anaesthesia": True}, "screening.saddle_anaesthesia", "yes, no, unknown"),
])
def test_screening_answers_refuse_bad_input_naming_the_field_and_allowed_values(
        data: dict[str, Any], field: str, allowed: str) -> None:
    with pytest.raises(ValidationError) as info:
        ScreeningAnswers.create({"assessed_on": "2025-03-01", **data}, today=DAY)
    assert info.value.field == field
    assert allowed in info.value.allowed
    assert str(info.value).startswith(f"{field}: ")


def test_screening_answers_need_a_date_when_no_today_is_given_and_a_mapping() -> None:
    with pytest.raises(ValidationError) as info:
        ScreeningAnswers.create({"saddle_anaesthesia": "no"})
    assert (info.value.field, info.value.reason) == ("screening.assessed_on", "required")
    with pytest.raises(ValidationError) as info:
        ScreeningAnswers.create(["yes"])  # type: ignore[arg-type]
    assert info.value.field == "screening"


# ------------------------------------------------------------------------------------ criteria per group


def test_criteria_disc_herniation_met_not_met_and_unknown() -> None:
    ep = full_episode("M51.17")
    met = {c.key: c for c in screen(answers(**ALL_NO_FLAGS, **ALL_YES_CANDIDACY), ep).criteria}
    assert {k: c.status for k, c in met.items()} == {"disc_imaging_concordant": CriterionStatus.MET,
                                                     "disc_persistent_after_conservative": CriterionStatus.MET}
    assert "L4-L5 disc herniation (extrusion, subarticular)" in met["disc_imaging_concordant"].detail
    persistent = met["disc_persistent_after_conservative"]
    assert "physiotherapy, medication; 8 weeks" in persistent.detail  # the recorded weeks, no threshold
    assert "no minimum duration" in persistent.detail
    assert persistent.citation == f"{NASS_LDH}; {NICE}"
    not_met = screen(answers(**ALL_NO_FLAGS, imaging_concordant="no", persistent_after_conservative="no"), ep)
    assert {c.status for c in not_met.criteria} == {CriterionStatus.NOT_MET}
    unknown = screen(answers(**ALL_NO_FLAGS), episode("M51.16"))
    assert {c.status for c in unknown.criteria} == {CriterionStatus.UNKNOWN}
    detail = {c.key: c.detail for c in unknown.criteria}
    assert "No imaging findings are recorded" in detail["disc_imaging_concordant"]
    assert "No conservative care is recorded" in detail["disc_persistent_after_conservative"]


def test_criteria_disc_herniation_severe_deficit_is_met_by_exception_but_screen_shows_the_red_flag() -> None:
    """The exception shows when the criteria are evaluated on their own; a severe motor deficit
    is also a red flag (NICE NG59), so screen() withholds every criterion."""
    a = answers(**{**ALL_NO_FLAGS, "severe_motor_deficit": "yes"}, persistent_after_conservative="no")
    ep = episode("M51.16", conservative_care_weeks=2)
    persistent = {c.key: c for c in evaluate_criteria(a, ep)}["disc_persistent_after_conservative"]
    assert persistent.status is CriterionStatus.MET
    assert persistent.detail.startswith("Met by exception: a severe motor deficit is recorded")
    assert "2 weeks" in persistent.detail and "red flag" in persistent.detail
    result = screen(a, ep)
    assert result.urgent and result.criteria == ()
    assert [f.flag for f in result.present] == [RedFlag.MOTOR_DEFICIT]


@pytest.mark.parametrize("group", STENOSIS_GROUPS)
def test_criteria_stenosis_met_not_met_and_unknown(group: DiagnosisGroup) -> None:
    code = CODE_OF_GROUP[group]
    met = screen(answers(**ALL_NO_FLAGS, **ALL_YES_CANDIDACY), full_episode(code)).criteria
    assert [(c.key, c.status) for c in met] == [("stenosis_imaging_concordant", CriterionStatus.MET),
                                                ("stenosis_function_limited", CriterionStatus.MET),
                                                ("stenosis_conservative_care_tried", CriterionStatus.MET)]
    assert "L4-L5 central stenosis (C)" in met[0].detail
    assert [c.citation for c in met] == [f"{NASS_DLSS}; {NICE}", NASS_DLSS, f"{NASS_DLSS}; {NICE}"]
    not_met = screen(answers(**ALL_NO_FLAGS, imaging_concordant="no", symptoms_limit_function="no"),
                     episode(code, conservative_care_weeks=0)).criteria
    assert {c.status for c in not_met} == {CriterionStatus.NOT_MET}
    assert "0 weeks" in not_met[2].detail
    unknown = screen(answers(**ALL_NO_FLAGS), episode(code)).criteria
    assert {c.status for c in unknown} == {CriterionStatus.UNKNOWN}
    weeks_only = screen(None, episode(code, conservative_care_weeks=6)).criteria[2]
    assert weeks_only.status is CriterionStatus.MET and "options not recorded; 6 weeks" in weeks_only.detail


@pytest.mark.parametrize("group", FUSION_QUESTION_GROUPS)
def test_criteria_fusion_question_is_always_for_the_clinician(group: DiagnosisGroup) -> None:
    code = CODE_OF_GROUP[group]
    [plain] = screen(answers(**ALL_NO_FLAGS, **ALL_YES_CANDIDACY), full_episode(code)).criteria
    assert plain.key == "fusion_for_low_back_pain_alone" and plain.status is CriterionStatus.UNKNOWN
    assert plain.question.startswith("Is fusion being considered for low back pain alone?")
    assert "NICE NG59" in plain.question and "randomised" in plain.question
    assert plain.citation == NICE
    assert "No treatment is recorded" in plain.detail
    fusion = episode(code, treatment=TreatmentArm.OPEN, treatment_family=ProcedureFamily.FUSION)
    [asked] = screen(None, fusion).criteria
    assert asked.status is CriterionStatus.UNKNOWN and "Fusion is the treatment recorded" in asked.detail
    conservative = episode(code, treatment=TreatmentArm.CONSERVATIVE)
    assert "is conservative" in screen(None, conservative).criteria[0].detail


def test_criteria_are_questions_and_carry_no_invented_number() -> None:
    """A criterion that cannot be quoted from the guideline is a question; no clinical number is
    invented (the only digits allowed in a question are the guideline's own name, NG59)."""
    for c in GUIDELINE_CRITERIA:
        assert "?" in c.question, c.key
        assert not re.search(r"\d", c.question.replace("NG59", "")), c.key
    for group in DiagnosisGroup:
        for r in screen(answers(**ALL_NO_FLAGS), episode(CODE_OF_GROUP[group])).criteria:
            assert not re.search(r"\d", r.detail.replace("NG59", "")), (r.key, r.detail)


# ------------------------------------------------------------------------------------ the data file


def _csv_text() -> str:
    return resources.files("spinetrack.domain").joinpath("data/guideline_criteria.csv").read_text("utf-8")


def test_guideline_csv_loads_and_every_row_has_valid_groups_sources_and_evaluation() -> None:
    text = _csv_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any(line.startswith("# provenance:") and "NICE NG59" in line and "NASS" in line for line in header)
    assert GUIDELINE_SOURCES == {"nice_ng59": NICE, "nass_ldh": NASS_LDH, "nass_dlss": NASS_DLSS}
    rows = list(csv.DictReader(io.StringIO("\n".join(line for line in text.splitlines()
                                                     if line.strip() and not line.startswith("#")))))
    assert [r["key"] for r in rows] == [c.key for c in GUIDELINE_CRITERIA]
    groups = {g.value for g in DiagnosisGroup}
    for r in rows:
        assert set(r["diagnosis_groups"].split(";")) <= groups, r["key"]
        assert set(r["sources"].split(";")) <= set(GUIDELINE_SOURCES), r["key"]
        kind, _, answer_field = r["evaluation"].partition(":")
        assert kind in {e.value for e in screening.Evaluation}, r["key"]
        assert answer_field == "" or answer_field in CANDIDACY_FIELDS, r["key"]
    assert len({r["key"] for r in rows}) == len(rows)
    for group in DiagnosisGroup:  # every diagnosis group has at least one criterion
        assert criteria_for(group), group


def test_guideline_criteria_sources_match_standards() -> None:
    """Disc herniation: NASS LDH + NICE NG59; stenosis: NASS DLSS (+ NICE NG59); the other groups:
    NICE NG59."""
    for group in DiagnosisGroup:
        sources = {s for c in criteria_for(group) for s in c.sources}
        if group is DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY:
            assert sources == {"nass_ldh", "nice_ng59"}
        elif group.is_stenosis:
            assert sources == {"nass_dlss", "nice_ng59"}
        else:
            assert sources == {"nice_ng59"}


# ------------------------------------------------------------------------------------ purity and docs


def test_screening_module_imports_only_stdlib_and_the_domain() -> None:
    """Pure core: the standard library, ``spinetrack.domain`` and the error tree only."""
    imported: set[str] = set()
    for node in (n for m in _MODULES for n in ast.walk(ast.parse(Path(m.__file__ or "").read_text("utf-8")))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module
            imported.add(node.module)
    outside = {m for m in imported if m.split(".")[0] not in sys.stdlib_module_names
               and m != "__future__" and not m.startswith("spinetrack.domain") and m != "spinetrack.errors"}
    assert outside == set()
    code = ("import sys, spinetrack.domain.screening\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'fastapi', 'starlette', 'alembic', 'pydantic', 'numpy', 'duckdb')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout.strip() == "[]"


def test_screening_docstring_examples_run() -> None:
    results = [doctest.testmod(m, optionflags=doctest.NORMALIZE_WHITESPACE) for m in _MODULES]
    for m, result in zip(_MODULES, results, strict=True):
        assert result.attempted > 0 and result.failed == 0, m.__name__
