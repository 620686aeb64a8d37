"""Bodies of the red-flag screening of an episode: the clinician's answers and the screening
with its red flags and candidacy criteria."""

import datetime as dt
from typing import Annotated, Any, TypeAlias

from pydantic import ConfigDict, Field

from spinetrack.domain.diagnosis import DiagnosisGroup
from spinetrack.domain.screening import QUESTIONS, Answer, CriterionStatus, RedFlag, RedFlagStatus
from spinetrack.web.schemas._base import Date, _Create, _doc, _Public, _values

__all__ = [
    "ScreeningCreate",
    "ScreeningCriterionPublic",
    "ScreeningPublic",
    "ScreeningRedFlagPublic",
]

# ------------------------------------------------------------------------------ red-flag screening

ScreeningAnswer: TypeAlias = Annotated[Any, _doc({
    "anyOf": [{"type": "string", "enum": _values(Answer)}, {"type": "null"}],
    "description": "yes, no or unknown (null or left out: unknown; true and false are refused)"})]


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

