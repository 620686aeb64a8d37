"""Red-flag screening and guideline candidacy criteria for one episode of care (pure).

A clinician records :class:`ScreeningAnswers` for an episode: eight red-flag questions and
three candidacy facts, each answered ``yes``, ``no`` or ``unknown``. :func:`screen` turns them,
together with the episode record, into a :class:`ScreeningResult`.

Rules (``../shared/STANDARDS.md``, section "Red flags")
--------------------------------------------------------
* **Red flags override everything.** Suspected cauda equina syndrome (saddle anaesthesia, new
  bladder or bowel dysfunction, bilateral leg symptoms), suspected spinal infection, malignancy
  or fracture, and a progressive or severe motor deficit each call for urgent referral. A flag
  is *present* when any one of its questions is answered ``yes`` (:data:`RED_FLAG_TRIGGERS`),
  *absent* when all of them are ``no``, and *unknown* otherwise. With any flag present the
  result is ``urgent``, carries the urgent-referral message and **no** candidacy criteria
  (``criteria == ()``), so that nothing downstream shows a treatment comparison.
* **Candidacy criteria are questions, not rules.** They are data
  (``domain/data/guideline_criteria.csv``, with its provenance header), phrased in our own
  words as questions for the clinician, each with its source. No number is invented: where a
  guideline speaks of a period of conservative care, the weeks recorded on the episode are
  shown in the criterion's ``detail`` and never compared with a threshold.
* Whether a criterion is met is read from the clinician's answers or, where it is a fact of the
  record (conservative care tried), from the episode. A criterion that is a caution for the
  clinician (fusion for low back pain alone, NICE NG59) is always ``unknown``: spinetrack does
  not decide it.

The disc-herniation criterion "symptoms persist despite conservative care" is met *by
exception* when a severe motor deficit is recorded (:func:`evaluate_criteria` says so in the
detail). A severe motor deficit is also a red flag, so :func:`screen` shows the urgent message
instead of any criterion in that case; the exception is visible when the criteria are
evaluated on their own.

References
----------
- National Institute for Health and Care Excellence. NICE NG59: Low back pain and sciatica in
  over 16s: assessment and management. https://www.nice.org.uk/guidance/ng59
- North American Spine Society. NASS evidence-based clinical guideline: diagnosis and treatment
  of lumbar disc herniation with radiculopathy.
- North American Spine Society. NASS evidence-based clinical guideline: diagnosis and treatment
  of degenerative lumbar spinal stenosis.

Examples
--------
>>> import datetime as dt
>>> from spinetrack.domain.diagnosis import get_diagnosis, Level
>>> from spinetrack.domain.pathway import EpisodeRecord
>>> episode = EpisodeRecord(get_diagnosis("M51.16"), (Level.L4_L5,), dt.date(2025, 1, 6))
>>> answers = ScreeningAnswers.create({"assessed_on": "2025-01-06", "saddle_anaesthesia": "yes"})
>>> result = screen(answers, episode)
>>> result.urgent, result.criteria
(True, ())
>>> [f.flag.value for f in result.red_flags if f.status is RedFlagStatus.PRESENT]
['cauda_equina']
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

from spinetrack.domain._validate import check_date, check_text_tree
from spinetrack.domain.diagnosis import DiagnosisGroup, ImagingFinding
from spinetrack.domain.pathway import EpisodeRecord
from spinetrack.domain.procedure import ProcedureFamily
from spinetrack.errors import ValidationError

__all__ = [
    "ANSWER_FIELDS",
    "CANDIDACY_FIELDS",
    "GUIDELINE_CRITERIA",
    "GUIDELINE_SOURCES",
    "LABELS",
    "QUESTIONS",
    "RED_FLAG_FIELDS",
    "RED_FLAG_TRIGGERS",
    "Answer",
    "CriterionResult",
    "CriterionStatus",
    "Evaluation",
    "GuidelineCriterion",
    "RedFlag",
    "RedFlagFinding",
    "RedFlagStatus",
    "ScreeningAnswers",
    "ScreeningResult",
    "criteria_for",
    "evaluate_criteria",
    "screen",
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
        >>> ScreeningAnswers.create({"assessed_on": "2025-02-03", "suspected_fracture": "maybe"})
        Traceback (most recent call last):
        ...
        spinetrack.errors.ValidationError: screening.suspected_fracture: 'maybe' is not allowed; allowed: yes, no, unknown
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
    """A red flag that calls for urgent referral (STANDARDS.md "Red flags"; NICE NG59)."""

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
"""Which questions raise which flag: any one answered ``yes`` raises it (STANDARDS.md)."""

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
"""A short label per question (the terms of STANDARDS.md "Red flags"), e.g. for a summary."""


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


# ------------------------------------------------------------------------------------ criteria


class CriterionStatus(enum.Enum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class Evaluation(enum.Enum):
    """How a criterion's status is found (the ``evaluation`` column of the CSV).

    ``answer``                        the clinician's answer to ``answer_field``: yes → met,
                                      no → not met, unknown → unknown.
    ``answer_unless_severe_deficit``  as ``answer``, but met by exception when a severe motor
                                      deficit is recorded.
    ``episode_conservative_care``     from the episode: conservative care (options or weeks)
                                      recorded → met; 0 weeks and no option → not met;
                                      nothing recorded → unknown.
    ``clinician_question``            a caution for the clinician; always unknown.
    """

    ANSWER = "answer"
    ANSWER_UNLESS_SEVERE_DEFICIT = "answer_unless_severe_deficit"
    EPISODE_CONSERVATIVE_CARE = "episode_conservative_care"
    CLINICIAN_QUESTION = "clinician_question"


_TAKES_FIELD = (Evaluation.ANSWER, Evaluation.ANSWER_UNLESS_SEVERE_DEFICIT)


@dataclass(frozen=True, slots=True)
class GuidelineCriterion:
    """One candidacy criterion: a question for the clinician, the diagnosis groups it applies
    to, how its status is found, and the keys of its sources (:data:`GUIDELINE_SOURCES`)."""

    key: str
    diagnosis_groups: tuple[DiagnosisGroup, ...]
    question: str
    evaluation: Evaluation
    answer_field: str | None
    sources: tuple[str, ...]

    @property
    def citation(self) -> str:
        """The full names of the sources, ``"; "``-separated."""
        return "; ".join(GUIDELINE_SOURCES[s] for s in self.sources)


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """A criterion evaluated for one episode."""

    key: str
    question: str
    status: CriterionStatus
    detail: str
    citation: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "question": self.question, "status": self.status.value, "detail": self.detail,
                "citation": self.citation}


def _load_criteria() -> tuple[dict[str, str], tuple[GuidelineCriterion, ...]]:
    """Read ``data/guideline_criteria.csv``: the ``# source <key>: <citation>`` header lines
    and one criterion per row. A malformed row raises ``ValueError`` naming it."""
    text = resources.files("spinetrack.domain").joinpath("data/guideline_criteria.csv").read_text("utf-8")
    sources: dict[str, str] = {}
    lines = []
    for line in text.splitlines():
        if line.startswith("# source "):
            key, citation = line[len("# source "):].split(":", 1)
            sources[key.strip()] = citation.strip()
        elif line.strip() and not line.startswith("#"):
            lines.append(line)
    criteria = []
    for n, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=1):
        where = f"guideline_criteria.csv row {n} ({row.get('key')!r})"
        kind, _, answer_field = row["evaluation"].partition(":")
        evaluation = Evaluation(kind)
        if (evaluation in _TAKES_FIELD) != bool(answer_field) or (answer_field and answer_field not in ANSWER_FIELDS):
            raise ValueError(f"{where}: evaluation {row['evaluation']!r} needs one of {ANSWER_FIELDS} exactly "
                             f"when it is one of {[e.value for e in _TAKES_FIELD]}")
        keys = tuple(s.strip() for s in row["sources"].split(";") if s.strip())
        if not keys or any(k not in sources for k in keys):
            raise ValueError(f"{where}: sources {row['sources']!r} must be among {sorted(sources)}")
        groups = tuple(DiagnosisGroup(g.strip()) for g in row["diagnosis_groups"].split(";") if g.strip())
        if not groups or not row["question"].strip():
            raise ValueError(f"{where}: needs diagnosis groups and a question")
        criteria.append(GuidelineCriterion(row["key"], groups, row["question"].strip(), evaluation,
                                           answer_field or None, keys))
    if len({c.key for c in criteria}) != len(criteria):
        raise ValueError("guideline_criteria.csv: keys must be unique")
    return sources, tuple(criteria)


GUIDELINE_SOURCES, GUIDELINE_CRITERIA = _load_criteria()
"""Source key → full citation, and every criterion, as read from ``data/guideline_criteria.csv``."""

_RED_FLAG_SOURCE = "nice_ng59"


def criteria_for(group: DiagnosisGroup) -> tuple[GuidelineCriterion, ...]:
    """The criteria that apply to a diagnosis group, in file order.

    Examples
    --------
    >>> [c.key for c in criteria_for(DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY)]
    ['disc_imaging_concordant', 'disc_persistent_after_conservative']
    """
    return tuple(c for c in GUIDELINE_CRITERIA if group in c.diagnosis_groups)


# ------------------------------------------------------------------------------------ evaluation

_FROM_ANSWER = {Answer.YES: CriterionStatus.MET, Answer.NO: CriterionStatus.NOT_MET,
                Answer.UNKNOWN: CriterionStatus.UNKNOWN}
_ANSWER_TEXT = {Answer.YES: "Recorded by the clinician: yes.", Answer.NO: "Recorded by the clinician: no.",
                Answer.UNKNOWN: "Not answered yet."}


def _finding_text(f: ImagingFinding) -> str:
    grades = [g.value for g in (f.morphology, f.zone, f.pfirrmann, f.stenosis_grade, f.meyerding) if g is not None]
    return f"{f.level.value} {f.kind.value.replace('_', ' ')}" + (f" ({', '.join(grades)})" if grades else "")


def _imaging_text(episode: EpisodeRecord) -> str:
    if not episode.imaging_findings:
        return "No imaging findings are recorded on this episode."
    return "Imaging recorded on this episode: " + "; ".join(_finding_text(f) for f in episode.imaging_findings) + "."


def _care_text(episode: EpisodeRecord) -> str:
    options = ", ".join(o.value for o in episode.conservative_care)
    weeks = episode.conservative_care_weeks
    if not options and weeks is None:
        return "No conservative care is recorded on this episode."
    duration = "duration not recorded" if weeks is None else f"{weeks} week{'' if weeks == 1 else 's'}"
    return f"Conservative care recorded on this episode: {options or 'options not recorded'}; {duration}."


_NO_THRESHOLD = "spinetrack sets no minimum duration: the clinician judges whether the period was enough."


def _evaluate(c: GuidelineCriterion, answers: ScreeningAnswers | None, episode: EpisodeRecord) -> CriterionResult:
    def result(status: CriterionStatus, detail: str) -> CriterionResult:
        return CriterionResult(c.key, c.question, status, detail, c.citation)

    if c.evaluation is Evaluation.CLINICIAN_QUESTION:
        if episode.treatment_family is ProcedureFamily.FUSION:
            recorded = "Fusion is the treatment recorded on this episode."
        elif episode.treatment is not None:
            family = f" {episode.treatment_family.value}" if episode.treatment_family else ""
            recorded = f"The treatment recorded on this episode is {episode.treatment.value}{family}."
        else:
            recorded = "No treatment is recorded on this episode yet."
        return result(CriterionStatus.UNKNOWN, f"A question for the clinician; spinetrack does not decide it. {recorded}")
    if c.evaluation is Evaluation.EPISODE_CONSERVATIVE_CARE:
        weeks = episode.conservative_care_weeks
        if episode.conservative_care or (weeks is not None and weeks > 0):
            return result(CriterionStatus.MET, _care_text(episode))
        if weeks == 0:
            return result(CriterionStatus.NOT_MET, "The episode records 0 weeks of conservative care.")
        return result(CriterionStatus.UNKNOWN, _care_text(episode))
    assert c.answer_field is not None  # checked when the CSV is loaded
    answer = answers.get(c.answer_field) if answers is not None else Answer.UNKNOWN
    if c.evaluation is Evaluation.ANSWER_UNLESS_SEVERE_DEFICIT:
        care = f"{_care_text(episode)} {_NO_THRESHOLD}"
        if answers is not None and answers.severe_motor_deficit is Answer.YES:
            return result(CriterionStatus.MET,
                          "Met by exception: a severe motor deficit is recorded, so a period of conservative care "
                          f"is not required first. A severe motor deficit is also a red flag (urgent referral). {care}")
        return result(_FROM_ANSWER[answer], f"{_ANSWER_TEXT[answer]} {care}")
    detail = _ANSWER_TEXT[answer]
    if c.answer_field == "imaging_concordant":
        detail += " " + _imaging_text(episode)
    return result(_FROM_ANSWER[answer], detail)


def evaluate_criteria(answers: ScreeningAnswers | None, episode: EpisodeRecord) -> tuple[CriterionResult, ...]:
    """Evaluate the criteria of the episode's diagnosis group, ignoring red flags.

    Use :func:`screen` to show criteria to anyone: it withholds them when a red flag is
    present. ``answers=None`` evaluates what the episode record allows (the rest is unknown).

    Examples
    --------
    >>> import datetime as dt
    >>> from spinetrack.domain.diagnosis import get_diagnosis, Level
    >>> from spinetrack.domain.pathway import EpisodeRecord
    >>> ep = EpisodeRecord(get_diagnosis("M48.062"), (Level.L4_L5,), dt.date(2025, 1, 6), conservative_care_weeks=12)
    >>> [(r.key, r.status.value) for r in evaluate_criteria(None, ep)]
    [('stenosis_imaging_concordant', 'unknown'), ('stenosis_function_limited', 'unknown'), ('stenosis_conservative_care_tried', 'met')]
    """
    return tuple(_evaluate(c, answers, episode) for c in criteria_for(episode.diagnosis.group))


# ------------------------------------------------------------------------------------ result


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    """The screening of one episode: red flags first, then (only without a red flag) the
    candidacy criteria of its diagnosis group.

    ``recorded`` is False when no answers exist (every flag unknown). ``urgent`` is True when
    any flag is present; then ``message`` says so in plain words and ``criteria`` is empty.
    ``unanswered`` lists the red-flag questions still unknown.
    """

    recorded: bool
    urgent: bool
    red_flags: tuple[RedFlagFinding, ...]
    unanswered: tuple[str, ...]
    message: str | None
    criteria: tuple[CriterionResult, ...]
    diagnosis_group: DiagnosisGroup
    answers: ScreeningAnswers | None = None

    @property
    def present(self) -> tuple[RedFlagFinding, ...]:
        """The red flags that are present."""
        return tuple(f for f in self.red_flags if f.status is RedFlagStatus.PRESENT)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable, enum values as strings."""
        return {
            "recorded": self.recorded,
            "urgent": self.urgent,
            "assessed_on": self.answers.assessed_on.isoformat() if self.answers is not None else None,
            "answers": self.answers.as_dict() if self.answers is not None else None,
            "red_flags": [f.as_dict() for f in self.red_flags],
            "unanswered": list(self.unanswered),
            "message": self.message,
            "criteria": [c.as_dict() for c in self.criteria],
            "diagnosis_group": self.diagnosis_group.value,
        }


