"""Bodies of follow-up: questionnaire invitations, PROM responses entered by the clinic, the
patient's visit on a phone (questionnaires, drafts, submissions) and score trajectories with each
instrument's scale."""

import datetime as dt
from typing import Annotated, Any

from pydantic import Field

from spinetrack import instruments
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.errors import ValidationError
from spinetrack.instruments import thresholds
from spinetrack.store.access import INVITATION_DAYS
from spinetrack.web.schemas._base import Answers, Date, Integer, Text, _check_answers, _Create, _doc, _Public, _requires

__all__ = [
    "DraftCreate",
    "DraftPublic",
    "InstrumentScalePublic",
    "InvitationCreate",
    "InvitationCreatedPublic",
    "InvitationPublic",
    "InvitationsPublic",
    "PromResponseCreate",
    "PromResponsePublic",
    "PromResponsesPublic",
    "QuestionnairePublic",
    "TrajectoryPointPublic",
    "TrajectoryPublic",
    "VisitPublic",
    "VisitQuestionnairePublic",
    "VisitResponseCreate",
    "VisitSubmissionPublic",
]

_INSTRUMENT_CODES = [i.NAME for i in instruments.all()]
_TIMEPOINT_CODES = [tp.code for tp in TIMEPOINTS]


# ------------------------------------------------------------------------------ invitations


class InvitationCreate(_Create):
    """A personal questionnaire link for one visit (timepoint) of an episode."""

    model_config = _requires("timepoint", "instruments")
    _prefix = "invitation"

    timepoint: Annotated[Any, _doc({"type": "string", "enum": _TIMEPOINT_CODES})] = Field(
        None, description="Timepoint code of the visit (required).", examples=["6w"])
    instruments: Annotated[Any, _doc({"type": "array", "items": {"type": "string", "enum": _INSTRUMENT_CODES}})] = \
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

    instrument: Annotated[Any, _doc({"type": "string", "enum": _INSTRUMENT_CODES})] = Field(
        None, description="Instrument code (required).", examples=["odi"])
    timepoint: Annotated[Any, _doc({"type": "string", "enum": _TIMEPOINT_CODES})] = Field(
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
