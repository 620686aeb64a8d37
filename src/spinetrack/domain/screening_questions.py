"""The screening questions of an episode (pure): the clinician's answers (yes, no, unknown) to
eight red-flag questions and three candidacy facts, the red flags they raise, and the plain
question and label of each. :mod:`spinetrack.domain.screening` turns them into a result.

References
----------
National Institute for Health and Care Excellence. NICE NG59: Low back pain and sciatica in over
16s: assessment and management (red flags). https://www.nice.org.uk/guidance/ng59
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from spinetrack.domain._validate import check_date, check_text_tree
from spinetrack.errors import ValidationError

__all__ = [
    "ANSWER_FIELDS",
    "CANDIDACY_FIELDS",
    "LABELS",
    "QUESTIONS",
    "RED_FLAG_FIELDS",
    "RED_FLAG_TRIGGERS",
    "Answer",
    "RedFlag",
    "RedFlagFinding",
    "RedFlagStatus",
    "ScreeningAnswers",
]

_PREFIX = "screening"


# ------------------------------------------------------------------------------------ answers


class Answer(enum.Enum):
    """A clinician's answer to one screening question."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


_ANSWER_VALUES = [a.value for a in Answer]


def _answer(value: Any, field: str) -> Answer:
    """One answer: the text ``yes``, ``no`` or ``unknown`` (``None``: unknown). Strict: a JSON
    ``true`` or ``false`` is refused rather than read as yes or no, so that a client that sends
    the wrong type learns it instead of recording a red flag it did not mean."""
    if isinstance(value, Answer):
        return value
    if value is None:
        return Answer.UNKNOWN
    if isinstance(value, str):
        try:
            return Answer(value.strip().lower())
        except ValueError:
            pass
    raise ValidationError(field=field, value=value, allowed=_ANSWER_VALUES,
                          reason="a text answer (true and false are not accepted)" if isinstance(value, bool) else None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreeningAnswers:
    """The answers a clinician recorded for one episode on ``assessed_on``.

    Every question defaults to :attr:`Answer.UNKNOWN`. Build it from raw input with
    :meth:`create`, which validates every field.

    Red-flag questions: ``saddle_anaesthesia``, ``bladder_bowel_dysfunction`` (new),
    ``bilateral_leg_symptoms``, ``suspected_infection``, ``suspected_malignancy``,
    ``suspected_fracture``, ``progressive_motor_deficit``, ``severe_motor_deficit``.
    Candidacy facts: ``imaging_concordant`` (imaging agrees with the symptoms),
    ``persistent_after_conservative`` (symptoms persist despite conservative care),
    ``symptoms_limit_function`` (symptoms limit walking or daily function).
    """

    assessed_on: dt.date
    saddle_anaesthesia: Answer = Answer.UNKNOWN
    bladder_bowel_dysfunction: Answer = Answer.UNKNOWN
    bilateral_leg_symptoms: Answer = Answer.UNKNOWN
    suspected_infection: Answer = Answer.UNKNOWN
    suspected_malignancy: Answer = Answer.UNKNOWN
    suspected_fracture: Answer = Answer.UNKNOWN
    progressive_motor_deficit: Answer = Answer.UNKNOWN
    severe_motor_deficit: Answer = Answer.UNKNOWN
    imaging_concordant: Answer = Answer.UNKNOWN
    persistent_after_conservative: Answer = Answer.UNKNOWN
    symptoms_limit_function: Answer = Answer.UNKNOWN

    @classmethod
    def create(cls, data: Mapping[str, Any], *, today: dt.date | None = None) -> ScreeningAnswers:
        """Validate raw input such as parsed JSON or a form.

        Parameters
        ----------
        data:
            ``{question: answer, "assessed_on": date}``. An answer is ``"yes"``, ``"no"`` or
            ``"unknown"`` (``None`` is unknown; ``True`` and ``False`` are refused); a question
            left out is ``unknown``. ``assessed_on`` is a date (``YYYY-MM-DD``) from 1900-01-01.
        today:
            When given, ``assessed_on`` may be left out (it is then ``today``) and may not be
            later than ``today``. Pure code reads no clock: the caller passes it.

        Raises
        ------
        ValidationError
            Naming ``screening.<field>`` and the allowed values, for an unknown field, an
            answer outside yes/no/unknown, or a missing or malformed date.

        Examples
        --------
        >>> a = ScreeningAnswers.create({"assessed_on": "2025-02-03", "suspected_fracture": "no"})
        >>> a.suspected_fracture, a.saddle_anaesthesia
        (<Answer.NO: 'no'>, <Answer.UNKNOWN: 'unknown'>)
        >>> try:
        ...     ScreeningAnswers.create({"assessed_on": "2025-02-03", "suspected_fracture": "maybe"})
        ... except ValidationError as e:
        ...     print(e)
        screening.suspected_fracture: 'maybe' is not allowed; allowed: yes, no, unknown
        """
        if not isinstance(data, Mapping):
            raise ValidationError(field=_PREFIX, value=type(data).__name__, allowed="an object of question → answer")
        allowed_fields = ["assessed_on", *ANSWER_FIELDS]
        check_text_tree(data, _PREFIX)
        for key in data:
            if key not in allowed_fields:
                raise ValidationError(field=f"{_PREFIX}.{key}", value=data[key], allowed=allowed_fields,
                                      reason="unknown field")
        answers = {name: _answer(data.get(name), f"{_PREFIX}.{name}") for name in ANSWER_FIELDS}
        return cls(assessed_on=_assessed_on(data.get("assessed_on"), today), **answers)

    def as_dict(self) -> dict[str, str]:
        """JSON-serialisable: every answer as its string value, the date as ``YYYY-MM-DD``.

        Examples
        --------
        >>> ScreeningAnswers(assessed_on=dt.date(2025, 2, 3)).as_dict()["saddle_anaesthesia"]
        'unknown'
        """
        out = {"assessed_on": self.assessed_on.isoformat()}
        out.update({name: getattr(self, name).value for name in ANSWER_FIELDS})
        return out

    def get(self, name: str) -> Answer:
        """The answer to the question ``name`` (one of :data:`ANSWER_FIELDS`)."""
        if name not in ANSWER_FIELDS:
            raise ValidationError(field=f"{_PREFIX}.{name}", value=name, allowed=ANSWER_FIELDS, reason="unknown field")
        answer: Answer = getattr(self, name)
        return answer


def _assessed_on(value: Any, today: dt.date | None) -> dt.date:
    """The assessment date: from 1900-01-01, not after ``today`` (left out: ``today``)."""
    field = f"{_PREFIX}.assessed_on"
    if value is None or value == "":
        if today is not None:
            return today
        raise ValidationError(field=field, value=value, allowed="a date as YYYY-MM-DD", reason="required")
    day = check_date(value, field, latest=today or dt.date.max, latest_text="today" if today else "")
    assert day is not None
    return day


ANSWER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ScreeningAnswers) if f.name != "assessed_on")
"""Every question of :class:`ScreeningAnswers`, in form order."""