def _flag_status(answers: ScreeningAnswers | None, flag: RedFlag) -> tuple[RedFlagStatus, tuple[str, ...]]:
    if answers is None:
        return RedFlagStatus.UNKNOWN, ()
    given = {q: answers.get(q) for q in RED_FLAG_TRIGGERS[flag]}
    raised = tuple(q for q, a in given.items() if a is Answer.YES)
    if raised:
        return RedFlagStatus.PRESENT, raised
    if all(a is Answer.NO for a in given.values()):
        return RedFlagStatus.ABSENT, ()
    return RedFlagStatus.UNKNOWN, ()


def _urgent_message(present: list[RedFlag]) -> str:
    flags = "; ".join(f.label.lower() for f in present)
    return (f"Red flag: {flags}. Urgent referral: the patient needs urgent assessment. "
            "No candidacy criteria and no treatment comparison are shown while a red flag is present.")


def screen(answers: ScreeningAnswers | None, episode: EpisodeRecord) -> ScreeningResult:
    """Screen one episode: red flags, and candidacy criteria only when no red flag is present.

    Parameters
    ----------
    answers:
        The latest answers recorded for the episode, or ``None`` when none are recorded
        (``recorded=False``, every flag unknown, criteria as far as the episode allows).
    episode:
        The episode: its diagnosis group chooses the criteria; conservative care, its weeks,
        imaging findings and treatment appear in the criteria's details.

    Returns
    -------
    ScreeningResult
        ``urgent=True``, the urgent-referral ``message`` and ``criteria=()`` when any red flag is
        present, whatever the candidacy answers.

    References
    ----------
    NICE NG59: Low back pain and sciatica in over 16s: assessment and management (red flags);
    the NASS evidence-based clinical guidelines for lumbar disc herniation with radiculopathy and
    for degenerative lumbar spinal stenosis (candidacy criteria), as named in STANDARDS.md.

    Examples
    --------
    >>> import datetime as dt
    >>> from spinetrack.domain.diagnosis import get_diagnosis, Level
    >>> from spinetrack.domain.pathway import EpisodeRecord
    >>> ep = EpisodeRecord(get_diagnosis("M51.16"), (Level.L5_S1,), dt.date(2025, 1, 6))
    >>> r = screen(None, ep)
    >>> r.recorded, r.urgent, len(r.unanswered), [c.status.value for c in r.criteria]
    (False, False, 8, ['unknown', 'unknown'])
    """
    citation = GUIDELINE_SOURCES[_RED_FLAG_SOURCE]
    findings = []
    for flag in RedFlag:
        status, raised = _flag_status(answers, flag)
        findings.append(RedFlagFinding(flag, status, raised, citation))
    present = [f.flag for f in findings if f.status is RedFlagStatus.PRESENT]
    unanswered = tuple(q for q in RED_FLAG_FIELDS if answers is None or answers.get(q) is Answer.UNKNOWN)
    urgent = bool(present)
    return ScreeningResult(
        recorded=answers is not None,
        urgent=urgent,
        red_flags=tuple(findings),
        unanswered=unanswered,
        message=_urgent_message(present) if urgent else None,
        criteria=() if urgent else evaluate_criteria(answers, episode),
        diagnosis_group=episode.diagnosis.group,
        answers=answers,
    )