# ------------------------------------------------------------------------------------ red flags


class RedFlag(enum.Enum):
    """A red flag that calls for urgent referral (NICE NG59)."""

    CAUDA_EQUINA = "cauda_equina"
    INFECTION = "infection"
    MALIGNANCY = "malignancy"
    FRACTURE = "fracture"
    MOTOR_DEFICIT = "motor_deficit"

    @property
    def label(self) -> str:
        """A neutral label, e.g. ``"Suspected cauda equina syndrome"``."""
        return _FLAG_LABELS[self]


_FLAG_LABELS = {
    RedFlag.CAUDA_EQUINA: "Suspected cauda equina syndrome",
    RedFlag.INFECTION: "Suspected spinal infection",
    RedFlag.MALIGNANCY: "Suspected malignancy",
    RedFlag.FRACTURE: "Suspected spinal fracture",
    RedFlag.MOTOR_DEFICIT: "Progressive or severe motor deficit",
}

RED_FLAG_TRIGGERS: dict[RedFlag, tuple[str, ...]] = {
    RedFlag.CAUDA_EQUINA: ("saddle_anaesthesia", "bladder_bowel_dysfunction", "bilateral_leg_symptoms"),
    RedFlag.INFECTION: ("suspected_infection",),
    RedFlag.MALIGNANCY: ("suspected_malignancy",),
    RedFlag.FRACTURE: ("suspected_fracture",),
    RedFlag.MOTOR_DEFICIT: ("progressive_motor_deficit", "severe_motor_deficit"),
}
"""Which questions raise which flag: any one answered ``yes`` raises it (NICE NG59)."""

RED_FLAG_FIELDS: tuple[str, ...] = tuple(q for qs in RED_FLAG_TRIGGERS.values() for q in qs)
"""The red-flag questions, in form order."""

CANDIDACY_FIELDS: tuple[str, ...] = tuple(q for q in ANSWER_FIELDS if q not in RED_FLAG_FIELDS)
"""The candidacy questions, in form order."""

QUESTIONS: dict[str, str] = {
    "saddle_anaesthesia": "Is there numbness or altered feeling in the saddle area (between the legs, buttocks, "
                          "inner thighs)?",
    "bladder_bowel_dysfunction": "Is there new difficulty controlling the bladder or bowel (for example retention "
                                 "or incontinence)?",
    "bilateral_leg_symptoms": "Are there leg symptoms (pain, numbness or weakness) on both sides?",
    "suspected_infection": "Is a spinal infection suspected?",
    "suspected_malignancy": "Is a malignancy (cancer) suspected as the cause?",
    "suspected_fracture": "Is a spinal fracture suspected?",
    "progressive_motor_deficit": "Is there weakness (motor deficit) that is getting worse?",
    "severe_motor_deficit": "Is there severe weakness (motor deficit)?",
    "imaging_concordant": "Does the imaging agree with the symptoms and signs?",
    "persistent_after_conservative": "Do the symptoms persist despite conservative care?",
    "symptoms_limit_function": "Do the symptoms limit walking or daily function?",
}
"""Each question in spinetrack's own neutral words, for the form and the API."""

LABELS: dict[str, str] = {
    "saddle_anaesthesia": "saddle anaesthesia",
    "bladder_bowel_dysfunction": "new bladder or bowel dysfunction",
    "bilateral_leg_symptoms": "bilateral leg symptoms",
    "suspected_infection": "suspected spinal infection",
    "suspected_malignancy": "suspected malignancy",
    "suspected_fracture": "suspected spinal fracture",
    "progressive_motor_deficit": "progressive motor deficit",
    "severe_motor_deficit": "severe motor deficit",
    "imaging_concordant": "imaging agrees with symptoms",
    "persistent_after_conservative": "symptoms persist despite conservative care",
    "symptoms_limit_function": "symptoms limit walking or daily function",
}
"""A short label per question (the terms of NICE NG59's red flags), e.g. for a summary."""


class RedFlagStatus(enum.Enum):
    """Whether a red flag is raised: any trigger ``yes`` → present; all ``no`` → absent."""

    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RedFlagFinding:
    """One red flag's status, the answers that raised it and its source."""

    flag: RedFlag
    status: RedFlagStatus
    raised_by: tuple[str, ...]
    citation: str

    @property
    def label(self) -> str:
        return self.flag.label

    def as_dict(self) -> dict[str, Any]:
        return {"flag": self.flag.value, "label": self.flag.label, "status": self.status.value,
                "raised_by": list(self.raised_by), "questions": list(RED_FLAG_TRIGGERS[self.flag]),
                "citation": self.citation}


